"""Tomography on the simulated bench and `qnic tomography` (docs/tomography.md).
Statistical checks: fixed seeds, 4 sigma (bootstrap sigmas)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from qcodes.dataset import load_by_run_spec

from qnic.cli import main
from qnic.cli.tomography import tomography_station_path
from qnic.experiments.tomography import TomographyRun, tomography_recorder
from qnic.station import StationError, default_station_path, load_station_config, open_station
from qnic.tomography import concurrence, fidelity

Z = 4.0


def tomography_dict() -> dict:  # type: ignore[type-arg]
    return copy.deepcopy(yaml.safe_load(tomography_station_path().read_text()))


def write(tmp_path: Path, data: dict, name: str = "station.yaml") -> Path:  # type: ignore[type-arg]
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def measured_state(rho: np.ndarray, extinction: dict[str, float]) -> np.ndarray:
    """What ideal analysers behind PBSs of these extinction ratios see: each
    port's leak 1/(1 + ER) acts on its photon as the depolarizing channel
    sigma -> f sigma + (1 - f) Tr(sigma) I/2, f = 1 - 2/(1 + ER) (docs/physics.md)."""
    out = rho.reshape(2, 2, 2, 2)
    for axis_in, axis_out, arm in ((0, 2, "A"), (1, 3, "B")):
        f = 1.0 - 2.0 / (1.0 + extinction[arm])
        traced = np.trace(out, axis1=axis_in, axis2=axis_out)
        mixed = np.einsum("ij,kl->ikjl" if arm == "A" else "ij,kl->kilj", np.eye(2) / 2, traced)
        out = f * out + (1 - f) * mixed
    return out.reshape(4, 4)


@pytest.fixture(scope="module")
def measured() -> tuple[TomographyRun, np.ndarray, dict[str, float]]:
    """One run of 1 s per setting at the embedded station's default rate."""
    config = load_station_config(tomography_station_path())
    with open_station(config, seed=2026) as st:
        run = TomographyRun(st, 1.0)
        run.run()
        rho = st.bench.rho.copy()
        extinction = {a: st.bench.params.arms[a].extinction_ratio for a in "AB"}
    return run, rho, extinction


def test_fidelity_within_a_hundredth_at_one_second_per_setting(
        measured: tuple[TomographyRun, np.ndarray, dict[str, float]]) -> None:
    # the number: 1 s per setting at the default rate, raw counts
    run, rho, _ = measured
    result = run.analyze("phi+", n_bootstrap=20, seed=1)
    assert abs(result.fidelity - fidelity(rho, "phi+")) < 0.01
    assert fidelity(result.rho, rho) > 0.99
    assert len(run.settings) == 9 and all(d.counts.sum() > 5000 for d in run.settings)


def test_reconstruction_matches_the_bench_state_within_its_errors(
        measured: tuple[TomographyRun, np.ndarray, dict[str, float]]) -> None:
    # accidentals subtracted; the PBS leak taken into the expected state: what
    # is left is counting noise, so fidelity and concurrence agree within 4 sigma
    run, rho, extinction = measured
    expected = measured_state(rho, extinction)
    result = run.analyze("phi+", n_bootstrap=40, seed=2, subtract_accidentals=True)
    err = result.errors
    assert abs(result.fidelity - fidelity(expected, "phi+")) < Z * err["fidelity"]
    assert abs(result.concurrence - concurrence(expected)) < Z * err["concurrence"]
    assert 0 < err["fidelity"] < 0.005 and 0 < err["concurrence"] < 0.01


def test_the_jkmw_settings_run_too(tmp_path: Path) -> None:
    config = load_station_config(tomography_station_path())
    with open_station(config, seed=5) as st:
        run = TomographyRun(st, 0.2, "jkmw")
        run.run()
        rho = st.bench.rho.copy()
    assert [d.key for d in run.settings][:4] == ["HH", "HV", "VV", "VH"]
    result = run.analyze("phi+", n_bootstrap=10, seed=3)
    assert abs(result.fidelity - fidelity(rho, "phi+")) < 0.02


def test_a_station_without_qwps_is_refused_by_name() -> None:
    config = load_station_config(default_station_path())
    with open_station(config, seed=1) as st:
        run = TomographyRun(st, 0.1)
        with pytest.raises(StationError, match=r"instruments\.qnic\.init\.A\.qwp_rotator: missing"):
            run.prepare()
        assert run.settings == []


def test_a_bench_without_its_qwp_in_the_beam_is_refused(tmp_path: Path) -> None:
    data = tomography_dict()
    data["instruments"]["sim"]["init"]["B"]["qwp_enabled"] = False
    config = load_station_config(write(tmp_path, data))
    with open_station(config, seed=1) as st, \
            pytest.raises(StationError, match=r"instruments\.sim\.init\.B\.qwp_enabled"):
        TomographyRun(st, 0.1).prepare()


def test_an_interrupted_run_keeps_its_settings() -> None:
    config = load_station_config(tomography_station_path())
    run_ids: list[int] = []
    with open_station(config, seed=3) as st:
        recorder = tomography_recorder(st)

        def stop_at_fourth(key: str, i: int, total: int) -> None:
            if i == 3:
                run_ids.append(recorder.run_id)
                raise KeyboardInterrupt
        run = TomographyRun(st, 0.1, progress=stop_at_fourth)
        with pytest.raises(KeyboardInterrupt), recorder.run():
            run.run(recorder)
    ds = load_by_run_spec(captured_run_id=run_ids[0])
    assert len(ds.get_parameter_data()["n00"]["n00"]) == 3
    assert ds.metadata["outcome"] == "interrupted"


def test_cli_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db, png = tmp_path / "runs.db", tmp_path / "rho.png"
    assert main(["tomography", "--json", "--seconds", "0.3", "--seed", "4", "--bootstrap", "5",
                 "--db", str(db), "--png", str(png)]) == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("rho", "fidelity", "concurrence", "purity", "errors", "chsh", "chsh_max", "run_id"):
        assert key in out
    rho = np.array(out["rho"]["real"]) + 1j * np.array(out["rho"]["imag"])
    assert rho.shape == (4, 4) and np.trace(rho).real == pytest.approx(1.0)
    assert out["errors"]["fidelity"] > 0 and png.stat().st_size > 1000
    assert abs(out["fidelity"] - out["bench_state_fidelity"]) < 0.03
    ds = load_by_run_spec(captured_run_id=out["run_id"])
    assert ds.name == "tomography" and len(ds.get_parameter_data()["n00"]["n00"]) == 9
    # a station without QWPs: exit 2 naming the arm and key; the earlier run is intact
    assert main(["tomography", "--station", str(default_station_path()), "--db", str(db),
                 "--png", str(png)]) == 2
    err = capsys.readouterr().err
    assert "A.qwp_rotator" in err and "missing" in err
    assert len(load_by_run_spec(captured_run_id=out["run_id"]).get_parameter_data()["n00"]["n00"]) == 9
