"""Cold start in fresh processes: ``import jwks_client`` and import -> first verified token,
side by side with PyJWT.

What a serverless function (or any short-lived worker) pays before its first request is
served: the interpreter is already up, then the library is imported, a verifier is built,
the JWKS is fetched and the first token verified. Each figure is measured in a new
``python`` process, the clock started by the child itself just before its first import of
the library (only ``sys`` and ``time`` are loaded before it, and both are built in):

* **import**: ``import jwks_client`` against ``import jwt``;
* **first token**: import, then ``jwks_client.Verifier(issuer, jwks_uri=..., audience=...,
  require_https=False).verify(token)`` against import, then PyJWT's
  ``PyJWKClient(jwks_uri).get_signing_key_from_jwt(token)`` + ``jwt.decode(token, key,
  algorithms=, audience=, issuer=)``. Both fetch the JWKS (one request, no discovery) from
  the same :class:`~jwks_client.testing.LocalIssuer`, plain HTTP on 127.0.0.1, started
  here in the parent process, and verify the same RS256 token;
* **dependency floor**: what the mandated dependencies alone cost on that path: ``import
  httpx, joserfc.jwk`` (the import column), then one GET of the JWKS with an
  ``httpx.Client(verify=False)`` (plain HTTP: no CA bundle is loaded, as none is by the
  library on this path) and ``joserfc.jwk.KeySet.import_key_set`` of the document. Nothing
  is verified. ``jwks_client first token`` minus this is the library's own share of its
  first token; this over PyJWT's first token says how far any library built on these
  dependencies stands from PyJWT.

The children run twice: with the benchmark's own interpreter (the development venv, where
other tools installed beside the library change what ``import httpx`` loads: it tries its
command-line client, which imports click and pygments when they are there), and with a
**deployment venv** that :func:`deployment_python` builds in ``benchmarks/results/`` as a
serverless bundle would hold it: the library installed from this checkout (not editable)
with its runtime dependencies only, and PyJWT with ``cryptography``. Its children run
from that venv's folder, so the checkout is not on their import path.

The five kinds of child run in interleaved rounds (the order rotates every round), after one
discarded warm-up round, so drift in the machine's speed lands on all of them alike; the
figures are medians. ``jwks_client`` is byte-compiled first, as an installed package is:
an editable checkout run with ``PYTHONDONTWRITEBYTECODE`` would otherwise be compiled
from source in every child.
"""

from __future__ import annotations

import compileall
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench_tokens import AUDIENCE, TOKEN_LIFETIME, access_claims

import jwks_client
from jwks_client.testing import LocalIssuer

#: The goals, as ratios of medians to PyJWT's.
IMPORT_TARGET = 1.2
FIRST_TOKEN_TARGET = 1.5
#: Seconds a child may take before the run gives up on it.
CHILD_TIMEOUT = 60.0

# Each child reads issuer, JWKS URL, token and audience from argv and prints one JSON
# line: milliseconds from before the import to after it and to the verified token, and
# how many modules the import added to ``sys.modules``.
_PROLOGUE = (
    "import sys, time\nt0 = time.perf_counter()\nc0 = time.process_time()\nn0 = len(sys.modules)\n"
)
_EPILOGUE = (
    "import json\n"
    "print(json.dumps({'import_ms': (t1 - t0) * 1e3, 'total_ms': (t2 - t0) * 1e3,"
    " 'import_cpu_ms': (c1 - c0) * 1e3, 'total_cpu_ms': (c2 - c0) * 1e3,"
    " 'modules': n1 - n0, 'sub': sub}))\n"
)
CHILDREN: dict[str, str] = {
    "import jwks_client": _PROLOGUE
    + "import jwks_client\n"
    + "t1 = t2 = time.perf_counter()\nc1 = c2 = time.process_time()\nn1 = len(sys.modules)\n"
    + "sub = None\n"
    + _EPILOGUE,
    "import jwt": _PROLOGUE
    + "import jwt\n"
    + "t1 = t2 = time.perf_counter()\nc1 = c2 = time.process_time()\nn1 = len(sys.modules)\n"
    + "sub = None\n"
    + _EPILOGUE,
    "jwks_client first token": _PROLOGUE
    + "import jwks_client\n"
    + "t1 = time.perf_counter()\nc1 = time.process_time()\nn1 = len(sys.modules)\n"
    + "issuer, jwks_uri, token, audience = sys.argv[1:5]\n"
    + "verifier = jwks_client.Verifier(\n"
    + "    issuer, jwks_uri=jwks_uri, audience=audience, require_https=False\n"
    + ")\n"
    + "sub = verifier.verify(token)['sub']\n"
    + "t2 = time.perf_counter()\nc2 = time.process_time()\n"
    + "verifier.close()\n"
    + _EPILOGUE,
    "PyJWT first token": _PROLOGUE
    + "import jwt\n"
    + "t1 = time.perf_counter()\nc1 = time.process_time()\nn1 = len(sys.modules)\n"
    + "issuer, jwks_uri, token, audience = sys.argv[1:5]\n"
    + "client = jwt.PyJWKClient(jwks_uri)\n"
    + "key = client.get_signing_key_from_jwt(token)\n"
    + "claims = jwt.decode(\n"
    + "    token, key.key, algorithms=['RS256'], audience=audience, issuer=issuer\n"
    + ")\n"
    + "sub = claims['sub']\n"
    + "t2 = time.perf_counter()\nc2 = time.process_time()\n"
    + _EPILOGUE,
    "dependency floor": _PROLOGUE
    + "import httpx, joserfc.jwk\n"
    + "t1 = time.perf_counter()\nc1 = time.process_time()\nn1 = len(sys.modules)\n"
    + "issuer, jwks_uri, token, audience = sys.argv[1:5]\n"
    + "with httpx.Client(verify=False) as client:\n"
    + "    document = client.get(jwks_uri).json()\n"
    + "keys = joserfc.jwk.KeySet.import_key_set(document)\n"
    + "sub = len(keys.keys)\n"
    + "t2 = time.perf_counter()\nc2 = time.process_time()\n"
    + _EPILOGUE,
}
#: The kinds that need PyJWT.
_PYJWT_KINDS = ("import jwt", "PyJWT first token")
#: The kinds that go as far as a first token (the floor: as far as the imported key set);
#: each fetches the JWKS once.
_FIRST_TOKEN_KINDS = ("jwks_client first token", "PyJWT first token", "dependency floor")
#: The kinds whose child verifies the token (and reports its ``sub``).
_VERIFYING_KINDS = ("jwks_client first token", "PyJWT first token")


#: Where :func:`deployment_python` keeps its venv (git-ignored).
DEPLOYMENT_VENV = Path(__file__).resolve().parent / "results" / "coldstart-venv"
#: Seconds the deployment venv's set-up may take (pip reaches the package index).
SETUP_TIMEOUT = 600.0


def deployment_python(log: Callable[[str], None] = lambda _: None) -> tuple[str | None, str]:
    """A venv's python with the library (this checkout, not editable), its runtime
    dependencies and PyJWT alone; made on the first call, the library reinstalled on
    every call so the children measure this checkout.

    Returns:
        The interpreter's path and what was done, or None and why it could not be made.
    """
    root = Path(jwks_client.__file__).resolve().parent.parent
    python = DEPLOYMENT_VENV / "bin" / "python"
    steps: list[list[str]] = []
    if not python.exists():
        steps.append([sys.executable, "-m", "venv", str(DEPLOYMENT_VENV)])
        steps.append([str(python), "-m", "pip", "install", "-q", "PyJWT[crypto]", str(root)])
    steps.append(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall", str(root)]
    )
    for step in steps:
        log(f"  deployment venv: {' '.join(step[1:4])} ...")
        try:
            done = subprocess.run(
                step, capture_output=True, text=True, timeout=SETUP_TIMEOUT, check=False
            )
        except (OSError, subprocess.SubprocessError) as exc:
            return None, f"{type(exc).__name__}: {exc}"
        if done.returncode != 0:
            lines = [line for line in done.stderr.splitlines() if "WARNING" not in line]
            return None, lines[-1] if lines else f"exit status {done.returncode}"
    return str(python), "runtime dependencies and PyJWT only; the library reinstalled"


def _pyjwt_missing(python: str = sys.executable) -> str | None:
    """Why PyJWT cannot be measured (None when it can)."""
    probe = subprocess.run(
        [python, "-c", "import jwt; jwt.PyJWKClient"],
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT,
        check=False,
    )
    if probe.returncode == 0:
        return None
    lines = probe.stderr.strip().splitlines()
    return lines[-1] if lines else f"exit status {probe.returncode}"


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    # Loopback only: a proxy configured in the environment must not carry the requests.
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    return env


def _run_child(
    kind: str,
    argv: list[str],
    env: dict[str, str],
    cwd: Path | None = None,
    python: str = sys.executable,
) -> dict[str, Any]:
    """Run one child and return its figures (``cwd``: where it runs, which ``-c`` puts
    first on its import path; by default the folder holding the measured package)."""
    started = time.perf_counter()
    result = subprocess.run(
        [python, "-c", CHILDREN[kind], *argv],
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT,
        env=env,
        cwd=cwd if cwd is not None else Path(jwks_client.__file__).resolve().parent.parent,
        check=False,
    )
    wall_ms = (time.perf_counter() - started) * 1e3
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines()
        raise RuntimeError(f"{kind}: {lines[-1] if lines else result.returncode}")
    row: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    row["process_ms"] = wall_ms
    return row


def cold_processes(
    runs: int, log: Callable[[str], None] = lambda _: None, python: str | None = None
) -> dict[str, Any]:
    """Time the five kinds of child ``runs`` times each (plus a warm-up round); medians.

    ``python``: the interpreter of the children (default: this one, run from the checkout;
    another, such as :func:`deployment_python`'s, is run from its own venv's folder).

    Returns a dict with, per kind, the median ``import_ms``, ``first_token_ms`` (for the
    first-token kinds and the dependency floor), the same as the child's CPU time
    (``*_cpu_ms``: less sensitive to other load on the machine than the wall clock),
    ``process_ms`` (spawn to exit, seen from here), ``modules`` and the JWKS requests per
    first-token child; the library's own share of its first token (``library_ms``,
    ``library_cpu_ms``: jwks_client's first token minus the dependency floor's); and the
    ratios of the medians to PyJWT's (wall clock, then CPU), the floor's among them.

    Raises:
        RuntimeError: a child failed (it could not import, fetch or verify).
    """
    package = Path(jwks_client.__file__).resolve().parent
    compileall.compile_dir(str(package), quiet=1)
    interpreter = sys.executable if python is None else python
    # Another venv runs from its own folder: -c puts the working folder first on the path.
    cwd = None if python is None else Path(python).parent.parent
    missing = _pyjwt_missing(interpreter)
    kinds = [k for k in CHILDREN if missing is None or k not in _PYJWT_KINDS]
    samples: dict[str, list[dict[str, Any]]] = {kind: [] for kind in kinds}
    env = _child_env()
    with LocalIssuer(algorithms=("RS256",)) as issuer:
        token = issuer.token(access_claims(), expires_in=TOKEN_LIFETIME)
        argv = [issuer.issuer, issuer.jwks_uri, token, AUDIENCE]
        expected_sub = access_claims()["sub"]
        fetches: dict[str, set[int]] = {k: set() for k in kinds if k in _FIRST_TOKEN_KINDS}
        for round_index in range(runs + 1):
            shift = round_index % len(kinds)
            for kind in kinds[shift:] + kinds[:shift]:
                before = issuer.request_count()
                row = _run_child(kind, argv, env, cwd, interpreter)
                if kind in fetches:
                    fetches[kind].add(issuer.request_count() - before)
                    if kind in _VERIFYING_KINDS and row["sub"] != expected_sub:
                        raise RuntimeError(f"{kind}: verified the wrong token: {row['sub']!r}")
                if round_index:  # round 0 warms the file cache and is discarded
                    samples[kind].append(row)
            if round_index:
                log(f"  cold process round {round_index}/{runs}")
    out: dict[str, Any] = {"runs": runs, "kinds": {}}
    for kind, rows in samples.items():
        figures: dict[str, Any] = {
            "import_ms": round(statistics.median(r["import_ms"] for r in rows), 2),
            "import_cpu_ms": round(statistics.median(r["import_cpu_ms"] for r in rows), 2),
            "process_ms": round(statistics.median(r["process_ms"] for r in rows), 2),
            "modules": statistics.median(r["modules"] for r in rows),
        }
        if kind in _FIRST_TOKEN_KINDS:
            figures["first_token_ms"] = round(statistics.median(r["total_ms"] for r in rows), 2)
            figures["first_token_cpu_ms"] = round(
                statistics.median(r["total_cpu_ms"] for r in rows), 2
            )
            figures["jwks_requests"] = sorted(fetches[kind])
        out["kinds"][kind] = figures
    k = out["kinds"]
    mine, floor = k["jwks_client first token"], k["dependency floor"]
    out["library_ms"] = round(mine["first_token_ms"] - floor["first_token_ms"], 2)
    out["library_cpu_ms"] = round(mine["first_token_cpu_ms"] - floor["first_token_cpu_ms"], 2)
    if missing is not None:
        out["pyjwt_unavailable"] = missing
        return out
    out["import_ratio"] = round(
        k["import jwks_client"]["import_ms"] / k["import jwt"]["import_ms"], 3
    )
    out["first_token_ratio"] = round(
        k["jwks_client first token"]["first_token_ms"] / k["PyJWT first token"]["first_token_ms"],
        3,
    )
    out["import_cpu_ratio"] = round(
        k["import jwks_client"]["import_cpu_ms"] / k["import jwt"]["import_cpu_ms"], 3
    )
    out["first_token_cpu_ratio"] = round(
        k["jwks_client first token"]["first_token_cpu_ms"]
        / k["PyJWT first token"]["first_token_cpu_ms"],
        3,
    )
    out["floor_ratio"] = round(
        floor["first_token_ms"] / k["PyJWT first token"]["first_token_ms"], 3
    )
    out["floor_cpu_ratio"] = round(
        floor["first_token_cpu_ms"] / k["PyJWT first token"]["first_token_cpu_ms"], 3
    )
    out["targets"] = {"import_ratio": IMPORT_TARGET, "first_token_ratio": FIRST_TOKEN_TARGET}
    return out
