"""Shared fixtures: a LocalIssuer on 127.0.0.1 driven by a FakeClock."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from jwks_client.testing import FakeClock, LocalIssuer, reset_key_stores

from .redis_support import redis_client, redis_server, shared  # noqa: F401 (fixtures)

# Properties are judged on what they find, not on how fast examples are made: on a loaded
# 2-core machine (CI, or helpers' runs side by side) generation is slow, and a health
# check about it would fail a run for no fault of the code.
settings.register_profile(
    "jwks-default",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
settings.load_profile("jwks-default")


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
