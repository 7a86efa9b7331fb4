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

from qnic.coincidence._matching_kernel import _resolve_cluster, match_clusters
from qnic.coincidence._outcome_kernel import DOUBLE, N_COUNTS, arm_events
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
def _general_run(mk: np.ndarray, k: int, e: int, window: int,
                 counts: np.ndarray, events: np.ndarray, want: bool, ev_a_t: np.ndarray,
                 ev_a_o: np.ndarray, ev_b_t: np.ndarray, ev_b_o: np.ndarray,
                 work: np.ndarray, work_o: np.ndarray) -> None:
    """Resolve a run of three or more clicks by the full rule.

    ``work`` (int64) and ``work_o`` (int8) are scratch of at least ``8 * (e -
    k)`` and ``2 * (e - k)`` entries, so that runs (frequent at high rates)
    allocate nothing.
    """
    size = e - k
    c0 = c1 = c2 = c3 = 0
    for q in range(k, e):
        s = mk[q] & 3
        c0 += s == 0
        c1 += s == 1
        c2 += s == 2
        c3 += s == 3
    # the four slots' click times, one after the other in work[:size]
    f0, f1, f2, f3 = 0, c0, c0 + c1, c0 + c1 + c2
    for q in range(k, e):
        s = mk[q] & 3
        t = mk[q] >> 2
        if s == 0:
            work[f0] = t
            f0 += 1
        elif s == 1:
            work[f1] = t
            f1 += 1
        elif s == 2:
            work[f2] = t
            f2 += 1
        else:
            work[f3] = t
            f3 += 1
    b1 = c0 + c1
    b2 = b1 + c2
    ta = work[size:2 * size]
    tb = work[2 * size:3 * size]
    oa = work_o[:size]
    ob = work_o[size:2 * size]
    na, _, _ = arm_events(work[:c0], work[c0:b1], window, _NO_LIMIT, ta, oa)
    nb, _, _ = arm_events(work[b1:b2], work[b2:size], window, _NO_LIMIT, tb, ob)
    events[0] += na
    events[1] += nb
    if na and nb:
        pa = work[3 * size:4 * size]
        pb = work[4 * size:5 * size]
        n_pairs = _resolve_cluster(ta[:na], tb[:nb], window, 0, 0, na, 0, nb, pa, pb, 0)
        for p in range(n_pairs):
            out_a = oa[pa[p]]
            out_b = ob[pb[p]]
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
        end = int(np.searchsorted(mk, 4 * (limit - window)))
    if end < m:
        while end > 0 and (mk[end] >> 2) - (mk[end - 1] >> 2) <= window:
            end -= 1
    if end == 0:
        return 0
    singles = np.zeros(4, np.int64)
    pairs = np.zeros(16, np.int64)
    work = np.empty(64, np.int64)
    work_o = np.empty(16, np.int8)
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
            # (a fresh scratch only for a run longer than 8: reassigning the
            # loop's own would cost reference counting on every click)
            if 8 * (e - k) <= work.size:
                _general_run(mk, k, e, window, counts, events, want,
                             ev_a_t, ev_a_o, ev_b_t, ev_b_o, work, work_o)
            else:
                _general_run(mk, k, e, window, counts, events, want, ev_a_t, ev_a_o, ev_b_t,
                             ev_b_o, np.empty(8 * (e - k), np.int64),
                             np.empty(2 * (e - k), np.int8))
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
"""Tags per block of :func:`count_batch`: the block's clicks stay in cache."""


@cached_njit()
def _grow(a: np.ndarray, size: int) -> np.ndarray:
    """``a`` with room for at least ``size`` elements (contents kept)."""
    if a.size >= size:
        return a
    out = np.empty(max(size, 2 * a.size), a.dtype)
    out[:a.size] = a
    return out


@cached_njit(nogil=True)
def count_batch(
    ts: np.ndarray,
    ch: np.ndarray,
    chans: np.ndarray,
    delays: np.ndarray,
    window: int,
    offsets: np.ndarray,
    limit_end: int,
    carry: np.ndarray,
    ev_a_t: np.ndarray,
    ev_a_o: np.ndarray,
    ev_b_t: np.ndarray,
    ev_b_o: np.ndarray,
    cursors: np.ndarray,
    counts: np.ndarray,
    events: np.ndarray,
    singles: np.ndarray,
) -> tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Count one batch of the interleaved stream, block by block, in one pass.

    Each block of :data:`BLOCK` tags joins the delayed sequence (carried
    clicks first); the runs that the next tag cannot reach any more are
    counted at zero offset, and, when there are offset windows, written as
    events that are matched at each offset (``match_clusters``) as far as
    the events still to come allow. Everything stays in a few cache-sized
    buffers.

    Args:
        ts, ch: The batch: int64 ps sorted, and integer channels, shape (n,).
        chans, delays: int64 (4,): slots' channels and delays in ps.
        window: Coincidence window in ps (>= 0).
        offsets: int64 (K,): offsets of arm B; row r of ``counts`` is offset r,
            and rows with offset 0 are counted from the runs directly.
        limit_end: Earliest delayed time of a click after this batch (ps).
        carry: int64: keys of the clicks carried from the last batch.
        ev_a_t, ev_a_o, ev_b_t, ev_b_o: Events carried for the offsets.
        cursors: int64 (K, 2): per offset, first A and B events not counted.
        counts: int64 (K, 6), incremented (layout of ``N_COUNTS``).
        events: int64 (2,): events of A and B, incremented.
        singles: int64 (4,): clicks per slot, incremented.

    Returns:
        ``(bad, carry, ev_a_t, ev_a_o, ev_b_t, ev_b_o)``: ``bad``
        the first index where ``ts`` decreases (-1 if sorted; the state is
        then unchanged), and what to carry to the next batch.
    """
    n = ts.size
    n_off = offsets.size
    shifted = 0
    for r in range(n_off):
        shifted += int(offsets[r] != 0)
    dmax = delays.max()
    cap = 2 * BLOCK + carry.size
    mk = np.empty(cap + 1, np.int64)
    mk[0] = np.iinfo(np.int64).min
    m = carry.size
    mk[1:m + 1] = carry
    # Event buffers: carried events at [0, na), new ones appended.
    na = ev_a_t.size
    nb = ev_b_t.size
    if shifted:
        ev_a_t = _grow(ev_a_t.copy(), na + cap)
        ev_a_o = _grow(ev_a_o.copy(), na + cap)
        ev_b_t = _grow(ev_b_t.copy(), nb + cap)
        ev_b_o = _grow(ev_b_o.copy(), nb + cap)
    zero = np.zeros(N_COUNTS, np.int64)
    pos = np.zeros(4, np.int64)
    no_outcomes = np.empty(0, np.int8)
    prev = np.iinfo(np.int64).min
    k = 0
    while True:
        stop = min(n, k + BLOCK)
        m, bad, prev = _insert(ts, ch, k, stop, chans, delays, singles, mk, m, prev)
        if bad >= 0:
            return bad, carry, ev_a_t[:na], ev_a_o[:na], ev_b_t[:nb], ev_b_o[:nb]
        k = stop
        limit = ts[k] - dmax if k < n else limit_end
        if shifted:
            ev_a_t = _grow(ev_a_t, na + m)
            ev_a_o = _grow(ev_a_o, na + m)
            ev_b_t = _grow(ev_b_t, nb + m)
            ev_b_o = _grow(ev_b_o, nb + m)
            pos[0] = 0
            pos[1] = 0
            pos[2] = na
            pos[3] = nb
            done = count_runs(mk[1:m + 1], window, limit, zero, pos, True,
                              ev_a_t, ev_a_o, ev_b_t, ev_b_o)
            na = pos[2]
            nb = pos[3]
            frontier = limit if done == m else min(limit, mk[done + 1] >> 2)
            if limit_end == np.iinfo(np.int64).max and k >= n:
                frontier = limit_end
            for r in range(n_off):
                if offsets[r] != 0:
                    _match_offset(ev_a_t[:na], ev_a_o[:na], ev_b_t[:nb], ev_b_o[:nb], window,
                                  offsets[r], frontier, cursors[r], counts[r])
            drop_a = na
            drop_b = nb
            for r in range(n_off):
                if offsets[r] != 0:
                    drop_a = min(drop_a, cursors[r, 0])
                    drop_b = min(drop_b, cursors[r, 1])
            ev_a_t[:na - drop_a] = ev_a_t[drop_a:na].copy()
            ev_a_o[:na - drop_a] = ev_a_o[drop_a:na].copy()
            ev_b_t[:nb - drop_b] = ev_b_t[drop_b:nb].copy()
            ev_b_o[:nb - drop_b] = ev_b_o[drop_b:nb].copy()
            na -= drop_a
            nb -= drop_b
            for r in range(n_off):
                if offsets[r] != 0:
                    cursors[r, 0] -= drop_a
                    cursors[r, 1] -= drop_b
        else:
            pos[0] = 0
            pos[1] = 0
            done = count_runs(mk[1:m + 1], window, limit, zero, pos, False,
                              mk[:0], no_outcomes, mk[:0], no_outcomes)
        events[0] += pos[0]
        events[1] += pos[1]
        # The unfinished run moves to the front; the buffer grows if it is long.
        rest = m - done
        mk[1:rest + 1] = mk[done + 1:m + 1].copy()
        m = rest
        if k >= n:
            break
        if m + BLOCK > cap:
            cap = 2 * (m + BLOCK)
            mk = _grow(mk, cap + 1)
    for r in range(n_off):
        if offsets[r] == 0:
            counts[r] += zero
    return (-1, mk[1:m + 1].copy(), ev_a_t[:na].copy(), ev_a_o[:na].copy(),
            ev_b_t[:nb].copy(), ev_b_o[:nb].copy())


@cached_njit()
def _match_offset(ta: np.ndarray, oa: np.ndarray, tb: np.ndarray, ob: np.ndarray, window: int,
                  offset: int, frontier: int, cursor: np.ndarray, counts: np.ndarray) -> None:
    """Count the pairs of the events at one offset, as far as ``frontier`` allows.

    An A event is out of reach of events still to come when it lies more
    than a window before them (B's seen on A's axis, ``t - offset``); a B
    event likewise. Clusters beyond that wait in place (``cursor``).
    """
    i = cursor[0]
    j = cursor[1]
    a = ta[i:]
    b = tb[j:]
    if frontier == np.iinfo(np.int64).max:
        safe_a = a.size
        safe_b = b.size
    else:
        safe_a = int(np.searchsorted(a, frontier - offset - window))
        safe_b = int(np.searchsorted(b, frontier + offset - window))
    if a.size == 0 or b.size == 0:
        cursor[0] = i + safe_a
        cursor[1] = j + safe_b
        return
    pa, pb, n_pairs, hold_a, hold_b, _ = match_clusters(a, b, window, offset, safe_a, safe_b)
    for p in range(n_pairs):
        out_a = oa[i + pa[p]]
        out_b = ob[j + pb[p]]
        if out_a == DOUBLE:
            counts[4] += 1
        elif out_b == DOUBLE:
            counts[5] += 1
        else:
            counts[2 * out_a + out_b] += 1
    cursor[0] = i + hold_a
    cursor[1] = j + hold_b


@cached_njit()
def quiet_cut(ts: np.ndarray, start: int, gap: int, tries: int) -> int:
    """The first index k >= ``start`` with ``ts[k] - ts[k - 1] > gap``, within
    ``tries`` indices; -1 if none. With ``gap`` the spread of the delays plus
    the window, no run of :func:`count_runs` spans the cut."""
    for k in range(max(start, 1), min(ts.size, start + tries)):
        if ts[k] - ts[k - 1] > gap:
            return k
    return -1
