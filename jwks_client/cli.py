"""The ``jwks-client`` command: verify a token, inspect an issuer's keys, run the demo.

``jwks-client verify TOKEN --issuer URL --audience AUD`` prints the token's claims as
JSON; ``jwks-client inspect URL`` shows what an issuer (or a bare JWKS URL) serves: its
discovery document, its usable keys with their RFC 7638 thumbprints, the caching headers
and the lifetime the library derives from them, and the keys it would skip;
``jwks-client demo`` starts a :class:`~jwks_client.testing.LocalIssuer` and walks
through the library's behaviour with real HTTP on 127.0.0.1, checking every expectation
as it goes, so it doubles as a smoke test.

Output is human-readable by default; ``--json`` gives one JSON document for machines.

Exit codes (the same for every subcommand):

* 0: success;
* 1: the token was rejected (``InvalidTokenError``), or a demo expectation failed;
* 2: the keys could not be obtained (``KeySetUnavailableError``);
* 64: bad arguments or configuration (``EX_USAGE`` of sysexits.h).

No message ever contains a whole token.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, NoReturn, TextIO

import httpx

from ._async import AsyncVerifier
from ._cache_control import compute_freshness
from ._errors import (
    ConfigurationError,
    InvalidTokenError,
    KeyNotFoundError,
    KeySetUnavailableError,
)
from ._http import (
    ACCEPT_DISCOVERY,
    ACCEPT_JWKS,
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_TIMEOUT,
    build_request,
    check_url,
    discovery_urls,
    read_discovery,
    read_jwks,
)
from ._keys import KeyRing, PreparedKey, SkippedKey
from ._sync import Verifier, send_capped
from ._types import CachePolicy
from ._values import Discovered, RawResponse
from ._version import __version__
from .testing import FakeClock, LocalIssuer

__all__ = [
    "EXIT_INVALID",
    "EXIT_OK",
    "EXIT_UNAVAILABLE",
    "EXIT_USAGE",
    "build_parser",
    "main",
]

#: Success.
EXIT_OK = 0
#: The token was rejected, or a demo expectation failed.
EXIT_INVALID = 1
#: The issuer's keys could not be obtained.
EXIT_UNAVAILABLE = 2
#: Bad arguments or configuration (EX_USAGE of sysexits.h).
EXIT_USAGE = 64

PROG = "jwks-client"
_CACHING_HEADERS = ("Cache-Control", "Age", "Expires", "Date", "ETag", "Last-Modified")
_DISCOVERY_KINDS = ("OpenID Connect", "RFC 8414")


# --- argument parsing ----------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors exit with 64, keeping 2 for "keys unavailable"."""

    def error(self, message: str) -> NoReturn:
        """Print the usage and the message on stderr, then exit with :data:`EXIT_USAGE`."""
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"not a finite number: {text!r}")
    return value


def _positive_float(text: str) -> float:
    value = _finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0: {text!r}")
    return value


def _non_negative_float(text: str) -> float:
    value = _finite_float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """Return the command's argument parser (its errors exit with :data:`EXIT_USAGE`)."""
    parser = _Parser(
        prog=PROG,
        description="Verify JWT access tokens against an issuer's JWKS, inspect an "
        "issuer's keys, or run the self-checking demo.",
        epilog="exit codes: 0 ok, 1 token rejected (or a demo check failed), "
        "2 keys unavailable, 64 bad arguments",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    verify = commands.add_parser(
        "verify",
        help="verify a token and print its claims",
        description="Verify TOKEN for ISSUER and AUDIENCE and print its claims as JSON.",
    )
    verify.add_argument("token", metavar="TOKEN", help="the compact JWS, or - to read stdin")
    verify.add_argument("--issuer", required=True, metavar="URL", help="the expected issuer")
    verify.add_argument(
        "--audience",
        action="append",
        metavar="AUD",
        help="an accepted audience (repeat for several); required unless --no-audience",
    )
    verify.add_argument(
        "--no-audience", action="store_true", help="explicitly disable the audience check"
    )
    verify.add_argument("--jwks-uri", metavar="URL", help="fetch this JWKS URL, no discovery")
    verify.add_argument(
        "--algorithm",
        action="append",
        metavar="ALG",
        help="an allowed JWS algorithm (repeat for several; default: the library's list)",
    )
    verify.add_argument(
        "--leeway", type=_non_negative_float, metavar="S", help="clock skew tolerated (60)"
    )
    verify.add_argument("--token-type", metavar="T", help="expected header typ, e.g. at+jwt")
    verify.add_argument(
        "--require-claim",
        action="append",
        default=[],
        metavar="CLAIM",
        help="a claim that must be present (repeat for several)",
    )
    verify.add_argument(
        "--at",
        type=_finite_float,
        metavar="UNIX_TIME",
        help="verify as of this time (a fixed clock), e.g. to check an old token",
    )
    _add_fetch_options(verify)
    verify.add_argument("--json", action="store_true", help="compact JSON output")

    inspect = commands.add_parser(
        "inspect",
        help="show an issuer's discovery, keys and caching headers",
        description="Show what an issuer or a JWKS URL serves: discovery result, usable "
        "keys with RFC 7638 thumbprints, caching headers and the derived lifetime, and "
        "the keys that would be skipped.",
    )
    inspect.add_argument("url", metavar="ISSUER_OR_JWKS_URL")
    _add_fetch_options(inspect)
    inspect.add_argument("--json", action="store_true", help="one JSON document")

    demo = commands.add_parser(
        "demo",
        help="run the self-checking demo against a local issuer (no network needed)",
        description="Start a local issuer on 127.0.0.1 and walk through warm-cache "
        "verification, key rotation, an unknown-kid flood, an issuer outage and async "
        "verification, checking each expectation.",
    )
    demo.add_argument("--json", action="store_true", help="print one JSON report")
    return parser


def _add_fetch_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--allow-http", action="store_true", help="allow plain-http URLs (local testing only)"
    )
    parser.add_argument(
        "--timeout",
        type=_positive_float,
        default=DEFAULT_TIMEOUT,
        metavar="S",
        help=f"seconds per request ({DEFAULT_TIMEOUT:g})",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return the exit status.

    Args:
        argv: the arguments without the program name; ``sys.argv[1:]`` when None.

    Returns:
        0 on success, 1 for a rejected token (or a failed demo check), 2 when keys are
        unavailable, 64 for bad arguments or configuration. With no subcommand the help
        is printed and 0 returned.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error (64)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    command: Callable[[argparse.Namespace], int] | None = _COMMANDS.get(args.command)
    if command is None:
        parser.print_help(sys.stdout)
        return EXIT_OK
    return command(args)


# --- output helpers ------------------------------------------------------------------


def _speaks_unicode(stream: TextIO) -> bool:
    """Whether ``stream`` encodes any character (a UTF encoding)."""
    encoding = (getattr(stream, "encoding", None) or "ascii").lower().replace("-", "")
    return encoding.startswith("utf")


def _mark(stream: TextIO, *, ok: bool = True) -> str:
    """A check mark (or a cross), in ASCII when the stream cannot encode it."""
    if _speaks_unicode(stream):
        return "\u2713" if ok else "\u2717"
    return "[ok]" if ok else "[FAILED]"


def _fail(args: argparse.Namespace, code: int, exc: BaseException, *, hint: str = "") -> int:
    """Report an error on stderr (as JSON with --json) and return ``code``."""
    name = type(exc).__name__
    if getattr(args, "json", False):
        document = {"error": name, "message": str(exc), "exit_code": code}
        print(json.dumps(document), file=sys.stderr)
    else:
        print(f"{PROG} {args.command}: {name}: {exc}", file=sys.stderr)
        if hint:
            print(f"hint: {hint}", file=sys.stderr)
    return code


def _https_hint(args: argparse.Namespace, exc: Exception) -> str:
    if not args.allow_http and "not https" in str(exc):
        return "--allow-http permits plain-http URLs (for local testing only)"
    return ""


# --- verify --------------------------------------------------------------------------


def _read_token(argument: str) -> str:
    if argument != "-":
        return argument
    token = sys.stdin.read().strip()
    if not token:
        raise ConfigurationError("no token on standard input")
    return token


def _audience(args: argparse.Namespace) -> list[str] | None:
    if args.no_audience and args.audience:
        raise ConfigurationError("--audience and --no-audience exclude each other")
    if args.no_audience:
        return None
    if not args.audience:
        raise ConfigurationError(
            "--audience is required (or --no-audience to disable the audience check explicitly)"
        )
    return list(args.audience)


def _run_verify(args: argparse.Namespace) -> int:
    try:
        audience = _audience(args)
        token = _read_token(args.token)
        options: dict[str, Any] = {}
        if args.algorithm:
            options["algorithms"] = args.algorithm
        if args.leeway is not None:
            options["leeway"] = args.leeway
        if args.at is not None:
            at: float = args.at
            options["clock"] = lambda: at
        verifier = Verifier(
            args.issuer,
            audience=audience,
            token_type=args.token_type,
            required_claims=args.require_claim,
            jwks_uri=args.jwks_uri,
            require_https=not args.allow_http,
            timeout=args.timeout,
            **options,
        )
    except ConfigurationError as exc:
        return _fail(args, EXIT_USAGE, exc, hint=_https_hint(args, exc))
    with verifier:
        try:
            claims = verifier.verify(token)
        except InvalidTokenError as exc:
            return _fail(args, EXIT_INVALID, exc)
        except KeySetUnavailableError as exc:
            return _fail(args, EXIT_UNAVAILABLE, exc)
    if args.json:
        print(json.dumps(claims, separators=(",", ":")))
    else:
        print(json.dumps(claims, indent=2, ensure_ascii=not _speaks_unicode(sys.stdout)))
    return EXIT_OK


# --- inspect -------------------------------------------------------------------------


def _fetch(client: httpx.Client, request: httpx.Request, timeout: float) -> RawResponse:
    """Send ``request`` without following redirects, reading a 200 body under the size cap.

    Raises:
        KeySetUnavailableError: transport failure, timeout or a body over the cap.
    """
    return send_capped(
        client, request, timeout=timeout, max_bytes=DEFAULT_MAX_RESPONSE_BYTES, clock=time.time
    )


def _looks_like_discovery(raw: RawResponse) -> bool:
    """Whether a 200 answer is a JSON object with discovery members (not an HTML page)."""
    if raw.status_code != 200:
        return False
    try:
        document = json.loads(raw.body)
    except (ValueError, RecursionError):
        return False
    return isinstance(document, dict) and ("jwks_uri" in document or "issuer" in document)


@dataclass(frozen=True, slots=True)
class _Discovery:
    kind: str
    url: str
    issuer: str
    jwks_uri: str
    lifetime: float
    source: str


def _discover(
    client: httpx.Client, url: str, *, require_https: bool, timeout: float
) -> _Discovery | None:
    """Try ``url`` as an issuer (OpenID Connect, then RFC 8414); None when neither answers.

    Raises:
        KeySetUnavailableError: a transport failure, or a discovery document the
            library would refuse (wrong issuer, missing or refused jwks_uri).
    """
    policy = CachePolicy()
    for kind, candidate in zip(_DISCOVERY_KINDS, discovery_urls(url), strict=True):
        raw = _fetch(
            client, build_request(candidate, accept=ACCEPT_DISCOVERY, timeout=timeout), timeout
        )
        if not _looks_like_discovery(raw):
            continue
        found: Discovered = read_discovery(
            raw, issuer=url, require_https=require_https, policy=policy
        )
        freshness = compute_freshness(raw.headers, now=raw.received_at, policy=policy)
        return _Discovery(
            kind=kind,
            url=candidate,
            issuer=url,
            jwks_uri=found.jwks_uri,
            lifetime=found.fresh_until - raw.received_at,
            source=freshness.source,
        )
    return None


def _key_document(key: PreparedKey) -> dict[str, Any]:
    return {
        "kid": key.kid,
        "kty": key.kty,
        "alg": key.alg,
        "use": key.use,
        "size": key.size,
        "crv": key.crv,
        "thumbprint": key.thumbprint,
        "algorithms": sorted(key.algorithms),
    }


def _skipped_document(skipped: SkippedKey) -> dict[str, Any]:
    return {"index": skipped.index, "kid": skipped.kid, "reason": skipped.reason}


def _inspect_report(
    url: str,
    discovery: _Discovery | None,
    raw: RawResponse,
    ring: KeyRing,
    lifetime: float,
    source: str,
) -> dict[str, Any]:
    policy = CachePolicy()
    return {
        "url": url,
        "discovery": None
        if discovery is None
        else {
            "kind": discovery.kind,
            "url": discovery.url,
            "issuer": discovery.issuer,
            "jwks_uri": discovery.jwks_uri,
            "lifetime": discovery.lifetime,
            "lifetime_source": discovery.source,
        },
        "jwks_uri": raw.url,
        "status": raw.status_code,
        "bytes": len(raw.body),
        "headers": {name: raw.headers.get(name) for name in _CACHING_HEADERS},
        "lifetime": lifetime,
        "lifetime_source": source,
        "policy": {
            "default_ttl": policy.default_ttl,
            "min_ttl": policy.min_ttl,
            "max_ttl": policy.max_ttl,
        },
        "keys": [_key_document(key) for key in ring.keys],
        "skipped": [_skipped_document(skipped) for skipped in ring.skipped],
    }


def _print_inspect(report: Mapping[str, Any], out: TextIO) -> None:
    def line(label: str, value: object) -> None:
        print(f"{label:<18}{value}", file=out)

    line("URL", report["url"])
    discovery = report["discovery"]
    if discovery is None:
        print(
            f"{'discovery':<18}none: no discovery document for this URL, read as a JWKS URL",
            file=out,
        )
    else:
        line("discovery", f"{discovery['url']} ({discovery['kind']})")
        line("  issuer", discovery["issuer"])
        line("  jwks_uri", discovery["jwks_uri"])
        line("  lifetime", f"{discovery['lifetime']:g} s (source: {discovery['lifetime_source']})")
    line("JWKS", f"{report['jwks_uri']} (HTTP {report['status']}, {report['bytes']} bytes)")
    print("caching headers", file=out)
    for name, value in report["headers"].items():
        line(f"  {name}", "(absent)" if value is None else value)
    policy = report["policy"]
    line(
        "lifetime",
        f"{report['lifetime']:g} s (source: {report['lifetime_source']}; default policy: "
        f"{policy['default_ttl']:g} s when unstated, clamped to "
        f"[{policy['min_ttl']:g}, {policy['max_ttl']:g}] s)",
    )
    print(f"keys ({len(report['keys'])} usable)", file=out)
    for key in report["keys"]:
        shape = f"size={key['size']}" if key["size"] is not None else f"crv={key['crv']}"
        print(
            f"  kid={key['kid'] or '-'} kty={key['kty']} alg={key['alg'] or '-'} "
            f"use={key['use'] or '-'} {shape} thumbprint={key['thumbprint']}",
            file=out,
        )
    print(f"skipped ({len(report['skipped'])})", file=out)
    for skipped in report["skipped"]:
        print(f"  #{skipped['index']} kid={skipped['kid'] or '-'}: {skipped['reason']}", file=out)


def _run_inspect(args: argparse.Namespace) -> int:
    url: str = args.url
    require_https = not args.allow_http
    timeout: float = args.timeout
    try:
        check_url(url, require_https=require_https, what="URL")
    except ConfigurationError as exc:
        return _fail(args, EXIT_USAGE, exc, hint=_https_hint(args, exc))
    policy = CachePolicy()
    try:
        with httpx.Client(timeout=timeout) as client:
            discovery = _discover(client, url, require_https=require_https, timeout=timeout)
            jwks_uri = url if discovery is None else discovery.jwks_uri
            request = build_request(jwks_uri, accept=ACCEPT_JWKS, timeout=timeout)
            raw = _fetch(client, request, timeout)
        ring, freshness = read_jwks(raw, conditional=False, policy=policy)
    except KeySetUnavailableError as exc:
        return _fail(args, EXIT_UNAVAILABLE, exc)
    assert ring is not None  # only a conditional request may answer 304
    report = _inspect_report(url, discovery, raw, ring, freshness.lifetime, freshness.source)
    if args.json:
        print(json.dumps(report))
    else:
        _print_inspect(report, sys.stdout)
    return EXIT_OK


# --- demo ----------------------------------------------------------------------------

#: The demo runs with the library's default cache policy.
_DEMO_POLICY = CachePolicy()
_DEMO_AUDIENCE = "https://api.example.com"
_DEMO_ALG = "ES256"
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

    def _verifier(self) -> Verifier:
        return Verifier(
            self.issuer.issuer,
            audience=_DEMO_AUDIENCE,
            require_https=False,
            clock=self.clock,
            cache_policy=_DEMO_POLICY,
        )

    # --- the steps -----------------------------------------------------------------------

    def run(self) -> None:
        with self._verifier() as verifier:
            self.warm_cache(verifier)
            self.rotation(verifier)
            self.flood(verifier)
            self.outage(verifier)
        asyncio.run(self.concurrency())

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
            self.clock.advance(_DEMO_POLICY.refresh_cooldown + 30)
            kid = self.issuer.rotate(_DEMO_ALG)
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
        cooldown = _DEMO_POLICY.refresh_cooldown
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
            self.clock.advance(_DEMO_POLICY.stale_if_error)
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
            stale_window = _DEMO_POLICY.stale_if_error
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
                audience=_DEMO_AUDIENCE,
                require_https=False,
                clock=self.clock,
                cache_policy=_DEMO_POLICY,
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
                self.clock.advance(_DEMO_POLICY.refresh_cooldown + 1)
                self.issuer.rotate(_DEMO_ALG)
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


def _print_report(report: Mapping[str, Any], out: TextIO) -> None:
    fetches = report["fetches"]
    rates = report["verifications_per_second"]
    speed = ", ".join(f"{rate:,} verifications/s {name}" for name, rate in rates.items())
    print(
        f"\nreport: {fetches['total']} requests to the issuer ({fetches['discovery']} "
        f"discovery, {fetches['jwks']} JWKS) for {report['verifications']:,} verifications, "
        f"{report['cache_hits']:,} of them served from the cache without waiting for a "
        f"fetch; {report['rejections']} unknown-kid rejections; {speed}",
        file=out,
    )


@contextmanager
def _quiet_library_logs() -> Iterator[None]:
    """Keep the library's expected warnings (the outage) out of the demo's output.

    Only Python's last-resort handler is silenced: handlers the user configured still
    receive the records.
    """
    logger = logging.getLogger("jwks_client")
    handler = logging.NullHandler()
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)


def _run_demo(args: argparse.Namespace) -> int:
    clock = FakeClock()
    out = None if args.json else sys.stdout
    with _quiet_library_logs(), LocalIssuer(algorithms=(_DEMO_ALG,), clock=clock) as issuer:
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
        report = demo.report(error)
    if args.json:
        print(json.dumps(report))
    else:
        _print_report(report, sys.stdout)
    if error is not None:
        print(f"{PROG} demo: FAILED: {error}", file=sys.stderr)
        return EXIT_INVALID
    return EXIT_OK


_COMMANDS: dict[str | None, Callable[[argparse.Namespace], int]] = {
    "verify": _run_verify,
    "inspect": _run_inspect,
    "demo": _run_demo,
}
