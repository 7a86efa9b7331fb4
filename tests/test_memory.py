"""QNIC memories: decoherence of stored pairs and the win rate against storage time."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qnic.balancing import chsh_strategy, ideal_table, measured_table, visibility_table
from qnic.balancing.memory import (
    US,
    QuantumMemory,
    StoragePolicy,
    decohered_table,
    mix_win_probability,
    predicted_win,
    storage_sweep,
    storage_sweep_table,
    visibility_factor,
)

T2 = 100 * US


def test_visibility_factor_and_curve() -> None:
    assert visibility_factor(0.0, T2) == 1.0
    assert visibility_factor(T2, T2) == pytest.approx(math.exp(-1))
    s0 = 2 * math.sqrt(2)
    assert predicted_win(s0, 0.0, T2) == pytest.approx(math.cos(math.pi / 8) ** 2)
    assert predicted_win(s0, 1.0, T2) == pytest.approx(0.5)  # 10^4 T2: nothing left
    with pytest.raises(ValueError):
        visibility_factor(-1e-6, T2)
    with pytest.raises(ValueError):
        visibility_factor(1e-6, 0.0)


@pytest.mark.parametrize("storage_s, coherence_s", [(-1e-6, T2), (math.nan, T2), (1e-6, 0.0),
                                                     (1e-6, -T2)])
def test_memory_rejects_bad_times(storage_s: float, coherence_s: float) -> None:
    with pytest.raises(ValueError, match="max_storage_s|coherence_s"):
        QuantumMemory(storage_s, coherence_s)


def test_fresh_pairs_pass_unchanged_and_old_ones_are_coins() -> None:
    rng = np.random.default_rng(1)
    a = rng.integers(0, 2, 20_000).astype(np.int8)
    b = a.copy()  # perfectly correlated
    memory = QuantumMemory(0.0, T2)
    sa, sb = memory.measure(a, b, np.zeros(a.size), np.random.default_rng(2),
                            np.random.default_rng(3))
    assert np.array_equal(sa, a) and np.array_equal(sb, b)
    sa, sb = memory.measure(a, b, np.full(a.size, 50 * T2), np.random.default_rng(2),
                            np.random.default_rng(3))
    agree = np.mean(sa == sb)  # E ~ exp(-50) = 0: agreement 1/2
    assert abs(agree - 0.5) < 4 * math.sqrt(0.25 / a.size)


def test_each_side_decoheres_with_its_own_noise() -> None:
    a = np.zeros(1000, np.int8)
    b = np.ones(1000, np.int8)
    memory = QuantumMemory(T2, T2)
    stored = np.full(a.size, T2)
    a1, b1 = memory.measure(a, b, stored, np.random.default_rng(5), np.random.default_rng(6))
    a2, b2 = memory.measure(a, b, stored, np.random.default_rng(5), np.random.default_rng(99))
    assert np.array_equal(a1, a2)  # A's bits do not depend on B's memory
    assert not np.array_equal(b1, b2)
    # each bit survives with exp(-t/(2 T2)); a replaced bit is a coin: P(unchanged) = (1 + q)/2
    q = math.exp(-0.5)
    assert abs(np.mean(a1 == 0) - (1 + q) / 2) < 4 * math.sqrt(0.25 / a.size)


def test_decohered_table_scales_every_correlator() -> None:
    table = visibility_table(chsh_strategy(), 0.9)
    out = decohered_table(table, 30 * US, T2)
    np.testing.assert_allclose(out.correlations(), table.correlations() * math.exp(-0.3), atol=1e-12)
    assert out.chsh_value() == pytest.approx(table.chsh_value() * math.exp(-0.3))


def test_decohered_table_with_biased_marginals_matches_sampling() -> None:
    # a measured table with unequal marginals: the closed form must equal what measure() does
    counts = {"00": [500, 80, 60, 360], "01": [470, 90, 100, 340],
              "10": [300, 260, 120, 320], "11": [90, 420, 380, 110]}
    table = measured_table(counts).table
    t = 40 * US
    expected = decohered_table(table, t, T2).prob
    rng = np.random.default_rng(11)
    n = 200_000
    x = np.zeros(n, np.int8)
    y = np.ones(n, np.int8)
    a, b = table.sample(x, y, rng.random(n))
    sa, sb = QuantumMemory(t, T2).measure(a, b, np.full(n, t), rng, np.random.default_rng(12))
    freq = np.bincount(2 * sa + sb, minlength=4) / n
    sigma = np.sqrt(expected[0, 1].ravel() * (1 - expected[0, 1].ravel()) / n)
    assert np.all(np.abs(freq - expected[0, 1].ravel()) < 4 * sigma), (freq, expected[0, 1])


def test_refresh_policy_ages_are_uniform() -> None:
    memory = QuantumMemory(80 * US, T2, StoragePolicy.REFRESH)
    ages = memory.storage_times(100_000, np.random.default_rng(3))
    assert ages.min() >= 0 and ages.max() < 80 * US
    analytic = (T2 / (80 * US)) * (1 - math.exp(-0.8))
    assert memory.mean_visibility_factor() == pytest.approx(analytic)
    assert np.mean(np.exp(-ages / T2)) == pytest.approx(analytic, rel=3e-3)
    fixed = QuantumMemory(80 * US, T2)
    assert fixed.mean_visibility_factor() == pytest.approx(math.exp(-0.8))
    assert np.all(fixed.storage_times(5, np.random.default_rng(0)) == 80 * US)


def test_win_rate_follows_the_analytic_curve() -> None:
    """Seeded: each storage time within 4 binomial sigma, sqrt(p (1 - p) / n), of
    1/2 + S0 exp(-t/T2)/8 (ideal pairs, S0 = 2 sqrt 2)."""
    times = [0.0, 20 * US, 60 * US, 100 * US, 250 * US]
    sweep = storage_sweep_table(ideal_table(chsh_strategy()), times, T2, rounds=40_000, seed=4)
    assert sweep.s0 == pytest.approx(2 * math.sqrt(2))
    assert sweep.within(4.0), (sweep.win_rate, sweep.predicted)
    # the curve falls with storage time and the sweep resolves it
    assert np.all(np.diff(sweep.win_rate) < 0)
    assert sweep.win_rate[0] > 0.84 and sweep.win_rate[-1] < 0.56
    # below about 0.88 T2 (S(t) = 2) the memory still beats every classical strategy
    assert sweep.win_rate[times.index(20 * US)] > 0.75 + 4 * sweep.sigma[1]
    report = sweep.to_dict()
    assert report["storage_us"] == pytest.approx([0, 20, 60, 100, 250])


def test_the_sweep_is_not_the_curve_when_the_memory_is_worse() -> None:
    """The check can fail: pairs stored with T2/2 do not follow the curve of T2."""
    table = ideal_table(chsh_strategy())
    rng = np.random.default_rng(8)
    n = 40_000
    x, y = rng.integers(0, 2, n), rng.integers(0, 2, n)
    a, b = table.sample(x, y, rng.random(n))
    times = [50 * US, 100 * US]
    worse = storage_sweep(x, y, a, b, times, T2 / 2, table.correlations(), seed=1)
    curve = predicted_win(table.chsh_value(), np.array(times), T2)
    assert np.all(np.abs(worse.win_rate - curve) > 4 * worse.sigma)


def test_mix_win_probability() -> None:
    e = chsh_strategy().correlations()
    x = np.array([0, 0, 1, 1])
    y = np.array([0, 1, 0, 1])
    assert mix_win_probability(x, y, e) == pytest.approx(math.cos(math.pi / 8) ** 2)
    assert mix_win_probability(np.array([1]), np.array([1]), e) == pytest.approx(
        math.cos(math.pi / 8) ** 2)


def test_the_queueing_study_runs_with_stored_pairs() -> None:
    """decohered_table feeds quantum-measured of the study: its game win rate follows the curve."""
    from qnic.balancing import PointSpec, StrategyOptions, simulate_point

    table = decohered_table(ideal_table(chsh_strategy()), 50 * US, T2)
    result = simulate_point(PointSpec("quantum-measured", 2, 2, 20_000,
                                      options=StrategyOptions(measured=table)))
    p = float(predicted_win(2 * math.sqrt(2), 50 * US, T2))
    rate = result.wins / result.rounds
    assert abs(rate - p) < 4 * math.sqrt(p * (1 - p) / result.rounds), (rate, p)
