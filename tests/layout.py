"""The package layout as pyproject.toml declares it: import names over folders."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_SETUPTOOLS = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]

PACKAGE_ROOTS: dict[str, str] = dict(_SETUPTOOLS["package-dir"])
"""Import name of each mapped package -> its folder in the repository."""

PACKAGES: list[str] = list(_SETUPTOOLS["packages"])
"""Every package the wheel installs."""


def folder_of(package: str) -> Path:
    """The folder of ``package`` in the repository, by its nearest mapped ancestor."""
    parts = package.split(".")
    for n in range(len(parts), 0, -1):
        head = ".".join(parts[:n])
        if head in PACKAGE_ROOTS:
            return ROOT / PACKAGE_ROOTS[head] / Path(*parts[n:])
    raise KeyError(f"{package} is under no mapped package of pyproject.toml")


def module_files() -> dict[str, Path]:
    """Every module of the package by its import name (``qnic.sim.bench``)."""
    out: dict[str, Path] = {}
    for package in PACKAGES:
        folder = folder_of(package)
        for path in sorted(folder.glob("*.py")):
            name = package if path.stem == "__init__" else f"{package}.{path.stem}"
            out[name] = path
    return out


def copy_source(dest: Path, extra: tuple[str, ...] = ()) -> Path:
    """Copy what a wheel is built from (pyproject.toml, README.md, the package
    folders and ``extra`` entries) to ``dest``, so a build leaves nothing in the
    checkout; compiled-kernel caches and bytecode are left out."""
    for entry in ["pyproject.toml", "README.md", *extra, *PACKAGE_ROOTS.values()]:
        if (ROOT / entry).is_dir():
            shutil.copytree(ROOT / entry, dest / entry,
                            ignore=shutil.ignore_patterns("__pycache__", "*.nbi", "*.nbc"))
        else:
            dest.mkdir(parents=True, exist_ok=True)
            shutil.copy(ROOT / entry, dest / entry)
    return dest
