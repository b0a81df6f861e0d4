"""Pure: the fleet-wide second cache tier, as a protocol of plain values.

Theory of operation
-------------------
A process keeps its key sets in its own store (tier 1). With a shared cache (tier 2, e.g.
Redis), a process that would otherwise go to the issuer (tier 3) first asks the fleet. The
conversation is written once, in the key engine, as steps a shell performs; this module
holds its vocabulary and its rules, and does no I/O:

* **What is stored**, per source (the hash of its issuer/JWKS URL and transport rules,
  under a namespace): ``keys``, the last good set in the cache-snapshot format; ``lock``,
  the right to fetch (SET NX with an expiry, so a crashed holder delays the fleet by at
  most the lock's lifetime); ``attempt``, when the fleet last went to the issuer (the
  shared unknown-kid cooldown); ``backoff``, until when the fleet leaves a failing issuer
  alone, and why; ``absent:<kid>``, kids a refresh confirmed absent. Every value carries
  the writer's clock reading, so decisions take ``now`` like the rest of the policy; Redis
  expiries only collect garbage.
* **Sealing**: with a signing key every value carries an HMAC-SHA256 over its canonical
  JSON; a value that is unsigned, altered, signed with another key, oversized or malformed
  reads as absent. Without a key the shared cache is trusted like the issuer.
* **Rules** (:func:`plan_lead`), for a caller that has won the process's own single
  flight and must refresh: adopt a newer usable set from the fleet when it satisfies the
  need (fresh, or holding the unknown kid); respect the fleet's backoff and, for a refresh
  forced by an unknown kid, the fleet's cooldown and its absent-kid memory; otherwise
  fetch, under the fleet's lock. A caller that does not get the lock polls the shared set
  a bounded number of times and adopts what the holder writes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import inspect
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ._config import SourceConfig
from ._errors import ConfigurationError
from ._policy import CacheState
from ._snapshot import SnapshotError, export_snapshot, restore_snapshot

__all__ = [
    "DOWN",
    "Adopt",
    "AsyncSharedCache",
    "Fetch",
    "Limit",
    "Names",
    "Read",
    "Release",
    "SharedCache",
    "SharedProtocol",
    "Write",
    "has_news",
    "plan_lead",
    "shared_protocol",
    "ttl_ms",
]

#: What a shell answers for an operation that failed, timed out or was skipped.
DOWN: Any = type("Down", (), {"__repr__": lambda self: "DOWN"})()


@dataclass(frozen=True, slots=True)
class Read:
    """Read ``keys`` at once (MGET); the answer is a tuple of bytes or None, or DOWN."""

    keys: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Write:
    """Set ``key`` to ``value`` expiring after ``ttl_ms`` (only if absent with
    ``only_if_absent``); the answer is whether it was set, or DOWN."""

    key: str
    value: bytes
    ttl_ms: int
    only_if_absent: bool = False


@dataclass(frozen=True, slots=True)
class Release:
    """Delete ``key`` if it still holds ``token`` (the lock holder's release)."""

    key: str
    token: bytes


@dataclass(frozen=True, slots=True)
class Names:
    """The shared cache's keys of one source."""

    keys: str
    lock: str
    attempt: str
    backoff: str
    prefix: str

    def absent(self, kid: str) -> str:
        """The key remembering that ``kid`` was confirmed absent."""
        digest = hashlib.sha256(kid.encode("utf-8", "surrogatepass")).hexdigest()
        return f"{self.prefix}:absent:{digest[:32]}"


# --- what plan_lead decides -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Adopt:
    """The fleet holds what is needed: take ``state``'s key set, fetch nothing."""

    state: CacheState


@dataclass(frozen=True, slots=True)
class Limit:
    """The fleet says not now: a cooldown, a backoff or a kid known absent.

    Attributes:
        adopt: a newer set to take meanwhile (or None).
        last_attempt: the fleet's last attempt (starts this process's cooldown).
        retry_at: the fleet's backoff, if any.
        error: why the fleet backs off (the failure's message), if it does.
        absent: the kid the fleet confirmed absent, if that is the reason.
    """

    adopt: CacheState | None
    last_attempt: float | None = None
    retry_at: float | None = None
    error: str | None = None
    absent: str | None = None


@dataclass(frozen=True, slots=True)
class Fetch:
    """Go to the issuer, under the fleet's lock."""


@dataclass(frozen=True, slots=True)
class SharedView:
    """What the shared cache said about one source, opened and checked."""

    keys: CacheState | None = None
    attempt: float | None = None
    retry_at: float | None = None
    error: str | None = None
    absent_since: float | None = None
    locked: bool = False


def _canonical(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


class SharedProtocol:
    """Naming, sealing and reading the shared cache's values; pure.

    Args:
        namespace: the prefix of every key.
        signing_key: the HMAC key of every value, or None to trust the cache.
        poll_interval: seconds between two reads while another process fetches.
    """

    def __init__(
        self,
        *,
        namespace: str,
        signing_key: bytes | None,
        poll_interval: float = 0.05,
    ) -> None:
        self.namespace = namespace
        self.signing_key = signing_key
        self.poll_interval = poll_interval

    # --- names ---------------------------------------------------------------------------

    def names(self, config: SourceConfig) -> Names:
        """The keys of ``config``'s source (its URLs and transport rule, hashed)."""
        source = _canonical(
            {
                "issuer": config.issuer,
                "jwks_uri": config.jwks_uri,
                "require_https": config.require_https,
            }
        )
        prefix = f"{self.namespace}:{hashlib.sha256(source).hexdigest()[:32]}"
        return Names(
            keys=f"{prefix}:keys",
            lock=f"{prefix}:lock",
            attempt=f"{prefix}:attempt",
            backoff=f"{prefix}:backoff",
            prefix=prefix,
        )

    # --- sealing -------------------------------------------------------------------------

    def seal(self, payload: Mapping[str, Any]) -> bytes:
        """The stored form of ``payload``: canonical JSON, with a MAC when a key is set."""
        body = dict(payload)
        if self.signing_key is not None:
            mac = hmac.new(self.signing_key, _canonical(body), hashlib.sha256).digest()
            body["_mac"] = base64.urlsafe_b64encode(mac).decode("ascii")
        return _canonical(body)

    def unseal(self, data: object, max_bytes: int) -> dict[str, Any] | None:
        """The payload of a stored value, or None when it must be ignored."""
        if not isinstance(data, (bytes, str)) or len(data) > max_bytes:
            return None
        try:
            loaded = json.loads(data)
        except (ValueError, RecursionError):
            return None
        if not isinstance(loaded, dict):
            return None
        mac = loaded.pop("_mac", None)
        if self.signing_key is not None:
            if not isinstance(mac, str):
                return None
            try:
                expected = hmac.new(self.signing_key, _canonical(loaded), hashlib.sha256).digest()
            except ValueError:
                return None
            if not hmac.compare_digest(
                mac.encode("ascii", "replace"), base64.urlsafe_b64encode(expected)
            ):
                return None
        return loaded

    # --- the values ----------------------------------------------------------------------

    def keys_value(self, state: CacheState, config: SourceConfig) -> bytes:
        """The ``keys`` value of a state holding a fetched set (snapshot format)."""
        return self.seal({"snapshot": export_snapshot(state, config)})

    def time_value(self, at: float, **extra: Any) -> bytes:
        """A value that records a time (``attempt``, ``absent``) and optional facts."""
        return self.seal({"at": at, **extra})

    def read_view(
        self, answers: tuple[object, ...], config: SourceConfig, now: float
    ) -> SharedView:
        """Open the answers to a read of (keys, attempt, backoff, lock[, absent])."""
        limit = config.max_response_bytes * 2 + 4096
        keys = self.unseal(answers[0], limit) if answers else None
        state = None
        if keys is not None:
            try:
                state = restore_snapshot(keys.get("snapshot", {}), config, now=now)
            except SnapshotError:
                state = None
        attempt = _time(self.unseal(answers[1], 4096)) if len(answers) > 1 else None
        backoff = self.unseal(answers[2], 4096) if len(answers) > 2 else None
        retry_at = _time(backoff, "retry_at") if backoff is not None else None
        error = backoff.get("error") if backoff is not None else None
        locked = len(answers) > 3 and answers[3] is not None
        absent = _time(self.unseal(answers[4], 4096)) if len(answers) > 4 else None
        return SharedView(
            keys=state,
            attempt=attempt,
            retry_at=retry_at,
            error=error if isinstance(error, str) else None,
            absent_since=absent,
            locked=locked,
        )


def _time(payload: Mapping[str, Any] | None, name: str = "at") -> float | None:
    if payload is None:
        return None
    value = payload.get(name)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def ttl_ms(seconds: float) -> int:
    """A Redis expiry for ``seconds`` (at least one second, whole milliseconds)."""
    if not math.isfinite(seconds):
        return 86_400_000
    return max(1000, int(seconds * 1000))


def _newer(candidate: CacheState | None, local: CacheState) -> bool:
    if candidate is None or candidate.fetched_at is None:
        return False
    return local.fetched_at is None or candidate.fetched_at > local.fetched_at


def plan_lead(
    local: CacheState,
    view: SharedView,
    *,
    now: float,
    forced: bool,
    kid: str | None,
    config: SourceConfig,
) -> Adopt | Limit | Fetch:
    """Decide what a process that must refresh does, given what the fleet holds.

    Args:
        local: the process's state when it decided to refresh.
        view: the shared cache's answers.
        now: the time.
        forced: the refresh is forced by an unknown ``kid``.
        kid: that kid (None for a kid-less token or an ordinary refresh).
        config: the source's configuration (its policy).
    """
    policy = config.policy
    shared = view.keys
    usable = shared is not None and now < shared.stale_until(policy)
    newer = shared if usable and _newer(shared, local) else None
    if newer is not None and newer.ring is not None:
        if forced and kid is not None:
            if kid in newer.ring.kids:
                return Adopt(newer)
        elif not forced and now < newer.fresh_until:
            return Adopt(newer)
    if view.retry_at is not None and now < view.retry_at:
        return Limit(newer, last_attempt=view.attempt, retry_at=view.retry_at, error=view.error)
    if forced:
        ttl = policy.refresh_cooldown * 2
        if kid is not None and view.absent_since is not None and now < view.absent_since + ttl:
            return Limit(newer, last_attempt=view.attempt, absent=kid)
        if view.attempt is not None and now < view.attempt + policy.refresh_cooldown:
            if view.locked:
                # The attempt is a fetch still running: wait for what it brings (the
                # unknown kid may be in it) instead of taking its cooldown.
                return Fetch()
            return Limit(newer, last_attempt=view.attempt)
    return Fetch()


def has_news(view: SharedView, seen: CacheState | None, local: CacheState) -> bool:
    """Whether a poll found a set written since the caller started waiting."""
    baseline = seen if seen is not None and _newer(seen, local) else local
    return _newer(view.keys, baseline)


class SharedCache(Protocol):
    """What a sync shell needs of a shared cache (``jwks_client.redis.RedisKeyCache``)."""

    @property
    def protocol(self) -> SharedProtocol:
        """Its naming and sealing rules."""

    def perform(self, op: Read | Write | Release) -> Any:
        """Run ``op`` within the cache's time budget; ``DOWN`` on any failure."""


class AsyncSharedCache(Protocol):
    """What an async shell needs of a shared cache (``AsyncRedisKeyCache``)."""

    @property
    def protocol(self) -> SharedProtocol:
        """Its naming and sealing rules."""

    async def perform(self, op: Read | Write | Release) -> Any:
        """Run ``op`` within the cache's time budget; ``DOWN`` on any failure."""


def shared_protocol(cache: object, *, asynchronous: bool) -> SharedProtocol | None:
    """The protocol of a ``shared_cache=`` option, checked.

    Raises:
        ConfigurationError: not a shared cache, or one of the other flavour (sync/async).
    """
    if cache is None:
        return None
    protocol = getattr(cache, "protocol", None)
    perform = getattr(cache, "perform", None)
    if not isinstance(protocol, SharedProtocol) or not callable(perform):
        raise ConfigurationError(
            f"shared_cache must be a RedisKeyCache or AsyncRedisKeyCache, got {cache!r}"
        )
    if inspect.iscoroutinefunction(perform) is not asynchronous:
        wanted = "AsyncRedisKeyCache" if asynchronous else "RedisKeyCache"
        raise ConfigurationError(f"shared_cache must be an {wanted} here, got {cache!r}")
    return protocol
