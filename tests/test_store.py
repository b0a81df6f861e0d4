"""One key store per source per process: verifiers share keys and single flight."""

from __future__ import annotations

import asyncio
import threading

import httpx

from jwks_client import AsyncVerifier, CachePolicy, JWKSClient, Verifier
from jwks_client._store import _REGISTRY, REGISTRY_SIZE, shared_store
from jwks_client.testing import FakeClock, LocalIssuer

AUD = "https://api.example.com"


def test_two_verifiers_one_fetch(issuer: LocalIssuer, clock: FakeClock) -> None:
    """Two verifiers for the same issuer (and clock) cause one discovery and one fetch."""
    token = issuer.token()
    first = Verifier(issuer.issuer, audience=AUD, require_https=False, clock=clock)
    second = Verifier(issuer.issuer, audience="other", require_https=False, clock=clock)
    with first, second:
        assert first.verify(token)["sub"] == "user-1"
        assert second.verify(issuer.token(audience="other"))["aud"] == "other"
        assert first.jwks_client.state is second.jwks_client.state
    assert issuer.request_count("jwks") == 1
    assert issuer.request_count("discovery") == 1


def test_verifier_per_request_stays_warm(issuer: LocalIssuer, clock: FakeClock) -> None:
    """Creating (and closing) a verifier per request still fetches the keys only once."""
    for _ in range(20):
        with Verifier(issuer.issuer, audience=AUD, require_https=False, clock=clock) as v:
            assert v.verify(issuer.token())["sub"] == "user-1"
    assert issuer.request_count("jwks") == 1


def test_different_sources_do_not_share(issuer: LocalIssuer, clock: FakeClock) -> None:
    """A different JWKS URL, clock or cache policy gets a store of its own."""
    token = issuer.token()
    base = {"audience": AUD, "require_https": False}
    with Verifier(issuer.issuer, clock=clock, **base) as v:
        v.verify(token)
    with Verifier(issuer.issuer, clock=FakeClock(clock()), **base) as v:
        v.verify(token)
    with Verifier(
        issuer.issuer, clock=clock, cache_policy=CachePolicy(default_ttl=30), **base
    ) as v:
        v.verify(token)
    with Verifier(issuer.issuer, clock=clock, jwks_uri=issuer.jwks_uri, **base) as v:
        v.verify(token)
    assert issuer.request_count("jwks") == 4


def test_sync_and_async_share_one_in_flight_fetch(issuer: LocalIssuer, clock: FakeClock) -> None:
    """A thread and asyncio tasks needing the same keys wait on one request."""
    token = issuer.token()
    issuer.hold("jwks")
    sync_verifier = Verifier(
        issuer.issuer, audience=AUD, require_https=False, clock=clock, jwks_uri=issuer.jwks_uri
    )
    results: list[str] = []
    thread = threading.Thread(target=lambda: results.append(sync_verifier.verify(token)["sub"]))
    thread.start()
    assert issuer.wait_for_waiting(1, timeout=10)

    async def tasks() -> list[str]:
        async with AsyncVerifier(
            issuer.issuer,
            audience=AUD,
            require_https=False,
            clock=clock,
            jwks_uri=issuer.jwks_uri,
        ) as verifier:
            pending = [asyncio.create_task(verifier.verify(token)) for _ in range(20)]
            await asyncio.sleep(0)  # let the tasks reach the in-flight refresh
            assert not any(task.done() for task in pending)
            issuer.release("jwks")
            return [claims["sub"] for claims in await asyncio.gather(*pending)]

    assert asyncio.run(asyncio.wait_for(tasks(), timeout=30)) == ["user-1"] * 20
    thread.join(timeout=30)
    sync_verifier.close()
    assert results == ["user-1"]
    assert issuer.request_count("jwks") == 1


def test_jwks_client_and_verifier_share(issuer: LocalIssuer, clock: FakeClock) -> None:
    """The key layer used directly shares the store of a verifier on the same source."""
    with (
        JWKSClient(issuer.jwks_uri, require_https=False, clock=clock) as keys,
        Verifier(
            "any-issuer", audience=AUD, jwks_uri=issuer.jwks_uri, require_https=False, clock=clock
        ) as verifier,
    ):
        ring = keys.key_set()
        assert verifier.jwks_client.state.ring is ring
    assert issuer.request_count("jwks") == 1


def test_registry_is_bounded(issuer: LocalIssuer) -> None:
    """The process keeps at most REGISTRY_SIZE stores."""
    with httpx.Client() as client:
        for _ in range(REGISTRY_SIZE + 10):
            JWKSClient(
                issuer.jwks_uri, require_https=False, clock=FakeClock(), http_client=client
            ).close()
    assert len(_REGISTRY) <= REGISTRY_SIZE


def test_shared_store_identity(issuer: LocalIssuer, clock: FakeClock) -> None:
    """shared_store returns the same store for the same configuration and clock."""
    keys = JWKSClient(issuer.jwks_uri, require_https=False, clock=clock)
    assert shared_store(keys._config, clock) is keys._store
    assert shared_store(keys._config, FakeClock()) is not keys._store
    keys.close()
