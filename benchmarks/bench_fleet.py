"""A fleet: K worker processes verifying tokens of one issuer, with and without a shared
key cache on Redis, and what the issuer sees.

Everything runs on this machine, on the real clock: a ``redis-server`` started here on a
free 127.0.0.1 port (stopped by its pid at the end, also on errors) and a
:class:`~jwks_client.testing.LocalIssuer` whose responses say ``max-age=3``. The waits
between steps are real (bounded) sleeps: the rules under test run on the clock.

**The fleet** (:func:`fleet`): for each K and for ``shared_cache`` off and on, K worker
processes are spawned (``multiprocessing``, spawn). Each builds a ``Verifier`` (a short
policy, :class:`Timing`: a 1 s unknown-kid cooldown, the issuer's 3 s lifetimes taken as
they come, refresh ahead at 80%; ``--quick``: 0.5 s and 2 s),
reports ready and then runs the steps the parent sends it, every step starting on a
barrier of the K workers so that they act at once. The parent counts the issuer's
discovery and JWKS requests per step, from the start of a step to the start of the next:

* **cold start**: every worker verifies a token (nothing cached anywhere);
* **rotation**: after the cooldown, the issuer rotates to a new key and every worker
  verifies a token signed with it (an unknown kid: a forced refresh);
* **one lifetime**: every worker verifies the new token every 20 ms for 3.25 s (the
  lifetime and a margin), across
  the point where the set (fetched by the rotation) expires; refresh ahead renews it;
* **random-kid flood**: after the cooldown, every worker verifies N tokens whose kids
  are random (valid claims, a real signature by the issuer's key).

Every wait is bounded (:data:`STEP_TIMEOUT`); workers that overrun are killed by pid.

**Warm verify** (:func:`warm_verify`): in this process, a ``Verifier`` with
``shared_cache`` and one without (each with a key-store registry of its own), both warm,
timed in interleaved rounds (medians), and the Redis commands counted around the timing
(the hot path must send none).

**A cold process** (:func:`cold_process`): a new ``python`` process, imports done (and
joserfc's key modules loaded, timed apart), timed from building its ``Verifier`` (and its
``RedisKeyCache``) to the return of its first ``verify``: with a warm Redis (the set
published by an earlier process), a cold Redis (flushed) and no Redis. The parent counts
the issuer's requests and the Redis commands around each child; with a warm Redis the
issuer must see none.
"""

from __future__ import annotations

import base64
import compileall
import json
import math
import multiprocessing
import os
import queue
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jwks_client.testing import LocalIssuer

AUDIENCE = "https://api.example.com"
ALG = "RS256"
#: Slack added to real waits so that a deadline has surely passed.
MARGIN = 0.25
#: How often a worker verifies during the lifetime step (seconds).
LOOP_INTERVAL = 0.02
#: The longest any one wait may last: a step, a barrier, a result, a command.
STEP_TIMEOUT = 30.0
#: The longest K processes may take to start, import and build their verifiers.
START_TIMEOUT = 120.0
#: The longest a fresh process of the cold-process section may live.
CHILD_TIMEOUT = 60.0
#: The HMAC key of the fleet's Redis entries (the same in every process).
SIGNING_KEY = b"fleet-benchmark-signing-key-0123456789abcdef"
#: The steps of a fleet, in order.
STEPS = ("cold start", "rotation", "one lifetime", "random-kid flood")
#: The kinds of cold process, in the order of the first round.
COLD_KINDS = ("warm Redis", "cold Redis", "no Redis")

SPAWN = multiprocessing.get_context("spawn")


#: The fleet's refresh ahead, a fraction of a set's lifetime.
REFRESH_AHEAD = 0.8


@dataclass(frozen=True)
class Timing:
    """The clock of a fleet: short, so that its whole life fits in seconds.

    Attributes:
        cooldown: the verifiers' unknown-kid cooldown (``refresh_cooldown``).
        lifetime: the ``max-age`` of the issuer's responses (whole seconds).
    """

    cooldown: float = 1.0
    lifetime: int = 3

    def policy(self) -> Any:
        """The fleet verifiers' cache policy (refresh ahead at 80% of a lifetime)."""
        from jwks_client import CachePolicy

        return CachePolicy(
            default_ttl=self.lifetime,
            min_ttl=1,
            refresh_cooldown=self.cooldown,
            refresh_ahead=REFRESH_AHEAD,
        )


#: The timing of the quick plan.
QUICK_TIMING = Timing(cooldown=0.5, lifetime=2)


# --- a redis-server of our own ------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """One ``redis-server`` on a free 127.0.0.1 port, without persistence; stopped by pid."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``."""
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> Any:
        """A new client with a socket timeout (the parent's, for counts and flushes)."""
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)

    def start(self) -> None:
        """Start the server and wait (at most 10 s) until it answers a PING.

        Raises:
            RuntimeError: ``redis-server`` is not installed, or it did not answer.
        """
        import redis

        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        options = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), *options, "--protected-mode", "yes"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = self.client()
        deadline = time.monotonic() + 10
        try:
            while True:
                try:
                    if client.ping():
                        return
                except redis.ConnectionError:
                    if time.monotonic() > deadline or self.process.poll() is not None:
                        self.stop()
                        raise RuntimeError("redis-server did not start") from None
                time.sleep(0.02)
        finally:
            client.close()

    def stop(self) -> None:
        """Terminate the server by its pid (then kill it if it lingers); idempotent."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(5)


@contextmanager
def redis_server() -> Iterator[RedisServer]:
    """A started :class:`RedisServer`, stopped on the way out whatever happens."""
    server = RedisServer()
    try:
        server.start()
        yield server
    finally:
        server.stop()


def redis_calls(client: Any) -> Counter[str]:
    """Commands the server has run so far, by name (INFO itself left out)."""
    stats = client.info("commandstats")
    calls: Counter[str] = Counter()
    for name, value in stats.items():
        command = name.removeprefix("cmdstat_")
        if command != "info":
            calls[command] = int(value["calls"])
    return calls


def _delta(after: Counter[str], before: Counter[str]) -> dict[str, int]:
    return {k: after[k] - before[k] for k in sorted(after) if after[k] != before[k]}


def issuer_counts(issuer: LocalIssuer) -> tuple[int, int]:
    """Discovery and JWKS requests the issuer has seen so far."""
    return issuer.request_count("discovery"), issuer.request_count("jwks")


# --- the worker processes ---------------------------------------------------------------


def _outcome(verifier: Any, token: str) -> str:
    try:
        verifier.verify(token)
    except Exception as exc:  # what the library raised is the measurement
        return type(exc).__name__
    return "ok"


def _run_step(verifier: Any, tokens: list[str], duration: float) -> dict[str, Any]:
    """Verify ``tokens`` once each, or (``duration`` > 0) cycle through them until then."""
    outcomes: Counter[str] = Counter()
    started = time.time()
    if duration <= 0:
        for token in tokens:
            outcomes[_outcome(verifier, token)] += 1
    else:
        deadline = time.monotonic() + duration
        for i in range(math.ceil(duration / LOOP_INTERVAL) + 1):
            if time.monotonic() >= deadline:
                break
            outcomes[_outcome(verifier, tokens[i % len(tokens)])] += 1
            time.sleep(LOOP_INTERVAL)
    return {"outcomes": dict(outcomes), "started": started, "ended": time.time()}


def fleet_worker(
    index: int,
    redis_url: str | None,
    issuer: str,
    timing: Timing,
    commands: Any,
    results: Any,
    barrier: Any,
) -> None:
    """A worker process: build a verifier, report ready, run steps until told to stop.

    A command is ``(step, tokens, duration)`` or None (stop). Every step waits on the
    fleet's barrier first; every result goes to ``results`` as ``(what, index, value)``;
    an exception is reported as ``("crash", index, traceback)``.
    """
    client = None
    try:
        from jwks_client import Verifier

        shared = None
        if redis_url is not None:
            import redis

            from jwks_client.redis import RedisKeyCache

            client = redis.Redis.from_url(redis_url)
            shared = RedisKeyCache(client, signing_key=SIGNING_KEY)
        with Verifier(
            issuer,
            audience=AUDIENCE,
            require_https=False,
            cache_policy=timing.policy(),
            shared_cache=shared,
        ) as verifier:
            results.put(("ready", index, os.getpid()))
            for _ in range(len(STEPS) + 1):
                command = commands.get(timeout=START_TIMEOUT)
                if command is None:
                    break
                step, tokens, duration = command
                barrier.wait(STEP_TIMEOUT)
                results.put((step, index, _run_step(verifier, tokens, duration)))
            verifier.jwks_client.join_background(STEP_TIMEOUT)
            stats = verifier.stats()
        results.put(
            (
                "stats",
                index,
                {
                    "refreshes": stats.refreshes,
                    "shared_cache_hits": stats.shared_cache_hits,
                    "shared_cache_errors": stats.shared_cache_errors,
                },
            )
        )
    except BaseException:
        results.put(("crash", index, traceback.format_exc()))
    finally:
        if client is not None:
            client.close()


class Fleet:
    """K worker processes and their queues, driven by the parent; always stopped by pid."""

    def __init__(self, k: int, redis_url: str | None, issuer: str, timing: Timing) -> None:
        self.k = k
        self.results: Any = SPAWN.Queue()
        self.barrier = SPAWN.Barrier(k)
        self.commands = [SPAWN.Queue() for _ in range(k)]
        self.processes = [
            SPAWN.Process(
                target=fleet_worker,
                args=(i, redis_url, issuer, timing, self.commands[i], self.results, self.barrier),
                name=f"fleet-worker-{i}",
                daemon=True,
            )
            for i in range(k)
        ]

    def start(self) -> float:
        """Start the workers; return the seconds until all of them were ready."""
        started = time.perf_counter()
        for process in self.processes:
            process.start()
        self.gather("ready", START_TIMEOUT)
        return time.perf_counter() - started

    def gather(self, what: str, timeout: float) -> list[Any]:
        """One ``what`` result from every worker, in worker order, within ``timeout``.

        Raises:
            RuntimeError: a worker crashed, answered out of turn, or not in time.
        """
        got: dict[int, Any] = {}
        deadline = time.monotonic() + timeout
        while len(got) < self.k:
            try:
                kind, index, value = self.results.get(
                    timeout=max(0.01, deadline - time.monotonic())
                )
            except queue.Empty:
                raise RuntimeError(
                    f"{self.k - len(got)} of {self.k} workers sent no {what!r} in {timeout:g}s"
                ) from None
            if kind != what:
                detail = value if kind == "crash" else f"{kind!r} instead of {what!r}"
                raise RuntimeError(f"worker {index}: {detail}")
            got[index] = value
        return [got[i] for i in range(self.k)]

    def step(self, step: str, tokens: list[list[str]], duration: float = 0.0) -> list[Any]:
        """Send every worker its tokens for ``step`` and collect the outcomes."""
        for commands, mine in zip(self.commands, tokens, strict=True):
            commands.put((step, mine, duration))
        return self.gather(step, STEP_TIMEOUT + duration)

    def finish(self) -> list[Any]:
        """Tell the workers to stop and collect their stats."""
        for commands in self.commands:
            commands.put(None)
        return self.gather("stats", STEP_TIMEOUT)

    def stop(self) -> None:
        """Join every worker briefly, kill by pid any still alive, close the queues."""
        deadline = time.monotonic() + 10
        for process in self.processes:
            if process.pid is None:
                continue
            process.join(max(0.01, deadline - time.monotonic()))
            if process.is_alive():
                os.kill(process.pid, signal.SIGKILL)
                process.join(5)
        for q in [self.results, *self.commands]:
            q.close()
            q.cancel_join_thread()


def _random_kid_tokens(issuer: LocalIssuer, n: int) -> list[str]:
    """``n`` tokens with valid claims and a real signature whose kids are random."""
    template = issuer.token({"sub": "flood"}, expires_in=600)
    _header, payload, signature = template.split(".")

    def raw(segment: str) -> bytes:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))

    header = {"alg": ALG, "typ": "at+jwt"}
    return [
        issuer.sign(
            {**header, "kid": secrets.token_urlsafe(12)}, raw(payload), signature=raw(signature)
        )
        for _ in range(n)
    ]


def run_fleet(
    k: int,
    redis: RedisServer | None,
    flood: int,
    timing: Timing,
    log: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """One fleet of ``k`` workers, shared cache on (``redis`` given) or off, all four steps.

    Returns per step the discovery and JWKS requests the issuer saw, the outcomes of the
    verifications (``ok`` or the error class name, counted) and the step's span (first
    worker's start to last worker's end); the seconds the workers took to start; and the
    workers' summed stats.

    Raises:
        RuntimeError: a worker crashed or did not answer in time.
    """
    from jwks_client.testing import LocalIssuer

    steps: dict[str, dict[str, Any]] = {}
    cooldown, lifetime = timing.cooldown, timing.lifetime
    with LocalIssuer(algorithms=(ALG,), cache_control=f"max-age={lifetime}") as issuer:
        if redis is not None:
            client = redis.client()
            try:
                client.flushall()
            finally:
                client.close()
        fleet = Fleet(k, redis.url if redis is not None else None, issuer.issuer, timing)
        try:
            start_s = fleet.start()
            token = issuer.token({"sub": "fleet"}, expires_in=600)

            def measured(
                name: str, tokens: list[list[str]], duration: float = 0.0, settle: float = 0.0
            ) -> None:
                before, seen = issuer_counts(issuer), len(issuer.requests())
                rows = fleet.step(name, tokens, duration)
                # Requests a step caused after its verifications (a background refresh)
                # still count for it: the window ends when the next step begins.
                time.sleep(settle)
                after = issuer_counts(issuer)
                outcomes: Counter[str] = Counter()
                for row in rows:
                    outcomes.update(row["outcomes"])
                began = min(r["started"] for r in rows)
                steps[name] = {
                    "discovery": after[0] - before[0],
                    "jwks": after[1] - before[1],
                    "outcomes": dict(outcomes),
                    "span_s": round(max(r["ended"] for r in rows) - began, 3),
                    # When each request arrived (seconds from the step's first verify).
                    "requests": [
                        [round(r.time - began, 3), r.path] for r in issuer.requests()[seen:]
                    ],
                }
                log(f"    K={k} {name}: {steps[name]}")

            # Each wait lets the unknown-kid cooldown since the last fetch pass.
            measured("cold start", [[token]] * k, settle=cooldown + MARGIN)
            new_kid = issuer.rotate(ALG)
            rotated = issuer.token({"sub": "fleet"}, kid=new_kid, expires_in=600)
            measured("rotation", [[rotated]] * k)
            measured("one lifetime", [[rotated]] * k, lifetime + MARGIN, cooldown + MARGIN)
            measured("random-kid flood", [_random_kid_tokens(issuer, flood) for _ in range(k)])
            stats: Counter[str] = Counter()
            for row in fleet.finish():
                stats.update(row)
        finally:
            fleet.stop()
    return {
        "k": k,
        "shared_cache": redis is not None,
        "start_s": round(start_s, 2),
        "steps": steps,
        "stats": dict(stats),
    }


# --- warm verify, with and without the shared cache ----------------------------------------

WITHOUT = "Verifier"
WITH = "Verifier, shared_cache=RedisKeyCache"


def warm_verify(server: RedisServer, rounds: int, per_round: int) -> dict[str, Any]:
    """Warm ``verify`` with and without ``shared_cache``, interleaved in this process.

    Each verifier has a key-store registry of its own (so they share nothing in memory)
    and is warmed first; the Redis commands the server ran while they were timed are
    counted (the hot path must send none).

    Returns:
        Per verifier ``median_us``, ``p90_us``, ``min_us``, ``samples``; ``ratio`` (with
        over without, medians) and ``redis_commands_while_timing``.
    """
    import redis as redis_client
    from bench_common import Contender, measure

    from jwks_client import KeyStoreRegistry, Verifier
    from jwks_client.redis import RedisKeyCache
    from jwks_client.testing import LocalIssuer

    client = redis_client.Redis.from_url(server.url)
    counter = server.client()
    try:
        with LocalIssuer(algorithms=(ALG,)) as issuer:
            token = issuer.token({"sub": "warm"}, expires_in=600)
            options: dict[str, Any] = {"audience": AUDIENCE, "require_https": False}
            plain = Verifier(issuer.issuer, store_registry=KeyStoreRegistry(), **options)
            shared = Verifier(
                issuer.issuer,
                shared_cache=RedisKeyCache(client, signing_key=SIGNING_KEY),
                store_registry=KeyStoreRegistry(),
                **options,
            )
            with plain, shared:
                plain.verify(token)
                shared.verify(token)
                before = redis_calls(counter)
                stats = measure(
                    [
                        Contender(WITHOUT, call=lambda: plain.verify(token)),
                        Contender(WITH, call=lambda: shared.verify(token)),
                    ],
                    rounds=rounds,
                    per_round=per_round,
                )
                after = redis_calls(counter)
    finally:
        client.close()
        counter.close()
    return {
        "alg": ALG,
        WITHOUT: stats[WITHOUT].as_dict(),
        WITH: stats[WITH].as_dict(),
        "ratio": round(stats[WITH].median / stats[WITHOUT].median, 3),
        "redis_commands_while_timing": _delta(after, before),
    }


# --- a cold process: time to its first verified token -----------------------------------

#: A fresh process: imports first, then the clock runs from building the verifier to the
#: return of its first verify (the Redis connection, made by the first command, included).
#: joserfc's key modules, which every process loads with its first key whatever the tier
#: (see benchmarks/README.md, cold start), are loaded and timed before the clock, so the
#: window shows what the tiers cost.
_CHILD = r"""
import json, sys, time
redis_url, issuer, token, audience, key = sys.argv[1:6]
import redis
from jwks_client import Verifier
from jwks_client.redis import RedisKeyCache
client = redis.Redis.from_url(redis_url) if redis_url != "-" else None
j0 = time.perf_counter()
import joserfc.jwk
joserfc_ms = (time.perf_counter() - j0) * 1e3
t0 = time.perf_counter(); c0 = time.process_time()
shared = RedisKeyCache(client, signing_key=key.encode()) if client is not None else None
verifier = Verifier(issuer, audience=audience, require_https=False, shared_cache=shared)
sub = verifier.verify(token)["sub"]
t1 = time.perf_counter(); c1 = time.process_time()
stats = verifier.stats()
print(json.dumps({
    "first_verify_ms": (t1 - t0) * 1e3,
    "first_verify_cpu_ms": (c1 - c0) * 1e3,
    "joserfc_import_ms": joserfc_ms,
    "sub": sub,
    "httpx_loaded": "httpx" in sys.modules,
    "shared_cache_hits": stats.shared_cache_hits,
    "shared_cache_errors": stats.shared_cache_errors,
}))
verifier.close()
if client is not None:
    client.close()
"""


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    # Loopback only: a proxy configured in the environment must not carry the requests.
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    return env


def _run_child(argv: list[str]) -> dict[str, Any]:
    """Run one cold process (killed if it outlives CHILD_TIMEOUT) and return its figures.

    Raises:
        RuntimeError: the child failed.
    """
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", _CHILD, *argv],
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT,
        env=_child_env(),
        check=False,
    )
    wall_ms = (time.perf_counter() - started) * 1e3
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines()
        raise RuntimeError(f"a cold process failed: {lines[-1] if lines else result.returncode}")
    row: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    row["process_ms"] = wall_ms
    return row


def cold_process(
    server: RedisServer, runs: int, log: Callable[[str], None] = lambda _: None
) -> dict[str, Any]:
    """A fresh process's time to its first verified token: warm Redis, cold Redis, none.

    Before a "warm Redis" child, Redis is flushed and a verifier of this process (with a
    key-store registry of its own) publishes the set; before a "cold Redis" child, Redis
    is flushed. The kinds run in interleaved rounds after a discarded warm-up round.

    Returns:
        Per kind the medians of ``first_verify_ms``, ``first_verify_cpu_ms``,
        ``joserfc_import_ms`` (before the clock) and ``process_ms`` (spawn to exit); the
        issuer requests and the Redis commands seen per child (each distinct value once),
        whether httpx was loaded, and the shared-cache hits.

    Raises:
        RuntimeError: a child failed or verified the wrong token.
    """
    import redis as redis_client

    from jwks_client import KeyStoreRegistry, Verifier
    from jwks_client.redis import RedisKeyCache
    from jwks_client.testing import LocalIssuer

    seed_client = redis_client.Redis.from_url(server.url)
    counter = server.client()
    samples: dict[str, list[dict[str, Any]]] = {kind: [] for kind in COLD_KINDS}
    requests: dict[str, set[int]] = {kind: set() for kind in COLD_KINDS}
    commands: dict[str, list[dict[str, int]]] = {kind: [] for kind in COLD_KINDS}
    try:
        seeder = RedisKeyCache(seed_client, signing_key=SIGNING_KEY)
        with LocalIssuer(algorithms=(ALG,)) as issuer:
            token = issuer.token({"sub": "cold"}, expires_in=600)
            for round_index in range(runs + 1):
                shift = round_index % len(COLD_KINDS)
                for kind in COLD_KINDS[shift:] + COLD_KINDS[:shift]:
                    counter.flushall()
                    if kind == "warm Redis":
                        with Verifier(
                            issuer.issuer,
                            audience=AUDIENCE,
                            require_https=False,
                            shared_cache=seeder,
                            store_registry=KeyStoreRegistry(),
                        ) as seed:
                            seed.verify(token)
                    url = "-" if kind == "no Redis" else server.url
                    before, calls = issuer.request_count(), redis_calls(counter)
                    row = _run_child([url, issuer.issuer, token, AUDIENCE, SIGNING_KEY.decode()])
                    requests[kind].add(issuer.request_count() - before)
                    ran = _delta(redis_calls(counter), calls)
                    if ran not in commands[kind]:
                        commands[kind].append(ran)
                    if row["sub"] != "cold":
                        raise RuntimeError(f"a cold process verified the wrong token: {row}")
                    if round_index:  # round 0 warms the file cache and is discarded
                        samples[kind].append(row)
                if round_index:
                    log(f"  cold process round {round_index}/{runs}")
    finally:
        seed_client.close()
        counter.close()
    out: dict[str, Any] = {"runs": runs, "kinds": {}}
    for kind, rows in samples.items():
        out["kinds"][kind] = {
            "first_verify_ms": round(statistics.median(r["first_verify_ms"] for r in rows), 2),
            "first_verify_cpu_ms": round(
                statistics.median(r["first_verify_cpu_ms"] for r in rows), 2
            ),
            "joserfc_import_ms": round(statistics.median(r["joserfc_import_ms"] for r in rows), 2),
            "process_ms": round(statistics.median(r["process_ms"] for r in rows), 1),
            "issuer_requests": sorted(requests[kind]),
            "redis_commands": commands[kind],
            "httpx_loaded": sorted({r["httpx_loaded"] for r in rows}),
            "shared_cache_hits": sorted({r["shared_cache_hits"] for r in rows}),
        }
    return out


# --- the section ---------------------------------------------------------------------------


def fleet(
    sizes: tuple[int, ...],
    flood: int,
    warm_rounds: int,
    warm_per_round: int,
    cold_runs: int,
    timing: Timing = Timing(),
    log: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Every fleet of the plan, the warm-verify timing and the cold processes, on one
    Redis (see the module's docstring); a failing part reports its error, the rest runs.

    Args:
        sizes: the values of K.
        flood: random-kid tokens per worker in the flood step.
        warm_rounds, warm_per_round: the warm-verify timing's rounds and calls per round.
        cold_runs: measured rounds of cold processes (after one warm-up round).
        timing: the fleets' cooldown and lifetime.
        log: where progress lines go.

    Raises:
        RuntimeError: redis-server is missing or did not start.
    """
    _compile()
    out: dict[str, Any] = {
        "policy": {
            "refresh_cooldown": timing.cooldown,
            "max_age": timing.lifetime,
            "refresh_ahead": REFRESH_AHEAD,
            "lifetime_step_s": timing.lifetime + MARGIN,
        },
        "flood_per_worker": flood,
        "fleets": [],
    }
    with redis_server() as server:
        for k in sizes:
            for shared in (False, True):
                log(f"  fleet K={k}, shared_cache {'on' if shared else 'off'} ...")
                try:
                    redis = server if shared else None
                    out["fleets"].append(run_fleet(k, redis, flood, timing, log))
                except Exception as exc:  # one broken fleet must not sink the others
                    out["fleets"].append(
                        {"k": k, "shared_cache": shared, "error": f"{type(exc).__name__}: {exc}"}
                    )
        log("  warm verify with and without shared_cache ...")
        try:
            out["warm_verify"] = warm_verify(server, warm_rounds, warm_per_round)
        except Exception as exc:
            out["warm_verify"] = {"error": f"{type(exc).__name__}: {exc}"}
        log(f"  cold processes ({cold_runs} rounds) ...")
        try:
            out["cold_process"] = cold_process(server, cold_runs, log)
        except Exception as exc:
            out["cold_process"] = {"error": f"{type(exc).__name__}: {exc}"}
    return out


def _compile() -> None:
    """Byte-compile the package, as an installed one is, so no process compiles it again."""
    import jwks_client

    compileall.compile_dir(str(Path(jwks_client.__file__).resolve().parent), quiet=1)
