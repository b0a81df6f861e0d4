"""The test issuer's optional token endpoint: mint a token over HTTP, for any language.

``GET`` or ``POST`` ``<issuer>/token`` answers like an OAuth token endpoint (RFC 6749
§5.1): ``{"access_token": ..., "token_type": "Bearer", "expires_in": ttl}`` with
``Cache-Control: no-store``. Query parameters shape the token: ``sub``, ``aud``
(repeat it for several audiences), ``scope``, ``ttl`` (seconds until ``exp``, an integer,
negative for an expired token) and ``alg``. A ``POST`` body, when present, is a JSON
object of claims merged over the defaults (a claim given both ways takes the body's
value). Anything else is answered 400 with an RFC 6749 §5.2 error, so a typo in a
parameter name fails loudly instead of minting a token without it.

It authenticates nobody: it exists only on :class:`LocalIssuer`, a test double bound to
a loopback address, and only when enabled.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import parse_qsl

__all__ = [
    "DEFAULT_TTL",
    "MAX_BODY",
    "BadTokenRequest",
    "TokenRequest",
    "parse_token_request",
    "token_response",
]

#: Seconds from ``iat`` to ``exp`` when ``ttl`` is not given.
DEFAULT_TTL: Final = 300
#: The largest request body read.
MAX_BODY: Final = 64 * 1024
_MAX_TTL: Final = 10 * 365 * 86400
_PARAMETERS: Final = ("sub", "aud", "scope", "ttl", "alg")


class BadTokenRequest(ValueError):
    """A token request that cannot be served as asked; the message says why."""


@dataclass(frozen=True, slots=True)
class TokenRequest:
    """What a token request asks for.

    Attributes:
        claims: claims overriding or extending the issuer's defaults.
        ttl: seconds from now to ``exp``.
        audience: the ``aud`` claim (None: the issuer's default).
        alg: the signing algorithm (None: the default signer's).
    """

    claims: dict[str, Any] = field(default_factory=dict)
    ttl: int = DEFAULT_TTL
    audience: str | list[str] | None = None
    alg: str | None = None


def parse_token_request(query: str, body: bytes) -> TokenRequest:
    """Read a token request from its query string and (possibly empty) body.

    Raises:
        BadTokenRequest: an unknown or repeated parameter, a malformed ``ttl``, or a body
            that is not a JSON object.
    """
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise BadTokenRequest(f"malformed query string {query!r}") from None
    values: dict[str, list[str]] = {}
    for name, value in pairs:
        if name not in _PARAMETERS:
            raise BadTokenRequest(f"unknown parameter {name!r}; accepted: {', '.join(_PARAMETERS)}")
        values.setdefault(name, []).append(value)
    for name, given in values.items():
        if name != "aud" and len(given) > 1:
            raise BadTokenRequest(f"parameter {name!r} given {len(given)} times")
    claims: dict[str, Any] = {name: values[name][0] for name in ("sub", "scope") if name in values}
    claims.update(_body_claims(body))
    audiences = values.get("aud")
    audience: str | list[str] | None = None
    if audiences is not None:
        audience = audiences[0] if len(audiences) == 1 else audiences
    ttl = _ttl(values["ttl"][0]) if "ttl" in values else DEFAULT_TTL
    alg = values["alg"][0] if "alg" in values else None
    return TokenRequest(claims=claims, ttl=ttl, audience=audience, alg=alg)


def token_response(token: str, ttl: int) -> dict[str, Any]:
    """The RFC 6749 §5.1 response carrying ``token``."""
    return {"access_token": token, "token_type": "Bearer", "expires_in": ttl}


def _ttl(text: str) -> int:
    stripped = text.removeprefix("-")
    if not stripped.isdigit() or not stripped.isascii() or len(stripped) > 12:
        raise BadTokenRequest(f"ttl must be an integer number of seconds, got {text!r}")
    ttl = int(text)
    if abs(ttl) > _MAX_TTL:
        raise BadTokenRequest(f"ttl must be within ±{_MAX_TTL} seconds, got {text!r}")
    return ttl


def _body_claims(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        claims = json.loads(body)
    except (ValueError, RecursionError):
        raise BadTokenRequest("the body must be a JSON object of claims") from None
    if not isinstance(claims, dict):
        raise BadTokenRequest("the body must be a JSON object of claims")
    return claims
