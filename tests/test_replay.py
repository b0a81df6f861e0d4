"""The in-process replay store (jwks_client.MemoryReplayStore)."""

from __future__ import annotations

import os
import signal
import threading
import time
import warnings

import pytest

from jwks_client import ConfigurationError, MemoryReplayStore, ReplayStore


def _key(number: int) -> bytes:
    return number.to_bytes(16, "big")


def test_first_use_then_replay() -> None:
    """A key is new once; again before its expiry it is a replay."""
    store = MemoryReplayStore()
    assert store.first_use(_key(1), expires_at=100.0, now=0.0)
    assert not store.first_use(_key(1), expires_at=100.0, now=50.0)
    assert store.first_use(_key(2), expires_at=100.0, now=50.0)
    assert len(store) == 2


def test_entries_expire() -> None:
    """At its expiry an entry is forgotten: the key is new again, and the store shrinks."""
    store = MemoryReplayStore()
    store.first_use(_key(1), expires_at=100.0, now=0.0)
    store.first_use(_key(2), expires_at=500.0, now=0.0)
    assert store.first_use(_key(1), expires_at=200.0, now=100.0)
    assert not store.first_use(_key(1), expires_at=200.0, now=150.0)
    store.first_use(_key(3), expires_at=600.0, now=300.0)  # purges what passed
    assert len(store) == 2  # keys 2 and 3
    assert store.first_use(_key(1), expires_at=400.0, now=300.0)


def test_a_key_recorded_again_survives_the_purge_of_its_old_bucket() -> None:
    """A key re-recorded after expiry lives until its new expiry."""
    store = MemoryReplayStore()
    store.first_use(_key(1), expires_at=10.0, now=0.0)
    store.first_use(_key(1), expires_at=50.0, now=20.0)
    store.first_use(_key(9), expires_at=60.0, now=30.0)  # purges the bucket of 10.0
    assert not store.first_use(_key(1), expires_at=50.0, now=40.0)


def test_already_expired_entries_are_not_kept() -> None:
    """A proof whose window already passed is not recorded (nothing to refuse later)."""
    store = MemoryReplayStore()
    assert store.first_use(_key(1), expires_at=10.0, now=10.0)
    assert len(store) == 0


def test_bounded_with_evictions_counted() -> None:
    """Past max_entries, the entries closest to expiry go first, each counted."""
    store = MemoryReplayStore(max_entries=3)
    for number, expires_at in enumerate((40.0, 10.0, 30.0, 20.0)):
        store.first_use(_key(number), expires_at=expires_at, now=0.0)
    assert len(store) == 3
    assert store.evictions == 1
    assert store.first_use(_key(1), expires_at=10.0, now=1.0)  # the evicted one
    assert not store.first_use(_key(0), expires_at=40.0, now=1.0)


def test_evicting_expired_entries_is_not_counted() -> None:
    """Expired entries make room without counting as evictions."""
    store = MemoryReplayStore(max_entries=2)
    store.first_use(_key(1), expires_at=5.0, now=0.0)
    store.first_use(_key(2), expires_at=50.0, now=0.0)
    store.first_use(_key(3), expires_at=60.0, now=10.0)
    assert (len(store), store.evictions) == (2, 0)


def test_threads_see_each_key_once() -> None:
    """Under concurrent use, each key is a first use for exactly one caller."""
    store = MemoryReplayStore()
    firsts: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def worker() -> None:
        start.wait(timeout=10)
        mine = sum(store.first_use(_key(n), expires_at=100.0, now=0.0) for n in range(500))
        with lock:
            firsts.append(mine)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sum(firsts) == 500 and len(firsts) == 8


@pytest.mark.parametrize("max_entries", [0, -1, 1.5, True, "10"])
def test_invalid_size(max_entries: object) -> None:
    """max_entries must be a positive int."""
    with pytest.raises(ConfigurationError):
        MemoryReplayStore(max_entries=max_entries)  # type: ignore[arg-type]


def test_memory_store_is_a_replay_store() -> None:
    """MemoryReplayStore satisfies the ReplayStore protocol."""
    assert isinstance(MemoryReplayStore(), ReplayStore)


def test_a_forked_child_gets_a_fresh_lock() -> None:
    """A lock held at the fork (by a thread the child does not have) is replaced in the
    child; the recorded proofs are kept."""
    store = MemoryReplayStore()
    store.first_use(_key(1), expires_at=100.0, now=0.0)
    assert store._lock.acquire(timeout=1)  # as if another thread held it at the fork
    store.after_fork_in_child()
    assert not store.first_use(_key(1), expires_at=100.0, now=1.0)
    assert store.first_use(_key(2), expires_at=100.0, now=1.0)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX fork only")
def test_a_real_fork_while_the_lock_is_held() -> None:
    """A child forked while the store's lock is held can still record proofs."""
    store = MemoryReplayStore()
    assert store._lock.acquire(timeout=1)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads (3.12+)
            pid = os.fork()
        if pid == 0:  # the child: exit at once, whatever happens
            code = 1
            try:
                code = 0 if store.first_use(_key(1), expires_at=100.0, now=0.0) else 2
            finally:
                os._exit(code)
    finally:
        store._lock.release()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert os.waitstatus_to_exitcode(status) == 0
            return
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    raise AssertionError("the forked child did not finish in time")
