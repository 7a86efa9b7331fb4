"""Bell-test statistics (qnic.bell_test): the p-value bound is valid for a
local model, the Gaussian tail is the normal one, block orders and the
target-sigma plan."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm

from qnic.bell_test import (
    SETTINGS,
    TargetUnreachable,
    block_orders,
    local_realism_test,
    plan_seconds,
)
from qnic.chsh import analyze_counts


def test_hoeffding_bound_by_hand():
    counts = {k: [375, 125, 125, 375] for k in SETTINGS}
    counts["11"] = [125, 375, 375, 125]
    r = analyze_counts(counts)
    assert r.S == pytest.approx(2.0)
    t = local_realism_test(counts, 2.5, 0.05)
    # exp(-(S - 2)^2 / (2 sum 1/N)) with N = 1000 per setting
    assert t.log10_p_hoeffding == pytest.approx(-(0.25 / 0.008) / math.log(10))
    assert t.sigmas == pytest.approx(10.0)
    assert 10 ** t.log10_p_gaussian == pytest.approx(norm.sf(10.0), rel=1e-9)
    assert local_realism_test(counts, 1.9, 0.05).log10_p_hoeffding == 0.0
    assert t.trials == 4000
    assert "Hoeffding" in t.describe() and "Gaussian" in t.describe()


def _local_counts(rng: np.random.Generator, n_trials: int) -> dict[str, list[int]]:
    """A local hidden-variable model at the bound, S = 2 on average: each trial
    picks one of three deterministic strategies that each reach S = 2,
    (a, b) = (0, 0), (x, 0) or (0, y), and flips both bits with a shared coin.
    Each arm's answer depends only on its own setting and the shared lambda."""
    counts = {}
    for k in SETTINGS:
        x, y = int(k[0]), int(k[1])
        strategy = rng.integers(0, 3, n_trials)
        coin = rng.integers(0, 2, n_trials)
        a = np.where(strategy == 1, x, 0) ^ coin
        b = np.where(strategy == 2, y, 0) ^ coin
        counts[k] = [int(v) for v in np.bincount(2 * a + b, minlength=4)]
    return counts


@pytest.mark.parametrize("n_trials", [50, 400])
def test_the_bound_holds_for_a_local_model(n_trials):
    """Over 2000 simulated experiments of the local model the Hoeffding
    p-value falls below alpha = 0.05 in at most 5 % of them (+ 4 sigma of a
    binomial fraction): it is a valid p-value."""
    rng = np.random.default_rng(3)
    n_exp, alpha = 2000, 0.05
    small = 0
    s_values = []
    for _ in range(n_exp):
        counts = _local_counts(rng, n_trials)
        r = analyze_counts(counts)
        s_values.append(r.S)
        if local_realism_test(counts, r.S, r.S_err).log10_p_hoeffding <= math.log10(alpha):
            small += 1
    # the model sits at the bound: mean S = 2 within 4 standard errors
    assert abs(np.mean(s_values) - 2.0) < 4 * np.std(s_values) / math.sqrt(n_exp)
    assert small / n_exp <= alpha + 4 * math.sqrt(alpha * (1 - alpha) / n_exp)


def test_block_orders_are_permutations_fixed_by_the_seed():
    orders = block_orders(6, seed=11)
    assert len(orders) == 6 and all(sorted(o) == list(SETTINGS) for o in orders)
    assert orders == block_orders(6, seed=11)
    assert orders != block_orders(6, seed=12)
    assert len(set(orders)) > 1
    with pytest.raises(ValueError, match="blocks must be >= 1"):
        block_orders(0, seed=1)


def test_plan_seconds_scales_with_the_variance():
    assert plan_seconds(0.02, 1.0, 0.01, 100.0) == pytest.approx(4.0)
    assert plan_seconds(0.005, 1.0, 0.01, 100.0) == pytest.approx(1.0)  # reached already
    with pytest.raises(TargetUnreachable, match=r"needs about 400 s per setting.*100 s per setting allowed"):
        plan_seconds(0.02, 1.0, 0.001, 100.0)
    with pytest.raises(ValueError, match="target_sigma must be finite and > 0"):
        plan_seconds(0.02, 1.0, 0.0, 100.0)


def test_no_test_without_coincidences():
    counts = {k: [10, 0, 0, 10] for k in SETTINGS}
    counts["10"] = [0, 0, 0, 0]
    with pytest.raises(ValueError, match="setting.s. 10 have no coincidences"):
        local_realism_test(counts, 2.5, 0.1)
