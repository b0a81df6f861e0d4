"""What reaches the test issuer: recorded requests, and endpoints held until released.

One condition guards the records, the held endpoints and the count of parked requests,
so a request is recorded and parked in one step: once a test has seen it counted, it is
also counted as waiting. Parking is bounded twice: the server's ``stopping`` event and a
safety deadline release a request whose hold is never released.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Final

__all__ = ["RecordedRequest", "Traffic"]

_MAX_HOLD: Final = 120.0  # safety net: a forgotten hold() never parks a request forever


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request received by a :class:`LocalIssuer`.

    Attributes:
        method: the HTTP method.
        path: the request path, without the query.
        headers: the request headers, names lower-cased (repeated headers joined by ", ").
        time: when it arrived, by the issuer's clock.
        query: the query string, without the ``?`` ("" when absent).
    """

    method: str
    path: str
    headers: dict[str, str]
    time: float
    query: str = ""


class Traffic:
    """The record of requests and the holds on endpoints of one issuer (thread-safe).

    Args:
        endpoints: the names of the endpoints that can be held.
    """

    def __init__(self, endpoints: Collection[str]) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._records: list[RecordedRequest] = []
        self._held: set[str] = set()
        self._waiting: dict[str, int] = dict.fromkeys(endpoints, 0)

    # --- requests ------------------------------------------------------------------------

    def arrive(
        self, record: RecordedRequest, endpoint: str | None, stopping: threading.Event
    ) -> bool:
        """Record a request, then park it while ``endpoint`` is held.

        Returns:
            False when the server stopped while it was parked (it gets no answer).
        """
        with self._cond:
            self._records.append(record)
            self._cond.notify_all()
            if endpoint is None or endpoint not in self._held:
                return True
            self._waiting[endpoint] += 1
            self._cond.notify_all()
            deadline = time.monotonic() + _MAX_HOLD
            try:
                while endpoint in self._held and not stopping.is_set():
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
            finally:
                self._waiting[endpoint] -= 1
                self._cond.notify_all()
            return not stopping.is_set()

    def requests(self) -> list[RecordedRequest]:
        """Every recorded request, oldest first."""
        with self._cond:
            return list(self._records)

    def count(self, paths: Collection[str] | None) -> int:
        """How many requests were recorded (to one of ``paths``; None: to any)."""
        with self._cond:
            return self._count(paths)

    def clear(self) -> None:
        """Forget every recorded request."""
        with self._cond:
            self._records.clear()

    def wait_for_count(self, n: int, paths: Collection[str] | None, timeout: float) -> bool:
        """Block until at least ``n`` requests (to ``paths``) arrived; False on timeout."""
        return self._wait_for(lambda: self._count(paths) >= n, timeout)

    # --- holds ----------------------------------------------------------------------------

    def hold(self, endpoints: Collection[str]) -> None:
        """Park later requests to ``endpoints`` until released."""
        with self._cond:
            self._held.update(endpoints)

    def release(self, endpoints: Collection[str]) -> None:
        """Let requests parked on ``endpoints`` go on, and stop holding them."""
        with self._cond:
            self._held.difference_update(endpoints)
            self._cond.notify_all()

    def release_all(self) -> None:
        """Stop holding every endpoint and wake every parked request (at stop)."""
        with self._cond:
            self._held.clear()
            self._cond.notify_all()

    def waiting(self, endpoints: Collection[str]) -> int:
        """How many requests are parked on ``endpoints``."""
        with self._cond:
            return self._parked(endpoints)

    def wait_for_waiting(self, n: int, endpoints: Collection[str], timeout: float) -> bool:
        """Block until at least ``n`` requests are parked on ``endpoints``; False on timeout."""
        return self._wait_for(lambda: self._parked(endpoints) >= n, timeout)

    # --- internals (condition held) ---------------------------------------------------------

    def _count(self, paths: Collection[str] | None) -> int:
        if paths is None:
            return len(self._records)
        return sum(1 for record in self._records if record.path in paths)

    def _parked(self, endpoints: Collection[str]) -> int:
        return sum(self._waiting[endpoint] for endpoint in endpoints)

    def _wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(predicate, timeout)
