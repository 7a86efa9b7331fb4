"""Pure parts of the Swabian driver: model limits, stream buffers to batches.

Nothing here does I/O. :func:`model_limits` gives the settable ranges of a
model (docs/protocols.md 4a); the rest turns ``TimeTagStream`` buffers into
:class:`TagBatch` objects.

A ``TimeTagStreamBuffer`` (docs/protocols.md 4a) holds four parallel arrays:
timestamps (int64 ps since the tagger started), channels (int32; rising edges
positive), event types (uint8) and missed-event counts (uint16). Only events
of type TimeTag are tags. An overflow (the USB link could not keep up) is an
OverflowBegin ... OverflowEnd pair, with MissedEvents events inside that
carry, per channel, how many tags were lost (a count above 65535 repeats).
An Error event means the time base was invalidated (e.g. a clock change).

:class:`StreamDecoder` turns successive buffers of one measurement into
batches, carrying an overflow that is still open at the end of one buffer
into the next, so analysis sees every lost interval whatever the chunking.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from qnic.instruments.errors import DeviceFaultError, ProtocolError
from qnic.instruments.timetaggers.protocol import TagBatch

log = logging.getLogger(__name__)

_REQUEST = "TimeTagStream.getData()"


class SwabianTagType(enum.IntEnum):
    """Event types of a stream buffer (``TagType``, docs/protocols.md 4a)."""

    TIME_TAG = 0  # a normal event
    ERROR = 1  # e.g. a clock change: the time base was invalidated
    OVERFLOW_BEGIN = 2  # start of a data-loss interval
    OVERFLOW_END = 3  # end of it
    MISSED_EVENTS = 4  # lost tags of one channel in the interval; may repeat


@dataclass(frozen=True)
class StreamBuffer:
    """The arrays and times of one ``TimeTagStreamBuffer``.

    Attributes:
        timestamps: int64 ps, shape (N,).
        channels: int32 channel numbers, shape (N,).
        event_types: uint8 :class:`SwabianTagType` values, shape (N,).
        missed_events: uint16 counts (meaningful for MissedEvents), shape (N,).
        t_start_ps: device time (ps) the buffer's data begins at (``tStart``).
        t_get_data_ps: device time (ps) of the ``getData`` call (``tGetData``).
    """

    timestamps: np.ndarray
    channels: np.ndarray
    event_types: np.ndarray
    missed_events: np.ndarray
    t_start_ps: int
    t_get_data_ps: int

    @classmethod
    def from_vendor(cls, buffer: Any) -> StreamBuffer:
        """Copy the arrays out of a vendor ``TimeTagStreamBuffer``."""
        return cls(np.asarray(buffer.getTimestamps(), dtype=np.int64),
                   np.asarray(buffer.getChannels(), dtype=np.int32),
                   np.asarray(buffer.getEventTypes(), dtype=np.uint8),
                   np.asarray(buffer.getMissedEvents(), dtype=np.uint16),
                   int(buffer.tStart), int(buffer.tGetData))

    @property
    def size(self) -> int:
        """Number of events (tags and markers) in the buffer."""
        return int(self.timestamps.size)


@dataclass(frozen=True)
class ModelLimits:
    """Settable ranges of one model in ps (docs/protocols.md 4a)."""

    max_delay_ps: int  # hardware delay; TT20 delays in software (range not given)
    min_dead_time_ps: int  # the clock period
    max_dead_time_ps: int


_LIMITS = {"ultra": ModelLimits(2_000_000, 2_000, 2_147_000_000),
           "x": ModelLimits(2_500_000, 1_333, 716_000_000),
           "20": ModelLimits(2_000_000, 6_000, 393_000_000)}
# unknown models: the widest documented ranges; the device rejects the rest
_ANY_MODEL = ModelLimits(2_000_000, 1_333, 2_147_000_000)


def model_limits(model: str) -> ModelLimits:
    """The limits of a model named as ``getModel`` names it, e.g. "Time Tagger X"."""
    words = model.lower().split()
    if "ultra" in words:
        return _LIMITS["ultra"]
    return _LIMITS.get(words[-1], _ANY_MODEL) if words else _ANY_MODEL


def merge_intervals(intervals: Sequence[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    """Sort (start_ps, stop_ps) intervals and join those that overlap or touch."""
    out: list[tuple[int, int]] = []
    for a, b in sorted(intervals):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return tuple(out)


def join_batches(batches: Sequence[TagBatch]) -> TagBatch:
    """One batch from consecutive batches of one measurement.

    Raises:
        ValueError: ``batches`` is empty.
    """
    if not batches:
        raise ValueError("join_batches needs at least one batch")
    return TagBatch(
        np.concatenate([b.timestamps for b in batches]).astype(np.int64, copy=False),
        np.concatenate([b.channels for b in batches]).astype(np.int32, copy=False),
        batches[0].start_ps, batches[-1].stop_ps,
        merge_intervals([iv for b in batches for iv in b.overflows]),
        sum(b.missed_events for b in batches))


class StreamDecoder:
    """Turns the buffers of one ``TimeTagStream`` into :class:`TagBatch` objects.

    Args:
        instrument: the instrument's name, for error messages.
        n_max_events: the stream's buffer size; a buffer that comes back this
            full has dropped the events after its last one (docs/protocols.md 4a),
            so the rest of its interval is flagged as lost.
    """

    def __init__(self, instrument: str, n_max_events: int) -> None:
        self.instrument = instrument
        self.n_max_events = n_max_events
        self._overflow_open = False

    @property
    def overflow_open(self) -> bool:
        """Whether an overflow began and has not yet ended."""
        return self._overflow_open

    def decode(self, buf: StreamBuffer, start_ps: int, stop_ps: int) -> TagBatch:
        """The tags of ``buf`` as a batch covering [start_ps, stop_ps).

        Raises:
            DeviceFaultError: the buffer holds an Error event.
            ProtocolError: an event type the reference does not list.
        """
        types = buf.event_types
        known = np.isin(types, [int(t) for t in SwabianTagType])
        if not known.all():
            bad = int(types[~known][0])
            raise ProtocolError(self.instrument, _REQUEST, bytes([bad]),
                                f"unknown stream event type {bad} (expected 0 to 4)")
        errors = np.flatnonzero(types == SwabianTagType.ERROR)
        if errors.size:
            t = int(buf.timestamps[errors[0]])
            raise DeviceFaultError(
                self.instrument, int(SwabianTagType.ERROR),
                f"Error event at {t} ps: the time base was invalidated (e.g. a clock "
                "change), so tags before and after it cannot be compared", _REQUEST)
        is_tag = types == SwabianTagType.TIME_TAG
        missed = int(buf.missed_events[types == SwabianTagType.MISSED_EVENTS].sum(dtype=np.int64))
        overflows = self._overflow_intervals(buf, start_ps, stop_ps)
        if buf.size >= self.n_max_events:
            last = int(buf.timestamps[-1]) if buf.size else start_ps
            log.warning("%s: the stream buffer filled up (%d events); events after %d ps were "
                        "dropped; use a larger stream buffer or a shorter poll interval",
                        self.instrument, buf.size, last)
            overflows = merge_intervals([*overflows, (last, max(last, stop_ps))])
        return TagBatch(buf.timestamps[is_tag], buf.channels[is_tag], start_ps, stop_ps,
                        overflows, missed)

    def _overflow_intervals(self, buf: StreamBuffer, start_ps: int,
                            stop_ps: int) -> tuple[tuple[int, int], ...]:
        types, intervals = buf.event_types, []
        begun: int | None = start_ps if self._overflow_open else None
        marks = np.flatnonzero((types == SwabianTagType.OVERFLOW_BEGIN)
                               | (types == SwabianTagType.OVERFLOW_END))
        for i in marks:
            t = int(buf.timestamps[i])
            if types[i] == SwabianTagType.OVERFLOW_BEGIN:
                begun = t if begun is None else begun
            else:  # an end without a begin: the loss started before this buffer
                intervals.append((start_ps if begun is None else begun, t))
                begun = None
        self._overflow_open = begun is not None
        if begun is not None:
            intervals.append((begun, max(begun, stop_ps)))
        return merge_intervals(intervals)
