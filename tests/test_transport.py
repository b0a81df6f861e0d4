"""The owned HTTP clients: one verifying TLS context per process, none for plain HTTP."""

from __future__ import annotations

import ssl
from typing import Any

import httpx
import pytest

from jwks_client import _transport
from jwks_client._transport import owned_async_client, owned_client, shared_ssl_context


class _Pool:
    """Stands in for an httpx transport: records how it was built and answers 200."""

    def __init__(self, built: list[_Pool], *, verify: Any) -> None:
        self.verify = verify
        self.requests: list[str] = []
        self.closed = False
        built.append(self)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(str(request.url))
        return httpx.Response(200, json={"keys": []})

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return self.handle_request(request)

    def close(self) -> None:
        self.closed = True

    async def aclose(self) -> None:
        self.closed = True


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> list[_Pool]:
    """The pools the owned transports build, in order (no network is touched)."""
    pools: list[_Pool] = []
    monkeypatch.setattr(httpx, "HTTPTransport", lambda **kw: _Pool(pools, **kw))
    monkeypatch.setattr(httpx, "AsyncHTTPTransport", lambda **kw: _Pool(pools, **kw))
    return pools


def _verifies(context: ssl.SSLContext) -> bool:
    return context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


def test_shared_context_is_built_once_and_verifies() -> None:
    """The shared TLS context is one object per process and verifies certificates and names."""
    first = shared_ssl_context()
    assert shared_ssl_context() is first
    assert _verifies(first)
    assert first.cert_store_stats()["x509_ca"] > 0


def test_two_owned_clients_share_the_tls_context(built: list[_Pool]) -> None:
    """HTTPS pools of two owned clients use the one shared context; each is built once."""
    clients = [owned_client(5.0), owned_client(5.0)]
    try:
        for client in clients:
            client.get("https://idp.example.com/jwks")
            client.get("https://idp.example.com/jwks")
    finally:
        for client in clients:
            client.close()
    assert len(built) == 2
    assert built[0].verify is built[1].verify is shared_ssl_context()
    assert [len(pool.requests) for pool in built] == [2, 2]
    assert all(pool.closed for pool in built)


def test_plain_http_builds_no_verifying_context(
    built: list[_Pool], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Plain HTTP goes through a pool whose context trusts no CA; no CA bundle is loaded."""
    monkeypatch.setattr(_transport, "_verifying", None)
    loaded: list[object] = []
    monkeypatch.setattr(httpx, "create_ssl_context", lambda *a, **k: loaded.append(a))
    with owned_client(5.0) as client:
        assert client.get("http://127.0.0.1:9/jwks").status_code == 200
    assert loaded == []
    assert _transport._verifying is None
    (pool,) = built
    context = pool.verify
    assert isinstance(context, ssl.SSLContext) and _verifies(context)
    assert context.cert_store_stats()["x509_ca"] == 0


def test_schemes_get_separate_pools(built: list[_Pool]) -> None:
    """An owned client sends each scheme through its own pool, plain HTTP never on TLS's."""
    with owned_client(5.0) as client:
        client.get("http://127.0.0.1:9/a")
        client.get("https://idp.example.com/b")
        client.get("http://127.0.0.1:9/c")
    plain, tls = built
    assert plain.requests == ["http://127.0.0.1:9/a", "http://127.0.0.1:9/c"]
    assert tls.requests == ["https://idp.example.com/b"]
    assert tls.verify is shared_ssl_context() and plain.verify is not tls.verify


async def test_async_owned_clients_share_the_tls_context(built: list[_Pool]) -> None:
    """The async twin shares the same context and closes its pools on aclose."""
    clients = [owned_async_client(5.0), owned_async_client(5.0)]
    try:
        for client in clients:
            response = await client.get("https://idp.example.com/jwks")
            assert response.status_code == 200
    finally:
        for client in clients:
            await client.aclose()
    assert len(built) == 2
    assert built[0].verify is built[1].verify is shared_ssl_context()
    assert all(pool.closed for pool in built)


def test_owned_client_keeps_the_timeout() -> None:
    """An owned client carries the timeout it was built with."""
    with owned_client(2.5) as client:
        assert client.timeout == httpx.Timeout(2.5)
