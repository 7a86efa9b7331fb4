"""A SCPI device in virtual time: headers, arguments, the error queue.

The base of the VISA device emulators of the simulated bench. It speaks SCPI
as IEEE 488.2 and the SCPI standard define it and as the Thorlabs manuals
describe it (docs/protocols.md 7.2 and 7.4): program messages end in LF;
several units are separated by ``;``; a header is matched in its short
(``SOUR``) or long (``SOURce``) form, in any case, with optional nodes;
queries end in ``?`` and may take ``MIN``/``MAX``/``DEF``; an error goes to a
queue of 10 entries, read first-in first-out with ``SYST:ERR?`` (``+0,"No
error"`` when empty; the 11th error replaces the last with ``-350,"Error queue
overflow"``), cleared by ``*CLS``. Replies are scheduled a little after the
command in virtual time, so reading one advances the bench clock.

A subclass registers its commands with :meth:`ScpiEmulator.add`. Header
patterns are written with spaces between nodes, optional nodes in brackets
and an optional numeric suffix as ``[1]``: ``"SOURce[1] CURRent [LEVel]"``.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from qnic.instruments.clock import VirtualClock
from qnic.sim.emulator import SerialEmulator
from qnic.sim.faults import Fault

ERROR_QUEUE_LENGTH = 10
NO_ERROR = (0, "No error")
QUEUE_OVERFLOW = (-350, "Error queue overflow")
# SCPI-99 / IEEE 488.2 standard codes (docs/protocols.md 7.4)
DATA_TYPE_ERROR = (-104, "Data type error")
MISSING_PARAMETER = (-109, "Missing parameter")
UNDEFINED_HEADER = (-113, "Undefined header")
SETTINGS_CONFLICT = (-221, "Settings conflict")
DATA_OUT_OF_RANGE = (-222, "Data out of range")
KEYWORDS = ("MIN", "MAX", "DEF")
_NODE = re.compile(r"^(\[)?([A-Za-z*]+)(\d*)(\[(\d)\])?(\])?$")


class ScpiError(Exception):
    """A command the device refuses: its SCPI code and meaning."""

    def __init__(self, error: tuple[int, str]) -> None:
        self.code, self.meaning = error
        super().__init__(f"{self.code},\"{self.meaning}\"")


def header_pattern(pattern: str) -> re.Pattern[str]:
    """The regular expression of a header pattern (see the module).

    The expression matches the header with a ``:`` appended after each node.
    """
    pieces = []
    for token in pattern.split():
        m = _NODE.match(token)
        if m is None or bool(m.group(1)) != bool(m.group(6)):
            raise ValueError(f"bad SCPI header pattern node {token!r} in {pattern!r}")
        word = m.group(2)
        short = "".join(c for c in word if c.isupper() or c == "*")
        forms = sorted({short.upper(), word.upper()}, key=len, reverse=True)
        suffix = re.escape(m.group(3)) + (f"(?:{m.group(5)})?" if m.group(4) else "")
        node = f"(?:{'|'.join(map(re.escape, forms))}){suffix}:"
        pieces.append(f"(?:{node})?" if m.group(1) else node)
    return re.compile("^" + "".join(pieces) + "$", re.IGNORECASE)


def parse_number(arg: str, suffixes: tuple[str, ...] = ()) -> float:
    """A decimal numeric argument (an optional unit suffix removed).

    Raises:
        ScpiError: missing (-109) or not a number (-104).
    """
    text = arg.strip()
    if not text:
        raise ScpiError(MISSING_PARAMETER)
    for suffix in suffixes:
        if text.upper().endswith(suffix.upper()):
            text = text[: -len(suffix)].strip()
            break
    try:
        return float(text)
    except ValueError:
        raise ScpiError(DATA_TYPE_ERROR) from None


def parse_boolean(arg: str) -> bool:
    """``ON``/``OFF``/``1``/``0`` (SCPI boolean program data)."""
    text = arg.strip().upper()
    if not text:
        raise ScpiError(MISSING_PARAMETER)
    if text in ("ON", "1"):
        return True
    if text in ("OFF", "0"):
        return False
    raise ScpiError(DATA_TYPE_ERROR)


def nr3(value: float) -> str:
    """A number as NR3 response data (``6.500000E-02``)."""
    return f"{value:.6E}"


def in_range(value: float, lo: float, hi: float) -> float:
    """``value`` if ``lo <= value <= hi``, else a -222 error (never clamped)."""
    if not lo <= value <= hi:
        raise ScpiError(DATA_OUT_OF_RANGE)
    return value


Query = Callable[[str], str]
Setter = Callable[[str], None]


@dataclass(frozen=True)
class _Command:
    pattern: re.Pattern[str]
    query: Query | None
    setter: Setter | None


class ScpiEmulator(SerialEmulator):
    """A SCPI instrument behind a ``sim://`` port.

    Args:
        clock: the bench's virtual clock.
        identity: the ``*IDN?`` reply.
        reply_latency_s: virtual time between a query and its reply.
    """

    def __init__(self, clock: VirtualClock, identity: str, reply_latency_s: float = 1e-3) -> None:
        super().__init__(clock)
        self.identity = identity
        self.reply_latency_s = reply_latency_s
        self.errors: deque[tuple[int, str]] = deque()
        self.received: list[str] = []  # every program message unit, in order (tests read it)
        self._faults: deque[Fault] = deque()
        self._line = bytearray()
        self._commands: list[_Command] = []
        self.add("*IDN", query=lambda _: self.identity)
        self.add("*CLS", setter=lambda _: self.errors.clear())
        self.add("SYSTem ERRor [NEXT]", query=lambda _: self._next_error())

    def add(self, pattern: str, *, query: Query | None = None, setter: Setter | None = None) -> None:
        """Serve the header ``pattern``: ``query(arg)`` answers ``HEADER? arg``,
        ``setter(arg)`` carries out ``HEADER arg``; either may raise :class:`ScpiError`."""
        self._commands.append(_Command(header_pattern(pattern), query, setter))

    def push_error(self, error: tuple[int, str]) -> None:
        """Put an error in the queue (10 deep; overflow replaces the last, 7.4)."""
        if len(self.errors) >= ERROR_QUEUE_LENGTH:
            self.errors[-1] = QUEUE_OVERFLOW
        else:
            self.errors.append(error)

    def _next_error(self) -> str:
        code, meaning = self.errors.popleft() if self.errors else NO_ERROR
        return f"{code:+d},\"{meaning}\""

    def inject(self, fault: Fault) -> None:
        """Queue ``fault`` for the next reply (TIMEOUT, TRUNCATED, GARBLED) or act
        at once (DISCONNECT, RECONNECT)."""
        if not self.apply_link_fault(fault):
            self._faults.append(fault)

    # -- host side -----------------------------------------------------------------
    def receive(self, data: bytes) -> None:
        if not self.connected:
            return
        self._line += data
        while b"\n" in self._line:
            line, _, rest = bytes(self._line).partition(b"\n")
            self._line = bytearray(rest)
            self._message(line.decode("ascii", errors="replace").strip())

    def drop_input(self) -> None:
        self._line.clear()

    def _message(self, message: str) -> None:
        replies = []
        for unit in (u.strip() for u in message.split(";")):
            if not unit:
                continue
            self.received.append(unit)
            try:
                reply = self._unit(unit)
            except ScpiError as exc:
                self.push_error((exc.code, exc.meaning))
                continue
            if reply is not None:
                replies.append(reply)
        if replies:
            self._reply(";".join(replies).encode("ascii") + b"\n")

    def _unit(self, unit: str) -> str | None:
        header, _, arg = unit.partition(" ")
        is_query = header.endswith("?")
        key = header.rstrip("?").lstrip(":") + ":"
        for command in self._commands:
            if command.pattern.match(key):
                handler = command.query if is_query else command.setter
                if handler is None:
                    break
                result = handler(arg.strip())
                return result if is_query else None
        raise ScpiError(UNDEFINED_HEADER)

    def _reply(self, data: bytes) -> None:
        fault = self._faults.popleft() if self._faults else None
        if fault is Fault.TIMEOUT:
            return
        if fault is Fault.TRUNCATED:
            data = data[: max(1, len(data) // 2)]
        elif fault is Fault.GARBLED:
            data = bytes(b ^ 0x80 if i % 2 else b for i, b in enumerate(data[:-1])) + data[-1:]
        self.schedule(data, self.clock.now() + self.reply_delay_s())

    def reply_delay_s(self) -> float:
        """Virtual time the device takes to answer (subclasses add measuring time)."""
        return self.reply_latency_s
