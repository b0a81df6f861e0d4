"""Small key and token factories for unit tests that need no server."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from jwks_client._keys import KeyRing, parse_jwks


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class ECSigner:
    """An ES256 key pair that publishes a JWK and signs compact tokens."""

    def __init__(self, kid: str | None) -> None:
        self.kid = kid
        self.private = ec.generate_private_key(ec.SECP256R1())

    def jwk(self) -> dict[str, Any]:
        numbers = self.private.public_key().public_numbers()
        jwk: dict[str, Any] = {
            "kty": "EC",
            "crv": "P-256",
            "x": b64url(numbers.x.to_bytes(32, "big")),
            "y": b64url(numbers.y.to_bytes(32, "big")),
            "use": "sig",
            "alg": "ES256",
        }
        if self.kid is not None:
            jwk["kid"] = self.kid
        return jwk

    def token(self, claims: Mapping[str, Any], header: Mapping[str, Any] | None = None) -> str:
        full_header: dict[str, Any] = {"alg": "ES256", "typ": "JWT"}
        if self.kid is not None:
            full_header["kid"] = self.kid
        full_header.update(header or {})
        signing_input = (
            b64url(json.dumps(full_header).encode()) + "." + b64url(json.dumps(claims).encode())
        )
        der = self.private.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        return signing_input + "." + b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def ring_of(kids: Iterable[str]) -> KeyRing:
    return parse_jwks({"keys": [ECSigner(kid).jwk() for kid in kids]})
