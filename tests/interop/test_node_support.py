"""The interop tests' own gate: which node packages are missing, and what counts as CI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .node_support import in_ci, missing_packages


def _install(directory: Path, name: str, version: str) -> None:
    package = directory / "node_modules" / name
    package.mkdir(parents=True)
    (package / "package.json").write_text(json.dumps({"name": name, "version": version}))


def test_missing_packages_names_absent_and_other_versions(tmp_path: Path) -> None:
    """A pinned package that is absent, or installed at another version, is reported; one at
    its pinned version is not."""
    pins = {"dpop": "2.1.2", "oauth4webapi": "3.8.9", "oidc-provider": "9.13.3"}
    (tmp_path / "package.json").write_text(json.dumps({"dependencies": pins}))
    _install(tmp_path, "dpop", "2.1.2")
    _install(tmp_path, "oauth4webapi", "3.0.0")
    assert missing_packages(tmp_path) == [
        "oauth4webapi@3.8.9 (found 3.0.0)",
        "oidc-provider@9.13.3",
    ]


def test_the_committed_pins_match_the_lock_file() -> None:
    """package.json pins exact versions, and package-lock.json locks those same versions."""
    here = Path(__file__).parent
    pins = json.loads((here / "package.json").read_text())["dependencies"]
    locked = json.loads((here / "package-lock.json").read_text())["packages"]
    assert pins == {name: locked[f"node_modules/{name}"]["version"] for name in pins}


@pytest.mark.parametrize(
    ("value", "expected"), [("true", True), ("1", True), ("", False), ("false", False)]
)
def test_ci_is_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: bool
) -> None:
    """CI=true (or 1) marks a CI run, in which missing node packages fail the tests."""
    monkeypatch.setenv("CI", value)
    assert in_ci() is expected
