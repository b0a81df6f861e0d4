"""The ``jwks-client`` command line, run in-process against a LocalIssuer on 127.0.0.1."""

from __future__ import annotations

import io
import json
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from jwks_client import CachePolicy, cli
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


def test_no_subcommand_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    """Without a subcommand the help listing every subcommand is printed and 0 returned."""
    code, out, err = run(capsys)
    assert code == EXIT_OK
    assert "usage: jwks-client" in out
    for command in ("verify", "inspect", "demo"):
        assert command in out
    assert err == ""


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
    """With --json a rejection is one JSON object on stderr naming the error class."""
    token = live_issuer.token(alg="ES256")
    argv = verify_args(live_issuer, token, "--audience", AUD, "--algorithm", "RS256", "--json")
    code, out, err = run(capsys, *argv)
    assert code == EXIT_INVALID
    assert out == ""
    error = json.loads(err)
    assert error["error"] == "AlgorithmNotAllowedError"
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
    code, _, err = run(capsys, "inspect", issuer.jwks_uri, "--allow-http", "--json")
    assert code == EXIT_UNAVAILABLE
    error = json.loads(err)
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

STEP_NAMES = ["warm_cache", "key_rotation", "unknown_kid_flood", "issuer_down", "async_concurrency"]


def test_demo_walks_through_every_step(capsys: pytest.CaptureFixture[str]) -> None:
    """The demo prints a checked line per step and a report, and exits 0."""
    code, out, err = run(capsys, "demo")
    assert code == EXIT_OK, err
    for number, phrase in enumerate(
        ["warm cache", "key rotation", "unknown-kid flood", "issuer down", "async"], start=1
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
    assert fetches == [(1, 1), (0, 1), (0, 1), (3, 3), (0, 1)]
    assert report["fetches"] == {"discovery": 4, "jwks": 7, "total": 11}
    flood = report["steps"][2]
    assert (flood["fetches_inside_cooldown"], flood["fetches_after_cooldown"]) == (0, 1)
    assert report["rejections"] == 200
    assert report["verifications"] == 2001 + 1 + 101 + 2051
    # Verifications that waited for a fetch: the cold start, the rotation, the recovery
    # and the 50 tasks meeting the rotated key.
    assert report["cache_hits"] == report["verifications"] - 53
    assert report["verifications_per_second"]["sync"] > 0
    assert report["verifications_per_second"]["async"] > 0


def test_demo_fails_loudly_when_an_expectation_breaks(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no refresh cooldown the flood step's expectation fails: ✗ line, exit 1."""
    monkeypatch.setattr(cli, "_DEMO_POLICY", CachePolicy(refresh_cooldown=0))
    code, out, err = run(capsys, "demo")
    assert code == EXIT_INVALID
    assert "\u2713 2. key rotation" in out
    assert "\u2717 3. unknown_kid_flood: 100 unknown kids inside the 0 s cooldown" in out
    assert "FAILED: step 3 (unknown_kid_flood)" in err
    assert "\u2713 4." not in out


def test_demo_json_failure_report(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failed demo with --json still prints its report, marked not ok, and exits 1."""
    monkeypatch.setattr(cli, "_DEMO_POLICY", CachePolicy(refresh_cooldown=0))
    code, out, _ = run(capsys, "demo", "--json")
    report = json.loads(out)
    assert code == EXIT_INVALID
    assert report["ok"] is False and "unknown_kid_flood" in report["error"]
    assert [step["name"] for step in report["steps"]] == STEP_NAMES[:2]


def test_demo_reports_an_unexpected_library_error_as_a_failed_step(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A library error inside a step fails that step with the error's class, exit 1."""
    monkeypatch.setattr(cli, "_DEMO_AUDIENCE", "https://another-api.example.com")
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
