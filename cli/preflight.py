"""Checks a measuring command makes before its run starts (docs/commands.md).

A run is created in the database only once it has something to record, and
everything that can be found wrong before that is: the run's length
(:func:`check_run_length`), the station's serial addresses
(:func:`check_addresses`: a scheme pyserial knows, a port that exists), and
whether each arm's devices answer (:func:`check_devices`, after the
station is open). A wrong address is a bad station file (exit 2); a port or
device that is not there or does not answer is a failure (exit 1). Either
names the station key, the instrument and the port, in one line.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

BENCH_DAY_S = 86_400.0
"""Runs longer than this much bench time need ``--long``."""

_DEVICE_LOGGERS = ("qcodes", "qnic.instruments")
"""Loggers whose warnings while the station opens (QCoDeS's failed snapshot of
a device that does not answer, a driver's retry) stand behind one error."""


class DeviceUnavailableError(Exception):
    """A device of the station cannot be reached: key, instrument, port and why."""

    def __init__(self, key: str, instrument: str, address: Any, why: str) -> None:
        self.key, self.instrument, self.address, self.why = key, instrument, address, why
        super().__init__(f"{key}: {instrument} at {address}: {why}")


class RunLengthError(ValueError):
    """A run longer than a day of bench time asked for without ``--long``."""


def add_long_option(parser: Any) -> None:
    """The ``--long`` option of a command with a run length."""
    parser.add_argument("--long", action="store_true",
                        help="allow a run of more than a day of bench time")


def check_run_length(total_s: float, allow_long: bool, what: str) -> None:
    """Refuse a run of more than a day of bench time unless ``--long`` is given.

    Args:
        total_s: the run's bench time in s (acquisition, all settings).
        allow_long: ``--long`` was given.
        what: how the command's options make ``total_s`` ("--seconds 1e9 per
            setting, 4 settings").

    Raises:
        RunLengthError: too long without ``--long``.
    """
    if total_s > BENCH_DAY_S and not allow_long:
        raise RunLengthError(f"{what} is {_duration(total_s)} of bench time, more than a day; "
                             "give --long if that is meant")


def check_writable(path: Path, option: str) -> None:
    """A file the command will write: not a folder, in a folder it may create or write to.

    Raises:
        CommandError: (exit 2) naming the option, the path and why.
    """
    from qnic.cli.common import EXIT_BAD_INPUT, CommandError

    path = path.expanduser()
    if path.is_dir():
        raise CommandError(f"{option} {path}: is a folder; give a file name", EXIT_BAD_INPUT)
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not (folder.is_dir() and os.access(folder, os.W_OK | os.X_OK)) or \
            (path.exists() and not os.access(path, os.W_OK)):
        raise CommandError(f"{option} {path}: cannot write it (no permission in {folder})",
                           EXIT_BAD_INPUT)


def _duration(seconds: float) -> str:
    days = seconds / BENCH_DAY_S
    return f"{days:.3g} days" if days < 1e6 else f"{seconds:.3g} s"


def _type_label(spec: Mapping[str, Any]) -> str:
    return str(spec.get("type", "?")).rpartition(".")[2]


def check_addresses(config: Any) -> None:
    """Every serial address of a rotator: a scheme pyserial knows, a port that opens.

    ``sim://`` addresses are the station loader's (they need the bench); other
    addresses with a scheme (``socket://``, ``rfc2217://``) are checked for the
    scheme only; a plain port (``/dev/ttyUSB0``, ``COM3``) is opened and closed
    again, which sends nothing to the device.

    Raises:
        StationError: an unknown scheme (a bad station file).
        DeviceUnavailableError: a port that does not exist or cannot be opened.
    """
    import serial

    import qnic.instruments  # noqa: F401 - registers the sim:// handler with pyserial
    from qnic.station import StationError

    for name, spec in config.instruments.items():
        address = spec.get("address")
        if not (isinstance(address, str) and _is_rotator(spec)) or address.startswith("sim://"):
            continue
        key, who = f"instruments.{name}.address", f"{name} ({_type_label(spec)})"
        try:
            port = serial.serial_for_url(address, do_not_open=True)
        except ValueError as exc:
            raise StationError(config.path, key, f"{who}: {address!r} is no serial port or "
                               f"URL pyserial knows ({exc}); expected a port such as "
                               "/dev/ttyUSB0 or COM3, or a URL such as sim://, socket://, "
                               "rfc2217://") from None
        if "://" in address:
            continue
        try:
            port.open()
        except (serial.SerialException, OSError) as exc:
            raise DeviceUnavailableError(key, who, address, f"cannot open the port: "
                                         f"{_os_reason(exc)}") from None
        port.close()


def _is_rotator(spec: Mapping[str, Any]) -> bool:
    return str(spec.get("type", "")).startswith("qnic.instruments.rotators.")


def _os_reason(exc: BaseException) -> str:
    """The operating system's reason (``No such file or directory``) when there is one."""
    inner = exc.__context__ or exc.__cause__
    strerror = getattr(inner, "strerror", None)
    return str(strerror) if isinstance(inner, OSError) and strerror else str(exc)


def check_devices(st: Any) -> None:
    """Ask each arm's rotator and tagger who it is (``connect()``), before a run starts.

    Raises:
        DeviceUnavailableError: a device that does not answer, or answers
            wrongly (the driver's error in the message).
    """
    from qnic.instruments.errors import InstrumentError

    seen: set[int] = set()
    for qnic in st.qnics.values():
        for device in (qnic.rotator, qnic.tagger):
            connect = getattr(device, "connect", None)
            if id(device) in seen or not callable(connect):
                continue
            seen.add(id(device))
            name = str(getattr(device, "name", "?"))
            spec = st.config.instruments.get(name, {})
            try:
                connect()
            except InstrumentError as exc:
                raise DeviceUnavailableError(f"instruments.{name}.address",
                                             f"{name} ({_type_label(spec)})",
                                             spec.get("address", "(no address)"),
                                             f"does not answer: {exc}") from None


class _Held(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def device_warnings_held(verbose: bool) -> Iterator[None]:
    """Hold the device loggers' warnings while the station opens and is checked.

    If the block fails, they are dropped: the error names the device (and
    ``--verbose`` shows them as they happen); if it succeeds, they are
    printed after all, one line each.
    """
    if verbose:
        yield
        return
    held = _Held()
    loggers = [logging.getLogger(n) for n in _DEVICE_LOGGERS]
    saved = [lg.propagate for lg in loggers]
    for lg in loggers:
        lg.addHandler(held)
        lg.propagate = False
    try:
        yield
    finally:
        for lg, propagate in zip(loggers, saved):
            lg.removeHandler(held)
            lg.propagate = propagate
    for record in held.records:
        print(f"{record.name}: {record.getMessage()}", file=sys.stderr)


def stop_rotators(st: Any) -> None:
    """Send each arm's rotator its stop command (after Ctrl-C), whatever it was doing.

    A rotator that fails to take it is skipped: the interrupt is being
    reported, and the device's own error would hide it.
    """
    from qnic.interrupts import protected

    seen: set[int] = set()
    with protected():
        for qnic in st.qnics.values():
            rotator = qnic.rotator
            stop = getattr(rotator, "stop", None)
            if id(rotator) in seen or not callable(stop):
                continue
            seen.add(id(rotator))
            try:
                stop()
            except Exception as exc:  # noqa: BLE001 - the interrupt is what is reported
                logging.getLogger("qnic.cli").info("%s: stop failed: %s", rotator.name, exc)


@contextlib.contextmanager
def rotators_stopped_on_interrupt(st: Any) -> Iterator[None]:
    """Stop the station's rotators when Ctrl-C ends the block (the interrupt goes on)."""
    try:
        yield
    except BaseException as exc:
        from qnic.interrupts import interrupted_by_signal

        if interrupted_by_signal(exc):
            stop_rotators(st)
        raise


@contextlib.contextmanager
def checked_station(config: Any, seed: int | None, verbose: bool) -> Iterator[Any]:
    """The station open and its devices checked, its rotators stopped on Ctrl-C.

    (The addresses are the caller's to check first, :func:`check_addresses`,
    before it creates its database.) The station opens without QCoDeS's snapshot, each arm's devices are asked who
    they are (:func:`check_devices`), and the snapshot is taken only then, so
    a silent device costs one timeout and one line, not a warning per
    parameter.
    """
    from qnic.station import open_station

    with contextlib.ExitStack() as stack:
        with device_warnings_held(verbose):
            st = stack.enter_context(open_station(config, seed=seed, snapshot=False))
            check_devices(st)
            st.station.snapshot(update=True)
        stack.enter_context(rotators_stopped_on_interrupt(st))
        yield st
