"""The build backend: setuptools, with the kernels compiled into regular wheels.

A regular wheel (``pip install .``, ``python -m build``) is setuptools'
wheel plus ``qnic/_kernel_bundle``: the numba kernels that ``qnic chsh``,
calibration, ``qnic monitor`` and ``qnic demo`` need, compiled during the build by
``python -m qnic.instruments.kernel_bundle`` on the package as laid out for
the wheel (docs/architecture.md). The first run after the install then
loads them instead of compiling them (9-11 s for ``qnic chsh`` on a 2-core
machine), and the build takes about 20 s longer. For that, a wheel build
asks for numba and what the kernels' modules import; an editable install
and an sdist ask for setuptools alone and carry no bundle.

The bundle is an optimisation: when it cannot be built (for example with
``--no-build-isolation`` and no numba), the build says so (``pip -v``
shows it) and goes on, and the kernels compile on first use.
``QNIC_KERNEL_BUNDLE=0`` skips it, and numba with it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from setuptools import build_meta as _setuptools
from setuptools.build_meta import *  # noqa: F403  (the sdist, editable and metadata hooks)
from setuptools.command.build_py import build_py

KERNEL_BUILD_REQUIRES = ["numpy>=1.26", "numba>=0.59", "scipy>=1.11", "pyserial>=3.5",
                         "PyYAML>=6"]
"""What the warm-up modules import (as in pyproject.toml's dependencies)."""


def _wanted() -> bool:
    return os.environ.get("QNIC_KERNEL_BUNDLE", "1") != "0"


def get_requires_for_build_wheel(config_settings: Any = None) -> list[str]:
    extra = KERNEL_BUILD_REQUIRES if _wanted() else []
    return [*_setuptools.get_requires_for_build_wheel(config_settings), *extra]


def _bundle(build_lib: Path) -> None:
    """Compile the kernels into ``build_lib/qnic/_kernel_bundle`` (best effort)."""
    build_lib = build_lib.resolve()
    # a bundle left in the build folder by an earlier build goes first: it
    # may be of other sources, and QNIC_KERNEL_BUNDLE=0 means none
    shutil.rmtree(build_lib / "qnic" / "_kernel_bundle", ignore_errors=True)
    if not _wanted():
        return
    # (pip's isolated build environment reaches its packages through
    # PYTHONPATH too: build_lib goes first, the rest is kept; no bytecode,
    # which would be packed into the wheel)
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": os.pathsep.join(
        [str(build_lib), *filter(None, [os.environ.get("PYTHONPATH")])])}
    print("compiling qnic-bench's kernels into the wheel (qnic/_kernel_bundle)", flush=True)
    # run from build_lib: ``python -m`` puts the working folder first on the
    # path, and the source tree's own qnic/ folder holds the core alone
    try:
        done = subprocess.run([sys.executable, "-m", "qnic.instruments.kernel_bundle",
                               str(build_lib / "qnic")], env=env, cwd=build_lib,
                              capture_output=True, text=True, timeout=1800)
    except subprocess.TimeoutExpired:
        shutil.rmtree(build_lib / "qnic" / "_kernel_bundle", ignore_errors=True)
        print("qnic-bench: compiling the kernels took too long; they compile on first use",
              file=sys.stderr, flush=True)
        return
    if done.returncode:
        shutil.rmtree(build_lib / "qnic" / "_kernel_bundle", ignore_errors=True)
        print("qnic-bench: the kernels were not compiled into the wheel; they compile on "
              f"first use instead:\n{done.stdout}{done.stderr}", file=sys.stderr, flush=True)
    else:
        print(done.stdout.strip(), flush=True)


def build_wheel(wheel_directory: str, config_settings: Any = None,
                metadata_directory: str | None = None) -> str:
    plain_run = build_py.run

    def run(self: build_py) -> None:
        plain_run(self)
        if not self.editable_mode:
            _bundle(Path(self.build_lib))

    build_py.run = run  # type: ignore[method-assign]
    try:
        return _setuptools.build_wheel(wheel_directory, config_settings, metadata_directory)
    finally:
        build_py.run = plain_run  # type: ignore[method-assign]
