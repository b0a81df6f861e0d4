"""Single flight and rate limiting under real concurrency (threads and asyncio tasks)."""

from __future__ import annotations

import asyncio
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from jwks_client import (
    AsyncVerifier,
    CachePolicy,
    HTTPStatusError,
    KeyNotFoundError,
    Verifier,
)
from jwks_client.testing import FakeClock, LocalIssuer

AUD = "https://api.example.com"
POLICY = CachePolicy(refresh_cooldown=30)
THREADS = 32
TASKS = 200


def test_threads_cold_start_share_one_fetch(issuer: LocalIssuer, clock: FakeClock) -> None:
    """32 threads verifying on a cold cache cause one discovery and one JWKS fetch."""
    token = issuer.token()
    issuer.hold("jwks")
    with Verifier(
        issuer.issuer, audience=AUD, require_https=False, clock=clock, cache_policy=POLICY
    ) as verifier:
        start = threading.Barrier(THREADS)

        def work() -> str:
            start.wait(timeout=10)
            return str(verifier.verify(token)["sub"])

        with ThreadPoolExecutor(THREADS) as pool:
            futures = [pool.submit(work) for _ in range(THREADS)]
            assert issuer.wait_for_waiting(1, timeout=10)
            issuer.release("jwks")
            results = [f.result(timeout=30) for f in futures]
    assert results == ["user-1"] * THREADS
    assert issuer.request_count("jwks") == 1
    assert issuer.request_count("discovery") == 1


def test_threads_failed_fetch_fails_all_waiters(issuer: LocalIssuer, clock: FakeClock) -> None:
    """A failed shared fetch fails every waiting thread with the same error; one request."""
    token = issuer.token()
    issuer.fail("status", status=502)
    issuer.hold("jwks")
    with Verifier(
        issuer.issuer, audience=AUD, require_https=False, clock=clock, jwks_uri=issuer.jwks_uri
    ) as verifier:
        start = threading.Barrier(THREADS)

        def work() -> str:
            start.wait(timeout=10)
            try:
                verifier.verify(token)
            except HTTPStatusError as exc:
                return str(exc)
            return "verified"

        with ThreadPoolExecutor(THREADS) as pool:
            futures = [pool.submit(work) for _ in range(THREADS)]
            assert issuer.wait_for_waiting(1, timeout=10)
            issuer.release("jwks")
            results = {f.result(timeout=30) for f in futures}
        assert issuer.request_count("jwks") == 1
        assert len(results) == 1 and "HTTP 502" in results.pop()
        # Nothing was poisoned: once the issuer recovers and the backoff passes, it works.
        issuer.clear_faults()
        clock.advance(2)
        assert verifier.verify(token)["sub"] == "user-1"


async def test_tasks_cold_start_share_one_fetch(issuer: LocalIssuer, clock: FakeClock) -> None:
    """200 asyncio tasks verifying on a cold cache cause one discovery and one JWKS fetch."""
    token = issuer.token()
    issuer.hold("jwks")
    async with AsyncVerifier(
        issuer.issuer, audience=AUD, require_https=False, clock=clock, cache_policy=POLICY
    ) as verifier:
        tasks = [asyncio.create_task(verifier.verify(token)) for _ in range(TASKS)]
        assert await issuer.await_waiting(1, timeout=10)
        issuer.release("jwks")
        results = await asyncio.wait_for(asyncio.gather(*tasks), timeout=30)
    assert [r["sub"] for r in results] == ["user-1"] * TASKS
    assert issuer.request_count("jwks") == 1
    assert issuer.request_count("discovery") == 1


async def test_tasks_failed_fetch_fails_all_waiters(issuer: LocalIssuer, clock: FakeClock) -> None:
    """A failed shared fetch fails every waiting task with the same error; one request."""
    token = issuer.token()
    issuer.fail("status", status=502)
    issuer.hold("jwks")
    async with AsyncVerifier(
        issuer.issuer, audience=AUD, require_https=False, clock=clock, jwks_uri=issuer.jwks_uri
    ) as verifier:
        tasks = [asyncio.create_task(verifier.verify(token)) for _ in range(TASKS)]
        assert await issuer.await_waiting(1, timeout=10)
        issuer.release("jwks")
        results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), timeout=30)
        assert issuer.request_count("jwks") == 1
        assert all(isinstance(r, HTTPStatusError) and r.status_code == 502 for r in results)
        issuer.clear_faults()
        clock.advance(2)
        assert (await verifier.verify(token))["sub"] == "user-1"


@pytest.mark.parametrize("flavour", ["threads", "tasks"])
def test_unknown_kid_flood_one_fetch_per_cooldown(
    issuer: LocalIssuer, clock: FakeClock, flavour: str
) -> None:
    """1000 tokens with random unknown kids cost at most one fetch per cooldown, and a
    genuine rotation during the flood is picked up within one cooldown."""
    options = {
        "audience": AUD,
        "require_https": False,
        "clock": clock,
        "cache_policy": POLICY,
        "jwks_uri": issuer.jwks_uri,
    }
    valid = issuer.token(expires_in=10_000)
    bogus = [issuer.token(kid=secrets.token_urlsafe(8), expires_in=10_000) for _ in range(1000)]
    windows = 4
    per_window = len(bogus) // windows

    def outcomes_sync(verifier: Verifier, tokens: list[str]) -> list[str]:
        def one(token: str) -> str:
            try:
                verifier.verify(token)
            except KeyNotFoundError:
                return "not-found"
            return "ok"

        with ThreadPoolExecutor(8) as pool:
            return list(pool.map(one, tokens, timeout=60))

    async def outcomes_async(verifier: AsyncVerifier, tokens: list[str]) -> list[str]:
        async def one(token: str) -> str:
            try:
                await verifier.verify(token)
            except KeyNotFoundError:
                return "not-found"
            return "ok"

        return list(await asyncio.gather(*(one(t) for t in tokens)))

    if flavour == "threads":
        with Verifier(issuer.issuer, **options) as sync_verifier:
            assert sync_verifier.verify(valid)
            for w in range(windows):
                chunk = bogus[w * per_window : (w + 1) * per_window]
                assert set(outcomes_sync(sync_verifier, chunk)) == {"not-found"}
                clock.advance(POLICY.refresh_cooldown)
            # A rotation in the middle of a flood: the new key works within one cooldown.
            new_kid = issuer.rotate("ES256")
            rotated = issuer.token(kid=new_kid)
            mixed = [*bogus[:100], rotated]
            results = outcomes_sync(sync_verifier, mixed)
            assert results[-1] == "ok"
            assert set(results[:-1]) == {"not-found"}
    else:

        async def main() -> None:
            async with AsyncVerifier(issuer.issuer, **options) as verifier:
                assert await verifier.verify(valid)
                for w in range(windows):
                    chunk = bogus[w * per_window : (w + 1) * per_window]
                    assert set(await outcomes_async(verifier, chunk)) == {"not-found"}
                    clock.advance(POLICY.refresh_cooldown)
                new_kid = issuer.rotate("ES256")
                rotated = issuer.token(kid=new_kid)
                results = await outcomes_async(verifier, [*bogus[:100], rotated])
                assert results[-1] == "ok"
                assert set(results[:-1]) == {"not-found"}

        asyncio.run(main())
    # The initial fetch starts a cooldown that covers window 0; windows 1..3 each cost one
    # fetch; the window of the rotation costs one, which finds the new key.
    assert issuer.request_count("jwks") == 1 + (windows - 1) + 1
