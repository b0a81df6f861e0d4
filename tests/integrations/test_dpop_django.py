"""Django REST framework with sender-constrained tokens: DPoP proofs and client certificates.

Django is configured here as in ``test_django`` (only if nothing configured it before);
each test points ``settings.JWKS_CLIENT`` at its own LocalIssuer and this module's URL
patterns with ``override_settings``. ``SSL_CLIENT_CERT`` goes in the WSGI environ, as a
TLS-terminating server sets it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

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
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.test import APIClient
from rest_framework.views import APIView

from jwks_client import DEFAULT_ALGORITHMS, ConfigurationError, DPoP, MemoryReplayStore
from jwks_client.integrations.django import (
    NONCE_MIDDLEWARE,
    HasScopes,
    JWKSAuthentication,
    get_verifier,
    reset_verifier,
)
from jwks_client.testing import ClientCertificate, DPoPKey, FakeClock, LocalIssuer

AUD = "https://api.example.com"
HOST = "api.example.com"
URL = f"https://{HOST}/me"
SECRET = "a nonce secret of at least 16 bytes"
ALGS = " ".join(sorted(DEFAULT_ALGORITHMS))


class Me(APIView):
    authentication_classes = (JWKSAuthentication,)
    permission_classes = (IsAuthenticated,)
    renderer_classes = (JSONRenderer,)

    def get(self, request: Request) -> Response:
        return Response({"sub": request.user.sub})


class Orders(Me):
    permission_classes = (HasScopes.of("orders:write"),)

    def post(self, request: Request) -> Response:
        return Response({"sub": request.user.sub})


urlpatterns = [path("me", Me.as_view()), path("orders", Orders.as_view())]


@pytest.fixture
def configure(issuer: LocalIssuer, clock: FakeClock) -> Iterator[Any]:
    """A function that (re)points the settings at ``issuer`` with extra JWKS_CLIENT keys
    and other settings; the verifier is rebuilt and closed after the test."""
    with override_settings(ROOT_URLCONF=__name__, ALLOWED_HOSTS=[HOST, "testserver"]):
        active: list[Any] = []

        def apply(*, middleware: tuple[str, ...] = (), other: Any = None, **jwks: Any) -> None:
            value = {
                "ISSUER": issuer.issuer,
                "AUDIENCE": AUD,
                "REQUIRE_HTTPS": False,
                "CLOCK": clock,
                "DPOP": DPoP(replay_store=MemoryReplayStore()),
                **jwks,
            }
            overrides = override_settings(
                JWKS_CLIENT=value, MIDDLEWARE=list(middleware), **(other or {})
            )
            overrides.enable()
            active.append(overrides)

        yield apply
        for overrides in reversed(active):
            overrides.disable()
        reset_verifier()


@pytest.fixture
def client(configure: Any) -> APIClient:
    configure()
    return APIClient()


@pytest.fixture
def key(clock: FakeClock) -> DPoPKey:
    return DPoPKey(clock=clock)


def dpop(key: DPoPKey, token: str, method: str = "GET", url: str = URL, **proof: Any) -> Any:
    """The DPoP request's fields as the Django test client takes them."""
    headers = key.headers(method, url, token, **proof)
    return {"HTTP_AUTHORIZATION": headers["Authorization"], "HTTP_DPOP": headers["DPoP"]}


def test_dpop_round_trip(client: APIClient, issuer: LocalIssuer, key: DPoPKey) -> None:
    """A DPoP-bound token with its proof for https://api.example.com/me authenticates."""
    token = issuer.token({"sub": "alice"}, dpop_key=key)
    response = client.get("/me", secure=True, HTTP_HOST=HOST, **dpop(key, token))
    assert (response.status_code, response.json()) == (200, {"sub": "alice"})
    assert not response.has_header("DPoP-Nonce")


def test_a_replay_is_refused(client: APIClient, issuer: LocalIssuer, key: DPoPKey) -> None:
    """The same proof twice: the second answers 401 invalid_dpop_proof."""
    fields = dpop(key, issuer.token(dpop_key=key))
    assert client.get("/me", secure=True, HTTP_HOST=HOST, **fields).status_code == 200
    replayed = client.get("/me", secure=True, HTTP_HOST=HOST, **fields)
    assert replayed.status_code == 401
    assert replayed.headers["WWW-Authenticate"] == (
        'Bearer realm="api", DPoP realm="api", error="invalid_dpop_proof", '
        'error_description="invalid DPoP proof: it was already used (a replay)", '
        f'algs="{ALGS}"'
    )


def test_a_downgrade_is_refused(client: APIClient, issuer: LocalIssuer, key: DPoPKey) -> None:
    """A DPoP-bound token with the Bearer scheme answers 401 invalid_token."""
    token = issuer.token(dpop_key=key)
    response = client.get("/me", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 401
    assert 'Bearer realm="api", error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_a_malformed_dpop_field_is_400(client: APIClient, issuer: LocalIssuer) -> None:
    """A DPoP field holding two proofs answers 400 invalid_request."""
    response = client.get("/me", HTTP_AUTHORIZATION="DPoP abc", HTTP_DPOP="a.b.c, d.e.f")
    assert response.status_code == 400
    assert issuer.request_count() == 0


def test_a_nonce_challenge_is_answered(configure: Any, issuer: LocalIssuer, key: DPoPKey) -> None:
    """With nonces and the middleware: use_dpop_nonce with a DPoP-Nonce, then the retry
    passes and its answer offers the next nonce."""
    configure(
        DPOP=DPoP(nonce_secret=SECRET, replay_store=MemoryReplayStore()),
        middleware=(NONCE_MIDDLEWARE,),
    )
    client = APIClient()
    token = issuer.token(dpop_key=key)
    first = client.get("/me", secure=True, HTTP_HOST=HOST, **dpop(key, token))
    assert first.status_code == 401
    assert 'DPoP realm="api", error="use_dpop_nonce"' in first.headers["WWW-Authenticate"]
    nonce = first.headers["DPoP-Nonce"]
    retry = client.get("/me", secure=True, HTTP_HOST=HOST, **dpop(key, token, nonce=nonce))
    assert retry.status_code == 200
    assert retry.headers["DPoP-Nonce"] == nonce
    bearer = client.get("/me", HTTP_AUTHORIZATION=f"Bearer {issuer.token()}")
    assert bearer.status_code == 200 and not bearer.has_header("DPoP-Nonce")


def test_nonces_without_the_middleware_are_refused(configure: Any) -> None:
    """DPoP nonces without the middleware that sends them is a ConfigurationError."""
    configure(DPOP=DPoP(nonce_secret=SECRET))
    with pytest.raises(ConfigurationError, match="DPoPNonceMiddleware"):
        get_verifier()


def test_a_missing_scope_is_refused_in_the_dpop_challenge(
    client: APIClient, issuer: LocalIssuer, key: DPoPKey
) -> None:
    """403 insufficient_scope goes in the DPoP challenge for a DPoP-bound token."""
    token = issuer.token({"scope": "read"}, dpop_key=key)
    fields = dpop(key, token, "POST", f"https://{HOST}/orders")
    response = client.post("/orders", secure=True, HTTP_HOST=HOST, **fields)
    assert response.status_code == 403
    assert response.headers["WWW-Authenticate"] == (
        'Bearer realm="api", DPoP realm="api", error="insufficient_scope", '
        'error_description="the token lacks the scope orders:write", '
        f'scope="orders:write", algs="{ALGS}"'
    )


def test_missing_credentials_offer_both_schemes_or_dpop_only(configure: Any) -> None:
    """Anonymous requests get the offer: both schemes, or DPoP alone when it is required."""
    configure(DPOP=DPoP(required=True))
    response = APIClient().get("/me")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == f'DPoP realm="api", algs="{ALGS}"'


def test_certificate_bound_token_via_the_environ(client: APIClient, issuer: LocalIssuer) -> None:
    """SSL_CLIENT_CERT binds; none, or only an untrusted Client-Cert header, is refused."""
    cert = ClientCertificate()
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {issuer.token({'sub': 'm'}, client_cert=cert)}"}
    ok = client.get("/me", SSL_CLIENT_CERT=cert.pem, **bearer)
    assert (ok.status_code, ok.json()) == (200, {"sub": "m"})
    assert client.get("/me", **bearer).status_code == 401
    assert client.get("/me", HTTP_CLIENT_CERT=cert.header_value, **bearer).status_code == 401


def test_client_cert_header_when_the_proxy_is_trusted(configure: Any, issuer: LocalIssuer) -> None:
    """With TRUST_CLIENT_CERT_HEADER the Client-Cert header binds, and only it."""
    configure(TRUST_CLIENT_CERT_HEADER=True)
    cert = ClientCertificate()
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {issuer.token(client_cert=cert)}"}
    client = APIClient()
    assert client.get("/me", HTTP_CLIENT_CERT=cert.header_value, **bearer).status_code == 200
    assert client.get("/me", SSL_CLIENT_CERT=cert.pem, **bearer).status_code == 401


def test_base_url_replaces_the_app_root(configure: Any, issuer: LocalIssuer, key: DPoPKey) -> None:
    """BASE_URL + path_info (below SCRIPT_NAME) is the URL checked."""
    configure(BASE_URL="https://public.example.com/api/")
    token = issuer.token(dpop_key=key)
    client = APIClient()
    public = dpop(key, token, url="https://public.example.com/api/me")
    assert client.get("/me", SCRIPT_NAME="/svc", **public).status_code == 200
    seen = dpop(key, token, url="http://testserver/svc/me")
    assert client.get("/me", SCRIPT_NAME="/svc", **seen).status_code == 401


def test_proxy_settings_give_the_client_url(
    configure: Any, issuer: LocalIssuer, key: DPoPKey
) -> None:
    """With SECURE_PROXY_SSL_HEADER and USE_X_FORWARDED_HOST, build_absolute_uri() is the
    URL the client addressed, and a proof for it passes."""
    configure(
        other={
            "SECURE_PROXY_SSL_HEADER": ("HTTP_X_FORWARDED_PROTO", "https"),
            "USE_X_FORWARDED_HOST": True,
        }
    )
    token = issuer.token(dpop_key=key)
    response = APIClient().get(
        "/me", HTTP_X_FORWARDED_PROTO="https", HTTP_X_FORWARDED_HOST=HOST, **dpop(key, token)
    )
    assert response.status_code == 200


def test_request_settings_are_validated(configure: Any) -> None:
    """A bad BASE_URL is a ConfigurationError when the verifier is built."""
    configure(BASE_URL="public.example.com")
    with pytest.raises(ConfigurationError, match="base_url"):
        get_verifier()
