"""Accidentals under the true peak (docs/coincidences.md section 4).

The estimator is checked by hand on small counts, and on the simulated bench
against its closed forms: with an ideal state the accidental-corrected S must
sit within 4 standard errors (its own propagated error) of the S the state
and optics give, from 1e4 to 2e6 pairs/s, where the plain offset-window
subtraction is many sigma high.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from qnic.chsh import SETTINGS, TSIRELSON_BOUND, analyze_counts
from qnic.coincidence import OutcomeCounts, OutcomeStream, accidentals_under_peak
from qnic.sim.bench import Bench
from qnic.sim.params import bench_params

ARM_A, ARM_B = (1, 2), (3, 4)


def _counts(n, singles, doubles=(0, 0), events=None, double_clicks=(0, 0)) -> OutcomeCounts:
    """OutcomeCounts with ``doubles`` merged clicks per arm (events follow)."""
    ev = events or (singles[0] + singles[1] - doubles[0], singles[2] + singles[3] - doubles[1])
    return OutcomeCounts(np.array(n).reshape(2, 2), double_clicks[0], double_clicks[1], ev[0], ev[1],
                         dict(zip((1, 2, 3, 4), singles)))


def test_no_pairs_leaves_the_offset_mean():
    true = _counts([0, 0, 0, 0], (1000, 800, 900, 700))
    shifted = [_counts([3, 1, 2, 5], (1000, 800, 900, 700)), _counts([1, 3, 2, 3], (1000, 800, 900, 700))]
    p = accidentals_under_peak(true, shifted, ARM_A, ARM_B)
    np.testing.assert_allclose(p.mean, [[2, 2], [2, 4]])
    np.testing.assert_allclose(p.free_a, [1, 1])
    # Var = Var(O) = O / K when nothing scales it
    np.testing.assert_allclose(p.var, p.offset_mean / 2)


def test_every_event_paired_leaves_no_accidentals():
    true = _counts([500, 0, 0, 400], (500, 400, 500, 400))
    p = accidentals_under_peak(true, [_counts([9, 9, 9, 9], (500, 400, 500, 400))], ARM_A, ARM_B)
    np.testing.assert_allclose(p.mean, 0.0, atol=1e-12)


def test_the_estimate_solves_its_fixed_point():
    """mu = O g h with g_a = 1 - (pairs of outcome a) / (single events of a),
    the pairs being N - mu plus the true B-double coincidences shared by row."""
    singles = (10_000, 9_000, 11_000, 8_000)
    true = _counts([2000, 150, 170, 1900], singles, doubles=(30, 20), double_clicks=(60, 50))
    shifted = [_counts([90, 70, 80, 60], singles, doubles=(30, 20), double_clicks=(8, 6))] * 4
    p = accidentals_under_peak(true, shifted, ARM_A, ARM_B)
    pairs = np.array([[2000, 150], [170, 1900]]) - p.mean
    s_a = np.array([10_000, 9_000]) - 30
    s_b = np.array([11_000, 8_000]) - 20
    g = 1 - (pairs.sum(axis=1) + (50 - 6) * pairs.sum(axis=1) / pairs.sum()) / s_a
    h = 1 - (pairs.sum(axis=0) + (60 - 8) * pairs.sum(axis=0) / pairs.sum()) / s_b
    np.testing.assert_allclose(p.mean, p.offset_mean * np.outer(g, h), rtol=1e-9)
    assert np.all(p.mean < p.offset_mean)
    assert np.all(p.var > (np.outer(g, h) ** 2) * p.offset_mean / 4)  # the free fractions add


def test_bad_input_is_named():
    true = _counts([1, 0, 0, 1], (10, 10, 10, 10))
    with pytest.raises(ValueError, match="at least one offset window"):
        accidentals_under_peak(true, [], ARM_A, ARM_B)
    with pytest.raises(ValueError, match="channel 7"):
        accidentals_under_peak(true, [true], (7, 2), ARM_B)
    broken = OutcomeCounts(np.zeros((2, 2)), 0, 0, 50, 20, {1: 10, 2: 10, 3: 10, 4: 10})
    with pytest.raises(ValueError, match="arm A: 50 events from 20 clicks"):
        accidentals_under_peak(broken, [broken], ARM_A, ARM_B)


# -- on the bench ---------------------------------------------------------------

CHSH_HWP = {"00": (0.0, 11.25), "01": (0.0, -11.25), "10": (22.5, 11.25), "11": (22.5, -11.25)}
WINDOW_PS = 10_000
OFFSETS_PS = [0, 1_000_000, 2_000_000, 3_000_000, 4_000_000]


def _bench(pair_rate_hz: float, seed: int) -> Bench:
    """An ideal phi+ source, 30 kHz dark counts per detector, 22 ns dead time
    (the issue's high-rate case)."""
    det = {"dark_count_hz": 3e4, "dead_time_ns": 22.0}
    arm = {"transmission": 0.3, "extinction_ratio": 1e7}
    return Bench(bench_params({
        "seed": seed, "pair_rate_hz": pair_rate_hz,
        "state": {"bell": "phi+", "visibility": 1.0, "coherence": 1.0},
        "A": {**arm, "detectors": {1: {"outcome": 0, **det}, 2: {"outcome": 1, **det}}},
        "B": {**arm, "detectors": {3: {"outcome": 0, **det}, 4: {"outcome": 1, **det}}}}))


def _measure(bench: Bench, seconds: float) -> tuple[dict, dict, dict, dict, float]:
    """Counts, offset means, peak estimates (and variances) of the four settings;
    the closed-form S of the state and optics (true pairs only)."""
    counts, plain, peak, peak_var, e_true = {}, {}, {}, {}, {}
    t = 0.0
    for key, (ha, hb) in CHSH_HWP.items():
        bench.motor("A").set_angle(ha, t)
        bench.motor("B").set_angle(hb, t)
        stream = OutcomeStream(ARM_A, ARM_B, WINDOW_PS, {}, OFFSETS_PS)
        stream.push(*bench.detect_stream(t, t + seconds))
        true, *shifted = stream.finish()
        est = accidentals_under_peak(true, shifted, ARM_A, ARM_B)
        counts[key] = true.as_list()
        plain[key] = list(est.offset_mean.ravel())
        peak[key], peak_var[key] = list(est.mean.ravel()), list(est.var.ravel())
        rates = bench.predicted_coincidence_rates(ha, hb, window_ps=0).ravel()
        e_true[key] = float((rates[0] - rates[1] - rates[2] + rates[3]) / rates.sum())
        t += seconds
    s_true = e_true["00"] + e_true["01"] + e_true["10"] - e_true["11"]
    return counts, plain, peak, peak_var, s_true


@pytest.mark.parametrize("pair_rate_hz", [1e4, 1e5, 1e6, 2e6])
def test_corrected_s_is_unbiased_at_every_rate(pair_rate_hz):
    counts, _, peak, peak_var, s_true = _measure(_bench(pair_rate_hz, seed=11), seconds=1.0)
    r = analyze_counts(counts, peak, peak_var)
    assert s_true == pytest.approx(TSIRELSON_BOUND, abs=1e-5)
    # 4 sigma: the propagated error of S_corrected (counts and estimate)
    assert abs(r.S_corrected - s_true) < 4 * r.S_corrected_err, (r.S_corrected, r.S_corrected_err)
    assert r.bound_violations == ()


def test_plain_offset_subtraction_is_biased_at_high_rate():
    """The case the estimator exists for: at 2e6 pairs/s the offset-window
    mean subtracted as it stands lands well above 2 sqrt 2 (> 4 sigma)."""
    counts, plain, peak, peak_var, s_true = _measure(_bench(2e6, seed=12), seconds=1.0)
    var = {k: [v / 4 for v in plain[k]] for k in SETTINGS}
    old = analyze_counts(counts, plain, var)
    new = analyze_counts(counts, peak, peak_var)
    assert old.S_corrected - s_true > 4 * old.S_corrected_err
    assert abs(new.S_corrected - s_true) < 4 * new.S_corrected_err
    assert any("Tsirelson" in v for v in old.bound_violations)


def test_a_corrected_value_past_a_bound_is_flagged():
    counts = {k: [1000, 10, 10, 1000] for k in SETTINGS}
    counts["11"] = [10, 1000, 1000, 10]
    acc = {k: [0.0, 9.0, 9.0, 0.0] for k in SETTINGS}
    acc["11"] = [9.0, 0.0, 0.0, 9.0]
    r = analyze_counts(counts, acc, {k: [0.0] * 4 for k in SETTINGS})
    assert r.S_corrected > TSIRELSON_BOUND
    assert len(r.bound_violations) == 1 and "Tsirelson" in r.bound_violations[0]
    over = {k: [1000, 10, 10, 1000] for k in SETTINGS}
    acc_over = {k: [0.0, 200.0, 200.0, 0.0] for k in SETTINGS}
    r2 = analyze_counts(over, acc_over, {k: [0.0] * 4 for k in SETTINGS})
    assert any("E(00)" in v and "|E| <= 1" in v for v in r2.bound_violations)
    assert math.isfinite(r2.S_corrected)


def test_perfect_correlations_with_zero_error_are_flagged_not_a_crash():
    """Every count in the correlated cells (a very short run): E = +-1 with a
    zero error, S_corrected = 4 +- 0, flagged rather than divided by zero."""
    counts = {k: [10, 0, 0, 10] for k in SETTINGS}
    counts["11"] = [0, 10, 10, 0]
    acc = {k: [1.0, 0.0, 0.0, 1.0] for k in SETTINGS}
    acc["11"] = [0.0, 1.0, 1.0, 0.0]
    r = analyze_counts(counts, acc, {k: [v / 4 for v in row] for k, row in acc.items()})
    assert r.S_corrected == pytest.approx(4.0) and r.S_corrected_err == 0.0
    assert len(r.bound_violations) == 1 and "inf sigma" in r.bound_violations[0]


def test_accidentals_at_least_the_counts_name_the_setting():
    counts = {k: [10, 0, 0, 10] for k in SETTINGS}
    acc = {k: [1.0, 0.0, 0.0, 1.0] for k in SETTINGS}
    acc["01"] = [10.0, 1.0, 1.0, 10.0]
    with pytest.raises(ValueError, match=r"accidentals\['01'\].*not below the coincidences"):
        analyze_counts(counts, acc)


def test_qnic_chsh_at_high_rate_is_unbiased_and_unflagged(tmp_path, capsys):
    """`qnic chsh` end to end at 1.5e6 pairs/s, 30 kHz dark counts, a 10 ns
    window and an ideal state: the issue's case, 7 sigma above 2 sqrt 2 with
    the plain offset subtraction. Within 4 sigma of the closed form now."""
    import json

    from station_files import default_dict, physics, wiring, write

    from qnic.cli import main

    st = default_dict()
    sim = physics(st)
    sim.update(pair_rate_hz=1.5e6, state={"bell": "phi+", "visibility": 1.0, "coherence": 1.0})
    for arm in "AB":
        sim[arm]["extinction_ratio"] = 1e7
        for det in sim[arm]["detectors"].values():
            det["dark_count_hz"] = 3e4
    wiring(st)["window_ps"] = WINDOW_PS
    path = write(tmp_path, st)
    assert main(["chsh", "--station", str(path), "--uncalibrated", "--seconds", "0.5", "--seed", "5",
                 "--json", "--db", str(tmp_path / "runs.db")]) == 0
    out = json.loads(capsys.readouterr().out)
    # closed form of the state and optics: 2 sqrt 2 x the two PBS contrasts
    s_true = TSIRELSON_BOUND * (1 - 2 / (1 + 1e7)) ** 2
    assert abs(out["S_corrected"] - s_true) < 4 * out["S_corrected_err"], out["S_corrected"]
    assert out["S"] < out["S_corrected"]  # the raw value stays beside it, lowered by accidentals
    assert out["bound_violations"] == []
