"""Compiled kernels are cached in the user's cache folder, never beside the
installed package or in the checkout (docs/architecture.md)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numba
import pytest

from qnic.coincidence import _matching_kernel
from qnic.instruments.kernel_cache import UserCacheLocator, user_cache_dir
from qnic.sim.physics import sampling


def _locator(dispatcher: object) -> object:
    return dispatcher._cache._impl._locator  # type: ignore[attr-defined]


@pytest.mark.parametrize("module", [_matching_kernel, sampling], ids=["core", "sim"])
def test_the_package_kernels_use_the_user_cache(module: object) -> None:
    kernels = [v for v in vars(module).values() if isinstance(v, numba.core.registry.CPUDispatcher)]
    assert kernels
    for kernel in kernels:
        locator = _locator(kernel)
        assert isinstance(locator, UserCacheLocator)
        path = Path(locator.get_cache_path())  # type: ignore[attr-defined]
        assert user_cache_dir() in path.parents
        assert Path(module.__file__).parent not in path.parents  # type: ignore[attr-defined]


def test_other_numba_functions_keep_numbas_rules() -> None:
    @numba.njit(cache=True)
    def twice(x: int) -> int:
        return 2 * x

    assert not isinstance(_locator(twice), UserCacheLocator)


def test_the_cache_folder_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    if sys.platform in ("win32", "darwin"):
        pytest.skip("XDG_CACHE_HOME is the Linux convention")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert user_cache_dir() == tmp_path / "qnic-bench" / "numba"


def _index_files(folder: Path) -> set[Path]:
    return set(folder.rglob("*.nbi"))


def test_a_run_writes_its_cache_only_to_the_user_folder(tmp_path: Path) -> None:
    import qnic

    package = Path(qnic.__file__).parent
    roots = [package, *(Path(p).parent for p in (_matching_kernel.__file__, sampling.__file__))]
    before = {r: _index_files(r) for r in roots}
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    env.pop("NUMBA_CACHE_DIR", None)
    code = ("import numpy as np\n"
            "from qnic.coincidence import find_coincidences\n"
            "a = np.arange(0, 10_000, 100, dtype=np.int64)\n"
            "print(len(find_coincidences(a, a + 5, 10)[0]))\n")
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True,
                         text=True, timeout=300, check=True)
    assert out.stdout.strip() == "100"
    assert _index_files(tmp_path / "qnic-bench" / "numba")
    assert {r: _index_files(r) for r in roots} == before
