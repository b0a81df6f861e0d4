"""One verifier under many threads, and under many asyncio tasks, through key rotations.

Each run has phases. In every phase each worker makes a fixed number of verifications of
a deterministic mix of tokens: valid ones signed by every key the issuer publishes, and
ones naming kids nobody publishes. Between phases the main thread rotates the issuer's
key and moves the clock past the refresh cooldown, so the first token of the new key
forces one refresh. The clock stands still within a phase, so the cooldown allows at most
one refresh per phase; the key set's lifetime (300 s) is never reached, so there is no
background refresh.

Checked: every valid token verifies with its own claims, every unknown kid is a
``KeyNotFoundError`` naming it, no other exception appears, and the issuer sees one
discovery and exactly one JWKS fetch per phase (the cold start, then one per rotation;
the brief's bound of 1 + cooldown windows crossed + rotations is far looser).
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from jwks_client import AsyncVerifier, CachePolicy, KeyNotFoundError, Verifier
from jwks_client.testing import FakeClock, LocalIssuer

AUD = "https://api.example.com"
POLICY = CachePolicy(refresh_cooldown=30)
ROTATIONS = 4
PHASES = 1 + ROTATIONS
PER_PHASE = 10  # verifications per worker per phase: 50 per worker in all
THREADS = 32
TASKS = 500
VALID_PER_KEY = 4
UNKNOWN_PER_PHASE = 10


@dataclass(frozen=True, slots=True)
class Case:
    """A token and what verifying it must give."""

    token: str
    kid: str
    sub: str | None  # the expected ``sub`` of a valid token; None for an unknown kid


@dataclass(slots=True)
class Tally:
    """Outcomes seen by workers."""

    verified: set[str] = field(default_factory=set)
    valid_calls: int = 0
    not_found: int = 0
    wrong: list[str] = field(default_factory=list)

    def record(self, case: Case, outcome: dict[str, Any] | BaseException) -> None:
        """Count one outcome, keeping a description of anything unexpected."""
        if isinstance(outcome, KeyNotFoundError) and case.sub is None and outcome.kid == case.kid:
            self.not_found += 1
        elif isinstance(outcome, dict) and case.sub is not None and outcome["sub"] == case.sub:
            self.valid_calls += 1
            self.verified.add(case.sub)
        else:
            self.wrong.append(f"kid {case.kid!r} expected sub {case.sub!r}: got {outcome!r}")

    def merge(self, other: Tally) -> None:
        """Add another tally's outcomes to this one."""
        self.verified |= other.verified
        self.valid_calls += other.valid_calls
        self.not_found += other.not_found
        self.wrong += other.wrong


def mint_phase(issuer: LocalIssuer, phase: int) -> list[Case]:
    """Valid tokens of every published key and unknown-kid tokens, shuffled reproducibly."""
    cases: list[Case] = []
    for kid in issuer.kids():
        for i in range(VALID_PER_KEY):
            sub = f"p{phase}-{kid}-{i}"
            cases.append(Case(issuer.token({"sub": sub}, kid=kid, expires_in=10_000), kid, sub))
    for i in range(UNKNOWN_PER_PHASE):
        kid = f"unknown-{phase}-{i}"
        cases.append(Case(issuer.token(kid=kid, expires_in=10_000), kid, None))
    random.Random(phase).shuffle(cases)
    return cases


def picks(cases: list[Case], worker: int) -> list[Case]:
    """The cases a worker verifies in one phase (all workers together cover every case)."""
    return [cases[(worker * 7 + i) % len(cases)] for i in range(PER_PHASE)]


def between_phases(issuer: LocalIssuer, clock: FakeClock) -> None:
    """Rotate the signing key and move past the refresh cooldown."""
    issuer.rotate("ES256")
    clock.advance(POLICY.refresh_cooldown + 1)


def check_phase(tally: Tally, cases: list[Case], workers: int) -> None:
    """Every valid case verified, every call accounted for, nothing unexpected."""
    assert tally.wrong == []
    assert tally.verified == {case.sub for case in cases if case.sub is not None}
    assert tally.valid_calls + tally.not_found == workers * PER_PHASE
    assert tally.not_found > 0


def verifier_options(clock: FakeClock) -> dict[str, Any]:
    return {"audience": AUD, "require_https": False, "clock": clock, "cache_policy": POLICY}


def run_threads(
    work: Callable[[list[Case], int, threading.Barrier], Tally], cases: list[Case]
) -> Tally:
    """Run one phase on THREADS threads released together."""
    start = threading.Barrier(THREADS)
    total = Tally()
    with ThreadPoolExecutor(THREADS) as pool:
        futures = [pool.submit(work, cases, worker, start) for worker in range(THREADS)]
        for future in futures:
            total.merge(future.result(timeout=30))
    return total


def run_phases(
    issuer: LocalIssuer, clock: FakeClock, workers: int, run: Callable[[list[Case]], Tally]
) -> None:
    """Mint, run and check every phase, rotating between them."""
    for phase in range(PHASES):
        if phase:
            between_phases(issuer, clock)
        cases = mint_phase(issuer, phase)
        check_phase(run(cases), cases, workers)


def test_threads_through_rotations(issuer: LocalIssuer, clock: FakeClock) -> None:
    """32 threads making 50 verifications each, through four key rotations: every outcome
    is right and the issuer sees one JWKS fetch per phase."""
    with Verifier(issuer.issuer, **verifier_options(clock)) as verifier:

        def work(cases: list[Case], worker: int, start: threading.Barrier) -> Tally:
            tally = Tally()
            start.wait(timeout=10)
            for case in picks(cases, worker):
                outcome: dict[str, Any] | BaseException
                try:
                    outcome = verifier.verify(case.token)
                except Exception as exc:  # every outcome is judged by the tally
                    outcome = exc
                tally.record(case, outcome)
            return tally

        run_phases(issuer, clock, THREADS, lambda cases: run_threads(work, cases))
    assert issuer.request_count("discovery") == 1
    assert issuer.request_count("jwks") == 1 + ROTATIONS


async def test_tasks_through_rotations(issuer: LocalIssuer, clock: FakeClock) -> None:
    """500 asyncio tasks making 50 verifications each, through four key rotations: every
    outcome is right and the issuer sees one JWKS fetch per phase."""
    async with AsyncVerifier(issuer.issuer, **verifier_options(clock)) as verifier:

        async def work(cases: list[Case], worker: int) -> Tally:
            tally = Tally()
            for case in picks(cases, worker):
                outcome: dict[str, Any] | BaseException
                try:
                    outcome = await verifier.verify(case.token)
                except Exception as exc:  # every outcome is judged by the tally
                    outcome = exc
                tally.record(case, outcome)
                await asyncio.sleep(0)  # let the other tasks interleave
            return tally

        for phase in range(PHASES):
            if phase:
                between_phases(issuer, clock)
            cases = mint_phase(issuer, phase)
            tallies = await asyncio.wait_for(
                asyncio.gather(*(work(cases, worker) for worker in range(TASKS))), timeout=60
            )
            total = Tally()
            for tally in tallies:
                total.merge(tally)
            check_phase(total, cases, TASKS)
    assert issuer.request_count("discovery") == 1
    assert issuer.request_count("jwks") == 1 + ROTATIONS
