"""The pytest11 plugin's fixtures and markers, used as a downstream project would use them."""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from base64 import urlsafe_b64decode
from typing import Any

import pytest

import jwks_client.pytest_plugin as plugin
from jwks_client import (
    AsyncVerifier,
    ExpiredTokenError,
    InvalidAudienceError,
    KeyNotFoundError,
    Verifier,
)
from jwks_client.pytest_plugin import TokenFactory
from jwks_client.testing import FakeClock, LocalIssuer

pytest_plugins = ["pytester"]


def header_of(token: str) -> dict[str, Any]:
    segment = token.split(".")[0]
    decoded: dict[str, Any] = json.loads(urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    return decoded


# --- the fixtures with their defaults ------------------------------------------------------


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


def test_default_issuer_holds_es256_and_rs256_keys(jwks_issuer: LocalIssuer) -> None:
    """Without configuration the issuer publishes an ES256 and an RS256 key, ES256 signing."""
    algs = [jwks_issuer.public_jwk(kid)["alg"] for kid in jwks_issuer.kids()]
    assert algs == list(plugin.DEFAULT_ISSUER_ALGORITHMS)
    assert jwks_issuer.signing_kid() == jwks_issuer.kids()[0]


def test_token_factory_mints_with_claims_and_options(
    jwks_token: TokenFactory, jwks_verifier: Verifier, jwks_issuer: LocalIssuer
) -> None:
    """jwks_token passes claims and LocalIssuer.token options through, minted by jwks_issuer."""
    token = jwks_token({"sub": "carol", "scope": "orders:read"}, alg="RS256", expires_in=60)
    assert header_of(token)["alg"] == "RS256"
    claims = jwks_verifier.verify(token)
    assert (claims["sub"], claims["scope"], claims["iss"]) == (
        "carol",
        "orders:read",
        jwks_issuer.issuer,
    )
    assert claims["exp"] - claims["iat"] == 60


def test_token_factory_defaults(jwks_token: TokenFactory, jwks_verifier: Verifier) -> None:
    """jwks_token() with no argument mints a token the default verifier accepts."""
    claims = jwks_verifier.verify(jwks_token())
    assert claims["aud"] == plugin.DEFAULT_AUDIENCE
    assert claims["sub"] == "user-1"


def test_tokens_verify_on_the_real_clock(
    jwks_issuer: LocalIssuer, jwks_token: TokenFactory, jwks_clock: FakeClock
) -> None:
    """jwks_token's tokens are valid now for a verifier of the user's on the real clock."""
    assert abs(jwks_clock() - time.time()) < 60
    with Verifier(
        jwks_issuer.issuer, audience=plugin.DEFAULT_AUDIENCE, require_https=False
    ) as verifier:
        assert verifier.verify(jwks_token({"sub": "erin"}))["sub"] == "erin"


async def test_async_verifier_fixture(
    jwks_async_verifier: AsyncVerifier, jwks_token: TokenFactory, jwks_issuer: LocalIssuer
) -> None:
    """jwks_async_verifier verifies the issuer's tokens in an async test."""
    claims = await jwks_async_verifier.verify(jwks_token({"sub": "dave"}))
    assert claims["sub"] == "dave"
    assert jwks_issuer.request_count("jwks") == 1


async def test_async_verifier_shares_the_clock(
    jwks_async_verifier: AsyncVerifier, jwks_token: TokenFactory, jwks_clock: FakeClock
) -> None:
    """The async verifier runs on jwks_clock too: advancing it expires tokens."""
    token = jwks_token(expires_in=60)
    await jwks_async_verifier.verify(token)
    jwks_clock.advance(121)
    with pytest.raises(ExpiredTokenError):
        await jwks_async_verifier.verify(token)


# --- configuration by marker and by indirect parameter ---------------------------------------


@pytest.mark.jwks_issuer(algorithms=["RS256"], path="/tenant")
def test_issuer_marker_configures_the_issuer(
    jwks_issuer: LocalIssuer, jwks_verifier: Verifier, jwks_token: TokenFactory
) -> None:
    """@pytest.mark.jwks_issuer passes its options to LocalIssuer; the verifier follows."""
    assert jwks_issuer.issuer.endswith("/tenant")
    assert [jwks_issuer.public_jwk(kid)["kty"] for kid in jwks_issuer.kids()] == ["RSA"]
    token = jwks_token()
    assert header_of(token)["alg"] == "RS256"
    assert jwks_verifier.verify(token)["iss"] == jwks_issuer.issuer


@pytest.mark.jwks_issuer(cache_control="max-age=30", clock=FakeClock(1_000_000_000.0))
def test_issuer_marker_may_replace_the_clock(jwks_issuer: LocalIssuer) -> None:
    """A clock given to the marker replaces jwks_clock for the issuer."""
    token = jwks_issuer.token()
    segment = token.split(".")[1]
    payload = json.loads(urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    assert payload["iat"] == 1_000_000_000


@pytest.mark.jwks_verifier(audience="api://orders", leeway=0)
async def test_verifier_marker_configures_both_verifiers(
    jwks_verifier: Verifier, jwks_async_verifier: AsyncVerifier, jwks_token: TokenFactory
) -> None:
    """@pytest.mark.jwks_verifier options reach the sync and the async verifier."""
    good = jwks_token(audience="api://orders")
    default = jwks_token()
    assert jwks_verifier.verify(good)["aud"] == "api://orders"
    assert (await jwks_async_verifier.verify(good))["aud"] == "api://orders"
    with pytest.raises(InvalidAudienceError):
        jwks_verifier.verify(default)
    with pytest.raises(InvalidAudienceError):
        await jwks_async_verifier.verify(default)


@pytest.mark.jwks_issuer(path="/ignored")
@pytest.mark.parametrize(
    "jwks_issuer",
    [{"algorithms": ["EdDSA"]}, {"algorithms": ["PS256"], "discovery": "oauth", "path": "/t"}],
    indirect=True,
)
def test_indirect_parameter_configures_the_issuer(
    jwks_issuer: LocalIssuer, jwks_verifier: Verifier, jwks_token: TokenFactory
) -> None:
    """An indirect jwks_issuer parameter passes options, winning over the marker's."""
    (kid,) = jwks_issuer.kids()
    alg = jwks_issuer.public_jwk(kid)["alg"]
    assert alg in ("EdDSA", "PS256")
    assert jwks_issuer.issuer.endswith("/t" if alg == "PS256" else "/ignored")
    assert jwks_verifier.verify(jwks_token())["iss"] == jwks_issuer.issuer


def test_unknown_kid_fixture_behaviour(jwks_token: TokenFactory, jwks_verifier: Verifier) -> None:
    """The fixtures expose the library's behaviour: an unknown kid is a KeyNotFoundError."""
    with pytest.raises(KeyNotFoundError, match="'nobody'"):
        jwks_verifier.verify(jwks_token(kid="nobody"))


def test_markers_are_registered(pytestconfig: pytest.Config) -> None:
    """Both markers are registered, so --strict-markers accepts them."""
    markers = "\n".join(pytestconfig.getini("markers"))
    assert "jwks_issuer(**options)" in markers
    assert "jwks_verifier(**options)" in markers


# --- without pytest-asyncio ---------------------------------------------------------------------


def test_plugin_loads_without_pytest_asyncio(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without pytest-asyncio the plugin imports and defines every fixture but the async one."""
    monkeypatch.setitem(sys.modules, "pytest_asyncio", None)  # makes it unimportable
    spec = importlib.util.spec_from_file_location(
        "jwks_client._pytest_plugin_probe", plugin.__file__
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for name in ("jwks_clock", "jwks_issuer", "jwks_token", "jwks_verifier"):
        assert hasattr(module, name) and name in module.__all__
    assert not hasattr(module, "jwks_async_verifier")
    assert "jwks_async_verifier" not in module.__all__
    assert "jwks_async_verifier" in plugin.__all__  # the installed plugin has it


# --- a downstream project ---------------------------------------------------------------------

DOWNSTREAM = """
import pytest

seen = {}


def test_sync(jwks_verifier, jwks_token):
    seen["sync"] = jwks_verifier
    assert jwks_verifier.verify(jwks_token({"sub": "bob"}))["sub"] == "bob"


async def test_async(jwks_async_verifier, jwks_token):
    seen["async"] = jwks_async_verifier
    assert (await jwks_async_verifier.verify(jwks_token()))["sub"] == "user-1"


def test_verifiers_were_closed():
    assert seen["sync"].jwks_client._http.is_closed
    assert seen["async"].jwks_client._http.is_closed


@pytest.mark.jwks_issuer(algorithms=["ES384"], path="/tenant")
def test_marker(jwks_issuer, jwks_verifier, jwks_token):
    assert jwks_issuer.issuer.endswith("/tenant")
    assert jwks_verifier.verify(jwks_token())["iss"] == jwks_issuer.issuer


@pytest.mark.jwks_issuer("RS256")
def test_positional_marker_arguments(jwks_issuer):
    pass


@pytest.mark.jwks_issuer(colour="red")
def test_unknown_issuer_option(jwks_issuer):
    pass
"""


def test_downstream_project_uses_the_fixtures_without_imports(pytester: pytest.Pytester) -> None:
    """A downstream test file uses the fixtures and markers with no import of the plugin."""
    pytester.makeini(
        """
        [pytest]
        asyncio_mode = auto
        asyncio_default_fixture_loop_scope = function
        filterwarnings = error
        """
    )
    pytester.makepyfile(test_downstream=DOWNSTREAM)
    result = pytester.runpytest_inprocess("--strict-markers", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=4, errors=2)
    result.stdout.fnmatch_lines(
        [
            "*ConfigurationError: @pytest.mark.jwks_issuer takes keyword arguments only*",
            "*ConfigurationError: invalid jwks_issuer options*colour*",
        ],
        consecutive=False,
    )
