"""Thorlabs APT rotators: K10CR1 and KDC101 (with a PRM1Z8 by default),
QCoDeS Instruments over pyserial.

Facts: docs/protocols.md section 2. The unit is addressed as
the generic USB unit 0x50 from the host 0x01, channel 1. Set commands have no
reply; queries are answered by the GET message whose ID is the REQ's plus
one; a move ends with MOT_MOVE_COMPLETED (MOT_MOVE_HOMED for homing,
MOT_MOVE_STOPPED when stopped). Error notices (HW_RESPONSE, HW_RICHRESPONSE)
may come at any time, and so may status updates, which are acknowledged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from qcodes.instrument import Instrument
from qcodes.validators import Bool, Numbers

from qnic.instruments.errors import (
    DeviceFaultError,
    InstrumentError,
    ProtocolError,
    TransportError,
)
from qnic.instruments.rotators.apt_codec import (
    CHANNEL,
    KDC101_STAGE_IDS,
    Frame,
    HardwareInfo,
    MessageId,
    Stage,
    StatusBits,
    VelocityParams,
    decode_chan_i32,
    decode_chan_u32,
    encode_short,
    k10cr1_stage,
    kdc101_stage_for,
    normalize_stage_name,
    with_limits,
)
from qnic.instruments.rotators.apt_motion import AptMotion
from qnic.instruments.rotators.apt_transport import AptLink, Sleep
from qnic.instruments.rotators.move_state import MoveState, with_detail

log = logging.getLogger(__name__)

T = TypeVar("T")
M = MessageId
_ENABLE, _DISABLE = 0x01, 0x02  # MOD_SET_CHANENABLESTATE param2 (2.4)

# The shared base is an Instrument to the type checker only: it is not a
# device of its own, so it must not be found (and built) as a driver.
if TYPE_CHECKING:
    _Base = Instrument
else:
    _Base = object


class _AptRotator(AptMotion, _Base):
    """What K10CR1 and KDC101 share: the Rotator protocol over APT.

    Args:
        name: instrument name.
        address: serial port or pyserial URL (``sim://k10cr1?bench=...&arm=A``).
        stage: the motor's counts and scales (see :mod:`apt_codec`).
        timeout_s: read timeout of one read (seconds).
        move_timeout_s: longest a move or homing may take (seconds).
        stop_timeout_s: longest a stop may take to be reported (seconds).
        position_tolerance_deg: how far from its target a move may end and
            be accepted (degrees).
        port: an open pyserial-like port to use instead of ``address`` (tests).
        sleep: how to wait the start-up dwells; default ``time.sleep`` on a
            real serial port, no wait on ``sim://`` and test ports.
    """

    MODEL: ClassVar[str]

    def __init__(self, name: str, address: str, stage: Stage, timeout_s: float = 1.0,
                 move_timeout_s: float = 60.0, stop_timeout_s: float = 5.0,
                 position_tolerance_deg: float = 0.05, port: Any = None,
                 sleep: Sleep | None = None, **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        self.address = address
        self.stage = stage
        self.move_timeout_s = move_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self.position_tolerance_deg = position_tolerance_deg
        self._link = AptLink(name, address, timeout_s, port, sleep)
        self._info: HardwareInfo | None = None
        self._moves = MoveState(name)
        lo, hi = stage.angle_range_deg
        v_lo, a_lo = 1e-3, 1e-3
        v_hi, a_hi = stage.max_velocity_deg_s, stage.max_acceleration_deg_s2
        self.angle = self.add_parameter(
            "angle", label="Fast-axis angle", unit="deg",
            get_cmd=self.position_deg, set_cmd=lambda a: self.move_to(a, wait=True),
            vals=Numbers(lo, hi),
            docstring=f"Control the rotation angle in degrees (float, {lo:g} to {hi:g}).")
        self.velocity = self.add_parameter(
            "velocity", label="Maximum velocity", unit="deg/s",
            get_cmd=lambda: self.velocity_params()[0],
            set_cmd=lambda v: self.set_velocity_params(velocity_deg_s=v),
            vals=Numbers(v_lo, v_hi),
            docstring=f"Control the maximum move velocity in deg/s (float, {v_lo:g} to {v_hi:g}).")
        self.acceleration = self.add_parameter(
            "acceleration", label="Acceleration", unit="deg/s^2",
            get_cmd=lambda: self.velocity_params()[1],
            set_cmd=lambda a: self.set_velocity_params(acceleration_deg_s2=a),
            vals=Numbers(a_lo, a_hi),
            docstring=f"Control the move acceleration in deg/s^2 (float, {a_lo:g} to {a_hi:g}).")
        self.channel_enabled = self.add_parameter(
            "channel_enabled", label="Channel enabled", unit="",
            get_cmd=self._get_enabled, set_cmd=self._set_enabled, vals=Bool(),
            docstring="Control whether the motor channel is enabled (bool).")

    # -- connection -----------------------------------------------------------
    def connect(self) -> HardwareInfo:
        """Start the link, read the hardware information, check the model and
        enable the channel; done on first use.

        Raises:
            ProtocolError: the device on the port is not this model.
        """
        if self._info is not None:
            return self._info
        with self._link.lock:
            # MSL's connection sequence (2.2): no flash programming, updates off
            self._link.write(encode_short(M.HW_NO_FLASH_PROGRAMMING))
            self._link.write(encode_short(M.HW_STOP_UPDATEMSGS))
            request = encode_short(M.HW_REQ_INFO)
            try:
                info = self._query(request, M.HW_GET_INFO, lambda f: HardwareInfo.parse(f.data),
                                   "hardware information")
            except TransportError as exc:
                raise with_detail(exc, f"no {self.MODEL} answering on port {self.address}") from exc
            except InstrumentError as exc:
                raise with_detail(exc, f"connecting to the {self.MODEL} on port "
                                       f"{self.address}") from exc
            if not info.model.upper().startswith(self.MODEL):
                self._link.close()
                raise ProtocolError(
                    self.name, request, info.model.encode(),
                    f"the device on port {self.address} is not a {self.MODEL}: it reports model "
                    f"{info.model!r}, serial {info.serial}; expected model {self.MODEL}")
            self._check_stage(info)
            self._link.write(encode_short(M.MOD_SET_CHANENABLESTATE, CHANNEL, _ENABLE))
            self._info = info
        log.info("%s: %s serial %s firmware %s on %s, stage %s", self.name, info.model,
                 info.serial, info.firmware, self.address, self.stage.name)
        return info

    def _check_stage(self, info: HardwareInfo) -> None:
        """Controllers that report their stage check it here."""

    @property
    def info(self) -> HardwareInfo:
        """Hardware information from HW_GET_INFO."""
        return self.connect()

    def get_idn(self) -> dict[str, str | None]:
        """Vendor, model, serial number and firmware from HW_GET_INFO."""
        info = self.connect()
        return {"vendor": "Thorlabs", "model": info.model, "serial": info.serial,
                "firmware": info.firmware}

    def identify(self) -> None:
        """Flash the front-panel LED (MOD_IDENTIFY)."""
        self.connect()
        self._link.write(encode_short(M.MOD_IDENTIFY, CHANNEL))

    def close(self) -> None:
        """Close the port."""
        self._link.close()
        super().close()

    # -- the wire ---------------------------------------------------------------
    def _query(self, request: bytes, expect: int, decode: Callable[[Frame], T], what: str) -> T:
        """An idempotent query (one logged retry, see :meth:`AptLink.query`).
        A device fault while a move is outstanding stops the stage first: a
        fault never leaves it moving."""
        try:
            return self._link.query(request, expect, decode, what, self._note_move_end)
        except DeviceFaultError as exc:
            if self._moves.move is not None:
                self._halt(exc)
                self._moves.fail(exc)
            raise

    def _chan(self, chan: int, value: T) -> T:
        if chan != CHANNEL:
            raise ValueError(f"reply for channel {chan}, expected {CHANNEL}")
        return value

    # -- queries ------------------------------------------------------------------
    def position_counts(self) -> int:
        """Read the position counter (MOT_REQ_POSCOUNTER) in counts."""
        self.connect()
        return self._query(encode_short(M.MOT_REQ_POSCOUNTER, CHANNEL), M.MOT_GET_POSCOUNTER,
                           lambda f: self._chan(*decode_chan_i32(f.data)), "position")

    def status_bits(self) -> StatusBits:
        """Read the status bits (MOT_REQ_STATUSBITS); ``describe_status`` names them."""
        self.connect()
        return self._query(encode_short(M.MOT_REQ_STATUSBITS, CHANNEL), M.MOT_GET_STATUSBITS,
                           lambda f: StatusBits(self._chan(*decode_chan_u32(f.data))),
                           "status bits")

    def _raw_velocity_params(self) -> VelocityParams:
        self.connect()
        def decode(frame: Frame) -> VelocityParams:
            params = VelocityParams.parse(frame.data)
            return self._chan(params.channel, params)
        return self._query(encode_short(M.MOT_REQ_VELPARAMS, CHANNEL), M.MOT_GET_VELPARAMS,
                           decode, "velocity parameters")

    def velocity_params(self) -> tuple[float, float]:
        """Read (maximum velocity in deg/s, acceleration in deg/s^2)."""
        p = self._raw_velocity_params()
        return (p.max_velocity / self.stage.velocity_per_deg_s,
                p.acceleration / self.stage.acceleration_per_deg_s2)

    def set_velocity_params(self, velocity_deg_s: float | None = None,
                            acceleration_deg_s2: float | None = None) -> None:
        """Set the maximum velocity (deg/s) and/or the acceleration (deg/s^2)
        in one MOT_SET_VELPARAMS; a value not given is read first and kept."""
        if velocity_deg_s is not None:
            self.velocity.validate(velocity_deg_s)
        if acceleration_deg_s2 is not None:
            self.acceleration.validate(acceleration_deg_s2)
        self.connect()
        if velocity_deg_s is None or acceleration_deg_s2 is None:
            old = self._raw_velocity_params()
            v_int, a_int = old.max_velocity, old.acceleration
        if velocity_deg_s is not None:
            v_int = self.stage.velocity_internal(velocity_deg_s)
        if acceleration_deg_s2 is not None:
            a_int = self.stage.acceleration_internal(acceleration_deg_s2)
        # the minimum velocity is always 0 (2.4)
        self._link.write(VelocityParams(CHANNEL, 0, a_int, v_int).encode())

    def _get_enabled(self) -> bool:
        self.connect()
        frame = self._query(encode_short(M.MOD_REQ_CHANENABLESTATE, CHANNEL),
                            M.MOD_GET_CHANENABLESTATE, lambda f: f, "channel state")
        state = frame.header.param2
        if frame.header.param1 != CHANNEL or state not in (_ENABLE, _DISABLE):
            raise ProtocolError(self.name, frame.raw, frame.raw,
                                f"channel state must be 1 or 2 for channel {CHANNEL}")
        return bool(state == _ENABLE)

    def _set_enabled(self, enabled: bool) -> None:
        self.connect()
        state = _ENABLE if enabled else _DISABLE
        self._link.write(encode_short(M.MOD_SET_CHANENABLESTATE, CHANNEL, state))


class K10CR1(_AptRotator, Instrument):
    """Thorlabs K10CR1 motorized rotation mount (stepper, worm gear).

    Args:
        name: instrument name.
        address: serial port or pyserial URL (``sim://k10cr1?bench=...&arm=A``).
        max_velocity_deg_s: largest velocity the ``velocity`` parameter
            accepts (deg/s; default 10).
        max_acceleration_deg_s2: largest acceleration it accepts (deg/s^2;
            default 10).
        **kwargs: see :class:`_AptRotator` (timeouts, tolerance, ``port``,
            ``sleep``) and :class:`qcodes.instrument.Instrument`.
    """

    MODEL = "K10CR1"

    def __init__(self, name: str, address: str, max_velocity_deg_s: float | None = None,
                 max_acceleration_deg_s2: float | None = None, **kwargs: Any) -> None:
        stage = with_limits(k10cr1_stage(), max_velocity_deg_s, max_acceleration_deg_s2)
        super().__init__(name, address, stage, **kwargs)


class KDC101(_AptRotator, Instrument):
    """Thorlabs KDC101 K-Cube DC servo controller driving a rotation stage.

    Args:
        name: instrument name.
        address: serial port or pyserial URL (``sim://kdc101?bench=...&arm=A``).
        stage: stage name (``"PRM1Z8"``, the default; ``"PRM1-Z8"`` too).
        counts_per_deg: encoder counts per degree of another stage, instead
            of ``stage``; velocity and acceleration scales follow from the
            KDC101 time unit (docs/protocols.md 2.6).
        travel_deg: (min, max) angles of a stage with limited travel; moves
            outside it are refused. Default: a rotation stage (-360 to 360).
        max_velocity_deg_s: largest velocity the ``velocity`` parameter
            accepts (deg/s; PRM1Z8 default 25).
        max_acceleration_deg_s2: largest acceleration it accepts (deg/s^2).
        **kwargs: see :class:`_AptRotator` and :class:`qcodes.instrument.Instrument`.

    Raises:
        ValueError: an unknown stage name, or both a name and counts.
    """

    MODEL = "KDC101"

    def __init__(self, name: str, address: str, stage: str | None = None,
                 counts_per_deg: float | None = None, travel_deg: Sequence[float] | None = None,
                 max_velocity_deg_s: float | None = None,
                 max_acceleration_deg_s2: float | None = None, **kwargs: Any) -> None:
        resolved = with_limits(kdc101_stage_for(stage, counts_per_deg, travel_deg),
                           max_velocity_deg_s, max_acceleration_deg_s2)
        super().__init__(name, address, resolved, **kwargs)

    def _check_stage(self, info: HardwareInfo) -> None:
        """A KDC101 reports the stage it was set up for (pyLabLib, 2.4)."""
        reported = KDC101_STAGE_IDS.get(info.stage_id)
        if reported and normalize_stage_name(reported) != normalize_stage_name(self.stage.name):
            log.warning("%s: the KDC101 on %s reports stage %s, the driver is set up for %s",
                        self.name, self.address, reported, self.stage.name)
