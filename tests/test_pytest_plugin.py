"""The pytest11 plugin's fixtures, used as a downstream project would use them."""

from __future__ import annotations

import pytest

from jwks_client import ExpiredTokenError, Verifier
from jwks_client.testing import FakeClock, LocalIssuer


def test_fixtures_verify_a_token(jwks_issuer: LocalIssuer, jwks_verifier: Verifier) -> None:
    """The plugin's verifier accepts the plugin's issuer's tokens."""
    claims = jwks_verifier.verify(jwks_issuer.token({"sub": "alice"}))
    assert claims["sub"] == "alice"
    assert jwks_issuer.request_count("jwks") == 1


def test_fixtures_share_the_clock(
    jwks_issuer: LocalIssuer, jwks_verifier: Verifier, jwks_clock: FakeClock
) -> None:
    """Advancing the shared fake clock expires the issuer's tokens for the verifier."""
    token = jwks_issuer.token(expires_in=60)
    assert jwks_verifier.verify(token)
    jwks_clock.advance(121)  # past exp + the default 60 s leeway
    with pytest.raises(ExpiredTokenError):
        jwks_verifier.verify(token)
