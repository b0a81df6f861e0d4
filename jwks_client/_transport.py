"""The HTTP clients the shells own: one TLS context per process, built on first HTTPS use.

Why: a verifying ``ssl.SSLContext`` loads the whole CA bundle, which costs tens of
milliseconds, and ``httpx`` builds a fresh one for every client it constructs, even one
that will only ever speak plain HTTP. A process that starts cold (a serverless function)
pays that before its first token is verified, and again for every verifier it builds.

So an owned client gets an :class:`OwnedTransport` (or :class:`AsyncOwnedTransport`):
HTTPS requests go through a connection pool using :func:`shared_ssl_context`, built once
per process on first need, exactly as ``httpx`` builds its default (the ``certifi``
bundle, or ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` from the environment); plain-HTTP
requests go through a pool whose context trusts no CA at all (it can never complete a
TLS handshake, so nothing can be accepted through it unverified). Each pool is built on
the first request of its scheme. Proxies configured in the environment are mounted by
``httpx`` itself, as for any client.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

import httpx

__all__ = [
    "AsyncOwnedTransport",
    "OwnedTransport",
    "owned_async_client",
    "owned_client",
    "shared_ssl_context",
]

_contexts_lock = threading.Lock()
_verifying: ssl.SSLContext | None = None
_no_tls: ssl.SSLContext | None = None


def shared_ssl_context() -> ssl.SSLContext:
    """The process's verifying TLS context, built on the first call and shared after.

    It is ``httpx``'s default context (certificates and host names verified against the
    ``certifi`` bundle, or ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` when set).
    """
    global _verifying
    context = _verifying
    if context is None:
        with _contexts_lock:
            context = _verifying
            if context is None:
                context = _verifying = httpx.create_ssl_context()
    return context


def _no_tls_context() -> ssl.SSLContext:
    """A context for plain-HTTP pools: it verifies, but trusts no CA, so TLS always fails."""
    global _no_tls
    context = _no_tls
    if context is None:
        with _contexts_lock:
            context = _no_tls
            if context is None:
                # PROTOCOL_TLS_CLIENT verifies certificates and host names by default.
                context = _no_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    return context


_P = TypeVar("_P")


class _Pools(Generic[_P]):
    """The connection pools of one owned client, one per scheme, built on first use."""

    def __init__(self, make: Callable[[ssl.SSLContext], _P]) -> None:
        self._make = make
        self._lock = threading.Lock()
        self._pools: dict[bool, _P] = {}

    def for_url(self, url: httpx.URL) -> _P:
        """The pool for the URL's scheme: on the shared TLS context for HTTPS, else on a
        context that trusts no CA."""
        https = url.scheme == "https"
        pool = self._pools.get(https)
        if pool is None:
            with self._lock:
                pool = self._pools.get(https)
                if pool is None:
                    context = shared_ssl_context() if https else _no_tls_context()
                    pool = self._pools[https] = self._make(context)
        return pool

    def take_all(self) -> list[_P]:
        """The pools built so far, forgotten here (for the caller to close)."""
        with self._lock:
            pools = list(self._pools.values())
            self._pools.clear()
        return pools


class OwnedTransport(httpx.BaseTransport):
    """Sends HTTPS through a pool on the shared TLS context, plain HTTP through one without.

    Each pool is an ``httpx.HTTPTransport`` with the defaults ``httpx.Client`` uses,
    built on the first request of its scheme.
    """

    def __init__(self) -> None:
        self._pools = _Pools(lambda context: httpx.HTTPTransport(verify=context))

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` through the pool for its scheme."""
        return self._pools.for_url(request.url).handle_request(request)

    def close(self) -> None:
        """Close the pools built so far."""
        for pool in self._pools.take_all():
            pool.close()


class AsyncOwnedTransport(httpx.AsyncBaseTransport):
    """The async twin of :class:`OwnedTransport` (``httpx.AsyncHTTPTransport`` pools)."""

    def __init__(self) -> None:
        self._pools = _Pools(lambda context: httpx.AsyncHTTPTransport(verify=context))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` through the pool for its scheme."""
        return await self._pools.for_url(request.url).handle_async_request(request)

    async def aclose(self) -> None:
        """Close the pools built so far."""
        for pool in self._pools.take_all():
            await pool.aclose()


def owned_client(timeout: float) -> httpx.Client:
    """A new ``httpx.Client`` for a shell to own, on an :class:`OwnedTransport`."""
    return httpx.Client(timeout=timeout, transport=OwnedTransport())


def owned_async_client(timeout: float) -> httpx.AsyncClient:
    """A new ``httpx.AsyncClient`` for a shell to own, on an :class:`AsyncOwnedTransport`."""
    return httpx.AsyncClient(timeout=timeout, transport=AsyncOwnedTransport())
