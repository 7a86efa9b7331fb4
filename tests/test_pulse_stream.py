"""The fused tag-generation kernels: their generator, their resumable
registration, and one stream across many short calls.

Statistical checks use fixed seeds and 4-sigma tolerances, the sigma
stated beside each.
"""

from __future__ import annotations

import math

import numpy as np

from benches import ideal_detectors, make_bench
from qnic.coincidence import find_coincidences
from sim_backends.physics import pulse_stream as ps
from sim_backends.physics.prng import next_u64, seed_state, words
from sim_backends.physics.sampling import exponential_knots

Z = 4.0
MASK = (1 << 64) - 1


def xoshiro256ss(state: list[int], n: int) -> list[int]:
    """xoshiro256** as its authors give it (prng.di.unimi.it), in plain
    Python integers: the reference the numba generator must reproduce."""
    s = list(state)
    out = []

    def rotl(x: int, k: int) -> int:
        return ((x << k) | (x >> (64 - k))) & MASK

    for _ in range(n):
        out.append(rotl(s[1] * 5 & MASK, 7) * 9 & MASK)
        t = s[1] << 17 & MASK
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
    return out


def test_generator_is_xoshiro256starstar() -> None:
    state = np.array([1, 2, 3, 4], dtype=np.uint64)
    expected = xoshiro256ss([1, 2, 3, 4], 200)
    # the published first output of state (1, 2, 3, 4): rotl(2 * 5, 7) * 9
    assert expected[0] == 11520
    assert [int(next_u64(state)) for _ in range(200)] == expected


def test_words_are_the_halves_of_the_64_bit_outputs_and_uniform() -> None:
    state = seed_state(np.random.default_rng(11))
    ref = xoshiro256ss([int(x) for x in state], 3)
    w = words(state.copy(), 6)
    assert w.tolist() == [h for x in ref for h in (x & 0xFFFFFFFF, x >> 32)]
    n = 1_000_000
    top = words(state, n) >> 28  # 16 equal bins; binomial sigma each
    counts = np.bincount(top, minlength=16)
    p = 1 / 16
    assert np.all(np.abs(counts - n * p) < Z * math.sqrt(n * p * (1 - p))), counts


def test_seed_state_is_reproducible_and_never_all_zero() -> None:
    a = seed_state(np.random.default_rng(5))
    assert np.array_equal(a, seed_state(np.random.default_rng(5)))
    assert a.dtype == np.uint64 and a.shape == (4,) and a.any()


def _register_all(pt: np.ndarray, pd: np.ndarray, out_cap: int, heap_cap: int,
                  rng: np.ndarray) -> tuple[list[int], list[int], np.ndarray]:
    """Register every pulse, resuming whenever the output or heap fills."""
    dead = np.full(4, 1000, np.int64)
    last = np.full(4, -10**12, np.int64)
    on = np.ones(4, np.bool_)
    ap_log1mp = np.log1p(-np.full(4, 0.4))
    ap_mean = np.full(4, 3000.0)
    countdown = np.zeros(4, np.int64)
    channel = np.array([1, 2, 3, 4], np.int32)
    heap_t, heap_d = np.empty(heap_cap, np.int64), np.empty(heap_cap, np.int8)
    got_t: list[int] = []
    got_c: list[int] = []
    i, n_heap = 0, 0
    for _ in range(100_000):
        out_t, out_c = np.empty(out_cap, np.int64), np.empty(out_cap, np.int32)
        i, n_heap, n_out, done = ps._register(
            pt, pd, i, pt.size, 10**15, heap_t, heap_d, n_heap, out_t, out_c, 0, dead, last,
            on, on, ap_log1mp, ap_mean, countdown, channel, rng, exponential_knots())
        got_t += out_t[:n_out].tolist()
        got_c += out_c[:n_out].tolist()
        if done:
            return got_t, got_c, heap_t[:n_heap]
        if n_heap == heap_cap:  # the caller grows the heap
            heap_t = np.concatenate([heap_t, np.empty(heap_cap, np.int64)])
            heap_d = np.concatenate([heap_d, np.empty(heap_cap, np.int8)])
            heap_cap *= 2
    raise AssertionError("registration never finished")


def test_registration_resumes_exactly_when_its_buffers_fill() -> None:
    gen = np.random.default_rng(3)
    pt = np.sort(gen.integers(0, 2_000_000, 3000))
    pd = gen.integers(0, 4, 3000).astype(np.int8)
    seed = seed_state(gen)
    big = _register_all(pt, pd, 10_000, 4096, seed.copy())
    small = _register_all(pt, pd, 3, 1, seed.copy())
    assert big[0] == small[0] and big[1] == small[1]
    assert np.all(np.diff(big[0]) >= 0)
    # afterpulsing at p = 0.4 made extra pulses beyond the input
    assert len(big[0]) > 0.2 * pt.size


def test_many_short_calls_make_one_stream() -> None:
    # pairs at 4e5/s, arm B's cable 30 ns longer (pulses cross call edges),
    # 50 ns dead time; 10 ms of bench time in 2000 calls of 5 us (about 25 pulses cross an edge)
    delay_b, dead_ns, seconds, rate = 30_000, 50.0, 0.01, 4e5
    dets = {"A": ideal_detectors("A", dead_time_ns=dead_ns),
            "B": ideal_detectors("B", dead_time_ns=dead_ns, delay_ps=delay_b)}
    short_bench = make_bench({"seed": 8, "name": "short", "pair_rate_hz": rate,
                              "A": {"transmission": 1.0, "detectors": dets["A"]},
                              "B": {"transmission": 1.0, "detectors": dets["B"]}})
    edges = np.linspace(0.0, seconds, 2001)
    parts = [short_bench.detect_stream(a, b) for a, b in zip(edges[:-1], edges[1:])]
    t = np.concatenate([p[0] for p in parts])
    ch = np.concatenate([p[1] for p in parts])
    assert np.all(np.diff(t) >= 0) and t[0] >= 0 and t[-1] < seconds * 1e12
    for c in (1, 2, 3, 4):
        assert np.diff(t[ch == c]).min() >= dead_ns * 1e3  # dead time across call edges
    # every pair clicks on one detector of each arm (ideal detectors, unit
    # transmission), each detector at half the pair rate; a non-paralyzable
    # detector registers r / (1 + r tau); the count is sub-Poisson, so the
    # Poisson sigma sqrt(expected) is conservative
    per_det = rate / 2
    expected = 2 * per_det / (1 + per_det * dead_ns * 1e-9) * seconds
    for arm in ((1, 2), (3, 4)):
        n = int(np.isin(ch, arm).sum())
        assert abs(n - expected) < Z * math.sqrt(expected), (arm, n, expected)
    # the pairs still meet at the cable delay across the edges
    a = t[np.isin(ch, (1, 2))]
    b = t[np.isin(ch, (3, 4))]
    i, _ = find_coincidences(a, b, 1000, delay_ps=delay_b)
    assert i.size > 0.95 * min(a.size, b.size)
