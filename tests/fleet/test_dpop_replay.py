"""DPoP proofs are recorded fleet-wide in the shared cache: a replay to another process is
refused; when Redis fails, the process's own record stands alone and that is counted."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import redis

from jwks_client import DPoP, InvalidDPoPProofError, KeyStoreRegistry, Verifier
from jwks_client.redis import RedisKeyCache
from jwks_client.testing import DPoPKey, LocalIssuer
from tests.redis_support import RedisServer, no_retries

from .test_processes import SPAWN
from .workers import AUD, verify_request_in_fleet

URL = "https://api.example.com/items"
FLEET_KEY = b"fleet-test-key-0123456789abcdef"


def _request(issuer: LocalIssuer, key: DPoPKey) -> dict[str, str]:
    token = issuer.token({"sub": "bound", "cnf": {"jkt": key.thumbprint}}, audience=AUD)
    proof = key.proof("GET", URL, token, now=time.time())
    return {"Authorization": f"DPoP {token}", "DPoP": proof}


def _in_other_process(redis_server: RedisServer, issuer: LocalIssuer, headers: Any) -> str:
    results = SPAWN.Queue()
    process = SPAWN.Process(
        target=verify_request_in_fleet,
        args=(redis_server.url, issuer.issuer, URL, headers, results),
    )
    process.start()
    try:
        return str(results.get(timeout=60))
    finally:
        process.join(30)
        if process.is_alive():
            os.kill(process.pid, signal.SIGKILL)
            process.join(5)


def test_a_proof_replayed_to_another_process_is_refused(
    redis_server: RedisServer, redis_client: redis.Redis
) -> None:
    """A proof accepted by one process is refused by another sharing the fleet's Redis; a
    fresh proof is accepted there."""
    key = DPoPKey()
    with LocalIssuer(algorithms=("ES256",)) as issuer:
        headers = _request(issuer, key)
        shared = RedisKeyCache(redis_client, signing_key=FLEET_KEY)
        with Verifier(
            issuer.issuer,
            audience=AUD,
            require_https=False,
            shared_cache=shared,
            store_registry=KeyStoreRegistry(),
        ) as verifier:
            assert verifier.verify_request("GET", URL, headers)["sub"] == "bound"
        outcome = _in_other_process(redis_server, issuer, headers)
        assert outcome.startswith("InvalidDPoPProofError") and "replay" in outcome
        assert _in_other_process(redis_server, issuer, _request(issuer, key)) == "bound"


def test_without_the_shared_cache_another_process_would_accept_the_replay(
    redis_server: RedisServer, redis_client: redis.Redis
) -> None:
    """The control: a process that recorded the proof only in its own memory does not
    protect the others (what the shared record prevents)."""
    key = DPoPKey()
    with LocalIssuer(algorithms=("ES256",)) as issuer:
        headers = _request(issuer, key)
        with Verifier(issuer.issuer, audience=AUD, require_https=False) as verifier:
            assert verifier.verify_request("GET", URL, headers)["sub"] == "bound"
        assert _in_other_process(redis_server, issuer, headers) == "bound"


def test_a_failing_redis_falls_back_to_the_process_record_and_says_so() -> None:
    """With Redis down the proof is recorded in the process only: accepted once, refused
    on replay in this process, and counted in stats."""
    key = DPoPKey()
    dead = RedisKeyCache(redis.Redis(host="127.0.0.1", port=1, retry=no_retries()), retry_after=60)
    with (
        LocalIssuer(algorithms=("ES256",)) as issuer,
        Verifier(
            issuer.issuer,
            audience=AUD,
            require_https=False,
            shared_cache=dead,
            store_registry=KeyStoreRegistry(),
        ) as verifier,
    ):
        headers = _request(issuer, key)
        assert verifier.verify_request("GET", URL, headers)["sub"] == "bound"
        assert verifier.stats().dpop_replay_fallbacks == 1
        try:
            verifier.verify_request("GET", URL, headers)
        except InvalidDPoPProofError as exc:
            assert "replay" in str(exc)
        else:
            raise AssertionError("the replay was accepted")


def test_a_replay_store_of_ones_own_is_not_replaced_by_the_fleet(
    redis_client: redis.Redis,
) -> None:
    """DPoP(replay_store=...) keeps the user's store: nothing is written to Redis."""
    from jwks_client import MemoryReplayStore

    key = DPoPKey()
    shared = RedisKeyCache(redis_client, signing_key=FLEET_KEY)
    with (
        LocalIssuer(algorithms=("ES256",)) as issuer,
        Verifier(
            issuer.issuer,
            audience=AUD,
            require_https=False,
            shared_cache=shared,
            dpop=DPoP(replay_store=MemoryReplayStore()),
            store_registry=KeyStoreRegistry(),
        ) as verifier,
    ):
        assert verifier.verify_request("GET", URL, _request(issuer, key))["sub"] == "bound"
    assert redis_client.keys("*:dpop:*") == []


def test_an_async_verifier_records_proofs_fleet_wide(
    redis_server: RedisServer, redis_client: redis.Redis
) -> None:
    """AsyncVerifier.verify_request writes the proof's record to Redis too."""
    import asyncio

    import redis.asyncio

    from jwks_client import AsyncVerifier
    from jwks_client.redis import AsyncRedisKeyCache

    key = DPoPKey()

    async def run(issuer: LocalIssuer, headers: dict[str, str]) -> str:
        client = redis.asyncio.Redis.from_url(redis_server.url)
        try:
            async with AsyncVerifier(
                issuer.issuer,
                audience=AUD,
                require_https=False,
                shared_cache=AsyncRedisKeyCache(client, signing_key=FLEET_KEY),
                store_registry=KeyStoreRegistry(),
            ) as verifier:
                return str((await verifier.verify_request("GET", URL, headers))["sub"])
        finally:
            await client.aclose()

    with LocalIssuer(algorithms=("ES256",)) as issuer:
        headers = _request(issuer, key)
        assert asyncio.run(run(issuer, headers)) == "bound"
        assert len(redis_client.keys("*:dpop:*")) == 1
        outcome = _in_other_process(redis_server, issuer, headers)
        assert outcome.startswith("InvalidDPoPProofError")
