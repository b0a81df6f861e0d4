"""FastAPI and Starlette with sender-constrained tokens: DPoP proofs and client certificates.

Apps run in Starlette's TestClient; tokens come from a LocalIssuer, proofs from
``jwks_client.testing.DPoPKey``. The ASGI ``tls`` extension is set by a small wrapper
around the app, as a server that terminates TLS would set it.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI, Security
from starlette.applications import Starlette
from starlette.exceptions import StarletteDeprecationWarning
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from jwks_client import DEFAULT_ALGORITHMS, ConfigurationError, DPoP, MemoryReplayStore
from jwks_client.integrations import fastapi as fastapi_integration
from jwks_client.integrations import starlette as starlette_integration
from jwks_client.integrations.fastapi import jwks_lifespan
from jwks_client.testing import ClientCertificate, DPoPKey, FakeClock, LocalIssuer

with warnings.catch_warnings():
    # Starlette's TestClient prefers the httpx2 package and warns when it falls back to
    # httpx; the fallback is what this environment has.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

AUD = "https://api.example.com"
HOST = "https://api.example.com"
SECRET = "a nonce secret of at least 16 bytes"
ALGS = " ".join(sorted(DEFAULT_ALGORITHMS))
KINDS = ("fastapi", "starlette")

bearer = fastapi_integration.JWTBearer()
scoped = fastapi_integration.JWTBearer(scopes=["orders:write"])
behind_proxy = fastapi_integration.JWTBearer(base_url="https://public.example.com/api/")
trusting = fastapi_integration.JWTBearer(trust_client_cert_header=True)
maybe = fastapi_integration.JWTBearer(auto_error=False)


def lifespan(issuer: LocalIssuer, clock: FakeClock, **dpop: Any) -> Any:
    """The app's lifespan: a verifier with its own replay store and the DPoP options."""
    return jwks_lifespan(
        issuer.issuer,
        audience=AUD,
        require_https=False,
        clock=clock,
        dpop=DPoP(replay_store=MemoryReplayStore(), **dpop),
    )


def fastapi_app(issuer: LocalIssuer, clock: FakeClock, **dpop: Any) -> FastAPI:
    """A FastAPI app with routes for every bearer of this module."""
    app = FastAPI(lifespan=lifespan(issuer, clock, **dpop))

    @app.get("/items")
    async def items(claims: Annotated[dict[str, Any], Depends(bearer)]) -> dict[str, Any]:
        return {"sub": claims["sub"]}

    @app.post("/orders")
    async def orders(claims: Annotated[dict[str, Any], Security(scoped)]) -> dict[str, Any]:
        return {"sub": claims["sub"]}

    @app.get("/proxied")
    async def proxied(claims: Annotated[dict[str, Any], Depends(behind_proxy)]) -> Any:
        return {"sub": claims["sub"]}

    @app.get("/mtls")
    async def mtls(claims: Annotated[dict[str, Any], Depends(trusting)]) -> Any:
        return {"sub": claims["sub"]}

    @app.get("/maybe")
    async def optional(claims: Annotated[dict[str, Any] | None, Depends(maybe)]) -> Any:
        return {"sub": None if claims is None else claims["sub"]}

    return app


def starlette_app(issuer: LocalIssuer, clock: FakeClock, **dpop: Any) -> Starlette:
    """The same routes (but /maybe) as plain Starlette endpoints under the decorator."""
    plain = starlette_integration.JWTBearer()

    async def sub(request: Request) -> Response:
        return JSONResponse({"sub": request.state.jwt_claims["sub"]})

    routes = [
        Route("/items", plain.protect(sub)),
        Route("/orders", plain.require_scopes("orders:write").protect(sub), methods=["POST"]),
        Route(
            "/proxied",
            starlette_integration.JWTBearer(base_url="https://public.example.com/api").protect(sub),
        ),
        Route("/mtls", starlette_integration.JWTBearer(trust_client_cert_header=True).protect(sub)),
    ]
    return Starlette(routes=routes, lifespan=lifespan(issuer, clock, **dpop))


def make_app(kind: str, issuer: LocalIssuer, clock: FakeClock, **dpop: Any) -> ASGIApp:
    """An app of one kind."""
    if kind == "fastapi":
        return fastapi_app(issuer, clock, **dpop)
    return starlette_app(issuer, clock, **dpop)


def with_tls(app: ASGIApp, pem: str) -> ASGIApp:
    """The app behind a server that terminated TLS with a client certificate."""

    async def served(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            tls = {"tls_version": 0x0304, "client_cert_chain": [pem], "cipher_suite": None}
            scope = {**scope, "extensions": {**scope.get("extensions", {}), "tls": tls}}
        await app(scope, receive, send)

    return served


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def client(kind: str, issuer: LocalIssuer, clock: FakeClock) -> Iterator[TestClient]:
    with TestClient(make_app(kind, issuer, clock), base_url=HOST) as test_client:
        yield test_client


@pytest.fixture
def key(clock: FakeClock) -> DPoPKey:
    return DPoPKey(clock=clock)


def test_dpop_round_trip(client: TestClient, issuer: LocalIssuer, key: DPoPKey) -> None:
    """A DPoP-bound token with its proof for the request's method and URL reaches the
    route; without nonces the answer carries no DPoP-Nonce."""
    token = issuer.token({"sub": "alice"}, dpop_key=key)
    response = client.get("/items?page=2", headers=key.headers("GET", HOST + "/items", token))
    assert (response.status_code, response.json()) == (200, {"sub": "alice"})
    assert "dpop-nonce" not in response.headers


def test_a_bearer_token_still_passes(client: TestClient, issuer: LocalIssuer) -> None:
    """A plain token with the Bearer scheme is accepted as before."""
    response = client.get("/items", headers={"Authorization": f"Bearer {issuer.token()}"})
    assert response.status_code == 200


def test_a_replay_is_refused(client: TestClient, issuer: LocalIssuer, key: DPoPKey) -> None:
    """The same proof twice: the second answers 401 invalid_dpop_proof in the DPoP
    challenge, the Bearer challenge offered without an error."""
    headers = key.headers("GET", HOST + "/items", issuer.token(dpop_key=key))
    assert client.get("/items", headers=headers).status_code == 200
    replayed = client.get("/items", headers=headers)
    assert replayed.status_code == 401
    assert replayed.headers["www-authenticate"] == (
        'Bearer realm="api", DPoP realm="api", error="invalid_dpop_proof", '
        'error_description="invalid DPoP proof: it was already used (a replay)", '
        f'algs="{ALGS}"'
    )


def test_a_downgrade_is_refused(client: TestClient, issuer: LocalIssuer, key: DPoPKey) -> None:
    """A DPoP-bound token sent with the Bearer scheme answers 401 invalid_token."""
    token = issuer.token(dpop_key=key)
    response = client.get("/items", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith(
        'Bearer realm="api", error="invalid_token", error_description="the token is DPoP-bound'
    )


def test_a_proof_for_another_url_is_refused(
    client: TestClient, issuer: LocalIssuer, key: DPoPKey
) -> None:
    """A proof made for another host (the app sees https://api.example.com) is refused."""
    token = issuer.token(dpop_key=key)
    response = client.get("/items", headers=key.headers("GET", "https://evil.example/items", token))
    assert response.status_code == 401
    assert 'error="invalid_dpop_proof"' in response.headers["www-authenticate"]


def test_a_nonce_challenge_is_answered(
    kind: str, issuer: LocalIssuer, clock: FakeClock, key: DPoPKey
) -> None:
    """With nonces, a proof without one answers use_dpop_nonce with a DPoP-Nonce; the
    retry with it passes, and its answer offers the next nonce."""
    token = issuer.token(dpop_key=key)
    url = HOST + "/items"
    app = make_app(kind, issuer, clock, nonce_secret=SECRET)
    with TestClient(app, base_url=HOST) as test_client:
        first = test_client.get("/items", headers=key.headers("GET", url, token))
        assert first.status_code == 401
        assert 'DPoP realm="api", error="use_dpop_nonce"' in first.headers["www-authenticate"]
        nonce = first.headers["dpop-nonce"]
        retry = test_client.get("/items", headers=key.headers("GET", url, token, nonce=nonce))
        assert retry.status_code == 200
        assert retry.headers["dpop-nonce"] == nonce  # the same window: the same nonce
        bearer_token = {"Authorization": f"Bearer {issuer.token()}"}
        plain = test_client.get("/items", headers=bearer_token)
        assert plain.status_code == 200 and "dpop-nonce" not in plain.headers


def test_a_missing_scope_is_refused_in_the_dpop_challenge(
    client: TestClient, issuer: LocalIssuer, key: DPoPKey
) -> None:
    """A DPoP-bound token without the scope answers 403 with the error in the DPoP
    challenge."""
    token = issuer.token({"scope": "read"}, dpop_key=key)
    response = client.post("/orders", headers=key.headers("POST", HOST + "/orders", token))
    assert response.status_code == 403
    assert response.headers["www-authenticate"] == (
        'Bearer realm="api", DPoP realm="api", error="insufficient_scope", '
        'error_description="the token lacks the scope orders:write", '
        f'scope="orders:write", algs="{ALGS}"'
    )


def test_certificate_bound_token_via_the_tls_extension(
    kind: str, issuer: LocalIssuer, clock: FakeClock
) -> None:
    """The client certificate of the TLS extension binds; another one is refused."""
    cert = ClientCertificate()
    headers = {"Authorization": f"Bearer {issuer.token({'sub': 'm'}, client_cert=cert)}"}
    with TestClient(with_tls(make_app(kind, issuer, clock), cert.pem), base_url=HOST) as tls:
        response = tls.get("/items", headers=headers)
        assert (response.status_code, response.json()) == (200, {"sub": "m"})
    other = with_tls(make_app(kind, issuer, clock), ClientCertificate().pem)
    with (
        TestClient(other, base_url=HOST) as wrong,
        TestClient(make_app(kind, issuer, clock)) as none,
    ):
        assert wrong.get("/items", headers=headers).status_code == 401
        refused = none.get("/items", headers=headers)
        assert refused.status_code == 401
        assert "no client certificate" in refused.headers["www-authenticate"]


def test_client_cert_header_only_from_a_trusted_proxy(
    client: TestClient, issuer: LocalIssuer
) -> None:
    """A bearer that trusts the proxy reads Client-Cert; the others ignore it, and a
    malformed one binds nothing."""
    cert = ClientCertificate()
    token = issuer.token(client_cert=cert)
    headers = {"Authorization": f"Bearer {token}", "Client-Cert": cert.header_value}
    assert client.get("/mtls", headers=headers).status_code == 200
    assert client.get("/items", headers=headers).status_code == 401
    malformed = {**headers, "Client-Cert": cert.header_value.strip(":")}
    assert client.get("/mtls", headers=malformed).status_code == 401


def test_base_url_replaces_the_app_root(
    client: TestClient, issuer: LocalIssuer, key: DPoPKey
) -> None:
    """Behind a path-rewriting proxy the proof names the public URL, which base_url gives;
    the URL the app sees is refused there."""
    token = issuer.token(dpop_key=key)
    public = "https://public.example.com/api/proxied"
    assert client.get("/proxied", headers=key.headers("GET", public, token)).status_code == 200
    internal = client.get("/proxied", headers=key.headers("GET", HOST + "/proxied", token))
    assert internal.status_code == 401
    assert "htu" in internal.headers["www-authenticate"]


def test_base_url_with_a_root_path(kind: str, issuer: LocalIssuer, clock: FakeClock) -> None:
    """An app mounted under a root path: the path below it follows base_url."""
    key = DPoPKey(clock=clock)
    token = issuer.token(dpop_key=key)
    public = "https://public.example.com/api/proxied"
    app = make_app(kind, issuer, clock)
    with TestClient(app, base_url=HOST, root_path="/internal") as test_client:
        response = test_client.get("/internal/proxied", headers=key.headers("GET", public, token))
    assert response.status_code == 200


def test_the_scope_scheme_decides_the_url(issuer: LocalIssuer, clock: FakeClock) -> None:
    """request.url follows the scheme and host the server reports (uvicorn's proxy headers
    set the scheme): a proof for https passes over http only if the scope says https."""
    key = DPoPKey(clock=clock)
    token = issuer.token(dpop_key=key)
    with TestClient(fastapi_app(issuer, clock), base_url="http://api.example.com") as plain:
        refused = plain.get("/items", headers=key.headers("GET", HOST + "/items", token))
        assert refused.status_code == 401
        proof_for_http = key.headers("GET", "http://api.example.com/items", token)
        assert plain.get("/items", headers=proof_for_http).status_code == 200


def test_optional_auth_with_dpop(issuer: LocalIssuer, clock: FakeClock, key: DPoPKey) -> None:
    """auto_error=False: a DPoP request is judged in full, none gets None; with DPoP off
    the DPoP scheme counts as no credentials."""
    token = issuer.token({"sub": "o"}, dpop_key=key)
    url = HOST + "/maybe"
    with TestClient(fastapi_app(issuer, clock), base_url=HOST) as test_client:
        assert test_client.get("/maybe", headers=key.headers("GET", url, token)).json() == {
            "sub": "o"
        }
        assert test_client.get("/maybe").json() == {"sub": None}
    app = FastAPI(
        lifespan=jwks_lifespan(
            issuer.issuer, audience=AUD, require_https=False, clock=clock, dpop=None
        )
    )

    @app.get("/maybe")
    async def optional(claims: Annotated[dict[str, Any] | None, Depends(maybe)]) -> Any:
        return {"sub": None if claims is None else claims["sub"]}

    with TestClient(app, base_url=HOST) as off:
        assert off.get("/maybe", headers=key.headers("GET", url, token)).json() == {"sub": None}


def test_bearer_options_are_validated_and_kept() -> None:
    """base_url must be an absolute http(s) URL; require_scopes keeps the request options."""
    with pytest.raises(ConfigurationError, match="base_url"):
        starlette_integration.JWTBearer(base_url="/api")
    with pytest.raises(ConfigurationError, match="base_url"):
        fastapi_integration.JWTBearer(base_url="https://x.example/api?q=1")
    with pytest.raises(ConfigurationError, match="trust_client_cert_header"):
        starlette_integration.JWTBearer(trust_client_cert_header="yes")  # type: ignore[arg-type]
    derived = fastapi_integration.JWTBearer(
        base_url="https://x.example/api/", trust_client_cert_header=True
    ).require_scopes("a")
    assert (derived.base_url, derived.trust_client_cert_header) == ("https://x.example/api", True)
    plain = starlette_integration.JWTBearer(base_url="https://x.example").require_scopes("a")
    assert plain.base_url == "https://x.example"


def test_openapi_keeps_the_bearer_scheme(issuer: LocalIssuer, clock: FakeClock) -> None:
    """The response parameter FastAPI now gives the dependency changes nothing in the
    document: one HTTP bearer scheme, no extra parameter."""
    document = fastapi_app(issuer, clock).openapi()
    assert document["components"]["securitySchemes"] == {
        "JWTBearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    }
    assert "parameters" not in document["paths"]["/items"]["get"]
