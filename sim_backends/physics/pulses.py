"""Numba kernels of the simulated tagger: input delays, discriminator,
resolution, over a sorted pulse stream (see ``pulse_stream`` for how the
bench makes that stream)."""

from __future__ import annotations

import numpy as np

from qnic.instruments.kernel_cache import cached_njit


@cached_njit(inline="always")
def insert_sorted(t: np.ndarray, aux: np.ndarray, k: int, v: np.int64, w: np.int64) -> None:
    """Place (v, w) into sorted t[:k], carrying aux along (stable; room at k)."""
    i = k - 1
    while i >= 0 and t[i] > v:
        t[i + 1] = t[i]
        aux[i + 1] = aux[i]
        i -= 1
    t[i + 1] = v
    aux[i + 1] = w


@cached_njit(inline="always")
def sort_nearly_sorted(t: np.ndarray, aux: np.ndarray) -> None:
    """Sort ``t`` in place, carrying ``aux`` along; stable. Insertion sort:
    linear when each element sits only a few places from its rank."""
    for j in range(1, t.shape[0]):
        insert_sorted(t, aux, j, t[j], aux[j])


@cached_njit()
def tag(pulses: np.ndarray, channels: np.ndarray, delay_of: np.ndarray, seen: np.ndarray,
        held_t: np.ndarray, held_c: np.ndarray, resolution_ps: int) -> tuple[np.ndarray, np.ndarray]:
    """What a tagger records of a sorted pulse stream.

    Pulses on channels whose discriminator does not fire (``seen`` False)
    are dropped; the rest get their input delay; tags held from the last
    batch come first; the result is floored to the resolution and sorted (a
    delay displaces a tag past few others). Tags that share a floored
    timestamp keep the order of their pulses.

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
    for i in range(m):  # (loops, not slice assignments: they compile faster)
        out_t[i] = held_t[i]
        out_c[i] = held_c[i]
    k = m
    res = np.int64(max(resolution_ps, 1))
    inv = 1.0 / res
    for i in range(pulses.shape[0]):
        c = channels[i]
        t = pulses[i] + delay_of[c]
        if res > 1:  # floor to the resolution; a float multiply, not a 64-bit division
            q = np.int64(np.floor(t * inv))
            while q * res > t:
                q -= 1
            while (q + 1) * res <= t:
                q += 1
            t = q * res
        out_t[k] = t
        out_c[k] = c
        k += seen[c]
    out_t = out_t[:k]
    out_c = out_c[:k]
    sort_nearly_sorted(out_t, out_c)  # flooring first keeps the order it sorts into
    return out_t, out_c
