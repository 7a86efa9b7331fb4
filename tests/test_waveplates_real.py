"""Waveplates as they are (docs/physics.md section 2, docs/conventions.md):
retardance against wavelength, the station keys, the HWP angle chosen by the
plate's own Jones matrix, and the bench's E at a 20-degree retardance error.
Statistical checks: fixed seeds, 4 sigma."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from station_files import default_dict, physics, wiring, write

from qnic.bases import HWP, Waveplate, analysed_state, hwp_angle_deg, quartz_birefringence
from qnic.experiments.chsh import CHSHRun
from qnic.sim.params import ParamError, bench_params
from qnic.sim.physics.optics import plate_retardance_rad
from qnic.sim.physics.optics import quartz_birefringence as sim_birefringence
from qnic.station import load_station_config, open_station

Z = 4.0
_PAULI_Y = np.array([[0, -1j], [1j, 0]])


def test_quartz_birefringence() -> None:
    # n_e - n_o of crystal quartz: 0.0091 at the sodium D line (589.3 nm;
    # n_o = 1.5443, n_e = 1.5534 in the usual tables, e.g. Hecht, Optics,
    # table 8.1), a little less in the near infrared
    assert quartz_birefringence(589.3) == pytest.approx(0.0091, abs=1e-4)
    assert 0.0087 < quartz_birefringence(810.0) < quartz_birefringence(589.3)
    for nm in (405.0, 633.0, 810.0, 1550.0):
        assert quartz_birefringence(nm) == pytest.approx(sim_birefringence(nm), rel=1e-14)


@pytest.mark.parametrize("order", [0, 3, 12])
@pytest.mark.parametrize("waves", [0.5, 0.25])
def test_retardance_against_wavelength(order: int, waves: float) -> None:
    plate = Waveplate(waves, order, 810.0, 810.0)
    assert plate.is_ideal  # exact at its design wavelength, whatever its order
    for nm in (780.0, 805.0, 830.0):
        p = Waveplate(waves, order, 810.0, nm, retardance_error_deg=1.5)
        assert p.retardance_rad == pytest.approx(plate_retardance_rad(waves, order, 810.0, nm, 1.5))
        # an order-m plate is (m + f)/f zero-order plates of the same material
        zero = Waveplate(waves, 0, 810.0, nm).retardance_rad
        assert p.retardance_rad - math.radians(1.5) == pytest.approx(zero * (order + waves) / waves)


def test_multi_order_plates_are_the_sensitive_ones() -> None:
    # 5 nm away from the design: a zero-order HWP is off by about
    # 180 * 5/810 ~ 1.1 degrees (1.2 with the dispersion), an order-10 one by 21 times that
    zero = Waveplate(0.5, 0, 810.0, 815.0).deviation_deg
    assert -1.3 < zero < -0.9
    assert Waveplate(0.5, 10, 810.0, 815.0).deviation_deg == pytest.approx(21 * zero, rel=1e-9)


def test_station_keys_reach_the_bench() -> None:
    arm = {"hwp_order": 4, "hwp_design_wavelength_nm": 808.0, "hwp_retardance_error_deg": 2.0,
           "qwp_enabled": True, "qwp_design_wavelength_nm": 800.0}
    params = bench_params({"wavelength_nm": 812.0, "A": arm})
    a, b = params.arms["A"], params.arms["B"]
    assert params.wavelength_nm == 812.0
    assert a.hwp_retardance_error_deg == pytest.approx(Waveplate(0.5, 4, 808.0, 812.0, 2.0).deviation_deg)
    assert a.qwp_retardance_error_deg == pytest.approx(Waveplate(0.25, 0, 800.0, 812.0).deviation_deg)
    # the default plates are zero-order, made for 810 nm
    assert b.hwp_retardance_error_deg == pytest.approx(Waveplate(0.5, 0, 810.0, 812.0).deviation_deg)
    # at the default 810 nm the old fixed key alone, as before
    assert bench_params({}).arms["B"].hwp_retardance_error_deg == 0.0
    assert bench_params({"A": {"hwp_retardance_error_deg": 7.0}}).arms["A"].hwp_retardance_error_deg \
        == pytest.approx(7.0)
    with pytest.raises(ParamError, match=r"sim\.A\.hwp_order: expected the plate's order"):
        bench_params({"A": {"hwp_order": 1.5}})
    with pytest.raises(ParamError, match=r"sim\.wavelength_nm"):
        bench_params({"wavelength_nm": 5000})


@pytest.mark.parametrize("zero", [0.0, 3.0, -2.0, 47.5])
def test_ideal_plates_keep_the_old_angles(zero: float) -> None:
    for phi in np.linspace(-180.0, 180.0, 49):
        old = (phi / 2.0) % 90.0 + zero % 90.0
        assert hwp_angle_deg(phi, zero) == old
        assert hwp_angle_deg(phi, zero, HWP) == old


def _s3(psi: np.ndarray) -> float:
    return float(np.real(psi.conj() @ _PAULI_Y @ psi))


@pytest.mark.parametrize("zero", [0.0, 3.0, -2.0])
def test_imperfect_plate_angle_is_its_own_jones_matrix(zero: float) -> None:
    plate = Waveplate(0.5, retardance_error_deg=20.0)
    flips = 0
    for phi in np.linspace(-90.0, 90.0, 25):
        motor = hwp_angle_deg(phi, zero, plate)
        w, want = plate.jones(motor - zero), plate.jones(phi / 2.0)
        assert abs(np.trace(w.conj().T @ want)) / 2 == pytest.approx(1.0, abs=1e-12)
        psi = analysed_state(motor - zero, plate)
        assert np.allclose(abs(np.vdot(psi, analysed_state(phi / 2.0, plate))), 1.0)
        # the folded angle analyses the mirrored ellipse (S3 of opposite sign)
        folded = analysed_state(hwp_angle_deg(phi, zero) - zero, plate)
        if abs(_s3(psi)) > 1e-6 and _s3(folded) * _s3(psi) < 0:
            flips += 1
    assert flips > 0  # the fold mattered for some angles; the choice does not


def _predicted_e(rho: np.ndarray, psi_a: np.ndarray, psi_b: np.ndarray, contrast: float) -> float:
    """E = <(2P_a - 1) (x) (2P_b - 1)> with P the projector on the analysed
    state; a PBS leak scales each arm's observable by 1 - 2/(1 + ER)."""
    obs = [2 * np.outer(p, p.conj()) - np.eye(2) for p in (psi_a, psi_b)]
    return contrast * float(np.real(np.trace(rho @ np.kron(obs[0], obs[1]))))


def test_bench_e_follows_the_plate_where_it_sits(tmp_path: Path) -> None:
    # both HWPs 20 degrees off, the wiring knowing it: at each CHSH setting the
    # measured E is the Jones calculus at the motor angles the bench reports
    data = default_dict()
    for arm in "AB":
        physics(data)[arm]["hwp_retardance_error_deg"] = 20.0
        wiring(data)[arm]["hwp_retardance_error_deg"] = 20.0
    config = load_station_config(write(tmp_path, data))
    plate = Waveplate(0.5, retardance_error_deg=20.0)
    separations = []
    with open_station(config, seed=11) as st:
        bench = st.bench
        run = CHSHRun(st, 2.0)
        run.prepare()
        sim = bench.params.arms
        contrast = float(np.prod([1 - 2 / (1 + sim[a].extinction_ratio) for a in "AB"]))
        for key in ("00", "01", "10", "11"):
            d = run.measure_setting(key)
            now = np.array([bench.clock.now()])
            theta = {a: float(bench.motor(a).angle_at(now)[0]) - sim[a].waveplate_zero_deg for a in "AB"}
            n = d.counts.n.ravel().astype(float)
            e = (n[0] - n[1] - n[2] + n[3]) / n.sum()
            predicted = _predicted_e(bench.rho, analysed_state(theta["A"], plate),
                                     analysed_state(theta["B"], plate), contrast)
            sigma = math.sqrt((1 - predicted**2) / n.sum())
            # accidentals dilute E by C/(C + A) ~ 0.999: 1e-3 of slack
            assert abs(e - predicted) < Z * sigma + 1e-3, (key, e, predicted)
            folded = _predicted_e(bench.rho, analysed_state(theta["A"], plate),
                                  analysed_state(theta["B"] + 90.0, plate), contrast)
            separations.append(abs(folded - predicted) / sigma)
    # the plate's own matrix matters: arm B's plate 90 degrees on (where the
    # old fold put it, its zero being -2) would give another E by many sigmas
    assert max(separations) > 6


def test_ell14_emulator_turns_the_qwp_motor_when_asked() -> None:
    from benches import make_bench

    from qnic.instruments.errors import TransportError
    from qnic.instruments.rotators.elliptec import ELL14

    bench = make_bench({"A": {"qwp_enabled": True}})
    qwp = ELL14("qwp_a", "sim://ell14?bench=default&arm=A&addr=0&plate=qwp", device_id="0")
    qwp.home()
    qwp.move_to(30.0)
    now = np.array([bench.clock.now()])
    assert float(bench.qwp_motor("A").angle_at(now)[0]) == pytest.approx(30.0, abs=0.01)
    assert float(bench.motor("A").angle_at(now)[0]) == 0.0  # the HWP did not move
    with pytest.raises(TransportError, match="plate='hwq': expected hwp or qwp"):
        ELL14("bad", "sim://ell14?bench=default&arm=A&addr=0&plate=hwq", device_id="0").home()
