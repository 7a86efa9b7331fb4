"""ID Quantique ID900 / ID1000 Time Controller: ``IdqTimeController``.

SCPI over ZeroMQ and the time-tag stream through IDQ's DataLinkTarget
service, as IDQ's Python examples use them (docs/protocols.md 4d; links in
:mod:`qnic.instruments.timetaggers.idq_link`). Constructing the driver
opens nothing; :meth:`IdqTimeController.connect` (or the first use) checks
the controller (``DEVI:RES:BWID?``) and routes each channel's input to its
raw timestamp block without a reference: ``DELAn:LINK INPUn``,
``TSCOn:FIR:LINK DELAn``, ``TSCOn:OPIN ONLYFIR``, ``TSCOn:OPOU ONLYFIR``,
``TSCOn:WIND:ENAB OFF``, ``RAWn:STOP:LINK TSCOn``, ``RAWn:REF:LINK NONE``.

An acquisition arms the record timer for one record of the asked duration
(``REC:TRIG:ARM:MODE MANUal``, ``REC:ENABle ON``, ``REC:STOP``, ``REC:NUM 1``,
``REC:DURation <ps>``), asks the DLT to stream each channel
(``start-stream``), clears and starts each channel's transfer
(``RAWn:ERRORS:CLEAR``, ``RAWn:SEND ON``), plays (``REC:PLAY``), waits on its
clock, then waits until the controller stops playing (``REC:STAGe?``) and the
DLT has registered the record (``status --id``), drains the streams, stops
them (``stop --id``, ``RAWn:SEND OFF``) and reads ``RAWn:ERRORS?``: errors or
DLT errors mark the interval as overflowed. Timestamps count from the record's
start; consecutive acquisitions are laid end to end on the driver's own
time line.

Commands go one per message (the examples chain some with ``;``).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import zmq
from qcodes.instrument import Instrument, InstrumentChannel
from qcodes.validators import Ints, Numbers

from qnic.instruments.clock import Clock, RealClock
from qnic.instruments.errors import ProtocolError, TransportError
from qnic.instruments.timetaggers.idq_link import (
    DLT_PORT,
    SCPI_PORT,
    STREAM_PORT_BASE,
    DltLink,
    ScpiLink,
    StreamReceiver,
)
from qnic.instruments.timetaggers.protocol import TagBatch

THRESHOLD_RANGE_V = (-2.0, 2.0)  # *unverified*: the examples use -0.4 V and 100 mV
MAX_DELAY_PS = 10**9  # *unverified*: no range found; the controller refuses what it cannot take


def parse_address(address: str) -> str:
    """``HOST``, ``HOST:PORT`` or ``tcp://HOST:PORT`` as a ZeroMQ address (default port 5555)."""
    if "://" in address:
        return address
    host, _, port = address.partition(":")
    if not host:
        raise ValueError(f"expected HOST, HOST:PORT or tcp://HOST:PORT, got {address!r}")
    return f"tcp://{host}:{port or SCPI_PORT}"


class IdqInput(InstrumentChannel):
    """One input of the Time Controller."""

    def __init__(self, parent: IdqTimeController, name: str, channel: int) -> None:
        super().__init__(parent, name)
        self.channel = channel
        lo, hi = THRESHOLD_RANGE_V
        self.threshold_v = self.add_parameter(
            "threshold_v", label=f"Input {channel} threshold", unit="V",
            get_cmd=lambda: float(parent.scpi(f"INPU{channel}:THRE?").rstrip("Vv")),
            set_cmd=lambda v: parent.scpi(f"INPU{channel}:THRE {float(v):g}V"),
            vals=Numbers(lo, hi),
            docstring=f"Control the input threshold in volts (float, {lo:g} to {hi:g}).")
        self.delay_ps = self.add_parameter(
            "delay_ps", label=f"Input {channel} delay", unit="ps",
            get_cmd=lambda: int(float(parent.scpi(f"DELA{channel}:VALU?"))),
            set_cmd=lambda v: parent.scpi(f"DELA{channel}:VALU {int(v)}"),
            vals=Ints(0, MAX_DELAY_PS),
            docstring=f"Control the delay block of this input in ps (int, 0 to {MAX_DELAY_PS}).")


class IdqTimeController(Instrument):
    """An ID900 / ID1000 Time Controller implementing the ``TimeTagger`` protocol.

    Args:
        name: instrument name.
        address: the controller's SCPI port: ``HOST``, ``HOST:PORT`` or a ZeroMQ address.
        port: accepted for the station's uniform driver signature and ignored.
        channels: the inputs to tag (1 to 4).
        dlt_address: the DataLinkTarget service (``tcp://localhost:6060``).
        stream_address: the stream address of a channel's port, ``{port}``
            filled with ``stream_port_base + channel``.
        stream_port_base: 4241 in IDQ's examples.
        context: the ZeroMQ context (default: the process's).
        clock: what acquisitions wait on.
        timeout_s: the longest wait for a reply or for the end of a record.
        poll_s: the pause between two status polls after a record.
    """

    def __init__(self, name: str, address: str = "localhost", *, port: Any = None,
                 channels: Sequence[int] = (1, 2, 3, 4), dlt_address: str = f"tcp://localhost:{DLT_PORT}",
                 stream_address: str = "tcp://localhost:{port}", stream_port_base: int = STREAM_PORT_BASE,
                 context: zmq.Context[Any] | None = None, clock: Clock | None = None,
                 timeout_s: float = 5.0, poll_s: float = 0.05, **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        if not channels or any(c not in (1, 2, 3, 4) for c in channels):
            raise ValueError(f"{name}: channels must be among 1-4, got {list(channels)}")
        self.address = parse_address(address)
        self.host = self.address.split("://", 1)[-1].rsplit(":", 1)[0]
        self.dlt_address = dlt_address
        self.stream_address = stream_address
        self.stream_port_base = stream_port_base
        self.context = context if context is not None else zmq.Context.instance()
        self.clock: Clock = clock if clock is not None else RealClock()
        self.timeout_s, self.poll_s = timeout_s, poll_s
        self._channels = tuple(sorted(set(channels)))
        self._scpi: ScpiLink | None = None
        self._dlt: DltLink | None = None
        self._cursor_ps = 0
        self._lock = threading.RLock()
        self.bin_width_ps: int | None = None
        self._inputs = {ch: IdqInput(self, f"ch{ch}", ch) for ch in self._channels}
        for ch, inp in self._inputs.items():
            self.add_submodule(f"ch{ch}", inp)

    # -- links --------------------------------------------------------------------------
    def connect(self) -> None:
        """Open the SCPI and DLT links, check the controller, route the channels."""
        if self._scpi is not None:
            return
        with self._lock:
            self._scpi = ScpiLink(self.name, self.context, self.address, self.timeout_s)
            self._dlt = DltLink(self.name, self.context, self.dlt_address, self.timeout_s)
            try:
                reply = self._scpi.command("DEVI:RES:BWID?")
                try:
                    self.bin_width_ps = int(reply.removesuffix("TB"))
                except ValueError:
                    raise ProtocolError(self.name, "DEVI:RES:BWID?", reply.encode(),
                                        "expected the bin width as an integer") from None
                for ch in self._channels:
                    for cmd in (f"DELA{ch}:LINK INPU{ch}", f"TSCO{ch}:FIR:LINK DELA{ch}",
                                f"TSCO{ch}:OPIN ONLYFIR", f"TSCO{ch}:OPOU ONLYFIR",
                                f"TSCO{ch}:WIND:ENAB OFF", f"RAW{ch}:STOP:LINK TSCO{ch}",
                                f"RAW{ch}:REF:LINK NONE"):
                        self._scpi.command(cmd)
            except BaseException:
                self._close_links()
                raise
        self.IDN.cache.set(self.get_idn())

    def scpi(self, command: str) -> str:
        """Send one SCPI command to the controller; return its reply."""
        self.connect()
        assert self._scpi is not None
        return self._scpi.command(command)

    def dlt(self, command: str) -> Any:
        """Send one command to the DataLinkTarget service; return its JSON answer."""
        self.connect()
        assert self._dlt is not None
        return self._dlt.command(command)

    def get_idn(self) -> dict[str, str | None]:
        return {"vendor": "ID Quantique", "model": "Time Controller (ID900/ID1000)",
                "serial": None, "firmware": None}

    # -- settings -------------------------------------------------------------------------
    @property
    def input_channels(self) -> tuple[int, ...]:
        return self._channels

    def get_input(self, channel: int) -> IdqInput:
        try:
            return self._inputs[channel]
        except KeyError:
            raise ValueError(f"{self.name}: no input channel {channel!r}; expected one of "
                             f"{list(self._channels)}") from None

    def set_input_delay(self, channel: int, delay_ps: int) -> None:
        """Set the delay block of input ``channel`` (ps)."""
        self.get_input(channel).delay_ps(delay_ps)

    def set_trigger_level(self, channel: int, level_v: float) -> None:
        """Set the threshold of input ``channel`` (V)."""
        self.get_input(channel).threshold_v(level_v)

    # -- acquisition --------------------------------------------------------------------------
    def acquire(self, duration_s: float) -> TagBatch:
        """Record every channel for ``duration_s`` s (one record of the controller).

        Raises:
            ValueError: ``duration_s`` is not a finite number > 0.
            TransportError: the record did not end, or the DLT did not register it.
            DeviceFaultError: the controller or the DLT refused a command.
        """
        if not (math.isfinite(duration_s) and duration_s > 0):
            raise ValueError(f"{self.name}: duration_s must be a finite number of seconds > 0, "
                             f"got {duration_s!r}")
        duration_ps = round(duration_s * 1e12)
        with self._lock:
            self.connect()
            for cmd in ("REC:TRIG:ARM:MODE MANUal", "REC:ENABle ON", "REC:STOP", "REC:NUM 1",
                        f"REC:DURation {duration_ps}"):
                self.scpi(cmd)
            receivers: dict[int, StreamReceiver] = {}
            ids: dict[int, str] = {}
            try:
                self._open_streams(receivers, ids)
                self.scpi("REC:PLAY")
                self.clock.sleep(duration_s)
                self._await_record(ids)
                lost = self._close_streams(receivers, ids)
            finally:
                for rx in receivers.values():
                    rx.close()
            return self._batch(receivers, duration_ps, lost)

    def _open_streams(self, receivers: dict[int, StreamReceiver], ids: dict[int, str]) -> None:
        for ch in self._channels:
            port = self.stream_port_base + ch
            self.scpi(f"RAW{ch}:ERRORS:CLEAR")
            receivers[ch] = StreamReceiver(self.context, self.stream_address.format(port=port))
            answer = self.dlt(f"start-stream --address {self.host} --channel {ch} "
                              f"--stream-port {port}")
            if not (isinstance(answer, dict) and "id" in answer):
                raise ProtocolError(self.name, "start-stream", repr(answer).encode(),
                                    "expected a JSON object with the acquisition's id")
            ids[ch] = str(answer["id"])
            self.scpi(f"RAW{ch}:SEND ON")

    def _await_record(self, ids: dict[int, str]) -> None:
        waited = 0.0
        while True:
            playing = self.scpi("REC:STAGe?").upper() == "PLAYING"
            counts = [self.dlt(f"status --id {i}") for i in ids.values()]
            if not playing and all(isinstance(s, dict) and (s.get("error") or
                                   int(s.get("acquisitions_count", 0)) >= 1) for s in counts):
                return
            if waited >= self.timeout_s:
                raise TransportError(self.name, "REC:STAGe? / status", "the record did not end "
                                     f"within {self.timeout_s} s after its duration")
            self.clock.sleep(self.poll_s)
            waited += self.poll_s

    def _close_streams(self, receivers: dict[int, StreamReceiver], ids: dict[int, str]) -> bool:
        lost = False
        for ch, rx in receivers.items():
            rx.drain(self.poll_s)
            status = self.dlt(f"stop --id {ids[ch]}")
            rx.drain(0.0)
            errors = (status or {}).get("status", {}).get("errors", []) if isinstance(status, dict) else []
            self.scpi(f"RAW{ch}:SEND OFF")
            lost = lost or bool(errors) or int(float(self.scpi(f"RAW{ch}:ERRORS?") or 0)) != 0
        return lost

    def _batch(self, receivers: dict[int, StreamReceiver], duration_ps: int, lost: bool) -> TagBatch:
        start = self._cursor_ps
        stop = start + duration_ps
        self._cursor_ps = stop
        times = [rx.timestamps() + start for rx in receivers.values()]
        chans = [np.full(t.size, ch, dtype=np.int32) for ch, t in zip(receivers, times)]
        t = np.concatenate(times) if times else np.empty(0, np.int64)
        c = np.concatenate(chans) if chans else np.empty(0, np.int32)
        order = np.argsort(t, kind="stable")
        return TagBatch(t[order].astype(np.int64), c[order], start, stop,
                        ((start, stop),) if lost else ())

    def stream(self, duration_s: float, chunk_s: float) -> Iterator[TagBatch]:
        """Consecutive records of ``chunk_s`` s covering ``duration_s`` s (the
        controller's dead time of >= 40 ns between records is not counted)."""
        for value, what in ((duration_s, "duration_s"), (chunk_s, "chunk_s")):
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{self.name}: {what} must be a finite number of seconds > 0")
        n = max(1, math.ceil(duration_s / chunk_s - 1e-9))
        return (self.acquire(min(chunk_s, duration_s - i * chunk_s)) for i in range(n))

    def count_rates(self, duration_s: float) -> dict[int, float]:
        """Rates (Hz) of every channel over one record of ``duration_s`` s."""
        batch = self.acquire(duration_s)
        counts = batch.counts()
        return {ch: counts.get(ch, 0) / batch.duration_s for ch in self._channels}

    def _close_links(self) -> None:
        for link in (self._scpi, self._dlt):
            if link is not None:
                link.close()
        self._scpi = self._dlt = None

    def close(self) -> None:
        """Close the ZeroMQ sockets and the instrument."""
        if getattr(self, "_lock", None) is not None:
            self._close_links()
        super().close()
