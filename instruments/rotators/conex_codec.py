"""Encoding and parsing of the Newport CONEX ASCII protocol. No I/O.

Facts: docs/protocols.md section 3. A command is
``<address><two letters>[value or ?]`` CR LF, the address 1 to 31; only
queries are answered, ``<address><command><value>`` CR LF. ``TS`` answers 4
hex digits of positioner error bits and 2 of controller state; ``TE`` the
last command error as one character. The TE letters and texts are the
SMC100/CONEX-CC list that public drivers quote alike (section 3 names ``TE``
but not its codes); ``P`` is in one CONEX-CC driver only.
"""

from __future__ import annotations

import enum
import math
import re
from dataclasses import dataclass
from typing import NamedTuple

TERMINATOR = b"\r\n"


class ConexReplyError(ValueError):
    """A reply that is not a well-formed CONEX line or value (the driver
    reports it as a ``ProtocolError``)."""


class ControllerState(enum.IntEnum):
    """``TS`` / ``MM?`` controller states (section 3 tables); shown as 2 hex digits."""

    NOT_REFERENCED_FROM_RESET = 0x0A
    NOT_REFERENCED_FROM_HOMING = 0x0B
    NOT_REFERENCED_FROM_CONFIGURATION = 0x0C
    NOT_REFERENCED_FROM_DISABLE = 0x0D
    NOT_REFERENCED_FROM_READY = 0x0E
    NOT_REFERENCED_FROM_MOVING = 0x0F
    NOT_REFERENCED_NO_PARAMETERS = 0x10  # CC: "ESP stage error"
    NOT_REFERENCED_FROM_JOGGING = 0x11
    CONFIGURATION = 0x14
    HOMING = 0x1E
    HOMING_BY_REMOTE = 0x1F
    MOVING = 0x28
    READY_FROM_HOMING = 0x32
    READY_FROM_MOVING = 0x33
    READY_FROM_DISABLE = 0x34
    READY_FROM_JOGGING = 0x35
    DISABLE_FROM_READY = 0x3C
    DISABLE_FROM_MOVING = 0x3D
    DISABLE_FROM_JOGGING = 0x3E
    JOGGING_FROM_READY = 0x46
    JOGGING_FROM_DISABLE = 0x47
    SIMULATION_MODE = 0x48

    def __format__(self, spec: str) -> str:
        return f"{int(self):02X}"


_NOT_REFERENCED_FROM = {0x0A: "reset", 0x0B: "HOMING", 0x0C: "CONFIGURATION",
                        0x0D: "DISABLE", 0x0E: "READY", 0x0F: "MOVING"}
_COMMON_STATES = {code: f"NOT REFERENCED from {src}" for code, src in _NOT_REFERENCED_FROM.items()}
_COMMON_STATES |= {0x14: "CONFIGURATION", 0x28: "MOVING", 0x32: "READY from HOMING",
                   0x33: "READY from MOVING", 0x34: "READY from DISABLE",
                   0x3C: "DISABLE from READY", 0x3D: "DISABLE from MOVING"}
# section 3: the CONEX-CC / SMC100 table, and the CONEX-AGP manual p.17
STATE_TEXT: dict[str, dict[int, str]] = {
    "cc": _COMMON_STATES | {
        0x10: "NOT REFERENCED ESP stage error", 0x11: "NOT REFERENCED from JOGGING",
        0x1E: "HOMING commanded from RS-232", 0x1F: "HOMING commanded by SMC-RC",
        0x35: "READY from JOGGING", 0x3E: "DISABLE from JOGGING", 0x46: "JOGGING from READY",
        0x47: "JOGGING from DISABLE", 0x48: "SIMULATION MODE"},
    "agp": _COMMON_STATES | {0x10: "NOT REFERENCED no parameters", 0x1E: "HOMING"},
}
READY_STATES = frozenset({0x32, 0x33, 0x34, 0x35})  # "Ready" = 32, 33, 34 (35 on the CC)
MOTION_STATES = frozenset({0x1E, 0x1F, 0x28, 0x46, 0x47})  # homing, moving, jogging
NOT_REFERENCED_STATES = frozenset(range(0x0A, 0x12))


def state_meaning(code: int, model: str) -> str:
    """The manual's text for a controller state of ``model`` ("agp" or "cc")."""
    return STATE_TEXT[model].get(code, f"unknown state {code:02X}")


def as_state(code: int) -> ControllerState | int:
    """The enum member for ``code``, or ``code`` itself if no table lists it."""
    try:
        return ControllerState(code)
    except ValueError:
        return code


class PositionerError(enum.IntFlag):
    """``TS`` positioner error bits (section 3, the SMC100 list; UNVERIFIED for
    the CONEX-AGP, whose list was not found). Shown as 4 hex digits."""

    NEGATIVE_END_OF_RUN = 0x0001
    POSITIVE_END_OF_RUN = 0x0002
    PEAK_CURRENT_LIMIT = 0x0004
    RMS_CURRENT_LIMIT = 0x0008
    SHORT_CIRCUIT = 0x0010
    FOLLOWING_ERROR = 0x0020
    HOMING_TIME_OUT = 0x0040
    WRONG_ESP_STAGE = 0x0080
    DC_VOLTAGE_TOO_LOW = 0x0100
    OUTPUT_POWER_EXCEEDED = 0x0200

    def __format__(self, spec: str) -> str:
        return f"{int(self):04X}"


POSITIONER_TEXT: dict[int, str] = {
    0x0001: "negative end of run", 0x0002: "positive end of run",
    0x0004: "peak current limit", 0x0008: "RMS current limit",
    0x0010: "short circuit detection", 0x0020: "following error",
    0x0040: "homing time-out", 0x0080: "wrong ESP stage",
    0x0100: "DC voltage too low", 0x0200: "80 W output power exceeded",
}


def positioner_meaning(bits: int) -> str:
    """The texts of the set bits, most significant first, ``; ``-joined."""
    names = [POSITIONER_TEXT.get(1 << i, f"reserved bit {i}")
             for i in reversed(range(16)) if bits & (1 << i)]
    return "; ".join(names) or "no positioner error"


class ConexError(enum.IntEnum):
    """``TE`` command error codes; the value is the letter's ASCII code, and
    the member formats as the letter (``f"{ConexError.C}"`` is ``"C"``)."""

    NO_ERROR = ord("@")
    UNKNOWN_MESSAGE = ord("A")
    ADDRESS_NOT_CORRECT = ord("B")
    PARAMETER_OUT_OF_RANGE = ord("C")
    NOT_ALLOWED = ord("D")
    HOME_ALREADY_STARTED = ord("E")
    ESP_STAGE_UNKNOWN = ord("F")
    DISPLACEMENT_OUT_OF_LIMITS = ord("G")
    NOT_ALLOWED_NOT_REFERENCED = ord("H")
    NOT_ALLOWED_CONFIGURATION = ord("I")
    NOT_ALLOWED_DISABLE = ord("J")
    NOT_ALLOWED_READY = ord("K")
    NOT_ALLOWED_HOMING = ord("L")
    NOT_ALLOWED_MOVING = ord("M")
    POSITION_OUT_OF_LIMIT = ord("N")
    NOT_ALLOWED_TRACKING = ord("P")
    COMMUNICATION_TIME_OUT = ord("S")
    EEPROM_ERROR = ord("U")
    EXECUTION_ERROR = ord("V")
    NOT_ALLOWED_PP = ord("W")
    NOT_ALLOWED_CC = ord("X")

    def __format__(self, spec: str) -> str:
        return chr(self)

    @property
    def letter(self) -> str:
        return chr(self)

    @property
    def meaning(self) -> str:
        return ERROR_TEXT[self.letter]


ERROR_TEXT: dict[str, str] = {
    "@": "No error.",
    "A": "Unknown message code or floating point controller address.",
    "B": "Controller address not correct.",
    "C": "Parameter missing or out of range.",
    "D": "Command not allowed.",
    "E": "Home sequence already started.",
    "F": "ESP stage name unknown.",
    "G": "Displacement out of limits.",
    "H": "Command not allowed in NOT REFERENCED state.",
    "I": "Command not allowed in CONFIGURATION state.",
    "J": "Command not allowed in DISABLE state.",
    "K": "Command not allowed in READY state.",
    "L": "Command not allowed in HOMING state.",
    "M": "Command not allowed in MOVING state.",
    "N": "Current position out of software limit.",
    "P": "Command not allowed in TRACKING state.",
    "S": "Communication Time Out.",
    "U": "Error during EEPROM access.",
    "V": "Error during command execution.",
    "W": "Command not allowed for PP version.",
    "X": "Command not allowed for CC version.",
}


@dataclass(frozen=True)
class ConexModel:
    """A controller and the rotation stage it drives.

    ``travel_deg`` is the angle validator's range: section 3 gives no travel;
    both stages turn without end stops, and one turn either way is taken.
    ``speed_dps``: AG-PR100P 1.5 deg/s (a public CONEX-AGP driver's figure),
    PR50CC 20 deg/s (UNVERIFIED); ``has_velocity``: the CONEX-AGP has no ``VA``.
    """

    controller: str
    stage: str
    travel_deg: tuple[float, float]
    speed_dps: float
    has_velocity: bool


MODELS: dict[str, ConexModel] = {
    "agp": ConexModel("CONEX-AGP", "AG-PR100P", (-360.0, 360.0), 1.5, False),
    "cc": ConexModel("CONEX-CC", "PR50CC", (-360.0, 360.0), 20.0, True),
}


@dataclass(frozen=True)
class ConexInfo:
    """Identity read at connection: ``VE`` (controller, firmware) and ``ID?``."""

    controller: str
    firmware: str
    stage_id: str


class ConexStatus(NamedTuple):
    """A ``TS`` reading: positioner error bits, controller state and its text."""

    errors: PositionerError
    state: ControllerState | int
    meaning: str


def encode(address: int, command: str, value: str = "") -> bytes:
    """One command line, e.g. ``encode(1, "PA", "45.0") == b"1PA45.0\\r\\n"``.

    Raises:
        ValueError: address not 1-31, command not two upper-case letters, or a
            value holding anything but printable ASCII.
    """
    if isinstance(address, bool) or not isinstance(address, int) or not 1 <= address <= 31:
        raise ValueError(f"CONEX controller address must be an int 1 to 31, got {address!r}")
    if not re.fullmatch(r"[A-Z]{2}", command):
        raise ValueError(f"CONEX command must be two upper-case letters, got {command!r}")
    if not re.fullmatch(r"[\x21-\x7e]*", value):
        raise ValueError(f"CONEX value must be printable ASCII without spaces, got {value!r}")
    return f"{address}{command}{value}".encode("ascii") + TERMINATOR


def format_value(value: float) -> str:
    """A decimal with up to 6 places and at least one (45 -> ``"45.0"``, as
    section 3's ``1PA45.0``; -11.25 -> ``"-11.25"``)."""
    text = f"{value:.6f}".rstrip("0")
    text = text + "0" if text.endswith(".") else text
    return "0.0" if text == "-0.0" else text


def reply_value(line: bytes, address: int, command: str) -> str:
    """The value after the echoed address and command, without CR LF or blanks.

    Raises:
        ConexReplyError: truncated (no CR LF), another address or command, not ASCII.
    """
    if not line.endswith(TERMINATOR):
        raise ConexReplyError("truncated reply (no CR LF)")
    prefix = f"{address}{command}".encode("ascii")
    if not line.startswith(prefix):
        raise ConexReplyError(f"expected a reply starting {prefix.decode()!r}")
    try:
        return line[len(prefix):-len(TERMINATOR)].decode("ascii").strip()
    except UnicodeDecodeError:
        raise ConexReplyError("reply is not ASCII") from None


def parse_float(text: str) -> float:
    """A position, velocity or limit value.

    Raises:
        ConexReplyError: not a finite decimal number.
    """
    if not re.fullmatch(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?", text):
        raise ConexReplyError(f"expected a number, got {text!r}")
    value = float(text)
    if not math.isfinite(value):
        raise ConexReplyError(f"expected a finite number, got {text!r}")
    return value


def parse_ts(text: str) -> tuple[PositionerError, int]:
    """``TS`` value: (positioner error bits, controller state code).

    Raises:
        ConexReplyError: not 6 hex digits (section 3: the reply is 9 characters long).
    """
    if not re.fullmatch(r"[0-9A-Fa-f]{6}", text):
        raise ConexReplyError(f"TS needs 4 + 2 hex digits, got {text!r}")
    return PositionerError(int(text[:4], 16)), int(text[4:], 16)


def parse_te(text: str) -> ConexError | str:
    """``TE`` value: the error enum, or the letter itself if no list has it.

    Raises:
        ConexReplyError: not exactly one character.
    """
    if len(text) != 1:
        raise ConexReplyError(f"TE answers one character, got {text!r}")
    try:
        return ConexError(ord(text))
    except ValueError:  # a letter no list has: kept as it is
        return text


def parse_version(text: str) -> tuple[str, str]:
    """``VE`` value ``"CONEX-AGP 2.0.1"`` -> (controller, firmware).

    Raises:
        ConexReplyError: fewer than two words.
    """
    words = text.split()
    if len(words) < 2:
        raise ConexReplyError(f"VE answers '<controller> <version>', got {text!r}")
    return words[0], words[-1]
