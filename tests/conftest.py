"""Shared fixtures: a LocalIssuer on 127.0.0.1 driven by a FakeClock."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from jwks_client.testing import FakeClock, LocalIssuer, reset_key_stores

from .redis_support import redis_client, redis_server, shared  # noqa: F401 (fixtures)


@pytest.fixture(autouse=True)
def _cold_key_stores() -> None:
    """Every test starts with no shared key store: a LocalIssuer that reuses an earlier
    issuer's port must not meet that issuer's cached keys (tests on the real clock)."""
    reset_key_stores()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1_700_000_000.0)


@pytest.fixture
def issuer(clock: FakeClock) -> Iterator[LocalIssuer]:
    with LocalIssuer(algorithms=("ES256",), clock=clock) as local:
        yield local
