"""The documentation the code cites is in the repository (docs/), and the
README leads to it."""

from __future__ import annotations

import re
from pathlib import Path

from layout import PACKAGE_ROOTS, ROOT

_CITED = re.compile(r"docs/[\w./-]+\.md")


def _sources() -> list[Path]:
    files = [p for folder in PACKAGE_ROOTS.values() for p in (ROOT / folder).rglob("*.py")]
    files += list((ROOT / "benchmarks").rglob("*.py")) + list((ROOT / "tests").rglob("*.py"))
    files += [ROOT / "README.md", ROOT / "pyproject.toml", *(ROOT / "docs").glob("*.md"),
              *(ROOT / "qnic" / "stations").glob("*.yaml")]
    return files


def test_every_cited_docs_path_exists() -> None:
    missing = sorted({f"{p.relative_to(ROOT)} cites {m}" for p in _sources()
                      for m in _CITED.findall(p.read_text(encoding="utf-8"))
                      if not (ROOT / m.rstrip(".")).is_file()})
    assert not missing, "\n".join(missing)


def test_the_code_cites_the_projects_docs_not_the_brief() -> None:
    # DESIGN.md is the team's brief, outside the repository
    stale = [f"{p.relative_to(ROOT)}:{i}" for p in _sources() if p.suffix in (".py", ".yaml")
             for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
             if re.search(r"DESIGN(\.md)? ?(section )?\d", line)]
    assert not stale, "\n".join(stale)


def test_the_readme_links_every_doc() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    docs = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").glob("*.md"))
    assert docs and [d for d in docs if f"({d})" not in readme] == []
