"""qutools quTAG time tagger over the vendor's Python wrapper: ``QutagTimeTagger``.

The vendor ships ``QuTAG.py``, a ctypes wrapper of its ``tdcbase`` library
(docs/protocols.md 4b); it is not on a package index, so the driver imports
the module ``QuTAG`` when it first needs the device (put the vendor's folder
on the Python path) and tests pass a fake of it as ``api=``. Constructing
the driver touches nothing.

The wrapper prints a library error and returns its code instead of raising;
the driver turns a non-zero code into
:class:`~qnic.instruments.errors.DeviceFaultError` with the meaning from the
vendor's table. Channel numbers are the library's own (the numbers
``enableChannels``, ``setSignalConditioning`` and the timestamp arrays use;
0 is the START input, which makes no timestamps of its own on the standard
quTAG). Times are the library's base unit (``getTimebase``, 1 ps) turned
into int64 ps.

Acquisition: the library keeps the last tags in a ring buffer;
``getLastTimestamps(True)`` returns and clears them. An acquisition clears
the buffer and the latched data-loss flag, waits on its clock, and reads.
The library gives no device time for a read, so a batch's interval starts
at its first tag (or where the previous batch of a stream ended) and lasts
the waited time. A full ring buffer or a data-loss flag marks the whole
interval as overflowed (the lost events' times are unknown).
"""

from __future__ import annotations

import importlib
import math
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from qcodes.instrument import Instrument, InstrumentChannel
from qcodes.validators import Bool, Ints, Numbers

from qnic.instruments.clock import Clock, RealClock
from qnic.instruments.errors import DeviceFaultError, ProtocolError, TransportError
from qnic.instruments.timetaggers.protocol import TagBatch
from qnic.instruments.timetaggers.swabian import VendorPackageMissingError

VENDOR_MODULE = "QuTAG"
ERRORS = {-1: "unspecified error", 0: "OK, no error", 1: "Receive timed out",
          2: "No connection was established", 3: "Error accessing the USB driver",
          7: "Can't connect device because already in use",
          9: "Invalid device number used in call", 10: "Parameter in fct. call is out of range",
          11: "Failed to open specified file", 12: "Library has not been initialized",
          13: "Requested Feature is not enabled", 14: "Requested Feature is not available"}
"""The library's return codes and their meanings (4b)."""
DEVTYPE_QUTAG, DEVTYPE_NONE = 0, 1  # getDeviceType: a quTAG, or none (demo mode)
SCOND_MISC = 3  # signal conditioning with a free threshold (4b)
THRESHOLD_RANGE_V = (-2.0, 3.0)  # MISC threshold range (4b)
DELAY_RANGE_PS = 100_000  # channel delays -100 ns to 100 ns (4b)
DELAY_SLOTS = 8  # setChannelDelays takes an int32 array of 8 (4b)
MAX_DEAD_TIME_PS = 1_000_000  # *unverified*: the reference gives no upper bound
MAX_TIMESTAMP_BUFFER = 1_000_000_000  # *unverified*


def load_vendor_api(instrument: str) -> Any:
    """Import the vendor's ``QuTAG`` module.

    Raises:
        VendorPackageMissingError: it is not importable; the message says where it comes from.
    """
    try:
        return importlib.import_module(VENDOR_MODULE)
    except ImportError as exc:
        raise VendorPackageMissingError(
            f"{instrument}: the qutools wrapper QuTAG.py is not importable ({exc}); it comes "
            "with the quTAG software (userlib/src): put its folder, with the tdcbase library, "
            "on the Python path") from None


class QutagInput(InstrumentChannel):
    """One timestamping input of the quTAG (library channel ``channel``)."""

    def __init__(self, parent: QutagTimeTagger, name: str, channel: int) -> None:
        super().__init__(parent, name)
        self.channel = channel
        lo, hi = THRESHOLD_RANGE_V
        self.threshold_v = self.add_parameter(
            "threshold_v", label=f"Input {channel} threshold", unit="V",
            get_cmd=lambda: float(parent.call("getSignalConditioning", channel)[1]),
            set_cmd=lambda v: parent.checked("setSignalConditioning", channel, SCOND_MISC,
                                             True, float(v)),
            vals=Numbers(lo, hi),
            docstring=f"Control the discriminator threshold in volts (float, {lo:g} to {hi:g}; "
                      "sets free-threshold conditioning, rising edge).")
        self.delay_ps = self.add_parameter(
            "delay_ps", label=f"Input {channel} delay", unit="ps",
            get_cmd=lambda: int(parent.call("getChannelDelays")[channel]),
            set_cmd=lambda v: parent.set_delays({channel: int(v)}),
            vals=Ints(-DELAY_RANGE_PS, DELAY_RANGE_PS),
            docstring=f"Control the input delay in ps (int, {-DELAY_RANGE_PS} to "
                      f"{DELAY_RANGE_PS}); compensated in hardware.")
        self.dead_time_ps = self.add_parameter(
            "dead_time_ps", label=f"Input {channel} dead time", unit="ps",
            get_cmd=lambda: int(parent.call("getDeadTime", channel)),
            set_cmd=lambda v: parent.checked("setDeadTime", channel, int(v)),
            vals=Ints(0, MAX_DEAD_TIME_PS),
            docstring=f"Control the dead time after an event in ps (int, 0 to {MAX_DEAD_TIME_PS}).")


class QutagTimeTagger(Instrument):
    """A qutools quTAG implementing the ``TimeTagger`` protocol.

    Args:
        name: instrument name.
        address: unused (the library opens the first quTAG); kept for the
            station's uniform driver signature.
        api: the vendor module ``QuTAG`` or a fake of it; default: imported on connect.
        port: accepted for the uniform signature and ignored.
        channels: the timestamping inputs to enable (library numbers; 1-4 on the standard quTAG).
        clock: what acquisitions wait on (default: real time).
        buffer_size: the ring buffer's size in tags (``setBufferSize``).
        allow_demo: accept the library's demo mode (no device, simulated tags).
    """

    def __init__(self, name: str, address: str = "", *, api: Any = None, port: Any = None,
                 channels: Sequence[int] = (1, 2, 3, 4), clock: Clock | None = None,
                 buffer_size: int = 1_000_000, allow_demo: bool = False, **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        if not 1 <= buffer_size <= MAX_TIMESTAMP_BUFFER:
            raise ValueError(f"{name}: buffer_size must be 1 to {MAX_TIMESTAMP_BUFFER} tags, "
                             f"got {buffer_size}")
        bad = [c for c in channels if not (isinstance(c, int) and 1 <= c < DELAY_SLOTS)]
        if bad or not channels:
            raise ValueError(f"{name}: channels must be timestamping inputs 1 to "
                             f"{DELAY_SLOTS - 1}, got {list(channels)}")
        self.address = address
        self._api = api
        self._channels = tuple(sorted(set(channels)))
        self.clock: Clock = clock if clock is not None else RealClock()
        self.buffer_size = int(buffer_size)
        self.allow_demo = allow_demo
        self._dev: Any = None
        self._device_type: int | None = None
        self._unit_ps = 1
        self._lock = threading.RLock()
        self._inputs: dict[int, QutagInput] = {}
        for ch in self._channels:
            self._inputs[ch] = QutagInput(self, f"ch{ch}", ch)
            self.add_submodule(f"ch{ch}", self._inputs[ch])

    # -- the library -------------------------------------------------------------------
    def connect(self) -> None:
        """Open the library (``QuTAG()``), check the device, set the buffer and channels.

        Raises:
            VendorPackageMissingError: the wrapper is not importable.
            TransportError: no quTAG answers (the library fell back to demo mode).
            DeviceFaultError: a setting was refused.
        """
        if self._dev is not None:
            return
        api = self._api if self._api is not None else load_vendor_api(self.name)
        self._api = api
        with self._lock:
            dev = api.QuTAG()
            try:
                self._handshake(dev)
            except BaseException:
                dev.deInitialize()
                raise

    def _handshake(self, dev: Any) -> None:
        self._dev = dev
        try:
            kind = self._device_type = int(dev.getDeviceType())
            if kind != DEVTYPE_QUTAG and not (kind == DEVTYPE_NONE and self.allow_demo):
                raise TransportError(self.name, "QuTAG()", f"no quTAG found (device type {kind}; "
                                     "1 is the library's demo mode)")
            timebase_s = float(dev.getTimebase())
            unit_ps = timebase_s * 1e12
            if not (unit_ps >= 0.5 and abs(unit_ps - round(unit_ps)) < 1e-6):
                raise ProtocolError(self.name, "getTimebase()", repr(timebase_s).encode(),
                                    "expected a whole number of picoseconds")
            self._unit_ps = round(unit_ps)
            self.checked("setBufferSize", self.buffer_size)
            self.checked("enableChannels", list(self._channels))
        except BaseException:
            self._dev = None
            raise
        self.IDN.cache.set(self.get_idn())

    def call(self, method: str, *args: Any) -> Any:
        """Call ``method`` of the wrapper object under the driver's lock."""
        self.connect()
        with self._lock:
            return getattr(self._dev, method)(*args)

    def checked(self, method: str, *args: Any) -> None:
        """Call a wrapper method that returns the library's code; non-zero raises.

        Raises:
            DeviceFaultError: the code and its meaning (4b), with the call.
        """
        code = self.call(method, *args)
        if code != 0:
            request = f"{method}({', '.join(repr(a) for a in args)})"
            raise DeviceFaultError(self.name, int(code), ERRORS.get(int(code), "unknown error"),
                                   request)

    def get_idn(self) -> dict[str, str | None]:
        """Vendor and model (the library reports no serial number through the wrapper)."""
        model = "quTAG demo mode" if self._device_type == DEVTYPE_NONE else "quTAG"
        return {"vendor": "qutools", "model": model, "serial": None, "firmware": None}

    # -- settings ----------------------------------------------------------------------
    @property
    def input_channels(self) -> tuple[int, ...]:
        """The enabled timestamping inputs (library numbers)."""
        return self._channels

    def get_input(self, channel: int) -> QutagInput:
        """The submodule of input ``channel``.

        Raises:
            ValueError: not an enabled input; names those there are.
        """
        try:
            return self._inputs[channel]
        except KeyError:
            raise ValueError(f"{self.name}: no input channel {channel!r}; expected one of "
                             f"{list(self._channels)}") from None

    def set_delays(self, delays_ps: dict[int, int]) -> None:
        """Set several inputs' delays (ps) in one ``setChannelDelays`` call."""
        current = np.asarray(self.call("getChannelDelays"), dtype=np.int32).copy()
        if current.shape != (DELAY_SLOTS,):
            raise ProtocolError(self.name, "getChannelDelays()", repr(current).encode(),
                                f"expected {DELAY_SLOTS} delays")
        for ch, value in delays_ps.items():
            self.get_input(ch).delay_ps.validate(value)
            current[ch] = value
        self.checked("setChannelDelays", current)

    def set_input_delay(self, channel: int, delay_ps: int) -> None:
        """Delay input ``channel`` by ``delay_ps`` ps (int, -100 ns to 100 ns)."""
        self.get_input(channel).delay_ps(delay_ps)

    def set_trigger_level(self, channel: int, level_v: float) -> None:
        """Set input ``channel``'s threshold in volts (free-threshold conditioning, rising edge)."""
        self.get_input(channel).threshold_v(level_v)

    # -- acquisition ---------------------------------------------------------------------
    def _read(self, reset: bool = True) -> tuple[np.ndarray, np.ndarray, bool]:
        ts, ch, valid = self.call("getLastTimestamps", reset)
        valid = int(valid)
        if not 0 <= valid <= len(ts):
            raise ProtocolError(self.name, "getLastTimestamps(True)", str(valid).encode(),
                                f"valid count outside 0..{len(ts)}")
        t = np.asarray(ts[:valid], dtype=np.int64) * self._unit_ps
        c = np.asarray(ch[:valid], dtype=np.int32)
        keep = np.isin(c, self._channels)
        order = np.argsort(t[keep], kind="stable")
        return t[keep][order], c[keep][order], valid >= self.buffer_size

    def _window(self, duration_s: float, start_ps: int | None) -> TagBatch:
        self.call("getDataLost")  # the flag is latched: this read clears it (4b)
        self.clock.sleep(duration_s)
        t, c, full = self._read()
        lost = bool(self.call("getDataLost"))
        start = start_ps if start_ps is not None else (int(t[0]) if t.size else 0)
        stop = start + round(duration_s * 1e12)
        overflows = ((start, stop),) if (full or lost) else ()
        return TagBatch(t, c, start, stop, overflows)

    def acquire(self, duration_s: float) -> TagBatch:
        """Clear the buffer, wait ``duration_s`` s, return what was tagged.

        Raises:
            ValueError: ``duration_s`` is not a finite number > 0.
        """
        _check_seconds(self.name, "duration_s", duration_s)
        self._read()  # discard what was buffered before the window
        return self._window(duration_s, None)

    def stream(self, duration_s: float, chunk_s: float) -> Iterator[TagBatch]:
        """Read every ``chunk_s`` s for ``duration_s`` s; the batches tile the interval."""
        _check_seconds(self.name, "duration_s", duration_s)
        _check_seconds(self.name, "chunk_s", chunk_s)
        return self._stream(duration_s, chunk_s)

    def _stream(self, duration_s: float, chunk_s: float) -> Iterator[TagBatch]:
        self._read()
        start: int | None = None
        left = duration_s
        while left > 1e-12:
            step = min(chunk_s, left)
            batch = self._window(step, start)
            start, left = batch.stop_ps, left - step
            yield batch

    def count_rates(self, duration_s: float) -> dict[int, float]:
        """Rates (Hz) of every input over ``duration_s`` s of tags (lost time excluded)."""
        batch = self.acquire(duration_s)
        live = max(batch.duration_s - batch.lost_s, 0.0)
        counts = batch.counts()
        return {ch: (counts.get(ch, 0) / live if live > 0 else math.nan) for ch in self._channels}

    def close(self) -> None:
        """Release the library (``deInitialize``) and close the instrument."""
        dev, self._dev = getattr(self, "_dev", None), None
        try:
            if dev is not None:
                dev.deInitialize()
        finally:
            super().close()


def _check_seconds(instrument: str, what: str, seconds: float) -> None:
    if not (math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"{instrument}: {what} must be a finite number of seconds > 0, "
                         f"got {seconds!r}")
