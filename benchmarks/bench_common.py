"""Timing harness, statistics, environment facts and table formatting for the benchmarks.

Timing rules, shared by every per-call figure in the run:

* every call is timed on its own with ``time.perf_counter_ns`` (the timer pair costs a
  fraction of a microsecond and is measured and reported as ``timer_overhead``);
* contenders are interleaved: each round runs a block of calls of every contender, in an
  order that rotates from round to round, so drift in the machine's speed (frequency
  scaling, other tenants) lands on all of them alike;
* the garbage collector is disabled inside timing blocks (and a collection runs before
  each measurement), unless ``keep_gc`` is set;
* the reported figures are the median and the 90th percentile of all per-call samples.
"""

from __future__ import annotations

import asyncio
import gc
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent

SyncCall = Callable[[], object]
AsyncCall = Callable[[], Awaitable[object]]


@dataclass(frozen=True)
class Stats:
    """Per-call timings of one contender, in microseconds."""

    median: float
    p90: float
    minimum: float
    samples: int

    def as_dict(self) -> dict[str, float | int]:
        """The figures as a JSON-ready dict."""
        return {
            "median_us": round(self.median, 3),
            "p90_us": round(self.p90, 3),
            "min_us": round(self.minimum, 3),
            "samples": self.samples,
        }


def stats_of(samples_ns: Sequence[int]) -> Stats:
    """Median, p90 and minimum of nanosecond samples, in microseconds."""
    ordered = sorted(samples_ns)
    n = len(ordered)
    p90 = ordered[min(n - 1, int(0.9 * n))]
    return Stats(
        median=statistics.median(ordered) / 1000,
        p90=p90 / 1000,
        minimum=ordered[0] / 1000,
        samples=n,
    )


@dataclass
class Contender:
    """Something to time: a zero-argument call, sync or async, or a reason it is absent."""

    name: str
    call: SyncCall | None = None
    acall: AsyncCall | None = None
    unavailable: str | None = None
    samples: list[int] = field(default_factory=list)

    @property
    def runnable(self) -> bool:
        """Whether there is anything to time."""
        return self.unavailable is None and (self.call is not None or self.acall is not None)


async def _time_block(contender: Contender, count: int, batch: int) -> None:
    """Take ``count`` samples of one contender, each the mean of ``batch`` timed calls."""
    perf = time.perf_counter_ns
    append = contender.samples.append
    if contender.acall is not None:
        acall = contender.acall
        for _ in range(count):
            start = perf()
            for _ in range(batch):
                await acall()
            append((perf() - start) // batch)
    else:
        call = contender.call
        assert call is not None
        if batch == 1:
            for _ in range(count):
                start = perf()
                call()
                append(perf() - start)
            return
        for _ in range(count):
            start = perf()
            for _ in range(batch):
                call()
            append((perf() - start) // batch)


async def measure_async(
    contenders: Sequence[Contender],
    *,
    rounds: int,
    per_round: int,
    warmup: int = 20,
    keep_gc: bool = False,
    batch: int = 1,
) -> dict[str, Stats]:
    """Time every runnable contender in interleaved rounds inside the running event loop.

    Sync contenders are called directly, async ones awaited, all in the same task, so
    the figures of both kinds are comparable.

    Args:
        contenders: what to time; those not runnable are skipped.
        rounds: how many interleaved rounds.
        per_round: calls per contender per round.
        warmup: untimed calls per contender before the first round.
        keep_gc: leave the garbage collector enabled while timing.
        batch: calls per sample (1: every call timed alone; more for sub-microsecond
            operations, whose sample is then the mean of the batch).

    Returns:
        The statistics of each runnable contender, by name.
    """
    active = [c for c in contenders if c.runnable]
    for contender in active:
        contender.samples.clear()
        await _time_block(contender, warmup, 1)
        contender.samples.clear()
    gc.collect()
    was_enabled = gc.isenabled()
    try:
        for round_index in range(rounds):
            shift = round_index % max(1, len(active))
            for contender in active[shift:] + active[:shift]:
                if not keep_gc:
                    gc.disable()
                try:
                    await _time_block(contender, per_round, batch)
                finally:
                    if was_enabled:
                        gc.enable()
    finally:
        if was_enabled:
            gc.enable()
    return {c.name: stats_of(c.samples) for c in active}


def measure(
    contenders: Sequence[Contender],
    *,
    rounds: int,
    per_round: int,
    warmup: int = 20,
    keep_gc: bool = False,
    batch: int = 1,
) -> dict[str, Stats]:
    """Run :func:`measure_async` in a new event loop (see it for the arguments)."""
    return asyncio.run(
        measure_async(
            contenders,
            rounds=rounds,
            per_round=per_round,
            warmup=warmup,
            keep_gc=keep_gc,
            batch=batch,
        )
    )


def timer_overhead(samples: int = 20_000) -> float:
    """Median cost in microseconds of one timed empty call in the harness."""

    def noop() -> None:
        return None

    contender = Contender("noop", call=noop)
    return measure([contender], rounds=10, per_round=samples // 10)["noop"].median


# --- environment -------------------------------------------------------------------------


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git(*args: str) -> str | None:
    try:
        result = subprocess.run(
            ["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def environment() -> dict[str, Any]:
    """Facts about the machine, interpreter, libraries and code measured."""
    from cryptography.hazmat.backends.openssl.backend import backend

    status = _git("status", "--porcelain", "--", "jwks_client")
    return {
        "date": datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpus": os.cpu_count(),
        "openssl": backend.openssl_version_text(),
        "versions": {
            name: _version(name)
            for name in (
                "jwks-client",
                "cryptography",
                "joserfc",
                "httpx",
                "PyJWT",
                "Authlib",
                "python-jose",
                "jwcrypto",
            )
        },
        "git_commit": _git("rev-parse", "--short", "HEAD"),
        "jwks_client_modified": None if status is None else bool(status),
    }


# --- tables ------------------------------------------------------------------------------


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A Markdown pipe table, padded so it also reads well in a terminal."""
    text_rows = [[str(cell) for cell in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in text_rows:
        for index, cell in enumerate(row):
            widths[index] = max(widths[index], len(cell))

    def line(cells: Sequence[str]) -> str:
        padded = (
            cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i])
            for i, cell in enumerate(cells)
        )
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join(
        ":" + "-" * (w + 1) if i == 0 else "-" * (w + 1) + ":" for i, w in enumerate(widths)
    )
    return "\n".join([line(headers), rule + "|", *map(line, text_rows)])


def fmt_us(value: float | None) -> str:
    """Microseconds with a precision that suits their size."""
    if value is None:
        return "n/a"
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 100:
        return f"{value:.0f}"
    return f"{value:.1f}"


def fmt_ratio(value: float | None) -> str:
    """A ratio such as ``1.23x``."""
    return "n/a" if value is None else f"{value:.2f}x"
