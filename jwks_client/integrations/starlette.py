"""FastAPI and Starlette: one ``AsyncVerifier`` per app, and a bearer-token dependency.

FastAPI users import from :mod:`jwks_client.integrations.fastapi`, whose ``JWTBearer`` is
this one declared as an OpenAPI security scheme (the ``/docs`` Authorize button,
``Security(bearer, scopes=[...])``, optional authentication). This module needs only
Starlette (extra ``jwks-client[starlette]``)::

    from starlette.applications import Starlette
    from starlette.routing import Route
    from jwks_client.integrations.starlette import JWTBearer, jwks_lifespan

    bearer = JWTBearer()

    @bearer.require_scopes("items:read").protect
    async def items(request): ...

    app = Starlette(
        routes=[Route("/items", items)],
        lifespan=jwks_lifespan("https://idp.example.com/", audience="https://api"),
    )

``bearer.protect`` wraps an endpoint; the claims are on ``request.state.jwt_claims``.

Each request goes to the verifier's ``verify_request``, so both schemes work: ``Bearer``
and ``DPoP`` with its proof (RFC 9449; ``dpop=`` of the lifespan configures it), and
certificate-bound tokens (RFC 8705) with the client certificate of the ASGI ``tls``
extension, or of the RFC 9440 ``Client-Cert`` header when
``JWTBearer(trust_client_cert_header=True)`` (only behind a proxy that sets it and
strips it from clients' requests). The URL checked against a proof's ``htu`` is
``request.url`` (with uvicorn's ``--proxy-headers``, the scheme the proxy reports), or
``base_url`` + the path below the app's root behind a proxy that rewrites paths
(``JWTBearer(base_url="https://api.example.com/v1")``). A successful answer to a
DPoP-bound token carries the next ``DPoP-Nonce`` when the verifier requires nonces.

The lifespan creates the ``AsyncVerifier`` on startup (inside the server's event loop),
stores it on ``app.state.jwks_verifier`` and closes it on shutdown; ``JWTBearer`` finds
it there unless it is given a verifier. Failures raise :class:`BearerHTTPException`, a
Starlette ``HTTPException`` carrying the RFC 6750 status and headers, so the framework's
own handler answers (FastAPI: a ``{"detail": ...}`` JSON body; Starlette: plain text).
Register a handler for it to shape the body otherwise; ``exc.challenge`` has every fact.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Final, TypeVar

from jwks_client import (
    AsyncVerifier,
    ConfigurationError,
    InvalidTokenError,
    KeySetUnavailableError,
)
from jwks_client import MissingTokenError as NoCredentialsError

from ._common import (
    CLIENT_CERT_HEADER,
    DEFAULT_REALM,
    BearerError,
    Challenge,
    addressed_url,
    asgi_client_cert,
    challenge_for,
    check_base_url,
    check_realm,
    check_scope_names,
    check_trust,
    header_client_cert,
    missing_extra,
    require_scopes,
    success_headers,
)

try:
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.requests import HTTPConnection, Request
    from starlette.responses import Response
except ImportError as exc:  # its extra is not installed
    raise missing_extra(__name__, "Starlette", "starlette") from exc

__all__ = [
    "STATE_KEY",
    "BearerHTTPException",
    "JWTBearer",
    "add_response_headers",
    "jwks_lifespan",
]

#: The ``app.state`` attribute that holds the app's ``AsyncVerifier``.
STATE_KEY: Final = "jwks_verifier"

Endpoint = Callable[[Request], Awaitable[Response]]


class BearerHTTPException(HTTPException):
    """A bearer authentication failure, answered with its RFC 6750 status and headers.

    Attributes:
        challenge: the status, error code, description and headers of the answer.
    """

    def __init__(self, challenge: Challenge) -> None:
        super().__init__(
            challenge.status, detail=challenge.description, headers=challenge.header_dict()
        )
        self.challenge = challenge


def jwks_lifespan(
    issuer: str,
    *,
    audience: str | Collection[str] | None,
    state_key: str = STATE_KEY,
    **options: Any,
) -> Callable[[Starlette], AbstractAsyncContextManager[None]]:
    """Return a lifespan that gives the app one ``AsyncVerifier`` while it runs.

    On startup it creates ``AsyncVerifier(issuer, audience=audience, **options)`` and sets
    it as ``app.state.<state_key>``; on shutdown it closes it (its HTTP client and any
    background refresh) and removes it. Nest it in a lifespan of your own with
    ``async with jwks_lifespan(...)(app): ...``.

    Args:
        issuer: the issuer URL.
        audience: the accepted audience(s); None disables the check explicitly.
        state_key: the ``app.state`` attribute to use.
        **options: any other ``AsyncVerifier`` option (``algorithms``, ``leeway``, ...).

    Raises:
        ConfigurationError: on startup, when an option is invalid.
    """

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        verifier = AsyncVerifier(issuer, audience=audience, **options)
        setattr(app.state, state_key, verifier)
        try:
            yield
        finally:
            if getattr(app.state, state_key, None) is verifier:
                delattr(app.state, state_key)
            await verifier.aclose()

    return lifespan


_Bearer = TypeVar("_Bearer", bound="JWTBearer")


class JWTBearer:
    """Require a valid access token: a Starlette decorator and a plain FastAPI dependency.

    ``bearer.protect(endpoint)`` wraps a Starlette endpoint; ``Depends(bearer)`` returns
    the token's claims (FastAPI apps want :class:`jwks_client.integrations.fastapi.JWTBearer`,
    which also declares itself in the OpenAPI document). Either way the claims are also set on
    ``request.state.jwt_claims``. The request is judged by the verifier's
    ``verify_request``: a ``Bearer`` token, or a ``DPoP`` one with its proof, or a
    certificate-bound one with the client certificate. Failures raise
    :class:`BearerHTTPException` (400, 401, 403 or 503, see :mod:`jwks_client.integrations`).

    Args:
        verifier: the ``AsyncVerifier`` to use; by default the one :func:`jwks_lifespan`
            put on ``request.app.state``. A verifier belongs to one event loop: give one
            here only if it is created in the app's loop.
        scopes: scopes the token must all grant (``scope`` or ``scp`` claim).
        realm: the realm of the challenges; None leaves it out.
        state_key: the ``app.state`` attribute to read the verifier from.
        base_url: behind a proxy that rewrites paths, the public URL of the app's root
            as clients address it (``"https://api.example.com/v1"``): a proof's ``htu``
            is checked against it followed by the request's path below the app. None
            (default): ``request.url``.
        trust_client_cert_header: take the client certificate from the RFC 9440
            ``Client-Cert`` header instead of the TLS extension. Only behind a proxy
            that terminates TLS, sets this header and removes it from clients' requests.

    Raises:
        ConfigurationError: an invalid scope name, realm or base URL.
    """

    def __init__(
        self,
        verifier: AsyncVerifier | None = None,
        *,
        scopes: Iterable[str] = (),
        realm: str | None = DEFAULT_REALM,
        state_key: str = STATE_KEY,
        base_url: str | None = None,
        trust_client_cert_header: bool = False,
    ) -> None:
        self.verifier = verifier
        self.scopes = check_scope_names(scopes)
        self.realm = check_realm(realm)
        self.state_key = state_key
        self.base_url = check_base_url(base_url)
        self.trust_client_cert_header = check_trust(trust_client_cert_header)

    def require_scopes(self: _Bearer, *scopes: str) -> _Bearer:
        """Return a dependency like this one (of its class, with all its options) that
        also requires ``scopes`` (all of them).

        Raises:
            ConfigurationError: an invalid scope name.
        """
        stricter = copy.copy(self)
        stricter.scopes = check_scope_names((*self.scopes, *scopes))
        return stricter

    def verifier_for(self, conn: HTTPConnection) -> AsyncVerifier:
        """Return the verifier for a request: the given one, else the app's.

        Raises:
            ConfigurationError: there is neither.
        """
        if self.verifier is not None:
            return self.verifier
        verifier = getattr(conn.app.state, self.state_key, None)
        if not isinstance(verifier, AsyncVerifier):
            raise ConfigurationError(
                f"no AsyncVerifier on app.state.{self.state_key}: create the app with "
                f"lifespan=jwks_lifespan(...), or pass JWTBearer(verifier=...)"
            )
        return verifier

    def request_url(self, conn: HTTPConnection) -> str:
        """The URL the client addressed: ``conn.url``, or ``base_url`` + the path below
        the app's root."""
        return addressed_url(
            str(conn.url), base_url=self.base_url, path=conn.url.path, root=str(conn.base_url)
        )

    def client_cert(self, conn: HTTPConnection) -> str | bytes | None:
        """The client certificate: the TLS extension's (PEM), or with
        ``trust_client_cert_header`` the ``Client-Cert`` header's (DER); None without."""
        if self.trust_client_cert_header:
            return header_client_cert(conn.headers.getlist(CLIENT_CERT_HEADER))
        return asgi_client_cert(conn.scope)

    async def authenticate(self, conn: HTTPConnection) -> dict[str, Any]:
        """Verify the request's access token (and proof or certificate) and scopes;
        return the claims.

        Raises:
            BearerHTTPException: no, malformed, invalid or insufficient credentials, or
                keys unavailable.
            ConfigurationError: no verifier (see :meth:`verifier_for`).
        """
        claims = await self._authorize(conn, self.scopes, optional=False)
        assert claims is not None  # only an optional check answers None
        return claims

    async def _authorize(
        self, conn: HTTPConnection, required: tuple[str, ...], *, optional: bool
    ) -> dict[str, Any] | None:
        # The one check behind every entry point: with ``optional``, a request without
        # credentials gets None; anything present is judged in full.
        verifier = self.verifier_for(conn)
        try:
            claims = await verifier.verify_request(
                conn.scope.get("method", "GET"),
                self.request_url(conn),
                conn.scope["headers"],
                client_cert=self.client_cert(conn),
            )
            require_scopes(claims, required, verifier=verifier)
        except NoCredentialsError as exc:
            if optional:
                return None
            raise BearerHTTPException(challenge_for(exc, realm=self.realm)) from exc
        except (BearerError, InvalidTokenError, KeySetUnavailableError) as exc:
            raise BearerHTTPException(challenge_for(exc, realm=self.realm)) from exc
        conn.state.jwt_claims = claims
        conn.state.jwt_response_headers = success_headers(verifier, claims)
        return claims

    async def __call__(self, request: Request, response: Response | None = None) -> dict[str, Any]:
        """Verify the request's token (the FastAPI dependency); return the claims.

        FastAPI gives ``response``, to which the answer's headers (``DPoP-Nonce``) are added.

        Raises:
            BearerHTTPException: as :meth:`authenticate`.
        """
        claims = await self.authenticate(request)
        if response is not None:
            add_response_headers(request, response)
        return claims

    def protect(self, endpoint: Endpoint) -> Endpoint:
        """Wrap a Starlette endpoint so it runs only for a valid token.

        The claims are on ``request.state.jwt_claims`` when the endpoint runs; the
        answer gets the headers a success carries (``DPoP-Nonce``).
        """

        @functools.wraps(endpoint)
        async def protected(request: Request) -> Response:
            await self.authenticate(request)
            response = await endpoint(request)
            add_response_headers(request, response)
            return response

        return protected

    def __repr__(self) -> str:
        return f"JWTBearer(scopes={self.scopes!r}, realm={self.realm!r})"


def add_response_headers(conn: HTTPConnection, response: Response) -> None:
    """Add to ``response`` the headers of a successful answer to ``conn`` (the next
    ``DPoP-Nonce`` to a DPoP client when nonces are on), unless it sets them itself."""
    for name, value in getattr(conn.state, "jwt_response_headers", ()):
        if name not in response.headers:
            response.headers[name] = value


# FastAPI resolves a dependency's parameter types from its annotations; some versions do
# not evaluate the strings `from __future__ import annotations` leaves on a callable
# instance's __call__, so give them the classes themselves (``response`` as ``Response``:
# FastAPI gives the answer's headers to a parameter of that type).
JWTBearer.__call__.__annotations__.update(request=Request, response=Response)
