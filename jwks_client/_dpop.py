"""Sender-constrained tokens: DPoP proofs (RFC 9449) and certificate binding (RFC 8705).

Pure: every function takes ``now`` (or needs no time) and returns values or raises.

Rules of a proof (RFC 9449 §4.2, §4.3, §7.1, §9, §11):

* It is a compact JWS parsed by the same strict parser as access tokens
  (:func:`~._token.parse_token`: size cap, canonical base64url, strict JSON, no ``crit``),
  at most :data:`MAX_PROOF_LENGTH` characters, with ``alg`` in the proof allowlist
  (asymmetric only; ``none`` and ``HS*`` never).
* ``typ`` is ``dpop+jwt`` (compared as a media type: case-insensitive, ``application/``
  optional). ``jwk`` is present and is a public key that passes the key policy of
  :mod:`._keys` (no private members, sound sizes, points on their curve) and fits
  ``alg``; the signature verifies with it and nothing else: ``kid``, ``jku``, ``x5u``,
  ``x5c`` are never used.
* ``htm`` equals the request method. ``htu`` equals the request URL without query and
  fragment, compared after RFC 3986 syntax- and scheme-based normalisation: scheme and
  host case, default port, percent-encoding case and unreserved characters, dot
  segments, an empty path; userinfo is not part of the comparison.
* ``iat`` is a number no more than ``max_age`` seconds in the past and ``leeway``
  seconds in the future. ``jti`` is a non-empty string of at most :data:`MAX_JTI_LENGTH`
  characters, never seen before for the same key while the proof could be accepted
  (the replay store, keyed by :func:`replay_key`, remembers it until ``iat + max_age``).
* ``ath`` is the base64url SHA-256 of the access token, and the token's ``cnf.jkt``
  equals the RFC 7638 thumbprint of ``jwk``.
* With a ``nonce_secret``, ``nonce`` is a current server nonce: the base64url of a time
  window's number and an HMAC-SHA256 of it under the secret, valid in its window and the
  next (windows of ``max_age`` seconds). Any process holding the secret makes and accepts
  the same nonces, so a fleet needs no shared state for them. A missing or stale nonce is
  answered with a fresh one (:class:`UseDPoPNonceError`).

Rules of the token's confirmation (``cnf``, RFC 7800):

* ``cnf`` is an object when present; ``jkt`` and ``x5t#S256`` are non-empty strings when
  present. Other confirmation members are not understood and not enforced.
* ``verify(token)`` sees no proof and no certificate: a token with ``jkt`` or
  ``x5t#S256`` is refused there (:func:`refuse_bound`). Sent with the Bearer scheme, a
  token with ``jkt`` is a downgrade and is refused; sent with the DPoP scheme, a token
  without ``jkt`` is refused.
* ``x5t#S256`` is the base64url SHA-256 of the client certificate's DER encoding, which
  the request must present (PEM text or bytes, DER bytes, or a ``cryptography``
  certificate).

Theory of operation: a request is judged in two passes around the access token's own
verification. :func:`check_proof` runs every check that needs no signature, cheapest
first, so a bad request costs no cryptography; then the proof's one signature check
(:func:`verify_proof_signature`); the token is then verified, and last the proof is
recorded in the replay store. Errors name what the client sent;
:class:`InvalidDPoPProofError`, :class:`UseDPoPNonceError` and
:class:`InvalidTokenBindingError` are the answers.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from ._dpop_options import MIN_NONCE_SECRET_BYTES, DPoP
from ._errors import (
    AlgorithmNotAllowedError,
    InvalidDPoPProofError,
    InvalidTokenBindingError,
    MalformedTokenError,
    UseDPoPNonceError,
)
from ._keys import PreparedKey, SkippedKey, judge_key
from ._messages import SHOWN_LONG_CHARS, json_kind, shown
from ._token import ParsedToken, parse_token, parse_token_known_header
from ._types import new_tuple

if TYPE_CHECKING:
    from cryptography.x509 import Certificate

__all__ = [
    "MAX_JTI_LENGTH",
    "MAX_PROOF_LENGTH",
    "MIN_NONCE_SECRET_BYTES",
    "PROOF_TYPE",
    "DPoP",
    "Proof",
    "certificate_thumbprint",
    "check_certificate",
    "check_proof",
    "confirmation",
    "make_nonce",
    "nonce_is_current",
    "normalize_url",
    "parse_proof",
    "proof_key",
    "refuse_bound",
    "replay_key",
    "token_hash",
    "verify_proof_signature",
]

#: The ``typ`` of a proof.
PROOF_TYPE: Final = "dpop+jwt"
#: Longest proof accepted, in characters (an RSA-8192 key and signature fit in 4 KiB).
MAX_PROOF_LENGTH: Final = 8192
#: Longest ``jti`` accepted, in characters.
MAX_JTI_LENGTH: Final = 256

_NONCE_CONTEXT: Final = b"jwks-client DPoP nonce v1\x00"
_NONCE_WINDOW_BYTES: Final = 8
_NONCE_MAC_BYTES: Final = 16
_NONCE_LENGTH: Final = 32  # base64url of 8 + 16 bytes

_DEFAULT_PORTS: Final = {"http": "80", "https": "443"}
# RFC 3986 appendix B, without query and fragment: scheme, authority, path.
_URI: Final = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):(?://([^/?#]*))?([^?#]*)", re.DOTALL)
_PERCENT: Final = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
# Characters a URI may hold literally (RFC 3986 §2.2-2.3, and '%' of an escape); any
# other is percent-encoded as UTF-8 before comparing (an IRI's form, RFC 3987 §3.1).
_NOT_URI_CHAR: Final = re.compile(r"[^A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]")
_PEM_CERTIFICATE: Final = re.compile(
    rb"-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]*)-----END CERTIFICATE-----"
)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


# --- the token's confirmation ------------------------------------------------------


def confirmation(claims: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The token's ``cnf.jkt`` and ``cnf["x5t#S256"]`` (each None when absent).

    Raises:
        InvalidTokenBindingError: ``cnf`` is not an object, or a member is not a
            non-empty string.
    """
    cnf = claims.get("cnf")
    if cnf is None and "cnf" not in claims:
        return None, None
    if not isinstance(cnf, dict):
        raise InvalidTokenBindingError(f"the token's 'cnf' must be an object, not {json_kind(cnf)}")
    found: list[str | None] = []
    for name in ("jkt", "x5t#S256"):
        value = cnf.get(name)
        if name in cnf and not (isinstance(value, str) and value):
            raise InvalidTokenBindingError(
                f"the token's cnf {name!r} must be a non-empty string, not {json_kind(value)}"
            )
        found.append(value)
    return found[0], found[1]


def refuse_bound(claims: Mapping[str, Any]) -> None:
    """Refuse a sender-constrained token given to ``verify``, which sees no proof.

    Raises:
        InvalidTokenBindingError: the token has ``cnf.jkt`` or ``cnf["x5t#S256"]`` (or a
            malformed ``cnf``).
    """
    jkt, x5t = confirmation(claims)
    if jkt is not None:
        raise InvalidTokenBindingError(
            "the token is DPoP-bound (cnf.jkt): verify(token) cannot check its proof; "
            "use verify_request(method, url, headers)"
        )
    if x5t is not None:
        raise InvalidTokenBindingError(
            "the token is certificate-bound (cnf x5t#S256): verify(token) cannot check "
            "the client certificate; use verify_request(..., client_cert=...)"
        )


def certificate_thumbprint(cert: str | bytes | Certificate) -> str:
    """The RFC 8705 thumbprint of a client certificate: base64url SHA-256 of its DER.

    Args:
        cert: PEM text or bytes, DER bytes, or a ``cryptography.x509.Certificate``
            (text must be PEM).

    Raises:
        InvalidTokenBindingError: the value is not a certificate in one of these forms.
    """
    der: bytes
    if isinstance(cert, (str, bytes, bytearray, memoryview)):
        raw = cert.encode("ascii", "replace") if isinstance(cert, str) else bytes(cert)
        if isinstance(cert, str) or b"-----BEGIN" in raw[:512]:
            match = _PEM_CERTIFICATE.search(raw)
            try:
                if match is None:
                    raise ValueError("no CERTIFICATE block")
                der = base64.b64decode(b"".join(match.group(1).split()), validate=True)
            except (ValueError, binascii.Error) as exc:
                raise InvalidTokenBindingError(
                    "the client certificate is not a readable PEM certificate"
                ) from exc
        else:
            der = raw
    else:
        public_bytes = getattr(cert, "public_bytes", None)
        if not callable(public_bytes):
            raise InvalidTokenBindingError(
                f"the client certificate must be PEM, DER or an x509 certificate, "
                f"not {type(cert).__name__}"
            )
        from cryptography.hazmat.primitives.serialization import Encoding

        try:
            der = public_bytes(Encoding.DER)
        except Exception as exc:  # another object with a public_bytes: nothing foreign leaks
            raise InvalidTokenBindingError(
                f"the client certificate ({type(cert).__name__}) could not be DER-encoded"
            ) from exc
        if not isinstance(der, bytes):
            raise InvalidTokenBindingError("the client certificate could not be DER-encoded")
    if not der:
        raise InvalidTokenBindingError("the client certificate is empty")
    return _b64url(hashlib.sha256(der).digest())


def check_certificate(x5t: str, client_cert: str | bytes | Certificate | None) -> None:
    """Check that the request's client certificate is the one the token is bound to.

    Raises:
        InvalidTokenBindingError: no certificate, an unreadable one, or another one.
    """
    if client_cert is None:
        raise InvalidTokenBindingError(
            "the token is certificate-bound (cnf x5t#S256) and the request presents no "
            "client certificate"
        )
    thumbprint = certificate_thumbprint(client_cert)
    if not hmac.compare_digest(thumbprint, x5t):
        raise InvalidTokenBindingError(
            "the client certificate is not the one the token is bound to (cnf x5t#S256)"
        )


# --- nonces ------------------------------------------------------------------------


def _window(now: float, period: float) -> int:
    return math.floor(now / period)


def make_nonce(secret: bytes, now: float, period: float) -> str:
    """The server nonce of the time window holding ``now`` (windows of ``period`` s)."""
    number = _window(now, period).to_bytes(_NONCE_WINDOW_BYTES, "big", signed=True)
    mac = hmac.new(secret, _NONCE_CONTEXT + number, hashlib.sha256).digest()
    return _b64url(number + mac[:_NONCE_MAC_BYTES])


def nonce_is_current(nonce: object, secret: bytes, now: float, period: float) -> bool:
    """Whether ``nonce`` was made with ``secret`` in the current or the previous window."""
    if not isinstance(nonce, str) or len(nonce) != _NONCE_LENGTH:
        return False
    try:
        raw = base64.urlsafe_b64decode(nonce + "=" * (-len(nonce) % 4))
    except (ValueError, binascii.Error):
        return False
    number = raw[:_NONCE_WINDOW_BYTES]
    window = int.from_bytes(number, "big", signed=True)
    if not 0 <= _window(now, period) - window <= 1:
        return False
    mac = hmac.new(secret, _NONCE_CONTEXT + number, hashlib.sha256).digest()
    return hmac.compare_digest(mac[:_NONCE_MAC_BYTES], raw[_NONCE_WINDOW_BYTES:])


# --- URLs --------------------------------------------------------------------------


def _percent(match: re.Match[str]) -> str:
    char = chr(int(match.group(1), 16))
    return char if char in _UNRESERVED else "%" + match.group(1).upper()


def _percent_host(match: re.Match[str]) -> str:
    # A host is case-insensitive: a decoded letter is lowered too.
    char = chr(int(match.group(1), 16))
    return char.lower() if char in _UNRESERVED else "%" + match.group(1).upper()


def _encode_char(match: re.Match[str]) -> str:
    return "".join(f"%{byte:02X}" for byte in match.group(0).encode("utf-8", "surrogatepass"))


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4, segment by segment."""
    if "." not in path:
        return path
    output: list[str] = []
    segments = path.split("/")
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment == ".":
            if last:
                output.append("")
        elif segment == "..":
            if len(output) > 1:
                output.pop()
            if last:
                output.append("")
        else:
            output.append(segment)
    result = "/".join(output)
    if path.startswith("/") and not result.startswith("/"):
        result = "/" + result
    return result


def normalize_url(url: str) -> str | None:
    """The RFC 3986 normal form of an http(s) URL without query, fragment and userinfo.

    Scheme and host are lowercased, a default or empty port dropped (and leading zeros
    of another), percent-escapes uppercased and those of unreserved characters decoded,
    characters a URI cannot hold percent-encoded as UTF-8, dot segments removed, and an
    empty path made ``/``. None when ``url`` is not an absolute http(s) URL with a host.
    """
    if not isinstance(url, str):
        return None
    match = _URI.match(url)
    if match is None:
        return None
    scheme = match.group(1).lower()
    authority = match.group(2)
    if scheme not in _DEFAULT_PORTS or authority is None:
        return None
    host_port = authority.rpartition("@")[2]
    if host_port.startswith("["):
        end = host_port.find("]")
        if end < 0:
            return None
        host, rest = host_port[: end + 1], host_port[end + 1 :]
        if rest and not rest.startswith(":"):
            return None
        port = rest[1:]
    else:
        host, _, port = host_port.partition(":")
    host = _PERCENT.sub(_percent_host, host.lower())
    if not host or _NOT_URI_CHAR.search(host):
        return None
    if port:
        if not port.isdigit() or not port.isascii() or int(port) > 65535:
            return None
        port = str(int(port))
        if port == _DEFAULT_PORTS[scheme]:
            port = ""
    path = _NOT_URI_CHAR.sub(_encode_char, match.group(3))
    path = _remove_dot_segments(_PERCENT.sub(_percent, path)) or "/"
    return f"{scheme}://{host}{':' + port if port else ''}{path}"


def _without_query(url: str) -> str:
    cut = len(url)
    for mark in ("?", "#"):
        at = url.find(mark)
        if 0 <= at < cut:
            cut = at
    return url[:cut]


def _same_url(htu: str, url: str) -> bool:
    if "?" in htu or "#" in htu:
        return False  # htu is the URL without query and fragment (RFC 9449 §4.2)
    if htu == _without_query(url):
        return True  # the same text: the same normal form
    normal = normalize_url(url)
    return normal is not None and normalize_url(htu) == normal


# --- proofs ------------------------------------------------------------------------


def token_hash(token: str) -> str:
    """The ``ath`` of an access token: base64url SHA-256 of its ASCII text."""
    return _b64url(hashlib.sha256(token.encode("ascii")).digest())


def replay_key(thumbprint: str, jti: str) -> bytes:
    """The replay store's key of a proof: a 16-byte digest of its key and its ``jti``."""
    data = f"{thumbprint}\x00{jti}".encode("utf-8", "surrogatepass")
    return hashlib.sha256(data).digest()[:16]


class Proof(NamedTuple):
    """A proof that passed every check but its signature and the replay store.

    Attributes:
        parsed: the parsed proof (header, claims, signing input, signature).
        key: the proof's key, imported from its ``jwk``.
        jti: the proof's ``jti``.
        expires_at: when the proof stops being accepted (``iat + max_age``).
    """

    parsed: ParsedToken
    key: PreparedKey
    jti: str
    expires_at: float


def _proof_error(problem: str) -> InvalidDPoPProofError:
    return InvalidDPoPProofError(f"invalid DPoP proof: {problem}")


def parse_proof(
    proof: str, algorithms: frozenset[str], known: ParsedToken | None = None
) -> ParsedToken:
    """Parse a proof strictly (the token parser's rules) and check ``typ`` and ``jwk``.

    Args:
        proof: the ``DPoP`` field's value.
        algorithms: the proof algorithms allowed.
        known: a proof parsed before whose header segment is this one's (the header is
            then not decoded and judged again), or None.

    Raises:
        InvalidDPoPProofError: the proof is not a strict compact JWS, its ``alg`` is not
            allowed, its ``typ`` is not ``dpop+jwt`` or it has no ``jwk`` object.
    """
    try:
        if known is None:
            parsed = parse_token(proof, algorithms=algorithms, max_length=MAX_PROOF_LENGTH)
        else:
            parsed = parse_token_known_header(
                proof, known, algorithms=algorithms, max_length=MAX_PROOF_LENGTH
            )
            if parsed.header is known.header:
                return parsed  # known's header passed the checks below
    except (MalformedTokenError, AlgorithmNotAllowedError) as exc:
        raise _proof_error(str(exc).removeprefix("malformed token: ")) from exc
    typ = parsed.typ
    if typ is None or typ.lower().removeprefix("application/") != PROOF_TYPE:
        found = "no 'typ'" if typ is None else f"typ {shown(typ)}"
        raise _proof_error(f"its header has {found}, not {PROOF_TYPE!r}")
    if "jwk" not in parsed.header:
        raise _proof_error("its header has no 'jwk'")
    if not isinstance(parsed.header["jwk"], dict):
        raise _proof_error(f"its 'jwk' must be an object, not {json_kind(parsed.header['jwk'])}")
    return parsed


def proof_key(jwk: object, alg: str) -> PreparedKey:
    """Import a proof's ``jwk`` under the key policy and check that it fits ``alg``.

    Raises:
        InvalidDPoPProofError: the key is private, symmetric, weak or malformed, or it
            cannot verify ``alg``.
    """
    judged = judge_key(jwk)
    if isinstance(judged, SkippedKey):
        raise _proof_error(f"its jwk is not a usable public key: {judged.reason}")
    if alg not in judged.algorithms:
        raise _proof_error(f"its alg {alg!r} does not fit its {judged.kty} key")
    return judged


_ABSENT: Final[Any] = object()


def _missing(name: str) -> InvalidDPoPProofError:
    return _proof_error(f"it has no {name!r} claim")


def check_proof(
    parsed: ParsedToken,
    key: PreparedKey,
    *,
    method: str,
    url: str,
    ath: str,
    jkt: str,
    now: float,
    dpop: DPoP,
) -> Proof:
    """Every check of a parsed proof that needs no signature (see the module docstring).

    Args:
        parsed: the proof, from :func:`parse_proof`.
        key: its key, from :func:`proof_key`.
        method: the request's method, compared exactly with ``htm``.
        url: the request's URL as the server sees it (query and fragment ignored).
        ath: the hash the proof's ``ath`` must be: :func:`token_hash` of the access token.
        jkt: the access token's ``cnf.jkt``.
        now: the current time, Unix seconds.
        dpop: the configuration (window, leeway, nonce secret).

    Raises:
        InvalidDPoPProofError: a claim is missing or wrong.
        InvalidTokenBindingError: the proof's key is not the one the token is bound to.
        UseDPoPNonceError: nonces are on and the proof's is missing or not current.
    """
    # Each claim is read once; an absent one fails its check, and is named then.
    get = parsed.claims.get
    htm = get("htm", _ABSENT)
    if htm != method:
        if htm is _ABSENT:
            raise _missing("htm")
        raise _proof_error(f"its htm {shown(htm)} is not the request method {shown(method)}")
    htu = get("htu", _ABSENT)
    # The usual case first: htu is the request URL's very text, which has no query.
    if (htu != url or "?" in htu or "#" in htu) and (
        not isinstance(htu, str) or not _same_url(htu, url)
    ):
        if htu is _ABSENT:
            raise _missing("htu")
        raise _proof_error(
            f"its htu {shown(htu, SHOWN_LONG_CHARS)} is not the request URL "
            f"{shown(_without_query(url), SHOWN_LONG_CHARS)}"
        )
    iat = get("iat", _ABSENT)
    if isinstance(iat, bool) or not isinstance(iat, (int, float)) or iat != iat:
        if iat is _ABSENT:
            raise _missing("iat")
        raise _proof_error(f"its iat must be a number, not {json_kind(iat)}")
    # Compared without arithmetic on iat: a huge integer is compared exactly.
    if not iat <= now + dpop.leeway:
        raise _proof_error(f"its iat is in the future, beyond the {dpop.leeway:g} s leeway")
    if not now - dpop.max_age <= iat:
        raise _proof_error(f"it was made more than {dpop.max_age:g} s ago (iat)")
    jti = get("jti", _ABSENT)
    if not isinstance(jti, str) or not jti:
        if jti is _ABSENT:
            raise _missing("jti")
        raise _proof_error(f"its jti must be a non-empty string, not {json_kind(jti)}")
    if len(jti) > MAX_JTI_LENGTH:
        raise _proof_error(f"its jti is longer than {MAX_JTI_LENGTH} characters")
    found = get("ath", _ABSENT)
    if found != ath:
        if found is _ABSENT:
            raise _missing("ath")
        raise _proof_error("its ath is not the hash of the access token")
    if key.thumbprint != jkt:
        raise InvalidTokenBindingError(
            "the DPoP proof's key is not the key the token is bound to (cnf.jkt)"
        )
    # The attribute first: the property converts text to bytes on every call.
    if dpop.nonce_secret is not None and (secret := dpop.secret) is not None:
        nonce = get("nonce")
        if not nonce_is_current(nonce, secret, now, dpop.max_age):
            problem = "has no nonce" if nonce is None else "has a stale or unknown nonce"
            raise UseDPoPNonceError(
                f"the DPoP proof {problem}: retry with the DPoP-Nonce header's value",
                nonce=make_nonce(secret, now, dpop.max_age),
            )
    return new_tuple(Proof, (parsed, key, jti, float(iat) + dpop.max_age))


def verify_proof_signature(proof: Proof) -> None:
    """The proof's one signature check, with its own ``jwk``.

    Raises:
        InvalidDPoPProofError: the signature does not verify.
    """
    parsed = proof.parsed
    if not proof.key.verify(parsed.alg, parsed.signing_input, parsed.signature):
        raise _proof_error(f"its signature does not verify with its jwk (alg {parsed.alg})")
