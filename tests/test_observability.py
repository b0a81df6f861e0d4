"""Observability: stats snapshots, event hooks and structured logging."""

from __future__ import annotations

import asyncio
import logging

import pytest

from jwks_client import (
    AsyncVerifier,
    CachePolicy,
    Event,
    ExpiredTokenError,
    FetchFailed,
    KeyNotFoundError,
    KeySetFetched,
    KeySetRotated,
    StaleKeysServed,
    Verifier,
)
from jwks_client.testing import FakeClock, LocalIssuer

AUD = "https://api.example.com"
POLICY = CachePolicy(refresh_cooldown=30, stale_if_error=600)


def make(issuer: LocalIssuer, clock: FakeClock, events: list[Event] | None = None) -> Verifier:
    return Verifier(
        issuer.issuer,
        audience=AUD,
        require_https=False,
        clock=clock,
        cache_policy=POLICY,
        on_event=None if events is None else events.append,
        verified_token_cache_size=4,
    )


def test_stats_count_outcomes_and_cache(issuer: LocalIssuer, clock: FakeClock) -> None:
    """stats() counts verifications by outcome, cache hits/misses, refreshes and kids."""
    with make(issuer, clock) as verifier:
        token = issuer.token()
        verifier.verify(token)  # cold: a miss and one refresh
        verifier.verify(token)  # served by the verified-token cache
        verifier.verify(issuer.token())  # key cache hit
        with pytest.raises(KeyNotFoundError):
            verifier.verify(issuer.token(kid="unknown"))  # rate limited: inside the cooldown
        with pytest.raises(ExpiredTokenError):
            verifier.verify(issuer.token(expires_in=-1000))
        stats = verifier.stats()
    assert stats.verified == 3
    assert stats.rejected == {"KeyNotFoundError": 1, "ExpiredTokenError": 1}
    assert stats.token_cache_hits == 1
    assert stats.key_cache_misses == 1
    assert stats.key_cache_hits == 3  # token-cache hit, warm verify, expired token's lookup
    assert stats.rate_limited == 1
    assert (stats.refreshes, stats.key_sets, stats.not_modified, stats.fetch_errors) == (1, 1, 0, 0)
    assert stats.kids == (issuer.signing_kid(),)
    assert stats.fresh_until == clock() + 300
    assert stats.stale_until == clock() + 300 + 600
    assert stats.jwks_uri == issuer.jwks_uri


def test_events_fetched_rotated_failed_stale(issuer: LocalIssuer, clock: FakeClock) -> None:
    """Hooks hear fetches, rotations (kids added/removed), failures and stale serving."""
    events: list[Event] = []
    with make(issuer, clock, events) as verifier:
        token = issuer.token(expires_in=100_000)
        verifier.verify(token)
        assert events == [
            KeySetFetched(
                jwks_uri=issuer.jwks_uri,
                kids=frozenset({issuer.signing_kid()}),
                not_modified=False,
                lifetime=300,
                skipped=0,
            )
        ]
        old = issuer.signing_kid()
        new = issuer.rotate("ES256")
        clock.advance(30)
        verifier.verify(issuer.token())
        assert KeySetRotated(issuer.jwks_uri, frozenset({new}), frozenset()) in events
        issuer.fail("status", status=500)
        clock.advance(301)
        verifier.verify(token)  # stale, background refresh fails
        verifier.jwks_client.join_background()
        verifier.verify(token)  # still stale: one StaleKeysServed per cache state
        stale = [e for e in events if isinstance(e, StaleKeysServed)]
        failed = [e for e in events if isinstance(e, FetchFailed)]
        assert len(failed) == 1 and failed[0].failures == 1 and "HTTP 500" in str(failed[0].error)
        assert 1 <= len(stale) <= 2
        assert stale[0].jwks_uri == issuer.jwks_uri
        assert old in verifier.stats().kids
        assert verifier.stats().stale_served == 2
        assert verifier.stats().fetch_errors == 1


def test_failing_hook_never_breaks_verification(
    issuer: LocalIssuer, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """An exception in a hook is logged and verification goes on."""

    def hook(event: Event) -> None:
        raise RuntimeError("hook bug")

    with (
        caplog.at_level(logging.ERROR, logger="jwks_client"),
        Verifier(
            issuer.issuer, audience=AUD, require_https=False, clock=clock, on_event=hook
        ) as verifier,
    ):
        assert verifier.verify(issuer.token())["sub"] == "user-1"
    assert any("event hook" in r.getMessage() for r in caplog.records)


def test_closed_verifier_stops_hearing_events(issuer: LocalIssuer, clock: FakeClock) -> None:
    """Closing a verifier unsubscribes its hook from the shared store."""
    first: list[Event] = []
    second: list[Event] = []
    one = make(issuer, clock, first)
    one.verify(issuer.token())
    one.close()
    with make(issuer, clock, second) as two:
        issuer.rotate("ES256")
        clock.advance(30)
        two.verify(issuer.token())
    assert len(first) == 1
    assert any(isinstance(e, KeySetRotated) for e in second)


def test_async_stats_and_events(issuer: LocalIssuer, clock: FakeClock) -> None:
    """AsyncVerifier exposes the same stats and events."""
    events: list[Event] = []

    async def main() -> None:
        async with AsyncVerifier(
            issuer.issuer,
            audience=AUD,
            require_https=False,
            clock=clock,
            on_event=events.append,
        ) as verifier:
            await asyncio.gather(*(verifier.verify(issuer.token()) for _ in range(10)))
            stats = verifier.stats()
            assert stats.verified == 10
            assert stats.refreshes == 1
            assert stats.key_cache_hits + stats.key_cache_misses == 10

    asyncio.run(main())
    assert [type(e) for e in events] == [KeySetFetched]


def test_log_records_carry_structured_extra(
    issuer: LocalIssuer, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Refresh failures are logged under 'jwks_client' with the URL and error class."""
    issuer.fail("status", status=503)
    with (
        caplog.at_level(logging.WARNING, logger="jwks_client"),
        make(issuer, clock) as verifier,
        pytest.raises(Exception, match="HTTP 503"),
    ):
        verifier.verify(issuer.token())
    record = next(r for r in caplog.records if r.name == "jwks_client")
    assert record.jwks_url == issuer.jwks_uri  # type: ignore[attr-defined]
    assert record.error == "HTTPStatusError"  # type: ignore[attr-defined]
