"""The serial link to one Thorlabs APT unit: port, start-up, framing, replies.

Facts: docs/protocols.md 2.2 (transport and the FTDI start-up
sequence) and 2.3-2.4 (framing, status updates and their acknowledgement,
HW_RESPONSE / HW_RICHRESPONSE error notices). Every wait is counted in read
timeouts, never in wall-clock time, so it holds on a virtual clock too.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection
from typing import Any, TypeVar

import serial

from qnic.instruments.errors import (
    DeviceFaultError,
    InstrumentError,
    ProtocolError,
    TransportError,
)
from qnic.instruments.rotators.apt_codec import (
    HEADER_LENGTH,
    HOST,
    MOVE_ENDS,
    STATUS_UPDATES,
    USB_UNIT,
    Frame,
    MessageId,
    RichResponse,
    check_form,
    encode_short,
    message_name,
    parse_header,
)
from qnic.instruments.rotators.move_state import with_detail

__all__ = ["AptLink", "Sleep", "fault_code", "fault_meaning", "with_detail"]

log = logging.getLogger(__name__)

# docs/protocols.md 2.2: 115200 baud, 8N1, RTS/CTS hardware flow control
SERIAL_SETTINGS: dict[str, Any] = {"baudrate": 115200, "bytesize": 8, "parity": "N",
                                   "stopbits": 1, "rtscts": True}
# pyLabLib's start-up dwell around the purge (2.2)
STARTUP_DWELL_S = 0.05
# a unit with update messages on sends one every 100 ms (2.4, MSL); a wait
# counts each skipped update as that much of its budget, so a flood of
# updates cannot stretch a bounded wait forever
UPDATE_PERIOD_S = 0.1
# MOT_ACK_DCSTATUSUPDATE: the host's keep-alive while updates are on (2.4)
ACK_UPDATE = encode_short(MessageId.MOT_ACK_DCSTATUSUPDATE)

Sleep = Callable[[float], None]
T = TypeVar("T")


def _no_sleep(seconds: float) -> None:
    """The dwell of a port that is not real hardware: none."""


class AptLink:
    """A serial port carrying APT messages to and from one USB unit (0x50).

    Args:
        device: the instrument's name, for error messages.
        address: a serial port (``/dev/ttyUSB0``, ``COM3``) or a pyserial URL
            such as ``sim://k10cr1?bench=default&arm=A``.
        timeout_s: read timeout of one read (seconds).
        port: an already-open pyserial-like port (tests); skips opening.
        sleep: how to wait the start-up dwells; default ``time.sleep`` on a
            real serial port and no wait on any other port (``sim://``, tests).
    """

    def __init__(self, device: str, address: str, timeout_s: float = 1.0, port: Any = None,
                 sleep: Sleep | None = None) -> None:
        self.device = device
        self.address = address
        self.timeout_s = timeout_s
        self._port = port
        self._sleep = sleep
        self._started = False
        self.lock = threading.RLock()

    # -- the port -----------------------------------------------------------
    @property
    def port(self) -> Any:
        """The open port (opened, and started up, on first use)."""
        if self._port is None:
            try:
                self._port = serial.serial_for_url(self.address, timeout=self.timeout_s,
                                                   **SERIAL_SETTINGS)
            except (serial.SerialException, ValueError, OSError) as exc:
                raise TransportError(self.device, b"",
                                     f"cannot open port {self.address}: {exc}") from exc
        if not self._started:
            self._started = True
            self._startup(self._port)
        return self._port

    def close(self) -> None:
        with self.lock:
            if self._port is not None:
                try:
                    self._port.close()
                finally:
                    self._port = None
                    self._started = False

    def _startup(self, port: Any) -> None:
        """The FTDI start-up of docs/protocols.md 2.2 as pyLabLib does it with
        pyserial: RTS on, dwell, purge both buffers, dwell, RTS off, dwell.
        Baud rate, framing and flow control were set when the port opened.
        A port without modem-control lines (``sim://``, a test port) skips
        the RTS cycle; one without buffers to purge skips the purge."""
        sleep = self._sleep
        if sleep is None:
            sleep = time.sleep if isinstance(port, serial.Serial) else _no_sleep
        has_rts = self._set_rts(port, True)
        sleep(STARTUP_DWELL_S)
        for purge in ("reset_input_buffer", "reset_output_buffer"):
            method = getattr(port, purge, None)
            if method is not None:
                try:
                    method()
                except (serial.SerialException, OSError, NotImplementedError) as exc:
                    log.debug("%s: %s not available: %s", self.address, purge, exc)
        sleep(STARTUP_DWELL_S)
        if has_rts:
            self._set_rts(port, False)
            sleep(STARTUP_DWELL_S)

    def _set_rts(self, port: Any, level: bool) -> bool:
        if not hasattr(type(port), "rts"):  # no modem-control lines at all
            return False
        try:
            port.rts = level
        except (AttributeError, NotImplementedError, serial.SerialException, OSError,
                ValueError) as exc:
            log.debug("%s: no RTS control, start-up RTS cycle skipped (%s)", self.address, exc)
            return False
        return True

    def purge_input(self) -> None:
        """Drop whatever the device sent that was not read (after an error)."""
        with self.lock:
            if self._port is None:
                return
            try:
                self._port.reset_input_buffer()
            except (serial.SerialException, OSError, AttributeError) as exc:
                log.debug("%s: could not purge the input: %s", self.address, exc)

    # -- messages -------------------------------------------------------------
    def write(self, message: bytes) -> None:
        """Send one message."""
        with self.lock:
            try:
                self.port.write(message)
            except (serial.SerialException, OSError) as exc:
                raise TransportError(self.device, message, f"write failed: {exc}") from exc

    def read_frame(self, request: bytes) -> Frame | None:
        """The next whole message, or None when a read times out with nothing.

        Raises:
            TransportError: the port failed.
            ProtocolError: a truncated message, or a header that is not from
                the USB unit to the host.
        """
        with self.lock:
            head = self._read_exact(request, HEADER_LENGTH)
            if not head:
                return None
            if len(head) < HEADER_LENGTH:
                raise ProtocolError(self.device, request, head, "truncated APT header")
            try:
                header = parse_header(head)
            except ValueError as exc:
                raise ProtocolError(self.device, request, head, str(exc)) from None
            # replies come from 0x50 to the host 0x01 (or 0x00) (2.3)
            if header.source != USB_UNIT or header.dest not in (HOST, 0x00):
                raise ProtocolError(self.device, request, head,
                                    f"header from 0x{header.source:02X} to 0x{header.dest:02X}, "
                                    "expected from the USB unit 0x50 to the host")
            data = b""
            if header.data_length:
                data = self._read_exact(request, header.data_length)
                if len(data) < header.data_length:
                    raise ProtocolError(self.device, request, head + data,
                                        f"truncated {message_name(header.msg_id)}: "
                                        f"{len(data)} of {header.data_length} data bytes")
            frame = Frame(header, data, head + data)
            try:
                check_form(frame)
            except ValueError as exc:
                raise ProtocolError(self.device, request, frame.raw, str(exc)) from None
            return frame

    def _read_exact(self, request: bytes, size: int) -> bytes:
        """Up to ``size`` bytes; fewer only when a read times out."""
        buf = b""
        while len(buf) < size:
            try:
                chunk = self.port.read(size - len(buf))
            except (serial.SerialException, OSError) as exc:
                raise TransportError(self.device, request, f"read failed: {exc}") from exc
            if not chunk:
                break
            buf += chunk
        return buf

    def await_reply(self, request: bytes, expect: Collection[int], wait_s: float,
                    on_move_end: Callable[[Frame], None] | None = None) -> Frame:
        """Read until a message whose ID is in ``expect`` arrives.

        Status updates are acknowledged and skipped; a move's end message
        that is not expected goes to ``on_move_end`` (or is skipped).

        Raises:
            TransportError: no such message within ``wait_s`` (counted in
                read timeouts and skipped updates, not in wall-clock time).
            ProtocolError: a malformed message, or a reply to another request.
            DeviceFaultError: HW_RESPONSE or HW_RICHRESPONSE came instead.
        """
        budget_s = max(self.timeout_s, wait_s)
        with self.lock:
            while budget_s > 0:
                frame = self.read_frame(request)
                if frame is None:
                    budget_s -= self.timeout_s
                    continue
                if frame.msg_id in expect:
                    return frame
                if frame.msg_id in STATUS_UPDATES:
                    budget_s -= UPDATE_PERIOD_S
                self._unsolicited(request, frame, expect, on_move_end)
        names = " or ".join(message_name(m) for m in expect)
        raise TransportError(self.device, request, f"no {names} within {wait_s:g} s")

    def _unsolicited(self, request: bytes, frame: Frame, expect: Collection[int],
                     on_move_end: Callable[[Frame], None] | None) -> None:
        if frame.msg_id == MessageId.HW_RESPONSE:
            raise DeviceFaultError(self.device, fault_code(frame), fault_meaning(frame), request)
        if frame.msg_id == MessageId.HW_RICHRESPONSE:
            raise DeviceFaultError(self.device, fault_code(frame), fault_meaning(frame), request)
        if frame.msg_id in STATUS_UPDATES:
            # the keep-alive: a unit sending updates wants to hear the host (2.4)
            log.debug("%s: status update skipped and acknowledged", self.device)
            self.write(ACK_UPDATE)
            return
        if frame.msg_id in MOVE_ENDS:
            if on_move_end is not None:
                on_move_end(frame)
            else:
                log.debug("%s: %s with no move outstanding skipped", self.device, frame.name)
            return
        raise ProtocolError(self.device, request, frame.raw,
                            f"expected {' or '.join(message_name(m) for m in expect)}, "
                            f"got {frame.name}")


    def drain(self, request: bytes, on_move_end: Callable[[Frame], None]) -> None:
        """Read every message already waiting, without waiting: move ends go
        to ``on_move_end``, status updates are acknowledged, other replies
        (late ones) are skipped. A port that cannot tell what is waiting
        (no ``in_waiting``) is left alone.

        Raises:
            DeviceFaultError: an error notice was waiting.
            ProtocolError, TransportError: as :meth:`read_frame`.
        """
        with self.lock:
            while self._waiting(request):
                frame = self.read_frame(request)
                if frame is None:
                    return
                if frame.msg_id in MOVE_ENDS or frame.msg_id in STATUS_UPDATES or frame.msg_id in (
                        MessageId.HW_RESPONSE, MessageId.HW_RICHRESPONSE):
                    self._unsolicited(request, frame, (), on_move_end)
                else:
                    log.debug("%s: late %s skipped", self.device, frame.name)

    def _waiting(self, request: bytes) -> int:
        try:
            return int(getattr(self.port, "in_waiting", 0))
        except (serial.SerialException, OSError) as exc:
            raise TransportError(self.device, request, f"read failed: {exc}") from exc

    def transact(self, request: bytes, expect: int,
                 on_move_end: Callable[[Frame], None] | None = None) -> Frame:
        """Send ``request``; return its reply of ID ``expect`` (one read
        timeout). After an error the unread input is dropped, so the next
        request gets its own reply."""
        with self.lock:
            self.write(request)
            try:
                return self.await_reply(request, (expect,), self.timeout_s, on_move_end)
            except InstrumentError:
                self.purge_input()
                raise

    def query(self, request: bytes, expect: int, decode: Callable[[Frame], T], what: str,
              on_move_end: Callable[[Frame], None] | None = None) -> T:
        """An idempotent query whose reply ``decode`` turns into a value
        (raising ValueError when it cannot). A lost or malformed reply is
        asked for once more, with a warning; a device fault is not."""
        try:
            return self._decoded(request, expect, decode, on_move_end)
        except (TransportError, ProtocolError) as exc:
            log.warning("%s: reading the %s failed (%s); trying once more", self.device, what, exc)
        return self._decoded(request, expect, decode, on_move_end)

    def _decoded(self, request: bytes, expect: int, decode: Callable[[Frame], T],
                 on_move_end: Callable[[Frame], None] | None) -> T:
        frame = self.transact(request, expect, on_move_end)
        try:
            return decode(frame)
        except ValueError as exc:
            self.purge_input()
            raise ProtocolError(self.device, request, frame.raw, str(exc)) from None


def fault_code(frame: Frame) -> int:
    """The code of an error notice. HW_RICHRESPONSE carries one; HW_RESPONSE
    is a bare header whose code the reference does not give, so its two
    parameter bytes are read as a little-endian u16 (0 when unused)."""
    if frame.msg_id == MessageId.HW_RICHRESPONSE:
        return RichResponse.parse(frame.data).code
    return frame.header.param1 | (frame.header.param2 << 8)


def fault_meaning(frame: Frame) -> str:
    """The device's own text of an error notice, and the message it names."""
    if frame.msg_id == MessageId.HW_RICHRESPONSE:
        rich = RichResponse.parse(frame.data)
        notes = rich.notes or "no text given"
        return f"{notes} (HW_RICHRESPONSE for {message_name(rich.msg_ident)})"
    return "HW_RESPONSE: the device reports an event or error needing attention (no detail given)"
