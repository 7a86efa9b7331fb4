"""Records to chunks: read a file's records in blocks, decode each in one pass.

Shared by the PTU reader and the legacy readers (.pt2/.pt3/.ht2/.ht3/.t3r),
which hold the same 32-bit records behind different headers.

* :class:`RecordBlocks` reads the records into one buffer, reused for every
  block (``readinto`` with a count, never the whole file), so memory does not
  grow with the file.
* :class:`ChunkDecoder` runs the compiled kernel of the record layout
  (:mod:`~qnic.instruments.timetaggers.picoquant.kernels`) over a block,
  straight into the chunk's arrays, and keeps the chunks one stream sorted
  in time: T2 (and TimeHarp 200) records are written in time order, so a
  chunk hands out all its tags; T3 tags are ordered by their sync count
  only, so a tag whose micro time moves it past the block's last sync is
  held for the next chunk (docs/hardware.md).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import Enum
from typing import Any, BinaryIO, NamedTuple

import numpy as np

from qnic.instruments.timetaggers.picoquant import kernels
from qnic.instruments.timetaggers.picoquant.chunk import TagChunk
from qnic.instruments.timetaggers.picoquant.errors import TagFileWarning
from qnic.instruments.timetaggers.picoquant.records import RecordType, split_unit

_MARKER_SCRATCH = 1024  # markers per block before the scratch grows (they are rare)
_SORT_MOVES_PER_TAG = 8  # insertion-sort budget (moves per tag, plus a slack) before
_SORT_MOVES_SLACK = 1024  # a general stable sort takes over
_NO_MARKER_TIMES = np.empty(0, np.int64)
_NO_MARKER_BITS = np.empty(0, np.uint8)
_NO_MARKER_TIMES.flags.writeable = _NO_MARKER_BITS.flags.writeable = False


class Layout(Enum):
    """The record layouts, one compiled kernel each."""

    PICOHARP_T2 = "PicoHarp T2"
    PICOHARP_T3 = "PicoHarp T3"
    HYDRAHARP_T2 = "HydraHarp-family T2"
    HYDRAHARP_T3 = "HydraHarp-family T3"
    TIMEHARP200 = "TimeHarp 200 TTTR"

    @property
    def has_micro_time(self) -> bool:
        """True if events carry a sync/clock count and a micro time (T3, .t3r)."""
        return self in (Layout.PICOHARP_T3, Layout.HYDRAHARP_T3, Layout.TIMEHARP200)

    @property
    def time_ordered(self) -> bool:
        """True if record order is time order (T2; .t3r, timed by its clock alone)."""
        return self not in (Layout.PICOHARP_T3, Layout.HYDRAHARP_T3)


@dataclass(frozen=True)
class RecordFormat:
    """What the kernels need to know of a record type.

    Attributes:
        layout: the bit layout (kernel).
        overflow_period: units one wrap adds (HydraHarp-family T2 only; the
            other layouts have theirs fixed).
        counts_overflows: an overflow record holds a count of wraps.
    """

    layout: Layout
    overflow_period: int = 0
    counts_overflows: bool = False

    @classmethod
    def of(cls, rt: RecordType) -> RecordFormat:
        """The format of a PTU record type (also used by .pt2/.pt3/.ht2/.ht3)."""
        if rt.is_picoharp:
            return cls(Layout.PICOHARP_T3 if rt.is_t3 else Layout.PICOHARP_T2)
        return cls(Layout.HYDRAHARP_T3 if rt.is_t3 else Layout.HYDRAHARP_T2,
                   rt.overflow_period, rt.counts_overflows)


TIMEHARP200 = RecordFormat(Layout.TIMEHARP200)


class FileSummary(NamedTuple):
    """A T2 file counted without decoding its tags (see ``PtuFile.summary``).

    Attributes:
        records: records read.
        events: tags per hardware channel.
        first_ps: the earliest tag time in ps (None without tags).
        last_ps: the latest tag time in ps (None without tags).
        overflows: timer wraps.
        markers: marker events.
    """

    records: int
    events: dict[int, int]
    first_ps: int | None
    last_ps: int | None
    overflows: int
    markers: int


def summarizer(fmt: RecordFormat) -> Callable[[np.ndarray, int, np.ndarray],
                                              tuple[int, int, int, int, int]] | None:
    """The counting kernel of a T2 layout, as ``f(block, base, counts)``; None for T3."""
    if fmt.layout == Layout.PICOHARP_T2:
        return kernels.summarize_picoharp_t2
    if fmt.layout == Layout.HYDRAHARP_T2:
        period, counted = fmt.overflow_period, fmt.counts_overflows
        return lambda block, base, counts: kernels.summarize_hydraharp_t2(
            block, base, period, counted, counts)
    return None


class RecordBlocks:
    """The records of a stream in blocks, read into one reused buffer.

    Iterating yields ``(block, last)``: a uint32 view of the buffer, valid
    until the next step, and whether it is known to be the last block.
    After iterating, :attr:`records_read` counts the whole records and
    :attr:`partial_bytes` the bytes of a broken record at the end (0 if none).

    Args:
        fh: a binary stream.
        offset: byte offset of the first record.
        count: records to read; None reads to the end of the stream.
        chunk_records: records per block (>= 1).
    """

    def __init__(self, fh: BinaryIO, offset: int, count: int | None, chunk_records: int) -> None:
        if chunk_records < 1:
            raise ValueError(f"chunk_records must be >= 1, got {chunk_records}")
        self._fh, self._offset, self._count = fh, offset, count
        size = chunk_records if count is None else max(0, min(chunk_records, count))
        self._buffer = np.empty(size, dtype="<u4")
        self.records_read = 0
        self.partial_bytes = 0

    def _fill(self, n: int) -> int:
        """Read up to ``n`` records' bytes into the buffer; return the bytes read."""
        raw = self._buffer.view(np.uint8)[: 4 * n]
        readinto = getattr(self._fh, "readinto", None)
        got = 0
        while got < raw.size:
            if readinto is not None:
                k = readinto(raw[got:] if got else raw)
            else:
                data = self._fh.read(raw.size - got)
                k = len(data)
                raw[got:got + k] = np.frombuffer(data, dtype=np.uint8)
            if not k:
                break
            got += k
        return got

    def __iter__(self) -> Iterator[tuple[np.ndarray, bool]]:
        if self._fh.seekable():  # else the header's reader left it at the first record
            self._fh.seek(self._offset)
        left = self._count
        while left is None or left > 0:
            n = self._buffer.size if left is None else min(self._buffer.size, left)
            got = self._fill(n)
            whole, self.partial_bytes = divmod(got, 4)
            self.records_read += whole
            if left is not None:
                left -= whole
            last = got < 4 * n or left == 0
            if whole:
                yield self._buffer[:whole], last
            if last:
                break


class ChunkDecoder:
    """Decode consecutive blocks of one file into chunks sorted in time.

    Args:
        fmt: the record format.
        global_resolution_s: the T2 tick, or the T3 sync period (or the
            TimeHarp 200 clock), in s.
        resolution_s: the T3 micro-time bin in s (ignored for T2).
        name: the file's name, for warnings.
    """

    def __init__(self, fmt: RecordFormat, global_resolution_s: float, resolution_s: float,
                 name: str) -> None:
        self.fmt, self.name = fmt, name
        self._g = split_unit(global_resolution_s)
        g, m, layout = self._g, split_unit(resolution_s), fmt.layout
        # each kernel's arguments between (records, base) and the output arrays
        self._kernel, self._params = {
            Layout.PICOHARP_T2: (kernels.decode_picoharp_t2, g),
            Layout.HYDRAHARP_T2: (kernels.decode_hydraharp_t2,
                                  (fmt.overflow_period, fmt.counts_overflows, *g)),
            Layout.PICOHARP_T3: (kernels.decode_picoharp_t3, (*g, *m)),
            Layout.HYDRAHARP_T3: (kernels.decode_hydraharp_t3, (fmt.counts_overflows, *g, *m)),
            Layout.TIMEHARP200: (kernels.decode_timeharp200, g),
        }[layout]
        self._micro, self._time_ordered = layout.has_micro_time, layout.time_ordered
        self._base = 0
        self._held: tuple[np.ndarray, ...] = ()
        self._mk_ts = np.empty(_MARKER_SCRATCH, np.int64)
        self._mk_bits = np.empty(_MARKER_SCRATCH, np.uint8)
        self._handed_out = np.iinfo(np.int64).min  # latest tag handed out (time-ordered layouts)
        self._disorder_seen = False

    def _decode(self, block: np.ndarray, out: tuple[np.ndarray, ...], start: int) -> Any:
        """Run the kernel; once more with a larger marker scratch if it was too small."""
        while True:
            result = self._kernel(block, self._base, *self._params, *out, start, self._mk_ts,
                                  self._mk_bits)
            markers = result[1]
            if markers <= self._mk_ts.size:
                return result
            size = 1 << int(markers - 1).bit_length()
            self._mk_ts = np.empty(size, np.int64)
            self._mk_bits = np.empty(size, np.uint8)

    def decode(self, block: np.ndarray, last: bool) -> TagChunk:
        """Decode one block into a chunk.

        Args:
            block: uint32 (N,), C-contiguous: the next records of the file.
            last: no records follow (T3 tags held back are handed out).
        """
        held, self._held = self._held, ()
        start = held[0].size if held else 0
        size = start + block.size
        out: tuple[np.ndarray, ...] = (np.empty(size, np.int64), np.empty(size, np.int32))
        if self._micro:
            out += (np.empty(size, np.int64), np.empty(size, np.int32))
        for dst, src in zip(out, held):
            dst[:start] = src
        events, markers, overflows, base, last_coarse, ordered = self._decode(block, out, start)
        self._base = int(base)
        n = start + int(events)
        if n < size:
            out = tuple(a[:n] for a in out)
        if not ordered:
            out = self._sort(out)
        if self._time_ordered:
            self._check_order(out[0])
        elif not last:
            out = self._hold_back(out, max(int(last_coarse), self._base))
        if markers:
            mk_ts, mk_bits = self._mk_ts[:markers].copy(), self._mk_bits[:markers].copy()
        else:
            mk_ts, mk_bits = _NO_MARKER_TIMES, _NO_MARKER_BITS
        micro = len(out) == 4
        return TagChunk(out[0], out[1], mk_ts, mk_bits, int(block.size), int(overflows),
                        out[2] if micro else None, out[3] if micro else None)

    def _hold_back(self, out: tuple[np.ndarray, ...], bound_units: int) -> tuple[np.ndarray, ...]:
        """Keep the T3 tags at or after ``bound_units`` (syncs) for the next
        chunk; no later record can be earlier than that sync. Returns the rest."""
        g_whole, g_frac = self._g
        bound_ps = bound_units * g_whole + (int(np.rint(bound_units * g_frac)) if g_frac else 0)
        ts = out[0]
        cut = int(np.searchsorted(ts, bound_ps, side="left"))
        if cut == ts.size:
            return out
        self._held = tuple(a[cut:].copy() for a in out)
        return tuple(a[:cut] for a in out)

    def finish(self) -> TagChunk | None:
        """The tags still held back when a stream ended without a known last
        block (a non-seekable stream), as a chunk of no records; or None."""
        if not self._held:
            return None
        ts, ch, *t3 = self._held
        self._held = ()
        return TagChunk(ts, ch, nsync=t3[0] if t3 else None, dtime=t3[1] if t3 else None)

    def _sort(self, out: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
        """Sort the tags by time, stably: insertion sort when they are nearly
        in order (T3), else a general stable sort."""
        if len(out) == 4 and kernels.sort_nearly_sorted(
                *out, _SORT_MOVES_PER_TAG * out[0].size + _SORT_MOVES_SLACK):
            return out
        order = np.argsort(out[0], kind="stable")
        return tuple(a[order] for a in out)

    def _check_order(self, ts: np.ndarray) -> None:
        """Warn once if a time-ordered layout's tags go back in time across
        chunks (the file breaks its format; each chunk is still sorted)."""
        if ts.size == 0:
            return
        if ts[0] < self._handed_out and not self._disorder_seen:
            self._disorder_seen = True
            warnings.warn(
                f"{self.name}: {self.fmt.layout.value} records out of time order: a tag at "
                f"{int(ts[0])} ps follows one at {self._handed_out} ps in an earlier chunk; "
                "each chunk is sorted, the stream is not", TagFileWarning, stacklevel=4)
        self._handed_out = max(self._handed_out, int(ts[-1]))
