"""The package type-checks with mypy (STYLE: full annotations, py.typed)."""

from __future__ import annotations

from pathlib import Path

import pytest

api = pytest.importorskip("mypy.api")

ROOT = Path(__file__).resolve().parents[1]


def test_package_type_checks(tmp_path: Path) -> None:
    packages = [str(ROOT / p) for p in ("qnic", "instruments", "sim_backends", "experiments",
                                         "calibration")]
    stdout, stderr, status = api.run(["--config-file", str(ROOT / "pyproject.toml"),
                                      "--cache-dir", str(tmp_path / "mypy_cache"), *packages])
    assert status == 0, stdout + stderr
