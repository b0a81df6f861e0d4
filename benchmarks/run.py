"""Benchmark jwks_client against its peers and against the cost floor, in one run.

    .venv/bin/python benchmarks/run.py [--quick] [--json PATH]

Prints Markdown tables and writes every figure to JSON (default
``benchmarks/results/latest.json``). ``--quick`` finishes in about a minute and a half
on a two-core machine; the full run takes a few minutes (more the first time, when it
generates and caches 1,000 RSA keys). See ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import bench_coldstart  # noqa: E402
import bench_dpop  # noqa: E402
import bench_fleet  # noqa: E402
import bench_hotpath  # noqa: E402
import bench_instructions  # noqa: E402
import bench_peers  # noqa: E402
import bench_scenarios  # noqa: E402
from bench_common import (  # noqa: E402
    Contender,
    Stats,
    environment,
    fmt_ratio,
    fmt_us,
    measure_async,
    table,
    timer_overhead,
)
from bench_tokens import ALGORITHMS, Fixture, make_fixture  # noqa: E402

DEFAULT_JSON = HERE / "results" / "latest.json"
#: The library's goal on a warm cache, as a ratio to floor+parse.
TARGET = 1.15

FLOOR = "floor (cryptography verify)"
FLOOR_PARSE = "floor+parse (minimal JWS)"
VERIFIER = "jwks_client Verifier"
ASYNC_VERIFIER = "jwks_client AsyncVerifier"


@dataclass(frozen=True)
class Plan:
    """How much of everything a run does."""

    rounds: int
    per_round: int
    anatomy_rounds: int
    profile_calls: int
    cold_runs: int
    concurrent: int
    concurrency_repeats: int
    thread_workers: int
    flood: int
    throughput_tasks: int
    throughput_each: int
    jwks_keys: int
    generate_rsa: bool
    growth_calls: int
    process_runs: int
    fleet_sizes: tuple[int, ...]
    fleet_flood: int
    fleet_cold_runs: int
    fleet_timing: bench_fleet.Timing
    instruction_pairs: tuple[tuple[str, str], ...]
    instruction_calls: int


QUICK = Plan(
    rounds=40,
    per_round=25,
    anatomy_rounds=15,
    profile_calls=1000,
    cold_runs=5,
    concurrent=1000,
    concurrency_repeats=1,
    thread_workers=64,
    flood=5000,
    throughput_tasks=100,
    throughput_each=20,
    jwks_keys=1000,
    generate_rsa=False,
    growth_calls=100_000,
    process_runs=7,
    fleet_sizes=(1, 4),
    fleet_flood=100,
    fleet_cold_runs=3,
    fleet_timing=bench_fleet.QUICK_TIMING,
    instruction_pairs=(("RS256", "ES256"),),
    instruction_calls=100,
)
FULL = Plan(
    rounds=100,
    per_round=50,
    anatomy_rounds=40,
    profile_calls=5000,
    cold_runs=20,
    concurrent=1000,
    concurrency_repeats=3,
    thread_workers=64,
    flood=5000,
    throughput_tasks=100,
    throughput_each=100,
    jwks_keys=1000,
    generate_rsa=True,
    growth_calls=1_000_000,
    process_runs=21,
    fleet_sizes=(1, 4, 16),
    fleet_flood=200,
    fleet_cold_runs=15,
    fleet_timing=bench_fleet.Timing(),
    instruction_pairs=bench_dpop.COMBOS,
    instruction_calls=200,
)


def log(message: str) -> None:
    """Progress on stderr, so stdout holds only the report."""
    print(message, file=sys.stderr, flush=True)


# --- the warm verification table ------------------------------------------------------------


async def verification_table(
    fixtures: dict[str, Fixture], plan: Plan, keep_gc: bool
) -> dict[str, dict[str, Any]]:
    """Every contender for every algorithm, timed in interleaved rounds per algorithm."""
    results: dict[str, dict[str, Any]] = {}
    for alg, fixture in fixtures.items():
        log(f"timing {alg} ...")
        verifier, sync_row = bench_peers.jwks_client_verifier(fixture)
        async_verifier, async_row = await bench_peers.jwks_client_async_verifier(fixture)
        contenders = [
            sync_row,
            async_row,
            *(bench_peers.peer(name, fixture) for name in bench_peers.PEERS),
            Contender(FLOOR, call=fixture.floor),
            Contender(FLOOR_PARSE, call=fixture.floor_parse),
        ]
        extra = None
        if bench_peers.supports_option("verified_token_cache_size"):
            extra_verifier, extra = bench_peers.jwks_client_verifier(
                fixture, verified_token_cache_size=1024
            )
            extra.name = "jwks_client Verifier, verified-token cache hit"
            contenders.insert(2, extra)
        try:
            stats = await measure_async(
                contenders, rounds=plan.rounds, per_round=plan.per_round, keep_gc=keep_gc
            )
        finally:
            verifier.close()
            await async_verifier.aclose()
            if extra is not None:
                extra_verifier.close()
        results[alg] = _rows(contenders, stats)
    return results


def _rows(contenders: list[Contender], stats: dict[str, Stats]) -> dict[str, Any]:
    floor = stats[FLOOR].median
    floor_parse = stats[FLOOR_PARSE].median
    rows: dict[str, Any] = {}
    for contender in contenders:
        if contender.name not in stats:
            rows[contender.name] = {"unavailable": contender.unavailable or "n/a"}
            continue
        s = stats[contender.name]
        rows[contender.name] = {
            **s.as_dict(),
            "ratio_to_floor": round(s.median / floor, 3),
            "ratio_to_floor_parse": round(s.median / floor_parse, 3),
        }
    return rows


def print_table(results: dict[str, dict[str, Any]]) -> None:
    """The per-call tables: microseconds, then ratios."""
    algs = list(results)
    names: list[str] = []
    for rows in results.values():
        names += [n for n in rows if n not in names]
    print("\n### Warm verification: median µs per token (p90)\n")
    body = []
    for name in names:
        cells = [name]
        for alg in algs:
            row = results[alg].get(name, {})
            if "median_us" in row:
                cells.append(f"{fmt_us(row['median_us'])} ({fmt_us(row['p90_us'])})")
            else:
                cells.append("n/a")
        body.append(cells)
    print(table(["contender", *algs], body))
    print("\n### Ratio to the floor / to floor+parse (medians)\n")
    body = []
    for name in names:
        cells = [name]
        for alg in algs:
            row = results[alg].get(name, {})
            if "median_us" in row:
                cells.append(
                    f"{fmt_ratio(row['ratio_to_floor'])} / {fmt_ratio(row['ratio_to_floor_parse'])}"
                )
            else:
                cells.append("n/a")
        body.append(cells)
    print(table(["contender", *algs], body))
    missing = {
        f"{name} ({alg})": row["unavailable"]
        for alg in algs
        for name, row in results[alg].items()
        if "unavailable" in row
    }
    if missing:
        print("\nn/a:")
        for what, why in missing.items():
            print(f"- {what}: {why}")


# --- anatomy of the hot path -------------------------------------------------------------


def anatomy(fixtures: dict[str, Fixture], plan: Plan, keep_gc: bool) -> dict[str, Any]:
    """Call counts, the stage breakdown and a cProfile summary per algorithm."""
    out: dict[str, Any] = {}
    for alg, fixture in fixtures.items():
        log(f"anatomy of {alg} ...")
        verifier, _row = bench_peers.jwks_client_verifier(fixture)
        try:
            counts = bench_hotpath.call_counts(verifier, fixture.token)
            async_counts = bench_hotpath.async_counts(fixture, fixture.token)
            parts = bench_hotpath.breakdown(
                verifier,
                fixture,
                rounds=plan.anatomy_rounds,
                per_round=40,
                batch=20,
                keep_gc=keep_gc,
            )
            top = bench_hotpath.profile(verifier, fixture.token, plan.profile_calls)
        finally:
            verifier.close()
        out[alg] = {
            "calls": counts,
            "async_calls": async_counts,
            "breakdown": parts,
            "cprofile_top": top,
        }
    return out


def print_anatomy(result: dict[str, Any]) -> None:
    """Call counts and where the time goes beyond floor+parse."""
    algs = list(result)
    print("\n### Hot path: calls per warm verification and time beyond floor+parse (µs)\n")
    rows: list[list[str]] = [
        ["Python calls, Verifier.verify"] + [str(result[a]["calls"]["python_calls"]) for a in algs],
        ["  of which in jwks_client"]
        + [str(result[a]["calls"]["python_calls_in_jwks_client"]) for a in algs],
        ["C calls, Verifier.verify"] + [str(result[a]["calls"]["c_calls"]) for a in algs],
        ["Python calls, AsyncVerifier.verify"]
        + [str(result[a]["async_calls"]["python_calls"]) for a in algs],
    ]
    first = result[algs[0]]["breakdown"]
    if "overhead_parts_us" in first:
        rows.append(
            ["Verifier.verify (µs)"]
            + [fmt_us(result[a]["breakdown"]["stages_us"]["Verifier.verify"]) for a in algs]
        )
        rows.append(
            ["floor+parse (µs)"]
            + [fmt_us(result[a]["breakdown"]["stages_us"]["floor+parse"]) for a in algs]
        )
        rows.append(
            ["overhead beyond floor+parse"]
            + [f"{result[a]['breakdown']['overhead_vs_floor_parse_us']:.2f}" for a in algs]
        )
        for part in first["overhead_parts_us"]:
            rows.append(
                [f"  {part}"]
                + [f"{result[a]['breakdown']['overhead_parts_us'][part]:.2f}" for a in algs]
            )
        rows.append(
            ["ratio to floor+parse (this section)"]
            + [fmt_ratio(result[a]["breakdown"]["ratio_to_floor_parse"]) for a in algs]
        )
        rows.append(
            [f"µs to cut to reach {TARGET}x (negative: over budget)"]
            + [f"{result[a]['breakdown']['target_1_15_budget_us']:.2f}" for a in algs]
        )
    print(table(["", *algs], rows))
    for alg in algs:
        for note in result[alg]["breakdown"].get("notes", []):
            print(f"- {alg}: {note}")
    stages = result[algs[0]]["breakdown"]["stages_us"]
    print("\nStage timings (µs, each timed alone):\n")
    print(
        table(
            ["stage", *algs],
            [
                [name] + [fmt_us(result[a]["breakdown"]["stages_us"].get(name)) for a in algs]
                for name in stages
            ],
        )
    )
    alg = algs[0]
    print(f"\ncProfile, {alg}, top functions by own time (inflated by the profiler):\n")
    print(
        table(
            ["function", "calls/verify", "own µs", "cum µs"],
            [
                [
                    row["function"],
                    f"{row['calls_per_verify']:g}",
                    f"{row['own_us_per_verify']:.2f}",
                    f"{row['cumulative_us_per_verify']:.2f}",
                ]
                for row in result[alg]["cprofile_top"]
            ],
        )
    )


# --- scenarios ---------------------------------------------------------------------------------


def scenarios(fixtures: dict[str, Fixture], plan: Plan) -> dict[str, Any]:
    """Cold start, cold concurrency, unknown-kid flood, async throughput, memory."""
    out: dict[str, Any] = {}
    steps: list[tuple[str, Callable[[], Any]]] = [
        ("cold_start", lambda: bench_scenarios.cold_start(plan.cold_runs)),
        (
            "cold_concurrency",
            lambda: bench_scenarios.cold_concurrency(
                plan.concurrent, plan.thread_workers, plan.concurrency_repeats
            ),
        ),
        ("unknown_kid_flood", lambda: bench_scenarios.unknown_kid_flood(plan.flood)),
        (
            "async_throughput",
            lambda: bench_scenarios.async_throughput(
                {alg: (f.issuer, f.tokens) for alg, f in fixtures.items()},
                plan.throughput_tasks,
                plan.throughput_each,
            ),
        ),
        ("jwks_1000_keys", lambda: _jwks_memory(plan)),
        ("memory_growth", lambda: bench_scenarios.growth(plan.growth_calls, log=log)),
    ]
    for name, step in steps:
        log(f"scenario {name} ...")
        try:
            out[name] = step()
        except Exception as exc:  # one broken scenario must not sink the run
            out[name] = {"error": f"{type(exc).__name__}: {exc}"}
    return out


def _jwks_memory(plan: Plan) -> list[dict[str, Any]]:
    results = [bench_scenarios.jwks_memory(bench_scenarios.ec_jwks(plan.jwks_keys), "EC P-256")]
    body = bench_scenarios.rsa_jwks(plan.jwks_keys, generate=plan.generate_rsa, log=log)
    if body is not None:
        results.append(bench_scenarios.jwks_memory(body, "RSA-2048"))
    else:
        results.append(
            {
                "keys": "RSA-2048",
                "skipped": "no cached RSA set; the full run generates and caches it",
            }
        )
    return results


def print_scenarios(result: dict[str, Any]) -> None:
    """The scenario figures as short tables."""
    print("\n### Scenarios\n")
    for name, value in result.items():
        if isinstance(value, dict) and "error" in value:
            print(f"- {name}: ERROR {value['error']}")
    cold = result.get("cold_start", {})
    if "Verifier" in cold:
        print(
            f"Cold start (fresh issuer; discovery + JWKS + first verify; median of "
            f"{cold['runs']}; HTTP requests per start: {cold['requests_per_cold_start']}):\n"
        )
        print(
            table(
                ["", "construct ms", "first verify ms", "first verify p90 ms"],
                [
                    [
                        kind,
                        f"{v['construct_ms']:.2f}",
                        f"{v['first_verify_ms']:.2f}",
                        f"{v['first_verify_p90_ms']:.2f}",
                    ]
                    for kind, v in ((k, cold[k]) for k in ("Verifier", "AsyncVerifier"))
                ],
            )
        )
    conc = result.get("cold_concurrency", {})
    if "verifications" in conc:
        print(
            f"\n{conc['verifications']:,} concurrent verifications on a cold cache "
            f"(median of {conc['repeats']}; {conc['thread_workers']} threads in the pool):\n"
        )
        rows = []
        for kind in ("asyncio tasks + AsyncVerifier", "thread pool + Verifier"):
            v = conc[kind]
            requests = v["requests"]
            rows.append(
                [
                    kind,
                    f"{v['wall_ms_median']:.1f}",
                    f"{v['verified']:,}",
                    str(max(r["discovery"] for r in requests)),
                    str(max(r["jwks"] for r in requests)),
                ]
            )
        print(table(["", "wall ms", "verified", "discovery GETs", "JWKS GETs"], rows))
    flood = result.get("unknown_kid_flood", {})
    if "flood_tokens" in flood:
        fetched = flood["fetches_during_flood"]
        print(
            f"\nUnknown-kid flood: {flood['flood_tokens']:,} random-kid tokens mixed 1:1 with "
            f"valid {flood['alg']} tokens in {flood['flood_wall_ms']:.0f} ms; JWKS GETs during "
            f"the flood: {fetched['jwks']} (discovery: {fetched['discovery']}); random kids "
            f"accepted: {flood['unknown_kid_accepted']}.\n"
        )
        print(
            table(
                ["", "median µs", "p90 µs"],
                [
                    ["valid token, no flood", *_pair(flood["valid_without_flood_us"])],
                    ["valid token, during the flood", *_pair(flood["valid_during_flood_us"])],
                    ["unknown-kid token (rejected)", *_pair(flood["unknown_kid_rejection_us"])],
                ],
            )
        )
    tp = result.get("async_throughput", {})
    if "by_alg" in tp:
        print(
            f"\nAsync throughput: {tp['tasks']} tasks x {tp['per_task']} verifications, "
            "one AsyncVerifier, one event loop:\n"
        )
        print(
            table(
                ["", *tp["by_alg"]],
                [["verifications/s"] + [f"{v['per_second']:,}" for v in tp["by_alg"].values()]],
            )
        )
    sets = result.get("jwks_1000_keys")
    if isinstance(sets, list):
        print("\nParsing a 1,000-key JWKS (JSON decoding + import of every key), tracemalloc:\n")
        rows = []
        for s in sets:
            if "skipped" in s:
                rows.append([s["keys"], "-", "-", "-", "-", s["skipped"]])
                continue
            rows.append(
                [
                    s["keys"],
                    f"{s['body_bytes']:,}",
                    f"{s['parse_ms']:.0f}",
                    f"{s['retained_bytes']:,}",
                    f"{s['retained_bytes_per_key']:,}",
                    f"{s['peak_bytes']:,}",
                ]
            )
        print(table(["keys", "body B", "parse ms", "retained B", "B/key", "peak B"], rows))
    growth = result.get("memory_growth", {})
    if "verifications" in growth:
        verdict = "no growth beyond noise" if growth["no_growth"] else "GROWTH DETECTED"
        print(
            f"\nMemory across {growth['verifications']:,} verifications ({growth['alg']}, "
            f"{growth['rejected']:,} of them rejections; tracemalloc on, {growth['elapsed_s']} s): "
            f"traced {growth['traced_growth_bytes']:+,} B, RSS {growth['rss_growth_bytes']:+,} B "
            f"after warm-up; {growth['traced_bytes_per_1000_calls_second_half']:+.1f} B per "
            f"1,000 calls over the second half -> {verdict} (limits: traced "
            f"{growth['limits']['traced_bytes']:,} B, RSS {growth['limits']['rss_bytes']:,} B)."
        )


def _pair(value: dict[str, float]) -> list[str]:
    return [f"{value['median']:.1f}", f"{value['p90']:.1f}"]


# --- cold start in fresh processes ---------------------------------------------------------


def coldstart(plan: Plan) -> dict[str, Any]:
    """Fresh-process import and first-token times against PyJWT (an error is reported)."""
    log(f"cold start in fresh processes ({plan.process_runs} rounds) ...")
    try:
        result = bench_coldstart.cold_processes(plan.process_runs, log=log)
    except Exception as exc:  # a failed child must not sink the rest of the run
        return {"error": f"{type(exc).__name__}: {exc}"}
    python, how = bench_coldstart.deployment_python(log)
    if python is None:
        result["deployment"] = {"unavailable": how}
        return result
    log(f"cold start in the deployment venv ({plan.process_runs} rounds) ...")
    try:
        result["deployment"] = bench_coldstart.cold_processes(
            plan.process_runs, log=log, python=python
        )
        result["deployment"]["venv"] = how
    except Exception as exc:
        result["deployment"] = {"error": f"{type(exc).__name__}: {exc}"}
    return result


def print_coldstart(result: dict[str, Any]) -> None:
    """The fresh-process tables and the verdicts against the targets: with this
    interpreter, then in the deployment venv."""
    print("\n### Cold start in a fresh process\n")
    print("With the benchmark's own interpreter (the development venv):\n")
    _print_cold_kinds(result)
    deployment = result.get("deployment")
    if deployment is None:
        return
    print(
        "\nIn a deployment venv (the library from this checkout, not editable, with its "
        "runtime dependencies only, and PyJWT with cryptography; "
        "benchmarks/results/coldstart-venv):\n"
    )
    if "unavailable" in deployment:
        print(f"n/a: {deployment['unavailable']}")
        return
    _print_cold_kinds(deployment)


def _print_cold_kinds(result: dict[str, Any]) -> None:
    if "error" in result:
        print(f"- ERROR {result['error']}")
        return
    print(
        f"Medians of {result['runs']} fresh processes per row (interleaved, after a warm-up "
        "round); ms from just before the import, as the child measures it (its CPU time in "
        "brackets); process: spawn to exit, interpreter start-up included. The verdict is "
        "on the wall clock. JWKS requests per first token: "
        + ", ".join(
            f"{kind} {v['jwks_requests']}"
            for kind, v in result["kinds"].items()
            if "jwks_requests" in v
        )
        + ".\n"
    )
    rows = []
    for kind, v in result["kinds"].items():
        first = v.get("first_token_ms")
        rows.append(
            [
                kind,
                f"{v['import_ms']:.1f} ({v['import_cpu_ms']:.1f})",
                "-" if first is None else f"{first:.1f} ({v['first_token_cpu_ms']:.1f})",
                f"{v['process_ms']:.1f}",
                f"{v['modules']:g}",
            ]
        )
    headers = ["", "import ms (CPU)", "first token ms (CPU)", "process ms", "modules imported"]
    print(table(headers, rows))
    print(
        f"\nThe library's own share of its first token (jwks_client first token minus the "
        f"dependency floor: import httpx and joserfc.jwk, one plain-HTTP GET of the JWKS, "
        f"KeySet.import_key_set): {result['library_ms']:.1f} ms ({result['library_cpu_ms']:.1f} "
        "ms CPU)."
    )
    if "pyjwt_unavailable" in result:
        print(f"\nPyJWT: n/a ({result['pyjwt_unavailable']})")
        return
    print(
        f"The dependency floor alone is {fmt_ratio(result['floor_ratio'])} PyJWT's first "
        f"token ({fmt_ratio(result['floor_cpu_ratio'])} CPU)."
    )
    targets = result["targets"]
    print()
    print(
        table(
            ["ratio to PyJWT (medians)", "wall clock", "CPU", "target", "verdict"],
            [
                [
                    label,
                    fmt_ratio(result[key]),
                    fmt_ratio(result[key.replace("_ratio", "_cpu_ratio")]),
                    f"<= {targets[key]}x",
                    "meets" if result[key] <= targets[key] else "misses",
                ]
                for label, key in (
                    ("import jwks_client / import jwt", "import_ratio"),
                    ("first token: jwks_client / PyJWT", "first_token_ratio"),
                )
            ],
        )
    )


# --- the fleet -----------------------------------------------------------------------------


def fleet(plan: Plan) -> dict[str, Any]:
    """K worker processes with and without a shared cache on Redis (an error is reported)."""
    log(f"fleet: K in {plan.fleet_sizes}, shared_cache off and on ...")
    try:
        return bench_fleet.fleet(
            plan.fleet_sizes,
            plan.fleet_flood,
            warm_rounds=plan.rounds,
            warm_per_round=plan.per_round,
            cold_runs=plan.fleet_cold_runs,
            timing=plan.fleet_timing,
            log=log,
        )
    except Exception as exc:  # no redis-server must not sink the rest of the run
        return {"error": f"{type(exc).__name__}: {exc}"}


#: The steps whose tokens are all valid (every one must verify).
_VALID_STEPS = ("cold start", "rotation", "one lifetime")


def _rejected(fleet_row: dict[str, Any]) -> tuple[int, int]:
    """Valid tokens rejected, and valid tokens verified in all, across a fleet's steps."""
    steps = fleet_row["steps"]
    total = sum(sum(steps[s]["outcomes"].values()) for s in _VALID_STEPS if s in steps)
    ok = sum(steps[s]["outcomes"].get("ok", 0) for s in _VALID_STEPS if s in steps)
    return total - ok, total


def print_fleet(result: dict[str, Any]) -> None:
    """Issuer requests per fleet and step, warm verify with and without Redis, cold
    processes."""
    print("\n### Fleet: K processes, with and without a shared cache on Redis\n")
    if "error" in result:
        print(f"- ERROR {result['error']}")
        return
    policy = result["policy"]
    print(
        "Issuer requests per step (discovery + JWKS) for K spawned worker processes, each "
        f"with its own Verifier (refresh_cooldown {policy['refresh_cooldown']:g} s, the "
        f"issuer's max-age {policy['max_age']} s, refresh ahead at "
        f"{policy['refresh_ahead']:.0%}); every step starts on a barrier; the lifetime step "
        f"verifies every 20 ms for {policy['lifetime_step_s']:g} s; the flood is "
        f"{result['flood_per_worker']} random-kid tokens per worker.\n"
    )
    rows = []
    for row in result["fleets"]:
        mode = "on" if row["shared_cache"] else "off"
        if "error" in row:
            rows.append([mode, str(row["k"]), f"ERROR {row['error'][:60]}", "", "", "", "", ""])
            continue
        steps = row["steps"]
        cells = [f"{steps[s]['discovery']} + {steps[s]['jwks']}" for s in bench_fleet.STEPS]
        rejected, total = _rejected(row)
        flood = steps["random-kid flood"]["outcomes"]
        rows.append(
            [mode, str(row["k"]), *cells, f"{rejected:,} of {total:,}", str(flood.get("ok", 0))]
        )
    headers = ["shared_cache", "K", *bench_fleet.STEPS, "valid rejected", "random accepted"]
    print(table(headers, rows))
    errors = {
        f"K={r['k']}": r["stats"]["shared_cache_errors"]
        for r in result["fleets"]
        if r.get("stats", {}).get("shared_cache_errors")
    }
    if errors:
        print(f"\nShared-cache errors counted by the workers (fell back to the issuer): {errors}")
    warm = result.get("warm_verify", {})
    print()
    if "error" in warm:
        print(f"- warm verify: ERROR {warm['error']}")
    else:
        print(
            f"Warm verify ({warm['alg']}, interleaved in one process, "
            f"{warm[bench_fleet.WITHOUT]['samples']:,} calls each); Redis commands while "
            f"timing: {warm['redis_commands_while_timing'] or 'none'}:\n"
        )
        print(
            table(
                ["", "median µs", "p90 µs"],
                [
                    [name, fmt_us(warm[name]["median_us"]), fmt_us(warm[name]["p90_us"])]
                    for name in (bench_fleet.WITHOUT, bench_fleet.WITH)
                ]
                + [["ratio (medians)", fmt_ratio(warm["ratio"]), ""]],
            )
        )
    cold = result.get("cold_process", {})
    print()
    if "error" in cold:
        print(f"- cold process: ERROR {cold['error']}")
        return
    print(
        f"A cold process's first verify (medians of {cold['runs']} fresh processes per row, "
        "interleaved; ms from building the Verifier to the return of its first verify, "
        "imports done before, joserfc's key modules too (their import, which every first "
        "key pays, timed apart); CPU in brackets; process: spawn to exit):\n"
    )
    body = []
    for kind, v in cold["kinds"].items():
        commands = "; ".join(
            ", ".join(f"{name} {n}" for name, n in seen.items()) or "none"
            for seen in v["redis_commands"]
        )
        body.append(
            [
                kind,
                f"{v['first_verify_ms']:.1f} ({v['first_verify_cpu_ms']:.1f})",
                f"{v['joserfc_import_ms']:.1f}",
                f"{v['process_ms']:.0f}",
                "/".join(map(str, v["issuer_requests"])),
                commands,
                "/".join("yes" if x else "no" for x in v["httpx_loaded"]),
            ]
        )
    headers = ["", "first verify ms (CPU)", "joserfc import ms", "process ms", "issuer requests"]
    print(table([*headers, "Redis commands", "httpx loaded"], body))


def fleet_failures(result: dict[str, Any]) -> list[str]:
    """What the fleet shows the library doing wrong (an empty list when nothing): a valid
    token rejected, a random kid accepted, and with shared_cache issuer requests above one
    fetch per step or growing with K."""
    if "error" in result:
        return [f"fleet: {result['error']}"]
    failed: list[str] = []
    cooldown = result["policy"]["refresh_cooldown"]
    smallest: dict[str, tuple[int, int]] = {}
    for row in result["fleets"]:
        name = f"fleet K={row['k']}, shared_cache {'on' if row['shared_cache'] else 'off'}"
        if "error" in row:
            failed.append(f"{name}: {row['error']}")
            continue
        steps = row["steps"]
        rejected, total = _rejected(row)
        if rejected:
            detail = {s: steps[s]["outcomes"] for s in _VALID_STEPS}
            failed.append(f"{name}: {rejected} of {total} valid tokens rejected: {detail}")
        if steps["random-kid flood"]["outcomes"].get("ok"):
            failed.append(f"{name}: a token with a random kid was accepted")
        if not row["shared_cache"]:
            continue
        for step in bench_fleet.STEPS:
            got = (steps[step]["discovery"], steps[step]["jwks"])
            # One fetch per step for the whole fleet (the flood: one per cooldown it spans).
            bound = 1 + int(steps[step]["span_s"] // cooldown) if step == "random-kid flood" else 1
            if step == "cold start" and got != (1, 1):
                failed.append(f"{name}: cold start made {got[0]} + {got[1]} requests, not 1 + 1")
            elif max(got) > bound:
                failed.append(f"{name}: {step} made {got[0]} + {got[1]} requests (at most {bound})")
            first = smallest.setdefault(step, got)
            if sum(got) > sum(first):
                failed.append(f"{name}: {step} requests grow with K: {got} against {first}")
    warm = result.get("warm_verify", {})
    if "error" in warm:
        failed.append(f"fleet warm verify: {warm['error']}")
    elif warm["redis_commands_while_timing"]:
        failed.append(f"warm verify sent Redis commands: {warm['redis_commands_while_timing']}")
    cold = result.get("cold_process", {})
    if "error" in cold:
        failed.append(f"fleet cold process: {cold['error']}")
    else:
        expected = {"warm Redis": [0], "cold Redis": [2], "no Redis": [2]}
        for kind, want in expected.items():
            got_requests = cold["kinds"][kind]["issuer_requests"]
            if got_requests != want:
                failed.append(f"a cold process ({kind}) made {got_requests} issuer requests")
    return failed


# --- DPoP requests ------------------------------------------------------------------------------


def dpop_section(plan: Plan, keep_gc: bool) -> dict[str, Any]:
    """verify_request with DPoP against two floors, beside bearer verification."""
    log("timing DPoP requests ...")
    return asyncio.run(
        bench_dpop.dpop_table(
            bench_dpop.COMBOS, rounds=plan.rounds, per_round=plan.per_round, keep_gc=keep_gc
        )
    )


def print_dpop(result: dict[str, Any]) -> None:
    """The DPoP table: µs (p90) and the ratio to floor+parse x2, per pair of algorithms."""
    pairs = list(result)
    names = list(result[pairs[0]])
    print("\n### DPoP requests: median µs (p90) / ratio to floor+parse x2\n")
    body = []
    for name in names:
        cells = [name]
        for pair in pairs:
            row = result[pair][name]
            cells.append(
                f"{fmt_us(row['median_us'])} ({fmt_us(row['p90_us'])}) / "
                f"{fmt_ratio(row['ratio_to_floor_parse2'])}"
            )
        body.append(cells)
    print(table(["contender", *pairs], body))
    print(f"\nTarget: verify_request with DPoP at most {TARGET}x floor+parse x2.\n")
    print(
        table(
            ["", *pairs],
            [
                [name]
                + [
                    f"{'meets' if r <= TARGET else 'misses'} ({r:.2f}x)"
                    for r in (result[pair][name]["ratio_to_floor_parse2"] for pair in pairs)
                ]
                for name in (bench_dpop.DPOP, bench_dpop.ASYNC_DPOP)
            ],
        )
    )


# --- instructions ------------------------------------------------------------------------------


def instructions_section(plan: Plan) -> dict[str, Any]:
    """Instructions per call under callgrind, against the floors (host-independent)."""
    log("counting instructions under valgrind ...")
    try:
        return bench_instructions.instruction_table(
            plan.instruction_pairs, calls=plan.instruction_calls, log=log
        )
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}


def print_instructions(result: dict[str, Any]) -> None:
    """Instructions per call and their ratios to floor+parse (x2 for DPoP)."""
    print("\n### Instructions per call (callgrind)\n")
    if "unavailable" in result or "error" in result:
        print(f"n/a: {result.get('unavailable') or result.get('error')}")
        return
    names = list(bench_instructions.LOOPS)
    pairs = result["pairs"]
    body = [
        [name] + [f"{pairs[p]['instructions_per_call'][name]:,}" for p in pairs] for name in names
    ]
    body.append(
        ["verify / floor+parse"]
        + [fmt_ratio(pairs[p]["verify_ratio_to_floor_parse"]) for p in pairs]
    )
    body.append(
        ["verify_request / floor+parse x2"]
        + [fmt_ratio(pairs[p]["verify_request_ratio_to_floor_parse2"]) for p in pairs]
    )
    print(table(["instructions per call", *pairs], body))
    print(f"\n{result['calls']} calls of each, counted apart from set-up.")


# --- main -------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; return the exit status (1 if a check of the run failed)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smaller run (about 90 s)")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write JSON")
    parser.add_argument(
        "--keep-gc", action="store_true", help="leave the garbage collector on while timing"
    )
    parser.add_argument(
        "--sections",
        default="table,anatomy,scenarios,coldstart,dpop,instructions,fleet",
        help=(
            "comma-separated subset of: table, anatomy, scenarios, coldstart, dpop, "
            "instructions, fleet"
        ),
    )
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    sections = {s.strip() for s in args.sections.split(",") if s.strip()}
    warnings.simplefilter("ignore")  # peers' deprecation notes are not under test

    started = time.perf_counter()
    report: dict[str, Any] = {
        "mode": "quick" if args.quick else "full",
        "environment": environment(),
        "plan": plan.__dict__,
        "gc_disabled_while_timing": not args.keep_gc,
        "timer_overhead_us": round(timer_overhead(), 3),
        "target_ratio_to_floor_parse": TARGET,
    }
    env = report["environment"]
    print(
        f"## jwks_client benchmark ({report['mode']} run, {env['date']})\n\n"
        f"Python {env['python']}, cryptography {env['versions']['cryptography']} "
        f"({env['openssl']}), {env['cpu']} x{env['cpus']}; jwks_client "
        f"{env['versions']['jwks-client']} at {env['git_commit']}"
        f"{' + uncommitted changes' if env['jwks_client_modified'] else ''}. Per-call timer "
        f"overhead {report['timer_overhead_us']} µs; gc "
        f"{'on' if args.keep_gc else 'off'} while timing."
    )

    log("starting issuers and minting tokens ...")
    fixtures = {alg: make_fixture(alg) for alg in ALGORITHMS}
    report["tokens"] = {
        alg: {"payload_bytes": f.payload_bytes, "token_chars": f.token_chars}
        for alg, f in fixtures.items()
    }
    failed: list[str] = []
    try:
        if "table" in sections:
            keep_gc = args.keep_gc
            table_result = asyncio.run(verification_table(fixtures, plan, keep_gc))
            report["verification"] = table_result
            print_table(table_result)
            for alg, rows in table_result.items():
                for name in (VERIFIER, ASYNC_VERIFIER):
                    if "unavailable" in rows.get(name, {}):
                        failed.append(f"{name} could not verify {alg}: {rows[name]['unavailable']}")
            print(f"\nTarget: at most {TARGET}x floor+parse on a warm cache.\n")
            print(
                table(
                    ["", *table_result],
                    [
                        [name] + [_verdict(table_result[alg].get(name, {})) for alg in table_result]
                        for name in (VERIFIER, ASYNC_VERIFIER)
                    ],
                )
            )
        if "anatomy" in sections:
            report["anatomy"] = anatomy(fixtures, plan, args.keep_gc)
            print_anatomy(report["anatomy"])
        if "scenarios" in sections:
            report["scenarios"] = scenarios(fixtures, plan)
            print_scenarios(report["scenarios"])
            failed += scenario_failures(report["scenarios"])
        if "coldstart" in sections:
            report["coldstart"] = coldstart(plan)
            print_coldstart(report["coldstart"])
            failed += coldstart_failures(report["coldstart"])
        if "dpop" in sections:
            report["dpop"] = dpop_section(plan, args.keep_gc)
            print_dpop(report["dpop"])
        if "instructions" in sections:
            report["instructions"] = instructions_section(plan)
            print_instructions(report["instructions"])
            if "error" in report["instructions"]:
                failed.append(f"instructions: {report['instructions']['error']}")
        if "fleet" in sections:
            report["fleet"] = fleet(plan)
            print_fleet(report["fleet"])
            failed += fleet_failures(report["fleet"])
    finally:
        for fixture in fixtures.values():
            fixture.issuer.stop()
    report["elapsed_s"] = round(time.perf_counter() - started, 1)
    report["failures"] = failed
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"\nElapsed {report['elapsed_s']} s. JSON: {args.json}")
    for failure in failed:
        print(f"FAILED: {failure}")
    return 1 if failed else 0


def scenario_failures(result: dict[str, Any]) -> list[str]:
    """What the scenarios show the library doing wrong (an empty list when nothing)."""
    failed = [f"scenario {name}: {v['error']}" for name, v in result.items() if "error" in v]
    cold = result.get("cold_start", {})
    if "requests_per_cold_start" in cold and cold["requests_per_cold_start"] != [2]:
        failed.append(f"cold start made {cold['requests_per_cold_start']} requests, not 2")
    conc = result.get("cold_concurrency", {})
    for kind in ("asyncio tasks + AsyncVerifier", "thread pool + Verifier"):
        if kind not in conc:
            continue
        if conc[kind]["verified"] != conc["verifications"]:
            failed.append(f"cold concurrency ({kind}): only {conc[kind]['verified']} verified")
        if any(r != {"discovery": 1, "jwks": 1} for r in conc[kind]["requests"]):
            failed.append(f"cold concurrency ({kind}): requests {conc[kind]['requests']}")
    flood = result.get("unknown_kid_flood", {})
    if flood.get("unknown_kid_accepted"):
        failed.append("unknown-kid flood: a token with a random kid was accepted")
    if flood.get("fetches_during_flood", {}).get("jwks", 0) > 1:
        failed.append(f"unknown-kid flood: {flood['fetches_during_flood']} fetches, not <= 1")
    if result.get("memory_growth", {}).get("no_growth") is False:
        failed.append("memory grew beyond noise across the verifications")
    return failed


def coldstart_failures(result: dict[str, Any]) -> list[str]:
    """What the fresh-process cold start shows going wrong (an empty list when nothing)."""
    if "error" in result:
        return [f"cold start in fresh processes: {result['error']}"]
    failed = []
    for where, run in (("", result), (" (deployment venv)", result.get("deployment", {}))):
        if "error" in run:
            failed.append(f"cold start in fresh processes{where}: {run['error']}")
        elif "kinds" in run:
            first = run["kinds"]["jwks_client first token"]
            if first["jwks_requests"] != [1]:
                failed.append(
                    f"a fresh-process first token{where} made {first['jwks_requests']} "
                    "requests, not 1"
                )
    return failed


def _verdict(row: dict[str, Any]) -> str:
    if "ratio_to_floor_parse" not in row:
        return "n/a"
    ratio = row["ratio_to_floor_parse"]
    return f"{'meets' if ratio <= TARGET else 'misses'} ({ratio:.2f}x)"


if __name__ == "__main__":
    sys.exit(main())
