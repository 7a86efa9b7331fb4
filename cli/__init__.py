"""The ``qnic`` command (docs/commands.md): the front door of qnic-bench.

With no ``--station`` every command runs on the embedded simulated bench.
``--json`` prints one JSON object on stdout and nothing else there. Each
command lives in its own module of this package with an ``add_parser``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import traceback
from types import ModuleType

from qnic import interrupts
from qnic.cli.common import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERRUPTED, CommandError

COMMAND_MODULES = ("chsh", "calibrate", "monitor", "curve", "carscan", "g2", "tomography", "demo",
                   "dashboard", "xor", "lbsim", "lbghz", "lbnet", "net", "station", "tags",
                   "export")
"""The command modules of this package, in ``qnic --help`` order. They are imported
when the parser is built, after the Ctrl-C handler is in place (a Ctrl-C while
they import ends the command with one line, not a traceback)."""


def _modules() -> list[ModuleType]:
    return [importlib.import_module(f"qnic.cli.{name}") for name in COMMAND_MODULES]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qnic", description="qnic-bench: Bell/CHSH runs, calibration and quantum load "
        "balancing on polarization-entanglement benches. Without --station every command runs "
        "on the embedded simulated bench.")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="also show the libraries' messages (QCoDeS run ids, ...) on stderr")
    parser.add_argument("--debug", action="store_true",
                        help="show the traceback of an error the command reports in one line")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in _modules():
        command.add_parser(sub)
    return parser


_HANDLED = (
    # (module, exception class, exit code, message prefix): a command imports what
    # it needs, so an error class whose module was never imported cannot be raised
    ("qnic.station", "StationError", EXIT_BAD_INPUT, "bad station file: "),
    ("qnic.cli.preflight", "DeviceUnavailableError", EXIT_FAILED, ""),
    ("qnic.instruments.timetaggers.picoquant.errors", "TagFileError", EXIT_BAD_INPUT,
     "bad tag file: "),
    ("qnic.instruments.errors", "InstrumentError", EXIT_FAILED, "instrument error: "),
    ("qnic.fringe", "FringeFitError", EXIT_FAILED, ""),
    ("qnic.calibration.store", "CalibrationFileError", EXIT_BAD_INPUT, ""),
    ("qnic.storage", "StorageError", EXIT_BAD_INPUT, ""),
    ("qnic.cli.preflight", "RunLengthError", EXIT_BAD_INPUT, ""),
)
"""Errors reported in one line; a :class:`qnic.cli.common.CommandError` carries its own code."""


def _known_error(exc: BaseException) -> tuple[int, str] | None:
    for module_name, class_name, code, prefix in _HANDLED:
        module = sys.modules.get(module_name)
        cls = getattr(module, class_name, None) if module is not None else None
        if isinstance(cls, type) and isinstance(exc, cls):
            return code, prefix
    return None


def main(argv: list[str] | None = None) -> int:
    try:
        with interrupts.handling():  # start-up: the command modules import here
            args = build_parser().parse_args(argv)
    except KeyboardInterrupt:
        print("qnic: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
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
    """Run the command; Ctrl-C and the errors of ``_HANDLED`` end it with one line.

    Commands that set ``safe_interrupts`` (those that measure) run under
    :func:`qnic.interrupts.handling`: Ctrl-C inside a compiled kernel or a
    database write is raised once that is done.
    """
    try:
        if getattr(args, "safe_interrupts", False):
            with interrupts.handling():
                return int(args.func(args))
        return int(args.func(args))
    except KeyboardInterrupt as exc:
        print(f"qnic: {_interrupted(args, exc)}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        if isinstance(exc, SystemError) and interrupts.interrupted_by_signal(exc):
            print(f"qnic: {_interrupted(args, exc)}", file=sys.stderr)
            return EXIT_INTERRUPTED
        known = (exc.code, "") if isinstance(exc, CommandError) else _known_error(exc)
        if known is None:
            raise
        code, prefix = known
        if getattr(args, "debug", False):
            traceback.print_exception(exc, file=sys.stderr)
        print(f"qnic: {prefix}{exc}", file=sys.stderr)
        return code


def _interrupted(args: argparse.Namespace, exc: BaseException) -> str:
    """The one line of an interrupted command: what it kept."""
    summary = getattr(exc, "summary", None)
    if callable(summary):
        return str(summary())  # qnic.storage.RunInterrupted
    noun = getattr(args, "kept_noun", None)
    return "interrupted" if noun is None else f"interrupted; 0 {noun}s kept"
