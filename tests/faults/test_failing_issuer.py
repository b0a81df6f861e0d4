"""A failing issuer, for both shells: down, slow, broken, flapping, stopped and restarted.

Every test runs against a real :class:`LocalIssuer` on 127.0.0.1 and a :class:`FakeClock`
shared by the issuer and the verifier, so cache lifetimes and backoffs are exact. The
issuer answers ``Cache-Control: max-age=300``; the policy is ``CachePolicy()`` (stale for
3600 s past expiry, refresh ahead at 80%). A background refresh is awaited with
``Facade.settle`` before the clock moves, so request counts are deterministic.
"""

from __future__ import annotations

import math
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from jwks_client import (
    CachePolicy,
    FetchError,
    HTTPStatusError,
    InvalidKeySetError,
    KeySetUnavailableError,
    ResponseTooLargeError,
)
from jwks_client.testing import FakeClock, LocalIssuer

from . import SHELLS, Facade, build, max_backoff, min_backoff

MAX_AGE = 300.0
POLICY = CachePolicy()
STALE_UNTIL = MAX_AGE + POLICY.stale_if_error  # seconds after a fetch
EPSILON = 1e-6  # float slack of Unix-time arithmetic around 1.7e9

Make = Callable[..., Facade]


@pytest.fixture(params=SHELLS)
def make(request: pytest.FixtureRequest, issuer: LocalIssuer, clock: FakeClock) -> Iterator[Make]:
    made: list[Facade] = []

    def factory(**options: Any) -> Facade:
        facade = build(request.param, issuer, clock, **options)
        made.append(facade)
        return facade

    yield factory
    for facade in made:
        facade.close()


def assert_backoff(facade: Facade, now: float) -> None:
    """The state's retry time is within the jittered backoff of its failure count."""
    state = facade.state
    delay = state.retry_at - now
    assert min_backoff(state.failures) - EPSILON <= delay <= max_backoff(state.failures) + EPSILON


# --- down at cold start ---------------------------------------------------------------------


def test_cold_start_issuer_stopped_then_restarted(
    make: Make, issuer: LocalIssuer, clock: FakeClock
) -> None:
    """A stopped issuer at cold start is a FetchError; after a restart on the same port the
    verifier recovers at the first call past the backoff, not before."""
    token = issuer.token(expires_in=10_000)
    base_url = issuer.base_url
    issuer.stop()
    verifier = make()
    with pytest.raises(FetchError, match=r"request to http://127\.0\.0\.1:\d+/.* failed") as info:
        verifier.verify(token)
    assert info.value.url == issuer.discovery_url
    assert verifier.state.ring is None and verifier.state.failures == 1
    assert_backoff(verifier, clock())
    issuer.start()
    assert issuer.base_url == base_url
    # Inside the backoff the last error is raised again without any request.
    with pytest.raises(FetchError, match="failed"):
        verifier.verify(token)
    assert issuer.request_count() == 0
    clock.set(verifier.state.retry_at)
    assert verifier.verify(token)["sub"] == "user-1"
    assert issuer.request_count("discovery") == 1
    assert issuer.request_count("jwks") == 1
    assert verifier.state.failures == 0 and verifier.state.last_error is None


def test_cold_start_nothing_listening(make: Make, issuer: LocalIssuer) -> None:
    """A JWKS URL on a port where nothing listens is a FetchError naming the URL."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as reserved:
        reserved.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        url = f"http://127.0.0.1:{reserved.getsockname()[1]}/jwks"
        verifier = make(jwks_uri=url)
        with pytest.raises(FetchError, match=f"request to {url} failed") as info:
            verifier.verify(issuer.token())
    assert info.value.url == url
    assert verifier.state.ring is None


def test_cold_start_delay_is_cut_by_the_timeout(make: Make, issuer: LocalIssuer) -> None:
    """A JWKS response delayed far past the timeout is a FetchError after one request,
    and the call inside the following backoff makes no second request."""
    verifier = make(jwks_uri=issuer.jwks_uri, timeout=0.5)
    issuer.fail("delay", delay=10.0)
    with pytest.raises(FetchError, match=r"timed out after 0\.5s"):
        verifier.verify(issuer.token())
    assert issuer.request_count("jwks") == 1
    with pytest.raises(FetchError, match=r"timed out after 0\.5s"):
        verifier.verify(issuer.token())
    assert issuer.request_count("jwks") == 1


# --- down after warm -------------------------------------------------------------------------


def test_down_after_warm_serves_stale_then_unavailable(
    make: Make, issuer: LocalIssuer, clock: FakeClock
) -> None:
    """Cached keys serve through stale_if_error with one refresh per backoff window, then
    keys-unavailable; the ring object is never lost and serves again after recovery."""
    verifier = make(jwks_uri=issuer.jwks_uri)
    token = issuer.token(expires_in=100_000)
    start = clock()
    verifier.verify(token)
    ring = verifier.state.ring
    assert ring is not None
    issuer.fail("status", status=503)
    # Steps longer than the longest backoff: every step past expiry makes one attempt.
    step = 301.0
    steps = math.ceil(STALE_UNTIL / step) - 1  # the last step still inside the stale window
    for k in range(1, steps + 1):
        clock.advance(step)
        assert verifier.verify(token)["sub"] == "user-1"
        verifier.settle()
        state = verifier.state
        assert issuer.request_count("jwks") == 1 + k
        assert state.ring is ring and state.failures == k
        assert isinstance(state.last_error, HTTPStatusError)
        assert_backoff(verifier, clock())
    clock.advance(step)
    assert clock() >= start + STALE_UNTIL > clock() - step
    with pytest.raises(HTTPStatusError, match="HTTP 503") as info:
        verifier.verify(token)
    assert info.value.status_code == 503
    assert issuer.request_count("jwks") == steps + 2  # one blocking attempt at the horizon
    with pytest.raises(HTTPStatusError, match="HTTP 503"):
        verifier.verify(token)  # inside the backoff: no request
    assert issuer.request_count("jwks") == steps + 2
    assert verifier.state.ring is ring
    # The issuer comes back: the first call past the backoff revalidates (304), same ring.
    issuer.clear_faults()
    clock.set(verifier.state.retry_at)
    assert verifier.verify(token)["sub"] == "user-1"
    assert issuer.request_count("jwks") == steps + 3
    state = verifier.state
    assert state.ring is ring and state.failures == 0 and state.last_error is None
    assert state.fresh_until == pytest.approx(clock() + MAX_AGE)


def test_stopped_after_warm_then_restarted(
    make: Make, issuer: LocalIssuer, clock: FakeClock
) -> None:
    """An issuer stopped after warm-up: stale keys serve, past the stale window the error is
    a FetchError, and after a restart the same keys are back at the first call past the
    backoff."""
    verifier = make(jwks_uri=issuer.jwks_uri)
    token = issuer.token(expires_in=100_000)
    verifier.verify(token)
    ring = verifier.state.ring
    issuer.stop()
    clock.advance(MAX_AGE + 1)
    assert verifier.verify(token)["sub"] == "user-1"
    verifier.settle()
    assert isinstance(verifier.state.last_error, FetchError)
    assert verifier.state.ring is ring and verifier.state.failures == 1
    clock.advance(STALE_UNTIL)
    with pytest.raises(FetchError, match="failed"):
        verifier.verify(token)
    assert verifier.state.ring is ring and verifier.state.failures == 2
    issuer.start()
    with pytest.raises(FetchError, match="failed"):
        verifier.verify(token)  # still inside the backoff: the restart is not seen yet
    clock.set(verifier.state.retry_at)
    assert verifier.verify(token)["sub"] == "user-1"
    assert issuer.request_count("jwks") == 2  # the warm-up, then the recovery (a 304)
    assert verifier.state.ring is ring and verifier.state.failures == 0


def test_discovery_down_after_warm_keeps_known_jwks_uri(
    make: Make, issuer: LocalIssuer, clock: FakeClock
) -> None:
    """When discovery fails after warm-up, the refresh still reaches the JWKS URL found before."""
    verifier = make()
    token = issuer.token(expires_in=100_000)
    verifier.verify(token)
    issuer.fail("status", status=500, path="discovery")
    clock.advance(MAX_AGE + 1)  # discovery and JWKS both expired
    assert verifier.verify(token)["sub"] == "user-1"
    verifier.settle()
    assert issuer.request_count("discovery") == 2
    assert issuer.request_count("jwks") == 2
    state = verifier.state
    assert state.failures == 0 and state.jwks_uri == issuer.jwks_uri
    assert state.fresh_until == pytest.approx(clock() + MAX_AGE)


def test_unknown_kid_during_outage_costs_no_request(
    make: Make, issuer: LocalIssuer, clock: FakeClock
) -> None:
    """While refreshes fail and back off, unknown kids are keys-unavailable (the failure of
    the last refresh, HTTP 502), never KeyNotFoundError, and cost no request."""
    verifier = make(jwks_uri=issuer.jwks_uri)
    verifier.verify(issuer.token())
    issuer.fail("status", status=502)
    clock.advance(POLICY.refresh_cooldown)
    with pytest.raises(HTTPStatusError, match=r"HTTP 502"):
        verifier.verify(issuer.token(kid="rotated-0"))
    assert issuer.request_count("jwks") == 2  # the forced refresh that failed
    for i in range(1, 50):
        with pytest.raises(HTTPStatusError, match=r"HTTP 502"):
            verifier.verify(issuer.token(kid=f"rotated-{i}"))
    assert issuer.request_count("jwks") == 2
    assert verifier.verify(issuer.token())["sub"] == "user-1"


# --- slow -----------------------------------------------------------------------------------


@pytest.mark.parametrize("elapsed", [250.0, MAX_AGE + 1], ids=["refresh-ahead", "expired"])
def test_slow_refresh_does_not_block_known_kids(
    make: Make, issuer: LocalIssuer, clock: FakeClock, elapsed: float
) -> None:
    """While a background refresh is held by the issuer, many known-kid tokens verify at
    once from the caller's thread or task; the held refresh is the only request."""
    verifier = make(jwks_uri=issuer.jwks_uri)
    tokens = [issuer.token({"sub": f"user-{i}"}, expires_in=10_000) for i in range(50)]
    verifier.verify(tokens[0])
    issuer.hold("jwks")
    clock.advance(elapsed)
    assert verifier.verify(tokens[0])["sub"] == "user-0"  # starts the background refresh
    assert verifier.wait(lambda: issuer.wait_for_waiting(1, timeout=10))
    for i, token in enumerate(tokens):
        assert verifier.verify(token)["sub"] == f"user-{i}"
        assert issuer.waiting("jwks") == 1
    assert verifier.state.refreshing
    assert issuer.request_count("jwks") == 2
    issuer.release("jwks")
    verifier.settle()
    state = verifier.state
    assert not state.refreshing and state.failures == 0
    assert state.fetched_at == clock()
    assert issuer.request_count("jwks") == 2


def test_slow_refresh_times_out_and_keeps_keys(
    make: Make, issuer: LocalIssuer, clock: FakeClock
) -> None:
    """A background refresh slower than the timeout fails with a timeout; the keys stay."""
    verifier = make(jwks_uri=issuer.jwks_uri, timeout=0.2)
    token = issuer.token(expires_in=10_000)
    verifier.verify(token)
    ring = verifier.state.ring
    issuer.fail("delay", delay=10.0)
    clock.advance(MAX_AGE + 1)
    assert verifier.verify(token)["sub"] == "user-1"
    verifier.settle()
    state = verifier.state
    assert isinstance(state.last_error, FetchError)
    assert "timed out after 0.2s" in str(state.last_error)
    assert state.ring is ring and state.failures == 1
    assert verifier.verify(token)["sub"] == "user-1"  # inside the backoff: no new request
    verifier.settle()
    assert issuer.request_count("jwks") == 2


# --- broken responses -----------------------------------------------------------------------

FAULTS: list[tuple[str, dict[str, Any], type[KeySetUnavailableError], str]] = [
    ("status", {"status": 500}, HTTPStatusError, "HTTP 500"),
    ("status", {"status": 503, "headers": {"Retry-After": "1"}}, HTTPStatusError, "HTTP 503"),
    ("garbage", {}, InvalidKeySetError, "not valid JSON"),
    ("not_jwks", {}, InvalidKeySetError, "keys"),
    ("empty_keys", {}, InvalidKeySetError, "no usable verification key"),
    ("truncated", {}, FetchError, "failed"),
    ("oversize", {"size": 300_000}, ResponseTooLargeError, "100000-byte cap"),
    ("oversize_chunked", {"size": 300_000}, ResponseTooLargeError, "100000-byte cap"),
    ("redirect", {"location": "/moved/jwks"}, FetchError, "redirects are not followed"),
    ("redirect", {"status": 301, "location": "http://127.0.0.1:1/jwks"}, FetchError, "301"),
    ("reset", {}, FetchError, "failed"),
]


@pytest.mark.parametrize(
    ("kind", "options", "error", "message"),
    FAULTS,
    ids=[f"{kind}-{i}" for i, (kind, *_rest) in enumerate(FAULTS)],
)
def test_broken_response_cold_and_warm(
    make: Make,
    issuer: LocalIssuer,
    clock: FakeClock,
    kind: str,
    options: dict[str, Any],
    error: type[KeySetUnavailableError],
    message: str,
) -> None:
    """A broken JWKS response is its own KeySetUnavailableError at cold start (retried only
    after the backoff) and, after warm-up, leaves the cached ring serving untouched."""
    verifier = make(jwks_uri=issuer.jwks_uri, max_response_bytes=100_000)
    token = issuer.token(expires_in=100_000)
    issuer.fail(kind, times=1, **options)
    with pytest.raises(error, match=message) as info:
        verifier.verify(token)
    assert info.value.url == issuer.jwks_uri
    with pytest.raises(error, match=message):
        verifier.verify(token)  # inside the backoff
    assert issuer.request_count("jwks") == 1
    clock.set(verifier.state.retry_at)
    assert verifier.verify(token)["sub"] == "user-1"
    assert issuer.request_count("jwks") == 2
    ring = verifier.state.ring
    # Warm: the same fault on the refresh after expiry keeps the ring.
    issuer.fail(kind, times=1, **options)
    clock.advance(MAX_AGE + 1)
    assert verifier.verify(token)["sub"] == "user-1"
    verifier.settle()
    state = verifier.state
    assert isinstance(state.last_error, error)
    assert state.ring is ring and state.failures == 1
    assert issuer.request_count("jwks") == 3
    clock.set(state.retry_at)
    assert verifier.verify(token)["sub"] == "user-1"
    verifier.settle()
    assert issuer.request_count("jwks") == 4
    assert verifier.state.ring is ring and verifier.state.failures == 0
    # A redirect is never followed, whatever its target.
    assert issuer.request_count("/moved/jwks") == 0


# --- flapping -------------------------------------------------------------------------------


def test_flapping_issuer_follows_the_backoff_schedule(
    make: Make, issuer: LocalIssuer, clock: FakeClock
) -> None:
    """Bursts of failures alternating with success, over 1-second steps: a refresh is
    attempted exactly when one is due and the backoff has passed, each failure backs off
    within its jitter bounds, each burst ends at the first attempt after its backoff, and
    the keys are never lost."""
    verifier = make(jwks_uri=issuer.jwks_uri)
    token = issuer.token(expires_in=100_000)
    verifier.verify(token)
    ring = verifier.state.ring
    bursts = [2, 3, 1, 4]
    pending = list(bursts)
    issuer.fail("status", status=503, times=pending.pop(0))
    recoveries = 0
    for _ in range(1_200):  # bounded: the schedule needs about 1000 steps
        now = clock.advance(1.0)
        before = verifier.state
        assert before.fetched_at is not None
        lifetime = before.fresh_until - before.fetched_at
        due = now >= before.fetched_at + lifetime * POLICY.refresh_ahead
        expected = due and now >= before.retry_at
        count = issuer.request_count("jwks")
        assert verifier.verify(token)["sub"] == "user-1"
        verifier.settle()
        after = verifier.state
        assert issuer.request_count("jwks") == count + int(expected)
        assert after.ring is ring
        if not expected:
            assert after == before
        elif after.failures:
            assert after.failures == before.failures + 1
            assert_backoff(verifier, now)
        else:
            assert before.failures == bursts[recoveries]
            assert after.fetched_at == now
            recoveries += 1
            if not pending:
                break
            issuer.fail("status", status=503, times=pending.pop(0))
    assert recoveries == len(bursts)
    assert issuer.request_count("jwks") == 1 + sum(bursts) + len(bursts)


# --- errors ---------------------------------------------------------------------------------


def test_each_refused_caller_gets_its_own_error(make: Make, issuer: LocalIssuer) -> None:
    """Two callers refused by the same failed refresh get distinct exception objects, so one
    caller's exception context never appears in another caller's error."""
    verifier = make(jwks_uri=issuer.jwks_uri)
    issuer.fail("status", status=503)
    token = issuer.token()
    try:
        raise LookupError("the first caller's own failure")
    except LookupError:
        with pytest.raises(HTTPStatusError, match="HTTP 503") as first:
            verifier.verify(token)
    with pytest.raises(HTTPStatusError, match="HTTP 503") as second:
        verifier.verify(token)  # inside the backoff: refused without a request
    assert issuer.request_count("jwks") == 1
    assert second.value is not first.value
    assert not isinstance(second.value.__context__, LookupError)
