"""Per-outcome counts of two QNICs in one streaming pass (docs/coincidences.md).

:class:`OutcomeStream` takes the interleaved tag stream batch by batch and
counts, in one pass over it, the coincidences per outcome of two arms at the
true delay and at any number of offset windows (for accidentals). Each batch
is split by channel with the delays subtracted (no global re-sort), each
arm's two detectors are merged into outcome events, and the events of the
two arms are matched once per offset; all three steps are compiled kernels
(:mod:`qnic.coincidence._outcome_kernel`) that stop at the first segment a
later batch could still change and carry it over, so the counts of a
stream cut into batches equal those of the whole stream, pairs across batch
boundaries included. :func:`outcome_counts` is the one-batch case.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qnic.coincidence._outcome_kernel import N_COUNTS
from qnic.coincidence._outcome_pass import KEY_LIMIT_PS, count_plain, count_shifted, quiet_cut
from qnic.coincidence._validate import as_int_array, as_int_ps, clamp_int64
from qnic.coincidence.outcomes import END_OF_STREAM, OutcomeCounts, check_arms
from qnic.interrupts import kernel_interrupt

_EMPTY_T = np.empty(0, np.int64)
_EMPTY_CH = np.empty(0, np.int32)
_I32 = np.iinfo(np.int32)

TWO_CORE_MIN_TAGS = 1 << 17
"""Batches of at least this many tags are counted on two threads (when the
stream has two and counts no offset windows)."""
_EMPTY_O = np.empty(0, np.int8)

CHUNK_TAGS = 1 << 21
"""A batch is counted in compiled calls of at most this many tags (some tens
of ms each), so that Ctrl-C is handled between them (qnic.interrupts)."""


class OutcomeStream:
    """Coincidences per outcome of two arms, counted batch by batch.

    Args:
        arm_a: ``(channel of outcome 0, channel of outcome 1)`` of arm A.
        arm_b: Likewise for arm B. The four channels must be distinct.
        window_ps: Coincidence window in ps (int, >= 0), used both for double
            clicks within an arm and for A-B coincidences.
        delays_ps: Channel -> delay in ps (int), subtracted from that
            channel's timestamps; missing channels have delay 0.
        offsets_ps: Extra delays of arm B in ps (ints) to count at; 0 is the
            true coincidences, offsets well beyond the peak the accidentals
            (docs/coincidences.md). One :class:`OutcomeCounts` per offset.
        threads: 2 counts large batches (``TWO_CORE_MIN_TAGS`` tags or more)
            without offset windows in two halves side by side; 1 never.
            Default: 2 where the machine has two cores. The counts do not
            depend on it.

    Memory is one batch plus the events within a window or so of its end
    (and, with offsets, the events of arm B within the largest offset).

    Example:
        >>> s = OutcomeStream((1, 2), (3, 4), window_ps=10, offsets_ps=(0, 1000))
        >>> s.push([0, 4, 1000], [1, 3, 1])
        >>> s.push([1002], [4])
        >>> [c.as_list() for c in s.finish()]
        [[1, 0, 0, 0], [0, 0, 0, 0]]
    """

    def __init__(
        self,
        arm_a: tuple[int, int],
        arm_b: tuple[int, int],
        window_ps: int,
        delays_ps: Mapping[int, int] | None = None,
        offsets_ps: Sequence[int] = (0,),
        threads: int | None = None,
    ) -> None:
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int)
                                    or threads < 1):
            raise ValueError(f"threads must be an int >= 1, got {threads!r}")
        self.threads = min(2, os.cpu_count() or 1) if threads is None else threads
        self._window = as_int_ps(window_ps, "window_ps", minimum=0)
        if self._window >= KEY_LIMIT_PS // 4:
            raise ValueError(f"window_ps must be below {KEY_LIMIT_PS // 4} ps, got {self._window}")
        self._channels = check_arms(arm_a, arm_b)
        delays = {c: 0 for c in self._channels}
        for c, d in (delays_ps or {}).items():
            if int(c) in delays:
                delays[int(c)] = as_int_ps(d, f"delays_ps[{c}]")
                if abs(delays[int(c)]) >= KEY_LIMIT_PS // 4:
                    raise ValueError(f"delays_ps[{c}] must be within +-{KEY_LIMIT_PS // 4} ps, "
                                     f"got {delays[int(c)]}")
        self._chans = np.array(self._channels, np.int64)
        self._delays = np.array([delays[c] for c in self._channels], np.int64)
        self._offsets = [as_int_ps(o, f"offsets_ps[{k}]") for k, o in enumerate(offsets_ps)]
        if not self._offsets:
            raise ValueError("offsets_ps must hold at least one offset (0 for true coincidences)")
        self._offsets_arr = np.array(self._offsets, np.int64)
        self._shifted = any(o != 0 for o in self._offsets)
        self._counts = np.zeros((len(self._offsets), N_COUNTS), np.int64)
        self._singles = np.zeros(4, np.int64)
        self._events = np.zeros(2, np.int64)
        # Delayed clicks of the unfinished run, carried to the next batch, and
        # for offset windows other than 0 the arms' events not yet counted at
        # every offset, with per offset the first of A and B not yet counted.
        self._carry: NDArray[np.int64] = _EMPTY_T
        self._ev: tuple[NDArray[np.int64], NDArray[np.int8], NDArray[np.int64],
                        NDArray[np.int8]] = (_EMPTY_T, _EMPTY_O, _EMPTY_T, _EMPTY_O)
        self._cursors = np.zeros((len(self._offsets), 2), np.int64)
        self._last: int | None = None
        self._finished = False

    @property
    def offsets_ps(self) -> tuple[int, ...]:
        """The offsets counted at, in ps."""
        return tuple(self._offsets)

    @property
    def n_held(self) -> tuple[int, int]:
        """Clicks carried to the next batch, and events kept for offset windows."""
        return int(self._carry.size), int(self._ev[0].size + self._ev[2].size)

    def push(self, timestamps: ArrayLike, channels: ArrayLike, until_ps: int | None = None) -> None:
        """Count the next batch of the interleaved stream.

        Args:
            timestamps: Tag times in ps, 1-D integer, sorted ascending, shape
                (n,), not before the previous batch's last tag.
            channels: Tag channel numbers, 1-D integer, shape (n,). Channels
                of neither arm are ignored.
            until_ps: Optional: no later batch holds a tag before this time
                (the batch's stop time); lets the counts advance through a
                quiet stretch.

        Raises:
            RuntimeError: After :meth:`finish`.
            TypeError: If an array is not of integer dtype.
            ValueError: If the arrays differ in length, the timestamps are
                not sorted, or the batch starts before the previous one ended.
        """
        if self._finished:
            raise RuntimeError("OutcomeStream.push() called after finish()")
        t = as_int_array(timestamps, "timestamps")
        ch = np.asarray(channels)
        # int32, what taggers hand out, is the kernels' one channel type (one
        # compilation after an install, not one per integer type).
        if ch.dtype != np.int32:
            ch = as_int_array(ch, "channels")
            if ch.size and not (_I32.min <= int(ch.min()) and int(ch.max()) <= _I32.max):
                raise ValueError("channels must fit in int32 (hardware channel numbers)")
            ch = ch.astype(np.int32)
        if ch.size != t.size:
            raise ValueError(f"timestamps and channels differ in length: {t.size} != {ch.size}")
        if t.size and self._last is not None and int(t[0]) < self._last:
            raise ValueError(
                f"timestamps must continue the stream in order: the batch's first tag "
                f"{int(t[0])} ps is before the previous batch's last {self._last} ps")
        if t.size and not (-KEY_LIMIT_PS < int(t[0]) - int(self._delays.max())
                           and int(t[-1]) - int(self._delays.min()) < KEY_LIMIT_PS):
            raise ValueError(
                f"timestamps minus delays must lie within +-{KEY_LIMIT_PS} ps (26 days), got "
                f"{int(t[0])} .. {int(t[-1])} ps")
        last = max(int(t[-1]) if t.size else -END_OF_STREAM,
                   -END_OF_STREAM if until_ps is None else as_int_ps(until_ps, "until_ps"),
                   -END_OF_STREAM if self._last is None else self._last)
        # Tags still to come have raw times >= last, so delayed times >= last
        # minus the largest delay.
        limit = clamp_int64(last - int(self._delays.max())) if last > -END_OF_STREAM \
            else -END_OF_STREAM
        self._count_in_chunks(t, ch, limit)
        if last > -END_OF_STREAM:
            self._last = last

    def _count_in_chunks(self, t: NDArray[np.int64], ch: NDArray[np.int32], limit: int) -> None:
        """Count ``t`` in pieces of at most :data:`CHUNK_TAGS` tags, each a
        compiled call of bounded time, so that Ctrl-C is handled between them
        (qnic.interrupts); an interrupted batch leaves its first pieces counted."""
        bounds = list(range(CHUNK_TAGS, t.size, CHUNK_TAGS))
        for k in bounds:
            if t[k] < t[k - 1]:
                self._check(t, k)
        start = 0
        for stop in [*bounds, t.size]:
            piece_limit = limit if stop >= t.size else \
                clamp_int64(int(t[stop]) - int(self._delays.max()))
            with kernel_interrupt():
                self._count(t[start:stop], ch[start:stop], piece_limit, start)
            start = stop

    def finish(self) -> list[OutcomeCounts]:
        """Count everything held back and return the counts per offset."""
        if not self._finished:
            self._finished = True
            with kernel_interrupt():
                self._count(_EMPTY_T, _EMPTY_CH, END_OF_STREAM)
        return self.counts()

    def counts(self) -> list[OutcomeCounts]:
        """The counts so far, one per offset (events held back not yet in)."""
        singles = {c: int(k) for c, k in zip(self._channels, self._singles)}
        ea, eb = int(self._events[0]), int(self._events[1])
        return [
            OutcomeCounts(n=row[:4].reshape(2, 2), double_a=int(row[4]), double_b=int(row[5]),
                          events_a=ea, events_b=eb, singles=dict(singles))
            for row in self._counts
        ]

    def _count(self, t: NDArray[np.int64], ch: NDArray[np.int32], limit: int,
               base: int = 0) -> None:
        # The kernels count into copies, so a batch found unsorted half-way
        # leaves the stream as it was.
        cursors, counts = self._cursors.copy(), self._counts.copy()
        events, singles = self._events.copy(), self._singles.copy()
        if self._shifted:
            bad, carry, *ev = count_shifted(
                t, ch, self._chans, self._delays, self._window, self._offsets_arr, limit,
                self._carry, *self._ev, cursors, counts, events, singles)
            self._check(t, bad, base)
            self._ev = (ev[0], ev[1], ev[2], ev[3])
        else:
            row = np.zeros(N_COUNTS, np.int64)
            cut = self._two_core_cut(t)
            if cut > 0:
                carry = self._count_two_halves(t, ch, cut, limit, row, events, singles, base)
            else:
                bad, carry = count_plain(t, ch, self._chans, self._delays, self._window, limit,
                                         self._carry, row, events, singles)
                self._check(t, bad, base)
            counts += row  # every row is offset 0
        self._carry = carry
        self._cursors, self._counts, self._events, self._singles = cursors, counts, events, singles

    def _count_two_halves(self, t: NDArray[np.int64], ch: NDArray[np.int32], cut: int,
                          limit: int, row: NDArray[np.int64], events: NDArray[np.int64],
                          singles: NDArray[np.int64], base: int = 0) -> NDArray[np.int64]:
        """:func:`count_plain` on ``t[:cut]`` on a thread of its own (the kernel
        releases the GIL) beside ``t[cut:]`` here; nothing carries across the cut."""
        first: list[Any] = []

        def run_first() -> None:
            try:
                first.append(count_plain(t[:cut], ch[:cut], self._chans, self._delays,
                                         self._window, END_OF_STREAM, self._carry, row, events,
                                         singles))
            except BaseException as exc:  # noqa: BLE001 - raised below
                first.append(exc)

        thread = threading.Thread(target=run_first, name="qnic-count")
        thread.start()
        row2, events2, singles2 = np.zeros_like(row), np.zeros_like(events), np.zeros_like(singles)
        try:
            bad2, carry = count_plain(t[cut:], ch[cut:], self._chans, self._delays, self._window,
                                      limit, _EMPTY_T, row2, events2, singles2)
        finally:
            thread.join()
        if isinstance(first[0], BaseException):
            raise first[0]
        self._check(t, first[0][0] if first[0][0] >= 0 else (cut + bad2 if bad2 >= 0 else -1),
                    base)
        row += row2
        events += events2
        singles += singles2
        return carry

    @staticmethod
    def _check(t: NDArray[np.int64], bad: int, base: int = 0) -> None:
        """Raise for a decrease at ``t[bad]`` (``base``: where ``t`` starts in the batch)."""
        if bad >= 0:
            at = base + bad
            raise ValueError(
                f"timestamps must be sorted ascending: timestamps[{at}] = {int(t[bad])} < "
                f"timestamps[{at - 1}] = {int(t[bad - 1])} (first decrease at index {at})")

    def _two_core_cut(self, t: NDArray[np.int64]) -> int:
        """Where to split a large batch for two cores (0: count it on one).

        Only without offset windows (their events cross the cut), and only at
        a gap between tags wider than the spread of the delays plus the
        window, so that no run spans it.
        """
        if self.threads < 2 or t.size < TWO_CORE_MIN_TAGS or any(self._offsets):
            return 0
        gap = int(self._delays.max() - self._delays.min()) + self._window
        return max(int(quiet_cut(t, t.size // 2, gap, 1 << 16)), 0)


def outcome_counts(
    timestamps: ArrayLike,
    channels: ArrayLike,
    arm_a: tuple[int, int],
    arm_b: tuple[int, int],
    window_ps: int,
    delays_ps: Mapping[int, int] | None = None,
    offset_ps: int = 0,
    *,
    threads: int | None = None,
) -> OutcomeCounts:
    """Count coincidences of two arms per outcome from one tag batch.

    Args:
        timestamps: Tag times in ps, 1-D integer, sorted ascending, shape (n,).
        channels: Tag channel numbers (as the hardware numbers them), 1-D
            integer, shape (n,). Channels of neither arm are ignored.
        arm_a: ``(channel of outcome 0, channel of outcome 1)`` of arm A.
        arm_b: Likewise for arm B. The four channels must be distinct.
        window_ps: Coincidence window in ps (int, >= 0), used both for double
            clicks within an arm and for A-B coincidences.
        delays_ps: Channel -> delay in ps (int), subtracted from that
            channel's timestamps; missing channels have delay 0.
        offset_ps: Extra delay of arm B in ps (int), for accidental
            estimation with an offset window (0 for true coincidences).
        threads: As :class:`OutcomeStream` (the counts do not depend on it).

    Returns:
        The counts; see :class:`OutcomeCounts`.

    Raises:
        TypeError: If an array is not of integer dtype or a scalar is not a
            whole number.
        ValueError: If the arrays differ in length, timestamps are not sorted,
            the arm channels are not four distinct channels, or
            ``window_ps < 0``.
    """
    return outcome_counts_at(timestamps, channels, arm_a, arm_b, window_ps, delays_ps,
                             (offset_ps,), threads=threads)[0]


def outcome_counts_at(
    timestamps: ArrayLike,
    channels: ArrayLike,
    arm_a: tuple[int, int],
    arm_b: tuple[int, int],
    window_ps: int,
    delays_ps: Mapping[int, int] | None = None,
    offsets_ps: Sequence[int] = (0,),
    *,
    threads: int | None = None,
) -> list[OutcomeCounts]:
    """:func:`outcome_counts` at several offsets of arm B in one pass.

    Returns:
        One :class:`OutcomeCounts` per offset, in the order given.
    """
    stream = OutcomeStream(arm_a, arm_b, window_ps, delays_ps, offsets_ps, threads)
    stream.push(timestamps, channels)
    return stream.finish()
