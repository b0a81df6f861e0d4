"""Real processes: a fleet sharing one Redis, a crashed lock holder, and forks.

Every process started here is bounded in time and stopped by its pid.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from jwks_client import CachePolicy, Verifier
from jwks_client.testing import LocalIssuer
from tests.redis_support import RedisServer

from .workers import AUD, verify_in_fleet

PROCESS_TIMEOUT = 60.0
SPAWN = multiprocessing.get_context("spawn")


@pytest.fixture
def live_issuer(redis_client: Any) -> Iterator[LocalIssuer]:
    """An issuer on the real clock (worker processes use their own clocks)."""
    with LocalIssuer(algorithms=("ES256",)) as issuer:
        yield issuer


def _collect(processes: list[Any], results: Any, n: int) -> list[tuple[int, list[str], int, int]]:
    collected = []
    deadline = time.monotonic() + PROCESS_TIMEOUT
    try:
        for _ in range(n):
            collected.append(results.get(timeout=max(0.1, deadline - time.monotonic())))
    finally:
        for process in processes:
            process.join(max(0.1, deadline - time.monotonic()))
            if process.is_alive():
                os.kill(process.pid, signal.SIGKILL)
                process.join(5)
    return collected


@pytest.mark.parametrize("k", [1, 4])
def test_a_cold_fleet_makes_one_discovery_and_one_jwks_request(
    live_issuer: LocalIssuer, redis_server: RedisServer, k: int
) -> None:
    """K processes starting together against a cold Redis and a cold issuer cause one
    discovery and one JWKS request in total; a process started later makes none."""
    token = live_issuer.token({"sub": "fleet"}, audience=AUD)
    barrier = SPAWN.Barrier(k)
    results = SPAWN.Queue()
    processes = [
        SPAWN.Process(
            target=verify_in_fleet,
            args=(redis_server.url, live_issuer.issuer, [token], barrier, results),
        )
        for _ in range(k)
    ]
    for process in processes:
        process.start()
    outcomes = _collect(processes, results, k)
    assert [o[1] for o in outcomes] == [["fleet"]] * k
    assert live_issuer.request_count("discovery") == 1
    assert live_issuer.request_count("jwks") == 1
    late = SPAWN.Process(
        target=verify_in_fleet, args=(redis_server.url, live_issuer.issuer, [token], None, results)
    )
    late.start()
    (late_outcome,) = _collect([late], results, 1)
    assert late_outcome[1] == ["fleet"] and late_outcome[2] == 1  # adopted from Redis
    assert live_issuer.request_count() == 2


def test_a_killed_lock_holder_delays_the_fleet_only_until_the_lock_expires(
    live_issuer: LocalIssuer, redis_server: RedisServer
) -> None:
    """A process killed while it holds the fetch lock leaves a lock that expires; the next
    process then fetches and verifies."""
    token = live_issuer.token({"sub": "after-crash"}, audience=AUD)
    results = SPAWN.Queue()
    live_issuer.hold("jwks")
    holder = SPAWN.Process(
        target=verify_in_fleet,
        args=(redis_server.url, live_issuer.issuer, [token], None, results, 0.5),
    )
    holder.start()
    try:
        assert live_issuer.wait_for_waiting(1, timeout=PROCESS_TIMEOUT)
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.join(10)
        live_issuer.release("jwks")
    successor = SPAWN.Process(
        target=verify_in_fleet,
        args=(redis_server.url, live_issuer.issuer, [token], None, results, 0.5),
    )
    successor.start()
    (outcome,) = _collect([successor], results, 1)
    assert outcome[1] == ["after-crash"]
    assert live_issuer.request_count("jwks") == 2  # the dead holder's, then the successor's


def _fork(child: Any) -> int:
    """Fork; run ``child()`` in the child and exit with its status; return the child's pid."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: fork with threads
        pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        status = 1
        try:
            status = int(child())
        finally:
            os._exit(status)
    return pid


def _wait(pid: int) -> int:
    deadline = time.monotonic() + PROCESS_TIMEOUT
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    raise AssertionError("the forked child did not finish in time")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX fork only")
def test_a_fork_during_a_refresh_leaves_the_child_able_to_refresh(
    live_issuer: LocalIssuer,
) -> None:
    """A child forked while the parent's refresh is in flight leads its own refresh (it
    never waits for the parent's thread) and verifies."""
    token = live_issuer.token({"sub": "forked"}, audience=AUD)
    verifier = Verifier(live_issuer.issuer, audience=AUD, require_https=False, timeout=5)
    live_issuer.hold("jwks")
    import threading

    parent_result: list[str] = []
    thread = threading.Thread(target=lambda: parent_result.append(verifier.verify(token)["sub"]))
    thread.start()
    try:
        assert live_issuer.wait_for_waiting(1, timeout=PROCESS_TIMEOUT)

        def child() -> int:
            # The parent's in-flight refresh belongs to a thread the child does not have.
            assert verifier.jwks_client.state.refreshing is False
            return 0 if verifier.verify(token)["sub"] == "forked" else 3

        pid = _fork(child)
        assert live_issuer.wait_for_waiting(2, timeout=PROCESS_TIMEOUT)  # the child's own
    finally:
        live_issuer.release("jwks")
    assert _wait(pid) == 0
    thread.join(PROCESS_TIMEOUT)
    assert parent_result == ["forked"]
    verifier.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX fork only")
def test_a_forked_child_never_reuses_the_parents_connections(live_issuer: LocalIssuer) -> None:
    """A preloaded verifier's owned HTTP client is rebuilt in the child; the child keeps
    the parent's keys (no fetch to verify) and refreshes on its own connection."""
    token = live_issuer.token({"sub": "preloaded"}, audience=AUD)
    verifier = Verifier(
        live_issuer.issuer,
        audience=AUD,
        require_https=False,
        cache_policy=CachePolicy(refresh_cooldown=0),
    )
    assert verifier.verify(token)["sub"] == "preloaded"
    parent_client = verifier.jwks_client._http
    assert parent_client is not None
    before = live_issuer.request_count("jwks")

    def child() -> int:
        keys = verifier.jwks_client
        if keys._http is not None:
            return 4  # the parent's pool would be reused
        if verifier.verify(token)["sub"] != "preloaded":
            return 5
        keys.refresh()  # a request of the child's own
        return 0 if keys._http is not None and keys._http is not parent_client else 6

    pid = _fork(child)
    assert _wait(pid) == 0
    assert live_issuer.request_count("jwks") == before + 1
    assert verifier.verify(token)["sub"] == "preloaded"  # the parent's client still works
    verifier.close()


def _preloaded_worker(verifier: Verifier, token: str, results: Any) -> None:
    results.put(verifier.verify(token)["sub"])


@pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX fork only")
def test_multiprocessing_fork_workers_use_a_preloaded_verifier(live_issuer: LocalIssuer) -> None:
    """The gunicorn --preload pattern: a verifier warmed in the parent serves forked
    multiprocessing workers without a fetch."""
    fork = multiprocessing.get_context("fork")
    token = live_issuer.token({"sub": "worker"}, audience=AUD)
    with Verifier(live_issuer.issuer, audience=AUD, require_https=False) as verifier:
        verifier.verify(token)
        results = fork.Queue()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            workers = [
                fork.Process(target=_preloaded_worker, args=(verifier, token, results))
                for _ in range(3)
            ]
            for worker in workers:
                worker.start()
        got = []
        deadline = time.monotonic() + PROCESS_TIMEOUT
        try:
            for _ in workers:
                got.append(results.get(timeout=max(0.1, deadline - time.monotonic())))
        finally:
            for worker in workers:
                worker.join(max(0.1, deadline - time.monotonic()))
                if worker.is_alive():
                    os.kill(worker.pid, signal.SIGKILL)
                    worker.join(5)
    assert got == ["worker"] * 3
    assert live_issuer.request_count("jwks") == 1
