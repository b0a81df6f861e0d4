"""Node.js processes for the interop tests: whether they can run, and starting/stopping them.

The node packages (panva's ``dpop``, ``oauth4webapi`` and ``oidc-provider``) are pinned by
``tests/interop/package-lock.json`` and installed with ``cd tests/interop && npm ci``.
Without ``node`` the interop tests skip; without the packages they skip too, unless ``CI``
is set (then a missing install is a failure, never a silent skip).
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
INSTALL_COMMAND = "cd tests/interop && npm ci"
START_TIMEOUT = 30.0  # node's first start on a loaded machine reads many modules
CALL_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0


def in_ci() -> bool:
    """Whether the environment says this is a CI run (``CI=true``, as CI services set)."""
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def node_binary() -> str | None:
    return shutil.which("node")


def missing_packages(directory: Path = HERE) -> list[str]:
    """The packages ``directory/package.json`` pins that its node_modules lacks (or holds at
    another version)."""
    pinned: dict[str, str] = json.loads((directory / "package.json").read_text())["dependencies"]
    missing = []
    for name, version in sorted(pinned.items()):
        manifest = directory / "node_modules" / name / "package.json"
        try:
            installed = json.loads(manifest.read_text()).get("version")
        except (OSError, ValueError):
            installed = None
        if installed != version:
            missing.append(f"{name}@{version}" + (f" (found {installed})" if installed else ""))
    return missing


def unavailable_reason() -> str | None:
    """What keeps the interop tests from running here, or None when they can run."""
    if node_binary() is None:
        return f"`node` is not on the PATH (install Node.js 20+, then `{INSTALL_COMMAND}`)"
    missing = missing_packages()
    if missing:
        return f"node packages not installed ({', '.join(missing)}): run `{INSTALL_COMMAND}`"
    return None


class NodeScript:
    """One ``node`` process running a script of this directory.

    The script prints one JSON line once it listens on 127.0.0.1; :meth:`start` returns it.
    Its stderr goes to a file, shown when it fails to start.
    """

    def __init__(self, script: str, *args: str) -> None:
        self.command = [node_binary() or "node", str(HERE / script), *args]
        self.process: subprocess.Popen[bytes] | None = None
        # Kept open for the process's life, closed by stop(); a file, so node never blocks
        # on a full pipe.
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115

    def start(self) -> dict[str, Any]:
        """Start the script; return its first stdout line, parsed.

        Raises:
            RuntimeError: it exited, or printed nothing within ``START_TIMEOUT`` seconds.
        """
        self.process = subprocess.Popen(
            self.command, cwd=HERE, stdout=subprocess.PIPE, stderr=self._stderr
        )
        assert self.process.stdout is not None
        line = b""
        deadline = time.monotonic() + START_TIMEOUT
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            while not line.endswith(b"\n"):
                left = deadline - time.monotonic()
                if left <= 0 or not selector.select(left):
                    self._fail(f"printed nothing within {START_TIMEOUT:g} s")
                chunk = os.read(self.process.stdout.fileno(), 4096)
                if not chunk:
                    self._fail("exited before it listened")
                line += chunk
        result: dict[str, Any] = json.loads(line)
        return result

    def _fail(self, what: str) -> None:
        self._terminate()
        self._stderr.seek(0)
        errors = self._stderr.read().decode("utf-8", "replace")
        self.stop()
        raise RuntimeError(f"{' '.join(self.command)} {what}; its stderr:\n{errors}")

    def stop(self) -> None:
        """Stop the process by its pid (SIGTERM, then SIGKILL; each wait bounded)."""
        self._terminate()
        self._stderr.close()

    def _terminate(self) -> None:
        process = self.process
        if process is None:
            return
        self.process = None
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(STOP_TIMEOUT)
        if process.stdout is not None:
            process.stdout.close()


class NodeClient:
    """The DPoP client of ``client.mjs`` (dpop and oauth4webapi), driven over loopback HTTP."""

    def __init__(self, port: int) -> None:
        self._http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=CALL_TIMEOUT)

    def call(self, route: str, **arguments: Any) -> dict[str, Any]:
        """POST ``arguments`` to ``route``; return the JSON answer.

        Raises:
            RuntimeError: the script answered with an error.
        """
        response = self._http.post(route, json=arguments)
        answer: dict[str, Any] = response.json()
        if response.status_code != 200:
            raise RuntimeError(f"client.mjs {route} failed: {answer}")
        return answer

    def key(self, library: str, alg: str = "ES256") -> dict[str, Any]:
        """A new key pair made by ``library``: ``{"key", "jwk", "jkt"}``."""
        return self.call("/key", library=library, alg=alg)

    def close(self) -> None:
        self._http.close()
