"""Single Quantum Eos SNSPD controller, a QCoDeS Instrument over two TCP sockets.

Facts: docs/protocols.md section 5.3 (the vendor's MIT
``WebSQControl.py``); messages in :mod:`single_quantum_codec`. Commands are
not answered: like the vendor client, the driver keeps the labels the
controller broadcasts, and a set is confirmed when the broadcast of its
label carries the new value (an ``*Error*`` label raises instead). Counts
arrive on the second port, one line per measurement period; after a
change, the driver drops what was buffered and one more period (the one in
progress), so every reading it returns was counted with the new settings.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Sequence
from typing import Any

from qcodes.instrument import Instrument
from qcodes.validators import Bool, Ints, Numbers
from qcodes.validators import Sequence as SequenceOf

from qnic.instruments.detectors import single_quantum_codec as sq
from qnic.instruments.detectors.overexposure import ProtectionEvent
from qnic.instruments.detectors.single_quantum_channel import EosChannel
from qnic.instruments.detectors.single_quantum_codec import EosInfo
from qnic.instruments.detectors.single_quantum_counts import EosCounts
from qnic.instruments.detectors.single_quantum_link import SocketLink, parse_address
from qnic.instruments.errors import DeviceFaultError, ProtocolError, TransportError

__all__ = ["EosChannel", "EosInfo", "SingleQuantumEos", "parse_address"]

log = logging.getLogger(__name__)

EXPECTED = "a Single Quantum Eos control port (JSON label messages ending in 0x17, port 12000)"
_TOL = 0.01  # uA / mV: a broadcast value this close to the value set confirms it


class SingleQuantumEos(EosCounts, Instrument):
    """Single Quantum Eos SNSPD controller (JSON control port and counts port).

    Args:
        name: instrument name.
        address: ``HOST``, ``HOST:PORT`` or ``tcp://HOST:PORT[?counts=PORT]``
            of the control port (default port 12000).
        counts_port: TCP port of the counts stream (default 12345, or the
            ``counts`` of the address).
        tagger_channels: the tagger channel each detector feeds, in the
            controller's order (default 1..N, read at connection).
        timeout_s: longest wait for a reply, a confirmation or a line (s).
        port: an open socket-like object for the control port (tests).
        counts_socket: an open socket-like object for the counts port (tests).
    """

    def __init__(self, name: str, address: str, counts_port: int | None = None,
                 tagger_channels: Sequence[int] | None = None, timeout_s: float = 2.0,
                 port: Any = None, counts_socket: Any = None, **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        self.host, self.control_port, url_counts = parse_address(address)
        self.counts_port = counts_port or url_counts or sq.COUNTS_PORT
        self.timeout_s = timeout_s
        self._control = SocketLink(port, name) if port is not None else None
        self._counts = SocketLink(counts_socket, name) if counts_socket is not None else None
        self._lock = threading.RLock()
        self._counts_lock = threading.Lock()
        self._labels: dict[str, Any] = {}
        self._info: EosInfo | None = None
        self._last_request: bytes = b""
        self._pending: list[sq.Message] = []  # received, not yet looked at by _await_label
        self._tagger_channels = list(tagger_channels) if tagger_channels is not None else None
        self.detector_channels: list[EosChannel] = []
        self.protection_events: list[ProtectionEvent] = []  # from guarded read_counts
        if self._tagger_channels is not None:
            self._add_channels(len(self._tagger_channels))

        bias = SequenceOf(Numbers(-sq.BIAS_LIMIT_UA, sq.BIAS_LIMIT_UA))
        self.number_of_detectors = self.add_parameter(
            "number_of_detectors", label="Number of detectors", unit="",
            get_cmd=lambda: self.connect().number_of_detectors, vals=Ints(1, 1024),
            docstring="Get the number of detectors (int, read at connection).")
        self.measurement_period_ms = self.add_parameter(
            "measurement_period_ms", label="Measurement period", unit="ms",
            get_cmd=lambda: int(self._cached(sq.Label.MEASUREMENT_PERIOD)),
            set_cmd=lambda v: self._set(sq.Command.SET_MEASUREMENT_PERIOD, int(v)),
            vals=Ints(sq.MIN_PERIOD_MS, sq.MAX_PERIOD_MS),
            docstring="Control the counters' integration time in ms (int, 10 to 60000).")
        self.detectors_enabled = self.add_parameter(
            "detectors_enabled", label="Detectors enabled", unit="",
            get_cmd=lambda: bool(self._cached(sq.Label.DETECTOR_ENABLE)),
            set_cmd=lambda v: self._set(sq.Command.DETECTOR_ENABLE, bool(v)), vals=Bool(),
            docstring="Control the bias outputs of all detectors (bool, True biases them).")
        self.bias_currents_ua = self.add_parameter(
            "bias_currents_ua", label="Bias currents", unit="uA",
            get_cmd=lambda: [float(v) for v in self._cached(sq.Label.BIAS_CURRENT)],
            set_cmd=lambda v: self._set_list(sq.Command.SET_ALL_BIAS_CURRENTS, v), vals=bias,
            docstring="Control every detector's bias current in uA (list of float, "
                      "-90.9 to 90.9, one per detector).")
        self.trigger_levels_mv = self.add_parameter(
            "trigger_levels_mv", label="Trigger levels", unit="mV",
            get_cmd=lambda: [float(v) for v in self._cached(sq.Label.TRIGGER_LEVEL)],
            set_cmd=lambda v: self._set_list(sq.Command.SET_ALL_TRIGGER_LEVELS, v),
            vals=SequenceOf(Numbers(-sq.TRIGGER_LIMIT_MV, sq.TRIGGER_LIMIT_MV)),
            docstring="Control every counter's trigger level in mV (list of float, "
                      "-1000 to 1000, one per detector).")
        self.bias_voltages_mv = self.add_parameter(
            "bias_voltages_mv", label="Bias voltages", unit="mV", get_cmd=self._bias_voltages,
            vals=SequenceOf(Numbers()),
            docstring="Get every detector's bias voltage in mV (list of float; a latched "
                      "nanowire shows a high voltage).")

    def _add_channels(self, n: int) -> None:
        tagger = self._tagger_channels or list(range(1, n + 1))
        for i in range(n):
            ch = EosChannel(self, f"det{i + 1}", i, tagger[i])
            self.add_submodule(f"det{i + 1}", ch)
            self.detector_channels.append(ch)

    # -- connection ------------------------------------------------------------
    def _open(self, port: int) -> SocketLink:
        return SocketLink.open(self.name, self.host, port, self.timeout_s)

    @property
    def control(self) -> SocketLink:
        """The control link (opened on first use)."""
        if self._control is None:
            self._control = self._open(self.control_port)
        return self._control

    def connect(self) -> EosInfo:
        """Ask for every label (``labelProps``) and check the answer is an Eos's.

        Raises:
            ProtocolError: the port answers, but not as an Eos does.
            TransportError: no answer.
        """
        with self._lock:
            if self._info is not None:
                return self._info
            request = sq.encode_request(sq.Request.LABEL_PROPS)
            self._send(request)
            required = {sq.Label.NUMBER_OF_DETECTORS, sq.Label.MEASUREMENT_PERIOD,
                        sq.Label.BIAS_CURRENT, sq.Label.TRIGGER_LEVEL, sq.Label.DETECTOR_ENABLE}
            deadline = time.monotonic() + self.timeout_s
            answered = False
            while not all(label.value in self._labels for label in required):
                messages = self._receive(request, deadline)
                answered = answered or bool(messages)
                if not messages or time.monotonic() > deadline:
                    missing = sorted(lb.value for lb in required if lb.value not in self._labels)
                    if not answered:
                        raise TransportError(self.name, request, f"no reply within "
                                             f"{self.timeout_s} s (expected {EXPECTED})")
                    raise ProtocolError(self.name, request, b"", f"expected {EXPECTED}; its "
                                        f"labelProps answer lacks {', '.join(missing)}")
            n = self._labels[sq.Label.NUMBER_OF_DETECTORS.value]
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise ProtocolError(self.name, request, repr(n).encode(),
                                    f"expected {EXPECTED}; NumberOfDetectors is not a count")
            if not self.detector_channels:
                self._add_channels(n)
            elif len(self.detector_channels) != n:
                raise ProtocolError(self.name, request, repr(n).encode(),
                                    f"the controller has {n} detectors, but "
                                    f"{len(self.detector_channels)} tagger channels were given")
            self._info = EosInfo(n, tuple(sorted(self._labels)))
            log.info("%s: Eos with %d detectors at %s:%d", self.name, n, self.host,
                     self.control_port)
            return self._info

    def get_idn(self) -> dict[str, str | None]:
        """Vendor and model (the protocol reports no serial or firmware)."""
        info = self.connect()
        return {"vendor": "Single Quantum", "model": f"Eos ({info.number_of_detectors} ch)",
                "serial": None, "firmware": None}

    def close(self) -> None:
        """Close both sockets."""
        for link in (self._control, self._counts):
            if link is not None:
                link.close()
        self._control = self._counts = None
        super().close()

    # -- control traffic ---------------------------------------------------------
    def _send(self, data: bytes) -> None:
        self._last_request = data
        self._pending.clear()  # what came before a request cannot answer it
        try:
            self.control.send(data)
        except TransportError:
            self._forget_control()
            raise

    def _forget_control(self) -> None:
        """After a dead link: close it; the next call reconnects (and asks
        for every label again)."""
        if self._control is not None:
            self._control.close()
        self._control = None
        self._info = None
        self._labels.clear()
        self._pending.clear()

    def _receive(self, request: bytes, deadline: float) -> list[sq.Message]:
        """Wait until ``deadline`` for complete frames; file every label they carry.

        Returns:
            The messages of the frames received ([] when the time ran out).

        Raises:
            DeviceFaultError: an ``*Error*`` label arrived.
            ProtocolError: bytes that are not the controller's JSON frames.
            TransportError: the link failed.
        """
        if self._pending:
            out, self._pending = self._pending, []
            return out
        link = self.control
        while True:
            frames, rest = sq.split_frames(bytes(link.rx))
            if rest.lstrip()[:1] not in (b"", b"{"):
                raise ProtocolError(self.name, request, bytes(link.rx)[:200], f"expected {EXPECTED}")
            if frames:
                del link.rx[: len(link.rx) - len(rest)]
                return self._file(request, frames)
            try:
                # a receive that comes back empty has waited out its timeout
                if not link.recv_some(deadline - time.monotonic()):
                    if link.rx:
                        raise ProtocolError(self.name, request, bytes(link.rx)[:200],
                                            f"expected {EXPECTED}: no 0x17 ends the reply")
                    return []
            except OSError as exc:
                self._forget_control()
                raise TransportError(self.name, request, str(exc)) from None

    def _file(self, request: bytes, frames: list[bytes]) -> list[sq.Message]:
        messages: list[sq.Message] = []
        for frame in frames:
            try:
                messages += sq.parse_frame(frame)
            except (ValueError, UnicodeDecodeError) as exc:
                raise ProtocolError(self.name, request, frame[:200], f"expected {EXPECTED}: {exc}")
        errors = [m for m in messages if m.is_error]
        for m in messages:
            if m.label is not None and not m.is_error:
                self._labels[m.label] = m.label_value
        if errors:
            err = errors[0]
            raise DeviceFaultError(self.name, -1, f"{err.label}: {err.value}", request)
        return messages

    def _poll(self) -> None:
        """File the broadcasts that arrived meanwhile (never waits)."""
        link = self.control
        try:
            link.drain(self._last_request)
        except TransportError:
            self._forget_control()
            raise
        frames, rest = sq.split_frames(bytes(link.rx))
        if frames:
            del link.rx[: len(link.rx) - len(rest)]
            self._file(self._last_request, frames)

    def _cached(self, label: sq.Label) -> Any:
        """A label's value as last broadcast."""
        with self._lock:
            self.connect()
            self._poll()
            return self._labels[label.value]

    def _await_label(self, request: bytes, label: str, accept: Any, what: str,
                     timeout_s: float | None = None) -> Any:
        """Read until ``label`` arrives with a value ``accept`` takes.

        Raises:
            TransportError: ``label`` did not arrive in time.
            ProtocolError: it arrived, but never with an accepted value.
        """
        wait_s = self.timeout_s if timeout_s is None else timeout_s
        deadline = time.monotonic() + wait_s
        seen: list[Any] = []
        while True:
            messages = self._receive(request, deadline)
            for i, m in enumerate(messages):
                if m.label == label:
                    seen.append(m.label_value)
                    if accept(m.label_value):
                        self._pending = messages[i + 1:]
                        return m.label_value
            if not messages or time.monotonic() > deadline:
                break
        if not seen:
            raise TransportError(self.name, request,
                                 f"no {label} broadcast within {wait_s:g} s confirming {what}")
        raise ProtocolError(self.name, request, repr(seen[-1]).encode(),
                            f"the controller reports {label} = {seen[-1]!r} after {what}")

    def _set(self, command: sq.Command, value: Any) -> None:
        """Send a command and wait for its label's broadcast to carry ``value``."""
        with self._lock:
            self.connect()
            self._poll()
            request = sq.encode_command(command, value)
            self._send(request)
            label = sq.COMMAND_LABEL[command].value
            self._await_label(request, label, lambda got: _same(got, value), f"setting {value!r}")

    def _set_list(self, command: sq.Command, values: Sequence[float]) -> None:
        n = self.connect().number_of_detectors
        self._set(command, sq.check_list(command.value, values, n))

    def _bias_voltages(self) -> list[float]:
        with self._lock:
            self.connect()
            self._poll()
            request = sq.encode_request(sq.Request.BIAS_VOLTAGE)
            self._send(request)
            got = self._await_label(request, sq.Label.BIAS_VOLTAGE.value,
                                    lambda v: isinstance(v, list), "requesting it")
            return [float(v) for v in got]

    # -- automatic bias calibration ----------------------------------------------
    def auto_calibrate_bias(self, dark_counts_hz: Sequence[int], apply: bool = True,
                            timeout_s: float = 120.0) -> list[float]:
        """Find the bias at which each detector counts its target dark rate.

        Block the light first: the controller sweeps the bias and watches
        the counts. Sends ``DarkCountsAutoIV`` then ``AutoCaliBiasCurrents``,
        waits for ``StartAutoIV`` to go true and back to false, and reads
        ``BiasCurrentAutoIV`` (docs/protocols.md 5.3).

        Args:
            dark_counts_hz: target dark counts per detector (int, counts/s;
                UNVERIFIED unit, the vendor calls them "dark counts").
            apply: also set the found currents as the bias currents.
            timeout_s: longest the calibration may take (s).

        Returns:
            The found bias currents (uA), one per detector.
        """
        n = self.connect().number_of_detectors
        targets = [int(v) for v in dark_counts_hz]
        if len(targets) != n or any(v < 0 or v != t for v, t in zip(dark_counts_hz, targets)):
            raise ValueError(f"{self.name}: expected {n} whole dark-count targets >= 0, "
                             f"got {list(dark_counts_hz)}")
        auto_iv = sq.Label.BIAS_CURRENT_AUTO_IV.value
        with self._lock:
            self._poll()
            self._labels.pop(auto_iv, None)
            self._send(sq.encode_command(sq.Command.DARK_COUNTS_AUTO_IV, targets, with_label=False))
            request = sq.encode_command(sq.Command.AUTO_CALI_BIAS_CURRENTS, True, with_label=False)
            self._send(request)
            label = sq.Label.START_AUTO_IV.value
            self._await_label(request, label, lambda v: v is True, "starting the calibration")
            self._await_label(request, label, lambda v: v is False, "running the calibration",
                              timeout_s)
            found = self._labels.get(auto_iv)
            if found is None:  # not broadcast: ask for every label
                request = sq.encode_request(sq.Request.LABEL_PROPS)
                self._send(request)
                found = self._await_label(request, auto_iv, lambda v: True, "the calibration")
        if not isinstance(found, list):
            raise ProtocolError(self.name, request, repr(found).encode(),
                                "BiasCurrentAutoIV is not a list of currents")
        currents = sq.check_list("BiasCurrentAutoIV", found, n)
        log.info("%s: calibrated bias currents %s uA", self.name, currents)
        if apply:
            self.bias_currents_ua(currents)
        return currents


def _same(got: Any, want: Any) -> bool:
    """A broadcast value confirms a set value (lists element-wise, within 0.01)."""
    if isinstance(want, bool) or isinstance(got, bool):
        return got is want
    if isinstance(want, list):
        return isinstance(got, list) and len(got) == len(want) and all(
            _same(g, w) for g, w in zip(got, want))
    if isinstance(got, (int, float)) and isinstance(want, (int, float)):
        return math.isclose(float(got), float(want), abs_tol=_TOL)
    return bool(got == want)
