"""The framework-free pieces: bearer parsing, scopes, RFC 6750 challenges, settings."""

from __future__ import annotations

import re
import subprocess
import sys

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import jwks_client.integrations as integrations
from jwks_client import (
    ConfigurationError,
    ExpiredTokenError,
    FetchError,
    InvalidAudienceError,
    InvalidClaimError,
    InvalidIssuerError,
    InvalidSignatureError,
    InvalidTokenError,
    JWKSClientError,
    KeySetUnavailableError,
    MalformedTokenError,
    Verifier,
)
from jwks_client.integrations import (
    BearerError,
    Challenge,
    InsufficientScopeError,
    InvalidRequestError,
    MissingTokenError,
    bearer_token,
    challenge_for,
    public_description,
    require_scopes,
    token_scopes,
    www_authenticate,
)
from jwks_client.integrations._common import (
    check_realm,
    check_scope_names,
    missing_scopes,
    sanitize_description,
    settings_options,
)
from jwks_client.testing import FakeClock, LocalIssuer

AUD = "https://api.example.com"
B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
# RFC 6750 §3: what may appear inside a quoted attribute value.
QUOTABLE = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]*")

b64tokens = st.from_regex(B64TOKEN, fullmatch=True).filter(lambda s: len(s) < 200)


# --- bearer_token -------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "BeArEr"])
def test_scheme_is_case_insensitive(scheme: str) -> None:
    """The Bearer scheme is matched case-insensitively and the token returned as is."""
    assert bearer_token(f"{scheme} abc.def.ghi") == "abc.def.ghi"


def test_token_may_hold_every_b64token_character() -> None:
    """Every b64token character, and trailing '=' padding, is accepted."""
    token = "AZaz09-._~+/=="
    assert bearer_token(f"Bearer {token}") == token


def test_surrounding_whitespace_is_not_part_of_the_value() -> None:
    """Leading and trailing spaces or tabs around the field value are ignored (RFC 9110)."""
    assert bearer_token(" \tBearer tok \t") == "tok"


@pytest.mark.parametrize("header", [None, "", "   ", "Basic dXNlcjpwYXNz", "Token abc", "Digest"])
def test_absent_or_other_scheme_is_missing(header: str | None) -> None:
    """No field, an empty one, or another scheme means no bearer credentials."""
    with pytest.raises(MissingTokenError):
        bearer_token(header)


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("Bearer", "has no bearer token"),
        ("Bearer ", "has no bearer token"),
        ("Bearer  abc", "exactly one space"),
        ("Bearer abc def", "exactly one space"),
        ("Bearer\tabc", "followed by one space"),
        ('Bearer "abc"', "one b64token"),
        ("Bearer abc=def", "one b64token"),
        ("Bearer a,b", "one b64token"),
        ("Bearer \u00e9t\u00e9", "one b64token"),
        ("Bearer abc\x00", "one b64token"),
    ],
)
def test_malformed_bearer_is_invalid_request(header: str, reason: str) -> None:
    """The Bearer scheme with a missing, repeated or ill-formed token is invalid_request."""
    with pytest.raises(InvalidRequestError, match=reason):
        bearer_token(header)


@settings(max_examples=100, deadline=None)
@given(b64tokens, st.sampled_from(["Bearer", "bearer", "BEARER"]))
def test_every_b64token_round_trips(token: str, scheme: str) -> None:
    """Any b64token after the scheme and one space is returned unchanged."""
    assert bearer_token(f"{scheme} {token}") == token


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_arbitrary_headers_yield_a_b64token_or_a_bearer_error(header: str) -> None:
    """Any field value gives back a well-formed b64token or raises a BearerError."""
    try:
        token = bearer_token(header)
    except BearerError:
        return
    assert B64TOKEN.fullmatch(token)


# --- scopes --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("claims", "scopes"),
    [
        ({"scope": "read write"}, {"read", "write"}),
        ({"scope": "  read   write "}, {"read", "write"}),
        ({"scp": "User.Read Mail.Send"}, {"User.Read", "Mail.Send"}),
        ({"scp": ["read", "write"]}, {"read", "write"}),
        ({"scope": ["read", 3, "", None]}, {"read"}),
        ({"scope": "read", "scp": ["write"]}, {"read"}),
        ({"scope": 7}, set()),
        ({"scp": {"read": True}}, set()),
        ({}, set()),
    ],
)
def test_token_scopes_read_scope_then_scp(claims: dict[str, object], scopes: set[str]) -> None:
    """Scopes come from 'scope' (else 'scp'), a spaced string or a list; other types grant none."""
    assert token_scopes(claims) == scopes


def test_require_scopes_names_what_is_missing() -> None:
    """A token lacking scopes raises InsufficientScopeError listing required and missing."""
    with pytest.raises(InsufficientScopeError, match="lacks the scope write admin") as info:
        require_scopes({"scope": "read"}, ("read", "write", "admin"))
    assert info.value.required == ("read", "write", "admin")
    assert info.value.missing == ("write", "admin")


def test_require_scopes_passes_when_all_granted() -> None:
    """A token granting every required scope passes, and nothing required always passes."""
    require_scopes({"scp": ["a", "b", "c"]}, ("c", "a"))
    require_scopes({}, ())
    assert missing_scopes({"scope": "a"}, ("a",)) == ()


def test_scope_names_are_validated() -> None:
    """Required scopes are deduplicated; a bare str or a non scope-token is refused."""
    assert check_scope_names(["read", "write", "read"]) == ("read", "write")
    with pytest.raises(ConfigurationError, match="not a str"):
        check_scope_names("read write")
    for bad in ["", "two words", 'q"uote', "back\\slash", "caf\u00e9"]:
        with pytest.raises(ConfigurationError, match="invalid scope name"):
            check_scope_names([bad])


# --- challenges ----------------------------------------------------------------------------


def test_www_authenticate_orders_attributes() -> None:
    """The challenge lists realm, error, error_description and scope, comma separated."""
    header = www_authenticate("api", error="insufficient_scope", description="d", scope=["a", "b"])
    assert header == (
        'Bearer realm="api", error="insufficient_scope", error_description="d", scope="a b"'
    )
    assert www_authenticate(None) == "Bearer"
    assert www_authenticate("api") == 'Bearer realm="api"'


def test_missing_token_challenge_has_no_error() -> None:
    """Missing credentials answer 401 with a realm-only challenge (RFC 6750 §3.1)."""
    challenge = challenge_for(MissingTokenError("none"), realm="api")
    assert challenge == Challenge(
        401, None, "a bearer token is required", (("WWW-Authenticate", 'Bearer realm="api"'),)
    )
    assert challenge.body() == {"detail": "a bearer token is required"}


def test_invalid_request_challenge_is_400() -> None:
    """A malformed Bearer field answers 400 invalid_request."""
    challenge = challenge_for(InvalidRequestError("bad field"), realm="r")
    assert challenge.status == 400
    assert challenge.header_dict() == {
        "WWW-Authenticate": (
            'Bearer realm="r", error="invalid_request", error_description="bad field"'
        )
    }


def test_invalid_token_challenge_carries_the_sanitised_message() -> None:
    """A rejected token answers 401 invalid_token with the message as error_description."""
    challenge = challenge_for(ExpiredTokenError('token "expired"\r\n\\', claim="exp"), realm=None)
    assert challenge.status == 401
    assert challenge.error == "invalid_token"
    assert challenge.description == "token expired"
    assert challenge.header_dict()["WWW-Authenticate"] == (
        'Bearer error="invalid_token", error_description="token expired"'
    )


def test_insufficient_scope_challenge_names_the_required_scopes() -> None:
    """A missing scope answers 403 insufficient_scope with every required scope."""
    exc = InsufficientScopeError("lacks b", required=("a", "b"), missing=("b",))
    challenge = challenge_for(exc, realm="api")
    assert challenge.status == 403
    assert challenge.header_dict()["WWW-Authenticate"] == (
        'Bearer realm="api", error="insufficient_scope", error_description="lacks b", scope="a b"'
    )


def test_unavailable_keys_answer_503_without_details() -> None:
    """Unavailable keys answer 503 with Retry-After and no URL from the message."""
    challenge = challenge_for(FetchError("GET http://10.0.0.1/jwks failed"), realm="api")
    assert challenge.status == 503
    assert challenge.headers == (("Retry-After", "5"),)
    assert "10.0.0.1" not in challenge.description


def test_empty_description_falls_back_to_a_fixed_text() -> None:
    """A message that sanitises to nothing is replaced by its class's text, or the code."""
    challenge = challenge_for(InvalidSignatureError('"\x00"'), realm=None)
    assert challenge.description == "the token's signature does not verify"
    assert challenge_for(InvalidRequestError('"'), realm=None).description == "invalid_request"


def test_description_is_capped() -> None:
    """A long description is cut to the cap, ending in '...'."""
    text = sanitize_description("x" * 500)
    assert len(text) == integrations.MAX_DESCRIPTION_LENGTH
    assert text.endswith("...")
    assert sanitize_description("short") == "short"


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400))
def test_sanitised_descriptions_are_always_quotable(text: str) -> None:
    """Whatever the message, the description fits a quoted string and the cap."""
    cleaned = sanitize_description(text)
    assert QUOTABLE.fullmatch(cleaned)
    assert len(cleaned) <= integrations.MAX_DESCRIPTION_LENGTH


def test_realm_is_validated() -> None:
    """A realm must be non-empty printable ASCII without quotes or backslashes."""
    assert check_realm("my api") == "my api"
    assert check_realm(None) is None
    for bad in ["", 'a"b', "a\\b", "a\nb", "caf\u00e9"]:
        with pytest.raises(ConfigurationError, match="realm must be"):
            check_realm(bad)


def test_bearer_errors_are_library_errors() -> None:
    """Every bearer error derives from JWKSClientError."""
    for cls in (MissingTokenError, InvalidRequestError, InsufficientScopeError):
        assert issubclass(cls, BearerError)
    assert issubclass(BearerError, JWKSClientError)


# --- settings ------------------------------------------------------------------------------


def test_settings_map_upper_case_keys_to_options() -> None:
    """Upper-case keys become the verifier's options; REALM is taken apart."""
    options, realm = settings_options(
        {"ISSUER": "https://idp", "AUDIENCE": None, "LEEWAY": 5, "REALM": "x"}, source="S"
    )
    assert options == {"issuer": "https://idp", "audience": None, "leeway": 5}
    assert realm == "x"
    _options, default_realm = settings_options({"ISSUER": "i", "AUDIENCE": "a"}, source="S")
    assert default_realm == integrations.DEFAULT_REALM


@pytest.mark.parametrize(
    ("settings_value", "message"),
    [
        ({"ISSUER": "i"}, "S must set AUDIENCE"),
        ({"AUDIENCE": "a"}, "S must set ISSUER"),
        ({"ISSUER": "i", "AUDIENCE": "a", "AUDIANCE": "a"}, "unknown key 'AUDIANCE' in S"),
        ({"issuer": "i", "AUDIENCE": "a"}, "unknown key 'issuer'"),
        ({"ISSUER": "i", "AUDIENCE": "a", "REALM": 'q"'}, "realm must be"),
        (["ISSUER"], "S must be a dict"),
    ],
)
def test_bad_settings_are_configuration_errors(settings_value: object, message: str) -> None:
    """Unknown keys, lower-case keys, a missing ISSUER/AUDIENCE or a non-dict are refused."""
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        settings_options(settings_value, source="S")  # type: ignore[arg-type]


def test_package_imports_no_framework() -> None:
    """Importing jwks_client.integrations loads none of the web frameworks."""
    code = (
        "import sys, jwks_client.integrations; "
        "print(sorted(m for m in ('fastapi', 'starlette', 'flask', 'django', 'rest_framework') "
        "if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"


def test_public_names_are_pinned() -> None:
    """The package re-exports exactly the framework-free helpers."""
    assert set(integrations.__all__) == {
        "DEFAULT_REALM",
        "MAX_DESCRIPTION_LENGTH",
        "RETRY_AFTER_SECONDS",
        "BearerError",
        "Challenge",
        "InsufficientScopeError",
        "InvalidRequestError",
        "MissingTokenError",
        "addressed_url",
        "asgi_client_cert",
        "bearer_token",
        "challenge_for",
        "header_client_cert",
        "missing_challenge",
        "public_description",
        "require_scopes",
        "success_headers",
        "token_scopes",
        "www_authenticate",
    }


# --- answers reveal nothing of the server's side ---------------------------------------------


def _server_side(issuer: LocalIssuer) -> list[str]:
    """Fragments that would reveal the issuer, its JWKS URL or a fetch failure."""
    host = httpx.URL(issuer.base_url).host
    return [issuer.issuer, issuer.jwks_uri, host, "HTTP 500", "refresh", "://"]


def _leaks(challenge: Challenge, issuer: LocalIssuer) -> list[str]:
    shown = " ".join([challenge.description, *(value for _, value in challenge.headers)])
    return [fragment for fragment in _server_side(issuer) if fragment in shown]


def _rejection(verifier: Verifier, token: str) -> InvalidTokenError | KeySetUnavailableError:
    with pytest.raises((InvalidTokenError, KeySetUnavailableError)) as caught:
        verifier.verify(token)
    return caught.value


def test_unknown_kid_after_a_failed_refresh_reveals_nothing(
    issuer: LocalIssuer, clock: FakeClock
) -> None:
    """An unknown kid whose refresh failed answers 503 (the keys could not be checked)
    naming neither URL nor failure."""
    with Verifier(issuer.issuer, audience=AUD, require_https=False, clock=clock) as verifier:
        verifier.verify(issuer.token())
        clock.advance(31)  # past the refresh cooldown
        issuer.fail("status", status=500, path="all")
        exc = _rejection(verifier, issuer.token(kid="unknown"))
    assert isinstance(exc, KeySetUnavailableError)
    # The message keeps the facts for the server's logs ...
    assert issuer.base_url in str(exc) and "500" in str(exc)
    challenge = challenge_for(exc, realm="api")
    # ... the answer does not.
    assert challenge.status == 503
    assert challenge.description == "the token signing keys are temporarily unavailable"
    assert _leaks(challenge, issuer) == []


@pytest.mark.parametrize(
    ("claims", "expected_class", "description"),
    [
        (
            {"iss": "https://other.example/"},
            InvalidIssuerError,
            "the token's issuer is not accepted",
        ),
        (
            {"aud": "https://other.example/"},
            InvalidAudienceError,
            "the token's audience is not accepted",
        ),
    ],
)
def test_issuer_and_audience_rejections_reveal_nothing(
    issuer: LocalIssuer,
    clock: FakeClock,
    claims: dict[str, str],
    expected_class: type[InvalidTokenError],
    description: str,
) -> None:
    """A wrong iss or aud answers a fixed text: the accepted issuer and audience stay private."""
    with Verifier(issuer.issuer, audience=AUD, require_https=False, clock=clock) as verifier:
        exc = _rejection(verifier, issuer.token(claims))
    assert type(exc) is expected_class
    challenge = challenge_for(exc, realm="api")
    assert challenge.description == description
    assert AUD not in challenge.header_dict()["WWW-Authenticate"]
    assert _leaks(challenge, issuer) == []


def test_unavailable_keys_reveal_nothing(issuer: LocalIssuer, clock: FakeClock) -> None:
    """Keys that cannot be fetched answer 503 with a fixed body and no challenge."""
    issuer.fail("status", status=500, path="all")
    with Verifier(issuer.issuer, audience=AUD, require_https=False, clock=clock) as verifier:
        exc = _rejection(verifier, issuer.token())
    assert isinstance(exc, KeySetUnavailableError)
    assert issuer.base_url in str(exc)
    challenge = challenge_for(exc, realm="api")
    assert challenge.status == 503
    assert challenge.body() == {"detail": "the token signing keys are temporarily unavailable"}
    assert _leaks(challenge, issuer) == []


@pytest.mark.parametrize(
    "exc",
    [
        MalformedTokenError("token header names jku https://evil.example/keys"),
        ExpiredTokenError("token expired, see https://idp.internal/docs", claim="exp"),
        InvalidClaimError("'exp' must be a number (https://idp.internal)", claim="exp"),
    ],
)
def test_urls_in_public_messages_are_replaced(exc: InvalidTokenError) -> None:
    """A message kept for the answer has any URL in it replaced."""
    description = public_description(exc)
    assert "://" not in description
    assert "a URL" in description


class _NewRejection(ExpiredTokenError):
    """A subclass whose message this module has not read."""


def test_subclasses_get_the_fixed_text_of_their_nearest_class() -> None:
    """A subclass of a rejection is described by its nearest known class, not its message."""
    exc = _NewRejection("expired; keys at https://idp.internal/jwks", claim="exp")
    assert public_description(exc) == "the token has expired"
    assert public_description(InvalidTokenError("internal detail")) == "the token is invalid"
    assert public_description(InvalidSignatureError("signature bad")) == "signature bad"
