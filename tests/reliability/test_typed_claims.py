"""Registered claims are typed, and a per-key issuer binding is never dropped (item 8).

``sub``, ``jti`` and ``iss`` are strings when present (RFC 7519 §4.1; PyJWT and joserfc
refuse other types too): an application using ``claims["sub"]`` as a user id must never
meet a number, a list or null. A key whose per-key ``issuer`` (Microsoft Entra's binding)
is not a string used to lose its binding silently and verify for every issuer; it is now
skipped with a reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from jwks_client import (
    InvalidClaimError,
    InvalidIssuerError,
    InvalidKeySetError,
    KeyRing,
    KeySetUnavailableError,
)
from jwks_client._claims import ClaimsPolicy, validate_claims
from jwks_client._keys import parse_jwks
from jwks_client.testing import OMIT, FakeClock, LocalIssuer

from ..faults import SHELLS, Facade, build

NOW = 1_704_067_200
OPEN = ClaimsPolicy(issuer=None, audiences=None)
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


@pytest.mark.parametrize("name", ["sub", "jti"])
@pytest.mark.parametrize("value", [42, 1.5, True, None, ["user-1"], {"id": "user-1"}])
def test_sub_and_jti_must_be_strings(
    make: Make, issuer: LocalIssuer, name: str, value: Any
) -> None:
    """A signed token whose sub or jti is present but not a string is refused, naming it."""
    verifier = make()
    with pytest.raises(InvalidClaimError, match=f"'{name}' must be a string") as caught:
        verifier.verify(issuer.token({name: value}))
    assert caught.value.claim == name


def test_absent_sub_and_jti_are_fine(make: Make, issuer: LocalIssuer) -> None:
    """sub and jti are optional: a token without them verifies."""
    claims = make().verify(issuer.token({"sub": OMIT, "jti": OMIT}))
    assert "sub" not in claims and "jti" not in claims


@pytest.mark.parametrize("value", [42, None, [], {"a": "b"}])
def test_iss_must_be_a_string_without_an_expected_issuer(value: Any) -> None:
    """With no expected issuer, a present iss must still be a string."""
    with pytest.raises(InvalidIssuerError, match="'iss' must be a string"):
        validate_claims({"exp": NOW + 60, "iss": value}, typ=None, policy=OPEN, now=NOW)
    validate_claims({"exp": NOW + 60, "iss": "anything"}, typ=None, policy=OPEN, now=NOW)


@pytest.mark.parametrize("value", [["https://issuer.example"], 1, None, True, {"x": "y"}])
def test_a_key_with_a_non_string_issuer_is_skipped(issuer: LocalIssuer, value: Any) -> None:
    """A key whose per-key issuer is not a string is skipped with a reason, never kept
    unbound."""
    jwk = issuer.public_jwk(issuer.signing_kid())
    ring = parse_jwks({"keys": [dict(jwk, issuer=value), dict(jwk, kid="bound", issuer="x")]})
    assert isinstance(ring, KeyRing)
    assert ring.kids == frozenset({"bound"})
    (skipped,) = ring.skipped
    assert skipped.index == 0
    assert skipped.reason.startswith("issuer ") and skipped.reason.endswith(" is not a string")


def test_a_set_whose_only_key_has_a_non_string_issuer_is_refused(
    make: Make, issuer: LocalIssuer
) -> None:
    """End to end: the key whose binding cannot be honoured verifies nothing."""
    jwk = issuer.public_jwk(issuer.signing_kid())
    issuer.serve_jwks({"keys": [dict(jwk, issuer=["https://elsewhere.example/"])]})
    with pytest.raises(InvalidKeySetError, match=r"issuer .* is not a string") as caught:
        make().verify(issuer.token())
    assert isinstance(caught.value, KeySetUnavailableError)
