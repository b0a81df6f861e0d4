"""pytest fixtures for testing resource servers that use jwks_client.

Installed as a ``pytest11`` plugin: the fixtures are available in any project that has
jwks-client installed, without imports.

- ``jwks_clock``: a :class:`~jwks_client.testing.FakeClock` shared by the issuer and the
  verifiers of a test.
- ``jwks_issuer``: a running :class:`~jwks_client.testing.LocalIssuer` on 127.0.0.1
  (ES256 and RS256 keys), stopped after the test.
- ``jwks_verifier``: a :class:`~jwks_client.Verifier` for ``jwks_issuer`` (plain http
  allowed, audience ``https://api.example.com``, the fake clock).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ._sync import Verifier
from .testing import FakeClock, LocalIssuer

__all__ = ["jwks_clock", "jwks_issuer", "jwks_verifier"]

DEFAULT_AUDIENCE = "https://api.example.com"


@pytest.fixture
def jwks_clock() -> FakeClock:
    """A fake clock, starting at a fixed time; advance it with ``jwks_clock.advance(s)``."""
    return FakeClock()


@pytest.fixture
def jwks_issuer(jwks_clock: FakeClock) -> Iterator[LocalIssuer]:
    """A real issuer on 127.0.0.1 with an ES256 and an RS256 key, driven by ``jwks_clock``."""
    with LocalIssuer(algorithms=("ES256", "RS256"), clock=jwks_clock) as issuer:
        yield issuer


@pytest.fixture
def jwks_verifier(jwks_issuer: LocalIssuer, jwks_clock: FakeClock) -> Iterator[Verifier]:
    """A Verifier for ``jwks_issuer`` (audience ``https://api.example.com``)."""
    with Verifier(
        jwks_issuer.issuer,
        audience=DEFAULT_AUDIENCE,
        require_https=False,
        clock=jwks_clock,
    ) as verifier:
        yield verifier
