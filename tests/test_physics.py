"""The simulated bench against the closed forms of docs/physics.md.

Every statistical check uses a fixed seed and a tolerance of 4 standard
deviations, the deviation derived from the counting statistics stated in
each test (Poisson unless said otherwise).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from benches import ideal_detectors, make_bench

from qnic.chsh import analyze_counts
from qnic.coincidence import find_coincidences, outcome_counts
from qnic.sim.bench import Bench
from qnic.sim.tagger import SimulatedTimeTagger

Z = 4.0  # tolerance in standard deviations


def set_plates(bench: Bench, phi_a_deg: float, phi_b_deg: float) -> None:
    """Put the HWPs at polarizer-equivalent angles (zeros are 0 here)."""
    now = bench.clock.now()
    bench.motor("A").set_angle(phi_a_deg / 2, now)
    bench.motor("B").set_angle(phi_b_deg / 2, now)


def acquire(bench: Bench, seconds: float):  # type: ignore[no-untyped-def]
    name = f"tagger_{bench.name}"
    if not SimulatedTimeTagger.exist(name):
        SimulatedTimeTagger(name, bench=bench.name)
    tagger = SimulatedTimeTagger.find_instrument(name)
    return tagger.acquire(seconds)


def test_singles_rates_match_closed_form() -> None:
    rate, t_a, eff, dark, seconds = 4e5, 0.3, 0.6, 800.0, 1.0
    bench = make_bench({"seed": 11, "pair_rate_hz": rate, "A": {"transmission": t_a,
                        "detectors": ideal_detectors("A", efficiency=eff, dark_count_hz=dark)}})
    counts = acquire(bench, seconds).counts()
    # singles = pair_rate * transmission * efficiency * P(outcome) + dark, P = 1/2
    expected = (rate * t_a * eff * 0.5 + dark) * seconds
    for ch in (1, 2):
        assert abs(counts[ch] - expected) < Z * math.sqrt(expected), (ch, counts[ch], expected)


def test_true_coincidence_rate_matches_closed_form() -> None:
    rate, t_a, t_b, e_a, e_b, seconds, window = 3e5, 0.4, 0.3, 0.7, 0.5, 1.0, 3000
    bench = make_bench({"seed": 12, "pair_rate_hz": rate,
                        "A": {"transmission": t_a, "detectors": ideal_detectors("A", efficiency=e_a, jitter_ps=300.0)},
                        "B": {"transmission": t_b, "detectors": ideal_detectors("B", efficiency=e_b, jitter_ps=300.0)}})
    batch = acquire(bench, seconds)
    n = outcome_counts(batch.timestamps, batch.channels, (1, 2), (3, 4), window).n.sum()
    true = rate * t_a * e_a * t_b * e_b * seconds
    r_a = rate * t_a * e_a
    r_b = rate * t_b * e_b
    acc = r_a * r_b * 2 * window * 1e-12 * seconds  # accidentals between the arms
    assert abs(n - (true + acc)) < Z * math.sqrt(true + acc)


def test_accidentals_of_uncorrelated_streams() -> None:
    seconds, window, dark = 2.0, 2000, 3e5
    bench = make_bench({"seed": 13, "pair_rate_hz": 0.0,
                        "A": {"detectors": ideal_detectors("A", dark_count_hz=dark)},
                        "B": {"detectors": ideal_detectors("B", dark_count_hz=dark)}})
    batch = acquire(bench, seconds)
    t1, t3 = batch.of_channel(1), batch.of_channel(3)
    r1, r3 = t1.size / seconds, t3.size / seconds
    expected = r1 * r3 * 2 * window * 1e-12 * seconds  # docs/conventions.md
    n = find_coincidences(t1, t3, window)[0].size
    assert expected > 500
    assert abs(n - expected) < Z * math.sqrt(expected)


ANGLE_PAIRS = [(0, 0), (0, 22.5), (0, 45), (22.5, 67.5), (45, 22.5), (45, -22.5),
               (30, 75), (-20, 10), (90, 0), (60, 60)]


@pytest.mark.parametrize(("visibility", "coherence"), [(1.0, 1.0), (0.9, 0.7)])
def test_correlator_follows_the_state(visibility: float, coherence: float) -> None:
    rate, trans, seconds, window = 2e5, 0.5, 0.3, 1500
    bench = make_bench({"seed": 14, "pair_rate_hz": rate,
                        "state": {"visibility": visibility, "coherence": coherence},
                        "A": {"transmission": trans, "detectors": ideal_detectors("A", jitter_ps=350.0)},
                        "B": {"transmission": trans, "detectors": ideal_detectors("B", jitter_ps=350.0)}})
    singles = rate * trans * 0.5
    for phi_a, phi_b in ANGLE_PAIRS:
        set_plates(bench, phi_a, phi_b)
        batch = acquire(bench, seconds)
        n = outcome_counts(batch.timestamps, batch.channels, (1, 2), (3, 4), window).n.ravel()
        total = n.sum()
        e = (n[0] - n[1] - n[2] + n[3]) / total
        a, b = np.deg2rad(2 * phi_a), np.deg2rad(2 * phi_b)
        ideal = visibility * (np.cos(a) * np.cos(b) + coherence * np.sin(a) * np.sin(b))
        # a PBS of extinction ratio ER (default 1000) leaks 1/(1+ER) into the
        # wrong port, scaling each arm's contrast by 1 - 2/(1+ER)
        ideal *= (1 - 2 / (1 + 1000)) ** 2
        c = rate * trans * trans * seconds
        acc = 4 * singles * singles * 2 * window * 1e-12 * seconds
        predicted = ideal * c / (c + acc)  # accidentals carry no correlation
        sigma = math.sqrt((1 - predicted**2) / total)  # Var E = (1 - E^2) / N
        assert abs(e - predicted) < Z * sigma, (phi_a, phi_b, e, predicted, sigma)


@pytest.mark.parametrize(("visibility", "coherence"), [(1, 1), (0.9, 1), (0.95, 0.8), (0.7, 1)])
def test_chsh_s_matches_prediction(visibility: float, coherence: float) -> None:
    rate, trans, eff, dark, seconds, window = 3e5, 0.3, 0.6, 2000.0, 0.5, 1500
    dets = {"efficiency": eff, "dark_count_hz": dark, "jitter_ps": 350.0}
    bench = make_bench({"seed": 15, "pair_rate_hz": rate,
                        "state": {"visibility": visibility, "coherence": coherence},
                        "A": {"transmission": trans, "detectors": ideal_detectors("A", **dets)},
                        "B": {"transmission": trans, "detectors": ideal_detectors("B", **dets)}})
    angles = {"A": (0.0, 45.0), "B": (22.5, -22.5)}
    counts = {}
    for x in (0, 1):
        for y in (0, 1):
            set_plates(bench, angles["A"][x], angles["B"][y])
            b = acquire(bench, seconds)
            counts[f"{x}{y}"] = outcome_counts(b.timestamps, b.channels, (1, 2), (3, 4),
                                               window).n.ravel().tolist()
    result = analyze_counts(counts)
    c = rate * (trans * eff) ** 2
    singles = rate * trans * eff * 0.5 + dark
    acc = 4 * singles**2 * 2 * window * 1e-12
    contrast = (1 - 2 / (1 + 1000)) ** 2  # default PBS extinction ratio 1000, both arms
    predicted = math.sqrt(2) * visibility * (1 + coherence) * contrast * c / (c + acc)
    assert abs(result.S - predicted) < Z * result.S_err, (result.S, predicted, result.S_err)


def test_dead_time_is_non_paralyzable() -> None:
    rate, dead_ns, seconds = 5e6, 50.0, 0.2
    bench = make_bench({"seed": 16, "pair_rate_hz": 0.0, "A": {"detectors": ideal_detectors(
        "A", dark_count_hz=rate, dead_time_ns=dead_ns)}})
    t = acquire(bench, seconds).of_channel(1)
    assert np.diff(t).min() >= dead_ns * 1000
    # registered rate of a non-paralyzable detector: r / (1 + r tau); the
    # count's variance is below Poisson, so sqrt(expected) is conservative
    expected = rate / (1 + rate * dead_ns * 1e-9) * seconds
    assert abs(t.size - expected) < Z * math.sqrt(expected)


def test_afterpulsing_adds_clicks_after_the_dead_time() -> None:
    rate, p, dead_ns, delay_ns, seconds = 2e4, 0.1, 20.0, 50.0, 2.0
    bench = make_bench({"seed": 17, "pair_rate_hz": 0.0, "A": {"detectors": ideal_detectors(
        "A", dark_count_hz=rate, dead_time_ns=dead_ns, afterpulse_probability=p,
        afterpulse_delay_ns=delay_ns)}})
    t = acquire(bench, seconds).of_channel(1)
    # each click afterpulses with probability p, afterpulses too: cluster sizes
    # are geometric with mean 1/(1-p); compound Poisson variance
    # lambda (1+p)/(1-p)^2. (Dead-time losses at r tau = 4e-4 are negligible.)
    lam = rate * seconds
    expected = lam / (1 - p)
    sigma = math.sqrt(lam * (1 + p) / (1 - p) ** 2)
    assert abs(t.size - expected) < Z * sigma
    # gaps shorter than dead + 5 mean delays: each registered click's own
    # afterpulse lands there with probability p (1 - e^-5) (unless a dark count
    # comes first: probability r * 5 delay = 0.5 %, neglected in the mean and
    # covered by the tolerance), and a dark count with probability
    # 1 - exp(-r * 5 delay); binomial sigma of the sum over t.size gaps
    window = (dead_ns + 5 * delay_ns) * 1e-9
    q = p * (1 - math.exp(-5)) + (1 - math.exp(-rate * window))
    short = np.count_nonzero(np.diff(t) < window * 1e12)
    assert abs(short - t.size * q) < Z * math.sqrt(t.size * q * (1 - q)) + 0.005 * p * t.size
    # afterpulse delays beyond the dead time are exponential with the set mean:
    # among gaps x = gap - dead in [0, 3 tau), afterpulses have the truncated
    # mean tau (1 - 4 e^-3)/(1 - e^-3); Poisson gaps there are near uniform
    # (mean 1.5 tau); the mixture's mean, 4 standard errors
    tau = delay_ns * 1e3
    x = np.diff(t) - dead_ns * 1e3
    x = x[x < 3 * tau]
    n_ap = t.size * p * (1 - math.exp(-3))
    n_poisson = t.size * (1 - math.exp(-rate * 3 * tau * 1e-12))
    mean_ap = tau * (1 - 4 * math.exp(-3)) / (1 - math.exp(-3))
    expected_mean = (n_ap * mean_ap + n_poisson * 1.5 * tau) / (n_ap + n_poisson)
    assert abs(x.mean() - expected_mean) < Z * x.std() / math.sqrt(x.size)
    assert np.diff(t).min() >= dead_ns * 1000


def test_jitter_and_delays_show_in_the_time_differences() -> None:
    j_a, j_b, tag_j, delay_b = 300.0, 400.0, 8.0, 5000
    bench = make_bench({"seed": 18, "pair_rate_hz": 2e5, "tagger": {"jitter_ps": tag_j},
                        "A": {"transmission": 0.5, "detectors": ideal_detectors("A", jitter_ps=j_a)},
                        "B": {"transmission": 0.5, "detectors": ideal_detectors("B", jitter_ps=j_b, delay_ps=delay_b)}})
    set_plates(bench, 0, 0)
    batch = acquire(bench, 0.5)
    t1, t3 = batch.of_channel(1), batch.of_channel(3)
    i, j = find_coincidences(t1, t3, 4000, delay_ps=delay_b)
    dt = (t3[j] - t1[i]).astype(float)
    sigma = math.sqrt(j_a**2 + j_b**2 + 2 * tag_j**2)
    n = dt.size
    assert abs(dt.mean() - delay_b) < Z * sigma / math.sqrt(n)
    # standard error of a sample standard deviation: sigma / sqrt(2 n)
    assert abs(dt.std() - sigma) < Z * sigma / math.sqrt(2 * n)


def test_same_seed_same_tags() -> None:
    a = make_bench({"seed": 5, "name": "one"})
    b = make_bench({"seed": 5, "name": "two"})
    ta, tb = a.detect(0, 0.05), b.detect(0, 0.05)
    for ch in ta:
        assert np.array_equal(ta[ch], tb[ch])


def test_tags_across_acquisitions_stay_sorted_and_continuous() -> None:
    bench = make_bench({"seed": 6})
    first = bench.detect(0.0, 0.01)
    second = bench.detect(0.01, 0.02)
    for ch in first:
        both = np.concatenate([first[ch], second[ch]])
        assert np.all(np.diff(both) >= 0)
        assert both.min() >= 0 and both.max() < 0.02e12


def test_shutter_blocks_pairs_but_not_dark_counts() -> None:
    bench = make_bench({"seed": 7, "pair_rate_hz": 1e6, "A": {"detectors": ideal_detectors("A", dark_count_hz=1000.0)}})
    bench.source_enabled = False
    counts = {ch: t.size for ch, t in bench.detect(0, 1.0).items()}
    assert abs(counts[1] - 1000) < Z * math.sqrt(1000)


def test_density_matrix_validation() -> None:
    with pytest.raises(ValueError, match="sim.state.density_matrix"):
        make_bench({"state": {"density_matrix": [[1, 0], [0, 0]]}})
    with pytest.raises(ValueError, match="not Hermitian|negative eigenvalue|trace"):
        make_bench({"state": {"density_matrix": [[0.5, 0.9, 0, 0], [0, 0.5, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]}})


def test_explicit_density_matrix_psi_minus() -> None:
    # |psi-> = (HV - VH)/sqrt 2 gives E = -cos 2(phi_A - phi_B): anti-correlated at equal angles
    rho = np.zeros((4, 4))
    rho[1, 1] = rho[2, 2] = 0.5
    rho[1, 2] = rho[2, 1] = -0.5
    bench = make_bench({"seed": 8, "state": {"density_matrix": rho.tolist()}})
    p = bench.outcome_probabilities(np.array([0.0]))[0]
    assert p[0] + p[3] == pytest.approx(0.0, abs=2e-3)  # extinction ratio 1000 leaks a little
    same = make_bench({"name": "x", "state": {"bell": "psi-"}})
    np.testing.assert_allclose(same.params.rho, bell_psi_minus(0.97, 0.98))


def bell_psi_minus(v: float, c: float) -> np.ndarray:
    rho_c = np.zeros((4, 4))
    rho_c[1, 1] = rho_c[2, 2] = 0.5
    rho_c[1, 2] = rho_c[2, 1] = -0.5 * c
    return v * rho_c + (1 - v) * np.eye(4) / 4
