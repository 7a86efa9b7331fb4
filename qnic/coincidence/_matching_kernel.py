"""Numba kernel of coincidence matching: one pass over both streams.

Pair (i, j) is a candidate when ``|(t_b[j] - delay) - t_a[i]| <= window``.
The candidate graph splits into clusters (connected components) that occupy
disjoint stretches of the time axis. For a-event i let ``[lo_i, hi_i)`` be the
index range of its candidate b-events; both bounds are non-decreasing in i, so
a-events i < k with non-empty ranges share a cluster exactly when every
consecutive pair of them overlaps (``lo_next < hi_prev``). The greedy "nearest
partner first" rule (sort all candidate pairs by (|dt|, i, j), accept a pair
whose ends are both still free) never looks across clusters, so resolving
cluster by cluster gives the global greedy in one linear pass. Most clusters
are a single pair.

Speed (see benchmarks/bench_coincidences.py): at realistic rates most events
have no candidate at all, so the pass is dominated by merging the two streams.
The merge is written branch-free (the comparison that decides which stream
advances is a coin flip a branch predictor cannot learn) and runs two
independent lanes at once to hide load latency; it also checks that both
streams are sorted, saving a separate pass over memory. Compiled with
``cache=True`` so the compilation cost is paid once per machine.
"""

from __future__ import annotations

import numpy as np

from qnic.instruments.kernel_cache import cached_njit


@cached_njit()
def _resolve_cluster(
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
    n_out: int,
) -> int:
    """Greedy nearest-first matching of one cluster; returns the new n_out.

    The cluster holds a-events ``[a0, a1)`` and b-events ``[b0, b1)``. Its
    candidate pairs are listed in (i, j) lexicographic order, then stably
    sorted by |dt|, which is the (|dt|, i, j) order of the specification.
    Accepted pairs are written to ``out_a``/``out_b`` in increasing i.
    Clusters of at most four events per stream (nearly all) go through
    :func:`_resolve_small`, which allocates nothing.
    """
    if a1 - a0 <= 4 and b1 - b0 <= 4:
        return _resolve_small(t_a, t_b, window, delay, a0, a1, b0, b1, out_a, out_b, n_out)
    # Each a-event's range [lo, hi) of candidate b-events, by one two-pointer scan.
    lows = np.empty(a1 - a0, np.int64)
    highs = np.empty(a1 - a0, np.int64)
    lo = b0
    hi = b0
    for i in range(a0, a1):
        low = t_a[i] - window + delay
        high = t_a[i] + window + delay
        while lo < b1 and t_b[lo] < low:
            lo += 1
        if hi < lo:
            hi = lo
        while hi < b1 and t_b[hi] <= high:
            hi += 1
        lows[i - a0] = lo
        highs[i - a0] = hi
    n_pairs = int(np.sum(highs - lows))
    pair_i = np.empty(n_pairs, np.int64)
    pair_j = np.empty(n_pairs, np.int64)
    pair_d = np.empty(n_pairs, np.int64)
    k = 0
    for i in range(a0, a1):
        for j in range(lows[i - a0], highs[i - a0]):
            pair_i[k] = i
            pair_j[k] = j
            pair_d[k] = abs(t_b[j] - delay - t_a[i])
            k += 1
    order = np.argsort(pair_d, kind="mergesort")
    match_a = np.full(a1 - a0, -1, np.int64)
    used_b = np.zeros(b1 - b0, np.bool_)
    n_free = min(a1 - a0, b1 - b0)
    for k in order:
        i = pair_i[k] - a0
        j = pair_j[k] - b0
        if match_a[i] < 0 and not used_b[j]:
            match_a[i] = pair_j[k]
            used_b[j] = True
            n_free -= 1
            if n_free == 0:
                break
    for i in range(a1 - a0):
        if match_a[i] >= 0:
            out_a[n_out] = a0 + i
            out_b[n_out] = match_a[i]
            n_out += 1
    return n_out


@cached_njit()
def _resolve_small(
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
    n_out: int,
) -> int:
    """:func:`_resolve_cluster` for at most four events per stream, without memory.

    Picks the smallest (|dt|, i, j) among the pairs whose ends are both free,
    until none is left (at most 16 candidates, scanned at most four times);
    free events are bits of two masks. The accepted pairs are then put in
    increasing i by insertion in ``out_a``/``out_b``.
    """
    used_a = 0
    used_b = 0
    start = n_out
    while True:
        best_d = -1
        best_i = 0
        best_j = 0
        for i in range(a0, a1):
            if used_a & (1 << (i - a0)):
                continue
            for j in range(b0, b1):
                if used_b & (1 << (j - b0)):
                    continue
                d = abs(t_b[j] - delay - t_a[i])
                # candidates are scanned in (i, j) order, so a strict < keeps
                # the lowest (i, j) among equal distances
                if d <= window and (best_d < 0 or d < best_d):
                    best_d = d
                    best_i = i
                    best_j = j
        if best_d < 0:
            break
        used_a |= 1 << (best_i - a0)
        used_b |= 1 << (best_j - b0)
        k = n_out
        while k > start and out_a[k - 1] > best_i:
            out_a[k] = out_a[k - 1]
            out_b[k] = out_b[k - 1]
            k -= 1
        out_a[k] = best_i
        out_b[k] = best_j
        n_out += 1
    return n_out


# a-events per lane and block of the merge in match_clusters; the hit buffers
# hold two lanes' worth (2 * 4096 * 2 int64 = 128 KiB, cache resident).
_BLOCK = 4096


@cached_njit()
def _merge_block(
    t_a: np.ndarray,
    t_b: np.ndarray,
    window: int,
    delay: int,
    i: int,
    j: int,
    prev_a: int,
    prev_b: int,
    i_end: int,
    hit_i: np.ndarray,
    hit_j: np.ndarray,
) -> tuple[int, int, int, int, int, int]:
    """Branch-free merge of A (shifted by ``delay``) with B up to a-index ``i_end``.

    Each step consumes the earlier of ``t_a[i] + delay`` and ``t_b[j]`` (B
    first only when strictly earlier, so j ends as the lower bound of each
    consumed a-event). A consumed a-event whose B neighbours ``t_b[j - 1]``
    or ``t_b[j]`` lie within the window is recorded in ``hit_i``/``hit_j``
    (unconditional store, conditional advance): any ``if`` on these
    comparisons compiles to a branch that mispredicts on every other step.
    The order of every consumed event is checked against its predecessor.
    When B is exhausted, the remaining a-events up to ``i_end`` are consumed
    against B's last event.

    Returns:
        ``(i, j, prev_a, prev_b, n_hits, bad)`` with ``prev_a = t_a[i - 1] +
        delay``, ``prev_b = t_b[j - 1]`` and ``bad`` 1 if a decrease was seen.
    """
    n_b = t_b.size
    n_hits = 0
    bad = 0
    while i < i_end and j < n_b:
        c = t_a[i] + delay
        tb = t_b[j]
        step_b = int(tb < c)
        step_a = 1 - step_b
        bad |= (step_b & int(tb < prev_b)) | (step_a & int(c < prev_a))
        hit_i[n_hits] = i
        hit_j[n_hits] = j
        n_hits += step_a & (int(tb <= c + window) | int(prev_b >= c - window))
        prev_b += step_b * (tb - prev_b)
        prev_a += step_a * (c - prev_a)
        j += step_b
        i += step_a
    while j == n_b and i < i_end:
        c = t_a[i] + delay
        bad |= int(c < prev_a)
        prev_a = c
        hit_i[n_hits] = i
        hit_j[n_hits] = j
        n_hits += int(n_b > 0) & int(prev_b >= c - window)
        i += 1
    return i, j, prev_a, prev_b, n_hits, bad


@cached_njit()
def _merge_two(
    t_a: np.ndarray,
    t_b: np.ndarray,
    window: int,
    delay: int,
    lanes: np.ndarray,
    hit_i: np.ndarray,
    hit_j: np.ndarray,
    half: int,
) -> int:
    """Two independent :func:`_merge_block` steps interleaved in one loop.

    A single merge is bound by the latency of its chain load -> compare ->
    advance; two chains in one loop run about 1.4 times faster. ``lanes``
    (int64, shape (2, 6)) holds per lane ``i, i_end, j, prev_a, prev_b,
    n_hits`` and is updated in place; lane k writes its hits from index
    ``k * half``. Stops when either lane is done (finish with _merge_block).

    Returns:
        1 if a decrease was seen, else 0.
    """
    n_b = t_b.size
    i0, e0, j0, pa0, pb0, h0 = lanes[0, 0], lanes[0, 1], lanes[0, 2], lanes[0, 3], lanes[0, 4], 0
    i1, e1, j1, pa1, pb1, h1 = lanes[1, 0], lanes[1, 1], lanes[1, 2], lanes[1, 3], lanes[1, 4], half
    bad = 0
    while (i0 < e0) & (j0 < n_b) & (i1 < e1) & (j1 < n_b):
        c0 = t_a[i0] + delay
        c1 = t_a[i1] + delay
        tb0 = t_b[j0]
        tb1 = t_b[j1]
        sb0 = int(tb0 < c0)
        sb1 = int(tb1 < c1)
        sa0 = 1 - sb0
        sa1 = 1 - sb1
        bad |= (sb0 & int(tb0 < pb0)) | (sa0 & int(c0 < pa0))
        bad |= (sb1 & int(tb1 < pb1)) | (sa1 & int(c1 < pa1))
        hit_i[h0] = i0
        hit_j[h0] = j0
        hit_i[h1] = i1
        hit_j[h1] = j1
        h0 += sa0 & (int(tb0 <= c0 + window) | int(pb0 >= c0 - window))
        h1 += sa1 & (int(tb1 <= c1 + window) | int(pb1 >= c1 - window))
        pb0 += sb0 * (tb0 - pb0)
        pb1 += sb1 * (tb1 - pb1)
        pa0 += sa0 * (c0 - pa0)
        pa1 += sa1 * (c1 - pa1)
        j0 += sb0
        j1 += sb1
        i0 += sa0
        i1 += sa1
    lanes[0, 0], lanes[0, 2], lanes[0, 3], lanes[0, 4], lanes[0, 5] = i0, j0, pa0, pb0, h0
    lanes[1, 0], lanes[1, 2], lanes[1, 3], lanes[1, 4], lanes[1, 5] = i1, j1, pa1, pb1, h1 - half
    return bad


@cached_njit()
def _merge_lanes(
    t_a: np.ndarray,
    t_b: np.ndarray,
    window: int,
    delay: int,
    lanes: np.ndarray,
    hit_i: np.ndarray,
    hit_j: np.ndarray,
    half: int,
) -> int:
    """Run both lanes of ``lanes`` to their ends; returns 1 on a decrease.

    Lane 1 must start at its a-index ``i`` with ``j`` the lower bound of
    ``t_a[i] + delay`` in B; the B events between lane 0's end and lane 1's
    start, consumed by neither lane, are checked for order here.
    """
    j_start1 = lanes[1, 2]
    bad = _merge_two(t_a, t_b, window, delay, lanes, hit_i, hit_j, half)
    for k in range(2):
        start = k * half + lanes[k, 5]
        i, j, prev_a, prev_b, n_hits, bad_k = _merge_block(
            t_a, t_b, window, delay, lanes[k, 0], lanes[k, 2], lanes[k, 3], lanes[k, 4],
            lanes[k, 1], hit_i[start:], hit_j[start:],
        )
        lanes[k, 0], lanes[k, 2], lanes[k, 3], lanes[k, 4] = i, j, prev_a, prev_b
        lanes[k, 5] += n_hits
        bad |= bad_k
    j_end0 = lanes[0, 2]
    if j_end0 > j_start1:
        return 1
    for k in range(max(j_end0, 1), j_start1):
        if t_b[k] < t_b[k - 1]:
            return 1
    return bad


@cached_njit()
def match_clusters(
    t_a: np.ndarray,
    t_b: np.ndarray,
    window: int,
    delay: int,
    safe_a: int,
    safe_b: int,
) -> tuple[np.ndarray, np.ndarray, int, int, int, bool]:
    """Match two streams cluster by cluster, checking their order on the way.

    Clusters whose a-indices are all < ``safe_a`` and b-indices all
    < ``safe_b`` are resolved. At the first cluster that is not, the scan
    stops and reports where the held-back part of each stream starts (used by
    the streaming matcher; one-shot matching passes ``safe_a = len(t_a)``,
    ``safe_b = len(t_b)`` so nothing is held back).

    Block by block, a branch-free merge (:func:`_merge_block`; two lanes at
    once, :func:`_merge_lanes`, when a block of ``2 * _BLOCK`` a-events
    remains) finds the a-events that have any candidate (rare at realistic
    rates) and checks the order of both streams, so no separate pass over the
    data is needed.
    Then each such a-event gets its candidate range and joins or closes the
    open cluster. On the first decrease the scan stops with ``is_sorted =
    False``; indices stay within bounds whatever the input order.

    Args:
        t_a: int64 timestamps of stream A in ps, shape (n_a,).
        t_b: int64 timestamps of stream B in ps, shape (n_b,).
        window: Coincidence window in ps (>= 0).
        delay: Delay of stream B in ps, subtracted from ``t_b``.
        safe_a: Number of leading A events that no future event can reach.
        safe_b: Number of leading B events that no future event can reach.

    Returns:
        ``(out_a, out_b, n_out, hold_a, hold_b, is_sorted)``: index buffers
        (valid up to ``n_out``, ordered by a-index), the first A and B indices
        held back, and False if a decrease was found (results then invalid).
    """
    n_a = t_a.size
    n_b = t_b.size
    # Clusters have disjoint, increasing a-ranges, so at most n_a pairs even
    # for unsorted input; untouched pages of the buffers cost nothing.
    out_a = np.empty(n_a, np.int64)
    out_b = np.empty(n_a, np.int64)
    n_out = 0
    half = _BLOCK
    hit_i = np.empty(2 * half, np.int64)
    hit_j = np.empty(2 * half, np.int64)
    lanes = np.zeros((2, 6), np.int64)
    i = 0
    j = 0
    prev_a = np.iinfo(np.int64).min
    prev_b = np.iinfo(np.int64).min
    # Open cluster: a-events [ca0, ca1), b-events [cb0, cb1); ca0 < 0 if none.
    # The per-hit work is written out here: a helper taking arrays (even an
    # inlined one) costs reference counting on every hit, which doubled the
    # run time. Only multi-pair clusters call _resolve_cluster.
    ca0 = -1
    ca1 = 0
    cb0 = 0
    cb1 = 0
    while i < n_a:
        if n_a - i >= 2 * half and j < n_b:
            # Two lanes over the next 2 * half a-events; lane 1 starts at
            # the lower bound of its first a-event (binary search).
            mid = i + half
            j_mid = j + np.searchsorted(t_b[j:], t_a[mid] + delay)
            lanes[0, 0], lanes[0, 1], lanes[0, 2], lanes[0, 3], lanes[0, 4] = (
                i, mid, j, prev_a, prev_b
            )
            lanes[1, 0], lanes[1, 1], lanes[1, 2] = mid, mid + half, j_mid
            lanes[1, 3] = t_a[mid - 1] + delay
            lanes[1, 4] = t_b[j_mid - 1] if j_mid > 0 else np.iinfo(np.int64).min
            bad = _merge_lanes(t_a, t_b, window, delay, lanes, hit_i, hit_j, half)
            n_hits0, n_hits1 = lanes[0, 5], lanes[1, 5]
            i, j, prev_a, prev_b = lanes[1, 0], lanes[1, 2], lanes[1, 3], lanes[1, 4]
        else:
            i, j, prev_a, prev_b, n_hits0, bad = _merge_block(
                t_a, t_b, window, delay, i, j, prev_a, prev_b, min(n_a, i + 2 * half),
                hit_i, hit_j,
            )
            n_hits1 = 0
        if bad:
            return out_a, out_b, 0, 0, 0, False
        for n in range(n_hits0 + n_hits1):
            # Lane 0's hits, then lane 1's (stored from index half).
            k = n if n < n_hits0 else n - n_hits0 + half
            ia = hit_i[k]
            c = t_a[ia] + delay
            # Candidate range [lo, hi) around the lower bound j. Its usual
            # first step is taken branch-free (one neighbour or the other is
            # in the window, unpredictably); further steps are rare.
            j_hit = hit_j[k]
            lo = j_hit - (int(j_hit > 0) & int(t_b[max(j_hit - 1, 0)] >= c - window))
            while lo > 0 and t_b[lo - 1] >= c - window:
                lo -= 1
            hi = j_hit + (int(j_hit < n_b) & int(t_b[min(j_hit, n_b - 1)] <= c + window))
            while hi < n_b and t_b[hi] <= c + window:
                hi += 1
            if ca0 >= 0:
                if lo < cb1:
                    ca1 = ia + 1
                    cb1 = max(cb1, hi)
                    continue
                if ca1 > safe_a or cb1 > safe_b:
                    return out_a, out_b, n_out, min(ca0, safe_a), min(cb0, safe_b), True
                if ca1 - ca0 == 1 and cb1 - cb0 == 1:
                    out_a[n_out] = ca0
                    out_b[n_out] = cb0
                    n_out += 1
                else:
                    n_out = _resolve_cluster(
                        t_a, t_b, window, delay, ca0, ca1, cb0, cb1, out_a, out_b, n_out
                    )
            ca0 = ia
            ca1 = ia + 1
            cb0 = lo
            cb1 = hi
    for k in range(max(j, 1), n_b):
        if t_b[k] < t_b[k - 1]:
            return out_a, out_b, 0, 0, 0, False
    if ca0 >= 0:
        if ca1 > safe_a or cb1 > safe_b:
            return out_a, out_b, n_out, min(ca0, safe_a), min(cb0, safe_b), True
        n_out = _resolve_cluster(t_a, t_b, window, delay, ca0, ca1, cb0, cb1, out_a, out_b, n_out)
    return out_a, out_b, n_out, safe_a, safe_b, True
