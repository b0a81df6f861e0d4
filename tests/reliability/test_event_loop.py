"""The event loop never stalls on a refresh (issue 10, item 7).

Reading a key set parses its JSON and imports every key (a fraction of a millisecond
each); on the loop, a 1,000-key set held every other task up for the whole of it. The
``AsyncVerifier`` reads a large set in a worker thread and builds its HTTP client there
too (loading an SSL context takes tens of milliseconds).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import threading
import time
from typing import Any

import httpx
import pytest

from jwks_client import AsyncVerifier
from jwks_client._keys import parse_jwks
from jwks_client.testing import FakeClock, LocalIssuer

from ..faults import AUD

KEYS = 1000  # the most a set may hold


def large_set(issuer: LocalIssuer) -> dict[str, Any]:
    """The issuer's key set padded to KEYS keys: copies of its Ed25519 key under new kids."""
    (real,) = issuer.jwks()["keys"]
    copies = [dict(real, kid=f"copy-{index}") for index in range(KEYS - 1)]
    return {"keys": [*copies, real]}


def inline_cost(document: dict[str, Any]) -> float:
    """Seconds to read ``document`` on the calling thread (the stall it would cause),
    the median of three runs."""
    body = json.dumps(document).encode()
    runs = []
    for _ in range(3):
        start = time.perf_counter()
        assert len(parse_jwks(json.loads(body))) == KEYS
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


async def longest_gap_during(work: Any) -> tuple[Any, float]:
    """Run ``work`` beside a task that yields to the loop in a tight loop; return the
    work's result and the longest time the ticker went without a turn."""
    done = asyncio.Event()
    gaps: list[float] = []

    async def ticker() -> None:
        last = time.perf_counter()
        for _ in range(10_000_000):  # bounded: the work ends long before
            if done.is_set():
                return
            await asyncio.sleep(0)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    tick = asyncio.create_task(ticker())
    await asyncio.sleep(0)  # the ticker is running before the work starts
    try:
        result = await work
    finally:
        done.set()
        await tick
    return result, max(gaps)


def test_a_large_key_set_is_read_off_the_event_loop(clock: FakeClock) -> None:
    """While a 1,000-key set is fetched and read, other tasks keep getting turns: the
    longest gap is a fraction of what reading the set on the loop costs."""
    with LocalIssuer(algorithms=("EdDSA",), clock=clock) as issuer:
        document = large_set(issuer)
        issuer.serve_jwks(document)
        token = issuer.token()
        stall = inline_cost(document)

        async def main() -> float:
            verifier = AsyncVerifier(issuer.issuer, audience=AUD, require_https=False, clock=clock)
            try:
                # The first verification builds the client, discovers, fetches and reads.
                claims, gap = await longest_gap_during(verifier.verify(token))
                assert claims["iss"] == issuer.issuer
                assert len(verifier.jwks_client.state.ring or ()) == KEYS
                return gap
            finally:
                await verifier.aclose()

        gap = asyncio.run(main())
    # An order of magnitude below the stall on an idle machine; a factor of 4 leaves room
    # for a loaded one (the stall is measured on the same machine, under the same load).
    assert gap < stall / 4, (gap, stall)


def test_the_owned_http_client_is_built_off_the_event_loop(
    clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The HTTP client an AsyncVerifier owns is built in a worker thread, not on the loop."""
    built_on: list[int] = []

    class Recording(httpx.AsyncClient):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            built_on.append(threading.get_ident())
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(httpx, "AsyncClient", Recording)
    with LocalIssuer(algorithms=("ES256",), clock=clock) as issuer:
        token = issuer.token()

        async def main() -> int:
            verifier = AsyncVerifier(issuer.issuer, audience=AUD, require_https=False, clock=clock)
            try:
                assert (await verifier.verify(token))["iss"] == issuer.issuer
            finally:
                await verifier.aclose()
            return threading.get_ident()

        loop_thread = asyncio.run(main())
    assert len(built_on) == 1 and built_on[0] != loop_thread
