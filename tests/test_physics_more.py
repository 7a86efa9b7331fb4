"""More of docs/physics.md: moving plates, QWP, Bell states and phases, background,
saturation, tagger resolution. Statistical checks: fixed seeds, 4 sigma."""

from __future__ import annotations

import math

import numpy as np
import pytest
from benches import ideal_detectors, make_bench

from qnic.coincidence import outcome_counts
from qnic.sim.tagger import SimulatedTimeTagger

Z = 4.0
IDEAL_ARM = {"transmission": 1.0, "extinction_ratio": float("inf")}


def test_correlator_follows_the_plate_while_it_moves() -> None:
    # a slow motor (20 deg/s) turns arm A's HWP from 0 to 45 deg (phi 0 -> 90)
    # while arm B stays at H; with V = c = 1, E(t) = cos 4 theta(t)
    arm = {**IDEAL_ARM, "rotator_speed_dps": 20.0, "rotator_accel_dps2": 200.0}
    bench = make_bench({"seed": 21, "pair_rate_hz": 2e5, "state": {"visibility": 1.0, "coherence": 1.0},
                        "A": {**arm, "detectors": ideal_detectors("A")},
                        "B": {**arm, "detectors": ideal_detectors("B")}})
    tagger = SimulatedTimeTagger("tg", bench="default")
    motor = bench.motor("A")
    t_end = motor.move(bench.clock.now(), 45.0)
    checked = 0
    for batch in tagger.stream(t_end - bench.clock.now(), 0.1):
        n = outcome_counts(batch.timestamps, batch.channels, (1, 2), (3, 4), 500).n.ravel()
        e = (n[0] - n[1] - n[2] + n[3]) / n.sum()
        grid = np.linspace(batch.start_ps, batch.stop_ps, 201) * 1e-12
        predicted = float(np.mean(np.cos(np.deg2rad(4 * motor.angle_at(grid)))))
        sigma = math.sqrt(max(1 - predicted**2, 1e-4) / n.sum())
        assert abs(e - predicted) < Z * sigma + 1e-3, (batch.start_ps, e, predicted)
        checked += 1
    assert checked >= 20


def test_quarter_wave_plates_analyse_circular_polarization() -> None:
    # QWP at 45 deg then HWP at 0: each PBS port is a circular polarization;
    # |Phi+> has <sigma_y sigma_y> = -1, so the outcomes are anti-correlated
    arm = {**IDEAL_ARM, "qwp_enabled": True}
    bench = make_bench({"seed": 22, "state": {"visibility": 1.0, "coherence": 1.0},
                        "A": {**arm, "detectors": ideal_detectors("A")},
                        "B": {**arm, "detectors": ideal_detectors("B")}})
    for name in ("A", "B"):
        bench.qwp_motor(name).set_angle(45.0, 0.0)
    p = bench.outcome_probabilities(np.array([0.0]))[0]
    assert p[1] + p[2] == pytest.approx(1.0)
    # linear analysis with the QWP along H is unchanged: E(H, H) = +1
    for name in ("A", "B"):
        bench.qwp_motor(name).set_angle(0.0, 0.0)
    p = bench.outcome_probabilities(np.array([0.0]))[0]
    assert p[0] + p[3] == pytest.approx(1.0)


@pytest.mark.parametrize(("bell", "phase", "sign_hv", "sign_da"), [
    ("phi+", 0.0, 1, 1), ("phi-", 0.0, 1, -1), ("psi+", 0.0, -1, 1), ("psi-", 0.0, -1, -1),
    ("phi+", 180.0, 1, -1), ("phi+", 90.0, 1, 0)])
def test_bell_states_and_phases(bell: str, phase: float, sign_hv: int, sign_da: int) -> None:
    # E(H/V) = <ZZ>, E(D/A) = <XX>: Phi+ (+1, +1), Phi- (+1, -1), Psi+ (-1, +1),
    # Psi- (-1, -1); a relative phase varphi gives <XX> = cos varphi
    bench = make_bench({"state": {"bell": bell, "phase_deg": phase, "visibility": 1.0, "coherence": 1.0},
                        "A": IDEAL_ARM, "B": IDEAL_ARM})
    for angle, sign in ((0.0, sign_hv), (22.5, sign_da)):  # HWP 22.5 deg analyses D/A
        for m in ("A", "B"):
            bench.motor(m).set_angle(angle, 0.0)
        p = bench.outcome_probabilities(np.array([0.0]))[0]
        assert p[0] - p[1] - p[2] + p[3] == pytest.approx(sign, abs=1e-12)


def test_hwp_retardance_error_lowers_the_da_contrast() -> None:
    # on the Poincare sphere a plate of retardance r at 22.5 deg rotates H =
    # (1, 0, 0) by r about (1, 1, 0)/sqrt 2, to ((1 + cos r)/2, (1 - cos r)/2,
    # -sin r / sqrt 2): D for r = pi. Arm B analyses D exactly, and for Phi+
    # E = a1 b1 + a2 b2 - a3 b3, so E = (1 - cos r)/2 with r = pi + delta
    delta = np.deg2rad(10.0)
    bench = make_bench({"state": {"visibility": 1.0, "coherence": 1.0},
                        "A": {**IDEAL_ARM, "hwp_retardance_error_deg": 10.0}, "B": IDEAL_ARM})
    for m in ("A", "B"):
        bench.motor(m).set_angle(22.5, 0.0)
    p = bench.outcome_probabilities(np.array([0.0]))[0]
    e = p[0] - p[1] - p[2] + p[3]
    expected = (1 - math.cos(math.pi + delta)) / 2
    assert e == pytest.approx(expected, abs=1e-12)
    assert e < 1.0


def test_background_light_adds_to_the_singles() -> None:
    bench = make_bench({"seed": 23, "pair_rate_hz": 0.0, "A": {"detectors": ideal_detectors(
        "A", dark_count_hz=500.0, background_hz=4500.0)}})
    counts = {ch: t.size for ch, t in bench.detect(0.0, 1.0).items()}
    assert abs(counts[1] - 5000) < Z * math.sqrt(5000)


def test_saturated_detector_latches() -> None:
    bench = make_bench({"seed": 24, "pair_rate_hz": 0.0, "A": {"detectors": ideal_detectors(
        "A", dark_count_hz=2e6, saturation_hz=1e6)}})
    counts = {ch: t.size for ch, t in bench.detect(0.0, 0.05).items()}
    assert counts[1] == 0 and counts[2] == 0


def test_tagger_resolution_quantizes_timestamps() -> None:
    make_bench({"seed": 25, "tagger": {"resolution_ps": 81}})
    batch = SimulatedTimeTagger("tg", bench="default").acquire(0.02)
    assert batch.timestamps.size > 0
    assert np.all(batch.timestamps % 81 == 0)
