"""FastAPI and Starlette: JWTBearer and jwks_lifespan against a real LocalIssuer.

Apps run in Starlette's TestClient (the app in a thread with its own event loop; the
lifespan runs when the client is used as a context manager).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI
from starlette.applications import Starlette
from starlette.exceptions import HTTPException, StarletteDeprecationWarning
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from jwks_client import DEFAULT_ALGORITHMS, AsyncVerifier, ConfigurationError
from jwks_client.integrations.starlette import (
    STATE_KEY,
    BearerHTTPException,
    JWTBearer,
    jwks_lifespan,
)
from jwks_client.testing import OMIT, FakeClock, LocalIssuer

with warnings.catch_warnings():
    # Starlette's TestClient prefers the httpx2 package and warns when it falls back to
    # httpx; the fallback is what this environment has.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

AUD = "https://api.example.com"
#: The DPoP challenge a verifier with the default DPoP() options adds (RFC 9449 §7.1).
DPOP_OFFER = 'DPoP realm="api", algs="' + " ".join(sorted(DEFAULT_ALGORITHMS)) + '"'

# Bearers are stateless apart from their options: module-level ones serve every app.
BEARER = JWTBearer()
Claims = Annotated[dict[str, Any], Depends(BEARER)]
NoRealmClaims = Annotated[dict[str, Any], Depends(JWTBearer(realm=None))]
OtherKeyClaims = Annotated[dict[str, Any], Depends(JWTBearer(state_key="other"))]


def fastapi_app(issuer: LocalIssuer, clock: FakeClock, **lifespan: Any) -> FastAPI:
    """A FastAPI app with an open, a scoped and a custom-realm route."""
    app = FastAPI(
        lifespan=jwks_lifespan(
            issuer.issuer, audience=AUD, require_https=False, clock=clock, **lifespan
        )
    )

    @app.get("/me")
    async def me(claims: Claims) -> dict[str, Any]:
        return claims

    @app.get("/write", dependencies=[Depends(BEARER.require_scopes("write", "admin"))])
    async def write(request: Request) -> dict[str, Any]:
        return {"sub": request.state.jwt_claims["sub"]}

    @app.get("/norealm")
    async def norealm(claims: NoRealmClaims) -> dict[str, Any]:
        return claims

    return app


@pytest.fixture
def client(issuer: LocalIssuer, clock: FakeClock) -> Iterator[TestClient]:
    with TestClient(fastapi_app(issuer, clock)) as test_client:
        yield test_client


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- FastAPI ---------------------------------------------------------------------------------


def test_valid_token_returns_claims(client: TestClient, issuer: LocalIssuer) -> None:
    """A valid token reaches the route, which receives the token's claims."""
    token = issuer.token({"sub": "alice"})
    response = client.get("/me", headers=auth(token))
    assert response.status_code == 200
    assert response.json()["sub"] == "alice"
    assert response.json()["iss"] == issuer.issuer


def test_bad_signature_is_401_invalid_token(client: TestClient, issuer: LocalIssuer) -> None:
    """A token whose signature fails answers 401 with the exact invalid_token challenge."""
    response = client.get("/me", headers=auth(issuer.token(signature=b"\x01" * 64)))
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == (
        'Bearer realm="api", error="invalid_token", '
        'error_description="signature does not verify with the matching key (alg ES256)", '
        + DPOP_OFFER
    )
    assert response.json() == {
        "detail": "signature does not verify with the matching key (alg ES256)"
    }


def test_expired_token_is_401_invalid_token(client: TestClient, issuer: LocalIssuer) -> None:
    """An expired token answers 401 invalid_token describing the expiry."""
    response = client.get("/me", headers=auth(issuer.token(expires_in=-3600)))
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith(
        'Bearer realm="api", error="invalid_token", error_description="token expired at '
    )


def test_missing_header_is_401_without_error(client: TestClient) -> None:
    """A request without credentials answers 401 with the realm-only challenges of both
    schemes."""
    response = client.get("/me")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="api", ' + DPOP_OFFER
    assert response.json() == {"detail": "an access token is required"}


def test_other_scheme_is_401_without_error(client: TestClient) -> None:
    """Credentials of another scheme are no bearer credentials: 401 without error."""
    response = client.get("/me", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="api", ' + DPOP_OFFER


def test_malformed_header_is_400_invalid_request(client: TestClient, issuer: LocalIssuer) -> None:
    """A Bearer field with two tokens answers 400 invalid_request."""
    token = issuer.token()
    response = client.get("/me", headers={"Authorization": f"Bearer {token} {token}"})
    assert response.status_code == 400
    assert response.headers["www-authenticate"] == (
        'Bearer realm="api", error="invalid_request", '
        'error_description="the Bearer token must be one token68 value after exactly one space", '
        + DPOP_OFFER
    )
    assert issuer.request_count("jwks") == 0


def test_missing_scope_is_403_insufficient_scope(client: TestClient, issuer: LocalIssuer) -> None:
    """A valid token lacking a required scope answers 403 naming every required scope."""
    response = client.get("/write", headers=auth(issuer.token({"scope": "read write"})))
    assert response.status_code == 403
    assert response.headers["www-authenticate"] == (
        'Bearer realm="api", error="insufficient_scope", '
        'error_description="the token lacks the scope admin", scope="write admin", ' + DPOP_OFFER
    )


def test_granted_scopes_pass(client: TestClient, issuer: LocalIssuer) -> None:
    """A token granting the scopes, here as an Okta-style 'scp' list, reaches the route."""
    token = issuer.token({"scope": OMIT, "scp": ["admin", "write"], "sub": "bob"})
    response = client.get("/write", headers=auth(token))
    assert response.status_code == 200
    assert response.json() == {"sub": "bob"}


def test_issuer_down_at_cold_start_is_503(client: TestClient, issuer: LocalIssuer) -> None:
    """When the keys cannot be fetched on a cold cache the answer is 503 with Retry-After."""
    issuer.fail("status", path="discovery", status=500)
    response = client.get("/me", headers=auth(issuer.token()))
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert "www-authenticate" not in response.headers
    assert response.json() == {"detail": "the token signing keys are temporarily unavailable"}


def test_one_verifier_serves_the_app(client: TestClient, issuer: LocalIssuer) -> None:
    """Requests share the app's verifier: two requests fetch the JWKS once."""
    verifier = client.app.state.jwks_verifier  # type: ignore[attr-defined]
    for _ in range(2):
        assert client.get("/me", headers=auth(issuer.token())).status_code == 200
    assert issuer.request_count("jwks") == 1
    assert client.app.state.jwks_verifier is verifier  # type: ignore[attr-defined]


def test_lifespan_closes_the_verifier(issuer: LocalIssuer, clock: FakeClock) -> None:
    """Shutdown closes the app's verifier and removes it from app.state."""
    app = fastapi_app(issuer, clock)
    with TestClient(app) as test_client:
        verifier = app.state.jwks_verifier
        assert isinstance(verifier, AsyncVerifier)
        assert test_client.get("/me", headers=auth(issuer.token())).status_code == 200
        assert not verifier.closed
    assert verifier.closed
    assert not hasattr(app.state, STATE_KEY)


def test_each_run_gets_a_fresh_verifier(issuer: LocalIssuer, clock: FakeClock) -> None:
    """Starting the same app twice creates a new verifier each time."""
    app = fastapi_app(issuer, clock)
    seen = []
    for _ in range(2):
        with TestClient(app) as test_client:
            assert test_client.get("/me", headers=auth(issuer.token())).status_code == 200
            seen.append(app.state.jwks_verifier)
    assert seen[0] is not seen[1]
    assert all(verifier.closed for verifier in seen)


def test_lifespan_options_reach_the_verifier(issuer: LocalIssuer, clock: FakeClock) -> None:
    """Verifier options given to the lifespan apply: here a required claim."""
    with TestClient(fastapi_app(issuer, clock, required_claims=["tenant"])) as test_client:
        response = test_client.get("/me", headers=auth(issuer.token()))
    assert response.status_code == 401
    assert 'error_description="token has no ' in response.headers["www-authenticate"]


def test_invalid_lifespan_option_fails_startup(issuer: LocalIssuer, clock: FakeClock) -> None:
    """An invalid verifier option is a ConfigurationError when the app starts."""
    app = fastapi_app(issuer, clock, leeway=-1)
    with pytest.raises(ConfigurationError, match="leeway"), TestClient(app):
        pass


def test_realm_none_leaves_it_out(client: TestClient) -> None:
    """A bearer with realm=None sends challenges without a realm."""
    response = client.get("/norealm")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer, " + DPOP_OFFER.replace(
        'realm="api", ', ""
    )


def test_hostile_claims_cannot_break_the_header(client: TestClient, issuer: LocalIssuer) -> None:
    """A quote-laden issuer claim echoed by the error stays inside one quoted description."""
    token = issuer.token({"iss": 'evil", error="none\\'})
    response = client.get("/me", headers=auth(token))
    assert response.status_code == 401
    header = response.headers["www-authenticate"]
    assert header.startswith('Bearer realm="api", error="invalid_token", error_description="')
    assert header.count('"') == 6 + DPOP_OFFER.count('"')
    assert token not in header


def test_without_lifespan_the_dependency_reports_the_misconfiguration(
    issuer: LocalIssuer,
) -> None:
    """Without jwks_lifespan or a verifier, the dependency raises ConfigurationError."""
    app = FastAPI()

    @app.get("/me")
    async def me(claims: Claims) -> dict[str, Any]:
        return claims

    with TestClient(app) as test_client, pytest.raises(ConfigurationError, match="jwks_lifespan"):
        test_client.get("/me", headers=auth(issuer.token()))


def test_custom_state_key(issuer: LocalIssuer, clock: FakeClock) -> None:
    """A lifespan and a bearer agreeing on another state key work together."""
    app = FastAPI(
        lifespan=jwks_lifespan(
            issuer.issuer, audience=AUD, require_https=False, clock=clock, state_key="other"
        )
    )

    @app.get("/me")
    async def me(claims: OtherKeyClaims) -> dict[str, Any]:
        return claims

    with TestClient(app) as test_client:
        assert test_client.get("/me", headers=auth(issuer.token())).status_code == 200
        assert isinstance(app.state.other, AsyncVerifier)


def test_bearer_validates_scopes_and_realm() -> None:
    """Invalid scope names and realms are refused when the bearer is built."""
    with pytest.raises(ConfigurationError, match="invalid scope name"):
        JWTBearer().require_scopes("two words")
    with pytest.raises(ConfigurationError, match="realm must be"):
        JWTBearer(realm='a"b')
    bearer = JWTBearer(scopes=["a"]).require_scopes("b", "a")
    assert bearer.scopes == ("a", "b")
    assert repr(bearer) == "JWTBearer(scopes=('a', 'b'), realm='api')"


async def test_explicit_verifier_needs_no_lifespan(issuer: LocalIssuer, clock: FakeClock) -> None:
    """JWTBearer(verifier=...) uses that verifier, in the app's own event loop."""
    async with AsyncVerifier(
        issuer.issuer, audience=AUD, require_https=False, clock=clock
    ) as verifier:
        app = FastAPI()
        bearer = JWTBearer(verifier)

        @app.get("/me", dependencies=[Depends(bearer)])
        async def me(request: Request) -> dict[str, Any]:
            claims: dict[str, Any] = request.state.jwt_claims
            return claims

        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            ok = await client.get("/me", headers=auth(issuer.token({"sub": "carol"})))
            missing = await client.get("/me")
    assert ok.status_code == 200
    assert ok.json()["sub"] == "carol"
    assert missing.status_code == 401


def test_exception_carries_the_challenge(issuer: LocalIssuer, clock: FakeClock) -> None:
    """A handler registered for BearerHTTPException gets the challenge to shape the body."""
    app = fastapi_app(issuer, clock)

    async def handler(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, BearerHTTPException)
        assert isinstance(exc, HTTPException)
        challenge = exc.challenge
        return JSONResponse(
            {"error": challenge.error, "error_description": challenge.description},
            status_code=challenge.status,
            headers=challenge.header_dict(),
        )

    app.add_exception_handler(BearerHTTPException, handler)
    with TestClient(app) as test_client:
        response = test_client.get("/me", headers=auth(issuer.token(signature=b"\x01" * 64)))
    assert response.status_code == 401
    assert response.json() == {
        "error": "invalid_token",
        "error_description": "signature does not verify with the matching key (alg ES256)",
    }
    assert response.headers["www-authenticate"].startswith('Bearer realm="api", error=')


# --- plain Starlette -----------------------------------------------------------------------


def starlette_app(issuer: LocalIssuer, clock: FakeClock) -> Starlette:
    """A Starlette app whose endpoints are protected with the decorator."""
    bearer = JWTBearer()

    @bearer.protect
    async def me(request: Request) -> Response:
        return JSONResponse({"sub": request.state.jwt_claims["sub"]})

    @bearer.require_scopes("admin").protect
    async def admin(request: Request) -> Response:
        return JSONResponse({"admin": True})

    return Starlette(
        routes=[Route("/me", me), Route("/admin", admin)],
        lifespan=jwks_lifespan(issuer.issuer, audience=AUD, require_https=False, clock=clock),
    )


def test_starlette_decorator(issuer: LocalIssuer, clock: FakeClock) -> None:
    """Protected Starlette endpoints answer 200, 401, 400 and 403 like the dependency."""
    with TestClient(starlette_app(issuer, clock)) as test_client:
        ok = test_client.get("/me", headers=auth(issuer.token({"sub": "dave"})))
        missing = test_client.get("/me")
        malformed = test_client.get("/me", headers={"Authorization": "Bearer"})
        forbidden = test_client.get("/admin", headers=auth(issuer.token()))
    assert (ok.status_code, ok.json()) == (200, {"sub": "dave"})
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == 'Bearer realm="api", ' + DPOP_OFFER
    assert missing.text == "an access token is required"
    assert malformed.status_code == 400
    assert 'error="invalid_request"' in malformed.headers["www-authenticate"]
    assert forbidden.status_code == 403
    assert forbidden.headers["www-authenticate"].endswith('scope="admin", ' + DPOP_OFFER)
