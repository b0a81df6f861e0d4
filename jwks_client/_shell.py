"""What the sync and async shells share: construction and every method without I/O.

A key client is a :class:`~._engine.KeyEngine` plus an HTTP client and a way to wait; a
verifier is a :class:`~._checker.TokenChecker` plus a key client. The twins in
``_sync.py`` and ``_async.py`` subclass these bases and add only what differs between
them: how they send (httpx.Client or AsyncClient), wait (a blocking ``Future.result`` or
an awaited ``asyncio.wrap_future``) and run a background refresh (a thread or a task).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from . import _fork
from ._checker import TokenChecker
from ._config import SourceConfig, make_source_config, make_token_rules
from ._dpop_options import DPoP, dpop_option
from ._engine import KeyEngine, StaticJWKS
from ._policy import CacheState
from ._store import KeyStoreRegistry
from ._types import CachePolicy, Clock

if TYPE_CHECKING:
    from ._events import EventHook, Stats
    from ._sender import RequestChecker
    from ._shared import SharedProtocol

__all__ = ["DEFAULT_DPOP", "KeyClientBase", "VerifierBase", "fleet_protocol", "logger"]

logger = logging.getLogger("jwks_client")

#: A verifier's DPoP configuration unless told otherwise: both schemes accepted.
DEFAULT_DPOP = DPoP()


#: The lock under which a verifier makes what it makes at its first use.
_FIRST_USE = _fork.ModuleLock()


def fleet_protocol(cache: object, *, asynchronous: bool) -> SharedProtocol | None:
    """The protocol of a ``shared_cache=`` option (see :func:`._shared.shared_protocol`),
    or None without one: then the shared tier's module is never loaded.

    Raises:
        ConfigurationError: not a shared cache, or one of the other flavour (sync/async).
    """
    if cache is None:
        return None
    from ._shared import shared_protocol

    return shared_protocol(cache, asynchronous=asynchronous)


class KeyClientBase:
    """Configuration of one key source and the engine behind it; no I/O."""

    def __init__(
        self,
        *,
        jwks_uri: str | None,
        issuer: str | None,
        jwks: StaticJWKS | None,
        http_client: object,
        require_https: bool,
        clock: Clock,
        timeout: float,
        cache_policy: CachePolicy | None,
        max_response_bytes: int,
        on_event: EventHook | None,
        store_registry: KeyStoreRegistry | None,
        shared: SharedProtocol | None,
    ) -> None:
        config = make_source_config(
            issuer=issuer,
            jwks_uri=jwks_uri,
            require_https=require_https,
            timeout=timeout,
            max_response_bytes=max_response_bytes,
            cache_policy=cache_policy,
            static=jwks is not None,
        )
        self._config: SourceConfig = config
        self._clock = clock
        self._engine = KeyEngine(
            config,
            clock,
            jwks=jwks,
            http_client=http_client,
            registry=store_registry,
            on_event=on_event,
            shared=shared,
        )

    @property
    def engine(self) -> KeyEngine:
        """The key-source engine behind this client (its decisions, counters and store)."""
        return self._engine

    def add_event_hook(self, hook: EventHook) -> None:
        """Call ``hook`` with every event of this client's key store (until removed)."""
        self._engine.subscribe(hook)

    def remove_event_hook(self, hook: EventHook) -> None:
        """Stop calling ``hook`` (no error if it was not added)."""
        self._engine.unsubscribe(hook)

    def stats(self) -> Stats:
        """A snapshot of the key cache's counters and contents."""
        return self._engine.stats()

    def export_snapshot(self, *, key: bytes | None = None) -> dict[str, Any]:
        """Export the cached key set as a JSON-ready snapshot (see ``load_snapshot``).

        Args:
            key: when given, the snapshot carries an HMAC-SHA256 made with it.

        Raises:
            SnapshotError: nothing has been fetched yet.
        """
        return self._engine.export_snapshot(key=key)

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
        return self._engine.load_snapshot(snapshot, key=key)

    @property
    def state(self) -> CacheState:
        """A snapshot of the cache state (immutable)."""
        return self._engine.state

    @property
    def closed(self) -> bool:
        """Whether ``close()`` / ``aclose()`` was called."""
        return self._engine.closed

    @property
    def cache_policy(self) -> CachePolicy:
        """The cache policy in force."""
        return self._config.policy


_Keys = TypeVar("_Keys", bound=KeyClientBase)


class VerifierBase(Generic[_Keys]):
    """Token rules and the token checker of a verifier; no I/O."""

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
        verified_token_cache_size: int,
        dpop: DPoP | None = DEFAULT_DPOP,
        shared: SharedProtocol | None = None,
    ) -> None:
        rules = make_token_rules(
            issuer=issuer,
            audience=audience,
            algorithms=algorithms,
            leeway=leeway,
            token_type=token_type,
            required_claims=required_claims,
            max_token_length=max_token_length,
        )
        self.issuer = issuer
        self._claims_policy = rules.claims
        self._checker = TokenChecker(rules, clock, verified_token_cache_size)
        self._dpop = dpop_option(dpop)
        self._clock = clock
        self._shared = shared
        # The request side (credentials, binding, proofs) is made by the first
        # verify_request: a verifier that only verifies tokens never loads proof checks.
        self._requests: RequestChecker | None = None

    _keys: _Keys

    @property
    def closed(self) -> bool:
        """Whether ``close()`` / ``aclose()`` was called."""
        return self._keys.closed

    @property
    def dpop(self) -> DPoP | None:
        """The DPoP configuration of ``verify_request`` (None: DPoP is off)."""
        return self._dpop

    def _request_checker(self) -> RequestChecker:
        checker = self._requests
        if checker is None:
            with _FIRST_USE.lock:
                checker = self._requests
                if checker is None:
                    from ._sender import RequestChecker

                    checker = RequestChecker(self._dpop, self._clock, self._shared)
                    self._requests = checker
        return checker

    def dpop_nonce(self) -> str | None:
        """The DPoP nonce to send now in a response's ``DPoP-Nonce`` header.

        With ``DPoP(nonce_secret=...)``, proofs must carry a current server nonce
        (RFC 9449 §9). A nonce is valid in its time window (``max_age`` seconds) and the
        next, so sending this one with every successful answer gives clients the next
        nonce before theirs expires; a rejected proof's ``UseDPoPNonceError`` carries one
        too. None when nonces are off.
        """
        return self._request_checker().nonce()

    def stats(self) -> Stats:
        """A snapshot of this verifier's counters, its key cache and its key store."""
        stats = self._keys.engine.stats(self._checker.stats())
        requests = self._requests
        if requests is None:
            return stats
        return replace(stats, dpop_replay_fallbacks=requests.replay_fallbacks)
