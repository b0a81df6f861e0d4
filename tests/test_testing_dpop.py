"""The sender-constraint test tools: DPoPKey, ClientCertificate, bound tokens, the fixture.

Proofs and thumbprints are checked against independent code (joserfc's RFC 7638
thumbprint and JWS verification, ``cryptography``'s certificate parser) and against the
verifier, which must accept the right proofs and refuse every wrong one.
"""

from __future__ import annotations

import base64
import hashlib
import json
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc import jws
from joserfc.errors import SecurityWarning
from joserfc.jwk import JWKRegistry

from jwks_client import (
    ConfigurationError,
    DPoP,
    InvalidDPoPProofError,
    InvalidTokenBindingError,
    MemoryReplayStore,
    Verifier,
)
from jwks_client.testing import (
    OMIT,
    PROOF_FAULTS,
    ClientCertificate,
    DPoPKey,
    FakeClock,
    LocalIssuer,
)

from .keyfactory import b64url

URL = "https://api.example.com/items"
AUD = "https://api.example.com"

pytest_plugins = ["pytester"]


def decode(segment: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def parts(jwt: str) -> tuple[dict[str, Any], dict[str, Any]]:
    head, body, _ = jwt.split(".")
    return decode(head), decode(body)


@pytest.fixture
def verifier(issuer: LocalIssuer, clock: FakeClock) -> Iterator[Verifier]:
    """A verifier of ``issuer`` with the default DPoP options and its own replay store."""
    with Verifier(
        issuer.issuer,
        audience=AUD,
        require_https=False,
        clock=clock,
        dpop=DPoP(replay_store=MemoryReplayStore()),
    ) as made:
        yield made


# --- DPoPKey ---------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["ES256", "ES384", "ES512", "RS256", "PS256", "EdDSA"])
def test_thumbprint_is_rfc7638(alg: str) -> None:
    """The key's thumbprint is the one joserfc computes from its public JWK."""
    key = DPoPKey(alg)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)  # joserfc flags "EdDSA"
        expected = JWKRegistry.import_key(key.jwk).thumbprint()
    assert key.thumbprint == expected
    assert key.cnf == {"jkt": expected}
    assert "d" not in key.jwk and "d" in key.private_jwk


@pytest.mark.parametrize("alg", ["ES256", "RS256", "EdDSA"])
def test_proof_is_a_signed_dpop_jwt(alg: str, clock: FakeClock) -> None:
    """A proof is typ dpop+jwt with the public jwk, the request's htm/htu, iat, jti and
    ath, and its signature verifies with that jwk (checked by joserfc)."""
    key = DPoPKey(alg, clock=clock)
    proof = key.proof("POST", URL + "?page=2#top", "the-token", nonce="n-1")
    head, body = parts(proof)
    assert head == {"typ": "dpop+jwt", "alg": alg, "jwk": key.jwk}
    assert body["htm"] == "POST" and body["htu"] == URL  # no query, no fragment
    assert body["iat"] == int(clock()) and body["nonce"] == "n-1"
    assert body["ath"] == b64url(hashlib.sha256(b"the-token").digest())
    assert isinstance(body["jti"], str) and len(body["jti"]) >= 16
    registry = jws.JWSRegistry(algorithms=[alg])
    registry.max_header_length = 4096  # an RSA jwk makes a header longer than its default
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)
        jws.deserialize_compact(proof, JWKRegistry.import_key(key.jwk), registry=registry)


def test_each_proof_has_its_own_jti() -> None:
    """Two proofs of the same request differ by their jti."""
    key = DPoPKey()
    first, second = (parts(key.proof("GET", URL, now=0))[1] for _ in range(2))
    assert first["jti"] != second["jti"]


def test_overrides_and_omissions() -> None:
    """header/claims override members, OMIT removes one, signature replaces the signature."""
    key = DPoPKey()
    proof = key.proof(
        "GET",
        URL,
        now=10,
        jti="fixed",
        header={"kid": "k1", "typ": OMIT},
        claims={"htu": URL + "?q=1", "iat": OMIT},
        signature=b"\x00",
    )
    head, body = parts(proof)
    assert head == {"alg": "ES256", "jwk": key.jwk, "kid": "k1"}
    assert body == {"jti": "fixed", "htm": "GET", "htu": URL + "?q=1"}
    assert proof.endswith(".AA")


def test_sign_proof_signs_exactly_what_it_is_given() -> None:
    """sign_proof serialises the given header and claims as they are."""
    key = DPoPKey("EdDSA")
    proof = key.sign_proof({"alg": "EdDSA", "x": [1]}, {"y": None})
    assert parts(proof) == ({"alg": "EdDSA", "x": [1]}, {"y": None})


def test_headers_carry_the_token_and_a_proof_for_it(clock: FakeClock) -> None:
    """headers() gives Authorization: DPoP <token> and a DPoP proof with its ath."""
    key = DPoPKey(clock=clock)
    headers = key.headers("DELETE", URL, "tok", nonce="abc")
    assert headers["Authorization"] == "DPoP tok"
    body = parts(headers["DPoP"])[1]
    assert (body["htm"], body["ath"], body["nonce"]) == ("DELETE", DPoPKey.ath("tok"), "abc")


def test_right_proof_is_accepted(verifier: Verifier, issuer: LocalIssuer, clock: FakeClock) -> None:
    """The verifier accepts a token bound to the key with the key's proof."""
    key = DPoPKey(clock=clock)
    token = issuer.token({"sub": "alice"}, dpop_key=key)
    claims = verifier.verify_request("GET", URL + "?page=1", key.headers("GET", URL, token))
    assert claims["sub"] == "alice" and claims["cnf"] == {"jkt": key.thumbprint}


@pytest.mark.parametrize("fault", PROOF_FAULTS)
def test_every_wrong_proof_is_refused(
    fault: str, verifier: Verifier, issuer: LocalIssuer, clock: FakeClock
) -> None:
    """Each fault makes a proof the default verifier refuses, for the reason it names."""
    key = DPoPKey(clock=clock)
    token = issuer.token(dpop_key=key)
    proof = key.wrong_proof(fault, "GET", URL, token)
    expected = InvalidTokenBindingError if fault == "other_key" else InvalidDPoPProofError
    with pytest.raises(expected):
        verifier.verify_request("GET", URL, {"Authorization": f"DPoP {token}", "DPoP": proof})
    # The same request with a right proof passes: the fault alone was refused.
    verifier.verify_request("GET", URL, key.headers("GET", URL, token))


def test_wrong_proofs_change_one_thing(clock: FakeClock) -> None:
    """A wrong proof differs from the right one only where its fault says."""
    key = DPoPKey(clock=clock)
    right_head, right_body = parts(key.proof("GET", URL, "t", jti="j"))
    head, body = parts(key.wrong_proof("iat_old", "GET", URL, "t"))
    assert head == right_head
    assert {k: v for k, v in body.items() if k not in ("jti", "iat")} == {
        k: v for k, v in right_body.items() if k not in ("jti", "iat")
    }
    assert body["iat"] == right_body["iat"] - 3600
    head, _ = parts(key.wrong_proof("private_jwk", "GET", URL, "t"))
    assert head["jwk"] == key.private_jwk


def test_unknown_fault_and_unusable_algorithms_are_configuration_errors() -> None:
    """An unknown fault, a symmetric alg and a key that cannot sign the alg are refused."""
    key = DPoPKey()
    with pytest.raises(ConfigurationError, match="unknown proof fault"):
        key.wrong_proof("nope", "GET", URL)
    with pytest.raises(ConfigurationError, match="unsupported algorithm"):
        DPoPKey("HS256")
    with pytest.raises(ConfigurationError, match="cannot sign"):
        DPoPKey("RS256", private_key=ec.generate_private_key(ec.SECP256R1()))


def test_given_private_key_is_used() -> None:
    """A given private key is the key of the proofs."""
    private = ec.generate_private_key(ec.SECP256R1())
    key = DPoPKey(private_key=private)
    assert key.private_key is private
    assert key.jwk["x"] == DPoPKey(private_key=private).jwk["x"]


# --- ClientCertificate and bound tokens ----------------------------------------------------


def test_client_certificate_forms_agree() -> None:
    """PEM, DER, the x509 object and the RFC 9440 header value are one certificate, and
    the thumbprint is the SHA-256 of its DER."""
    cert = ClientCertificate("alice")
    assert x509.load_pem_x509_certificate(cert.pem.encode()) == cert.certificate
    assert x509.load_der_x509_certificate(cert.der) == cert.certificate
    assert base64.b64decode(cert.header_value.strip(":")) == cert.der
    assert cert.header_value.startswith(":") and cert.header_value.endswith(":")
    assert cert.thumbprint == b64url(hashlib.sha256(cert.der).digest())
    assert cert.cnf == {"x5t#S256": cert.thumbprint}
    assert cert.certificate.subject.rfc4514_string() == "CN=alice"


def test_certificate_bound_tokens_from_every_form(verifier: Verifier, issuer: LocalIssuer) -> None:
    """token(client_cert=...) binds to the same thumbprint whatever the form, and the
    verifier accepts it with that certificate only."""
    cert = ClientCertificate()
    for form in (cert, cert.certificate, cert.pem, cert.pem.encode(), cert.der):
        token = issuer.token(client_cert=form)
        assert parts(token)[1]["cnf"] == {"x5t#S256": cert.thumbprint}
    headers = {"Authorization": f"Bearer {token}"}
    assert verifier.verify_request("GET", URL, headers, client_cert=cert.pem)["sub"]
    with pytest.raises(InvalidTokenBindingError):
        verifier.verify_request("GET", URL, headers, client_cert=ClientCertificate().pem)
    with pytest.raises(ConfigurationError, match="not a certificate"):
        issuer.token(client_cert=b"garbage")


def test_bound_token_keeps_other_cnf_members(issuer: LocalIssuer) -> None:
    """Binding adds to a cnf given in the claims, and binds to both at once if asked."""
    key, cert = DPoPKey(), ClientCertificate()
    token = issuer.token({"cnf": {"kid": "x"}}, dpop_key=key, client_cert=cert)
    assert parts(token)[1]["cnf"] == {"kid": "x", "jkt": key.thumbprint, **cert.cnf}


# --- the pytest fixture ---------------------------------------------------------------------


def test_fixture_key_makes_accepted_proofs(
    jwks_dpop_key: DPoPKey, jwks_token: Any, jwks_verifier: Verifier, jwks_clock: FakeClock
) -> None:
    """jwks_dpop_key is ES256 on the fake clock; tokens bound to it verify with its proofs."""
    assert jwks_dpop_key.alg == "ES256" and jwks_dpop_key.clock is jwks_clock
    token = jwks_token({"sub": "dora"}, dpop_key=jwks_dpop_key)
    headers = jwks_dpop_key.headers("GET", URL, token)
    assert jwks_verifier.verify_request("GET", URL, headers)["sub"] == "dora"


@pytest.mark.parametrize("jwks_dpop_key", ["EdDSA"], indirect=True)
def test_fixture_takes_another_algorithm(jwks_dpop_key: DPoPKey) -> None:
    """An indirect parameter names the key's algorithm."""
    assert jwks_dpop_key.alg == "EdDSA"


def test_fixture_refuses_a_bad_parameter(pytester: pytest.Pytester) -> None:
    """A parameter that is not an algorithm name is a ConfigurationError."""
    pytester.makeini(
        """
        [pytest]
        asyncio_default_fixture_loop_scope = function
        """
    )
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.parametrize("jwks_dpop_key", [{"alg": "ES256"}], indirect=True)
        def test_bad(jwks_dpop_key):
            pass
        """
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*must be an algorithm name*"])
