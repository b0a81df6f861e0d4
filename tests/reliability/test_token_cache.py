"""No shared mutable claims with the verified-token cache (issue 10, item 4).

With ``verified_token_cache_size``, every call for the same token used to get claims
sharing nested arrays with the cache entry: a request that appended to
``claims["roles"]`` granted the role to every later request with that token (and the
integrations' scope checks trust the claims). A cache hit also skipped the key's issuer
binding, which the key set may have changed since.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from jwks_client import AsyncVerifier, InvalidIssuerError, Verifier
from jwks_client._checker import copy_claims
from jwks_client.testing import FakeClock, LocalIssuer

from ..faults import SHELLS, Facade, build

Make = Callable[..., Facade]


@pytest.fixture(params=SHELLS)
def make(request: pytest.FixtureRequest, issuer: LocalIssuer, clock: FakeClock) -> Iterator[Make]:
    made: list[Facade] = []

    def factory(**options: Any) -> Facade:
        options.setdefault("verified_token_cache_size", 16)
        facade = build(request.param, issuer, clock, jwks_uri=issuer.jwks_uri, **options)
        made.append(facade)
        return facade

    yield factory
    for facade in made:
        facade.close()


def refresh(facade: Facade) -> None:
    """Refresh the facade's key set now."""
    verifier = facade.verifier
    if isinstance(verifier, AsyncVerifier):
        assert facade.loop is not None
        facade.loop.run_until_complete(verifier.jwks_client.refresh())
    else:
        assert isinstance(verifier, Verifier)
        verifier.jwks_client.refresh()


def test_a_caller_changing_its_claims_changes_nobody_elses(make: Make, issuer: LocalIssuer) -> None:
    """Claims returned for a cached token are each the caller's own: changing one call's
    nested arrays, objects or members changes neither later calls nor the cache."""
    verifier = make()
    token = issuer.token({"roles": ["reader"], "ext": {"groups": ["a"]}})
    first = verifier.verify(token)
    first["roles"].append("admin")
    first["ext"]["groups"].append("root")
    first["scope"] = "admin"
    second = verifier.verify(token)
    assert verifier.verifier.stats().token_cache_hits == 1
    assert second["roles"] == ["reader"] and second["ext"] == {"groups": ["a"]}
    assert second["scope"] == "read"
    second["roles"].clear()
    third = verifier.verify(token)
    assert third["roles"] == ["reader"]
    assert verifier.verifier.stats().token_cache_hits == 2


def test_a_cache_hit_rechecks_the_keys_issuer_binding(make: Make, issuer: LocalIssuer) -> None:
    """A cached token is refused once the key set binds its key to another issuer, as an
    uncached verification would refuse it."""
    jwk = issuer.public_jwk(issuer.signing_kid())
    issuer.serve_jwks({"keys": [dict(jwk, issuer=issuer.issuer)]})
    verifier = make()
    token = issuer.token()
    assert verifier.verify(token)["iss"] == issuer.issuer
    assert verifier.verify(token)["iss"] == issuer.issuer
    assert verifier.verifier.stats().token_cache_hits == 1

    issuer.serve_jwks({"keys": [dict(jwk, issuer="https://other.example/")]})
    refresh(verifier)
    with pytest.raises(InvalidIssuerError, match="is published for"):
        verifier.verify(token)
    uncached = make(verified_token_cache_size=0)
    with pytest.raises(InvalidIssuerError, match="is published for"):
        uncached.verify(token)


def test_copy_claims_shares_nothing_mutable() -> None:
    """copy_claims copies arrays and objects at every depth and keeps leaves equal."""
    claims: dict[str, Any] = {"a": [1, {"b": [2]}], "c": {"d": {"e": []}}, "s": "x", "n": None}
    copied = copy_claims(claims)
    assert copied == claims
    assert copied["a"] is not claims["a"] and copied["a"][1] is not claims["a"][1]
    assert copied["a"][1]["b"] is not claims["a"][1]["b"]
    assert copied["c"]["d"]["e"] is not claims["c"]["d"]["e"]
