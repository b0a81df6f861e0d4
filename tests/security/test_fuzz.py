"""Property-based fuzzing of the token path, the JWKS reader and the freshness rules.

Tokens go end to end through a warm ``Verifier`` and a warm ``AsyncVerifier`` of one
LocalIssuer whose keys are cached for good (a fixed FakeClock and a cooldown no test
outlives), so the fuzzing itself makes no request: each example checks that the issuer
saw nothing new. Each shell runs twice, with and without a verified-token cache that
already holds the genuine tokens. Whatever the input, a verifier returns claims or
raises an ``InvalidTokenError`` subclass, and all four give the same answer. Settings come
from the profile chosen in ``tests/security/__init__.py`` (``HYPOTHESIS_PROFILE``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from jwks_client import (
    CachePolicy,
    InvalidKeySetError,
    InvalidTokenError,
    KeyRing,
    KeySetUnavailableError,
)
from jwks_client._cache_control import compute_freshness
from jwks_client._http import RawResponse, read_jwks
from jwks_client._keys import MAX_CANDIDATES, MAX_RSA_BITS, MIN_RSA_BITS, parse_jwks
from jwks_client._types import ASYMMETRIC_ALGORITHMS
from jwks_client.testing import OMIT, FakeClock, LocalIssuer

from . import fuzz_settings
from ._support import (
    AUD,
    NO_REFRESH_POLICY,
    SHELLS,
    Shell,
    b64url,
    decode_segment,
    public_jwk,
    segments,
    shell_factory,
)
from .conftest import SpareKeys

B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
LEEWAY = 60.0
KEY_ALGORITHMS = ASYMMETRIC_ALGORITHMS | {"Ed448"}
FUZZ = fuzz_settings()


@dataclass(frozen=True)
class Warm:
    """A running issuer, four verifiers warm on it, and a genuine token of each key."""

    issuer: LocalIssuer
    clock: FakeClock
    shells: tuple[Shell, ...]
    requests: int
    tokens: dict[str, str]  # kid -> a genuine token signed by that key


@pytest.fixture(scope="module")
def warm(spare_keys: SpareKeys) -> Iterator[Warm]:
    """An issuer with EdDSA, RS256 and ES256 keys, and four warm verifiers of it.

    Both shells, each with and without the verified-token cache, hold the issuer's keys
    (and, in the cache, its genuine tokens).
    """
    clock = FakeClock(1_700_000_000.0)
    with LocalIssuer(algorithms=("ES256",), clock=clock) as issuer:
        issuer.add_key("EdDSA", kid="ed", private_key=spare_keys.ed25519)
        issuer.add_key("RS256", kid="rsa", private_key=spare_keys.rsa)
        made: list[list[Shell]] = []  # each factory's own list, filled as it makes
        try:
            for kind in SHELLS:
                make, shells = shell_factory(kind, issuer, clock)
                made.append(shells)
                make(cache_policy=NO_REFRESH_POLICY)
                make(cache_policy=NO_REFRESH_POLICY, verified_token_cache_size=64)
            verifiers = tuple(shell for shells in made for shell in shells)
            tokens = {kid: issuer.token({"sub": f"user-{kid}"}, kid=kid) for kid in issuer.kids()}
            for shell in verifiers:
                for token in tokens.values():
                    shell.verify(token)
            yield Warm(issuer, clock, verifiers, issuer.request_count(), tokens)
        finally:
            for shells in made:
                for shell in shells:
                    shell.close()


def outcome(shell: Shell, token: Any) -> dict[str, Any] | InvalidTokenError:
    """The claims, or the InvalidTokenError; anything else propagates and fails the test."""
    try:
        return shell.verify(token)
    except InvalidTokenError as exc:
        return exc


def judge(warm: Warm, token: Any) -> dict[str, Any] | InvalidTokenError:
    """Verify with every verifier: the same answer from each, and no request to the issuer."""
    first, *others = (outcome(shell, token) for shell in warm.shells)
    for other in others:
        if isinstance(first, InvalidTokenError):
            assert type(other) is type(first)
            assert str(other) == str(first)
        else:
            assert other == first
    assert warm.issuer.request_count() == warm.requests
    return first


# --- strategies ----------------------------------------------------------------------

SURROGATE_TEXT = st.text(st.characters(exclude_categories=()), max_size=40)
JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([10**400, -(10**400), 2**63, -(2**63) - 1, 0, -0.0, 1e308, -1e308, 5e-324]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
)


def json_containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Arrays and objects of ``children``: the recursive step of JSON_VALUES."""
    return st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(max_size=8), children, max_size=4),
    )


JSON_VALUES = st.recursive(JSON_SCALARS, json_containers, max_leaves=12)
HEADER_NAMES = st.one_of(
    st.sampled_from(
        ["alg", "kid", "typ", "cty", "crit", "b64", "jwk", "jku", "x5u", "x5c", "x5t", "zip", "enc"]
    ),
    st.text(max_size=6),
)
HEADER_VALUES = st.one_of(
    JSON_VALUES,
    st.sampled_from(
        ["EdDSA", "eddsa", "none", "HS256", "ES256", "RS256", "Ed25519", "ed", "rsa", "JWT"]
    ),
    st.sampled_from([["b64"], [], ["exp"], False, "at+jwt", "application/jwt"]),
)


@st.composite
def mutations(draw: st.DrawFn, token: str) -> str:
    """``token`` after one to four character or segment edits."""
    text = token
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(
            st.sampled_from(["replace", "insert", "delete", "swap", "duplicate", "truncate"])
        )
        char = draw(st.one_of(st.sampled_from(B64URL + ".=+/ \n"), st.characters()))
        if kind in ("replace", "insert", "delete", "truncate") and not text:
            continue
        index = draw(st.integers(0, max(0, len(text) - 1)))
        if kind == "replace":
            text = text[:index] + char + text[index + 1 :]
        elif kind == "insert":
            text = text[:index] + char + text[index:]
        elif kind == "delete":
            text = text[:index] + text[index + 1 :]
        elif kind == "truncate":
            text = text[:index]
        else:
            parts = text.split(".")
            if kind == "swap":
                parts = draw(st.permutations(parts))
            else:
                position = draw(st.integers(0, len(parts) - 1))
                parts.insert(position, parts[position])
            text = ".".join(parts)
    return text


# --- any input through the verifiers ---------------------------------------------------


@FUZZ
@given(token=st.one_of(st.text(max_size=300), SURROGATE_TEXT))
def test_any_text_gives_claims_or_an_invalid_token_error(warm: Warm, token: str) -> None:
    """Any text as a token gives an InvalidTokenError (never claims, never another error)."""
    assert isinstance(judge(warm, token), InvalidTokenError)


@FUZZ
@given(token=st.binary(max_size=300))
def test_any_bytes_give_an_invalid_token_error(warm: Warm, token: bytes) -> None:
    """Any bytes as a token give an InvalidTokenError, with no request to the issuer."""
    assert isinstance(judge(warm, token), InvalidTokenError)


@FUZZ
@given(data=st.data())
def test_token_shaped_text_gives_claims_or_an_invalid_token_error(warm: Warm, data: Any) -> None:
    """Dot-joined pieces of genuine tokens and base64url noise give claims or a token error."""
    pieces = [part for token in warm.tokens.values() for part in segments(token)]
    piece = st.one_of(
        st.sampled_from(pieces),
        st.text(alphabet=B64URL, max_size=60),
        st.sampled_from(["", "e30", "eyJ", "=", "+/", " ", "{}", "bnVsbA", "W10"]),
    )
    token = ".".join(data.draw(st.lists(piece, min_size=1, max_size=6)))
    result = judge(warm, token)
    if not isinstance(result, InvalidTokenError):
        assert token in warm.tokens.values()  # only a genuine token, reassembled, verifies


@FUZZ
@given(data=st.data())
def test_mutated_token_never_verifies(warm: Warm, data: Any) -> None:
    """Any edit of a genuine EdDSA or RS256 token is refused; only the token itself verifies."""
    # Ed25519 (RFC 8032, canonical S) and RSASSA-PKCS1-v1_5 signatures are not malleable,
    # and base64url is canonical: a different string can never be the same token.
    kid = data.draw(st.sampled_from(["ed", "rsa"]))
    original = warm.tokens[kid]
    token = data.draw(mutations(original))
    result = judge(warm, token)
    if token == original:
        assert not isinstance(result, InvalidTokenError)
        assert result["sub"] == f"user-{kid}"
    else:
        assert isinstance(result, InvalidTokenError)


@FUZZ
@given(changes=st.dictionaries(HEADER_NAMES, HEADER_VALUES, max_size=4), compact=st.booleans())
def test_reencoded_header_never_verifies_under_the_old_signature(
    warm: Warm, changes: dict[str, Any], compact: bool
) -> None:
    """A header changed or re-encoded in any way, keeping the old signature, is refused."""
    original = warm.tokens["ed"]
    header_b64, payload_b64, signature_b64 = segments(original)
    header = {**json.loads(decode_segment(header_b64)), **changes}
    separators = (",", ":") if compact else (", ", ": ")
    encoded = b64url(json.dumps(header, separators=separators).encode("utf-8"))
    result = judge(warm, f"{encoded}.{payload_b64}.{signature_b64}")
    if encoded == header_b64:
        assert not isinstance(result, InvalidTokenError)
    else:
        assert isinstance(result, InvalidTokenError)


@FUZZ
@given(changes=st.dictionaries(HEADER_NAMES, HEADER_VALUES, max_size=4))
def test_fuzzed_header_with_a_genuine_signature_obeys_the_header_rules(
    warm: Warm, changes: dict[str, Any]
) -> None:
    """A genuinely signed token with a fuzzed header verifies only if its header is acceptable."""
    # RFC 8725 §3.1 (alg), RFC 7515 §4.1.11 (crit), RFC 7797 (b64), §3.10 (header keys).
    header = {"alg": "EdDSA", "typ": "at+jwt", "kid": "ed", **changes}
    claims = json.loads(decode_segment(segments(warm.tokens["ed"])[1]))
    token = warm.issuer.sign(header, claims, kid="ed", alg="EdDSA")
    result = judge(warm, token)
    event(type(result).__name__)
    if not isinstance(result, InvalidTokenError):
        assert result == claims
        assert header["alg"] == "EdDSA"
        assert header.get("kid", "ed") == "ed"
        assert "crit" not in header
        assert "b64" not in header
        assert isinstance(header.get("typ", ""), str)
        cty = header.get("cty", "")
        assert isinstance(cty, str)
        assert cty.lower().removeprefix("application/") != "jwt"


def claim_values(issuer: str, now: float) -> dict[str, st.SearchStrategy[Any]]:
    """For each of iss/aud/exp/nbf/iat: near-valid values, near misses, absence, any JSON."""
    edge = [now - LEEWAY, now + LEEWAY, math.floor(now - LEEWAY), math.floor(now + LEEWAY)]
    times = st.one_of(
        st.integers(int(now - 2 * LEEWAY), int(now + 2 * LEEWAY)),
        st.floats(now - 2 * LEEWAY, now + 2 * LEEWAY),
        st.sampled_from([*edge, *(t + 1 for t in edge), *(t - 1 for t in edge)]),
        st.sampled_from([10**400, -(10**400), 2**63, 0, True, str(int(now)), OMIT]),
        JSON_VALUES,
    )
    issuers = st.one_of(
        st.sampled_from([issuer + "/", issuer.upper(), " " + issuer, issuer[:-1], [issuer]]),
        st.sampled_from([issuer, OMIT]),
        JSON_VALUES,
    )
    audiences = st.one_of(
        st.sampled_from([AUD, [AUD], [AUD, "x"], ["x", AUD], [AUD, AUD]]),
        st.sampled_from([AUD + "/", AUD.upper(), [], [[AUD]], [AUD, None], "", OMIT]),
        JSON_VALUES,
    )
    return {"iss": issuers, "aud": audiences, "exp": times, "nbf": times, "iat": times}


def accepted(claims: dict[str, Any], issuer: str, now: float) -> bool:
    """The documented claims rules (README "Errors", RFC 7519 §4.1), written independently."""

    def number(name: str) -> float | bool | None:
        value = claims.get(name)
        if name not in claims:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        return value

    if claims.get("iss") != issuer or not isinstance(claims.get("iss"), str):
        return False
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud
    if not isinstance(audiences, list) or not audiences:
        return False
    if not all(isinstance(value, str) for value in audiences) or AUD not in audiences:
        return False
    exp = number("exp")
    if exp is None or exp is False or not now - LEEWAY < exp:
        return False
    for name in ("nbf", "iat"):
        value = number(name)
        if value is False or (value is not None and not value <= now + LEEWAY):
            return False
    return True


@FUZZ
@given(data=st.data())
def test_fuzzed_claims_with_a_genuine_signature_follow_the_claims_rules(
    warm: Warm, data: Any
) -> None:
    """A genuinely signed token verifies exactly when its iss, aud, exp, nbf and iat are valid."""
    now = warm.clock()
    values = claim_values(warm.issuer.issuer, now)
    # Change at most two claims at a time, so a single wrong one is not hidden by others.
    changed = data.draw(st.lists(st.sampled_from(sorted(values)), unique=True, max_size=2))
    overrides = {name: data.draw(values[name], label=name) for name in changed}
    token = warm.issuer.token(overrides, kid="ed")
    claims = json.loads(decode_segment(segments(token)[1]))
    result = judge(warm, token)
    event(type(result).__name__)
    if accepted(claims, warm.issuer.issuer, now):
        assert result == claims
    else:
        assert isinstance(result, InvalidTokenError)


# --- any document through the JWKS reader ----------------------------------------------


def check_ring(ring: KeyRing, entries: int | None) -> None:
    """Invariants of any ring parse_jwks returns."""
    if entries is not None:
        assert len(ring.keys) + len(ring.skipped) == entries
        assert sorted(skip.index for skip in ring.skipped) == [s.index for s in ring.skipped]
    for key in ring.keys:
        assert key.kty in ("RSA", "EC", "OKP")
        assert key.algorithms
        assert key.algorithms <= KEY_ALGORITHMS
        assert key.kid is None or (isinstance(key.kid, str) and key.kid)
        if key.alg is not None:
            assert key.algorithms == {key.alg}
        if key.kty == "RSA":
            assert key.size is not None
            assert MIN_RSA_BITS <= key.size <= MAX_RSA_BITS
        for alg in key.algorithms:
            assert key.verify(alg, b"header.payload", b"\x00" * 64) is False
        assert key.verify("HS256", b"x", b"x") is False
    for kid in [*ring.kids, None]:
        for alg in KEY_ALGORITHMS:
            selected = ring.select(alg, kid)
            assert len(selected) <= MAX_CANDIDATES
            assert all(alg in key.algorithms for key in selected)
            assert all(key.kid == kid for key in selected if kid is not None)


def read(document_bytes: bytes) -> KeyRing | KeySetUnavailableError:
    """Read a JWKS body as the library reads a fetched response."""
    raw = RawResponse(
        url="https://issuer.example/jwks",
        status_code=200,
        headers={},
        body=document_bytes,
        received_at=1_700_000_000.0,
    )
    try:
        ring, freshness = read_jwks(raw, conditional=False, policy=CachePolicy())
    except KeySetUnavailableError as exc:
        return exc
    assert ring is not None
    assert len(ring) >= 1
    assert CachePolicy().min_ttl <= freshness.lifetime <= CachePolicy().max_ttl
    return ring


@FUZZ
@given(document=JSON_VALUES)
def test_any_json_value_gives_a_key_ring_or_an_invalid_key_set_error(document: Any) -> None:
    """Any JSON value as a JWKS gives a sound KeyRing or InvalidKeySetError, parsed or read."""
    try:
        ring = parse_jwks(document)
    except InvalidKeySetError:
        pass
    else:
        check_ring(ring, len(document["keys"]))
    result = read(json.dumps(document).encode("utf-8"))
    if isinstance(result, KeyRing):
        check_ring(result, None)
    else:
        assert isinstance(result, InvalidKeySetError)


@FUZZ
@given(body=st.binary(max_size=200))
def test_any_body_gives_a_key_ring_or_an_invalid_key_set_error(body: bytes) -> None:
    """Any response body gives a usable KeyRing or an InvalidKeySetError."""
    result = read(body)
    assert isinstance(result, (KeyRing, InvalidKeySetError))


@pytest.fixture(scope="module")
def real_jwks(spare_keys: SpareKeys) -> list[dict[str, Any]]:
    """Valid public JWKs of every supported key type, to mutate."""
    keys = spare_keys
    return [
        public_jwk(keys.rsa, "rsa", "RS256"),
        public_jwk(keys.rsa_other, "rsa-2"),
        public_jwk(keys.p256, "p256", "ES256"),
        public_jwk(keys.p384, "p384"),
        public_jwk(keys.secp256k1, "k1", "ES256K"),
        public_jwk(keys.ed25519, "ed", "EdDSA"),
        public_jwk(keys.ed448, "ed448"),
    ]


MEMBER_NAMES = st.sampled_from(
    ["kty", "crv", "x", "y", "n", "e", "alg", "use", "key_ops", "kid", "d", "k", "x5c", "issuer"]
)


@st.composite
def near_jwk(draw: st.DrawFn, originals: list[dict[str, Any]]) -> tuple[Any, bool]:
    """A real JWK with some members edited, deleted or borrowed; and whether it is unedited."""
    jwk = dict(draw(st.sampled_from(originals)))
    edits = draw(st.integers(0, 3))
    for _ in range(edits):
        name = draw(MEMBER_NAMES)
        donor = draw(st.sampled_from(originals))
        current = jwk.get(name)
        choices: list[st.SearchStrategy[Any]] = [
            st.just(OMIT),
            JSON_VALUES,
            st.sampled_from(
                ["RSA", "EC", "OKP", "oct", "P-256", "P-384", "Ed25519", "Ed448", "X25519"]
            ),
            st.sampled_from(["RS256", "PS512", "ES256", "ES256K", "EdDSA", "Ed448", "HS256"]),
            st.sampled_from(["sig", "enc", ["verify"], ["sign"], "AQAB", "AQAB==", "", "AA"]),
        ]
        if name in donor:
            choices.append(st.just(donor[name]))
        if isinstance(current, str):
            choices.append(st.just(current + "="))
            choices.append(st.just(current.replace("-", "+").replace("_", "/")))
            choices.append(st.just("AA" + current))
            choices.append(st.just(current[:-2]))
        value = draw(st.one_of(*choices))
        if value is OMIT:
            jwk.pop(name, None)
        else:
            jwk[name] = value
    wrapped = draw(st.sampled_from(["object", "object", "object", "null", "list"]))
    if wrapped == "null":
        return None, False
    if wrapped == "list":
        return [jwk], False
    return jwk, edits == 0


@FUZZ
@given(data=st.data())
def test_near_jwks_give_a_sound_key_ring(real_jwks: list[dict[str, Any]], data: Any) -> None:
    """Real keys with edited members load soundly or are skipped; unedited ones always load."""
    drawn = data.draw(st.lists(near_jwk(real_jwks), max_size=6))
    entries = [entry for entry, _ in drawn]
    extra = data.draw(st.dictionaries(st.text(max_size=5), JSON_VALUES, max_size=2))
    document = {**extra, "keys": entries}
    ring = parse_jwks(document)
    event(f"{len(ring)} of {len(entries)} loaded")
    check_ring(ring, len(entries))
    skipped = {skip.index for skip in ring.skipped}
    for index, (_, unedited) in enumerate(drawn):
        if unedited:
            assert index not in skipped
    result = read(json.dumps(document).encode("utf-8"))
    if isinstance(result, KeyRing):
        assert len(result) == len(ring)
    else:
        assert isinstance(result, InvalidKeySetError)
        assert len(ring) == 0


# --- any caching headers ------------------------------------------------------------------


def header_values(now: float) -> st.SearchStrategy[str]:
    """Cache-Control / Expires / Age / Date values: well-formed, borderline and garbage."""
    seconds = st.one_of(
        st.integers(-10, 10**6).map(str),
        st.sampled_from(["0", "-1", "1e3", "9" * 40, "2147483648", '"60"', "", " 60 ", "0x10"]),
    )
    directive = st.one_of(
        st.sampled_from(["no-cache", "no-store", "private", "public", "must-revalidate"]),
        seconds.map(lambda value: f"max-age={value}"),
        seconds.map(lambda value: f"s-maxage={value}"),
        seconds.map(lambda value: f"stale-if-error={value}"),
        st.text(max_size=12),
    )
    dates = st.floats(now - 10**9, now + 10**9).map(lambda t: formatdate(t, usegmt=True))
    return st.one_of(
        st.lists(directive, max_size=4).map(", ".join),
        dates,
        seconds,
        st.sampled_from(["0", "-1", "Thu, 01 Jan 1970 00:00:00 GMT", "never"]),
        st.text(max_size=40),
    )


@st.composite
def policies(draw: st.DrawFn) -> CachePolicy:
    """Valid cache policies with any bounds (min_ttl <= max_ttl)."""
    bound = st.floats(0, 10**7, allow_nan=False)
    low, high = sorted((draw(bound), draw(bound)))
    return CachePolicy(min_ttl=low, max_ttl=high, default_ttl=draw(bound))


@FUZZ
@given(data=st.data(), policy=policies(), now=st.floats(0, 4e9))
def test_any_caching_headers_give_a_lifetime_within_the_policy_bounds(
    data: Any, policy: CachePolicy, now: float
) -> None:
    """Any Cache-Control/Expires/Age/Date combination gives a lifetime in [min_ttl, max_ttl]."""
    names = st.sampled_from(
        ["Cache-Control", "cache-control", "Expires", "Age", "age", "Date", "DATE"]
    )
    headers = data.draw(st.dictionaries(names, header_values(now), max_size=6))
    freshness = compute_freshness(headers, now=now, policy=policy)
    assert policy.min_ttl <= freshness.lifetime <= policy.max_ttl
    assert freshness.source in ("max-age", "expires", "no-store", "no-cache", "invalid", "default")


def test_fuzzing_settings_follow_the_profile() -> None:
    """The fuzzing properties run with the selected profile: no deadline, bounded examples."""
    assert FUZZ.deadline is None
    assert FUZZ.max_examples >= 100
