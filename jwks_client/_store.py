"""The key store: one cache state per key source, shared across the process.

A :class:`KeyStore` holds the frozen :class:`~jwks_client._policy.CacheState` of one key
source (an issuer's JWKS) and the single in-flight refresh. Every client of the same
source in the process — sync or async, one verifier or many — shares one store, so a
verifier created per request (a common misuse) still finds warm keys, and concurrent
callers anywhere share one fetch.

Single flight works across threads and event loops alike: the caller that claims a
refresh becomes its leader and gets a ``concurrent.futures.Future``; everyone else who
needs that refresh waits on the same future — a thread with ``result()``, a task with
``asyncio.wrap_future`` — and decides again with the state the leader left. No lock is
held during I/O; the guard only protects the claim and the state swap.

Stores live in a :class:`KeyStoreRegistry` (a bounded cachetools ``TLRUCache``) keyed by
the source's configuration, the clock and the user's HTTP client. An entry lives at least
``max_ttl + stale_if_error`` after it was last attached, so keys survive a verifier's
garbage collection and an outage.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import weakref
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, NamedTuple, TypeAlias

from cachetools import TLRUCache, TTLCache

from . import _fork
from ._config import SourceConfig
from ._errors import ConfigurationError, KeySetUnavailableError
from ._policy import (
    INITIAL_STATE,
    CacheState,
    RefreshMode,
    on_adopted,
    on_attempt,
    on_failed,
    on_fetched,
    on_limited,
)
from ._types import Clock
from ._values import Fetched, FetchPlan, NotModified

if TYPE_CHECKING:
    from ._events import Event, EventHook
    from ._shared import Adopt, Limit

__all__ = [
    "DEFAULT_REGISTRY",
    "REGISTRY_SIZE",
    "Claim",
    "KeyStore",
    "KeyStoreRegistry",
    "Outcome",
    "StoreCounters",
    "forget_shared_stores",
]

logger = logging.getLogger("jwks_client")

#: What a refresh's leader reports: a set, a 304, a failure, the fleet's answer, or
#: nothing learned (None: abandoned).
Outcome: TypeAlias = "Fetched | NotModified | KeySetUnavailableError | Adopt | Limit | None"

#: How many key sources a process keeps at most (least recently attached go first).
REGISTRY_SIZE = 256
#: How many kids confirmed absent a store remembers, and for how many cooldowns.
NEGATIVE_CACHE_SIZE = 4096
NEGATIVE_TTL_FACTOR = 2


@dataclass(slots=True)
class StoreCounters:
    """Running totals of one store (mutated under the store's guard)."""

    refreshes: int = 0
    key_sets: int = 0
    not_modified: int = 0
    failures: int = 0
    adopted: int = 0


class Claim(NamedTuple):
    """The answer to "may I refresh?".

    ``plan`` is set for the leader, which must call :meth:`KeyStore.finish`; ``future``
    is what the others wait on; neither is set when the state changed meanwhile (decide
    again).
    """

    future: Future[None] | None = None
    plan: FetchPlan | None = None
    refused: bool = False

    @property
    def leads(self) -> bool:
        """Whether the claimant must do the fetch."""
        return self.plan is not None


@dataclass(eq=False)
class KeyStore:
    """Cache state and in-flight refresh of one key source."""

    config: SourceConfig
    clock: Clock
    state: CacheState = INITIAL_STATE
    counters: StoreCounters = field(default_factory=StoreCounters)
    _guard: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _inflight: Future[None] | None = field(default=None, repr=False)
    _random: random.Random = field(default_factory=random.Random, repr=False)
    _hooks: tuple[EventHook, ...] = field(default=(), repr=False)
    _absent: TTLCache[str, bool] | None = field(default=None, repr=False)
    _stale_noted: CacheState | None = field(default=None, repr=False)
    #: Whether the latest finished refresh heard from the issuer (200 or 304); a set
    #: taken from the fleet, or a "not now", confirms nothing about an unknown kid.
    confirmed: bool = field(default=False, repr=False)

    def __post_init__(self) -> None:
        _fork.track(self)

    def after_fork_in_child(self) -> None:
        """In a forked child: a fresh lock, no in-flight refresh (its leader was a thread
        of the parent), the keys kept."""
        self._guard = threading.Lock()
        self._inflight = None
        self._random = random.Random()
        self.state = replace(self.state, refreshing=False)

    def remember_absent(self, kid: str) -> None:
        """Remember that a refresh made for ``kid`` did not find it (bounded, expiring)."""
        with self._guard:
            if self._absent is None:
                ttl = NEGATIVE_TTL_FACTOR * self.config.policy.refresh_cooldown
                if ttl <= 0:
                    return
                self._absent = TTLCache(maxsize=NEGATIVE_CACHE_SIZE, ttl=ttl, timer=self.clock)
            self._absent[kid] = True

    def known_absent(self, kid: str) -> bool:
        """Whether a recent refresh confirmed ``kid`` absent."""
        absent = self._absent
        if absent is None:
            return False
        with self._guard:
            return kid in absent

    def subscribe(self, hook: EventHook) -> None:
        """Call ``hook`` with every event of this store."""
        with self._guard:
            self._hooks = (*self._hooks, hook)

    def unsubscribe(self, hook: EventHook) -> None:
        """Stop calling ``hook`` (no error if it was not subscribed)."""
        with self._guard:
            hooks = list(self._hooks)
            if hook in hooks:
                hooks.remove(hook)
            self._hooks = tuple(hooks)

    def emit(self, event: Event) -> None:
        """Hand ``event`` to every hook; a failing hook is logged, never raised."""
        for hook in self._hooks:
            try:
                hook(event)
            except Exception:
                logger.exception("jwks_client: event hook %r failed on %r", hook, event)

    def note_stale(self, state: CacheState) -> None:
        """Emit StaleKeysServed once per cache state that serves stale keys."""
        if self._stale_noted is state or not self._hooks:
            return
        from ._events import StaleKeysServed  # events are made only for hooks

        self._stale_noted = state
        self.emit(
            StaleKeysServed(
                jwks_uri=state.jwks_uri,
                expired_at=state.fresh_until,
                stale_until=state.stale_until(self.config.policy),
            )
        )

    def label(self) -> str:
        """The JWKS URL (or the issuer before discovery), for messages."""
        return self.state.jwks_uri or self.config.label

    def busy(self) -> bool:
        """Whether a refresh is in flight."""
        return self._inflight is not None

    def seed(self, state: CacheState) -> bool:
        """Adopt a restored state if the store has nothing newer; True if adopted."""
        with self._guard:
            current = self.state
            if self._inflight is not None or self.config.static:
                return False
            if current.ring is not None and (current.fetched_at or 0.0) >= (
                state.fetched_at or 0.0
            ):
                return False
            self.state = state
            return True

    def keep_newer(self, shared: CacheState) -> None:
        """After a failed refresh, serve a newer set the fleet holds (stale keys beat no
        keys), keeping the failure and its backoff."""
        with self._guard:
            current = self.state
            if self._inflight is not None or shared.ring is None:
                return
            if current.ring is not None and (current.fetched_at or 0.0) >= (
                shared.fetched_at or 0.0
            ):
                return
            self.state = replace(
                on_adopted(current, shared),
                failures=current.failures,
                retry_at=current.retry_at,
                last_error=current.last_error,
            )

    def claim(self, observed: CacheState, mode: RefreshMode, *, lead: bool = True) -> Claim:
        """Ask to refresh, given the state the caller decided on.

        With ``lead=False`` (a closed client) the caller may join a refresh in flight but
        never starts one: the answer is then an empty claim with ``refused`` set.
        """
        with self._guard:
            if self.state is not observed or self.config.static:
                return Claim()
            if self._inflight is not None:
                return Claim(future=self._inflight)
            if not lead:
                return Claim(refused=True)
            future: Future[None] = Future()
            self._inflight = future
            now = self.clock()
            self.state = on_attempt(self.state, now)
            self.counters.refreshes += 1
            plan = _make_plan(self.config, self.state, now, forced=mode is RefreshMode.FORCED)
            return Claim(future=future, plan=plan)

    def finish(self, claim: Claim, outcome: Outcome) -> None:
        """Record the leader's outcome, wake every waiter, then tell the hooks.

        ``None`` means the refresh was abandoned (cancelled, interrupted, or its client
        closed): nothing was learned, nothing is recorded, the next caller retries.
        :class:`~._shared.Adopt` and :class:`~._shared.Limit` are the fleet's answers
        (a set another process fetched; its cooldown or backoff). A claim is finished
        once: a second call is ignored.
        """
        now = self.clock()
        with self._guard:
            if claim.future is None or self._inflight is not claim.future:
                return
            before = self.state
            self.confirmed = isinstance(outcome, (Fetched, NotModified))
            if isinstance(outcome, (Fetched, NotModified)):
                self.state = on_fetched(self.state, now, outcome, policy=self.config.policy)
                if isinstance(outcome, Fetched):
                    self.counters.key_sets += 1
                else:
                    self.counters.not_modified += 1
            elif isinstance(outcome, KeySetUnavailableError):
                self.state = on_failed(self.state, now, outcome, jitter=self._random.random())
                self.counters.failures += 1
            elif outcome is None:
                self.state = replace(self.state, refreshing=False)
            else:
                self._take_fleet_answer(outcome)
            after = self.state
            self._inflight = None
        future = claim.future
        if future is not None and not future.done():
            future.set_result(None)
        self._log(outcome)
        if self._hooks:
            self._announce(before, after, outcome)

    def _take_fleet_answer(self, outcome: Adopt | Limit) -> None:
        # Only a store with a shared cache gets an answer from the fleet, and the shared
        # tier's module is loaded by then.
        from ._shared import Adopt

        if isinstance(outcome, Adopt):
            self.state = on_adopted(self.state, outcome.state)
            self.counters.adopted += 1
            return
        error = None
        if outcome.retry_at is not None:
            error = KeySetUnavailableError(
                f"keys for {self.label()} are unavailable: the fleet backs off "
                f"({outcome.error or 'the last refresh failed'})",
                url=self.state.jwks_uri,
            )
        self.state = on_limited(
            self.state,
            adopt=outcome.adopt,
            last_attempt=outcome.last_attempt,
            retry_at=outcome.retry_at,
            error=error,
        )
        if outcome.adopt is not None:
            self.counters.adopted += 1

    def _announce(self, before: CacheState, after: CacheState, outcome: Outcome) -> None:
        from ._events import FetchFailed, KeySetFetched, KeySetRotated  # only for hooks

        if isinstance(outcome, KeySetUnavailableError):
            self.emit(FetchFailed(outcome.url, outcome, after.failures, after.retry_at))
            return
        if outcome is None or after.ring is None:
            return
        if not isinstance(outcome, (Fetched, NotModified)):  # the fleet's answer
            if before.ring is not None and before.ring.kids != after.ring.kids:
                self.emit(
                    KeySetRotated(
                        jwks_uri=after.jwks_uri or "",
                        added=after.ring.kids - before.ring.kids,
                        removed=before.ring.kids - after.ring.kids,
                    )
                )
            return
        kids = after.ring.kids
        self.emit(
            KeySetFetched(
                jwks_uri=outcome.jwks_uri,
                kids=kids,
                not_modified=isinstance(outcome, NotModified),
                lifetime=outcome.freshness.lifetime,
                skipped=len(outcome.ring.skipped) if isinstance(outcome, Fetched) else 0,
            )
        )
        if before.ring is not None and before.ring.kids != kids:
            self.emit(
                KeySetRotated(
                    jwks_uri=outcome.jwks_uri,
                    added=kids - before.ring.kids,
                    removed=before.ring.kids - kids,
                )
            )

    def _log(self, outcome: Outcome) -> None:
        if isinstance(outcome, KeySetUnavailableError):
            logger.warning(
                "jwks_client: refresh of %s failed: %s",
                self.label(),
                outcome,
                extra={"jwks_url": outcome.url, "error": type(outcome).__name__},
            )
        elif isinstance(outcome, Fetched):
            for skipped in outcome.ring.skipped:
                logger.warning(
                    "jwks_client: skipped key %d (kid %r) of %s: %s",
                    skipped.index,
                    skipped.kid,
                    outcome.jwks_uri,
                    skipped.reason,
                    extra={"jwks_url": outcome.jwks_uri, "kid": skipped.kid},
                )


def _make_plan(config: SourceConfig, state: CacheState, now: float, *, forced: bool) -> FetchPlan:
    """Build the plan of one refresh from the configuration and the cache state."""
    jwks_uri = config.jwks_uri
    if jwks_uri is None:
        discovered = state.discovered
        if discovered is not None and now < discovered.fresh_until:
            jwks_uri = discovered.jwks_uri
    have_ring = state.ring is not None
    return FetchPlan(
        issuer=config.issuer,
        jwks_uri=jwks_uri,
        stale_jwks_uri=state.jwks_uri,
        etag=state.etag if have_ring else None,
        last_modified=state.last_modified if have_ring else None,
        force=forced,
        require_https=config.require_https,
        timeout=config.timeout,
        policy=config.policy,
    )


def _registry_expiry(_key: Any, store: KeyStore, now: float) -> float:
    policy = store.config.policy
    return now + policy.max_ttl + policy.stale_if_error


#: What tells two stores apart: the source, the clock, and the user's HTTP client (by
#: identity, weakly: a collected client's entry can no longer be found and ages out).
_StoreKey = tuple[SourceConfig, Clock, object]


def _identity(http_client: object) -> object:
    """What tells a user's HTTP client apart: a weak reference where it takes one (a
    collected client's entry can no longer be found and ages out), else the client."""
    if http_client is None:
        return None
    try:
        return weakref.ref(http_client)
    except TypeError:  # a client without weak reference support (__slots__)
        return http_client


class KeyStoreRegistry:
    """Which key store serves which key source: the unit of sharing.

    Key clients and verifiers of the same source (issuer or JWKS URL and every fetching
    option), the same clock and the same HTTP client share one store, so they share keys,
    failure state and the one in-flight refresh. Clients that own their HTTP client (the
    default) count as the same client; a client the user passes in is told apart by
    identity, so two test suites mocking one URL with different transports, or a strict
    verifier beside a lax one, never see each other's keys.

    The process has a default registry; pass your own (``store_registry=``) to isolate a
    group of verifiers, and call :meth:`clear` to start cold. The registry is bounded
    (least recently attached sources go first) and an entry lives at least
    ``max_ttl + stale_if_error`` past its last attachment.

    Args:
        maxsize: how many key sources it keeps at most.
    """

    def __init__(self, maxsize: int = REGISTRY_SIZE) -> None:
        if isinstance(maxsize, bool) or not isinstance(maxsize, int) or maxsize < 1:
            raise ConfigurationError(f"maxsize must be an int >= 1, got {maxsize!r}")
        self._stores: TLRUCache[_StoreKey, KeyStore] = TLRUCache(
            maxsize=maxsize, ttu=_registry_expiry, timer=time.monotonic
        )
        self._guard = threading.Lock()
        _fork.track(self)

    def after_fork_in_child(self) -> None:
        """In a forked child: a fresh lock (the stores reset themselves)."""
        self._guard = threading.Lock()

    def store(self, config: SourceConfig, clock: Clock, http_client: object = None) -> KeyStore:
        """Return the store for this source, clock and user-supplied HTTP client.

        Creates it on first use; each call renews the entry's lifetime.
        """
        key: _StoreKey = (config, clock, _identity(http_client))
        with self._guard:
            store = self._stores.get(key)
            if store is None:
                store = KeyStore(config=config, clock=clock)
            self._stores[key] = store  # (re)inserting renews the entry's lifetime
            return store

    def ensure_capacity(self, size: int) -> None:
        """Grow the registry to hold at least ``size`` sources (never shrinks)."""
        with self._guard:
            if self._stores.maxsize < size:
                grown: TLRUCache[_StoreKey, KeyStore] = TLRUCache(
                    maxsize=size, ttu=_registry_expiry, timer=time.monotonic
                )
                grown.update(self._stores)
                self._stores = grown

    def clear(self) -> None:
        """Forget every store: clients created afterwards start cold.

        Clients created before keep the store they hold.
        """
        with self._guard:
            self._stores.clear()

    def __len__(self) -> int:
        with self._guard:
            return len(self._stores)

    @property
    def maxsize(self) -> int:
        """How many key sources it keeps at most."""
        return int(self._stores.maxsize)


#: The process's default registry.
DEFAULT_REGISTRY = KeyStoreRegistry()


def forget_shared_stores() -> None:
    """Drop every store of the default registry: later clients start cold (tests)."""
    DEFAULT_REGISTRY.clear()
