"""Seeds of the simulated bench: random by default, printed, and --seed repeats a run."""

from __future__ import annotations

import re

import json
from pathlib import Path

import pytest

from qnic.cli import main


def _chsh(capsys: pytest.CaptureFixture[str], db: Path, *extra: str) -> dict[str, object]:
    assert main(["chsh", "--seconds", "0.05", "--json", "--db", str(db), *extra]) == 0
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def test_runs_draw_their_own_seed_and_the_printed_seed_repeats_a_run(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "runs.db"
    first = _chsh(capsys, db)
    second = _chsh(capsys, db)
    assert isinstance(first["seed"], int) and isinstance(second["seed"], int)
    assert first["seed"] != second["seed"]  # 1 in 2^31 to collide
    # the settings' order is random too: its seed repeats it
    again = _chsh(capsys, db, "--seed", str(first["seed"]), "--order-seed", str(first["order_seed"]))
    assert again["seed"] == first["seed"]
    assert again["counts"] == first["counts"] and again["S"] == first["S"]


def test_the_summary_names_the_seed_and_the_calibration(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["chsh", "--seconds", "0.05", "--db", str(tmp_path / "r.db"), "--seed", "11",
                 "--calibration-dir", str(tmp_path / "cal")]) == 0
    out = capsys.readouterr().out
    assert re.search(r"seed 11 \(qnic chsh --seconds 0\.05 --seed 11 --order-seed \d+ repeats this run\)", out)
    assert "calibration: none, the station file's waveplate zeros and delays" in out


def test_the_other_measuring_commands_report_their_bench_seed(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "r.db")
    assert main(["monitor", "--seconds", "0.05", "--json", "--db", db, "--seed", "5"]) == 0
    assert json.loads(capsys.readouterr().out)["seed"] == 5
    assert main(["curve", "--points", "4", "--dwell", "0.02", "--db", db,
                 "--out", str(tmp_path / "c.png")]) == 0
    out = capsys.readouterr().out
    assert "repeats the bench's randomness" in out and "qnic curve --seed" in out
