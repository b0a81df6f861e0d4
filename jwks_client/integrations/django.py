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
"""

from __future__ import annotations

import atexit
import threading
import types
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, cast

from jwks_client import ConfigurationError, InvalidTokenError, KeySetUnavailableError, Verifier

from ._common import (
    RETRY_AFTER_SECONDS,
    Challenge,
    InsufficientScopeError,
    InvalidRequestError,
    MissingTokenError,
    bearer_token,
    challenge_for,
    check_scope_names,
    missing_extra,
    require_scopes,
    settings_options,
    token_scopes,
    www_authenticate,
)

try:
    from django.conf import settings  # type: ignore[import-untyped]
    from django.core.signals import setting_changed  # type: ignore[import-untyped]
    from rest_framework import exceptions  # type: ignore[import-untyped]
    from rest_framework.authentication import BaseAuthentication  # type: ignore[import-untyped]
    from rest_framework.permissions import BasePermission  # type: ignore[import-untyped]
except ImportError as exc:  # its extra is not installed
    raise missing_extra(__name__, "Django REST framework", "django") from exc

__all__ = [
    "SETTING",
    "BearerInvalidRequest",
    "BearerInvalidToken",
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
    """401 ``invalid_token``: the verifier rejected the token."""

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
                options, realm = settings_options(configured, source=f"settings.{SETTING}")
                self._binding = _Binding(Verifier(**options), realm)
            return self._binding

    def reset(self) -> None:
        with self._lock:
            binding, self._binding = self._binding, None
        if binding is not None:
            binding.verifier.close()


_holder = _Holder()
atexit.register(_holder.reset)


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
    """DRF authentication by ``Authorization: Bearer <token>``, verified against the JWKS.

    Returns ``(TokenUser, claims)``; None when the request has no bearer credentials
    (no field, or another scheme), so other authentication classes may try.

    Raises:
        BearerInvalidRequest: a malformed ``Bearer`` field (400).
        BearerInvalidToken: the token is rejected (401 ``invalid_token``).
        KeySetUnavailable: the keys could not be obtained (503).
        ConfigurationError: ``settings.JWKS_CLIENT`` is missing or invalid.
    """

    def authenticate(self, request: Any) -> tuple[TokenUser, dict[str, Any]] | None:
        """Authenticate the request; see the class docstring."""
        binding = _holder.get()
        try:
            token = bearer_token(request.META.get("HTTP_AUTHORIZATION"))
        except MissingTokenError:
            return None
        except InvalidRequestError as exc:
            raise BearerInvalidRequest(challenge_for(exc, realm=binding.realm)) from exc
        try:
            claims = binding.verifier.verify(token)
        except InvalidTokenError as exc:
            challenge = challenge_for(exc, realm=binding.realm)
            setattr(request, _CHALLENGE_ATTR, challenge)
            raise BearerInvalidToken(challenge) from exc
        except KeySetUnavailableError as exc:
            raise KeySetUnavailable(challenge_for(exc, realm=binding.realm)) from exc
        return TokenUser(claims), claims

    def authenticate_header(self, request: Any) -> str:
        """Return the 401 challenge: with ``error="invalid_token"`` after a rejection."""
        challenge = getattr(request, _CHALLENGE_ATTR, None)
        if isinstance(challenge, Challenge):
            return challenge.header_dict()["WWW-Authenticate"]
        return www_authenticate(_holder.get().realm)


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
        try:
            require_scopes(user.claims, required)
        except InsufficientScopeError as exc:
            raise InsufficientScope(challenge_for(exc, realm=_holder.get().realm)) from exc
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
