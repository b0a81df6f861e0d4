"""Observability values: events passed to hooks, and the stats snapshot.

Events are frozen dataclasses handed to the ``on_event`` callables of verifiers and key
clients. They describe what happened to the key store of a source; every client of the
same source (see the README on shared stores) hears the same events. Hooks run in the
thread or task that did the work and must be quick; an exception in a hook is logged
and otherwise ignored.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

__all__ = [
    "Event",
    "EventHook",
    "FetchFailed",
    "KeySetFetched",
    "KeySetRotated",
    "SharedCacheUnavailable",
    "StaleKeysServed",
    "Stats",
]


@dataclass(frozen=True, slots=True)
class KeySetFetched:
    """A refresh succeeded: a new set (200) or a confirmation of the cached one (304).

    Attributes:
        jwks_uri: where the set came from.
        kids: the kids of the set now cached.
        not_modified: True for a 304 revalidation.
        lifetime: seconds the set is now fresh for.
        skipped: how many keys of the document were unusable.
    """

    jwks_uri: str
    kids: frozenset[str]
    not_modified: bool
    lifetime: float
    skipped: int


@dataclass(frozen=True, slots=True)
class KeySetRotated:
    """A new set differs from the previous one in its kids.

    Attributes:
        jwks_uri: where the set came from.
        added: kids that appeared.
        removed: kids that disappeared.
    """

    jwks_uri: str
    added: frozenset[str]
    removed: frozenset[str]


@dataclass(frozen=True, slots=True)
class FetchFailed:
    """A refresh failed; the cached keys (if any) were kept.

    Attributes:
        url: the URL that failed, when known.
        error: the library's exception.
        failures: consecutive failures so far.
        retry_at: no refresh is attempted before this time (clock seconds).
    """

    url: str | None
    error: Exception
    failures: int
    retry_at: float


@dataclass(frozen=True, slots=True)
class StaleKeysServed:
    """Keys past their freshness are being served (once per cache state).

    Attributes:
        jwks_uri: the source of the stale set.
        expired_at: when the set stopped being fresh.
        stale_until: after this, the set is not served at all.
    """

    jwks_uri: str | None
    expired_at: float
    stale_until: float


@dataclass(frozen=True, slots=True)
class SharedCacheUnavailable:
    """The fleet's shared cache failed an operation; this process fetches on its own.

    Attributes:
        namespace: the shared cache's namespace.
        jwks_uri: the source concerned (None before discovery).
    """

    namespace: str
    jwks_uri: str | None


Event = KeySetFetched | KeySetRotated | FetchFailed | StaleKeysServed | SharedCacheUnavailable
EventHook = Callable[[Event], None]


@dataclass(frozen=True, slots=True)
class Stats:
    """A snapshot of a verifier's (or key client's) counters and cache.

    Verification counters belong to the verifier; key-cache counters to its key client;
    refresh counters to the key store, which every client of the same source shares.

    Attributes:
        verified: tokens accepted.
        rejected: tokens rejected, by exception class name (``InvalidTokenError``
            subclasses and ``KeySetUnavailableError`` subclasses alike).
        token_cache_hits: verifications served by the verified-token cache.
        key_cache_hits: key lookups served from the cache without waiting.
        key_cache_misses: key lookups that waited for (or led) a refresh.
        rate_limited: unknown kids rejected without a refresh (cooldown or backoff).
        stale_served: key lookups served from a set past its freshness.
        refreshes: refresh attempts of the store (each one request or two).
        key_sets: refreshes that brought a new set (200).
        not_modified: refreshes answered 304.
        fetch_errors: refreshes that failed.
        kids: kids of the cached set.
        fresh_until: until when the cached set is fresh (None before the first fetch).
        stale_until: after this the cached set is not served at all.
        jwks_uri: the JWKS URL in use.
        shared_cache_hits: refreshes this client settled from the fleet's shared cache
            (a set another process fetched, or the fleet's cooldown or backoff).
        shared_cache_errors: shared-cache operations that failed or ran out of budget
            (each followed by this process fetching on its own).
        dpop_replay_fallbacks: DPoP proofs recorded only in this process's replay store
            because the shared cache failed (a replay to another process could pass).
        new_issuers_refused: (multi-issuer verifiers) tokens of an issuer not yet in use
            refused because the budget of new issuers per second was spent.
    """

    verified: int = 0
    rejected: Mapping[str, int] = field(default_factory=dict)
    token_cache_hits: int = 0
    key_cache_hits: int = 0
    key_cache_misses: int = 0
    rate_limited: int = 0
    stale_served: int = 0
    refreshes: int = 0
    key_sets: int = 0
    not_modified: int = 0
    fetch_errors: int = 0
    kids: tuple[str, ...] = ()
    fresh_until: float | None = None
    stale_until: float | None = None
    jwks_uri: str | None = None
    shared_cache_hits: int = 0
    shared_cache_errors: int = 0
    dpop_replay_fallbacks: int = 0
    new_issuers_refused: int = 0
