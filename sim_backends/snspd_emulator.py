"""A Single Quantum Eos SNSPD controller served on loopback TCP, coupled to a bench.

Two listening sockets on 127.0.0.1 (ephemeral ports), as the controller's
(docs/protocols.md 5.3): the control port speaks the JSON protocol (commands
are answered by a broadcast of the label they set, requests by the labels
asked for, every message followed by 0x17; a ``labelProps`` answer runs
its objects together, ``{}{}``, as the reference says the controller may),
and the counts port streams one line per measurement period, "Unix time,
count, count, ...". The stream is paced: one period of counts every
``period / speedup`` seconds of wall time, so tests read seconds of counts
in a fraction of that; counts never touch the bench's tag stream or clock.

The physics of each nanowire is :class:`SnspdModel`; what it decides is
pushed into the bench (``Bench.set_detector_state``), so the simulated
tagger sees the same detector: efficiency and dark counts follow the bias,
a latched or unbiased nanowire emits nothing.

Use it as a context manager (``with EosEmulator(bench) as eos:``); its two
threads stop and its sockets close on exit.
"""

from __future__ import annotations

import enum
import json
import logging
import math
import selectors
import socket
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import numpy as np

from qnic.instruments.detectors.single_quantum_codec import (
    BIAS_LIMIT_UA,
    ETB,
    MIN_PERIOD_MS,
)
from qnic.sim.bench import Bench
from qnic.sim.registry import registry

log = logging.getLogger(__name__)

EPOCH_S = 1_700_000_000.0  # Unix time of the emulator's first period (deterministic stamps)


@dataclass(frozen=True)
class SnspdModel:
    """Bias dependence of one nanowire (a documented model, typical numbers).

    With I the magnitude of the bias current:

    - efficiency factor (times the bench detector's plateau ``efficiency``)
      ``f(I) = 1 / (1 + exp(-(I - half_efficiency_ua) / efficiency_width_ua))``:
      a sigmoid rising to its plateau (f ~ 1) below the switching current;
    - dark counts ``dark(I) = plateau_dark_hz * f(I) + switch_dark_hz *
      exp((I - switching_ua) / dark_slope_ua)``: the bench's ``dark_count_hz``
      on the plateau (stray thermal photons, detected with f), and intrinsic
      dark counts rising exponentially near the switching current;
    - latching: a bias above ``switching_ua`` drives the wire normal; it stays
      latched (no counts) until the bias is brought to or below
      ``retrapping_ua`` (or 0, or the outputs disabled);
    - bias voltage ``I * series_kohm`` (mV, uA * kOhm), plus ``I *
      normal_kohm`` while latched.

    ``plateau_dark_hz`` None takes the bench detector's ``dark_count_hz``.
    """

    switching_ua: float = 15.0
    retrapping_ua: float = 5.0
    half_efficiency_ua: float = 10.0
    efficiency_width_ua: float = 0.8
    plateau_dark_hz: float | None = None
    switch_dark_hz: float = 1e4
    dark_slope_ua: float = 0.5
    series_kohm: float = 1.0
    normal_kohm: float = 500.0

    def efficiency_factor(self, bias_ua: float) -> float:
        """f(I), 0 to 1."""
        return 1.0 / (1.0 + math.exp(-(abs(bias_ua) - self.half_efficiency_ua)
                                     / self.efficiency_width_ua))

    def dark_hz(self, bias_ua: float, plateau_dark_hz: float) -> float:
        """Dark-count rate at ``bias_ua`` (Hz) below the switching current."""
        plateau = plateau_dark_hz if self.plateau_dark_hz is None else self.plateau_dark_hz
        return (plateau * self.efficiency_factor(bias_ua)
                + self.switch_dark_hz * math.exp((abs(bias_ua) - self.switching_ua)
                                                 / self.dark_slope_ua))

    def bias_voltage_mv(self, bias_ua: float, latched: bool) -> float:
        """Voltage across the bias output (mV)."""
        return bias_ua * (self.series_kohm + (self.normal_kohm if latched else 0.0))


class EosFault(enum.Enum):
    """Faults the emulator can inject (``EosEmulator.inject``)."""

    SILENT = "silent"
    """The next command or request is not heard: no action, no reply."""
    ERROR = "error"
    """The next command is refused with an ``Error`` broadcast."""
    GARBLED = "garbled"
    """The next control reply is replaced by bytes that are not JSON."""
    DISCONNECT = "disconnect"
    """Every client connection is closed at once."""


@dataclass
class _Detector:
    channel: int
    model: SnspdModel
    bias_ua: float = 0.0
    trigger_mv: float = 50.0
    latched: bool = False


class EosEmulator:
    """The controller: its state, its two servers and its count stream.

    Args:
        bench: the bench (or its name in the registry) the detectors sit on.
        channels: the bench channel of each detector, in controller order.
        model: one :class:`SnspdModel` for all detectors, or one each.
        speedup: simulated seconds of counts per second of wall time (> 0).
        period_ms: measurement period at power-up (ms).
        bias_ua: bias currents at power-up (uA; default 0).
        enabled: whether the bias outputs are on at power-up.
        seed: seed of the count noise (default: the bench's seed + 1).
        pulse_amplitude_mv: pulse height at the counters; a trigger level at
            or above it counts nothing.
        noise_mv: counter noise; a trigger level at or below it adds
            ``noise_rate_hz`` of false counts.
        autoiv_periods: measurement periods an automatic calibration takes.
    """

    def __init__(self, bench: Bench | str, channels: Sequence[int] = (1, 2, 3, 4),
                 model: SnspdModel | Sequence[SnspdModel] = SnspdModel(), speedup: float = 20.0,
                 period_ms: int = 100, bias_ua: Sequence[float] | None = None,
                 enabled: bool = False, seed: int | None = None,
                 pulse_amplitude_mv: float = 400.0, noise_mv: float = 5.0,
                 noise_rate_hz: float = 1e6, autoiv_periods: int = 10) -> None:
        self.bench = registry().get(bench) if isinstance(bench, str) else bench
        models = [model] * len(channels) if isinstance(model, SnspdModel) else list(model)
        if len(models) != len(channels) or not channels:
            raise ValueError("give one SnspdModel, or one per detector channel")
        if not speedup > 0:
            raise ValueError(f"speedup must be > 0, got {speedup}")
        self.detectors = [_Detector(int(ch), m) for ch, m in zip(channels, models)]
        for det, bias in zip(self.detectors, bias_ua or [0.0] * len(channels)):
            det.bias_ua = float(bias)
        self._dets = {d.channel: self.bench.params.detector(d.channel) for d in self.detectors}
        self.speedup = speedup
        self.period_ms = int(period_ms)
        self.enabled = enabled
        self.pulse_amplitude_mv = pulse_amplitude_mv
        self.noise_mv = noise_mv
        self.noise_rate_hz = noise_rate_hz
        self.autoiv_periods = autoiv_periods
        self.rng = np.random.default_rng(self.bench.params.seed + 1 if seed is None else seed)
        self.dark_targets_hz: list[float] = [100.0] * len(channels)
        self.autoiv_result: list[float] = [0.0] * len(channels)
        self._autoiv_left = 0
        self.periods = 0
        self.extra_labels: dict[str, Any] = {}
        self.received: deque[dict[str, Any]] = deque(maxlen=1000)
        """The last messages the host sent (newest last)."""
        self._faults: list[EosFault] = []
        self._lock = threading.RLock()
        self._send_lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._control_clients: dict[socket.socket, bytearray] = {}
        self._count_clients: dict[socket.socket, bytearray] = {}
        self._listeners: list[socket.socket] = []
        self._wake: tuple[socket.socket, socket.socket] | None = None
        self.control_port = 0
        self.counts_port = 0

    # -- life cycle -------------------------------------------------------------
    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def address(self) -> str:
        """The driver address: ``tcp://127.0.0.1:CONTROL?counts=COUNTS``."""
        return f"tcp://127.0.0.1:{self.control_port}?counts={self.counts_port}"

    def start(self) -> None:
        """Bind both ports on 127.0.0.1 and start serving."""
        if self._threads:
            raise RuntimeError("the emulator is already running")
        self._stop.clear()
        for _ in range(2):
            srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            srv.bind(("127.0.0.1", 0))
            srv.listen(4)
            srv.setblocking(False)
            self._listeners.append(srv)
        self.control_port = self._listeners[0].getsockname()[1]
        self.counts_port = self._listeners[1].getsockname()[1]
        self._wake = socket.socketpair()
        with self._lock:
            self._push_to_bench()
        self._threads = [threading.Thread(target=self._serve, name="eos-control", daemon=True),
                         threading.Thread(target=self._count, name="eos-counts", daemon=True)]
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        """Stop both threads and close every socket."""
        self._stop.set()
        if self._wake is not None:
            self._wake[1].send(b"x")
        for t in self._threads:
            t.join(timeout=5.0)
            if t.is_alive():
                raise RuntimeError(f"emulator thread {t.name} did not stop")
        self._threads = []
        for sock in [*self._listeners, *self._control_clients, *self._count_clients,
                     *(self._wake or ())]:
            sock.close()
        self._listeners, self._wake = [], None
        self._control_clients.clear()
        self._count_clients.clear()

    def inject(self, fault: EosFault) -> None:
        """Queue a fault; ``DISCONNECT`` acts at once."""
        if fault is EosFault.DISCONNECT:
            with self._send_lock:
                for sock in [*self._control_clients, *self._count_clients]:
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except OSError:  # already gone
                        pass
            return
        with self._lock:
            self._faults.append(fault)

    # -- physics ------------------------------------------------------------------
    def _push_to_bench(self) -> None:
        """Tell the bench what each nanowire does now (the tagger sees it too)."""
        for det in self.detectors:
            dp = self._dets[det.channel]
            counting = self.enabled and not det.latched and det.bias_ua != 0.0
            self.bench.set_detector_state(
                det.channel, enabled=counting,
                efficiency_factor=det.model.efficiency_factor(det.bias_ua),
                dark_count_hz=det.model.dark_hz(det.bias_ua, dp.dark_count_hz))

    def _set_bias(self, values: list[float]) -> None:
        for det, bias in zip(self.detectors, values):
            det.bias_ua = bias
            if abs(bias) > det.model.switching_ua:
                det.latched = True  # the wire goes normal and stays so (self-heating)
            elif abs(bias) <= det.model.retrapping_ua:
                det.latched = False
        self._push_to_bench()

    def rate_hz(self, det: _Detector, bias_ua: float | None = None) -> float:
        """Mean count rate of one detector's counter (Hz), dead time included."""
        bias = det.bias_ua if bias_ua is None else bias_ua
        dp = self._dets[det.channel]
        if not self.enabled or det.latched or bias == 0.0 or det.trigger_mv >= self.pulse_amplitude_mv:
            clicks = 0.0
        else:
            light = self.bench.light_rates_hz()[det.channel]
            clicks = light * det.model.efficiency_factor(bias) + det.model.dark_hz(bias, dp.dark_count_hz)
            clicks /= 1.0 + clicks * dp.dead_time_ns * 1e-9  # non-paralyzable dead time
        if self.enabled and det.trigger_mv <= self.noise_mv:
            clicks += self.noise_rate_hz
        return clicks

    def _calibrate(self) -> list[float]:
        """The bias at which each counter counts its target rate (bisection on
        the monotonic rate(I) below the switching current; the light is
        counted too, as on the device, so calibrate in the dark)."""
        found = []
        for det, target in zip(self.detectors, self.dark_targets_hz):
            lo, hi = 0.0, det.model.switching_ua * 0.999
            saved, det.latched = det.latched, False
            for _ in range(40):
                mid = 0.5 * (lo + hi)
                lo, hi = (mid, hi) if self.rate_hz(det, mid) < target else (lo, mid)
            det.latched = saved
            found.append(round(lo, 3))
        return found

    # -- count stream ---------------------------------------------------------------
    def _count(self) -> None:
        while not self._stop.wait(self.period_ms / 1000.0 / self.speedup):
            with self._lock:
                period_s = self.period_ms / 1000.0
                counts = [int(self.rng.poisson(self.rate_hz(d) * period_s)) for d in self.detectors]
                self.periods += 1
                stamp = EPOCH_S + self.periods * period_s
                line = (f"{stamp:.3f}," + ",".join(str(c) for c in counts) + "\n").encode()
                if self._autoiv_left > 0:
                    self._autoiv_left -= 1
                    if self._autoiv_left == 0:
                        self._finish_autoiv()
                # sent under the lock, so every line counted before a change
                # has left before the change is broadcast
                for sock, unsent in list(self._count_clients.items()):
                    self._send_line(sock, unsent, line)

    def _send_line(self, sock: socket.socket, unsent: bytearray, line: bytes) -> None:
        """Send without blocking. A client that does not keep up loses whole
        lines (at most the rest of one line waits here), never the device's
        pace, and never gets lines that waited long enough to be stale."""
        if not unsent:
            unsent += line
        try:
            sent = sock.send(unsent)
        except BlockingIOError:
            sent = 0
        except OSError:  # the client went away
            self._count_clients.pop(sock, None)
            sock.close()
            return
        del unsent[:sent]

    def _finish_autoiv(self) -> None:
        self.autoiv_result = self._calibrate()
        self._set_bias(self.autoiv_result)
        self._broadcast({"label": "BiasCurrentAutoIV", "value": self.autoiv_result},
                        {"label": "BiasCurrent", "value": self._biases()},
                        {"label": "StartAutoIV", "value": False})

    # -- control server ----------------------------------------------------------------
    def _serve(self) -> None:
        assert self._wake is not None
        with selectors.DefaultSelector() as sel:
            for srv in self._listeners:
                sel.register(srv, selectors.EVENT_READ, "listen")
            sel.register(self._wake[0], selectors.EVENT_READ, "wake")
            while not self._stop.is_set():
                for key, _ in sel.select():
                    sock = key.fileobj
                    assert isinstance(sock, socket.socket)
                    if key.data == "wake":
                        return
                    if key.data == "listen":
                        self._accept(sel, sock)
                    else:
                        self._read_control(sel, sock)

    def _accept(self, sel: selectors.BaseSelector, srv: socket.socket) -> None:
        try:
            client, _ = srv.accept()
        except BlockingIOError:
            return
        if srv is self._listeners[1]:
            client.setblocking(False)
            with self._lock:
                self._count_clients[client] = bytearray()
        else:
            client.settimeout(1.0)
            self._control_clients[client] = bytearray()
            sel.register(client, selectors.EVENT_READ, "control")

    def _read_control(self, sel: selectors.BaseSelector, client: socket.socket) -> None:
        try:
            data = client.recv(65536)
        except OSError:
            data = b""
        if not data:
            sel.unregister(client)
            self._control_clients.pop(client, None)
            client.close()
            return
        buf = self._control_clients[client]
        buf += data
        decoder = json.JSONDecoder()
        text = buf.decode("utf-8", errors="replace")
        pos = 0
        while True:  # the host sends objects back to back, unterminated
            while pos < len(text) and text[pos].isspace():
                pos += 1
            if pos == len(text):
                buf.clear()
                return
            try:
                obj, pos = decoder.raw_decode(text, pos)
            except json.JSONDecodeError:
                if text[pos] == "{" and len(buf) < 65536:
                    del buf[: len(text[:pos].encode())]  # incomplete: wait for the rest
                    return
                self._broadcast({"label": "Error", "value": f"cannot parse {text[pos:pos + 80]!r}"})
                buf.clear()
                return
            self._handle(obj)

    def _handle(self, msg: Any) -> None:
        with self._lock:
            self.received.append(msg if isinstance(msg, dict) else {"raw": msg})
            fault = self._faults.pop(0) if self._faults else None
            if fault is EosFault.SILENT:
                return
            if fault is EosFault.GARBLED:
                self._send_all(b"\xfe\xff garbled \x00" + ETB)
                return
            if not isinstance(msg, dict):
                self._broadcast({"label": "Error", "value": "expected a JSON object"})
            elif fault is EosFault.ERROR:
                self._broadcast({"label": "Error", "value": f"refused {msg!r} (injected)"})
            elif "request" in msg:
                self._request(str(msg["request"]))
            elif "command" in msg:
                self._command(str(msg["command"]), msg.get("value"))
            elif "label" in msg:
                self.extra_labels[str(msg["label"])] = msg.get("value")
                self._broadcast({"label": msg["label"], "value": msg.get("value")})
            else:
                self._broadcast({"label": "Error", "value": f"no command or request in {msg!r}"})

    def _request(self, request: str) -> None:
        if request == "labelProps":
            props = [{"label": name, "value": {"value": value, **extra}}
                     for name, value, extra in self._label_table()]
            self._send_all("".join(json.dumps(p) for p in props).encode() + ETB)
        elif request == "BiasVoltage":
            self._broadcast({"label": "BiasVoltage", "value": [
                round(d.model.bias_voltage_mv(d.bias_ua, d.latched), 3) for d in self.detectors]})
        elif request == "IVHistory":
            self._broadcast({"label": "ic_scan_history", "value": self._ic_history()})
        elif request == "StartAutoIV":
            self._broadcast({"label": "StartAutoIV", "value": self._autoiv_left > 0})
        else:
            self._broadcast({"label": "Error", "value": f"unknown request {request!r}"})

    def _label_table(self) -> list[tuple[str, Any, dict[str, Any]]]:
        """Every label, its value and its properties (the bounds and unit
        keys are this emulator's; the reference does not name them)."""
        n = len(self.detectors)
        return [
            ("NumberOfDetectors", n, {}),
            ("InptMeasurementPeriod", self.period_ms, {"min": MIN_PERIOD_MS, "unit": "ms"}),
            ("BiasCurrent", self._biases(),
             {"min": -BIAS_LIMIT_UA, "max": BIAS_LIMIT_UA, "unit": "uA"}),
            ("TriggerLevel", [d.trigger_mv for d in self.detectors], {"unit": "mV"}),
            ("BiasVoltage", [round(d.model.bias_voltage_mv(d.bias_ua, d.latched), 3)
                             for d in self.detectors], {"unit": "mV"}),
            ("DetectorEnable", self.enabled, {}),
            ("StartAutoIV", self._autoiv_left > 0, {}),
            ("BiasCurrentAutoIV", self.autoiv_result, {"unit": "uA"}),
            ("DarkCountsAutoIV", self.dark_targets_hz, {}),
            *((name, value, {}) for name, value in self.extra_labels.items()),
        ]

    def _biases(self) -> list[float]:
        return [d.bias_ua for d in self.detectors]

    def _command(self, command: str, value: Any) -> None:
        n = len(self.detectors)

        def numbers(limit: float) -> list[float] | None:
            if (isinstance(value, list) and len(value) == n
                    and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                            and abs(v) <= limit for v in value)):
                return [float(v) for v in value]
            self._broadcast({"label": "Error", "value": f"{command}: bad value {value!r} "
                             f"(expected {n} numbers within +-{limit})"})
            return None

        if command == "SetMeasurementPeriod":
            if isinstance(value, bool) or not isinstance(value, int) or value < MIN_PERIOD_MS:
                self._broadcast({"label": "Error", "value": f"bad measurement period {value!r}"})
                return
            self.period_ms = value
            self._broadcast({"label": "InptMeasurementPeriod", "value": value})
        elif command == "SetAllBiasCurrents":
            if (biases := numbers(BIAS_LIMIT_UA)) is not None:
                self._set_bias(biases)
                self._broadcast({"label": "BiasCurrent", "value": self._biases()})
        elif command == "SetAllTriggerLevels":
            if (levels := numbers(math.inf)) is not None:
                for det, level in zip(self.detectors, levels):
                    det.trigger_mv = level
                self._broadcast({"label": "TriggerLevel", "value": levels})
        elif command == "DetectorEnable":
            if not isinstance(value, bool):
                self._broadcast({"label": "Error", "value": f"DetectorEnable needs a bool, got {value!r}"})
                return
            self.enabled = value
            if not value:  # bias off: every latched wire recovers
                for det in self.detectors:
                    det.latched = False
            self._push_to_bench()
            self._broadcast({"label": "DetectorEnable", "value": value})
        elif command == "DarkCountsAutoIV":
            if (targets := numbers(math.inf)) is not None:
                self.dark_targets_hz = targets
                self._broadcast({"label": "DarkCountsAutoIV", "value": value})
        elif command == "AutoCaliBiasCurrents":
            if value is True:
                self._autoiv_left = max(self.autoiv_periods, 1)
            self._broadcast({"label": "StartAutoIV", "value": self._autoiv_left > 0})
        else:
            self._broadcast({"label": "Error", "value": f"unknown command {command!r}"})

    def _ic_history(self) -> list[dict[str, float]]:
        """Counts per period against bias, 0 to the switching current (no latching)."""
        period_s = self.period_ms / 1000.0
        top = max(d.model.switching_ua for d in self.detectors)
        rows = []
        for bias in np.arange(0.0, top, 0.5):
            row = {"biasCurrent": float(bias)}
            for i, det in enumerate(self.detectors):
                saved, det.latched = det.latched, False
                row[f"y{i + 1}"] = self.rate_hz(det, float(bias)) * period_s
                det.latched = saved
            rows.append(row)
        return rows

    def _broadcast(self, *messages: dict[str, Any]) -> None:
        for m in messages:
            self._send_all(json.dumps(m).encode() + ETB)

    def _send_all(self, data: bytes) -> None:
        with self._send_lock:
            for sock in list(self._control_clients):
                try:
                    sock.sendall(data)
                except OSError:
                    log.info("eos emulator: a control client went away")
