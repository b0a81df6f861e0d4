"""Fork safety: what a forked child must not inherit from its parent.

``gunicorn --preload``, ``multiprocessing`` with the fork start method and uvicorn's
workers build verifiers in a parent and fork children that use them. A child inherits
memory, not threads: a lock another thread held at the fork stays held forever, an
in-flight refresh whose leader was a thread never finishes, a background refresh thread
does not exist, and an owned HTTP client's pooled connections are sockets shared with
the parent. So every object holding such things registers here, and right after a fork
the child calls each one's ``after_fork_in_child()``: fresh locks, no in-flight refresh
(the child leads its own), no background thread, and owned HTTP clients rebuilt on
first use. Cached keys are kept: they are plain data, and the child serves them at once.

An ``http_client`` the user passes in stays the user's: create it after the fork (or in
a post-fork hook) if the process model forks.
"""

from __future__ import annotations

import os
import threading
import weakref
from typing import Protocol

__all__ = ["ForkAware", "ModuleLock", "track"]


class ForkAware(Protocol):
    """An object that resets its process-local parts in a forked child."""

    def after_fork_in_child(self) -> None:
        """Drop what belongs to the parent process (locks, threads, connections)."""


_LIVE: weakref.WeakSet[ForkAware] = weakref.WeakSet()
_GUARD = threading.Lock()


def track(obj: ForkAware) -> None:
    """Reset ``obj`` in every child forked while it lives."""
    with _GUARD:
        _LIVE.add(obj)


class ModuleLock:
    """A module's own lock (``.lock``), renewed in a forked child: another thread may
    have held the parent's at the fork."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        track(self)

    def after_fork_in_child(self) -> None:
        """A fresh lock in a forked child."""
        self.lock = threading.Lock()


def _after_fork_in_child() -> None:
    global _GUARD
    _GUARD = threading.Lock()  # the parent may have held it while forking
    for obj in list(_LIVE):
        obj.after_fork_in_child()


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_after_fork_in_child)
