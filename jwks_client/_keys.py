"""JWKS document -> immutable KeyRing of ready-to-verify public keys (pure).

Rules:

* The document must be a JSON object with a ``"keys"`` array of at most ``max_keys``
  entries; anything else raises :class:`~jwks_client.InvalidKeySetError`. Nothing else
  ever escapes :func:`parse_jwks`, whatever JSON value it is given.
* Each entry is judged on its own. An entry that cannot serve to verify a JWS signature
  is skipped with a precise reason (:class:`SkippedKey`) and never fails the set:
  non-objects; ``kty`` missing, unknown or ``"oct"`` (symmetric keys are never
  accepted); ``use`` other than ``"sig"``; ``key_ops`` without ``"verify"``; a key
  ``alg`` that is not a supported asymmetric JWS algorithm or does not fit the key; a
  ``kid`` that is not a non-empty string; an ``issuer`` that is not a string; private
  members (a published private key is never used); RSA moduli outside [2048, 8192] bits,
  even or unit exponents, exponents longer than 64 bits; EC points of the wrong size,
  not canonical or not on the curve; OKP key-agreement curves, non-canonical, invalid or
  small-order Edwards points; any other import failure.
* The issuer's public numbers are read liberally when unambiguous: ``=`` padding, the
  standard base64 alphabet (``+``, ``/``) and leading zero bytes are accepted and
  normalised to canonical base64url before import. Unknown members (``x5c``, ``x5t``,
  ``status``, ``acr``, ``cloud_instance_name``...) are ignored; an ``issuer`` member
  (Microsoft Entra's per-key issuer binding) is kept, and a key whose ``issuer`` is not a
  string is skipped: its binding cannot be honoured.

Theory of operation: every usable key is imported once, here, with joserfc from its
canonical public members only (so extraneous members cannot fail the import). The
``cryptography`` public key joserfc holds is captured in one small closure per JWS
algorithm the key may verify, with padding and hash objects built ahead of time; a
token's check is then a dict lookup plus the cryptographic verify. The ring indexes its
keys by ``(kid, alg)`` (and ``(None, alg)`` for tokens without a ``kid``) so
:meth:`KeyRing.select` is a single dict lookup returning at most ``MAX_CANDIDATES`` keys.

A private exception, ``_Unusable``, carries a skip reason inside this module and never
leaves it.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final, NamedTuple

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from ._errors import InvalidKeySetError
from ._messages import SHOWN_LONG_CHARS, clipped, json_kind, shown
from ._types import ASYMMETRIC_ALGORITHMS

__all__ = [
    "EMPTY_KEY_RING",
    "MAX_CANDIDATES",
    "MAX_KEYS",
    "MAX_RSA_BITS",
    "MAX_RSA_EXPONENT_BITS",
    "MIN_RSA_BITS",
    "KeyRing",
    "PreparedKey",
    "SkippedKey",
    "judge_key",
    "parse_jwks",
]

#: More keys than this in one document and the document is refused.
MAX_KEYS: Final[int] = 1000
#: The most keys ever tried for one token.
MAX_CANDIDATES: Final[int] = 8
#: Bounds of an acceptable RSA modulus, in bits.
MIN_RSA_BITS: Final[int] = 2048
MAX_RSA_BITS: Final[int] = 8192
#: Longest acceptable RSA public exponent, in bits. OpenSSL refuses longer exponents for
#: moduli over 3072 bits (such a key would import yet never verify), and a long exponent
#: makes each verification cost as much as a private-key operation. Real keys use 65537.
MAX_RSA_EXPONENT_BITS: Final[int] = 64

#: Verifies (signing_input, signature); never raises.
_Verify = Callable[[bytes, bytes], bool]

#: Algorithms a key's own "alg" may name. RFC 9864's fully specified "Ed448" is handled
#: here even though the library-wide table does not list it.
_SUPPORTED_ALGORITHMS: Final[frozenset[str]] = ASYMMETRIC_ALGORITHMS | {"Ed448"}

#: Members that only a private (or symmetric) JWK carries.
_PRIVATE_MEMBERS: Final[tuple[str, ...]] = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")

_HASHES: Final[dict[str, hashes.HashAlgorithm]] = {
    "256": hashes.SHA256(),
    "384": hashes.SHA384(),
    "512": hashes.SHA512(),
}

_RSA_ALGORITHMS: Final[frozenset[str]] = (
    frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}) & _SUPPORTED_ALGORITHMS
)


class _ECCurve(NamedTuple):
    """A Weierstrass curve usable for ECDSA in JWS (RFC 7518 section 3.4, RFC 8812)."""

    curve: ec.EllipticCurve
    size: int  # bytes of one coordinate and of r and of s
    prime: int  # field prime: a coordinate must be below it
    order: int  # group order: r and s must be below it
    alg: str
    digest: hashes.HashAlgorithm


_EC_CURVES: Final[dict[str, _ECCurve]] = {
    "P-256": _ECCurve(
        ec.SECP256R1(),
        32,
        2**256 - 2**224 + 2**192 + 2**96 - 1,
        0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
        "ES256",
        _HASHES["256"],
    ),
    "P-384": _ECCurve(
        ec.SECP384R1(),
        48,
        2**384 - 2**128 - 2**96 + 2**32 - 1,
        int(
            "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF"
            "C7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973",
            16,
        ),
        "ES384",
        _HASHES["384"],
    ),
    "P-521": _ECCurve(
        ec.SECP521R1(),
        66,
        2**521 - 1,
        int(
            "01FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF"
            "FA51868783BF2F966B7FCC0148F709A5D03BB5C9B8899C47AEBB6FB71E91386409",
            16,
        ),
        "ES512",
        _HASHES["512"],
    ),
    "secp256k1": _ECCurve(
        ec.SECP256K1(),
        32,
        2**256 - 2**32 - 977,
        0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141,
        "ES256K",
        _HASHES["256"],
    ),
}


class _EdwardsCurve(NamedTuple):
    """An Edwards curve of RFC 8032: a*x^2 + y^2 = 1 + d*x^2*y^2 over GF(prime)."""

    prime: int
    a: int
    d: int
    cofactor: int
    size: int  # bytes of an encoded point (the JWK "x")
    signature_size: int
    algorithms: frozenset[str]


_ED25519_PRIME: Final[int] = 2**255 - 19
_ED448_PRIME: Final[int] = 2**448 - 2**224 - 1

_OKP_CURVES: Final[dict[str, _EdwardsCurve]] = {
    "Ed25519": _EdwardsCurve(
        prime=_ED25519_PRIME,
        a=_ED25519_PRIME - 1,
        d=(-121665 * pow(121666, -1, _ED25519_PRIME)) % _ED25519_PRIME,
        cofactor=8,
        size=32,
        signature_size=64,
        algorithms=frozenset({"EdDSA", "Ed25519"}),
    ),
    "Ed448": _EdwardsCurve(
        prime=_ED448_PRIME,
        a=1,
        d=_ED448_PRIME - 39081,
        cofactor=4,
        size=57,
        signature_size=114,
        algorithms=frozenset({"EdDSA", "Ed448"}),
    ),
}

_KEY_AGREEMENT_CURVES: Final[frozenset[str]] = frozenset({"X25519", "X448"})


class _Unusable(Exception):
    """Carries the reason a JWK is skipped; caught in :func:`parse_jwks`, never escapes."""


# --- values ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class PreparedKey:
    """A public key from a JWKS, imported once and ready to verify JWS signatures.

    Attributes:
        kid: the JWK's ``kid`` (None when absent).
        kty: ``"RSA"``, ``"EC"`` or ``"OKP"``.
        crv: the curve for EC/OKP keys, None for RSA.
        alg: the JWK's own ``alg`` member (None when absent).
        use: the JWK's ``use`` member (``"sig"`` or None).
        issuer: the non-standard per-key ``issuer`` member (Microsoft Entra), if a string.
        size: RSA modulus bits, None for other key types.
        thumbprint: RFC 7638 SHA-256 thumbprint, base64url.
        algorithms: the JWS algorithms this key may verify.
    """

    kid: str | None
    kty: str
    crv: str | None
    alg: str | None
    use: str | None
    issuer: str | None
    size: int | None
    thumbprint: str
    algorithms: frozenset[str]
    _verifiers: Mapping[str, _Verify] = field(repr=False)

    def verify(self, alg: str, signing_input: bytes, signature: bytes) -> bool:
        """Tell whether ``signature`` is a valid ``alg`` signature of ``signing_input``.

        Never raises: an algorithm the key may not verify, a signature of the wrong
        length or any cryptographic error gives False.

        Args:
            alg: the token's JWS ``alg``.
            signing_input: ``BASE64URL(header) || "." || BASE64URL(payload)`` as bytes.
            signature: the decoded signature bytes.
        """
        try:
            verifier = self._verifiers.get(alg)
        except TypeError:  # an unhashable alg
            return False
        if verifier is None:
            return False
        return verifier(signing_input, signature)


@dataclass(frozen=True, slots=True)
class SkippedKey:
    """A JWKS entry that was not loaded, and why.

    Attributes:
        index: position in the document's ``"keys"`` array.
        kid: the entry's ``kid`` when it is a non-empty string, else None.
        reason: human-readable reason, e.g. ``"use is 'enc', not 'sig'"``.
    """

    index: int
    kid: str | None
    reason: str


_Index = dict[tuple[str | None, str | None], tuple[PreparedKey, ...]]


@dataclass(frozen=True, slots=True, eq=False)
class KeyRing:
    """The usable keys of one JWKS document, indexed for selection.

    Attributes:
        keys: the loaded keys, in document order.
        skipped: the entries that were not loaded, with reasons.
    """

    keys: tuple[PreparedKey, ...] = ()
    skipped: tuple[SkippedKey, ...] = ()
    _kids: frozenset[str] = field(init=False, repr=False)
    _index: _Index = field(init=False, repr=False)

    def __post_init__(self) -> None:
        grouped: dict[tuple[str | None, str | None], list[PreparedKey]] = {}
        for key in self.keys:
            if key.kid is not None:
                grouped.setdefault((key.kid, None), []).append(key)  # any algorithm
            for alg in key.algorithms:
                grouped.setdefault((None, alg), []).append(key)
                if key.kid is not None:
                    grouped.setdefault((key.kid, alg), []).append(key)
        index: _Index = {slot: tuple(keys[:MAX_CANDIDATES]) for slot, keys in grouped.items()}
        object.__setattr__(self, "_index", index)
        object.__setattr__(
            self, "_kids", frozenset(key.kid for key in self.keys if key.kid is not None)
        )

    @property
    def kids(self) -> frozenset[str]:
        """The ``kid`` values of the loaded keys."""
        return self._kids

    def __len__(self) -> int:
        return len(self.keys)

    def select(self, alg: str | None, kid: str | None) -> tuple[PreparedKey, ...]:
        """Return the candidate keys for a token, in document order.

        A candidate may verify ``alg``; when the token has a ``kid``, the candidate's
        ``kid`` equals it (a kid-less key never matches a token that names one). At most
        ``MAX_CANDIDATES`` keys are returned; an empty tuple when none fits.

        Args:
            alg: the token header's ``alg``; None for the keys of ``kid`` whatever
                algorithms they verify (never for a kid-less lookup).
            kid: the token header's ``kid``, None when absent.
        """
        return self._index.get((kid, alg), ())


#: A ring without keys.
EMPTY_KEY_RING: Final[KeyRing] = KeyRing()


# --- parsing -----------------------------------------------------------------------


def parse_jwks(document: object, *, max_keys: int = MAX_KEYS) -> KeyRing:
    """Turn a decoded JWKS document into a :class:`KeyRing`.

    Every entry of ``"keys"`` is imported on its own; unusable entries are recorded in
    ``KeyRing.skipped`` instead of failing the set. A set whose keys are all skipped
    gives an empty ring (with ``skipped`` filled): what an empty ring means is the
    caller's decision.

    Args:
        document: already-decoded JSON (any JSON value).
        max_keys: the most entries a document may hold.

    Raises:
        InvalidKeySetError: ``document`` is not a JSON object with a ``"keys"`` array,
            or the array holds more than ``max_keys`` entries.
    """
    if not isinstance(document, dict):
        raise InvalidKeySetError(f"a JWKS must be a JSON object, got {json_kind(document)}")
    if "keys" not in document:
        raise InvalidKeySetError('a JWKS must have a "keys" member; this object has none')
    entries = document["keys"]
    if not isinstance(entries, list):
        raise InvalidKeySetError(
            f'the JWKS "keys" member must be an array, got {json_kind(entries)}'
        )
    if len(entries) > max_keys:
        raise InvalidKeySetError(
            f"the JWKS holds {len(entries)} keys, more than the limit of {max_keys}"
        )
    keys: list[PreparedKey] = []
    skipped: list[SkippedKey] = []
    for index, entry in enumerate(entries):
        judged = judge_key(entry, index)
        if isinstance(judged, PreparedKey):
            keys.append(judged)
        else:
            skipped.append(judged)
    return KeyRing(keys=tuple(keys), skipped=tuple(skipped))


def judge_key(entry: object, index: int = 0) -> PreparedKey | SkippedKey:
    """Import one JWK under the key policy of this module, or say why it is unusable.

    The rules are those of a JWKS entry (see the module docstring): a public asymmetric
    key fit for signatures, of a sound size or on its curve. Nothing is raised, whatever
    the value.

    Args:
        entry: a decoded JSON value (a JWK when usable).
        index: its position in a document, recorded in the ``SkippedKey``.
    """
    try:
        return _prepare(entry)
    except _Unusable as exc:
        return SkippedKey(index, _kid_of(entry), str(exc))
    except Exception as exc:  # a foreign import error: the key is skipped, never raised
        text = clipped(str(exc), SHOWN_LONG_CHARS)
        reason = f"could not be imported: {type(exc).__name__}: {text}"
        return SkippedKey(index, _kid_of(entry), reason)


def _kid_of(entry: object) -> str | None:
    if isinstance(entry, dict):
        kid = entry.get("kid")
        if isinstance(kid, str) and kid:
            return kid
    return None


def _prepare(entry: object) -> PreparedKey:
    """Judge and import one JWK; raise ``_Unusable`` with the reason it is skipped."""
    if not isinstance(entry, dict):
        raise _Unusable(f"entry is {json_kind(entry)}, not a JSON object")

    if "kty" not in entry:
        raise _Unusable("kty is missing")
    kty = entry["kty"]
    if kty == "oct":
        raise _Unusable("kty 'oct': symmetric keys are never accepted")
    if kty not in ("RSA", "EC", "OKP"):
        raise _Unusable(f"kty {shown(kty)} is not supported (RSA, EC and OKP are)")

    private = [name for name in _PRIVATE_MEMBERS if name in entry]
    if private:
        raise _Unusable(
            f"private key member(s) {', '.join(private)} present: "
            "a published private key is never used"
        )

    kid = entry.get("kid")
    if "kid" in entry and not (isinstance(kid, str) and kid):
        raise _Unusable(f"kid {shown(kid)} is not a non-empty string")

    use = entry.get("use")
    if "use" in entry and use != "sig":
        raise _Unusable(f"use is {shown(use)}, not 'sig'")

    if "key_ops" in entry:
        key_ops = entry["key_ops"]
        if not isinstance(key_ops, list) or not all(isinstance(op, str) for op in key_ops):
            raise _Unusable(f"key_ops {shown(key_ops)} is not an array of strings")
        if "verify" not in key_ops:
            raise _Unusable(f"key_ops {shown(key_ops)} does not include 'verify'")

    alg = entry.get("alg")
    if "alg" in entry and not (isinstance(alg, str) and alg in _SUPPORTED_ALGORITHMS):
        raise _Unusable(f"alg {shown(alg)} is not a supported asymmetric JWS algorithm")

    issuer = entry.get("issuer")
    if "issuer" in entry and not isinstance(issuer, str):
        # A binding that cannot be honoured must not silently become no binding at all.
        raise _Unusable(f"issuer {shown(issuer)} is not a string")
    if kty == "RSA":
        imported = _import_rsa(entry, alg)
    elif kty == "EC":
        imported = _import_ec(entry, alg)
    else:
        imported = _import_okp(entry, alg)
    crv, size, members, verifiers = imported
    return PreparedKey(
        kid=kid,
        kty=kty,
        crv=crv,
        alg=alg,
        use=use,
        issuer=issuer,
        size=size,
        thumbprint=_thumbprint(members),
        algorithms=frozenset(verifiers),
        _verifiers=verifiers,
    )


_Imported = tuple[str | None, int | None, dict[str, str], dict[str, _Verify]]


def _allowed(kty: str, crv: str | None, default: frozenset[str], alg: object) -> frozenset[str]:
    """The key's algorithms: its own alg when it has one (and it fits), else the defaults."""
    if alg is None:
        return default
    if alg not in default:
        fits = f"{kty} {crv}" if crv else kty
        # "an": RSA, EC and OKP are all spelled out letter by letter.
        raise _Unusable(f"alg {shown(alg)} does not fit an {fits} key")
    return frozenset({str(alg)})


# -- public numbers --


def _b64_limit(max_bytes: int) -> int:
    return 4 * -(-max_bytes // 3)


def _decode_number(entry: dict[str, object], name: str, max_bytes: int) -> bytes:
    """Decode a public-number member, accepting padding and the standard alphabet."""
    if name not in entry:
        raise _Unusable(f"{name} is missing")
    value = entry[name]
    if not isinstance(value, str):
        raise _Unusable(f"{name} is not a string")
    text = value.rstrip("=")
    if len(value) - len(text) > 2:
        raise _Unusable(f"{name} is not base64url")
    if not text:
        raise _Unusable(f"{name} is empty")
    if len(text) > _b64_limit(max_bytes):
        raise _Unusable(f"{name} is longer than {max_bytes} bytes")
    if len(text) % 4 == 1:
        raise _Unusable(f"{name} is not base64url (impossible length)")
    # "-" and "+" (and "_" and "/") are the same digit in the two alphabets, so mixing
    # them cannot make the value ambiguous.
    canonical = text.replace("+", "-").replace("/", "_") + "=" * (-len(text) % 4)
    try:
        return base64.b64decode(canonical.encode("ascii"), altchars=b"-_", validate=True)
    except ValueError as exc:  # binascii.Error and UnicodeEncodeError are ValueErrors
        raise _Unusable(f"{name} is not base64url") from exc


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _uint_b64url(value: int) -> str:
    """RFC 7518 section 2 Base64urlUInt: the minimal big-endian octets of value."""
    return _b64url(value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big"))


def _thumbprint(members: Mapping[str, str]) -> str:
    """RFC 7638 SHA-256 thumbprint of the required public members (kty included)."""
    text = json.dumps(dict(members), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return _b64url(hashlib.sha256(text.encode("ascii")).digest())


# -- RSA --


def _import_rsa(entry: dict[str, object], alg: object) -> _Imported:
    algorithms = _allowed("RSA", None, _RSA_ALGORITHMS, alg)
    # One leading zero byte (or a few) is tolerated: the limit leaves room for them.
    n_bytes = _decode_number(entry, "n", MAX_RSA_BITS // 8 + 8)
    e_bytes = _decode_number(entry, "e", MAX_RSA_BITS // 8 + 8)
    n = int.from_bytes(n_bytes, "big")
    e = int.from_bytes(e_bytes, "big")
    bits = n.bit_length()
    if bits < MIN_RSA_BITS:
        raise _Unusable(f"RSA modulus is {bits} bits, fewer than {MIN_RSA_BITS}")
    if bits > MAX_RSA_BITS:
        raise _Unusable(f"RSA modulus is {bits} bits, more than {MAX_RSA_BITS}")
    if n % 2 == 0:
        raise _Unusable("RSA modulus is even")
    if e == 1:
        raise _Unusable("RSA public exponent is 1")
    if e % 2 == 0:
        raise _Unusable(f"RSA public exponent {e} is even")
    if e >= n:
        raise _Unusable("RSA public exponent is not smaller than the modulus")
    if e.bit_length() > MAX_RSA_EXPONENT_BITS:
        raise _Unusable(
            f"RSA public exponent is {e.bit_length()} bits, more than {MAX_RSA_EXPONENT_BITS}"
        )

    members = {"kty": "RSA", "n": _uint_b64url(n), "e": _uint_b64url(e)}
    from joserfc.jwk import RSAKey  # loaded with the first key, not at start-up

    public_key = RSAKey.import_key(dict(members)).public_key
    signature_size = (bits + 7) // 8
    verifiers = {name: _rsa_verifier(public_key, name, signature_size) for name in algorithms}
    return None, bits, members, verifiers


def _rsa_verifier(public_key: rsa.RSAPublicKey, alg: str, signature_size: int) -> _Verify:
    digest = _HASHES[alg[2:]]
    pad: padding.AsymmetricPadding
    if alg.startswith("PS"):
        # RFC 7518 section 3.5: MGF1 with the same hash, salt as long as the hash output.
        pad = padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)
    else:
        pad = padding.PKCS1v15()

    def verify(signing_input: bytes, signature: bytes) -> bool:
        try:
            if len(signature) != signature_size:
                return False
            public_key.verify(signature, signing_input, pad, digest)
        except Exception:  # InvalidSignature, or a TypeError for a non-bytes argument
            return False
        return True

    return verify


# -- EC --


def _import_ec(entry: dict[str, object], alg: object) -> _Imported:
    crv = entry.get("crv")
    if "crv" not in entry:
        raise _Unusable("crv is missing")
    if not isinstance(crv, str) or crv not in _EC_CURVES:
        raise _Unusable(f"crv {shown(crv)} is not a supported EC curve")
    curve = _EC_CURVES[crv]
    algorithms = _allowed("EC", crv, frozenset({curve.alg}), alg)
    coordinates: list[int] = []
    for name in ("x", "y"):
        raw = _decode_number(entry, name, curve.size + 8)
        if len(raw) != curve.size:
            raise _Unusable(f"{name} is {len(raw)} bytes, a {crv} coordinate is {curve.size}")
        value = int.from_bytes(raw, "big")
        if value >= curve.prime:
            raise _Unusable(f"{name} is not below the {crv} field prime (non-canonical)")
        coordinates.append(value)
    x, y = coordinates

    members = {
        "kty": "EC",
        "crv": crv,
        "x": _b64url(x.to_bytes(curve.size, "big")),
        "y": _b64url(y.to_bytes(curve.size, "big")),
    }
    try:
        from joserfc.jwk import ECKey  # loaded with the first key, not at start-up

        public_key = ECKey.import_key(dict(members)).public_key
    except ValueError as exc:
        raise _Unusable(f"point (x, y) is not on the curve {crv}") from exc
    verifiers = {name: _ecdsa_verifier(public_key, curve) for name in algorithms}
    return crv, None, members, verifiers


def _ecdsa_verifier(public_key: ec.EllipticCurvePublicKey, curve: _ECCurve) -> _Verify:
    size = curve.size
    order = curve.order
    scheme = ec.ECDSA(curve.digest)

    def verify(signing_input: bytes, signature: bytes) -> bool:
        # RFC 7518 section 3.4: the JWS signature is R || S, each exactly `size` bytes.
        try:
            if len(signature) != 2 * size:
                return False
            r = int.from_bytes(signature[:size], "big")
            s = int.from_bytes(signature[size:], "big")
            if not (0 < r < order and 0 < s < order):
                return False
            public_key.verify(encode_dss_signature(r, s), signing_input, scheme)
        except Exception:  # InvalidSignature, or a TypeError for a non-bytes argument
            return False
        return True

    return verify


# -- OKP --


def _import_okp(entry: dict[str, object], alg: object) -> _Imported:
    crv = entry.get("crv")
    if "crv" not in entry:
        raise _Unusable("crv is missing")
    if isinstance(crv, str) and crv in _KEY_AGREEMENT_CURVES:
        raise _Unusable(f"crv {shown(crv)} is a key-agreement (ECDH) curve, not a signing curve")
    if not isinstance(crv, str) or crv not in _OKP_CURVES:
        raise _Unusable(f"crv {shown(crv)} is not a supported OKP curve")
    curve = _OKP_CURVES[crv]
    algorithms = _allowed("OKP", crv, curve.algorithms, alg)
    raw = _decode_number(entry, "x", curve.size + 8)
    if len(raw) != curve.size:
        raise _Unusable(f"x is {len(raw)} bytes, an {crv} public key is {curve.size}")
    problem = _edwards_point_problem(curve, raw)
    if problem is not None:
        raise _Unusable(f"x is {problem}")

    members = {"kty": "OKP", "crv": crv, "x": _b64url(raw)}
    from joserfc.jwk import OKPKey  # loaded with the first key, not at start-up

    public_key = OKPKey.import_key(dict(members)).public_key
    if not isinstance(public_key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
        raise _Unusable(f"{crv} import gave no EdDSA key")  # pragma: no cover - crv checked
    verifiers = {name: _eddsa_verifier(public_key, curve.signature_size) for name in algorithms}
    return crv, None, members, verifiers


def _eddsa_verifier(
    public_key: ed25519.Ed25519PublicKey | ed448.Ed448PublicKey, signature_size: int
) -> _Verify:
    def verify(signing_input: bytes, signature: bytes) -> bool:
        try:
            if len(signature) != signature_size:
                return False
            public_key.verify(signature, signing_input)
        except Exception:  # InvalidSignature, or a TypeError for a non-bytes argument
            return False
        return True

    return verify


def _edwards_point_problem(curve: _EdwardsCurve, encoded: bytes) -> str | None:
    """Decode an RFC 8032 point; name what is wrong with it, or None when it is sound.

    Refused: a non-canonical encoding (y >= p, or x = 0 with the sign bit set), a y with
    no matching x (not on the curve), and a point of small order (cofactor * P is the
    neutral element), which a signature could be forged against.
    """
    p = curve.prime
    value = int.from_bytes(encoded, "little")
    sign_shift = 8 * curve.size - 1
    sign = value >> sign_shift
    y = value & ((1 << sign_shift) - 1)
    if y >= p:
        return "a non-canonical point encoding (y is not below the field prime)"
    # a*x^2 + y^2 = 1 + d*x^2*y^2  =>  x^2 = (1 - y^2) / (a - d*y^2); the denominator
    # is never zero because d is not a square and a is.
    yy = y * y % p
    u = (1 - yy) * pow((curve.a - curve.d * yy) % p, -1, p) % p
    x = _sqrt_mod(u, p)
    if x is None:
        return "not a point on the curve"
    if x == 0 and sign:
        return "a non-canonical point encoding (x is 0 with the sign bit set)"
    if x & 1 != sign:
        x = p - x
    point = (x, y)
    for _ in range(curve.cofactor.bit_length() - 1):
        point = _edwards_add(curve, point, point)
    if point == (0, 1):
        return "a point of small order"
    return None


def _sqrt_mod(u: int, p: int) -> int | None:
    """A square root of u modulo the prime p (p = 3 mod 4 or p = 5 mod 8), or None."""
    if p % 4 == 3:
        root = pow(u, (p + 1) // 4, p)
    else:
        root = pow(u, (p + 3) // 8, p)
        if root * root % p != u:
            root = root * pow(2, (p - 1) // 4, p) % p
    return root if root * root % p == u else None


def _edwards_add(
    curve: _EdwardsCurve, first: tuple[int, int], second: tuple[int, int]
) -> tuple[int, int]:
    """The complete Edwards addition law in affine coordinates."""
    p = curve.prime
    x1, y1 = first
    x2, y2 = second
    t = curve.d * x1 * x2 * y1 * y2 % p
    x3 = (x1 * y2 + y1 * x2) * pow((1 + t) % p, -1, p) % p
    y3 = (y1 * y2 - curve.a * x1 * x2) * pow((1 - t) % p, -1, p) % p
    return x3, y3
