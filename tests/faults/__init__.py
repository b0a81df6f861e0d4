"""Fault-injection tests of both shells, and the facade that drives either one.

:class:`Facade` puts a ``Verifier`` or an ``AsyncVerifier`` (on a private event loop)
behind one synchronous interface, so every behaviour is written once and checked for
both shells. :func:`build` makes one against a :class:`LocalIssuer` with test defaults.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from jwks_client import AsyncVerifier, CachePolicy, Verifier
from jwks_client._policy import CacheState, backoff_delay
from jwks_client.testing import FakeClock, LocalIssuer

__all__ = ["AUD", "SHELLS", "Facade", "build", "max_backoff", "min_backoff"]

AUD = "https://api.example.com"
SHELLS = ("sync", "async")


def min_backoff(failures: int) -> float:
    """The shortest backoff after ``failures`` consecutive failures (jitter 0)."""
    return backoff_delay(failures, 0.0)


def max_backoff(failures: int) -> float:
    """The longest backoff after ``failures`` consecutive failures (jitter 1)."""
    return backoff_delay(failures, 1.0)


class Facade:
    """One synchronous interface over a ``Verifier`` or an ``AsyncVerifier``."""

    def __init__(self, verifier: Verifier | AsyncVerifier) -> None:
        self.verifier = verifier
        self.loop = asyncio.new_event_loop() if isinstance(verifier, AsyncVerifier) else None

    @property
    def state(self) -> CacheState:
        """The key source's cache state."""
        return self.verifier.jwks_client.state

    def verify(self, token: str) -> dict[str, Any]:
        """Verify ``token`` (on the private loop for the async shell)."""
        if self.loop is not None:
            assert isinstance(self.verifier, AsyncVerifier)
            return self.loop.run_until_complete(self.verifier.verify(token))
        assert isinstance(self.verifier, Verifier)
        return self.verifier.verify(token)

    def settle(self) -> None:
        """Wait (bounded) for a background refresh to finish."""
        if self.loop is not None:
            assert isinstance(self.verifier, AsyncVerifier)
            self.loop.run_until_complete(self.verifier.jwks_client.join_background(10.0))
        else:
            assert isinstance(self.verifier, Verifier)
            self.verifier.jwks_client.join_background(10.0)

    def wait(self, condition: Callable[[], bool]) -> bool:
        """Call a blocking ``condition`` while a background refresh may make progress.

        The async shell's background task runs on the private loop, so the loop runs
        while ``condition`` blocks in a worker thread.
        """
        if self.loop is not None:
            return self.loop.run_until_complete(asyncio.to_thread(condition))
        return condition()

    def close(self) -> None:
        """Close the verifier (and the private loop)."""
        if self.loop is not None:
            assert isinstance(self.verifier, AsyncVerifier)
            self.loop.run_until_complete(self.verifier.aclose())
            self.loop.run_until_complete(self.loop.shutdown_default_executor())
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()
        else:
            assert isinstance(self.verifier, Verifier)
            self.verifier.close()


def build(shell: str, issuer: LocalIssuer, clock: FakeClock, **options: Any) -> Facade:
    """Make a facade over the ``shell`` ("sync" or "async") verifier of ``issuer``.

    Defaults: the test audience, plain http allowed, ``clock``, ``CachePolicy()``.
    """
    options.setdefault("audience", AUD)
    options.setdefault("require_https", False)
    options.setdefault("clock", clock)
    options.setdefault("cache_policy", CachePolicy())
    issuer_url = options.pop("issuer", issuer.issuer)
    cls = Verifier if shell == "sync" else AsyncVerifier
    return Facade(cls(issuer_url, **options))
