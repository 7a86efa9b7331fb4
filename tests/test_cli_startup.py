"""``qnic --help`` and every ``qnic COMMAND --help`` start without the heavy
libraries (QCoDeS, SciPy, numba, matplotlib): a command imports them when it
runs. Checked in a fresh interpreter by what it imported, not by timing."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("qcodes", "scipy", "numba", "matplotlib", "h5py", "rich", "yaml")

_PROBE = """
import json, sys, contextlib, io
import qnic.cli
commands = sorted(qnic.cli.build_parser()._subparsers._group_actions[0].choices)
seen = {"import": sorted(m for m in %r if m in sys.modules)}
for argv in [["--help"]] + [[c, "--help"] for c in commands]:
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            qnic.cli.main(argv)
        except SystemExit:
            pass
    seen[" ".join(argv)] = sorted(m for m in %r if m in sys.modules)
print(json.dumps(seen))
"""


def test_help_imports_no_heavy_library() -> None:
    out = subprocess.run([sys.executable, "-c", _PROBE % (HEAVY, HEAVY)], capture_output=True,
                         text=True, timeout=120, check=True)
    seen = json.loads(out.stdout)
    assert len(seen) > 5  # import, qnic --help and each command's --help
    assert {argv: mods for argv, mods in seen.items() if mods} == {}


def test_the_demo_options_name_every_storage_policy() -> None:
    from qnic.balancing.memory import StoragePolicy
    from qnic.cli.demo import STORAGE_POLICIES

    assert STORAGE_POLICIES == tuple(s.value for s in StoragePolicy)
