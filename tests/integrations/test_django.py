"""Django REST framework: JWKSAuthentication, HasScopes and the process verifier.

Django is configured here (only if nothing configured it before) with the minimal apps
and no database; the URL patterns below are the ROOT_URLCONF. Each test points
``settings.JWKS_CLIENT`` at its own LocalIssuer with ``override_settings``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any, ClassVar

import django
import pytest
from django.conf import settings

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="jwks-client-tests",
        ALLOWED_HOSTS=["testserver"],
        ROOT_URLCONF=__name__,
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "rest_framework"],
        DATABASES={},
        MIDDLEWARE=[],
        USE_TZ=True,
    )
    django.setup()

from django.test import override_settings
from django.urls import path
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.test import APIClient
from rest_framework.views import APIView

from jwks_client import DEFAULT_ALGORITHMS, ConfigurationError, Verifier
from jwks_client.integrations.django import (
    HasScopes,
    JWKSAuthentication,
    TokenUser,
    get_verifier,
    reset_verifier,
)
from jwks_client.testing import FakeClock, LocalIssuer

AUD = "https://api.example.com"
#: The DPoP challenge a verifier with the default DPoP() options adds (RFC 9449 §7.1).
DPOP_OFFER = 'DPoP realm="api", algs="' + " ".join(sorted(DEFAULT_ALGORITHMS)) + '"'


class Protected(APIView):
    """Base of the test views: bearer authentication, JSON only, authentication required."""

    authentication_classes = (JWKSAuthentication,)
    permission_classes: tuple[type[Any], ...] = (IsAuthenticated,)
    renderer_classes = (JSONRenderer,)


class Me(Protected):
    def get(self, request: Request) -> Response:
        user = request.user
        assert isinstance(user, TokenUser)
        return Response(
            {"sub": user.sub, "scopes": sorted(user.scopes), "iss": request.auth["iss"]}
        )


class Write(Protected):
    permission_classes = (HasScopes.of("write", "admin"),)

    def get(self, request: Request) -> Response:
        return Response({"sub": request.user.sub})


class ViewScoped(Protected):
    permission_classes = (HasScopes,)
    required_scopes = ("read",)

    def get(self, request: Request) -> Response:
        return Response({"sub": request.user.sub})


class Open(Protected):
    permission_classes = (AllowAny,)

    def get(self, request: Request) -> Response:
        return Response({"authenticated": request.user.is_authenticated})


urlpatterns = [
    path("me", Me.as_view()),
    path("write", Write.as_view()),
    path("scoped", ViewScoped.as_view()),
    path("open", Open.as_view()),
]


@pytest.fixture
def jwks_settings(issuer: LocalIssuer, clock: FakeClock) -> Iterator[dict[str, Any]]:
    value = {"ISSUER": issuer.issuer, "AUDIENCE": AUD, "REQUIRE_HTTPS": False, "CLOCK": clock}
    with override_settings(ROOT_URLCONF=__name__, JWKS_CLIENT=value):
        yield value


@pytest.fixture
def client(jwks_settings: dict[str, Any]) -> APIClient:
    return APIClient()


def bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def test_valid_token_authenticates_a_token_user(client: APIClient, issuer: LocalIssuer) -> None:
    """A valid token makes request.user a TokenUser and request.auth the claims."""
    token = issuer.token({"sub": "alice", "scope": "read write"})
    response = client.get("/me", **bearer(token))
    assert response.status_code == 200
    assert response.json() == {"sub": "alice", "scopes": ["read", "write"], "iss": issuer.issuer}


def test_bad_signature_is_401_invalid_token(client: APIClient, issuer: LocalIssuer) -> None:
    """A bad signature answers 401 with the exact invalid_token challenge."""
    response = client.get("/me", **bearer(issuer.token(signature=b"\x01" * 64)))
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == (
        'Bearer realm="api", error="invalid_token", '
        'error_description="signature does not verify with the matching key (alg ES256)", '
        + DPOP_OFFER
    )
    assert response.json() == {
        "detail": "signature does not verify with the matching key (alg ES256)"
    }


def test_expired_token_is_401_invalid_token(client: APIClient, issuer: LocalIssuer) -> None:
    """An expired token answers 401 invalid_token describing the expiry."""
    response = client.get("/me", **bearer(issuer.token(expires_in=-3600)))
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith(
        'Bearer realm="api", error="invalid_token", error_description="token expired at '
    )


def test_missing_header_is_401_without_error(client: APIClient) -> None:
    """Without credentials an authenticated view answers 401 with the realm-only
    challenges of both schemes."""
    response = client.get("/me")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="api", ' + DPOP_OFFER


def test_other_scheme_is_anonymous(client: APIClient) -> None:
    """Another scheme leaves the request anonymous: open views run, protected ones say 401."""
    basic = {"HTTP_AUTHORIZATION": "Basic dXNlcjpwYXNz"}
    assert client.get("/open", **basic).json() == {"authenticated": False}
    response = client.get("/me", **basic)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="api", ' + DPOP_OFFER


def test_malformed_header_is_400(client: APIClient, issuer: LocalIssuer) -> None:
    """A malformed Bearer field answers 400 invalid_request, even on an open view."""
    response = client.get("/open", HTTP_AUTHORIZATION="Bearer a b")
    assert response.status_code == 400
    assert response.headers["WWW-Authenticate"] == (
        'Bearer realm="api", error="invalid_request", '
        'error_description="the Bearer token must be one token68 value after exactly one space", '
        + DPOP_OFFER
    )
    assert issuer.request_count() == 0


def test_missing_scope_is_403(client: APIClient, issuer: LocalIssuer) -> None:
    """HasScopes.of answers 403 insufficient_scope naming the scopes, and passes when granted."""
    response = client.get("/write", **bearer(issuer.token({"scope": "write"})))
    assert response.status_code == 403
    assert response.headers["WWW-Authenticate"] == (
        'Bearer realm="api", error="insufficient_scope", '
        'error_description="the token lacks the scope admin", scope="write admin", ' + DPOP_OFFER
    )
    granted = issuer.token({"scp": ["admin", "write"], "scope": None, "sub": "root"})
    assert client.get("/write", **bearer(granted)).json() == {"sub": "root"}


def test_view_required_scopes(client: APIClient, issuer: LocalIssuer) -> None:
    """HasScopes reads the view's required_scopes; without a token it answers 401."""
    assert client.get("/scoped", **bearer(issuer.token({"scope": "read"}))).status_code == 200
    denied = client.get("/scoped", **bearer(issuer.token({"scope": "write"})))
    assert denied.status_code == 403
    assert denied.headers["WWW-Authenticate"].endswith('scope="read", ' + DPOP_OFFER)
    anonymous = client.get("/scoped")
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"] == 'Bearer realm="api", ' + DPOP_OFFER


def test_issuer_down_at_cold_start_is_503(client: APIClient, issuer: LocalIssuer) -> None:
    """Keys that cannot be fetched on a cold cache answer 503 with Retry-After."""
    issuer.fail("status", path="discovery", status=500)
    response = client.get("/me", **bearer(issuer.token()))
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert "WWW-Authenticate" not in response.headers
    assert response.json() == {"detail": "the token signing keys are temporarily unavailable"}


def test_one_verifier_serves_the_process(client: APIClient, issuer: LocalIssuer) -> None:
    """Requests share one open verifier: two requests fetch the JWKS once."""
    verifier = get_verifier()
    for _ in range(2):
        assert client.get("/me", **bearer(issuer.token())).status_code == 200
    assert issuer.request_count("jwks") == 1
    assert get_verifier() is verifier
    assert not verifier.closed


def test_setting_change_replaces_and_closes_the_verifier(
    jwks_settings: dict[str, Any], issuer: LocalIssuer
) -> None:
    """Changing JWKS_CLIENT closes the verifier; the next use builds one from the new value."""
    before = get_verifier()
    with override_settings(JWKS_CLIENT={**jwks_settings, "REALM": "shop"}):
        assert before.closed
        during = get_verifier()
        assert during is not before
        response = APIClient().get("/me")
        assert response.headers["WWW-Authenticate"] == (
            'Bearer realm="shop", ' + DPOP_OFFER.replace('"api"', '"shop"')
        )
    assert during.closed


def test_reset_verifier_closes_it(jwks_settings: dict[str, Any]) -> None:
    """reset_verifier closes the verifier and the next call creates a new one."""
    first = get_verifier()
    reset_verifier()
    assert first.closed
    assert get_verifier() is not first


def test_concurrent_first_use_creates_one_verifier(jwks_settings: dict[str, Any]) -> None:
    """Threads racing on a cold start all get the same verifier."""
    reset_verifier()
    threads_count = 8
    barrier = threading.Barrier(threads_count, timeout=10)
    seen: list[Verifier] = []
    lock = threading.Lock()

    def worker() -> None:
        barrier.wait()
        verifier = get_verifier()
        with lock:
            seen.append(verifier)

    threads = [threading.Thread(target=worker) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len(seen) == threads_count
    assert all(verifier is seen[0] for verifier in seen)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "settings.JWKS_CLIENT is not set"),
        ({"ISSUER": "https://idp.example.com/"}, "settings.JWKS_CLIENT must set AUDIENCE"),
        ({"ISSUER": "https://idp.example.com/", "AUDIENCE": AUD, "TIMEOUT": 0}, "timeout"),
    ],
)
def test_bad_settings_are_configuration_errors(value: Any, message: str) -> None:
    """A missing or invalid JWKS_CLIENT setting raises ConfigurationError on first use."""
    with override_settings(JWKS_CLIENT=value), pytest.raises(ConfigurationError, match=message):
        get_verifier()


def test_token_user_exposes_the_claims() -> None:
    """TokenUser is authenticated, keyed by sub, holds scopes and no model permissions."""
    user = TokenUser({"sub": "u1", "scp": "a b"})
    assert (user.is_authenticated, user.is_anonymous, user.is_active) == (True, False, True)
    assert (user.is_staff, user.is_superuser) == (False, False)
    assert (user.pk, user.id, user.username, user.get_username(), str(user)) == ("u1",) * 5
    assert user.scopes == {"a", "b"}
    assert user.claims == {"sub": "u1", "scp": "a b"}
    assert not user.has_perm("x") and not user.has_perms(["x"]) and not user.has_module_perms("x")
    assert repr(user) == "TokenUser(sub='u1', scopes=['a', 'b'])"
    nameless = TokenUser({"sub": 5})
    assert (nameless.sub, nameless.username) == (None, "")


def test_has_scopes_of_validates_and_names() -> None:
    """HasScopes.of refuses invalid scope names and returns a named subclass."""
    with pytest.raises(ConfigurationError, match="invalid scope name"):
        HasScopes.of("a b")
    scoped = HasScopes.of("read", "write")
    assert issubclass(scoped, HasScopes)
    assert scoped.required_scopes == ("read", "write")
    assert scoped.__name__ == "HasScopes(read write)"


def test_has_scopes_without_scopes_fails_when_defined() -> None:
    """HasScopes.of() and a subclass with empty required_scopes are refused when defined."""
    with pytest.raises(ConfigurationError, match=r"HasScopes\.of\(\) names no scope"):
        HasScopes.of()
    with pytest.raises(ConfigurationError, match=r"Empty\.required_scopes names no scope"):

        class Empty(HasScopes):
            required_scopes = ()

    with pytest.raises(ConfigurationError, match="not a str"):

        class Bare(HasScopes):
            required_scopes = "read"  # type: ignore[assignment]

    class Listed(HasScopes):
        required_scopes: ClassVar = ["read", "read", "write"]

    assert Listed.required_scopes == ("read", "write")


class Unscoped(Protected):
    permission_classes = (HasScopes,)

    def get(self, request: Request) -> Response:
        return Response({"sub": request.user.sub})


class EmptyScoped(Unscoped):
    required_scopes: tuple[str, ...] = ()


urlpatterns += [path("unscoped", Unscoped.as_view()), path("empty", EmptyScoped.as_view())]


@pytest.mark.parametrize(("url", "view"), [("/unscoped", "Unscoped"), ("/empty", "EmptyScoped")])
def test_view_without_scopes_fails_closed(
    client: APIClient, issuer: LocalIssuer, url: str, view: str
) -> None:
    """Plain HasScopes on a view naming no scope refuses every request, token or not."""
    token = issuer.token({"scope": "read write"})
    with pytest.raises(ConfigurationError, match=rf"{view}\.required_scopes names no scope"):
        client.get(url, **bearer(token))
    with pytest.raises(ConfigurationError, match="names no scope"):
        client.get(url)


def test_answers_name_nothing_of_the_server_side(
    client: APIClient, issuer: LocalIssuer, clock: FakeClock
) -> None:
    """An unknown kid whose refresh failed answers 503 (the keys could not be checked),
    naming neither the issuer, its URLs nor the failure."""
    assert client.get("/me", **bearer(issuer.token())).status_code == 200
    clock.advance(31)  # past the refresh cooldown
    issuer.fail("status", status=500, path="all")
    response = client.get("/me", **bearer(issuer.token(kid="unknown")))
    assert response.status_code == 503
    assert "WWW-Authenticate" not in response.headers
    shown = response.content.decode() + response.headers["Retry-After"]
    for fragment in ("127.0.0.1", issuer.base_url, "500", "refresh"):
        assert fragment not in shown
    assert response.json() == {"detail": "the token signing keys are temporarily unavailable"}
