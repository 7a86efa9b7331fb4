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
from qnic.sim.physics import pulse_stream as ps
from qnic.sim.physics.prng import next_u64, seed_state, words
from qnic.sim.physics.sampling import exponential_knots

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


def _register_all(pt: np.ndarray, pd: np.ndarray, cut_ps: int, out_cap: int, heap_cap: int,
                  rng: np.ndarray) -> tuple[list[int], list[int], int, list[int]]:
    """Register the pulses before ``cut_ps``, resuming whenever the output
    or the heap fills; returns the output, where the pending pulses start
    and the afterpulses left waiting (sorted)."""
    dead = np.full(4, 1000, np.int64)
    last = np.full(4, -10**12, np.int64)
    live = np.ones(4, np.bool_)
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
            pt, pd, i, pt.size, cut_ps, heap_t, heap_d, n_heap, out_t, out_c, 0, dead, last,
            live, ap_log1mp, ap_mean, countdown, channel, rng, exponential_knots())
        got_t += out_t[:n_out].tolist()
        got_c += out_c[:n_out].tolist()
        if done:
            return got_t, got_c, i, sorted(heap_t[:n_heap].tolist())
        if n_heap == heap_cap:  # the caller grows the heap
            heap_t = np.concatenate([heap_t, np.empty(heap_cap, np.int64)])
            heap_d = np.concatenate([heap_d, np.empty(heap_cap, np.int8)])
            heap_cap *= 2
    raise AssertionError("registration never finished")


def test_registration_resumes_exactly_when_its_buffers_fill() -> None:
    gen = np.random.default_rng(3)
    pt = np.sort(gen.integers(0, 200_000_000, 3000))  # one per 67 ns on four detectors
    pd = gen.integers(0, 4, 3000).astype(np.int8)
    seed = seed_state(gen)
    cut = 150_000_000  # a quarter of the pulses stay pending
    big = _register_all(pt, pd, cut, 10_000, 4096, seed.copy())
    small = _register_all(pt, pd, cut, 3, 1, seed.copy())
    assert big == small
    out_t, _, stop, waiting = big
    assert np.all(np.diff(out_t) >= 0) and max(out_t) < cut
    assert stop == np.searchsorted(pt, cut) and all(w >= cut for w in waiting)
    # each input pulse starts a cluster of geometric size, mean 1/(1-p),
    # variance p/(1-p)^2 at p = 0.4 (dead time, 1 ns against 267 ns between
    # pulses of one detector, is negligible)
    p = 0.4
    assert abs(len(out_t) - stop / (1 - p)) < Z * math.sqrt(stop * p) / (1 - p)


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


def test_saturation_does_not_depend_on_how_the_stream_is_cut() -> None:
    # dark counts at 3.25 MHz on a module that saturates above 3.5 MHz, read
    # in 2 us calls (6.5 counts each: a call's own count says nothing of the
    # rate); non-paralyzable 22 ns dead time: r / (1 + r tau), sub-Poisson,
    # so sqrt(expected) is a conservative sigma
    rate, dead_ns, seconds = 3.25e6, 22.0, 2e-3
    bench = make_bench({"seed": 31, "name": "sat", "pair_rate_hz": 0.0, "A": {"detectors": ideal_detectors(
        "A", dark_count_hz=rate, dead_time_ns=dead_ns, saturation_hz=3.5e6)}})
    edges = np.linspace(0.0, seconds, 1001)
    n = sum(int((bench.detect_stream(a, b)[1] == 1).sum()) for a, b in zip(edges[:-1], edges[1:]))
    expected = rate / (1 + rate * dead_ns * 1e-9) * seconds
    assert abs(n - expected) < Z * math.sqrt(expected), (n, expected)


def test_dark_counts_are_poisson_over_many_short_calls() -> None:
    # 4000 calls of 5 us at 400 kHz: 2 counts per call on average; the counts
    # of a Poisson process in disjoint intervals are independent Poisson, so
    # the dispersion sum (n_i - mean)^2 / mean is chi-square with N - 1
    # degrees of freedom (sd sqrt(2 (N - 1)))
    rate, n_calls, call_s = 4e5, 4000, 5e-6
    bench = make_bench({"seed": 32, "name": "dark", "pair_rate_hz": 0.0,
                        "A": {"detectors": ideal_detectors("A", dark_count_hz=rate)}})
    counts = np.array([int((bench.detect_stream(k * call_s, (k + 1) * call_s)[1] == 1).sum())
                       for k in range(n_calls)])
    expected = rate * call_s * n_calls
    assert abs(counts.sum() - expected) < Z * math.sqrt(expected)
    dispersion = float(((counts - counts.mean()) ** 2).sum() / counts.mean())
    assert abs(dispersion - (n_calls - 1)) < Z * math.sqrt(2 * (n_calls - 1))


def test_a_large_batch_is_handed_out_and_later_calls_leave_it_alone(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(ps.PulseStream, "KEEP_SCRATCH", 100)
    bench = make_bench({"seed": 33, "name": "big", "pair_rate_hz": 1e6})
    first_t, first_c = bench.detect_stream(0.0, 1e-3)
    kept_t, kept_c = first_t.copy(), first_c.copy()
    assert first_t.size > 100  # above the scratch limit: the buffer itself is handed out
    small_t, _ = bench.detect_stream(1e-3, 1.02e-3)  # below it: copied out
    kept_small = small_t.copy()
    bench.detect_stream(1.02e-3, 2e-3)
    assert np.array_equal(first_t, kept_t) and np.array_equal(first_c, kept_c)
    assert 0 < small_t.size < 100 and np.array_equal(small_t, kept_small)
