"""Kernels compiled when a wheel is built, carried in it (docs/architecture.md).

``python -m qnic.instruments.kernel_bundle PACKAGE_DIR`` is what the build
backend (``build_backend/kernel_wheel.py``) runs on the ``qnic`` package
laid out for a regular wheel. It runs the warm-ups (:data:`WARMUPS`) side
by side, with the user cache pointed at a temporary folder, and copies
each source folder's cache files, their warm markers included, into
``qnic/_kernel_bundle/<folder>/`` with a ``manifest.json`` naming the numba,
Python and target they were compiled for. The first process after the
install copies them into the user's cache
(:func:`qnic.instruments.kernel_cache.seed_from_bundle`), so the first
``qnic chsh``, calibration, ``qnic monitor`` and ``qnic demo`` load their
kernels instead of compiling them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from qnic.instruments.kernel_cache import BUNDLE, UserCacheLocator, target_description

WARMUPS: tuple[tuple[str, ...], ...] = (
    ("qnic.coincidence.warm",), ("qnic.sim.warm",), ("qnic.coincidence.warm", "--lab"),
    ("qnic.balancing.warm",))
"""``python -m`` runs that compile what ``qnic chsh`` needs, then what
calibration, ``qnic monitor`` and ``qnic demo`` add (they import neither
QCoDeS nor anything above their own layer)."""


TIMEOUT_S = 900
"""A warm-up that runs longer than this (s) is stopped and the bundle fails:
a hung compile must not hang the build (it takes some 15 s)."""


class BundleError(RuntimeError):
    """A warm-up failed while the bundle was built."""


def _compile(package_dir: Path, cache_home: Path, runs: tuple[tuple[str, ...], ...]) -> None:
    """Run each warm-up (module and arguments) in a child process of its own,
    side by side."""
    # no bytecode: it would land in the wheel's build folder and be packed
    env = {**os.environ, "XDG_CACHE_HOME": str(cache_home), "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("NUMBA_CACHE_DIR", None)  # it would take the kernels elsewhere
    env["PYTHONPATH"] = os.pathsep.join(
        [str(package_dir.parent), *filter(None, [os.environ.get("PYTHONPATH")])])
    children = [(" ".join(run), subprocess.Popen(
        [sys.executable, "-m", *run], env=env, cwd=cache_home, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)) for run in runs]
    failed = []
    for run, child in children:
        try:
            out, _ = child.communicate(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            child.kill()
            out, _ = child.communicate()
            failed.append(f"python -m {run} took more than {TIMEOUT_S} s and was stopped")
            continue
        if child.returncode:
            failed.append(f"python -m {run} exited {child.returncode}:\n"
                          f"{out.decode(errors='replace')}")
    if failed:
        raise BundleError("\n".join(failed))


def build(package_dir: Path,
          runs: tuple[tuple[str, ...], ...] = WARMUPS) -> dict[str, dict[str, str]]:
    """Compile the kernels of the warm-up ``runs`` for the package in
    ``package_dir`` and put them in its :data:`BUNDLE` folder.

    Returns:
        The bundled files (name -> sha256) by source folder (relative to
        ``package_dir``).

    Raises:
        BundleError: a warm-up module failed (its output is in the message).
    """
    package_dir = Path(os.path.abspath(package_dir))
    bundle = package_dir / BUNDLE
    shutil.rmtree(bundle, ignore_errors=True)
    folders: dict[str, dict[str, str]] = {}
    with tempfile.TemporaryDirectory(prefix="qnic-kernels-") as tmp:
        _compile(package_dir, Path(tmp), runs)
        cache = Path(tmp) / "qnic-bench" / "numba"
        for source in sorted({p.parent for p in package_dir.rglob("*.py")}):
            # the folder numba's locator names for this source folder
            cached = cache / UserCacheLocator.get_suitable_cache_subpath(str(source / "x.py"))
            if not cached.is_dir():
                continue
            rel = source.relative_to(package_dir).as_posix()
            (bundle / rel).mkdir(parents=True, exist_ok=True)
            # each file with its hash: the manifest changes whenever a kernel does
            folders[rel] = {}
            for f in sorted(p for p in cached.iterdir() if p.is_file()):
                shutil.copyfile(f, bundle / rel / f.name)
                folders[rel][f.name] = hashlib.sha256(f.read_bytes()).hexdigest()
    manifest = {**target_description(), "folders": folders}
    (bundle / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return folders


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m qnic.instruments.kernel_bundle",
        description="Compile qnic-bench's kernels into PACKAGE_DIR/_kernel_bundle "
                    "(run by the wheel build).")
    parser.add_argument("package_dir", type=Path, help="the qnic package folder to bundle into")
    args = parser.parse_args(argv)
    folders = build(args.package_dir)
    files = sum(len(v) for v in folders.values())
    print(f"kernel bundle: {files} files from {len(folders)} folders in "
          f"{args.package_dir / BUNDLE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
