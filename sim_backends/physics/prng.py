"""A small random generator for the numba kernels of tag generation.

The kernels that make tags draw two 64-bit words per click event. Fetching
them from numpy (``random_raw``) costs memory traffic and several ns per
word; drawing them in the kernel costs about one. The generator is
xoshiro256** (Blackman and Vigna, "Scrambled linear pseudorandom number
generators", ACM TOMS 47, 2021; https://prng.di.unimi.it/), whose 256-bit
state lives in a uint64 array of four that the bench keeps and seeds from
its ``numpy.random.Generator``, so a run stays reproducible from its seed.
"""

from __future__ import annotations

import numpy as np

from qnic.instruments.kernel_cache import cached_njit

LOW32 = np.uint64(0xFFFFFFFF)
_32 = np.uint64(32)


def seed_state(rng: np.random.Generator) -> np.ndarray:
    """A fresh generator state (uint64, shape (4,)) drawn from ``rng``."""
    state = rng.bit_generator.random_raw(4).astype(np.uint64)
    if not state.any():  # the one state xoshiro cannot leave
        state[0] = 1
    return state


@cached_njit(inline="always")
def _rotl(x: np.uint64, k: int) -> np.uint64:
    return (x << np.uint64(k)) | (x >> np.uint64(64 - k))


@cached_njit(inline="always")
def next_u64(s: np.ndarray) -> np.uint64:
    """The next 64-bit word; advances the state ``s`` (uint64 (4,)) in place."""
    s0, s1, s2, s3 = s[0], s[1], s[2], s[3]
    out = _rotl(s1 * np.uint64(5), 7) * np.uint64(9)
    t = s1 << np.uint64(17)
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = _rotl(s3, 45)
    s[0], s[1], s[2], s[3] = s0, s1, s2, s3
    return out


@cached_njit()
def words(s: np.ndarray, n: int) -> np.ndarray:
    """``n`` uint32 words (the halves of successive 64-bit words)."""
    out = np.empty(n + (n & 1), dtype=np.uint32)
    for i in range(0, n, 2):
        w = next_u64(s)
        out[i] = np.uint32(w & LOW32)
        out[i + 1] = np.uint32(w >> _32)
    return out[:n]
