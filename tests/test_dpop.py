"""The pure DPoP pieces (jwks_client._dpop): configuration, URLs, nonces, cnf, proofs."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest

from jwks_client import (
    ConfigurationError,
    DPoP,
    InvalidDPoPProofError,
    InvalidTokenBindingError,
    MemoryReplayStore,
    UseDPoPNonceError,
)
from jwks_client._dpop import (
    MAX_PROOF_LENGTH,
    certificate_thumbprint,
    check_proof,
    confirmation,
    make_nonce,
    nonce_is_current,
    normalize_url,
    parse_proof,
    proof_key,
    refuse_bound,
    replay_key,
    token_hash,
    verify_proof_signature,
)
from jwks_client._types import DEFAULT_ALGORITHMS
from jwks_client.testing import DPoPKey

from .keyfactory import b64url

NOW = 1_700_000_000.0
SECRET = b"s" * 32
URL = "https://api.example.com/items"
TOKEN = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"


@pytest.fixture(scope="module")
def key() -> DPoPKey:
    """A client key."""
    return DPoPKey("ES256")


# --- configuration ---------------------------------------------------------------------


def test_defaults() -> None:
    """DPoP() accepts both schemes, a 300 s window, 5 s leeway, no nonces, the default
    algorithms."""
    config = DPoP()
    assert (config.required, config.max_age, config.leeway, config.nonce_secret) == (
        False,
        300.0,
        5.0,
        None,
    )
    assert config.algorithms == DEFAULT_ALGORITHMS
    assert config.advertised_algorithms == tuple(sorted(DEFAULT_ALGORITHMS))
    assert config.secret is None and config.replay_store is None


def test_options_are_normalised() -> None:
    """Algorithms become a frozenset, text secrets bytes, numbers floats."""
    config = DPoP(max_age=60, leeway=0, nonce_secret="x" * 16, algorithms=["ES256", "ES256"])
    assert config.algorithms == frozenset({"ES256"})
    assert config.secret == b"x" * 16
    assert (config.max_age, config.leeway) == (60.0, 0.0)


@pytest.mark.parametrize(
    "options",
    [
        {"required": "yes"},
        {"max_age": 0},
        {"max_age": -1},
        {"max_age": float("inf")},
        {"max_age": True},
        {"leeway": -1},
        {"leeway": "5"},
        {"nonce_secret": b"short"},
        {"nonce_secret": 12345678901234567},
        {"algorithms": "ES256"},
        {"algorithms": []},
        {"algorithms": ["HS256"]},
        {"algorithms": ["none"]},
        {"algorithms": ["ES256", "foo"]},
        {"replay_store": object()},
    ],
)
def test_invalid_options(options: dict[str, Any]) -> None:
    """Every invalid field is a ConfigurationError at construction."""
    with pytest.raises(ConfigurationError):
        DPoP(**options)


def test_a_replay_store_is_any_object_with_first_use() -> None:
    """A store is duck-typed: anything with a callable first_use."""

    class Store:
        def first_use(self, key: bytes, expires_at: float, now: float) -> bool:
            return True

    store = Store()
    assert DPoP(replay_store=store).replay_store is store  # type: ignore[arg-type]
    assert DPoP(replay_store=MemoryReplayStore()).replay_store is not None


# --- URLs ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "normal"),
    [
        ("https://api.example.com/items", "https://api.example.com/items"),
        ("HTTPS://API.EXAMPLE.COM/items", "https://api.example.com/items"),
        ("https://api.example.com", "https://api.example.com/"),
        ("https://api.example.com:443/a", "https://api.example.com/a"),
        ("http://api.example.com:80/a", "http://api.example.com/a"),
        ("https://api.example.com:/a", "https://api.example.com/a"),
        ("https://api.example.com:08443/a", "https://api.example.com:8443/a"),
        ("http://api.example.com:443/a", "http://api.example.com:443/a"),
        ("https://api.example.com/a?b=c#d", "https://api.example.com/a"),
        ("https://api.example.com?b", "https://api.example.com/"),
        ("https://user:pw@api.example.com/a", "https://api.example.com/a"),
        ("https://api.example.com/%7e%41/%2f%2F", "https://api.example.com/~A/%2F%2F"),
        ("https://api.example.com/caf%c3%a9", "https://api.example.com/caf%C3%A9"),
        ("https://api.example.com/café x", "https://api.example.com/caf%C3%A9%20x"),
        ("https://api.example.com/a/./b/../../c", "https://api.example.com/c"),
        ("https://api.example.com/a/..", "https://api.example.com/"),
        ("https://api.example.com/a/.", "https://api.example.com/a/"),
        ("https://api.example.com/../a", "https://api.example.com/a"),
        ("https://api.example.com/a.b/c..d", "https://api.example.com/a.b/c..d"),
        ("https://[::1]:8443/a", "https://[::1]:8443/a"),
        ("https://[2001:DB8::1]:443/", "https://[2001:db8::1]/"),
        ("https://%41pi.example.com/", "https://api.example.com/"),
        ("https://A%2fB.example.com/", "https://a%2Fb.example.com/"),
    ],
)
def test_normalize_url(url: str, normal: str) -> None:
    """RFC 3986 §6.2.2 and §6.2.3 normalisation, without query, fragment and userinfo."""
    assert normalize_url(url) == normal


@pytest.mark.parametrize(
    "url",
    [
        "ftp://api.example.com/a",
        "api.example.com/a",
        "/items",
        "https:/items",
        "https:///items",
        "https://api.example.com:99999/",
        "https://api.example.com:8x/",
        "https://[::1/",
        "https://[::1]x/",
        "https://a b/",
        "",
    ],
)
def test_normalize_url_refuses_what_is_not_an_http_url(url: str) -> None:
    """Another scheme, no host, a bad port or host: None."""
    assert normalize_url(url) is None


def test_normalize_url_of_a_non_string() -> None:
    """A value that is not a str has no normal form."""
    assert normalize_url(b"https://x/") is None  # type: ignore[arg-type]


# --- nonces ----------------------------------------------------------------------------


def test_nonce_windows() -> None:
    """A nonce is current in its window and the next, not before or after."""
    assert NOW % 60 == 20  # NOW and NOW + 1 share a window
    nonce = make_nonce(SECRET, NOW, 60)
    assert len(nonce) == 32 and nonce == make_nonce(SECRET, NOW + 1, 60)
    window_start = NOW - NOW % 60
    nonce = make_nonce(SECRET, window_start, 60)
    assert nonce_is_current(nonce, SECRET, window_start, 60)
    assert nonce_is_current(nonce, SECRET, window_start + 119.9, 60)
    assert not nonce_is_current(nonce, SECRET, window_start + 120, 60)
    assert not nonce_is_current(nonce, SECRET, window_start - 0.1, 60)


def test_nonce_needs_the_secret() -> None:
    """A nonce made with another secret, or altered, is not current."""
    nonce = make_nonce(SECRET, NOW, 60)
    assert not nonce_is_current(nonce, b"t" * 32, NOW, 60)
    altered = nonce[:-2] + ("AA" if nonce[-2:] != "AA" else "BB")
    assert not nonce_is_current(altered, SECRET, NOW, 60)
    for junk in (None, 7, "", "x" * 32, "!" * 32, nonce + "A"):
        assert not nonce_is_current(junk, SECRET, NOW, 60)


def test_nonce_is_opaque_nqchar_text() -> None:
    """A nonce is base64url text (RFC 9449 §8.1 NQCHAR), unpredictable without the
    secret: two secrets give two nonces."""
    first = make_nonce(SECRET, NOW, 60)
    assert first.isascii() and all(c.isalnum() or c in "-_" for c in first)
    assert first != make_nonce(b"t" * 32, NOW, 60)


# --- confirmation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        ({}, (None, None)),
        ({"cnf": {}}, (None, None)),
        ({"cnf": {"jkt": "a"}}, ("a", None)),
        ({"cnf": {"x5t#S256": "b"}}, (None, "b")),
        ({"cnf": {"jkt": "a", "x5t#S256": "b", "kid": "c"}}, ("a", "b")),
    ],
)
def test_confirmation(claims: dict[str, Any], expected: tuple[str | None, str | None]) -> None:
    """cnf.jkt and cnf x5t#S256 are read; other members are ignored."""
    assert confirmation(claims) == expected


@pytest.mark.parametrize(
    "cnf", [None, "x", [], {"jkt": 1}, {"jkt": ""}, {"x5t#S256": None}, {"x5t#S256": ["a"]}]
)
def test_malformed_confirmation(cnf: object) -> None:
    """A cnf that is not an object, or a member that is not a non-empty string, is refused."""
    with pytest.raises(InvalidTokenBindingError, match="cnf"):
        confirmation({"cnf": cnf})


def test_refuse_bound() -> None:
    """refuse_bound lets unbound tokens through and names verify_request otherwise."""
    refuse_bound({"sub": "x"})
    refuse_bound({"cnf": {"kid": "x"}})
    for cnf in ({"jkt": "a"}, {"x5t#S256": "b"}):
        with pytest.raises(InvalidTokenBindingError, match="verify_request"):
            refuse_bound({"cnf": cnf})


# --- certificates --------------------------------------------------------------------------

_DER = b"\x30\x82\x01\x00" + bytes(range(256))


def test_certificate_thumbprint_of_der_and_pem() -> None:
    """DER bytes are hashed as given; PEM (text or bytes) is decoded first."""
    expected = b64url(hashlib.sha256(_DER).digest())
    body = base64.encodebytes(_DER).decode()
    pem = f"-----BEGIN CERTIFICATE-----\n{body}-----END CERTIFICATE-----\n"
    assert certificate_thumbprint(_DER) == expected
    assert certificate_thumbprint(bytearray(_DER)) == expected
    assert certificate_thumbprint(pem) == expected
    assert certificate_thumbprint(pem.encode()) == expected
    assert certificate_thumbprint("junk before\n" + pem) == expected


def test_objects_that_are_not_certificates() -> None:
    """An object whose public_bytes fails or gives no bytes is refused, not leaked."""
    from cryptography.hazmat.primitives.asymmetric import ec

    public_key = ec.generate_private_key(ec.SECP256R1()).public_key()  # needs two arguments

    class Odd:
        def public_bytes(self, encoding: object) -> str:
            return "text"

    for value in (public_key, Odd()):
        with pytest.raises(InvalidTokenBindingError, match="DER-encoded"):
            certificate_thumbprint(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "cert",
    [
        "not PEM",
        "-----BEGIN CERTIFICATE-----\n@@@\n-----END CERTIFICATE-----",
        b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----",
        b"",
        12,
    ],
)
def test_unreadable_certificates(cert: Any) -> None:
    """Text that is not PEM, a bad PEM body, another PEM type, nothing, another type."""
    with pytest.raises(InvalidTokenBindingError):
        certificate_thumbprint(cert)


# --- proofs ------------------------------------------------------------------------------


def _check(key: DPoPKey, proof: str, **overrides: Any) -> Any:
    parsed = parse_proof(proof, DEFAULT_ALGORITHMS)
    options: dict[str, Any] = {
        "method": "GET",
        "url": URL,
        "ath": token_hash(TOKEN),
        "jkt": key.thumbprint,
        "now": NOW,
        "dpop": DPoP(),
    }
    options.update(overrides)
    return check_proof(parsed, proof_key(parsed.header["jwk"], parsed.alg), **options)


def test_check_proof_returns_what_the_second_pass_needs(key: DPoPKey) -> None:
    """A valid proof gives its key, jti and the end of its acceptance window."""
    proof = key.proof("GET", URL, TOKEN, now=NOW, jti="abc")
    checked = _check(key, proof)
    assert (checked.jti, checked.expires_at, checked.key.thumbprint) == (
        "abc",
        NOW + 300,
        key.thumbprint,
    )
    verify_proof_signature(checked)


def test_nonce_is_checked_last_and_answered_with_a_fresh_one(key: DPoPKey) -> None:
    """With a secret, a proof without a current nonce gets UseDPoPNonceError(nonce)."""
    config = DPoP(nonce_secret=SECRET, max_age=60)
    with pytest.raises(UseDPoPNonceError, match="has no nonce") as caught:
        _check(key, key.proof("GET", URL, TOKEN, now=NOW), dpop=config)
    assert caught.value.nonce == make_nonce(SECRET, NOW, 60)
    proof = key.proof("GET", URL, TOKEN, now=NOW, nonce=caught.value.nonce)
    assert _check(key, proof, dpop=config).jti
    wrong = key.proof("GET", URL, TOKEN, now=NOW, nonce="x" * 32)
    with pytest.raises(UseDPoPNonceError, match="stale or unknown"):
        _check(key, wrong, dpop=config)
    # A proof also wrong elsewhere is refused for that, not asked for a nonce.
    with pytest.raises(InvalidDPoPProofError) as other:
        _check(key, key.proof("POST", URL, TOKEN, now=NOW), dpop=config)
    assert type(other.value) is InvalidDPoPProofError


def test_oversized_proof_is_refused_before_decoding(key: DPoPKey) -> None:
    """A proof longer than MAX_PROOF_LENGTH is refused by the strict parser's cap."""
    proof = key.proof("GET", URL, TOKEN, now=NOW, claims={"pad": "x" * MAX_PROOF_LENGTH})
    with pytest.raises(InvalidDPoPProofError, match="longer than"):
        parse_proof(proof, DEFAULT_ALGORITHMS)


def test_strict_parser_rules_apply_to_proofs(key: DPoPKey) -> None:
    """Duplicate members and non-canonical base64url are refused in proofs as in tokens."""
    head = b64url(b'{"typ":"dpop+jwt","typ":"dpop+jwt","alg":"ES256","jwk":{}}')
    with pytest.raises(InvalidDPoPProofError, match="duplicate"):
        parse_proof(f"{head}.e30.c2ln", DEFAULT_ALGORITHMS)
    with pytest.raises(InvalidDPoPProofError, match="expected 3"):
        parse_proof("abc", DEFAULT_ALGORITHMS)


def test_proof_key_must_fit_the_alg(key: DPoPKey) -> None:
    """An EC P-256 key cannot verify RS256 or ES384."""
    for alg in ("RS256", "ES384"):
        with pytest.raises(InvalidDPoPProofError, match="does not fit"):
            proof_key(key.jwk, alg)


def test_token_hash_and_replay_key() -> None:
    """ath is base64url SHA-256 of the token; replay keys differ by key and by jti."""
    assert token_hash(TOKEN) == DPoPKey.ath(TOKEN)
    keys = {replay_key(k, j) for k in ("a", "b") for j in ("1", "2")}
    assert len(keys) == 4 and all(len(k) == 16 for k in keys)
    assert replay_key("a", "1") == replay_key("a", "1")


def test_a_known_header_gives_the_same_parse(key: DPoPKey) -> None:
    """Parsing with a known header gives what a full parse gives."""
    first = parse_proof(key.proof("GET", URL, TOKEN, now=NOW), DEFAULT_ALGORITHMS)
    second_text = key.proof("GET", URL, TOKEN, now=NOW + 1)
    again = parse_proof(second_text, DEFAULT_ALGORITHMS, first)
    assert again == parse_proof(second_text, DEFAULT_ALGORITHMS)
    assert again.header is first.header  # not decoded again


def test_a_known_header_does_not_relax_the_rest(key: DPoPKey) -> None:
    """The payload and signature of a proof with a known header are parsed strictly, and
    a proof with another header is parsed in full."""
    first = parse_proof(key.proof("GET", URL, TOKEN, now=NOW), DEFAULT_ALGORITHMS)
    head = key.proof("GET", URL, TOKEN, now=NOW).split(".")[0]
    duplicate = b64url(b'{"jti":"a","jti":"b"}')
    with pytest.raises(InvalidDPoPProofError, match="duplicate"):
        parse_proof(f"{head}.{duplicate}.c2ln", DEFAULT_ALGORITHMS, first)
    with pytest.raises(InvalidDPoPProofError, match="padding"):
        parse_proof(f"{head}.e30.c2ln==", DEFAULT_ALGORITHMS, first)
    with pytest.raises(InvalidDPoPProofError, match="expected 3"):
        parse_proof(f"{head}.e30", DEFAULT_ALGORITHMS, first)
    none_header = b64url(b'{"typ":"dpop+jwt","alg":"none","jwk":{}}')
    with pytest.raises(InvalidDPoPProofError, match="unsecured"):
        parse_proof(f"{none_header}.e30.c2ln", DEFAULT_ALGORITHMS, first)


def test_a_proof_with_another_header_than_the_known_one_is_judged_in_full(
    key: DPoPKey,
) -> None:
    """Given a known proof whose header differs, the header's rules still apply."""
    first = parse_proof(key.proof("GET", URL, TOKEN, now=NOW), DEFAULT_ALGORITHMS)
    wrong_typ = key.proof("GET", URL, TOKEN, now=NOW, header={"typ": "JWT"})
    with pytest.raises(InvalidDPoPProofError, match="typ 'JWT'"):
        parse_proof(wrong_typ, DEFAULT_ALGORITHMS, first)


def test_repr_hides_the_nonce_secret() -> None:
    """A DPoP printed in a log shows its options but not its secret."""
    text = repr(DPoP(nonce_secret=SECRET))
    assert "max_age=300.0" in text and "sss" not in text
