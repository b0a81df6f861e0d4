"""Shared fixtures: a LocalIssuer on 127.0.0.1 driven by a FakeClock."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from jwks_client.testing import FakeClock, LocalIssuer


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1_700_000_000.0)


@pytest.fixture
def issuer(clock: FakeClock) -> Iterator[LocalIssuer]:
    with LocalIssuer(algorithms=("ES256",), clock=clock) as local:
        yield local
