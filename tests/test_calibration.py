"""`qnic calibrate` recovers the simulated bench's unknowns (issue acceptance).

Tolerances: the issue's (zeros 0.2 deg, delays 30 ps, visibilities 0.01, dark
counts 10 % or 4 sigma) and, for each value, 4 of its own reported sigmas:
the reported uncertainty must be consistent with the error actually made.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from station_files import physics, wiring

from qnic.calibration.store import CalibrationRecord
from qnic.cli import main
from qnic.station import default_station_path

DEFAULT = yaml.safe_load(default_station_path().read_text())


def station(tmp_path: Path, edit: Any = None) -> tuple[Path, dict[str, Any]]:
    data = copy.deepcopy(DEFAULT)
    if edit:
        edit(data)
    path = tmp_path / "station.yaml"
    path.write_text(yaml.safe_dump(data))
    return path, data


def calibrate(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    assert main(["calibrate", "--json", *args]) == 0
    return json.loads(capsys.readouterr().out)


def expected(sim: dict[str, Any]) -> dict[str, Any]:
    """The truth of a sim: section, in the calibration's terms."""
    arms = {a: sim[a] for a in "AB"}
    dets = {a: {int(ch): d for ch, d in arms[a]["detectors"].items()} for a in "AB"}
    ref = next(ch for ch, d in dets["A"].items() if d["outcome"] == 0)
    v, c = sim["state"]["visibility"], sim["state"]["coherence"]
    contrast = math.prod(1 - 2 / (1 + arms[a].get("extinction_ratio", 1000)) for a in "AB")
    return {
        "zero": {a: arms[a]["waveplate_zero_deg"] % 90 for a in "AB"},
        "delay": {ch: d.get("delay_ps", 0) - dets["A"][ref].get("delay_ps", 0)
                  for a in "AB" for ch, d in dets[a].items()},
        # a PBS of finite extinction lowers every fringe by its contrast
        "visibility": {"HV": v * contrast, "DA": v * c * contrast},
        "dark": {ch: d["dark_count_hz"] for a in "AB" for ch, d in dets[a].items()},
    }


def check(report: dict[str, Any], truth: dict[str, Any]) -> None:
    u = report["uncertainties"]
    for arm, z in truth["zero"].items():
        err = (report["waveplate_zero_deg"][arm] - z + 45) % 90 - 45
        assert abs(err) < 0.2 and abs(err) < 4 * u["waveplate_zero_deg"][arm], (arm, err)
    for ch, d in truth["delay"].items():
        err = report["delay_ps"][str(ch)] - d
        assert abs(err) < 30 and abs(err) <= 4 * u["delay_ps"][str(ch)] + 1e-9, (ch, err)
    for basis, v in truth["visibility"].items():
        err = report["visibility"][basis] - v
        # the fringe also loses the accidental share C/(C+A) ~ 1e-3 at these rates
        assert abs(err) < 0.01 and abs(err) < 4 * u["visibility"][basis] + 2e-3, (basis, err)
    for ch, dark in truth["dark"].items():
        err = report["dark_count_hz"][str(ch)] - dark
        assert abs(err) < max(0.1 * dark, 4 * u["dark_count_hz"][str(ch)]), (ch, err)


def test_default_station(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = calibrate(capsys, "--calibration-dir", str(tmp_path / "cal"), "--seed", "1")
    check(report, expected(physics(DEFAULT)))
    # every detector has efficiency 0.65 behind equal transmissions: relative 1
    for ch, r in report["relative_efficiency"].items():
        assert abs(r - 1.0) < 4 * report["uncertainties"]["relative_efficiency"][ch] + 1e-9, (ch, r)
    assert Path(report["file"]).exists()
    assert all(Path(p).exists() and Path(p).suffix == ".png" for p in report["plots"])
    assert CalibrationRecord.load(Path(report["file"])).complete


def unusual(data: dict[str, Any]) -> None:
    sim = physics(data)
    sim["state"].update(visibility=0.75, coherence=0.9)
    sim["A"]["waveplate_zero_deg"] = 137.3
    sim["B"]["waveplate_zero_deg"] = 41.7
    delays = {1: 0, 2: -20_000, 3: -43_000, 4: 48_000}
    darks = {1: 10.0, 2: 4000.0, 3: 5000.0, 4: 600.0}
    for arm in "AB":
        for ch, det in sim[arm]["detectors"].items():
            det.update(delay_ps=delays[int(ch)], dark_count_hz=darks[int(ch)])
    for arm in "AB":  # the station file knows none of it
        wiring(data)[arm].update(waveplate_zero_deg=0.0, delays_ps=[0, 0])


def test_station_with_unusual_unknowns(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, data = station(tmp_path, unusual)
    report = calibrate(capsys, "--station", str(path), "--calibration-dir", str(tmp_path / "cal"))
    check(report, expected(physics(data)))


def offset_zeros(data: dict[str, Any]) -> None:
    physics(data)["A"]["waveplate_zero_deg"] = 10.0
    physics(data)["B"]["waveplate_zero_deg"] = -7.0
    for arm in "AB":
        wiring(data)[arm]["waveplate_zero_deg"] = 0.0


def chsh(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    assert main(["chsh", "--json", "--seconds", "2", "--seed", "4", *args]) == 0
    return json.loads(capsys.readouterr().out)


def predicted_s(sim: dict[str, Any], zeros_used: dict[str, float]) -> float:
    """S at the CHSH motor angles phi/2 + zero_used, analysed at the bench's
    true zeros: E = V (cos 2a cos 2b + c sin 2a sin 2b) x PBS contrast."""
    v, c = sim["state"]["visibility"], sim["state"]["coherence"]
    contrast = math.prod(1 - 2 / (1 + sim[a]["extinction_ratio"]) for a in "AB")
    s = 0.0
    for key, sign in (("00", 1), ("01", 1), ("10", 1), ("11", -1)):
        phi = {"A": (0.0, 45.0)[int(key[0])], "B": (22.5, -22.5)[int(key[1])]}
        actual = {a: math.radians(2 * 2 * (phi[a] / 2 + zeros_used[a] - sim[a]["waveplate_zero_deg"]))
                  for a in "AB"}
        e = v * (math.cos(actual["A"]) * math.cos(actual["B"])
                 + c * math.sin(actual["A"]) * math.sin(actual["B"]))
        s += sign * e * contrast
    return s


def test_chsh_with_and_without_calibration(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, data = station(tmp_path, offset_zeros)
    sim = physics(data)
    cal_dir = str(tmp_path / "cal")
    raw = chsh(capsys, "--station", str(path), "--calibration-dir", cal_dir)
    assert raw["calibration"]["file"] is None  # nothing calibrated yet
    without = predicted_s(sim, {"A": 0.0, "B": 0.0})
    assert abs(raw["S_corrected"] - without) < 4 * raw["S_corrected_err"], (raw["S_corrected"], without)
    calibrate(capsys, "--station", str(path), "--calibration-dir", cal_dir)
    cal = chsh(capsys, "--station", str(path), "--calibration-dir", cal_dir)
    ideal = predicted_s(sim, {"A": sim["A"]["waveplate_zero_deg"], "B": sim["B"]["waveplate_zero_deg"]})
    assert cal["calibration"]["file"] is not None
    assert abs(cal["S_corrected"] - ideal) < 4 * cal["S_corrected_err"], (cal["S_corrected"], ideal)
    assert cal["S"] - raw["S"] > 8 * raw["S_err"]  # calibration visibly helps


def test_failed_step_keeps_earlier_steps_and_resume_finishes(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, _ = station(tmp_path)
    cal_dir = tmp_path / "cal"
    import qnic.calibration.runner as runner

    original = dict(runner.STEPS)

    def broken(ctx: Any) -> Any:
        from qnic.calibration.errors import CalibrationError
        raise CalibrationError("visibility", "a simulated failure", "nothing")

    runner.STEPS[:] = [(n, broken if n == "visibility" else f) for n, f in runner.STEPS]
    try:
        assert main(["calibrate", "--json", "--station", str(path), "--calibration-dir", str(cal_dir)]) == 1
    finally:
        runner.STEPS[:] = list(original.items())
    err = capsys.readouterr().err
    assert "a simulated failure" in err and "--resume" in err
    partial_file = next((cal_dir / "default").glob("calibration-*.json"))
    partial = CalibrationRecord.load(partial_file)
    assert partial.steps_done == ["home", "dark_counts", "delays", "waveplate_zeros"]
    assert not partial.complete and "visibility" not in partial.values
    report = calibrate(capsys, "--station", str(path), "--calibration-dir", str(cal_dir), "--resume")
    assert report["file"] == str(partial_file)
    assert report["waveplate_zero_deg"]["A"] == partial.value("waveplate_zero_deg", "A")
    assert set(report["visibility"]) == {"HV", "DA"}


def test_no_coincidence_peak_stops_with_a_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, _ = station(tmp_path, lambda d: physics(d).update(pair_rate_hz=0.0))
    cal_dir = tmp_path / "cal"
    assert main(["calibrate", "--station", str(path), "--calibration-dir", str(cal_dir)]) == 1
    err = capsys.readouterr().err
    assert "calibration step 'delays' stopped" in err and "coincidence peak" in err
    record = CalibrationRecord.load(next((cal_dir / "default").glob("calibration-*.json")))
    assert record.steps_done == ["home", "dark_counts"] and "delay_ps" not in record.values


def test_old_schema_is_refused_with_how_to_migrate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"schema_version": 0, "bench": "default", "values": {}}))
    assert main(["chsh", "--calibration", str(old), "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "schema version 0" in captured.err and "qnic calibrate" in captured.err


def test_show_lists_the_history(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cal_dir = tmp_path / "cal"
    rec = CalibrationRecord(bench="default", station_hash="x", complete=True)
    rec.save(cal_dir / "default" / "calibration-20260101T000000000000Z.json")
    assert main(["calibrate", "--show", "--json", "--calibration-dir", str(cal_dir)]) == 0
    history = json.loads(capsys.readouterr().out)["history"]
    assert len(history) == 1 and history[0]["complete"] is True
