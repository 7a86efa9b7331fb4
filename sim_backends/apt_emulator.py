"""Emulator of a Thorlabs APT controller: K10CR1, or KDC101 with a PRM1-Z8 stage.

Written from qnic.docs/protocols.md section 2 alone. An :class:`AptEmulator` is one
USB-serial port with one channel turning a :class:`~qnic.sim.motion.RotatorMotion`
(a bench arm's HWP motor or a private one), answering byte for byte (6-byte
little-endian headers, short and long messages, replies to 0x01 from 0x50;
2.3) in virtual time. Choices where the reference is silent:

- Framing: a header not to 0x50 (0xD0 when long), not from 0x01, or with a
  data length over 255 is noise: one byte is dropped and the header sought
  again (as thorlabs-apt-device's host-side Unpacker does).
- Refusals: an unknown message ID (also MOT_REQ_ENCCOUNTER on the K10CR1,
  which has no encoder), a wrong form or data length, a channel other than 1,
  a value out of range (velocity or acceleration <= 0, home direction not
  1/2, a target beyond the i32 counter), a move while the channel is
  disabled: nothing is done and an HW_RICHRESPONSE (msg_ident, code from
  :class:`~qnic.sim.apt_state.Notice`, 64 bytes of text) is sent, or with
  ``notice=short`` an HW_RESPONSE (param1 = code). The reference gives no codes.
- Power-up: channel enabled, not homed, the counter 0 wherever the rotor
  stands (meaningless until homed). Moves before homing are accepted (no
  refusal is documented); the HOMED bit tells. Parameters: MSL's connect
  defaults (2.6), see ``AptParams.power_up``.
- Homing: one trapezoidal move at the home velocity, in the home direction to
  the switch and on by the home offset (the two legs merged into one
  profile); the counter reads 0 there. ``zero_deg`` is the motor angle of that
  home with the power-up offset. HOMING is set and HOMED cleared meanwhile.
- A rotation stage turns freely: no limit acts and no limit bit is set; limit
  parameters and backlash are stored and echoed only. Positions are the i32
  counter, unwrapped. MOVE_RELATIVE is relative to the counter now.
- A motion command during a motion replaces it from where the stage is; the
  replaced motion sends no end message (an interrupted homing stays unhomed).
- MOVE_STOP: immediate at once; profiled over v^2/2a (drawn as a triangular
  profile, sqrt(2) v/a long); MOVE_STOPPED follows even if nothing moved.
  MOVE_VELOCITY runs to the end of the counter, then MOVE_STOPPED. A jog is
  one jog step in every jog mode, with the JOGGING (not MOVING) bits, ending
  with MOVE_COMPLETED. Disabling the channel stops the motor (MOVE_STOPPED).
- Status updates (HW_START_UPDATEMSGS): every ``update_period_s`` (MSL:
  100 ms) after the start: MOT_GET_STATUSUPDATE on the K10CR1 stepper,
  MOT_GET_DCSTATUSUPDATE on the KDC101 servo (both REQ forms answered on
  both). Keep-alive (2.4, UNVERIFIED): after ``keepalive_messages`` (50)
  updates with no MOT_ACK_DCSTATUSUPDATE they stop; an ACK resets the count;
  once stopped only HW_START_UPDATEMSGS restarts them (updates made while the
  link is down are lost and still count). End-of-move messages are sent
  regardless, unless MOT_SUSPEND_ENDOFMOVEMSGS.
- Queries are answered at once, moves when the motion ends: no wire time.
- Faults (``inject``, ``fault=``; :mod:`qnic.sim.faults`), not spent by
  the keep-alive ACK: ERROR_CODE sends the notice with its code instead of
  acting; STALL ends the move part-way with MOVE_STOPPED and MOTION_ERROR
  (latched until the next motion command; a stalled homing stays unhomed);
  OFF_TARGET ends ``offset_counts`` away and reports it; TRUNCATED and
  GARBLED damage the reply (for a move, its end message).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Iterator, Mapping
from functools import partial
from typing import Protocol

from qnic.instruments.clock import VirtualClock
from qnic.sim.apt_state import (
    CHANNEL,
    HOST,
    I32_MAX,
    I32_MIN,
    LONG_FLAG,
    MAX_DATA_LEN,
    MODELS,
    PARAM_SETS,
    USB_UNIT,
    AptAxis,
    Frame,
    Motion,
    MotionKind,
    MsgId,
    Notice,
    Rejected,
    StageModel,
    StatusBit,
    UpdateSchedule,
    check_channel,
    expect_short,
    hw_info,
    jog_direction,
    long_msg,
    notice_msg,
    request_channel,
    short_msg,
    unpack_chan,
)
from qnic.sim.emulator import SerialEmulator
from qnic.sim.faults import (
    COMMAND_FAULTS,
    MOVE_FAULTS,
    REPLY_FAULTS,
    Fault,
    FaultQueue,
    FaultSpec,
    garble,
    parse_fault_option,
    truncate,
)
from qnic.sim.motion import RotatorMotion

__all__ = ["AptEmulator", "Fault", "FaultSpec", "MsgId", "Notice", "StatusBit"]

_FAULT_KEY = "1"  # FaultQueue's device key: the channel (one device per port)
_URL_OPTIONS = frozenset({"bench", "arm", "serial", "fw", "homed", "zero_deg", "notice",
                          "update_ms", "keepalive", "stage", "fault"})


class BenchLike(Protocol):
    """What the emulator needs of a simulated bench."""

    clock: VirtualClock

    def motor(self, arm: str) -> RotatorMotion:
        """The half-wave-plate motor of arm ``arm`` ("A" or "B")."""
        ...


class AptEmulator(SerialEmulator):
    """One APT controller with one channel (docs/protocols.md 2; choices in the module docs).

    Args:
        clock: the bench's virtual clock.
        motor: the rotor the stage turns.
        model: ``"k10cr1"`` or ``"kdc101"`` (with a PRM1-Z8 stage).
        serial: 8-digit serial number starting with the model's prefix (2.2);
            default ``55000001`` / ``27000001``.
        firmware: (major, interim, minor).
        homed: power up homed.
        zero_deg: motor angle (degrees) where the counter reads 0 after homing.
        rich_notices: send HW_RICHRESPONSE notices (False: HW_RESPONSE).
        update_period_s: status-update period (seconds, > 0).
        keepalive_messages: updates sent without an ACK before they stop (0: never).
    """

    def __init__(self, clock: VirtualClock, motor: RotatorMotion, model: str = "k10cr1", *,
                 serial: str | None = None, firmware: tuple[int, int, int] = (3, 0, 10),
                 homed: bool = False, zero_deg: float = 0.0, rich_notices: bool = True,
                 update_period_s: float = 0.1, keepalive_messages: int = 50) -> None:
        super().__init__(clock)
        if model not in MODELS:
            raise ValueError(f"APT model must be one of {sorted(MODELS)}, got {model!r}")
        self.model: StageModel = MODELS[model]
        serial = f"{self.model.serial_prefix}000001" if serial is None else serial
        if len(serial) != 8 or not serial.isdigit() or not serial.startswith(
                self.model.serial_prefix):
            raise ValueError(f"{model} serial must be 8 digits starting with "
                             f"{self.model.serial_prefix} (2.2), got {serial!r}")
        if len(firmware) != 3 or not all(0 <= f <= 255 for f in firmware):
            raise ValueError(f"firmware must be 3 bytes (major, interim, minor), got {firmware}")
        self.serial, self.firmware = serial, firmware
        self.rich_notices = rich_notices
        self.updates = UpdateSchedule(update_period_s, keepalive_messages)
        self.axis = AptAxis(self.model, motor, now_s=clock.now(), zero_deg=zero_deg, homed=homed)
        self.faults = FaultQueue()
        self.identify_count = 0  # MOD_IDENTIFY flashes the LED; tests count them
        self.flash_programming = True
        self.end_of_move_enabled = True
        self._buf = bytearray()
        self._started: Motion | None = None
        m = MsgId
        self._handlers: dict[int, Callable[[Frame, float], list[bytes]]] = {
            m.HW_DISCONNECT: lambda f, t: self._short(f, self.updates.stop),
            m.HW_REQ_INFO: self._info,
            m.HW_START_UPDATEMSGS: lambda f, t: self._short(f, lambda: self.updates.start(t)),
            m.HW_STOP_UPDATEMSGS: lambda f, t: self._short(f, self.updates.stop),
            m.HW_YES_FLASH_PROGRAMMING: self._set_flag("flash_programming", True),
            m.HW_NO_FLASH_PROGRAMMING: self._set_flag("flash_programming", False),
            m.MOD_SET_CHANENABLESTATE: self._set_enable,
            m.MOD_REQ_CHANENABLESTATE: lambda f, t: [short_msg(
                m.MOD_GET_CHANENABLESTATE, request_channel(f), 1 if self.axis.enabled else 2)],
            m.MOD_IDENTIFY: self._identify,
            m.MOT_SET_POSCOUNTER: self._set_poscounter,
            m.MOT_REQ_POSCOUNTER: lambda f, t: self._counter(f, t, m.MOT_GET_POSCOUNTER),
            m.MOT_REQ_STATUSBITS: lambda f, t: [long_msg(m.MOT_GET_STATUSBITS, struct.pack(
                "<HI", request_channel(f), self.axis.status_bits(t)))],
            m.MOT_MOVE_HOME: self._home,
            m.MOT_MOVE_RELATIVE: self._move_relative,
            m.MOT_MOVE_ABSOLUTE: self._move_absolute,
            m.MOT_MOVE_VELOCITY: self._move_velocity,
            m.MOT_MOVE_JOG: self._jog,
            m.MOT_MOVE_STOP: self._stop,
            m.MOT_SUSPEND_ENDOFMOVEMSGS: self._set_flag("end_of_move_enabled", False),
            m.MOT_RESUME_ENDOFMOVEMSGS: self._set_flag("end_of_move_enabled", True),
            m.MOT_REQ_STATUSUPDATE: lambda f, t: self._status(f, t, m.MOT_GET_STATUSUPDATE),
            m.MOT_REQ_DCSTATUSUPDATE: lambda f, t: self._status(f, t, m.MOT_GET_DCSTATUSUPDATE),
            m.MOT_ACK_DCSTATUSUPDATE: lambda f, t: self._short(f, self.updates.ack),
        }
        if self.model.has_encoder:
            self._handlers[m.MOT_REQ_ENCCOUNTER] = (
                lambda f, t: self._counter(f, t, m.MOT_GET_ENCCOUNTER))
        for set_id, (req_id, _, _) in PARAM_SETS.items():
            self._handlers[set_id] = partial(self._set_params, set_id)
            self._handlers[req_id] = partial(self._get_params, set_id)

    @classmethod
    def from_url_options(cls, bench: BenchLike, options: Mapping[str, str],
                         model: str) -> AptEmulator:
        """Build from ``sim://k10cr1?...`` or ``sim://kdc101?...`` options.

        Options: ``arm`` (A, B, or ``-`` for a private motor; required),
        ``serial`` (8 digits, 55... / 27...), ``fw`` (major.interim.minor),
        ``homed`` (0/1), ``zero_deg``, ``notice`` (rich/short), ``update_ms``
        (status-update period), ``keepalive`` (updates without ACK before they
        stop, 0 never), ``stage`` (kdc101 only: prm1z8), ``fault``; ``bench``
        is resolved by the caller.

        Raises:
            ValueError: an unknown option or a malformed value.
        """
        where = f"sim://{model}"
        unknown = set(options) - _URL_OPTIONS
        if unknown:
            raise ValueError(f"unknown {where} option(s) {sorted(unknown)} "
                             f"(known: {', '.join(sorted(_URL_OPTIONS))})")
        arm = options.get("arm")
        if arm is None:
            raise ValueError(f"{where} needs arm=A|B|- (the bench arm whose HWP it turns)")
        if "stage" in options and (model != "kdc101" or options["stage"].lower() != "prm1z8"):
            raise ValueError(f"{where} option stage={options['stage']!r}: only kdc101 "
                             "with stage=prm1z8 is emulated")
        notice = options.get("notice", "rich")
        if notice not in ("rich", "short"):
            raise ValueError(f"{where} option notice={notice!r}: expected rich or short")
        try:
            fw = tuple(int(p) for p in options.get("fw", "3.0.10").split("."))
            zero_deg = float(options.get("zero_deg", "0"))
            period_s = float(options.get("update_ms", "100")) / 1000.0
            keepalive = int(options.get("keepalive", "50"))
        except ValueError as exc:
            raise ValueError(f"{where} option fw, zero_deg, update_ms or keepalive: {exc}") from exc
        if len(fw) != 3:
            raise ValueError(f"{where} option fw: expected major.interim.minor, got {fw}")
        motor = RotatorMotion() if arm == "-" else bench.motor(arm)
        emu = cls(bench.clock, motor, model, serial=options.get("serial"),
                  firmware=(fw[0], fw[1], fw[2]), homed=_flag(options, "homed", where),
                  zero_deg=zero_deg, rich_notices=notice == "rich", update_period_s=period_s,
                  keepalive_messages=keepalive)
        for spec in parse_fault_option(options.get("fault", "")):
            emu.inject_spec(spec)
        return emu

    # -- test and bench controls -------------------------------------------
    def inject(self, fault: Fault, count: int = 1, *, code: int = Notice.DEVICE_FAULT,
               offset_counts: int = 40, stall_fraction: float = 0.5) -> None:
        """Queue ``fault`` for the next ``count`` messages (replies, moves) it
        can affect (see :mod:`qnic.sim.faults`); link faults act at once.

        Args:
            fault: what goes wrong.
            count: how many times (int, >= 1).
            code: the notice code sent for ``ERROR_CODE`` (int, 0x00 to 0xFF).
            offset_counts: how far an ``OFF_TARGET`` move misses (counts).
            stall_fraction: the part of a ``STALL``ed move travelled (0 to 1).
        """
        self.inject_spec(FaultSpec(fault, count, None, int(code), offset_counts, stall_fraction))

    def drop_input(self) -> None:
        self._buf.clear()

    def inject_spec(self, spec: FaultSpec) -> None:
        """Queue (or, for link faults, apply) a prepared :class:`FaultSpec`."""
        with self.lock:
            if spec.fault in (Fault.DISCONNECT, Fault.RECONNECT):
                self._run_events(self.clock.now())
                self.apply_link_fault(spec.fault)
            else:
                self.faults.add(spec)

    def power_cycle(self) -> None:
        """Switch the controller off and on: it stops, forgets homing and parameters."""
        with self.lock:
            now = self.clock.now()
            self._run_events(now)
            self.cancel_pending()
            self._buf.clear()
            self.axis.stop_now(now)
            self.axis.power_up(now, homed=False)
            self.updates.stop()
            self.end_of_move_enabled = True

    # -- host side -----------------------------------------------------------
    def receive(self, data: bytes) -> None:
        """Buffer bytes from the host and act on every complete message (2.3)."""
        with self.lock:
            if not self.connected:
                return
            now = self.clock.now()
            self._run_events(now)
            self._buf += data
            for frame in self._frames():
                self._serve(frame, now)
            self._run_events(now)  # zero-length moves end at once

    def read(self, size: int, timeout_s: float | None) -> bytes:
        """Up to ``size`` bytes, waiting in virtual time at most ``timeout_s``.

        Like the base class, but the device's own messages (status updates,
        end-of-move) are made when the clock reaches them, from the state then.
        """
        with self.lock:
            now = self.clock.now()
            self._settle(now)
            horizon = math.inf if timeout_s is None else now + timeout_s
            while not self._rx:
                due = min(self._pending[0][0] if self._pending else math.inf, self._next_event_s())
                if due > horizon:
                    if timeout_s is None:
                        raise RuntimeError("read without timeout would block forever")
                    self._settle(self.clock.advance_to(horizon))
                    break
                self._settle(self.clock.advance_to(due))
            out = bytes(self._rx[:size])
            del self._rx[:size]
            return out

    def in_waiting(self) -> int:
        with self.lock:
            self._settle(self.clock.now())
            return len(self._rx)

    def reset_input(self) -> None:
        with self.lock:
            self._settle(self.clock.now())
            self._rx.clear()

    def _settle(self, now_s: float) -> None:
        self._run_events(now_s)
        self._collect(now_s)

    def _frames(self) -> Iterator[Frame]:
        """Complete messages in the buffer; noise is skipped a byte at a time."""
        buf = self._buf
        while len(buf) >= 6:
            msg_id, length = struct.unpack_from("<HH", buf)
            dest, source = buf[4], buf[5]
            is_long = bool(dest & LONG_FLAG)
            if dest & ~LONG_FLAG != USB_UNIT or source != HOST or (
                    is_long and length > MAX_DATA_LEN):
                del buf[:1]
                continue
            if not is_long:
                frame = Frame(msg_id, buf[2], buf[3], None)
                del buf[:6]
            elif len(buf) < 6 + length:
                return  # a partial long message: wait for the rest
            else:
                frame = Frame(msg_id, 0, 0, bytes(buf[6:6 + length]))
                del buf[:6 + length]
            yield frame

    # -- device side ----------------------------------------------------------
    def _serve(self, frame: Frame, now: float) -> None:
        counts = frame.msg_id != MsgId.MOT_ACK_DCSTATUSUPDATE  # ACKs do not spend faults
        # TIMEOUT and ERROR_CODE are spent in the order they were queued
        injected = self.faults.take(COMMAND_FAULTS, _FAULT_KEY) if counts else None
        if injected is not None and injected.fault is Fault.TIMEOUT:
            return  # the device never heard the message
        self._started = None
        handler = self._handlers.get(frame.msg_id)
        try:
            if injected is not None:
                raise Rejected(Notice.DEVICE_FAULT)
            if handler is None:
                raise Rejected(Notice.UNKNOWN_MESSAGE)
            replies = handler(frame, now)
        except Rejected as rej:
            code = injected.code if injected is not None else rej.code
            replies = [notice_msg(frame.msg_id, code, self.rich_notices)]
        started, self._started = self._started, None
        final = started is not None and self.end_of_move_enabled
        damage = self.faults.take(REPLY_FAULTS, _FAULT_KEY) if counts and (
            replies or final) else None
        if damage is not None and not replies and started is not None:
            started.damage = damage
            damage = None
        for i, reply in enumerate(replies):
            if damage is not None and i == len(replies) - 1:
                reply = self._damaged(reply, damage)
            self.schedule(reply, at_s=now)

    @staticmethod
    def _damaged(frame: bytes, damage: FaultSpec) -> bytes:
        return truncate(frame) if damage.fault is Fault.TRUNCATED else garble(frame)

    def _next_event_s(self) -> float:
        """Virtual time of the device's next own message (or motion end)."""
        motion = self.axis.motion
        t_move = motion.end_s if motion is not None else math.inf
        return min(t_move, self.updates.next_s())

    def _run_events(self, until_s: float) -> None:
        """Carry out every motion end and status update due by ``until_s``, in
        time order (a motion end first when both fall at once)."""
        while (t := self._next_event_s()) <= until_s:
            motion = self.axis.motion
            if motion is not None and motion.end_s == t:
                self._finish(motion)
            else:
                self._send_update(t)

    def _send_update(self, t_s: float) -> None:
        msg = self.model.update_msg
        if self.connected:
            self.schedule(long_msg(msg, self.axis.status_payload(t_s, msg)), at_s=t_s)
        self.updates.sent()

    def _finish(self, motion: Motion) -> None:
        """A motion ends at ``motion.end_s``: update the state, send its end message."""
        axis, t = self.axis, motion.end_s
        axis.motion = None
        if motion.stalled:
            axis.motion_error = True
        elif motion.home_ref_deg is not None:
            axis.ref_deg, axis.is_homed = motion.home_ref_deg, True
        if not (self.end_of_move_enabled and self.connected):
            return
        if motion.final is MsgId.MOT_MOVE_HOMED and not motion.stalled:
            frame = short_msg(MsgId.MOT_MOVE_HOMED, CHANNEL, 0)
        else:
            final = MsgId.MOT_MOVE_STOPPED if motion.stalled else motion.final
            frame = long_msg(final, axis.status_payload(t))
        if motion.damage is not None:
            frame = self._damaged(frame, motion.damage)
        self.schedule(frame, at_s=t)

    # -- motion ----------------------------------------------------------------
    def _begin(self, kind: MotionKind, now: float, target_deg: float, vel: int, acc: int,
               final: MsgId = MsgId.MOT_MOVE_COMPLETED, home_ref_deg: float | None = None,
               faults_apply: bool = True) -> None:
        """Replace any motion with one to ``target_deg`` (device-unit velocity, accel)."""
        axis = self.axis
        if not axis.enabled:
            raise Rejected(Notice.CHANNEL_DISABLED)
        fault = self.faults.take(MOVE_FAULTS, _FAULT_KEY) if faults_apply else None
        start = axis.angle_deg(now)
        stalled = fault is not None and fault.fault is Fault.STALL
        if fault is not None and stalled:
            target_deg = start + fault.stall_fraction * (target_deg - start)
        elif fault is not None:  # OFF_TARGET: ends elsewhere, reports it honestly
            target_deg += fault.offset_counts / self.model.counts_per_deg
        axis.motion_error = False
        if kind is MotionKind.HOME:
            axis.is_homed = False
        sense = (target_deg > start) - (target_deg < start)
        end_s = axis.drive(now, target_deg, vel, acc)
        axis.motion = Motion(kind, sense, end_s, final, stalled, home_ref_deg)
        self._started = axis.motion

    def _move_to_counts(self, counts: int, now: float) -> None:
        if not I32_MIN <= counts <= I32_MAX:
            raise Rejected(Notice.OUT_OF_RANGE)
        p = self.axis.params
        self._begin(MotionKind.MOVE, now, self.axis.angle_of(counts), p.max_vel, p.accel)

    def _move_absolute(self, f: Frame, now: float) -> list[bytes]:
        # 2.4: short form uses the stored MOVEABSPARAMS; long form carries chan, pos
        target = self.axis.params.move_abs if f.data is None else unpack_chan(f, "i")[0]
        if f.data is None:
            check_channel(f.param1)
        self._move_to_counts(int(target), now)
        return []

    def _move_relative(self, f: Frame, now: float) -> list[bytes]:
        dist = self.axis.params.move_rel if f.data is None else unpack_chan(f, "i")[0]
        if f.data is None:
            check_channel(f.param1)
        self._move_to_counts(self.axis.counts_at(now) + int(dist), now)
        return []

    def _home(self, f: Frame, now: float) -> list[bytes]:
        request_channel(f)
        p = self.axis.params
        home = self.axis.home_target_deg(now)
        self._begin(MotionKind.HOME, now, home, p.home_vel, p.accel,
                    final=MsgId.MOT_MOVE_HOMED, home_ref_deg=home)
        return []

    def _jog(self, f: Frame, now: float) -> list[bytes]:
        sign = jog_direction(f)
        p = self.axis.params
        target = self.axis.counts_at(now) + sign * p.jog_step
        if not I32_MIN <= target <= I32_MAX:
            raise Rejected(Notice.OUT_OF_RANGE)
        self._begin(MotionKind.JOG, now, self.axis.angle_of(target), p.jog_max_vel, p.jog_accel)
        return []

    def _move_velocity(self, f: Frame, now: float) -> list[bytes]:
        sign = jog_direction(f)
        p = self.axis.params
        end = self.axis.angle_of(I32_MAX if sign > 0 else I32_MIN)
        self._begin(MotionKind.VELOCITY, now, end, p.max_vel, p.accel,
                    final=MsgId.MOT_MOVE_STOPPED)
        return []

    def _stop(self, f: Frame, now: float) -> list[bytes]:
        request_channel(f)
        if f.param2 not in (1, 2):  # 2.4: 0x01 immediate, 0x02 profiled
            raise Rejected(Notice.OUT_OF_RANGE)
        axis = self.axis
        target, v_dps = axis.stopping_point_deg(now)
        if f.param2 == 2 and v_dps > 1e-9:
            vel = max(1, round(v_dps * self.model.vel_per_dps))
            self._begin(MotionKind.STOP, now, target, vel, axis.params.accel,
                        final=MsgId.MOT_MOVE_STOPPED, faults_apply=False)
            return []
        axis.stop_now(now)
        axis.motion = Motion(MotionKind.STOP, 0, now, MsgId.MOT_MOVE_STOPPED)
        self._started = axis.motion
        return []

    def _set_enable(self, f: Frame, now: float) -> list[bytes]:
        request_channel(f)
        if f.param2 not in (1, 2):  # 2.4: 0x01 enable, 0x02 disable
            raise Rejected(Notice.OUT_OF_RANGE)
        axis = self.axis
        axis.enabled = f.param2 == 1
        if not axis.enabled and axis.is_moving(now):
            axis.stop_now(now)  # an unpowered motor stops
            axis.motion = Motion(MotionKind.STOP, 0, now, MsgId.MOT_MOVE_STOPPED)
        return []

    # -- queries and settings ------------------------------------------------
    def _status(self, f: Frame, now: float, get_id: MsgId) -> list[bytes]:
        request_channel(f)
        return [long_msg(get_id, self.axis.status_payload(now, get_id))]

    def _counter(self, f: Frame, now: float, get_id: MsgId) -> list[bytes]:
        request_channel(f)
        return [long_msg(get_id, struct.pack("<Hi", CHANNEL, self.axis.counts_at(now)))]

    def _set_poscounter(self, f: Frame, now: float) -> list[bytes]:
        (pos,) = unpack_chan(f, "i")
        axis = self.axis
        axis.ref_deg = axis.angle_deg(now) - pos / self.model.counts_per_deg
        return []

    def _set_params(self, set_id: MsgId, f: Frame, now: float) -> list[bytes]:
        return self.axis.params.set_from(set_id, f)

    def _get_params(self, set_id: MsgId, f: Frame, now: float) -> list[bytes]:
        return [self.axis.params.get_msg(set_id, f)]

    def _info(self, f: Frame, now: float) -> list[bytes]:
        expect_short(f)
        return [long_msg(MsgId.HW_GET_INFO, hw_info(self.model, int(self.serial), self.firmware))]

    def _identify(self, f: Frame, now: float) -> list[bytes]:
        request_channel(f)
        self.identify_count += 1
        return []

    @staticmethod
    def _short(f: Frame, action: Callable[[], None]) -> list[bytes]:
        """Carry out a short message without a reply."""
        expect_short(f)
        action()
        return []

    def _set_flag(self, name: str, value: bool) -> Callable[[Frame, float], list[bytes]]:
        """A handler of a short message that sets attribute ``name`` to ``value``."""
        return lambda f, t: self._short(f, lambda: setattr(self, name, value))

def _flag(options: Mapping[str, str], key: str, where: str) -> bool:
    raw = options.get(key, "0")
    if raw not in ("0", "1"):
        raise ValueError(f"{where} option {key}={raw!r}: expected 0 or 1")
    return raw == "1"
