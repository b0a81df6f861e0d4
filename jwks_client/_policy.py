"""Pure cache policy: when to serve cached keys, when to refresh, when to refuse.

Theory of operation
-------------------
The state of one key source (an issuer's JWKS) is a frozen :class:`CacheState`. Shells
hold it in one attribute, read it without a lock on the hot path, and replace it whole
after a refresh. Three pure functions drive it:

* :func:`decide` — given the state, the time and whether the cached ring has a key for
  the token, answer :class:`Serve`, :class:`Refresh` (blocking, or in the background
  while serving) or :class:`Reject`.
* :func:`on_fetched` — a refresh succeeded (200 with a usable set, or 304): new state.
* :func:`on_failed` — a refresh failed: the old keys stay, the failure is counted,
  the next attempt is pushed back (exponential backoff with jitter).

Rules
-----
1. Cold (no key set yet): refresh, unless a failure's backoff is running, in which
   case the last error is raised again without I/O.
0. While a refresh is in flight, a caller that cannot be served from the cache waits
   for it and decides again (single flight); one that can be served is not held up.
2. Fresh set, key known: serve. Past ``refresh_ahead`` of its lifetime a background
   refresh is started while serving (stale-while-revalidate before expiry).
3. Fresh set, kid unknown: a forced refresh when ``refresh_cooldown`` has passed since
   the last attempt of any kind (and never during a backoff); otherwise reject at once,
   without I/O: key-not-found when the last refresh succeeded, keys-unavailable when it
   failed (the set may lack the kid only because it could not be renewed: the verifier
   cannot decide, and says so).
4. Expired set, within ``stale_if_error`` past expiry: a key that is known is served
   while one background refresh runs; an unknown kid waits for an ordinary blocking
   refresh, which the set is due for anyway (a backoff applies, the unknown-kid cooldown
   does not: a rotated key is not refused for a cooldown when ``min_ttl`` is shorter).
   During a backoff it is keys-unavailable. When refreshes fail, the old keys keep
   serving until the stale horizon.
5. Past the stale horizon the set is unusable: refresh, or during a backoff reject with
   the last error (keys unavailable).
6. A failed refresh never removes keys; a set with no usable key is a failure.
7. Backoff after ``n`` consecutive failures: ``min(MAX_BACKOFF, BASE_BACKOFF * 2**(n-1))``
   scaled by a jitter factor in [0.5, 1.0] given by the shell.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from typing import NamedTuple

from ._cache_control import Freshness
from ._errors import KeySetUnavailableError
from ._keys import KeyRing
from ._types import CachePolicy
from ._values import Discovered, Fetched, NotModified

__all__ = [
    "BASE_BACKOFF",
    "INITIAL_STATE",
    "MAX_BACKOFF",
    "CacheState",
    "Decision",
    "Refresh",
    "RefreshMode",
    "Reject",
    "RejectReason",
    "Serve",
    "backoff_delay",
    "decide",
    "on_adopted",
    "on_failed",
    "on_fetched",
    "on_limited",
    "quiet_until",
    "static_state",
]

BASE_BACKOFF = 1.0
MAX_BACKOFF = 300.0


@dataclass(frozen=True, slots=True)
class CacheState:
    """Everything the policy knows about one key source.

    Attributes:
        ring: the last good key set (None before the first success).
        fetched_at: when the last good response (200 or 304) landed.
        fresh_until: until when that set is fresh.
        etag, last_modified: validators for conditional revalidation.
        jwks_uri: the JWKS URL the set came from.
        discovered: the discovery outcome in use (None with a fixed jwks_uri).
        last_attempt: when the last refresh attempt started (success or not, for any
            reason): an unknown kid may force a refresh only a cooldown after it.
        failures: consecutive failed refreshes.
        retry_at: no refresh is attempted before this time (backoff).
        last_error: the most recent refresh failure (None after a success).
        refreshing: a refresh is in flight (set by on_attempt, cleared by its outcome).
        document: the JWKS body the ring was parsed from (for snapshots).
    """

    ring: KeyRing | None = None
    fetched_at: float | None = None
    fresh_until: float = float("-inf")
    etag: str | None = None
    last_modified: str | None = None
    jwks_uri: str | None = None
    discovered: Discovered | None = None
    last_attempt: float | None = None
    failures: int = 0
    retry_at: float = float("-inf")
    last_error: KeySetUnavailableError | None = None
    refreshing: bool = False
    document: bytes = b""

    def stale_until(self, policy: CachePolicy) -> float:
        """The time after which the cached set may not serve at all."""
        return self.fresh_until + policy.stale_if_error


INITIAL_STATE = CacheState()


class RefreshMode(enum.Enum):
    """How a refresh is to be run."""

    BLOCKING = "blocking"  # the caller waits for it, then decides again
    FORCED = "forced"  # blocking, caused by an unknown kid (Cache-Control: no-cache)
    WAIT = "wait"  # another caller's fetch is in flight: wait for it, then decide again


class RejectReason(enum.Enum):
    """Why a token cannot be served now."""

    KEY_NOT_FOUND = "key_not_found"
    UNAVAILABLE = "unavailable"


# The decisions: immutable named tuples, cheaper to define at import than frozen
# dataclasses (see _values.py).


class Serve(NamedTuple):
    """Use the cached ring. ``background`` asks for a refresh that nobody waits for."""

    ring: KeyRing
    background: bool = False
    stale: bool = False


class Refresh(NamedTuple):
    """Refresh now and wait for it, then call :func:`decide` again."""

    mode: RefreshMode


class Reject(NamedTuple):
    """No key can be served now; no I/O is to be done.

    Attributes:
        reason: key not found, or keys unavailable.
        error: the refresh failure behind it, if any.
    """

    reason: RejectReason
    error: KeySetUnavailableError | None


Decision = Serve | Refresh | Reject


def backoff_delay(failures: int, jitter: float) -> float:
    """Seconds to wait after ``failures`` consecutive failures; ``jitter`` in [0, 1]."""
    if failures <= 0:
        return 0.0
    exponent = min(failures - 1, 30)
    delay = min(MAX_BACKOFF, BASE_BACKOFF * 2.0**exponent)
    jitter = min(max(jitter, 0.0), 1.0)
    return delay * (0.5 + 0.5 * jitter)


def quiet_until(state: CacheState, policy: CachePolicy) -> float:
    """Until when a known key is served with nothing else to do: fresh, no refresh due.

    Before this time :func:`decide` answers ``Serve(ring)`` (no background refresh, not
    stale) for every token whose key the ring holds, so a shell may skip it.
    """
    if state.ring is None or state.fetched_at is None:
        return float("-inf")
    if policy.refresh_ahead <= 0:
        return state.fresh_until
    lifetime = state.fresh_until - state.fetched_at
    return min(state.fresh_until, state.fetched_at + lifetime * policy.refresh_ahead)


def _forced_allowed(state: CacheState, now: float, policy: CachePolicy) -> bool:
    if now < state.retry_at:
        return False
    return state.last_attempt is None or now >= state.last_attempt + policy.refresh_cooldown


def decide(state: CacheState, now: float, *, has_key: bool, policy: CachePolicy) -> Decision:
    """Decide how to serve a token given the cache state.

    Args:
        state: the current state.
        now: the current time (Unix seconds).
        has_key: whether ``state.ring`` holds a candidate key for the token.
        policy: the cache policy.
    """
    ring = state.ring
    in_backoff = now < state.retry_at
    usable = ring is not None and now < state.stale_until(policy)
    if usable and has_key:
        assert ring is not None
        if now < state.fresh_until:
            due = now >= quiet_until(state, policy)
            return Serve(ring, background=due and not in_backoff and not state.refreshing)
        return Serve(ring, background=not in_backoff and not state.refreshing, stale=True)
    if state.refreshing:
        # A fetch is in flight: wait for it and decide again with what it brings.
        return Refresh(RefreshMode.WAIT)
    if not usable or now >= state.fresh_until:
        if in_backoff:
            return Reject(RejectReason.UNAVAILABLE, state.last_error)
        return Refresh(RefreshMode.BLOCKING)
    if _forced_allowed(state, now, policy):
        return Refresh(RefreshMode.FORCED)
    if state.last_error is not None:
        return Reject(RejectReason.UNAVAILABLE, state.last_error)
    return Reject(RejectReason.KEY_NOT_FOUND, None)


def static_state(ring: KeyRing, now: float) -> CacheState:
    """The state of a key set given once: fresh forever, never refreshed."""
    inf = float("inf")
    return CacheState(ring=ring, fetched_at=now, fresh_until=inf, last_attempt=inf)


def on_attempt(state: CacheState, now: float) -> CacheState:
    """Record that a refresh starts now.

    Every attempt starts the cooldown: a set fetched a moment ago for any reason is as
    current as one an unknown kid would force.
    """
    return replace(state, last_attempt=now, refreshing=True)


def on_fetched(
    state: CacheState, now: float, result: Fetched | NotModified, *, policy: CachePolicy
) -> CacheState:
    """Apply a successful refresh.

    A 200 replaces the ring and validators; a 304 keeps the ring and renews its lifetime
    (when there is a ring to renew: a 304 without one is treated as a fresh start by the
    caller, which never sends validators without a ring).
    """
    freshness: Freshness = result.freshness
    fresh_until = result.received_at + freshness.lifetime
    discovered = result.discovered if result.discovered is not None else state.discovered
    if isinstance(result, NotModified):
        if state.ring is None:
            return replace(state, refreshing=False)
        return replace(
            state,
            fetched_at=result.received_at,
            fresh_until=fresh_until,
            etag=freshness.etag or state.etag,
            last_modified=freshness.last_modified or state.last_modified,
            jwks_uri=result.jwks_uri,
            discovered=discovered,
            failures=0,
            retry_at=float("-inf"),
            last_error=None,
            refreshing=False,
        )
    return replace(
        state,
        ring=result.ring,
        fetched_at=result.received_at,
        fresh_until=fresh_until,
        etag=freshness.etag,
        last_modified=freshness.last_modified,
        jwks_uri=result.jwks_uri,
        discovered=discovered,
        failures=0,
        retry_at=float("-inf"),
        last_error=None,
        refreshing=False,
        document=result.body,
    )


def on_failed(
    state: CacheState, now: float, error: KeySetUnavailableError, *, jitter: float
) -> CacheState:
    """Apply a failed refresh: keys are kept, the failure counted, the retry pushed back."""
    failures = state.failures + 1
    return replace(
        state,
        failures=failures,
        retry_at=now + backoff_delay(failures, jitter),
        last_error=error,
        refreshing=False,
    )


def on_adopted(state: CacheState, shared: CacheState) -> CacheState:
    """Take a newer key set another process fetched (the fleet's shared cache).

    The set, its times, validators and source replace the local ones; a failure streak
    ends, since the fleet reached the issuer.
    """
    return replace(
        state,
        ring=shared.ring,
        fetched_at=shared.fetched_at,
        fresh_until=shared.fresh_until,
        etag=shared.etag,
        last_modified=shared.last_modified,
        jwks_uri=shared.jwks_uri,
        discovered=shared.discovered if shared.discovered is not None else state.discovered,
        failures=0,
        retry_at=float("-inf"),
        last_error=None,
        refreshing=False,
        document=shared.document,
    )


def on_limited(
    state: CacheState,
    *,
    adopt: CacheState | None,
    last_attempt: float | None,
    retry_at: float | None,
    error: KeySetUnavailableError | None,
) -> CacheState:
    """Apply the fleet's "not now": its cooldown, its backoff, and any newer set it holds.

    The fleet's last attempt starts this process's cooldown; the fleet's backoff becomes
    this process's (with the fleet's error), so a failing issuer is probed once per
    backoff step by the whole fleet, not by each process.
    """
    after = on_adopted(state, adopt) if adopt is not None else replace(state, refreshing=False)
    if last_attempt is not None:
        after = replace(after, last_attempt=last_attempt)
    if retry_at is not None:
        after = replace(
            after,
            retry_at=max(retry_at, after.retry_at),
            failures=max(after.failures, 1),
            last_error=error,
        )
    return after
