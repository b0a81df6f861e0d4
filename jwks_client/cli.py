"""The ``jwks-client`` command: verify a token, inspect an issuer, run the demo or an issuer.

``jwks-client verify TOKEN --issuer URL --audience AUD`` prints the token's claims as
JSON; ``jwks-client inspect URL`` shows what an issuer (or a bare JWKS URL) serves: its
discovery document, its usable keys with their RFC 7638 thumbprints, the caching headers
and the lifetime the library derives from them, and the keys it would skip;
``jwks-client demo`` starts a :class:`~jwks_client.testing.LocalIssuer` and walks
through the library's behaviour with real HTTP on 127.0.0.1, checking every expectation
as it goes, so it doubles as a smoke test; ``jwks-client issuer`` runs a ``LocalIssuer``
with a token endpoint as a long-lived process on a loopback address, to test APIs written
in any language. ``verify`` and ``inspect`` never load the test issuer: the ``demo`` and
``issuer`` commands live in their own modules, imported when they run.

Output is human-readable by default; ``--json`` gives one JSON document for machines,
failures included: ``{"ok": false, "error": CLASS, "message": ..., "exit_code": N}`` on
stdout, with the same exit code as without ``--json``. Each failure is reported once: the
library's log records are kept off the terminal unless ``--verbose`` shows them on stderr.

Exit codes (the same for every subcommand):

* 0: success;
* 1: the token was rejected (``InvalidTokenError``), or a demo expectation failed;
* 2: the keys could not be obtained (``KeySetUnavailableError``);
* 64: bad arguments or configuration (``EX_USAGE`` of sysexits.h), or no command.

No message ever contains a whole token: a usage error shows a token-looking argument as
``[token redacted]``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NoReturn, TextIO

from ._errors import (
    ConfigurationError,
    InvalidTokenError,
    JWKSClientError,
    KeySetUnavailableError,
)
from ._http import DEFAULT_TIMEOUT
from ._sync import Verifier
from ._version import __version__

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
_COMMAND_NAMES = ("verify", "inspect", "demo", "issuer")

# A compact JWS or JWE: its first segment is base64url JSON, so it opens with "ey" or "ew".
_TOKEN_SHAPE = re.compile(r"\be[wy][A-Za-z0-9_-]{8,}(?:\.[A-Za-z0-9_-]*){2,4}")
# In a usage error any long base64url run may be a token or a secret (a mangled token, an
# opaque one): arguments never legitimately hold one.
_LONG_RUN = re.compile(r"[A-Za-z0-9_-]{40,}")
_REDACTED = "[token redacted]"


def _redact(text: str, *, usage: bool = False) -> str:
    """``text`` with every token-looking part replaced (long runs too for a usage error)."""
    text = _TOKEN_SHAPE.sub(_REDACTED, text)
    return _LONG_RUN.sub(_REDACTED, text) if usage else text


# --- argument parsing ----------------------------------------------------------------


class _UsageError(Exception):
    """A usage error, carrying the usage of the (sub)parser that found it."""

    def __init__(self, message: str, usage: str) -> None:
        super().__init__(message)
        self.usage = usage


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are raised, for :func:`main` to report once."""

    def error(self, message: str) -> NoReturn:
        """Raise the error with this parser's usage; :func:`main` reports it (exit 64)."""
        raise _UsageError(message, self.format_usage())


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


def _port(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"not a port number (0-65535): {text!r}")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    """Return the command's argument parser (its errors exit with :data:`EXIT_USAGE`)."""
    parser = _Parser(
        prog=PROG,
        description="Verify JWT access tokens against an issuer's JWKS, inspect an "
        "issuer's keys, run the self-checking demo, or run a test issuer.",
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
    _add_output_options(verify, json_help="compact JSON output (failures too)")

    inspect = commands.add_parser(
        "inspect",
        help="show an issuer's discovery, keys and caching headers",
        description="Show what an issuer or a JWKS URL serves: discovery result, usable "
        "keys with RFC 7638 thumbprints, caching headers and the derived lifetime, and "
        "the keys that would be skipped.",
    )
    inspect.add_argument("url", metavar="ISSUER_OR_JWKS_URL")
    _add_fetch_options(inspect)
    _add_output_options(inspect, json_help="one JSON document (failures too)")

    demo = commands.add_parser(
        "demo",
        help="run the self-checking demo against a local issuer (no network needed)",
        description="Start a local issuer on 127.0.0.1 and walk through warm-cache "
        "verification, key rotation, an unknown-kid flood, an issuer outage and async "
        "verification, checking each expectation.",
    )
    _add_output_options(demo, json_help="print one JSON report")

    issuer = commands.add_parser(
        "issuer",
        help="run a test issuer on a loopback address until Ctrl-C (SIGINT) or SIGTERM",
        description="Serve discovery, a JWKS and a token endpoint (GET or POST /token "
        "with sub, aud, scope, ttl, alg) on a loopback address, print the URLs and a "
        "sample token, and run until SIGINT or SIGTERM: a real issuer for testing an API "
        "written in any language. It signs tokens for anyone who asks, so it binds "
        "loopback addresses only.",
    )
    issuer.add_argument(
        "--host",
        default="127.0.0.1",
        metavar="ADDR",
        help="a loopback address to bind (127.0.0.1; ::1 for IPv6)",
    )
    issuer.add_argument(
        "--port", type=_port, default=0, metavar="N", help="the port (0: a free one)"
    )
    issuer.add_argument(
        "--alg", default="RS256", metavar="ALG", help="the signing key's algorithm (RS256)"
    )
    _add_output_options(issuer, json_help="print the URLs and the sample token as one JSON line")
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


def _add_output_options(parser: argparse.ArgumentParser, *, json_help: str) -> None:
    parser.add_argument("--json", action="store_true", help=json_help)
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="also show the library's log records (refresh failures, skipped keys) on stderr",
    )


def _wants_json(argv: Sequence[str]) -> bool:
    """Whether ``--json`` (or an abbreviation argparse accepts) is among the options."""
    for argument in argv:
        if argument == "--":
            return False
        if len(argument) >= 4 and "--json".startswith(argument):
            return True
    return False


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return the exit status.

    Args:
        argv: the arguments without the program name; ``sys.argv[1:]`` when None.

    Returns:
        0 on success, 1 for a rejected token (or a failed demo check), 2 when keys are
        unavailable, 64 for bad arguments or configuration, or when no command is given.
    """
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(arguments)
        if args.command is None:
            parser.error(f"a command is required: {', '.join(_COMMAND_NAMES)}")
    except _UsageError as exc:
        return _usage_failure(exc, json_output=_wants_json(arguments))
    except SystemExit as exc:  # --help or --version, printed
        return exc.code if isinstance(exc.code, int) else EXIT_OK
    with _library_logs(verbose=args.verbose):
        try:
            return _COMMANDS[args.command](args)
        except ConfigurationError as exc:
            return _fail(args, EXIT_USAGE, exc, hint=_https_hint(args, exc))
        except InvalidTokenError as exc:
            return _fail(args, EXIT_INVALID, exc)
        except KeySetUnavailableError as exc:
            return _fail(args, EXIT_UNAVAILABLE, exc)


# --- reporting -----------------------------------------------------------------------


@contextmanager
def _library_logs(*, verbose: bool) -> Iterator[None]:
    """Show the library's log records on stderr with ``verbose``; otherwise keep them quiet.

    A failure is reported once, by the command. Quiet means Python's last-resort handler
    (which would print every warning on stderr) is kept out: handlers configured by an
    application that calls :func:`main` still receive the records.
    """
    logger = logging.getLogger("jwks_client")
    handler: logging.Handler
    if verbose:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(f"{PROG}: log: %(levelname)s %(message)s"))
    else:
        handler = logging.NullHandler()
    level = logger.level
    logger.addHandler(handler)
    if verbose:
        logger.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _usage_failure(exc: _UsageError, *, json_output: bool) -> int:
    message = _redact(str(exc), usage=True)
    if json_output:
        document = {"ok": False, "error": "UsageError", "message": message}
        print(json.dumps({**document, "exit_code": EXIT_USAGE}))
    else:
        print(f"{exc.usage}{PROG}: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _fail(args: argparse.Namespace, code: int, exc: JWKSClientError, *, hint: str = "") -> int:
    """Report a failure once, on stderr (as a JSON object on stdout with --json); return ``code``.

    The JSON object names the error class and its message, and carries the facts the
    error holds (``url``, ``status_code``, ``kid``, ``claim``) and the hint, if any.
    """
    name = type(exc).__name__
    message = _redact(str(exc))
    if args.json:
        document: dict[str, Any] = {"ok": False, "error": name, "message": message}
        for fact in ("url", "status_code", "kid", "claim"):
            value = getattr(exc, fact, None)
            if value is not None:
                document[fact] = value
        if hint:
            document["hint"] = hint
        document["exit_code"] = code
        print(json.dumps(document))
    else:
        print(f"{PROG} {args.command}: {name}: {message}", file=sys.stderr)
        if hint:
            print(f"hint: {hint}", file=sys.stderr)
    return code


def _https_hint(args: argparse.Namespace, exc: Exception) -> str:
    if not getattr(args, "allow_http", True) and "not https" in str(exc):
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
    with Verifier(
        args.issuer,
        audience=audience,
        token_type=args.token_type,
        required_claims=args.require_claim,
        jwks_uri=args.jwks_uri,
        require_https=not args.allow_http,
        timeout=args.timeout,
        **options,
    ) as verifier:
        claims = verifier.verify(token)
    if args.json:
        print(json.dumps(claims, separators=(",", ":")))
    else:
        print(json.dumps(claims, indent=2, ensure_ascii=not _speaks_unicode(sys.stdout)))
    return EXIT_OK


def _speaks_unicode(stream: TextIO) -> bool:
    """Whether ``stream`` encodes any character (a UTF encoding)."""
    encoding = (getattr(stream, "encoding", None) or "ascii").lower().replace("-", "")
    return encoding.startswith("utf")


# --- the other commands, each in its own module --------------------------------------


def _run_inspect(args: argparse.Namespace) -> int:
    from ._inspect import run_inspect

    run_inspect(
        args.url,
        require_https=not args.allow_http,
        timeout=args.timeout,
        json_output=args.json,
        out=sys.stdout,
    )
    return EXIT_OK


def _run_demo(args: argparse.Namespace) -> int:
    from ._demo import print_report, run_demo

    report = run_demo(None if args.json else sys.stdout)
    code = EXIT_OK if report["ok"] else EXIT_INVALID
    if args.json:
        print(json.dumps({**report, "exit_code": code}))
    else:
        print_report(report, sys.stdout)
        if not report["ok"]:
            print(f"{PROG} demo: FAILED: {report['error']}", file=sys.stderr)
    return code


def _run_issuer(args: argparse.Namespace) -> int:
    from ._issuer_command import serve_issuer

    serve_issuer(
        host=args.host, port=args.port, alg=args.alg, json_output=args.json, out=sys.stdout
    )
    return EXIT_OK


_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "verify": _run_verify,
    "inspect": _run_inspect,
    "demo": _run_demo,
    "issuer": _run_issuer,
}
