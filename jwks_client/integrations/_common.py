"""Framework-free pieces of the web integrations: bearer parsing, scopes, RFC 6750 answers.

Rules (RFC 6750, RFC 7235, RFC 9110):

- The credentials are ``Authorization: Bearer <b64token>``: the scheme is matched
  case-insensitively, then exactly one space, then one ``b64token``
  (``1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="``). Whitespace around
  the whole field value is not part of it (RFC 9110 §5.5) and is ignored.
- No ``Authorization`` field, an empty one, or another scheme (``Basic ...``) means "no
  bearer credentials": 401 with a challenge that carries no ``error`` (RFC 6750 §3.1).
- ``Bearer`` with a missing, repeated or ill-formed token is ``invalid_request``: 400.
- A token the verifier rejects is ``invalid_token``: 401. A token without a required
  scope is ``insufficient_scope``: 403, naming the scopes needed.
- Keys that cannot be fetched are the server's trouble, not the client's: 503 with
  ``Retry-After`` and no challenge.

An answer tells the client what was wrong with what it sent, and nothing about the
server's side: the library's messages are written for logs and may name the JWKS URL, the
issuer or the last fetch failure, so ``error_description`` is the message only for the
rejections whose messages speak of the token alone (malformed, algorithm, signature,
type, time and claim-shape checks), with any URL in it replaced; an unknown key, a wrong
issuer or audience, and any other rejection get a fixed text per class. It is sanitised
to the characters RFC 6750 §3 allows (no ``"``, no ``\\``, no control or non-ASCII
characters) and capped in length, so it can never break the header.

The answers to the verifier's rejections and to unavailable keys are the library's own
(:func:`jwks_client.challenge_for`, with :class:`jwks_client.Challenge`); this module
adds the answers around them: missing or malformed bearer credentials and scopes.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

import jwks_client
from jwks_client import (
    Challenge,
    ConfigurationError,
    InvalidTokenError,
    JWKSClientError,
    KeySetUnavailableError,
    Verifier,
)

__all__ = [
    "DEFAULT_REALM",
    "MAX_DESCRIPTION_LENGTH",
    "RETRY_AFTER_SECONDS",
    "BearerError",
    "Challenge",
    "InsufficientScopeError",
    "InvalidRequestError",
    "MissingTokenError",
    "bearer_token",
    "challenge_for",
    "check_realm",
    "check_scope_names",
    "missing_extra",
    "missing_scopes",
    "public_description",
    "require_scopes",
    "sanitize_description",
    "settings_options",
    "token_scopes",
    "www_authenticate",
]

#: The realm named in challenges unless configured otherwise.
DEFAULT_REALM: Final = "api"

#: ``Retry-After`` of a 503. The verifier retries a failing issuer after 1 s, doubling up
#: to 5 min, and serves the last good keys meanwhile; five seconds lets a client come back
#: after the first retries without hammering the API.
RETRY_AFTER_SECONDS: Final = 5

#: ``error_description`` is cut to this many characters.
MAX_DESCRIPTION_LENGTH: Final = 200

_B64TOKEN: Final = re.compile(r"[A-Za-z0-9\-._~+/]+=*", re.ASCII)
# RFC 6750 §3: error_description and (by extension here) realm characters.
_NOT_QUOTABLE: Final = re.compile(r"[^\x20\x21\x23-\x5b\x5d-\x7e]")
# RFC 6749 §3.3 scope-token: 1*( %x21 / %x23-5B / %x5D-7E )
_SCOPE_TOKEN: Final = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")

_MISSING_DESCRIPTION: Final = "a bearer token is required"

# A URL in a message shown to a client (scheme://...), replaced as a precaution.
_URL: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"]*")


class BearerError(JWKSClientError):
    """The request's bearer credentials are missing, malformed or lack a scope.

    The token itself was not judged yet (or was valid): these are the answers around the
    verifier's. :func:`challenge_for` turns one into a response.
    """


class MissingTokenError(BearerError):
    """The request carries no bearer credentials (no ``Authorization``, or another scheme)."""


class InvalidRequestError(BearerError):
    """The ``Authorization`` field names the Bearer scheme but is malformed (400)."""


class InsufficientScopeError(BearerError):
    """The token is valid but lacks scopes the resource requires (403).

    Attributes:
        required: every scope the resource requires, in the configured order.
        missing: the required scopes the token does not grant.
    """

    def __init__(
        self, message: str, *, required: tuple[str, ...], missing: tuple[str, ...]
    ) -> None:
        super().__init__(message)
        self.required = required
        self.missing = missing


def _unquotable_removed(text: str) -> str:
    return text.replace('"', "").replace("\\", "")


def sanitize_description(text: str, limit: int = MAX_DESCRIPTION_LENGTH) -> str:
    """Make ``text`` safe for a quoted ``error_description``.

    Characters RFC 6750 §3 does not allow (``"``, ``\\``, control and non-ASCII
    characters) are removed, runs of spaces collapse to one, and the result is cut to
    ``limit`` characters (ending in ``...`` when cut).
    """
    cleaned = " ".join(_NOT_QUOTABLE.sub(" ", _unquotable_removed(text)).split())
    if len(cleaned) > limit:
        cleaned = cleaned[: max(0, limit - 3)].rstrip() + "..."
    return cleaned


def missing_extra(module: str, framework: str, extra: str) -> ImportError:
    """Return the ImportError of an integration whose framework is not installed.

    The message names the extra that installs it, e.g.
    ``pip install 'jwks-client[fastapi]'``; raise it ``from`` the original error.

    Args:
        module: the integration's module name.
        framework: the framework's name as users know it.
        extra: the package extra that installs it.
    """
    return ImportError(
        f"{module} needs {framework}, which is not installed (or too old): "
        f"pip install 'jwks-client[{extra}]'",
        name=module,
    )


def check_realm(realm: str | None) -> str | None:
    """Return ``realm`` if it can be sent as a quoted string.

    Raises:
        ConfigurationError: the realm is empty or holds ``"``, ``\\``, control or
            non-ASCII characters.
    """
    if realm is None:
        return None
    if not isinstance(realm, str) or not realm or _NOT_QUOTABLE.search(realm):
        raise ConfigurationError(
            f"realm must be a non-empty printable ASCII str without quotes or backslashes, "
            f"got {realm!r}"
        )
    return realm


def check_scope_names(scopes: Iterable[str]) -> tuple[str, ...]:
    """Return the required scopes as a tuple without duplicates, validating each.

    Raises:
        ConfigurationError: ``scopes`` is a bare str, or a scope is not an RFC 6749
            ``scope-token`` (empty, spaces, quotes, backslashes, non-ASCII).
    """
    if isinstance(scopes, str):
        raise ConfigurationError(f"scopes must be a collection of names, not a str: {scopes!r}")
    names = tuple(dict.fromkeys(scopes))
    for name in names:
        if not isinstance(name, str) or not _SCOPE_TOKEN.fullmatch(name):
            raise ConfigurationError(f"invalid scope name {name!r}")
    return names


def www_authenticate(
    realm: str | None,
    *,
    error: str | None = None,
    description: str | None = None,
    scope: Iterable[str] = (),
) -> str:
    """Build a ``WWW-Authenticate: Bearer`` challenge (RFC 6750 §3).

    Args:
        realm: the protection space, or None to leave it out.
        error: an RFC 6750 error code, or None.
        description: human-readable text; sanitised here.
        scope: scopes to name in a ``scope`` attribute (left out when empty).
    """
    params: list[str] = []
    if realm is not None:
        params.append(f'realm="{_NOT_QUOTABLE.sub("", realm)}"')
    if error is not None:
        params.append(f'error="{error}"')
    if description is not None:
        params.append(f'error_description="{sanitize_description(description)}"')
    scope_value = " ".join(scope)
    if scope_value:
        params.append(f'scope="{scope_value}"')
    return "Bearer " + ", ".join(params) if params else "Bearer"


def bearer_token(authorization: str | None) -> str:
    """Return the token of an ``Authorization: Bearer`` field value, strictly.

    Args:
        authorization: the field value, or None when the request has none.

    Raises:
        MissingTokenError: no value, an empty one, or another scheme.
        InvalidRequestError: the Bearer scheme with a missing, repeated or ill-formed
            token (also a lone space or a tab between scheme and token).
    """
    if authorization is None:
        raise MissingTokenError("the request has no Authorization header")
    value = authorization.strip(" \t")
    scheme, sep, credentials = value.partition(" ")
    if scheme.lower() != "bearer":
        if scheme[:7].lower() == "bearer\t":
            raise InvalidRequestError("the Bearer scheme must be followed by one space")
        raise MissingTokenError("the Authorization header carries no bearer credentials")
    if not sep or not credentials:
        raise InvalidRequestError("the Authorization header has no bearer token")
    if not _B64TOKEN.fullmatch(credentials):
        raise InvalidRequestError("the bearer token must be one b64token after exactly one space")
    return credentials


def token_scopes(claims: Mapping[str, Any]) -> frozenset[str]:
    """Return the scopes a token grants.

    ``scope`` (RFC 8693/9068: a space-separated string) is read first; without it,
    ``scp`` (Entra ID: a space-separated string; Okta: a list of strings). A list of
    strings is accepted in either claim; any other type grants nothing. A string is split
    on the ASCII space alone (RFC 6749 §3.3), never on other whitespace: one issued scope
    ``"tx:42\u00a0admin"`` is that scope, and grants no ``admin``.
    """
    value = claims.get("scope")
    if value is None:
        value = claims.get("scp")
    if isinstance(value, str):
        return frozenset(scope for scope in value.split(" ") if scope)
    if isinstance(value, (list, tuple)):
        return frozenset(item for item in value if isinstance(item, str) and item)
    return frozenset()


def missing_scopes(claims: Mapping[str, Any], required: Iterable[str]) -> tuple[str, ...]:
    """Return the ``required`` scopes that ``claims`` do not grant, in order."""
    granted = token_scopes(claims)
    return tuple(scope for scope in required if scope not in granted)


def require_scopes(claims: Mapping[str, Any], required: tuple[str, ...]) -> None:
    """Check that the token grants every scope in ``required``.

    Raises:
        InsufficientScopeError: one or more scopes are missing.
    """
    missing = missing_scopes(claims, required)
    if missing:
        raise InsufficientScopeError(
            f"the token lacks the scope {' '.join(missing)}", required=required, missing=missing
        )


def public_description(exc: InvalidTokenError | BearerError) -> str:
    """Return what an answer may say about a rejection, sanitised.

    A :class:`BearerError` and the rejections whose messages speak only of the token
    (malformed, algorithm, signature, type, expiry, claim shape) keep their message, with
    any URL replaced; every other rejection (an unknown key, a wrong issuer or audience,
    a subclass) gets a fixed text for its class, so the JWKS URL, the issuer and the last
    fetch failure stay in the server's logs. A rejection's message that sanitises to
    nothing is replaced by the fixed text; a :class:`BearerError`'s may come back empty.
    """
    if isinstance(exc, BearerError):
        return sanitize_description(_URL.sub("a URL", str(exc)))
    # The library's own answer to a rejection (jwks_client.challenge_for) says the same.
    return jwks_client.challenge_for(exc).description


def challenge_for(
    exc: InvalidTokenError | KeySetUnavailableError | BearerError, *, realm: str | None
) -> Challenge:
    """Map an error to its HTTP answer.

    ``MissingTokenError`` → 401 without ``error``; ``InvalidRequestError`` → 400
    ``invalid_request``; ``InvalidTokenError`` → 401 ``invalid_token``;
    ``InsufficientScopeError`` → 403 ``insufficient_scope`` with ``scope``;
    ``KeySetUnavailableError`` → 503 with ``Retry-After`` and a fixed description (its
    message, which names URLs, is not sent). The description of a 400/401/403 is
    :func:`public_description`: nothing of the server's side (JWKS URL, issuer, the last
    fetch failure) appears in the body or the header.

    Args:
        exc: the error.
        realm: the realm of the challenge (None: no realm attribute).
    """
    if not isinstance(exc, BearerError):
        # A rejection by the verifier, or keys unavailable: the library's own answer.
        return jwks_client.challenge_for(exc, realm=realm)
    if isinstance(exc, MissingTokenError):
        header = www_authenticate(realm)
        return Challenge(401, None, _MISSING_DESCRIPTION, (("WWW-Authenticate", header),))
    scope: tuple[str, ...] = ()
    if isinstance(exc, InvalidRequestError):
        status, error = 400, "invalid_request"
    else:
        assert isinstance(exc, InsufficientScopeError)
        status, error, scope = 403, "insufficient_scope", exc.required
    description = public_description(exc) or error
    header = www_authenticate(realm, error=error, description=description, scope=scope)
    return Challenge(status, error, description, (("WWW-Authenticate", header),))


_VERIFIER_OPTIONS: Final = frozenset(
    name for name in inspect.signature(Verifier).parameters if name != "self"
)


def settings_options(
    settings: Mapping[str, Any], *, source: str
) -> tuple[dict[str, Any], str | None]:
    """Turn a ``{"ISSUER": ..., "AUDIENCE": ..., "REALM": ...}`` mapping into options.

    Keys are the verifier's option names in upper case, plus ``REALM``.

    Args:
        settings: the mapping.
        source: its name, for error messages (e.g. ``"settings.JWKS_CLIENT"``).

    Returns:
        The verifier's keyword options (``issuer`` included) and the realm.

    Raises:
        ConfigurationError: not a mapping, an unknown key, or ``ISSUER``/``AUDIENCE``
            missing (``AUDIENCE: None`` disables the audience check explicitly).
    """
    if not isinstance(settings, Mapping):
        raise ConfigurationError(f"{source} must be a dict, got {type(settings).__name__}")
    options: dict[str, Any] = {}
    realm: str | None = DEFAULT_REALM
    for key, value in settings.items():
        name = key.lower() if isinstance(key, str) else key
        if name == "realm":
            realm = check_realm(value)
        elif isinstance(name, str) and key == key.upper() and name in _VERIFIER_OPTIONS:
            options[name] = value
        else:
            known = ", ".join(sorted(n.upper() for n in (*_VERIFIER_OPTIONS, "realm")))
            raise ConfigurationError(f"unknown key {key!r} in {source}; known: {known}")
    for required in ("issuer", "audience"):
        if required not in options:
            raise ConfigurationError(
                f"{source} must set {required.upper()}"
                + (" (None disables the audience check)" if required == "audience" else "")
            )
    return options, realm
