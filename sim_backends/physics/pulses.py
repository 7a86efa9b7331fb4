"""Numba kernels that turn click events into one time-ordered pulse stream.

Events (sorted emission or dark-count times with a click class) become
pulses on detector indices 0-3 (A0, A1, B0, B1) with Gaussian jitter and the
detector's cable delay, written in event order and sorted (jitter and delays
displace a pulse by a few neighbours at most, so insertion sort is linear
here). A second pass applies each detector's non-paralyzable dead time and
afterpulsing in time order; afterpulses wait in a small heap until their
time comes. Pulses at or after a cut time are handed back unprocessed, to
be merged with the next piece, so the stream stays sorted across pieces.
"""

from __future__ import annotations

import numba
import numpy as np

from sim_backends.physics.sampling import inverse_cdf

NO_DETECTOR = 4


@numba.njit(cache=True, inline="always")
def sort_nearly_sorted(t: np.ndarray, aux: np.ndarray) -> None:
    """Sort ``t`` in place, carrying ``aux`` along; stable. Insertion sort:
    linear when each element sits only a few places from its rank."""
    for j in range(1, t.shape[0]):
        v = t[j]
        w = aux[j]
        i = j - 1
        while i >= 0 and t[i] > v:
            t[i + 1] = t[i]
            aux[i + 1] = aux[i]
            i -= 1
        t[i + 1] = v
        aux[i + 1] = w


@numba.njit(cache=True)
def emit(times: np.ndarray, cls: np.ndarray, words: np.ndarray, knots: np.ndarray,
         sigma_ps: np.ndarray, delay_ps: np.ndarray, chan_a: np.ndarray, chan_b: np.ndarray,
         carry_t: np.ndarray, carry_d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Jittered, delayed pulses of click events, merged with carried pulses.

    Args:
        times: sorted int64 event times (ps), shape (N,).
        cls: int8 event classes, shape (N,).
        words: uint32 random words, two per event.
        knots: standard-normal inverse-CDF table (``sampling.normal_knots``).
        sigma_ps: float64 jitter RMS per detector, shape (4,).
        delay_ps: int64 cable delay per detector, shape (4,).
        chan_a, chan_b: per class, the detector of arm A / B that clicks
            (``NO_DETECTOR`` when none).
        carry_t, carry_d: pulses carried from the previous piece.

    Returns:
        (int64 times, int8 detectors), sorted by time.
    """
    n = times.shape[0]
    m = carry_t.shape[0]
    out_t = np.empty(m + 2 * n, dtype=np.int64)
    out_d = np.empty(m + 2 * n, dtype=np.int8)
    out_t[:m] = carry_t
    out_d[:m] = carry_d
    k = m
    sig = np.zeros(NO_DETECTOR + 1)
    sig[:NO_DETECTOR] = sigma_ps
    dly = np.zeros(NO_DETECTOR + 1, dtype=np.int64)
    dly[:NO_DETECTOR] = delay_ps
    # branch-free: a click on "no detector" is written and then overwritten
    for i in range(n):
        c = cls[i]
        for side in range(2):
            d = chan_a[c] if side == 0 else chan_b[c]
            jit = np.floor(inverse_cdf(words[2 * i + side], knots) * sig[d] + 0.5)
            out_t[k] = times[i] + dly[d] + np.int64(jit)
            out_d[k] = d
            k += d != NO_DETECTOR
    out_t = out_t[:k]
    out_d = out_d[:k]
    sort_nearly_sorted(out_t, out_d)
    return out_t, out_d


@numba.njit(cache=True)
def register(t: np.ndarray, d: np.ndarray, cut_ps: int, dead_ps: np.ndarray, last_ps: np.ndarray,
             enabled: np.ndarray, ap_log1mp: np.ndarray, ap_mean_ps: np.ndarray,
             countdown: np.ndarray, words: np.ndarray, exp_knots: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray, int, np.ndarray, np.ndarray, int]:
    """Dead time and afterpulsing over sorted pulses before ``cut_ps``.

    Args:
        t, d: sorted pulse times (int64 ps) and detectors (int8).
        cut_ps: pulses at or after this time are not processed.
        dead_ps: int64 dead time per detector.
        last_ps: int64 time of each detector's last registered pulse;
            updated in place.
        enabled: bool per detector (False: saturated, registers nothing).
        ap_log1mp: float64 per detector, log(1 - afterpulse probability)
            (0: no afterpulsing).
        ap_mean_ps: float64 mean afterpulse delay beyond the dead time.
        countdown: int64 per detector, registered pulses left until the one
            that afterpulses (0: draw anew); updated in place. Drawing the
            gaps between afterpulsing pulses (geometric) instead of a coin per
            pulse costs random words per afterpulse, not per pulse.
        words: uint32 random words (two per afterpulse: its gap and its
            delay); when they run out no further afterpulse is drawn.
        exp_knots: standard-exponential inverse-CDF table.

    Returns:
        (registered times, registered detectors, index of the first
        unprocessed pulse, pending afterpulse times, their detectors,
        words used).
    """
    n = t.shape[0]
    out_t = np.empty(n + words.shape[0], dtype=np.int64)
    out_d = np.empty(n + words.shape[0], dtype=np.int8)
    heap_t = np.empty(words.shape[0] + 1, dtype=np.int64)
    heap_d = np.empty(words.shape[0] + 1, dtype=np.int8)
    n_heap = 0
    k = 0
    w = 0
    i = 0
    while True:
        j_min = -1
        for j in range(n_heap):
            if j_min < 0 or heap_t[j] < heap_t[j_min]:
                j_min = j
        take_heap = j_min >= 0 and (i >= n or heap_t[j_min] < t[i])
        if take_heap:
            tt = heap_t[j_min]
            dd = heap_d[j_min]
        elif i < n:
            tt = t[i]
            dd = d[i]
        else:
            break
        if tt >= cut_ps:
            break
        if take_heap:
            n_heap -= 1
            heap_t[j_min] = heap_t[n_heap]
            heap_d[j_min] = heap_d[n_heap]
        else:
            i += 1
        if not enabled[dd] or tt - last_ps[dd] < dead_ps[dd]:
            continue
        out_t[k] = tt
        out_d[k] = dd
        k += 1
        last_ps[dd] = tt
        if ap_log1mp[dd] < 0.0:
            if countdown[dd] <= 0:
                if w >= words.shape[0]:
                    continue
                u = (words[w] + 0.5) * (1.0 / 4294967296.0)
                w += 1
                countdown[dd] = 1 + np.int64(np.log(u) / ap_log1mp[dd])
            countdown[dd] -= 1
            if countdown[dd] == 0 and w < words.shape[0]:
                delay = inverse_cdf(words[w], exp_knots) * ap_mean_ps[dd]
                w += 1
                heap_t[n_heap] = tt + dead_ps[dd] + np.int64(delay)
                heap_d[n_heap] = dd
                n_heap += 1
    return out_t[:k], out_d[:k], i, heap_t[:n_heap].copy(), heap_d[:n_heap].copy(), w


@numba.njit(cache=True)
def tag(pulses: np.ndarray, channels: np.ndarray, delay_of: np.ndarray, seen: np.ndarray,
        held_t: np.ndarray, held_c: np.ndarray, resolution_ps: int) -> tuple[np.ndarray, np.ndarray]:
    """What a tagger records of a sorted pulse stream.

    Pulses on channels whose discriminator does not fire (``seen`` False)
    are dropped; the rest get their input delay; tags held from the last
    batch come first; the result is sorted (a delay displaces a tag past few
    others) and floored to the resolution.

    Args:
        pulses, channels: sorted int64 ps times and int32 channels.
        delay_of: int64 input delay indexed by channel number.
        seen: bool indexed by channel number.
        held_t, held_c: tags held from the previous batch.
        resolution_ps: tagger resolution (>= 1).

    Returns:
        (int64 timestamps, int32 channels), sorted.
    """
    m = held_t.shape[0]
    out_t = np.empty(m + pulses.shape[0], dtype=np.int64)
    out_c = np.empty(m + pulses.shape[0], dtype=np.int32)
    out_t[:m] = held_t
    out_c[:m] = held_c
    k = m
    for i in range(pulses.shape[0]):
        c = channels[i]
        out_t[k] = pulses[i] + delay_of[c]
        out_c[k] = c
        k += seen[c]
    out_t = out_t[:k]
    out_c = out_c[:k]
    sort_nearly_sorted(out_t, out_c)
    if resolution_ps > 1:
        for j in range(k):
            out_t[j] = (out_t[j] // resolution_ps) * resolution_ps
    return out_t, out_c
