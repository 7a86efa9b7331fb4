"""The ``qnic`` command (DESIGN 9): the front door of qnic-bench.

With no ``--station`` every command runs on the embedded simulated bench.
``--json`` prints one JSON object on stdout and nothing else there. Each
command lives in its own module of this package with an ``add_parser``.
"""

from __future__ import annotations

import argparse
import sys

from qnic.calibration.store import CalibrationFileError
from qnic.cli import calibrate, chsh, curve, demo, lbsim, monitor, station, tags, xor
from qnic.cli.common import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERRUPTED
from qnic.fringe import FringeFitError
from qnic.instruments.errors import InstrumentError
from qnic.station import StationError

COMMANDS = [chsh, calibrate, monitor, curve, demo, xor, lbsim, station, tags]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qnic", description="qnic-bench: Bell/CHSH runs, calibration and quantum load "
        "balancing on polarization-entanglement benches. Without --station every command runs "
        "on the embedded simulated bench.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except StationError as exc:
        print(f"qnic: bad station file: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except InstrumentError as exc:
        print(f"qnic: instrument error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except FringeFitError as exc:
        print(f"qnic: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except CalibrationFileError as exc:
        print(f"qnic: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("qnic: interrupted; what was measured so far is kept", file=sys.stderr)
        return EXIT_INTERRUPTED

