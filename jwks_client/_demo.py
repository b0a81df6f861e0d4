"""``jwks-client demo``: the library's behaviour walked through and checked, step by step.

A :class:`~jwks_client.testing.LocalIssuer` on 127.0.0.1 and verifiers with the default
cache policy share one fake clock; each step drives them with real HTTP and checks what
happened (fetch counts, rejections, claims), so the demo doubles as a smoke test:

1. a warm cache: one discovery + JWKS fetch, then thousands of verifications without one;
2. a key rotation picked up with exactly one JWKS fetch;
3. an unknown-kid flood held to one fetch per refresh cooldown;
4. an issuer outage served from the cached keys until the stale-if-error window ends,
   then healed by one refresh;
5. async verification: a new verifier finds the keys cached, and concurrent tasks meeting
   a rotated key share one fetch;
6. a DPoP request (RFC 9449): a DPoP-bound token with its proof accepted, the same proof
   replayed refused, and the token sent as a plain bearer token refused.

Imported only when the ``demo`` command runs: the other commands never load the test
issuer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TextIO

from ._async import AsyncVerifier
from ._challenge import challenge_for
from ._dpop import DPoP
from ._errors import (
    InvalidDPoPProofError,
    InvalidTokenBindingError,
    InvalidTokenError,
    KeyNotFoundError,
    KeySetUnavailableError,
)
from ._replay import MemoryReplayStore
from ._sync import Verifier
from ._types import CachePolicy
from .testing import DPoPKey, FakeClock, LocalIssuer

__all__ = ["DEMO_ALG", "DEMO_AUDIENCE", "DEMO_POLICY", "print_report", "run_demo"]


def _mark(stream: TextIO, *, ok: bool = True) -> str:
    """A check mark (or a cross), in ASCII when the stream cannot encode it."""
    symbol = "\u2713" if ok else "\u2717"
    try:
        symbol.encode(getattr(stream, "encoding", None) or "ascii")
    except (UnicodeEncodeError, LookupError):
        return "[ok]" if ok else "[FAILED]"
    return symbol


#: The demo runs with the library's default cache policy.
DEMO_POLICY = CachePolicy()
DEMO_AUDIENCE = "https://api.example.com"
DEMO_ALG = "ES256"
#: The URL of the demo's DPoP request.
DEMO_URL = "https://api.example.com/orders?page=1"
_WARM_LOOP = 2000
_FLOOD = 100
_STALE_SERVED = 100
_TASKS = 50
_ASYNC_LOOP = 2000
_TOKEN_POOL = 20
_JOIN_TIMEOUT = 10.0


class _DemoFailure(Exception):
    """An expectation of the demo did not hold."""

    def __init__(self, step: _Step, detail: str) -> None:
        super().__init__(f"step {step.number} ({step.name}): {detail}")
        self.detail = detail


@dataclass
class _Step:
    number: int
    name: str
    summary: str = ""
    discovery_fetches: int = 0
    jwks_fetches: int = 0
    verified: int = 0
    rejected: int = 0
    waited_for_fetch: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def cache_hits(self) -> int:
        return self.verified - self.waited_for_fetch

    def document(self) -> dict[str, Any]:
        return {
            "step": self.number,
            "name": self.name,
            "summary": self.summary,
            "discovery_fetches": self.discovery_fetches,
            "jwks_fetches": self.jwks_fetches,
            "verified": self.verified,
            "rejected": self.rejected,
            "cache_hits": self.cache_hits,
            **self.extra,
        }


def _expect(step: _Step, condition: bool, message: str) -> None:
    if not condition:
        raise _DemoFailure(step, message)


class _Demo:
    """The scripted walk through the library's behaviour, checking each expectation."""

    def __init__(self, issuer: LocalIssuer, clock: FakeClock, out: TextIO | None) -> None:
        self.issuer = issuer
        self.clock = clock
        self.out = out
        self.steps: list[_Step] = []
        self.rates: dict[str, float] = {}

    # --- bookkeeping -------------------------------------------------------------------

    def _counts(self) -> tuple[int, int]:
        return self.issuer.request_count("discovery"), self.issuer.request_count("jwks")

    @contextmanager
    def _step(self, number: int, name: str) -> Iterator[_Step]:
        step = _Step(number, name)
        discovery, jwks = self._counts()
        try:
            try:
                yield step
            except (InvalidTokenError, KeySetUnavailableError) as exc:
                detail = f"unexpected {type(exc).__name__}: {exc}"
                raise _DemoFailure(step, detail) from exc
        except _DemoFailure as failure:
            if self.out is not None:
                mark = _mark(self.out, ok=False)
                print(f"{mark} {number}. {name}: {failure.detail}", file=self.out)
            raise
        after_discovery, after_jwks = self._counts()
        step.discovery_fetches = after_discovery - discovery
        step.jwks_fetches = after_jwks - jwks
        self.steps.append(step)
        if self.out is not None:
            print(f"{_mark(self.out)} {number}. {step.summary}", file=self.out)

    def _fetched(self, before: tuple[int, int]) -> tuple[int, int]:
        discovery, jwks = self._counts()
        return discovery - before[0], jwks - before[1]

    def _tokens(self, count: int) -> list[str]:
        return [self.issuer.token({"sub": f"user-{i}"}) for i in range(count)]

    def _verifier(self, **options: Any) -> Verifier:
        return Verifier(
            self.issuer.issuer,
            audience=DEMO_AUDIENCE,
            require_https=False,
            clock=self.clock,
            cache_policy=DEMO_POLICY,
            **options,
        )

    # --- the steps -----------------------------------------------------------------------

    def run(self) -> None:
        with self._verifier() as verifier:
            self.warm_cache(verifier)
            self.rotation(verifier)
            self.flood(verifier)
            self.outage(verifier)
        asyncio.run(self.concurrency())
        # Its own replay store: the demo's proofs meet no other verifier's record.
        with self._verifier(dpop=DPoP(replay_store=MemoryReplayStore())) as verifier:
            self.dpop(verifier)

    def warm_cache(self, verifier: Verifier) -> None:
        with self._step(1, "warm_cache") as step:
            before = self._counts()
            first = verifier.verify(self.issuer.token({"sub": "alice"}))
            cold = self._fetched(before)
            _expect(step, first["sub"] == "alice", f"claims {first!r} lack sub 'alice'")
            _expect(
                step,
                cold == (1, 1),
                f"a cold start should fetch discovery and JWKS once each, got {cold}",
            )
            pool = self._tokens(_TOKEN_POOL)
            warm = self._counts()
            started = time.perf_counter()
            for i in range(_WARM_LOOP):
                verifier.verify(pool[i % _TOKEN_POOL])
            elapsed = time.perf_counter() - started
            _expect(
                step,
                self._fetched(warm) == (0, 0),
                f"a warm cache should not fetch, got {self._fetched(warm)}",
            )
            rate = _WARM_LOOP / elapsed if elapsed > 0 else float("inf")
            self.rates["sync"] = rate
            step.verified = 1 + _WARM_LOOP
            step.waited_for_fetch = 1
            step.extra["verifications_per_second"] = round(rate)
            step.summary = (
                f"warm cache: the first verification fetched discovery + JWKS once; "
                f"{_WARM_LOOP:,} more verified with no request ({rate:,.0f} verifications/s)"
            )

    def rotation(self, verifier: Verifier) -> None:
        with self._step(2, "key_rotation") as step:
            # A while later (past the refresh cooldown) the issuer rotates its signing key.
            self.clock.advance(DEMO_POLICY.refresh_cooldown + 30)
            kid = self.issuer.rotate(DEMO_ALG)
            before = self._counts()
            claims = verifier.verify(self.issuer.token({"sub": "rotated"}))
            fetched = self._fetched(before)
            _expect(step, claims["sub"] == "rotated", "the rotated key's token was not verified")
            _expect(
                step,
                fetched == (0, 1),
                f"a rotation should cost exactly one JWKS fetch (and no discovery), got {fetched}",
            )
            step.verified = step.waited_for_fetch = 1
            step.extra["new_kid"] = kid
            step.summary = (
                f"key rotation: a token signed by the new key {kid!r} verified after exactly "
                "one JWKS fetch"
            )

    def _flood(self, verifier: Verifier, step: _Step, prefix: str) -> None:
        for token in [self.issuer.token(kid=f"{prefix}-{i}") for i in range(_FLOOD)]:
            try:
                verifier.verify(token)
            except KeyNotFoundError:
                step.rejected += 1
            else:
                _expect(step, False, "a token with an unknown kid was accepted")

    def flood(self, verifier: Verifier) -> None:
        cooldown = DEMO_POLICY.refresh_cooldown
        with self._step(3, "unknown_kid_flood") as step:
            before = self._counts()
            self._flood(verifier, step, "unknown-a")
            inside = self._fetched(before)[1]
            _expect(
                step,
                inside == 0,
                f"{_FLOOD} unknown kids inside the {cooldown:g} s cooldown should cause no "
                f"JWKS fetch, got {inside}",
            )
            self.clock.advance(cooldown + 1)
            before = self._counts()
            self._flood(verifier, step, "unknown-b")
            after = self._fetched(before)[1]
            _expect(
                step,
                after == 1,
                f"{_FLOOD} unknown kids after the cooldown should cause exactly one JWKS "
                f"fetch, got {after}",
            )
            _expect(step, step.rejected == 2 * _FLOOD, "not every unknown kid was rejected")
            step.extra.update(fetches_inside_cooldown=inside, fetches_after_cooldown=after)
            step.summary = (
                f"unknown-kid flood: {_FLOOD} unknown kids inside the {cooldown:g} s "
                f"cooldown rejected with {inside} fetches; {_FLOOD} more after it cost "
                f"{after} JWKS fetch"
            )

    def outage(self, verifier: Verifier) -> None:
        keys = verifier.jwks_client
        with self._step(4, "issuer_down") as step:
            self.issuer.fail("status", status=503, path="all")
            # Just past expiry: the known keys keep serving while one background
            # refresh fails.
            self.clock.advance(keys.state.fresh_until - self.clock() + 1)
            pool = self._tokens(_TOKEN_POOL)
            before = self._counts()
            verifier.verify(pool[0])
            # Wait for that background refresh to fail, so the counts below are exact.
            keys.join_background(_JOIN_TIMEOUT)
            for i in range(1, _STALE_SERVED):
                verifier.verify(pool[i % _TOKEN_POOL])
            stale_fetches = self._fetched(before)
            _expect(
                step,
                stale_fetches == (1, 1) and keys.state.last_error is not None,
                "stale keys should serve while exactly one failed background refresh "
                f"(discovery + JWKS) runs, got {stale_fetches}",
            )
            # Past the stale-if-error window the keys stop serving.
            self.clock.advance(DEMO_POLICY.stale_if_error)
            late = self.issuer.token()
            try:
                verifier.verify(late)
            except KeySetUnavailableError as exc:
                unavailable = type(exc).__name__
            else:
                _expect(step, False, "keys served past the stale-if-error window")
            # The issuer comes back: once the retry backoff has passed, one refresh heals.
            self.issuer.clear_faults()
            self.clock.advance(5)
            before = self._counts()
            claims = verifier.verify(self.issuer.token({"sub": "back"}))
            recovered = self._fetched(before)
            _expect(
                step,
                claims["sub"] == "back" and recovered == (1, 1),
                f"recovery should take one discovery + one JWKS fetch, got {recovered}",
            )
            step.verified = _STALE_SERVED + 1
            step.waited_for_fetch = 1
            stale_window = DEMO_POLICY.stale_if_error
            step.extra.update(served_stale=_STALE_SERVED, unavailable_error=unavailable)
            step.summary = (
                f"issuer down: {_STALE_SERVED} tokens verified with the cached keys during "
                f"the outage (1 failed background refresh); past the {stale_window:g} s "
                f"stale window: keys unavailable ({unavailable}); issuer back: recovered "
                "with one refresh"
            )

    async def concurrency(self) -> None:
        with self._step(5, "async_concurrency") as step:
            async with AsyncVerifier(
                self.issuer.issuer,
                audience=DEMO_AUDIENCE,
                require_https=False,
                clock=self.clock,
                cache_policy=DEMO_POLICY,
            ) as verifier:
                # Keys are cached per source per process: a new verifier, async or not,
                # starts warm.
                before = self._counts()
                claims = await verifier.verify(self.issuer.token({"sub": "async"}))
                shared_store = self._fetched(before)
                _expect(
                    step,
                    claims["sub"] == "async" and shared_store == (0, 0),
                    "a new verifier of the same source should find the cached keys, "
                    f"got fetches {shared_store}",
                )
                # The issuer rotates again; concurrent tasks meet the new kid together.
                self.clock.advance(DEMO_POLICY.refresh_cooldown + 1)
                self.issuer.rotate(DEMO_ALG)
                rotated = self._tokens(_TASKS)
                before = self._counts()
                results = await asyncio.gather(*(verifier.verify(token) for token in rotated))
                together = self._fetched(before)
                _expect(
                    step,
                    [r["sub"] for r in results] == [f"user-{i}" for i in range(_TASKS)],
                    "not every concurrent task got its own claims",
                )
                _expect(
                    step,
                    together == (0, 1),
                    f"{_TASKS} concurrent tasks meeting a new kid should share exactly one "
                    f"JWKS fetch, got {together}",
                )
                pool = self._tokens(_TOKEN_POOL)
                warm = self._counts()
                started = time.perf_counter()
                done = await asyncio.gather(
                    *(verifier.verify(pool[i % _TOKEN_POOL]) for i in range(_ASYNC_LOOP))
                )
                elapsed = time.perf_counter() - started
                _expect(
                    step,
                    len(done) == _ASYNC_LOOP and self._fetched(warm) == (0, 0),
                    f"warm async verifications should not fetch, got {self._fetched(warm)}",
                )
            rate = _ASYNC_LOOP / elapsed if elapsed > 0 else float("inf")
            self.rates["async"] = rate
            step.verified = 1 + _TASKS + _ASYNC_LOOP
            step.waited_for_fetch = _TASKS
            step.extra["verifications_per_second"] = round(rate)
            step.summary = (
                f"async: a new AsyncVerifier found the keys already cached (0 fetches); "
                f"{_TASKS} concurrent tasks meeting a rotated key shared one JWKS fetch; "
                f"{_ASYNC_LOOP:,} concurrent verifications at {rate:,.0f}/s"
            )

    def dpop(self, verifier: Verifier) -> None:
        with self._step(6, "dpop_replay") as step:
            key = DPoPKey(clock=self.clock)
            token = self.issuer.token({"sub": "dpop-client"}, dpop_key=key)
            headers = key.headers("GET", DEMO_URL, token)
            before = self._counts()
            claims = verifier.verify_request("GET", DEMO_URL, headers)
            _expect(
                step,
                claims["sub"] == "dpop-client" and claims["cnf"] == key.cnf,
                f"the DPoP request's claims {claims!r} are not the bound token's",
            )
            _expect(
                step,
                self._fetched(before) == (0, 0),
                f"the cached keys should serve the DPoP request, got {self._fetched(before)}",
            )
            try:
                verifier.verify_request("GET", DEMO_URL, headers)
            except InvalidDPoPProofError as exc:
                replay = challenge_for(exc, realm="api")
            else:
                _expect(step, False, "a replayed DPoP proof was accepted")
            _expect(
                step,
                (replay.status, replay.error) == (401, "invalid_dpop_proof"),
                f"a replay should answer 401 invalid_dpop_proof, got {replay.status} "
                f"{replay.error}",
            )
            try:
                verifier.verify_request("GET", DEMO_URL, {"Authorization": f"Bearer {token}"})
            except InvalidTokenBindingError:
                pass
            else:
                _expect(step, False, "a DPoP-bound token sent as a bearer token was accepted")
            step.verified = 1
            step.rejected = 2
            step.extra.update(
                replay_answer={"status": replay.status, "error": replay.error},
                proof_key_thumbprint=key.thumbprint,
            )
            step.summary = (
                "DPoP: a request with a DPoP-bound token and its proof accepted (cached "
                f"keys, no fetch); the same proof replayed: refused ({replay.status} "
                f"{replay.error}); the token sent as a bearer token: refused (a downgrade)"
            )

    # --- the report ------------------------------------------------------------------------

    def report(self, error: str | None) -> dict[str, Any]:
        discovery, jwks = self._counts()
        return {
            "ok": error is None,
            "error": error,
            "issuer": self.issuer.issuer,
            "steps": [step.document() for step in self.steps],
            "fetches": {"discovery": discovery, "jwks": jwks, "total": discovery + jwks},
            "verifications": sum(step.verified for step in self.steps),
            "cache_hits": sum(step.cache_hits for step in self.steps),
            "rejections": sum(step.rejected for step in self.steps),
            "verifications_per_second": {k: round(v) for k, v in self.rates.items()},
        }


def print_report(report: Mapping[str, Any], out: TextIO) -> None:
    """Print the report's summary line."""
    fetches = report["fetches"]
    rates = report["verifications_per_second"]
    speed = ", ".join(f"{rate:,} verifications/s {name}" for name, rate in rates.items())
    print(
        f"\nreport: {fetches['total']} requests to the issuer ({fetches['discovery']} "
        f"discovery, {fetches['jwks']} JWKS) for {report['verifications']:,} verifications, "
        f"{report['cache_hits']:,} of them served from the cache without waiting for a "
        f"fetch; {report['rejections']} rejections (unknown kids, a replayed DPoP proof, "
        f"a downgraded token); {speed}",
        file=out,
    )


def run_demo(out: TextIO | None) -> dict[str, Any]:
    """Run the demo, printing a line per step on ``out`` (None: silently).

    Returns:
        The report: ``ok``, the ``error`` of the failed step (or None), each step's
        counts, the totals, and verifications per second.
    """
    clock = FakeClock()
    with LocalIssuer(algorithms=(DEMO_ALG,), clock=clock) as issuer:
        if out is not None:
            print(
                f"jwks-client demo: a local issuer at {issuer.issuer}, verifiers with the "
                "default cache policy, one fake clock for both\n",
                file=out,
            )
        demo = _Demo(issuer, clock, out)
        error: str | None = None
        try:
            demo.run()
        except _DemoFailure as exc:
            error = str(exc)
        return demo.report(error)
