"""Tenants cannot drive outbound traffic through a multi-issuer verifier (item 5).

A ``MultiIssuerVerifier`` fetched a tenant's discovery document and JWKS before looking
at the token's claims: expired or wrong-audience tokens for many allowed tenants each
cost the issuer two or more requests, again on every replay once the key-store registry
evicted their stores. Now the claims are pre-checked before any first fetch, new issuers
start at a bounded rate (refusals counted), and the registry holds every live issuer.

The tenants here are paths of one LocalIssuer that serves none of them: a tenant that
gets a key client costs exactly two requests (both discovery locations answer 404).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from jwks_client import (
    AsyncMultiIssuerVerifier,
    ConfigurationError,
    DiscoveryError,
    ExpiredTokenError,
    InvalidAudienceError,
    JWKSClientError,
    KeySetUnavailableError,
    KeyStoreRegistry,
    MultiIssuerVerifier,
)
from jwks_client.testing import FakeClock, LocalIssuer

from ..faults import AUD, SHELLS

TENANTS = [f"t{index}" for index in range(60)]
Verify = Callable[[str], dict[str, Any]]


class Multi:
    """One synchronous interface over either multi-issuer verifier."""

    def __init__(self, shell: str, issuer: LocalIssuer, clock: FakeClock, **options: Any) -> None:
        options.setdefault("issuer_template", issuer.base_url + "/{tenant}")
        options.setdefault("tenants", set(TENANTS))
        options.setdefault("max_issuers", len(TENANTS))
        options.update(audience=AUD, require_https=False, clock=clock)
        self.loop = asyncio.new_event_loop() if shell == "async" else None
        cls = AsyncMultiIssuerVerifier if shell == "async" else MultiIssuerVerifier
        self.verifier: Any = cls(**options)

    def verify(self, token: str) -> dict[str, Any]:
        if self.loop is not None:
            result: dict[str, Any] = self.loop.run_until_complete(self.verifier.verify(token))
            return result
        result = self.verifier.verify(token)
        return result

    def close(self) -> None:
        if self.loop is not None:
            self.loop.run_until_complete(self.verifier.aclose())
            self.loop.close()
        else:
            self.verifier.close()


@pytest.fixture(params=SHELLS)
def make(
    request: pytest.FixtureRequest, issuer: LocalIssuer, clock: FakeClock
) -> Iterator[Callable[..., Multi]]:
    made: list[Multi] = []

    def factory(**options: Any) -> Multi:
        multi = Multi(request.param, issuer, clock, **options)
        made.append(multi)
        return multi

    yield factory
    for multi in made:
        multi.close()


def tenant_token(issuer: LocalIssuer, tenant: str, **options: Any) -> str:
    """A token signed by ``issuer`` claiming the tenant's issuer."""
    claims = {"iss": f"{issuer.base_url}/{tenant}", **options.pop("claims", {})}
    return issuer.token(claims, **options)


def errors_of(multi: Multi, tokens: list[str]) -> list[JWKSClientError]:
    """Verify each token, which must fail; return the errors."""
    errors = []
    for token in tokens:
        with pytest.raises(JWKSClientError) as caught:
            multi.verify(token)
        errors.append(caught.value)
    return errors


def test_tokens_failing_their_claims_fetch_nothing(
    make: Callable[..., Multi], issuer: LocalIssuer
) -> None:
    """Expired or wrong-audience tokens for 60 allowed tenants are refused for their
    claims, with no request and no key client; a replay costs nothing either."""
    multi = make()
    expired = [tenant_token(issuer, t, expires_in=-3600) for t in TENANTS[:30]]
    elsewhere = [tenant_token(issuer, t, audience="https://other.example") for t in TENANTS[30:]]
    for _ in range(2):
        errors = errors_of(multi, expired + elsewhere)
        assert all(isinstance(e, ExpiredTokenError) for e in errors[:30])
        assert all(isinstance(e, InvalidAudienceError) for e in errors[30:])
    assert issuer.request_count() == 0
    assert multi.verifier.live_issuers == ()


def test_new_issuers_start_at_a_bounded_rate(
    make: Callable[..., Multi], issuer: LocalIssuer, clock: FakeClock
) -> None:
    """With max_new_issuers_per_second=5, twelve new tenants in one instant start five key
    clients (two requests each); the other seven are 503s without a request, counted;
    a second later five more may start."""
    multi = make(max_new_issuers_per_second=5)
    tokens = [tenant_token(issuer, t) for t in TENANTS[:12]]
    errors = errors_of(multi, tokens)
    assert [type(e) for e in errors[:5]] == [DiscoveryError] * 5
    refused = errors[5:]
    assert all(type(e) is KeySetUnavailableError for e in refused)
    assert all("too many new issuers" in str(e) for e in refused)
    assert issuer.request_count() == 10
    assert multi.verifier.stats().new_issuers_refused == 7
    assert len(multi.verifier.live_issuers) == 5

    clock.advance(1.0)
    errors = errors_of(multi, [tenant_token(issuer, t) for t in TENANTS[5:12]])
    assert [type(e) for e in errors] == [DiscoveryError] * 5 + [KeySetUnavailableError] * 2
    assert issuer.request_count() == 20
    assert multi.verifier.stats().new_issuers_refused == 9


def test_issuers_of_a_cached_key_set_spend_no_budget(
    make: Callable[..., Multi], issuer: LocalIssuer
) -> None:
    """Tenants sharing one JWKS URL (one key store) spend the budget once: after the first
    fetch every further tenant starts warm."""
    multi = make(jwks_uri=issuer.jwks_uri, max_new_issuers_per_second=1)
    for tenant in TENANTS[:20]:
        assert multi.verify(tenant_token(issuer, tenant))["iss"].endswith("/" + tenant)
    assert issuer.request_count("jwks") == 1
    assert multi.verifier.stats().new_issuers_refused == 0


@pytest.mark.parametrize("cls", [MultiIssuerVerifier, AsyncMultiIssuerVerifier])
def test_the_store_registry_holds_every_live_issuer(cls: Any) -> None:
    """The key-store registry is grown to at least max_issuers."""
    registry = KeyStoreRegistry(maxsize=10)
    verifier = cls(
        issuer_template="https://login.example/{tenant}/v2.0",
        tenants={"a"},
        audience=AUD,
        max_issuers=600,
        store_registry=registry,
    )
    assert registry.maxsize >= 600
    if cls is MultiIssuerVerifier:
        verifier.close()
    else:
        asyncio.run(verifier.aclose())


@pytest.mark.parametrize("rate", [0, -1, float("nan"), float("inf"), True, "5"])
def test_the_rate_must_be_a_positive_number(rate: Any) -> None:
    """max_new_issuers_per_second must be a finite number > 0."""
    with pytest.raises(ConfigurationError, match="max_new_issuers_per_second"):
        MultiIssuerVerifier(["https://a.example"], audience=AUD, max_new_issuers_per_second=rate)
