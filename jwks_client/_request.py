"""A request's credentials: the ``Authorization`` and ``DPoP`` fields (pure).

Rules (RFC 9110 §5.3 and §11.6.2, RFC 6750 §2.1, RFC 9449 §4.3 and §7.1):

* ``headers`` is a mapping (a dict, or a framework's multi-dict whose ``items()`` or
  ``multi_items()`` yields every field) or an iterable of ``(name, value)`` pairs (WSGI
  and werkzeug headers, ASGI's raw list). Names and values are ``str`` or ``bytes``
  (decoded as Latin-1). Names are matched case-insensitively; other fields are ignored.
* ``Authorization``: whitespace around the value is ignored; then a scheme, matched
  case-insensitively, exactly one space, and one ``token68``
  (``1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="``). No field, an empty
  one, or a scheme other than ``Bearer`` and ``DPoP`` is "no credentials"
  (:class:`MissingTokenError`). ``Bearer`` or ``DPoP`` without a token, with two, with a
  tab or two spaces, or with characters outside ``token68`` is :class:`InvalidRequestError`,
  and so is a second ``Authorization`` field (RFC 9449 §7.2, "multiple methods").
* ``DPoP``: at most one field, holding one value: not empty, without a comma or
  whitespace (two fields folded into one). An empty, repeated or folded field is an
  :class:`InvalidRequestError`; what the value holds is judged as a proof later
  (:mod:`._dpop`), by the strict token parser.

Errors raised once the scheme is known carry it (``error.scheme``), so the answer's
challenge names the right scheme.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final, NamedTuple

from ._challenge import BEARER, DPOP
from ._errors import InvalidRequestError, MissingTokenError
from ._types import new_tuple

__all__ = ["Credentials", "Headers", "read_credentials"]

#: What ``verify_request`` accepts as headers.
Headers = (
    Mapping[str, str]
    | Mapping[bytes, bytes]
    | Iterable[tuple[str, str]]
    | Iterable[tuple[bytes, bytes]]
)

_TOKEN68_CHARS: Final = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/="
_SCHEMES: Final = {"bearer": BEARER, "dpop": DPOP}
_EXACT_SCHEMES: Final = {BEARER: BEARER, DPOP: DPOP}


def _is_token68(value: str) -> bool:
    """``1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="``, in C-speed steps."""
    if not value.isascii() or value.encode("ascii").translate(None, _TOKEN68_CHARS):
        return False
    body = value.rstrip("=")
    return bool(body) and "=" not in body


def _is_single_value(value: str) -> bool:
    """Not empty, and no comma or whitespace: two fields folded into one have them.

    Anything else a proof must not hold is refused by the proof parser, which names it.
    """
    return bool(value) and "," not in value and " " not in value and "\t" not in value


class Credentials(NamedTuple):
    """What a request presents: the scheme, the access token and the DPoP proof.

    Attributes:
        scheme: ``"Bearer"`` or ``"DPoP"``.
        token: the access token (a ``token68``).
        proof: the ``DPoP`` field's value, None when the request has none.
    """

    scheme: str
    token: str
    proof: str | None


def _text(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("latin-1")
    raise TypeError(f"header names and values must be str or bytes, not {type(value).__name__}")


def _fields(headers: object) -> Iterable[Any]:
    multi_items = getattr(headers, "multi_items", None)
    if callable(multi_items):  # httpx.Headers: items() folds repeated fields
        fields: Iterable[Any] = multi_items()
    elif isinstance(headers, Mapping):
        fields = headers.items()
    elif isinstance(headers, Iterable) and not isinstance(headers, (str, bytes, bytearray)):
        fields = headers
    else:
        raise TypeError(
            "headers must be a mapping or an iterable of (name, value) pairs, "
            f"not {type(headers).__name__}"
        )
    return fields


def _find(headers: Any) -> tuple[list[str], list[str]]:
    """The values of every Authorization and DPoP field, in order."""
    authorization: list[str] = []
    dpop: list[str] = []
    # A plain dict's items are pairs already: the usual case skips the shape check.
    pairs = type(headers) is dict
    for field in headers.items() if pairs else _fields(headers):
        if not pairs and (not isinstance(field, (tuple, list)) or len(field) != 2):
            raise TypeError("headers must be a mapping or an iterable of (name, value) pairs")
        name, value = field
        if type(name) is not str:
            name = _text(name)  # bytes, or a TypeError
        size = len(name)
        if size == 13 or size == 4:  # len("authorization"), len("dpop"): skip the rest
            lowered = name.lower()
            if lowered == "authorization":
                authorization.append(value if type(value) is str else _text(value))
            elif lowered == "dpop":
                dpop.append(value if type(value) is str else _text(value))
    return authorization, dpop


def _scheme_and_token(value: str) -> tuple[str, str]:
    value = value.strip(" \t")
    if not value:
        raise MissingTokenError("the request's Authorization header is empty")
    name, space, token = value.partition(" ")
    scheme = _SCHEMES.get(name.lower())
    if scheme is None:
        head = name.partition("\t")[0].lower()
        if head in _SCHEMES:
            error = InvalidRequestError(
                f"the {_SCHEMES[head]} scheme must be followed by exactly one space"
            )
            error.scheme = _SCHEMES[head]
            raise error
        raise MissingTokenError("the request's Authorization header names another scheme")
    if not space or not token:
        error = InvalidRequestError(f"the Authorization header's {scheme} scheme has no token")
        error.scheme = scheme
        raise error
    if not _is_token68(token):
        error = InvalidRequestError(
            f"the {scheme} token must be one token68 value after exactly one space"
        )
        error.scheme = scheme
        raise error
    return scheme, token


def read_credentials(headers: object) -> Credentials:
    """Read the access token and the DPoP proof of a request's header fields.

    Args:
        headers: a mapping or an iterable of ``(name, value)`` pairs (see the module
            docstring).

    Returns:
        The credentials; the proof is not judged yet.

    Raises:
        MissingTokenError: no ``Authorization`` field, an empty one, or another scheme.
        InvalidRequestError: a malformed or repeated ``Authorization`` field, or an
            empty or repeated ``DPoP`` field.
        TypeError: ``headers`` is not a mapping or an iterable of pairs of str or bytes.
    """
    authorization, dpop = _find(headers)
    if len(authorization) != 1:
        if authorization:
            raise InvalidRequestError("the request has more than one Authorization header")
        raise MissingTokenError("the request has no Authorization header")
    value = authorization[0]
    # The usual form, "DPoP <token>" or "Bearer <token>", read without a call; anything
    # else (other casing, whitespace around it) by the full rules.
    head, _, token = value.partition(" ")
    scheme = _EXACT_SCHEMES.get(head)
    if scheme is None or not _is_token68(token):
        scheme, token = _scheme_and_token(value)
    proof: str | None = None
    if dpop:
        problem = None
        if len(dpop) > 1:
            problem = "the request has more than one DPoP header"
        else:
            proof = dpop[0].strip(" \t")
            if not _is_single_value(proof):
                problem = (
                    "the request's DPoP header is empty"
                    if not proof
                    else "the request's DPoP header must hold one proof"
                )
        if problem is not None:
            error = InvalidRequestError(problem)
            error.scheme = scheme
            raise error
    return new_tuple(Credentials, (scheme, token, proof))
