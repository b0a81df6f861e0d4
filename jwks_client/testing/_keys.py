"""The test issuer's keys: generation, public JWKs, raw signing and token minting.

A :class:`Keychain` holds private keys by kid (or by a handle, for a kid-less key), knows
which one signs by default, which ones are published, and when the published set last
changed. It mints tokens by writing exactly the header and payload asked for and signing
them with ``cryptography`` directly, so it can produce the hostile tokens a verifier must
refuse (``alg: none`` in the header, a signature by the wrong key, raw signature bytes).
"""

from __future__ import annotations

import copy
import math
import secrets
import threading
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeAlias

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from .._errors import ConfigurationError
from ._common import b64url, check_finite, json_bytes, merge

__all__ = [
    "SUPPORTED_ALGORITHMS",
    "Keychain",
    "PrivateKey",
    "check_alg",
    "fits",
    "generate_key",
    "public_jwk",
    "raw_sign",
]

#: A private key the issuer can hold.
PrivateKey: TypeAlias = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | Ed25519PrivateKey

_HASHES: Final[dict[str, type[hashes.HashAlgorithm]]] = {
    "256": hashes.SHA256,
    "384": hashes.SHA384,
    "512": hashes.SHA512,
}

# EC algorithm -> (JWK crv, curve class, coordinate/scalar size in bytes, hash)
_EC: Final[dict[str, tuple[str, type[ec.EllipticCurve], int, type[hashes.HashAlgorithm]]]] = {
    "ES256": ("P-256", ec.SECP256R1, 32, hashes.SHA256),
    "ES384": ("P-384", ec.SECP384R1, 48, hashes.SHA384),
    "ES512": ("P-521", ec.SECP521R1, 66, hashes.SHA512),
    "ES256K": ("secp256k1", ec.SECP256K1, 32, hashes.SHA256),
}
_RSA_ALGS: Final = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
_ED_ALGS: Final = frozenset({"EdDSA", "Ed25519"})

#: Every algorithm the issuer can sign with.
SUPPORTED_ALGORITHMS: Final[frozenset[str]] = _RSA_ALGS | frozenset(_EC) | _ED_ALGS


def check_alg(alg: str) -> None:
    """Refuse an algorithm the issuer cannot sign with.

    Raises:
        ConfigurationError: if ``alg`` is not in :data:`SUPPORTED_ALGORITHMS`.
    """
    if alg not in SUPPORTED_ALGORITHMS:
        raise ConfigurationError(
            f"unsupported algorithm {alg!r}; one of {sorted(SUPPORTED_ALGORITHMS)}"
        )


def _int_bytes(value: int, size: int | None = None) -> bytes:
    length = size if size is not None else max(1, (value.bit_length() + 7) // 8)
    return value.to_bytes(length, "big")


def generate_key(alg: str) -> PrivateKey:
    """Generate a fresh private key for ``alg`` (RSA keys are 2048-bit)."""
    if alg in _RSA_ALGS:
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if alg in _EC:
        return ec.generate_private_key(_EC[alg][1]())
    return Ed25519PrivateKey.generate()


def fits(private: PrivateKey, alg: str) -> bool:
    """Whether ``private`` can produce a genuine ``alg`` signature."""
    if isinstance(private, rsa.RSAPrivateKey):
        return alg in _RSA_ALGS
    if isinstance(private, ec.EllipticCurvePrivateKey):
        return alg in _EC and isinstance(private.curve, _EC[alg][1])
    return alg in _ED_ALGS


def public_jwk(private: PrivateKey, alg: str) -> dict[str, Any]:
    """The public JWK of ``private`` with ``use: sig`` and ``alg`` (no kid)."""
    jwk: dict[str, Any]
    if isinstance(private, rsa.RSAPrivateKey):
        numbers = private.public_key().public_numbers()
        jwk = {
            "kty": "RSA",
            "n": b64url(_int_bytes(numbers.n)),
            "e": b64url(_int_bytes(numbers.e)),
        }
    elif isinstance(private, ec.EllipticCurvePrivateKey):
        crv, _curve, size, _hash = _EC[alg]
        point = private.public_key().public_numbers()
        jwk = {
            "kty": "EC",
            "crv": crv,
            "x": b64url(_int_bytes(point.x, size)),
            "y": b64url(_int_bytes(point.y, size)),
        }
    else:
        raw = private.public_key().public_bytes_raw()
        jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64url(raw)}
    return {"use": "sig", "alg": alg, **jwk}


def raw_sign(private: PrivateKey, alg: str, data: bytes) -> bytes:
    """Sign ``data`` as JWS ``alg`` does: PKCS#1 v1.5 or PSS, raw ``R || S``, or EdDSA."""
    if isinstance(private, rsa.RSAPrivateKey):
        digest = _HASHES[alg[2:]]()
        if alg.startswith("PS"):
            pss = padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)
            return private.sign(data, pss, digest)
        return private.sign(data, padding.PKCS1v15(), digest)
    if isinstance(private, ec.EllipticCurvePrivateKey):
        _crv, _curve, size, hash_cls = _EC[alg]
        r, s = decode_dss_signature(private.sign(data, ec.ECDSA(hash_cls())))
        return _int_bytes(r, size) + _int_bytes(s, size)
    return private.sign(data)


def _compact(
    header: bytes, payload: bytes, key: _HeldKey, alg: str, signature: bytes | None
) -> str:
    signing_input = f"{b64url(header)}.{b64url(payload)}"
    if signature is None:
        signature = raw_sign(key.private, alg, signing_input.encode("ascii"))
    return f"{signing_input}.{b64url(signature)}"


class _HeldKey:
    """A key the keychain holds; mutable, guarded by the keychain's lock."""

    __slots__ = ("alg", "handle", "jwk", "private", "published")

    def __init__(
        self, handle: str, alg: str, private: PrivateKey, jwk: dict[str, Any], published: bool
    ) -> None:
        self.handle = handle
        self.alg = alg
        self.private = private
        self.jwk = jwk
        self.published = published


class Keychain:
    """The keys of one issuer, the JWKS they make, and the tokens they sign.

    Thread-safe: one lock guards the keys, the default signer and the served set.
    ``clock`` dates every change of the served set (its ``Last-Modified``) and the
    ``iat``/``nbf``/``exp`` of minted tokens.
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        self._lock = threading.RLock()
        self._clock = clock
        self._keys: dict[str, _HeldKey] = {}
        self._signing: str | None = None
        self._override: dict[str, Any] | None = None
        self._changed_at = clock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._keys)

    # --- holding keys ------------------------------------------------------------------

    def add(
        self,
        alg: str,
        *,
        kid: str | None,
        jwk_extra: Mapping[str, Any] | None,
        include_kid: bool,
        publish: bool,
        private_key: PrivateKey | None,
    ) -> str:
        """Create (or adopt) a key; the first one becomes the default signer.

        Returns:
            The kid, or a generated handle for a kid-less key.

        Raises:
            ConfigurationError: unsupported ``alg``, a key that cannot sign it, a kid in use.
        """
        check_alg(alg)
        if private_key is not None and not fits(private_key, alg):
            raise ConfigurationError(f"the given private key cannot sign {alg}")
        private = private_key if private_key is not None else generate_key(alg)
        handle = kid if kid is not None else b64url(secrets.token_bytes(6))
        jwk = public_jwk(private, alg)
        if include_kid:
            jwk = {"kid": handle, **jwk}
        jwk = merge(jwk, jwk_extra)
        with self._lock:
            if handle in self._keys:
                raise ConfigurationError(f"kid {handle!r} is already in use")
            self._keys[handle] = _HeldKey(handle, alg, private, jwk, publish)
            if self._signing is None:
                self._signing = handle
            if publish:
                self._changed()
        return handle

    def remove(self, kid: str) -> None:
        """Forget a key; the newest remaining key signs if it was the default signer."""
        with self._lock:
            key = self._key(kid)
            del self._keys[kid]
            if self._signing == kid:
                self._signing = next(reversed(self._keys), None)
            if key.published:
                self._changed()

    def set_published(self, kid: str, published: bool) -> None:
        """Publish or withdraw a key; the served set changes only if its state does."""
        with self._lock:
            key = self._key(kid)
            if key.published != published:
                key.published = published
                self._changed()

    def signing_kid(self) -> str:
        """The kid of the default signer.

        Raises:
            ConfigurationError: if no key is held.
        """
        with self._lock:
            if self._signing is None:
                raise ConfigurationError("the issuer holds no key")
            return self._signing

    def set_signing_kid(self, kid: str) -> None:
        """Make a held key the default signer."""
        with self._lock:
            self._key(kid)
            self._signing = kid

    def kids(self) -> list[str]:
        """The kids (handles) of every held key, oldest first."""
        with self._lock:
            return list(self._keys)

    def private_key(self, kid: str) -> PrivateKey:
        """The private key named ``kid``."""
        with self._lock:
            return self._key(kid).private

    def public_jwk(self, kid: str) -> dict[str, Any]:
        """A copy of the public JWK of ``kid`` as it is (or would be) published."""
        with self._lock:
            return copy.deepcopy(self._key(kid).jwk)

    # --- the served set ----------------------------------------------------------------

    def jwks(self) -> dict[str, Any]:
        """A copy of the JWKS currently served."""
        with self._lock:
            return copy.deepcopy(self._current())

    def serve(self, document: Mapping[str, Any] | None) -> None:
        """Serve ``document`` verbatim instead of the held keys' set (None: go back)."""
        if document is not None:
            json_bytes(dict(document))
        with self._lock:
            self._override = None if document is None else copy.deepcopy(dict(document))
            self._changed()

    def published(self) -> tuple[bytes, float]:
        """The served JWKS as JSON bytes, and when it last changed (read together)."""
        with self._lock:
            return json_bytes(self._current()), self._changed_at

    # --- tokens --------------------------------------------------------------------------

    def token(
        self,
        issuer: str,
        claims: Mapping[str, Any] | None,
        *,
        kid: str | None,
        alg: str | None,
        header: Mapping[str, Any] | None,
        expires_in: float,
        audience: str | list[str] | None,
        include_kid: bool,
        signature: bytes | None,
    ) -> str:
        """Mint a compact JWS access token for ``issuer`` (see ``LocalIssuer.token``)."""
        now = self._clock()
        defaults: dict[str, Any] = {"iss": issuer, "sub": "user-1"}
        if audience is not None:
            defaults["aud"] = audience
        defaults.update(
            iat=math.floor(now),
            nbf=math.floor(now),
            exp=math.floor(now + check_finite("expires_in", expires_in)),
            jti=b64url(secrets.token_bytes(12)),
            scope="read",
        )
        payload = merge(defaults, claims)
        with self._lock:
            key, sign_alg = self._signer(kid, alg)
            header_kid: str | None
            if kid is not None and kid not in self._keys:
                header_kid = kid
            else:
                published_kid = key.jwk.get("kid")
                header_kid = published_kid if isinstance(published_kid, str) else None
        protected: dict[str, Any] = {"alg": sign_alg, "typ": "at+jwt"}
        if include_kid and header_kid is not None:
            protected["kid"] = header_kid
        protected = merge(protected, header)
        return _compact(json_bytes(protected), json_bytes(payload), key, sign_alg, signature)

    def sign(
        self,
        header: Mapping[str, Any] | bytes,
        payload: bytes | Mapping[str, Any],
        *,
        kid: str | None,
        alg: str | None,
        signature: bytes | None,
    ) -> str:
        """Sign exactly the given header and payload (see ``LocalIssuer.sign``)."""
        header_bytes = header if isinstance(header, bytes) else json_bytes(dict(header))
        payload_bytes = payload if isinstance(payload, bytes) else json_bytes(dict(payload))
        with self._lock:
            key = self._key(kid if kid is not None else self.signing_kid())
        sign_alg = alg if alg is not None else key.alg
        check_alg(sign_alg)
        if not fits(key.private, sign_alg):
            raise ConfigurationError(f"key {key.handle!r} cannot sign {sign_alg}")
        return _compact(header_bytes, payload_bytes, key, sign_alg, signature)

    # --- internals (lock held) -----------------------------------------------------------

    def _key(self, kid: str) -> _HeldKey:
        key = self._keys.get(kid)
        if key is None:
            raise ConfigurationError(f"no key with kid {kid!r}")
        return key

    def _signer(self, kid: str | None, alg: str | None) -> tuple[_HeldKey, str]:
        """Pick the signing key and algorithm of :meth:`token`."""
        default = self._key(self.signing_kid())
        if alg is not None:
            check_alg(alg)
        if kid is not None and kid in self._keys:
            key = self._keys[kid]
        elif alg is not None and default.alg != alg:
            matching = [k for k in self._keys.values() if k.alg == alg]
            key = matching[-1] if matching else default
        else:
            key = default
        sign_alg = alg if alg is not None else key.alg
        if not fits(key.private, sign_alg):
            raise ConfigurationError(f"no held key can sign {sign_alg} (add_key({sign_alg!r}))")
        return key, sign_alg

    def _changed(self) -> None:
        self._changed_at = self._clock()

    def _current(self) -> dict[str, Any]:
        if self._override is not None:
            return self._override
        return {"keys": [key.jwk for key in self._keys.values() if key.published]}
