"""Scenarios beyond the warm per-call table: cold start, cold concurrency, an unknown-kid
flood, async throughput, and memory (a 1,000-key JWKS; growth over many verifications).

Every issuer is a :class:`~jwks_client.testing.LocalIssuer` on 127.0.0.1. Key stores are
shared per process by source and clock, so every "cold" scenario uses an issuer of its own
and a verifier with a clock of its own (see :func:`_own_clock`), hence an empty cache.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import gc
import json
import os
import secrets
import statistics
import threading
import time
import tracemalloc
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench_common import stats_of
from bench_tokens import AUDIENCE, TOKEN_LIFETIME, access_claims

from jwks_client import (
    AsyncVerifier,
    InvalidSignatureError,
    InvalidTokenError,
    KeyNotFoundError,
    Verifier,
)
from jwks_client.testing import FakeClock, LocalIssuer

RESULTS = Path(__file__).resolve().parent / "results"
#: The algorithm of the scenarios (the most common one in access tokens).
SCENARIO_ALG = "RS256"


def _own_clock() -> Callable[[], float]:
    """A clock object of its own: ``time.time`` under a new identity.

    Key stores are shared per process by source *and clock*. A stopped issuer's port may
    be handed to a new one, giving it the same URL; a clock of its own keeps a "cold"
    verifier from finding the old issuer's keys in the shared store.
    """
    return functools.partial(time.time)


def _verifier(issuer: LocalIssuer, **options: Any) -> Verifier:
    options.setdefault("clock", _own_clock())
    return Verifier(issuer.issuer, audience=AUDIENCE, require_https=False, **options)


def _async_verifier(issuer: LocalIssuer, **options: Any) -> AsyncVerifier:
    options.setdefault("clock", _own_clock())
    return AsyncVerifier(issuer.issuer, audience=AUDIENCE, require_https=False, **options)


def _ms(ns: float) -> float:
    return round(ns / 1e6, 3)


# --- cold start --------------------------------------------------------------------------


def cold_start(runs: int) -> dict[str, Any]:
    """Discovery + JWKS fetch + first verification against a fresh issuer, ``runs`` times.

    Reported apart: constructing the verifier (it builds its HTTP client) and the first
    ``verify`` (two HTTP requests, key import, verification).
    """
    sync_build: list[int] = []
    sync_first: list[int] = []
    async_build: list[int] = []
    async_first: list[int] = []
    requests: list[int] = []
    for _ in range(runs):
        with LocalIssuer(algorithms=(SCENARIO_ALG,)) as issuer:
            token = issuer.token(access_claims(), expires_in=TOKEN_LIFETIME)
            start = time.perf_counter_ns()
            verifier = _verifier(issuer)
            built = time.perf_counter_ns()
            verifier.verify(token)
            done = time.perf_counter_ns()
            verifier.close()
            sync_build.append(built - start)
            sync_first.append(done - built)
            requests.append(issuer.request_count())
        with LocalIssuer(algorithms=(SCENARIO_ALG,)) as issuer:
            token = issuer.token(access_claims(), expires_in=TOKEN_LIFETIME)

            async def first(issuer: LocalIssuer = issuer, token: str = token) -> tuple[int, int]:
                start = time.perf_counter_ns()
                verifier = _async_verifier(issuer)
                built = time.perf_counter_ns()
                await verifier.verify(token)
                done = time.perf_counter_ns()
                await verifier.aclose()
                return built - start, done - built

            build_ns, first_ns = asyncio.run(first())
            async_build.append(build_ns)
            async_first.append(first_ns)
    return {
        "runs": runs,
        "requests_per_cold_start": sorted(set(requests)),
        "Verifier": {
            "construct_ms": _ms(statistics.median(sync_build)),
            "first_verify_ms": _ms(statistics.median(sync_first)),
            "first_verify_p90_ms": _ms(stats_of(sync_first).p90 * 1000),
        },
        "AsyncVerifier": {
            "construct_ms": _ms(statistics.median(async_build)),
            "first_verify_ms": _ms(statistics.median(async_first)),
            "first_verify_p90_ms": _ms(stats_of(async_first).p90 * 1000),
        },
    }


# --- cold concurrency ----------------------------------------------------------------------


def cold_concurrency(n: int, workers: int, repeats: int) -> dict[str, Any]:
    """``n`` verifications at once on a cold cache: asyncio tasks, then a thread pool."""
    out: dict[str, Any] = {"verifications": n, "thread_workers": workers, "repeats": repeats}
    for kind in ("asyncio tasks + AsyncVerifier", "thread pool + Verifier"):
        walls: list[int] = []
        fetches: list[dict[str, int]] = []
        ok_counts: list[int] = []
        for _ in range(repeats):
            with LocalIssuer(algorithms=(SCENARIO_ALG,)) as issuer:
                tokens = [
                    issuer.token(access_claims(i), expires_in=TOKEN_LIFETIME) for i in range(8)
                ]
                if kind.startswith("asyncio"):
                    wall, ok = _cold_tasks(issuer, tokens, n)
                else:
                    wall, ok = _cold_threads(issuer, tokens, n, workers)
                walls.append(wall)
                ok_counts.append(ok)
                fetches.append(
                    {
                        "discovery": issuer.request_count("discovery"),
                        "jwks": issuer.request_count("jwks"),
                    }
                )
        out[kind] = {
            "wall_ms_median": _ms(statistics.median(walls)),
            "wall_ms_all": [_ms(w) for w in walls],
            "verified": min(ok_counts),
            "requests": fetches,
        }
    return out


def _cold_tasks(issuer: LocalIssuer, tokens: list[str], n: int) -> tuple[int, int]:
    async def main() -> tuple[int, int]:
        async with _async_verifier(issuer) as verifier:
            start = time.perf_counter_ns()
            results = await asyncio.gather(
                *(verifier.verify(tokens[i % len(tokens)]) for i in range(n)),
                return_exceptions=True,
            )
            wall = time.perf_counter_ns() - start
        return wall, sum(1 for r in results if isinstance(r, dict))

    return asyncio.run(main())


def _cold_threads(issuer: LocalIssuer, tokens: list[str], n: int, workers: int) -> tuple[int, int]:
    with _verifier(issuer) as verifier, ThreadPoolExecutor(max_workers=workers) as pool:
        # Start every worker thread before the clock starts.
        barrier = threading.Barrier(workers + 1, timeout=30)
        for _ in range(workers):
            pool.submit(barrier.wait)
        barrier.wait()
        start = time.perf_counter_ns()
        futures = [pool.submit(verifier.verify, tokens[i % len(tokens)]) for i in range(n)]
        ok = sum(1 for f in futures if f.exception(timeout=60) is None)
        wall = time.perf_counter_ns() - start
    return wall, ok


# --- unknown-kid flood -------------------------------------------------------------------------


def unknown_kid_flood(flood: int) -> dict[str, Any]:
    """``flood`` tokens with random kids mixed 1:1 with valid ones, against a warm verifier.

    The flood tokens carry valid claims (they pass the pre-refresh claims check) and a
    borrowed signature; their kids are random. The clock is a FakeClock moved past the
    refresh cooldown before the flood, so exactly one refresh is allowed; it does not move
    during the flood, which lasts well under the cooldown. Valid tokens are timed alone
    first (the baseline), then interleaved with the flood.
    """
    clock = FakeClock(time.time())
    with LocalIssuer(algorithms=(SCENARIO_ALG,), clock=clock) as issuer:
        valid = [issuer.token(access_claims(i), expires_in=TOKEN_LIFETIME) for i in range(16)]
        template = valid[0].split(".")
        payload = base64.urlsafe_b64decode(template[1] + "=" * (-len(template[1]) % 4))
        header = {"alg": SCENARIO_ALG, "typ": "at+jwt"}
        signature = base64.urlsafe_b64decode(template[2] + "=" * (-len(template[2]) % 4))
        unknown = [
            issuer.sign({**header, "kid": secrets.token_urlsafe(8)}, payload, signature=signature)
            for _ in range(flood)
        ]
        with _verifier(issuer, clock=clock) as verifier:
            for token in valid:
                verifier.verify(token)
            clock.advance(31.0)  # past the default 30 s refresh cooldown
            before = {
                "discovery": issuer.request_count("discovery"),
                "jwks": issuer.request_count("jwks"),
            }
            perf = time.perf_counter_ns
            baseline: list[int] = []
            gc.collect()
            for i in range(flood):
                token = valid[i % len(valid)]
                start = perf()
                verifier.verify(token)
                baseline.append(perf() - start)
            during: list[int] = []
            rejected: list[int] = []
            wrong = 0
            flood_start = perf()
            for i in range(flood):
                start = perf()
                try:
                    verifier.verify(unknown[i])
                    wrong += 1
                except KeyNotFoundError:
                    pass
                rejected.append(perf() - start)
                token = valid[i % len(valid)]
                start = perf()
                verifier.verify(token)
                during.append(perf() - start)
            flood_wall = perf() - flood_start
            after = {
                "discovery": issuer.request_count("discovery"),
                "jwks": issuer.request_count("jwks"),
            }
    base, mixed, bad = stats_of(baseline), stats_of(during), stats_of(rejected)
    return {
        "alg": SCENARIO_ALG,
        "flood_tokens": flood,
        "valid_tokens": flood,
        "flood_wall_ms": _ms(flood_wall),
        "fetches_during_flood": {k: after[k] - before[k] for k in after},
        "unknown_kid_accepted": wrong,
        "valid_without_flood_us": {"median": round(base.median, 2), "p90": round(base.p90, 2)},
        "valid_during_flood_us": {"median": round(mixed.median, 2), "p90": round(mixed.p90, 2)},
        "unknown_kid_rejection_us": {"median": round(bad.median, 2), "p90": round(bad.p90, 2)},
    }


# --- async throughput ----------------------------------------------------------------------------


def async_throughput(
    tokens_by_alg: dict[str, tuple[LocalIssuer, list[str]]], tasks: int, each: int
) -> dict[str, Any]:
    """Verifications per second of ``tasks`` concurrent tasks sharing one AsyncVerifier."""

    async def run(issuer: LocalIssuer, tokens: list[str]) -> dict[str, Any]:
        async with _async_verifier(issuer) as verifier:
            await verifier.verify(tokens[0])

            async def worker(offset: int) -> int:
                done = 0
                for i in range(each):
                    await verifier.verify(tokens[(offset + i) % len(tokens)])
                    done += 1
                return done

            gc.collect()
            start = time.perf_counter_ns()
            counts = await asyncio.gather(*(worker(t) for t in range(tasks)))
            wall = time.perf_counter_ns() - start
        total = sum(counts)
        return {
            "verifications": total,
            "wall_ms": _ms(wall),
            "per_second": round(total / (wall / 1e9)),
        }

    return {
        "tasks": tasks,
        "per_task": each,
        "by_alg": {
            alg: asyncio.run(run(issuer, tokens)) for alg, (issuer, tokens) in tokens_by_alg.items()
        },
    }


# --- memory: a 1,000-key JWKS ---------------------------------------------------------------------


def _rsa_jwk(index: int) -> dict[str, str]:
    from cryptography.hazmat.primitives.asymmetric import rsa

    numbers = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key().public_numbers()
    )
    return {
        "kty": "RSA",
        "kid": f"rsa-{index:04d}",
        "use": "sig",
        "alg": "RS256",
        "n": _b64u(numbers.n.to_bytes(256, "big")),
        "e": _b64u(numbers.e.to_bytes(3, "big")),
    }


def _ec_jwk(index: int) -> dict[str, str]:
    from cryptography.hazmat.primitives.asymmetric import ec

    point = ec.generate_private_key(ec.SECP256R1()).public_key().public_numbers()
    return {
        "kty": "EC",
        "kid": f"ec-{index:04d}",
        "use": "sig",
        "alg": "ES256",
        "crv": "P-256",
        "x": _b64u(point.x.to_bytes(32, "big")),
        "y": _b64u(point.y.to_bytes(32, "big")),
    }


def _b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


RSA_CACHE = RESULTS / "jwks-1000-rsa2048.json"


def rsa_jwks(count: int, *, generate: bool, log: Callable[[str], None]) -> bytes | None:
    """A JWKS of ``count`` RSA-2048 public keys, from the cache or generated (and cached).

    Returns None when there is no cache and ``generate`` is False.
    """
    if RSA_CACHE.exists():
        body = RSA_CACHE.read_bytes()
        if len(json.loads(body)["keys"]) >= count:
            return body
    if not generate:
        return None
    where = RSA_CACHE.relative_to(RESULTS.parent.parent)
    log(f"generating {count} RSA-2048 keys once (cached in {where}) ...")
    workers = max(1, os.cpu_count() or 1)
    with ProcessPoolExecutor(max_workers=workers) as pool:
        keys = list(pool.map(_rsa_jwk, range(count), chunksize=25))
    body = json.dumps({"keys": keys}, separators=(",", ":")).encode()
    RESULTS.mkdir(parents=True, exist_ok=True)
    RSA_CACHE.write_bytes(body)
    return body


def ec_jwks(count: int) -> bytes:
    """A JWKS of ``count`` P-256 public keys (generated: fast)."""
    return json.dumps({"keys": [_ec_jwk(i) for i in range(count)]}, separators=(",", ":")).encode()


def jwks_memory(body: bytes, label: str) -> dict[str, Any]:
    """Time and memory of turning a JWKS body into a key ring (JSON decoding included)."""
    from jwks_client._keys import parse_jwks

    count = len(json.loads(body)["keys"])
    parse_jwks(json.loads(body))  # imports warm
    start = time.perf_counter_ns()
    ring = parse_jwks(json.loads(body))
    elapsed = time.perf_counter_ns() - start
    assert len(ring) == count, (len(ring), ring.skipped[:3])
    del ring
    gc.collect()
    tracemalloc.start()
    try:
        base, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        ring = parse_jwks(json.loads(body))
        gc.collect()
        retained, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    loaded = len(ring)
    del ring
    return {
        "keys": label,
        "count": count,
        "loaded": loaded,
        "body_bytes": len(body),
        "parse_ms": _ms(elapsed),
        "retained_bytes": retained - base,
        "retained_bytes_per_key": round((retained - base) / count),
        "peak_bytes": peak - base,
    }


# --- memory: growth over many verifications ----------------------------------------------


def _rss_bytes() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        import resource  # Unix only
    except ImportError:
        return 0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def growth(
    total: int, checkpoints: int = 10, log: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """RSS and tracemalloc across ``total`` verifications with a warm Verifier.

    The loop cycles 256 distinct valid tokens, and one call in 100 is a rejection
    (a bad signature, an unknown kid inside the refresh cooldown, an expired token), so
    the error paths are watched too. tracemalloc runs for the whole loop (it slows every
    allocation, so this loop is slower than the per-call table). The first checkpoint is
    taken after a warm-up of 1% of the calls; growth is measured from it.
    """
    with LocalIssuer(algorithms=(SCENARIO_ALG,)) as issuer:
        valid = [issuer.token(access_claims(i), expires_in=TOKEN_LIFETIME) for i in range(256)]
        good = valid[0]
        head, body, sig = good.split(".")
        bad_signature = f"{head}.{body}.{sig[:-4]}AAAA"
        unknown_kid = issuer.token(access_claims(), kid="no-such-kid", expires_in=TOKEN_LIFETIME)
        expired = issuer.token(access_claims(), expires_in=-3600)
        rejects = [bad_signature, unknown_kid, expired]
        with _verifier(issuer) as verifier:
            verify = verifier.verify

            def run(count: int, offset: int) -> tuple[int, int]:
                ok = refused = 0
                for i in range(offset, offset + count):
                    if i % 100 == 99:
                        try:
                            verify(rejects[(i // 100) % 3])
                        except (InvalidSignatureError, KeyNotFoundError, InvalidTokenError):
                            refused += 1
                    else:
                        verify(valid[i % 256])
                        ok += 1
                return ok, refused

            warm = max(1000, total // 100)
            run(warm, 0)
            gc.collect()
            tracemalloc.start()
            samples: list[dict[str, int]] = []
            verified = refused = 0
            step = total // checkpoints
            started = time.perf_counter()
            try:
                base_traced, _ = tracemalloc.get_traced_memory()
                samples.append({"calls": 0, "rss": _rss_bytes(), "traced": 0})
                for k in range(checkpoints):
                    ok, no = run(step, warm + k * step)
                    verified += ok
                    refused += no
                    gc.collect()
                    traced, _ = tracemalloc.get_traced_memory()
                    samples.append(
                        {
                            "calls": (k + 1) * step,
                            "rss": _rss_bytes(),
                            "traced": traced - base_traced,
                        }
                    )
                    if log is not None:
                        done = (k + 1) * step
                        log(f"  memory: {done:,} calls, traced {traced - base_traced:,} B")
            finally:
                tracemalloc.stop()
            elapsed = time.perf_counter() - started
            stats = verifier.stats() if hasattr(verifier, "stats") else None
    first, last = samples[0], samples[-1]
    traced_growth = last["traced"] - first["traced"]
    rss_growth = last["rss"] - first["rss"]
    # Noise: tracemalloc sees a few KiB come and go (interned strings, free lists);
    # RSS moves by allocator arenas (256 KiB) and page granularity.
    traced_limit, rss_limit = 64 * 1024, 4 * 1024 * 1024
    # The slope over the second half: a leak grows steadily, warm-up settles early.
    half = samples[len(samples) // 2 :]
    slope = (half[-1]["traced"] - half[0]["traced"]) / max(1, half[-1]["calls"] - half[0]["calls"])
    return {
        "alg": SCENARIO_ALG,
        "verifications": verified + refused,
        "verified": verified,
        "rejected": refused,
        "elapsed_s": round(elapsed, 1),
        "traced_growth_bytes": traced_growth,
        "rss_growth_bytes": rss_growth,
        "traced_bytes_per_1000_calls_second_half": round(slope * 1000, 2),
        "limits": {"traced_bytes": traced_limit, "rss_bytes": rss_limit},
        "no_growth": traced_growth <= traced_limit and rss_growth <= rss_limit,
        "samples": samples,
        "stats_snapshot": repr(stats) if stats is not None else None,
    }


def thread_count() -> int:
    """Live threads (a background refresh or a leaked pool shows up here)."""
    return threading.active_count()
