"""Multi-issuer verifiers: an allowlist of issuers or a tenant template, bounded."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from jwks_client import (
    AsyncMultiIssuerVerifier,
    ConfigurationError,
    InvalidIssuerError,
    InvalidSignatureError,
    MalformedTokenError,
    MissingClaimError,
    MultiIssuerVerifier,
)
from jwks_client.testing import OMIT, FakeClock, LocalIssuer

AUD = "https://api.example.com"


@pytest.fixture
def tenants(clock: FakeClock) -> Iterator[tuple[LocalIssuer, LocalIssuer, LocalIssuer]]:
    """Three issuers on 127.0.0.1, each under the path /tenant."""
    with (
        LocalIssuer(algorithms=("ES256",), clock=clock, path="/tenant") as a,
        LocalIssuer(algorithms=("ES256",), clock=clock, path="/tenant") as b,
        LocalIssuer(algorithms=("ES256",), clock=clock, path="/tenant") as c,
    ):
        yield a, b, c


def port(issuer: LocalIssuer) -> str:
    return str(httpx.URL(issuer.issuer).port)


def test_allowlist(tenants: tuple[LocalIssuer, ...], clock: FakeClock) -> None:
    """Tokens of listed issuers verify, each with its own keys; others are refused unfetched."""
    a, b, c = tenants
    with MultiIssuerVerifier(
        [a.issuer, b.issuer], audience=AUD, require_https=False, clock=clock
    ) as verifier:
        assert verifier.verify(a.token())["iss"] == a.issuer
        assert verifier.verify(b.token())["iss"] == b.issuer
        with pytest.raises(InvalidIssuerError, match="is not accepted"):
            verifier.verify(c.token())
        # A token claiming issuer a but signed by b's key is refused by a's keys.
        forged = b.token({"iss": a.issuer}, kid=b.signing_kid())
        with pytest.raises((InvalidSignatureError, Exception)) as info:
            verifier.verify(forged)
        assert "KeyNotFoundError" in type(info.value).__name__ or isinstance(
            info.value, InvalidSignatureError
        )
    assert c.request_count() == 0
    assert a.request_count("jwks") == 1 and b.request_count("jwks") == 1


def test_template_with_tenant_allowlist(tenants: tuple[LocalIssuer, ...], clock: FakeClock) -> None:
    """A template accepts the allowed tenants only; the placeholder cannot smuggle a path."""
    a, b, c = tenants
    template = "http://127.0.0.1:{tenant}/tenant"
    with MultiIssuerVerifier(
        issuer_template=template,
        tenants={port(a), port(b)},
        audience=AUD,
        require_https=False,
        clock=clock,
    ) as verifier:
        assert verifier.allows(a.issuer) and not verifier.allows(c.issuer)
        assert not verifier.allows("http://127.0.0.1:1/evil/tenant")
        assert verifier.verify(a.token())["iss"] == a.issuer
        with pytest.raises(InvalidIssuerError):
            verifier.verify(c.token())


def test_template_with_predicate(tenants: tuple[LocalIssuer, ...], clock: FakeClock) -> None:
    """A predicate decides which tenants are accepted."""
    a, b, _ = tenants
    allowed = port(b)
    with MultiIssuerVerifier(
        issuer_template="http://127.0.0.1:{port}/tenant",
        tenants=lambda tenant: tenant == allowed,
        audience=AUD,
        require_https=False,
        clock=clock,
    ) as verifier:
        assert verifier.verify(b.token())["iss"] == b.issuer
        with pytest.raises(InvalidIssuerError):
            verifier.verify(a.token())


def test_live_issuers_bounded(tenants: tuple[LocalIssuer, ...], clock: FakeClock) -> None:
    """At most max_issuers verifiers are kept, least recently used evicted."""
    a, b, c = tenants
    with MultiIssuerVerifier(
        [a.issuer, b.issuer, c.issuer],
        audience=AUD,
        require_https=False,
        clock=clock,
        max_issuers=2,
    ) as verifier:
        for issuer in (a, b, c):
            verifier.verify(issuer.token())
        assert verifier.live_issuers == (b.issuer, c.issuer)
        # An evicted issuer comes back with warm keys: stores are shared per process.
        verifier.verify(a.token())
    assert a.request_count("jwks") == 1


def test_missing_or_bad_iss(tenants: tuple[LocalIssuer, ...], clock: FakeClock) -> None:
    """A token without iss, with a non-string iss, or malformed, is rejected early."""
    a, _, _ = tenants
    with MultiIssuerVerifier([a.issuer], audience=AUD, require_https=False, clock=clock) as v:
        with pytest.raises(MissingClaimError):
            v.verify(a.token({"iss": OMIT}))
        with pytest.raises(InvalidIssuerError):
            v.verify(a.token({"iss": ["x"]}))
        with pytest.raises(MalformedTokenError):
            v.verify("not.a.token")
    assert a.request_count() == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "give issuers"),
        ({"issuers": "https://a"}, "not a str"),
        ({"issuer_template": "https://x/{a}/{b}", "tenants": ["t"]}, "exactly one"),
        ({"issuer_template": "https://x/{t}"}, "needs tenants"),
        ({"issuers": ["https://a"], "tenants": ["t"]}, "only applies"),
        ({"issuers": ["https://a"], "max_issuers": 0}, "max_issuers"),
        ({"issuers": ["https://a"], "leeway": -1}, "leeway"),
    ],
)
def test_configuration_errors(kwargs: dict[str, object], message: str) -> None:
    """Invalid multi-issuer options are refused at construction."""
    with pytest.raises(ConfigurationError, match=message):
        MultiIssuerVerifier(audience=AUD, **kwargs)  # type: ignore[arg-type]


def test_async_multi(tenants: tuple[LocalIssuer, ...], clock: FakeClock) -> None:
    """The async twin verifies tokens of several issuers concurrently."""
    a, b, c = tenants

    async def main() -> list[str]:
        async with AsyncMultiIssuerVerifier(
            [a.issuer, b.issuer], audience=AUD, require_https=False, clock=clock
        ) as verifier:
            tokens = [a.token(), b.token()] * 10
            results = await asyncio.gather(*(verifier.verify(t) for t in tokens))
            with pytest.raises(InvalidIssuerError):
                await verifier.verify(c.token())
            return sorted({r["iss"] for r in results})

    assert asyncio.run(main()) == sorted([a.issuer, b.issuer])
    assert a.request_count("jwks") == 1 and b.request_count("jwks") == 1


def test_shared_jwks_uri_means_one_fetch(
    tenants: tuple[LocalIssuer, ...], clock: FakeClock
) -> None:
    """With one jwks_uri for every issuer, all issuers share one key store and one fetch."""
    a, b, _ = tenants
    with MultiIssuerVerifier(
        [a.issuer, b.issuer],
        audience=AUD,
        require_https=False,
        clock=clock,
        jwks_uri=a.jwks_uri,
    ) as verifier:
        assert verifier.verify(a.token())["iss"] == a.issuer
        # A token of issuer b, signed by a key of the shared set.
        assert verifier.verify(a.token({"iss": b.issuer}))["iss"] == b.issuer
    assert a.request_count("jwks") == 1
    assert b.request_count() == 0


def test_options_validated_once_without_a_throwaway_source(monkeypatch: pytest.MonkeyPatch) -> None:
    """Construction validates every option and registers no key store; a bad one fails."""
    from jwks_client import KeyStoreRegistry

    registry = KeyStoreRegistry()
    with MultiIssuerVerifier(
        ["https://a.example"], audience=AUD, store_registry=registry
    ) as verifier:
        assert verifier.live_issuers == ()
    assert len(registry) == 0
    with pytest.raises(ConfigurationError, match="timeout"):
        MultiIssuerVerifier(["https://a.example"], audience=AUD, timeout=0)
    with pytest.raises(ConfigurationError, match="leeway"):
        MultiIssuerVerifier(["https://a.example"], audience=AUD, leeway=-1)
    with pytest.raises(ConfigurationError, match="jwks_uri"):
        MultiIssuerVerifier(["https://a.example"], audience=AUD, jwks_uri="http://x/jwks")
    with pytest.raises(TypeError, match="no_such_option"):
        MultiIssuerVerifier(["https://a.example"], audience=AUD, no_such_option=1)


def test_each_token_is_parsed_once(
    tenants: tuple[LocalIssuer, ...], clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Choosing the issuer and verifying the token share one parse."""
    from jwks_client import _checker

    a = tenants[0]
    calls = []
    real = _checker.HeaderMemo.parse

    def counting(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(_checker.HeaderMemo, "parse", counting)
    with MultiIssuerVerifier([a.issuer], audience=AUD, require_https=False, clock=clock) as v:
        assert v.verify(a.token())["iss"] == a.issuer
        assert v.verify(a.token())["iss"] == a.issuer
    assert len(calls) == 2
