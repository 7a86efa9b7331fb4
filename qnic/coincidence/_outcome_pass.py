"""Numba kernels of the one-pass outcome counter (docs/coincidences.md).

:func:`_insert` takes the interleaved tag stream as recorded (sorted by raw
time) and keeps the clicks of the four arm channels with each channel's
delay subtracted, in delayed-time order: a click moves back past the few
before it that its delay overtakes (an insertion step, no global re-sort;
with delays of a few ns and MHz rates almost no click moves). Each click is
one int64 *key*, ``delayed time * 4 + slot`` (slots 0, 1: arm A's outcomes;
2, 3: arm B's), so a move is one store, and keys sort as times do (clicks
of equal time in slot order, which no result depends on). Times must lie
within +-2^61 ps (26 days), which :data:`KEY_LIMIT_PS` states.

:func:`count_runs` then cuts that sequence at every gap wider than the
window. No pair of the nearest-first rule spans such a gap, neither a
double click within an arm nor a coincidence of the two arms (event times
are click times), so each *run* between gaps is resolved on its own. At
bench rates nearly every run is one click (an event of its arm, nothing to
pair) or two (a coincidence, a double click, or two singles); longer runs go
through the general resolution of :mod:`qnic.coincidence._outcome_kernel`.
A run is counted only when it ends more than one window before ``limit``,
the earliest delayed time a click not yet seen can have, so a stream can be
counted batch by batch with the unfinished tail carried over.
"""

from __future__ import annotations

import numpy as np

from qnic.coincidence._greedy import candidates, greedy_pairs, scratch_size, shell_sort
from qnic.coincidence._outcome_kernel import DOUBLE, N_COUNTS, _segment_end
from qnic.instruments.kernel_cache import cached_njit

_NO_LIMIT = np.iinfo(np.int64).max

KEY_LIMIT_PS = 1 << 61
"""Delayed click times must lie in (-KEY_LIMIT_PS, KEY_LIMIT_PS) to be packed."""


@cached_njit()
def _insert(
    ts: np.ndarray,
    ch: np.ndarray,
    k0: int,
    k1: int,
    chans: np.ndarray,
    delays: np.ndarray,
    singles: np.ndarray,
    mk: np.ndarray,
    m: int,
    prev: int,
) -> tuple[int, int, int]:
    """Add tags ``[k0, k1)`` to the sequence of keys ``mk[1:m + 1]``.

    ``mk[0]`` holds a sentinel below every key, so the insertion step needs
    no bounds check. Returns ``(m, bad, prev)``: the new length, the first
    index where ``ts`` decreases (or -1), and the last raw time seen.
    """
    c0, c1, c2, c3 = chans[0], chans[1], chans[2], chans[3]
    # key offsets: -4 * delay + slot
    o0 = -4 * delays[0]
    o1 = -4 * delays[1] + 1
    o2 = -4 * delays[2] + 2
    o3 = -4 * delays[3] + 3
    # The last two keys and the counts stay in registers: reading them back
    # from memory would chain every tag to the store of the one before.
    last = mk[m]
    before = mk[m - 1] if m > 0 else mk[0]
    n0 = n1 = n2 = n3 = 0
    bad = -1
    decreased = 0
    for k in range(k0, k1):
        t = ts[k]
        decreased |= int(t < prev)
        prev = t
        x = ch[k]
        is0 = int(x == c0)
        is1 = int(x == c1)
        is2 = int(x == c2)
        is3 = int(x == c3)
        if is0 + is1 + is2 + is3 == 0:
            continue
        n0 += is0
        n1 += is1
        n2 += is2
        n3 += is3
        key = 4 * t + is0 * o0 + is1 * o1 + is2 * o2 + is3 * o3
        # A click overtaken by its partner's delay moves back one place about
        # half the time, which no branch predictor learns: that step is done
        # without a branch (min / max); moving two places or more is rare.
        if key < before:
            if decreased:
                break  # unsorted input: reported below, no long moves made
            mk[m + 1] = last
            p = m - 1
            while mk[p] > key:
                mk[p + 1] = mk[p]
                p -= 1
            mk[p + 1] = key
            before = mk[m]
        else:
            low = min(last, key)
            mk[m] = low
            mk[m + 1] = max(last, key)
            before = low
            last = max(last, key)
        m += 1
    if decreased:
        for k in range(k0, k1):
            if ts[k] < (ts[k - 1] if k > 0 else np.iinfo(np.int64).min):
                bad = k
                break
    singles[0] += n0
    singles[1] += n1
    singles[2] += n2
    singles[3] += n3
    return m, bad, prev


@cached_njit()
def _write(arm: int, t: int, outcome: int, events: np.ndarray, ev_a_t: np.ndarray,
           ev_a_o: np.ndarray, ev_b_t: np.ndarray, ev_b_o: np.ndarray) -> None:
    """Append one event to arm ``arm``'s buffers."""
    if arm == 0:
        ev_a_t[events[2]] = t
        ev_a_o[events[2]] = outcome
        events[2] += 1
    else:
        ev_b_t[events[3]] = t
        ev_b_o[events[3]] = outcome
        events[3] += 1


@cached_njit()
def _arm_run_events(t0: np.ndarray, t1: np.ndarray, window: int, out_t: np.ndarray,
                    out_o: np.ndarray) -> int:
    """One arm's events of a run, in the order of docs/coincidences.md.

    The clicks of the two detectors are matched nearest first; each pair is
    a double click (outcome 2) at the earlier time, every other click a
    single. Events are ordered by (time, doubles < outcome 0 < outcome 1,
    click order). Returns the number of events written to ``out_t``/``out_o``.
    """
    n0 = t0.size
    n1 = t1.size
    small = min(n0, n1)
    work = np.empty(scratch_size(n0, n1, candidates(t0, t1, window, 0)) + 2 * small
                    + 4 * (n0 + n1), np.int64)
    pa = work[:small]
    pb = work[small:2 * small]
    m = n0 + n1
    times = work[2 * small:2 * small + m]
    ranks = work[2 * small + m:2 * small + 2 * m]
    index = work[2 * small + 2 * m:2 * small + 3 * m]
    order = work[2 * small + 3 * m:2 * small + 4 * m]
    n_pairs = greedy_pairs(t0, t1, window, 0, pa, pb, work[2 * small + 4 * m:])
    # ranks double as "used" marks before they are set: 1 = in a double
    for q in range(m):
        ranks[q] = 0
    k = 0
    for p in range(n_pairs):
        ranks[pa[p]] = 1
        ranks[n0 + pb[p]] = 1
        times[k] = min(t0[pa[p]], t1[pb[p]])
        index[k] = pa[p]
        k += 1
    doubles = k
    for q in range(n0):
        if ranks[q] == 0:
            times[k] = t0[q]
            index[k] = q
            k += 1
    singles0 = k
    for q in range(n1):
        if ranks[n0 + q] == 0:
            times[k] = t1[q]
            index[k] = q
            k += 1
    for q in range(k):
        ranks[q] = 0 if q < doubles else (1 if q < singles0 else 2)
        order[q] = q
    shell_sort(order, k, times, ranks, index)
    for q in range(k):
        o = order[q]
        out_t[q] = times[o]
        out_o[q] = DOUBLE if ranks[o] == 0 else ranks[o] - 1
    return k


@cached_njit()
def _general_run(mk: np.ndarray, k: int, e: int, window: int,
                 counts: np.ndarray, events: np.ndarray, want: bool, ev_a_t: np.ndarray,
                 ev_a_o: np.ndarray, ev_b_t: np.ndarray, ev_b_o: np.ndarray) -> None:
    """Resolve a run of three or more clicks by the full rule (one allocation)."""
    size = e - k
    c = np.zeros(5, np.int64)
    for q in range(k, e):
        c[(mk[q] & 3) + 1] += 1
    for s in range(4):
        c[s + 1] += c[s]
    work = np.empty(4 * size, np.int64)
    clicks = work[:size]
    fill = c[:4].copy()
    for q in range(k, e):
        s = mk[q] & 3
        clicks[fill[s]] = mk[q] >> 2
        fill[s] += 1
    ta = work[size:2 * size]
    tb = work[2 * size:3 * size]
    oa = np.empty(2 * size, np.int8)
    ob = oa[size:]
    na = _arm_run_events(clicks[c[0]:c[1]], clicks[c[1]:c[2]], window, ta, oa)
    nb = _arm_run_events(clicks[c[2]:c[3]], clicks[c[3]:c[4]], window, tb, ob)
    events[0] += na
    events[1] += nb
    if na and nb:
        a = ta[:na]
        b = tb[:nb]
        pairs = work[3 * size:]
        g = np.empty(scratch_size(na, nb, candidates(a, b, window, 0)), np.int64)
        n_pairs = greedy_pairs(a, b, window, 0, pairs[:size // 2 + 1], pairs[size // 2 + 1:], g)
        for p in range(n_pairs):
            out_a = oa[pairs[p]]
            out_b = ob[pairs[size // 2 + 1 + p]]
            if out_a == DOUBLE:
                counts[4] += 1
            elif out_b == DOUBLE:
                counts[5] += 1
            else:
                counts[2 * out_a + out_b] += 1
    if want:
        for q in range(na):
            _write(0, ta[q], oa[q], events, ev_a_t, ev_a_o, ev_b_t, ev_b_o)
        for q in range(nb):
            _write(1, tb[q], ob[q], events, ev_a_t, ev_a_o, ev_b_t, ev_b_o)


@cached_njit()
def _lower_bound(a: np.ndarray, x: int) -> int:
    """The first index k with ``a[k] >= x`` in a sorted array (binary search)."""
    lo = 0
    hi = a.size
    while lo < hi:
        mid = (lo + hi) >> 1
        if a[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


@cached_njit()
def count_runs(
    mk: np.ndarray,
    window: int,
    limit: int,
    counts: np.ndarray,
    events: np.ndarray,
    want: bool,
    ev_a_t: np.ndarray,
    ev_a_o: np.ndarray,
    ev_b_t: np.ndarray,
    ev_b_o: np.ndarray,
) -> int:
    """Count the coincidences per outcome of the final runs of a sequence.

    Whether a click starts a run of one, of two, or of more depends on the
    gaps to its neighbours, which are random: a branch on them mispredicts
    often. Runs of one and two are therefore tallied into small histograms
    by slot (unconditional increments by 0 or 1) and turned into counts at
    the end, and their events written with unconditional stores; only runs
    of three or more take a branch (rarely taken).

    Args:
        mk: int64 (m,): click keys (delayed time * 4 + slot), sorted.
        window: Coincidence window in ps (>= 0), also the double-click window.
        limit: No click not in ``mt`` comes before this time (ps).
        counts: int64 (6,), incremented: n00, n01, n10, n11, double_a,
            double_b at zero offset.
        events: int64 (4,): events of A and B, incremented; then where the
            next event of A and of B is written in the buffers.
        want: Write the events (for offset windows).
        ev_a_t, ev_a_o: Arm A's event buffers (int64 ps, int8 outcome), with
            room for ``m`` more events; likewise ``ev_b_t``, ``ev_b_o``.

    Returns:
        The index of the first click not counted (the unfinished run).
    """
    m = mk.size
    # The final runs form a prefix [0, end): cut before the first click within
    # a window of the limit, then back to the start of its run.
    if limit - window >= KEY_LIMIT_PS:
        end = m
    else:
        end = _lower_bound(mk, 4 * (limit - window))
    if end < m:
        while end > 0 and (mk[end] >> 2) - (mk[end - 1] >> 2) <= window:
            end -= 1
    if end == 0:
        return 0
    singles = np.zeros(4, np.int64)
    pairs = np.zeros(16, np.int64)
    last = end - 1
    na = events[2]
    nb = events[3]
    # Gaps within the window: g_prev2 before click k - 1, g_prev before k,
    # g_here after k, g_next after k + 1 (0 past the end of the prefix).
    g_prev2 = 0
    g_prev = 0
    g_here = int(last > 0) & int((mk[min(1, last)] >> 2) - (mk[0] >> 2) <= window)
    for k in range(end):
        k1 = min(k + 1, last)
        t1 = mk[k1] >> 2
        g_next = int(k + 2 <= last) & int((mk[min(k + 2, last)] >> 2) - t1 <= window)
        key = mk[k]
        s = key & 3
        free = 1 - g_prev
        single = free & (1 - g_here)
        start = free & g_here & (1 - g_next)
        singles[s] += single
        pairs[4 * s + (mk[k1] & 3)] += start
        if free & g_here & g_next:
            e = k + 3
            while e < end and (mk[e] >> 2) - (mk[e - 1] >> 2) <= window:
                e += 1
            events[2] = na
            events[3] = nb
            _general_run(mk, k, e, window, counts, events, want,
                         ev_a_t, ev_a_o, ev_b_t, ev_b_o)
            na = events[2]
            nb = events[3]
        elif want:
            # The second click of a pair: its partner is the click before.
            second = g_prev & (1 - g_here) & (1 - g_prev2)
            partner = (mk[k1] if start else mk[max(k - 1, 0)]) & 3
            same_arm = int((s >> 1) == (partner >> 1)) & int(s != partner)
            emit = single | start | (second & (1 - same_arm))
            out = DOUBLE if start & same_arm else s & 1
            arm_b = s >> 1
            ev_a_t[na] = key >> 2
            ev_a_o[na] = out
            ev_b_t[nb] = key >> 2
            ev_b_o[nb] = out
            na += emit & (1 - arm_b)
            nb += emit & arm_b
        g_prev2 = g_prev
        g_prev = g_here
        g_here = g_next
    events[2] = na
    events[3] = nb
    events[0] += singles[0] + singles[1]
    events[1] += singles[2] + singles[3]
    for s0 in range(4):
        for s1 in range(4):
            p = pairs[4 * s0 + s1]
            if (s0 >> 1) != (s1 >> 1):
                sa = min(s0, s1)
                sb = max(s0, s1)
                counts[2 * sa + sb - 2] += p
                events[0] += p
                events[1] += p
            elif s0 != s1:
                events[s0 >> 1] += p
            else:
                events[s0 >> 1] += 2 * p
    return end


BLOCK = 1 << 15
"""Tags per block of the batch kernels: the block's clicks stay in cache."""


@cached_njit()
def _start(ts: np.ndarray, carry: np.ndarray) -> tuple[np.ndarray, int]:
    """The key buffer: sentinel, carried keys, room for the batch."""
    mk = np.empty(carry.size + ts.size + 1, np.int64)
    mk[0] = np.iinfo(np.int64).min
    for q in range(carry.size):
        mk[q + 1] = carry[q]
    return mk, carry.size


@cached_njit()
def _shift_down(a: np.ndarray, start: int, stop: int, by: int) -> None:
    """Move ``a[start:stop]`` to ``a[start - by:stop - by]`` (by >= 0)."""
    for q in range(start, stop):
        a[q - by] = a[q]


@cached_njit(nogil=True)
def count_plain(
    ts: np.ndarray, ch: np.ndarray, chans: np.ndarray, delays: np.ndarray, window: int,
    limit_end: int, carry: np.ndarray, counts: np.ndarray, events: np.ndarray,
    singles: np.ndarray,
) -> tuple[int, np.ndarray]:
    """Count one batch at zero offset only.

    Each block of :data:`BLOCK` tags joins the delayed sequence (carried
    clicks first) and the runs that the next tag cannot reach any more are
    counted; the unfinished run moves to the front of the buffer, so the
    part of it in use stays in cache.

    Args:
        ts, ch: The batch: int64 ps sorted, and int32 channels, shape (n,).
        chans, delays: int64 (4,): slots' channels and delays in ps.
        window: Coincidence window in ps (>= 0).
        limit_end: Earliest delayed time of a click after this batch (ps).
        carry: int64: keys of the clicks carried from the last batch.
        counts: int64 (6,), incremented (layout of ``N_COUNTS``).
        events: int64 (2,): events of A and B, incremented.
        singles: int64 (4,): clicks per slot, incremented.

    Returns:
        ``(bad, carry)``: the first index where ``ts`` decreases (-1 if
        sorted; the caller then drops what was counted) and the keys to carry.
    """
    n = ts.size
    dmax = max(max(delays[0], delays[1]), max(delays[2], delays[3]))
    mk, m = _start(ts, carry)
    pos = np.zeros(4, np.int64)
    no_t = mk[:0]
    no_o = np.empty(0, np.int8)
    prev = np.iinfo(np.int64).min
    k = 0
    while True:
        stop = min(n, k + BLOCK)
        m, bad, prev = _insert(ts, ch, k, stop, chans, delays, singles, mk, m, prev)
        if bad >= 0:
            return bad, carry
        k = stop
        limit = ts[k] - dmax if k < n else limit_end
        done = count_runs(mk[1:m + 1], window, limit, counts, pos, False, no_t, no_o, no_t, no_o)
        _shift_down(mk, done + 1, m + 1, done)
        m -= done
        if k >= n:
            break
    events[0] += pos[0]
    events[1] += pos[1]
    return -1, mk[1:m + 1].copy()


@cached_njit(nogil=True)
def count_shifted(
    ts: np.ndarray, ch: np.ndarray, chans: np.ndarray, delays: np.ndarray, window: int,
    offsets: np.ndarray, limit_end: int, carry: np.ndarray, ev_a_t: np.ndarray,
    ev_a_o: np.ndarray, ev_b_t: np.ndarray, ev_b_o: np.ndarray, cursors: np.ndarray,
    counts: np.ndarray, events: np.ndarray, singles: np.ndarray,
) -> tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Count one batch at zero offset and at offset windows.

    As :func:`count_plain` (same arguments where named alike); the events of each arm are written as the runs are counted and matched
    at each offset, segment by segment, as far as the events still to come
    allow.

    Args:
        offsets: int64 (K,): offsets of arm B in ps; row r of ``counts`` and
            ``cursors`` belongs to offset r (rows of offset 0 are counted
            from the runs).
        ev_a_t, ev_a_o, ev_b_t, ev_b_o: Events carried from the last batch.
        cursors: int64 (K, 2): per offset, first A and B events not counted.
        counts: int64 (K, 6), incremented.

    Returns:
        ``(bad, carry, ev_a_t, ev_a_o, ev_b_t, ev_b_o)``: what to carry.
    """
    n = ts.size
    n_off = offsets.size
    dmax = max(max(delays[0], delays[1]), max(delays[2], delays[3]))
    mk, m = _start(ts, carry)
    na = ev_a_t.size
    nb = ev_b_t.size
    # events: carried ones first, room for every click of the batch
    room = m + n
    a_t = np.empty(na + room, np.int64)
    a_o = np.empty(na + room, np.int8)
    b_t = np.empty(nb + room, np.int64)
    b_o = np.empty(nb + room, np.int8)
    # (loops, not slice assignments: those compile a shape check that
    # formats an error message, about 2 s of the first run's compile)
    for q in range(na):
        a_t[q] = ev_a_t[q]
        a_o[q] = ev_a_o[q]
    for q in range(nb):
        b_t[q] = ev_b_t[q]
        b_o[q] = ev_b_o[q]
    zero = np.zeros(N_COUNTS, np.int64)
    pos = np.zeros(4, np.int64)
    prev = np.iinfo(np.int64).min
    k = 0
    while True:
        stop = min(n, k + BLOCK)
        m, bad, prev = _insert(ts, ch, k, stop, chans, delays, singles, mk, m, prev)
        if bad >= 0:
            return bad, carry, ev_a_t, ev_a_o, ev_b_t, ev_b_o
        k = stop
        limit = ts[k] - dmax if k < n else limit_end
        pos[2] = na
        pos[3] = nb
        done = count_runs(mk[1:m + 1], window, limit, zero, pos, True, a_t, a_o, b_t, b_o)
        na = pos[2]
        nb = pos[3]
        # events still to come are no earlier than the unfinished run
        frontier = limit if done == m else min(limit, mk[done + 1] >> 2)
        if limit_end == np.iinfo(np.int64).max and k >= n:
            frontier = limit_end
        drop_a = na
        drop_b = nb
        for r in range(n_off):
            if offsets[r] != 0:
                _match_offset(a_t[:na], a_o[:na], b_t[:nb], b_o[:nb], window, offsets[r],
                              frontier, cursors[r], counts[r])
                drop_a = min(drop_a, cursors[r, 0])
                drop_b = min(drop_b, cursors[r, 1])
        _shift_down(a_t, drop_a, na, drop_a)
        _shift_down(b_t, drop_b, nb, drop_b)
        for q in range(drop_a, na):
            a_o[q - drop_a] = a_o[q]
        for q in range(drop_b, nb):
            b_o[q - drop_b] = b_o[q]
        na -= drop_a
        nb -= drop_b
        for r in range(n_off):
            if offsets[r] != 0:
                cursors[r, 0] -= drop_a
                cursors[r, 1] -= drop_b
        _shift_down(mk, done + 1, m + 1, done)
        m -= done
        if k >= n:
            break
    events[0] += pos[0]
    events[1] += pos[1]
    for r in range(n_off):
        if offsets[r] == 0:
            for c in range(N_COUNTS):
                counts[r, c] += zero[c]
    return (-1, mk[1:m + 1].copy(), a_t[:na].copy(), a_o[:na].copy(), b_t[:nb].copy(),
            b_o[:nb].copy())


@cached_njit()
def _match_offset(ta: np.ndarray, oa: np.ndarray, tb: np.ndarray, ob: np.ndarray, window: int,
                  offset: int, frontier: int, cursor: np.ndarray, counts: np.ndarray) -> None:
    """Count the pairs of the events at one offset, as far as ``frontier`` allows.

    The events of A and of B (on A's axis, ``t - offset``) are cut into
    segments at gaps wider than the window, as the clicks are for the true
    coincidences; a segment is counted once no event still to come can join
    it (events to come are at ``frontier`` or later on their own axis).
    ``cursor`` holds the first events of A and B not yet counted.
    """
    i = cursor[0]
    j = cursor[1]
    open_end = frontier == np.iinfo(np.int64).max
    limit = frontier - max(offset, 0)
    pair = np.empty(2, np.int64)
    while i < ta.size or j < tb.size:
        i2, j2, end = _segment_end(ta, tb, offset, window, i, j)
        if not open_end and end + window >= limit:
            break
        na = i2 - i
        nb = j2 - j
        if na == 1 and nb == 1:
            pair[0] = 0
            pair[1] = 0
            _count_pairs(oa[i:i2], ob[j:j2], pair[:1], pair[1:], 1, counts)
        elif na > 0 and nb > 0:
            a = ta[i:i2]
            b = tb[j:j2]
            small = min(na, nb)
            pa = np.empty(2 * small, np.int64)
            g = np.empty(scratch_size(na, nb, candidates(a, b, window, offset)), np.int64)
            n_pairs = greedy_pairs(a, b, window, offset, pa[:small], pa[small:], g)
            _count_pairs(oa[i:i2], ob[j:j2], pa[:small], pa[small:], n_pairs, counts)
        i = i2
        j = j2
    cursor[0] = i
    cursor[1] = j


@cached_njit()
def _count_pairs(oa: np.ndarray, ob: np.ndarray, pa: np.ndarray, pb: np.ndarray, n: int,
                 counts: np.ndarray) -> None:
    """Add pairs ``(pa[p], pb[p])`` of events with outcomes ``oa``, ``ob``."""
    for p in range(n):
        out_a = oa[pa[p]]
        out_b = ob[pb[p]]
        if out_a == DOUBLE:
            counts[4] += 1
        elif out_b == DOUBLE:
            counts[5] += 1
        else:
            counts[2 * out_a + out_b] += 1


@cached_njit()
def quiet_cut(ts: np.ndarray, start: int, gap: int, tries: int) -> int:
    """The first index k >= ``start`` with ``ts[k] - ts[k - 1] > gap``, within
    ``tries`` indices; -1 if none. With ``gap`` the spread of the delays plus
    the window, no run of :func:`count_runs` spans the cut."""
    for k in range(max(start, 1), min(ts.size, start + tries)):
        if ts[k] - ts[k - 1] > gap:
            return k
    return -1
