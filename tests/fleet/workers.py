"""Entry points of the worker processes the fleet tests start (importable for spawn)."""

from __future__ import annotations

import multiprocessing.synchronize
import os
import traceback
from typing import Any

AUD = "https://api.example.com"


def verify_in_fleet(
    redis_url: str,
    issuer: str,
    tokens: list[str],
    barrier: multiprocessing.synchronize.Barrier | None,
    results: Any,
    timeout: float = 2.0,
) -> None:
    """Build a verifier on the fleet's Redis, wait for the others, verify every token,
    and report (pid, list of subjects or error class names, stats)."""
    import redis

    from jwks_client import Verifier
    from jwks_client.redis import RedisKeyCache

    client = redis.Redis.from_url(redis_url)
    outcomes: list[str] = []
    try:
        shared = RedisKeyCache(client, signing_key=b"fleet-test-key-0123456789abcdef")
        with Verifier(
            issuer, audience=AUD, require_https=False, shared_cache=shared, timeout=timeout
        ) as verifier:
            if barrier is not None:
                barrier.wait(30)
            for token in tokens:
                try:
                    outcomes.append(str(verifier.verify(token)["sub"]))
                except Exception as exc:
                    outcomes.append(type(exc).__name__)
            stats = verifier.stats()
        results.put((os.getpid(), outcomes, stats.shared_cache_hits, stats.refreshes))
    except BaseException:
        results.put((os.getpid(), ["crash: " + traceback.format_exc()], 0, 0))
    finally:
        client.close()


def verify_request_in_fleet(
    redis_url: str, issuer: str, url: str, headers: dict[str, str], results: Any
) -> None:
    """Verify one request with a verifier on the fleet's Redis; report its outcome."""
    import redis

    from jwks_client import Verifier
    from jwks_client.redis import RedisKeyCache

    client = redis.Redis.from_url(redis_url)
    try:
        shared = RedisKeyCache(client, signing_key=b"fleet-test-key-0123456789abcdef")
        with Verifier(issuer, audience=AUD, require_https=False, shared_cache=shared) as v:
            try:
                outcome = str(v.verify_request("GET", url, headers)["sub"])
            except Exception as exc:
                outcome = f"{type(exc).__name__}: {exc}"
        results.put(outcome)
    except BaseException:
        results.put("crash: " + traceback.format_exc())
    finally:
        client.close()
