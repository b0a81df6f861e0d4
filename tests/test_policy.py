"""The pure cache policy: decide / on_fetched / on_failed with plain values and `now=`."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from jwks_client._cache_control import Freshness
from jwks_client._errors import FetchError
from jwks_client._http import Fetched, NotModified
from jwks_client._keys import KeyRing
from jwks_client._policy import (
    BASE_BACKOFF,
    INITIAL_STATE,
    MAX_BACKOFF,
    CacheState,
    Refresh,
    RefreshMode,
    Reject,
    RejectReason,
    Serve,
    backoff_delay,
    decide,
    on_attempt,
    on_failed,
    on_fetched,
    quiet_until,
)
from jwks_client._types import CachePolicy

from .keyfactory import ring_of

POLICY = CachePolicy(
    default_ttl=600, min_ttl=60, max_ttl=3600, refresh_cooldown=30, stale_if_error=300
)
RING: KeyRing = ring_of(["k1"])


def fetched(
    now: float, lifetime: float = 600, ring: KeyRing = RING, etag: str | None = '"v1"'
) -> Fetched:
    freshness = Freshness(
        lifetime=lifetime,
        source="max-age",
        etag=etag,
        last_modified=None,
    )
    return Fetched(
        ring=ring, freshness=freshness, received_at=now, jwks_uri="https://x/jwks", discovered=None
    )


def not_modified(now: float, lifetime: float = 600) -> NotModified:
    freshness = Freshness(
        lifetime=lifetime,
        source="max-age",
        etag=None,
        last_modified=None,
    )
    return NotModified(
        freshness=freshness, received_at=now, jwks_uri="https://x/jwks", discovered=None
    )


def warm(now: float = 1000.0, lifetime: float = 600) -> CacheState:
    state = on_attempt(INITIAL_STATE, now)
    return on_fetched(state, now, fetched(now, lifetime), policy=POLICY)


ERROR = FetchError("down", url="https://x/jwks")


def test_cold_cache_refreshes_blocking() -> None:
    """A cold cache asks for a blocking refresh."""
    assert decide(INITIAL_STATE, 0.0, has_key=False, policy=POLICY) == Refresh(RefreshMode.BLOCKING)


def test_cold_failure_backs_off_and_rejects_without_io() -> None:
    """After a failed cold fetch, callers within the backoff get the same error, no refresh."""
    state = on_failed(on_attempt(INITIAL_STATE, 0.0), 0.0, ERROR, jitter=1.0)
    decision = decide(state, 0.5, has_key=False, policy=POLICY)
    assert decision == Reject(RejectReason.UNAVAILABLE, ERROR)
    assert decide(state, BASE_BACKOFF, has_key=False, policy=POLICY) == Refresh(
        RefreshMode.BLOCKING
    )


def test_fresh_known_key_is_served_without_background() -> None:
    """A fresh set with the key serves it and asks for nothing else early in its life."""
    state = warm(1000.0)
    decision = decide(state, 1001.0, has_key=True, policy=POLICY)
    assert isinstance(decision, Serve)
    assert decision.ring is RING
    assert not decision.background and not decision.stale


def test_refresh_ahead_asks_for_background_refresh() -> None:
    """Past refresh_ahead of the lifetime, serving also asks for a background refresh."""
    state = warm(1000.0, lifetime=600)
    ahead = 1000.0 + 600 * POLICY.refresh_ahead
    assert not decide(state, ahead - 1, has_key=True, policy=POLICY).background  # type: ignore[union-attr]
    decision = decide(state, ahead, has_key=True, policy=POLICY)
    assert isinstance(decision, Serve) and decision.background and not decision.stale


def test_refresh_ahead_disabled() -> None:
    """refresh_ahead=0 never asks for a background refresh while fresh."""
    policy = CachePolicy(refresh_ahead=0)
    state = warm(1000.0, lifetime=600)
    decision = decide(state, 1599.0, has_key=True, policy=policy)
    assert isinstance(decision, Serve) and not decision.background


def test_unknown_kid_forces_one_refresh_per_cooldown() -> None:
    """An unknown kid forces a refresh only once the cooldown since the last attempt passed."""
    state = warm(1000.0)  # the fetch that warmed the cache started the cooldown
    assert decide(state, 1010.0, has_key=False, policy=POLICY) == Reject(
        RejectReason.KEY_NOT_FOUND, None
    )
    assert decide(state, 1030.0, has_key=False, policy=POLICY) == Refresh(RefreshMode.FORCED)
    state = on_fetched(on_attempt(state, 1030.0), 1030.0, fetched(1030.0), policy=POLICY)
    assert isinstance(decide(state, 1059.9, has_key=False, policy=POLICY), Reject)
    assert decide(state, 1060.0, has_key=False, policy=POLICY) == Refresh(RefreshMode.FORCED)


def test_in_flight_refresh_makes_misses_wait_and_hits_serve() -> None:
    """While a fetch is in flight, cache misses wait for it; hits are served at once."""
    state = on_attempt(warm(1000.0, lifetime=600), 1590.0)
    assert state.refreshing
    assert decide(state, 1591.0, has_key=False, policy=POLICY) == Refresh(RefreshMode.WAIT)
    decision = decide(state, 1591.0, has_key=True, policy=POLICY)
    assert isinstance(decision, Serve) and not decision.background
    cold = on_attempt(INITIAL_STATE, 0.0)
    assert decide(cold, 0.0, has_key=False, policy=POLICY) == Refresh(RefreshMode.WAIT)
    assert not on_failed(cold, 0.0, ERROR, jitter=0.0).refreshing
    assert not on_fetched(cold, 0.0, fetched(0.0), policy=POLICY).refreshing


def test_expired_known_key_served_stale_with_background_refresh() -> None:
    """An expired set within the stale window serves known keys and asks for a refresh."""
    state = warm(1000.0, lifetime=600)
    decision = decide(state, 1700.0, has_key=True, policy=POLICY)
    assert isinstance(decision, Serve) and decision.stale and decision.background


def test_expired_unknown_kid_waits_for_an_ordinary_refresh() -> None:
    """An expired set and an unknown kid ask for an ordinary blocking refresh, even inside
    the unknown-kid cooldown (a lifetime shorter than the cooldown)."""
    state = warm(1000.0, lifetime=600)
    assert decide(state, 1700.0, has_key=False, policy=POLICY) == Refresh(RefreshMode.BLOCKING)
    short = CachePolicy(min_ttl=10, refresh_cooldown=30)
    state = warm(1000.0, lifetime=10)
    assert decide(state, 1009.0, has_key=False, policy=short) == Reject(
        RejectReason.KEY_NOT_FOUND, None
    )
    assert decide(state, 1010.0, has_key=False, policy=short) == Refresh(RefreshMode.BLOCKING)


def test_expired_unknown_kid_during_backoff_is_unavailable() -> None:
    """An expired set, an unknown kid and a running backoff: keys-unavailable, no I/O."""
    state = warm(1000.0, lifetime=600)
    state = on_failed(on_attempt(state, 1700.0), 1700.0, ERROR, jitter=1.0)
    assert decide(state, 1700.1, has_key=False, policy=POLICY) == Reject(
        RejectReason.UNAVAILABLE, ERROR
    )


def test_failed_refresh_keeps_keys_and_serves_stale_until_horizon() -> None:
    """A failed refresh keeps the ring; it serves until fresh_until + stale_if_error."""
    state = warm(1000.0, lifetime=600)
    state = on_failed(on_attempt(state, 1600.0), 1600.0, ERROR, jitter=0.0)
    assert state.ring is RING
    decision = decide(state, 1600.1, has_key=True, policy=POLICY)
    assert isinstance(decision, Serve) and decision.stale and not decision.background
    horizon = 1600.0 + POLICY.stale_if_error
    assert isinstance(decide(state, horizon - 0.001, has_key=True, policy=POLICY), Serve)
    # At the horizon the set is unusable: refresh if allowed, else the last error.
    assert decide(state, horizon, has_key=True, policy=POLICY) == Refresh(RefreshMode.BLOCKING)
    failing = on_failed(state, horizon, ERROR, jitter=1.0)
    assert decide(failing, horizon, has_key=True, policy=POLICY) == Reject(
        RejectReason.UNAVAILABLE, ERROR
    )


def test_unknown_kid_after_a_failed_refresh_is_unavailable() -> None:
    """An unknown kid while refreshes fail is keys-unavailable carrying the failure (the
    verifier cannot decide), in the backoff and after it, inside the cooldown."""
    state = warm(1000.0)
    state = on_failed(on_attempt(state, 1100.0), 1100.0, ERROR, jitter=1.0)
    assert decide(state, 1100.1, has_key=False, policy=POLICY) == Reject(
        RejectReason.UNAVAILABLE, ERROR
    )
    assert decide(state, 1110.0, has_key=False, policy=POLICY) == Reject(
        RejectReason.UNAVAILABLE, ERROR
    )


def test_not_modified_renews_lifetime_and_keeps_ring() -> None:
    """A 304 renews freshness without replacing the ring or its source document."""
    state = warm(1000.0, lifetime=600)
    renewed = on_fetched(state, 1700.0, not_modified(1700.0, lifetime=120), policy=POLICY)
    assert renewed.ring is state.ring
    assert renewed.document == state.document
    assert renewed.fresh_until == 1820.0
    assert renewed.etag == '"v1"'


def test_not_modified_without_ring_changes_nothing() -> None:
    """A 304 with no cached ring only ends the in-flight refresh (no keys appear)."""
    state = on_attempt(INITIAL_STATE, 5.0)
    after = on_fetched(state, 5.0, not_modified(5.0), policy=POLICY)
    assert after.ring is None and not after.refreshing and after.fetched_at is None


def test_success_clears_failures() -> None:
    """A success after failures resets the failure count, backoff and last error."""
    state = on_failed(INITIAL_STATE, 0.0, ERROR, jitter=0.5)
    state = on_failed(state, 1.0, ERROR, jitter=0.5)
    assert state.failures == 2
    state = on_fetched(state, 10.0, fetched(10.0), policy=POLICY)
    assert (state.failures, state.last_error, state.retry_at) == (0, None, float("-inf"))


@pytest.mark.parametrize(
    ("failures", "jitter", "expected"),
    [
        (0, 0.5, 0.0),
        (1, 1.0, 1.0),
        (1, 0.0, 0.5),
        (2, 1.0, 2.0),
        (4, 1.0, 8.0),
        (20, 1.0, MAX_BACKOFF),
        (10_000, 0.0, MAX_BACKOFF / 2),
        (3, 7.0, 4.0),
        (3, -1.0, 2.0),
    ],
)
def test_backoff_delay(failures: int, jitter: float, expected: float) -> None:
    """Backoff doubles from BASE_BACKOFF, caps at MAX_BACKOFF, jitter scales it to [0.5, 1]."""
    assert backoff_delay(failures, jitter) == pytest.approx(expected)


class PolicyMachine(RuleBasedStateMachine):
    """Random sequences of time steps, lookups and refresh outcomes keep the invariants."""

    def __init__(self) -> None:
        super().__init__()
        self.state = INITIAL_STATE
        self.now = 1_000_000.0
        self.forced_fetches: list[float] = []
        self.last_success: float | None = None
        self.pending: RefreshMode | None = None

    @rule(dt=st.floats(min_value=0, max_value=400))
    def tick(self, dt: float) -> None:
        self.now += dt

    @precondition(lambda self: self.pending is None)
    @rule(has_key=st.booleans())
    def lookup(self, has_key: bool) -> None:
        decision = decide(self.state, self.now, has_key=has_key, policy=POLICY)
        if isinstance(decision, Serve):
            # Never serve past the stale horizon.
            assert self.now < self.state.stale_until(POLICY)
        elif isinstance(decision, Reject):
            # Key-not-found only when the last refresh succeeded, and never for a set past
            # its lifetime outside a backoff (that set is due for an ordinary refresh).
            if decision.reason is RejectReason.KEY_NOT_FOUND:
                assert self.state.last_error is None
            if self.now >= self.state.fresh_until:
                assert self.now < self.state.retry_at
        elif isinstance(decision, Refresh):
            if decision.mode is RefreshMode.FORCED:
                self.forced_fetches.append(self.now)
            self.state = on_attempt(self.state, self.now)
            self.pending = decision.mode

    @precondition(lambda self: self.pending is not None)
    @rule(
        ok=st.booleans(), lifetime=st.floats(min_value=60, max_value=3600), jitter=st.floats(0, 1)
    )
    def complete(self, ok: bool, lifetime: float, jitter: float) -> None:
        before = self.state
        if ok:
            self.state = on_fetched(
                self.state, self.now, fetched(self.now, lifetime), policy=POLICY
            )
            self.last_success = self.now
        else:
            self.state = on_failed(self.state, self.now, ERROR, jitter=jitter)
            # Nothing cached is lost by a failure.
            assert self.state.ring is before.ring
            assert self.state.fresh_until == before.fresh_until
            # Backoff is monotonic in the failure count.
            assert self.state.failures == before.failures + 1
        self.pending = None

    @invariant()
    def forced_refreshes_respect_cooldown(self) -> None:
        times = self.forced_fetches
        for a, b in itertools.pairwise(times):
            assert b - a >= POLICY.refresh_cooldown


TestPolicyMachine = PolicyMachine.TestCase
TestPolicyMachine.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)


@settings(max_examples=300, deadline=None)
@given(
    fetched_at=st.floats(0, 1e6),
    lifetime=st.floats(0, 1e5),
    ratio=st.sampled_from([0.0, 0.5, 0.8, 0.99]),
    offset=st.floats(-10, 2e5),
    backoff=st.booleans(),
    refreshing=st.booleans(),
)
def test_quiet_until_agrees_with_decide(
    fetched_at: float, lifetime: float, ratio: float, offset: float, backoff: bool, refreshing: bool
) -> None:
    """Before quiet_until, decide serves a known key with nothing else to do."""
    policy = CachePolicy(refresh_ahead=ratio)
    state = on_fetched(INITIAL_STATE, fetched_at, fetched(fetched_at, lifetime), policy=policy)
    if backoff:
        state = on_failed(state, fetched_at, ERROR, jitter=0.5)
    if refreshing:
        state = on_attempt(state, fetched_at)
    now = fetched_at + offset
    if now < quiet_until(state, policy):
        assert decide(state, now, has_key=True, policy=policy) == Serve(state.ring)  # type: ignore[arg-type]
