"""`qnic chsh` end to end on the embedded simulated bench."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from station_files import physics, wiring
from qcodes.dataset import load_by_run_spec

from qnic.cli import main
from qnic.station import default_station_path


def predicted_s() -> float:
    """S the default station's bench parameters predict (docs/physics.md):
    sqrt 2 V (1 + c), times each PBS's contrast 1 - 2/(1 + ER), times C/(C + A)."""
    st = yaml.safe_load(default_station_path().read_text())
    sim, window = physics(st), wiring(st)["window_ps"]
    v, c = sim["state"]["visibility"], sim["state"]["coherence"]
    contrast = np.prod([1 - 2 / (1 + sim[a]["extinction_ratio"]) for a in "AB"])
    eta = {a: sim[a]["transmission"] * np.mean([d["efficiency"] for d in sim[a]["detectors"].values()])
           for a in "AB"}
    coinc = sim["pair_rate_hz"] * eta["A"] * eta["B"]
    singles = {ch: sim["pair_rate_hz"] * eta[a] * 0.5 + d["dark_count_hz"]
               for a in "AB" for ch, d in sim[a]["detectors"].items()}
    acc = sum(singles[i] * singles[j] * 2 * window * 1e-12
              for i in sim["A"]["detectors"] for j in sim["B"]["detectors"])
    return math.sqrt(2) * v * (1 + c) * contrast * coinc / (coinc + acc)


def test_chsh_json_on_default_station(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "runs.db"
    assert main(["chsh", "--json", "--seconds", "1", "--seed", "7", "--db", str(db)]) == 0
    out = json.loads(capsys.readouterr().out)  # stdout is one JSON object
    for key in ("S", "S_err", "E", "counts", "window_ps", "seconds_per_setting", "run_id"):
        assert key in out
    assert set(out["E"]) == set(out["counts"]) == {"00", "01", "10", "11"}
    assert all(len(v) == 4 for v in out["counts"].values())
    assert abs(out["S"] - predicted_s()) < 4 * out["S_err"], (out["S"], predicted_s())
    # the dataset holds the counts of every setting
    ds = load_by_run_spec(captured_run_id=out["run_id"])
    data = ds.get_parameter_data()
    # settings are the questions recorded beside the bases they set (docs/storage.md)
    questions = zip(data["setting_x"]["setting_x"], data["setting_y"]["setting_y"])
    rows = {(int(x), int(y)): i for i, (x, y) in enumerate(questions)}
    assert data["n00"]["phi_b_deg"][rows[(0, 1)]] == -22.5
    assert len(rows) == 4
    for key, counts in out["counts"].items():
        i = rows[(int(key[0]), int(key[1]))]
        assert [int(data[f"n{ab}"][f"n{ab}"][i]) for ab in ("00", "01", "10", "11")] == counts
    assert float(ds.metadata["S"]) == pytest.approx(out["S"])
    assert "rotator_a" in ds.snapshot_raw  # the station snapshot is stored


def test_chsh_summary_and_side_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tags = tmp_path / "tags.npz"
    assert main(["chsh", "--seconds", "0.2", "--db", str(tmp_path / "r.db"),
                 "--save-tags", str(tags)]) == 0
    text = capsys.readouterr().out
    assert "S = " in text and "sigma above the local bound 2" in text and "n00" in text
    with np.load(tags) as f:
        assert {"timestamps_ps_00", "channels_11"} <= set(f.files)
        assert np.all(np.diff(f["timestamps_ps_01"]) >= 0)


def test_same_seed_same_result(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    outs = []
    for i in range(2):
        main(["chsh", "--json", "--seconds", "0.1", "--seed", "3", "--order-seed", "9",
              "--db", str(tmp_path / f"{i}.db")])
        outs.append(json.loads(capsys.readouterr().out))
    assert outs[0]["counts"] == outs[1]["counts"]
    assert outs[0]["orders"] == outs[1]["orders"] and outs[0]["order_seed"] == 9


def test_bad_station_exits_2_naming_file_and_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    st = yaml.safe_load(default_station_path().read_text())
    del wiring(st)["A"]
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(st))
    assert main(["chsh", "--station", str(path), "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert str(path) in captured.err and "instruments.qnic.init.A" in captured.err


def test_bad_arguments_are_rejected(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["chsh", "--seconds", "-1"])
    assert exit_info.value.code == 2
    assert "positive number" in capsys.readouterr().err


def test_installed_command_prints_only_json(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "qnic.cli", "chsh", "--json", "--seconds", "0.2", "--db",
         str(tmp_path / "x.db")], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["S"] > 2


def test_qcodes_chatter_stays_off_the_terminal_unless_verbose(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    db = str(tmp_path / "runs.db")
    assert main(["chsh", "--seconds", "0.05", "--seed", "1", "--db", db]) == 0
    quiet = capsys.readouterr()
    assert "Starting experimental run" not in quiet.out + quiet.err
    assert "S = " in quiet.out
    with caplog.at_level("INFO", logger="qnic.storage"):
        assert main(["--verbose", "chsh", "--seconds", "0.05", "--seed", "1", "--db", db]) == 0
    assert any("Starting experimental run with id: 2" in r.getMessage() for r in caplog.records)


def test_json_has_no_nan_or_infinity() -> None:
    """JSON has no NaN or Infinity: non-finite values go out as null."""
    from qnic.cli.common import json_safe

    out = json.dumps(json_safe({"a": math.inf, "b": [1.0, math.nan, {"c": -math.inf}], "d": 2}))
    assert out == '{"a": null, "b": [1.0, null, {"c": null}], "d": 2}'
