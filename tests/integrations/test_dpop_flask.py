"""Flask with sender-constrained tokens: DPoP proofs and client certificates.

Requests go through Flask's test client; ``SSL_CLIENT_CERT`` is set in the WSGI environ
as a TLS-terminating server (Apache mod_ssl with ``+ExportCertData``) sets it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask, g
from flask.testing import FlaskClient
from werkzeug.middleware.proxy_fix import ProxyFix

from jwks_client import DEFAULT_ALGORITHMS, ConfigurationError, DPoP, MemoryReplayStore
from jwks_client.integrations.flask import JWKSAuth
from jwks_client.testing import ClientCertificate, DPoPKey, FakeClock, LocalIssuer

AUD = "https://api.example.com"
HOST = "https://api.example.com"
SECRET = "a nonce secret of at least 16 bytes"
ALGS = " ".join(sorted(DEFAULT_ALGORITHMS))


def make_app(
    issuer: LocalIssuer, clock: FakeClock, *, dpop: dict[str, Any] | None = None, **options: Any
) -> tuple[Flask, JWKSAuth]:
    """An app whose verifier has its own replay store, with a plain and a scoped route."""
    app = Flask(__name__)
    auth = JWKSAuth(
        app,
        issuer=issuer.issuer,
        audience=AUD,
        require_https=False,
        clock=clock,
        dpop=DPoP(replay_store=MemoryReplayStore(), **(dpop or {})),
        **options,
    )

    @app.get("/items")
    @auth.require_token
    def items() -> dict[str, Any]:
        return {"sub": g.jwt_claims["sub"]}

    @app.post("/orders")
    @auth.require_token(scopes=["orders:write"])
    def orders() -> dict[str, Any]:
        return {"sub": g.jwt_claims["sub"]}

    return app, auth


@pytest.fixture
def app(issuer: LocalIssuer, clock: FakeClock) -> Iterator[Flask]:
    flask_app, auth = make_app(issuer, clock)
    yield flask_app
    auth.close(flask_app)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def key(clock: FakeClock) -> DPoPKey:
    return DPoPKey(clock=clock)


def get(client: FlaskClient, path: str, headers: dict[str, str], **options: Any) -> Any:
    """GET ``path`` at https://api.example.com."""
    return client.get(path, headers=headers, base_url=HOST, **options)


def test_dpop_round_trip(client: FlaskClient, issuer: LocalIssuer, key: DPoPKey) -> None:
    """A DPoP-bound token with its proof reaches the view; no nonce without nonces."""
    token = issuer.token({"sub": "alice"}, dpop_key=key)
    response = get(client, "/items?page=1", key.headers("GET", HOST + "/items", token))
    assert (response.status_code, response.get_json()) == (200, {"sub": "alice"})
    assert "DPoP-Nonce" not in response.headers


def test_a_replay_is_refused(client: FlaskClient, issuer: LocalIssuer, key: DPoPKey) -> None:
    """The same proof twice: the second answers 401 invalid_dpop_proof."""
    headers = key.headers("GET", HOST + "/items", issuer.token(dpop_key=key))
    assert get(client, "/items", headers).status_code == 200
    replayed = get(client, "/items", headers)
    assert replayed.status_code == 401
    assert replayed.headers["WWW-Authenticate"] == (
        'Bearer realm="api", DPoP realm="api", error="invalid_dpop_proof", '
        'error_description="invalid DPoP proof: it was already used (a replay)", '
        f'algs="{ALGS}"'
    )
    assert replayed.get_json() == {"detail": "invalid DPoP proof: it was already used (a replay)"}


def test_a_downgrade_is_refused(client: FlaskClient, issuer: LocalIssuer, key: DPoPKey) -> None:
    """A DPoP-bound token with the Bearer scheme answers 401 invalid_token."""
    response = get(client, "/items", {"Authorization": f"Bearer {issuer.token(dpop_key=key)}"})
    assert response.status_code == 401
    assert 'Bearer realm="api", error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_a_nonce_challenge_is_answered(issuer: LocalIssuer, clock: FakeClock, key: DPoPKey) -> None:
    """With nonces: use_dpop_nonce with a DPoP-Nonce, then the retry passes and its
    answer offers the next nonce."""
    app, auth = make_app(issuer, clock, dpop={"nonce_secret": SECRET})
    client = app.test_client()
    token = issuer.token(dpop_key=key)
    url = HOST + "/items"
    try:
        first = get(client, "/items", key.headers("GET", url, token))
        assert first.status_code == 401
        assert 'error="use_dpop_nonce"' in first.headers["WWW-Authenticate"]
        nonce = first.headers["DPoP-Nonce"]
        retry = get(client, "/items", key.headers("GET", url, token, nonce=nonce))
        assert retry.status_code == 200
        assert retry.headers["DPoP-Nonce"] == nonce
    finally:
        auth.close(app)


def test_a_missing_scope_is_refused_in_the_dpop_challenge(
    client: FlaskClient, issuer: LocalIssuer, key: DPoPKey
) -> None:
    """403 insufficient_scope goes in the challenge of the scheme used: DPoP."""
    token = issuer.token({"scope": "read"}, dpop_key=key)
    response = client.post(
        "/orders", headers=key.headers("POST", HOST + "/orders", token), base_url=HOST
    )
    assert response.status_code == 403
    assert response.headers["WWW-Authenticate"].startswith(
        'Bearer realm="api", DPoP realm="api", error="insufficient_scope"'
    )


def test_certificate_bound_token_via_the_environ(client: FlaskClient, issuer: LocalIssuer) -> None:
    """SSL_CLIENT_CERT binds; another certificate, or none, is refused."""
    cert = ClientCertificate()
    headers = {"Authorization": f"Bearer {issuer.token({'sub': 'm'}, client_cert=cert)}"}
    ok = get(client, "/items", headers, environ_base={"SSL_CLIENT_CERT": cert.pem})
    assert (ok.status_code, ok.get_json()) == (200, {"sub": "m"})
    other = {"SSL_CLIENT_CERT": ClientCertificate().pem}
    assert get(client, "/items", headers, environ_base=other).status_code == 401
    assert get(client, "/items", headers, environ_base={"SSL_CLIENT_CERT": ""}).status_code == 401
    # A Client-Cert header is not trusted by default.
    assert get(client, "/items", {**headers, "Client-Cert": cert.header_value}).status_code == 401


def test_client_cert_header_when_the_proxy_is_trusted(
    issuer: LocalIssuer, clock: FakeClock
) -> None:
    """With TRUST_CLIENT_CERT_HEADER the Client-Cert header binds, and the environ's
    certificate (the proxy's connection) is not used."""
    cert = ClientCertificate()
    app = Flask(__name__)
    app.config["JWKS_CLIENT"] = {"TRUST_CLIENT_CERT_HEADER": True}
    auth = JWKSAuth(app, issuer=issuer.issuer, audience=AUD, require_https=False, clock=clock)

    @app.get("/items")
    @auth.require_token
    def items() -> dict[str, Any]:
        return {"sub": g.jwt_claims["sub"]}

    client = app.test_client()
    token = issuer.token(client_cert=cert)
    try:
        headers = {"Authorization": f"Bearer {token}", "Client-Cert": cert.header_value}
        assert get(client, "/items", headers).status_code == 200
        environ_only = {"SSL_CLIENT_CERT": cert.pem}
        bare = {"Authorization": f"Bearer {token}"}
        assert get(client, "/items", bare, environ_base=environ_only).status_code == 401
    finally:
        auth.close(app)


def test_base_url_replaces_the_app_root(issuer: LocalIssuer, clock: FakeClock) -> None:
    """An app under a script root behind a rewriting proxy: base_url + the path below
    the root is the URL checked, and the URL the app sees is refused."""
    key = DPoPKey(clock=clock)
    app, auth = make_app(issuer, clock, base_url="https://public.example.com/api")
    client = app.test_client()
    token = issuer.token(dpop_key=key)
    internal = "http://app.internal:8000/svc"
    try:
        public = key.headers("GET", "https://public.example.com/api/items", token)
        assert client.get("/items", headers=public, base_url=internal).status_code == 200
        seen = key.headers("GET", internal + "/items", token)
        assert client.get("/items", headers=seen, base_url=internal).status_code == 401
    finally:
        auth.close(app)


def test_proxy_fix_gives_the_client_url(issuer: LocalIssuer, clock: FakeClock) -> None:
    """Behind ProxyFix, request.url is the URL the client addressed (scheme, host and
    prefix from X-Forwarded-*), and a proof for it passes."""
    key = DPoPKey(clock=clock)
    app, auth = make_app(issuer, clock)
    app.wsgi_app = ProxyFix(app.wsgi_app, x_proto=1, x_host=1, x_prefix=1)  # type: ignore[method-assign]
    client = app.test_client()
    token = issuer.token(dpop_key=key)
    forwarded = {
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "shop.example.com",
        "X-Forwarded-Prefix": "/v2",
    }
    try:
        proof = key.headers("GET", "https://shop.example.com/v2/items", token)
        response = client.get("/items", headers={**proof, **forwarded})
        assert response.status_code == 200
    finally:
        auth.close(app)


def test_request_options_are_validated(issuer: LocalIssuer, clock: FakeClock) -> None:
    """A bad base URL or trust flag is a ConfigurationError, from keywords or config."""
    with pytest.raises(ConfigurationError, match="base_url"):
        JWKSAuth(base_url="api.example.com")
    with pytest.raises(ConfigurationError, match="trust_client_cert_header"):
        JWKSAuth(trust_client_cert_header=1)  # type: ignore[arg-type]
    app = Flask(__name__)
    app.config["JWKS_CLIENT"] = {"BASE_URL": "ftp://x.example"}
    with pytest.raises(ConfigurationError, match="base_url"):
        JWKSAuth(app, issuer=issuer.issuer, audience=AUD, require_https=False, clock=clock)
