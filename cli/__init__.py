"""The ``qnic`` command (docs/commands.md): the front door of qnic-bench.

With no ``--station`` every command runs on the embedded simulated bench.
``--json`` prints one JSON object on stdout and nothing else there. Each
command lives in its own module of this package with an ``add_parser``.
"""

from __future__ import annotations

import argparse
import logging
import sys

from qnic.cli import (
    calibrate,
    chsh,
    curve,
    dashboard,
    demo,
    export,
    lbnet,
    lbsim,
    monitor,
    net,
    station,
    tags,
    tomography,
    xor,
)
from qnic.cli.common import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERRUPTED

COMMANDS = [chsh, calibrate, monitor, curve, tomography, demo, dashboard, xor, lbsim, lbnet, net, station,
            tags, export]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qnic", description="qnic-bench: Bell/CHSH runs, calibration and quantum load "
        "balancing on polarization-entanglement benches. Without --station every command runs "
        "on the embedded simulated bench.")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="also show the libraries' messages (QCoDeS run ids, ...) on stderr")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


_HANDLED = (
    # (module, exception class, exit code, message prefix): a command imports what
    # it needs, so an error class whose module was never imported cannot be raised
    ("qnic.station", "StationError", EXIT_BAD_INPUT, "bad station file: "),
    ("qnic.instruments.errors", "InstrumentError", EXIT_FAILED, "instrument error: "),
    ("qnic.fringe", "FringeFitError", EXIT_FAILED, ""),
    ("qnic.calibration.store", "CalibrationFileError", EXIT_BAD_INPUT, ""),
    ("qnic.storage", "StorageError", EXIT_BAD_INPUT, ""),
)


def _known_error(exc: Exception) -> tuple[int, str] | None:
    for module_name, class_name, code, prefix in _HANDLED:
        module = sys.modules.get(module_name)
        cls = getattr(module, class_name, None) if module is not None else None
        if isinstance(cls, type) and isinstance(exc, cls):
            return code, prefix
    return None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not args.verbose:
        return _run(args)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    logger = logging.getLogger("qnic")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        return _run(args)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _run(args: argparse.Namespace) -> int:
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("qnic: interrupted; what was measured so far is kept", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        known = _known_error(exc)
        if known is None:
            raise
        code, prefix = known
        print(f"qnic: {prefix}{exc}", file=sys.stderr)
        return code
