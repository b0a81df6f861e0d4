"""Anatomy of one warm ``Verifier.verify``: call counts, a stage-by-stage time breakdown, cProfile.

The breakdown times each stage of the verification on its own, in the same interleaved
harness as the main table, with the same token:

* ``parse_token``: the parse ``verify`` makes (``TokenChecker.parse``: a header segment
  seen before is not judged again, :class:`~jwks_client._token.HeaderMemo`; then the
  strict split, base64url and JSON of payload and signature),
* key resolution (``KeyEngine.fresh_candidates``: state read, clock, ``KeyRing.select``,
  the hit counter),
* the signature check (``check_signature`` -> ``PreparedKey.verify`` -> cryptography),
* ``validate_claims`` and ``clock()``.

Every figure here is the median of batch means (a batch of calls timed together), so the
timer's own cost does not swamp the sub-microsecond stages; the whole verification and
the baselines are timed the same way, in the same interleaved rounds. What the stages do
not account for is reported as "glue" (the verify frames themselves, attribute lookups,
argument passing).

These stages reach into private names of the library; if one is renamed, that stage is
reported as unavailable and the rest of the run goes on.
"""

from __future__ import annotations

import asyncio
import collections
import cProfile
import pstats
import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

from bench_common import Contender, Stats, measure
from bench_tokens import Fixture

from jwks_client import AsyncVerifier, Verifier


def _where(frame: FrameType) -> str:
    code = frame.f_code
    name = getattr(code, "co_qualname", code.co_name)  # co_qualname: Python 3.11+
    return f"{frame.f_globals.get('__name__', '?')}.{name}"


def _count_calls(run: Callable[[], object]) -> dict[str, Any]:
    """Count Python and C calls made by ``run()`` with ``sys.setprofile``."""
    python: collections.Counter[str] = collections.Counter()
    native: collections.Counter[str] = collections.Counter()

    def profiler(frame: FrameType, event: str, arg: object) -> None:
        if event == "call":
            python[_where(frame)] += 1
        elif event == "c_call":
            native[getattr(arg, "__qualname__", repr(arg))] += 1

    sys.setprofile(profiler)
    try:
        run()
    finally:
        sys.setprofile(None)
    native.pop("setprofile", None)
    own = sum(n for name, n in python.items() if name.startswith("jwks_client"))
    return {
        "python_calls": sum(python.values()),
        "python_calls_in_jwks_client": own,
        "c_calls": sum(native.values()),
        "python_functions": dict(python.most_common()),
        "c_functions": dict(native.most_common()),
    }


def call_counts(verifier: Verifier, token: str) -> dict[str, Any]:
    """Calls made by one warm ``verifier.verify(token)``."""
    verifier.verify(token)
    return _count_calls(lambda: verifier.verify(token))


async def async_call_counts(verifier: AsyncVerifier, token: str) -> dict[str, Any]:
    """Calls made by one warm ``await verifier.verify(token)`` (a non-suspending await)."""
    await verifier.verify(token)
    python: collections.Counter[str] = collections.Counter()
    native: collections.Counter[str] = collections.Counter()

    def profiler(frame: FrameType, event: str, arg: object) -> None:
        if event == "call":
            python[_where(frame)] += 1
        elif event == "c_call":
            native[getattr(arg, "__qualname__", repr(arg))] += 1

    sys.setprofile(profiler)
    try:
        await verifier.verify(token)
    finally:
        sys.setprofile(None)
    native.pop("setprofile", None)
    return {"python_calls": sum(python.values()), "c_calls": sum(native.values())}


def async_counts(fixture: Fixture, token: str) -> dict[str, Any]:
    """Run :func:`async_call_counts` on a fresh AsyncVerifier in a new event loop."""

    async def main() -> dict[str, Any]:
        async with AsyncVerifier(
            fixture.issuer.issuer,
            audience="https://api.example.com",
            require_https=False,
            leeway=60,
        ) as verifier:
            return await async_call_counts(verifier, token)

    return asyncio.run(main())


def stage_contenders(verifier: Verifier, fixture: Fixture) -> tuple[list[Contender], list[str]]:
    """The stages of one verification as contenders, and notes on stages not available."""
    token = fixture.token
    notes: list[str] = []
    stages: list[Contender] = [Contender("minimal parse (baseline)", call=fixture.minimal_parse)]
    try:
        import time

        from jwks_client._claims import validate_claims
        from jwks_client._verify import check_signature

        engine = verifier.jwks_client.engine
        rules = verifier._checker.rules
        clock = time.time  # the benchmark's verifiers use the default clock
        parse = verifier._checker.parse  # as verify parses: the header memo warm

        parsed = parse(token)
        resolve = engine.fresh_candidates
        alg, kid = parsed.alg, parsed.kid
        candidates = resolve(alg, kid)
        if candidates is None:
            raise LookupError("the key set is not fresh and quiet")
        claims, typ, policy = parsed.claims, parsed.typ, rules.claims
        now = clock()
    except Exception as exc:  # private names moved: no breakdown
        notes.append(f"stage breakdown unavailable: {type(exc).__name__}: {exc}")
        return stages, notes

    stages += [
        Contender("parse_token", call=lambda: parse(token)),
        Contender("key resolution (fresh_candidates)", call=lambda: resolve(alg, kid)),
        Contender("signature (check_signature)", call=lambda: check_signature(parsed, candidates)),
        Contender(
            "claims (validate_claims)",
            call=lambda: validate_claims(claims, typ=typ, policy=policy, now=now),
        ),
        Contender("clock()", call=clock),
    ]
    return stages, notes


def breakdown(
    verifier: Verifier,
    fixture: Fixture,
    *,
    rounds: int,
    per_round: int,
    batch: int,
    keep_gc: bool,
) -> dict[str, Any]:
    """Time the whole verification, the baselines and every stage; derive the overheads."""
    whole = [
        Contender("Verifier.verify", call=lambda: verifier.verify(fixture.token)),
        Contender("floor", call=fixture.floor),
        Contender("floor+parse", call=fixture.floor_parse),
    ]
    stages, notes = stage_contenders(verifier, fixture)
    # One interleaved measurement, every sample the mean of a batch: the whole and its
    # parts are timed alike, so they can be subtracted.
    results: dict[str, Stats] = measure(
        whole + stages,
        rounds=rounds,
        per_round=max(1, per_round // batch),
        batch=batch,
        keep_gc=keep_gc,
    )
    med = {name: stats.median for name, stats in results.items()}
    out: dict[str, Any] = {"stages_us": {k: round(v, 3) for k, v in med.items()}, "notes": notes}
    if "parse_token" not in med:
        return out
    verify, floor, floor_parse = med["Verifier.verify"], med["floor"], med["floor+parse"]
    clock_calls = 2  # one for the key lookup, one for the claims after the signature check
    parts = {
        "parse_token beyond the minimal parse": med["parse_token"]
        - med["minimal parse (baseline)"],
        "key resolution": med["key resolution (fresh_candidates)"],
        "signature wrapper beyond the floor": med["signature (check_signature)"] - floor,
        "claims validation": med["claims (validate_claims)"],
        "clock reads (2)": clock_calls * med["clock()"],
    }
    # The baseline's raw->DER conversion (ES256) sits in "minimal parse"; the library does
    # it inside the signature check, so the two terms shift by the same amount.
    parts["glue (frames, lookups; the remainder)"] = (verify - floor_parse) - sum(parts.values())
    out["overhead_vs_floor_parse_us"] = round(verify - floor_parse, 3)
    out["overhead_parts_us"] = {k: round(v, 3) for k, v in parts.items()}
    out["ratio_to_floor"] = round(verify / floor, 3)
    out["ratio_to_floor_parse"] = round(verify / floor_parse, 3)
    out["target_1_15_budget_us"] = round(1.15 * floor_parse - verify, 3)
    return out


def profile(verifier: Verifier, token: str, calls: int, top: int = 14) -> list[dict[str, Any]]:
    """cProfile ``calls`` warm verifications; the top functions by own time, per verification.

    cProfile's own cost inflates every Python frame, so only the ordering and the call
    counts are to be trusted, not the absolute figures.
    """
    verifier.verify(token)
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(calls):
        verifier.verify(token)
    profiler.disable()
    stats = pstats.Stats(profiler)
    rows = []
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    for (filename, line, name), (_cc, ncalls, tottime, cumtime, _callers) in raw.items():
        where = filename.rsplit("/", 1)[-1] if filename != "~" else "<built-in>"
        rows.append(
            {
                "function": f"{where}:{line}({name})" if line else name,
                "calls_per_verify": round(ncalls / calls, 2),
                "own_us_per_verify": round(tottime / calls * 1e6, 3),
                "cumulative_us_per_verify": round(cumtime / calls * 1e6, 3),
            }
        )
    rows.sort(key=lambda row: row["own_us_per_verify"], reverse=True)
    return rows[:top]
