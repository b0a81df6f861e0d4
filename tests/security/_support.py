"""Helpers shared by the security tests: one facade over both shells, token builders."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import ssl
from collections.abc import Callable, Mapping
from typing import Any

import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from jwks_client import AsyncVerifier, CachePolicy, KeyRing, Verifier
from jwks_client.testing import FakeClock, LocalIssuer

AUD = "https://api.example.com"
#: The cache policy of end-to-end tests: the library's defaults, written out.
POLICY = CachePolicy(
    default_ttl=600, min_ttl=60, max_ttl=86_400, refresh_cooldown=30, stale_if_error=3600
)
#: A cooldown no test outlives: after the first fetch no refresh is ever forced.
NO_REFRESH_POLICY = CachePolicy(refresh_cooldown=10**9, refresh_ahead=0)

# Building an httpx client loads the trust store unless it is handed a context; one
# context serves every client here (all traffic is plain http to 127.0.0.1 anyway).
_SSL_CONTEXT = ssl.create_default_context()

SHELLS = ("sync", "async")


def b64url(data: bytes) -> str:
    """Encode bytes as unpadded base64url."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_json(value: Any) -> str:
    """Encode a JSON value compactly, then as unpadded base64url."""
    return b64url(json.dumps(value, separators=(",", ":")).encode("utf-8"))


def segments(token: str) -> tuple[str, str, str]:
    """Split a compact JWS into its three segments."""
    header, payload, signature = token.split(".")
    return header, payload, signature


def decode_segment(segment: str) -> bytes:
    """Decode an unpadded base64url segment."""
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def with_signature(token: str, signature: bytes | str) -> str:
    """Replace the signature of a compact JWS (bytes are encoded, text is used as is)."""
    header, payload, _ = segments(token)
    encoded = signature if isinstance(signature, str) else b64url(signature)
    return f"{header}.{payload}.{encoded}"


def hs_token(secret: bytes, alg: str, header: Mapping[str, Any], claims: Mapping[str, Any]) -> str:
    """A compact JWS with a genuine HMAC signature made with ``secret``."""
    signing_input = f"{b64url_json({**header, 'alg': alg})}.{b64url_json(dict(claims))}"
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    mac = hmac.new(secret, signing_input.encode("ascii"), digest).digest()
    return f"{signing_input}.{b64url(mac)}"


def claims_of(issuer: LocalIssuer, **overrides: Any) -> dict[str, Any]:
    """Valid claims for ``issuer`` at its clock's time, with overrides."""
    token = issuer.token(dict(overrides) if overrides else None)
    payload: dict[str, Any] = json.loads(decode_segment(segments(token)[1]))
    return payload


class Shell:
    """One synchronous interface over a ``Verifier`` or an ``AsyncVerifier``.

    The async verifier runs on a private event loop; both get an httpx client of their
    own, closed with the verifier.
    """

    def __init__(self, kind: str, issuer_url: str, **options: Any) -> None:
        self.kind = kind
        self.loop: asyncio.AbstractEventLoop | None = None
        self._client: httpx.Client | httpx.AsyncClient
        self.verifier: Verifier | AsyncVerifier
        if kind == "sync":
            self._client = httpx.Client(verify=_SSL_CONTEXT)
            try:
                self.verifier = Verifier(issuer_url, http_client=self._client, **options)
            except BaseException:
                self._client.close()
                raise
        else:
            self.loop = asyncio.new_event_loop()
            self._client = httpx.AsyncClient(verify=_SSL_CONTEXT)
            try:
                self.verifier = AsyncVerifier(issuer_url, http_client=self._client, **options)
            except BaseException:
                self.loop.run_until_complete(self._client.aclose())
                self.loop.run_until_complete(self.loop.shutdown_asyncgens())
                self.loop.close()
                raise

    def verify(self, token: Any) -> dict[str, Any]:
        """Verify a token with the wrapped verifier."""
        if self.loop is not None:
            assert isinstance(self.verifier, AsyncVerifier)
            return self.loop.run_until_complete(self.verifier.verify(token))
        assert isinstance(self.verifier, Verifier)
        return self.verifier.verify(token)

    def key_set(self) -> KeyRing:
        """The verifier's current key set (fetched if there is none)."""
        if self.loop is not None:
            assert isinstance(self.verifier, AsyncVerifier)
            return self.loop.run_until_complete(self.verifier.jwks_client.key_set())
        assert isinstance(self.verifier, Verifier)
        return self.verifier.jwks_client.key_set()

    def close(self) -> None:
        """Close the verifier, its client and its loop."""
        if self.loop is not None:
            assert isinstance(self.verifier, AsyncVerifier)
            assert isinstance(self._client, httpx.AsyncClient)
            self.loop.run_until_complete(self.verifier.aclose())
            self.loop.run_until_complete(self._client.aclose())
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()
        else:
            assert isinstance(self.verifier, Verifier)
            assert isinstance(self._client, httpx.Client)
            self.verifier.close()
            self._client.close()


MakeShell = Callable[..., Shell]


def shell_factory(
    kind: str, issuer: LocalIssuer, clock: FakeClock
) -> tuple[MakeShell, list[Shell]]:
    """A factory of shells of one kind for ``issuer``, and the list of what it made."""
    made: list[Shell] = []

    def make(**options: Any) -> Shell:
        options.setdefault("audience", AUD)
        options.setdefault("require_https", False)
        options.setdefault("clock", clock)
        options.setdefault("cache_policy", POLICY)
        issuer_url = options.pop("issuer", issuer.issuer)
        shell = Shell(kind, issuer_url, **options)
        made.append(shell)
        return shell

    return make, made


def sign_compact(
    private: Any, alg: str, header: Mapping[str, Any], claims: Mapping[str, Any] | bytes
) -> str:
    """A compact JWS signed with any cryptography private key (RSA, EC, Ed25519, Ed448).

    ``alg`` picks the hash and padding (RS*/PS*/ES*/EdDSA) and is written into the header
    unless the header names another one; EC signatures are raw R || S (RFC 7518 §3.4).
    """
    payload = claims if isinstance(claims, bytes) else json.dumps(dict(claims)).encode("utf-8")
    signing_input = f"{b64url_json({'alg': alg, **header})}.{b64url(payload)}".encode("ascii")
    signature: bytes
    if isinstance(private, rsa.RSAPrivateKey):
        digest = {"256": hashes.SHA256(), "384": hashes.SHA384(), "512": hashes.SHA512()}[alg[2:]]
        pad: padding.AsymmetricPadding = (
            padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)
            if alg.startswith("PS")
            else padding.PKCS1v15()
        )
        signature = private.sign(signing_input, pad, digest)
    elif isinstance(private, ec.EllipticCurvePrivateKey):
        size = (private.curve.key_size + 7) // 8
        digest = {256: hashes.SHA256(), 384: hashes.SHA384(), 521: hashes.SHA512()}[
            private.curve.key_size
        ]
        r, s = decode_dss_signature(private.sign(signing_input, ec.ECDSA(digest)))
        signature = r.to_bytes(size, "big") + s.to_bytes(size, "big")
    else:
        signature = private.sign(signing_input)
    return f"{signing_input.decode('ascii')}.{b64url(signature)}"


def uint(value: int, size: int | None = None) -> str:
    """RFC 7518 §2 Base64urlUInt of ``value`` (minimal octets unless ``size`` is given)."""
    length = size if size is not None else max(1, (value.bit_length() + 7) // 8)
    return b64url(value.to_bytes(length, "big"))


def public_jwk(private: Any, kid: str | None, alg: str | None = None) -> dict[str, Any]:
    """The public JWK of a cryptography private key, with ``kid`` and ``alg`` when given."""
    jwk: dict[str, Any]
    if isinstance(private, rsa.RSAPrivateKey):
        numbers = private.public_key().public_numbers()
        jwk = {"kty": "RSA", "n": uint(numbers.n), "e": uint(numbers.e)}
    elif isinstance(private, ec.EllipticCurvePrivateKey):
        crv = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}.get(
            private.curve.name, "secp256k1"
        )
        size = (private.curve.key_size + 7) // 8
        point = private.public_key().public_numbers()
        jwk = {"kty": "EC", "crv": crv, "x": uint(point.x, size), "y": uint(point.y, size)}
    else:
        crv = "Ed25519" if isinstance(private, ed25519.Ed25519PrivateKey) else "Ed448"
        jwk = {"kty": "OKP", "crv": crv, "x": b64url(private.public_key().public_bytes_raw())}
    if kid is not None:
        jwk["kid"] = kid
    if alg is not None:
        jwk["alg"] = alg
    return jwk
