"""A hard deadline for the whole HTTP exchange, in both shells (issue 10, item 1).

httpx's ``timeout`` bounds each read; an issuer (or a proxy) that sends its response head
one byte at a time, each byte inside the read timeout, kept a refresh open for hours, and
every caller needing that refresh waited on it. Here a raw loopback server trickles a
16 KiB JWKS response head a byte per 50 ms (13 minutes in all) and gives up after 20 s;
the verifiers have a 1 s ``timeout``, so an exchange not cut at its deadline runs into
the server's give-up and fails with another error.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from jwks_client import AsyncVerifier, FetchError, KeySetUnavailableError, Verifier
from jwks_client.testing import FakeClock, LocalIssuer

from ..faults import AUD, SHELLS, Facade, max_backoff
from .slow_server import SlowServer

TIMEOUT = 1.0
TIMED_OUT = rf"timed out after {TIMEOUT:g}s fetching http://127\.0\.0\.1:\d+/jwks"


@pytest.fixture
def server(issuer: LocalIssuer) -> Iterator[SlowServer]:
    with SlowServer(issuer.jwks()) as slow:
        yield slow


def make_verifier(shell: str, server: SlowServer, clock: FakeClock, **options: Any) -> Facade:
    """A verifier of ``shell`` for the slow server, with the short timeout."""
    cls = Verifier if shell == "sync" else AsyncVerifier
    options.setdefault("timeout", TIMEOUT)
    return Facade(cls(server.url, audience=AUD, require_https=False, clock=clock, **options))


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("discovery", [True, False], ids=["discovery", "jwks_uri"])
def test_trickled_response_head_ends_at_the_deadline(
    shell: str, discovery: bool, server: SlowServer, issuer: LocalIssuer, clock: FakeClock
) -> None:
    """A JWKS response head trickled a byte at a time fails as a timeout at the deadline
    (on a fresh connection and on the one discovery left open), and the next refresh
    past the backoff succeeds once the issuer recovers."""
    token = issuer.token(claims={"iss": server.url})
    facade = make_verifier(shell, server, clock, jwks_uri=None if discovery else server.jwks_uri)
    try:
        with pytest.raises(FetchError, match=TIMED_OUT):
            facade.verify(token)
        # The client went away while the head was still trickling in.
        assert server.client_left.wait(5)
        assert server.trickles == 1 and server.bytes_trickled < 16_000

        server.trickle = False
        clock.advance(max_backoff(1) + 1)
        assert facade.verify(token)["iss"] == server.url
        assert server.jwks_requests == 2
    finally:
        facade.close()


@pytest.mark.parametrize("shell", SHELLS)
def test_waiters_end_with_the_leader_at_its_deadline(
    shell: str, server: SlowServer, issuer: LocalIssuer, clock: FakeClock
) -> None:
    """Callers waiting on a refresh whose response head trickles in all fail as timeouts
    when its deadline passes, after one request."""
    token = issuer.token(claims={"iss": server.url})
    facade = make_verifier(shell, server, clock, jwks_uri=server.jwks_uri)
    callers = 4
    try:
        outcomes: list[object] = []
        if facade.loop is not None:
            verifier = facade.verifier
            assert isinstance(verifier, AsyncVerifier)

            async def all_callers() -> list[object]:
                calls = [verifier.verify(token) for _ in range(callers)]
                return list(await asyncio.gather(*calls, return_exceptions=True))

            outcomes = facade.loop.run_until_complete(all_callers())
        else:
            lock = threading.Lock()

            def call() -> None:
                try:
                    result: object = facade.verify(token)
                except KeySetUnavailableError as exc:
                    result = exc
                with lock:
                    outcomes.append(result)

            threads = [threading.Thread(target=call) for _ in range(callers)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(60)
            assert not any(thread.is_alive() for thread in threads)
        assert len(outcomes) == callers
        for outcome in outcomes:
            assert isinstance(outcome, FetchError), outcome
            assert f"timed out after {TIMEOUT:g}s" in str(outcome)
        assert server.trickles == 1
    finally:
        facade.close()


def test_a_waiter_gives_up_at_its_own_deadline(issuer: LocalIssuer, clock: FakeClock) -> None:
    """A caller waiting on a refresh that cannot be interrupted (a transport with no socket,
    held by the test) fails at its own deadline, 4 x timeout + 1 s, naming the wait; the
    refresh, once let go, still lands."""
    entered, release = threading.Event(), threading.Event()
    body = json.dumps(issuer.jwks()).encode()

    def handler(request: httpx.Request) -> httpx.Response:
        entered.set()
        release.wait(30)
        return httpx.Response(200, content=body, headers={"cache-control": "max-age=300"})

    client = httpx.Client(transport=httpx.MockTransport(handler))
    verifier = Verifier(
        issuer.issuer,
        audience=AUD,
        jwks_uri=issuer.jwks_uri,
        require_https=False,
        clock=clock,
        timeout=0.2,
        http_client=client,
    )
    token = issuer.token()
    leader: list[object] = []
    thread = threading.Thread(target=lambda: leader.append(verifier.verify(token)))
    try:
        thread.start()
        assert entered.wait(10)
        with pytest.raises(FetchError, match=r"timed out after 1\.8s waiting for the refresh"):
            verifier.verify(token)
        assert thread.is_alive()  # the leader is still held
    finally:
        release.set()
        thread.join(10)
        verifier.close()
        client.close()
    assert not thread.is_alive()
    assert isinstance(leader[0], dict) and leader[0]["iss"] == issuer.issuer
