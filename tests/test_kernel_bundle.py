"""Kernels compiled into a regular wheel, copied into the user's cache on the
first run (docs/architecture.md, "Compiled kernels and their cache")."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest
from layout import copy_source

from qnic.instruments import kernel_cache
from qnic.instruments.kernel_cache import BUNDLE, cache_folder, seed_from_bundle, target_description


def _fake_bundle(root: Path, **overrides: object) -> dict[str, bytes]:
    """A package folder with a bundle of two cache files for ``coincidence``."""
    files = {"k.f-1.py311.nbi": b"index", "k.f-1.py311.1.nbc": b"data"}
    folder = root / BUNDLE / "coincidence"
    folder.mkdir(parents=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    hashes = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    manifest = {**target_description(), "folders": {"coincidence": hashes}, **overrides}
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


def test_nothing_is_copied_where_numba_cache_dir_sends_the_kernels_elsewhere(
        tmp_path: Path, cache_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import numba

    root = tmp_path / "qnic"
    _fake_bundle(root)
    monkeypatch.setattr(numba.config, "CACHE_DIR", str(tmp_path / "numba-cache"))
    assert not seed_from_bundle(root)
    assert not cache_home.exists()
    # and warm markers go where the kernels are
    assert (tmp_path / "numba-cache") in cache_folder(str(root / "coincidence" / "m.py")).parents


def test_a_rebuilt_bundle_is_copied_again(tmp_path: Path, cache_home: Path) -> None:
    root = tmp_path / "qnic"
    _fake_bundle(root)
    assert seed_from_bundle(root)
    shutil.rmtree(root / BUNDLE)
    _fake_bundle(root)
    (root / BUNDLE / "coincidence" / "k.f-1.py311.1.nbc").write_bytes(b"new code")
    manifest = json.loads((root / BUNDLE / "manifest.json").read_text())
    manifest["folders"]["coincidence"]["k.f-1.py311.1.nbc"] = hashlib.sha256(b"new code").hexdigest()
    (root / BUNDLE / "manifest.json").write_text(json.dumps(manifest))
    assert seed_from_bundle(root)
    target = cache_folder(str(root / "coincidence" / "m.py"))
    assert (target / "k.f-1.py311.1.nbc").read_bytes() == b"new code"


def test_without_a_home_folder_the_cache_is_a_temporary_folder(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def no_home() -> Path:
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setattr(Path, "home", staticmethod(no_home))
    assert kernel_cache.user_cache_dir() == kernel_cache.fallback_cache_dir()
    assert Path(tempfile.gettempdir()) in kernel_cache.fallback_cache_dir().parents


def test_kernels_are_keyed_on_their_source_contents_not_its_time(tmp_path: Path) -> None:
    a, b = tmp_path / "a.py", tmp_path / "b.py"
    a.write_text("x = 1\n")
    b.write_text("x = 1\n")
    os.utime(b, (1_000_000, 1_000_000))
    assert kernel_cache.source_digest(str(a)) == kernel_cache.source_digest(str(b))
    b.write_text("x = 2\n")
    assert kernel_cache.source_digest(str(a)) != kernel_cache.source_digest(str(b))


def test_an_unwritable_cache_folder_never_sends_kernels_beside_the_sources(tmp_path: Path) -> None:
    import qnic
    from qnic.coincidence import _matching_kernel

    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")  # the cache folder cannot be made under a file
    roots = [Path(qnic.__file__).parent, Path(_matching_kernel.__file__).parent]
    before = {r: set(r.rglob("*.nbi")) for r in roots}
    env = {**os.environ, "XDG_CACHE_HOME": str(blocked), "TMPDIR": str(tmp_path / "tmp")}
    env.pop("NUMBA_CACHE_DIR", None)
    (tmp_path / "tmp").mkdir()
    code = ("import numpy as np\n"
            "from qnic.coincidence import find_coincidences\n"
            "a = np.arange(0, 10_000, 100, dtype=np.int64)\n"
            "print(len(find_coincidences(a, a + 5, 10)[0]))\n")
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "100"
    assert {r: set(r.rglob("*.nbi")) for r in roots} == before
    assert list((tmp_path / "tmp").rglob("*.nbi"))  # in the temporary folder instead


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
                   ("monitor", ["monitor", "--seconds", "0.2"]),
                   ("demo", ["demo", "--rounds", "20"])]:
    compiled.clear()
    rc = main([*argv, "--seed", "3", "--db", db])
    print(name, rc, sorted(set(compiled)))
"""


def test_a_built_wheel_carries_every_kernel_the_first_commands_need(tmp_path: Path) -> None:
    """Built by the project's backend, unpacked, run with an empty user cache:
    the first qnic chsh, calibration, monitor and demo load the bundled
    kernels and compile none."""
    pytest.importorskip("setuptools.build_meta")
    source = copy_source(tmp_path / "source", ("MANIFEST.in", "build_backend"))
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
    assert not [n for n in names if n.endswith(".pyc")]  # the warm-ups leave no bytecode

    # built again in the same folder with QNIC_KERNEL_BUNDLE=0: no bundle, not
    # even the one the first build left in build/
    again = subprocess.run([sys.executable, "-c", build, str(tmp_path / "dist0")], cwd=source,
                           env={**env, "QNIC_KERNEL_BUNDLE": "0"}, capture_output=True,
                           text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    with zipfile.ZipFile(tmp_path / "dist0" / again.stdout.strip().splitlines()[-1]) as zf:
        assert not [n for n in zf.namelist() if BUNDLE in n]

    run_env = {**env, "XDG_CACHE_HOME": str(tmp_path / "cache"),
               "PYTHONPATH": os.pathsep.join([str(site), *filter(None, [env.get("PYTHONPATH")])])}
    out = subprocess.run([sys.executable, "-c", _CHSH_COMPILES, str(tmp_path / "run.db")],
                         cwd=tmp_path, env=run_env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = dict(line.split(" ", 1) for line in out.stdout.splitlines()
                 if line.split(" ", 1)[0] in ("package", "chsh", "calibrate", "monitor", "demo"))
    assert lines["package"].startswith(str(site)), lines["package"]
    assert "marked warm True True" in out.stdout  # no warm-up child is started
    # each command ran (exit 0) and compiled no kernel
    assert lines == {"package": lines["package"], "chsh": "0 []", "calibrate": "0 []",
                     "monitor": "0 []", "demo": "0 []"}, out.stdout[-3000:]
