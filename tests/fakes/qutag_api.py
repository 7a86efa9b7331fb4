"""A small fake of qutools' ``QuTAG.py`` wrapper (docs/protocols.md section 4b).

Written from the vendor's wrapper and examples (qutools, June 2021), not from
the project's driver: the class ``QuTAG`` whose constructor initializes the
library (``TDC_init(-1)``), sets a ring buffer of 1,000,000 tags and reads
the device type and timebase; methods that wrap a setter return the
library's int code (0 = OK) and print the error, as the vendor's do; getters
return values. ``getLastTimestamps(reset)`` returns arrays of the buffer's
size (int64 timestamps in base units of 1 ps, int8 channels) and the count
of valid entries, equal to the buffer size when the ring buffer filled;
``getDataLost()`` is latched until read. Channel 0 is the START input, which
makes no timestamps; the delays array has 8 int32 entries, -100 ns to 100 ns.

An instance of :class:`FakeQutagModule` stands for the module and is passed
as ``api=``; every call on the device is logged in ``module.calls``.

Time is virtual: tags are drawn for the interval of the shared clock since
the device last drew (Poisson per channel at ``rates_hz``), shifted by the
channel delays. Where the wrapper is silent the fake makes a plain choice,
marked "(reference silent)": the dead-time range it accepts (0 to 1 ms), the
order of tags returned (ascending time).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from qnic.instruments.clock import VirtualClock

ERRORS = {-1: "unspecified error", 0: "OK, no error", 1: "Receive timed out",
          2: "No connection was established", 10: "Parameter in fct. call is out of range",
          12: "Library has not been initialized"}
OUT_OF_RANGE = 10


class FakeQutagModule:
    """Stands for the module ``QuTAG``: ``module.QuTAG()`` opens the fake device.

    Args:
        clock: the virtual clock the driver waits on.
        rates_hz: Poisson rate of each timestamping channel.
        device_type: what ``getDeviceType`` returns (0 quTAG, 1 demo mode).
        seed: the generator of the tags.
        max_tags_per_read: more tags than this since the last read latch data loss.
    """

    def __init__(self, clock: VirtualClock, rates_hz: dict[int, float] | None = None,
                 device_type: int = 0, seed: int = 1, max_tags_per_read: int = 10**9) -> None:
        self.clock = clock
        self.rates_hz = dict(rates_hz or {1: 1e4, 2: 1e4, 3: 1e4, 4: 1e4})
        self.device_type = device_type
        self.rng = np.random.default_rng(seed)
        self.max_tags_per_read = max_tags_per_read
        self.calls: list[tuple[Any, ...]] = []
        self.devices: list[QuTAG] = []

    def QuTAG(self) -> QuTAG:  # noqa: N802 - the vendor's class name
        device = QuTAG(self)
        self.devices.append(device)
        return device


class QuTAG:
    """The wrapper's class, over a simulated device."""

    DEVTYPE_QUTAG = 0
    DEVTYPE_NONE = 1
    SCOND_LVTTL, SCOND_NIM, SCOND_MISC, SCOND_NONE = 1, 2, 3, 4
    TDC_QUTAG_CHANNELS = 5

    def __init__(self, module: FakeQutagModule) -> None:
        self._m = module
        self.initialized = False
        self.enabled_mask = 0
        self.delays = np.zeros(8, dtype=np.int32)
        self.dead_time_ps = {ch: 0 for ch in range(8)}
        self.conditioning = {ch: (1, True, 2.0) for ch in range(8)}  # LVTTL: 2 V rising
        self.exposure_ms = 100
        self._lost_latch = False
        self._last_draw_s = module.clock.now()
        self._t: list[np.ndarray] = []
        self._c: list[np.ndarray] = []
        # what the vendor's constructor does
        self.Initialize()
        self._bufferSize = 1_000_000
        self.setBufferSize(self._bufferSize)

    def _log(self, name: str, *args: Any) -> None:
        self._m.calls.append((name, *args))

    def _rc(self, name: str, code: int) -> int:
        if code != 0:
            print(f"Error in {name}: {ERRORS.get(code, 'Unknown error')}")
        return code

    # -- lifecycle and device info ------------------------------------------------
    def Initialize(self) -> int:  # noqa: N802
        self._log("Initialize")
        self.initialized = True
        return 0

    def deInitialize(self) -> int:  # noqa: N802
        self._log("deInitialize")
        self.initialized = False
        return 0

    def getDeviceType(self) -> int:  # noqa: N802
        self._log("getDeviceType")
        return self._m.device_type

    def getTimebase(self) -> float:  # noqa: N802
        self._log("getTimebase")
        return 1e-12

    # -- channels -----------------------------------------------------------------------
    def enableChannels(self, channels: Any) -> int:  # noqa: N802
        self._log("enableChannels", list(channels))
        self.enabled_mask = sum(1 << k for k in set(channels)) if channels else 0
        return 0

    def setSignalConditioning(self, channel: int, conditioning: int, edge: bool,  # noqa: N802
                              threshold: float) -> int:
        self._log("setSignalConditioning", channel, conditioning, edge, threshold)
        if not (0 <= channel < 8 and conditioning in (1, 2, 3, 4) and -2.0 <= threshold <= 3.0):
            return self._rc("TDC_configureSignalConditioning", OUT_OF_RANGE)
        self.conditioning[channel] = (conditioning, bool(edge), float(threshold))
        return 0

    def getSignalConditioning(self, channel: int) -> tuple[bool, float]:  # noqa: N802
        self._log("getSignalConditioning", channel)
        _, edge, threshold = self.conditioning[channel]
        return (edge, threshold)

    def setChannelDelays(self, delays: np.ndarray) -> int:  # noqa: N802
        self._log("setChannelDelays", [int(d) for d in delays])
        arr = np.asarray(delays)
        if arr.dtype != np.int32 or arr.size < 5 or np.any(np.abs(arr) > 100_000):
            return self._rc("TDC_setChannelDelays", OUT_OF_RANGE)
        self.delays[: arr.size] = arr[:8]
        return 0

    def getChannelDelays(self) -> np.ndarray:  # noqa: N802
        self._log("getChannelDelays")
        return self.delays.copy()

    def setDeadTime(self, chn: int, deadTime: int) -> int:  # noqa: N802, N803
        self._log("setDeadTime", chn, deadTime)
        if not (0 <= chn < 8 and 0 <= deadTime <= 1_000_000):  # (reference silent)
            return self._rc("TDC_setDeadTime", OUT_OF_RANGE)
        self.dead_time_ps[chn] = int(deadTime)
        return 0

    def getDeadTime(self, chn: int) -> int:  # noqa: N802
        self._log("getDeadTime", chn)
        return self.dead_time_ps[chn]

    def setExposureTime(self, expTime: int) -> int:  # noqa: N802, N803
        self._log("setExposureTime", expTime)
        if not 0 <= expTime <= 65535:
            return self._rc("TDC_setExposureTime", OUT_OF_RANGE)
        self.exposure_ms = int(expTime)
        return 0

    # -- timestamps -----------------------------------------------------------------------
    def setBufferSize(self, size: int) -> int:  # noqa: N802
        self._log("setBufferSize", size)
        self._bufferSize = size
        return 0

    def getBufferSize(self) -> int:  # noqa: N802
        return self._bufferSize

    def _draw(self) -> None:
        now = self._m.clock.now()
        t0, span = self._last_draw_s, now - self._last_draw_s
        self._last_draw_s = now
        if span <= 0:
            return
        for ch, rate in self._m.rates_hz.items():
            if not self.enabled_mask >> ch & 1 or ch == 0:
                continue
            n = int(self._m.rng.poisson(rate * span))
            t = np.sort(self._m.rng.uniform(t0, now, n)) * 1e12 + int(self.delays[ch])
            self._t.append(np.round(t).astype(np.int64))
            self._c.append(np.full(n, ch, dtype=np.int8))

    def getDataLost(self) -> int:  # noqa: N802
        self._log("getDataLost")
        self._draw()
        pending = sum(a.size for a in self._t)
        lost = self._lost_latch or pending > self._m.max_tags_per_read
        self._lost_latch = False
        return int(lost)

    def getLastTimestamps(self, reset: bool) -> tuple[np.ndarray, np.ndarray, int]:  # noqa: N802
        self._log("getLastTimestamps", reset)
        self._draw()
        t = np.concatenate(self._t) if self._t else np.empty(0, np.int64)
        c = np.concatenate(self._c) if self._c else np.empty(0, np.int8)
        order = np.argsort(t, kind="stable")
        t, c = t[order], c[order]
        if t.size > self._m.max_tags_per_read:
            self._lost_latch = True
        size = int(self._bufferSize)
        t, c = t[-size:], c[-size:]  # a ring buffer keeps the last tags
        timestamps = np.zeros(size, dtype=np.int64)
        channels = np.zeros(size, dtype=np.int8)
        timestamps[: t.size], channels[: c.size] = t, c
        if reset:
            self._t, self._c = [], []
        return timestamps, channels, int(t.size)
