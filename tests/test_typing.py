"""The package type-checks with mypy (full annotations, py.typed).

mypy cannot follow the import hook of an editable install, and the
repository's folders become ``qnic.*`` subpackages only through the package
mapping of pyproject.toml (docs/architecture.md). The test therefore lays the
package out as a wheel would, as a tree of symbolic links, and checks that.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from layout import PACKAGE_ROOTS

api = pytest.importorskip("mypy.api")

ROOT = Path(__file__).resolve().parents[1]


def _link_tree(dest: Path) -> Path:
    """``dest/qnic`` laid out like the installed package, by symlinks into the checkout."""
    top = dest / "qnic"
    top.mkdir(parents=True)
    for entry in (ROOT / "qnic").iterdir():
        if entry.name != "__pycache__":
            os.symlink(entry, top / entry.name)
    for package, folder in PACKAGE_ROOTS.items():
        if package != "qnic":
            os.symlink(ROOT / folder, top / package.split(".", 1)[1])
    return dest


def test_package_type_checks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tree = _link_tree(tmp_path / "tree")
    monkeypatch.chdir(tree)  # the checkout's own qnic/ must not shadow the tree's
    stdout, stderr, status = api.run(["--config-file", str(ROOT / "pyproject.toml"),
                                      "--cache-dir", str(tmp_path / "mypy_cache"), "qnic"])
    assert status == 0, stdout + stderr
