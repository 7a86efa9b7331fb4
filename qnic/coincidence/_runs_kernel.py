"""Numba kernels of one-shot matching, on one thread or on all of them.

:func:`match_range` merges stream A (shifted by the delay) with stream B in
one pass and cuts the merged sequence at every gap wider than the window.
No candidate pair spans such a gap (every event between the two ends of a
pair lies within the pair's own distance of them), so each *run* between
gaps holds whole clusters of the candidate graph and is resolved on its
own. A run of exactly one A and one B event is a pair; a run of one stream
only has none; any other run goes to the exact nearest-first resolver of
:mod:`qnic.coincidence._matching_kernel` (at most four events per stream,
nearly all of them) or to :func:`resolve_run`, which grows its clusters
first. At bench rates nearly every run is one event or one pair.

Speed (benchmarks/bench_coincidences.py): which stream the merge takes next,
and whether a gap follows, are coin flips no branch predictor learns. The
hot loop therefore has no branch on them: the step, the run's tally of A
and B events (one int64, A in the low 32 bits) and the pair written (an
unconditional store, the count advanced by 0 or 1) are arithmetic, and
only a run holding more than one candidate pair, which is rare, leaves the
loop. The same pass checks the order of both streams: the
merged sequence decreases exactly when either stream does, as long as no
shifted time leaves the int64 range (the caller checks that on the ends).

:func:`block_cuts` cuts both streams where no candidate pair crosses (a
gap wider than the window between A's and B's events, on A's axis) into
blocks of about equal size; :func:`match_range` releases the GIL, so the
caller matches the blocks on threads side by side, and :func:`close_gaps`
joins their pairs. No pair spans a cut, so the blocks' pairs joined in
order are exactly the one-thread result.
"""

from __future__ import annotations

import numpy as np

from qnic.coincidence._matching_kernel import _resolve_cluster, _resolve_small
from qnic.instruments.kernel_cache import cached_njit

# How far past its target a block cut may move looking for a gap; beyond
# it (a stream with no gap wider than the window) the blocks are merged.
_CUT_TRIES = 100_000

# A run's tally: A events in the low 32 bits, B events above.
_B_ONE = 1 << 32
_A_MASK = _B_ONE - 1
_ONE_PAIR = _B_ONE + 1


@cached_njit()
def resolve_run(
    t_a: np.ndarray,
    t_b: np.ndarray,
    window: int,
    delay: int,
    a0: int,
    a1: int,
    b0: int,
    b1: int,
    out_a: np.ndarray,
    out_b: np.ndarray,
    n: int,
) -> int:
    """Match A events ``[a0, a1)`` with B events ``[b0, b1)`` cluster by cluster.

    No candidate pair may join an event inside the ranges with one outside.
    Walks A with a pointer into B; an A event whose lowest candidate is its
    only one, and which the next A event cannot reach, is paired at once,
    anything else is grown into its whole cluster (connected component of
    the candidate graph) and resolved by :func:`_resolve_cluster`.

    Args:
        t_a: int64 ps, shape (n_a,), sorted: stream A.
        t_b: int64 ps, shape (n_b,), sorted: stream B; (i, j) is a candidate
            when ``|t_b[j] - delay - t_a[i]| <= window``.
        window: Coincidence half-width in ps (>= 0).
        delay: Delay of stream B in ps.
        a0, a1, b0, b1: The index ranges.
        out_a, out_b: int64 buffers, pairs written from index ``n``.
        n: First index of the buffers to write.

    Returns:
        The index after the last pair written (pairs in increasing A index).
    """
    i = a0
    j = b0
    while i < a1:
        c = t_a[i] + delay
        low = c - window
        while j < b1 and t_b[j] < low:
            j += 1
        if j >= b1:
            break
        tb = t_b[j]
        if tb > c + window:
            i += 1
            continue
        if (j + 1 >= b1 or t_b[j + 1] > c + window) and (
            i + 1 >= a1 or t_a[i + 1] + delay - window > tb
        ):
            out_a[n] = i
            out_b[n] = j
            n += 1
            i += 1
            j += 1
            continue
        # Grow the cluster: B events the last A event reaches, A events that
        # reach the last B event, until neither grows.
        ea = i + 1
        eb = j + 1
        grown = True
        while grown:
            grown = False
            while eb < b1 and t_b[eb] <= t_a[ea - 1] + delay + window:
                eb += 1
                grown = True
            while ea < a1 and t_a[ea] + delay - window <= t_b[eb - 1]:
                ea += 1
                grown = True
        n = _resolve_cluster(t_a, t_b, window, delay, i, ea, j, eb, out_a, out_b, n)
        i = ea
        j = eb
    return n


@cached_njit()
def _next_event(t_a: np.ndarray, t_b: np.ndarray, delay: int, i: int, e: int, j: int, f: int
                ) -> tuple[int, int]:
    """``(time, is_b)`` of the next event of the merge (one must be left)."""
    if j < f and (i >= e or t_b[j] < t_a[i] + delay):
        return t_b[j], 1
    return t_a[i] + delay, 0


@cached_njit()
def _close_run(t_a: np.ndarray, t_b: np.ndarray, window: int, delay: int, i: int, j: int,
               tally: int, out_a: np.ndarray, out_b: np.ndarray, n: int) -> int:
    """Write the pairs of the run of ``tally`` events that ends before (i, j)."""
    n_a = tally & _A_MASK
    n_b = tally >> 32
    if n_a == 1 and n_b == 1:
        out_a[n] = i - 1
        out_b[n] = j - 1
        return n + 1
    if 0 < n_a <= 4 and 0 < n_b <= 4:
        return _resolve_small(t_a, t_b, window, delay, i - n_a, i, j - n_b, j, out_a, out_b, n)
    if n_a > 0 and n_b > 0:
        return resolve_run(t_a, t_b, window, delay, i - n_a, i, j - n_b, j, out_a, out_b, n)
    return n


@cached_njit(nogil=True)
def match_range(
    t_a: np.ndarray,
    t_b: np.ndarray,
    window: int,
    delay: int,
    a0: int,
    a1: int,
    b0: int,
    b1: int,
    out_a: np.ndarray,
    out_b: np.ndarray,
    n: int,
) -> tuple[int, int]:
    """Match A events ``[a0, a1)`` with B events ``[b0, b1)`` run by run.

    No candidate pair may join an event inside the ranges with one outside.
    The order of the events in the ranges is checked, and that of each
    range's first event against the event before it.

    The hot loop takes the earlier of ``t_a[i] + delay`` and ``t_b[j]`` (A
    on ties); a gap wider than the window before it closes the open run,
    whose pair ``(i - 1, j - 1)`` is kept when the run was one A and one B
    event: the pair is stored whatever the run and ``n`` advanced by 0 or
    1. It leaves the loop only when the open run holds more than one
    candidate pair (more than one event of each stream, or two of one and
    one of the other); that run is taken to its end and resolved, and the
    loop goes on. Indices are cast to unsigned there: numba then skips the
    negative-index wraparound, whose instructions would lie on the loop's
    critical path.

    Args:
        t_a, t_b, window, delay, out_a, out_b, n: As :func:`resolve_run`;
            fewer than 2^32 events per stream. ``out_a``/``out_b`` have room
            for ``n + min(a1 - a0, b1 - b0)`` entries (the loop stores a pair
            at ``n`` before it knows whether to keep it; it holds fewer pairs
            than events consumed of either stream).
        a0, a1, b0, b1: The index ranges.

    Returns:
        ``(n, bad)``: the index after the last pair written (pairs in
        increasing A index), and 1 if an array decreases (the pairs are then
        meaningless), else 0.
    """
    bad = 0
    if 0 < a0 < a1:
        bad |= int(t_a[a0] < t_a[a0 - 1])
    if 0 < b0 < b1:
        bad |= int(t_b[b0] < t_b[b0 - 1])
    i = a0
    j = b0
    if i >= a1 and j >= b1:
        return n, bad
    p, _ = _next_event(t_a, t_b, delay, i, a1, j, b1)  # the last time taken
    tally = 0  # the open run's A events (low 32 bits) and B events
    while (i < a1) & (j < b1):
        while (i < a1) & (j < b1):
            c = t_a[np.uint64(i)] + delay
            tb = t_b[np.uint64(j)]
            is_b = int(tb < c)
            t = min(c, tb)
            gap = int(np.uint64(t - p) > np.uint64(window))
            bad |= int(t < p)
            out_a[np.uint64(n)] = i - 1
            out_b[np.uint64(n)] = j - 1
            n += gap & int(tally == _ONE_PAIR)
            tally = tally * (1 - gap) + 1 + is_b * (_B_ONE - 1)
            i += 1 - is_b
            j += is_b
            p = t
            if (tally & _A_MASK) * (tally >> 32) > 1:
                break
        if (tally & _A_MASK) * (tally >> 32) <= 1:
            break
        # A run with more than one candidate pair: take it to its end.
        while (i < a1) & (j < b1):
            c = t_a[i] + delay
            tb = t_b[j]
            is_b = int(tb < c)
            t = min(c, tb)
            if np.uint64(t - p) > np.uint64(window):
                break
            bad |= int(t < p)
            tally += 1 + is_b * (_B_ONE - 1)
            i += 1 - is_b
            j += is_b
            p = t
        if (i < a1) & (j < b1):
            n = _close_run(t_a, t_b, window, delay, i, j, tally, out_a, out_b, n)
            tally = 0
    # What is left is of one stream only: it can only extend the open run.
    while i < a1 or j < b1:
        t, is_b = _next_event(t_a, t_b, delay, i, a1, j, b1)
        bad |= int(t < p)
        if np.uint64(t - p) > np.uint64(window):
            n = _close_run(t_a, t_b, window, delay, i, j, tally, out_a, out_b, n)
            tally = 0
        tally += 1 + is_b * (_B_ONE - 1)
        i += 1 - is_b
        j += is_b
        p = t
    n = _close_run(t_a, t_b, window, delay, i, j, tally, out_a, out_b, n)
    return n, bad


@cached_njit()
def match_one(t_a: np.ndarray, t_b: np.ndarray, window: int, delay: int
              ) -> tuple[np.ndarray, np.ndarray, int]:
    """One-thread matching of two whole streams: ``(i_a, i_b, bad)``, ``bad``
    as :func:`match_range`."""
    out_a = np.empty(min(t_a.size, t_b.size), np.int64)
    out_b = np.empty(out_a.size, np.int64)
    n, bad = match_range(t_a, t_b, window, delay, 0, t_a.size, 0, t_b.size, out_a, out_b, 0)
    return out_a[:n], out_b[:n], bad


@cached_njit()
def _cut(t_a: np.ndarray, t_b: np.ndarray, window: int, delay: int, i: int, lo_a: int,
         lo_b: int) -> tuple[int, int]:
    """A cut ``(i, j)`` at or after A index ``i``: no pair joins A[<i] or B[<j]
    with A[>=i] or B[>=j]; ``(-1, -1)`` if none within the tries."""
    n_a = t_a.size
    n_b = t_b.size
    for _ in range(_CUT_TRIES):
        if i >= n_a:
            return -1, -1
        j = lo_b + np.searchsorted(t_b[lo_b:], t_a[i] + delay)
        left_ok = i == lo_a or j >= n_b or t_b[j] - delay - t_a[i - 1] > window
        right_ok = j == lo_b or t_a[i] - (t_b[j - 1] - delay) > window
        if i > lo_a and left_ok and right_ok:
            return i, j
        i += 1
    return -1, -1


@cached_njit()
def block_cuts(t_a: np.ndarray, t_b: np.ndarray, window: int, delay: int, blocks: int
               ) -> tuple[np.ndarray, np.ndarray]:
    """Cut both streams into at most ``blocks`` blocks of about equal A size
    where no candidate pair crosses: ``(cuts_a, cuts_b)``, int64, shape
    (k + 1,), block m holding A ``[cuts_a[m], cuts_a[m + 1])`` and B
    ``[cuts_b[m], cuts_b[m + 1])``. Fewer blocks when no cut is found."""
    n_a = t_a.size
    cuts_a = np.zeros(blocks + 1, np.int64)
    cuts_b = np.zeros(blocks + 1, np.int64)
    k = 1
    for blk in range(1, blocks):
        target = max(n_a * blk // blocks, cuts_a[k - 1] + 1)
        i, j = _cut(t_a, t_b, window, delay, target, cuts_a[k - 1], cuts_b[k - 1])
        if i < 0:
            break
        cuts_a[k] = i
        cuts_b[k] = j
        k += 1
    cuts_a[k] = n_a
    cuts_b[k] = t_b.size
    return cuts_a[:k + 1].copy(), cuts_b[:k + 1].copy()


@cached_njit()
def close_gaps(out_a: np.ndarray, out_b: np.ndarray, starts: np.ndarray, ends: np.ndarray
               ) -> int:
    """Join the blocks' pairs in place: block m's pairs are ``[starts[m],
    ends[m])`` of the buffers (m < ``ends.size``); each moves down after the
    previous block's. Returns the number of pairs."""
    pos = ends[0]
    for m in range(1, ends.size):
        if starts[m] == pos:  # in place already
            pos = ends[m]
            continue
        for q in range(starts[m], ends[m]):
            out_a[pos] = out_a[q]
            out_b[pos] = out_b[q]
            pos += 1
    return pos
