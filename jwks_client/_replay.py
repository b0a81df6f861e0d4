"""Replay stores: remember which DPoP proofs were already used, until they expire.

A verifier asks one question per accepted proof: "is this the first use of this key
before ``expires_at``?" (:meth:`ReplayStore.first_use`). The key is a short digest of the
proof key's thumbprint and the proof's ``jti``; ``expires_at`` is the last moment the
proof's ``iat`` would still be accepted, so an entry never needs to outlive it. The
caller passes its own ``now``: a store holds no clock, and verifiers on different clocks
(tests) may share one.

:class:`MemoryReplayStore` answers for one process, in about a microsecond: a dict from
key to expiry, and the keys filed in one-second buckets by expiry so that whole buckets
are dropped once they pass (amortised constant time per entry, no heap or linked list per
entry; about 120 bytes an entry). It is bounded in entries, so in memory (keys are
fixed-size digests): when it is full of live entries, the entries closest to expiry are
dropped first and counted (:attr:`MemoryReplayStore.evictions`): a replay of such a proof
within its window would then pass, which is the price of a bounded memory.
(``cachetools.TLRUCache`` does the same job at about 9 µs and 300 bytes an entry.)

A fleet behind one endpoint needs a store shared by its processes; any object with a
``first_use`` method of the same meaning can be given as ``DPoP(replay_store=...)``.
Verifiers sharing a store should share a clock: a store forgets what expired at the
latest time it was given.
"""

from __future__ import annotations

import heapq
import math
import threading
from typing import Protocol, runtime_checkable

from . import _fork
from ._errors import ConfigurationError

__all__ = [
    "DEFAULT_MAX_ENTRIES",
    "MemoryReplayStore",
    "ReplayStore",
    "default_replay_store",
]

#: Entries a MemoryReplayStore holds by default: about 30 MiB, enough for some 800
#: accepted proofs a second, sustained, with the default five-minute window.
DEFAULT_MAX_ENTRIES = 250_000


@runtime_checkable
class ReplayStore(Protocol):
    """Where a verifier records the DPoP proofs it accepted (see ``DPoP(replay_store=)``).

    One method, safe to call from several threads at once.
    """

    def first_use(self, key: bytes, expires_at: float, now: float) -> bool:
        """Record ``key`` until ``expires_at``; tell whether it was not already recorded.

        Args:
            key: the proof's identity (a digest of its key's thumbprint and its ``jti``).
            expires_at: Unix seconds after which the entry may be forgotten.
            now: the caller's current time, Unix seconds.

        Returns:
            True the first time ``key`` is seen (or after its entry expired), False for
            a replay.
        """
        ...  # pragma: no cover - a protocol


#: Width of an expiry bucket, seconds.
_BUCKET_SECONDS = 1.0


class MemoryReplayStore:
    """An in-process replay store: bounded, expiring, thread-safe.

    Args:
        max_entries: the most proofs remembered at once (default 250,000, about 30 MiB).
            When full of live entries, those closest to expiry are dropped first and
            counted in :attr:`evictions`.

    Raises:
        ConfigurationError: ``max_entries`` is not a positive int.
    """

    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        if isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries <= 0:
            raise ConfigurationError(f"max_entries must be an int > 0, got {max_entries!r}")
        self._max_entries = max_entries
        self._expiry: dict[bytes, float] = {}
        # Bucket number -> the keys whose expiry falls in it; the numbers in a heap.
        self._buckets: dict[int, list[bytes]] = {}
        self._order: list[int] = []
        self._purged_to = -math.inf  # buckets before this one are gone
        self._evictions = 0
        self._lock = threading.Lock()
        _fork.track(self)

    def first_use(self, key: bytes, expires_at: float, now: float) -> bool:
        """Record ``key`` until ``expires_at``; tell whether it was not already recorded.

        See :meth:`ReplayStore.first_use`.
        """
        with self._lock:
            if now >= self._purged_to:
                self._purge(now)
            expiry = self._expiry
            seen = expiry.get(key)
            if seen is not None and now < seen:
                return False
            if not now < expires_at:  # nothing to remember (NaN included)
                return True
            expiry[key] = expires_at
            number = math.floor(expires_at / _BUCKET_SECONDS)
            bucket = self._buckets.get(number)
            if bucket is None:
                bucket = self._buckets[number] = []
                heapq.heappush(self._order, number)
            bucket.append(key)
            if len(expiry) > self._max_entries:
                self._evict(now)
            return True

    @property
    def evictions(self) -> int:
        """How many live entries were dropped to make room (each a replay that could pass)."""
        with self._lock:
            return self._evictions

    def __len__(self) -> int:
        with self._lock:
            return len(self._expiry)

    def after_fork_in_child(self) -> None:
        """A fresh lock in a forked child (the parent's may have been held at the fork).

        The proofs recorded so far are kept: they were used, whichever process used them.
        """
        self._lock = threading.Lock()

    def _purge(self, now: float) -> None:
        """Drop the buckets wholly past ``now``."""
        current = math.floor(now / _BUCKET_SECONDS)
        order = self._order
        while order and order[0] < current:
            self._drop(heapq.heappop(order), now)
        self._purged_to = (current + 1) * _BUCKET_SECONDS

    def _evict(self, now: float) -> None:
        """Drop the buckets closest to expiry until the store is within its bound."""
        order = self._order
        while order and len(self._expiry) > self._max_entries:
            self._evictions += self._drop(heapq.heappop(order), now)

    def _drop(self, number: int, now: float) -> int:
        """Forget a bucket's keys (unless re-recorded later); return how many were live."""
        expiry = self._expiry
        live = 0
        for key in self._buckets.pop(number):
            expires_at = expiry.get(key)
            # A key recorded again after it expired sits in a later bucket too.
            if expires_at is not None and math.floor(expires_at / _BUCKET_SECONDS) == number:
                del expiry[key]
                live += now < expires_at
        return live


# The process's replay store, made on first use under a fork-safe lock.
_DEFAULT_STORE: MemoryReplayStore | None = None
_DEFAULT_LOCK = _fork.ModuleLock()


def default_replay_store() -> MemoryReplayStore:
    """The process's replay store, shared by every verifier not given one.

    One per process, not per verifier: a verifier created per request (a misuse the key
    stores forgive) still refuses a replayed proof.
    """
    global _DEFAULT_STORE
    with _DEFAULT_LOCK.lock:
        if _DEFAULT_STORE is None:
            _DEFAULT_STORE = MemoryReplayStore()
        return _DEFAULT_STORE
