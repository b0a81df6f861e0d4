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

Requests (RFC 9449, RFC 8705, RFC 9440): the integrations hand each request to
``verify_request`` with its method, the URL the client addressed and its client
certificate. The URL is the framework's report of it (honouring its proxy settings), or,
behind a proxy that rewrites paths, a configured public ``base_url`` followed by the
request's path below the app's root (:func:`addressed_url`). The certificate comes from
the TLS layer (ASGI's ``tls`` extension, WSGI's ``SSL_CLIENT_CERT``), or, only when the
app is configured to trust the proxy in front of it, from the ``Client-Cert`` header
(:func:`header_client_cert`), never from both. Challenges offer what the verifier
accepts (``Bearer`` and/or ``DPoP`` with its ``algs``), and an answer to a DPoP-bound
token carries the next ``DPoP-Nonce`` when nonces are on (:func:`success_headers`).
"""

from __future__ import annotations

import base64
import binascii
import inspect
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import jwks_client
from jwks_client import (
    Challenge,
    ConfigurationError,
    InvalidTokenError,
    JWKSClientError,
    KeySetUnavailableError,
    Verifier,
)

if TYPE_CHECKING:
    from jwks_client import AsyncVerifier, MultiIssuerVerifier

    AnyVerifier = Verifier | AsyncVerifier | MultiIssuerVerifier

__all__ = [
    "CLIENT_CERT_HEADER",
    "DEFAULT_REALM",
    "DPOP_NONCE_HEADER",
    "MAX_DESCRIPTION_LENGTH",
    "RETRY_AFTER_SECONDS",
    "BearerError",
    "Challenge",
    "InsufficientScopeError",
    "IntegrationSettings",
    "InvalidRequestError",
    "MissingTokenError",
    "addressed_url",
    "asgi_client_cert",
    "bearer_token",
    "challenge_for",
    "check_base_url",
    "check_realm",
    "check_scope_names",
    "check_trust",
    "header_client_cert",
    "integration_settings",
    "is_dpop_bound",
    "missing_challenge",
    "missing_extra",
    "missing_scopes",
    "offer_of",
    "public_description",
    "require_scopes",
    "sanitize_description",
    "settings_options",
    "success_headers",
    "token_scopes",
    "www_authenticate",
]

#: The header in which a trusted proxy passes the client's certificate (RFC 9440).
CLIENT_CERT_HEADER: Final = "Client-Cert"
#: The header that gives a DPoP client the server's nonce (RFC 9449 §8).
DPOP_NONCE_HEADER: Final = "DPoP-Nonce"

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
    """The request carries no bearer credentials (no ``Authorization``, or another scheme).

    Raised by :func:`bearer_token`, for code that reads the Bearer scheme alone; the
    integrations read requests with ``verify_request``, which raises the library's
    :class:`jwks_client.MissingTokenError`.
    """


class InvalidRequestError(BearerError):
    """The ``Authorization`` field names the Bearer scheme but is malformed (400).

    Raised by :func:`bearer_token`; ``verify_request`` raises the library's
    :class:`jwks_client.InvalidRequestError`.
    """


class InsufficientScopeError(BearerError):
    """The token is valid but lacks scopes the resource requires (403).

    Attributes:
        required: every scope the resource requires, in the configured order.
        missing: the required scopes the token does not grant.
    """

    #: As on the verifier's rejections: the scheme the request used (None: unknown),
    #: whether Bearer is accepted, and the DPoP algorithms offered (none: DPoP is off).
    scheme: str | None = None
    bearer_accepted: bool = True
    dpop_algorithms: tuple[str, ...] = ()

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
    scheme: str = "Bearer",
    algs: Iterable[str] = (),
) -> str:
    """Build a ``WWW-Authenticate`` challenge: ``Bearer`` (RFC 6750 §3) or ``DPoP``.

    Args:
        realm: the protection space, or None to leave it out.
        error: an RFC 6750 error code, or None.
        description: human-readable text; sanitised here.
        scope: scopes to name in a ``scope`` attribute (left out when empty).
        scheme: the challenge's scheme, ``"Bearer"`` or ``"DPoP"``.
        algs: the proof algorithms of a ``DPoP`` challenge (RFC 9449 §7.1; left out
            when empty).
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
    algs_value = " ".join(algs)
    if algs_value:
        params.append(f'algs="{algs_value}"')
    return f"{scheme} " + ", ".join(params) if params else scheme


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


def require_scopes(
    claims: Mapping[str, Any], required: tuple[str, ...], *, verifier: AnyVerifier | None = None
) -> None:
    """Check that the token grants every scope in ``required``.

    Args:
        claims: the verified claims.
        required: the scopes the resource requires.
        verifier: the verifier that accepted the token: the error then records what it
            offers and the scheme the token came with, so the 403 challenge names both
            schemes like the verifier's own rejections (None: Bearer only).

    Raises:
        InsufficientScopeError: one or more scopes are missing.
    """
    missing = missing_scopes(claims, required)
    if missing:
        error = InsufficientScopeError(
            f"the token lacks the scope {' '.join(missing)}", required=required, missing=missing
        )
        if verifier is not None:
            error.bearer_accepted, error.dpop_algorithms = offer_of(verifier)
            error.scheme = "DPoP" if is_dpop_bound(claims) else "Bearer"
        raise error


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
    if isinstance(exc, InvalidRequestError):
        description = public_description(exc) or "invalid_request"
        header = www_authenticate(realm, error="invalid_request", description=description)
        return Challenge(400, "invalid_request", description, (("WWW-Authenticate", header),))
    assert isinstance(exc, InsufficientScopeError)
    error = "insufficient_scope"
    description = public_description(exc) or error
    offered = [
        scheme
        for scheme, on in (("Bearer", exc.bearer_accepted), ("DPoP", bool(exc.dpop_algorithms)))
        if on
    ] or ["Bearer"]
    # The error goes to the scheme the token came with; to every challenge when unknown.
    carriers = offered if exc.scheme not in offered else [exc.scheme]
    challenges = [
        www_authenticate(
            realm,
            error=error if scheme in carriers else None,
            description=description if scheme in carriers else None,
            scope=exc.required if scheme in carriers else (),
            scheme=scheme,
            algs=exc.dpop_algorithms if scheme == "DPoP" else (),
        )
        for scheme in offered
    ]
    header = ", ".join(challenges)
    return Challenge(403, error, description, (("WWW-Authenticate", header),))


def offer_of(verifier: AnyVerifier) -> tuple[bool, tuple[str, ...]]:
    """What a verifier accepts: whether the Bearer scheme, and the DPoP proof algorithms
    (empty when DPoP is off)."""
    dpop = verifier.dpop
    if dpop is None:
        return True, ()
    return not dpop.required, dpop.advertised_algorithms


def missing_challenge(verifier: AnyVerifier, *, realm: str | None) -> Challenge:
    """The answer to a request without credentials: 401 with the challenges of every
    scheme ``verifier`` accepts and no ``error`` (what ``verify_request`` would answer)."""
    error = jwks_client.MissingTokenError("the request has no Authorization header")
    error.bearer_accepted, error.dpop_algorithms = offer_of(verifier)
    return jwks_client.challenge_for(error, realm=realm)


def is_dpop_bound(claims: Mapping[str, Any]) -> bool:
    """Whether verified claims are a DPoP-bound token's (``cnf.jkt``): such a token is only
    ever accepted with the DPoP scheme and a proof."""
    cnf = claims.get("cnf")
    return isinstance(cnf, dict) and "jkt" in cnf


def success_headers(
    verifier: AnyVerifier, claims: Mapping[str, Any]
) -> tuple[tuple[str, str], ...]:
    """The headers of a successful answer: ``DPoP-Nonce`` with the next nonce for a
    DPoP-bound token when the verifier requires nonces (RFC 9449 §8.2), else none."""
    if not is_dpop_bound(claims):
        return ()
    nonce = verifier.dpop_nonce()
    return () if nonce is None else ((DPOP_NONCE_HEADER, nonce),)


# --- the request's URL and client certificate --------------------------------------------

# An absolute http(s) URL without query or fragment: what a base URL may be.
_BASE_URL: Final = re.compile(r"https?://[^/?#\s@]+(/[^?#\s]*)?", re.ASCII | re.IGNORECASE)
# RFC 8941 §3.3.5: a byte sequence, ":" base64 ":".
_SF_BINARY: Final = re.compile(r":([A-Za-z0-9+/]*={0,2}):", re.ASCII)


def check_base_url(base_url: str | None) -> str | None:
    """Return the public base URL without its trailing slashes.

    Raises:
        ConfigurationError: not an absolute http(s) URL, or one with a query, a fragment
            or user information.
    """
    if base_url is None:
        return None
    if not isinstance(base_url, str) or not _BASE_URL.fullmatch(base_url):
        raise ConfigurationError(
            "base_url must be the absolute http(s) URL clients address the app at "
            f"(scheme, host and path prefix; no query or fragment), got {base_url!r}"
        )
    return base_url.rstrip("/")


def addressed_url(url: str, *, base_url: str | None, path: str, root: str | None = None) -> str:
    """The URL the client addressed, for ``verify_request`` (its query is ignored there).

    Args:
        url: the request URL as the framework reports it (its proxy settings applied).
        base_url: the public base URL from :func:`check_base_url`, or None to take ``url``.
        path: the request's path below the app's root, as the framework reports it
            (percent-encoded).
        root: the framework's URL of the app's root, ending in ``/``, if it reports one:
            then the part of ``url`` below it is the path (``path`` when ``url`` is not
            below it).
    """
    if base_url is None:
        return url
    relative = path
    if root is not None and url.startswith(root):
        relative = "/" + url[len(root) :]
    return base_url + relative.partition("?")[0].partition("#")[0]


def asgi_client_cert(scope: Mapping[str, Any]) -> str | None:
    """The client certificate of an ASGI connection (PEM), from its ``tls`` extension:
    the first of ``client_cert_chain``; None without one."""
    extensions = scope.get("extensions")
    tls = extensions.get("tls") if isinstance(extensions, Mapping) else None
    chain = tls.get("client_cert_chain") if isinstance(tls, Mapping) else None
    if isinstance(chain, (list, tuple)) and chain and isinstance(chain[0], str) and chain[0]:
        return chain[0]
    return None


def header_client_cert(values: Iterable[str]) -> bytes | None:
    """The DER certificate of the RFC 9440 ``Client-Cert`` fields of a request.

    The field is a byte sequence (RFC 8941 §3.3.5, ``:base64:``). One well-formed field
    gives its bytes; none, several or a malformed one give None (RFC 8941 §4.2: a field
    that does not parse is ignored), so a certificate-bound token is then refused.
    """
    found = list(values)
    if len(found) != 1:
        return None
    match = _SF_BINARY.fullmatch(found[0].strip(" \t"))
    if match is None or not match.group(1):
        return None
    try:
        return base64.b64decode(match.group(1), validate=True)
    except (ValueError, binascii.Error):
        return None


_VERIFIER_OPTIONS: Final = frozenset(
    name for name in inspect.signature(Verifier).parameters if name != "self"
)


#: The settings keys of an integration besides the verifier's options.
_INTEGRATION_KEYS: Final = ("realm", "base_url", "trust_client_cert_header")


@dataclass(frozen=True, slots=True)
class IntegrationSettings:
    """An integration's settings: the verifier's options and how requests are read.

    Attributes:
        options: the verifier's keyword options (``issuer`` included).
        realm: the realm of the challenges (None: left out).
        base_url: the public base URL behind a path-rewriting proxy (None: the URL as
            the framework reports it).
        trust_client_cert_header: take the client certificate from the RFC 9440
            ``Client-Cert`` header (set by a trusted proxy) instead of the TLS layer.
    """

    options: dict[str, Any]
    realm: str | None = DEFAULT_REALM
    base_url: str | None = None
    trust_client_cert_header: bool = False


def check_trust(value: object) -> bool:
    """Return ``value`` if it is a bool.

    Raises:
        ConfigurationError: it is not.
    """
    if not isinstance(value, bool):
        raise ConfigurationError(f"trust_client_cert_header must be a bool, got {value!r}")
    return value


def integration_settings(settings: Mapping[str, Any], *, source: str) -> IntegrationSettings:
    """Read a ``{"ISSUER": ..., "AUDIENCE": ..., "REALM": ...}`` mapping.

    Keys are the verifier's option names in upper case, plus ``REALM``, ``BASE_URL`` and
    ``TRUST_CLIENT_CERT_HEADER``.

    Args:
        settings: the mapping.
        source: its name, for error messages (e.g. ``"settings.JWKS_CLIENT"``).

    Raises:
        ConfigurationError: not a mapping, an unknown key, an invalid value, or
            ``ISSUER``/``AUDIENCE`` missing (``AUDIENCE: None`` disables the audience
            check explicitly).
    """
    if not isinstance(settings, Mapping):
        raise ConfigurationError(f"{source} must be a dict, got {type(settings).__name__}")
    options: dict[str, Any] = {}
    realm: str | None = DEFAULT_REALM
    base_url: str | None = None
    trust = False
    for key, value in settings.items():
        name = key.lower() if isinstance(key, str) else key
        if name == "realm":
            realm = check_realm(value)
        elif name == "base_url":
            base_url = check_base_url(value)
        elif name == "trust_client_cert_header":
            trust = check_trust(value)
        elif isinstance(name, str) and key == key.upper() and name in _VERIFIER_OPTIONS:
            options[name] = value
        else:
            known = ", ".join(sorted(n.upper() for n in (*_VERIFIER_OPTIONS, *_INTEGRATION_KEYS)))
            raise ConfigurationError(f"unknown key {key!r} in {source}; known: {known}")
    for required in ("issuer", "audience"):
        if required not in options:
            raise ConfigurationError(
                f"{source} must set {required.upper()}"
                + (" (None disables the audience check)" if required == "audience" else "")
            )
    return IntegrationSettings(options, realm, base_url, trust)


def settings_options(
    settings: Mapping[str, Any], *, source: str
) -> tuple[dict[str, Any], str | None]:
    """Turn a settings mapping into the verifier's options and the realm.

    As :func:`integration_settings`, which also returns the request settings.

    Raises:
        ConfigurationError: as :func:`integration_settings`.
    """
    read = integration_settings(settings, source=source)
    return read.options, read.realm
