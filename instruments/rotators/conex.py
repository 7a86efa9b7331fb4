"""Newport CONEX rotation stages, a QCoDeS Instrument over pyserial.

``model="agp"``: a CONEX-AGP with an AG-PR100P; ``model="cc"``: a CONEX-CC
with a PR50CC. Facts: docs/protocols.md section 3; codes and
parsing in :mod:`qnic.instruments.rotators.conex_codec`. Only queries are answered,
so every set command is followed by ``TE`` (which reads and clears the last
command error). A move ends when ``TS`` shows any READY state: a zero-length
move stays in 32 and never passes 33 (section 3). Polling waits one read
timeout between ``TS`` queries, so it keeps the port's time, real or virtual.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import serial
from qcodes.instrument import Instrument
from qcodes.validators import Numbers

from qnic.instruments.errors import (
    DeviceFaultError,
    InstrumentError,
    MoveIncompleteError,
    ProtocolError,
    TransportError,
)
from qnic.instruments.rotators.conex_codec import (
    MODELS,
    MOTION_STATES,
    NOT_REFERENCED_STATES,
    READY_STATES,
    TERMINATOR,
    ConexError,
    ConexInfo,
    ConexStatus,
    PositionerError,
    as_state,
    encode,
    format_value,
    parse_float,
    parse_te,
    parse_ts,
    parse_version,
    positioner_meaning,
    reply_value,
    state_meaning,
)
from qnic.instruments.rotators.move_state import Move, MoveState, MovingRotator, with_detail

log = logging.getLogger(__name__)
T = TypeVar("T")

# section 3: 921600 baud, CR LF; 8N1 and XON/XOFF as two public CONEX-AGP drivers open it
SERIAL_SETTINGS: dict[str, Any] = {"baudrate": 921600, "bytesize": 8, "parity": "N",
                                   "stopbits": 1, "xonxoff": True}


@dataclass
class _ConexMove(Move):
    command: str = "PA"  # PA, or OR for a home search
    value: str = ""


class Conex(MovingRotator, Instrument):
    """Newport CONEX-AGP (AG-PR100P) or CONEX-CC (PR50CC) rotation stage.

    Args:
        name: instrument name.
        address: serial port or pyserial URL (``sim://conex?...``).
        model: ``"agp"`` or ``"cc"``; checked against ``VE`` and ``ID?``.
        controller_address: the controller's address (int, 1 to 31).
        timeout_s: read timeout of one reply, and the ``TS`` polling interval (s).
        move_timeout_s: longest a move or home search may take (s); default from
            the travel and the speed (AGP 730 s, CC 64 s at 20 deg/s).
        reset_timeout_s: longest the controller may stay silent after ``RS`` (s).
        position_tolerance_deg: how far from its target a move that ended in a
            fault may stop and still be accepted (degrees).
        port: an open pyserial-like port to use instead of ``address`` (tests).
    """

    def __init__(self, name: str, address: str, model: str = "agp", controller_address: int = 1,
                 timeout_s: float = 0.1, move_timeout_s: float | None = None,
                 reset_timeout_s: float = 10.0, position_tolerance_deg: float = 0.01,
                 port: Any = None, **kwargs: Any) -> None:
        if model not in MODELS:
            raise ValueError(f"{name}: CONEX model must be one of {sorted(MODELS)}, got {model!r}")
        encode(controller_address, "TS")  # validates the address before any traffic
        super().__init__(name, **kwargs)
        self.address = address
        self.model = model
        self.spec = MODELS[model]
        self.controller_address = controller_address
        self.move_timeout_s = move_timeout_s
        self.reset_timeout_s = reset_timeout_s
        self.position_tolerance_deg = position_tolerance_deg
        self._timeout_s = timeout_s
        self._port = port
        self._lock = threading.RLock()
        self._info: ConexInfo | None = None
        self._moves = MoveState(name)
        self._last_state = 0x28  # the controller state the last poll of a move saw
        self._velocity_dps = self.spec.speed_dps
        lo, hi = self.spec.travel_deg
        self.angle = self.add_parameter(
            "angle", label="Fast-axis angle", unit="deg",
            get_cmd=self.position_deg, set_cmd=lambda a: self.move_to(a, wait=True),
            vals=Numbers(lo, hi),
            docstring=f"Control the rotation angle in degrees (float, {lo:g} to {hi:g}).")
        if self.spec.has_velocity:
            self.velocity = self.add_parameter(
                "velocity", label="Velocity", unit="deg/s",
                get_cmd=lambda: self._ask("VA", "?", parse_float), set_cmd=self._set_velocity,
                vals=Numbers(1e-6, self.spec.speed_dps),
                docstring="Control the move velocity in deg/s "
                          f"(float, >0 to {self.spec.speed_dps:g}).")

    # -- transport ------------------------------------------------------------
    @property
    def port(self) -> Any:
        """The serial port (opened on first use)."""
        if self._port is None:
            try:
                self._port = serial.serial_for_url(self.address, timeout=self._timeout_s,
                                                   **SERIAL_SETTINGS)
            except (serial.SerialException, ValueError) as exc:
                raise TransportError(self.name, b"", f"cannot open port {self.address}: {exc}"
                                     ) from exc
        return self._port

    def _transact(self, frame: bytes, reply: bool) -> bytes:
        """Write ``frame`` (if any) and, if ``reply``, read one line (b"" on a
        read timeout: with no frame, that is the polling interval)."""
        with self._lock:
            try:
                if frame:
                    self.port.write(frame)
                return self.port.read_until(TERMINATOR) if reply else b""
            except serial.SerialException as exc:
                text = str(exc)  # pyserial names the port in some messages, not all
                detail = text if self.address in text else f"{self.address}: {text}"
                raise TransportError(self.name, frame, detail) from exc

    def write_raw(self, cmd: str) -> None:
        """Send ``cmd`` (e.g. ``"1ST"``) with CR LF; CONEX set commands have no reply."""
        self._transact(cmd.encode("ascii") + TERMINATOR, reply=False)

    def ask_raw(self, cmd: str) -> str:
        """Send ``cmd`` (e.g. ``"1TP"``) and return the reply line without CR LF."""
        frame = cmd.encode("ascii") + TERMINATOR
        line = self._transact(frame, reply=True)
        if not line.endswith(TERMINATOR):
            raise TransportError(self.name, frame,
                                 f"no complete reply within {self._timeout_s:g} s")
        return line[:-2].decode("ascii", errors="replace")

    def close(self) -> None:
        """Close the port."""
        if self._port is not None:
            try:
                self._port.close()
            finally:
                self._port = None
        super().close()

    # -- the protocol ---------------------------------------------------------------
    def _query(self, command: str, value: str, parse: Callable[[str], T]) -> T:
        """One query and its parsed value, no retry."""
        frame = encode(self.controller_address, command, value)
        line = self._transact(frame, reply=True)
        if not line:
            raise TransportError(self.name, frame, f"no reply within {self._timeout_s:g} s")
        try:
            return parse(reply_value(line, self.controller_address, command))
        except ValueError as exc:
            raise ProtocolError(self.name, frame, line, str(exc)) from None

    def _ask(self, command: str, value: str, parse: Callable[[str], T]) -> T:
        """An idempotent query, retried once (logged) on a transport or protocol
        error. A query the controller refuses is not answered, so a silence is
        first explained by ``TE``: a code there raises :class:`DeviceFaultError`."""
        with self._lock:
            _ = self.port  # opened here: a port that cannot open is not worth a retry
            try:
                return self._query(command, value, parse)
            except (TransportError, ProtocolError) as exc:
                if isinstance(exc, TransportError):
                    try:
                        code = self._error_code()
                    except (TransportError, ProtocolError):
                        code = ConexError.NO_ERROR
                    if code != ConexError.NO_ERROR:
                        raise self._fault(code, exc.request) from exc
                log.warning("%s: %r failed (%s); retrying once", self.name, exc.request,
                            exc.detail)
                self._flush()
            return self._query(command, value, parse)

    def _flush(self) -> None:
        try:
            self.port.reset_input_buffer()
        except serial.SerialException as exc:
            log.debug("%s: could not flush the input: %s", self.name, exc)

    def _error_code(self) -> ConexError | str:
        """Read (and so clear) the last command error (``TE``); never retried."""
        return self._query("TE", "", parse_te)

    def _fault(self, code: ConexError | str, request: bytes | str) -> DeviceFaultError:
        if isinstance(code, ConexError):
            return DeviceFaultError(self.name, code, code.meaning, request)
        return DeviceFaultError(self.name, ord(code), f"unknown TE code {code!r}", request)

    def _command(self, command: str, value: str = "") -> None:
        """A set command, then ``TE``: a code there raises :class:`DeviceFaultError`."""
        frame = encode(self.controller_address, command, value)
        with self._lock:
            self._transact(frame, reply=False)
            try:
                code = self._error_code()
            except (TransportError, ProtocolError) as exc:
                raise with_detail(exc, f"reading TE after {frame!r}") from exc
        if code != ConexError.NO_ERROR:
            raise self._fault(code, frame)

    # -- identity --------------------------------------------------------------------
    def _where(self) -> str:
        return f"{self.spec.controller} at controller address {self.controller_address} on " \
            + self.address

    def connect(self) -> ConexInfo:
        """Read and check ``VE`` and ``ID?``; done on first use.

        Raises:
            ProtocolError: the port answers, but not as a CONEX of this model.
            TransportError: nothing answers.
        """
        if self._info is None:
            try:
                controller, firmware = self._ask("VE", "", parse_version)
                stage_id = self._ask("ID", "?", str)
            except InstrumentError as exc:
                raise with_detail(exc, f"expected a {self._where()}") from exc
            if controller != self.spec.controller or self.spec.stage not in stage_id:
                raise ProtocolError(self.name, encode(self.controller_address, "ID", "?"),
                                    f"{controller} with stage {stage_id!r}".encode(),
                                    f"the device at controller address {self.controller_address}"
                                    f" on {self.address} is not a {self.spec.controller} with "
                                    f"stage {self.spec.stage} (model={self.model!r})")
            self._info = ConexInfo(controller, firmware, stage_id)
            log.info("%s: %s firmware %s, stage %s", self.name, controller, firmware, stage_id)
        return self._info

    def get_idn(self) -> dict[str, str | None]:
        """Vendor, model, stage serial and firmware from ``VE`` and ``ID?``."""
        info = self.connect()
        serial_no = info.stage_id.partition("_")[2] or None
        return {"vendor": "Newport", "model": f"{info.controller}/{self.spec.stage}",
                "serial": serial_no, "firmware": info.firmware}

    # -- status -------------------------------------------------------------------------
    def status(self) -> ConexStatus:
        """Read ``TS``: positioner error bits and controller state."""
        errors, code = self._ask("TS", "", parse_ts)
        return ConexStatus(errors, as_state(code), state_meaning(code, self.model))

    def enable(self) -> None:
        """Leave the DISABLE state (``MM1``), e.g. after a following error."""
        self._command("MM", "1")

    # -- motion -------------------------------------------------------------------------
    def home(self) -> None:
        """Search home (``OR``) and wait for READY. A referenced controller is
        reset (``RS``) first, since ``OR`` is allowed only when NOT REFERENCED."""
        self.connect()
        self._settle()
        if self.status().state not in NOT_REFERENCED_STATES:
            self._reset()
        self._launch(_ConexMove(encode(self.controller_address, "OR"), None, "OR"),
                     self._send_move, wait=True)

    def _reset(self) -> None:
        """``RS`` and wait for NOT REFERENCED; a rebooting controller is silent."""
        frame = encode(self.controller_address, "RS")
        self._transact(frame, reply=False)
        for _ in range(max(1, math.ceil(self.reset_timeout_s / self._timeout_s))):
            try:
                _, code = self._query("TS", "", parse_ts)
            except (TransportError, ProtocolError):
                self._flush()
                continue  # still rebooting: silent or noisy, the read timeout was the wait
            if code in NOT_REFERENCED_STATES:
                return
            self._idle()
        raise TransportError(self.name, frame, f"{self._where()} did not come back NOT "
                                               f"REFERENCED within {self.reset_timeout_s:g} s")

    def move_to(self, angle_deg: float, wait: bool = True) -> None:
        """Move to ``angle_deg`` degrees (``PA``); with ``wait=False`` return at
        once (the move's outcome then follows the rules of :mod:`.move_state`)."""
        self.angle.validate(angle_deg)
        self.connect()
        value = format_value(angle_deg)
        self._launch(_ConexMove(encode(self.controller_address, "PA", value), float(angle_deg),
                                "PA", value), self._send_move, wait)

    def _send_move(self, move: Move) -> None:
        """Send a move and read ``TE``: a refusal raises (nothing moved); a
        lost or damaged ``TE`` is settled by the controller state (``TS``)."""
        assert isinstance(move, _ConexMove)
        try:
            self._command(move.command, move.value)
        except DeviceFaultError:
            raise
        except (TransportError, ProtocolError) as exc:
            self._check_started(move, exc)

    def _check_started(self, move: Move, lost: InstrumentError) -> None:
        """After a lost ``TE``: a controller in motion, or at rest on the
        target, took the move (accepted with a warning); else it raises."""
        try:
            errors, code = self._ask("TS", "", parse_ts)
            here = self._read_position_deg()
        except InstrumentError as exc:
            lost.add_note(f"{self.name}: reading the state after it failed too: {exc}")
            raise lost from None
        started = code in MOTION_STATES or (
            code in READY_STATES and move.target_deg is not None
            and abs(here - move.target_deg) <= self.position_tolerance_deg)
        if started and not errors:
            log.warning("%s: the reply to %r was lost (%s), but the controller is %s; the move "
                        "goes on", self.name, move.request, lost, state_meaning(code, self.model))
            return
        raise with_detail(lost, f"the move was not acknowledged: the controller is "
                                f"{code:02X} {state_meaning(code, self.model)} at {here:.4f} deg "
                                f"({self._where()})") from lost

    def _poll_move(self, move: Move) -> float | None:
        """One ``TS``: None while HOMING or MOVING; at READY the position
        checked against the target; a fault, or a link that fails twice,
        stops the stage (see :meth:`_recover`)."""
        try:
            errors, code = self._ask("TS", "", parse_ts)
        except (TransportError, ProtocolError) as exc:
            return self._recover(move, exc)
        self._last_state = code
        text = state_meaning(code, self.model)
        if code in MOTION_STATES and not errors:
            return None
        if code in READY_STATES and not errors:
            here = self._read_position_deg()
            if move.target_deg is not None and abs(here - move.target_deg) > \
                    self.position_tolerance_deg:
                raise MoveIncompleteError(self.name, move.request, move.target_deg, here,
                                          self.position_tolerance_deg)
            return here
        if errors:
            fault = DeviceFaultError(self.name, PositionerError(errors),
                                     f"{positioner_meaning(errors)} (state {code:02X} {text}) "
                                     f"during the {_what(move)}", move.request)
        else:
            fault = DeviceFaultError(self.name, as_state(code),
                                     f"{text}: the {_what(move)} did not end READY", move.request)
        return self._recover(move, fault)

    def _await_move(self, move: Move) -> float:
        """Poll ``TS`` until the move ends, bounded by ``move_timeout_s``.

        A fault (positioner error bits, a state other than HOMING, MOVING or
        READY, a dead link, or no READY in time) stops the stage and reads
        the position back: within ``position_tolerance_deg`` of the target
        the move is accepted with a warning, otherwise the error is raised
        with where the stage stopped. A move is never repeated.
        """
        timeout_s = self._motion_timeout_s()
        for _ in range(max(1, math.ceil(timeout_s / self._timeout_s))):
            here = self._poll_move(move)
            if here is not None:
                return here
            self._idle()
        code = self._last_state
        return self._recover(move, DeviceFaultError(
            self.name, as_state(code), f"still {state_meaning(code, self.model)}: the "
            f"{_what(move)} did not end within {timeout_s:g} s", move.request))

    def _motion_timeout_s(self) -> float:
        if self.move_timeout_s is not None:
            return self.move_timeout_s
        lo, hi = self.spec.travel_deg
        return (hi - lo) / self._velocity_dps * 1.5 + 10.0

    def _idle(self) -> None:
        """Wait one read timeout (the polling interval) on the port's own clock."""
        stray = self._transact(b"", reply=True)
        if stray:
            log.debug("%s: discarded unsolicited %r", self.name, stray)

    def _recover(self, move: Move, exc: InstrumentError) -> float:
        """After a fault during a move: stop, read back, accept within tolerance."""
        try:
            self._stop_quietly()
            here = self._read_position_deg()
        except InstrumentError as err:
            log.warning("%s: could not stop and read back after %s: %s", self.name, exc, err)
            raise exc from None
        target = move.target_deg
        if target is not None and abs(here - target) <= self.position_tolerance_deg:
            log.warning("%s: %r ended with an error (%s) but the stage is at %.5f deg, within "
                        "%g deg of the target; accepted", self.name, move.request, exc,
                        here, self.position_tolerance_deg)
            return here
        where = f"the stage was stopped at {here:.4f} deg"
        if target is not None:
            where += f", {here - target:+.4f} deg from the target {target:.4f} deg"
        raise with_detail(exc, f"{where} ({self._where()})") from exc

    def _stop_quietly(self) -> None:
        frame = encode(self.controller_address, "ST")
        self._transact(frame, reply=False)
        code = self._error_code()
        if code != ConexError.NO_ERROR:
            log.warning("%s: %r answered TE %s", self.name, frame, code)

    def stop(self) -> None:
        """Stop a move or home search (``ST``)."""
        if self._moves.move is not None:
            self._moves.succeed()  # ended by the caller, not failed
        self._command("ST")

    def _read_position_deg(self) -> float:
        """Read the position (``TP``) in degrees."""
        return self._ask("TP", "", parse_float)

    def _set_velocity(self, velocity_dps: float) -> None:
        self._command("VA", format_value(velocity_dps))
        self._velocity_dps = velocity_dps


def _what(move: Move) -> str:
    return "move" if move.target_deg is not None else "home search"
