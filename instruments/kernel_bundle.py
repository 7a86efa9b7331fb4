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
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from qnic.instruments.kernel_cache import BUNDLE, UserCacheLocator, target_description

WARMUPS: tuple[tuple[str, ...], ...] = (
    ("qnic.coincidence.warm",), ("qnic.sim.warm",), ("qnic.coincidence.warm", "--lab"))
"""``python -m`` runs that compile what ``qnic chsh`` needs, then what
calibration, ``qnic monitor`` and ``qnic demo`` add (they import neither
QCoDeS nor anything above their own layer)."""


class BundleError(RuntimeError):
    """A warm-up failed while the bundle was built."""


def _compile(package_dir: Path, cache_home: Path, runs: tuple[tuple[str, ...], ...]) -> None:
    """Run each warm-up (module and arguments) in a child process of its own,
    side by side."""
    env = {**os.environ, "XDG_CACHE_HOME": str(cache_home)}
    env.pop("NUMBA_CACHE_DIR", None)  # it would take the kernels elsewhere
    env["PYTHONPATH"] = os.pathsep.join(
        [str(package_dir.parent), *filter(None, [os.environ.get("PYTHONPATH")])])
    children = [(" ".join(run), subprocess.Popen(
        [sys.executable, "-m", *run], env=env, cwd=cache_home, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)) for run in runs]
    failed = []
    for run, child in children:
        out, _ = child.communicate()
        if child.returncode:
            failed.append(f"python -m {run} exited {child.returncode}:\n"
                          f"{out.decode(errors='replace')}")
    if failed:
        raise BundleError("\n".join(failed))


def build(package_dir: Path,
          runs: tuple[tuple[str, ...], ...] = WARMUPS) -> dict[str, list[str]]:
    """Compile the kernels of the warm-up ``runs`` for the package in
    ``package_dir`` and put them in its :data:`BUNDLE` folder.

    Returns:
        The bundled files by source folder (relative to ``package_dir``).

    Raises:
        BundleError: a warm-up module failed (its output is in the message).
    """
    package_dir = Path(os.path.abspath(package_dir))
    bundle = package_dir / BUNDLE
    shutil.rmtree(bundle, ignore_errors=True)
    folders: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory(prefix="qnic-kernels-") as tmp:
        _compile(package_dir, Path(tmp), runs)
        cache = Path(tmp) / "qnic-bench" / "numba"
        for source in sorted({p.parent for p in package_dir.rglob("*.py")}):
            # the folder numba's locator names for this source folder
            cached = cache / UserCacheLocator.get_suitable_cache_subpath(str(source / "x.py"))
            if not cached.is_dir():
                continue
            rel = source.relative_to(package_dir).as_posix()
            names = sorted(f.name for f in cached.iterdir() if f.is_file())
            (bundle / rel).mkdir(parents=True, exist_ok=True)
            for name in names:
                shutil.copyfile(cached / name, bundle / rel / name)
            folders[rel] = names
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
