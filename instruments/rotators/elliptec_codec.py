"""Encoding and parsing of the Thorlabs Elliptec serial protocol. No I/O.

Facts: docs/protocols.md section 1 (framing 1.3, replies 1.5,
status codes 1.6). A frame is one hex address character, a two-letter
mnemonic (lower case from the host, upper case from the device) and an
optional upper-case hex data field; replies end CR LF.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum

TERMINATOR = b"\r\n"
ADDRESSES = "0123456789ABCDEF"


class ElliptecReplyError(ValueError):
    """A reply that is not a well-formed Elliptec frame or field (the driver
    reports it as a ``ProtocolError``)."""


class ElliptecStatus(IntEnum):
    """``GS`` status codes (docs/protocols.md 1.6, quoted from the manual)."""

    OK = 0
    COMMUNICATION_TIMEOUT = 1
    MECHANICAL_TIMEOUT = 2
    COMMAND_ERROR = 3
    VALUE_OUT_OF_RANGE = 4
    MODULE_ISOLATED = 5
    MODULE_OUT_OF_ISOLATION = 6
    INITIALIZING_ERROR = 7
    THERMAL_ERROR = 8
    BUSY = 9
    SENSOR_ERROR = 10
    MOTOR_ERROR = 11
    OUT_OF_RANGE = 12
    OVER_CURRENT = 13


STATUS_MEANING: dict[int, str] = {
    0: "OK, no error",
    1: "Communication time out",
    2: "Mechanical time out",
    3: "Command error or not supported",
    4: "Value out of range",
    5: "Module isolated",
    6: "Module out of isolation",
    7: "Initializing error",
    8: "Thermal error",
    9: "Busy",
    10: "Sensor error",
    11: "Motor error",
    12: "Out of range",
    13: "Over-current error",
}


def status_meaning(code: int) -> str:
    """The manual's text for a ``GS`` code (14-255 are reserved)."""
    return STATUS_MEANING.get(code, "Reserved")


def encode(address: str, command: str, data: str = "") -> bytes:
    """One host frame, e.g. ``encode("2", "ma", "00008C00") == b"2ma00008C00"``.

    No terminator is sent: the firmware needs none (docs/protocols.md 1.2).
    """
    if len(address) != 1 or address.upper() not in ADDRESSES:
        raise ValueError(f"Elliptec address must be one hex digit 0-F, got {address!r}")
    if not re.fullmatch(r"[a-z][a-z0-9]", command):
        raise ValueError(f"Elliptec command must be two lower-case characters, got {command!r}")
    if data and not re.fullmatch(r"[0-9A-F]+", data):
        raise ValueError(f"Elliptec data must be upper-case hex, got {data!r}")
    return (address.upper() + command + data).encode("ascii")


def encode_long(value: int) -> str:
    """A signed 32-bit value as 8 hex digits, two's complement (-10 deg on an
    ELL14 is ``FFFFF072``)."""
    if not -(2**31) <= value < 2**31:
        raise ValueError(f"value {value} does not fit a signed 32-bit long")
    return f"{value & 0xFFFFFFFF:08X}"


def decode_long(data: str) -> int:
    """8 hex digits, two's complement, to a signed int."""
    if not re.fullmatch(r"[0-9A-Fa-f]{8}", data):
        raise ElliptecReplyError(f"expected 8 hex digits, got {data!r}")
    value = int(data, 16)
    return value - (1 << 32) if value & 0x80000000 else value


def encode_char(value: int) -> str:
    """An unsigned byte as 2 hex digits."""
    if not 0 <= value <= 0xFF:
        raise ValueError(f"value {value} does not fit a byte")
    return f"{value:02X}"


@dataclass(frozen=True)
class Reply:
    """One parsed device reply."""

    address: str
    mnemonic: str
    data: str


_REPLY = re.compile(rb"([0-9A-F])([A-Z][A-Z0-9])([0-9A-Za-z]*)\r\n")


def parse_reply(line: bytes) -> Reply:
    """Parse one CR LF-terminated reply line.

    Raises:
        ElliptecReplyError: the line is not a well-formed Elliptec reply.
    """
    m = _REPLY.fullmatch(line)
    if m is None:
        raise ElliptecReplyError("malformed Elliptec reply")
    addr, mnemonic, data = (g.decode("ascii") for g in m.groups())
    return Reply(addr, mnemonic, data)


@dataclass(frozen=True)
class DeviceInfo:
    """The ``IN`` reply (docs/protocols.md 1.5)."""

    model: int
    serial: str
    year: int
    firmware: str
    imperial_thread: bool
    hardware_release: int
    travel: int
    pulses_per_unit: int

    @classmethod
    def parse(cls, data: str) -> DeviceInfo:
        """Parse the data after ``<addr>IN``; tolerates extra trailing
        characters of newer firmware (docs/protocols.md 1.5)."""
        if len(data) < 30:
            raise ElliptecReplyError(f"IN reply has {len(data)} data characters, expected 30")
        try:
            thread_hw = int(data[16:18], 16)
            info = cls(
                model=int(data[0:2], 16),
                serial=data[2:10],
                year=int(data[10:14]),
                firmware=data[14:16],
                imperial_thread=bool(thread_hw & 0x80),
                hardware_release=thread_hw & 0x7F,
                travel=int(data[18:22], 16),
                pulses_per_unit=int(data[22:30], 16),
            )
        except ValueError as exc:
            raise ElliptecReplyError(f"IN reply field is not a number: {exc}") from None
        if info.pulses_per_unit <= 0 or info.travel <= 0:
            raise ElliptecReplyError("IN reply gives zero travel or zero pulses")
        return info

    @property
    def model_name(self) -> str:
        return f"ELL{self.model}"
