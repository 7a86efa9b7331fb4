"""A small fake of the Swabian Time Tagger Python API (docs/protocols.md section 4a).

The vendor's virtual tagger needs a licence (4a, verified), so the driver is
tested against this fake instead. It holds only what the reference documents:
the names, argument order, return types and event types given there, and
nothing of the driver's code. An instance of :class:`FakeTimeTaggerAPI` stands
for the vendor module and is passed to the driver as ``api=``; every call made
on it, its taggers and its measurements is logged in order in ``api.calls``
(reading a returned stream buffer is not logged: it is data, not a call).

Where the reference is silent the fake makes one plain choice, marked
"(reference silent)" below, and the driver is written not to depend on it:

- ``getTriggerLevelRange(ch)`` returns a ``(min_V, max_V)`` tuple.
- ``waitUntilFinished`` returns None (the driver ignores its result).
- A ``TimeTagStream`` keeps the first ``n_max_events`` events between two
  ``getData`` calls and drops later ones.
- A buffer's ``tStart`` is the device time its data begins at (measurement
  start or previous ``getData``), ``tGetData`` the device time of the call.
- OverflowBegin, OverflowEnd and Error events carry ``CHANNEL_UNUSED`` as
  their channel; MissedEvents sit at the end of the overflow interval, just
  before its OverflowEnd.
- Error messages other than the observed "No Time Tagger attached" one.

Time is virtual: a device's clock moves only through ``waitUntilFinished``
and :meth:`FakeDevice.advance` (which stands for wall time passing between
calls on hardware), so nothing here waits.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

CHANNEL_UNUSED = -134217728  # 4a, read at run time
TEST_SIGNAL_PERIOD_PS = 1_250_000  # 403.2 MHz / 504 = 800 kcounts/s (4a)
_MISSED_MAX = 65_535  # getMissedEvents is uint16; a count repeats (4a)
_PS_PER_MS = 1_000_000_000
_NOT_FOUND = ("No Time Tagger attached or already in use. Got the USB error 'Failed' in "
              "'OpenBySerial'.")  # observed (4a)

# model: (minimum dead time = clock period, maximum, rounding step) in ps (4a)
_DEAD_TIME = {"Time Tagger 20": (6_000, 393_000_000, 6_000),
              "Time Tagger Ultra": (2_000, 2_147_000_000, 1),
              "Time Tagger X": (1_333, 716_000_000, 1)}

Call = tuple[str, tuple[Any, ...], dict[str, Any]]


def call(name: str, *args: Any, **kwargs: Any) -> Call:
    """One expected entry of ``FakeTimeTaggerAPI.calls``."""
    return (name, args, kwargs)


class ChannelEdge(enum.IntEnum):
    """Argument of ``getChannelList`` (4a)."""

    All = 0
    Rising = 1
    Falling = 2
    HighResAll = 4
    HighResRising = 5
    HighResFalling = 6
    StandardAll = 8
    StandardRising = 9
    StandardFalling = 10


class TagType(enum.IntEnum):
    """Event types of a ``TimeTagStreamBuffer`` (4a)."""

    TimeTag = 0
    Error = 1
    OverflowBegin = 2
    OverflowEnd = 3
    MissedEvents = 4


class Resolution(enum.Enum):
    """Default of ``createTimeTagger``; values not in the reference (reference silent)."""

    Standard = "Standard"


F = TypeVar("F", bound=Callable[..., Any])


def _describe(value: Any) -> Any:
    if isinstance(value, (_Tagger, _Proxy, _Measurement, _Synchronized)):
        return value.label
    if isinstance(value, (list, tuple)):
        return type(value)(_describe(v) for v in value)
    return value


def _logged(fn: F) -> F:
    @functools.wraps(fn)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        name = fn.__name__ if isinstance(self, FakeTimeTaggerAPI) else f"{self.kind}.{fn.__name__}"
        api = self if isinstance(self, FakeTimeTaggerAPI) else self.api
        api.calls.append((name, _describe(args), _describe(kwargs)))
        device = getattr(self, "device", None)
        if device is not None:  # wall time passes between two calls on hardware
            device.now_ps += device.call_latency_ps
        return fn(self, *args, **kwargs)
    return wrapper  # type: ignore[return-value]


@dataclass
class _Overflow:
    begin_ps: int
    end_ps: int
    missed: dict[int, int] | None


class FakeDevice:
    """One simulated tagger: its settings, its tags and its clock.

    Args:
        serial: what ``getSerial`` returns and ``createTimeTagger`` opens.
        model: what ``getModel`` returns; sets the dead-time limits.
        channels: the rising-edge input channels.
        start_ps: device time (ps since start-up) when the fake is made.
        trigger_level_range_v: what ``getTriggerLevelRange`` returns.
        trigger_dac_step_v: ``getTriggerLevel`` rounds to this step (0: exact).
        call_latency_ps: device time that passes before each call on the
            tagger or a measurement is served.
    """

    def __init__(self, serial: str, model: str = "Time Tagger Ultra",
                 channels: Sequence[int] = (1, 2, 3, 4), firmware: str = "FW 5 (fake)",
                 start_ps: int = 7_000_000_000, trigger_level_range_v: tuple[float, float] = (-2.5, 2.5),
                 trigger_dac_step_v: float = 0.0, call_latency_ps: int = 0) -> None:
        self.serial, self.model, self.firmware = serial, model, firmware
        self.channels = tuple(channels)
        self.now_ps = start_ps
        self.trigger_level_range_v = trigger_level_range_v
        self.trigger_dac_step_v = trigger_dac_step_v
        self.call_latency_ps = call_latency_ps
        self.trigger_level_v = {ch: 0.5 for ch in self.channels}
        self.delay_ps = {ch: 0 for ch in self.channels}
        self.dead_time_ps = {ch: _DEAD_TIME.get(model, (0, 0, 1))[0] for ch in self.channels}
        self.test_signal: set[int] = set()
        self.synced = 0
        self._ts = np.empty(0, np.int64)
        self._ch = np.empty(0, np.int32)
        self._overflows: list[_Overflow] = []
        self._errors: list[int] = []

    # -- what tests inject ---------------------------------------------------------
    def add_tags(self, timestamps_ps: Iterable[int], channels: Iterable[int]) -> None:
        """Input events at device times (ps) before the input delay."""
        self._ts = np.concatenate((self._ts, np.asarray(list(timestamps_ps), np.int64)))
        self._ch = np.concatenate((self._ch, np.asarray(list(channels), np.int32)))

    def inject_overflow(self, begin_ps: int, end_ps: int,
                        missed: dict[int, int] | None = None) -> None:
        """Lose every tag in [begin_ps, end_ps); ``missed`` overrides the counts."""
        self._overflows.append(_Overflow(begin_ps, end_ps, missed))

    def inject_error(self, t_ps: int) -> None:
        """An Error event (time base invalidated) at ``t_ps``."""
        self._errors.append(t_ps)

    def advance(self, duration_ps: int) -> None:
        """Let ``duration_ps`` of device time pass (wall time between calls)."""
        self.now_ps += duration_ps

    # -- what the device produces -----------------------------------------------
    def _raw(self, t0: int, t1: int, channels: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """Tags in [t0, t1) after the input delays, before any overflow."""
        delay = np.array([self.delay_ps.get(int(c), 0) for c in self._ch], np.int64)
        ts, ch = self._ts + delay, self._ch
        parts_t, parts_c = [ts], [ch]
        for c in sorted(self.test_signal):
            first = -(-(t0 - self.delay_ps[c]) // TEST_SIGNAL_PERIOD_PS)
            t = np.arange(first * TEST_SIGNAL_PERIOD_PS + self.delay_ps[c], t1,
                          TEST_SIGNAL_PERIOD_PS, dtype=np.int64)
            parts_t.append(t)
            parts_c.append(np.full(t.size, c, np.int32))
        ts, ch = np.concatenate(parts_t), np.concatenate(parts_c)
        keep = (ts >= t0) & (ts < t1) & np.isin(ch, np.asarray(channels, np.int32))
        order = np.argsort(ts[keep], kind="stable")
        return ts[keep][order], ch[keep][order]

    def tags(self, t0: int, t1: int, channels: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """Tags in [t0, t1) that reach the computer (none inside an overflow)."""
        ts, ch = self._raw(t0, t1, channels)
        lost = np.zeros(ts.size, bool)
        for ov in self._overflows:
            lost |= (ts >= ov.begin_ps) & (ts < ov.end_ps)
        return ts[~lost], ch[~lost]

    def events(self, t0: int, t1: int, channels: Sequence[int]
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Stream events in [t0, t1): timestamps, channels, types, missed counts."""
        ts, ch = self.tags(t0, t1, channels)
        rows: list[tuple[int, int, int, int]] = []
        for ov in self._overflows:
            if t0 <= ov.begin_ps < t1:
                rows.append((ov.begin_ps, CHANNEL_UNUSED, TagType.OverflowBegin, 0))
            if t0 <= ov.end_ps < t1:
                _, lost_c = self._raw(ov.begin_ps, ov.end_ps, channels)
                for c in sorted(set(channels)):
                    n = (ov.missed or {}).get(c, int(np.count_nonzero(lost_c == c)))
                    while n > 0:
                        rows.append((ov.end_ps, c, TagType.MissedEvents, min(n, _MISSED_MAX)))
                        n -= _MISSED_MAX
                rows.append((ov.end_ps, CHANNEL_UNUSED, TagType.OverflowEnd, 0))
        rows += [(t, CHANNEL_UNUSED, TagType.Error, 0) for t in self._errors if t0 <= t < t1]
        mt = np.array([r[0] for r in rows], np.int64)
        all_t = np.concatenate((ts, mt))
        order = np.argsort(all_t, kind="stable")
        return (all_t[order],
                np.concatenate((ch, np.array([r[1] for r in rows], np.int32)))[order],
                np.concatenate((np.zeros(ts.size, np.uint8),
                                np.array([r[2] for r in rows], np.uint8)))[order],
                np.concatenate((np.zeros(ts.size, np.uint16),
                                np.array([r[3] for r in rows], np.uint16)))[order])


class _Tagger:
    """What ``createTimeTagger`` returns."""

    kind = "TimeTagger"

    def __init__(self, api: FakeTimeTaggerAPI, device: FakeDevice) -> None:
        self.api, self.device = api, device
        self.label = f"<TimeTagger {device.serial}>"
        self.freed = False

    def _input(self, channel: int) -> int:
        if self.freed:
            raise RuntimeError("fake: the Time Tagger was freed")  # (reference silent)
        if abs(channel) not in self.device.channels:
            raise RuntimeError(f"Invalid channel number {channel}")  # (reference silent)
        return abs(channel)

    @_logged
    def getSerial(self) -> str:
        return self.device.serial

    @_logged
    def getModel(self) -> str:
        return self.device.model

    @_logged
    def getFirmwareVersion(self) -> str:
        return self.device.firmware

    @_logged
    def getChannelList(self, type: ChannelEdge = ChannelEdge.All) -> list[int]:
        rising = list(self.device.channels)
        edges = {ChannelEdge.All: rising + [-c for c in rising], ChannelEdge.Rising: rising,
                 ChannelEdge.Falling: [-c for c in rising]}
        return edges[ChannelEdge(type)]

    @_logged
    def setTriggerLevel(self, channel: int, voltage: float) -> None:
        self.device.trigger_level_v[self._input(channel)] = float(voltage)

    @_logged
    def getTriggerLevel(self, channel: int) -> float:
        v, step = self.device.trigger_level_v[self._input(channel)], self.device.trigger_dac_step_v
        return round(v / step) * step if step else v

    @_logged
    def getTriggerLevelRange(self, channel: int) -> tuple[float, float]:
        self._input(channel)
        return self.device.trigger_level_range_v

    @_logged
    def setInputDelay(self, channel: int, delay: int) -> None:
        self.device.delay_ps[self._input(channel)] = int(delay)

    @_logged
    def getInputDelay(self, channel: int) -> int:
        return self.device.delay_ps[self._input(channel)]

    @_logged
    def setDeadtime(self, channel: int, deadtime: int) -> int:
        lo, hi, step = _DEAD_TIME[self.device.model]
        if deadtime > hi:
            raise RuntimeError(f"Deadtime {deadtime} ps exceeds the maximum of {hi} ps")
        actual = max(lo, round(deadtime / step) * step)
        self.device.dead_time_ps[self._input(channel)] = actual
        return actual

    @_logged
    def setTestSignal(self, channel: int | Sequence[int], enabled: bool) -> None:
        for c in ([channel] if isinstance(channel, int) else list(channel)):
            if enabled:
                self.device.test_signal.add(self._input(c))
            else:
                self.device.test_signal.discard(self._input(c))

    @_logged
    def sync(self) -> None:
        self.device.synced += 1


class _Synchronized:
    """``SynchronizedMeasurements(tagger)``."""

    kind = "SynchronizedMeasurements"

    def __init__(self, api: FakeTimeTaggerAPI, tagger: _Tagger) -> None:
        self.api, self.device = api, tagger.device
        self.label = f"<SynchronizedMeasurements {tagger.device.serial}>"
        self.members: list[_Measurement] = []

    @_logged
    def getTagger(self) -> _Proxy:
        return _Proxy(self)

    @_logged
    def startFor(self, duration_ps: int, clear: bool = True) -> None:
        for m in self.members:
            m._begin(int(duration_ps), clear)

    @_logged
    def waitUntilFinished(self, timeout_ms: int = -1) -> None:
        for m in self.members:
            m._wait(timeout_ms)


class _Proxy:
    """The tagger proxy of a ``SynchronizedMeasurements``."""

    def __init__(self, sm: _Synchronized) -> None:
        self.sm, self.device = sm, sm.device
        self.label = f"<proxy of {sm.label}>"


class _Measurement:
    """``IteratorBase``: starts on creation unless made on a proxy (4a)."""

    kind = "IteratorBase"

    def __init__(self, api: FakeTimeTaggerAPI, tagger: _Tagger | _Proxy,
                 channels: Sequence[int]) -> None:
        self.api, self.device = api, tagger.device
        self.channels = [int(c) for c in channels]
        self.label = f"<{self.kind} {self.channels}>"
        self.start_ps: int | None = None
        self.end_ps: int | None = None
        self.read_ps = 0
        if isinstance(tagger, _Proxy):
            tagger.sm.members.append(self)
        else:
            self._begin(None, True)

    def _begin(self, duration_ps: int | None, clear: bool) -> None:
        now = self.device.now_ps
        if clear or self.start_ps is None:
            self.start_ps = self.read_ps = now
        self.end_ps = None if duration_ps is None else now + duration_ps

    def _upto(self) -> int:
        now = self.device.now_ps
        return now if self.end_ps is None else min(now, self.end_ps)

    def _wait(self, timeout_ms: int) -> None:
        if not self._running():
            return
        if self.end_ps is None and timeout_ms < 0:
            raise RuntimeError("fake: waiting forever on a measurement that has no end")
        target = (self.end_ps if timeout_ms < 0 else self.device.now_ps + timeout_ms * _PS_PER_MS)
        if self.end_ps is not None:
            target = min(target, self.end_ps)
        self.device.now_ps = max(self.device.now_ps, int(target))  # type: ignore[arg-type]

    @_logged
    def start(self) -> None:
        self._begin(None, True)

    @_logged
    def startFor(self, duration_ps: int, clear: bool = True) -> None:
        self._begin(int(duration_ps), clear)

    @_logged
    def stop(self) -> None:
        self.end_ps = self._upto()

    @_logged
    def abort(self) -> None:
        self.end_ps = self._upto()

    @_logged
    def clear(self) -> None:
        self.start_ps = self.read_ps = self.device.now_ps

    def _running(self) -> bool:
        return self.start_ps is not None and (self.end_ps is None
                                              or self.device.now_ps < self.end_ps)

    @_logged
    def isRunning(self) -> bool:
        return self._running()

    @_logged
    def waitUntilFinished(self, timeout_ms: int = -1) -> None:
        self._wait(timeout_ms)

    @_logged
    def getCaptureDuration(self) -> int:
        return 0 if self.start_ps is None else self._upto() - self.start_ps


class FakeTimeTagStreamBuffer:
    """What ``TimeTagStream.getData`` returns (4a)."""

    def __init__(self, ts: np.ndarray, ch: np.ndarray, types: np.ndarray, missed: np.ndarray,
                 t_start: int, t_get_data: int) -> None:
        self._arrays = (ts.astype(np.int64), ch.astype(np.int32), types.astype(np.uint8),
                        missed.astype(np.uint16))
        self.size = int(ts.size)
        self.hasOverflows = bool(np.isin(types, [2, 3, 4]).any())
        self.tStart = t_start
        self.tGetData = t_get_data

    def getTimestamps(self) -> np.ndarray:
        return self._arrays[0].copy()

    def getChannels(self) -> np.ndarray:
        return self._arrays[1].copy()

    def getEventTypes(self) -> np.ndarray:
        return self._arrays[2].copy()

    def getMissedEvents(self) -> np.ndarray:
        return self._arrays[3].copy()


class _TimeTagStream(_Measurement):
    kind = "TimeTagStream"

    def __init__(self, api: FakeTimeTaggerAPI, tagger: _Tagger | _Proxy, n_max_events: int,
                 channels: Sequence[int]) -> None:
        self.n_max_events = int(n_max_events)
        super().__init__(api, tagger, channels)

    @_logged
    def getData(self) -> FakeTimeTagStreamBuffer:
        lo, hi = self.read_ps, self._upto()
        if self.start_ps is None or hi <= lo:
            ts, ch, ty, mi = (np.empty(0, np.int64),) * 4
        else:
            ts, ch, ty, mi = self.device.events(lo, hi, self.channels)
        self.read_ps = max(lo, hi)
        n = self.n_max_events  # later events are dropped (reference silent)
        return FakeTimeTagStreamBuffer(ts[:n], ch[:n], ty[:n], mi[:n], lo, self.device.now_ps)


class _Countrate(_Measurement):
    kind = "Countrate"

    def _counts(self) -> np.ndarray:
        if self.start_ps is None:
            return np.zeros(len(self.channels), np.int64)
        _, ch = self.device.tags(self.start_ps, self._upto(), self.channels)
        return np.array([np.count_nonzero(ch == c) for c in self.channels], np.int64)

    @_logged
    def getData(self) -> np.ndarray:
        span_s = (self._upto() - (self.start_ps or 0)) * 1e-12
        counts = self._counts().astype(np.float64)
        return counts / span_s if span_s > 0 else np.zeros_like(counts)

    @_logged
    def getCountsTotal(self) -> np.ndarray:
        return self._counts()


class FakeTimeTaggerAPI:
    """Stands for the vendor module ``TimeTagger``; pass it to the driver as ``api=``.

    Args:
        *devices: the taggers "attached" to this computer.
    """

    CHANNEL_UNUSED = CHANNEL_UNUSED
    ChannelEdge = ChannelEdge
    TagType = TagType
    Resolution = Resolution

    def __init__(self, *devices: FakeDevice) -> None:
        self.devices = {d.serial: d for d in devices}
        self.calls: list[Call] = []
        self.open: dict[str, _Tagger] = {}

    @_logged
    def scanTimeTagger(self) -> tuple[str, ...]:
        return tuple(s for s in self.devices if s not in self.open)

    @_logged
    def createTimeTagger(self, serial: str = "",
                         resolution: Resolution = Resolution.Standard) -> _Tagger:
        free = [s for s in self.devices if s not in self.open]
        wanted = serial or (free[0] if free else "")
        if wanted not in free:
            raise RuntimeError(_NOT_FOUND)
        self.open[wanted] = _Tagger(self, self.devices[wanted])
        return self.open[wanted]

    @_logged
    def freeTimeTagger(self, tagger: _Tagger) -> None:
        tagger.freed = True
        self.open.pop(tagger.device.serial, None)

    @_logged
    def TimeTagStream(self, tagger: _Tagger | _Proxy, n_max_events: int,
                      channels: Sequence[int]) -> _TimeTagStream:
        return _TimeTagStream(self, tagger, n_max_events, channels)

    @_logged
    def Countrate(self, tagger: _Tagger | _Proxy, channels: Sequence[int]) -> _Countrate:
        return _Countrate(self, tagger, channels)

    @_logged
    def SynchronizedMeasurements(self, tagger: _Tagger) -> _Synchronized:
        return _Synchronized(self, tagger)
