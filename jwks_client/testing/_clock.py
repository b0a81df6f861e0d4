"""A manual clock for tests: time moves only when told to."""

from __future__ import annotations

import threading
import time

from .._errors import ConfigurationError
from ._common import check_finite

__all__ = ["FakeClock"]


class FakeClock:
    """A thread-safe manual clock for tests: time moves only when told to.

    Calling the clock returns the current time as Unix seconds, so it fits wherever a
    ``clock=`` (or a cachetools ``timer=``) is accepted. Without a ``start`` it begins at
    the real current time, so tokens minted on it are also valid for code that verifies
    with the real clock.

    Args:
        start: the initial time in Unix seconds; ``time.time()`` at construction when None.

    Raises:
        ConfigurationError: if ``start`` is not a finite number.
    """

    __slots__ = ("_lock", "_now")

    def __init__(self, start: float | None = None) -> None:
        self._now = time.time() if start is None else check_finite("start", start)
        self._lock = threading.Lock()

    def __call__(self) -> float:
        """Return the current time."""
        with self._lock:
            return self._now

    def now(self) -> float:
        """Return the current time (same as calling the clock)."""
        return self()

    def advance(self, seconds: float) -> float:
        """Move the clock forward.

        Args:
            seconds: how far to move; zero or more.

        Returns:
            The new time.

        Raises:
            ConfigurationError: if ``seconds`` is negative or not finite (use :meth:`set`
                to move backwards).
        """
        step = check_finite("seconds", seconds)
        if step < 0:
            raise ConfigurationError(f"cannot advance by a negative amount: {seconds!r}")
        with self._lock:
            self._now += step
            return self._now

    def set(self, t: float) -> None:
        """Set the current time, forwards or backwards.

        Raises:
            ConfigurationError: if ``t`` is not a finite number.
        """
        value = check_finite("t", t)
        with self._lock:
            self._now = value

    def __repr__(self) -> str:
        return f"FakeClock({self():.3f})"
