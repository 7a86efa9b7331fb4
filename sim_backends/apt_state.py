"""Protocol constants, message helpers and axis state of the APT emulator.

From docs/protocols.md section 2: message IDs (2.4), status bits (2.5), unit
conversions (2.6), reply framing (2.3), and the axis model (position counter,
motion parameters, homing, the motion in progress) that
:mod:`qnic.sim.apt_emulator` drives. No I/O and no clock here: this module
answers "where is the stage and what do its status bits say at time t".
"""

from __future__ import annotations

import enum
import math
import struct
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from qnic.sim.faults import FaultSpec
from qnic.sim.motion import RotatorMotion

HOST = 0x01  # 2.3: host PC endpoint
USB_UNIT = 0x50  # 2.3: generic USB hardware unit (a K-cube, a K10CR1)
LONG_FLAG = 0x80  # 2.3: destination OR 0x80 = "data packet follows"
MAX_DATA_LEN = 255  # 2.3: no data packet exceeds 255 bytes
CHANNEL = 1  # 2.4: "chan" is 1 for single-channel units
I32_MIN, I32_MAX = -(1 << 31), (1 << 31) - 1


class MsgId(enum.IntEnum):
    """APT message IDs (docs/protocols.md 2.4). GET = REQ + 1 (2.3)."""

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
    # REQ/GET of the move parameters follow the SET/REQ/GET = n/n+1/n+2
    # pattern of every other parameter triple in 2.4 (the table lists SET only)
    MOT_REQ_MOVERELPARAMS = 0x0446
    MOT_GET_MOVERELPARAMS = 0x0447
    MOT_MOVE_RELATIVE = 0x0448
    MOT_SET_MOVEABSPARAMS = 0x0450
    MOT_REQ_MOVEABSPARAMS = 0x0451
    MOT_GET_MOVEABSPARAMS = 0x0452
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


class StatusBit(enum.IntFlag):
    """Status word bits (docs/protocols.md 2.5; thorlabs-apt-device names).

    "Forward" is the direction of increasing position counts, the manual's
    sense (2.5: drivers disagree; the emulator keeps the bit positions).
    """

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
    MOTOR_CURRENT_LIMIT_REACHED = 1 << 24
    ENCODER_FAULT = 1 << 25
    OVERCURRENT = 1 << 26
    CURRENT_FAULT = 1 << 27
    POWER_OK = 1 << 28
    ACTIVE = 1 << 29
    ERROR = 1 << 30
    CHANNEL_ENABLED = 1 << 31


class Notice(enum.IntEnum):
    """Codes this emulator puts in HW_RICHRESPONSE / HW_RESPONSE notices.

    The reference gives the notices' layout (2.4) but no code table, so these
    numbers are the emulator's own; a driver should report them, not decode them.
    """

    UNKNOWN_MESSAGE = 0x01
    MALFORMED = 0x02
    BAD_CHANNEL = 0x03
    OUT_OF_RANGE = 0x04
    CHANNEL_DISABLED = 0x05
    DEVICE_FAULT = 0x0D  # the default code of an injected ERROR_CODE fault


# -- messages --------------------------------------------------------------
# 2.4 parameter triples: SET id -> (REQ id, data layout after the chan u16, AptParams fields)
PARAM_SETS: dict[MsgId, tuple[MsgId, str, tuple[str, ...]]] = {
    MsgId.MOT_SET_VELPARAMS: (MsgId.MOT_REQ_VELPARAMS, "iii", ("min_vel", "accel", "max_vel")),
    MsgId.MOT_SET_JOGPARAMS: (MsgId.MOT_REQ_JOGPARAMS, "HiiiiH", (
        "jog_mode", "jog_step", "jog_min_vel", "jog_accel", "jog_max_vel", "jog_stop_mode")),
    MsgId.MOT_SET_LIMSWITCHPARAMS: (MsgId.MOT_REQ_LIMSWITCHPARAMS, "HHiiH", (
        "lim_cw_hard", "lim_ccw_hard", "lim_cw_soft", "lim_ccw_soft", "lim_mode")),
    MsgId.MOT_SET_GENMOVEPARAMS: (MsgId.MOT_REQ_GENMOVEPARAMS, "i", ("backlash",)),
    MsgId.MOT_SET_HOMEPARAMS: (MsgId.MOT_REQ_HOMEPARAMS, "HHii", (
        "home_dir", "home_limit_switch", "home_vel", "home_offset")),
    MsgId.MOT_SET_MOVERELPARAMS: (MsgId.MOT_REQ_MOVERELPARAMS, "i", ("move_rel",)),
    MsgId.MOT_SET_MOVEABSPARAMS: (MsgId.MOT_REQ_MOVEABSPARAMS, "i", ("move_abs",)),
}
POSITIVE_PARAMS = frozenset({"accel", "max_vel", "jog_accel", "jog_max_vel", "home_vel"})


class Frame(NamedTuple):
    """One message from the host: ID, header params (short) or data (long)."""

    msg_id: int
    param1: int
    param2: int
    data: bytes | None  # None for a short message


class Rejected(Exception):
    """A message the device does not act on; answered with a notice."""

    def __init__(self, code: Notice) -> None:
        super().__init__(code.name)
        self.code = code


def short_msg(msg_id: int, param1: int = 0, param2: int = 0) -> bytes:
    """A short reply header (2.3): ID, param1, param2, dest 0x01, source 0x50."""
    return struct.pack("<HBBBB", msg_id, param1, param2, HOST, USB_UNIT)


def long_msg(msg_id: int, data: bytes) -> bytes:
    """A long reply (2.3): ID, length, dest 0x01 | 0x80, source 0x50, data."""
    return struct.pack("<HHBB", msg_id, len(data), HOST | LONG_FLAG, USB_UNIT) + data


def expect_short(f: Frame) -> bool:
    """True for a short message; a long one where a short one belongs is malformed."""
    if f.data is not None:
        raise Rejected(Notice.MALFORMED)
    return True


def request_channel(f: Frame) -> int:
    """The channel of a short request (param1 = chan, 2.4)."""
    expect_short(f)
    return check_channel(f.param1)


def check_channel(ident: int) -> int:
    """``ident`` if it names the one channel (1), else rejected."""
    if ident != CHANNEL:
        raise Rejected(Notice.BAD_CHANNEL)
    return ident


def jog_direction(f: Frame) -> int:
    """+1 / -1 from a short message's param2 (2.4: 1 forward, 2 reverse)."""
    request_channel(f)
    if f.param2 not in (1, 2):
        raise Rejected(Notice.OUT_OF_RANGE)
    return 1 if f.param2 == 1 else -1


def unpack_chan(f: Frame, layout: str) -> tuple[int, ...]:
    """The fields after the chan u16 of a long message with exactly that layout."""
    fmt = "<H" + layout
    if f.data is None or len(f.data) != struct.calcsize(fmt):
        raise Rejected(Notice.MALFORMED)
    chan, *values = struct.unpack(fmt, f.data)
    check_channel(chan)
    return tuple(values)


def notice_msg(msg_id: int, code: int, rich: bool = True) -> bytes:
    """An error notice about message ``msg_id`` (2.4).

    Rich: HW_RICHRESPONSE, msg_ident u16, code u16, notes char[64] (NUL-padded
    ASCII). Short: HW_RESPONSE with param1 = code (low byte), param2 = 0.
    """
    if not rich:
        return short_msg(MsgId.HW_RESPONSE, code & 0xFF, 0)
    try:
        text = Notice(code).name.lower().replace("_", " ")
    except ValueError:
        text = "device fault"
    note = f"{text} (msg 0x{msg_id & 0xFFFF:04X})".encode("ascii")
    return long_msg(MsgId.HW_RICHRESPONSE, struct.pack("<HH64s", msg_id & 0xFFFF, code, note))


def hw_info(model: StageModel, serial: int, firmware: tuple[int, int, int],
            hw_version: int = 1) -> bytes:
    """The 84-byte HW_GET_INFO data (docs/protocols.md 2.4 layout).

    Hardware type (16) and hardware version are emulator values; the
    reference gives none. The stage ID sits at offset 76 (pyLabLib, 2.4).
    """
    major, interim, minor = firmware
    empty = bytearray(12)
    empty[10:12] = struct.pack("<H", model.stage_id)
    return struct.pack("<I8sH4s48s12sHHH", serial, model.model_string.encode("ascii"), 16,
                       bytes([minor, interim, major, 0]), model.notes.encode("ascii"),
                       bytes(empty), hw_version, 0, 1)


# -- models and the axis ----------------------------------------------------
@dataclass(frozen=True)
class StageModel:
    """What differs between the emulated controllers (docs/protocols.md 2.2, 2.4, 2.6).

    Attributes:
        key: the ``sim://`` model name.
        model_string: HW_GET_INFO model number (ASCII, at most 8 bytes).
        serial_prefix: first two digits of the 8-digit serial number (2.2).
        counts_per_deg: position counts per degree of the stage (2.6).
        vel_per_dps: device velocity units per degree/second (2.6).
        acc_per_dps2: device acceleration units per degree/second^2 (2.6).
        has_encoder: answers MOT_REQ_ENCCOUNTER (the K10CR1 has no encoder).
        update_msg: the periodic status message: STATUSUPDATE for the
            stepper, DCSTATUSUPDATE for the DC servo.
        stage_id: u16 at HW_GET_INFO offset 76 (2.4: 6 = PRM1-Z8; 0 = none).
        notes: HW_GET_INFO notes text.
    """

    key: str
    model_string: str
    serial_prefix: str
    counts_per_deg: float
    vel_per_dps: float
    acc_per_dps2: float
    has_encoder: bool
    update_msg: MsgId
    stage_id: int
    notes: str


# 2.6 K10CR1: 200 steps x 2048 microsteps x 120:1 = 49,152,000 per turn;
# velocity = counts/s x 53.68; acceleration = counts/s^2 x 53.68 x 204.94e-6
_K10_CPD = 409600.0 / 3.0
K10CR1 = StageModel(
    key="k10cr1", model_string="K10CR1", serial_prefix="55",
    counts_per_deg=_K10_CPD, vel_per_dps=_K10_CPD * 53.68,
    acc_per_dps2=_K10_CPD * 53.68 * 204.94e-6, has_encoder=False,
    update_msg=MsgId.MOT_GET_STATUSUPDATE, stage_id=0,
    notes="K10CR1 stepper motor rotation mount")

# 2.6 KDC101 + PRM1-Z8: 512 x 67 / 17.87 counts per degree; T = 2048 / 6 MHz;
# velocity = counts/s x T x 65536; acceleration = counts/s^2 x T^2 x 65536
_PRM_CPD = 1919.6418578623391
_T_S = 2048.0 / 6e6
KDC101 = StageModel(
    key="kdc101", model_string="KDC101", serial_prefix="27",
    counts_per_deg=_PRM_CPD, vel_per_dps=_PRM_CPD * _T_S * 65536.0,
    acc_per_dps2=_PRM_CPD * _T_S * _T_S * 65536.0, has_encoder=True,
    update_msg=MsgId.MOT_GET_DCSTATUSUPDATE, stage_id=6,
    notes="KDC101 DC servo controller, PRM1-Z8 stage")

MODELS: dict[str, StageModel] = {m.key: m for m in (K10CR1, KDC101)}


@dataclass
class AptParams:
    """Motion parameters in device units, as the SET/GET messages carry them (2.4)."""

    min_vel: int
    accel: int
    max_vel: int
    jog_mode: int
    jog_step: int
    jog_min_vel: int
    jog_accel: int
    jog_max_vel: int
    jog_stop_mode: int
    home_dir: int
    home_limit_switch: int
    home_vel: int
    home_offset: int
    backlash: int
    lim_cw_hard: int = 1
    lim_ccw_hard: int = 1
    lim_cw_soft: int = 0
    lim_ccw_soft: int = 0
    lim_mode: int = 1
    move_rel: int = 0
    move_abs: int = 0

    @classmethod
    def power_up(cls, model: StageModel) -> AptParams:
        """Power-up values: MSL's connect defaults (2.6: 10 deg/s, 10 deg/s^2,
        backlash 1 deg, home reverse to the reverse switch at 10 deg/s, offset
        4 deg); the reference gives no factory values, so these stand in. Jog:
        the same speeds with a 5 degree step (emulator choice)."""
        vel = round(10.0 * model.vel_per_dps)
        acc = round(10.0 * model.acc_per_dps2)
        cpd = model.counts_per_deg
        return cls(min_vel=0, accel=acc, max_vel=vel, jog_mode=2, jog_step=round(5 * cpd),
                   jog_min_vel=0, jog_accel=acc, jog_max_vel=vel, jog_stop_mode=2,
                   home_dir=2, home_limit_switch=1, home_vel=vel,
                   home_offset=round(4 * cpd), backlash=round(1 * cpd))

    def set_from(self, set_id: MsgId, f: Frame) -> list[bytes]:
        """Store the values of a MOT_SET_x message (layouts in ``PARAM_SETS``).

        Raises:
            Rejected: malformed, another channel, or a value out of range.
        """
        _, layout, names = PARAM_SETS[set_id]
        values = dict(zip(names, unpack_chan(f, layout)))
        if any(values[n] <= 0 for n in POSITIVE_PARAMS & set(values)) or (
                values.get("home_dir", 1) not in (1, 2)):
            raise Rejected(Notice.OUT_OF_RANGE)
        for name, value in values.items():
            setattr(self, name, value)
        return []

    def get_msg(self, set_id: MsgId, f: Frame) -> bytes:
        """The MOT_GET_x reply (ID = REQ + 1) to the short request ``f``."""
        req_id, layout, names = PARAM_SETS[set_id]
        request_channel(f)
        data = struct.pack("<H" + layout, CHANNEL, *(getattr(self, n) for n in names))
        return long_msg(req_id + 1, data)


class MotionKind(enum.Enum):
    """What the stage is doing; decides its status bits and its final message."""

    MOVE = "move"
    JOG = "jog"
    HOME = "home"
    VELOCITY = "velocity"
    STOP = "stop"  # a profiled stop decelerating


@dataclass
class Motion:
    """A motion in progress; it ends (and sends ``final``) at ``end_s``.

    Attributes:
        kind: what started it.
        direction: +1 towards increasing counts, -1 the other way, 0 none.
        end_s: virtual time it ends (seconds).
        final: the end-of-move message (MOVE_COMPLETED, MOVE_HOMED, MOVE_STOPPED).
        stalled: it stops short (Fault.STALL): MOVE_STOPPED and motion_error.
        home_ref_deg: for homing, the motor angle where the counter will read 0.
        damage: an injected reply fault for the final message (TRUNCATED/GARBLED).
    """

    kind: MotionKind
    direction: int
    end_s: float
    final: MsgId
    stalled: bool = False
    home_ref_deg: float | None = None
    damage: FaultSpec | None = None


class AptAxis:
    """One motor channel: counter, parameters, homing and the motion in progress.

    Args:
        model: the controller and stage.
        motor: the rotor (a bench arm's HWP motor or a private one).
        now_s: virtual time of power-up (seconds).
        zero_deg: motor angle where the counter reads 0 after homing with the
            power-up home parameters (degrees).
        homed: power up homed (the counter reads the angle from home, in
            [0, 360) degrees) instead of unhomed (it reads 0 where the rotor stands).
    """

    def __init__(self, model: StageModel, motor: RotatorMotion, *, now_s: float = 0.0,
                 zero_deg: float = 0.0, homed: bool = False) -> None:
        self.model = model
        self.motor = motor
        self.params = AptParams.power_up(model)
        # the home switch sits the power-up home offset before zero_deg
        self.switch_deg = float(zero_deg) - self.params.home_offset / model.counts_per_deg
        self.power_up(now_s, homed=homed)

    def power_up(self, now_s: float, homed: bool = False) -> None:
        """Power-on state: default parameters, channel enabled, no motion, no error."""
        self.params = AptParams.power_up(self.model)
        self.enabled = True
        self.motion: Motion | None = None
        self.motion_error = False
        self.is_homed = homed
        here, home = self.angle_deg(now_s), self.home_angle_deg()
        self.ref_deg = home + 360.0 * math.floor((here - home) / 360.0) if homed else here

    # -- geometry ----------------------------------------------------------
    def angle_deg(self, t_s: float) -> float:
        """Motor angle (degrees, unwrapped) at virtual time ``t_s``."""
        return float(self.motor.angle_at(np.array([t_s]))[0])

    def counts_at(self, t_s: float) -> int:
        """Position counter (counts) at ``t_s``."""
        return round((self.angle_deg(t_s) - self.ref_deg) * self.model.counts_per_deg)

    def angle_of(self, counts: int) -> float:
        """Motor angle (degrees) where the counter reads ``counts``."""
        return self.ref_deg + counts / self.model.counts_per_deg

    def home_angle_deg(self) -> float:
        """Motor angle of the home position: the switch plus the home offset."""
        return self.switch_deg + self.params.home_offset / self.model.counts_per_deg

    def velocity_dps(self, t_s: float) -> float:
        """Signed angular velocity (degrees/second) at ``t_s`` (a finite difference)."""
        dt = 1e-6
        return (self.angle_deg(t_s) - self.angle_deg(t_s - dt)) / dt

    def home_target_deg(self, now_s: float) -> float:
        """Where homing from ``now_s`` ends: turning in the home direction (1
        forward, 2 reverse) to the switch, then by the home offset."""
        here = self.angle_deg(now_s)
        if self.params.home_dir == 1:
            at_switch = here + (self.switch_deg - here) % 360.0
        else:
            at_switch = here - (here - self.switch_deg) % 360.0
        return at_switch + self.params.home_offset / self.model.counts_per_deg

    def stopping_point_deg(self, now_s: float) -> tuple[float, float]:
        """(angle, speed in degrees/second) of a profiled stop begun at
        ``now_s``: decelerating at the set acceleration covers v^2 / 2a."""
        v_dps = self.velocity_dps(now_s) if self.is_moving(now_s) else 0.0
        a_dps2 = self.params.accel / self.model.acc_per_dps2
        travel = math.copysign(v_dps * v_dps / (2 * a_dps2), v_dps)
        return self.angle_deg(now_s) + travel, abs(v_dps)

    # -- motion ------------------------------------------------------------
    def is_moving(self, t_s: float) -> bool:
        return self.motion is not None and t_s < self.motion.end_s

    def drive(self, now_s: float, target_deg: float, max_vel: int, accel: int) -> float:
        """Turn the rotor to ``target_deg`` with the velocity and acceleration
        given in device units (2.6); return the time the motion ends."""
        v_dps = max_vel / self.model.vel_per_dps
        a_dps2 = accel / self.model.acc_per_dps2
        saved = self.motor.accel_dps2
        self.motor.accel_dps2 = a_dps2  # the profile keeps it; restored for others
        try:
            return self.motor.move(now_s, target_deg, v_dps)
        finally:
            self.motor.accel_dps2 = saved

    def stop_now(self, now_s: float) -> None:
        """Halt the rotor where it is (an immediate stop)."""
        if self.motor.is_moving(now_s):
            self.motor.stop(now_s)

    # -- status ------------------------------------------------------------
    def status_bits(self, t_s: float) -> int:
        """The u32 status word at ``t_s`` (2.5). A rotation stage turns freely:
        limit bits are never set; tracking and settled are not modelled."""
        bits = StatusBit.MOTOR_CONNECTED | StatusBit.POWER_OK
        if self.enabled:
            bits |= StatusBit.CHANNEL_ENABLED
        if self.motion_error:
            bits |= StatusBit.MOTION_ERROR
        motion = self.motion
        if motion is not None and t_s < motion.end_s and motion.direction:
            bits |= StatusBit.ACTIVE
            fwd = motion.direction > 0
            if motion.kind is MotionKind.JOG:
                bits |= StatusBit.JOGGING_FORWARD if fwd else StatusBit.JOGGING_REVERSE
            else:
                bits |= StatusBit.MOVING_FORWARD if fwd else StatusBit.MOVING_REVERSE
        if motion is not None and t_s < motion.end_s and motion.kind is MotionKind.HOME:
            bits |= StatusBit.HOMING
        elif self.is_homed:
            bits |= StatusBit.HOMED
        return int(bits)

    def status_payload(self, t_s: float, msg: MsgId | None = None) -> bytes:
        """The 14-byte status payload of ``msg`` (default: the model's update
        message, also the payload of MOVE_COMPLETED / MOVE_STOPPED) at ``t_s``.

        STATUSUPDATE: chan u16, position i32, enc_count i32 (0 on the K10CR1,
        which has no encoder), status u32. DCSTATUSUPDATE: chan u16, position
        i32, velocity i16, reserved u16, status u32; the reference gives no
        unit for the velocity, so it is sent as 0.
        """
        msg = self.model.update_msg if msg is None else msg
        pos, status = self.counts_at(t_s), self.status_bits(t_s)
        if msg is MsgId.MOT_GET_DCSTATUSUPDATE:
            return struct.pack("<HihHI", CHANNEL, pos, 0, 0, status)
        enc = pos if self.model.has_encoder else 0
        return struct.pack("<HiiI", CHANNEL, pos, enc, status)


class UpdateSchedule:
    """When unsolicited status updates are due, and the keep-alive count (2.4).

    Updates fall every ``period_s`` after HW_START_UPDATEMSGS (computed from
    the start, so they do not drift). After ``keepalive`` updates with no
    MOT_ACK_DCSTATUSUPDATE they stop (0: never).

    Args:
        period_s: seconds between updates (> 0; MSL: 100 ms).
        keepalive: updates without an ACK before they stop (>= 0; 2.4: about 50).
    """

    def __init__(self, period_s: float = 0.1, keepalive: int = 50) -> None:
        if not period_s > 0 or keepalive < 0:
            raise ValueError(f"update period must be > 0 s and keepalive >= 0, "
                             f"got {period_s} s and {keepalive}")
        self.period_s, self.keepalive = float(period_s), keepalive
        self.enabled = False
        self.unacked = 0
        self._origin_s, self._index = 0.0, 0

    def next_s(self) -> float:
        """Virtual time of the next update (inf while they are off)."""
        return self._origin_s + self._index * self.period_s if self.enabled else math.inf

    def start(self, now_s: float) -> None:
        """HW_START_UPDATEMSGS: first update one period on; the count restarts."""
        if not self.enabled:
            self._origin_s, self._index = now_s, 1
        self.enabled, self.unacked = True, 0

    def stop(self) -> None:
        self.enabled = False

    def ack(self) -> None:
        self.unacked = 0

    def sent(self) -> None:
        """One update went out; without a keep-alive ACK they stop (2.4)."""
        self.unacked += 1
        self._index += 1
        if self.keepalive and self.unacked >= self.keepalive:
            self.enabled = False
