"""Honest answers in outages, and expired sets refreshed normally (issue 10, items 2-3).

An unknown kid while the refresh fails cannot be decided: the answer is keys-unavailable
(503), never key-not-found (401), and the failed refresh confirms nothing absent, so the
new key of a rotation made during an outage verifies as soon as the issuer is back. An
expired set meets an unknown kid with the ordinary refresh it is due for: the unknown-kid
cooldown does not apply (a backoff does).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from jwks_client import CachePolicy, HTTPStatusError, KeyNotFoundError
from jwks_client.testing import FakeClock, LocalIssuer

from ..faults import SHELLS, Facade, build, max_backoff

POLICY = CachePolicy()
Make = Callable[..., Facade]


@pytest.fixture(params=SHELLS)
def make(request: pytest.FixtureRequest, issuer: LocalIssuer, clock: FakeClock) -> Iterator[Make]:
    made: list[Facade] = []

    def factory(**options: Any) -> Facade:
        facade = build(request.param, issuer, clock, jwks_uri=issuer.jwks_uri, **options)
        made.append(facade)
        return facade

    yield factory
    for facade in made:
        facade.close()


def test_rotation_during_an_outage_is_unavailable_then_verifies_on_recovery(
    make: Make, issuer: LocalIssuer, clock: FakeClock
) -> None:
    """The new kid of a rotation made while the issuer fails is keys-unavailable (503, the
    refresh's own failure), and verifies at the first refresh allowed after recovery."""
    verifier = make()
    verifier.verify(issuer.token())
    new_kid = issuer.rotate("ES256")
    rotated = issuer.token(kid=new_kid)
    issuer.fail("status", status=503)
    clock.advance(POLICY.refresh_cooldown)
    with pytest.raises(HTTPStatusError, match="HTTP 503") as caught:
        verifier.verify(rotated)
    assert not isinstance(caught.value, KeyNotFoundError)
    assert issuer.request_count("jwks") == 2
    # Inside the backoff and the cooldown: still undecided, and no request.
    with pytest.raises(HTTPStatusError, match="HTTP 503"):
        verifier.verify(rotated)
    assert issuer.request_count("jwks") == 2

    issuer.clear_faults()
    clock.advance(POLICY.refresh_cooldown)
    assert verifier.verify(rotated)["sub"] == "user-1"
    assert issuer.request_count("jwks") == 3


def test_unknown_kid_after_a_successful_refresh_is_still_key_not_found(
    make: Make, issuer: LocalIssuer, clock: FakeClock
) -> None:
    """A kid a successful refresh did not bring is KeyNotFoundError (401), remembered."""
    verifier = make()
    verifier.verify(issuer.token())
    clock.advance(POLICY.refresh_cooldown)
    for _ in range(3):
        with pytest.raises(KeyNotFoundError):
            verifier.verify(issuer.token(kid="never-published"))
    assert issuer.request_count("jwks") == 2


SHORT = CachePolicy(min_ttl=10, max_ttl=10, default_ttl=10, refresh_cooldown=30)


def test_expired_set_meets_an_unknown_kid_with_an_ordinary_refresh(
    make: Make, issuer: LocalIssuer, clock: FakeClock
) -> None:
    """With lifetimes (10 s) shorter than the cooldown (30 s), a rotated key is fetched as
    soon as the set has expired, not refused until the cooldown ends."""
    verifier = make(cache_policy=SHORT)
    verifier.verify(issuer.token())
    rotated = issuer.token(kid=issuer.rotate("ES256"))
    clock.advance(5)  # fresh, inside the cooldown: refused without a request
    with pytest.raises(KeyNotFoundError):
        verifier.verify(rotated)
    assert issuer.request_count("jwks") == 1
    clock.advance(6)  # expired, still inside the cooldown
    assert verifier.verify(rotated)["sub"] == "user-1"
    assert issuer.request_count("jwks") == 2


def test_expired_set_refresh_backs_off_when_it_fails(
    make: Make, issuer: LocalIssuer, clock: FakeClock
) -> None:
    """The ordinary refresh of an expired set obeys the backoff: after it fails, unknown
    kids are keys-unavailable without a request until the backoff ends."""
    verifier = make(cache_policy=SHORT)
    verifier.verify(issuer.token())
    rotated = issuer.token(kid=issuer.rotate("ES256"))
    issuer.fail("status", status=502)
    clock.advance(11)
    with pytest.raises(HTTPStatusError, match="HTTP 502"):
        verifier.verify(rotated)
    assert issuer.request_count("jwks") == 2
    with pytest.raises(HTTPStatusError, match="HTTP 502"):
        verifier.verify(rotated)
    assert issuer.request_count("jwks") == 2
    issuer.clear_faults()
    clock.advance(max_backoff(1))
    assert verifier.verify(rotated)["sub"] == "user-1"
    assert issuer.request_count("jwks") == 3
