"""Every measuring command records a QCoDeS dataset (docs/storage.md): loaded
back from the database file, its parameters carry names, labels and physical
units, its values hang on their setpoints, and its numbers are the command's
JSON output."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from qcodes.dataset import connect, load_by_run_spec
from station_files import default_dict, write

from qnic.cli import main
from qnic.storage import Quantity, RunRecorder, use_database

CHSH_GAME = {"prob": [[0.25, 0.25], [0.25, 0.25]], "pred": [[0, 0], [0, 1]]}


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def load(db: Path, run_id: int) -> Any:
    """The dataset as anyone would open it: from the file, by its captured run id."""
    return load_by_run_spec(captured_run_id=run_id, conn=connect(str(db)))


def spec(ds: Any, name: str) -> tuple[str, str, list[str]]:
    """(label, unit, setpoints) of a parameter."""
    p = {q.name: q for q in ds.get_parameters()}[name]
    return p.label, p.unit, [s for s in p.depends_on.split(", ") if s]


def data(ds: Any, name: str) -> dict[str, np.ndarray]:
    """A dependent parameter with its setpoints, as flat arrays."""
    return {k: np.asarray(v).ravel() for k, v in ds.get_parameter_data(name)[name].items()}


def fact(ds: Any, key: str) -> Any:
    """A metadata value: numbers and strings as stored, anything else decoded from JSON."""
    value = ds.metadata[key]
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def check_facts(ds: Any, seed: int | None) -> None:
    assert fact(ds, "outcome") == "complete"
    assert fact(ds, "station_file").endswith("default.yaml")
    assert fact(ds, "simulated") is True
    # without --seed the default station (which sets no seed) draws one
    assert fact(ds, "bench_seed") == seed if seed is not None else isinstance(
        fact(ds, "bench_seed"), int)
    assert fact(ds, "seed") == seed
    calibration = fact(ds, "calibration")
    assert calibration["file"] is None and set(calibration) >= {"window_ps", "A", "B"}
    assert isinstance(fact(ds, "arguments"), dict)
    instruments = ds.snapshot["station"]["instruments"]
    assert {"sim", "qnic", "rotator_a", "tagger"} <= set(instruments)
    assert instruments["sim"]["metadata"]["sim"]["bench"] == "default"


def test_chsh_records_angles_counts_and_rates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "runs.db"
    out = run(capsys, "chsh", "--seconds", "0.05", "--seed", "3", "--db", str(db),
              "--calibration-dir", str(tmp_path))
    ds = load(db, out["run_id"])
    assert (ds.exp_name, ds.sample_name, ds.name) == ("qnic-bench", "default", "chsh")
    assert spec(ds, "phi_a_deg") == ("Arm A basis angle (polarizer-equivalent)", "deg", [])
    assert spec(ds, "n01")[1:] == ("counts", ["phi_a_deg", "phi_b_deg"])
    assert spec(ds, "singles_a_hz")[1] == "Hz" and spec(ds, "live_s")[1] == "s"
    assert spec(ds, "E")[1] == "" and spec(ds, "setting_x")[2] == ["phi_a_deg", "phi_b_deg"]
    for key, (phi_a, phi_b) in {"00": (0.0, 22.5), "01": (0.0, -22.5), "11": (45.0, -22.5)}.items():
        rows = {n: data(ds, n) for n in ("n00", "n01", "n10", "n11")}
        at = np.flatnonzero((rows["n00"]["phi_a_deg"] == phi_a) & (rows["n00"]["phi_b_deg"] == phi_b))
        assert at.size == 1
        assert [int(rows[n][n][at[0]]) for n in rows] == out["counts"][key]
    assert fact(ds, "S") == pytest.approx(out["S"])
    check_facts(ds, 3)


def test_calibrate_records_each_steps_measurements(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "runs.db"
    out = run(capsys, "calibrate", "--db", str(db), "--calibration-dir", str(tmp_path / "cal"))
    ds = load(db, out["run_id"])
    assert ds.name == "calibrate" and ds.metadata["calibration_file"] == out["file"]
    assert spec(ds, "dark_count_hz") == ("Dark count rate", "Hz", ["channel"])
    assert spec(ds, "delay_s")[1:] == ("s", ["channel"])
    assert spec(ds, "cross_correlation")[1:] == ("counts", ["channel_a", "channel_b",
                                                            "time_difference_s"])
    assert spec(ds, "zero_contrast_b")[2] == ["motor_angle_b_deg"]
    assert spec(ds, "motor_angle_b_deg")[1] == "deg"
    assert spec(ds, "E")[2] == ["phi_a_deg", "phi_b_deg"]
    dark = data(ds, "dark_count_hz")
    assert dict(zip(dark["channel"].astype(int), dark["dark_count_hz"])) == pytest.approx(
        {int(ch): v for ch, v in out["dark_count_hz"].items()})
    delay = data(ds, "delay_s")
    assert dict(zip(delay["channel"].astype(int), delay["delay_s"] * 1e12)) == pytest.approx(
        {int(ch): v for ch, v in out["delay_ps"].items()})
    curves = data(ds, "E")
    assert set(curves["phi_b_deg"]) == {0.0, 45.0} and curves["phi_a_deg"].max() < 180
    peaks = data(ds, "cross_correlation")
    assert abs(peaks["time_difference_s"]).max() <= 120.01e-9 and peaks["cross_correlation"].sum() > 0
    assert fact(ds, "steps_done")[-1] == "efficiencies"
    check_facts(ds, None)


def test_curve_records_each_point(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "runs.db"
    out = run(capsys, "curve", "--points", "5", "--dwell", "0.05", "--fixed-deg", "45",
              "--out", str(tmp_path / "c.png"), "--db", str(db), "--calibration-dir", str(tmp_path))
    ds = load(db, out["run_id"])
    assert spec(ds, "E") == ("Correlator E (accidentals subtracted)", "", ["phi_a_deg", "phi_b_deg"])
    e = data(ds, "E")
    assert e["phi_a_deg"].tolist() == pytest.approx(out["phi_deg"])
    assert set(e["phi_b_deg"]) == {45.0}
    assert e["E"].tolist() == pytest.approx(out["E"])
    assert data(ds, "E_raw")["E_raw"].tolist() == pytest.approx(out["E_raw"])
    assert fact(ds, "visibility") == pytest.approx(out["visibility"])
    check_facts(ds, None)


def test_monitor_records_a_reading(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "runs.db"
    out = run(capsys, "monitor", "--seconds", "0.1", "--seed", "8", "--db", str(db),
              "--calibration-dir", str(tmp_path))
    ds = load(db, out["run_id"])
    assert spec(ds, "singles_hz") == ("Singles rate", "Hz", ["time_s", "channel"])
    assert spec(ds, "coincidences_hz")[1:] == ("Hz", ["time_s", "channel_a", "channel_b"])
    assert spec(ds, "time_s")[1] == "s" and spec(ds, "car")[1] == ""
    singles = data(ds, "singles_hz")
    assert dict(zip(singles["channel"].astype(int).astype(str), singles["singles_hz"])) == \
        pytest.approx(out["singles_hz"])
    coinc = data(ds, "coincidences_hz")
    keys = [f"{a}-{b}" for a, b in zip(coinc["channel_a"].astype(int), coinc["channel_b"].astype(int))]
    assert dict(zip(keys, coinc["coincidences_hz"])) == pytest.approx(out["coincidences_hz"])
    assert data(ds, "live_s")["live_s"][0] == pytest.approx(out["seconds"])
    check_facts(ds, 8)


def test_demo_records_every_round(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "runs.db"
    out = run(capsys, "demo", "--rounds", "300", "--block", "100", "--db", str(db),
              "--calibration-dir", str(tmp_path))
    ds = load(db, out["run_id"])
    assert spec(ds, "quantum_win") == ("Round won (quantum)", "", ["round"])
    assert spec(ds, "dedicated_c_queue")[1] == "requests"
    assert spec(ds, "herald_wait_s")[1] == "s"
    for strategy, rate in out["win_rate"].items():
        wins = data(ds, f"{strategy.replace('-', '_')}_win")
        assert wins["round"].tolist() == list(range(300))
        assert wins[f"{strategy.replace('-', '_')}_win"].mean() == pytest.approx(rate)
    assert fact(ds, "win_rate") == pytest.approx(out["win_rate"])
    check_facts(ds, None)


def test_demo_net_records_nothing_and_says_so(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--net", "--db", str(tmp_path / "runs.db")]) == 2
    assert "--db: not used with --net" in capsys.readouterr().err
    assert not (tmp_path / "runs.db").exists()


def test_xor_bench_records_each_question_pair(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "runs.db"
    game = tmp_path / "chsh.json"
    game.write_text(json.dumps(CHSH_GAME))
    out = run(capsys, "xor", "--game", str(game), "--bench", "--seconds", "0.05", "--db", str(db))
    bench = out["bench"]
    ds = load(db, bench["run_id"])
    assert ds.name == "xor-bench"
    assert spec(ds, "win_rate") == ("Win rate at the question pair", "", ["phi_a_deg", "phi_b_deg"])
    wins = data(ds, "win_rate")
    questions = data(ds, "question_x")["question_x"].astype(int), \
        data(ds, "question_y")["question_y"].astype(int)
    for i, (x, y) in enumerate(zip(*questions)):
        per = bench["per_question"][f"{x}{y}"]
        assert wins["win_rate"][i] == pytest.approx(per["win"])
        assert [wins["phi_a_deg"][i], wins["phi_b_deg"][i]] == pytest.approx(per["phi_deg"])
    assert fact(ds, "win_rate") == pytest.approx(bench["win_rate"])
    check_facts(ds, None)


def test_a_database_in_a_missing_folder_is_named(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nowhere" / "x.db"
    assert main(["chsh", "--seconds", "0.01", "--db", str(missing)]) == 2
    err = capsys.readouterr().err
    assert f"{missing}: cannot create the QCoDeS database: the folder {missing.parent} does not exist" in err
    assert not missing.parent.exists()


def test_a_file_that_is_not_a_database_is_named(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    notes = tmp_path / "notes.db"
    notes.write_text("lab notes, not a database\n")
    assert main(["chsh", "--seconds", "0.01", "--db", str(notes)]) == 2
    assert f"{notes}: cannot open it as a QCoDeS database: not an SQLite file" in capsys.readouterr().err
    assert notes.read_text() == "lab notes, not a database\n"


def test_an_instrument_that_does_not_open_leaves_no_run(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    data_ = default_dict()
    data_["instruments"]["rotator_a"]["address"] = "sim://ell14?bench=default&arm=A&addr=0&speed=3"
    db = tmp_path / "runs.db"
    assert main(["chsh", "--station", str(write(tmp_path, data_)), "--seconds", "0.01",
                 "--db", str(db), "--calibration-dir", str(tmp_path)]) == 1
    assert "unknown sim://ell14 option(s) ['speed']" in capsys.readouterr().err
    assert list(connect(str(db)).execute("SELECT run_id FROM runs")) == []


def test_a_run_says_how_it_ended(tmp_path: Path) -> None:
    use_database(tmp_path / "runs.db")
    t = Quantity("t_s", "Time", "s")
    recorder = RunRecorder("probe", "bench", None, [t], [Quantity("rate_hz", "Rate", "Hz")])
    with pytest.raises(KeyboardInterrupt), recorder.run():
        recorder.add_metadata("before", 1)  # kept until the first row starts the dataset
        recorder.add_row(t_s=0.5, rate_hz=10.0)
        raise KeyboardInterrupt
    ds = load(tmp_path / "runs.db", 1)
    assert ds.metadata["outcome"] == "interrupted" and ds.metadata["before"] == 1
    assert data(ds, "rate_hz")["rate_hz"].tolist() == [10.0]
    with pytest.raises(ValueError, match=r"row lacks columns \['t_s'\]"), recorder.run():
        recorder.add_row(rate_hz=1.0)
    with pytest.raises(RuntimeError, match="boom"), recorder.run():
        raise RuntimeError("boom")  # before any row: no dataset at all
    assert [r[0] for r in connect(str(tmp_path / "runs.db")).execute("SELECT run_id FROM runs")] == [1]
