"""The key-source engine: the one object a shell or a verifier asks for keys.

Theory of operation
-------------------
An engine is one client's view of one key source. It holds the configuration, the clock,
this client's counters and the shared :class:`~._store.KeyStore` (keys, failure state,
the in-flight refresh), and it makes every decision about keys. It does no I/O: where a
decision needs I/O it *yields a step* and the shell performs it, like httpx's
``Auth.auth_flow``. So the logic exists once, and the sync and async shells each keep a
driver of a few lines.

Two ways in:

* :meth:`KeyEngine.fresh_candidates` — the hot path, a plain method: when the cached set
  is fresh and nothing is due (before the policy's ``quiet_until``), the candidates for
  ``alg``/``kid``, counted as a hit; otherwise None.
* :meth:`KeyEngine.resolve` — the full flow, a generator. It decides with
  :func:`~._policy.decide`, and yields :class:`Request` (this caller fetches: the shell
  runs the HTTP flow of the plan and sends back the outcome, which the engine records),
  :class:`Wait` (another caller is fetching: wait for its future), :class:`Background`
  (serve now, and start a background refresh), and with a fleet's shared cache
  :class:`SharedStep` (one Redis operation; see :mod:`._shared`) and :class:`Pause`
  (another process is fetching for the fleet). It returns the candidate keys, or raises
  the library's exception. A claims pre-check given by the verifier runs before a refresh
  is spent on an unknown kid, so a token that would fail anyway costs the issuer nothing.

:meth:`KeyEngine.key_set`, :meth:`KeyEngine.refresh` and :meth:`KeyEngine.background` are
flows of the same kind. A closed engine never leads a refresh (it may still join one in
flight), so a closed client cannot put a store shared with live clients into backoff.
"""

from __future__ import annotations

import math
import os
import secrets
import threading
from collections import Counter
from collections.abc import Callable, Generator, Mapping
from concurrent.futures import Future
from dataclasses import replace
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from . import _fork
from ._config import SourceConfig, load_jwks_document
from ._errors import (
    ConfigurationError,
    FetchError,
    InvalidKeySetError,
    JWKSClientError,
    KeyNotFoundError,
    KeySetUnavailableError,
)
from ._keys import KeyRing, PreparedKey
from ._policy import (
    CacheState,
    Decision,
    Refresh,
    RefreshMode,
    Reject,
    RejectReason,
    Serve,
    decide,
    quiet_until,
    static_state,
)
from ._store import DEFAULT_REGISTRY, Claim, KeyStore, KeyStoreRegistry, Outcome
from ._types import CachePolicy, Clock, Tally
from ._values import FetchPlan

if TYPE_CHECKING:
    from ._events import EventHook, Stats
    from ._shared import Adopt, Limit, Read, Release, SharedProtocol, SharedView, Write

__all__ = [
    "MAX_ROUNDS",
    "Background",
    "Flow",
    "KeyEngine",
    "Pause",
    "Request",
    "SharedStep",
    "StaticJWKS",
    "Step",
    "Wait",
]

#: A caller decides, refreshes (or waits) and decides again at most this many times.
MAX_ROUNDS = 4

#: A static key set file larger than this is refused, like an oversized response.
MAX_STATIC_BYTES = 1_048_576

#: A JWKS given once: a mapping, JSON text or bytes, or a path to a JSON file.
StaticJWKS = Mapping[str, Any] | str | bytes | os.PathLike[str]

# The steps: immutable messages, named tuples because they cost less to define at import
# than frozen dataclasses (see _values.py).


class Request(NamedTuple):
    """Go to the issuer: run the HTTP flow of ``plan`` and send back its outcome
    (``Fetched``, ``NotModified`` or the ``KeySetUnavailableError``), or None when the
    HTTP client is closed and nothing could be tried."""

    plan: FetchPlan


class SharedStep(NamedTuple):
    """Perform ``op`` on the shared cache and send back its answer, or ``DOWN``."""

    op: Read | Write | Release


class Pause(NamedTuple):
    """Wait ``seconds`` (another process is fetching for the fleet)."""

    seconds: float


class Wait(NamedTuple):
    """Another caller is fetching: wait for ``future`` (at most the engine's wait timeout)."""

    future: Future[None]


class Background(NamedTuple):
    """Start a background refresh of ``state`` (the caller is served meanwhile)."""

    state: CacheState


Step = Request | Wait | Background | SharedStep | Pause
_T = TypeVar("_T")
#: A flow yields steps for the shell to perform, receives their answers (None for the
#: steps that have none) and returns its own answer.
Flow = Generator[Step, Any, _T]


def read_static(jwks: StaticJWKS) -> KeyRing:
    """The key ring of a static key set; a path (os.PathLike, or a str not starting with
    '{') is read as a file.

    Raises:
        ConfigurationError: the file cannot be read, or the value has the wrong type.
        InvalidKeySetError: the file is too large, or the set has no usable key.
    """
    document: object = jwks
    if isinstance(jwks, os.PathLike) or (
        isinstance(jwks, str) and not jwks.lstrip().startswith("{")
    ):
        path = os.fspath(jwks)
        try:
            with open(path, "rb") as file:
                data = file.read(MAX_STATIC_BYTES + 1)
        except OSError as exc:
            raise ConfigurationError(f"cannot read the key set file {path!r}: {exc}") from exc
        if len(data) > MAX_STATIC_BYTES:
            raise InvalidKeySetError(f"the key set file {path!r} exceeds {MAX_STATIC_BYTES} bytes")
        document = data
    return load_jwks_document(document)


def unavailable(error: KeySetUnavailableError | None, *, label: str) -> KeySetUnavailableError:
    """The keys-unavailable exception: a clone of the last refresh failure, if any."""
    if error is None:
        return KeySetUnavailableError(f"keys for {label} are unavailable")
    return error.clone()


def rejection(
    decision: Reject,
    *,
    kid: str | None,
    alg: str | None,
    label: str,
    from_cache: bool = False,
) -> JWKSClientError:
    """The exception for a policy rejection (a fresh instance, safe to raise anywhere).

    ``from_cache`` says the lookup made no request (the cooldown, or a kid a refresh
    found absent): the message says so, since a test suite meeting it often holds keys
    from an earlier test.
    """
    error = decision.error
    if decision.reason is RejectReason.UNAVAILABLE:
        return unavailable(error, label=label)
    what = f"kid {kid!r}" if kid is not None else "a kid-less token"
    with_alg = f" with alg {alg}" if alg is not None else ""
    message = f"no key for {what}{with_alg} in the key set of {label}"
    if error is not None:
        message += f" (the last refresh failed: {error})"
    if from_cache:
        message += (
            "; refused from the cached set without a request (an unknown kid refreshes "
            "the set at most once per refresh_cooldown, and kids a refresh found absent "
            "are remembered)"
        )
    return KeyNotFoundError(message, kid=kid, alg=alg)


class KeyEngine:
    """One client's view of one key source: decisions, counters, the shared store.

    Args:
        config: the bound source configuration.
        clock: returns Unix seconds.
        store: the store to use; by default the registry's store for this source, clock
            and ``http_client`` (a static set always gets a store of its own).
        jwks: a static key set instead of fetching.
        http_client: the user's HTTP client, if any (part of the sharing key).
        registry: where shared stores live (the process default if None).
        on_event: a hook called with each event of the store.
        shared: the protocol of the fleet's shared cache (tier 2), if there is one.

    Raises:
        ConfigurationError: ``on_event`` is not callable, or the static set is unreadable.
        InvalidKeySetError: the static set has no usable key.
    """

    def __init__(
        self,
        config: SourceConfig,
        clock: Clock,
        *,
        jwks: StaticJWKS | None = None,
        http_client: object = None,
        registry: KeyStoreRegistry | None = None,
        on_event: EventHook | None = None,
        shared: SharedProtocol | None = None,
    ) -> None:
        if registry is not None and not isinstance(registry, KeyStoreRegistry):
            raise ConfigurationError(f"store_registry must be a KeyStoreRegistry, got {registry!r}")
        if on_event is not None and not callable(on_event):
            raise ConfigurationError(f"on_event must be callable, got {on_event!r}")
        self.config = config
        self.policy: CachePolicy = config.policy
        self._clock = clock
        if jwks is not None:
            ring = read_static(jwks)
            self._store = KeyStore(config=config, clock=clock)
            self._store.state = static_state(ring, clock())
        else:
            registry = DEFAULT_REGISTRY if registry is None else registry
            self._store = registry.store(config, clock, http_client)
        self._closed = False
        self._counts: Counter[str] = Counter()
        self._hits = Tally()  # key-cache hits, counted on the hot path: no lock
        self._count_lock = threading.Lock()
        self._quiet: tuple[CacheState | None, float] = (None, float("-inf"))
        self._hook = on_event
        if on_event is not None:
            self._store.subscribe(on_event)
        self._shared = None if jwks is not None else shared
        self._names = shared.names(config) if shared is not None else None
        _fork.track(self)

    def after_fork_in_child(self) -> None:
        """In a forked child: a fresh counter lock."""
        self._count_lock = threading.Lock()

    # --- the hot path ------------------------------------------------------------------

    def fresh_candidates(self, alg: str | None, kid: str | None) -> tuple[PreparedKey, ...] | None:
        """The candidates when the set is fresh and nothing is due (a hit), else None.

        None sends the caller to :meth:`resolve`, which decides; this method never does.
        """
        state = self._store.state
        quiet = self._quiet
        if quiet[0] is not state:
            quiet = self._quiet = (state, quiet_until(state, self.policy))
        ring = state.ring
        if ring is not None and self._clock() < quiet[1]:
            found = ring.select(alg, kid)
            if found:
                self._hits.bump()
                return found
        return None

    # --- flows ---------------------------------------------------------------------------

    def resolve(
        self,
        alg: str | None,
        kid: str | None,
        precheck: Callable[[float], None] | None = None,
    ) -> Flow[tuple[PreparedKey, ...]]:
        """The candidate keys for ``alg``/``kid`` (never empty), refreshing as allowed.

        Args:
            alg, kid: from the token's header.
            precheck: called with the time before a refresh is forced by an unknown kid;
                it raises to refuse the token without spending the refresh.

        Raises:
            KeyNotFoundError: no such key, even after the allowed refresh.
            KeySetUnavailableError: the key set could not be obtained.
        """
        waited = False
        for _ in range(MAX_ROUNDS):
            now = self._clock()
            state, found, decision = self._lookup(alg, kid, now)
            if decision is None:
                self._count_served(waited)
                return found
            if isinstance(decision, Serve):
                if decision.stale:
                    self._store.note_stale(state)
                    self._count_served(waited, "stale_served")
                else:
                    self._count_served(waited)
                if decision.background:
                    yield Background(state)
                return found
            if isinstance(decision, Reject):
                error = self._rejection(decision, alg, kid, waited)
                if self._confirms_absent(waited, decision) and kid is not None:
                    yield from self._share_absent(kid, now)
                raise error
            assert isinstance(decision, Refresh)
            if decision.mode is RefreshMode.FORCED and precheck is not None:
                precheck(now)
            waited = True
            yield from self._refresh(state, decision.mode, kid=kid)
        last = self.state.last_error
        reason = RejectReason.KEY_NOT_FOUND if last is None else RejectReason.UNAVAILABLE
        raise self._rejection(Reject(reason, last), alg, kid, waited)

    def key_set(self) -> Flow[KeyRing]:
        """The current key set, fetched when there is none usable.

        Raises:
            KeySetUnavailableError: the key set could not be obtained.
        """
        ring = self._usable_ring()
        if ring is None:
            yield from self._refresh(self.state, RefreshMode.BLOCKING)
            ring = self._usable_ring()
            if ring is None:
                raise self.unavailable()
        return ring

    def refresh(self) -> Flow[KeyRing]:
        """Fetch the key set now (revalidating), whatever the cache says.

        Raises:
            KeySetUnavailableError: the refresh failed (the cached keys are kept).
        """
        yield from self._refresh(self.state, RefreshMode.FORCED)
        state = self.state
        if state.last_error is not None or state.ring is None:
            raise self.unavailable()
        return state.ring

    def wants_background(self, observed: CacheState) -> bool:
        """Whether a background refresh of ``observed`` is still worth starting."""
        return not self._closed and not self._store.busy() and self.state is observed

    def background(self, observed: CacheState) -> Flow[None]:
        """A refresh nobody waits for: lead it, or do nothing if another is in flight."""
        if self.wants_background(observed):
            yield from self._refresh(observed, RefreshMode.BLOCKING, wait=False)

    # --- the rest of the client's surface -----------------------------------------------

    @property
    def state(self) -> CacheState:
        """The shared store's cache state (immutable)."""
        return self._store.state

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def close(self) -> None:
        """Stop leading refreshes and stop calling this client's ``on_event`` hook."""
        self._closed = True
        if self._hook is not None:
            self._store.unsubscribe(self._hook)
            self._hook = None

    def closed_error(self) -> KeySetUnavailableError:
        """The error of a closed client asked to fetch."""
        return KeySetUnavailableError(
            f"cannot fetch keys for {self.label()}: the client is closed",
            url=self.state.jwks_uri,
        )

    def label(self) -> str:
        """The JWKS URL (or the issuer before discovery), for messages."""
        return self._store.label()

    def unavailable(self) -> KeySetUnavailableError:
        """The keys-unavailable error for the current state."""
        return unavailable(self.state.last_error, label=self.label())

    def wait_timeout(self) -> float:
        """How long a caller waits for another caller's refresh (discovery + JWKS, and
        with a shared cache the wait for another process's fetch first)."""
        wait = self.config.timeout * 4 + 1
        if self._shared is not None:
            wait += self._lock_seconds()
        return wait

    def wait_timed_out(self) -> FetchError:
        """The error of a caller whose wait for another's refresh ran out."""
        return FetchError(
            f"timed out after {self.wait_timeout():g}s waiting for the refresh of {self.label()}",
            url=self.state.jwks_uri,
        )

    def subscribe(self, hook: EventHook) -> None:
        """Call ``hook`` with every event of the store (until unsubscribed).

        Raises:
            ConfigurationError: ``hook`` is not callable.
        """
        if not callable(hook):
            raise ConfigurationError(f"an event hook must be callable, got {hook!r}")
        self._store.subscribe(hook)

    def unsubscribe(self, hook: EventHook) -> None:
        """Stop calling ``hook`` (no error if it was not subscribed)."""
        self._store.unsubscribe(hook)

    def stats(self, base: Stats | None = None) -> Stats:
        """``base`` (the verifier's counters) completed with this client's and the store's."""
        from ._events import Stats

        with self._count_lock:
            counts = dict(self._counts)
        store = self._store
        state = store.state
        ring = state.ring
        return replace(
            Stats() if base is None else base,
            key_cache_hits=self._hits.value,
            key_cache_misses=counts.get("key_cache_miss", 0),
            rate_limited=counts.get("rate_limited", 0),
            stale_served=counts.get("stale_served", 0),
            refreshes=store.counters.refreshes,
            key_sets=store.counters.key_sets,
            not_modified=store.counters.not_modified,
            fetch_errors=store.counters.failures,
            kids=tuple(sorted(ring.kids)) if ring is not None else (),
            fresh_until=state.fresh_until if ring is not None else None,
            stale_until=state.stale_until(self.policy) if ring is not None else None,
            jwks_uri=state.jwks_uri,
            shared_cache_hits=counts.get("shared_hit", 0),
            shared_cache_errors=counts.get("shared_error", 0),
        )

    def export_snapshot(self, *, key: bytes | None = None) -> dict[str, Any]:
        """The cached key set as a JSON-ready snapshot (see ``load_snapshot``)."""
        from ._snapshot import export_snapshot

        return export_snapshot(self.state, self.config, key=key)

    def load_snapshot(
        self, snapshot: Mapping[str, Any] | str | bytes, *, key: bytes | None = None
    ) -> bool:
        """Seed the store from a snapshot; True if adopted."""
        from ._snapshot import restore_snapshot

        state = restore_snapshot(snapshot, self.config, key=key, now=self._clock())
        return self._store.seed(state)

    # --- decisions -------------------------------------------------------------------------

    def _count(self, *names: str) -> None:
        with self._count_lock:
            for name in names:
                self._counts[name] += 1

    def _count_served(self, waited: bool, *also: str) -> None:
        """Count keys served: a hit, or a miss when this caller waited for a fetch."""
        if waited:
            self._count("key_cache_miss", *also)
            return
        self._hits.bump()
        if also:
            self._count(*also)

    def _lookup(
        self, alg: str | None, kid: str | None, now: float
    ) -> tuple[CacheState, tuple[PreparedKey, ...], Decision | None]:
        """Candidates for alg/kid and what to do; ``None`` means "serve, nothing else"."""
        store = self._store
        state = store.state
        ring = state.ring
        found = ring.select(alg, kid) if ring is not None else ()
        if found:
            quiet = self._quiet
            if quiet[0] is not state:
                quiet = self._quiet = (state, quiet_until(state, self.policy))
            if now < quiet[1]:
                return state, found, None  # the common case, decided without decide()
        decision = decide(state, now, has_key=bool(found), policy=self.policy)
        if (
            kid is not None
            and isinstance(decision, Refresh)
            and decision.mode is RefreshMode.FORCED
            and store.known_absent(kid)
        ):
            # A kid a recent refresh confirmed absent spends no further refresh.
            decision = Reject(RejectReason.KEY_NOT_FOUND, state.last_error)
        return state, found, decision

    def _rejection(
        self, decision: Reject, alg: str | None, kid: str | None, waited: bool = False
    ) -> JWKSClientError:
        if decision.reason is RejectReason.KEY_NOT_FOUND:
            if not waited:
                self._count("rate_limited")
            elif kid is not None and self._confirms_absent(waited, decision):
                self._store.remember_absent(kid)
        return rejection(decision, kid=kid, alg=alg, label=self.label(), from_cache=not waited)

    def _confirms_absent(self, waited: bool, decision: Reject) -> bool:
        """Whether this rejection confirms the kid absent: only right after a refresh that
        heard from the issuer (not a failed one, nor a set or a "not now" from the fleet)."""
        return (
            waited
            and decision.reason is RejectReason.KEY_NOT_FOUND
            and decision.error is None
            and self._store.confirmed
        )

    def _refresh(
        self,
        observed: CacheState,
        mode: RefreshMode,
        *,
        wait: bool = True,
        kid: str | None = None,
    ) -> Flow[None]:
        """Lead a refresh, or wait for the one in flight, unless the state moved on."""
        claim = self._store.claim(observed, mode, lead=not self._closed)
        if claim.plan is not None:
            try:
                if self._shared is None:
                    yield from self._request(claim, claim.plan)
                else:
                    yield from self._lead_shared(claim, claim.plan, observed, mode, kid)
            finally:
                # Whatever happened (cancelled, interrupted, a closed client), the claim
                # ends, so nobody waits on it; finishing twice is a no-op.
                self._store.finish(claim, None)
        elif claim.future is not None:
            if wait:
                yield Wait(claim.future)
        elif claim.refused:
            raise self.closed_error()

    def _request(self, claim: Claim, plan: FetchPlan) -> Flow[Outcome]:
        """Go to the issuer and record the outcome."""
        outcome: Outcome = yield Request(plan)
        if outcome is None:
            self._store.finish(claim, None)
            raise self.closed_error()
        self._store.finish(claim, outcome)
        return outcome

    # --- the fleet's shared cache (tier 2) ----------------------------------------------
    # Only an engine given a shared cache comes here, and the shared tier's module, which
    # these methods import, is loaded by then; an engine without one never loads it.

    def _lock_seconds(self) -> float:
        # Discovery and JWKS, each bounded by the timeout, and a second of slack.
        return self.config.timeout * 2 + 1

    def _read_view(self, keys: tuple[str, ...], now: float) -> Flow[SharedView | None]:
        from ._shared import DOWN, Read

        assert self._shared is not None
        answers = yield SharedStep(Read(keys))
        if answers is DOWN or not isinstance(answers, (tuple, list)) or len(answers) != len(keys):
            self._shared_failed()
            return None
        return self._shared.read_view(tuple(answers), self.config, now)

    def _lead_shared(
        self,
        claim: Claim,
        plan: FetchPlan,
        observed: CacheState,
        mode: RefreshMode,
        kid: str | None,
    ) -> Flow[None]:
        """Refresh through the fleet: adopt its set, obey its limits, or fetch under its
        lock (and publish); any shared-cache failure falls back to a fetch of our own."""
        from ._shared import Adopt, Limit, plan_lead

        names = self._names
        assert names is not None
        forced = mode is RefreshMode.FORCED
        now = self._clock()
        wanted: tuple[str, ...] = (names.keys, names.attempt, names.backoff, names.lock)
        if forced and kid is not None:
            wanted += (names.absent(kid),)
        view = yield from self._read_view(wanted, now)
        if view is None:
            yield from self._request(claim, plan)
            return
        plan_ = plan_lead(observed, view, now=now, forced=forced, kid=kid, config=self.config)
        decision = plan_ if isinstance(plan_, (Adopt, Limit)) else None
        if decision is None:
            decision = yield from self._fetch_for_fleet(claim, plan, observed, view, forced, kid)
        if decision is not None:
            self._settle(claim, decision)

    def _settle(self, claim: Claim, decision: Adopt | Limit) -> None:
        from ._shared import Limit

        if isinstance(decision, Limit) and decision.absent is not None:
            self._store.remember_absent(decision.absent)
        self._count("shared_hit")
        self._store.finish(claim, decision)

    def _fetch_for_fleet(
        self,
        claim: Claim,
        plan: FetchPlan,
        observed: CacheState,
        seen: SharedView,
        forced: bool,
        kid: str | None,
    ) -> Flow[Adopt | Limit | None]:
        """Take the fleet's lock and fetch, or wait (bounded) for the holder's result."""
        from ._shared import DOWN, Adopt, Limit, Release, Write, has_news, plan_lead, ttl_ms

        shared, names = self._shared, self._names
        assert shared is not None and names is not None
        token = secrets.token_hex(16).encode("ascii")
        lock_ttl = ttl_ms(self._lock_seconds())
        polls = max(1, math.ceil((self._lock_seconds() + 1) / shared.poll_interval))
        for _ in range(polls + 1):
            got = yield SharedStep(Write(names.lock, token, lock_ttl, only_if_absent=True))
            if got is DOWN:
                self._shared_failed()
                break
            if got:
                # The previous holder may have published between our read and our lock.
                now = self._clock()
                view = yield from self._read_view(
                    (names.keys, names.attempt, names.backoff, names.lock), now
                )
                if view is not None and has_news(view, seen.keys, observed):
                    decision = plan_lead(
                        observed, view, now=now, forced=forced, kid=kid, config=self.config
                    )
                    if isinstance(decision, (Adopt, Limit)):
                        yield SharedStep(Release(names.lock, token))
                        return decision
                yield from self._fetch_and_publish(claim, plan, token, seen.keys)
                return None
            yield Pause(shared.poll_interval)
            now = self._clock()
            view = yield from self._read_view(
                (names.keys, names.attempt, names.backoff, names.lock), now
            )
            if view is None:
                break
            if has_news(view, seen.keys, observed) or (
                view.retry_at is not None and now < view.retry_at
            ):
                decision = plan_lead(
                    observed, view, now=now, forced=forced, kid=kid, config=self.config
                )
                if isinstance(decision, (Adopt, Limit)):
                    return decision
                # A set fetched while we waited, still without the kid: the kid is absent
                # for now, and the fleet's cooldown started with that fetch.
                return Limit(view.keys, last_attempt=view.attempt)
        # The holder never published (crashed, or the cache failed): fetch ourselves.
        yield from self._request(claim, plan)
        return None

    def _fetch_and_publish(
        self, claim: Claim, plan: FetchPlan, token: bytes, fallback: CacheState | None
    ) -> Flow[None]:
        """Fetch as the fleet's leader, then publish the set (or the backoff) and unlock;
        if the fetch fails, a newer (stale) set the fleet holds serves meanwhile."""
        from ._shared import Release, Write, ttl_ms

        shared, names = self._shared, self._names
        assert shared is not None and names is not None
        policy = self.policy
        now = self._clock()
        yield SharedStep(
            Write(names.attempt, shared.time_value(now), ttl_ms(policy.refresh_cooldown * 2))
        )
        outcome = yield from self._request(claim, plan)
        state = self.state
        now = self._clock()
        if isinstance(outcome, KeySetUnavailableError):
            if fallback is not None and now < fallback.stale_until(policy):
                self._store.keep_newer(fallback)
            value = shared.seal({"retry_at": state.retry_at, "error": str(outcome)[:500]})
            yield SharedStep(Write(names.backoff, value, ttl_ms(state.retry_at - now)))
        elif state.ring is not None and state.document:
            horizon = state.stale_until(policy) - now
            yield SharedStep(
                Write(names.keys, shared.keys_value(state, self.config), ttl_ms(horizon))
            )
        yield SharedStep(Release(names.lock, token))

    def _share_absent(self, kid: str, now: float) -> Flow[None]:
        """Tell the fleet a refresh confirmed ``kid`` absent (its negative memory)."""
        shared, names = self._shared, self._names
        if shared is None or names is None:
            return
        from ._shared import DOWN, Write, ttl_ms

        ttl = ttl_ms(self.policy.refresh_cooldown * 2)
        answer = yield SharedStep(Write(names.absent(kid), shared.time_value(now), ttl))
        if answer is DOWN:
            self._shared_failed()

    def _shared_failed(self) -> None:
        """Count a failed shared-cache operation and tell the hooks."""
        from ._events import SharedCacheUnavailable

        assert self._shared is not None
        self._count("shared_error")
        self._store.emit(SharedCacheUnavailable(self._shared.namespace, self.state.jwks_uri))

    def _usable_ring(self) -> KeyRing | None:
        state = self.state
        ring = state.ring
        if ring is None or self._clock() >= state.stale_until(self.policy):
            return None
        return ring
