"""Instructions per verification, counted by valgrind's callgrind: a figure the host's load
cannot move.

Wall-clock ratios to the floors depend on the machine's state: on a busy or small-cache
host the interpreter's working set is evicted by every OpenSSL call and refetched after
it, which costs the library's Python more than the floors' (they run less Python). The
instructions executed do not change with the host's load. For each pair of the DPoP
table, one child process under ``valgrind --tool=callgrind`` counts, per call:

* ``Verifier.verify`` of the bearer token, and the floor+parse of that token;
* ``Verifier.verify_request`` with a DPoP proof, and the floor+parse of both JWTs.

Each measured loop runs inside its own ``itertools`` iterator (``starmap``, ``filterfalse``,
``takewhile``, ``dropwhile``), and callgrind collects only inside that iterator's C
function (``--toggle-collect``), so set-up (imports, key generation, the issuer) is not
counted; ``callgrind_annotate --inclusive=yes`` gives each loop's total, divided by the
number of calls. The floors' loops call through a one-line lambda (a few hundred
instructions, well under 0.1% of a call). The garbage collector is off in the loops.
Without valgrind the section reports itself unavailable.
"""

from __future__ import annotations

import collections
import itertools
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

#: Per-call figures of one child: the name of its loop's iterator function in CPython.
LOOPS: dict[str, str] = {
    "verify, bearer": "starmap_next",
    "floor+parse": "filterfalse_next",
    "verify_request, DPoP": "takewhile_next",
    "floor+parse x2": "dropwhile_next",
}
#: Seconds a child may take under valgrind.
CHILD_TIMEOUT = 600.0


def missing_tool() -> str | None:
    """Why instructions cannot be counted here (None when they can)."""
    for tool in ("valgrind", "callgrind_annotate"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    return None


def _child(token_alg: str, proof_alg: str, calls: int) -> None:
    """Set up one pair, then run the four measured loops (see the module docstring)."""
    import gc

    from bench_dpop import URL, _minimal_check, _verifier_options, make_dpop_fixture

    from jwks_client import Verifier

    fixture = make_dpop_fixture(token_alg, proof_alg, 1)
    try:
        now = time.time()
        proofs = [fixture.key.proof("GET", URL, fixture.token, now=now) for _ in range(calls)]
        authorization = f"DPoP {fixture.token}"
        headers = [{"Authorization": authorization, "DPoP": proof} for proof in proofs]
        verifier = Verifier(fixture.issuer.issuer, **_verifier_options())
        token_key = fixture.issuer.private_key(fixture.issuer.signing_kid()).public_key()
        floor_parse = _minimal_check(fixture.bearer, token_key, token_alg)
        floor_parse2 = fixture.floor_parse2
        bearer = fixture.bearer
        warm = [fixture.key.proof("GET", URL, fixture.token, now=now) for _ in range(5)]
        for proof in warm:  # warm every cache the loops touch
            verifier.verify_request("GET", URL, {"Authorization": authorization, "DPoP": proof})
            verifier.verify(bearer)
            floor_parse()
            floor_parse2()
        request = verifier.verify_request
        verify = verifier.verify
        sink: collections.deque[Any] = collections.deque(maxlen=0)
        gc.disable()
        sink.extend(itertools.starmap(verify, [(bearer,)] * calls))
        sink.extend(itertools.filterfalse(lambda _: floor_parse(), range(calls)))
        rows = [("GET", URL, h) for h in headers]
        sink.extend(itertools.takewhile(lambda row: request(*row), rows))
        sink.extend(itertools.dropwhile(lambda _: floor_parse2() or True, range(calls)))
        gc.enable()
        verifier.close()
    finally:
        fixture.issuer.stop()


_INCLUSIVE = re.compile(r"^\s*([\d,]+)\s.*:(\w+)\s\[")


def _count(token_alg: str, proof_alg: str, calls: int) -> dict[str, float]:
    """Run one child under callgrind; instructions per call for each loop."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        command = [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={out}",
            *(f"--toggle-collect={name}" for name in LOOPS.values()),
            sys.executable,
            str(Path(__file__).resolve()),
            "child",
            token_alg,
            proof_alg,
            str(calls),
        ]
        run = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=CHILD_TIMEOUT,
            cwd=Path(__file__).resolve().parent,
            check=False,
        )
        if run.returncode != 0:
            lines = run.stderr.strip().splitlines()
            raise RuntimeError(lines[-1] if lines else f"exit status {run.returncode}")
        annotated = subprocess.run(
            ["callgrind_annotate", "--inclusive=yes", str(out)],
            capture_output=True,
            text=True,
            timeout=CHILD_TIMEOUT,
            check=True,
        ).stdout
    totals: dict[str, int] = {}
    for line in annotated.splitlines():
        match = _INCLUSIVE.match(line)
        if match and match.group(2) in LOOPS.values():
            totals[match.group(2)] = int(match.group(1).replace(",", ""))
    missing = [name for name, function in LOOPS.items() if function not in totals]
    if missing:
        raise RuntimeError(f"callgrind counted nothing for {missing}")
    return {name: totals[function] / calls for name, function in LOOPS.items()}


def instruction_table(
    combos: tuple[tuple[str, str], ...], *, calls: int, log: Any = print
) -> dict[str, Any]:
    """Instructions per call and the ratios to the floors, per (token, proof) pair."""
    missing = missing_tool()
    if missing is not None:
        return {"unavailable": missing}
    result: dict[str, Any] = {"calls": calls, "pairs": {}}
    for token_alg, proof_alg in combos:
        label = f"{token_alg} token, {proof_alg} proof"
        log(f"  counting instructions: {label} (valgrind, about 20 s)")
        per_call = _count(token_alg, proof_alg, calls)
        result["pairs"][label] = {
            "instructions_per_call": {k: round(v) for k, v in per_call.items()},
            "verify_ratio_to_floor_parse": round(
                per_call["verify, bearer"] / per_call["floor+parse"], 3
            ),
            "verify_request_ratio_to_floor_parse2": round(
                per_call["verify_request, DPoP"] / per_call["floor+parse x2"], 3
            ),
        }
    return result


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "child":
        _child(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        sys.exit("usage: bench_instructions.py child TOKEN_ALG PROOF_ALG CALLS")
