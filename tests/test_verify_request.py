"""verify_request end to end, in both shells: DPoP proofs (RFC 9449) and bound tokens.

Tokens come from a LocalIssuer (with a ``cnf`` claim where bound); proofs from
``jwks_client.testing.DPoPKey``. Each refusal test changes one thing in an otherwise valid
request, so it fails if the check it names is removed.
"""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from jwks_client import (
    AsyncVerifier,
    DPoP,
    InvalidDPoPProofError,
    InvalidRequestError,
    InvalidSignatureError,
    InvalidTokenBindingError,
    MemoryReplayStore,
    MissingTokenError,
    PreparedKey,
    UseDPoPNonceError,
    Verifier,
    challenge_for,
)
from jwks_client.testing import OMIT, DPoPKey, FakeClock, LocalIssuer

from .keyfactory import b64url

AUD = "https://api.example.com"
URL = "https://api.example.com/items"
SHELLS = ("sync", "async")


class Side:
    """One synchronous interface over a Verifier or an AsyncVerifier (on its own loop)."""

    def __init__(self, kind: str, issuer: LocalIssuer, clock: FakeClock, **options: Any) -> None:
        options.setdefault("audience", AUD)
        options.setdefault("require_https", False)
        options.setdefault("clock", clock)
        # A store per verifier: tests do not meet each other's proofs.
        dpop = options.setdefault("dpop", DPoP(replay_store=MemoryReplayStore()))
        self.store = dpop.replay_store if dpop is not None else None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.verifier: Verifier | AsyncVerifier
        if kind == "sync":
            self.verifier = Verifier(issuer.issuer, **options)
        else:
            self.loop = asyncio.new_event_loop()
            self.verifier = AsyncVerifier(issuer.issuer, **options)

    def _run(self, result: Any) -> Any:
        return result if self.loop is None else self.loop.run_until_complete(result)

    def verify_request(self, method: str, url: str, headers: Any, **options: Any) -> Any:
        """verify_request of the wrapped verifier."""
        return self._run(self.verifier.verify_request(method, url, headers, **options))

    def verify(self, token: str) -> Any:
        """verify of the wrapped verifier."""
        return self._run(self.verifier.verify(token))

    def close(self) -> None:
        """Close the verifier (and its loop)."""
        if self.loop is None:
            assert isinstance(self.verifier, Verifier)
            self.verifier.close()
        else:
            assert isinstance(self.verifier, AsyncVerifier)
            self.loop.run_until_complete(self.verifier.aclose())
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()


MakeSide = Callable[..., Side]


@pytest.fixture(params=SHELLS)
def make(
    request: pytest.FixtureRequest, issuer: LocalIssuer, clock: FakeClock
) -> Iterator[MakeSide]:
    """A factory of verifiers of one shell kind for ``issuer``, closed after the test."""
    made: list[Side] = []

    def factory(**options: Any) -> Side:
        side = Side(request.param, issuer, clock, **options)
        made.append(side)
        return side

    yield factory
    for side in made:
        side.close()


@pytest.fixture
def side(make: MakeSide) -> Side:
    """A verifier with the default DPoP options (its own replay store)."""
    return make()


@pytest.fixture(scope="module")
def key() -> DPoPKey:
    """The client's DPoP key (ES256)."""
    return DPoPKey("ES256")


@pytest.fixture(scope="module")
def other_key() -> DPoPKey:
    """Another client's DPoP key."""
    return DPoPKey("ES256")


def bound_token(issuer: LocalIssuer, key: DPoPKey, **claims: Any) -> str:
    """An access token bound to ``key`` (cnf.jkt)."""
    return issuer.token({"cnf": {"jkt": key.thumbprint}, **claims})


def dpop_headers(token: str, proof: str | None) -> dict[str, str]:
    """Authorization: DPoP and the DPoP header."""
    headers = {"Authorization": f"DPoP {token}"}
    if proof is not None:
        headers["DPoP"] = proof
    return headers


# --- accepted requests ---------------------------------------------------------------


def test_dpop_bound_token_with_its_proof_is_accepted(
    side: Side, issuer: LocalIssuer, clock: FakeClock, key: DPoPKey
) -> None:
    """A DPoP-bound token with a proof for this method and URL returns the claims."""
    token = bound_token(issuer, key, sub="alice")
    proof = key.proof("GET", URL, token, now=clock())
    claims = side.verify_request("GET", URL + "?page=2#top", dpop_headers(token, proof))
    assert claims["sub"] == "alice"
    assert claims["cnf"] == {"jkt": key.thumbprint}


def test_bearer_token_is_accepted_with_the_bearer_scheme(side: Side, issuer: LocalIssuer) -> None:
    """An unbound token with the Bearer scheme verifies as with verify (DPoP() default)."""
    claims = side.verify_request("GET", URL, {"Authorization": f"Bearer {issuer.token()}"})
    assert claims["sub"] == "user-1"


@pytest.mark.parametrize("alg", ["ES256", "ES384", "RS256", "PS256", "EdDSA"])
def test_proofs_of_every_key_type_are_accepted(
    side: Side, issuer: LocalIssuer, clock: FakeClock, alg: str
) -> None:
    """Proofs signed with EC, RSA (PKCS#1 and PSS) and Ed25519 keys are accepted."""
    client = DPoPKey(alg)
    token = bound_token(issuer, client)
    proof = client.proof("POST", URL, token, now=clock())
    assert side.verify_request("POST", URL, dpop_headers(token, proof))["sub"] == "user-1"


def test_schemes_and_header_names_are_case_insensitive(
    side: Side, issuer: LocalIssuer, clock: FakeClock, key: DPoPKey
) -> None:
    """``dpop``/``BEARER`` schemes and lower-case header names are accepted."""
    token = bound_token(issuer, key)
    proof = key.proof("GET", URL, token, now=clock())
    headers = {"authorization": f"dpop {token}", "dpop": proof}
    assert side.verify_request("GET", URL, headers)["sub"] == "user-1"
    bearer = {"AUTHORIZATION": f"BEARER {issuer.token()}"}
    assert side.verify_request("GET", URL, bearer)["sub"] == "user-1"


def test_headers_as_pairs_bytes_and_multi_dicts(
    side: Side, issuer: LocalIssuer, clock: FakeClock, key: DPoPKey
) -> None:
    """Headers may be (name, value) pairs, ASGI-style bytes pairs or an httpx.Headers."""
    token = bound_token(issuer, key)
    forms: list[Any] = [
        [("Authorization", f"DPoP {token}"), ("DPoP", key.proof("GET", URL, token, now=clock()))],
        [
            (b"authorization", f"DPoP {token}".encode()),
            (b"dpop", key.proof("GET", URL, token, now=clock()).encode()),
        ],
        httpx.Headers(
            {"Authorization": f"DPoP {token}", "DPoP": key.proof("GET", URL, token, now=clock())}
        ),
    ]
    for headers in forms:
        assert side.verify_request("GET", URL, headers)["sub"] == "user-1"


@pytest.mark.parametrize(
    ("htu", "url"),
    [
        ("HTTPS://API.Example.COM/items", URL),
        ("https://api.example.com:443/items", URL),
        ("https://api.example.com/items", "https://api.example.com:443/items"),
        ("http://api.example.com:80/a", "http://api.example.com/a"),
        ("https://api.example.com", "https://api.example.com/"),
        ("https://api.example.com/%7Eme/caf%c3%a9", "https://api.example.com/~me/café"),
        ("https://api.example.com/a/./b/../c", "https://api.example.com/a/c"),
        ("https://user@api.example.com/items", URL),
    ],
)
def test_htu_is_compared_after_rfc3986_normalisation(
    side: Side, issuer: LocalIssuer, clock: FakeClock, key: DPoPKey, htu: str, url: str
) -> None:
    """Scheme/host case, default ports, percent-encoding, dot segments and an empty path
    do not make two spellings of one URL differ."""
    token = bound_token(issuer, key)
    proof = key.proof("GET", htu, token, now=clock())
    assert side.verify_request("GET", url, dpop_headers(token, proof))["sub"] == "user-1"


def test_iat_within_leeway_in_the_future_and_max_age_in_the_past(
    make: MakeSide, issuer: LocalIssuer, clock: FakeClock, key: DPoPKey
) -> None:
    """A proof made up to ``leeway`` seconds ahead or ``max_age`` seconds ago passes."""
    side = make(dpop=DPoP(max_age=60, leeway=5, replay_store=MemoryReplayStore()))
    token = bound_token(issuer, key)
    for iat in (clock() + 5, clock() - 60):
        proof = key.proof("GET", URL, token, iat=iat)
        assert side.verify_request("GET", URL, dpop_headers(token, proof))["sub"] == "user-1"


def test_jti_of_256_characters_is_accepted(
    side: Side, issuer: LocalIssuer, clock: FakeClock, key: DPoPKey
) -> None:
    """A jti of exactly 256 characters is accepted."""
    token = bound_token(issuer, key)
    proof = key.proof("GET", URL, token, now=clock(), jti="j" * 256)
    assert side.verify_request("GET", URL, dpop_headers(token, proof))["sub"] == "user-1"


def test_header_members_naming_other_keys_are_ignored(
    side: Side, issuer: LocalIssuer, clock: FakeClock, key: DPoPKey
) -> None:
    """kid, jku, x5u and x5c in a proof header are never used: the jwk decides."""
    token = bound_token(issuer, key)
    header = {"kid": "elsewhere", "jku": "https://evil.example/jwks", "x5u": "https://evil/x"}
    proof = key.proof("GET", URL, token, now=clock(), header=header)
    assert side.verify_request("GET", URL, dpop_headers(token, proof))["sub"] == "user-1"
    assert issuer.request_count("jwks") == 1  # nothing else was fetched


def test_one_signature_check_per_proof(
    side: Side,
    issuer: LocalIssuer,
    clock: FakeClock,
    key: DPoPKey,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A DPoP request costs two signature checks: the token's and the proof's."""
    token = bound_token(issuer, key)
    side.verify(issuer.token())  # warm the key cache
    calls: list[str] = []
    real = PreparedKey.verify

    def counting(self: PreparedKey, alg: str, signing_input: bytes, signature: bytes) -> bool:
        calls.append(alg)
        return real(self, alg, signing_input, signature)

    monkeypatch.setattr(PreparedKey, "verify", counting)
    for _ in range(3):
        proof = key.proof("GET", URL, token, now=clock())
        side.verify_request("GET", URL, dpop_headers(token, proof))
    assert len(calls) == 6


def test_a_proof_key_is_imported_once_per_header(
    side: Side,
    issuer: LocalIssuer,
    clock: FakeClock,
    key: DPoPKey,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Proofs with the same header reuse the imported key; a new header imports anew."""
    import jwks_client._sender as sender

    imports: list[object] = []
    real = sender.proof_key

    def counting(jwk: object, alg: str) -> PreparedKey:
        imports.append(jwk)
        return real(jwk, alg)

    monkeypatch.setattr(sender, "proof_key", counting)
    token = bound_token(issuer, key)
    for _ in range(3):
        proof = key.proof("GET", URL, token, now=clock())
        side.verify_request("GET", URL, dpop_headers(token, proof))
    assert len(imports) == 1


# --- refused proofs: one check each ---------------------------------------------------


def _refused(side: Side, token: str, proof: str, *, method: str = "GET", url: str = URL) -> Any:
    with pytest.raises(InvalidDPoPProofError) as caught:
        side.verify_request(method, url, dpop_headers(token, proof))
    return caught.value


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ({"typ": "JWT"}, "typ 'JWT'"),
        ({"typ": OMIT}, "no 'typ'"),
        ({"typ": "at+jwt"}, "typ 'at+jwt'"),
        ({"jwk": OMIT}, "no 'jwk'"),
        ({"jwk": "key"}, "'jwk' must be an object"),
        ({"alg": "none"}, "unsecured"),
        ({"alg": "HS256"}, "symmetric"),
        ({"alg": "ES384"}, "does not fit"),
        ({"crit": ["exp"]}, "critical"),
    ],
)
def test_proof_header_rules(
    side: Side,
    issuer: LocalIssuer,
    clock: FakeClock,
    key: DPoPKey,
    header: dict[str, Any],
    message: str,
) -> None:
    """typ dpop+jwt, a jwk object, an asymmetric allowed alg that fits the key, no crit."""
    token = bound_token(issuer, key)
    error = _refused(side, token, key.proof("GET", URL, token, now=clock(), header=header))
    assert message in str(error)


def test_typ_is_compared_as_a_media_type(
    side: Side, issuer: LocalIssuer, clock: FakeClock, key: DPoPKey
) -> None:
    """``application/DPoP+JWT`` is the same type as ``dpop+jwt``."""
    token = bound_token(issuer, key)
    proof = key.proof("GET", URL, token, now=clock(), header={"typ": "application/DPoP+JWT"})
    assert side.verify_request("GET", URL, dpop_headers(token, proof))["sub"] == "user-1"


def test_proof_algorithm_outside_the_allowlist_is_refused(
    make: MakeSide, issuer: LocalIssuer, clock: FakeClock
) -> None:
    """DPoP(algorithms=...) limits the proof algorithms."""
    side = make(dpop=DPoP(algorithms=["ES256"], replay_store=MemoryReplayStore()))
    client = DPoPKey("EdDSA")
    token = bound_token(issuer, client)
    error = _refused(side, token, client.proof("GET", URL, token, now=clock()))
    assert "'EdDSA' is not allowed" in str(error)


def test_private_jwk_is_refused(
    side: Side, issuer: LocalIssuer, clock: FakeClock, key: DPoPKey
) -> None:
    """A jwk carrying a private member is refused, even with a valid signature."""
    token = bound_token(issuer, key)
    proof = key.proof("GET", URL, token, now=clock(), header={"jwk": key.private_jwk})
    assert "private key member" in str(_refused(side, token, proof))


def test_weak_or_malformed_jwk_is_refused(
    side: Side, issuer: LocalIssuer, clock: FakeClock, key: DPoPKey
) -> None:
    """The key policy of key sets applies: a point off the curve, a symmetric key."""
    token = bound_token(issuer, key)
    off_curve = {**key.jwk, "y": b64url(b"\x01" * 32)}
    for jwk, message in ((off_curve, "not on the curve"), ({"kty": "oct", "k": "c2VjcmV0"}, "oct")):
        proof = key.proof("GET", URL, token, now=clock(), header={"jwk": jwk})
        assert message in str(_refused(side, token, proof))


def test_signature_must_verify_with_the_proofs_own_jwk(
    side: Side, issuer: LocalIssuer, clock: FakeClock, key: DPoPKey, other_key: DPoPKey
) -> None:
    """A proof carrying key A's jwk but signed by key B is refused."""
    token = bound_token(issuer, key)
    proof = key.proof("GET", URL, token, now=clock())
    head, body, _ = proof.split(".")
    forged = f"{head}.{body}.{b64url(other_key.sign(f'{head}.{body}'.encode()))}"
    assert "signature does not verify" in str(_refused(side, token, forged))


def test_htm_must_be_the_request_method(
    side: Side, issuer: LocalIssuer, clock: FakeClock, key: DPoPKey
) -> None:
    """A proof for POST is refused on a GET (and methods are case-sensitive)."""
    token = bound_token(issuer, key)
    assert "htm" in str(_refused(side, token, key.proof("POST", URL, token, now=clock())))
    assert "htm" in str(_refused(side, token, key.proof("get", URL, token, now=clock())))


@pytest.mark.parametrize(
    "htu",
    [
        "https://api.example.com/other",
        "https://api.example.com/items/",
        "http://api.example.com/items",
        "https://api.example.com:8443/items",
        "https://evil.example.com/items",
        "https://api.example.com/items?page=2",
        "https://api.example.com/ITEMS",
    ],
)
def test_htu_must_be_the_request_url(
    side: Side, issuer: LocalIssuer, clock: FakeClock, key: DPoPKey, htu: str
) -> None:
    """Another path, scheme, port or host, or an htu with a query, is refused."""
    token = bound_token(issuer, key)
    proof = key.proof("GET", URL, token, now=clock(), claims={"htu": htu})
    assert "htu" in str(_refused(side, token, proof))


def test_htu_must_be_a_string(
    side: Side, issuer: LocalIssuer, clock: FakeClock, key: DPoPKey
) -> None:
    """A non-string htu is refused."""
    token = bound_token(issuer, key)
    proof = key.proof("GET", URL, token, now=clock(), claims={"htu": ["https://x"]})
    assert "htu" in str(_refused(side, token, proof))


@pytest.mark.parametrize("claim", ["jti", "htm", "htu", "iat", "ath"])
def test_required_claims(
    side: Side, issuer: LocalIssuer, clock: FakeClock, key: DPoPKey, claim: str
) -> None:
    """jti, htm, htu, iat and ath (with an access token) are required."""
    token = bound_token(issuer, key)
    proof = key.proof("GET", URL, token, now=clock(), claims={claim: OMIT})
    assert f"no {claim!r} claim" in str(_refused(side, token, proof))


def test_iat_window(make: MakeSide, issuer: LocalIssuer, clock: FakeClock, key: DPoPKey) -> None:
    """A proof older than max_age, or ahead by more than leeway, is refused."""
    side = make(dpop=DPoP(max_age=60, leeway=5, replay_store=MemoryReplayStore()))
    token = bound_token(issuer, key)
    old = key.proof("GET", URL, token, iat=clock() - 61)
    assert "more than 60 s ago" in str(_refused(side, token, old))
    ahead = key.proof("GET", URL, token, iat=clock() + 6)
    assert "in the future" in str(_refused(side, token, ahead))
    for bad in ("now", True, 10**400):
        proof = key.proof("GET", URL, token, iat=bad)  # type: ignore[arg-type]
        _refused(side, token, proof)


def test_jti_rules(side: Side, issuer: LocalIssuer, clock: FakeClock, key: DPoPKey) -> None:
    """jti is a non-empty string of at most 256 characters."""
    token = bound_token(issuer, key)
    for jti, message in (("j" * 257, "longer than 256"), (12, "non-empty string")):
        proof = key.proof("GET", URL, token, now=clock(), jti=jti)
        assert message in str(_refused(side, token, proof))
    proof = key.proof("GET", URL, token, now=clock(), claims={"jti": ""})
    assert "non-empty string" in str(_refused(side, token, proof))


def test_replayed_proof_is_refused(
    side: Side, issuer: LocalIssuer, clock: FakeClock, key: DPoPKey
) -> None:
    """The same proof twice: the second use is refused as a replay."""
    token = bound_token(issuer, key)
    proof = key.proof("GET", URL, token, now=clock())
    side.verify_request("GET", URL, dpop_headers(token, proof))
    clock.advance(10)
    assert "already used" in str(_refused(side, token, proof))


def test_replay_is_refused_across_verifiers_sharing_a_store(
    make: MakeSide, issuer: LocalIssuer, clock: FakeClock, key: DPoPKey
) -> None:
    """Two verifiers with one replay store refuse each other's proofs (a fleet's view)."""
    store = MemoryReplayStore()
    first = make(dpop=DPoP(replay_store=store))
    second = make(dpop=DPoP(replay_store=store))
    token = bound_token(issuer, key)
    proof = key.proof("GET", URL, token, now=clock())
    first.verify_request("GET", URL, dpop_headers(token, proof))
    _refused(second, token, proof)


def test_given_replay_store_records_accepted_proofs(
    make: MakeSide, issuer: LocalIssuer, clock: FakeClock, key: DPoPKey
) -> None:
    """DPoP(replay_store=...) is the store used, even while it is empty."""
    store = MemoryReplayStore()
    side = make(dpop=DPoP(replay_store=store))
    token = bound_token(issuer, key)
    side.verify_request("GET", URL, dpop_headers(token, key.proof("GET", URL, token, now=clock())))
    assert len(store) == 1


def test_default_replay_store_is_shared_by_the_process(
    issuer: LocalIssuer, clock: FakeClock, key: DPoPKey
) -> None:
    """Verifiers given no store share the process's: a verifier made per request still
    refuses a replay."""
    token = bound_token(issuer, key)
    proof = key.proof("GET", URL, token, now=clock())
    options: dict[str, Any] = {"audience": AUD, "require_https": False, "clock": clock}
    with Verifier(issuer.issuer, **options) as first:
        first.verify_request("GET", URL, dpop_headers(token, proof))
    with Verifier(issuer.issuer, **options) as second, pytest.raises(InvalidDPoPProofError):
        second.verify_request("GET", URL, dpop_headers(token, proof))


def test_same_jti_from_another_key_is_not_a_replay(
    side: Side, issuer: LocalIssuer, clock: FakeClock, key: DPoPKey, other_key: DPoPKey
) -> None:
    """Replays are tracked per key: another client's proof with the same jti passes."""
    for client in (key, other_key):
        token = bound_token(issuer, client)
        proof = client.proof("GET", URL, token, now=clock(), jti="same")
        assert side.verify_request("GET", URL, dpop_headers(token, proof))["sub"] == "user-1"


def test_refused_proof_is_not_recorded(
    side: Side, issuer: LocalIssuer, clock: FakeClock, key: DPoPKey
) -> None:
    """A proof refused before its signature check leaves no replay entry."""
    token = bound_token(issuer, key)
    proof = key.proof("GET", URL, token, now=clock())
    _refused(side, token, proof, method="POST")
    assert side.verify_request("GET", URL, dpop_headers(token, proof))["sub"] == "user-1"


def test_ath_must_hash_the_access_token(
    side: Side, issuer: LocalIssuer, clock: FakeClock, key: DPoPKey
) -> None:
    """A proof made for another token of the same key is refused."""
    token = bound_token(issuer, key)
    other = bound_token(issuer, key, sub="other")
    proof = key.proof("GET", URL, other, now=clock())
    assert "ath" in str(_refused(side, token, proof))


# --- the token's binding -------------------------------------------------------------


def test_proof_key_must_be_the_tokens_key(
    side: Side, issuer: LocalIssuer, clock: FakeClock, key: DPoPKey, other_key: DPoPKey
) -> None:
    """A token bound to key A with a (valid) proof by key B is refused."""
    token = bound_token(issuer, key)
    proof = other_key.proof("GET", URL, token, now=clock())
    with pytest.raises(InvalidTokenBindingError, match=r"cnf\.jkt"):
        side.verify_request("GET", URL, dpop_headers(token, proof))


def test_dpop_bound_token_as_bearer_is_a_downgrade(
    side: Side, issuer: LocalIssuer, clock: FakeClock, key: DPoPKey
) -> None:
    """A token with cnf.jkt sent with the Bearer scheme is refused, proof or not."""
    token = bound_token(issuer, key)
    proof = key.proof("GET", URL, token, now=clock())
    for headers in (
        {"Authorization": f"Bearer {token}"},
        {"Authorization": f"Bearer {token}", "DPoP": proof},
    ):
        with pytest.raises(InvalidTokenBindingError, match="Bearer scheme"):
            side.verify_request("GET", URL, headers)


def test_dpop_scheme_with_an_unbound_token_is_refused(
    side: Side, issuer: LocalIssuer, clock: FakeClock, key: DPoPKey
) -> None:
    """A token without cnf.jkt sent with the DPoP scheme is refused."""
    token = issuer.token()
    proof = key.proof("GET", URL, token, now=clock())
    with pytest.raises(InvalidTokenBindingError, match="not DPoP-bound"):
        side.verify_request("GET", URL, dpop_headers(token, proof))


def test_dpop_scheme_needs_a_proof(side: Side, issuer: LocalIssuer, key: DPoPKey) -> None:
    """The DPoP scheme without a DPoP header is refused."""
    with pytest.raises(InvalidDPoPProofError, match="needs a proof"):
        side.verify_request("GET", URL, dpop_headers(bound_token(issuer, key), None))


def test_malformed_cnf_is_refused(side: Side, issuer: LocalIssuer) -> None:
    """cnf must be an object, and jkt a non-empty string."""
    for cnf in ("key", {"jkt": 7}, {"jkt": ""}):
        token = issuer.token({"cnf": cnf})
        with pytest.raises(InvalidTokenBindingError, match="cnf"):
            side.verify_request("GET", URL, {"Authorization": f"Bearer {token}"})


def test_verify_refuses_sender_constrained_tokens(
    side: Side, issuer: LocalIssuer, key: DPoPKey
) -> None:
    """verify(token) refuses cnf.jkt and cnf x5t#S256 tokens, pointing to verify_request."""
    with pytest.raises(InvalidTokenBindingError, match="verify_request"):
        side.verify(bound_token(issuer, key))
    with pytest.raises(InvalidTokenBindingError, match="verify_request"):
        side.verify(issuer.token({"cnf": {"x5t#S256": "abc"}}))
    other_cnf = issuer.token({"cnf": {"kid": "not a binding this library checks"}})
    assert side.verify(other_cnf)["sub"] == "user-1"


def test_verify_refuses_a_bound_token_from_the_verified_token_cache(
    make: MakeSide, issuer: LocalIssuer, clock: FakeClock, key: DPoPKey
) -> None:
    """A bound token remembered by verify_request is still refused by verify."""
    side = make(verified_token_cache_size=16)
    token = bound_token(issuer, key)
    side.verify_request("GET", URL, dpop_headers(token, key.proof("GET", URL, token, now=clock())))
    with pytest.raises(InvalidTokenBindingError):
        side.verify(token)
    again = key.proof("GET", URL, token, now=clock())
    assert side.verify_request("GET", URL, dpop_headers(token, again))["sub"] == "user-1"


# --- options -------------------------------------------------------------------------


def test_dpop_none_refuses_the_dpop_scheme(
    make: MakeSide, issuer: LocalIssuer, clock: FakeClock, key: DPoPKey
) -> None:
    """With dpop=None the DPoP scheme is "no credentials"; bearer tokens still pass."""
    side = make(dpop=None)
    token = bound_token(issuer, key)
    with pytest.raises(MissingTokenError):
        side.verify_request(
            "GET", URL, dpop_headers(token, key.proof("GET", URL, token, now=clock()))
        )
    assert side.verify_request("GET", URL, {"Authorization": f"Bearer {issuer.token()}"})
    with pytest.raises(InvalidTokenBindingError):
        side.verify_request("GET", URL, {"Authorization": f"Bearer {token}"})


def test_required_refuses_plain_bearer_tokens(
    make: MakeSide, issuer: LocalIssuer, clock: FakeClock, key: DPoPKey
) -> None:
    """DPoP(required=True) refuses unbound tokens; DPoP-bound ones pass."""
    side = make(dpop=DPoP(required=True, replay_store=MemoryReplayStore()))
    with pytest.raises(InvalidTokenBindingError, match="requires DPoP"):
        side.verify_request("GET", URL, {"Authorization": f"Bearer {issuer.token()}"})
    token = bound_token(issuer, key)
    proof = key.proof("GET", URL, token, now=clock())
    assert side.verify_request("GET", URL, dpop_headers(token, proof))["sub"] == "user-1"


def test_verifier_exposes_its_dpop_options(make: MakeSide) -> None:
    """verifier.dpop is the configuration given (None when off)."""
    config = DPoP(required=True, replay_store=MemoryReplayStore())
    assert make(dpop=config).verifier.dpop is config
    assert make(dpop=None).verifier.dpop is None


# --- nonces --------------------------------------------------------------------------

SECRET = b"0123456789abcdef0123456789abcdef"


def test_nonce_required_then_accepted(
    make: MakeSide, issuer: LocalIssuer, clock: FakeClock, key: DPoPKey
) -> None:
    """Without a nonce the proof is answered with use_dpop_nonce and a nonce that then
    passes; verifier.dpop_nonce() offers the same nonce."""
    side = make(dpop=DPoP(nonce_secret=SECRET, replay_store=MemoryReplayStore()))
    token = bound_token(issuer, key)
    with pytest.raises(UseDPoPNonceError) as caught:
        side.verify_request(
            "GET", URL, dpop_headers(token, key.proof("GET", URL, token, now=clock()))
        )
    nonce = caught.value.nonce
    assert nonce == side.verifier.dpop_nonce()
    answer = challenge_for(caught.value)
    assert answer.header_dict()["DPoP-Nonce"] == nonce
    assert 'error="use_dpop_nonce"' in answer.header_dict()["WWW-Authenticate"]
    proof = key.proof("GET", URL, token, now=clock(), nonce=nonce)
    assert side.verify_request("GET", URL, dpop_headers(token, proof))["sub"] == "user-1"


def test_nonce_lives_its_window_and_the_next(
    make: MakeSide, issuer: LocalIssuer, clock: FakeClock, key: DPoPKey
) -> None:
    """A nonce is accepted for one more window while the next one is offered; two
    windows later it is stale."""
    side = make(dpop=DPoP(nonce_secret=SECRET, max_age=60, replay_store=MemoryReplayStore()))
    token = bound_token(issuer, key, exp=clock() + 3600)
    nonce = side.verifier.dpop_nonce()
    assert nonce is not None
    clock.advance(60)
    assert side.verifier.dpop_nonce() != nonce
    proof = key.proof("GET", URL, token, now=clock(), nonce=nonce)
    assert side.verify_request("GET", URL, dpop_headers(token, proof))["sub"] == "user-1"
    clock.advance(60)
    with pytest.raises(UseDPoPNonceError, match="stale"):
        proof = key.proof("GET", URL, token, now=clock(), nonce=nonce)
        side.verify_request("GET", URL, dpop_headers(token, proof))


def test_nonce_is_valid_across_a_fleet_sharing_the_secret(
    make: MakeSide, issuer: LocalIssuer, clock: FakeClock, key: DPoPKey
) -> None:
    """A nonce made by one verifier passes another with the same secret, not one with
    another secret."""
    first = make(dpop=DPoP(nonce_secret=SECRET, replay_store=MemoryReplayStore()))
    twin = make(dpop=DPoP(nonce_secret=SECRET, replay_store=MemoryReplayStore()))
    stranger = make(
        dpop=DPoP(nonce_secret=b"another secret, 32 bytes long..", replay_store=MemoryReplayStore())
    )
    token = bound_token(issuer, key)
    nonce = first.verifier.dpop_nonce()
    assert nonce is not None
    proof = key.proof("GET", URL, token, now=clock(), nonce=nonce)
    assert twin.verify_request("GET", URL, dpop_headers(token, proof))["sub"] == "user-1"
    with pytest.raises(UseDPoPNonceError):
        stranger.verify_request("GET", URL, dpop_headers(token, proof))


def test_no_nonce_without_a_secret(side: Side) -> None:
    """dpop_nonce() is None when nonces are off."""
    assert side.verifier.dpop_nonce() is None


# --- certificate-bound tokens (RFC 8705) ----------------------------------------------


def _certificate(name: str) -> x509.Certificate:
    private = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(private.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(private, hashes.SHA256())
    )


@pytest.fixture(scope="module")
def certificate() -> x509.Certificate:
    """The client's TLS certificate."""
    return _certificate("client")


def _x5t(cert: x509.Certificate) -> str:
    import hashlib

    return b64url(hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).digest())


def test_certificate_bound_token_with_its_certificate(
    side: Side, issuer: LocalIssuer, certificate: x509.Certificate
) -> None:
    """A cnf x5t#S256 token passes with its certificate as PEM text, PEM bytes, DER or an
    x509 object."""
    token = issuer.token({"cnf": {"x5t#S256": _x5t(certificate)}})
    pem = certificate.public_bytes(serialization.Encoding.PEM)
    der = certificate.public_bytes(serialization.Encoding.DER)
    headers = {"Authorization": f"Bearer {token}"}
    for form in (pem.decode(), pem, der, certificate):
        assert side.verify_request("GET", URL, headers, client_cert=form)["sub"] == "user-1"


def test_certificate_bound_token_without_or_with_another_certificate(
    side: Side, issuer: LocalIssuer, certificate: x509.Certificate
) -> None:
    """No certificate, another one, or an unreadable one: refused."""
    token = issuer.token({"cnf": {"x5t#S256": _x5t(certificate)}})
    headers = {"Authorization": f"Bearer {token}"}
    other = _certificate("other")
    for cert, message in (
        (None, "no client certificate"),
        (other, "not the one"),
        ("not a certificate", "PEM"),
        (b"-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----", "PEM"),
    ):
        with pytest.raises(InvalidTokenBindingError, match=message):
            side.verify_request("GET", URL, headers, client_cert=cert)


def test_token_bound_to_a_dpop_key_and_a_certificate_needs_both(
    side: Side, issuer: LocalIssuer, clock: FakeClock, key: DPoPKey, certificate: x509.Certificate
) -> None:
    """A token with cnf.jkt and x5t#S256 needs the proof and the certificate."""
    token = issuer.token({"cnf": {"jkt": key.thumbprint, "x5t#S256": _x5t(certificate)}})
    with pytest.raises(InvalidTokenBindingError, match="certificate"):
        side.verify_request(
            "GET", URL, dpop_headers(token, key.proof("GET", URL, token, now=clock()))
        )
    proof = key.proof("GET", URL, token, now=clock())
    claims = side.verify_request("GET", URL, dpop_headers(token, proof), client_cert=certificate)
    assert claims["sub"] == "user-1"


# --- credentials and answers ------------------------------------------------------------


def test_no_credentials(side: Side) -> None:
    """No Authorization, an empty one or another scheme: MissingTokenError."""
    for headers in ({}, {"Authorization": ""}, {"Authorization": "Basic dXNlcjpwYXNz"}):
        with pytest.raises(MissingTokenError):
            side.verify_request("GET", URL, headers)


def test_malformed_or_repeated_headers(
    side: Side, issuer: LocalIssuer, clock: FakeClock, key: DPoPKey
) -> None:
    """A repeated Authorization or DPoP field, or a malformed one: InvalidRequestError."""
    token = bound_token(issuer, key)
    proof = key.proof("GET", URL, token, now=clock())
    for headers in (
        [("Authorization", f"DPoP {token}"), ("Authorization", f"Bearer {token}")],
        [("Authorization", f"DPoP {token}"), ("DPoP", proof), ("DPoP", proof)],
        [("Authorization", f"DPoP {token}"), ("DPoP", f"{proof}, {proof}")],
        [("Authorization", f"DPoP {token}"), ("DPoP", "")],
        [("Authorization", "DPoP")],
        [("Authorization", f"Bearer  {token}")],
        [("Authorization", f"Bearer {token} extra")],
    ):
        with pytest.raises(InvalidRequestError):
            side.verify_request("GET", URL, headers)


def test_rejections_carry_their_challenge(
    make: MakeSide, issuer: LocalIssuer, clock: FakeClock, key: DPoPKey
) -> None:
    """A rejection from verify_request knows the scheme used and the schemes offered."""
    side = make(dpop=DPoP(algorithms=["ES256", "PS256"], replay_store=MemoryReplayStore()))
    token = bound_token(issuer, key)
    proof = key.proof("POST", URL, token, now=clock())
    with pytest.raises(InvalidDPoPProofError) as caught:
        side.verify_request("GET", URL, dpop_headers(token, proof))
    error = caught.value
    assert (error.scheme, error.bearer_accepted, error.dpop_algorithms) == (
        "DPoP",
        True,
        ("ES256", "PS256"),
    )
    answer = challenge_for(error, realm="api")
    assert answer.status == 401
    assert answer.header_dict()["WWW-Authenticate"].startswith(
        'Bearer realm="api", DPoP realm="api", error="invalid_dpop_proof", error_description="'
    )
    assert answer.header_dict()["WWW-Authenticate"].endswith('algs="ES256 PS256"')
    with pytest.raises(MissingTokenError) as missing:
        side.verify_request("GET", URL, {})
    assert challenge_for(missing.value).header_dict() == {
        "WWW-Authenticate": 'Bearer, DPoP algs="ES256 PS256"'
    }


def test_rejections_are_counted(
    side: Side, issuer: LocalIssuer, clock: FakeClock, key: DPoPKey
) -> None:
    """stats() counts verify_request's outcomes by class, like verify's."""
    token = bound_token(issuer, key)
    side.verify_request("GET", URL, dpop_headers(token, key.proof("GET", URL, token, now=clock())))
    with pytest.raises(InvalidDPoPProofError):
        side.verify_request(
            "GET", URL, dpop_headers(token, key.proof("PUT", URL, token, now=clock()))
        )
    with pytest.raises(MissingTokenError):
        side.verify_request("GET", URL, {})
    stats = side.verifier.stats()
    assert stats.verified == 1
    assert stats.rejected == {"InvalidDPoPProofError": 1, "MissingTokenError": 1}


def test_invalid_token_is_refused_and_its_proof_not_recorded(
    side: Side, issuer: LocalIssuer, clock: FakeClock, key: DPoPKey
) -> None:
    """A token with a bad signature is refused as such; the proof is not recorded."""
    token = bound_token(issuer, key)
    head, body, _ = token.split(".")
    forged = f"{head}.{body}.{b64url(bytes(64))}"
    proof = key.proof("GET", URL, forged, now=clock())
    with pytest.raises(InvalidSignatureError):
        side.verify_request("GET", URL, dpop_headers(forged, proof))
    assert isinstance(side.store, MemoryReplayStore) and len(side.store) == 0


def test_forged_proof_costs_no_key_refresh(
    side: Side, issuer: LocalIssuer, clock: FakeClock, key: DPoPKey, other_key: DPoPKey
) -> None:
    """The proof's signature is checked before the token's keys are looked up: a token
    with an unknown kid and a forged proof is refused as a bad proof, without a JWKS
    request; with a sound proof the same token's kid is fetched and it verifies."""
    side.verify(issuer.token())  # the key cache is warm
    issuer.rotate("ES256")  # the token's kid is now one the verifier has not seen
    clock.advance(31)  # past the unknown-kid refresh cooldown
    token = bound_token(issuer, key)
    proof = key.proof("GET", URL, token, now=clock())
    head, body, _ = proof.split(".")
    forged = f"{head}.{body}.{b64url(other_key.sign(f'{head}.{body}'.encode()))}"
    before = issuer.request_count("jwks")
    assert "signature does not verify" in str(_refused(side, token, forged))
    assert issuer.request_count("jwks") == before
    assert side.verify_request("GET", URL, dpop_headers(token, proof))["sub"] == "user-1"
    assert issuer.request_count("jwks") == before + 1


def test_method_and_url_must_be_text(side: Side, issuer: LocalIssuer) -> None:
    """A method or URL that is not a str is a programming error (TypeError)."""
    with pytest.raises(TypeError):
        side.verify_request(b"GET", URL, {"Authorization": f"Bearer {issuer.token()}"})


def test_multi_issuer_verify_refuses_sender_constrained_tokens(
    issuer: LocalIssuer, clock: FakeClock, key: DPoPKey
) -> None:
    """MultiIssuerVerifier.verify, which sees no proof either, refuses bound tokens."""
    from jwks_client import MultiIssuerVerifier

    options: dict[str, Any] = {"audience": AUD, "require_https": False, "clock": clock}
    with MultiIssuerVerifier([issuer.issuer], **options) as verifier:
        assert verifier.verify(issuer.token())["sub"] == "user-1"
        with pytest.raises(InvalidTokenBindingError, match="verify_request"):
            verifier.verify(bound_token(issuer, key))
