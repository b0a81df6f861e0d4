"""One version source: the package metadata, __version__, the User-Agent and the CLI agree."""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

import pytest

import jwks_client
from jwks_client import Verifier
from jwks_client._version import __version__
from jwks_client.cli import EXIT_OK, main
from jwks_client.testing import FakeClock, LocalIssuer

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def test_public_version_is_the_version_module() -> None:
    """jwks_client.__version__ is the one in _version, a PEP 440 release number."""
    assert jwks_client.__version__ == __version__
    assert re.fullmatch(r"\d+\.\d+\.\d+(?:(?:a|b|rc)\d+)?", __version__)


def test_installed_metadata_carries_the_version() -> None:
    """The installed distribution's version is jwks_client.__version__."""
    assert importlib.metadata.version("jwks-client") == jwks_client.__version__


def test_pyproject_reads_the_version_module() -> None:
    """pyproject.toml writes no version of its own: setuptools reads _version.__version__."""
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))
    assert "version" not in project["project"]
    assert project["project"]["dynamic"] == ["version"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {
        "attr": "jwks_client._version.__version__"
    }


def test_requests_carry_the_version_in_the_user_agent(clock: FakeClock) -> None:
    """Discovery and JWKS requests reaching an issuer name jwks-client and its version."""
    with (
        LocalIssuer(algorithms=("ES256",), clock=clock) as issuer,
        Verifier(issuer.issuer, audience="api", require_https=False, clock=clock) as verifier,
    ):
        verifier.verify(issuer.token({"aud": "api"}))
        agents = {request.path: request.headers.get("user-agent") for request in issuer.requests()}
    assert len(agents) == 2
    for agent in agents.values():
        assert agent is not None and agent.startswith(f"jwks-client/{__version__} ")


def test_cli_prints_the_version(capsys: pytest.CaptureFixture[str]) -> None:
    """jwks-client --version prints the program name and __version__."""
    assert main(["--version"]) == EXIT_OK
    assert capsys.readouterr().out == f"jwks-client {__version__}\n"
