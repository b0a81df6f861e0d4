"""Django REST framework: bearer-token authentication and a scope permission.

settings.py::

    JWKS_CLIENT = {
        "ISSUER": "https://idp.example.com/",
        "AUDIENCE": "https://api.example.com",
        # any other Verifier option in upper case ("LEEWAY", "ALGORITHMS", ...), "REALM"
    }
    REST_FRAMEWORK = {
        "DEFAULT_AUTHENTICATION_CLASSES": [
            "jwks_client.integrations.django.JWKSAuthentication",
        ],
    }

views.py::

    from rest_framework.views import APIView
    from rest_framework.response import Response
    from jwks_client.integrations.django import HasScopes

    class Items(APIView):
        permission_classes = [HasScopes.of("items:read")]

        def get(self, request):
            return Response({"sub": request.user.sub, "scopes": sorted(request.user.scopes)})

``request.user`` is a :class:`TokenUser` and ``request.auth`` the claims. One
``Verifier`` serves the process: created on first use (thread-safe) from
``settings.JWKS_CLIENT``, replaced when that setting changes (``override_settings``) and
closed at exit. Answers follow RFC 6750: a request without bearer credentials is
anonymous (DRF answers 401 with ``WWW-Authenticate: Bearer realm="api"`` once a
permission requires authentication, e.g. ``IsAuthenticated`` or ``HasScopes``); a
malformed field is 400; a rejected token 401 ``invalid_token``; a missing scope 403
``insufficient_scope``; unavailable keys 503 with ``Retry-After``. Put
:class:`JWKSAuthentication` first in the authentication classes: DRF takes the 401
challenge from the first one.

Each request goes to the verifier's ``verify_request``: ``Bearer`` and ``DPoP`` tokens
(RFC 9449) and certificate-bound ones (RFC 8705, the certificate from WSGI's
``SSL_CLIENT_CERT`` or ASGI's ``tls`` extension, or from the RFC 9440 ``Client-Cert``
header with ``"TRUST_CLIENT_CERT_HEADER": True``, only behind a proxy that sets it). A
proof's ``htu`` is checked against ``request.build_absolute_uri()`` (which honours
``USE_X_FORWARDED_HOST``, ``SECURE_PROXY_SSL_HEADER`` and ``FORCE_SCRIPT_NAME``), or
``"BASE_URL"`` + ``request.path_info`` behind a proxy that rewrites paths. DRF sends no
header of its own choosing, so with DPoP nonces (``DPoP(nonce_secret=...)``) add
:class:`DPoPNonceMiddleware` to ``MIDDLEWARE``: it gives DPoP clients the
``DPoP-Nonce`` header.
"""

from __future__ import annotations

import atexit
import threading
import types
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, cast

from jwks_client import (
    ConfigurationError,
    InvalidTokenError,
    KeySetUnavailableError,
    Verifier,
)
from jwks_client import InvalidRequestError as MalformedRequestError
from jwks_client import MissingTokenError as NoCredentialsError

from ._common import (
    DPOP_NONCE_HEADER,
    RETRY_AFTER_SECONDS,
    Challenge,
    InsufficientScopeError,
    addressed_url,
    asgi_client_cert,
    challenge_for,
    check_scope_names,
    header_client_cert,
    integration_settings,
    missing_challenge,
    missing_extra,
    require_scopes,
    token_scopes,
)

try:
    from django.conf import settings  # type: ignore[import-untyped]
    from django.core.signals import setting_changed  # type: ignore[import-untyped]
    from django.utils.encoding import escape_uri_path  # type: ignore[import-untyped]
    from rest_framework import exceptions  # type: ignore[import-untyped]
    from rest_framework.authentication import BaseAuthentication  # type: ignore[import-untyped]
    from rest_framework.permissions import BasePermission  # type: ignore[import-untyped]
except ImportError as exc:  # its extra is not installed
    raise missing_extra(__name__, "Django REST framework", "django") from exc

__all__ = [
    "NONCE_MIDDLEWARE",
    "SETTING",
    "BearerInvalidRequest",
    "BearerInvalidToken",
    "DPoPNonceMiddleware",
    "HasScopes",
    "InsufficientScope",
    "JWKSAuthentication",
    "KeySetUnavailable",
    "TokenUser",
    "get_verifier",
    "reset_verifier",
]

#: The Django setting holding the options.
SETTING: Final = "JWKS_CLIENT"
#: The dotted path of :class:`DPoPNonceMiddleware`, for ``MIDDLEWARE``.
NONCE_MIDDLEWARE: Final = "jwks_client.integrations.django.DPoPNonceMiddleware"

# The challenge of a rejected token, kept on the request for authenticate_header.
_CHALLENGE_ATTR: Final = "jwks_client_challenge"


class TokenUser:
    """The user of a request authenticated by a token: no database row, just claims.

    Attributes:
        claims: the verified claims.
        sub: the ``sub`` claim (None when absent or not a string); also ``pk``, ``id``
            and ``username``.
        scopes: the granted scopes (``scope`` or ``scp`` claim).
    """

    is_authenticated: Final = True
    is_anonymous: Final = False
    is_active: Final = True
    is_staff: Final = False
    is_superuser: Final = False

    def __init__(self, claims: Mapping[str, Any]) -> None:
        self.claims = dict(claims)
        sub = claims.get("sub")
        self.sub: str | None = sub if isinstance(sub, str) else None
        self.scopes = token_scopes(claims)

    @property
    def pk(self) -> str | None:
        """The subject (what DRF throttles and caches key on)."""
        return self.sub

    @property
    def id(self) -> str | None:
        """The subject."""
        return self.sub

    @property
    def username(self) -> str:
        """The subject, or "" without one."""
        return self.sub or ""

    def get_username(self) -> str:
        """Return the subject, or "" without one."""
        return self.username

    def has_perm(self, perm: str, obj: object = None) -> bool:
        """Return False: a token user holds no Django model permissions."""
        return False

    def has_perms(self, perm_list: object, obj: object = None) -> bool:
        """Return False: a token user holds no Django model permissions."""
        return False

    def has_module_perms(self, app_label: str) -> bool:
        """Return False: a token user holds no Django model permissions."""
        return False

    def __str__(self) -> str:
        return self.username

    def __repr__(self) -> str:
        return f"TokenUser(sub={self.sub!r}, scopes={sorted(self.scopes)!r})"


def _with_challenge(exc: Any, challenge: Challenge) -> None:
    exc.challenge = challenge
    exc.auth_header = challenge.header_dict().get("WWW-Authenticate")


class BearerInvalidRequest(exceptions.APIException):  # type: ignore[misc]
    """400 ``invalid_request``: the ``Authorization`` field is malformed."""

    status_code = 400
    default_code = "invalid_request"

    def __init__(self, challenge: Challenge) -> None:
        super().__init__(detail=challenge.description, code=challenge.error)
        _with_challenge(self, challenge)


class BearerInvalidToken(exceptions.AuthenticationFailed):  # type: ignore[misc]
    """401: the verifier rejected the token (``invalid_token``) or its DPoP proof
    (``invalid_dpop_proof``, ``use_dpop_nonce``)."""

    default_code = "invalid_token"

    def __init__(self, challenge: Challenge) -> None:
        super().__init__(detail=challenge.description, code=challenge.error)
        _with_challenge(self, challenge)


class InsufficientScope(exceptions.PermissionDenied):  # type: ignore[misc]
    """403 ``insufficient_scope``: the token lacks a required scope."""

    default_code = "insufficient_scope"

    def __init__(self, challenge: Challenge) -> None:
        super().__init__(detail=challenge.description, code=challenge.error)
        _with_challenge(self, challenge)


class KeySetUnavailable(exceptions.APIException):  # type: ignore[misc]
    """503: the issuer's keys could not be obtained; DRF adds ``Retry-After``."""

    status_code = 503
    default_code = "temporarily_unavailable"
    wait = RETRY_AFTER_SECONDS

    def __init__(self, challenge: Challenge) -> None:
        super().__init__(detail=challenge.description)
        self.challenge = challenge


@dataclass(frozen=True, slots=True)
class _Binding:
    verifier: Verifier
    realm: str | None
    base_url: str | None = None
    trust_client_cert_header: bool = False


class _Holder:
    """The process's verifier, created on first use from the settings."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._binding: _Binding | None = None

    def get(self) -> _Binding:
        binding = self._binding
        if binding is not None:
            return binding
        with self._lock:
            if self._binding is None:
                configured = getattr(settings, SETTING, None)
                if configured is None:
                    raise ConfigurationError(f"settings.{SETTING} is not set")
                read = integration_settings(configured, source=f"settings.{SETTING}")
                _check_nonce_middleware(read.options)
                self._binding = _Binding(
                    Verifier(**read.options),
                    read.realm,
                    read.base_url,
                    read.trust_client_cert_header,
                )
            return self._binding

    def reset(self) -> None:
        with self._lock:
            binding, self._binding = self._binding, None
        if binding is not None:
            binding.verifier.close()


_holder = _Holder()
atexit.register(_holder.reset)


def _check_nonce_middleware(options: Mapping[str, Any]) -> None:
    """Refuse nonces without the middleware that sends them: every DPoP request would be
    refused for a nonce its client can never learn."""
    dpop = options.get("dpop")
    if getattr(dpop, "nonce_secret", None) is None:
        return
    if NONCE_MIDDLEWARE not in list(getattr(settings, "MIDDLEWARE", None) or ()):
        raise ConfigurationError(
            f"settings.{SETTING} asks for DPoP nonces (nonce_secret): add "
            f"{NONCE_MIDDLEWARE!r} to settings.MIDDLEWARE, which sends them to clients"
        )


def get_verifier() -> Verifier:
    """Return the process's ``Verifier``, creating it from ``settings.JWKS_CLIENT``.

    Raises:
        ConfigurationError: the setting is missing or invalid.
    """
    return _holder.get().verifier


def reset_verifier() -> None:
    """Close the process's ``Verifier``; the next request creates one from the settings."""
    _holder.reset()


def _on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting == SETTING:
        _holder.reset()


setting_changed.connect(_on_setting_changed, dispatch_uid="jwks_client.integrations.django")


class JWKSAuthentication(BaseAuthentication):  # type: ignore[misc]
    """DRF authentication by an access token, verified against the JWKS.

    The request goes to the verifier's ``verify_request``: ``Authorization: Bearer``, or
    ``Authorization: DPoP`` with its ``DPoP`` proof, or a certificate-bound token with
    the client certificate. Returns ``(TokenUser, claims)``; None when the request has
    no credentials (no field, or another scheme), so other authentication classes may
    try.

    Raises:
        BearerInvalidRequest: a malformed ``Authorization`` or ``DPoP`` field (400).
        BearerInvalidToken: the token or its proof is rejected (401).
        KeySetUnavailable: the keys could not be obtained (503).
        ConfigurationError: ``settings.JWKS_CLIENT`` is missing or invalid.
    """

    def authenticate(self, request: Any) -> tuple[TokenUser, dict[str, Any]] | None:
        """Authenticate the request; see the class docstring."""
        binding = _holder.get()
        try:
            claims = binding.verifier.verify_request(
                request.method,
                _request_url(request, binding.base_url),
                request.headers,
                client_cert=_client_cert(request, binding.trust_client_cert_header),
            )
        except NoCredentialsError:
            return None
        except MalformedRequestError as exc:
            raise BearerInvalidRequest(challenge_for(exc, realm=binding.realm)) from exc
        except InvalidTokenError as exc:
            challenge = challenge_for(exc, realm=binding.realm)
            setattr(request, _CHALLENGE_ATTR, challenge)
            raise BearerInvalidToken(challenge) from exc
        except KeySetUnavailableError as exc:
            raise KeySetUnavailable(challenge_for(exc, realm=binding.realm)) from exc
        return TokenUser(claims), claims

    def authenticate_header(self, request: Any) -> str:
        """Return the 401 challenge: with the error after a rejection; else the
        challenges of every scheme the verifier accepts."""
        challenge = getattr(request, _CHALLENGE_ATTR, None)
        if isinstance(challenge, Challenge):
            return challenge.header_dict()["WWW-Authenticate"]
        binding = _holder.get()
        return missing_challenge(binding.verifier, realm=binding.realm).header_dict()[
            "WWW-Authenticate"
        ]


def _request_url(request: Any, base_url: str | None) -> str:
    """The URL the client addressed: ``build_absolute_uri()``, or ``base_url`` + the
    path below the app's root (``path_info``)."""
    if base_url is None:
        return str(request.build_absolute_uri())
    return addressed_url("", base_url=base_url, path=escape_uri_path(request.path_info))


def _client_cert(request: Any, trust_header: bool) -> str | bytes | None:
    """The client certificate: ``SSL_CLIENT_CERT`` (WSGI) or the ``tls`` extension
    (ASGI), PEM; or the ``Client-Cert`` header's (DER) when its proxy is trusted."""
    meta = request.META
    if trust_header:
        value = meta.get("HTTP_CLIENT_CERT")
        return header_client_cert([] if value is None else [value])
    pem = meta.get("SSL_CLIENT_CERT")
    if isinstance(pem, str) and pem:
        return pem
    scope = getattr(request, "scope", None)
    return asgi_client_cert(scope) if isinstance(scope, Mapping) else None


class DPoPNonceMiddleware:
    """Give DPoP clients the server's nonce: the ``DPoP-Nonce`` header (RFC 9449 §8).

    When the verifier requires nonces (``DPoP(nonce_secret=...)``), the answer to every
    request that carries a ``DPoP`` proof gets the current nonce, unless it sets one: a
    refusal for a missing nonce (``use_dpop_nonce``) names the nonce to use, and a
    success the next one. Add ``"jwks_client.integrations.django.DPoPNonceMiddleware"``
    to ``settings.MIDDLEWARE``; with nonces on, the verifier refuses to start without it.

    Args:
        get_response: the next handler, as Django gives it.
    """

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        """Answer the request, adding ``DPoP-Nonce`` to a DPoP client's answer."""
        response = self.get_response(request)
        if "HTTP_DPOP" in request.META and not response.has_header(DPOP_NONCE_HEADER):
            nonce = get_verifier().dpop_nonce()
            if nonce is not None:
                response[DPOP_NONCE_HEADER] = nonce
        return response


class HasScopes(BasePermission):  # type: ignore[misc]
    """Allow a request whose token grants every required scope.

    The required scopes are the class's ``required_scopes`` (see :meth:`of`), else the
    view's ``required_scopes`` attribute. Without a token the request is denied and DRF
    answers 401; with a token lacking a scope it answers 403 ``insufficient_scope``.

    It fails closed: a subclass (or :meth:`of`) with no scopes is refused when it is
    defined, and a view using plain ``HasScopes`` without a non-empty
    ``required_scopes`` raises :class:`ConfigurationError` on every request instead of
    letting any token through.
    """

    required_scopes: tuple[str, ...] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "required_scopes" in cls.__dict__:
            cls.required_scopes = _scopes_of(cls.required_scopes, f"{cls.__name__}.required_scopes")

    @classmethod
    def of(cls, *scopes: str) -> type[HasScopes]:
        """Return a permission class requiring ``scopes`` (all of them, at least one).

        Raises:
            ConfigurationError: no scope, or an invalid scope name.
        """
        names = _scopes_of(scopes, "HasScopes.of()")
        name = f"HasScopes({' '.join(names)})"

        def body(namespace: dict[str, Any]) -> None:
            namespace["required_scopes"] = names

        return cast(type[HasScopes], types.new_class(name, (cls,), exec_body=body))

    def has_permission(self, request: Any, view: Any) -> bool:
        """Return whether the token grants the scopes.

        Raises:
            InsufficientScope: a valid token lacks a scope (403).
            ConfigurationError: neither this class nor the view names a scope.
        """
        required = self.required_scopes or _scopes_of(
            getattr(view, "required_scopes", ()), f"{type(view).__name__}.required_scopes"
        )
        user = request.user
        if not isinstance(user, TokenUser):
            return False
        binding = _holder.get()
        try:
            require_scopes(user.claims, required, verifier=binding.verifier)
        except InsufficientScopeError as exc:
            raise InsufficientScope(challenge_for(exc, realm=binding.realm)) from exc
        return True


def _scopes_of(scopes: Any, where: str) -> tuple[str, ...]:
    # An empty requirement would let every token through: refuse it.
    names = check_scope_names(() if scopes is None else scopes)
    if not names:
        raise ConfigurationError(
            f"{where} names no scope: HasScopes needs at least one "
            f"(HasScopes.of('items:read'), or required_scopes = ['items:read'] on the view)"
        )
    return names
