"""Numba kernels of per-outcome counting: split, arm events, pair counts.

The nearest-first matching rule (docs/coincidences.md) never pairs two
events across a gap wider than the window: a pair (x, y) with x before the
gap and y after it is at least the gap apart. Cutting a time-ordered stream
at every such gap therefore gives *segments* that can be resolved one by one
(greedy resolution of a segment is the global greedy restricted to it). At
the rates of an SPDC bench almost every segment is one click, or one click
of each stream; those are resolved inline, the rest by the general cluster
resolver of :mod:`qnic.coincidence._matching_kernel`.

A segment is *final* when it ends more than one window before ``limit``,
the earliest time any event not yet seen can have; the kernels stop at the
first segment that is not, so a stream can be counted in chunks with the
unfinished tail carried over (:class:`qnic.coincidence.OutcomeStream`).

All times are int64 ps. Compiled with ``cache=True`` in the per-user cache
(:mod:`qnic.instruments.kernel_cache`).
"""

from __future__ import annotations

import numpy as np

from qnic.coincidence._matching_kernel import _resolve_cluster
from qnic.instruments.kernel_cache import cached_njit

DOUBLE = 2
"""Outcome code of a double click (both detectors of an arm)."""

# Layout of one offset's row of counts: n00, n01, n10, n11, double_a, double_b.
N_COUNTS = 6


@cached_njit()
def _segment_end(
    t_a: np.ndarray, t_b: np.ndarray, shift: int, window: int, i: int, j: int
) -> tuple[int, int, int]:
    """Extend a segment from ``(i, j)`` over gaps of at most ``window``.

    Stream B is compared on A's axis (``t_b - shift``). Returns ``(i2, j2,
    end)``: the segment holds A events ``[i, i2)`` and B events ``[j, j2)``,
    and ``end`` is its last time on A's axis.
    """
    n_a = t_a.size
    n_b = t_b.size
    if i < n_a and (j >= n_b or t_a[i] <= t_b[j] - shift):
        end = t_a[i]
        i += 1
    else:
        end = t_b[j] - shift
        j += 1
    reach = end + window
    while True:
        if i < n_a and t_a[i] <= reach and (j >= n_b or t_a[i] <= t_b[j] - shift):
            end = t_a[i]
            i += 1
        elif j < n_b and t_b[j] - shift <= reach:
            end = t_b[j] - shift
            j += 1
        else:
            return i, j, end
        reach = end + window


@cached_njit()
def arm_events(
    t0: np.ndarray,
    t1: np.ndarray,
    window: int,
    limit: int,
    ev_t: np.ndarray,
    ev_o: np.ndarray,
) -> tuple[int, int, int]:
    """Merge an arm's two detectors into outcome events, in time order.

    Within a segment, the clicks are matched nearest first; each matched
    pair is a double click (outcome 2) at the earlier of its two times,
    every other click a single with its channel's outcome. Events are
    written in the order (time, doubles before outcome 0 before outcome 1,
    click order), the order of docs/coincidences.md.

    Args:
        t0: int64 ps (n0,), sorted: clicks of the outcome-0 detector.
        t1: int64 ps (n1,), sorted: clicks of the outcome-1 detector.
        window: Double-click window in ps (>= 0).
        limit: No click not in ``t0``/``t1`` comes before this time (ps).
        ev_t: int64 (>= n0 + n1,): event times, written from index 0.
        ev_o: int8, same size: event outcomes.

    Returns:
        ``(n_events, i_end, j_end)``: events written, and the first clicks
        of ``t0`` and ``t1`` not consumed (the unfinished segment).
    """
    n0 = t0.size
    n1 = t1.size
    i = 0
    j = 0
    n = 0
    while i < n0 or j < n1:
        i2, j2, end = _segment_end(t0, t1, 0, window, i, j)
        if end + window >= limit:
            break
        na = i2 - i
        nb = j2 - j
        if na + nb == 1:
            ev_t[n] = t0[i] if na else t1[j]
            ev_o[n] = 0 if na else 1
            n += 1
        elif na == 1 and nb == 1:
            ev_t[n] = min(t0[i], t1[j])
            ev_o[n] = DOUBLE
            n += 1
        elif nb == 0:
            for k in range(i, i2):
                ev_t[n] = t0[k]
                ev_o[n] = 0
                n += 1
        elif na == 0:
            for k in range(j, j2):
                ev_t[n] = t1[k]
                ev_o[n] = 1
                n += 1
        else:
            n = _segment_events(t0, t1, window, i, i2, j, j2, ev_t, ev_o, n)
        i = i2
        j = j2
    return n, i, j


@cached_njit()
def _segment_events(
    t0: np.ndarray,
    t1: np.ndarray,
    window: int,
    i: int,
    i2: int,
    j: int,
    j2: int,
    ev_t: np.ndarray,
    ev_o: np.ndarray,
    n: int,
) -> int:
    """Events of a segment with several clicks of both detectors."""
    size = i2 - i
    pa = np.empty(size, np.int64)
    pb = np.empty(size, np.int64)
    n_pairs = _resolve_cluster(t0, t1, window, 0, i, i2, j, j2, pa, pb, 0)
    used0 = np.zeros(size, np.bool_)
    used1 = np.zeros(j2 - j, np.bool_)
    m = n_pairs + (size - n_pairs) + (j2 - j - n_pairs)
    times = np.empty(m, np.int64)
    ranks = np.empty(m, np.int64)
    index = np.empty(m, np.int64)
    k = 0
    for p in range(n_pairs):
        used0[pa[p] - i] = True
        used1[pb[p] - j] = True
        times[k] = min(t0[pa[p]], t1[pb[p]])
        ranks[k] = 0
        index[k] = pa[p]
        k += 1
    for q in range(i, i2):
        if not used0[q - i]:
            times[k] = t0[q]
            ranks[k] = 1
            index[k] = q
            k += 1
    for q in range(j, j2):
        if not used1[q - j]:
            times[k] = t1[q]
            ranks[k] = 2
            index[k] = q
            k += 1
    # Insertion sort by (time, rank, index): segments are small.
    order = np.arange(m)
    for a in range(1, m):
        cur = order[a]
        b = a - 1
        while b >= 0:
            o = order[b]
            if (times[o], ranks[o], index[o]) <= (times[cur], ranks[cur], index[cur]):
                break
            order[b + 1] = o
            b -= 1
        order[b + 1] = cur
    for a in range(m):
        o = order[a]
        ev_t[n] = times[o]
        ev_o[n] = DOUBLE if ranks[o] == 0 else ranks[o] - 1
        n += 1
    return n


