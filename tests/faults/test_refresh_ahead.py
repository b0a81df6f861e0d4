"""Refresh ahead and backoff over time, for both shells.

The issuer answers ``Cache-Control: max-age=300``, so with ``CachePolicy()`` a set fetched
at ``t`` is due for a background refresh from ``t + 240`` (80% of its lifetime), expires at
``t + 300`` and stops serving at ``t + 3900``. The clock is a :class:`FakeClock` shared by
issuer and verifier; a background refresh is awaited (``Facade.settle``) before the clock
moves, so request counts are exact.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from jwks_client import CachePolicy, HTTPStatusError, Verifier
from jwks_client.testing import FakeClock, LocalIssuer

from . import AUD, SHELLS, Facade, build, max_backoff, min_backoff

MAX_AGE = 300.0
POLICY = CachePolicy()
AHEAD = MAX_AGE * POLICY.refresh_ahead  # 240 s after a fetch

Make = Callable[..., Facade]


@pytest.fixture(params=SHELLS)
def make(request: pytest.FixtureRequest, issuer: LocalIssuer, clock: FakeClock) -> Iterator[Make]:
    made: list[Facade] = []

    def factory(**options: Any) -> Facade:
        options.setdefault("jwks_uri", issuer.jwks_uri)
        facade = build(request.param, issuer, clock, **options)
        made.append(facade)
        return facade

    yield factory
    for facade in made:
        facade.close()


def attempts_in(first: int, last: int, gap: Callable[[int], int]) -> int:
    """How many refresh attempts fit in the 1-second steps ``first..last`` (inclusive).

    The first attempt is at step ``first``; after the ``n``-th consecutive failure the next
    one comes ``gap(n)`` steps later.
    """
    step, attempts = first, 0
    while step <= last:
        attempts += 1
        step += gap(attempts)
    return attempts


def shortest_gap(failures: int) -> int:
    """Steps between attempts with the smallest jitter: the first step at or after it."""
    return max(1, math.ceil(min_backoff(failures)))


def longest_gap(failures: int) -> int:
    """Steps between attempts with the largest jitter (the backoff itself, whole seconds)."""
    return max(1, math.ceil(max_backoff(failures)))


def test_one_background_refresh_while_callers_are_served(
    make: Make, issuer: LocalIssuer, clock: FakeClock
) -> None:
    """Past 80% of its lifetime a set is renewed by exactly one background refresh, while
    every caller in the window is served at once from the cache."""
    verifier = make()
    tokens = [issuer.token({"sub": f"user-{i}"}, expires_in=10_000) for i in range(100)]
    verifier.verify(tokens[0])
    clock.advance(AHEAD - 1)
    for token in tokens:
        verifier.verify(token)
    verifier.settle()
    assert issuer.request_count("jwks") == 1  # not yet due
    clock.advance(1)
    issuer.hold("jwks")
    for i, token in enumerate(tokens):
        assert verifier.verify(token)["sub"] == f"user-{i}"
    assert verifier.wait(lambda: issuer.wait_for_waiting(1, timeout=10))
    for i, token in enumerate(tokens):
        assert verifier.verify(token)["sub"] == f"user-{i}"
        assert issuer.waiting("jwks") == 1
    assert issuer.request_count("jwks") == 2
    issuer.release("jwks")
    verifier.settle()
    state = verifier.state
    assert state.fetched_at == clock() and state.fresh_until == clock() + MAX_AGE
    assert not state.refreshing
    # Renewed: the next window opens 240 s after this refresh, not before.
    for _ in range(int(AHEAD) - 1):
        clock.advance(1)
        verifier.verify(tokens[0])
        verifier.settle()
    assert issuer.request_count("jwks") == 2
    clock.advance(1)
    verifier.verify(tokens[0])
    verifier.settle()
    assert issuer.request_count("jwks") == 3


def test_every_second_of_the_window_costs_one_refresh(
    make: Make, issuer: LocalIssuer, clock: FakeClock
) -> None:
    """Verifying every second through the window causes one refresh per renewed lifetime."""
    verifier = make()
    token = issuer.token(expires_in=100_000)
    verifier.verify(token)
    seconds = 600
    for _ in range(seconds):
        clock.advance(1)
        for _ in range(3):
            assert verifier.verify(token)["sub"] == "user-1"
        verifier.settle()
    # Refreshes at 240 and 480 s: a renewed set is due 240 s after its renewal.
    assert issuer.request_count("jwks") == 1 + seconds // int(AHEAD)


def test_refresh_ahead_brings_a_rotated_key_before_it_is_needed(
    make: Make, issuer: LocalIssuer, clock: FakeClock
) -> None:
    """A key published before the refresh-ahead is in the renewed set: its first token
    verifies without a forced refresh."""
    verifier = make()
    old = issuer.token(expires_in=10_000)
    verifier.verify(old)
    new_kid = issuer.rotate("ES256")
    clock.advance(AHEAD)
    verifier.verify(old)
    verifier.settle()
    assert new_kid in verifier.state.ring.kids
    assert verifier.verify(issuer.token(kid=new_kid))["sub"] == "user-1"
    assert issuer.request_count("jwks") == 2


def test_refresh_ahead_zero_waits_for_expiry(
    make: Make, issuer: LocalIssuer, clock: FakeClock
) -> None:
    """With refresh_ahead=0 nothing is fetched before expiry; at expiry one background
    refresh runs while the expired set serves."""
    verifier = make(cache_policy=CachePolicy(refresh_ahead=0))
    token = issuer.token(expires_in=10_000)
    verifier.verify(token)
    clock.advance(MAX_AGE - 1)
    verifier.verify(token)
    verifier.settle()
    assert issuer.request_count("jwks") == 1
    clock.advance(1)
    issuer.hold("jwks")
    assert verifier.verify(token)["sub"] == "user-1"
    assert verifier.wait(lambda: issuer.wait_for_waiting(1, timeout=10))
    assert verifier.verify(token)["sub"] == "user-1"
    issuer.release("jwks")
    verifier.settle()
    assert issuer.request_count("jwks") == 2
    assert verifier.state.fresh_until == clock() + MAX_AGE


def test_failing_refresh_backs_off_instead_of_retrying_per_request(
    make: Make, issuer: LocalIssuer, clock: FakeClock
) -> None:
    """With the issuer failing, ten minutes of one verification per second cost as many
    refreshes as the jittered backoff allows, not one per request; every call is served."""
    verifier = make()
    token = issuer.token(expires_in=100_000)
    verifier.verify(token)
    ring = verifier.state.ring
    issuer.fail("status", status=503)
    seconds = 600
    for _ in range(seconds):
        clock.advance(1)
        assert verifier.verify(token)["sub"] == "user-1"
        verifier.settle()
    attempts = issuer.request_count("jwks") - 1
    first = int(AHEAD)  # the first attempt is the refresh ahead
    fewest = attempts_in(first, seconds, longest_gap)
    most = attempts_in(first, seconds, shortest_gap)
    assert (fewest, most) == (9, 10)  # vs. 361 with one attempt per request
    assert fewest <= attempts <= most
    state = verifier.state
    assert state.failures == attempts and state.ring is ring
    assert isinstance(state.last_error, HTTPStatusError)


def test_stale_keys_serve_until_the_stale_horizon(
    make: Make, issuer: LocalIssuer, clock: FakeClock
) -> None:
    """While refreshes fail, the expired set serves up to stale_if_error past expiry, with
    backed-off retries; from the horizon on, calls fail with the refresh error."""
    policy = CachePolicy(stale_if_error=200)
    verifier = make(cache_policy=policy)
    token = issuer.token(expires_in=100_000)
    start = clock()
    verifier.verify(token)
    issuer.fail("status", status=503)
    horizon = int(MAX_AGE + policy.stale_if_error)
    for _ in range(horizon - 1):
        clock.advance(1)
        assert verifier.verify(token)["sub"] == "user-1"
        verifier.settle()
    assert clock() == start + horizon - 1
    clock.advance(1)
    with pytest.raises(HTTPStatusError, match="HTTP 503"):
        verifier.verify(token)
    attempts = issuer.request_count("jwks") - 1
    # Attempts run from the refresh ahead up to the horizon itself (a blocking one, if the
    # backoff has passed by then).
    first = int(AHEAD)
    assert attempts_in(first, horizon, longest_gap) <= attempts
    assert attempts <= attempts_in(first, horizon, shortest_gap)
    assert verifier.state.ring is not None


def test_late_caller_does_not_repeat_a_landed_background_refresh(
    issuer: LocalIssuer, clock: FakeClock
) -> None:
    """A thread that decided to refresh ahead just before another thread's background
    refresh landed starts no second refresh (sync shell; tasks cannot interleave there)."""
    paused = threading.Event()
    resume = threading.Event()
    late: list[threading.Thread] = []

    def gated_clock() -> float:
        # The late thread's first clock read is the one its cache decision uses: hold it
        # there, after it has read the (old) state.
        if late and threading.current_thread() is late[0] and not paused.is_set():
            paused.set()
            resume.wait(10)
        return clock()

    token = issuer.token(expires_in=10_000)
    with Verifier(
        issuer.issuer,
        audience=AUD,
        require_https=False,
        clock=gated_clock,
        jwks_uri=issuer.jwks_uri,
    ) as verifier:
        verifier.verify(token)
        clock.advance(AHEAD)
        results: list[str] = []
        late.append(threading.Thread(target=lambda: results.append(verifier.verify(token)["sub"])))
        late[0].start()
        assert paused.wait(10)
        verifier.verify(token)  # decides, starts the background refresh ...
        verifier.jwks_client.join_background(10)  # ... which lands
        assert issuer.request_count("jwks") == 2
        resume.set()
        late[0].join(10)
        verifier.jwks_client.join_background(10)
        assert results == ["user-1"]
        assert issuer.request_count("jwks") == 2
