"""Issuers, realistic access tokens and the two baselines (floor, floor+parse) per algorithm.

Each algorithm gets its own :class:`~jwks_client.testing.LocalIssuer` on 127.0.0.1 that
publishes two keys of that algorithm (the signing key first, then a second one, as an
issuer does around a rotation), so every library looks a key up in a two-key set.

The baselines:

* **floor**: ``cryptography``'s verify on a pre-loaded public key, with the padding and
  hash objects built ahead of time (for ES256 the DER signature is pre-computed too).
* **floor+parse**: a hand-written minimal JWS check: split the token, base64url-decode
  header, payload and signature, ``json.loads`` header and payload, (for ES256 turn
  ``R || S`` into DER), and the floor's verify. No header rule, no key lookup, no claim
  check: the least any JWT library must do.
"""

from __future__ import annotations

import binascii
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from jwks_client.testing import LocalIssuer

#: The algorithms of the side-by-side table.
ALGORITHMS: tuple[str, ...] = ("RS256", "PS256", "ES256", "EdDSA")
#: The audience of every token.
AUDIENCE = "https://api.example.com"
#: Seconds until the benchmark's tokens expire (longer than any run).
TOKEN_LIFETIME = 6 * 3600
#: The scope claim, long enough for a ~400-byte payload with the other claims.
SCOPE = (
    "openid profile email offline_access orders:read orders:write invoices:read "
    "customers:read catalog:read"
)

_TO_STANDARD = bytes.maketrans(b"-_", b"+/")
_PADDING = (b"", b"", b"==", b"=")


def access_claims(index: int = 0) -> dict[str, Any]:
    """Realistic access-token claims besides iss/aud/iat/nbf/exp (the issuer adds those)."""
    return {
        "sub": f"auth0|{0x5F7C8EC7C33C6C004BBAFE82 + index:024x}",
        "client_id": "kbyuFDidLLm280LIwVFiazOqjO3ty8KH",
        "scope": SCOPE,
        "jti": str(uuid.UUID(int=0x3A9C_0000_0000_4000_8000_0000_0000_0000 + index)),
        "azp": "kbyuFDidLLm280LIwVFiazOqjO3ty8KH",
    }


def _b64url_decode(segment: str) -> bytes:
    standard = segment.encode("ascii").translate(_TO_STANDARD)
    return binascii.a2b_base64(standard + _PADDING[len(segment) % 4])


@dataclass
class Fixture:
    """One algorithm's issuer, tokens, JWKS and baselines.

    Attributes:
        alg: the JWS algorithm.
        issuer: the running LocalIssuer (publishing two keys of ``alg``).
        token: the token timed in the per-call tables.
        tokens: distinct valid tokens (the first is ``token``).
        jwks: the JWKS document as served by the issuer.
        floor: the raw cryptography verify of ``token``'s signature.
        floor_parse: the minimal hand-written JWS check of ``token``.
        minimal_parse: ``floor_parse`` without the verify call (for the breakdown).
    """

    alg: str
    issuer: LocalIssuer
    token: str
    tokens: list[str]
    jwks: dict[str, Any]
    floor: Callable[[], object]
    floor_parse: Callable[[], object]
    minimal_parse: Callable[[], object]

    @property
    def payload_bytes(self) -> int:
        """Size of the token's decoded payload."""
        return len(_b64url_decode(self.token.split(".")[1]))

    @property
    def token_chars(self) -> int:
        """Length of the compact token."""
        return len(self.token)


def _raw_verifier(
    public_key: object, alg: str
) -> tuple[Callable[[bytes, bytes], None], Callable[[bytes], bytes]]:
    """The floor's verify(signature, data) and the signature conversion JWS needs for it."""
    if isinstance(public_key, rsa.RSAPublicKey):
        digest = hashes.SHA256()
        pad: padding.AsymmetricPadding
        if alg.startswith("PS"):
            pad = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
        else:
            pad = padding.PKCS1v15()
        rsa_key = public_key

        def rsa_verify(signature: bytes, data: bytes) -> None:
            rsa_key.verify(signature, data, pad, digest)

        return rsa_verify, _identity
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        scheme = ec.ECDSA(hashes.SHA256())
        ec_key = public_key

        def ec_verify(signature: bytes, data: bytes) -> None:
            ec_key.verify(signature, data, scheme)

        return ec_verify, _raw_to_der
    assert isinstance(public_key, ed25519.Ed25519PublicKey)
    return public_key.verify, _identity


def _identity(signature: bytes) -> bytes:
    return signature


def _raw_to_der(signature: bytes) -> bytes:
    half = len(signature) // 2
    return encode_dss_signature(
        int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big")
    )


def make_fixture(alg: str, *, distinct_tokens: int = 8) -> Fixture:
    """Start an issuer for ``alg``, mint tokens, fetch its JWKS and build the baselines.

    The caller stops ``fixture.issuer`` when done.
    """
    issuer = LocalIssuer(algorithms=(alg, alg)).start()
    try:
        tokens = [
            issuer.token(access_claims(i), alg=alg, expires_in=TOKEN_LIFETIME)
            for i in range(distinct_tokens)
        ]
        jwks = httpx.get(issuer.jwks_uri, timeout=10).json()
    except BaseException:
        issuer.stop()
        raise
    token = tokens[0]
    public_key = issuer.private_key(issuer.signing_kid()).public_key()
    raw_verify, convert = _raw_verifier(public_key, alg)

    header_b64, payload_b64, signature_b64 = token.split(".")
    signing_input = f"{header_b64}.{payload_b64}".encode("ascii")
    prepared_signature = convert(_b64url_decode(signature_b64))
    raw_verify(prepared_signature, signing_input)  # the fixture is sound

    def floor() -> None:
        raw_verify(prepared_signature, signing_input)

    def minimal_parse() -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
        h, p, s = token.split(".")
        header = json.loads(_b64url_decode(h))
        claims = json.loads(_b64url_decode(p))
        return header, claims, convert(_b64url_decode(s)), f"{h}.{p}".encode("ascii")

    def floor_parse() -> dict[str, Any]:
        h, p, s = token.split(".")
        json.loads(_b64url_decode(h))
        claims: dict[str, Any] = json.loads(_b64url_decode(p))
        raw_verify(convert(_b64url_decode(s)), f"{h}.{p}".encode("ascii"))
        return claims

    return Fixture(
        alg=alg,
        issuer=issuer,
        token=token,
        tokens=tokens,
        jwks=jwks,
        floor=floor,
        floor_parse=floor_parse,
        minimal_parse=minimal_parse,
    )
