"""The ``jwks-client`` command line, run in-process against a LocalIssuer on 127.0.0.1."""

from __future__ import annotations

import io
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from jwks_client import CachePolicy, Verifier, _demo
from jwks_client._keys import parse_jwks
from jwks_client.cli import EXIT_INVALID, EXIT_OK, EXIT_UNAVAILABLE, EXIT_USAGE, main
from jwks_client.testing import FakeClock, LocalIssuer

AUD = "https://api.example.com"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run the command in-process; return (exit code, stdout, stderr)."""
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def verify_args(issuer: LocalIssuer, token: str, *extra: str) -> list[str]:
    return ["verify", token, "--issuer", issuer.issuer, "--allow-http", *extra]


@pytest.fixture
def live_issuer() -> Iterator[LocalIssuer]:
    """An ES256 issuer on the real clock, for commands that use the real clock."""
    with LocalIssuer(algorithms=("ES256",)) as local:
        yield local


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# --- no subcommand, help ---------------------------------------------------------------


def test_no_subcommand_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """Bare jwks-client exits 64 with the usage and the list of commands on stderr."""
    code, out, err = run(capsys)
    assert code == EXIT_USAGE
    assert out == ""
    assert err.startswith("usage: jwks-client")
    assert "error: a command is required: verify, inspect, demo, issuer" in err


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    """--help names every subcommand on stdout and exits 0."""
    code, out, _ = run(capsys, "--help")
    assert code == EXIT_OK
    for command in ("verify", "inspect", "demo", "issuer"):
        assert command in out


@pytest.mark.parametrize("argv", [["--help"], ["verify", "--help"], ["--version"]])
def test_help_and_version_exit_zero(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    """--help (top level or a subcommand's) and --version print and return 0."""
    code, out, _ = run(capsys, *argv)
    assert code == EXIT_OK
    assert "usage:" in out or out.startswith("jwks-client 0.")


# --- verify ------------------------------------------------------------------------------


def test_verify_prints_the_claims(
    capsys: pytest.CaptureFixture[str], live_issuer: LocalIssuer
) -> None:
    """A valid token prints its claims as indented JSON on stdout and exits 0."""
    token = live_issuer.token({"sub": "alice", "scope": "read write"})
    code, out, err = run(capsys, *verify_args(live_issuer, token, "--audience", AUD))
    assert code == EXIT_OK, err
    claims = json.loads(out)
    assert claims["sub"] == "alice"
    assert claims["iss"] == live_issuer.issuer
    assert out.startswith("{\n  ")
    assert live_issuer.request_count("jwks") == 1


def test_verify_human_output_escapes_what_the_terminal_cannot_show(
    live_issuer: LocalIssuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Non-ASCII claims print as such on a UTF-8 stream and as JSON escapes on an ASCII one."""
    token = live_issuer.token({"name": "Zo\u00eb"})
    printed: dict[str, str] = {}
    for encoding in ("utf-8", "ascii"):
        buffer = io.BytesIO()
        stream = io.TextIOWrapper(buffer, encoding=encoding)
        monkeypatch.setattr(sys, "stdout", stream)
        assert main(verify_args(live_issuer, token, "--audience", AUD)) == EXIT_OK
        stream.flush()
        printed[encoding] = buffer.getvalue().decode(encoding)
        assert json.loads(printed[encoding])["name"] == "Zo\u00eb"
    assert '"Zo\u00eb"' in printed["utf-8"]
    assert '"Zo\\u00eb"' in printed["ascii"]


def test_verify_json_is_one_compact_line(
    capsys: pytest.CaptureFixture[str], live_issuer: LocalIssuer
) -> None:
    """--json prints the claims as one compact JSON line."""
    token = live_issuer.token({"sub": "bob"})
    code, out, _ = run(capsys, *verify_args(live_issuer, token, "--audience", AUD, "--json"))
    assert code == EXIT_OK
    assert out.count("\n") == 1 and ", " not in out
    assert json.loads(out)["sub"] == "bob"


def test_verify_accepts_any_of_several_audiences(
    capsys: pytest.CaptureFixture[str], live_issuer: LocalIssuer
) -> None:
    """Repeated --audience accepts a token naming any one of them."""
    token = live_issuer.token(audience="api://second")
    argv = verify_args(
        live_issuer, token, "--audience", "api://first", "--audience", "api://second"
    )
    code, out, _ = run(capsys, *argv)
    assert code == EXIT_OK
    assert json.loads(out)["aud"] == "api://second"


def test_verify_no_audience_disables_the_check(
    capsys: pytest.CaptureFixture[str], live_issuer: LocalIssuer
) -> None:
    """--no-audience accepts a token without aud."""
    token = live_issuer.token(audience=None)
    code, out, _ = run(capsys, *verify_args(live_issuer, token, "--no-audience"))
    assert code == EXIT_OK
    assert "aud" not in json.loads(out)


def test_verify_rejected_token_exits_1_without_echoing_it(
    capsys: pytest.CaptureFixture[str], live_issuer: LocalIssuer
) -> None:
    """A rejected token exits 1 with the error class and message on stderr, never the token."""
    token = live_issuer.token(audience="https://elsewhere.example.com")
    code, out, err = run(capsys, *verify_args(live_issuer, token, "--audience", AUD))
    assert code == EXIT_INVALID
    assert out == ""
    assert "InvalidAudienceError" in err
    assert token not in err and token.split(".")[1] not in err


def test_verify_rejected_token_json_error(
    capsys: pytest.CaptureFixture[str], live_issuer: LocalIssuer
) -> None:
    """With --json a rejection is one JSON object on stdout naming the error class."""
    token = live_issuer.token(alg="ES256")
    argv = verify_args(live_issuer, token, "--audience", AUD, "--algorithm", "RS256", "--json")
    code, out, err = run(capsys, *argv)
    assert code == EXIT_INVALID
    assert err == ""
    error = json.loads(out)
    assert (error["ok"], error["error"]) == (False, "AlgorithmNotAllowedError")
    assert error["exit_code"] == EXIT_INVALID
    assert "ES256" in error["message"]


def test_verify_token_type(capsys: pytest.CaptureFixture[str], live_issuer: LocalIssuer) -> None:
    """--token-type checks the header typ: at+jwt passes, another value is rejected."""
    token = live_issuer.token()
    ok, _, _ = run(
        capsys, *verify_args(live_issuer, token, "--audience", AUD, "--token-type", "at+jwt")
    )
    bad, _, err = run(
        capsys, *verify_args(live_issuer, token, "--audience", AUD, "--token-type", "id+jwt")
    )
    assert (ok, bad) == (EXIT_OK, EXIT_INVALID)
    assert "InvalidTokenTypeError" in err


def test_verify_required_claim(
    capsys: pytest.CaptureFixture[str], live_issuer: LocalIssuer
) -> None:
    """--require-claim rejects a token lacking that claim with MissingClaimError."""
    token = live_issuer.token()
    code, _, err = run(
        capsys, *verify_args(live_issuer, token, "--audience", AUD, "--require-claim", "tenant")
    )
    assert code == EXIT_INVALID
    assert "MissingClaimError" in err and "tenant" in err


def test_verify_at_fixes_the_clock(
    capsys: pytest.CaptureFixture[str], issuer: LocalIssuer, clock: FakeClock
) -> None:
    """A token minted in the past is expired now but verifies with --at set to its time."""
    token = issuer.token({"sub": "then"}, expires_in=300)
    now_code, _, now_err = run(capsys, *verify_args(issuer, token, "--audience", AUD))
    at_code, out, _ = run(
        capsys, *verify_args(issuer, token, "--audience", AUD, "--at", str(clock() + 100))
    )
    late_code, _, late_err = run(
        capsys,
        *verify_args(issuer, token, "--audience", AUD, "--at", str(clock() + 361), "--leeway", "0"),
    )
    assert now_code == EXIT_INVALID and "ExpiredTokenError" in now_err
    assert at_code == EXIT_OK and json.loads(out)["sub"] == "then"
    assert late_code == EXIT_INVALID and "ExpiredTokenError" in late_err


def test_verify_reads_the_token_from_stdin(
    capsys: pytest.CaptureFixture[str], live_issuer: LocalIssuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TOKEN '-' reads the token from stdin, surrounding whitespace stripped."""
    token = live_issuer.token({"sub": "piped"})
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"\n  {token}  \n"))
    code, out, _ = run(capsys, *verify_args(live_issuer, "-", "--audience", AUD))
    assert code == EXIT_OK
    assert json.loads(out)["sub"] == "piped"


def test_verify_empty_stdin_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], live_issuer: LocalIssuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An empty stdin exits 64 with a clear message and fetches nothing."""
    monkeypatch.setattr(sys, "stdin", io.StringIO("  \n"))
    code, _, err = run(capsys, *verify_args(live_issuer, "-", "--audience", AUD))
    assert code == EXIT_USAGE
    assert "no token on standard input" in err
    assert live_issuer.request_count() == 0


def test_verify_issuer_answering_503_exits_2(
    capsys: pytest.CaptureFixture[str], live_issuer: LocalIssuer
) -> None:
    """An issuer answering 503 makes the keys unavailable: exit 2, the error class on stderr."""
    live_issuer.fail("status", status=503, path="all")
    token = live_issuer.token()
    code, out, err = run(capsys, *verify_args(live_issuer, token, "--audience", AUD))
    assert code == EXIT_UNAVAILABLE
    assert out == ""
    assert "DiscoveryError" in err and "503" in err


def test_verify_closed_port_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    """A JWKS URL nobody listens on exits 2 with a FetchError."""
    with LocalIssuer(algorithms=("ES256",)) as local:
        token = local.token()
    jwks_uri = f"http://127.0.0.1:{closed_port()}/jwks"
    argv = ["verify", token, "--issuer", local.issuer, "--jwks-uri", jwks_uri]
    code, _, err = run(capsys, *argv, "--allow-http", "--audience", AUD, "--timeout", "2")
    assert code == EXIT_UNAVAILABLE
    assert "FetchError" in err and jwks_uri in err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--no-audience", "--audience", AUD], "exclude each other"),
        ([], "--audience is required"),
        (["--audience", AUD, "--leeway", "nan"], "not a finite number"),
        (["--audience", AUD, "--leeway", "-1"], "must not be negative"),
        (["--audience", AUD, "--timeout", "0"], "must be greater than 0"),
        (["--audience", AUD, "--at", "soon"], "not a number"),
        (["--audience", AUD, "--algorithm", "HS256"], "HS256"),
        (["--audience", AUD, "--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_verify_bad_arguments_exit_64(
    capsys: pytest.CaptureFixture[str],
    live_issuer: LocalIssuer,
    extra: list[str],
    message: str,
) -> None:
    """Bad arguments or options exit 64 (EX_USAGE) with the reason on stderr, before any I/O."""
    code, out, err = run(capsys, *verify_args(live_issuer, "a.b.c", *extra))
    assert code == EXIT_USAGE
    assert out == ""
    assert message in err
    assert live_issuer.request_count() == 0


def test_verify_missing_issuer_exits_64(capsys: pytest.CaptureFixture[str]) -> None:
    """A missing required option is a usage error (64), not argparse's default 2."""
    code, _, err = run(capsys, "verify", "a.b.c", "--audience", AUD)
    assert code == EXIT_USAGE
    assert "--issuer" in err and "usage:" in err


def test_verify_plain_http_without_allow_http_exits_64_with_a_hint(
    capsys: pytest.CaptureFixture[str], live_issuer: LocalIssuer
) -> None:
    """A plain-http issuer without --allow-http exits 64 and points at --allow-http."""
    code, _, err = run(capsys, "verify", "a.b.c", "--issuer", live_issuer.issuer, "--audience", AUD)
    assert code == EXIT_USAGE
    assert "ConfigurationError" in err and "--allow-http" in err
    assert live_issuer.request_count() == 0


# --- inspect -------------------------------------------------------------------------------


def inspect_json(capsys: pytest.CaptureFixture[str], url: str) -> dict[str, Any]:
    code, out, err = run(capsys, "inspect", url, "--allow-http", "--json")
    assert code == EXIT_OK, err
    report: dict[str, Any] = json.loads(out)
    return report


def test_inspect_issuer_shows_discovery_keys_headers_and_lifetime(
    capsys: pytest.CaptureFixture[str], issuer: LocalIssuer
) -> None:
    """An issuer URL is discovered (OpenID Connect); keys carry the library's thumbprints."""
    issuer.add_key("RS256", kid="rsa-1")
    issuer.set_extra_headers({"Age": "20"})
    report = inspect_json(capsys, issuer.issuer)
    assert report["discovery"]["kind"] == "OpenID Connect"
    assert report["discovery"]["issuer"] == issuer.issuer
    assert report["discovery"]["jwks_uri"] == issuer.jwks_uri
    assert report["jwks_uri"] == issuer.jwks_uri
    expected = {key.kid: key.thumbprint for key in parse_jwks(issuer.jwks()).keys}
    assert {key["kid"]: key["thumbprint"] for key in report["keys"]} == expected
    shapes = {key["kid"]: (key["kty"], key["size"], key["crv"]) for key in report["keys"]}
    assert shapes["rsa-1"] == ("RSA", 2048, None)
    assert ("EC", None, "P-256") in shapes.values()
    headers = report["headers"]
    assert headers["Cache-Control"] == "max-age=300"
    assert headers["Age"] == "20"
    assert headers["ETag"] and headers["Last-Modified"] and headers["Date"]
    assert headers["Expires"] is None
    assert (report["lifetime"], report["lifetime_source"]) == (280, "max-age")
    assert report["skipped"] == []
    assert issuer.request_count("discovery") == 1 and issuer.request_count("jwks") == 1


def test_inspect_jwks_url_human_output_shows_skipped_keys(
    capsys: pytest.CaptureFixture[str], issuer: LocalIssuer
) -> None:
    """A bare JWKS URL is read as such; a use=enc key is listed as skipped with its reason."""
    issuer.add_key("RS256", kid="encryption", jwk_extra={"use": "enc"})
    code, out, err = run(capsys, "inspect", issuer.jwks_uri, "--allow-http")
    assert code == EXIT_OK, err
    assert "read as a JWKS URL" in out
    assert "keys (1 usable)" in out
    assert "skipped (1)" in out
    assert "kid=encryption: use is 'enc', not 'sig'" in out
    (usable,) = parse_jwks(issuer.jwks()).keys
    assert f"thumbprint={usable.thumbprint}" in out and "crv=P-256" in out
    assert re.search(r"\n  Cache-Control +max-age=300\n", out)
    assert re.search(r"\n  Expires +\(absent\)\n", out)
    assert re.search(r"\nlifetime +300 s \(source: max-age", out)


def test_inspect_rfc8414_issuer_and_default_lifetime(
    capsys: pytest.CaptureFixture[str], clock: FakeClock
) -> None:
    """An issuer serving only RFC 8414 metadata is discovered; no caching headers → default."""
    with LocalIssuer(
        algorithms=("EdDSA",), path="/tenant", discovery="oauth", cache_control=None, clock=clock
    ) as local:
        report = inspect_json(capsys, local.issuer)
    assert report["discovery"]["kind"] == "RFC 8414"
    assert report["discovery"]["url"] == local.oauth_metadata_url
    assert report["headers"]["Cache-Control"] is None
    assert (report["lifetime"], report["lifetime_source"]) == (600, "default")
    assert [key["crv"] for key in report["keys"]] == ["Ed25519"]


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ({"kind": "status", "status": 503}, "HTTPStatusError"),
        ({"kind": "garbage"}, "InvalidKeySetError"),
        ({"kind": "redirect"}, "FetchError"),
        ({"kind": "oversize", "size": 2_000_000}, "ResponseTooLargeError"),
    ],
)
def test_inspect_unobtainable_jwks_exits_2(
    capsys: pytest.CaptureFixture[str], issuer: LocalIssuer, fault: dict[str, Any], error: str
) -> None:
    """A JWKS that cannot be fetched or parsed exits 2 with the library's error class."""
    issuer.fail(**fault)
    code, out, err = run(capsys, "inspect", issuer.issuer, "--allow-http")
    assert code == EXIT_UNAVAILABLE
    assert out == ""
    assert error in err


def test_inspect_set_without_usable_key_exits_2(
    capsys: pytest.CaptureFixture[str], issuer: LocalIssuer
) -> None:
    """A set whose keys are all skipped exits 2 and says why."""
    (kid,) = issuer.kids()
    issuer.serve_jwks({"keys": [{**issuer.public_jwk(kid), "use": "enc"}]})
    code, out, _ = run(capsys, "inspect", issuer.jwks_uri, "--allow-http", "--json")
    assert code == EXIT_UNAVAILABLE
    error = json.loads(out)
    assert error["error"] == "InvalidKeySetError" and "use is 'enc'" in error["message"]


def test_inspect_issuer_mismatch_exits_2(
    capsys: pytest.CaptureFixture[str], clock: FakeClock
) -> None:
    """A discovery document naming another issuer is refused, as the verifier would."""
    with LocalIssuer(advertised_issuer="https://other.example.com", clock=clock) as local:
        code, _, err = run(capsys, "inspect", local.issuer, "--allow-http")
    assert code == EXIT_UNAVAILABLE
    assert "DiscoveryError" in err and "other.example.com" in err


def test_inspect_closed_port_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    """An unreachable URL exits 2 with a FetchError."""
    url = f"http://127.0.0.1:{closed_port()}"
    code, _, err = run(capsys, "inspect", url, "--allow-http", "--timeout", "2")
    assert code == EXIT_UNAVAILABLE
    assert "FetchError" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["inspect", "ftp://example.com/jwks"], "absolute http(s) URL"),
        (["inspect", "http://127.0.0.1:9/jwks"], "--allow-http"),
        (["inspect"], "ISSUER_OR_JWKS_URL"),
        (["inspect", "https://example.com", "--timeout", "inf"], "not a finite number"),
        (["unknown-command"], "invalid choice"),
    ],
)
def test_inspect_bad_arguments_exit_64(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    """A refused URL or bad option exits 64 with a clear message, without fetching."""
    code, out, err = run(capsys, *argv)
    assert code == EXIT_USAGE
    assert out == ""
    assert message in err


# --- demo ------------------------------------------------------------------------------------

STEP_NAMES = [
    "warm_cache",
    "key_rotation",
    "unknown_kid_flood",
    "issuer_down",
    "async_concurrency",
    "dpop_replay",
]


def test_demo_walks_through_every_step(capsys: pytest.CaptureFixture[str]) -> None:
    """The demo prints a checked line per step and a report, and exits 0."""
    code, out, err = run(capsys, "demo")
    assert code == EXIT_OK, err
    for number, phrase in enumerate(
        ["warm cache", "key rotation", "unknown-kid flood", "issuer down", "async", "DPoP"],
        start=1,
    ):
        assert f"\u2713 {number}. {phrase}" in out
    assert "\nreport: 11 requests to the issuer (4 discovery, 7 JWKS)" in out
    assert "verifications/s sync" in out and "verifications/s async" in out
    assert err == ""


def test_demo_json_report(capsys: pytest.CaptureFixture[str]) -> None:
    """--json prints one report with the expected fetch counts per step and in total."""
    code, out, _ = run(capsys, "demo", "--json")
    assert code == EXIT_OK
    report = json.loads(out)
    assert report["ok"] is True and report["error"] is None
    assert [step["name"] for step in report["steps"]] == STEP_NAMES
    fetches = [(s["discovery_fetches"], s["jwks_fetches"]) for s in report["steps"]]
    assert fetches == [(1, 1), (0, 1), (0, 1), (3, 3), (0, 1), (0, 0)]
    assert report["fetches"] == {"discovery": 4, "jwks": 7, "total": 11}
    flood = report["steps"][2]
    assert (flood["fetches_inside_cooldown"], flood["fetches_after_cooldown"]) == (0, 1)
    assert report["rejections"] == 200 + 2  # the flood; a replay and a downgrade
    assert report["verifications"] == 2001 + 1 + 101 + 2051 + 1
    dpop = report["steps"][5]
    assert dpop["replay_answer"] == {"status": 401, "error": "invalid_dpop_proof"}
    # Verifications that waited for a fetch: the cold start, the rotation, the recovery
    # and the 50 tasks meeting the rotated key.
    assert report["cache_hits"] == report["verifications"] - 53
    assert report["verifications_per_second"]["sync"] > 0
    assert report["verifications_per_second"]["async"] > 0


def test_demo_fails_loudly_when_an_expectation_breaks(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no refresh cooldown the flood step's expectation fails: ✗ line, exit 1."""
    monkeypatch.setattr(_demo, "DEMO_POLICY", CachePolicy(refresh_cooldown=0))
    code, out, err = run(capsys, "demo")
    assert code == EXIT_INVALID
    assert "\u2713 2. key rotation" in out
    assert "\u2717 3. unknown_kid_flood: 100 unknown kids inside the 0 s cooldown" in out
    assert "FAILED: step 3 (unknown_kid_flood)" in err
    assert "\u2713 4." not in out


def test_demo_fails_when_a_replay_passes(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A replay store that forgets every proof fails the DPoP step: ✗ line, exit 1."""

    class Forgetful(_demo.MemoryReplayStore):
        def first_use(self, key: bytes, expires_at: float, now: float) -> bool:
            return True

    monkeypatch.setattr(_demo, "MemoryReplayStore", Forgetful)
    code, out, err = run(capsys, "demo")
    assert code == EXIT_INVALID
    assert "\u2713 5. async" in out
    assert "\u2717 6. dpop_replay: a replayed DPoP proof was accepted" in out
    assert "FAILED: step 6 (dpop_replay)" in err


def test_demo_json_failure_report(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failed demo with --json still prints its report, marked not ok, and exits 1."""
    monkeypatch.setattr(_demo, "DEMO_POLICY", CachePolicy(refresh_cooldown=0))
    code, out, _ = run(capsys, "demo", "--json")
    report = json.loads(out)
    assert code == EXIT_INVALID
    assert report["ok"] is False and "unknown_kid_flood" in report["error"]
    assert report["exit_code"] == EXIT_INVALID
    assert [step["name"] for step in report["steps"]] == STEP_NAMES[:2]


def test_demo_reports_an_unexpected_library_error_as_a_failed_step(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A library error inside a step fails that step with the error's class, exit 1."""
    monkeypatch.setattr(_demo, "DEMO_AUDIENCE", "https://another-api.example.com")
    code, out, err = run(capsys, "demo")
    assert code == EXIT_INVALID
    assert "\u2717 1. warm_cache: unexpected InvalidAudienceError" in out
    assert "FAILED: step 1 (warm_cache): unexpected InvalidAudienceError" in err


def test_demo_on_an_ascii_terminal_uses_plain_marks(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a stream that cannot encode ✓ the demo prints [ok] instead of failing."""
    buffer = io.BytesIO()
    stream = io.TextIOWrapper(buffer, encoding="ascii")
    monkeypatch.setattr(sys, "stdout", stream)
    assert main(["demo"]) == EXIT_OK
    stream.flush()
    assert b"[ok] 5. async" in buffer.getvalue()


def test_python_m_jwks_client_runs_the_demo() -> None:
    """``python -m jwks_client demo --json`` runs in a fresh process and reports success."""
    result = subprocess.run(
        [sys.executable, "-m", "jwks_client", "demo", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == EXIT_OK, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert report["fetches"]["total"] == 11


# --- usage errors never echo a token -------------------------------------------------------


def usage_argv(shape: str, issuer: LocalIssuer, token: str) -> list[str]:
    """An argument vector with ``token`` where a usage error will name it."""
    return {
        "as the command": [token],
        "with a Bearer prefix": [f"Bearer {token}"],
        "as an extra argument": verify_args(issuer, "a.b.c", "--audience", AUD, token),
        "as an option value": verify_args(issuer, "a.b.c", "--audience", AUD, "--at", token),
        "as the issuer": ["verify", "a.b.c", "--issuer", token, "--audience", AUD],
        "as the inspected URL": ["inspect", token],
        "mangled, as the command": ["x" + token[1:]],
    }[shape]


USAGE_SHAPES = [
    "as the command",
    "with a Bearer prefix",
    "as an extra argument",
    "as an option value",
    "as the issuer",
    "as the inspected URL",
    "mangled, as the command",
]


@pytest.mark.parametrize("json_flag", [[], ["--json"]], ids=["text", "json"])
@pytest.mark.parametrize("shape", USAGE_SHAPES)
def test_usage_errors_never_echo_a_token(
    capsys: pytest.CaptureFixture[str], live_issuer: LocalIssuer, shape: str, json_flag: list[str]
) -> None:
    """A token misplaced in the arguments exits 64 and is shown only as [token redacted]."""
    token = live_issuer.token({"sub": "secret-subject"})
    code, out, err = run(capsys, *usage_argv(shape, live_issuer, token), *json_flag)
    assert code == EXIT_USAGE
    printed = out + err
    for segment in token.split("."):
        assert segment not in printed
    assert "[token redacted]" in printed
    if json_flag:
        assert err == ""
        assert json.loads(out)["exit_code"] == EXIT_USAGE
    assert live_issuer.request_count() == 0


def test_redaction_keeps_ordinary_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    """Arguments that are not token-like (URLs, option names) still appear in usage errors."""
    code, _, err = run(capsys, "inspect", "https://idp.example.co.uk/tenant", "--bogus")
    assert code == EXIT_USAGE
    assert "unrecognized arguments: --bogus" in err
    code, _, err = run(capsys, "inspect", "ftp://login.example.co.uk/x")
    assert code == EXIT_USAGE
    assert "ftp://login.example.co.uk/x" in err


# --- --json failures -----------------------------------------------------------------------


def failure_argv(case: str, issuer: LocalIssuer) -> list[str]:
    if case == "rejected":
        token = issuer.token(audience="https://elsewhere.example.com")
        return verify_args(issuer, token, "--audience", AUD)
    if case == "unknown kid":
        return verify_args(issuer, issuer.token(kid="nobody"), "--audience", AUD)
    if case == "unavailable":
        issuer.fail("status", status=503, path="jwks")
        return verify_args(issuer, issuer.token(), "--audience", AUD)
    if case == "configuration":
        return verify_args(issuer, issuer.token())  # no --audience
    return verify_args(issuer, "a.b.c", "--audience", AUD, "--leeway", "nan")  # argparse


@pytest.mark.parametrize(
    ("case", "exit_code", "error", "facts", "text"),
    [
        ("rejected", EXIT_INVALID, "InvalidAudienceError", {"claim": "aud"}, "aud"),
        ("unknown kid", EXIT_INVALID, "KeyNotFoundError", {"kid": "nobody"}, "nobody"),
        ("unavailable", EXIT_UNAVAILABLE, "HTTPStatusError", {"status_code": 503}, "503"),
        ("configuration", EXIT_USAGE, "ConfigurationError", {}, "--audience is required"),
        ("usage", EXIT_USAGE, "UsageError", {}, "argument --leeway: not a finite"),
    ],
)
def test_json_failures_are_one_object_on_stdout_with_the_same_exit_code(
    capsys: pytest.CaptureFixture[str],
    live_issuer: LocalIssuer,
    case: str,
    exit_code: int,
    error: str,
    facts: dict[str, Any],
    text: str,
) -> None:
    """With --json a failure is one JSON object on stdout, nothing on stderr, same exit code."""
    argv = failure_argv(case, live_issuer)
    text_code, text_out, text_err = run(capsys, *argv)
    json_code, json_out, json_err = run(capsys, *argv, "--json")
    assert text_code == json_code == exit_code
    assert text_out == "" and text in text_err
    assert json_err == ""
    document = json.loads(json_out)
    assert document["ok"] is False
    assert (document["error"], document["exit_code"]) == (error, exit_code)
    assert text in document["message"]
    assert facts.items() <= document.items()


# --- one line per failure; --verbose ---------------------------------------------------------


def run_module(*argv: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m jwks_client`` in a fresh process (no logging configured)."""
    return subprocess.run(
        [sys.executable, "-m", "jwks_client", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_failing_fetch_is_reported_on_exactly_one_line(live_issuer: LocalIssuer) -> None:
    """An issuer answering 503 gives one stderr line; --verbose adds the library's log records."""
    live_issuer.fail("status", status=503, path="all")
    argv = verify_args(live_issuer, live_issuer.token(), "--audience", AUD)
    quiet = run_module(*argv)
    assert quiet.returncode == EXIT_UNAVAILABLE
    assert quiet.stdout == ""
    (line,) = quiet.stderr.splitlines()
    assert line.startswith("jwks-client verify: DiscoveryError") and "503" in line
    verbose = run_module(*argv, "--verbose")
    assert verbose.returncode == EXIT_UNAVAILABLE
    lines = verbose.stderr.splitlines()
    assert any(log.startswith("jwks-client: log: WARNING jwks_client: refresh") for log in lines)
    assert lines[-1] == line


# --- verify and inspect never load the test issuer ----------------------------------------------


def imported_modules(stderr: str) -> set[str]:
    """The module names of ``python -X importtime`` output."""
    return {
        line.rsplit("|", 1)[1].strip()
        for line in stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }


def test_importing_the_cli_imports_no_test_server() -> None:
    """``import jwks_client.cli`` loads neither http.server nor jwks_client.testing."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import jwks_client.cli"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    imported = imported_modules(result.stderr)
    assert {"jwks_client.cli", "jwks_client._sync"} <= imported  # the output was parsed
    assert "http.server" not in imported and "socketserver" not in imported
    assert not {name for name in imported if name.startswith("jwks_client.testing")}
    assert not {"jwks_client._demo", "jwks_client._issuer_command"} & imported


def test_running_verify_and_inspect_imports_no_test_server() -> None:
    """Running verify and inspect to completion still leaves the test issuer unloaded."""
    jwks_uri = f"http://127.0.0.1:{closed_port()}/jwks"
    script = f"""
import json, sys
from jwks_client.cli import main
codes = [
    main(["verify", "a.b.c", "--issuer", "https://idp.example.com", "--audience", "a"]),
    main(["verify", "eyJhbGciOiJFUzI1NiJ9.e30.c2ln", "--issuer", "https://idp.example.com",
          "--jwks-uri", "{jwks_uri}", "--audience", "a", "--allow-http", "--timeout", "2"]),
    main(["inspect", "{jwks_uri}", "--allow-http", "--timeout", "2"]),
]
print(json.dumps({{"codes": codes, "modules": sorted(sys.modules)}}))
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["codes"] == [EXIT_INVALID, EXIT_UNAVAILABLE, EXIT_UNAVAILABLE]
    modules = set(report["modules"])
    assert "jwks_client._inspect" in modules
    assert "http.server" not in modules
    assert not {name for name in modules if name.startswith("jwks_client.testing")}


# --- the issuer command -----------------------------------------------------------------------

ISSUER_TIMEOUT = 30.0


class IssuerProcess:
    """``jwks-client issuer`` in a subprocess, its stdout read by a thread into a queue."""

    def __init__(self, *argv: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "jwks_client", "issuer", *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def read_until(self, prefix: str) -> list[str]:
        """The lines printed up to the first one starting with ``prefix`` (bounded wait)."""
        seen: list[str] = []
        deadline = time.monotonic() + ISSUER_TIMEOUT
        while True:
            line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            assert line is not None, f"the issuer exited early: {seen}"
            seen.append(line)
            if line.startswith(prefix):
                return seen

    def stop(self, signum: int) -> int:
        """Send ``signum`` to the process by its pid and return its exit status."""
        os.kill(self.process.pid, signum)
        return self.process.wait(timeout=ISSUER_TIMEOUT)

    def close(self) -> str:
        """Make sure the process is gone; return its stderr."""
        if self.process.poll() is None:
            self.process.kill()
        _, err = self.process.communicate(timeout=ISSUER_TIMEOUT)
        self.reader.join(ISSUER_TIMEOUT)
        return err


def fields(lines: list[str]) -> dict[str, str]:
    """The ``name  value`` lines of the human output."""
    found: dict[str, str] = {}
    for line in lines:
        name, _, value = line.partition(" ")
        if value.strip():
            found[name] = value.strip()
    return found


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_issuer_command_serves_tokens_until_sigterm() -> None:
    """The issuer prints its URLs and a token, mints more on /token, and exits 0 on SIGTERM."""
    issuer = IssuerProcess("--host", "127.0.0.1", "--port", "0")
    try:
        printed = fields(issuer.read_until("token "))
        url = printed["issuer"]
        assert url.startswith("http://127.0.0.1:")
        assert printed["jwks_uri"] == url + "/jwks"
        assert printed["token_endpoint"] == url + "/token"
        params = {"sub": "alice", "aud": "api://orders", "scope": "orders:read"}
        response = httpx.get(printed["token_endpoint"], params=params, timeout=10)
        assert response.status_code == 200
        minted = response.json()["access_token"]
        with Verifier(url, audience="api://orders", require_https=False) as verifier:
            claims = verifier.verify(minted)
        assert (claims["sub"], claims["scope"], claims["iss"]) == ("alice", "orders:read", url)
        with Verifier(url, audience=printed["audience"], require_https=False) as verifier:
            assert verifier.verify(printed["token"])["sub"] == "user-1"
        assert issuer.stop(signal.SIGTERM) == EXIT_OK
        with pytest.raises(httpx.ConnectError):
            httpx.get(url + "/jwks", timeout=5)
    finally:
        err = issuer.close()
    assert "Traceback" not in err


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_issuer_command_json_and_sigint() -> None:
    """--json prints one JSON line (ES256 key with --alg), and SIGINT stops it with exit 0."""
    issuer = IssuerProcess("--port", "0", "--alg", "ES256", "--json")
    try:
        (line,) = issuer.read_until("{")
        facts = json.loads(line)
        assert set(facts) == {
            "issuer",
            "discovery_url",
            "jwks_uri",
            "token_endpoint",
            "audience",
            "token",
        }
        keys = httpx.get(facts["jwks_uri"], timeout=10).json()["keys"]
        assert [key["alg"] for key in keys] == ["ES256"]
        with Verifier(facts["issuer"], audience=facts["audience"], require_https=False) as v:
            assert v.verify(facts["token"])["iss"] == facts["issuer"]
        assert issuer.stop(signal.SIGINT) == EXIT_OK
    finally:
        err = issuer.close()
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--host", "0.0.0.0"], "host must be a loopback address"),
        (["--host", "example.com"], "loopback IP address"),
        (["--alg", "HS256"], "unsupported algorithm 'HS256'"),
        (["--port", "70000"], "not a port number"),
    ],
)
def test_issuer_command_refuses_bad_options(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    """A non-loopback host, an unknown algorithm or a bad port exits 64 before serving."""
    code, out, err = run(capsys, "issuer", *argv)
    assert code == EXIT_USAGE
    assert out == ""
    assert message in err
