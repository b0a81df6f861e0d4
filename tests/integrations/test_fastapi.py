"""FastAPI: JWTBearer as an OpenAPI security scheme, Security scopes and optional auth.

The OpenAPI document is read from ``app.openapi()``; requests go through Starlette's
TestClient (the app in a thread with its own loop; the lifespan runs in ``with``).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI, Security
from starlette.exceptions import StarletteDeprecationWarning
from starlette.requests import Request

from jwks_client import DEFAULT_ALGORITHMS, ConfigurationError
from jwks_client.integrations import starlette as starlette_integration
from jwks_client.integrations.fastapi import (
    STATE_KEY,
    BearerHTTPException,
    JWTBearer,
    jwks_lifespan,
)
from jwks_client.testing import FakeClock, LocalIssuer

with warnings.catch_warnings():
    # Starlette's TestClient prefers the httpx2 package and warns when it falls back to
    # httpx; the fallback is what this environment has.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

AUD = "https://api.example.com"
#: The DPoP challenge a verifier with the default DPoP() options adds (RFC 9449 §7.1).
DPOP_OFFER = 'DPoP realm="api", algs="' + " ".join(sorted(DEFAULT_ALGORITHMS)) + '"'

bearer = JWTBearer()
optional = JWTBearer(auto_error=False)
Claims = Annotated[dict[str, Any], Depends(bearer)]
MaybeClaims = Annotated[dict[str, Any] | None, Depends(optional)]


async def reader(claims: Annotated[dict[str, Any], Security(bearer, scopes=["read"])]) -> str:
    """A dependency of the app's own that needs the read scope."""
    return str(claims["sub"])


def make_app(issuer: LocalIssuer, clock: FakeClock) -> FastAPI:
    """An app with open, protected, scoped, nested-scope and optional-auth routes."""
    app = FastAPI(
        lifespan=jwks_lifespan(issuer.issuer, audience=AUD, require_https=False, clock=clock)
    )

    @app.get("/open")
    async def open_route() -> dict[str, bool]:
        return {"open": True}

    @app.get("/me", responses=bearer.responses)
    async def me(claims: Claims) -> dict[str, Any]:
        return {"sub": claims["sub"]}

    @app.delete("/items/{item_id}", responses=bearer.responses)
    async def delete_item(
        item_id: int,
        claims: Annotated[dict[str, Any], Security(bearer, scopes=["items:write"])],
    ) -> dict[str, Any]:
        return {"deleted": item_id, "by": claims["sub"]}

    @app.get("/admin", dependencies=[Depends(bearer.require_scopes("admin"))])
    async def admin(request: Request) -> dict[str, Any]:
        return {"sub": request.state.jwt_claims["sub"]}

    @app.get("/report")
    async def report(sub: Annotated[str, Security(reader, scopes=["reports"])]) -> dict[str, str]:
        return {"sub": sub}

    @app.get("/maybe")
    async def maybe(claims: MaybeClaims) -> dict[str, Any]:
        return {"sub": None if claims is None else claims["sub"]}

    return app


@pytest.fixture
def app(issuer: LocalIssuer, clock: FakeClock) -> FastAPI:
    return make_app(issuer, clock)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- the OpenAPI document --------------------------------------------------------------------


def test_openapi_declares_an_http_bearer_jwt_scheme(app: FastAPI) -> None:
    """The document's components declare one HTTP bearer scheme of format JWT."""
    schemes = app.openapi()["components"]["securitySchemes"]
    assert schemes == {"JWTBearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}


def test_openapi_lists_the_requirement_of_each_protected_operation(app: FastAPI) -> None:
    """Every protected operation requires the scheme; the open one requires nothing."""
    paths = app.openapi()["paths"]
    operations = {
        "/me": paths["/me"]["get"],
        "/items": paths["/items/{item_id}"]["delete"],
        "/admin": paths["/admin"]["get"],
        "/report": paths["/report"]["get"],
        "/maybe": paths["/maybe"]["get"],
    }
    for name, operation in operations.items():
        (requirement,) = operation["security"]
        assert set(requirement) == {"JWTBearer"}, name
    assert "security" not in paths["/open"]["get"]
    # Whatever FastAPI lists for a Security(...) requirement comes from its scopes.
    assert set(operations["/items"]["security"][0]["JWTBearer"]) <= {"items:write"}


def test_openapi_documents_the_error_answers(app: FastAPI) -> None:
    """A route given bearer.responses documents 400, 401, 403 and 503 with their bodies."""
    responses = app.openapi()["paths"]["/me"]["get"]["responses"]
    assert set(responses) == {"200", "400", "401", "403", "503"}
    assert "invalid_token" in responses["401"]["description"]
    assert "insufficient_scope" in responses["403"]["description"]
    assert responses["401"]["headers"]["WWW-Authenticate"]["schema"] == {"type": "string"}
    assert responses["503"]["headers"]["Retry-After"]["schema"] == {"type": "integer"}
    body = responses["401"]["content"]["application/json"]["schema"]
    assert body["properties"] == {"detail": {"type": "string"}}


def test_responses_are_a_fresh_copy() -> None:
    """Changing one route's responses leaves the bearer's own untouched."""
    first = bearer.responses
    first[401]["description"] = "changed"
    first[401]["content"]["application/json"]["schema"]["required"].append("x")
    second = bearer.responses
    assert second[401]["description"] != "changed"
    assert second[401]["content"]["application/json"]["schema"]["required"] == ["detail"]


def test_scheme_name_and_description_are_configurable() -> None:
    """A custom scheme name names the component and the requirement; a description shows."""
    named = JWTBearer(scheme_name="Auth0", description="An access token of the issuer")
    app = FastAPI()

    @app.get("/x", dependencies=[Depends(named)])
    async def x() -> None: ...

    document = app.openapi()
    assert document["components"]["securitySchemes"] == {
        "Auth0": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "An access token of the issuer",
        }
    }
    assert document["paths"]["/x"]["get"]["security"] == [{"Auth0": []}]


# --- requests --------------------------------------------------------------------------------


def test_round_trip(client: TestClient, issuer: LocalIssuer) -> None:
    """A valid token gets the claims; none gets 401 with the realm-only challenges."""
    ok = client.get("/me", headers=auth(issuer.token({"sub": "alice"})))
    assert (ok.status_code, ok.json()) == (200, {"sub": "alice"})
    missing = client.get("/me")
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == 'Bearer realm="api", ' + DPOP_OFFER
    assert missing.json() == {"detail": "an access token is required"}


def test_security_scopes_are_required(client: TestClient, issuer: LocalIssuer) -> None:
    """Security(bearer, scopes=[...]) answers 403 naming the scope, and passes when granted."""
    denied = client.delete("/items/7", headers=auth(issuer.token({"scope": "read"})))
    assert denied.status_code == 403
    assert denied.headers["www-authenticate"].endswith('scope="items:write", ' + DPOP_OFFER)
    granted = client.delete("/items/7", headers=auth(issuer.token({"scope": "items:write"})))
    assert granted.json() == {"deleted": 7, "by": "user-1"}


def test_scopes_of_a_security_chain_add_up(client: TestClient, issuer: LocalIssuer) -> None:
    """Scopes asked by every Security(...) up the chain must all be granted."""
    only_read = client.get("/report", headers=auth(issuer.token({"scope": "read"})))
    assert only_read.status_code == 403
    assert only_read.headers["www-authenticate"].endswith('scope="reports read", ' + DPOP_OFFER)
    both = client.get("/report", headers=auth(issuer.token({"scope": "read reports"})))
    assert both.json() == {"sub": "user-1"}


def test_require_scopes_keeps_the_fastapi_options(client: TestClient, issuer: LocalIssuer) -> None:
    """require_scopes returns a FastAPI JWTBearer with the same options and more scopes."""
    derived = JWTBearer(auto_error=False, scheme_name="S", description="d").require_scopes("a")
    assert isinstance(derived, JWTBearer)
    assert (derived.scopes, derived.auto_error, derived.scheme_name) == (("a",), False, "S")
    assert derived.model.description == "d"
    assert (
        repr(derived) == "JWTBearer(scopes=('a',), realm='api', auto_error=False, scheme_name='S')"
    )
    assert client.get("/admin", headers=auth(issuer.token())).status_code == 403


def test_invalid_security_scope_is_a_configuration_error(
    issuer: LocalIssuer, clock: FakeClock
) -> None:
    """A Security scope that is not a scope-token is refused with ConfigurationError."""
    app = FastAPI(
        lifespan=jwks_lifespan(issuer.issuer, audience=AUD, require_https=False, clock=clock)
    )

    @app.get("/x")
    async def x(claims: Annotated[dict[str, Any], Security(bearer, scopes=["two words"])]) -> None:
        pass

    with TestClient(app) as test_client, pytest.raises(ConfigurationError, match="scope name"):
        test_client.get("/x", headers=auth(issuer.token()))


# --- optional authentication -----------------------------------------------------------------


@pytest.mark.parametrize("header", [None, "Basic dXNlcjpwYXNz"])
def test_optional_auth_without_credentials_is_none(client: TestClient, header: str | None) -> None:
    """auto_error=False gives None without bearer credentials (no field, another scheme)."""
    headers = {} if header is None else {"Authorization": header}
    response = client.get("/maybe", headers=headers)
    assert (response.status_code, response.json()) == (200, {"sub": None})


def test_optional_auth_still_judges_present_credentials(
    client: TestClient, issuer: LocalIssuer
) -> None:
    """auto_error=False passes a valid token and still refuses a malformed or invalid one."""
    ok = client.get("/maybe", headers=auth(issuer.token({"sub": "bob"})))
    assert ok.json() == {"sub": "bob"}
    malformed = client.get("/maybe", headers={"Authorization": "Bearer"})
    assert malformed.status_code == 400
    invalid = client.get("/maybe", headers=auth(issuer.token(signature=b"\x01" * 64)))
    assert invalid.status_code == 401
    assert 'error="invalid_token"' in invalid.headers["www-authenticate"]


# --- what the answers reveal -----------------------------------------------------------------


def test_answers_name_nothing_of_the_server_side(
    client: TestClient, issuer: LocalIssuer, clock: FakeClock
) -> None:
    """An unknown kid whose refresh failed answers 503 (the keys could not be checked),
    naming neither the issuer, its URLs nor the failure."""
    assert client.get("/me", headers=auth(issuer.token())).status_code == 200
    clock.advance(31)  # past the refresh cooldown
    issuer.fail("status", status=500, path="all")
    unknown = client.get("/me", headers=auth(issuer.token(kid="unknown")))
    assert unknown.status_code == 503
    assert "www-authenticate" not in unknown.headers
    shown = unknown.text + unknown.headers["retry-after"]
    for fragment in ("127.0.0.1", issuer.base_url, "500", "refresh"):
        assert fragment not in shown
    assert unknown.json() == {"detail": "the token signing keys are temporarily unavailable"}


def test_unavailable_keys_answer_a_generic_503(issuer: LocalIssuer, clock: FakeClock) -> None:
    """Keys that cannot be fetched answer 503 with Retry-After and a fixed body."""
    issuer.fail("status", status=500, path="all")
    with TestClient(make_app(issuer, clock)) as test_client:
        response = test_client.get("/me", headers=auth(issuer.token()))
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert response.json() == {"detail": "the token signing keys are temporarily unavailable"}


def test_module_shares_the_starlette_pieces() -> None:
    """The FastAPI module's lifespan, exception and state key are the Starlette ones."""
    assert jwks_lifespan is starlette_integration.jwks_lifespan
    assert BearerHTTPException is starlette_integration.BearerHTTPException
    assert STATE_KEY == starlette_integration.STATE_KEY
    assert isinstance(bearer, starlette_integration.JWTBearer)


def test_require_scopes_keeps_the_class_and_every_option() -> None:
    """require_scopes gives a dependency of the same class with the same options and the
    scopes added; the original is unchanged, and a bad scope name is refused."""
    from jwks_client.integrations.fastapi import JWTBearer as FastAPIBearer

    base = FastAPIBearer(
        None,
        scopes=("read",),
        realm="api",
        auto_error=False,
        scheme_name="Token",
        description="an access token",
        base_url="https://api.example.com/v1",
    )
    stricter = base.require_scopes("write")
    assert type(stricter) is FastAPIBearer
    assert stricter.scopes == ("read", "write") and base.scopes == ("read",)
    assert (stricter.realm, stricter.auto_error, stricter.scheme_name) == ("api", False, "Token")
    assert stricter.description == "an access token"
    assert stricter.base_url == base.base_url
    plain = starlette_integration.JWTBearer(None, scopes=("a",), state_key="who")
    also = plain.require_scopes("b")
    assert type(also) is starlette_integration.JWTBearer
    assert (also.scopes, also.state_key, plain.scopes) == (("a", "b"), "who", ("a",))
    with pytest.raises(ConfigurationError):
        plain.require_scopes("bad scope")
