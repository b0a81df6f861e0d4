"""A client's DPoP key for tests: mints proofs (RFC 9449 §4.2), right and deliberately wrong.

Written against the RFC, not against the library: the thumbprint (RFC 7638), the JWS
encoding and the signatures are computed here from ``cryptography`` alone.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

#: Leave a member out of the proof's header or claims.
OMIT: Any = object()


def b64url(data: bytes) -> str:
    """Base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _uint(value: int, size: int | None = None) -> str:
    length = size if size is not None else max(1, (value.bit_length() + 7) // 8)
    return b64url(value.to_bytes(length, "big"))


def ath(token: str) -> str:
    """The ``ath`` of an access token."""
    return b64url(hashlib.sha256(token.encode("ascii")).digest())


class ProofKey:
    """A key pair held by a client, and the proofs it signs.

    Args:
        alg: ``"ES256"`` (default), ``"ES384"``, ``"RS256"``, ``"PS256"`` or ``"EdDSA"``.
    """

    def __init__(self, alg: str = "ES256") -> None:
        self.alg = alg
        self.private: Any
        if alg in ("ES256", "ES384"):
            curve = ec.SECP256R1() if alg == "ES256" else ec.SECP384R1()
            self.private = ec.generate_private_key(curve)
        elif alg in ("RS256", "PS256"):
            self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        elif alg == "EdDSA":
            self.private = ed25519.Ed25519PrivateKey.generate()
        else:
            raise ValueError(alg)

    @property
    def jwk(self) -> dict[str, str]:
        """The public JWK (only the required members)."""
        public = self.private.public_key()
        if isinstance(public, ec.EllipticCurvePublicKey):
            size = (public.curve.key_size + 7) // 8
            numbers = public.public_numbers()
            crv = {256: "P-256", 384: "P-384"}[public.curve.key_size]
            return {
                "kty": "EC",
                "crv": crv,
                "x": _uint(numbers.x, size),
                "y": _uint(numbers.y, size),
            }
        if isinstance(public, rsa.RSAPublicKey):
            numbers = public.public_numbers()
            return {"kty": "RSA", "n": _uint(numbers.n), "e": _uint(numbers.e)}
        raw = public.public_bytes_raw()
        return {"kty": "OKP", "crv": "Ed25519", "x": b64url(raw)}

    @property
    def private_jwk(self) -> dict[str, str]:
        """The JWK with its private member ``d`` (a proof must never carry it)."""
        jwk = dict(self.jwk)
        if isinstance(self.private, ec.EllipticCurvePrivateKey):
            size = (self.private.curve.key_size + 7) // 8
            jwk["d"] = _uint(self.private.private_numbers().private_value, size)
        elif isinstance(self.private, rsa.RSAPrivateKey):
            jwk["d"] = _uint(self.private.private_numbers().d)
        else:
            jwk["d"] = b64url(self.private.private_bytes_raw())
        return jwk

    @property
    def thumbprint(self) -> str:
        """RFC 7638 SHA-256 thumbprint: the required members, sorted, no whitespace."""
        text = json.dumps(self.jwk, sort_keys=True, separators=(",", ":"))
        return b64url(hashlib.sha256(text.encode("ascii")).digest())

    def sign(self, data: bytes, alg: str | None = None) -> bytes:
        """The JWS signature of ``data``."""
        alg = alg or self.alg
        key = self.private
        if alg.startswith("ES"):
            digest = hashes.SHA256() if alg == "ES256" else hashes.SHA384()
            r, s = decode_dss_signature(key.sign(data, ec.ECDSA(digest)))
            size = (key.curve.key_size + 7) // 8
            return r.to_bytes(size, "big") + s.to_bytes(size, "big")
        if alg == "RS256":
            return bytes(key.sign(data, padding.PKCS1v15(), hashes.SHA256()))
        if alg == "PS256":
            pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
            return bytes(key.sign(data, pss, hashes.SHA256()))
        return bytes(key.sign(data))

    def proof(
        self,
        method: str,
        url: str,
        token: str | None = None,
        *,
        iat: float | None = None,
        now: float | None = None,
        jti: Any = None,
        nonce: str | None = None,
        header: dict[str, Any] | None = None,
        claims: dict[str, Any] | None = None,
        signature: bytes | None = None,
    ) -> str:
        """A compact DPoP proof for ``method`` and ``url`` (and ``ath`` of ``token``).

        Args:
            method, url: ``htm`` and ``htu``.
            token: the access token whose hash is ``ath`` (no ``ath`` when None).
            iat: the proof's ``iat`` (default ``now``).
            now: the time, Unix seconds (required unless ``iat`` is given).
            jti: the ``jti`` (default a fresh random one).
            nonce: a server nonce for the ``nonce`` claim.
            header: members overriding the header (``OMIT`` removes one).
            claims: claims overriding the payload (``OMIT`` removes one).
            signature: raw signature bytes instead of a real signature.
        """
        if iat is None:
            assert now is not None, "give now or iat"
            iat = int(now)
        head: dict[str, Any] = {"typ": "dpop+jwt", "alg": self.alg, "jwk": self.jwk}
        body: dict[str, Any] = {
            "jti": jti if jti is not None else secrets.token_urlsafe(16),
            "htm": method,
            "htu": url,
            "iat": iat,
        }
        if token is not None:
            body["ath"] = ath(token)
        if nonce is not None:
            body["nonce"] = nonce
        for target, extra in ((head, header), (body, claims)):
            for name, value in (extra or {}).items():
                if value is OMIT:
                    target.pop(name, None)
                else:
                    target[name] = value
        signing_input = (
            b64url(json.dumps(head, separators=(",", ":")).encode())
            + "."
            + b64url(json.dumps(body, separators=(",", ":")).encode())
        )
        sig = signature if signature is not None else self.sign(signing_input.encode("ascii"))
        return f"{signing_input}.{b64url(sig)}"
