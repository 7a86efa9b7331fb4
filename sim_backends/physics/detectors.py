"""Detector and tagger effects on click times (DESIGN 4).

Dead time is non-paralyzable: a click within ``dead_ps`` of the last
*registered* click is lost. That rule is sequential, so it runs in numba.
"""

from __future__ import annotations

import numba
import numpy as np

from sim_backends.physics.sampling import inverse_cdf


@numba.njit(cache=True)
def _dead_time_mask(t_ps: np.ndarray, dead_ps: int, last_ps: int) -> np.ndarray:
    keep = np.zeros(t_ps.shape[0], dtype=np.bool_)
    last = last_ps
    for i in range(t_ps.shape[0]):
        if t_ps[i] - last >= dead_ps:
            keep[i] = True
            last = t_ps[i]
    return keep


def apply_dead_time(t_ps: np.ndarray, dead_ps: int, last_ps: int) -> np.ndarray:
    """Keep the clicks a non-paralyzable detector registers.

    Args:
        t_ps: sorted int64 click times (ps) of one detector, shape (N,).
        dead_ps: dead time in ps (>= 0).
        last_ps: time of the last click registered before ``t_ps[0]``
            (a very negative number when there was none).

    Returns:
        bool mask of shape (N,).
    """
    if dead_ps <= 0 or t_ps.size == 0:
        return np.ones(t_ps.shape, dtype=bool)
    return _dead_time_mask(t_ps, np.int64(dead_ps), np.int64(last_ps))


@numba.njit(cache=True)
def _register(raw: np.ndarray, dead_ps: int, last_ps: int, gaps: np.ndarray,
              delays: np.ndarray) -> tuple[np.ndarray, int]:
    out = np.empty(raw.shape[0] + gaps.shape[0], dtype=np.int64)
    pend = np.empty(gaps.shape[0] + 1, dtype=np.int64)
    n_pend = 0
    k = 0
    gi = 0
    countdown = gaps[0] if gaps.shape[0] > 0 else -1
    last = last_ps
    i = 0
    while i < raw.shape[0] or n_pend > 0:
        # the earliest of the next raw click and the pending afterpulses
        j_min = -1
        if n_pend > 0:
            j_min = 0
            for j in range(1, n_pend):
                if pend[j] < pend[j_min]:
                    j_min = j
        if j_min >= 0 and (i >= raw.shape[0] or pend[j_min] < raw[i]):
            t = pend[j_min]
            n_pend -= 1
            pend[j_min] = pend[n_pend]
        else:
            t = raw[i]
            i += 1
        if t - last < dead_ps:
            continue
        out[k] = t
        k += 1
        last = t
        countdown -= 1
        if countdown == 0:
            pend[n_pend] = t + dead_ps + delays[gi]
            n_pend += 1
            gi += 1
            countdown = gaps[gi] if gi < gaps.shape[0] else -1
    return out[:k], last


def add_afterpulses(t_ps: np.ndarray, probability: float, dead_ps: int, delay_mean_ps: float,
                    rng: np.random.Generator, last_ps: int) -> tuple[np.ndarray, int]:
    """Registered clicks of a detector with dead time and afterpulsing.

    Each registered click is followed, with ``probability``, by an extra click
    at its time + the dead time + an exponential delay of mean
    ``delay_mean_ps``; afterpulses may afterpulse in turn, and every click
    obeys the non-paralyzable dead time. Which registered clicks afterpulse
    is drawn as geometric gaps between them, so the cost stays proportional
    to the afterpulses, not the clicks.

    Args:
        t_ps: sorted int64 raw click times (ps), shape (N,).
        probability: afterpulse probability per registered click, in [0, 1).
        dead_ps: dead time (ps, >= 0).
        delay_mean_ps: mean extra delay of an afterpulse beyond the dead time.
        rng: the bench's generator.
        last_ps: the last click registered before this batch.

    Returns:
        (registered sorted int64 times, time of the last registered click).
    """
    if t_ps.size == 0:
        return t_ps, last_ps
    if probability > 0:
        expected = t_ps.size * probability / (1.0 - probability)
        pool = int(expected + 8.0 * np.sqrt(expected) + 16)
        gaps = rng.geometric(probability, pool).astype(np.int64)
        delays = rng.exponential(delay_mean_ps, pool).astype(np.int64)
    else:
        gaps = np.empty(0, np.int64)
        delays = np.empty(0, np.int64)
    clicks, last = _register(t_ps, np.int64(dead_ps), np.int64(last_ps), gaps, delays)
    return clicks, int(last)


@numba.njit(cache=True)
def sample_classes(words: np.ndarray, cum: np.ndarray) -> np.ndarray:
    """Categorical draws: class k where cum[k-1] <= u < cum[k], u = word / 2^32.

    A guide table indexed by the word's top 12 bits gives the class at once
    for all but the few bins that straddle a class boundary.

    Args:
        words: uint32 random words, shape (N,).
        cum: float64 cumulative class probabilities, shape (K,), cum[-1] = 1.

    Returns:
        int8 classes, shape (N,).
    """
    last = cum.shape[0] - 1
    guide = np.empty(4096, dtype=np.int64)
    k = 0
    for b in range(4096):
        while k < last and b / 4096.0 >= cum[k]:
            k += 1
        guide[b] = k
    out = np.empty(words.shape[0], dtype=np.int8)
    for i in range(words.shape[0]):
        k = guide[words[i] >> 20]  # the class at the start of this 2^-12 bin
        u = words[i] * (1.0 / 4294967296.0)
        while k < last and u >= cum[k]:  # only bins that straddle a boundary loop
            k += 1
        out[i] = k
    return out


@numba.njit(cache=True)
def split_and_jitter(times: np.ndarray, cls: np.ndarray, words: np.ndarray, knots: np.ndarray,
                     sigma_ps: np.ndarray, chan_a: np.ndarray,
                     chan_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Turn click events into per-detector jittered click times.

    Args:
        times: sorted int64 event times (ps), shape (N,).
        cls: int8 event classes, shape (N,).
        words: uint32 random words, two per event (for jitter).
        knots: standard-normal inverse-CDF knots (see ``sampling``).
        sigma_ps: float64 jitter RMS per detector index, shape (D,).
        chan_a, chan_b: per class, the detector index the event clicks on
            arm A / arm B, or D when it clicks on no detector there; shape (K,).

    Returns:
        (buf, starts): detector d's sorted clicks are buf[starts[d]:starts[d+1]].
    """
    n_det = sigma_ps.shape[0]
    counts = np.zeros(n_det + 2, dtype=np.int64)
    for i in range(times.shape[0]):
        counts[chan_a[cls[i]] + 1] += 1
        counts[chan_b[cls[i]] + 1] += 1
    starts = np.cumsum(counts)
    fill = starts[:-1].copy()
    buf = np.empty(starts[-1], dtype=np.int64)
    sig = np.zeros(n_det + 1)
    sig[:n_det] = sigma_ps
    # branch-free: clicks on "no detector" (index D) land in a discarded slot
    for i in range(times.shape[0]):
        da = chan_a[cls[i]]
        db = chan_b[cls[i]]
        buf[fill[da]] = times[i] + np.int64(np.floor(inverse_cdf(words[2 * i], knots) * sig[da] + 0.5))
        fill[da] += 1
        buf[fill[db]] = times[i] + np.int64(np.floor(inverse_cdf(words[2 * i + 1], knots) * sig[db] + 0.5))
        fill[db] += 1
    # jitter only swaps near neighbours: insertion sort is linear here
    for d in range(n_det):
        for k in range(starts[d] + 1, starts[d + 1]):
            v = buf[k]
            j = k - 1
            while j >= starts[d] and buf[j] > v:
                buf[j + 1] = buf[j]
                j -= 1
            buf[j + 1] = v
    return buf, starts[: n_det + 1]


@numba.njit(cache=True)
def _merge(buf: np.ndarray, starts: np.ndarray, chans: np.ndarray, delays: np.ndarray,
           resolution: int) -> tuple[np.ndarray, np.ndarray]:
    k = starts.shape[0] - 1
    n = starts[k]
    heads = starts[:-1].copy()
    end = np.iinfo(np.int64).max
    cur = np.empty(k, dtype=np.int64)
    for j in range(k):
        cur[j] = buf[heads[j]] + delays[j] if heads[j] < starts[j + 1] else end
    out_t = np.empty(n, dtype=np.int64)
    out_c = np.empty(n, dtype=np.int32)
    for i in range(n):
        m = 0
        v = cur[0]
        for j in range(1, k):
            if cur[j] < v:
                v = cur[j]
                m = j
        out_t[i] = (v // resolution) * resolution
        out_c[i] = chans[m]
        heads[m] += 1
        cur[m] = buf[heads[m]] + delays[m] if heads[m] < starts[m + 1] else end
    return out_t, out_c


def merge_channels(per_channel: list[tuple[int, np.ndarray]], delays_ps: list[int],
                   resolution_ps: int) -> tuple[np.ndarray, np.ndarray]:
    """One time-ordered tag stream from sorted per-channel pulse times.

    Args:
        per_channel: (channel number, sorted int64 ps times) per input.
        delays_ps: the input delay added to each channel (same order).
        resolution_ps: tagger resolution; times are floored to it.

    Returns:
        (int64 timestamps, int32 channels), sorted by time; ties keep input order.
    """
    if not per_channel:
        return np.empty(0, np.int64), np.empty(0, np.int32)
    sizes = np.array([t.size for _, t in per_channel], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(sizes)])
    buf = np.concatenate([t for _, t in per_channel])
    chans = np.array([c for c, _ in per_channel], dtype=np.int32)
    return _merge(buf, starts, chans, np.asarray(delays_ps, dtype=np.int64), max(int(resolution_ps), 1))
