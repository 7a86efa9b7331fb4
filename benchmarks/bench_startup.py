"""Benchmark: start-up wall time of the ``qnic`` command against the interpreter's own.

Run on demand (not part of the tests)::

    python benchmarks/bench_startup.py [--repeats 5] [--quick]

Times, as subprocesses in turn within each repeat: ``qnic --help``,
``qnic chsh --help`` (the ``qnic`` script installed beside this Python, or
``python -m qnic.cli`` without one) and, as the floor any Python command
stands on, ``python -c pass``. Target: under 0.5 s. The ratio of a row is
the floor's time over ours, so it stays below 1: how close to the floor.

Then the first ``qnic chsh`` after an install (not with ``--quick``): a
wheel is built by the project's backend from a copy of the checkout,
unpacked and byte-compiled (as pip installs it), and
``python -m qnic.cli chsh`` runs from it with an empty user cache each time, against the same wheel without its compiled kernels
(``qnic/_kernel_bundle`` removed, so the run compiles them, as after an
editable install). A later run (the cache filled) is timed beside them.
Targets: under 5 s first, under 2 s later (issue #14).
"""

from __future__ import annotations

import argparse
import compileall
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

try:
    from benchmarks.common import Row, compare, interleaved, print_row
except ModuleNotFoundError:  # run as a script: python benchmarks/bench_startup.py
    from common import Row, compare, interleaved, print_row  # type: ignore[no-redef]

TARGET_S = 0.5
FIRST_TARGET_S = 5.0
LATER_TARGET_S = 2.0
ROOT = Path(__file__).resolve().parents[1]


def qnic_command() -> list[str]:
    """The installed ``qnic`` script of this environment, else ``python -m qnic.cli``."""
    script = Path(sys.executable).with_name("qnic")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "qnic.cli"]


def _call(argv: list[str]) -> None:
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def measure(repeats: int) -> list[Row]:
    """Both commands against the bare interpreter, interleaved."""
    qnic = qnic_command()
    floor = [sys.executable, "-c", "pass"]
    seconds = interleaved({
        "help": lambda: _call([*qnic, "--help"]),
        "chsh": lambda: _call([*qnic, "chsh", "--help"]),
        "floor": lambda: _call(floor),
    }, repeats)
    shown = "qnic" if len(qnic) == 1 else "python -m qnic.cli"
    rows = []
    for key, args in (("help", "--help"), ("chsh", "chsh --help")):
        ours = statistics.median(seconds[key])
        rows.append(compare(
            "startup", f"wall time of `{shown} {args}` (subprocess)", "s", seconds[key],
            "`python -c pass`: the interpreter's start, the floor", seconds["floor"],
            higher_is_better=False,
            notes=f"target < {TARGET_S:g} s: {'met' if ours < TARGET_S else 'NOT met'}; the "
                  "ratio is the floor's time over ours (< 1 by nature)"))
    return rows


def _built_wheel(work: Path) -> Path:
    """A wheel of the checkout built by its own backend (kernels compiled in)."""
    source = work / "source"  # a copy: the build leaves nothing in the checkout
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", "build", "tests", "benchmarks", "__pycache__", "*.egg-info", "*.nbi", "*.nbc"))
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "QNIC_KERNEL_BUNDLE")}
    code = ("import sys; sys.path.insert(0, 'build_backend'); import kernel_wheel; "
            "print(kernel_wheel.build_wheel(sys.argv[1]))")
    out = subprocess.run([sys.executable, "-c", code, str(work / "dist")], cwd=source, env=env,
                         capture_output=True, text=True, check=True)
    if "kernel bundle:" not in out.stdout:
        raise RuntimeError(f"the wheel was built without its kernels:\n{out.stdout}{out.stderr}")
    return work / "dist" / out.stdout.strip().splitlines()[-1]


def measure_first_run(repeats: int) -> list[Row]:
    """The first and a later ``qnic chsh`` from a built wheel, against the first
    run of the same wheel without its compiled kernels."""
    with tempfile.TemporaryDirectory(prefix="qnic-first-run-") as tmp:
        work = Path(tmp)
        wheel = _built_wheel(work)
        sites = {"bundle": work / "with", "compile": work / "without"}
        for site in sites.values():
            with zipfile.ZipFile(wheel) as zf:
                zf.extractall(site)
            # bytecode, as pip compiles it when it installs a wheel
            compileall.compile_dir(site, quiet=1)
        shutil.rmtree(sites["compile"] / "qnic" / "_kernel_bundle")
        env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
        caches = {name: work / f"cache-{name}" for name in ("bundle", "compile", "later")}

        def chsh(site: Path, cache: Path) -> None:
            run_env = {**env, "XDG_CACHE_HOME": str(cache), "PYTHONPATH": str(site)}
            subprocess.run([sys.executable, "-m", "qnic.cli", "chsh", "--seed", "1",
                            "--db", str(work / "runs.db")], cwd=work, env=run_env, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def empty(name: str) -> None:
            shutil.rmtree(caches[name], ignore_errors=True)

        seconds = interleaved({
            "bundle": lambda: chsh(sites["bundle"], caches["bundle"]),
            "compile": lambda: chsh(sites["compile"], caches["compile"]),
            "later": lambda: chsh(sites["bundle"], caches["later"]),
        }, repeats, setup={"bundle": lambda: empty("bundle"), "compile": lambda: empty("compile")})
    first, later = statistics.median(seconds["bundle"]), statistics.median(seconds["later"])
    baseline = ("the same wheel without its compiled kernels: the first run compiles them "
                "(as after an editable install)")
    return [
        compare("startup", "first `qnic chsh` (1 s per setting) after the install: a wheel "
                "built by the project's backend, an empty user cache", "s", seconds["bundle"],
                baseline, seconds["compile"], higher_is_better=False,
                notes=f"target < {FIRST_TARGET_S:g} s: {'met' if first < FIRST_TARGET_S else 'NOT met'}"),
        compare("startup", "a later `qnic chsh` (1 s per setting), the cache filled", "s",
                seconds["later"], baseline, seconds["compile"], higher_is_better=False,
                notes=f"target < {LATER_TARGET_S:g} s: {'met' if later < LATER_TARGET_S else 'NOT met'}"),
    ]


def run(quick: bool) -> list[Row]:
    """Median of 5 interleaved repeats; the first-run rows not with ``quick``
    (they build a wheel and compile, about 2 minutes)."""
    return measure(5) + ([] if quick else measure_first_run(5))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="no first-run rows")
    args = ap.parse_args()
    rows = measure(args.repeats) + ([] if args.quick else measure_first_run(args.repeats))
    for row in rows:
        print_row(row)


if __name__ == "__main__":
    main()
