"""PicoQuant MultiHarp and HydraHarp live in T2 mode through the vendor library.

``MultiHarpTimeTagger`` drives MHLib, ``HydraHarpTimeTagger`` HHLib, both
over ctypes with the function names, arguments and constants of PicoQuant's
own headers (docs/protocols.md 4e). Every library function returns an int,
0 for success and a negative code for an error; the driver asks
``<X>_GetErrorString`` for its text and raises
:class:`~qnic.instruments.errors.DeviceFaultError`. The library is loaded on
:meth:`HarpTimeTagger.connect` (``library=`` a path, or an object with the
same functions, as the tests' fake); constructing the driver loads nothing.

Connection: ``OpenDevice`` (the serial, checked against ``address`` when one
is given), ``Initialize`` in T2 mode with the internal clock, ``Calibrate``
(HydraHarp only), ``GetHardwareInfo``, ``GetNumOfInputChannels``,
``GetBaseResolution`` (the T2 time unit), then every input enabled. Inputs
are numbered 1..N as on the front panel and in the records (the library's
index is one less).

An acquisition is one measurement of whole milliseconds (``StartMeas``):
``GetFlags`` (a full FIFO ends it, the rest of the interval flagged lost;
counts dropped flag the whole interval), ``ReadFiFo`` until it returns
nothing and ``CTCStatus`` says the time is over, then ``StopMeas``. Records
are the T2 records of 4c (MultiHarp: RecType 0x00010207, HydraHarp V2:
0x01010204), decoded with the project's record codec; T2 times count from
the measurement's start, and consecutive measurements are laid end to end.
"""

from __future__ import annotations

import ctypes
import math
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from qcodes.instrument import Instrument, InstrumentChannel
from qcodes.validators import Ints, Numbers

from qnic.instruments.clock import Clock, RealClock
from qnic.instruments.errors import DeviceFaultError, ProtocolError
from qnic.instruments.timetaggers.picoquant.records import RecordType, decode, units_to_ps
from qnic.instruments.timetaggers.protocol import TagBatch
from qnic.instruments.timetaggers.swabian import VendorPackageMissingError

MODE_T2 = 2
REFSRC_INTERNAL = 0
EDGE_RISING = 1
FLAG_FIFOFULL = 0x0002
FLAG_CNTS_DROPPED = 0x0040  # MultiHarp only
CHANOFFS_PS = 99_999  # input offset range, +-ps (both headers)
ACQT_MS = (1, 360_000_000)


@dataclass(frozen=True)
class Family:
    """What differs between MHLib and HHLib (docs/protocols.md 4e)."""

    prefix: str
    read_max: int  # TTREADMAX
    read_takes_count: bool  # HH_ReadFiFo(devidx, buffer, count, nactual)
    calibrate: bool  # HH_Calibrate after HH_Initialize
    rectype: RecordType
    libraries: tuple[str, ...]
    trigger_range_v: tuple[float, float]
    drop_flag: int


MULTIHARP = Family("MH", 1_048_576, False, False, RecordType.GENERIC_T2,
                   ("mhlib64.dll", "mhlib.dll") if sys.platform == "win32" else ("libmhlib.so",),
                   (-1.2, 1.2), FLAG_CNTS_DROPPED)
HYDRAHARP = Family("HH", 131_072, True, True, RecordType.HYDRAHARP2_T2,
                   ("hhlib64.dll", "hhlib.dll") if sys.platform == "win32" else ("libhh400.so",),
                   (0.0, 1.0), 0)


def load_library(instrument: str, family: Family, path: str | None) -> Any:
    """Load the vendor library (``path``, else its usual names).

    Raises:
        VendorPackageMissingError: none loads; the message names what was tried.
    """
    tried = []
    for name in ([path] if path else list(family.libraries)):
        try:
            return ctypes.CDLL(name)
        except OSError as exc:
            tried.append(f"{name}: {exc}")
    raise VendorPackageMissingError(
        f"{instrument}: PicoQuant's {family.prefix}Lib is not installed or not found "
        f"({'; '.join(tried)}); install it from PicoQuant or pass library=PATH")


class HarpInput(InstrumentChannel):
    """One input (front-panel number ``channel``); the library has no read-back,
    so parameters read the last value set."""

    def __init__(self, parent: HarpTimeTagger, name: str, channel: int) -> None:
        super().__init__(parent, name)
        self.channel = channel
        lo, hi = parent.family.trigger_range_v
        self.trigger_level_v = self.add_parameter(
            "trigger_level_v", label=f"Input {channel} trigger level", unit="V",
            get_cmd=None, set_cmd=lambda v: parent.set_trigger(channel, float(v)),
            vals=Numbers(lo, hi),
            docstring=f"Control the input's trigger level in V (float, {lo:g} to {hi:g}; sent "
                      "in whole mV; reads the last value set).")
        self.offset_ps = self.add_parameter(
            "offset_ps", label=f"Input {channel} offset", unit="ps",
            get_cmd=None,
            set_cmd=lambda v: parent.call("SetInputChannelOffset", parent.devidx, channel - 1,
                                          int(v)),
            vals=Ints(-CHANOFFS_PS, CHANOFFS_PS),
            docstring=f"Control the input's time offset in ps (int, {-CHANOFFS_PS} to "
                      f"{CHANOFFS_PS}; reads the last value set).")


class HarpTimeTagger(Instrument):
    """A MultiHarp or HydraHarp in T2 mode implementing the ``TimeTagger`` protocol.

    Args:
        name: instrument name.
        address: the device's serial number ("" accepts any).
        port: accepted for the station's uniform driver signature and ignored.
        library: a path to the vendor library, or an object with its functions.
        devidx: the library's device index (0 to 7).
        clock: what acquisitions wait on between FIFO reads.
        poll_s: the wait between two FIFO reads that returned nothing.
        cfd_zero_cross_mv: HydraHarp CFD zero-cross level (mV, 0 to 40).
    """

    family: Family = MULTIHARP

    def __init__(self, name: str, address: str = "", *, port: Any = None, library: Any = None,
                 devidx: int = 0, clock: Clock | None = None, poll_s: float = 0.01,
                 cfd_zero_cross_mv: int = 10, **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        if not 0 <= devidx <= 7:
            raise ValueError(f"{name}: devidx must be 0 to 7 (MAXDEVNUM 8), got {devidx}")
        if not 0 <= cfd_zero_cross_mv <= 40:
            raise ValueError(f"{name}: cfd_zero_cross_mv must be 0 to 40 mV, got {cfd_zero_cross_mv}")
        self.address, self.devidx, self.poll_s = str(address), devidx, poll_s
        self.cfd_zero_cross_mv = cfd_zero_cross_mv
        self._library = library
        self._lib: Any = None
        self.clock: Clock = clock if clock is not None else RealClock()
        self._lock = threading.RLock()
        self._inputs: dict[int, HarpInput] = {}
        self._idn: dict[str, str | None] = {}
        self.resolution_ps = 0.0
        self._cursor_ps = 0
        self._buffer = np.zeros(self.family.read_max, dtype=np.uint32)

    # -- the library --------------------------------------------------------------------
    def call(self, function: str, *args: Any) -> int:
        """Call ``<prefix>_<function>``; a negative return raises.

        Raises:
            DeviceFaultError: the code, with the library's text for it.
        """
        lib = self._lib if self._lib is not None else self._load()
        with self._lock:
            code = int(getattr(lib, f"{self.family.prefix}_{function}")(*args))
        if code < 0:
            text = ctypes.create_string_buffer(41)
            getattr(lib, f"{self.family.prefix}_GetErrorString")(text, code)
            request = f"{self.family.prefix}_{function}"
            raise DeviceFaultError(self.name, code, text.value.decode(errors="replace") or
                                   "unknown error", request)
        return code

    def _load(self) -> Any:
        lib = self._library
        if lib is None or isinstance(lib, str):
            lib = load_library(self.name, self.family, lib)
        self._lib = lib
        return lib

    def connect(self) -> None:
        """Open and initialize the device in T2 mode; read its identity, inputs and resolution."""
        if self._inputs:
            return
        serial = ctypes.create_string_buffer(8)
        self.call("OpenDevice", self.devidx, serial)
        try:
            self._initialize(serial.value.decode(errors="replace"))
        except BaseException:
            self.call("CloseDevice", self.devidx)
            raise

    def _initialize(self, serial: str) -> None:
        if self.address and serial != self.address:
            raise ProtocolError(self.name, f"{self.family.prefix}_OpenDevice", serial.encode(),
                                f"device {self.devidx} has serial {serial!r}, not {self.address!r}")
        self.call("Initialize", self.devidx, MODE_T2, REFSRC_INTERNAL)
        if self.family.calibrate:
            self.call("Calibrate", self.devidx)
        model, part, version = (ctypes.create_string_buffer(24) for _ in range(3))
        self.call("GetHardwareInfo", self.devidx, model, part, version)
        n = ctypes.c_int()
        self.call("GetNumOfInputChannels", self.devidx, ctypes.byref(n))
        res, steps = ctypes.c_double(), ctypes.c_int()
        self.call("GetBaseResolution", self.devidx, ctypes.byref(res), ctypes.byref(steps))
        if not (1 <= n.value <= 64 and res.value > 0):
            raise ProtocolError(self.name, "GetNumOfInputChannels/GetBaseResolution",
                                f"{n.value},{res.value}".encode(), "expected 1-64 inputs and a resolution > 0")
        self.resolution_ps = float(res.value)
        for ch in range(1, n.value + 1):
            self.call("SetInputChannelEnable", self.devidx, ch - 1, 1)
            self._inputs[ch] = HarpInput(self, f"ch{ch}", ch)
            self.add_submodule(f"ch{ch}", self._inputs[ch])
        self._idn = {"vendor": "PicoQuant", "model": model.value.decode(errors="replace"),
                     "serial": serial, "firmware": version.value.decode(errors="replace")}
        self.IDN.cache.set(self._idn)

    def get_idn(self) -> dict[str, str | None]:
        self.connect()
        return dict(self._idn)

    # -- settings -----------------------------------------------------------------------------
    @property
    def input_channels(self) -> tuple[int, ...]:
        self.connect()
        return tuple(self._inputs)

    def get_input(self, channel: int) -> HarpInput:
        self.connect()
        try:
            return self._inputs[channel]
        except KeyError:
            raise ValueError(f"{self.name}: no input channel {channel!r}; expected one of "
                             f"{list(self._inputs)}") from None

    def set_trigger(self, channel: int, level_v: float) -> None:
        """Send input ``channel``'s trigger level (V, as whole mV)."""
        mv = round(level_v * 1e3)
        if self.family.prefix == "HH":
            self.call("SetInputCFD", self.devidx, channel - 1, mv, self.cfd_zero_cross_mv)
        else:
            self.call("SetInputEdgeTrg", self.devidx, channel - 1, mv, EDGE_RISING)

    def set_trigger_level(self, channel: int, level_v: float) -> None:
        """Set input ``channel``'s trigger level (V)."""
        self.get_input(channel).trigger_level_v(level_v)

    def set_input_delay(self, channel: int, delay_ps: int) -> None:
        """Set input ``channel``'s offset (ps, +-99,999)."""
        self.get_input(channel).offset_ps(delay_ps)

    # -- acquisition -----------------------------------------------------------------------------
    def acquire(self, duration_s: float) -> TagBatch:
        """One measurement of ``duration_s`` s (rounded to whole ms, at least 1 ms).

        Raises:
            ValueError: not a finite duration of 1 ms to 100 h.
        """
        if not math.isfinite(duration_s):
            raise ValueError(f"{self.name}: duration_s must be finite, got {duration_s!r}")
        tacq = round(duration_s * 1e3)
        if not ACQT_MS[0] <= tacq <= ACQT_MS[1]:
            raise ValueError(f"{self.name}: duration_s must be 1 ms to 100 h, got {duration_s!r}")
        self.connect()
        with self._lock:
            self.call("StartMeas", self.devidx, tacq)
            try:
                records, lost_from = self._read_measurement()
            finally:
                self.call("StopMeas", self.devidx)
        return self._batch(records, tacq * 10**9, lost_from)

    def _read_measurement(self) -> tuple[list[np.ndarray], int | None]:
        records: list[np.ndarray] = []
        flags, n, ctc = ctypes.c_int(), ctypes.c_int(), ctypes.c_int()
        ptr = self._buffer.ctypes.data_as(ctypes.POINTER(ctypes.c_uint32))
        lost_from: int | None = None
        while True:
            self.call("GetFlags", self.devidx, ctypes.byref(flags))
            if flags.value & FLAG_FIFOFULL:
                return records, -1  # the rest of the interval is lost
            if flags.value & self.family.drop_flag:
                lost_from = 0
            if self.family.read_takes_count:
                self.call("ReadFiFo", self.devidx, ptr, self.family.read_max, ctypes.byref(n))
            else:
                self.call("ReadFiFo", self.devidx, ptr, ctypes.byref(n))
            if not 0 <= n.value <= self.family.read_max:
                raise ProtocolError(self.name, f"{self.family.prefix}_ReadFiFo", str(n.value).encode(),
                                    f"record count outside 0..{self.family.read_max}")
            if n.value:
                records.append(self._buffer[: n.value].copy())
                continue
            self.call("CTCStatus", self.devidx, ctypes.byref(ctc))
            if ctc.value:
                return records, lost_from
            self.clock.sleep(self.poll_s)

    def _batch(self, blocks: list[np.ndarray], duration_ps: int, lost_from: int | None) -> TagBatch:
        raw = np.concatenate(blocks) if blocks else np.empty(0, np.uint32)
        dec = decode(raw, self.family.rectype)
        t = units_to_ps(dec.coarse, self.resolution_ps * 1e-12)
        keep = dec.channels >= 1  # channel 0 is the sync input
        t, c = t[keep], dec.channels[keep]
        order = np.argsort(t, kind="stable")
        start = self._cursor_ps
        stop = start + duration_ps
        self._cursor_ps = stop
        overflows: tuple[tuple[int, int], ...] = ()
        if lost_from == 0:
            overflows = ((start, stop),)
        elif lost_from == -1:
            last = int(t.max()) if t.size else 0
            overflows = ((start + last, stop),)
        return TagBatch(t[order] + start, c[order].astype(np.int32), start, stop, overflows)

    def stream(self, duration_s: float, chunk_s: float) -> Iterator[TagBatch]:
        """Consecutive measurements of ``chunk_s`` s (whole ms) covering ``duration_s`` s."""
        for value, what in ((duration_s, "duration_s"), (chunk_s, "chunk_s")):
            if not (math.isfinite(value) and value >= 1e-3):
                raise ValueError(f"{self.name}: {what} must be at least 1 ms, got {value!r}")
        total_ms, step_ms = round(duration_s * 1e3), max(1, round(chunk_s * 1e3))
        starts = range(0, total_ms, step_ms)
        return (self.acquire(min(step_ms, total_ms - s) * 1e-3) for s in starts)

    def count_rates(self, duration_s: float) -> dict[int, float]:
        """Rates (Hz) of every input over one measurement (lost time excluded)."""
        batch = self.acquire(duration_s)
        live = batch.duration_s - batch.lost_s
        counts = batch.counts()
        return {ch: (counts.get(ch, 0) / live if live > 0 else math.nan)
                for ch in self.input_channels}

    def close(self) -> None:
        """Close the device (``CloseDevice``) and the instrument."""
        try:
            if getattr(self, "_inputs", None) and self._lib is not None:
                self.call("CloseDevice", self.devidx)
        finally:
            super().close()


class MultiHarpTimeTagger(HarpTimeTagger):
    """PicoQuant MultiHarp 150/160 through MHLib (edge triggers, -1.2 to 1.2 V)."""

    family = MULTIHARP


class HydraHarpTimeTagger(HarpTimeTagger):
    """PicoQuant HydraHarp 400 through HHLib (CFD inputs, level 0 to 1 V)."""

    family = HYDRAHARP


__all__ = ["HYDRAHARP", "MULTIHARP", "Family", "HarpInput", "HarpTimeTagger",
           "HydraHarpTimeTagger", "MultiHarpTimeTagger", "load_library"]
