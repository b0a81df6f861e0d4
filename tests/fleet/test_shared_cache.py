"""The fleet's shared key cache on a real redis-server, one process standing in for many.

Each "process" is a verifier with a key-store registry of its own (so nothing is shared in
process memory); they meet only in Redis. Real processes are in test_processes.py.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
import redis.asyncio

from jwks_client import (
    AsyncVerifier,
    CachePolicy,
    ConfigurationError,
    KeyNotFoundError,
    KeySetUnavailableError,
    KeyStoreRegistry,
    MultiIssuerVerifier,
    Verifier,
)
from jwks_client.redis import AsyncRedisKeyCache, RedisKeyCache
from jwks_client.testing import FakeClock, LocalIssuer
from tests.redis_support import RedisServer, no_retries

AUD = "https://api.example.com"
POLICY = CachePolicy(refresh_ahead=0, refresh_cooldown=30, default_ttl=600)

Make = Callable[..., Verifier]


@pytest.fixture
def make(issuer: LocalIssuer, clock: FakeClock, shared: RedisKeyCache) -> Iterator[Make]:
    """A verifier of its own "process": its own registry, the fleet's Redis."""
    made: list[Verifier] = []

    def factory(**options: Any) -> Verifier:
        options.setdefault("shared_cache", shared)
        options.setdefault("cache_policy", POLICY)
        verifier = Verifier(
            issuer.issuer,
            audience=AUD,
            require_https=False,
            clock=clock,
            store_registry=KeyStoreRegistry(),
            **options,
        )
        made.append(verifier)
        return verifier

    yield factory
    for verifier in made:
        verifier.close()


def _commands(client: redis.Redis) -> dict[str, int]:
    stats = client.info("commandstats")
    return {name: int(value["calls"]) for name, value in stats.items()}


def test_warm_verify_never_touches_redis(
    make: Make, issuer: LocalIssuer, redis_client: redis.Redis
) -> None:
    """Once a process holds fresh keys, verifying sends nothing to Redis."""
    verifier = make()
    token = issuer.token()
    verifier.verify(token)
    before = _commands(redis_client)
    for _ in range(50):
        assert verifier.verify(token)["sub"] == "user-1"
    after = _commands(redis_client)
    after.pop("cmdstat_info", None)
    before.pop("cmdstat_info", None)
    assert after == before


def test_a_second_process_adopts_the_fleets_keys(make: Make, issuer: LocalIssuer) -> None:
    """One discovery and one JWKS fetch serve every process: later ones read Redis."""
    first, second, third = make(), make(), make()
    token = issuer.token()
    assert first.verify(token)["sub"] == "user-1"
    assert second.verify(token)["sub"] == "user-1"
    assert third.verify(token)["sub"] == "user-1"
    assert issuer.request_count("jwks") == 1
    assert issuer.request_count("discovery") == 1
    assert first.stats().shared_cache_hits == 0
    assert second.stats().shared_cache_hits == 1
    assert second.jwks_client.state.fetched_at == first.jwks_client.state.fetched_at


def test_expiry_renews_once_for_the_fleet(
    make: Make, issuer: LocalIssuer, clock: FakeClock
) -> None:
    """When the set expires, the first process refreshes and the others adopt its set."""
    processes = [make() for _ in range(4)]
    token = issuer.token(expires_in=100_000)
    for verifier in processes:
        verifier.verify(token)
    assert issuer.request_count("jwks") == 1
    clock.advance(POLICY.stale_if_error + 700)  # past the set's lifetime and stale window
    for verifier in processes:
        assert verifier.verify(token)["sub"] == "user-1"
    assert issuer.request_count("jwks") == 2


def test_a_rotation_costs_the_issuer_one_request(
    make: Make, issuer: LocalIssuer, clock: FakeClock
) -> None:
    """A new kid reaching every process is fetched by the first; the rest find it in Redis."""
    processes = [make() for _ in range(4)]
    for verifier in processes:
        verifier.verify(issuer.token())
    clock.advance(POLICY.refresh_cooldown + 1)
    new_kid = issuer.rotate("ES256")
    token = issuer.token(kid=new_kid)
    for verifier in processes:
        assert verifier.verify(token)["sub"] == "user-1"
    assert issuer.request_count("jwks") == 2
    assert sum(v.stats().shared_cache_hits for v in processes) >= 3


def test_the_unknown_kid_cooldown_is_fleet_wide(
    make: Make, issuer: LocalIssuer, clock: FakeClock
) -> None:
    """A random-kid flood over many processes costs at most one forced refresh per cooldown."""
    processes = [make() for _ in range(5)]
    for verifier in processes:
        verifier.verify(issuer.token())
    assert issuer.request_count("jwks") == 1
    clock.advance(POLICY.refresh_cooldown + 1)
    for round_ in range(3):
        for i, verifier in enumerate(processes):
            for j in range(3):
                forged = issuer.token(kid=f"random-{round_}-{i}-{j}")
                with pytest.raises(KeyNotFoundError):
                    verifier.verify(forged)
        assert issuer.request_count("jwks") == 2 + round_
        clock.advance(POLICY.refresh_cooldown + 1)


def test_a_kid_confirmed_absent_is_remembered_by_the_fleet(
    make: Make, issuer: LocalIssuer, clock: FakeClock
) -> None:
    """A kid one process's refresh found absent spends no refresh in another, even after
    the cooldown (within the absent-kid memory)."""
    first, second = make(), make()
    first.verify(issuer.token())
    second.verify(issuer.token())
    clock.advance(POLICY.refresh_cooldown + 1)
    forged = issuer.token(kid="nobody")
    with pytest.raises(KeyNotFoundError):
        first.verify(forged)
    assert issuer.request_count("jwks") == 2
    clock.advance(POLICY.refresh_cooldown + 1)
    with pytest.raises(KeyNotFoundError):
        second.verify(forged)
    assert issuer.request_count("jwks") == 2


def test_backoff_and_stale_keys_are_shared_in_an_outage(
    make: Make, issuer: LocalIssuer, clock: FakeClock
) -> None:
    """While the issuer is down, one process probes it; a new process seeds from Redis and
    serves the last good keys within the stale window; nobody else probes."""
    first = make()
    token = issuer.token(expires_in=100_000)
    first.verify(token)
    clock.advance(700)  # expired, within stale_if_error
    issuer.fail("status", status=503, path="all")
    with pytest.raises(KeySetUnavailableError):  # undecidable while the refresh fails
        first.verify(issuer.token(kid="rotated-away"))
    probes = issuer.request_count()
    newcomer = make()
    assert newcomer.verify(token)["sub"] == "user-1"  # stale keys from Redis
    with pytest.raises((KeyNotFoundError, KeySetUnavailableError)):
        newcomer.verify(issuer.token(kid="another"))
    assert issuer.request_count() == probes
    assert newcomer.jwks_client.state.retry_at > clock()


def test_a_crashed_lock_holder_delays_the_fleet_at_most_the_lock_lifetime(
    make: Make, issuer: LocalIssuer, redis_client: redis.Redis, shared: RedisKeyCache
) -> None:
    """A lock left by a holder that died expires; the next process then fetches."""
    verifier = make(timeout=0.3)
    names = shared.protocol.names(verifier.jwks_client.engine.config)
    redis_client.set(names.lock, b"dead-holder", px=600)
    assert verifier.verify(issuer.token())["sub"] == "user-1"
    assert issuer.request_count("jwks") == 1
    assert redis_client.get(names.lock) is None  # released by the new holder


@pytest.mark.parametrize(
    "value",
    [b"garbage", b"[]", b'{"snapshot": 1}', json.dumps({"snapshot": {}}).encode(), b"\xff" * 10],
)
def test_garbage_in_redis_is_ignored(
    make: Make,
    issuer: LocalIssuer,
    redis_client: redis.Redis,
    shared: RedisKeyCache,
    value: bytes,
) -> None:
    """A value that is not a sealed snapshot reads as absent: the process fetches."""
    verifier = make()
    names = shared.protocol.names(verifier.jwks_client.engine.config)
    redis_client.set(names.keys, value)
    redis_client.set(names.backoff, value)
    redis_client.set(names.attempt, value)
    assert verifier.verify(issuer.token())["sub"] == "user-1"
    assert issuer.request_count("jwks") == 1


def test_entries_signed_with_another_key_or_altered_are_ignored(
    make: Make, issuer: LocalIssuer, redis_client: redis.Redis
) -> None:
    """With a signing key, an entry signed with another key, altered, or unsigned is
    ignored (each costs the process a fetch of its own)."""
    other = RedisKeyCache(redis_client, signing_key=b"o" * 32)
    writer = make(shared_cache=other)
    writer.verify(issuer.token())
    assert issuer.request_count("jwks") == 1
    reader = make()  # the fixture's key
    reader.verify(issuer.token())
    assert issuer.request_count("jwks") == 2
    names = other.protocol.names(reader.jwks_client.engine.config)
    sealed = json.loads(redis_client.get(names.keys))
    sealed["snapshot"]["fetched_at"] += 1  # altered after signing
    redis_client.set(names.keys, json.dumps(sealed))
    unsigned = make(shared_cache=RedisKeyCache(redis_client))  # trusts Redis
    assert unsigned.verify(issuer.token())["sub"] == "user-1"
    assert issuer.request_count("jwks") == 2  # accepted the entry as it is
    third = make()
    third.verify(issuer.token())
    assert issuer.request_count("jwks") == 3  # the altered entry was refused


def test_a_value_over_the_size_cap_is_refused(
    make: Make, issuer: LocalIssuer, redis_client: redis.Redis, shared: RedisKeyCache
) -> None:
    """An entry larger than the response cap allows is ignored."""
    verifier = make(max_response_bytes=4096)
    names = shared.protocol.names(verifier.jwks_client.engine.config)
    redis_client.set(names.keys, b"{" + b" " * 20_000 + b"}")
    assert verifier.verify(issuer.token())["sub"] == "user-1"
    assert issuer.request_count("jwks") == 1


def test_redis_down_at_start_changes_nothing_but_stats(make: Make, issuer: LocalIssuer) -> None:
    """With nothing listening, verification works as without Redis; errors are counted."""
    dead = RedisKeyCache(redis.Redis(host="127.0.0.1", port=1, retry=no_retries()), retry_after=60)
    verifier = make(shared_cache=dead)
    assert verifier.verify(issuer.token())["sub"] == "user-1"
    assert verifier.stats().shared_cache_errors >= 1
    assert not dead.available and dead.errors >= 1
    second = make(shared_cache=dead)
    assert second.verify(issuer.token())["sub"] == "user-1"  # breaker open: no wait
    assert issuer.request_count("jwks") == 2


def test_a_frozen_redis_costs_one_budget_then_recovers(
    make: Make, issuer: LocalIssuer, redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A Redis that stops answering (SIGSTOP, no socket timeout on the client) is given up
    after the operation budget; the verifier fetches itself; after it resumes, the cache is
    used again, and the outage is logged once."""
    client = redis.Redis.from_url(redis_server.url)
    cache = RedisKeyCache(client, operation_timeout=0.2, retry_after=0.1)
    try:
        redis_server.pause()
        try:
            first = make(shared_cache=cache)
            assert first.verify(issuer.token())["sub"] == "user-1"
            second = make(shared_cache=cache)
            assert second.verify(issuer.token())["sub"] == "user-1"
        finally:
            redis_server.resume()
        assert not cache.available
        outage_lines = [r for r in caplog.records if "is unavailable" in r.getMessage()]
        assert len(outage_lines) == 1
        assert issuer.request_count("jwks") == 2
        # Recovery: the frozen operation drains, then the cache answers again.
        third = None
        for _ in range(50):  # bounded: the breaker reopens after retry_after
            third = make(shared_cache=cache)
            third.verify(issuer.token())
            if cache.available:
                break
            client.ping()
        assert cache.available
    finally:
        client.close()


def test_async_and_sync_processes_share_the_fleets_keys(
    issuer: LocalIssuer, clock: FakeClock, shared: RedisKeyCache, redis_server: RedisServer
) -> None:
    """An AsyncVerifier adopts the set a sync verifier published, and the reverse."""
    token = issuer.token()
    with Verifier(
        issuer.issuer,
        audience=AUD,
        require_https=False,
        clock=clock,
        shared_cache=shared,
        store_registry=KeyStoreRegistry(),
    ) as sync_verifier:
        sync_verifier.verify(token)

    async def run() -> int:
        client = redis.asyncio.Redis.from_url(redis_server.url)
        cache = AsyncRedisKeyCache(client, signing_key=b"k" * 32)
        try:
            async with AsyncVerifier(
                issuer.issuer,
                audience=AUD,
                require_https=False,
                clock=clock,
                shared_cache=cache,
                store_registry=KeyStoreRegistry(),
            ) as verifier:
                assert (await verifier.verify(token))["sub"] == "user-1"
                return verifier.stats().shared_cache_hits
        finally:
            await client.aclose()

    assert asyncio.run(run()) == 1
    assert issuer.request_count("jwks") == 1


def test_shared_cache_of_the_wrong_flavour_is_refused(
    issuer: LocalIssuer, shared: RedisKeyCache, redis_client: redis.Redis
) -> None:
    """A sync verifier refuses an async cache and the reverse, and anything else."""
    with pytest.raises(ConfigurationError, match="RedisKeyCache"):
        AsyncVerifier(issuer.issuer, audience=AUD, require_https=False, shared_cache=shared)
    async_cache = AsyncRedisKeyCache(redis_client)
    with pytest.raises(ConfigurationError, match="RedisKeyCache"):
        Verifier(issuer.issuer, audience=AUD, require_https=False, shared_cache=async_cache)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="shared_cache"):
        Verifier(issuer.issuer, audience=AUD, require_https=False, shared_cache=object())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"namespace": ""}, "namespace"),
        ({"namespace": "a b"}, "namespace"),
        ({"signing_key": b"short"}, "signing_key"),
        ({"signing_key": "str-key-of-enough-length"}, "signing_key"),
        ({"operation_timeout": 0}, "operation_timeout"),
        ({"retry_after": float("nan")}, "retry_after"),
    ],
)
def test_cache_options_are_checked(
    redis_client: redis.Redis, options: dict[str, Any], match: str
) -> None:
    """Bad shared-cache options fail at construction."""
    with pytest.raises(ConfigurationError, match=match):
        RedisKeyCache(redis_client, **options)


def test_multi_issuer_verifiers_share_through_redis(
    issuer: LocalIssuer, clock: FakeClock, shared: RedisKeyCache
) -> None:
    """A multi-issuer verifier takes shared_cache= and adopts what another process fetched."""
    token = issuer.token()
    for _ in range(2):
        with MultiIssuerVerifier(
            [issuer.issuer],
            audience=AUD,
            require_https=False,
            clock=clock,
            shared_cache=shared,
            store_registry=KeyStoreRegistry(),
        ) as verifier:
            assert verifier.verify(token)["sub"] == "user-1"
    assert issuer.request_count("jwks") == 1


def test_a_full_or_flushed_redis_changes_nothing_but_stats(
    make: Make, issuer: LocalIssuer, redis_client: redis.Redis, clock: FakeClock
) -> None:
    """Redis refusing writes (out of memory) or losing everything (FLUSHALL) leaves every
    process verifying; a refused write is counted and announced."""
    events: list[object] = []
    first = make(on_event=events.append)
    redis_client.config_set("maxmemory-policy", "noeviction")
    redis_client.config_set("maxmemory", "1")
    try:
        assert first.verify(issuer.token())["sub"] == "user-1"
    finally:
        redis_client.config_set("maxmemory", "0")
    assert first.stats().shared_cache_errors >= 1
    assert any(type(e).__name__ == "SharedCacheUnavailable" for e in events)
    redis_client.flushall()
    clock.advance(POLICY.stale_if_error + 700)
    second = make()
    assert second.verify(issuer.token())["sub"] == "user-1"
    assert first.verify(issuer.token())["sub"] == "user-1"


def test_a_newcomer_keeps_the_fleets_stale_keys_when_its_own_fetch_fails(
    make: Make,
    issuer: LocalIssuer,
    clock: FakeClock,
    redis_client: redis.Redis,
    shared: RedisKeyCache,
) -> None:
    """With no fleet backoff recorded, a cold process tries the failing issuer itself, and
    then serves the fleet's last good keys (within the stale window) instead of failing."""
    first = make()
    token = issuer.token(expires_in=100_000)
    first.verify(token)
    clock.advance(700)  # expired, within stale_if_error
    issuer.fail("status", status=503, path="all")
    newcomer = make()
    assert newcomer.verify(token)["sub"] == "user-1"
    state = newcomer.jwks_client.state
    assert state.failures == 1 and state.last_error is not None
    names = shared.protocol.names(newcomer.jwks_client.engine.config)
    assert redis_client.get(names.backoff) is not None  # the fleet now backs off too


def test_refresh_ahead_renews_once_for_the_fleet(
    make: Make, issuer: LocalIssuer, clock: FakeClock
) -> None:
    """At the refresh-ahead point each process starts a background refresh; one fetches,
    the others adopt what it published."""
    ahead = CachePolicy(refresh_ahead=0.5, default_ttl=600)
    processes = [make(cache_policy=ahead) for _ in range(4)]
    token = issuer.token(expires_in=100_000)
    for verifier in processes:
        verifier.verify(token)
    assert issuer.request_count("jwks") == 1
    clock.advance(400)  # past half the lifetime, still fresh
    for verifier in processes:
        assert verifier.verify(token)["sub"] == "user-1"
        assert verifier.jwks_client.join_background(10)
    assert issuer.request_count("jwks") == 2
    fetched = {v.jwks_client.state.fetched_at for v in processes}
    assert fetched == {clock()}


def test_redis_dying_mid_run_and_coming_back(issuer: LocalIssuer, clock: FakeClock) -> None:
    """A Redis killed mid-run leaves verification working; once restarted on its port,
    the cache is used again (the client reconnects)."""
    from tests.redis_support import RedisServer, _free_port

    server = RedisServer(_free_port())
    server.start()
    client = redis.Redis.from_url(server.url, retry=no_retries())
    cache = RedisKeyCache(client, retry_after=0.05)
    made: list[Verifier] = []

    def process() -> Verifier:
        verifier = Verifier(
            issuer.issuer,
            audience=AUD,
            require_https=False,
            clock=clock,
            cache_policy=POLICY,
            shared_cache=cache,
            store_registry=KeyStoreRegistry(),
        )
        made.append(verifier)
        return verifier

    try:
        process().verify(issuer.token())
        assert issuer.request_count("jwks") == 1
        server.stop()
        assert process().verify(issuer.token())["sub"] == "user-1"  # fetched on its own
        assert issuer.request_count("jwks") == 2 and not cache.available
        server.start()  # empty: the fleet's set is gone with the old server
        for _ in range(100):  # bounded: the breaker reopens after retry_after
            process().verify(issuer.token())
            if cache.available:
                break
        assert cache.available
        before = issuer.request_count("jwks")
        assert process().verify(issuer.token())["sub"] == "user-1"
        assert issuer.request_count("jwks") == before  # served from Redis again
    finally:
        for verifier in made:
            verifier.close()
        client.close()
        server.stop()


class _Interleaved:
    """A shared cache through which a test runs code at a chosen point of a process's
    conversation with Redis (the interleavings of real fleets, made deterministic)."""

    def __init__(
        self,
        cache: RedisKeyCache,
        *,
        before_lock: Callable[[], None] | None = None,
        after_read: Callable[[], None] | None = None,
    ) -> None:
        self._cache = cache
        self._before_lock = before_lock
        self._after_read = after_read

    @property
    def protocol(self) -> Any:
        return self._cache.protocol

    def perform(self, op: Any) -> Any:
        from jwks_client._shared import Read, Write

        if isinstance(op, Write) and op.only_if_absent and self._before_lock is not None:
            run, self._before_lock = self._before_lock, None
            run()
        answer = self._cache.perform(op)
        if isinstance(op, Read) and self._after_read is not None:
            run, self._after_read = self._after_read, None
            run()
        return answer


def test_a_leader_that_publishes_just_before_our_lock_is_not_fetched_again(
    issuer: LocalIssuer, clock: FakeClock, shared: RedisKeyCache
) -> None:
    """A process that read an empty fleet, then wins the lock right after another process
    published and released it, takes the published set instead of fetching again."""
    token = issuer.token()
    made: list[Verifier] = []

    def process(cache: Any) -> Verifier:
        verifier = Verifier(
            issuer.issuer,
            audience=AUD,
            require_https=False,
            clock=clock,
            shared_cache=cache,
            store_registry=KeyStoreRegistry(),
        )
        made.append(verifier)
        return verifier

    leader = process(shared)
    late = process(_Interleaved(shared, before_lock=lambda: leader.verify(token)))
    try:
        assert late.verify(token)["sub"] == "user-1"
    finally:
        for verifier in made:
            verifier.close()
    assert issuer.request_count("discovery") == 1
    assert issuer.request_count("jwks") == 1


def test_a_rotation_in_flight_is_awaited_not_refused(
    issuer: LocalIssuer, clock: FakeClock, shared: RedisKeyCache, redis_client: redis.Redis
) -> None:
    """While another process fetches a rotated set (its attempt recorded, the set not yet
    published), a process meeting the new kid waits for that set instead of refusing the
    kid and telling the fleet it is absent."""
    import threading

    read_while_locked = threading.Event()
    made: list[Verifier] = []

    def process(cache: Any) -> Verifier:
        verifier = Verifier(
            issuer.issuer,
            audience=AUD,
            require_https=False,
            clock=clock,
            cache_policy=POLICY,
            shared_cache=cache,
            store_registry=KeyStoreRegistry(),
        )
        made.append(verifier)
        return verifier

    leader = process(shared)
    follower = process(_Interleaved(shared, after_read=read_while_locked.set))
    results: dict[str, object] = {}

    def run(name: str, verifier: Verifier, token: str) -> None:
        try:
            results[name] = verifier.verify(token)["sub"]
        except Exception as exc:
            results[name] = exc

    try:
        for verifier in (leader, follower):
            verifier.verify(issuer.token())
        clock.advance(POLICY.refresh_cooldown + 1)
        token = issuer.token(kid=issuer.rotate("ES256"))
        issuer.hold("jwks")
        threads = [threading.Thread(target=run, args=("leader", leader, token))]
        threads[0].start()
        assert issuer.wait_for_waiting(1, timeout=10)
        threads.append(threading.Thread(target=run, args=("follower", follower, token)))
        threads[1].start()
        assert read_while_locked.wait(10)  # the follower saw the fleet's fetch running
        issuer.release("jwks")
        for thread in threads:
            thread.join(30)
    finally:
        issuer.release("jwks")
        for verifier in made:
            verifier.close()
    assert results == {"leader": "user-1", "follower": "user-1"}
    assert issuer.request_count("jwks") == 2  # the cold start's and the leader's
    assert redis_client.keys("*absent*") == []
