"""One key store per source per process: verifiers share keys and single flight."""

from __future__ import annotations

import asyncio
import json
import threading

import httpx
import pytest

from jwks_client import (
    AsyncVerifier,
    CachePolicy,
    ConfigurationError,
    JWKSClient,
    KeyNotFoundError,
    KeySetUnavailableError,
    KeyStoreRegistry,
    Verifier,
)
from jwks_client._store import DEFAULT_REGISTRY, REGISTRY_SIZE
from jwks_client.testing import FakeClock, LocalIssuer
from tests.keyfactory import ECSigner

AUD = "https://api.example.com"


def test_two_verifiers_one_fetch(issuer: LocalIssuer, clock: FakeClock) -> None:
    """Two verifiers for the same issuer (and clock) cause one discovery and one fetch."""
    token = issuer.token()
    first = Verifier(issuer.issuer, audience=AUD, require_https=False, clock=clock)
    second = Verifier(issuer.issuer, audience="other", require_https=False, clock=clock)
    with first, second:
        assert first.verify(token)["sub"] == "user-1"
        assert second.verify(issuer.token(audience="other"))["aud"] == "other"
        assert first.jwks_client.state is second.jwks_client.state
    assert issuer.request_count("jwks") == 1
    assert issuer.request_count("discovery") == 1


def test_verifier_per_request_stays_warm(issuer: LocalIssuer, clock: FakeClock) -> None:
    """Creating (and closing) a verifier per request still fetches the keys only once."""
    for _ in range(20):
        with Verifier(issuer.issuer, audience=AUD, require_https=False, clock=clock) as v:
            assert v.verify(issuer.token())["sub"] == "user-1"
    assert issuer.request_count("jwks") == 1


def test_different_sources_do_not_share(issuer: LocalIssuer, clock: FakeClock) -> None:
    """A different JWKS URL, clock or cache policy gets a store of its own."""
    token = issuer.token()
    base = {"audience": AUD, "require_https": False}
    with Verifier(issuer.issuer, clock=clock, **base) as v:
        v.verify(token)
    with Verifier(issuer.issuer, clock=FakeClock(clock()), **base) as v:
        v.verify(token)
    with Verifier(
        issuer.issuer, clock=clock, cache_policy=CachePolicy(default_ttl=30), **base
    ) as v:
        v.verify(token)
    with Verifier(issuer.issuer, clock=clock, jwks_uri=issuer.jwks_uri, **base) as v:
        v.verify(token)
    assert issuer.request_count("jwks") == 4


def test_sync_and_async_share_one_in_flight_fetch(issuer: LocalIssuer, clock: FakeClock) -> None:
    """A thread and asyncio tasks needing the same keys wait on one request."""
    token = issuer.token()
    issuer.hold("jwks")
    sync_verifier = Verifier(
        issuer.issuer, audience=AUD, require_https=False, clock=clock, jwks_uri=issuer.jwks_uri
    )
    results: list[str] = []
    thread = threading.Thread(target=lambda: results.append(sync_verifier.verify(token)["sub"]))
    thread.start()
    assert issuer.wait_for_waiting(1, timeout=10)

    async def tasks() -> list[str]:
        async with AsyncVerifier(
            issuer.issuer,
            audience=AUD,
            require_https=False,
            clock=clock,
            jwks_uri=issuer.jwks_uri,
        ) as verifier:
            pending = [asyncio.create_task(verifier.verify(token)) for _ in range(20)]
            await asyncio.sleep(0)  # let the tasks reach the in-flight refresh
            assert not any(task.done() for task in pending)
            issuer.release("jwks")
            return [claims["sub"] for claims in await asyncio.gather(*pending)]

    assert asyncio.run(asyncio.wait_for(tasks(), timeout=30)) == ["user-1"] * 20
    thread.join(timeout=30)
    sync_verifier.close()
    assert results == ["user-1"]
    assert issuer.request_count("jwks") == 1


def test_jwks_client_and_verifier_share(issuer: LocalIssuer, clock: FakeClock) -> None:
    """The key layer used directly shares the store of a verifier on the same source."""
    with (
        JWKSClient(issuer.jwks_uri, require_https=False, clock=clock) as keys,
        Verifier(
            "any-issuer", audience=AUD, jwks_uri=issuer.jwks_uri, require_https=False, clock=clock
        ) as verifier,
    ):
        ring = keys.key_set()
        assert verifier.jwks_client.state.ring is ring
    assert issuer.request_count("jwks") == 1


def test_registry_is_bounded(issuer: LocalIssuer) -> None:
    """The process keeps at most REGISTRY_SIZE stores."""
    with httpx.Client() as client:
        for _ in range(REGISTRY_SIZE + 10):
            JWKSClient(
                issuer.jwks_uri, require_https=False, clock=FakeClock(), http_client=client
            ).close()
    assert len(DEFAULT_REGISTRY) <= REGISTRY_SIZE


def test_registry_shares_by_source_clock_and_client(issuer: LocalIssuer, clock: FakeClock) -> None:
    """Clients share a store when source, clock and user client agree; owned clients share."""
    registry = KeyStoreRegistry()
    with httpx.Client() as mine, httpx.Client() as other:
        make = lambda **kw: JWKSClient(  # noqa: E731
            issuer.jwks_uri, require_https=False, store_registry=registry, **kw
        )
        owned_a, owned_b = make(clock=clock), make(clock=clock)
        mine_a, mine_b = make(clock=clock, http_client=mine), make(clock=clock, http_client=mine)
        others = make(clock=clock, http_client=other)
        other_clock = make(clock=FakeClock())
        owned_a.key_set()
        assert owned_b.state.ring is owned_a.state.ring  # one store, one fetch
        assert issuer.request_count("jwks") == 1
        assert mine_a.state.ring is None and others.state.ring is None
        assert other_clock.state.ring is None
        mine_a.key_set()
        assert mine_b.state.ring is mine_a.state.ring
        assert others.state.ring is None
        assert issuer.request_count("jwks") == 2
        assert len(registry) == 4
        for keys in (owned_a, owned_b, mine_a, mine_b, others, other_clock):
            keys.close()


def test_two_mocked_clients_see_their_own_keys(clock: FakeClock) -> None:
    """Two verifiers mocking one URL with different key sets (one kid) never share keys."""
    url = "https://idp.test/jwks"
    claims = {"iss": "https://idp.test", "aud": AUD, "sub": "", "exp": clock() + 600}
    seen = []
    for sub in ("first", "second"):
        signer = ECSigner("same-kid")
        body = json.dumps({"keys": [signer.jwk()]}).encode()
        transport = httpx.MockTransport(
            lambda _request, body=body: httpx.Response(200, stream=httpx.ByteStream(body))
        )
        with (
            httpx.Client(transport=transport) as client,
            Verifier(
                "https://idp.test", audience=AUD, jwks_uri=url, http_client=client, clock=clock
            ) as verifier,
        ):
            seen.append(verifier.verify(signer.token({**claims, "sub": sub}))["sub"])
    assert seen == ["first", "second"]


def test_explicit_registry_isolates_and_clears(issuer: LocalIssuer, clock: FakeClock) -> None:
    """A registry of one's own shares nothing with the default one; clear() starts cold."""
    registry = KeyStoreRegistry(maxsize=4)
    with JWKSClient(issuer.jwks_uri, require_https=False, clock=clock) as default:
        default.key_set()
        with JWKSClient(
            issuer.jwks_uri, require_https=False, clock=clock, store_registry=registry
        ) as isolated:
            assert isolated.state.ring is None
            isolated.key_set()
        assert issuer.request_count("jwks") == 2
        registry.clear()
        assert len(registry) == 0
        with JWKSClient(
            issuer.jwks_uri, require_https=False, clock=clock, store_registry=registry
        ) as cold:
            assert cold.state.ring is None
    assert registry.maxsize == 4


@pytest.mark.parametrize("bad", [0, -1, True, "8"])
def test_registry_size_is_checked(bad: object) -> None:
    """A registry's maxsize must be a positive int."""
    with pytest.raises(ConfigurationError, match="maxsize"):
        KeyStoreRegistry(maxsize=bad)  # type: ignore[arg-type]


def test_store_registry_option_is_checked(issuer: LocalIssuer) -> None:
    """store_registry must be a KeyStoreRegistry."""
    with pytest.raises(ConfigurationError, match="store_registry"):
        JWKSClient(issuer.jwks_uri, require_https=False, store_registry={})  # type: ignore[arg-type]


def test_closed_client_never_leads_nor_records_a_failure(
    issuer: LocalIssuer, clock: FakeClock
) -> None:
    """A closed client asked for an unknown kid fails alone: the shared store is untouched."""
    policy = CachePolicy(refresh_cooldown=0)
    live = Verifier(
        issuer.issuer, audience=AUD, require_https=False, clock=clock, cache_policy=policy
    )
    closed = Verifier(
        issuer.issuer, audience=AUD, require_https=False, clock=clock, cache_policy=policy
    )
    with live:
        assert live.verify(issuer.token())["sub"] == "user-1"
        closed.close()
        new_kid = issuer.rotate()
        token = issuer.token(kid=new_kid)
        with pytest.raises(KeySetUnavailableError, match="closed"):
            closed.verify(token)
        state = live.jwks_client.state
        assert state.failures == 0 and state.last_error is None
        assert issuer.request_count("jwks") == 1
        assert live.verify(token)["sub"] == "user-1"  # the live one refreshes at once
        assert issuer.request_count("jwks") == 2
        # The closed one still serves what the shared store holds.
        assert closed.verify(token)["sub"] == "user-1"
        with pytest.raises(KeyNotFoundError):
            live.verify(issuer.token(kid="nobody"))


def test_user_closed_http_client_records_no_failure(issuer: LocalIssuer, clock: FakeClock) -> None:
    """An http_client its owner closed fails the call without putting the store in backoff."""
    client = httpx.Client()
    keys = JWKSClient(issuer.jwks_uri, require_https=False, clock=clock, http_client=client)
    client.close()
    with pytest.raises(KeySetUnavailableError, match="closed"):
        keys.key_set()
    assert keys.state.failures == 0 and not keys.state.refreshing
    assert issuer.request_count("jwks") == 0


def test_a_client_without_weak_references_still_keys_the_registry(
    issuer: LocalIssuer, clock: FakeClock
) -> None:
    """A user's client that cannot be weakly referenced is told apart by identity."""
    from jwks_client._config import make_source_config

    config = make_source_config(
        issuer=None,
        jwks_uri=issuer.jwks_uri,
        require_https=False,
        timeout=5,
        max_response_bytes=1_000_000,
        cache_policy=None,
    )
    registry = KeyStoreRegistry()
    mine, other = object(), object()  # plain objects take no weak references
    assert registry.store(config, clock, mine) is registry.store(config, clock, mine)
    assert registry.store(config, clock, mine) is not registry.store(config, clock, other)
    assert registry.store(config, clock) is not registry.store(config, clock, mine)
