"""A hard deadline for one blocking HTTP exchange: the sync shell's watchdog.

Theory of operation
-------------------
httpx's timeouts bound each socket operation, not the exchange: a server that sends its
status line and headers one byte at a time, each byte within the read timeout, holds a
request open for hours. The asyncio shell cancels the whole exchange at its deadline; a
thread cannot be cancelled, so the sync shell arms an :class:`ExchangeDeadline` for each
request instead: a timer that, when the deadline passes, shuts down the sockets the
exchange uses. A read blocked in the requesting thread then returns at once (an end of
stream or an error) and the shell reports a timeout.

Which sockets: a connection opened for the exchange is seen through httpcore's ``trace``
request extension (``connect_tcp``, ``connect_unix_socket``); once the response headers
are in, the response names its connection (the ``network_stream`` extension). A pooled
connection that the exchange reuses is known from the earlier exchange of the library
that used it on the same HTTP client: when the deadline passes before the exchange has
named a connection of its own, every known connection of that client that no other live
exchange is using is shut down (the one being reused among them; the others were idle,
and the pool discards a shut connection). A pooled connection only the application's own
requests used is unknown: until its response headers arrive, such an exchange is bounded
by the per-read timeout alone.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import weakref
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["ExchangeDeadline"]

#: httpcore trace events whose return value is a newly opened connection.
_CONNECTED = ("connect_tcp.complete", "connect_unix_socket.complete")

_guard = threading.Lock()


class _Pool:
    """What the library knows of one HTTP client's connections."""

    def __init__(self) -> None:
        self.known: weakref.WeakSet[Any] = weakref.WeakSet()
        #: the connections each live exchange has named so far
        self.live: dict[ExchangeDeadline, list[object]] = {}


_pools: weakref.WeakKeyDictionary[object, _Pool] = weakref.WeakKeyDictionary()


def _pool_of(client: object) -> _Pool:
    try:
        pool = _pools.get(client)
        if pool is None:
            pool = _pools[client] = _Pool()
    except TypeError:  # a client that cannot be weakly referenced: nothing is shared
        pool = _Pool()
    return pool


def _after_fork_in_child() -> None:
    # A forked child has no watchdog threads; the parent may have held the lock.
    global _guard
    _guard = threading.Lock()
    _pools.clear()


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _shut(stream: object) -> None:
    """Shut a connection's socket down, so a read blocked on it returns now."""
    extra = getattr(stream, "get_extra_info", None)
    sock = extra("socket") if callable(extra) else None
    if isinstance(sock, socket.socket):
        # The plain socket's shutdown, also for a TLS socket: it acts on the descriptor
        # at once, where SSLSocket.shutdown would first unwrap the TLS layer.
        with contextlib.suppress(OSError):
            socket.socket.shutdown(sock, socket.SHUT_RDWR)


class ExchangeDeadline:
    """A watchdog that shuts an exchange's connections down when ``timeout`` passes.

    Use: ``trace`` as the request's ``trace`` extension (or call it from one), ``watch``
    the response's ``network_stream``, and ``close`` when the exchange is over.
    ``expired`` tells afterwards whether the deadline cut the exchange short.

    Args:
        client: the HTTP client the exchange runs on (its pooled connections are shared).
        timeout: seconds from now to the deadline.
        chained: a trace callable the request already had, called first.
    """

    def __init__(
        self,
        client: object,
        timeout: float,
        chained: Callable[[str, Mapping[str, Any]], object] | None = None,
    ) -> None:
        self.expired = False
        self._chained = chained
        self._streams: list[object] = []
        with _guard:
            self._pool = _pool_of(client)
            self._pool.live[self] = self._streams
        self._timer = threading.Timer(timeout, self._expire)
        self._timer.name = "jwks-client-deadline"
        self._timer.daemon = True
        self._timer.start()

    def trace(self, event: str, info: Mapping[str, Any]) -> None:
        """httpcore's trace callback: watch every connection opened for the exchange."""
        if self._chained is not None:
            self._chained(event, info)
        if event.endswith(_CONNECTED):
            self.watch(info.get("return_value"))

    def watch(self, stream: object) -> None:
        """Count ``stream`` as the exchange's connection (shut at once if expired)."""
        if stream is None:
            return
        with _guard:
            self._streams.append(stream)
            with contextlib.suppress(TypeError):
                self._pool.known.add(stream)
            expired = self.expired
        if expired:
            _shut(stream)

    def close(self) -> None:
        """Disarm the watchdog (the exchange is over)."""
        self._timer.cancel()
        with _guard:
            self._pool.live.pop(self, None)

    def _expire(self) -> None:
        with _guard:
            self.expired = True
            if self._streams:
                targets = list(self._streams)
            else:
                busy = {
                    id(stream)
                    for other, streams in self._pool.live.items()
                    if other is not self
                    for stream in streams
                }
                targets = [stream for stream in self._pool.known if id(stream) not in busy]
        for stream in targets:
            _shut(stream)
