"""Tests of claims validation: typ, iss, aud, exp, nbf, iat and required claims."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jwks_client._claims import ClaimsPolicy, validate_claims
from jwks_client._errors import (
    ConfigurationError,
    ExpiredTokenError,
    InvalidAudienceError,
    InvalidClaimError,
    InvalidIssuerError,
    InvalidTokenError,
    InvalidTokenTypeError,
    MissingClaimError,
    NotYetValidError,
)

NOW = 1_704_067_200  # 2024-01-01T00:00:00Z
ISSUER = "https://issuer.example"
POLICY = ClaimsPolicy(issuer=ISSUER, audiences=frozenset({"api", "api2"}))
OPEN_POLICY = ClaimsPolicy(issuer=None, audiences=None)
CLAIMS: dict[str, Any] = {
    "iss": ISSUER,
    "aud": "api",
    "exp": NOW + 300,
    "nbf": NOW - 10,
    "iat": NOW - 10,
    "sub": "user-1",
}


def policy(**changes: Any) -> ClaimsPolicy:
    """Return POLICY with some attributes replaced."""
    fields = {
        "issuer": POLICY.issuer,
        "audiences": POLICY.audiences,
        "leeway": POLICY.leeway,
        "token_type": POLICY.token_type,
        "required": POLICY.required,
    }
    return ClaimsPolicy(**{**fields, **changes})


def claims(**changes: Any) -> dict[str, Any]:
    """Return CLAIMS with members replaced; a value of ``...`` removes the member."""
    merged = {**CLAIMS, **changes}
    return {name: value for name, value in merged.items() if value is not ...}


# --- accepted ------------------------------------------------------------------------

ACCEPTED = [
    ("full", claims(), None, POLICY),
    ("minimal-open-policy", {"exp": NOW + 1}, None, OPEN_POLICY),
    ("aud-list", claims(aud=["other", "api2"]), None, POLICY),
    ("aud-single-list", claims(aud=["api"]), None, POLICY),
    ("no-nbf-no-iat", claims(nbf=..., iat=...), None, POLICY),
    ("float-dates", claims(exp=NOW + 0.5, nbf=NOW - 0.5, iat=float(NOW)), None, POLICY),
    ("huge-exp", claims(exp=10**400), None, POLICY),
    ("huge-float-exp", claims(exp=1e300), None, POLICY),
    ("very-old-nbf-and-iat", claims(nbf=-(10**400), iat=-1e300), None, POLICY),
    ("nbf-now", claims(nbf=NOW, iat=NOW), None, POLICY),
    ("exp-within-leeway", claims(exp=NOW - 59), None, policy(leeway=60)),
    ("nbf-within-leeway", claims(nbf=NOW + 60), None, policy(leeway=60)),
    ("iat-within-leeway", claims(iat=NOW + 60), None, policy(leeway=60.0)),
    ("typ-exact", claims(), "at+jwt", policy(token_type="at+jwt")),
    ("typ-application-prefix", claims(), "application/at+jwt", policy(token_type="at+jwt")),
    ("typ-case", claims(), "AT+JWT", policy(token_type="application/at+jwt")),
    ("typ-unchecked", claims(), "anything", POLICY),
    ("required-present", claims(), None, policy(required=frozenset({"sub", "iat"}))),
    ("extra-claims", claims(scope="a b", cnf={"x": [1]}, exp2=True), None, POLICY),
    ("iss-unchecked", claims(iss="https://elsewhere.example"), None, policy(issuer=None)),
    ("aud-unchecked", claims(aud=None), None, policy(audiences=None)),
]


@pytest.mark.parametrize(
    ("token_claims", "typ", "token_policy"),
    [(c, t, p) for _, c, t, p in ACCEPTED],
    ids=[name for name, *_ in ACCEPTED],
)
def test_valid_claims_are_accepted(
    token_claims: dict[str, Any], typ: str | None, token_policy: ClaimsPolicy
) -> None:
    """Claims satisfying the policy at NOW pass without an exception."""
    validate_claims(token_claims, typ=typ, policy=token_policy, now=NOW)


# --- rejected ------------------------------------------------------------------------

AT_JWT = policy(token_type="at+jwt")

REJECTED: list[tuple[str, dict[str, Any], str | None, ClaimsPolicy, type[Exception], str, str]] = [
    # typ
    ("typ-missing", claims(), None, AT_JWT, InvalidTokenTypeError, "", "no 'typ' header"),
    (
        "typ-wrong",
        claims(),
        "JWT",
        AT_JWT,
        InvalidTokenTypeError,
        "",
        "token type 'JWT' is not the expected 'at\\+jwt'",
    ),
    ("typ-other-prefix", claims(), "text/at+jwt", AT_JWT, InvalidTokenTypeError, "", "text/"),
    ("typ-suffix", claims(), "at+jwt2", AT_JWT, InvalidTokenTypeError, "", "at\\+jwt2"),
    # iss
    ("iss-missing", claims(iss=...), None, POLICY, MissingClaimError, "iss", "no 'iss' claim"),
    (
        "iss-wrong",
        claims(iss="https://evil.example"),
        None,
        POLICY,
        InvalidIssuerError,
        "iss",
        "token issuer 'https://evil.example' is not the expected issuer",
    ),
    ("iss-slash", claims(iss=ISSUER + "/"), None, POLICY, InvalidIssuerError, "iss", "issuer"),
    ("iss-case", claims(iss=ISSUER.upper()), None, POLICY, InvalidIssuerError, "iss", "issuer"),
    ("iss-int", claims(iss=1), None, POLICY, InvalidIssuerError, "iss", "not a number"),
    ("iss-list", claims(iss=[ISSUER]), None, POLICY, InvalidIssuerError, "iss", "not an array"),
    ("iss-null", claims(iss=None), None, POLICY, InvalidIssuerError, "iss", "not null"),
    # aud
    ("aud-missing", claims(aud=...), None, POLICY, MissingClaimError, "aud", "no 'aud' claim"),
    ("aud-null", claims(aud=None), None, POLICY, InvalidAudienceError, "aud", "not null"),
    ("aud-number", claims(aud=1), None, POLICY, InvalidAudienceError, "aud", "not a number"),
    ("aud-bool", claims(aud=True), None, POLICY, InvalidAudienceError, "aud", "not a boolean"),
    ("aud-object", claims(aud={"api": 1}), None, POLICY, InvalidAudienceError, "aud", "object"),
    ("aud-empty-list", claims(aud=[]), None, POLICY, InvalidAudienceError, "aud", "empty array"),
    ("aud-nested", claims(aud=[["api"]]), None, POLICY, InvalidAudienceError, "aud", "not a str"),
    ("aud-mixed", claims(aud=["api", 1]), None, POLICY, InvalidAudienceError, "aud", "not a str"),
    (
        "aud-other",
        claims(aud="other"),
        None,
        POLICY,
        InvalidAudienceError,
        "aud",
        r"token audience \['other'\] names none of the expected \['api', 'api2'\]",
    ),
    (
        "aud-other-list",
        claims(aud=[f"x{i}" for i in range(9)]),
        None,
        POLICY,
        InvalidAudienceError,
        "aud",
        r"\['x0', 'x1', 'x2', 'x3', 'x4', \.\.\.\] names none",
    ),
    ("aud-empty-str", claims(aud=""), None, POLICY, InvalidAudienceError, "aud", "names none"),
    ("aud-case", claims(aud="API"), None, POLICY, InvalidAudienceError, "aud", "names none"),
    # exp
    ("exp-missing", claims(exp=...), None, POLICY, MissingClaimError, "exp", "no 'exp' claim"),
    ("exp-true", claims(exp=True), None, POLICY, InvalidClaimError, "exp", "not a boolean"),
    ("exp-false", claims(exp=False), None, POLICY, InvalidClaimError, "exp", "not a boolean"),
    ("exp-str", claims(exp=str(NOW + 300)), None, POLICY, InvalidClaimError, "exp", "string"),
    ("exp-null", claims(exp=None), None, POLICY, InvalidClaimError, "exp", "not null"),
    ("exp-list", claims(exp=[NOW + 300]), None, POLICY, InvalidClaimError, "exp", "array"),
    ("exp-nan", claims(exp=float("nan")), None, POLICY, InvalidClaimError, "exp", "not nan"),
    ("exp-inf", claims(exp=float("inf")), None, POLICY, InvalidClaimError, "exp", "finite"),
    ("exp-1e999", claims(exp=1e999), None, POLICY, InvalidClaimError, "exp", "finite"),
    ("exp-minus-inf", claims(exp=-1e999), None, POLICY, InvalidClaimError, "exp", "finite"),
    (
        "exp-past",
        claims(exp=NOW - 300),
        None,
        policy(leeway=60),
        ExpiredTokenError,
        "exp",
        r"^token expired at 2023-12-31T23:55:00Z \(now 2024-01-01T00:00:00Z, leeway 60s\)$",
    ),
    ("exp-now", claims(exp=NOW), None, POLICY, ExpiredTokenError, "exp", "leeway 0s"),
    (
        "exp-at-leeway-edge",
        claims(exp=NOW - 60),
        None,
        policy(leeway=60),
        ExpiredTokenError,
        "exp",
        "expired",
    ),
    (
        "exp-huge-negative",
        claims(exp=-(10**400)),
        None,
        POLICY,
        ExpiredTokenError,
        "exp",
        "expired at a date before year 1",
    ),
    (
        "exp-beyond-digit-limit",
        claims(exp=-(10**5000)),
        None,
        POLICY,
        ExpiredTokenError,
        "exp",
        "before year 1",
    ),
    (
        "exp-year-one",
        claims(exp=-62_135_596_800),
        None,
        POLICY,
        ExpiredTokenError,
        "exp",
        "expired at 0001-01-01T00:00:00Z",
    ),
    (
        "exp-before-epoch-fraction",
        claims(exp=-0.5),
        None,
        POLICY,
        ExpiredTokenError,
        "exp",
        "expired at 1969-12-31T23:59:59Z",
    ),
    (
        "exp-float-fraction",
        claims(exp=NOW - 0.25),
        None,
        policy(leeway=0.1),
        ExpiredTokenError,
        "exp",
        r"at 2023-12-31T23:59:59Z .*leeway 0\.1s",
    ),
    # nbf
    ("nbf-true", claims(nbf=True), None, POLICY, InvalidClaimError, "nbf", "not a boolean"),
    ("nbf-str", claims(nbf="0"), None, POLICY, InvalidClaimError, "nbf", "not a string"),
    ("nbf-nan", claims(nbf=float("nan")), None, POLICY, InvalidClaimError, "nbf", "finite"),
    (
        "nbf-future",
        claims(nbf=NOW + 120),
        None,
        policy(leeway=60),
        NotYetValidError,
        "nbf",
        r"^token is not valid before 2024-01-01T00:02:00Z \(now 2024-01-01T00:00:00Z, leeway",
    ),
    (
        "nbf-huge",
        claims(nbf=10**400),
        None,
        POLICY,
        NotYetValidError,
        "nbf",
        "not valid before a date after year 9999",
    ),
    ("nbf-1e300", claims(nbf=1e300), None, POLICY, NotYetValidError, "nbf", "after year 9999"),
    # iat
    ("iat-bool", claims(iat=False), None, POLICY, InvalidClaimError, "iat", "not a boolean"),
    ("iat-inf", claims(iat=float("inf")), None, POLICY, InvalidClaimError, "iat", "finite"),
    (
        "iat-future",
        claims(iat=NOW + 61),
        None,
        policy(leeway=60),
        NotYetValidError,
        "iat",
        "issued in the future at 2024-01-01T00:01:01Z",
    ),
    # required
    (
        "required-missing",
        claims(),
        None,
        policy(required=frozenset({"scope", "sub"})),
        MissingClaimError,
        "scope",
        "token has no 'scope' claim",
    ),
    (
        "required-sorted-first",
        claims(sub=...),
        None,
        policy(required=frozenset({"zz", "sub", "client_id"})),
        MissingClaimError,
        "client_id",
        "'client_id'",
    ),
]


@pytest.mark.parametrize(
    ("token_claims", "typ", "token_policy", "error", "claim", "match"),
    [case[1:] for case in REJECTED],
    ids=[case[0] for case in REJECTED],
)
def test_invalid_claims_raise_the_specific_error(
    token_claims: dict[str, Any],
    typ: str | None,
    token_policy: ClaimsPolicy,
    error: type[Exception],
    claim: str,
    match: str,
) -> None:
    """Each violated rule raises its own InvalidTokenError subclass with a specific message."""
    with pytest.raises(error, match=match) as excinfo:
        validate_claims(token_claims, typ=typ, policy=token_policy, now=NOW)
    assert type(excinfo.value) is error
    if isinstance(excinfo.value, InvalidClaimError):
        assert excinfo.value.claim == claim


def test_token_type_error_carries_expected_and_actual() -> None:
    """InvalidTokenTypeError names the configured and the received typ."""
    with pytest.raises(InvalidTokenTypeError) as excinfo:
        validate_claims(claims(), typ="JWT", policy=AT_JWT, now=NOW)
    assert (excinfo.value.expected, excinfo.value.actual) == ("at+jwt", "JWT")
    with pytest.raises(InvalidTokenTypeError) as excinfo:
        validate_claims(claims(), typ=None, policy=AT_JWT, now=NOW)
    assert excinfo.value.actual is None


def test_non_string_typ_is_an_invalid_type() -> None:
    """A typ that is not a string is refused as the wrong token type."""
    with pytest.raises(InvalidTokenTypeError, match="token type a number is not the expected"):
        validate_claims(claims(), typ=1, policy=AT_JWT, now=NOW)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [Decimal(NOW + 300), (NOW + 300,), b"1"])
def test_non_json_date_types_are_refused(value: object) -> None:
    """A date claim of a type JSON cannot produce is refused, naming the type."""
    with pytest.raises(InvalidClaimError, match=f"not a {type(value).__name__}$"):
        validate_claims(claims(exp=value), typ=None, policy=POLICY, now=NOW)


def test_nan_now_fails_closed() -> None:
    """A NaN clock reading rejects the token as expired instead of accepting it."""
    with pytest.raises(ExpiredTokenError, match=r"now NaN"):
        validate_claims(claims(), typ=None, policy=POLICY, now=float("nan"))


def test_infinite_now_formats_without_error() -> None:
    """An infinite clock reading rejects the token with a formatted message."""
    with pytest.raises(ExpiredTokenError, match=r"now a date after year 9999"):
        validate_claims(claims(), typ=None, policy=POLICY, now=float("inf"))


def test_long_values_are_truncated_in_messages() -> None:
    """A very long iss appears only as a short excerpt in the message."""
    with pytest.raises(InvalidIssuerError) as excinfo:
        validate_claims(claims(iss="x" * 10_000), typ=None, policy=POLICY, now=NOW)
    assert len(str(excinfo.value)) < 200


# --- order ---------------------------------------------------------------------------

ORDER = [
    ("typ-before-iss", claims(iss=...), "JWT", AT_JWT, InvalidTokenTypeError),
    ("iss-before-aud", claims(iss="x", aud="x"), None, POLICY, InvalidIssuerError),
    ("aud-before-exp", claims(aud="x", exp=...), None, POLICY, InvalidAudienceError),
    ("exp-before-nbf", claims(exp=NOW - 1, nbf=NOW + 99), None, POLICY, ExpiredTokenError),
    ("exp-type-before-nbf", claims(exp="1", nbf=True), None, POLICY, InvalidClaimError),
    ("nbf-before-iat", claims(nbf=NOW + 99, iat="x"), None, POLICY, NotYetValidError),
    (
        "iat-before-required",
        claims(iat=NOW + 99),
        None,
        policy(required=frozenset({"scope"})),
        NotYetValidError,
    ),
]


@pytest.mark.parametrize(
    ("token_claims", "typ", "token_policy", "error"),
    [case[1:] for case in ORDER],
    ids=[case[0] for case in ORDER],
)
def test_checks_run_in_documented_order(
    token_claims: dict[str, Any],
    typ: str | None,
    token_policy: ClaimsPolicy,
    error: type[Exception],
) -> None:
    """Of several violations, the first in order typ, iss, aud, exp, nbf, iat, required wins."""
    with pytest.raises(error) as excinfo:
        validate_claims(token_claims, typ=typ, policy=token_policy, now=NOW)
    assert type(excinfo.value) is error


# --- policy --------------------------------------------------------------------------

BAD_POLICIES = [
    ("issuer-empty", {"issuer": ""}, "issuer must"),
    ("issuer-int", {"issuer": 1}, "issuer must"),
    ("audiences-empty", {"audiences": frozenset()}, "audience must"),
    ("audiences-set", {"audiences": {"api"}}, "audience must"),
    ("audiences-str", {"audiences": "api"}, "audience must"),
    ("audiences-int-member", {"audiences": frozenset({1})}, "audience must"),
    ("audiences-empty-member", {"audiences": frozenset({""})}, "audience must"),
    ("leeway-negative", {"leeway": -1}, "leeway must"),
    ("leeway-nan", {"leeway": float("nan")}, "leeway must"),
    ("leeway-inf", {"leeway": float("inf")}, "leeway must"),
    ("leeway-bool", {"leeway": True}, "leeway must"),
    ("leeway-str", {"leeway": "60"}, "leeway must"),
    ("token-type-empty", {"token_type": ""}, "token_type must"),
    ("token-type-int", {"token_type": 1}, "token_type must"),
    ("required-set", {"required": {"sub"}}, "required claims must"),
    ("required-int", {"required": frozenset({1})}, "required claims must"),
]


@pytest.mark.parametrize(
    ("changes", "match"),
    [(changes, match) for _, changes, match in BAD_POLICIES],
    ids=[name for name, *_ in BAD_POLICIES],
)
def test_invalid_policy_is_a_configuration_error(changes: dict[str, Any], match: str) -> None:
    """A policy attribute of the wrong type or value raises ConfigurationError at construction."""
    with pytest.raises(ConfigurationError, match=match):
        policy(**changes)


def test_policy_defaults() -> None:
    """A policy defaults to no leeway, no token type and no extra required claims."""
    assert (OPEN_POLICY.leeway, OPEN_POLICY.token_type, OPEN_POLICY.required) == (
        0.0,
        None,
        frozenset(),
    )


# --- properties ----------------------------------------------------------------------

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=10**300, max_value=10**450)
    | st.floats()
    | st.text(max_size=20)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
NAMES = st.sampled_from(["iss", "aud", "exp", "nbf", "iat", "sub", "scope"]) | st.text(max_size=6)
POLICIES = st.builds(
    ClaimsPolicy,
    issuer=st.none() | st.just(ISSUER),
    audiences=st.none() | st.just(frozenset({"api"})),
    leeway=st.floats(min_value=0, max_value=1e308),
    token_type=st.none() | st.just("at+jwt"),
    required=st.frozensets(NAMES, max_size=3),
)


NUMBERS = st.integers() | st.floats() | st.integers(min_value=-(10**450), max_value=10**450)
REGISTERED = st.fixed_dictionaries(
    {},
    optional={
        "iss": st.just(ISSUER) | JSON_VALUES,
        "aud": st.sampled_from(["api", ["x", "api"]]) | JSON_VALUES,
        "exp": NUMBERS | JSON_VALUES,
        "nbf": NUMBERS | JSON_VALUES,
        "iat": NUMBERS | JSON_VALUES,
    },
)
ANY_CLAIMS = st.builds(
    lambda extra, registered: {**extra, **registered},
    st.dictionaries(NAMES, JSON_VALUES, max_size=4),
    REGISTERED,
)


@settings(max_examples=300, deadline=None)
@given(
    token_claims=ANY_CLAIMS,
    typ=st.none() | st.text(max_size=12) | st.just("at+jwt"),
    token_policy=POLICIES,
    now=st.floats() | st.integers(min_value=-(2**53), max_value=2**53),
)
def test_any_claims_pass_or_raise_token_errors(
    token_claims: dict[str, Any], typ: str | None, token_policy: ClaimsPolicy, now: float
) -> None:
    """Any JSON values as claims, any policy and any clock give None or an InvalidTokenError."""
    try:
        validate_claims(token_claims, typ=typ, policy=token_policy, now=now)
    except InvalidTokenError as exc:
        assert len(str(exc)) < 300
        return
    assert now - token_policy.leeway < token_claims["exp"]


@settings(max_examples=200, deadline=None)
@given(
    exp=st.integers() | st.floats(allow_nan=False, allow_infinity=False),
    now=st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12),
    leeway=st.floats(min_value=0, max_value=1e6),
)
def test_expiry_follows_the_documented_inequality(exp: float, now: float, leeway: float) -> None:
    """A token is expired exactly when now - leeway >= exp."""
    token_policy = ClaimsPolicy(issuer=None, audiences=None, leeway=leeway)
    try:
        validate_claims({"exp": exp}, typ=None, policy=token_policy, now=now)
    except ExpiredTokenError:
        assert now - leeway >= exp
    else:
        assert now - leeway < exp
