"""Flask: an extension holding one ``Verifier`` per app, and a ``require_token`` decorator.

::

    from flask import Flask, g
    from jwks_client.integrations.flask import JWKSAuth

    app = Flask(__name__)
    auth = JWKSAuth(app, issuer="https://idp.example.com/", audience="https://api")

    @app.get("/me")
    @auth.require_token()
    def me():
        return {"sub": g.jwt_claims["sub"]}

    @app.delete("/items/<int:id>")
    @auth.require_token(scopes=["items:write"])
    def delete_item(id):
        ...

With an app factory, create ``auth = JWKSAuth()`` once and call ``auth.init_app(app)``;
options come from the constructor's keywords over ``app.config["JWKS_CLIENT"]`` (a dict
of upper-case option names, as for Django: ``{"ISSUER": ..., "AUDIENCE": ...}``).

The ``Verifier`` lives in ``app.extensions["jwks_client"]`` for the app's lifetime (it is
the key cache: closing it per request would fetch the keys again on every request). It
is closed at process exit or when the app is garbage-collected, or explicitly with
:meth:`JWKSAuth.close`. Failures raise :class:`BearerHTTPException`, a werkzeug
``HTTPException`` answering with the RFC 6750 status and headers and a
``{"detail": ...}`` JSON body; ``@app.errorhandler`` can reshape it (``exc.challenge``).

Each request goes to the verifier's ``verify_request``: ``Bearer`` and ``DPoP`` tokens
(RFC 9449) and certificate-bound ones (RFC 8705, the certificate from WSGI's
``SSL_CLIENT_CERT``, or from the RFC 9440 ``Client-Cert`` header with
``trust_client_cert_header=True``, only behind a proxy that sets it). A proof's ``htu``
is checked against ``request.url`` (behind a proxy, wrap the app in werkzeug's
``ProxyFix`` so it is the client's), or ``base_url`` + the path below the app's root
behind a proxy that rewrites paths. A successful answer to a DPoP-bound token carries
the next ``DPoP-Nonce`` when the verifier requires nonces.
"""

from __future__ import annotations

import functools
import inspect
import json
import threading
import weakref
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, ParamSpec, TypeVar, cast, overload

from jwks_client import ConfigurationError, InvalidTokenError, KeySetUnavailableError, Verifier

from ._common import (
    CLIENT_CERT_HEADER,
    BearerError,
    Challenge,
    addressed_url,
    challenge_for,
    check_base_url,
    check_realm,
    check_scope_names,
    check_trust,
    header_client_cert,
    integration_settings,
    missing_extra,
    require_scopes,
    success_headers,
)

try:
    from flask import Flask, after_this_request, current_app, g, request
    from flask.wrappers import Response
    from werkzeug.exceptions import (
        BadRequest,
        Forbidden,
        HTTPException,
        ServiceUnavailable,
        Unauthorized,
    )
except ImportError as exc:  # its extra is not installed
    raise missing_extra(__name__, "Flask", "flask") from exc

__all__ = [
    "EXTENSION_KEY",
    "BearerBadRequest",
    "BearerForbidden",
    "BearerHTTPException",
    "BearerServiceUnavailable",
    "BearerUnauthorized",
    "JWKSAuth",
]

#: The ``app.extensions`` key of the app's verifier binding.
EXTENSION_KEY: Final = "jwks_client"

P = ParamSpec("P")
R = TypeVar("R")

_UNSET: Final[Any] = object()
_SOURCE: Final = 'JWKSAuth options and app.config["JWKS_CLIENT"]'


class BearerHTTPException(HTTPException):
    """A bearer authentication failure, answered with its RFC 6750 status and headers.

    The body is ``{"detail": description}`` as JSON. Each status has its subclass, also
    a subclass of werkzeug's (``BearerUnauthorized`` is an ``Unauthorized``), so
    ``@app.errorhandler(401)`` or ``(Unauthorized)`` handlers apply.

    Attributes:
        challenge: the status, error code, description and headers of the answer.
    """

    def __init__(self, challenge: Challenge) -> None:
        super().__init__(description=challenge.description)
        self.challenge = challenge

    @staticmethod
    def of(challenge: Challenge) -> BearerHTTPException:
        """Return the exception of the challenge's status (400, 401, 403 or 503)."""
        return _BY_STATUS[challenge.status](challenge)

    def get_body(self, environ: Any = None, scope: Any = None) -> str:
        """Return the JSON body."""
        return json.dumps(self.challenge.body())

    def get_headers(self, environ: Any = None, scope: Any = None) -> list[tuple[str, str]]:
        """Return the content type and the challenge headers."""
        return [("Content-Type", "application/json"), *self.challenge.headers]


class BearerBadRequest(BearerHTTPException, BadRequest):
    """400 ``invalid_request``: the ``Authorization`` field is malformed."""


class BearerUnauthorized(BearerHTTPException, Unauthorized):
    """401: no bearer credentials, or ``invalid_token``."""


class BearerForbidden(BearerHTTPException, Forbidden):
    """403 ``insufficient_scope``."""


class BearerServiceUnavailable(BearerHTTPException, ServiceUnavailable):
    """503: the issuer's keys could not be obtained."""


_BY_STATUS: Final[dict[int, type[BearerHTTPException]]] = {
    400: BearerBadRequest,
    401: BearerUnauthorized,
    403: BearerForbidden,
    503: BearerServiceUnavailable,
}


@dataclass(frozen=True, slots=True)
class _Binding:
    verifier: Verifier
    realm: str | None
    finalizer: weakref.finalize[[], Flask]
    base_url: str | None = None
    trust_client_cert_header: bool = False


class JWKSAuth:
    """The Flask extension: one ``Verifier`` per app and a ``require_token`` decorator.

    Args:
        app: the app to initialise now (else call :meth:`init_app` later).
        realm: the realm of the challenges (default ``"api"``; None leaves it out).
        base_url: behind a proxy that rewrites paths, the public URL of the app's root as
            clients address it (``"https://api.example.com/v1"``); default: the URL is
            ``request.url``. Config key ``BASE_URL``.
        trust_client_cert_header: take the client certificate from the RFC 9440
            ``Client-Cert`` header instead of ``SSL_CLIENT_CERT``; only behind a proxy
            that sets it and removes it from clients' requests. Config key
            ``TRUST_CLIENT_CERT_HEADER``.
        **verifier_options: ``Verifier`` options (``issuer``, ``audience``, ``dpop``,
            ...); they take precedence over ``app.config["JWKS_CLIENT"]``.

    Raises:
        ConfigurationError: (at ``init_app``) an invalid option, an unknown config key,
            or ``issuer``/``audience`` missing.
    """

    def __init__(
        self,
        app: Flask | None = None,
        *,
        realm: str | None = _UNSET,
        base_url: str | None = _UNSET,
        trust_client_cert_header: bool = _UNSET,
        **verifier_options: Any,
    ) -> None:
        self._realm: str | None = _UNSET if realm is _UNSET else check_realm(realm)
        self._requests: dict[str, Any] = {}
        if base_url is not _UNSET:
            self._requests["BASE_URL"] = check_base_url(base_url)
        if trust_client_cert_header is not _UNSET:
            self._requests["TRUST_CLIENT_CERT_HEADER"] = check_trust(trust_client_cert_header)
        self._options = verifier_options
        self._lock = threading.Lock()
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Create the app's ``Verifier`` and store it in ``app.extensions``.

        An app initialised before keeps its verifier.

        Raises:
            ConfigurationError: as the constructor.
        """
        with self._lock:
            if EXTENSION_KEY in app.extensions:
                return
            configured = app.config.get("JWKS_CLIENT") or {}
            if not isinstance(configured, Mapping):
                raise ConfigurationError(
                    f'app.config["JWKS_CLIENT"] must be a dict, got {type(configured).__name__}'
                )
            settings = dict(configured)
            settings.update({name.upper(): value for name, value in self._options.items()})
            if self._realm is not _UNSET:
                settings["REALM"] = self._realm
            settings.update(self._requests)
            read = integration_settings(settings, source=_SOURCE)
            verifier = Verifier(**read.options)
            # Closed at exit or with the app, never per request: it is the key cache.
            finalizer = weakref.finalize(app, verifier.close)
            app.extensions[EXTENSION_KEY] = _Binding(
                verifier, read.realm, finalizer, read.base_url, read.trust_client_cert_header
            )

    def verifier(self, app: Flask | None = None) -> Verifier:
        """Return the ``Verifier`` of ``app`` (default: the current app).

        Raises:
            ConfigurationError: the app was not initialised with :meth:`init_app`.
        """
        return self._binding(app).verifier

    def close(self, app: Flask | None = None) -> None:
        """Close the verifier of ``app`` (default: the current app) and forget it; idempotent."""
        target = app if app is not None else current_app
        binding = target.extensions.pop(EXTENSION_KEY, None)
        if isinstance(binding, _Binding):
            binding.finalizer()

    def authenticate(self, scopes: Iterable[str] = ()) -> dict[str, Any]:
        """Verify the current request's token (with its DPoP proof or client certificate)
        and scopes; return the claims.

        Also sets ``flask.g.jwt_claims``, and adds to the answer the headers a success
        carries (the next ``DPoP-Nonce`` to a DPoP client when nonces are on).

        Raises:
            BearerHTTPException: no, malformed, invalid or insufficient credentials, or
                keys unavailable.
            ConfigurationError: the app was not initialised, or a scope name is invalid.
        """
        required = check_scope_names(scopes)
        binding = self._binding(None)
        verifier = binding.verifier
        try:
            claims = verifier.verify_request(
                request.method,
                _request_url(binding.base_url),
                request.headers.items(),
                client_cert=_client_cert(binding.trust_client_cert_header),
            )
            require_scopes(claims, required, verifier=verifier)
        except (BearerError, InvalidTokenError, KeySetUnavailableError) as exc:
            raise BearerHTTPException.of(challenge_for(exc, realm=binding.realm)) from exc
        g.jwt_claims = claims
        headers = success_headers(verifier, claims)
        if headers:

            @after_this_request
            def add_headers(response: Response) -> Response:
                for name, value in headers:
                    response.headers.setdefault(name, value)
                return response

        return claims

    @overload
    def require_token(self, view: Callable[P, R], /) -> Callable[P, R]: ...

    @overload
    def require_token(
        self, view: None = None, /, *, scopes: Iterable[str] = ()
    ) -> Callable[[Callable[P, R]], Callable[P, R]]: ...

    def require_token(
        self, view: Callable[P, R] | None = None, /, *, scopes: Iterable[str] = ()
    ) -> Callable[P, R] | Callable[[Callable[P, R]], Callable[P, R]]:
        """Decorate a view so it runs only for a valid token granting ``scopes``.

        Usable bare (``@auth.require_token``) or called
        (``@auth.require_token(scopes=["read"])``). The view gets its usual arguments
        and nothing else; the claims are on ``flask.g.jwt_claims``. Async views work too.

        Raises:
            ConfigurationError: an invalid scope name (at decoration time).
        """
        required = check_scope_names(scopes)

        def decorate(func: Callable[P, R]) -> Callable[P, R]:
            if inspect.iscoroutinefunction(func):
                coroutine_view = cast(Callable[P, Awaitable[Any]], func)

                @functools.wraps(func)
                async def async_protected(*args: P.args, **kwargs: P.kwargs) -> Any:
                    self.authenticate(required)
                    return await coroutine_view(*args, **kwargs)

                return cast(Callable[P, R], async_protected)

            @functools.wraps(func)
            def protected(*args: P.args, **kwargs: P.kwargs) -> R:
                self.authenticate(required)
                return func(*args, **kwargs)

            return protected

        return decorate if view is None else decorate(view)

    def _binding(self, app: Flask | None) -> _Binding:
        target = app if app is not None else current_app
        binding = target.extensions.get(EXTENSION_KEY)
        if not isinstance(binding, _Binding):
            raise ConfigurationError(
                f"JWKSAuth.init_app was not called for the app {target.name!r}"
            )
        return binding


def _request_url(base_url: str | None) -> str:
    """The URL the client addressed: ``request.url`` (with ``ProxyFix``, the client's),
    or ``base_url`` + the path below the app's root."""
    return addressed_url(request.url, base_url=base_url, path=request.path, root=request.url_root)


def _client_cert(trust_header: bool) -> str | bytes | None:
    """The request's client certificate: WSGI's ``SSL_CLIENT_CERT`` (PEM), or the
    ``Client-Cert`` header's (DER) when the proxy that sets it is trusted."""
    if trust_header:
        return header_client_cert(request.headers.getlist(CLIENT_CERT_HEADER))
    pem = request.environ.get("SSL_CLIENT_CERT")
    return pem if isinstance(pem, str) and pem else None
