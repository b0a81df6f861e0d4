"""The files every package has: license, changelog, metadata, README contents, docs pages.

Metadata is read from the installed distribution (what a wheel would carry), so a
pyproject.toml that setuptools reads differently from intent fails here. The docs build
itself (``mkdocs build --strict``), the wheel's ``twine check`` and a fresh install running
``jwks-client demo`` are steps of ``.ci/run``.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
REPOSITORY = "https://github.com/jwks-client/jwks-client"


def metadata() -> importlib.metadata.PackageMetadata:
    return importlib.metadata.metadata("jwks-client")


def github_slug(title: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to '-'."""
    return re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")


def headings(level: int) -> list[str]:
    """The README's headings of one level, outside fenced code."""
    found, in_fence = [], False
    for line in README.splitlines():
        if line.startswith("```"):
            in_fence = not in_fence
        elif not in_fence and line.startswith("#" * level + " "):
            found.append(line[level + 1 :].strip())
    return found


def test_license_is_mit_with_an_spdx_expression() -> None:
    """The LICENSE file is the MIT license and the metadata says so in SPDX form (PEP 639)."""
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License\n")
    assert "Permission is hereby granted, free of charge" in text
    meta = metadata()
    assert meta["License-Expression"] == "MIT"
    assert meta.get_all("License-File") == ["LICENSE"]
    assert meta.get("License") is None  # the deprecated free-text field is not used
    assert not [c for c in meta.get_all("Classifier") or [] if c.startswith("License ::")]


def test_project_urls_point_at_the_repository() -> None:
    """Homepage, Documentation and Changelog are URLs of the project's repository."""
    urls = dict(entry.split(", ", 1) for entry in metadata().get_all("Project-URL") or [])
    for label in ("Homepage", "Documentation", "Changelog"):
        assert urls[label].startswith(REPOSITORY), label
    assert urls["Changelog"].endswith("/CHANGELOG.md")


def test_python_classifiers_match_the_readme() -> None:
    """The Python version classifiers and Requires-Python are the versions the README claims."""
    claim = re.search(r"^Python 3\.(\d+) to 3\.(\d+)", README, re.MULTILINE)
    assert claim is not None
    low, high = int(claim.group(1)), int(claim.group(2))
    classifiers = metadata().get_all("Classifier") or []
    versions = {
        int(c.rsplit(".", 1)[1])
        for c in classifiers
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    }
    assert versions == set(range(low, high + 1))
    assert metadata()["Requires-Python"] == f">=3.{low}"
    # CI runs the interpreter it has; it must be one the package claims.
    assert sys.version_info[:2] >= (3, low)


def test_changelog_follows_keep_a_changelog() -> None:
    """CHANGELOG.md has the Keep a Changelog shape and a section for the installed version."""
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert text.startswith("# Changelog\n")
    assert "https://keepachangelog.com/" in text
    sections = re.findall(r"^## \[([^\]]+)\]", text, re.MULTILINE)
    assert sections[0] == "Unreleased"
    version = importlib.metadata.version("jwks-client")
    assert version in sections
    for name in sections:  # every section heading has its link definition
        assert re.search(rf"^\[{re.escape(name)}\]: https://", text, re.MULTILINE), name
    kinds = set(re.findall(r"^### (\w+)", text, re.MULTILINE))
    assert kinds <= {"Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"}


def test_readme_starts_with_the_two_commands_then_installation() -> None:
    """The two commands stay at the top; Installation and the contents follow them."""
    titles = headings(2)
    assert titles[:3] == ["Two commands on a fresh machine", "Installation", "Contents"]
    assert "pip install jwks-client" in README
    assert "mkdocs build --strict" in README


def test_readme_contents_list_every_section() -> None:
    """Every ## section is linked from the contents, and every link finds its heading."""
    contents = README.split("## Contents\n", 1)[1].split("\n## ", 1)[0]
    links = re.findall(r"\[([^\]]+)\]\(#([^)]+)\)", contents)
    anchors = {github_slug(title) for title in headings(2) + headings(3)}
    for text, anchor in links:
        assert anchor in anchors, text
        assert anchor == github_slug(text), text
    linked = {anchor for _, anchor in links}
    missing = [t for t in headings(2) if t != "Contents" and github_slug(t) not in linked]
    assert missing == []


def load_hooks() -> ModuleType:
    """The MkDocs hooks module (needs the docs extra: MkDocs)."""
    pytest.importorskip("mkdocs")
    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "docs" / "hooks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_docs_pages_name_existing_readme_sections() -> None:
    """Every README section a docs page includes exists, and every ## section is used once."""
    hooks = load_hooks()
    sections = hooks.readme_sections(README)
    used = []
    for page in sorted((ROOT / "docs").glob("*.md")):
        for kind, name in re.findall(r"^<!-- (readme|file): (.+?) -->$", page.read_text(), re.M):
            if kind == "readme":
                assert name in sections, f"{page.name}: {name}"
                used.append(name)
            else:
                assert (ROOT / name).is_file(), f"{page.name}: {name}"
    assert sorted(used) == sorted(set(used))
    assert set(sections) - set(used) == {"Contents"}


def test_hooks_split_sections_outside_code_and_refuse_unknown_titles() -> None:
    """A '## ' line inside fenced code is not a title; an unknown title fails the build."""
    hooks = load_hooks()
    text = "# T\n\nintro\n\n## A\n\n```sh\n## not a title\n```\n\n## B\n\nb\n"
    sections = hooks.readme_sections(text)
    assert list(sections) == ["(intro)", "A", "B"]
    assert "## not a title" in sections["A"]
    assert sections["(intro)"] == "intro\n"
    match = re.match(r"<!-- (readme|file): (.+?) -->", "<!-- readme: Nope -->")
    assert match is not None
    from mkdocs.exceptions import PluginError

    with pytest.raises(PluginError, match="no section 'Nope'"):
        hooks.expand(match, sections)


def test_hooks_drop_sphinx_roles_in_rendered_pages() -> None:
    """':class:' before inline code is dropped from the rendered HTML, the code kept."""
    hooks = load_hooks()
    html = "raises :class:<code>FetchError</code> or :meth:<code>x</code>; a:b <code>c</code>"
    assert hooks.on_page_content(html, None, None, None) == (
        "raises <code>FetchError</code> or <code>x</code>; a:b <code>c</code>"
    )
