"""Kernels compiled into a regular wheel, copied into the user's cache on the
first run (docs/architecture.md, "Compiled kernels and their cache")."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from layout import PACKAGE_ROOTS, ROOT

from qnic.instruments import kernel_cache
from qnic.instruments.kernel_cache import BUNDLE, cache_folder, seed_from_bundle, target_description


def _fake_bundle(root: Path, **overrides: object) -> dict[str, bytes]:
    """A package folder with a bundle of two cache files for ``coincidence``."""
    files = {"k.f-1.py311.nbi": b"index", "k.f-1.py311.1.nbc": b"data"}
    folder = root / BUNDLE / "coincidence"
    folder.mkdir(parents=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    manifest = {**target_description(), "folders": {"coincidence": sorted(files)}, **overrides}
    (root / BUNDLE / "manifest.json").write_text(json.dumps(manifest))
    return files


@pytest.fixture
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_a_matching_bundle_is_copied_into_the_install_s_cache_folder_once(
        tmp_path: Path, cache_home: Path) -> None:
    root = tmp_path / "site" / "qnic"
    files = _fake_bundle(root)
    assert seed_from_bundle(root)
    target = cache_folder(str(root / "coincidence" / "mod.py"))
    assert cache_home in target.parents
    assert {p.name: p.read_bytes() for p in target.iterdir()} == files
    (target / "k.f-1.py311.1.nbc").write_bytes(b"compiled here since")
    assert not seed_from_bundle(root)  # once per install: nothing is copied again
    assert (target / "k.f-1.py311.1.nbc").read_bytes() == b"compiled here since"


def test_another_install_of_the_same_bundle_gets_its_own_copy(tmp_path: Path,
                                                              cache_home: Path) -> None:
    first, second = tmp_path / "one" / "qnic", tmp_path / "two" / "qnic"
    _fake_bundle(first)
    _fake_bundle(second)
    assert seed_from_bundle(first) and seed_from_bundle(second)
    assert cache_folder(str(first / "coincidence" / "m.py")) != cache_folder(str(second / "coincidence" / "m.py"))


@pytest.mark.parametrize("key, value", [("numba", "0.0.1"), ("python", "2.7.18"),
                                        ("target", ["x86_64-unknown-linux-gnu", "i386", ""])])
def test_a_bundle_compiled_for_another_numba_python_or_cpu_is_not_copied(
        tmp_path: Path, cache_home: Path, key: str, value: object) -> None:
    root = tmp_path / "qnic"
    _fake_bundle(root, **{key: value})
    assert not seed_from_bundle(root)
    assert not cache_folder(str(root / "coincidence" / "m.py")).exists()
    assert not seed_from_bundle(root)  # and it is not looked at again


def test_without_a_bundle_nothing_is_written(tmp_path: Path, cache_home: Path) -> None:
    (tmp_path / "qnic").mkdir()
    assert not seed_from_bundle(tmp_path / "qnic")
    assert not cache_home.exists()


def test_a_damaged_manifest_leaves_the_kernels_to_compile(tmp_path: Path, cache_home: Path) -> None:
    root = tmp_path / "qnic"
    _fake_bundle(root)
    (root / BUNDLE / "manifest.json").write_text("{not json")
    assert not seed_from_bundle(root)


def test_the_installed_package_folder_is_where_numba_names_the_sources() -> None:
    import qnic.coincidence

    assert kernel_cache.PACKAGE_ROOT / "coincidence" == Path(
        os.path.dirname(os.path.abspath(qnic.coincidence.__file__)))


# -- a real wheel ------------------------------------------------------------

_CHSH_COMPILES = """
import sys
from numba.core import event

compiled = []

class Listener(event.Listener):
    def on_start(self, ev):
        pass

    def on_end(self, ev):
        fn = ev.data["dispatcher"].py_func
        if fn.__module__.startswith("qnic."):
            compiled.append(fn.__module__ + "." + fn.__qualname__)

event.register("numba:compile", Listener())
import qnic
from qnic.coincidence import warm as count_warm
from qnic.instruments import kernel_cache
from qnic.sim import warm as sim_warm
from qnic.cli import main

print("package", qnic.__file__)
print("marked warm", count_warm.cached(), kernel_cache.warm_marker(sim_warm.MODULES).exists())
db = sys.argv[1]
for name, argv in [("chsh", ["chsh", "--seconds", "0.05"]),
                   ("calibrate", ["calibrate", "--out", db + ".cal.yaml"]),
                   ("monitor", ["monitor", "--seconds", "0.2"])]:
    compiled.clear()
    rc = main([*argv, "--seed", "3", "--db", db])
    print(name, rc, sorted(set(compiled)))
"""


def test_a_built_wheel_carries_every_kernel_the_first_commands_need(tmp_path: Path) -> None:
    """Built by the project's backend, unpacked, run with an empty user cache:
    the first qnic chsh, calibration and monitor load the bundled kernels
    and compile none."""
    pytest.importorskip("setuptools.build_meta")
    source = tmp_path / "source"  # a copy, so the build leaves nothing in the checkout
    for entry in ["pyproject.toml", "README.md", "MANIFEST.in", "build_backend",
                  *PACKAGE_ROOTS.values()]:
        if (ROOT / entry).is_dir():
            shutil.copytree(ROOT / entry, source / entry,
                            ignore=shutil.ignore_patterns("__pycache__", "*.nbi", "*.nbc"))
        else:
            source.mkdir(exist_ok=True)
            shutil.copy(ROOT / entry, source / entry)
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "QNIC_KERNEL_BUNDLE")}
    build = ("import sys; sys.path.insert(0, 'build_backend'); import kernel_wheel; "
             "print(kernel_wheel.build_wheel(sys.argv[1]))")
    out = subprocess.run([sys.executable, "-c", build, str(tmp_path / "dist")], cwd=source,
                         env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "kernel bundle:" in out.stdout, out.stdout[-3000:] + out.stderr[-3000:]
    wheel = tmp_path / "dist" / out.stdout.strip().splitlines()[-1]
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        zf.extractall(site)
    assert f"qnic/{BUNDLE}/manifest.json" in names
    assert any(n.startswith(f"qnic/{BUNDLE}/sim/physics/") for n in names)

    run_env = {**env, "XDG_CACHE_HOME": str(tmp_path / "cache"),
               "PYTHONPATH": os.pathsep.join([str(site), *filter(None, [env.get("PYTHONPATH")])])}
    out = subprocess.run([sys.executable, "-c", _CHSH_COMPILES, str(tmp_path / "run.db")],
                         cwd=tmp_path, env=run_env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = dict(line.split(" ", 1) for line in out.stdout.splitlines()
                 if line.split(" ", 1)[0] in ("package", "chsh", "calibrate", "monitor"))
    assert lines["package"].startswith(str(site)), lines["package"]
    assert "marked warm True True" in out.stdout  # no warm-up child is started
    # each command ran (exit 0) and compiled no kernel
    assert lines == {"package": lines["package"], "chsh": "0 []", "calibrate": "0 []",
                     "monitor": "0 []"}, out.stdout[-3000:]
