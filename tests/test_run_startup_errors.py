"""Errors found before a run starts (docs/commands.md, "Before a run starts"):
one line naming what is wrong, exit 2 for a bad file or option, exit 1 for a
device that is not there or does not answer, no run left in the database,
a traceback only with ``--debug``."""

from __future__ import annotations

from pathlib import Path

import pytest
from qcodes.dataset import connect
from station_files import default_dict, write

from qnic.cli import main
from qnic.cli.preflight import BENCH_DAY_S, RunLengthError, check_run_length


def _station(tmp_path: Path, address: str, **init: object) -> Path:
    data = default_dict()
    data["instruments"]["rotator_a"]["address"] = address
    data["instruments"]["rotator_a"]["init"].update(init)
    return write(tmp_path, data)


def _chsh(tmp_path: Path, *argv: str) -> list[str]:
    return ["chsh", "--seconds", "0.05", "--db", str(tmp_path / "runs.db"),
            "--calibration-dir", str(tmp_path / "cal"), *argv]


def _runs(tmp_path: Path) -> list[int]:
    db = tmp_path / "runs.db"
    return [] if not db.exists() else [r[0] for r in connect(str(db)).execute("SELECT run_id FROM runs")]


def _one_line(err: str) -> str:
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


def test_a_db_in_a_missing_folder_is_refused_before_anything_opens(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "missing" / "dir" / "x.db"
    assert main(["chsh", "--seconds", "0.05", "--db", str(missing)]) == 2
    err = _one_line(capsys.readouterr().err)
    assert f"the folder {missing.parent} does not exist" in err
    assert not missing.parent.exists()


def test_an_unknown_address_scheme_is_a_bad_station_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    station = _station(tmp_path, "foo://bench/a")
    assert main(_chsh(tmp_path, "--station", str(station))) == 2
    err = _one_line(capsys.readouterr().err)
    assert "instruments.rotator_a.address: rotator_a (ELL14)" in err
    assert "'foo://bench/a' is no serial port or URL pyserial knows" in err
    assert _runs(tmp_path) == [] and not (tmp_path / "runs.db").exists()


def test_a_port_that_does_not_exist_exits_1_naming_key_instrument_and_port(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    port = str(tmp_path / "ttyUSB9")  # no such device file
    assert main(_chsh(tmp_path, "--station", str(_station(tmp_path, port)))) == 1
    err = _one_line(capsys.readouterr().err)
    assert err == (f"qnic: instruments.rotator_a.address: rotator_a (ELL14) at {port}: "
                   "cannot open the port: No such file or directory\n")
    assert _runs(tmp_path) == []


def test_a_device_that_does_not_answer_exits_1_before_a_run_starts(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # loop:// hands the driver its own bytes back: no reply of the device's
    station = _station(tmp_path, "loop://", timeout_s=0.02)
    assert main(_chsh(tmp_path, "--station", str(station))) == 1
    err = _one_line(capsys.readouterr().err)
    assert err.startswith("qnic: instruments.rotator_a.address: rotator_a (ELL14) at loop://: "
                          "does not answer: rotator_a:")
    assert _runs(tmp_path) == []  # the run was never created: no empty run


def test_debug_shows_the_traceback_of_a_reported_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    station = _station(tmp_path, "foo://bench/a")
    assert main(["--debug", *_chsh(tmp_path, "--station", str(station))]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and err.splitlines()[-1].startswith("qnic: bad station file:")


def test_more_than_a_day_of_bench_time_needs_long(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(_chsh(tmp_path, "--seconds", "1e9")) == 2
    err = _one_line(capsys.readouterr().err)
    assert "--seconds 1e+09 per setting, 4 settings, is 4.63e+04 days of bench time" in err
    assert "give --long" in err
    assert _runs(tmp_path) == []
    check_run_length(BENCH_DAY_S, False, "a day")  # a day is allowed
    check_run_length(1e9, True, "with --long")
    with pytest.raises(RunLengthError):
        check_run_length(BENCH_DAY_S + 1, False, "a day and a second")


def test_an_unfinished_calibration_file_is_a_bad_file_in_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from qnic.calibration.store import CalibrationRecord

    cal = tmp_path / "half.json"
    CalibrationRecord("default", "0" * 16, steps_done=["zeros"]).save(cal)
    assert main(_chsh(tmp_path, "--calibration", str(cal))) == 2
    err = _one_line(capsys.readouterr().err)
    assert f"{cal}: this calibration is unfinished; rerun `qnic calibrate --resume`" in err
    assert _runs(tmp_path) == []


def test_a_side_file_that_is_a_folder_or_an_impossible_window_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(_chsh(tmp_path, "--save-tags", str(tmp_path))) == 2
    assert _one_line(capsys.readouterr().err) == \
        f"qnic: --save-tags {tmp_path}: is a folder; give a file name\n"
    with pytest.raises(SystemExit) as stop:
        main(_chsh(tmp_path, "--window-ps", "1e30"))
    assert stop.value.code == 2
    assert "--window-ps: expected at most 1e+09 ps (1 ms), got '1e30'" in capsys.readouterr().err
    assert _runs(tmp_path) == []


def test_a_setting_without_coincidences_is_one_line_and_its_counts_are_kept(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(_chsh(tmp_path, "--seconds", "1e-9", "--seed", "1")) == 1
    err = _one_line(capsys.readouterr().err)
    assert "no coincidences in this setting, E is undefined; the counts are kept in run 1" in err
    assert _runs(tmp_path) == [1]


def test_a_replayed_tag_file_with_an_impossible_header_is_a_bad_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import numpy as np

    from qnic.instruments.timetaggers.picoquant import write_ptu_records

    tags = tmp_path / "corrupt.ptu"
    write_ptu_records(tags, 0x00010207, np.zeros(2, np.uint32), global_resolution_s=1e-300)
    data = default_dict()
    data["instruments"]["tagger"] = {"type": "qnic.instruments.timetaggers.replay.ReplayTimeTagger",
                                     "address": str(tags)}
    assert main(_chsh(tmp_path, "--station", str(write(tmp_path, data)))) == 2
    err = _one_line(capsys.readouterr().err)
    assert err.startswith(f"qnic: bad tag file: {tags}: MeasDesc_GlobalResolution is 1e-300")
    assert _runs(tmp_path) == []
