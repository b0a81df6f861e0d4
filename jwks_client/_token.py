"""Strict parsing of compact JWS tokens (pure).

Rules (RFC 7515, RFC 7519, RFC 8725):

* Only the JWS compact serialization is accepted: exactly three base64url segments
  joined by dots. The JWE compact form (five segments), the JWS JSON serialization,
  empty segments, padding, whitespace and any character outside ``[A-Za-z0-9_-]`` are
  refused. Base64url must be canonical: the unused low bits of the last character are
  zero, so a token has exactly one spelling.
* The header and the payload are strict JSON objects in UTF-8: no BOM, no duplicate
  member names, no ``NaN``/``Infinity``, no float that overflows to infinity, no
  integer longer than :data:`MAX_INT_DIGITS` digits, no lone UTF-16 surrogate, nesting
  at most :data:`MAX_JSON_DEPTH` levels.
* ``alg`` must be a string in the caller's allowlist; ``none`` (in any casing) and the
  symmetric ``HS*`` family are refused even when allowlisted. ``kid`` is a short
  printable string. ``typ`` and ``cty`` are strings, and a nested JWT (``cty: JWT``) is
  refused. The library understands no ``crit`` extension, so any ``crit`` is refused,
  and so is ``b64`` (RFC 7797 unencoded payloads). Members that could name a key
  (``jwk``, ``jku``, ``x5u``, ``x5c``, ``x5t``) are never used; other unknown members
  are ignored (RFC 7515 §4).

Theory of operation: the cheapest checks run first (type, length in O(1), the shape of
the segments), then the header, which alone decides whether the token can be
verified at all, then the signature, and last the payload, the largest part. Every
failure, whatever the input, is a :class:`MalformedTokenError` or an
:class:`AlgorithmNotAllowedError`; messages quote at most a short ``repr`` excerpt of
a header value, never the token.
"""

from __future__ import annotations

import binascii
import json
import math
import re
from collections.abc import Callable
from typing import Any, NamedTuple

from ._errors import AlgorithmNotAllowedError, MalformedTokenError
from ._messages import MAX_INT_DIGITS, json_kind, listed, shown
from ._types import keep, new_tuple

__all__ = [
    "MAX_INT_DIGITS",
    "MAX_JSON_DEPTH",
    "MAX_KID_LENGTH",
    "MAX_TOKEN_LENGTH",
    "HeaderMemo",
    "ParsedToken",
    "b64url_decode",
    "header_only",
    "loads_strict",
    "parse_token",
    "parse_token_known_header",
]

#: Longest token accepted, in characters (bytes for ``bytes`` input).
MAX_TOKEN_LENGTH: int = 32_768
#: Longest ``kid`` accepted, in characters.
MAX_KID_LENGTH: int = 256
#: Deepest nesting of arrays and objects accepted in a header or payload.
MAX_JSON_DEPTH: int = 32
#: How many distinct header segments a :class:`HeaderMemo` keeps.
HEADER_MEMO_SIZE: int = 256
#: Longest header segment a :class:`HeaderMemo` keeps, in characters.
MAX_MEMO_HEADER_CHARS: int = 1024

_B64URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_B64URL_INDEX = {char: index for index, char in enumerate(_B64URL_ALPHABET)}
_B64URL_BYTES = _B64URL_ALPHABET.encode("ascii")
# Bits of the last character that carry no data, by segment length modulo 4.
_UNUSED_BITS_MASK = {2: 0b1111, 3: 0b11}
_TO_STANDARD_ALPHABET = bytes.maketrans(b"-_", b"+/")
_PADDING = (b"", b"", b"==", b"=")

_UTF8_BOM = b"\xef\xbb\xbf"
# A JSON \u escape of a UTF-16 surrogate (D800-DFFF); only then can a lone one appear.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
# A string literal, or what is left of an unterminated one: it never fails to match at a
# quote, so removing literals is one linear pass whatever the input.
_STRING_LITERAL = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_BRACKETS_AS_PARENS = str.maketrans("[{]}", "(())")


class ParsedToken(NamedTuple):
    """A compact JWS split and decoded, its header checked; the signature is unverified.

    A named tuple (immutable, and cheaper to build than a frozen dataclass on the hot
    path).

    Attributes:
        header: the decoded protected header.
        claims: the decoded payload (a JSON object).
        signing_input: ``b"<header b64>.<payload b64>"`` exactly as received.
        signature: the decoded signature bytes (never empty).
        alg: the header's ``alg``, one of the allowed algorithms.
        kid: the header's ``kid`` (None when absent).
        typ: the header's ``typ`` (None when absent).
    """

    header: dict[str, Any]
    claims: dict[str, Any]
    signing_input: bytes
    signature: bytes
    alg: str
    kid: str | None
    typ: str | None


class _Reject(Exception):
    """Raised inside JSON decoding hooks; turned into MalformedTokenError by the caller."""


def b64url_decode(segment: str) -> bytes:
    """Decode one base64url segment strictly.

    The alphabet is ``[A-Za-z0-9_-]`` only (RFC 7515 §2): no padding, no whitespace,
    a length that is not 1 modulo 4, and a canonical encoding (the unused trailing bits
    of the last character are zero). The empty string decodes to ``b""``.

    Args:
        segment: the base64url text.

    Returns:
        The decoded bytes.

    Raises:
        MalformedTokenError: the segment is not strict, canonical base64url.
    """
    return _decode(segment, None)


def _decode(segment: str, what: str | None) -> bytes:
    """:func:`b64url_decode`; with ``what`` (the segment's part of a token), an empty
    segment is refused and every message names the part."""
    if not isinstance(segment, str):
        raise _b64url_error("a base64url segment must be text", what)
    if not segment and what is not None:
        raise MalformedTokenError(f"malformed token: the {what} segment is empty")
    try:
        raw = segment.encode("ascii")
    except UnicodeEncodeError:
        raw = b"\x80"  # any non-alphabet byte: reported below
    if raw.translate(None, _B64URL_BYTES):
        # Something outside the alphabet: find the most helpful message.
        if "=" in segment:
            raise _b64url_error("base64url padding '=' is not allowed", what)
        if any(char.isspace() for char in segment):
            raise _b64url_error("whitespace is not allowed", what)
        raise _b64url_error("invalid character in a base64url segment", what)
    remainder = len(raw) % 4
    if remainder == 1:
        raise _b64url_error("invalid base64url length", what)
    if remainder and _B64URL_INDEX[segment[-1]] & _UNUSED_BITS_MASK[remainder]:
        raise _b64url_error("non-canonical base64url encoding", what)
    try:
        return binascii.a2b_base64(raw.translate(_TO_STANDARD_ALPHABET) + _PADDING[remainder])
    except (binascii.Error, ValueError) as exc:  # unreachable after the checks above
        raise _b64url_error("invalid base64url", what) from exc


def _b64url_error(problem: str, what: str | None) -> MalformedTokenError:
    where = "" if what is None else f" (in the {what})"
    return MalformedTokenError(f"malformed token: {problem}{where}")


def _reject_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for name, _ in pairs:
            if name in seen:
                raise _Reject(f"has a duplicate member name {shown(name)}")
            seen.add(name)
    return obj


def _reject_constant(name: str) -> Any:
    raise _Reject(f"holds {name}, which is not a JSON number")


def _parse_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise _Reject("holds a number that overflows to infinity")
    return value


def _parse_int(literal: str) -> int:
    if len(literal) > MAX_INT_DIGITS:
        raise _Reject(f"holds an integer of more than {MAX_INT_DIGITS} digits")
    return int(literal)


# One decoder for every call, as json.loads itself shares one: it holds no per-call state
# beyond a key memo that the scanner clears after each document.
_DECODER = json.JSONDecoder(
    object_pairs_hook=_reject_pairs,
    parse_constant=_reject_constant,
    parse_float=_parse_float,
    parse_int=_parse_int,
)
_SCAN: Callable[[str, int], tuple[Any, int]] = _DECODER.scan_once  # type: ignore[attr-defined]
# A document shorter than MAX_INT_DIGITS cannot hold a longer integer, so it is scanned
# without the integer hook (the same rules, one Python call fewer per number).
_SCAN_SHORT: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder(  # type: ignore[attr-defined]
    object_pairs_hook=_reject_pairs,
    parse_constant=_reject_constant,
    parse_float=_parse_float,
).scan_once


def _check_depth(text: str) -> None:
    """Refuse nesting deeper than MAX_JSON_DEPTH without recursing.

    The number of opening brackets bounds the depth, so ordinary documents are cleared
    by two counts. Otherwise string literals and everything but brackets are removed,
    and each round of deleting adjacent ``()`` pairs peels exactly one level off the
    deepest nest: a pair left after MAX_JSON_DEPTH rounds means a deeper nest, and more
    than MAX_JSON_DEPTH unclosed openers are refused too, so whatever reaches the decoder
    nests at most twice the limit. Every step is a linear pass in C. Invalid JSON may be
    misjudged here; the decoder refuses it anyway.
    """
    if text.count("[") + text.count("{") <= MAX_JSON_DEPTH:
        return
    brackets = _NOT_BRACKET.sub("", _STRING_LITERAL.sub("", text))
    nest = brackets.translate(_BRACKETS_AS_PARENS)
    for _ in range(MAX_JSON_DEPTH):
        if "()" not in nest:
            break
        nest = nest.replace("()", "")
    if "()" in nest or nest.count("(") > MAX_JSON_DEPTH:
        raise _Reject(f"nests deeper than {MAX_JSON_DEPTH} levels")


def _check_no_lone_surrogate(obj: dict[str, Any]) -> None:
    """Refuse strings holding an unpaired UTF-16 surrogate (RFC 7493 §2.1)."""
    try:
        json.dumps(obj, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise _Reject("holds an unpaired UTF-16 surrogate") from exc


def loads_strict(data: bytes, what: str) -> dict[str, Any]:
    """Decode a JSON object strictly, as a JOSE header or JWT claims set.

    The text must be UTF-8 without a byte order mark. Duplicate member names,
    ``NaN``/``Infinity``/``-Infinity``, floats that overflow to infinity, integers
    longer than ``MAX_INT_DIGITS`` digits, unpaired surrogate escapes, nesting deeper
    than ``MAX_JSON_DEPTH`` levels and a top-level value that is not an object are all
    refused. No input makes it recurse deeply or raise anything else.

    Args:
        data: the raw JSON bytes.
        what: the part being decoded (``"header"``, ``"payload"``), used in messages.

    Returns:
        The decoded object.

    Raises:
        MalformedTokenError: the data is not a strict JSON object.
    """
    if data.startswith(_UTF8_BOM):
        raise MalformedTokenError(f"malformed token: {what} starts with a byte order mark")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedTokenError(f"malformed token: {what} is not valid UTF-8") from exc
    try:
        if text.count("[") + text.count("{") > MAX_JSON_DEPTH:
            _check_depth(text)
        if text[:1] == "{" and text[-1:] == "}":
            # The usual shape: scan it directly (the scanner is the decoder's own, with
            # the same hooks); anything but the one object is invalid JSON.
            scan = _SCAN_SHORT if len(text) <= MAX_INT_DIGITS else _SCAN
            obj, end = scan(text, 0)
            if end != len(text):
                raise ValueError("extra data after the JSON object")
        else:
            obj = _DECODER.decode(text)
        if not isinstance(obj, dict):
            raise _Reject(f"is not a JSON object but {json_kind(obj)}")
        if _SURROGATE_ESCAPE.search(text) is not None:
            _check_no_lone_surrogate(obj)
    except _Reject as exc:
        raise MalformedTokenError(f"malformed token: {what} {exc}") from exc
    except (ValueError, RecursionError, StopIteration) as exc:  # JSONDecodeError: ValueError
        raise MalformedTokenError(f"malformed token: {what} is not valid JSON") from exc
    return obj


def _check_alg(header: dict[str, Any], algorithms: frozenset[str]) -> str:
    if "alg" not in header:
        raise AlgorithmNotAllowedError("token header has no 'alg'", alg=None)
    alg = header["alg"]
    if not isinstance(alg, str):
        raise MalformedTokenError(
            f"malformed token: header 'alg' must be a string, not {json_kind(alg)}"
        )
    if alg.lower() == "none":
        raise AlgorithmNotAllowedError("unsecured tokens (alg 'none') are not accepted", alg=alg)
    if alg.upper().startswith("HS"):
        raise AlgorithmNotAllowedError(f"symmetric algorithm {shown(alg)} is not accepted", alg=alg)
    if alg not in algorithms:
        raise AlgorithmNotAllowedError(f"algorithm {shown(alg)} is not allowed", alg=alg)
    return alg


def _check_crit(header: dict[str, Any]) -> None:
    if "crit" not in header:
        return
    crit = header["crit"]
    if (
        not isinstance(crit, list)
        or not crit
        or not all(isinstance(name, str) for name in crit)
        or len(set(crit)) != len(crit)
    ):
        raise MalformedTokenError(
            "malformed token: header 'crit' must be a non-empty array of unique strings"
        )
    raise MalformedTokenError(
        f"malformed token: unsupported critical header parameters: {listed(crit)}"
    )


def _check_kid(header: dict[str, Any]) -> str | None:
    if "kid" not in header:
        return None
    kid = header["kid"]
    if not isinstance(kid, str):
        raise MalformedTokenError(
            f"malformed token: header 'kid' must be a string, not {json_kind(kid)}"
        )
    if not kid:
        raise MalformedTokenError("malformed token: header 'kid' is empty")
    if len(kid) > MAX_KID_LENGTH:
        raise MalformedTokenError(
            f"malformed token: header 'kid' is longer than {MAX_KID_LENGTH} characters"
        )
    if not kid.isprintable():
        raise MalformedTokenError(
            f"malformed token: header 'kid' {shown(kid)} holds non-printable characters"
        )
    return kid


def _optional_str(header: dict[str, Any], name: str) -> str | None:
    if name not in header:
        return None
    value = header[name]
    if not isinstance(value, str):
        raise MalformedTokenError(
            f"malformed token: header {name!r} must be a string, not {json_kind(value)}"
        )
    return value


def _check_header(
    header: dict[str, Any], algorithms: frozenset[str]
) -> tuple[str, str | None, str | None]:
    """Apply the header rules; return the alg, the kid and the typ."""
    alg = _check_alg(header, algorithms)
    _check_crit(header)
    if "b64" in header:
        raise MalformedTokenError(
            "malformed token: unencoded payloads (header 'b64', RFC 7797) are not accepted"
        )
    typ = _optional_str(header, "typ")
    cty = _optional_str(header, "cty")
    if cty is not None and cty.lower().removeprefix("application/") == "jwt":
        raise MalformedTokenError("malformed token: nested JWTs (cty 'JWT') are not accepted")
    kid = _check_kid(header)
    return alg, kid, typ


def parse_token(
    token: str | bytes,
    *,
    algorithms: frozenset[str],
    max_length: int = MAX_TOKEN_LENGTH,
) -> ParsedToken:
    """Split a compact JWS, decode it strictly and apply the header rules.

    The signature is decoded but not verified; the claims are decoded but not
    validated. See the module docstring for every rule.

    Args:
        token: the compact JWS, as text or ASCII bytes.
        algorithms: the allowed ``alg`` values (``none`` and ``HS*`` are refused even
            when listed).
        max_length: the longest token accepted, checked before any decoding.

    Returns:
        The parsed token.

    Raises:
        MalformedTokenError: the token is not a strict compact JWS, or its header
            breaks a rule.
        AlgorithmNotAllowedError: the header's ``alg`` is absent or not allowed.
    """
    header_b64, payload_b64, signature_b64 = _segments(token, max_length)

    header = loads_strict(_decode(header_b64, "header"), "header")
    alg, kid, typ = _check_header(header, algorithms)
    signature = _decode(signature_b64, "signature")
    payload_json = _decode(payload_b64, "payload")
    claims = loads_strict(payload_json, "payload")
    signing_input = f"{header_b64}.{payload_b64}".encode("ascii")
    return new_tuple(ParsedToken, (header, claims, signing_input, signature, alg, kid, typ))


def _segments(token: object, max_length: int) -> tuple[str, str, str]:
    """The three segments of a compact JWS, after the type, length and shape rules."""
    if isinstance(token, bytes):
        if len(token) > max_length:
            raise MalformedTokenError(f"malformed token: longer than {max_length} bytes")
        try:
            text = token.decode("ascii")
        except UnicodeDecodeError as exc:
            raise MalformedTokenError("malformed token: not ASCII") from exc
    elif isinstance(token, str):
        if len(token) > max_length:
            raise MalformedTokenError(f"malformed token: longer than {max_length} characters")
        text = token
    else:
        raise MalformedTokenError(
            f"malformed token: expected str or bytes, not {type(token).__name__}"
        )
    if not text:
        raise MalformedTokenError("malformed token: empty")
    if text.lstrip().startswith("{"):
        raise MalformedTokenError(
            "malformed token: the JWS JSON serialization is not accepted, only the compact form"
        )
    parts = text.split(".", 3)  # at most four parts, whatever the input
    if len(parts) != 3:
        dots = text.count(".")
        if dots == 4:
            raise MalformedTokenError("malformed token: encrypted (JWE) tokens are not accepted")
        raise MalformedTokenError(
            f"malformed token: expected 3 dot-separated segments, found {dots + 1}"
        )
    return parts[0], parts[1], parts[2]


def parse_token_known_header(
    token: str | bytes,
    known: ParsedToken,
    *,
    algorithms: frozenset[str],
    max_length: int = MAX_TOKEN_LENGTH,
) -> ParsedToken:
    """:func:`parse_token` for a token whose header segment ``known`` was parsed from.

    A caller that keeps parsed tokens by their header segment (DPoP proofs: a client
    sends the same header with every proof) skips decoding and judging that header
    again: the same segment gives the same header, so the rules hold. Everything else
    is parsed as :func:`parse_token` does. A token whose header segment is not
    ``known``'s is parsed in full.

    Raises:
        MalformedTokenError, AlgorithmNotAllowedError: as :func:`parse_token`.
    """
    header_b64, payload_b64, signature_b64 = _segments(token, max_length)
    known_input = known.signing_input
    cut = len(header_b64)
    if known_input[cut : cut + 1] != b"." or known_input[:cut] != header_b64.encode("ascii"):
        return parse_token(token, algorithms=algorithms, max_length=max_length)
    signature = _decode(signature_b64, "signature")
    claims = loads_strict(_decode(payload_b64, "payload"), "payload")
    signing_input = f"{header_b64}.{payload_b64}".encode("ascii")
    return new_tuple(
        ParsedToken,
        (known.header, claims, signing_input, signature, known.alg, known.kid, known.typ),
    )


def header_only(parsed: ParsedToken, segment: str) -> ParsedToken:
    """What :func:`parse_token_known_header` needs of a token parsed before: its header
    and its header segment, without its claims and signature (so that what a memo keeps
    is small)."""
    return new_tuple(
        ParsedToken,
        (
            parsed.header,
            {},
            segment.encode("ascii") + b".",
            b"",
            parsed.alg,
            parsed.kid,
            parsed.typ,
        ),
    )


class HeaderMemo:
    """:func:`parse_token` that remembers the headers it judged, by their exact text.

    The tokens of one issuer carry a handful of distinct headers (one per signing key
    and type), and a DPoP client sends the same proof header with every proof. A token
    whose header segment was seen before is parsed by :func:`parse_token_known_header`:
    the same text decodes to the same header, so the same rules hold, and only the
    payload and the signature are decoded. The memo is a plain dict (safe across
    threads), bounded twice: at most :data:`HEADER_MEMO_SIZE` segments of at most
    :data:`MAX_MEMO_HEADER_CHARS` characters; when full it starts over. It keeps the
    header alone, not the token it came with.

    Args:
        algorithms: the allowed ``alg`` values, as for :func:`parse_token`.
        max_length: the longest token accepted, as for :func:`parse_token`.
    """

    __slots__ = ("_algorithms", "_known", "_max_length")

    def __init__(self, algorithms: frozenset[str], max_length: int = MAX_TOKEN_LENGTH) -> None:
        self._algorithms = algorithms
        self._max_length = max_length
        self._known: dict[str, ParsedToken] = {}

    def __len__(self) -> int:
        """How many header segments are kept."""
        return len(self._known)

    def parse(self, token: str | bytes) -> ParsedToken:
        """Parse ``token`` as :func:`parse_token` does.

        Raises:
            MalformedTokenError, AlgorithmNotAllowedError: as :func:`parse_token`.
        """
        if type(token) is str and len(token) <= self._max_length:
            cut = token.find(".", 0, MAX_MEMO_HEADER_CHARS + 1)
            if cut > 0:
                segment = token[:cut]
                known = self._known.get(segment)
                if known is not None:
                    return parse_token_known_header(
                        token, known, algorithms=self._algorithms, max_length=self._max_length
                    )
                parsed = parse_token(
                    token, algorithms=self._algorithms, max_length=self._max_length
                )
                keep(self._known, segment, header_only(parsed, segment), HEADER_MEMO_SIZE)
                return parsed
        return parse_token(token, algorithms=self._algorithms, max_length=self._max_length)
