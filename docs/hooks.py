"""MkDocs hooks: pages take their text from README.md, so the site and the README agree.

A page line ``<!-- readme: Quick start -->`` is replaced by the README section under that
``##`` title (up to the next ``##`` title; fenced code is never mistaken for a title), and
``<!-- readme: (intro) -->`` by the text before the first section. A line
``<!-- file: CHANGELOG.md -->`` is replaced by that file of the repository. A title or file
that does not exist fails the build, so a renamed README section cannot go unnoticed.

Docstrings use Sphinx roles (``:class:`Verifier```); in the rendered pages the role name
is dropped and the code kept.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError

ROOT = Path(__file__).resolve().parent.parent
INTRO = "(intro)"

_DIRECTIVE = re.compile(r"^<!-- (readme|file): (.+?) -->$", re.MULTILINE)
_FENCE = re.compile(r"^(```|~~~)")
_ROLE = re.compile(r":(?:class|func|meth|mod|data|attr|exc|obj):(<code>)")


def readme_sections(text: str) -> dict[str, str]:
    """Split README text into its ``##`` sections by title; the text before is INTRO."""
    sections: dict[str, list[str]] = {INTRO: []}
    current = INTRO
    in_fence = False
    for line in text.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        elif not in_fence and line.startswith("## "):
            current = line[3:].strip()
            sections[current] = []
        sections[current].append(line)
    # The intro starts with the README's own "# title", which the page replaces.
    intro = [line for line in sections[INTRO] if not line.startswith("# ")]
    sections[INTRO] = intro
    return {title: "\n".join(lines).strip() + "\n" for title, lines in sections.items()}


def expand(match: re.Match[str], sections: dict[str, str]) -> str:
    """The text a directive stands for: a README section or a repository file."""
    kind, name = match.group(1), match.group(2).strip()
    if kind == "readme":
        if name not in sections:
            known = ", ".join(sorted(sections))
            raise PluginError(f"README.md has no section {name!r}; it has: {known}")
        return sections[name]
    path = ROOT / name
    if not path.is_file():
        raise PluginError(f"no file {name!r} to include")
    return path.read_text(encoding="utf-8")


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Replace the page's README and file directives with their text."""
    if not _DIRECTIVE.search(markdown):
        return markdown
    sections = readme_sections((ROOT / "README.md").read_text(encoding="utf-8"))
    return _DIRECTIVE.sub(lambda match: expand(match, sections), markdown)


def on_page_content(html: str, page: Any, config: Any, files: Any) -> str:
    """Drop Sphinx role names in front of inline code in the rendered page."""
    return _ROLE.sub(r"\1", html)
