"""Swabian Instruments Time Tagger (20, Ultra, X): ``SwabianTimeTagger``.

A QCoDeS Instrument over the vendor's Python package (docs/protocols.md 4a),
installed with the optional extra ``qnic-bench[swabian]``. The package is
imported when the driver first needs the device (``connect()`` or first use),
never when this module is imported, and its absence raises
:class:`VendorPackageMissingError` naming the extra. Tests pass a fake of the
vendor API as ``api=``.

The tagger is opened by serial (``createTimeTagger``); its identity and rising
edge input channels are read then, and each input becomes a channel submodule
``ch<N>`` with trigger level, input delay, dead time and test signal.
Acquisitions run a ``TimeTagStream`` created on a ``SynchronizedMeasurements``
proxy, started with ``startFor`` for exactly the asked duration and read with
``waitUntilFinished(timeout)`` / ``getData`` until it finishes; the buffers
become :class:`~qnic.instruments.timetaggers.protocol.TagBatch` objects with the
stream's overflow intervals and missed-event counts
(:mod:`qnic.instruments.timetaggers.swabian_stream`). Device times are the
tagger's own: ps since start-up, rolling over after about 107 days.
"""

from __future__ import annotations

import importlib
import logging
import math
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from qcodes.instrument import Instrument, InstrumentChannel
from qcodes.validators import Bool, Ints, Numbers

from qnic.instruments.errors import InstrumentError, ProtocolError, TransportError
from qnic.instruments.timetaggers.protocol import TagBatch
from qnic.instruments.timetaggers.swabian_stream import (
    ModelLimits,
    StreamBuffer,
    StreamDecoder,
    join_batches,
    model_limits,
)

log = logging.getLogger(__name__)

EXTRA = "qnic-bench[swabian]"
# current wheels (Swabian-TimeTagger >= 2.22) and older installers (4a)
VENDOR_MODULES = ("Swabian.TimeTagger", "TimeTagger")
_PS_PER_S = 10**12
_T = TypeVar("_T")


class VendorPackageMissingError(InstrumentError, ImportError):
    """The vendor's Python package is not installed (install the extra)."""


class SwabianAPIError(InstrumentError):
    """A vendor API call raised; the original exception is chained."""

    def __init__(self, instrument: str, request: str, detail: str) -> None:
        self.instrument = instrument
        self.request = request
        self.detail = detail
        super().__init__(f"{instrument}: {request} failed: {detail}")


def load_vendor_api(instrument: str) -> Any:
    """Import the vendor module (``Swabian.TimeTagger``, else ``TimeTagger``).

    Raises:
        VendorPackageMissingError: neither imports; the message names the extra.
    """
    tried = []
    for name in VENDOR_MODULES:
        try:
            return importlib.import_module(name)
        except ImportError as exc:
            tried.append(f"import {name}: {exc}")
    raise VendorPackageMissingError(
        f"{instrument}: the Swabian Time Tagger Python package is not installed; install "
        f"it with `pip install '{EXTRA}'` (the vendor's Swabian-TimeTagger package) "
        f"[{'; '.join(tried)}]")


def _to_ps(instrument: str, what: str, seconds: float) -> int:
    if not (math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"{instrument}: {what} must be a finite number of seconds > 0, "
                         f"got {seconds!r}")
    return max(1, round(seconds * _PS_PER_S))


class SwabianInput(InstrumentChannel):
    """One input of the tagger (rising-edge channel ``channel``)."""

    def __init__(self, parent: SwabianTimeTagger, name: str, channel: int,
                 level_range_v: tuple[float, float], limits: ModelLimits) -> None:
        super().__init__(parent, name)
        self.channel = channel
        self._tt = parent
        self._dead_time_ps: int | None = None
        self._test_signal: bool | None = None
        lo, hi = level_range_v
        d, t0, t1 = limits.max_delay_ps, limits.min_dead_time_ps, limits.max_dead_time_ps
        self.trigger_level_v = self.add_parameter(
            "trigger_level_v", label=f"Input {channel} trigger level", unit="V",
            get_cmd=lambda: float(parent.vendor_call("getTriggerLevel", channel)),
            set_cmd=lambda v: parent.vendor_call("setTriggerLevel", channel, float(v)),
            vals=Numbers(lo, hi),
            docstring=f"Control the discriminator level in volts (float, {lo:g} to {hi:g}); "
                      "the device reads back its DAC-discretised value.")
        self.delay_ps = self.add_parameter(
            "delay_ps", label=f"Input {channel} delay", unit="ps",
            get_cmd=lambda: int(parent.vendor_call("getInputDelay", channel)),
            set_cmd=lambda v: parent.vendor_call("setInputDelay", channel, int(v)),
            vals=Ints(-d, d),
            docstring=f"Control the input delay in ps (int, {-d} to {d}).")
        self.dead_time_ps = self.add_parameter(
            "dead_time_ps", label=f"Input {channel} dead time", unit="ps",
            get_cmd=lambda: self._dead_time_ps, set_cmd=self._set_dead_time,
            vals=Ints(t0, t1),
            docstring=f"Control the dead time in ps (int, {t0} to {t1}); reads the value "
                      "the device rounded it to (None until set).")
        self.test_signal_enabled = self.add_parameter(
            "test_signal_enabled", label=f"Input {channel} test signal", unit="",
            get_cmd=lambda: self._test_signal, set_cmd=self._set_test_signal, vals=Bool(),
            docstring="Control whether the internal test signal feeds this input (bool; "
                      "None until set: the reference lists no read-back).")

    def _set_dead_time(self, value: int) -> None:
        actual = int(self._tt.vendor_call("setDeadtime", self.channel, int(value)))
        if actual != value:
            log.info("%s: dead time %d ps rounded by the device to %d ps",
                     self.full_name, value, actual)
        self._dead_time_ps = actual

    def _set_test_signal(self, value: bool) -> None:
        self._tt.vendor_call("setTestSignal", self.channel, bool(value))
        self._test_signal = bool(value)


class SwabianTimeTagger(Instrument):
    """A Swabian Time Tagger implementing the ``TimeTagger`` protocol.

    Constructing it touches no device; :meth:`connect` (or the first use)
    opens the tagger.

    Args:
        name: instrument name.
        address: the tagger's serial number; "" opens the first one found.
        api: the vendor module, or a fake of it; default: imported on connect.
        port: accepted for the station's uniform driver signature and ignored
            (a vendor-library tagger has no byte transport).
        stream_buffer_events: ``n_max_events`` of each ``TimeTagStream``.
        poll_s: how long :meth:`acquire` waits between two ``getData`` reads.
        **kwargs: passed to ``qcodes.instrument.Instrument``.
    """

    def __init__(self, name: str, address: str = "", *, api: Any = None, port: Any = None,
                 stream_buffer_events: int = 4_000_000, poll_s: float = 0.1,
                 **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        if stream_buffer_events < 1:
            raise ValueError(f"{name}: stream_buffer_events must be >= 1, "
                             f"got {stream_buffer_events}")
        _to_ps(name, "poll_s", poll_s)
        self.address = str(address)
        self.stream_buffer_events = int(stream_buffer_events)
        self.poll_s = float(poll_s)
        self._api = api
        self._lock = threading.RLock()
        self._tagger: Any = None
        self._idn: dict[str, str | None] = {}
        self._inputs: dict[int, SwabianInput] = {}
        self._settings_changed = False

    # -- connection --------------------------------------------------------------
    @property
    def api(self) -> Any:
        """The vendor module (imported on first use)."""
        if self._api is None:
            self._api = load_vendor_api(self.name)
        return self._api

    def connect(self) -> None:
        """Open the tagger by serial, read its identity and build its inputs.

        Raises:
            VendorPackageMissingError: the vendor package is not installed.
            TransportError: no tagger with this serial is attached, or it is in use.
        """
        if self._tagger is not None:
            return
        api = self.api
        request = f"createTimeTagger({self.address!r})"
        with self._lock:
            try:
                tagger = api.createTimeTagger(self.address)
            except RuntimeError as exc:
                raise TransportError(self.name, request, str(exc)) from exc
        self._tagger = tagger
        try:
            self._handshake(api)
        except BaseException:
            self._tagger = None
            api.freeTimeTagger(tagger)
            raise

    def _handshake(self, api: Any) -> None:
        self._idn = {"vendor": "Swabian Instruments",
                     "model": str(self.vendor_call("getModel")),
                     "serial": str(self.vendor_call("getSerial")),
                     "firmware": str(self.vendor_call("getFirmwareVersion"))}
        if self.address and self._idn["serial"] != self.address:
            raise ProtocolError(self.name, "getSerial()", str(self._idn["serial"]).encode(),
                                f"opened serial {self.address!r} but the tagger reports")
        channels = sorted(int(c) for c in self.vendor_call("getChannelList",
                                                           api.ChannelEdge.Rising))
        ranges = {}
        for ch in channels:
            rng = tuple(float(v) for v in self.vendor_call("getTriggerLevelRange", ch))
            if len(rng) != 2 or not rng[0] < rng[1]:
                raise ProtocolError(self.name, f"getTriggerLevelRange({ch})",
                                    repr(rng).encode(), "expected (min_V, max_V)")
            ranges[ch] = (rng[0], rng[1])
        limits = model_limits(str(self._idn["model"]))
        for ch, level_range in ranges.items():  # only once every reply was good
            self._inputs[ch] = SwabianInput(self, f"ch{ch}", ch, level_range, limits)
            self.add_submodule(f"ch{ch}", self._inputs[ch])
        self.IDN.cache.set(self._idn)

    def _connected(self) -> Any:
        self.connect()
        return self._tagger

    def vendor_call(self, method: str, *args: Any) -> Any:
        """Call ``method`` of the tagger object, under the driver's lock.

        Setters mark the settings as changed, so that the next acquisition
        first waits for them to apply (``sync()``, 4a).

        Raises:
            SwabianAPIError: the vendor library raised.
        """
        tagger = self._connected()
        request = f"{method}({', '.join(repr(a) for a in args)})"
        with self._lock:
            result = self._guard(request, getattr(tagger, method), *args)
            if method.startswith("set"):
                self._settings_changed = True
        return result

    def _guard(self, request: str, fn: Callable[..., _T], *args: Any) -> _T:
        with self._lock:
            try:
                return fn(*args)
            except RuntimeError as exc:
                raise SwabianAPIError(self.name, request, str(exc)) from exc

    def get_idn(self) -> dict[str, str | None]:
        """Vendor, model, serial and firmware as the tagger reports them."""
        self.connect()
        return dict(self._idn)

    @property
    def serial(self) -> str:
        """The tagger's serial number (``getSerial``)."""
        return str(self.get_idn()["serial"])

    @property
    def model(self) -> str:
        """The tagger's model (``getModel``)."""
        return str(self.get_idn()["model"])

    @property
    def input_channels(self) -> tuple[int, ...]:
        """The rising-edge input channels, numbered as the tagger numbers them."""
        self.connect()
        return tuple(sorted(self._inputs))

    def get_input(self, channel: int) -> SwabianInput:
        """The submodule of input ``channel``.

        Raises:
            ValueError: the tagger has no such input; names those it has.
        """
        self.connect()
        try:
            return self._inputs[channel]
        except KeyError:
            raise ValueError(f"{self.name}: no input channel {channel!r}; expected one of "
                             f"{sorted(self._inputs)} (tagger {self._idn['serial']})") from None

    # -- settings (the TimeTagger protocol and more) -------------------------------
    def set_input_delay(self, channel: int, delay_ps: int) -> None:
        """Delay input ``channel`` by ``delay_ps`` ps (int, within the model's range)."""
        self.get_input(channel).delay_ps(delay_ps)

    def set_trigger_level(self, channel: int, level_v: float) -> None:
        """Set the discriminator level of input ``channel`` in volts."""
        self.get_input(channel).trigger_level_v(level_v)

    def set_dead_time(self, channel: int, dead_time_ps: int) -> int:
        """Set the dead time of input ``channel``; return the value the device set (ps)."""
        inp = self.get_input(channel)
        inp.dead_time_ps(dead_time_ps)
        return int(inp.dead_time_ps())

    def set_test_signal(self, channels: int | Sequence[int], enabled: bool) -> None:
        """Switch the internal test signal (~800 kcounts/s on Ultra/X) on or off.

        Several channels are switched in one ``setTestSignal`` call.
        """
        chans = [channels] if isinstance(channels, int) else list(channels)
        inputs = [self.get_input(c) for c in chans]
        for inp in inputs:
            inp.test_signal_enabled.validate(enabled)
        self.vendor_call("setTestSignal", channels if isinstance(channels, int) else chans,
                         bool(enabled))
        for inp in inputs:
            inp._test_signal = bool(enabled)
            inp.test_signal_enabled.cache.set(bool(enabled))

    # -- acquisition ---------------------------------------------------------------
    def acquire(self, duration_s: float) -> TagBatch:
        """Record every input for ``duration_s`` seconds (one synchronized measurement).

        Returns:
            A batch covering exactly the measurement's interval in tagger time.

        Raises:
            ValueError: ``duration_s`` is not a finite number > 0.
            DeviceFaultError: the stream reported an Error event.
            SwabianAPIError: a vendor call raised.
        """
        duration_ps = _to_ps(self.name, "duration_s", duration_s)
        return join_batches(list(self._run(duration_ps, self.poll_s, keep_empty=True)))

    def stream(self, duration_s: float, chunk_s: float) -> Iterator[TagBatch]:
        """Record for ``duration_s`` s, yielding what arrived every ``chunk_s`` s.

        The measurement starts at the first ``next()``. The batches tile its
        interval without gaps; an overflow still open at the end of one batch
        is flagged there and in the next. Closing the iterator early stops
        the measurement.

        Raises:
            ValueError: ``duration_s`` or ``chunk_s`` is not a finite number > 0.
        """
        duration_ps = _to_ps(self.name, "duration_s", duration_s)
        _to_ps(self.name, "chunk_s", chunk_s)
        return self._run(duration_ps, chunk_s, keep_empty=False)

    def _run(self, duration_ps: int, chunk_s: float, keep_empty: bool) -> Iterator[TagBatch]:
        api, tagger = self.api, self._connected()
        self._sync_settings()
        # a measurement made on the proxy does not start on creation (4a)
        sm = self._guard("SynchronizedMeasurements(tagger)", api.SynchronizedMeasurements, tagger)
        proxy = self._guard("SynchronizedMeasurements.getTagger()", sm.getTagger)
        channels = list(self.input_channels)
        stream = self._guard(f"TimeTagStream(proxy, {self.stream_buffer_events}, {channels})",
                             api.TimeTagStream, proxy, self.stream_buffer_events, channels)
        self._guard(f"SynchronizedMeasurements.startFor({duration_ps})", sm.startFor, duration_ps)
        yield from self._read(stream, duration_ps, max(1, round(chunk_s * 1e3)), keep_empty)

    def _read(self, stream: Any, duration_ps: int, timeout_ms: int,
              keep_empty: bool) -> Iterator[TagBatch]:
        """Read a started stream until it finishes: isRunning, wait, getData.

        Whether it runs is asked before each read, so the read after it is
        seen finished holds everything up to its end.
        """
        decoder = StreamDecoder(self.name, self.stream_buffer_events)
        cursor = end = -1
        finished = yielded = False
        try:
            while not finished:
                finished = not self._guard("TimeTagStream.isRunning()", stream.isRunning)
                if not finished:
                    self._guard(f"TimeTagStream.waitUntilFinished({timeout_ms})",
                                stream.waitUntilFinished, timeout_ms)
                buf = StreamBuffer.from_vendor(self._guard("TimeTagStream.getData()",
                                                           stream.getData))
                if end < 0:
                    cursor, end = buf.t_start_ps, buf.t_start_ps + duration_ps
                stop = end if finished else max(cursor, min(buf.t_get_data_ps, end))
                batch = decoder.decode(buf, cursor, stop)
                cursor = stop
                if (keep_empty or stop > batch.start_ps or batch.timestamps.size
                        or batch.overflows or (finished and not yielded)):
                    yielded = True
                    yield batch
        finally:
            if not finished:
                self._guard("TimeTagStream.stop()", stream.stop)

    def _sync_settings(self) -> None:
        if self._settings_changed:
            self._guard("sync()", self._tagger.sync)
            self._settings_changed = False

    def count_rates(self, duration_s: float) -> dict[int, float]:
        """Count every input for ``duration_s`` s with a ``Countrate``; rates in Hz.

        Tags lost to an overflow are not counted (the tagger does not say).
        """
        duration_ps = _to_ps(self.name, "duration_s", duration_s)
        api, tagger = self.api, self._connected()
        self._sync_settings()
        channels = list(self.input_channels)
        rate = self._guard(f"Countrate(tagger, {channels})", api.Countrate, tagger, channels)
        self._guard(f"Countrate.startFor({duration_ps})", rate.startFor, duration_ps)
        self._guard("Countrate.waitUntilFinished()", rate.waitUntilFinished)
        values = [float(v) for v in self._guard("Countrate.getData()", rate.getData)]
        if len(values) != len(channels):
            raise ProtocolError(self.name, "Countrate.getData()", repr(values).encode(),
                                f"expected {len(channels)} rates, one per channel {channels}")
        return dict(zip(channels, values))

    def close(self) -> None:
        """Free the tagger (``freeTimeTagger``) and close the instrument."""
        tagger = getattr(self, "_tagger", None)  # a second close finds the attributes gone
        self._tagger = None
        try:
            if tagger is not None:
                self._guard("freeTimeTagger(tagger)", self.api.freeTimeTagger, tagger)
        finally:
            super().close()
