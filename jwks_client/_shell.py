"""What the sync and async shells share: configuration, the store, the token cache.

Both shells subclass these bases and add only what differs between them: how they
wait for another caller's refresh (a blocking ``Future.result`` or an awaited
``asyncio.wrap_future``), how they send (httpx.Client or AsyncClient), and how they run
a background refresh (a thread or a task).
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar

from cachetools import TLRUCache

from ._claims import validate_claims
from ._errors import ConfigurationError, FetchError, InvalidKeySetError, KeySetUnavailableError
from ._events import EventHook, Stats
from ._keys import KeyRing, PreparedKey
from ._policy import (
    CacheState,
    Decision,
    Refresh,
    RefreshMode,
    Reject,
    RejectReason,
    decide,
    quiet_until,
    static_state,
)
from ._snapshot import export_snapshot, restore_snapshot
from ._store import KeyStore, shared_store
from ._token import ParsedToken
from ._types import CachePolicy, Clock
from ._verify import (
    load_jwks_document,
    make_source_config,
    make_token_rules,
    precheck,
    rejection,
    unavailable,
)

__all__ = ["KeySourceBase", "VerifierBase", "logger"]

logger = logging.getLogger("jwks_client")

#: A static key set file larger than this is refused, like an oversized response.
MAX_STATIC_BYTES = 1_048_576

#: A caller decides, refreshes (or waits) and decides again at most this many times.
MAX_ROUNDS = 4


#: A JWKS given once: a mapping, JSON text or bytes, or a path to a JSON file.
StaticJWKS = Mapping[str, Any] | str | bytes | os.PathLike[str]


def _read_static(jwks: StaticJWKS) -> Mapping[str, Any] | str | bytes:
    """The JWKS document itself: a path (os.PathLike, or a str not starting with '{')
    is read as a file."""
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
        return data
    return jwks


class KeySourceBase:
    """Configuration of one key source and the shared store behind it; no I/O."""

    def __init__(
        self,
        *,
        jwks_uri: str | None,
        issuer: str | None,
        require_https: bool,
        clock: Clock,
        timeout: float,
        cache_policy: CachePolicy | None,
        max_response_bytes: int,
        jwks: StaticJWKS | None = None,
        on_event: EventHook | None = None,
    ) -> None:
        self._config = make_source_config(
            issuer=issuer,
            jwks_uri=jwks_uri,
            require_https=require_https,
            timeout=timeout,
            max_response_bytes=max_response_bytes,
            cache_policy=cache_policy,
            static=jwks is not None,
        )
        self._policy = self._config.policy
        self._clock = clock
        if jwks is not None:
            ring = load_jwks_document(_read_static(jwks))
            self._store = KeyStore(config=self._config, clock=clock)
            self._store.state = static_state(ring, clock())
        else:
            self._store = shared_store(self._config, clock)
        self._closed = False
        self._counts: Counter[str] = Counter()
        self._count_lock = threading.Lock()
        self._quiet: tuple[CacheState | None, float] = (None, float("-inf"))
        self._precheck: Callable[[ParsedToken, float], None] | None = None
        self._hook = on_event
        if on_event is not None:
            if not callable(on_event):
                raise ConfigurationError(f"on_event must be callable, got {on_event!r}")
            self._store.subscribe(on_event)

    def add_event_hook(self, hook: EventHook) -> None:
        """Call ``hook`` with every event of this client's key store (until removed)."""
        if not callable(hook):
            raise ConfigurationError(f"an event hook must be callable, got {hook!r}")
        self._store.subscribe(hook)

    def remove_event_hook(self, hook: EventHook) -> None:
        """Stop calling ``hook`` (no error if it was not added)."""
        self._store.unsubscribe(hook)

    def stats(self) -> Stats:
        """A snapshot of the key cache's counters and contents."""
        with self._count_lock:
            counts = dict(self._counts)
        return self._store_stats(counts, Stats())

    def export_snapshot(self, *, key: bytes | None = None) -> dict[str, Any]:
        """Export the cached key set as a JSON-ready snapshot (see ``load_snapshot``).

        Args:
            key: when given, the snapshot carries an HMAC-SHA256 made with it.

        Raises:
            SnapshotError: nothing has been fetched yet.
        """
        return export_snapshot(self._store.state, self._config, key=key)

    def load_snapshot(
        self, snapshot: Mapping[str, Any] | str | bytes, *, key: bytes | None = None
    ) -> bool:
        """Seed the key cache from a snapshot, so the first verification needs no fetch.

        The snapshot's freshness is kept (capped at ``max_ttl`` from now): an old snapshot
        serves within the stale window while a refresh runs. It is adopted only if the
        cache holds nothing newer.

        Args:
            snapshot: what ``export_snapshot`` returned, as a mapping or JSON text.
            key: the HMAC key; required for a signed snapshot, and when given, an unsigned
                snapshot is refused.

        Returns:
            True if the snapshot was adopted.

        Raises:
            SnapshotError: malformed, altered, for another source, or without usable keys.
        """
        state = restore_snapshot(snapshot, self._config, key=key, now=self._clock())
        return self._store.seed(state)

    def _store_stats(self, counts: Mapping[str, int], base: Stats) -> Stats:
        store = self._store
        state = store.state
        ring = state.ring
        return replace(
            base,
            key_cache_hits=counts.get("key_cache_hit", 0),
            key_cache_misses=counts.get("key_cache_miss", 0),
            rate_limited=counts.get("rate_limited", 0),
            stale_served=counts.get("stale_served", 0),
            refreshes=store.counters.refreshes,
            key_sets=store.counters.key_sets,
            not_modified=store.counters.not_modified,
            fetch_errors=store.counters.failures,
            kids=tuple(sorted(ring.kids)) if ring is not None else (),
            fresh_until=state.fresh_until if ring is not None else None,
            stale_until=state.stale_until(self._policy) if ring is not None else None,
            jwks_uri=state.jwks_uri,
        )

    def _bump(self, *names: str) -> None:
        with self._count_lock:
            for name in names:
                self._counts[name] += 1

    def _served(self, state: CacheState, stale: bool, waited: bool) -> None:
        """Count a key lookup served from the cache."""
        if stale:
            self._store.note_stale(state)
            self._bump("key_cache_miss" if waited else "key_cache_hit", "stale_served")
        else:
            self._bump("key_cache_miss" if waited else "key_cache_hit")

    def _quiet_candidates(self, alg: str, kid: str | None) -> tuple[PreparedKey, ...] | None:
        """The candidates when the set is fresh and quiet (counted as a hit), else None.

        The answer ``_lookup`` gives without a decision, taken before any I/O-capable path
        (the verifiers call ``_resolve`` only when this gives None).
        """
        state = self._store.state
        quiet = self._quiet
        if quiet[0] is state and state.ring is not None and self._clock() < quiet[1]:
            found = state.ring.select(alg, kid)
            if found:
                self._hit()
                return found
        return None

    def _hit(self) -> None:
        """Count a key lookup served at once from a fresh set (the hot path)."""
        with self._count_lock:
            self._counts["key_cache_hit"] += 1

    def _detach(self) -> None:
        if self._hook is not None:
            self._store.unsubscribe(self._hook)
            self._hook = None

    @property
    def state(self) -> CacheState:
        """A snapshot of the cache state (immutable)."""
        return self._store.state

    @property
    def closed(self) -> bool:
        """Whether ``close()`` / ``aclose()`` was called."""
        return self._closed

    @property
    def cache_policy(self) -> CachePolicy:
        """The cache policy in force."""
        return self._policy

    @property
    def _state(self) -> CacheState:
        return self._store.state

    def _label(self) -> str:
        return self._store.label()

    def _lookup(
        self, alg: str, kid: str | None, now: float
    ) -> tuple[CacheState, tuple[PreparedKey, ...], Decision | None]:
        """Candidates for alg/kid and what to do; ``None`` means "serve, nothing else"."""
        store = self._store
        state = store.state
        ring = state.ring
        found = ring.select(alg, kid) if ring is not None else ()
        if found:
            quiet = self._quiet
            if quiet[0] is not state:
                quiet = (state, quiet_until(state, self._policy))
                self._quiet = quiet
            if now < quiet[1]:
                return state, found, None  # the common case, decided without decide()
        decision = decide(state, now, has_key=bool(found), policy=self._policy)
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
        self, decision: Reject, alg: str, kid: str | None, waited: bool = False
    ) -> Exception:
        if decision.reason is RejectReason.KEY_NOT_FOUND:
            if not waited:
                self._bump("rate_limited")
            elif kid is not None:
                self._store.remember_absent(kid)
        return rejection(decision, kid=kid, alg=alg, label=self._label())

    def _exhausted(self, alg: str, kid: str | None) -> Exception:
        decision = Reject(RejectReason.KEY_NOT_FOUND, self._state.last_error)
        return self._rejection(decision, alg, kid)

    def _usable_ring(self) -> KeyRing | None:
        state = self._store.state
        ring = state.ring
        if ring is None or self._clock() >= state.stale_until(self._policy):
            return None
        return ring

    def _unavailable(self) -> KeySetUnavailableError:
        return unavailable(self._state.last_error, label=self._label())

    def _wait_timeout(self) -> float:
        """How long a caller waits for another caller's refresh (discovery + JWKS)."""
        return self._config.timeout * 4 + 1

    def _wait_timed_out(self) -> FetchError:
        label = self._label()
        return FetchError(
            f"timed out after {self._wait_timeout():g}s waiting for the refresh of {label}",
            url=self._state.jwks_uri,
        )


@dataclass(frozen=True, slots=True)
class _Verified:
    """A token whose signature was verified, remembered by the digest of the token."""

    claims: dict[str, Any]
    typ: str | None
    alg: str
    kid: str | None
    thumbprint: str
    expires_at: float


def _entry_expiry(_digest: bytes, entry: _Verified, _now: float) -> float:
    return entry.expires_at


_Keys = TypeVar("_Keys", bound=KeySourceBase)


class VerifierBase(Generic[_Keys]):
    """Token rules of a verifier, and its optional verified-token cache; no I/O.

    The verified-token cache (``verified_token_cache_size > 0``) remembers tokens whose
    signature verified, keyed by a SHA-256 digest of the token, bounded in size (LRU) and
    in time: an entry never outlives the token's ``exp`` (plus leeway). A hit is only
    served while the key that verified it is still a candidate in the current key set,
    so a key rotated out of the JWKS invalidates its tokens; the claims (exp, nbf, ...)
    are validated again on every call.
    """

    def __init__(
        self,
        *,
        issuer: str,
        audience: str | Collection[str] | None,
        algorithms: Iterable[str] | None,
        leeway: float,
        token_type: str | None,
        required_claims: Iterable[str],
        max_token_length: int,
        clock: Clock,
        verified_token_cache_size: int = 0,
    ) -> None:
        self._rules = make_token_rules(
            issuer=issuer,
            audience=audience,
            algorithms=algorithms,
            leeway=leeway,
            token_type=token_type,
            required_claims=required_claims,
            max_token_length=max_token_length,
        )
        self._clock = clock
        self.issuer = issuer
        size = verified_token_cache_size
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise ConfigurationError(
                f"verified_token_cache_size must be an int >= 0, got {verified_token_cache_size!r}"
            )
        self._verified: TLRUCache[bytes, _Verified] | None = (
            TLRUCache(maxsize=size, ttu=_entry_expiry, timer=clock) if size else None
        )
        self._verified_lock = threading.Lock()
        self._outcomes: Counter[str] = Counter()
        self._outcome_lock = threading.Lock()

    _keys: _Keys

    @property
    def closed(self) -> bool:
        """Whether ``close()`` / ``aclose()`` was called."""
        return self._keys.closed

    def stats(self) -> Stats:
        """A snapshot of this verifier's counters, its key cache and its key store."""
        with self._outcome_lock:
            outcomes = dict(self._outcomes)
        verified = outcomes.pop("verified", 0)
        token_hits = outcomes.pop("token_cache_hit", 0)
        keys = self._keys
        with keys._count_lock:
            counts = dict(keys._counts)
        base = Stats(verified=verified, rejected=outcomes, token_cache_hits=token_hits)
        return keys._store_stats(counts, base)

    def _precheck(self, parsed: ParsedToken, now: float) -> None:
        """Cheap claims checks on the unverified token before a refresh is spent on it."""
        precheck(parsed, self._rules, now)

    def _outcome(self, name: str) -> None:
        with self._outcome_lock:
            self._outcomes[name] += 1

    def _digest(self, token: object) -> bytes | None:
        """The cache key of a token, or None when the token cannot be cached."""
        if isinstance(token, str):
            if len(token) > self._rules.max_token_length:
                return None
            return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
        if isinstance(token, bytes):
            if len(token) > self._rules.max_token_length:
                return None
            return hashlib.sha256(token).digest()
        return None

    def _recall(self, digest: bytes) -> _Verified | None:
        assert self._verified is not None
        with self._verified_lock:
            return self._verified.get(digest)

    def _serve_recalled(
        self, digest: bytes, entry: _Verified, candidates: tuple[PreparedKey, ...]
    ) -> dict[str, Any] | None:
        """Claims of a remembered token if its key still serves, else forget it."""
        if not any(key.thumbprint == entry.thumbprint for key in candidates):
            assert self._verified is not None
            with self._verified_lock:
                self._verified.pop(digest, None)
            return None
        validate_claims(entry.claims, typ=entry.typ, policy=self._rules.claims, now=self._clock())
        return dict(entry.claims)

    def _remember(self, digest: bytes | None, parsed: ParsedToken, key: PreparedKey) -> None:
        if digest is None or self._verified is None:
            return
        exp = parsed.claims.get("exp")
        try:
            expires_at = float(exp) + self._rules.claims.leeway  # type: ignore[arg-type]
        except (TypeError, ValueError, OverflowError):
            return
        entry = _Verified(
            claims=dict(parsed.claims),
            typ=parsed.typ,
            alg=parsed.alg,
            kid=parsed.kid,
            thumbprint=key.thumbprint,
            expires_at=expires_at,
        )
        with self._verified_lock:
            self._verified[digest] = entry
