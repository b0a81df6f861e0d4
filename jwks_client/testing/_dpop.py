"""A client's DPoP key for tests: proofs (RFC 9449 §4.2), right ones and deliberately wrong ones.

Written against the RFCs, not against the verifier: the thumbprint (RFC 7638), the JWS
encoding and the signatures are computed here with ``cryptography`` alone, so a test of
a verifier does not check the verifier's code against itself.

A wrong proof changes one thing in an otherwise right one (:data:`PROOF_FAULTS`), so a
test that expects it refused fails when the check it names is missing.
"""

from __future__ import annotations

import hashlib
import json
import math
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric import ec, rsa

from .._errors import ConfigurationError
from ._common import OMIT, b64url, json_bytes, merge
from ._keys import PrivateKey, check_alg, fits, generate_key, public_jwk, raw_sign

__all__ = ["PROOF_FAULTS", "DPoPKey", "access_token_hash"]

# Header members a proof never carries; the rest of a JWK's members are the public key.
_NOT_KEY_MEMBERS: Final = frozenset({"use", "alg", "kid", "key_ops"})

#: How old (or how far ahead) the ``iat`` of the ``iat_old`` (``iat_future``) fault is.
FAULT_IAT_OFFSET: Final = 3600
#: The length of the ``jti`` of the ``long_jti`` fault: one more than RFC 9449 allows.
FAULT_JTI_LENGTH: Final = 257


def access_token_hash(token: str) -> str:
    """The ``ath`` of an access token: base64url SHA-256 of its ASCII text (RFC 9449 §4.2)."""
    return b64url(hashlib.sha256(token.encode("ascii")).digest())


def _without_query(url: str) -> str:
    return url.partition("#")[0].partition("?")[0]


def _private_jwk(private: PrivateKey, public: dict[str, Any]) -> dict[str, Any]:
    """The JWK with its private members (what a proof must never carry)."""

    def uint(value: int, size: int | None = None) -> str:
        length = size if size is not None else max(1, (value.bit_length() + 7) // 8)
        return b64url(value.to_bytes(length, "big"))

    jwk = dict(public)
    if isinstance(private, ec.EllipticCurvePrivateKey):
        size = (private.curve.key_size + 7) // 8
        jwk["d"] = uint(private.private_numbers().private_value, size)
    elif isinstance(private, rsa.RSAPrivateKey):
        numbers = private.private_numbers()
        jwk.update(
            d=uint(numbers.d),
            p=uint(numbers.p),
            q=uint(numbers.q),
            dp=uint(numbers.dmp1),
            dq=uint(numbers.dmq1),
            qi=uint(numbers.iqmp),
        )
    else:
        jwk["d"] = b64url(private.private_bytes_raw())
    return jwk


class DPoPKey:
    """A key pair a client holds for DPoP, and the proofs it signs (for tests).

    A DPoP-bound token names the key by its RFC 7638 thumbprint (``cnf.jkt``):
    ``LocalIssuer.token(dpop_key=key)`` mints one. :meth:`proof` makes the proof of one
    request; :meth:`headers` the request's ``Authorization`` and ``DPoP`` fields;
    :meth:`wrong_proof` a proof with one deliberate fault, which a verifier must refuse.

    Args:
        alg: the proof's JWS algorithm: ``"ES256"`` (default), ``"ES384"``, ``"ES512"``,
            ``"RS256"``, ``"PS256"``, ``"EdDSA"`` and the other asymmetric algorithms of
            :data:`SUPPORTED_ALGORITHMS` (RSA keys are 2048-bit).
        private_key: use this key instead of a fresh one (it must be able to sign ``alg``).
        clock: the time of a proof's ``iat`` unless told otherwise (a
            :class:`FakeClock` fits); default: the real clock.

    Attributes:
        alg: the proofs' algorithm.
        clock: the clock their ``iat`` comes from.

    Raises:
        ConfigurationError: an unsupported or symmetric ``alg``, or a key that cannot
            sign it.
    """

    def __init__(
        self,
        alg: str = "ES256",
        *,
        private_key: PrivateKey | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        check_alg(alg)
        if private_key is not None and not fits(private_key, alg):
            raise ConfigurationError(f"the given private key cannot sign {alg}")
        self.alg = alg
        self.clock = clock
        self._private = private_key if private_key is not None else generate_key(alg)
        full = public_jwk(self._private, alg)
        self._jwk = {k: v for k, v in full.items() if k not in _NOT_KEY_MEMBERS}
        text = json.dumps(self._jwk, sort_keys=True, separators=(",", ":"))
        self._thumbprint = b64url(hashlib.sha256(text.encode("ascii")).digest())

    @property
    def private_key(self) -> PrivateKey:
        """The private key (a ``cryptography`` key object)."""
        return self._private

    @property
    def jwk(self) -> dict[str, Any]:
        """The public JWK a proof carries: only the members of the public key."""
        return dict(self._jwk)

    @property
    def private_jwk(self) -> dict[str, Any]:
        """The JWK with its private members, which a proof must never carry."""
        return _private_jwk(self._private, self._jwk)

    @property
    def thumbprint(self) -> str:
        """The RFC 7638 SHA-256 thumbprint of the public key: a bound token's ``cnf.jkt``."""
        return self._thumbprint

    @property
    def cnf(self) -> dict[str, str]:
        """The ``cnf`` claim of a token bound to this key: ``{"jkt": thumbprint}``."""
        return {"jkt": self._thumbprint}

    @staticmethod
    def ath(token: str) -> str:
        """The ``ath`` claim for ``token`` (see :func:`access_token_hash`)."""
        return access_token_hash(token)

    def sign(self, data: bytes, alg: str | None = None) -> bytes:
        """The JWS signature of ``data`` with this key (``alg``: default the key's)."""
        return raw_sign(self._private, alg or self.alg, data)

    def proof(
        self,
        method: str,
        url: str,
        token: str | None = None,
        *,
        now: float | None = None,
        iat: Any = None,
        jti: Any = None,
        nonce: str | None = None,
        header: Mapping[str, Any] | None = None,
        claims: Mapping[str, Any] | None = None,
        signature: bytes | None = None,
    ) -> str:
        """A compact DPoP proof of a request (``typ`` ``dpop+jwt``, this key's ``jwk``).

        Args:
            method: ``htm``, the request method (``"GET"``).
            url: the request URL; ``htu`` is it without its query and fragment.
            token: the access token the request carries, hashed into ``ath`` (no ``ath``
                when None).
            now: the time, Unix seconds (default: the key's clock).
            iat: the ``iat`` (default: ``now``, as an integer); any JSON value.
            jti: the ``jti`` (default: a fresh random one); any JSON value.
            nonce: the server's nonce (the ``DPoP-Nonce`` it sent) for the ``nonce`` claim.
            header: members overriding the header (:data:`OMIT` removes one).
            claims: claims overriding the payload (:data:`OMIT` removes one); ``htu``
                here is written as given.
            signature: raw signature bytes instead of a real signature.

        Raises:
            ConfigurationError: a value is not JSON-serialisable.
        """
        head, body = self._parts(method, url, token, now, iat, jti, nonce)
        return self.sign_proof(merge(head, header), merge(body, claims), signature)

    def sign_proof(
        self,
        header: Mapping[str, Any],
        claims: Mapping[str, Any],
        signature: bytes | None = None,
    ) -> str:
        """Sign exactly the given header and claims with this key (low level).

        Args:
            header: the protected header, serialised as compact JSON as given.
            claims: the payload, likewise.
            signature: raw signature bytes instead of a real signature.

        Raises:
            ConfigurationError: a value is not JSON-serialisable.
        """
        signing_input = f"{b64url(json_bytes(dict(header)))}.{b64url(json_bytes(dict(claims)))}"
        if signature is None:
            signature = raw_sign(self._private, self.alg, signing_input.encode("ascii"))
        return f"{signing_input}.{b64url(signature)}"

    def headers(self, method: str, url: str, token: str, **proof_options: Any) -> dict[str, str]:
        """The ``Authorization: DPoP <token>`` and ``DPoP: <proof>`` fields of a request.

        Args:
            method, url, token: as for :meth:`proof`.
            **proof_options: other :meth:`proof` options (``now``, ``nonce``, ...).
        """
        return {
            "Authorization": f"DPoP {token}",
            "DPoP": self.proof(method, url, token, **proof_options),
        }

    def wrong_proof(
        self,
        fault: str,
        method: str,
        url: str,
        token: str | None = None,
        *,
        now: float | None = None,
        nonce: str | None = None,
    ) -> str:
        """A proof of the request that is right but for one fault (see :data:`PROOF_FAULTS`).

        A verifier with the default ``DPoP()`` options refuses every one of them
        (``iat_old`` and ``iat_future`` are an hour off).

        Args:
            fault: the name of the fault.
            method, url, token, now, nonce: as for :meth:`proof`.

        Raises:
            ConfigurationError: an unknown fault.
        """
        make = _FAULTS.get(fault)
        if make is None:
            raise ConfigurationError(f"unknown proof fault {fault!r}; one of {PROOF_FAULTS}")
        head, body = self._parts(method, url, token, now, None, None, nonce)
        return make(self, head, body)

    def __repr__(self) -> str:
        return f"DPoPKey(alg={self.alg!r}, thumbprint={self._thumbprint!r})"

    # --- internals -------------------------------------------------------------------

    def _parts(
        self,
        method: str,
        url: str,
        token: str | None,
        now: float | None,
        iat: Any,
        jti: Any,
        nonce: str | None,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        if iat is None:
            iat = math.floor(self.clock() if now is None else now)
        head: dict[str, Any] = {"typ": "dpop+jwt", "alg": self.alg, "jwk": dict(self._jwk)}
        body: dict[str, Any] = {
            "jti": jti if jti is not None else secrets.token_urlsafe(16),
            "htm": method,
            "htu": _without_query(url),
            "iat": iat,
        }
        if token is not None:
            body["ath"] = access_token_hash(token)
        if nonce is not None:
            body["nonce"] = nonce
        return head, body


_Fault = Callable[[DPoPKey, dict[str, Any], dict[str, Any]], str]


def _changed(
    header: Mapping[str, Any] | None = None, claims: Mapping[str, Any] | None = None
) -> _Fault:
    """A fault that overrides header members or claims (:data:`OMIT` removes one)."""

    def make(key: DPoPKey, head: dict[str, Any], body: dict[str, Any]) -> str:
        return key.sign_proof(merge(head, header), merge(body, claims))

    return make


def _claims_from(change: Callable[[dict[str, Any]], Mapping[str, Any]]) -> _Fault:
    """A fault whose claims depend on the right ones."""

    def make(key: DPoPKey, head: dict[str, Any], body: dict[str, Any]) -> str:
        return key.sign_proof(head, merge(body, change(body)))

    return make


def _other_method(body: dict[str, Any]) -> dict[str, Any]:
    return {"htm": "POST" if body["htm"] != "POST" else "GET"}


def _other_url(body: dict[str, Any]) -> dict[str, Any]:
    return {"htu": str(body["htu"]).rstrip("/") + "/elsewhere"}


def _bad_signature(key: DPoPKey, head: dict[str, Any], body: dict[str, Any]) -> str:
    right = key.sign_proof(head, body)
    signing_input, _, _ = right.rpartition(".")
    signature = bytearray(key.sign(signing_input.encode("ascii")))
    signature[-1] ^= 0x01  # well formed, and wrong
    return key.sign_proof(head, body, bytes(signature))


def _other_key(key: DPoPKey, head: dict[str, Any], body: dict[str, Any]) -> str:
    other = DPoPKey(key.alg, clock=key.clock)
    return other.sign_proof({**head, "jwk": other.jwk}, body)


def _private_key_in_jwk(key: DPoPKey, head: dict[str, Any], body: dict[str, Any]) -> str:
    return key.sign_proof({**head, "jwk": key.private_jwk}, body)


def _unsigned(key: DPoPKey, head: dict[str, Any], body: dict[str, Any]) -> str:
    return key.sign_proof({**head, "alg": "none"}, body, b"")


_FAULTS: Final[dict[str, _Fault]] = {
    "htm": _claims_from(_other_method),
    "htu": _claims_from(_other_url),
    "iat_old": _claims_from(lambda body: {"iat": body["iat"] - FAULT_IAT_OFFSET}),
    "iat_future": _claims_from(lambda body: {"iat": body["iat"] + FAULT_IAT_OFFSET}),
    "no_jti": _changed(claims={"jti": OMIT}),
    "long_jti": _changed(claims={"jti": "j" * FAULT_JTI_LENGTH}),
    "no_htm": _changed(claims={"htm": OMIT}),
    "no_htu": _changed(claims={"htu": OMIT}),
    "no_iat": _changed(claims={"iat": OMIT}),
    "ath": _changed(claims={"ath": access_token_hash("another-access-token")}),
    "no_ath": _changed(claims={"ath": OMIT}),
    "typ": _changed(header={"typ": "JWT"}),
    "no_typ": _changed(header={"typ": OMIT}),
    "no_jwk": _changed(header={"jwk": OMIT}),
    "private_jwk": _private_key_in_jwk,
    "crit": _changed(header={"crit": ["x-unknown"], "x-unknown": True}),
    "alg_none": _unsigned,
    "alg_hs256": _changed(header={"alg": "HS256"}),
    "signature": _bad_signature,
    "other_key": _other_key,
}

#: The faults :meth:`DPoPKey.wrong_proof` makes, each in an otherwise right proof:
#: ``htm`` / ``htu`` another method / URL; ``iat_old`` / ``iat_future`` an hour off;
#: ``no_jti``, ``no_htm``, ``no_htu``, ``no_iat``, ``no_ath``, ``no_typ``, ``no_jwk`` that
#: member missing; ``long_jti`` 257 characters; ``ath`` the hash of another token;
#: ``typ`` ``JWT``; ``private_jwk`` the private key in ``jwk``; ``crit`` an unknown
#: critical header member; ``alg_none`` unsigned; ``alg_hs256`` a symmetric ``alg``;
#: ``signature`` a wrong signature; ``other_key`` a right proof by another key than the
#: one the token is bound to.
PROOF_FAULTS: Final[tuple[str, ...]] = tuple(_FAULTS)
