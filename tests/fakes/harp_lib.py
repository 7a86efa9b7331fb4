"""A fake of PicoQuant's MHLib / HHLib shared library (docs/protocols.md 4e).

Written from PicoQuant's own library headers (the Delphi units ``MHLib``
v1.0 and ``HHLib`` v3.0) and its T2 record description (4c), not from the
project's driver or record codec. The object exposes the library's
functions by name (``MH_OpenDevice``, ``HH_ReadFiFo``, ...) and takes the
arguments a ctypes caller passes: ints, ``create_string_buffer`` arrays for
``char*`` outputs, ``byref(c_int)`` / ``byref(c_double)`` for ``var``
outputs and a ``uint32`` pointer for the FIFO buffer. Every function returns
0 or a negative error code (``-1`` open fail, ``-10`` device not open,
``-17`` invalid argument, ``-18`` invalid mode, ``-22`` not initialized, with
the header's names as their text).

T2 records (MultiHarp: RecType 0x00010207, HydraHarp V2 0x01010204): bit 31
special, bits 30-25 channel, bits 24-0 timetag (units of the base
resolution); a special record of channel 63 is a timer overflow whose
timetag holds the number of overflows (period 2^25). Events are drawn in
virtual time (Poisson per input), read out as the shared clock advances;
the measurement ends ``tacq`` ms after ``StartMeas``.
"""

from __future__ import annotations

import ctypes
from typing import Any

import numpy as np

from qnic.instruments.clock import VirtualClock

ERRORS = {-1: "DEVICE_OPEN_FAIL", -10: "DEVICE_NOT_OPEN", -17: "INVALID_ARGUMENT",
          -18: "INVALID_MODE", -22: "NOT_INITIALIZED"}
PERIOD = 1 << 25


def _out(arg: Any, value: Any) -> None:
    """Write through a ctypes ``byref`` argument."""
    arg._obj.value = value


class FakeHarpLib:
    """The library of one device.

    Args:
        prefix: ``"MH"`` (MultiHarp) or ``"HH"`` (HydraHarp).
        clock: the virtual clock the driver waits on.
        rates_hz: Poisson rate per front-panel input (1..n_inputs).
        serial, model: what the device reports.
        n_inputs: number of inputs.
        resolution_ps: base resolution (the T2 unit).
        fifo_capacity: records the FIFO holds before FLAG_FIFOFULL.
        seed: the generator of the events.
    """

    def __init__(self, prefix: str, clock: VirtualClock, rates_hz: dict[int, float],
                 serial: str = "1044321", model: str = "MultiHarp 150 4P", n_inputs: int = 4,
                 resolution_ps: float = 5.0, fifo_capacity: int = 10**8, seed: int = 2) -> None:
        self.prefix, self.clock, self.rates_hz = prefix, clock, dict(rates_hz)
        self.serial, self.model, self.n_inputs = serial, model, n_inputs
        self.resolution_ps, self.fifo_capacity = resolution_ps, fifo_capacity
        self.rng = np.random.default_rng(seed)
        self.calls: list[tuple[Any, ...]] = []
        self.open = self.initialized = self.calibrated = False
        self.enabled: set[int] = set()
        self.trigger: dict[int, tuple[int, int]] = {}
        self.offset_ps: dict[int, int] = {}
        self.start_s: float | None = None
        self.tacq_ms = 0
        self._fifo: list[np.ndarray] = []
        self._drawn_until_ps = 0
        self._overflow_base = 0
        self.fifo_full = False

    def __getattr__(self, name: str) -> Any:
        prefix, _, function = name.partition("_")
        if prefix != self.prefix or not hasattr(self, f"_f_{function}"):
            raise AttributeError(name)
        impl = getattr(self, f"_f_{function}")

        def call(*args: Any) -> int:
            self.calls.append((function, *[a if isinstance(a, int | float) else "*" for a in args]))
            return int(impl(*args))
        return call

    # -- device ------------------------------------------------------------------------
    def _f_GetErrorString(self, buf: Any, code: int) -> int:  # noqa: N802
        buf.value = ERRORS.get(code, "UNKNOWN").encode()
        return 0

    def _f_OpenDevice(self, devidx: int, serial: Any) -> int:  # noqa: N802
        if devidx != 0:
            return -1
        self.open = True
        serial.value = self.serial.encode()
        return 0

    def _f_CloseDevice(self, devidx: int) -> int:  # noqa: N802
        self.open = self.initialized = False
        return 0

    def _f_Initialize(self, devidx: int, mode: int, refsource: int) -> int:  # noqa: N802
        if not self.open:
            return -10
        if mode not in (0, 2, 3):
            return -18
        self.initialized = True
        return 0

    def _f_Calibrate(self, devidx: int) -> int:  # noqa: N802 - HHLib only
        if self.prefix != "HH":
            return -17
        self.calibrated = True
        return 0

    def _f_GetHardwareInfo(self, devidx: int, model: Any, partno: Any, version: Any) -> int:  # noqa: N802
        if not self.initialized:
            return -22
        model.value, partno.value, version.value = self.model.encode(), b"930021", b"1.0"
        return 0

    def _f_GetNumOfInputChannels(self, devidx: int, n: Any) -> int:  # noqa: N802
        _out(n, self.n_inputs)
        return 0

    def _f_GetBaseResolution(self, devidx: int, res: Any, steps: Any) -> int:  # noqa: N802
        _out(res, self.resolution_ps)
        _out(steps, 1)
        return 0

    def _f_SetInputChannelEnable(self, devidx: int, channel: int, enable: int) -> int:  # noqa: N802
        if not 0 <= channel < self.n_inputs:
            return -17
        (self.enabled.add if enable else self.enabled.discard)(channel)
        return 0

    def _f_SetInputEdgeTrg(self, devidx: int, channel: int, level: int, edge: int) -> int:  # noqa: N802
        if self.prefix != "MH" or not (0 <= channel < self.n_inputs and -1200 <= level <= 1200):
            return -17
        self.trigger[channel] = (level, edge)
        return 0

    def _f_SetInputCFD(self, devidx: int, channel: int, level: int, zerocross: int) -> int:  # noqa: N802
        if self.prefix != "HH" or not (0 <= level <= 1000 and 0 <= zerocross <= 40):
            return -17
        self.trigger[channel] = (level, zerocross)
        return 0

    def _f_SetInputChannelOffset(self, devidx: int, channel: int, value: int) -> int:  # noqa: N802
        if not -99999 <= value <= 99999:
            return -17
        self.offset_ps[channel] = value
        return 0

    # -- measurement -------------------------------------------------------------------------
    def _f_StartMeas(self, devidx: int, tacq: int) -> int:  # noqa: N802
        if not 1 <= tacq <= 360_000_000:
            return -17
        self.start_s, self.tacq_ms = self.clock.now(), tacq
        self._fifo, self._drawn_until_ps, self._overflow_base = [], 0, 0
        self.fifo_full = False
        return 0

    def _f_StopMeas(self, devidx: int) -> int:  # noqa: N802
        self.start_s = None
        return 0

    def _elapsed_ps(self) -> int:
        if self.start_s is None:
            return 0
        return min(round((self.clock.now() - self.start_s) * 1e12), self.tacq_ms * 10**9)

    def _f_CTCStatus(self, devidx: int, ctc: Any) -> int:  # noqa: N802
        _out(ctc, int(self._elapsed_ps() >= self.tacq_ms * 10**9))
        return 0

    def _draw(self) -> None:
        t0, t1 = self._drawn_until_ps, self._elapsed_ps()
        if t1 <= t0:
            return
        times, chans = [], []
        for ch, rate in self.rates_hz.items():
            if ch - 1 not in self.enabled:
                continue
            n = int(self.rng.poisson(rate * (t1 - t0) * 1e-12))
            t = self.rng.integers(t0, t1, n) + self.offset_ps.get(ch - 1, 0)
            times.append(np.maximum(t, 0))
            chans.append(np.full(n, ch - 1))
        self._drawn_until_ps = t1
        if times:
            t = np.concatenate(times)
            order = np.argsort(t, kind="stable")
            self._fifo.append(self._records(t[order] // round(self.resolution_ps),
                                            np.concatenate(chans)[order]))
        if sum(r.size for r in self._fifo) > self.fifo_capacity:
            self.fifo_full = True

    def _records(self, units: np.ndarray, channels: np.ndarray) -> np.ndarray:
        """T2 records of events (units of the resolution), with overflow records."""
        out = []
        for u, ch in zip(units.tolist(), channels.tolist()):
            wraps = u // PERIOD - self._overflow_base // PERIOD
            if wraps > 0:
                out.append((1 << 31) | (63 << 25) | wraps)
                self._overflow_base += wraps * PERIOD
            out.append((int(ch) << 25) | (u % PERIOD))
        return np.array(out, dtype=np.uint32)

    def _f_GetFlags(self, devidx: int, flags: Any) -> int:  # noqa: N802
        self._draw()
        _out(flags, (0x0002 if self.fifo_full else 0) | (0x0020 if self.start_s is not None else 0))
        return 0

    def _read(self, buf: Any, count: int, nactual: Any) -> int:
        self._draw()
        pending = np.concatenate(self._fifo) if self._fifo else np.empty(0, np.uint32)
        n = min(count, pending.size)
        if n:
            ctypes.memmove(buf, pending[:n].ctypes.data, 4 * n)
        self._fifo = [pending[n:]] if pending.size > n else []
        _out(nactual, n)
        return 0

    def _f_ReadFiFo(self, devidx: int, buf: Any, *rest: Any) -> int:  # noqa: N802
        if self.prefix == "HH":  # HH_ReadFiFo(devidx, buffer, count, nactual)
            count, nactual = rest
            if not 128 <= count <= 131072:
                return -17
            return self._read(buf, count, nactual)
        (nactual,) = rest  # MH_ReadFiFo(devidx, buffer, nactual): up to TTREADMAX
        return self._read(buf, 1_048_576, nactual)
