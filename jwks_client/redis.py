"""A fleet-wide key cache on Redis (or Valkey): one issuer request per fleet.

Install with ``pip install 'jwks-client[redis]'``; pass the cache to any verifier or key
client as ``shared_cache=``::

    import redis
    from jwks_client import Verifier
    from jwks_client.redis import RedisKeyCache

    shared = RedisKeyCache(redis.Redis.from_url("redis://127.0.0.1:6379/0"),
                           signing_key=b"...32 random bytes...")
    verifier = Verifier("https://idp.example.com/", audience="api", shared_cache=shared)

Each process keeps its own key cache (the hot path never touches Redis); Redis is asked
only where a process would otherwise go to the issuer. What is stored and the rules are
in ``jwks_client._shared``; this module only runs the operations, each within a short
budget the library enforces itself (a Redis that hangs, even behind a client without a
socket timeout, costs a caller at most the budget). Any failure answers "unavailable",
the verifier falls back to fetching on its own, and the cache stays away for
``retry_after`` seconds before trying again: Redis is never a single point of failure.
The Redis client is the caller's and is never closed here.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from ._errors import ConfigurationError
from ._shared import DOWN, Read, Release, SharedProtocol, Write

__all__ = ["AsyncRedisKeyCache", "RedisKeyCache"]

logger = logging.getLogger("jwks_client")

#: Deletes the lock only if it still holds the caller's token (a holder whose lock
#: expired must not release the next holder's).
_RELEASE = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) "
    "else return 0 end"
)
#: A signing key shorter than this is refused: HMAC-SHA256 wants 32 random bytes.
MIN_SIGNING_KEY_BYTES = 16


def _check_options(
    namespace: object, signing_key: object, operation_timeout: object, retry_after: object
) -> None:
    if not isinstance(namespace, str) or not namespace or any(c.isspace() for c in namespace):
        raise ConfigurationError(
            f"namespace must be a non-empty str without spaces, got {namespace!r}"
        )
    if signing_key is not None and (
        not isinstance(signing_key, bytes) or len(signing_key) < MIN_SIGNING_KEY_BYTES
    ):
        raise ConfigurationError(
            f"signing_key must be bytes of at least {MIN_SIGNING_KEY_BYTES} (32 random bytes "
            "recommended), or None"
        )
    for name, value in (("operation_timeout", operation_timeout), ("retry_after", retry_after)):
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
            or value <= 0
        ):
            raise ConfigurationError(
                f"{name} must be a finite number of seconds > 0, got {value!r}"
            )


class _Health:
    """Outage bookkeeping shared by both shells: a circuit breaker, counts, one log line
    per outage."""

    def __init__(self, namespace: str, retry_after: float) -> None:
        self._namespace = namespace
        self._retry_after = retry_after
        self._lock = threading.Lock()
        self.errors = 0
        self.operations = 0
        self._down_until = float("-inf")
        self._down = False

    def open(self) -> bool:
        """Whether operations may be tried now."""
        return time.monotonic() >= self._down_until

    def failed(self, error: BaseException | str) -> None:
        with self._lock:
            self.errors += 1
            self._down_until = time.monotonic() + self._retry_after
            first = not self._down
            self._down = True
        if first:
            logger.warning(
                "jwks_client: the shared key cache %r is unavailable (%s); each process "
                "fetches on its own until it answers again",
                self._namespace,
                error,
                extra={"shared_cache": self._namespace},
            )

    def succeeded(self) -> None:
        with self._lock:
            self.operations += 1
            was_down = self._down
            self._down = False
            self._down_until = float("-inf")
        if was_down:
            logger.info(
                "jwks_client: the shared key cache %r answers again",
                self._namespace,
                extra={"shared_cache": self._namespace},
            )

    @property
    def available(self) -> bool:
        return not self._down

    def reset(self) -> None:
        with self._lock:
            self._down_until = float("-inf")
            self._down = False


def _answer(op: Read | Write | Release, result: Any) -> Any:
    """The protocol's answer from a Redis reply (or DOWN when the reply is not one)."""
    if isinstance(op, Read):
        if not isinstance(result, (list, tuple)) or len(result) != len(op.keys):
            return DOWN
        return tuple(v if isinstance(v, (bytes, str)) or v is None else DOWN for v in result)
    if isinstance(op, Write):
        return bool(result)
    return None


class _KeyCacheBase:
    """What both shells share: options, the protocol, the outage bookkeeping."""

    def __init__(
        self,
        client: Any,
        *,
        namespace: str = "jwks-client",
        signing_key: bytes | None = None,
        operation_timeout: float = 0.25,
        retry_after: float = 5.0,
    ) -> None:
        _check_options(namespace, signing_key, operation_timeout, retry_after)
        self._client = client
        self._protocol = SharedProtocol(namespace=namespace, signing_key=signing_key)
        self._budget = float(operation_timeout)
        self._health = _Health(namespace, float(retry_after))

    @property
    def protocol(self) -> SharedProtocol:
        """The naming and sealing rules of this cache."""
        return self._protocol

    @property
    def available(self) -> bool:
        """False from a failed operation until the next successful one."""
        return self._health.available

    @property
    def errors(self) -> int:
        """How many operations failed or ran out of budget."""
        return self._health.errors

    def _settle(self, op: Read | Write | Release, result: Any) -> Any:
        """The answer to ``op`` from a Redis reply, with the outage bookkeeping."""
        answer = _answer(op, result)
        if answer is DOWN:
            self._health.failed("an unexpected reply")
            return DOWN
        self._health.succeeded()
        return answer

    def _failed(self, exc: BaseException) -> Any:
        if isinstance(exc, (FutureTimeout, asyncio.TimeoutError)):
            self._health.failed(f"no answer within {self._budget:g}s")
        else:
            self._health.failed(f"{type(exc).__name__}: {exc}")
        return DOWN

    def __repr__(self) -> str:
        return f"{type(self).__name__}(namespace={self._protocol.namespace!r})"


class RedisKeyCache(_KeyCacheBase):
    """The fleet's shared key cache, on a ``redis.Redis`` client (sync verifiers).

    Args:
        client: a ``redis.Redis`` (or Valkey) client; it stays yours.
        namespace: the prefix of every key this cache writes.
        signing_key: when given (32 random bytes recommended), every value carries an
            HMAC-SHA256 and a value unsigned, altered or signed with another key is
            ignored; without it, whoever can write to Redis is trusted like the issuer.
        operation_timeout: the budget of one Redis operation, in seconds (default 0.25),
            enforced here whatever the client's own timeouts and retries.
        retry_after: after a failure, seconds during which the cache is not asked again.

    Raises:
        ConfigurationError: an option is invalid.
    """

    def __init__(
        self,
        client: Any,
        *,
        namespace: str = "jwks-client",
        signing_key: bytes | None = None,
        operation_timeout: float = 0.25,
        retry_after: float = 5.0,
    ) -> None:
        super().__init__(
            client,
            namespace=namespace,
            signing_key=signing_key,
            operation_timeout=operation_timeout,
            retry_after=retry_after,
        )
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]] | None = None
        self._pid = os.getpid()
        self._start_guard = threading.Lock()

    def perform(self, op: Read | Write | Release) -> Any:
        """Run ``op`` within the budget; the answer, or ``DOWN`` on any failure."""
        if not self._health.open():
            return DOWN
        future: Future[Any] = Future()
        self._worker().put((lambda: self._run(op), future))
        try:
            result = future.result(timeout=self._budget)
        except Exception as exc:  # the I/O boundary: Redis errors of every kind, timeouts
            return self._failed(exc)
        return self._settle(op, result)

    def _run(self, op: Read | Write | Release) -> Any:
        client = self._client
        if isinstance(op, Read):
            return client.mget(list(op.keys))
        if isinstance(op, Write):
            return client.set(op.key, op.value, px=op.ttl_ms, nx=op.only_if_absent or None)
        return client.eval(_RELEASE, 1, op.key, op.token)

    def _worker(self) -> queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]]:
        """The daemon thread that runs operations (a hung one never blocks exit); a forked
        child starts its own."""
        jobs = self._jobs
        if jobs is not None and self._pid == os.getpid():
            return jobs
        with self._start_guard:
            if self._jobs is None or self._pid != os.getpid():
                self._pid = os.getpid()
                self._health.reset()
                self._jobs = queue.SimpleQueue()
                threading.Thread(
                    target=_serve, args=(self._jobs,), name="jwks-client-redis", daemon=True
                ).start()
            return self._jobs


def _serve(jobs: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]]) -> None:
    while True:
        run, future = jobs.get()
        if not future.set_running_or_notify_cancel():
            continue
        try:
            future.set_result(run())
        except BaseException as exc:  # handed to the waiting caller
            future.set_exception(exc)


class AsyncRedisKeyCache(_KeyCacheBase):
    """The fleet's shared key cache, on a ``redis.asyncio.Redis`` client (async verifiers).

    Args:
        client: a ``redis.asyncio.Redis`` (or Valkey) client; it stays yours.
        namespace: as for :class:`RedisKeyCache`.
        signing_key: as for :class:`RedisKeyCache`.
        operation_timeout: as for :class:`RedisKeyCache`.
        retry_after: as for :class:`RedisKeyCache`.

    Raises:
        ConfigurationError: an option is invalid.
    """

    async def perform(self, op: Read | Write | Release) -> Any:
        """Run ``op`` within the budget; the answer, or ``DOWN`` on any failure."""
        if not self._health.open():
            return DOWN
        try:
            result = await asyncio.wait_for(self._run(op), self._budget)
        except Exception as exc:  # the I/O boundary: Redis errors of every kind, timeouts
            return self._failed(exc)
        return self._settle(op, result)

    async def _run(self, op: Read | Write | Release) -> Any:
        client = self._client
        if isinstance(op, Read):
            return await client.mget(list(op.keys))
        if isinstance(op, Write):
            return await client.set(op.key, op.value, px=op.ttl_ms, nx=op.only_if_absent or None)
        return await client.eval(_RELEASE, 1, op.key, op.token)
