"""Flask: the JWKSAuth extension and its require_token decorator against a LocalIssuer."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask, g
from flask.testing import FlaskClient
from werkzeug.exceptions import Unauthorized

from jwks_client import DEFAULT_ALGORITHMS, ConfigurationError
from jwks_client.integrations.flask import EXTENSION_KEY, BearerHTTPException, JWKSAuth
from jwks_client.testing import FakeClock, LocalIssuer

AUD = "https://api.example.com"
#: The DPoP challenge a verifier with the default DPoP() options adds (RFC 9449 §7.1).
DPOP_OFFER = 'DPoP realm="api", algs="' + " ".join(sorted(DEFAULT_ALGORITHMS)) + '"'


def add_routes(app: Flask, auth: JWKSAuth) -> None:
    """Register an open, a scoped, an async and a parametrised route."""

    @app.get("/me")
    @auth.require_token
    def me() -> dict[str, Any]:
        claims: dict[str, Any] = g.jwt_claims
        return claims

    @app.get("/write")
    @auth.require_token(scopes=["write", "admin"])
    def write() -> dict[str, Any]:
        return {"sub": g.jwt_claims["sub"]}

    @app.get("/items/<int:item_id>")
    @auth.require_token()
    def item(item_id: int) -> dict[str, Any]:
        return {"item": item_id, "sub": g.jwt_claims["sub"]}

    @app.get("/async")
    @auth.require_token(scopes=["read"])
    async def asynchronous() -> dict[str, Any]:
        return {"sub": g.jwt_claims["sub"]}


def make_app(issuer: LocalIssuer, clock: FakeClock, **options: Any) -> tuple[Flask, JWKSAuth]:
    app = Flask(__name__)
    auth = JWKSAuth(
        app, issuer=issuer.issuer, audience=AUD, require_https=False, clock=clock, **options
    )
    add_routes(app, auth)
    return app, auth


@pytest.fixture
def app(issuer: LocalIssuer, clock: FakeClock) -> Iterator[Flask]:
    flask_app, auth = make_app(issuer, clock)
    yield flask_app
    auth.close(flask_app)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def auth_header(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_valid_token_puts_claims_on_g(client: FlaskClient, issuer: LocalIssuer) -> None:
    """A valid token runs the view, which finds the claims on flask.g.jwt_claims."""
    response = client.get("/me", headers=auth_header(issuer.token({"sub": "alice"})))
    assert response.status_code == 200
    assert response.get_json()["sub"] == "alice"


def test_view_gets_only_its_own_arguments(client: FlaskClient, issuer: LocalIssuer) -> None:
    """The decorated view receives its URL arguments and nothing else."""
    response = client.get("/items/7", headers=auth_header(issuer.token({"sub": "bob"})))
    assert response.status_code == 200
    assert response.get_json() == {"item": 7, "sub": "bob"}


def test_async_view(client: FlaskClient, issuer: LocalIssuer) -> None:
    """An async view is protected the same way."""
    response = client.get("/async", headers=auth_header(issuer.token({"sub": "eve"})))
    assert response.status_code == 200
    assert response.get_json() == {"sub": "eve"}
    assert client.get("/async").status_code == 401


def test_bad_signature_is_401_invalid_token(client: FlaskClient, issuer: LocalIssuer) -> None:
    """A bad signature answers 401 with the exact invalid_token challenge and a JSON body."""
    response = client.get("/me", headers=auth_header(issuer.token(signature=b"\x01" * 64)))
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == (
        'Bearer realm="api", error="invalid_token", '
        'error_description="signature does not verify with the matching key (alg ES256)", '
        + DPOP_OFFER
    )
    assert response.mimetype == "application/json"
    assert response.get_json() == {
        "detail": "signature does not verify with the matching key (alg ES256)"
    }


def test_expired_token_is_401_invalid_token(client: FlaskClient, issuer: LocalIssuer) -> None:
    """An expired token answers 401 invalid_token describing the expiry."""
    response = client.get("/me", headers=auth_header(issuer.token(expires_in=-3600)))
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith(
        'Bearer realm="api", error="invalid_token", error_description="token expired at '
    )


def test_missing_header_is_401_without_error(client: FlaskClient) -> None:
    """No credentials answer 401 with the realm-only challenges of both schemes."""
    response = client.get("/me")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="api", ' + DPOP_OFFER
    assert response.get_json() == {"detail": "an access token is required"}


def test_malformed_header_is_400(client: FlaskClient, issuer: LocalIssuer) -> None:
    """A Bearer field without a token answers 400 invalid_request, fetching nothing."""
    response = client.get("/me", headers={"Authorization": "Bearer "})
    assert response.status_code == 400
    assert response.headers["WWW-Authenticate"] == (
        'Bearer realm="api", error="invalid_request", '
        'error_description="the Authorization header\'s Bearer scheme has no token", ' + DPOP_OFFER
    )
    assert issuer.request_count() == 0


def test_missing_scope_is_403(client: FlaskClient, issuer: LocalIssuer) -> None:
    """A valid token lacking a scope answers 403 insufficient_scope naming the scopes."""
    response = client.get("/write", headers=auth_header(issuer.token({"scope": "write"})))
    assert response.status_code == 403
    assert response.headers["WWW-Authenticate"] == (
        'Bearer realm="api", error="insufficient_scope", '
        'error_description="the token lacks the scope admin", scope="write admin", ' + DPOP_OFFER
    )
    granted = issuer.token({"scope": "admin write", "sub": "root"})
    assert client.get("/write", headers=auth_header(granted)).get_json() == {"sub": "root"}


def test_issuer_down_at_cold_start_is_503(client: FlaskClient, issuer: LocalIssuer) -> None:
    """Keys that cannot be fetched on a cold cache answer 503 with Retry-After."""
    issuer.fail("status", path="all", status=502)
    response = client.get("/me", headers=auth_header(issuer.token()))
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert "WWW-Authenticate" not in response.headers
    assert response.get_json() == {"detail": "the token signing keys are temporarily unavailable"}


def test_one_verifier_per_app_kept_open(
    app: Flask, client: FlaskClient, issuer: LocalIssuer
) -> None:
    """Requests share the app's open verifier: two requests fetch the JWKS once."""
    verifier = app.extensions[EXTENSION_KEY].verifier
    for _ in range(2):
        assert client.get("/me", headers=auth_header(issuer.token())).status_code == 200
    assert issuer.request_count("jwks") == 1
    assert app.extensions[EXTENSION_KEY].verifier is verifier
    assert not verifier.closed


def test_close_closes_the_verifier(issuer: LocalIssuer, clock: FakeClock) -> None:
    """JWKSAuth.close closes the app's verifier and detaches it; a second close is a no-op."""
    app, auth = make_app(issuer, clock)
    verifier = auth.verifier(app)
    auth.close(app)
    assert verifier.closed
    assert EXTENSION_KEY not in app.extensions
    auth.close(app)
    with app.app_context(), pytest.raises(ConfigurationError, match="init_app was not called"):
        auth.verifier()


def test_verifier_closes_with_the_app(issuer: LocalIssuer, clock: FakeClock) -> None:
    """When the app is garbage-collected its verifier is closed."""
    app, auth = make_app(issuer, clock)
    verifier = auth.verifier(app)
    del app
    gc.collect()
    assert verifier.closed


def test_factory_pattern_reads_app_config(issuer: LocalIssuer, clock: FakeClock) -> None:
    """init_app reads app.config["JWKS_CLIENT"]; constructor keywords take precedence."""
    auth = JWKSAuth(realm="shop", audience=AUD)
    app = Flask(__name__)
    app.config["JWKS_CLIENT"] = {
        "ISSUER": issuer.issuer,
        "AUDIENCE": "https://other.example.com",
        "REQUIRE_HTTPS": False,
        "CLOCK": clock,
    }
    auth.init_app(app)
    add_routes(app, auth)
    client = app.test_client()
    try:
        assert client.get("/me", headers=auth_header(issuer.token())).status_code == 200
        assert client.get("/me").headers["WWW-Authenticate"] == (
            'Bearer realm="shop", ' + DPOP_OFFER.replace('"api"', '"shop"')
        )
        verifier = auth.verifier(app)
        auth.init_app(app)
        assert auth.verifier(app) is verifier
    finally:
        auth.close(app)


def test_one_extension_serves_two_apps(issuer: LocalIssuer, clock: FakeClock) -> None:
    """An extension initialised on two apps gives each its own verifier."""
    auth = JWKSAuth(issuer=issuer.issuer, audience=AUD, require_https=False, clock=clock)
    first, second = Flask("first"), Flask("second")
    for flask_app in (first, second):
        auth.init_app(flask_app)
        add_routes(flask_app, auth)
    try:
        assert auth.verifier(first) is not auth.verifier(second)
        for flask_app in (first, second):
            response = flask_app.test_client().get("/me", headers=auth_header(issuer.token()))
            assert response.status_code == 200
    finally:
        auth.close(first)
        auth.close(second)


@pytest.mark.parametrize(
    ("config", "options", "message"),
    [
        ({}, {"issuer": "https://idp.example.com/"}, "must set AUDIENCE"),
        ({"ISSUER": "https://idp.example.com/", "AUDIENCE": AUD, "LEWAY": 1}, {}, "LEWAY"),
        ("not a dict", {}, "must be a dict"),
        ({}, {"issuer": "https://idp.example.com/", "audience": AUD, "leeway": -1}, "leeway"),
    ],
)
def test_bad_configuration_is_refused(config: Any, options: dict[str, Any], message: str) -> None:
    """A missing audience, an unknown key, a non-dict config or a bad option is refused."""
    app = Flask(__name__)
    app.config["JWKS_CLIENT"] = config
    with pytest.raises(ConfigurationError, match=message):
        JWKSAuth(app, **options)
    assert EXTENSION_KEY not in app.extensions


def test_bad_scope_or_realm_is_refused() -> None:
    """An invalid scope name fails at decoration, an invalid realm at construction."""
    auth = JWKSAuth()
    with pytest.raises(ConfigurationError, match="invalid scope name"):
        auth.require_token(scopes=["a b"])
    with pytest.raises(ConfigurationError, match="realm must be"):
        JWKSAuth(realm="")


def test_error_handler_sees_the_challenge(issuer: LocalIssuer, clock: FakeClock) -> None:
    """An app's 401 handler receives the BearerHTTPException and its challenge."""
    app, auth = make_app(issuer, clock)

    @app.errorhandler(401)
    def unauthorized(exc: Exception) -> tuple[dict[str, Any], int, dict[str, str]]:
        assert isinstance(exc, BearerHTTPException)
        assert isinstance(exc, Unauthorized)
        challenge = exc.challenge
        return {"error": challenge.error}, challenge.status, challenge.header_dict()

    try:
        response = app.test_client().get("/me", headers=auth_header(issuer.token(expires_in=-1e4)))
        assert response.get_json() == {"error": "invalid_token"}
        assert response.headers["WWW-Authenticate"].startswith('Bearer realm="api", error=')
    finally:
        auth.close(app)


def test_answers_name_nothing_of_the_server_side(
    client: FlaskClient, issuer: LocalIssuer, clock: FakeClock
) -> None:
    """An unknown kid whose refresh failed answers 503 (the keys could not be checked),
    naming neither the issuer, its URLs nor the failure."""
    assert client.get("/me", headers=auth_header(issuer.token())).status_code == 200
    clock.advance(31)  # past the refresh cooldown
    issuer.fail("status", status=500, path="all")
    response = client.get("/me", headers=auth_header(issuer.token(kid="unknown")))
    assert response.status_code == 503
    assert "WWW-Authenticate" not in response.headers
    shown = response.get_data(as_text=True) + response.headers["Retry-After"]
    for fragment in ("127.0.0.1", issuer.base_url, "500", "refresh"):
        assert fragment not in shown
