"""Tests of Tally, the lock-free count of the hot path."""

from __future__ import annotations

import threading

from jwks_client._types import Tally


def test_value_counts_the_bumps() -> None:
    """A new tally is 0; each bump adds one, and bump returns the count before it."""
    tally = Tally()
    assert tally.value == 0
    assert [tally.bump() for _ in range(3)] == [0, 1, 2]
    assert tally.value == 3


def test_no_bump_is_lost_across_threads() -> None:
    """Eight threads bumping at once (after a barrier) lose no bump."""
    tally = Tally()
    threads_n, each = 8, 20_000
    barrier = threading.Barrier(threads_n)

    def work() -> None:
        barrier.wait(timeout=10)
        for _ in range(each):
            tally.bump()

    threads = [threading.Thread(target=work) for _ in range(threads_n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
        assert not thread.is_alive()
    assert tally.value == threads_n * each
