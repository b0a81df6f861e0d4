"""FastAPI: the bearer dependency as an OpenAPI security scheme, and the app's verifier.

::

    from typing import Annotated, Any
    from fastapi import Depends, FastAPI, Security
    from jwks_client.integrations.fastapi import JWTBearer, jwks_lifespan

    app = FastAPI(lifespan=jwks_lifespan("https://idp.example.com/", audience="https://api"))
    bearer = JWTBearer()
    Claims = Annotated[dict[str, Any], Depends(bearer)]

    @app.get("/me", responses=bearer.responses)
    async def me(claims: Claims) -> dict[str, Any]:
        return {"sub": claims["sub"]}

    @app.delete("/items/{id}", responses=bearer.responses)
    async def delete_item(
        id: int, claims: Annotated[dict[str, Any], Security(bearer, scopes=["items:write"])]
    ) -> None: ...

:class:`JWTBearer` is the Starlette integration's dependency (same answers, same
``app.state`` verifier from :func:`jwks_lifespan`) that FastAPI also recognises as a
security scheme: the OpenAPI document declares an HTTP bearer scheme of format JWT and
each protected operation's requirement, so the ``/docs`` page shows the Authorize button.
Scopes come from ``JWTBearer(scopes=...)``, :meth:`JWTBearer.require_scopes` and FastAPI's
``Security(bearer, scopes=[...])`` (all of them must be granted). ``bearer.responses``
documents the 400/401/403/503 answers on a route or router. ``JWTBearer(auto_error=False)``
makes authentication optional: a request without credentials gets ``None``, while a
malformed, invalid or insufficient token is still refused.

Requests are judged by ``verify_request``, as in the Starlette integration: the ``DPoP``
scheme with its proof (RFC 9449) as well as ``Bearer``, and certificate-bound tokens
(RFC 8705); ``base_url`` and ``trust_client_cert_header`` say how the URL and the client
certificate are read. OpenAPI 3 has no DPoP security scheme, so the document keeps the
HTTP bearer one. The next ``DPoP-Nonce`` is added to the answer of a route that returns
data; a route returning its own ``Response`` adds ``request.state.jwt_response_headers``.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any, Final

from jwks_client import AsyncVerifier

from ._common import DEFAULT_REALM, check_scope_names, missing_extra

try:
    from fastapi.openapi.models import HTTPBearer as HTTPBearerModel
    from fastapi.security import SecurityScopes
    from fastapi.security.base import SecurityBase
    from starlette.requests import Request
    from starlette.responses import Response
except ImportError as exc:  # its extra is not installed
    raise missing_extra(__name__, "FastAPI", "fastapi") from exc

from . import starlette as _starlette
from .starlette import STATE_KEY, BearerHTTPException, add_response_headers, jwks_lifespan

__all__ = ["STATE_KEY", "BearerHTTPException", "JWTBearer", "jwks_lifespan"]

_ERROR_BODY: Final = {
    "application/json": {
        "schema": {
            "type": "object",
            "properties": {"detail": {"type": "string"}},
            "required": ["detail"],
        }
    }
}
_CHALLENGE_HEADER: Final = {
    "WWW-Authenticate": {
        "description": "The Bearer (RFC 6750) and DPoP (RFC 9449) challenges.",
        "schema": {"type": "string"},
    }
}


_RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    400: {
        "description": "Malformed Authorization header (invalid_request)",
        "content": _ERROR_BODY,
        "headers": _CHALLENGE_HEADER,
    },
    401: {
        "description": (
            "Missing or rejected access token (invalid_token), or DPoP proof "
            "(invalid_dpop_proof, use_dpop_nonce)"
        ),
        "content": _ERROR_BODY,
        "headers": {
            **_CHALLENGE_HEADER,
            "DPoP-Nonce": {
                "description": "With use_dpop_nonce: the nonce the next DPoP proof carries.",
                "schema": {"type": "string"},
            },
        },
    },
    403: {
        "description": "The token lacks a required scope (insufficient_scope)",
        "content": _ERROR_BODY,
        "headers": _CHALLENGE_HEADER,
    },
    503: {
        "description": "The token signing keys are temporarily unavailable",
        "content": _ERROR_BODY,
        "headers": {
            "Retry-After": {
                "description": "Seconds to wait before trying again.",
                "schema": {"type": "integer"},
            }
        },
    },
}


class JWTBearer(_starlette.JWTBearer, SecurityBase):
    """Require a valid bearer token, declared in the OpenAPI document as HTTP bearer (JWT).

    ``Depends(bearer)`` or ``Security(bearer, scopes=[...])`` returns the token's claims
    (also on ``request.state.jwt_claims``). Failures raise
    :class:`~jwks_client.integrations.starlette.BearerHTTPException` (400, 401, 403 or
    503, see :mod:`jwks_client.integrations`).

    Args:
        verifier: the ``AsyncVerifier`` to use; by default the one :func:`jwks_lifespan`
            put on ``request.app.state``.
        scopes: scopes the token must all grant, besides those of ``Security(...)``.
        realm: the realm of the challenges; None leaves it out.
        state_key: the ``app.state`` attribute to read the verifier from.
        auto_error: False makes authentication optional: without bearer credentials the
            dependency returns None instead of answering 401. Credentials that are
            present are judged in full either way.
        scheme_name: the security scheme's name in the OpenAPI document (default
            ``"JWTBearer"``).
        description: the security scheme's description in the OpenAPI document.
        base_url: behind a proxy that rewrites paths, the public URL of the app's root
            (see the Starlette ``JWTBearer``).
        trust_client_cert_header: take the client certificate from the RFC 9440
            ``Client-Cert`` header (only behind a proxy that sets it; see the Starlette
            ``JWTBearer``).

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
        auto_error: bool = True,
        scheme_name: str | None = None,
        description: str | None = None,
        base_url: str | None = None,
        trust_client_cert_header: bool = False,
    ) -> None:
        super().__init__(
            verifier,
            scopes=scopes,
            realm=realm,
            state_key=state_key,
            base_url=base_url,
            trust_client_cert_header=trust_client_cert_header,
        )
        self.auto_error = auto_error
        self.description = description
        self.scheme_name = scheme_name or type(self).__name__
        self.model = HTTPBearerModel(bearerFormat="JWT", description=description)

    @property
    def responses(self) -> dict[int | str, dict[str, Any]]:
        """The answers of this dependency, for a route's or router's ``responses=``.

        A fresh copy each time: 400 (malformed ``Authorization``), 401 (no or rejected
        token), 403 (a scope missing), 503 (keys unavailable), each with its
        ``{"detail": ...}`` body.
        """
        return copy.deepcopy(_RESPONSES)

    # The signature differs from the Starlette dependency's on purpose: FastAPI fills
    # ``security_scopes`` with the scopes of every ``Security(...)`` up the chain.
    async def __call__(  # type: ignore[override]
        self, request: Request, security_scopes: SecurityScopes, response: Response
    ) -> dict[str, Any] | None:
        """Verify the request's token and scopes (the FastAPI dependency).

        FastAPI gives ``response``, to which the answer's headers (``DPoP-Nonce``) are added.

        Returns:
            The claims; None without credentials when ``auto_error`` is False.

        Raises:
            BearerHTTPException: as :meth:`authenticate`.
            ConfigurationError: a scope of ``Security(...)`` is not a valid scope name,
                or there is no verifier.
        """
        required = check_scope_names((*self.scopes, *security_scopes.scopes))
        claims = await self._authorize(request, required, optional=not self.auto_error)
        if claims is not None:
            add_response_headers(request, response)
        return claims

    def __repr__(self) -> str:
        return (
            f"JWTBearer(scopes={self.scopes!r}, realm={self.realm!r}, "
            f"auto_error={self.auto_error!r}, scheme_name={self.scheme_name!r})"
        )


# FastAPI resolves a dependency's parameter types from its annotations; some versions do
# not evaluate the strings `from __future__ import annotations` leaves on a callable
# instance's __call__, so give them the classes themselves.
JWTBearer.__call__.__annotations__.update(
    request=Request, security_scopes=SecurityScopes, response=Response
)
