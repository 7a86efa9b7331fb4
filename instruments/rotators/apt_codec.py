"""Encoding and parsing of the Thorlabs APT binary protocol. No I/O.

Facts: docs/protocols.md section 2 (header 2.3, message IDs
2.4, status bits 2.5, unit conversions 2.6). Every message starts with a
6-byte little-endian header. A short message carries two parameter bytes; a
long one sets bit 7 of the destination byte and is followed by a data packet
whose length is in header bytes 2-3.
"""

from __future__ import annotations

import dataclasses
import math
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum, IntFlag

HEADER_LENGTH = 6
I32_MAX = 2**31 - 1
MAX_DATA_LENGTH = 255  # "no datapacket exceeds 255 bytes" (2.3)
LONG_FLAG = 0x80
HOST = 0x01  # endpoint of the host PC (2.3)
USB_UNIT = 0x50  # generic USB hardware unit: a K-cube or a K10CR1 (2.3)
CHANNEL = 1  # the channel ident of a single-channel unit (2.4)


class AptFrameError(ValueError):
    """A message that is not a well-formed APT frame or payload (the driver
    reports it as a ``ProtocolError``)."""


class MessageId(IntEnum):
    """APT message IDs (docs/protocols.md 2.4)."""

    HW_DISCONNECT = 0x0002
    HW_REQ_INFO = 0x0005
    HW_GET_INFO = 0x0006
    HW_START_UPDATEMSGS = 0x0011
    HW_STOP_UPDATEMSGS = 0x0012
    HW_YES_FLASH_PROGRAMMING = 0x0017
    HW_NO_FLASH_PROGRAMMING = 0x0018
    HW_RESPONSE = 0x0080
    HW_RICHRESPONSE = 0x0081
    MOD_SET_CHANENABLESTATE = 0x0210
    MOD_REQ_CHANENABLESTATE = 0x0211
    MOD_GET_CHANENABLESTATE = 0x0212
    MOD_IDENTIFY = 0x0223
    MOT_REQ_ENCCOUNTER = 0x040A
    MOT_GET_ENCCOUNTER = 0x040B
    MOT_SET_POSCOUNTER = 0x0410
    MOT_REQ_POSCOUNTER = 0x0411
    MOT_GET_POSCOUNTER = 0x0412
    MOT_SET_VELPARAMS = 0x0413
    MOT_REQ_VELPARAMS = 0x0414
    MOT_GET_VELPARAMS = 0x0415
    MOT_SET_JOGPARAMS = 0x0416
    MOT_REQ_JOGPARAMS = 0x0417
    MOT_GET_JOGPARAMS = 0x0418
    MOT_SET_LIMSWITCHPARAMS = 0x0423
    MOT_REQ_LIMSWITCHPARAMS = 0x0424
    MOT_GET_LIMSWITCHPARAMS = 0x0425
    MOT_REQ_STATUSBITS = 0x0429
    MOT_GET_STATUSBITS = 0x042A
    MOT_SET_GENMOVEPARAMS = 0x043A
    MOT_REQ_GENMOVEPARAMS = 0x043B
    MOT_GET_GENMOVEPARAMS = 0x043C
    MOT_SET_HOMEPARAMS = 0x0440
    MOT_REQ_HOMEPARAMS = 0x0441
    MOT_GET_HOMEPARAMS = 0x0442
    MOT_MOVE_HOME = 0x0443
    MOT_MOVE_HOMED = 0x0444
    MOT_SET_MOVERELPARAMS = 0x0445
    MOT_MOVE_RELATIVE = 0x0448
    MOT_SET_MOVEABSPARAMS = 0x0450
    MOT_MOVE_ABSOLUTE = 0x0453
    MOT_MOVE_VELOCITY = 0x0457
    MOT_MOVE_COMPLETED = 0x0464
    MOT_MOVE_STOP = 0x0465
    MOT_MOVE_STOPPED = 0x0466
    MOT_MOVE_JOG = 0x046A
    MOT_SUSPEND_ENDOFMOVEMSGS = 0x046B
    MOT_RESUME_ENDOFMOVEMSGS = 0x046C
    MOT_REQ_STATUSUPDATE = 0x0480
    MOT_GET_STATUSUPDATE = 0x0481
    MOT_REQ_DCSTATUSUPDATE = 0x0490
    MOT_GET_DCSTATUSUPDATE = 0x0491
    MOT_ACK_DCSTATUSUPDATE = 0x0492


# data-packet length of every long message the driver parses (2.4)
REPLY_DATA_LENGTH: dict[int, int] = {
    MessageId.HW_GET_INFO: 84, MessageId.HW_RICHRESPONSE: 68,
    MessageId.MOT_GET_POSCOUNTER: 6, MessageId.MOT_GET_ENCCOUNTER: 6,
    MessageId.MOT_GET_STATUSBITS: 6, MessageId.MOT_GET_VELPARAMS: 14,
    MessageId.MOT_MOVE_COMPLETED: 14, MessageId.MOT_MOVE_STOPPED: 14,
    MessageId.MOT_GET_STATUSUPDATE: 14, MessageId.MOT_GET_DCSTATUSUPDATE: 14,
}
# messages that come as a bare header (2.4)
SHORT_REPLIES = frozenset({MessageId.HW_RESPONSE, MessageId.MOT_MOVE_HOMED,
                           MessageId.MOD_GET_CHANENABLESTATE})
# status updates a unit sends on its own while update messages are on (2.4)
STATUS_UPDATES = frozenset({MessageId.MOT_GET_STATUSUPDATE, MessageId.MOT_GET_DCSTATUSUPDATE})
# messages that end a motion (2.5: MSL waits for these)
MOVE_ENDS = frozenset({MessageId.MOT_MOVE_HOMED, MessageId.MOT_MOVE_COMPLETED,
                       MessageId.MOT_MOVE_STOPPED})


def message_name(msg_id: int) -> str:
    """``MOT_MOVE_COMPLETED`` for 0x0464; ``0x1234`` for an unknown ID."""
    try:
        return MessageId(msg_id).name
    except ValueError:
        return f"0x{msg_id:04X}"


class StatusBits(IntFlag):
    """The 32 status bits of STATUSBITS, STATUSUPDATE, DCSTATUSUPDATE and
    MOVE_COMPLETED (docs/protocols.md 2.5; names as the manual and
    thorlabs-apt-device give them). Which way "forward" turns is a matter of
    configuration on some controllers (2.5): the bit positions are fixed."""

    FORWARD_LIMIT_SWITCH = 1 << 0
    REVERSE_LIMIT_SWITCH = 1 << 1
    FORWARD_LIMIT_SOFT = 1 << 2
    REVERSE_LIMIT_SOFT = 1 << 3
    MOVING_FORWARD = 1 << 4
    MOVING_REVERSE = 1 << 5
    JOGGING_FORWARD = 1 << 6
    JOGGING_REVERSE = 1 << 7
    MOTOR_CONNECTED = 1 << 8
    HOMING = 1 << 9
    HOMED = 1 << 10
    INITIALIZING = 1 << 11
    TRACKING = 1 << 12
    SETTLED = 1 << 13
    MOTION_ERROR = 1 << 14
    INSTRUMENT_ERROR = 1 << 15
    INTERLOCK = 1 << 16
    OVERTEMP = 1 << 17
    VOLTAGE_FAULT = 1 << 18
    COMMUTATION_ERROR = 1 << 19
    DIGITAL_INPUT_1 = 1 << 20
    DIGITAL_INPUT_2 = 1 << 21
    DIGITAL_INPUT_3 = 1 << 22
    DIGITAL_INPUT_4 = 1 << 23
    MOTOR_CURRENT_LIMIT_REACHED = 1 << 24
    ENCODER_FAULT = 1 << 25
    OVERCURRENT = 1 << 26
    CURRENT_FAULT = 1 << 27
    POWER_OK = 1 << 28
    ACTIVE = 1 << 29
    ERROR = 1 << 30
    CHANNEL_ENABLED = 1 << 31

    @property
    def is_moving(self) -> bool:
        """Moving, jogging or homing (MSL's test, 2.5). ``ACTIVE`` is left
        out: its meaning is not documented for every controller."""
        return bool(self & _MOVING)

    @property
    def faults(self) -> StatusBits:
        """The bits that report a fault (motion, instrument, supply, encoder,
        current, temperature, interlock, error)."""
        return self & _FAULTS

    def __format__(self, spec: str) -> str:
        """The word as 8 hex digits (``0x90004500``), as device codes print."""
        return f"0x{int(self):08X}"

    def names(self) -> list[str]:
        """The names of the set bits, lowest bit first."""
        return [bit.name for bit in StatusBits if self & bit and bit.name]


def describe_status(bits: int) -> str:
    """A status word in words: its fault bits first, then every set bit.

    ``describe_status(0x90004500)`` is ``"MOTION_ERROR set (status bits
    MOTOR_CONNECTED|HOMED|MOTION_ERROR|POWER_OK|CHANNEL_ENABLED)"``. The names
    are those of the APT protocol's status-bit list (docs/protocols.md 2.5:
    Thorlabs' Host-Controller Communications Protocol, with the names
    thorlabs-apt-device's ``_parse_status_bits`` and pyLabLib's
    ``status_bits`` give the same bit positions).
    """
    word = StatusBits(bits & 0xFFFFFFFF)
    faults = "|".join(word.faults.names()) or "no fault bit"
    return f"{faults} set (status bits {'|'.join(word.names()) or 'none'})"


_MOVING = (StatusBits.MOVING_FORWARD | StatusBits.MOVING_REVERSE | StatusBits.JOGGING_FORWARD
           | StatusBits.JOGGING_REVERSE | StatusBits.HOMING)
_FAULTS = (StatusBits.MOTION_ERROR | StatusBits.INSTRUMENT_ERROR | StatusBits.INTERLOCK
           | StatusBits.OVERTEMP | StatusBits.VOLTAGE_FAULT | StatusBits.COMMUTATION_ERROR
           | StatusBits.ENCODER_FAULT | StatusBits.OVERCURRENT | StatusBits.CURRENT_FAULT
           | StatusBits.ERROR)


# -- frames -------------------------------------------------------------------
def encode_short(msg_id: int, param1: int = 0, param2: int = 0,
                 dest: int = USB_UNIT, source: int = HOST) -> bytes:
    """A header-only message, e.g. ``encode_short(0x0005) == b"\\x05\\x00\\x00\\x00\\x50\\x01"``."""
    return struct.pack("<HBBBB", msg_id, param1, param2, dest, source)


def encode_long(msg_id: int, data: bytes, dest: int = USB_UNIT, source: int = HOST) -> bytes:
    """A header with the long flag, then ``data`` (at most 255 bytes)."""
    if len(data) > MAX_DATA_LENGTH:
        raise ValueError(f"APT data packet of {len(data)} bytes exceeds {MAX_DATA_LENGTH}")
    return struct.pack("<HHBB", msg_id, len(data), dest | LONG_FLAG, source) + data


def encode_chan_i32(msg_id: int, value: int, channel: int = CHANNEL) -> bytes:
    """A long message of channel u16 and a signed 32-bit value (moves, counters)."""
    _check_i32(value)
    return encode_long(msg_id, struct.pack("<Hi", channel, value))


@dataclass(frozen=True)
class Header:
    """A parsed 6-byte header; ``data_length`` is None for a short message."""

    msg_id: int
    param1: int
    param2: int
    data_length: int | None
    dest: int
    source: int


def parse_header(header: bytes) -> Header:
    """Parse 6 header bytes.

    Raises:
        AptFrameError: not 6 bytes, or a long packet longer than 255 bytes.
    """
    if len(header) != HEADER_LENGTH:
        raise AptFrameError(f"APT header needs {HEADER_LENGTH} bytes, got {len(header)}")
    msg_id, p1, p2, dest, source = struct.unpack("<HBBBB", header)
    if dest & LONG_FLAG:
        length = p1 | (p2 << 8)
        if length > MAX_DATA_LENGTH:
            raise AptFrameError(f"data length {length} exceeds {MAX_DATA_LENGTH}")
        return Header(msg_id, 0, 0, length, dest & ~LONG_FLAG, source)
    return Header(msg_id, p1, p2, None, dest, source)


@dataclass(frozen=True)
class Frame:
    """One whole message from the device."""

    header: Header
    data: bytes
    raw: bytes

    @property
    def msg_id(self) -> int:
        return self.header.msg_id

    @property
    def name(self) -> str:
        return message_name(self.header.msg_id)


def check_form(frame: Frame) -> None:
    """Check that a known reply has its documented form and length.

    Raises:
        AptFrameError: a short reply sent long, a long one sent short, or a
            data packet of the wrong length.
    """
    length = frame.header.data_length
    expected = REPLY_DATA_LENGTH.get(frame.msg_id)
    if expected is not None and length != expected:
        form = "a short message" if length is None else f"{length} data bytes"
        raise AptFrameError(f"{frame.name} needs {expected} data bytes, got {form}")
    if frame.msg_id in SHORT_REPLIES and length is not None:
        raise AptFrameError(f"{frame.name} must be a short message, got {length} data bytes")


# -- payloads -----------------------------------------------------------------
def _check_i32(value: int) -> None:
    if not -(2**31) <= value <= I32_MAX:
        raise ValueError(f"value {value} does not fit a signed 32-bit integer")


def decode_chan_i32(data: bytes) -> tuple[int, int]:
    """(channel, value) of GET_POSCOUNTER / GET_ENCCOUNTER (chan u16, i32)."""
    if len(data) != 6:
        raise AptFrameError(f"expected 6 data bytes, got {len(data)}")
    chan, value = struct.unpack("<Hi", data)
    return int(chan), int(value)


def decode_chan_u32(data: bytes) -> tuple[int, int]:
    """(channel, value) of GET_STATUSBITS (chan u16, u32)."""
    if len(data) != 6:
        raise AptFrameError(f"expected 6 data bytes, got {len(data)}")
    chan, value = struct.unpack("<HI", data)
    return int(chan), int(value)


@dataclass(frozen=True)
class StatusPayload:
    """The 14-byte status payload of MOVE_COMPLETED, MOVE_STOPPED,
    GET_STATUSUPDATE and GET_DCSTATUSUPDATE: channel, position (counts),
    then 4 bytes that are the encoder count (STATUSUPDATE) or a velocity and
    a reserved word (DCSTATUSUPDATE), then the status bits (2.4)."""

    channel: int
    position_counts: int
    middle: bytes
    status: StatusBits

    @classmethod
    def parse(cls, data: bytes) -> StatusPayload:
        if len(data) != 14:
            raise AptFrameError(f"status payload needs 14 bytes, got {len(data)}")
        chan, pos, middle, status = struct.unpack("<Hi4sI", data)
        return cls(int(chan), int(pos), bytes(middle), StatusBits(status))


@dataclass(frozen=True)
class VelocityParams:
    """MOT_SET/GET_VELPARAMS in the controller's internal units (2.4)."""

    channel: int
    min_velocity: int
    acceleration: int
    max_velocity: int

    @classmethod
    def parse(cls, data: bytes) -> VelocityParams:
        if len(data) != 14:
            raise AptFrameError(f"velocity parameters need 14 bytes, got {len(data)}")
        chan, vmin, acc, vmax = struct.unpack("<Hiii", data)
        return cls(int(chan), int(vmin), int(acc), int(vmax))

    def encode(self) -> bytes:
        """The MOT_SET_VELPARAMS message."""
        for value in (self.min_velocity, self.acceleration, self.max_velocity):
            _check_i32(value)
        data = struct.pack("<Hiii", self.channel, self.min_velocity, self.acceleration,
                           self.max_velocity)
        return encode_long(MessageId.MOT_SET_VELPARAMS, data)


@dataclass(frozen=True)
class RichResponse:
    """HW_RICHRESPONSE: the message that failed, an error code and the
    device's own text (2.4)."""

    msg_ident: int
    code: int
    notes: str

    @classmethod
    def parse(cls, data: bytes) -> RichResponse:
        if len(data) != 68:
            raise AptFrameError(f"HW_RICHRESPONSE needs 68 data bytes, got {len(data)}")
        msg_ident, code = struct.unpack("<HH", data[:4])
        return cls(int(msg_ident), int(code), _text(data[4:]))


def _text(raw: bytes) -> str:
    """NUL-terminated ASCII; bytes after the NUL may be junk (2.4, MSL)."""
    return raw.split(b"\x00", 1)[0].decode("ascii", errors="replace").strip()


@dataclass(frozen=True)
class HardwareInfo:
    """HW_GET_INFO (84 bytes, docs/protocols.md 2.4)."""

    serial: str
    model: str
    hardware_type: int
    firmware: str
    notes: str
    stage_id: int
    hardware_version: int
    modification_state: int
    channels: int

    @classmethod
    def parse(cls, data: bytes) -> HardwareInfo:
        if len(data) != 84:
            raise AptFrameError(f"HW_GET_INFO needs 84 data bytes, got {len(data)}")
        serial, model, hw_type, fw, notes, extra, hw_ver, mod_state, channels = struct.unpack(
            "<I8sH4s48s12sHHH", data)
        if not re.fullmatch(rb"[\x20-\x7e]*", model.split(b"\x00", 1)[0]):
            raise AptFrameError(f"HW_GET_INFO model field is not ASCII text: {model!r}")
        minor, interim, major = fw[0], fw[1], fw[2]
        return cls(serial=f"{serial:08d}", model=_text(model), hardware_type=int(hw_type),
                   firmware=f"{major}.{interim}.{minor}", notes=_text(notes),
                   stage_id=int(struct.unpack("<H", extra[10:12])[0]),
                   hardware_version=int(hw_ver), modification_state=int(mod_state),
                   channels=int(channels))


# -- stages and units (docs/protocols.md 2.6) -------------------------------------
K10CR1_COUNTS_PER_DEG = 409600 / 3  # 200 steps x 2048 microsteps x 120:1 worm / 360
K10CR1_VELOCITY_SCALE = 53.68  # internal velocity per (count/s)
K10CR1_ACCELERATION_SCALE = 53.68 * 204.94e-6  # internal acceleration per (count/s^2)
KDC101_TIME_UNIT_S = 2048 / 6e6  # T = 2048 / 6 MHz
PRM1Z8_COUNTS_PER_DEG = 512 * 67 / 17.87  # 1919.6418578623391
# stage IDs a KDC101 reports at HW_GET_INFO offset 76 (pyLabLib, 2.4)
KDC101_STAGE_IDS = {2: "Z706", 3: "Z712", 4: "Z725", 5: "CR1-Z7", 6: "PRM1-Z8", 7: "MTS25-Z8",
                    8: "MTS50-Z8", 9: "Z825", 10: "Z812", 11: "Z806"}


@dataclass(frozen=True)
class Stage:
    """A motor on its controller: counts per degree, the controller's
    velocity and acceleration scales, and the travel.

    Args:
        name: stage name, e.g. ``"PRM1Z8"``.
        counts_per_deg: position counts per degree.
        velocity_per_deg_s: internal velocity units per deg/s.
        acceleration_per_deg_s2: internal acceleration units per deg/s^2.
        travel_deg: (min, max) for a stage with limited travel; None for a
            continuous rotation stage, which accepts -360 to 360 degrees.
        max_velocity_deg_s: largest velocity the driver will set (deg/s).
        max_acceleration_deg_s2: largest acceleration it will set (deg/s^2).
    """

    name: str
    counts_per_deg: float
    velocity_per_deg_s: float
    acceleration_per_deg_s2: float
    travel_deg: tuple[float, float] | None
    max_velocity_deg_s: float
    max_acceleration_deg_s2: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.counts_per_deg) and self.counts_per_deg > 0):
            raise ValueError(f"stage {self.name}: counts per degree must be > 0, "
                             f"got {self.counts_per_deg!r}")
        if self.travel_deg is not None:
            lo, hi = self.travel_deg
            if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
                raise ValueError(f"stage {self.name}: travel must be (min, max) with min < max, "
                                 f"got {self.travel_deg!r}")

    @property
    def angle_range_deg(self) -> tuple[float, float]:
        """The angles a move may target (degrees)."""
        return self.travel_deg if self.travel_deg is not None else (-360.0, 360.0)

    def counts(self, angle_deg: float) -> int:
        """Position counts of ``angle_deg``, rounded to the nearest count."""
        value = round(angle_deg * self.counts_per_deg)
        _check_i32(value)
        return value

    def degrees(self, counts: int) -> float:
        return counts / self.counts_per_deg

    def velocity_internal(self, deg_s: float) -> int:
        return round(deg_s * self.velocity_per_deg_s)

    def acceleration_internal(self, deg_s2: float) -> int:
        return round(deg_s2 * self.acceleration_per_deg_s2)


def k10cr1_stage() -> Stage:
    """The K10CR1's own worm-gear stage (2.6). Maximum velocity and
    acceleration: the MSL defaults of 2.6 (10 deg/s, 10 deg/s^2); the
    reference gives no higher limit."""
    cpd = K10CR1_COUNTS_PER_DEG
    return Stage("K10CR1", cpd, cpd * K10CR1_VELOCITY_SCALE, cpd * K10CR1_ACCELERATION_SCALE,
                 None, 10.0, 10.0)


def kdc101_stage(name: str, counts_per_deg: float, travel_deg: tuple[float, float] | None = None,
                 max_velocity_deg_s: float = 25.0,
                 max_acceleration_deg_s2: float = 25.0) -> Stage:
    """A stage on a KDC101: velocity = counts/s x T x 65536 and acceleration =
    counts/s^2 x T^2 x 65536 with T = 2048 / 6 MHz (2.6)."""
    t = KDC101_TIME_UNIT_S
    return Stage(name, counts_per_deg, counts_per_deg * t * 65536,
                 counts_per_deg * t * t * 65536, travel_deg, max_velocity_deg_s,
                 max_acceleration_deg_s2)


# KDC101 stages known by name; PRM1Z8 maxima (25 deg/s, 25 deg/s^2) are the
# Thorlabs catalogue figures, from memory (UNVERIFIED: the reference has none)
KDC101_STAGES: dict[str, tuple[float, tuple[float, float] | None]] = {
    "PRM1Z8": (PRM1Z8_COUNTS_PER_DEG, None),
}


def normalize_stage_name(name: str) -> str:
    """``"PRM1-Z8"``, ``"prm1z8"`` and ``"PRM1/Z8"`` all give ``"PRM1Z8"``."""
    return re.sub(r"[^0-9A-Z]", "", name.upper())


def kdc101_stage_for(stage: str | None, counts_per_deg: float | None = None,
                     travel_deg: Sequence[float] | None = None) -> Stage:
    """The KDC101 stage named ``stage`` (default PRM1Z8), or one given by its
    ``counts_per_deg``, with an optional ``travel_deg`` (min, max).

    Raises:
        ValueError: an unknown name, both a name and counts, or a bad travel.
    """
    travel = None
    if travel_deg is not None:
        if len(travel_deg) != 2:
            raise ValueError(f"travel_deg must be (min, max) in degrees, got {travel_deg!r}")
        travel = (float(travel_deg[0]), float(travel_deg[1]))
    if counts_per_deg is not None:
        if stage is not None:
            raise ValueError("give a KDC101 stage by name or by counts_per_deg, not both")
        # no catalogue limits: the largest values the i32 fields hold
        unit = kdc101_stage("custom", float(counts_per_deg))
        return kdc101_stage(f"custom ({counts_per_deg:g} counts/deg)", float(counts_per_deg),
                            travel, max_velocity_deg_s=I32_MAX / unit.velocity_per_deg_s,
                            max_acceleration_deg_s2=I32_MAX / unit.acceleration_per_deg_s2)
    key = normalize_stage_name(stage or "PRM1Z8")
    if key not in KDC101_STAGES:
        raise ValueError(f"unknown KDC101 stage {stage!r}: known stages are "
                         f"{', '.join(sorted(KDC101_STAGES))}; for another stage give "
                         "counts_per_deg= (and travel_deg=(min, max) if its travel is limited)")
    counts, default_travel = KDC101_STAGES[key]
    return kdc101_stage(key, counts, travel if travel is not None else default_travel)


def with_limits(stage: Stage, max_velocity_deg_s: float | None = None,
                max_acceleration_deg_s2: float | None = None) -> Stage:
    """``stage`` with other velocity and acceleration maxima."""
    return dataclasses.replace(
        stage,
        max_velocity_deg_s=(stage.max_velocity_deg_s if max_velocity_deg_s is None
                            else float(max_velocity_deg_s)),
        max_acceleration_deg_s2=(stage.max_acceleration_deg_s2 if max_acceleration_deg_s2 is None
                                 else float(max_acceleration_deg_s2)))
