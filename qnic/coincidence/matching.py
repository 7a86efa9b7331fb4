"""One-shot coincidence matching of two sorted timestamp streams.

Window semantics (docs/conventions.md): event i of stream A at ``t_a[i]`` and
event j of stream B at ``t_b[j]`` are candidates when
``|(t_b[j] - delay_ps) - t_a[i]| <= window_ps``. Each event is used at most
once, nearest partner first, defined exactly as: sort all candidate pairs by
(|dt|, i, j) ascending and accept a pair when neither end is used yet.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

import numba

from qnic.coincidence._runs_kernel import _cut, block_cuts, close_gaps, match_one, match_range
from qnic.coincidence._validate import as_int_array, as_int_ps, check_sorted
from qnic.interrupts import kernel_interrupt

_INT64_MIN = int(np.iinfo(np.int64).min)
_INT64_MAX = int(np.iinfo(np.int64).max)

IndexPairs = tuple[NDArray[np.int64], NDArray[np.int64]]
"""Matched pairs ``(i_a, i_b)``: two int64 index arrays of equal length."""

BLOCK_TAGS = 1 << 22
"""One-thread matching runs in compiled calls of about this many A events
(tens of ms each), so that Ctrl-C is handled between them (qnic.interrupts)."""

BLOCKS_PER_THREAD = 8
"""Blocks per thread when matching on several threads (taken as threads
become free)."""

PARALLEL_MIN_TAGS = 1 << 22
"""Inputs of at least this many tags (both streams) are matched on all threads
by default; below it, starting the threads costs more than it saves."""


def find_coincidences(
    t_a: ArrayLike, t_b: ArrayLike, window_ps: int, delay_ps: int = 0, *,
    threads: int | None = None,
) -> IndexPairs:
    """Match events of two streams within a coincidence window.

    Args:
        t_a: Timestamps of stream A in ps, 1-D integer array sorted ascending,
            shape (n_a,). Any integer dtype; converted to int64.
        t_b: Timestamps of stream B in ps, same conventions, shape (n_b,).
        window_ps: Coincidence half-width in ps (int, >= 0); 0 means the
            shifted timestamps must be equal.
        delay_ps: Delay of stream B relative to A in ps (int), subtracted from
            ``t_b`` before comparing.
        threads: Threads to match on (int >= 1): the streams are cut where no
            pair crosses and the pieces matched side by side, with exactly the
            one-thread result. Default: all of numba's threads for inputs of
            ``PARALLEL_MIN_TAGS`` tags or more, else one.

    Returns:
        ``(i_a, i_b)``: int64 index arrays, shape (n_pairs,), ordered by
        ``i_a`` (ascending, no repeats; ``i_b`` has no repeats either), so
        ``t_a[i_a[k]]`` and ``t_b[i_b[k]]`` coincide. Matching is the greedy
        nearest-first rule: candidate pairs sorted by (|dt|, i, j), each
        accepted when neither event is used yet.

    Raises:
        TypeError: If a timestamp array is not of integer dtype (floats are
            refused, not truncated), or the window or delay is not a number.
        ValueError: If an array is not 1-D, not sorted (the message names
            ``t_a`` or ``t_b`` and the first index where it decreases),
            ``window_ps < 0``, or the window or delay is fractional.

    Example:
        >>> i_a, i_b = find_coincidences([0, 100, 250], [3, 240], window_ps=10)
        >>> i_a.tolist(), i_b.tolist()
        ([0, 2], [0, 1])
    """
    window = as_int_ps(window_ps, "window_ps", minimum=0)
    delay = as_int_ps(delay_ps, "delay_ps")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int)
                                or threads < 1):
        raise ValueError(f"threads must be an int >= 1, got {threads!r}")
    a = as_int_array(t_a, "t_a")
    b = as_int_array(t_b, "t_b")
    return match_sorted(a, b, window, delay, names=("t_a", "t_b"), threads=threads)


def match_sorted(
    t_a: NDArray[np.int64],
    t_b: NDArray[np.int64],
    window_ps: int,
    delay_ps: int,
    *,
    names: tuple[str, str] = ("t_a", "t_b"),
    threads: int | None = 1,
) -> IndexPairs:
    """Match two int64 streams whose scalars are already checked.

    Args:
        t_a: Contiguous int64 timestamps in ps, shape (n_a,).
        t_b: Contiguous int64 timestamps in ps, shape (n_b,).
        window_ps: Coincidence half-width in ps (>= 0).
        delay_ps: Delay of stream B in ps.
        names: Argument names of the two arrays for error messages.
        threads: As :func:`find_coincidences` (None: by input size).

    Returns:
        ``(i_a, i_b)`` as :func:`find_coincidences`.

    Raises:
        ValueError: If either array is not sorted ascending.
    """
    if t_a.size == 0 or t_b.size == 0:
        check_sorted(t_a, names[0])
        check_sorted(t_b, names[1])
        return np.empty(0, np.int64), np.empty(0, np.int64)
    # The kernels check the order on the way, on A's times shifted by the
    # delay: exact unless a shifted time leaves the int64 range, which for
    # sorted input only the ends can; then the order is checked first.
    checked = not _shift_fits(t_a, delay_ps)
    if checked:
        check_sorted(t_a, names[0])
        check_sorted(t_b, names[1])
    if threads is None:
        threads = numba.get_num_threads() if t_a.size + t_b.size >= PARALLEL_MIN_TAGS else 1
    if threads > 1:
        with kernel_interrupt():  # Ctrl-C lands after the kernel (qnic.interrupts)
            i_a, i_b, bad = _match_on_threads(t_a, t_b, window_ps, delay_ps,
                                              min(threads, numba.get_num_threads()))
    elif t_a.size <= BLOCK_TAGS:
        with kernel_interrupt():
            i_a, i_b, bad = match_one(t_a, t_b, window_ps, delay_ps)
    else:
        i_a, i_b, bad = _match_in_blocks(t_a, t_b, window_ps, delay_ps)
    if bad and not checked:  # name the array and the index
        check_sorted(t_a, names[0])
        check_sorted(t_b, names[1])
    return i_a, i_b


def _shift_fits(t_a: NDArray[np.int64], delay_ps: int) -> bool:
    """Whether the ends of ``t_a`` shifted by ``delay_ps`` stay within int64
    (then, if ``t_a`` is sorted, every shifted time does)."""
    low, high = int(t_a[0]), int(t_a[-1])
    return all(_INT64_MIN <= t + delay_ps <= _INT64_MAX for t in (low, high))


def _match_on_threads(t_a: NDArray[np.int64], t_b: NDArray[np.int64], window_ps: int,
                      delay_ps: int, threads: int
                      ) -> tuple[NDArray[np.int64], NDArray[np.int64], int]:
    """The streams cut into blocks where no pair crosses, matched side by side
    (the kernel releases the GIL); the same pairs as :func:`match_one`, and 1
    if an array decreases.

    There are ``BLOCKS_PER_THREAD`` blocks per thread, taken as each thread
    becomes free, so that a thread slowed down (a core shared with another
    program) does less of the work. This thread takes them from the front
    and writes each one's pairs right after the previous one's; the others
    take them from the back and write each block's pairs at the block's own
    place (from index ``cuts_a[m]``: at most one pair per A event), which
    :func:`close_gaps` joins at the end.
    """
    cuts_a, cuts_b = block_cuts(t_a, t_b, window_ps, delay_ps, threads * BLOCKS_PER_THREAD)
    blocks = cuts_a.size - 1
    out_a = np.empty(t_a.size, np.int64)
    out_b = np.empty(t_a.size, np.int64)
    starts = cuts_a[:-1].copy()
    ends = np.zeros(blocks, np.int64)
    bad = np.zeros(blocks, np.int64)
    todo = [0, blocks]  # the next block from the front, one past the next from the back
    lock = threading.Lock()
    failed: list[BaseException] = []

    def take(front: bool) -> int:
        with lock:
            if todo[0] >= todo[1]:
                return -1
            todo[0 if front else 1] += 1 if front else -1
            return todo[0] - 1 if front else todo[1]

    def run(front: bool) -> None:
        n = 0
        try:
            while (m := take(front)) >= 0:
                start = n if front else int(cuts_a[m])
                n, bad[m] = match_range(t_a, t_b, window_ps, delay_ps, int(cuts_a[m]),
                                        int(cuts_a[m + 1]), int(cuts_b[m]), int(cuts_b[m + 1]),
                                        out_a, out_b, start)
                starts[m], ends[m] = start, n
        except BaseException as exc:  # noqa: BLE001 - raised below
            with lock:
                todo[0] = todo[1]  # no more blocks for anybody
            failed.append(exc)

    workers = [threading.Thread(target=run, args=(False,), name="qnic-match")
               for _ in range(threads - 1)]
    for worker in workers:
        worker.start()
    try:
        run(True)
    finally:
        for worker in workers:
            worker.join()
    if failed:
        raise failed[0]
    n = int(close_gaps(out_a, out_b, starts, ends))
    return out_a[:n], out_b[:n], int(bad.max())


def _match_in_blocks(t_a: NDArray[np.int64], t_b: NDArray[np.int64], window_ps: int,
                     delay_ps: int) -> tuple[NDArray[np.int64], NDArray[np.int64], int]:
    """:func:`match_one` in compiled calls of about ``BLOCK_TAGS`` A events each,
    cut where no pair crosses (as :func:`block_cuts` cuts), so that Ctrl-C
    is handled between them; the same pairs, and 1 if an array decreases."""
    out_a = np.empty(min(t_a.size, t_b.size), np.int64)
    out_b = np.empty(out_a.size, np.int64)
    n = a0 = b0 = bad = 0
    while a0 < t_a.size:
        a1, b1 = t_a.size, t_b.size
        if a0 + BLOCK_TAGS < t_a.size:
            with kernel_interrupt():
                cut_a, cut_b = _cut(t_a, t_b, window_ps, delay_ps, a0 + BLOCK_TAGS, a0, b0)
            if cut_a >= 0:
                a1, b1 = int(cut_a), int(cut_b)
        with kernel_interrupt():
            n, block_bad = match_range(t_a, t_b, window_ps, delay_ps, a0, a1, b0, b1, out_a,
                                       out_b, n)
        n = int(n)
        bad |= int(block_bad)
        a0, b0 = a1, b1
    return out_a[:n], out_b[:n], bad
