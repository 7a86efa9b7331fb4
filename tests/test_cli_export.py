"""``qnic export RUN --format netcdf|csv``: QCoDeS's own export of a recorded
run, read back with xarray and numpy; clear errors for what cannot be."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from qnic.cli import main
from qnic.cli.export import FORMATS
from qnic.storage import EXPORT_FORMATS


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


@pytest.fixture
def chsh_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Path, dict[str, Any]]:
    db = tmp_path / "runs.db"
    out = run(capsys, "chsh", "--seconds", "0.05", "--seed", "5", "--db", str(db),
              "--calibration-dir", str(tmp_path))
    return db, out


def test_the_formats_are_qnic_storages() -> None:
    assert FORMATS == tuple(EXPORT_FORMATS)


def test_netcdf_holds_the_run_with_units(chsh_run: tuple[Path, dict[str, Any]], tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    import xarray as xr

    db, chsh = chsh_run
    out = tmp_path / "exports" / "chsh.nc"
    out.parent.mkdir()
    report = run(capsys, "export", str(chsh["run_id"]), "--db", str(db), "--format", "netcdf",
                 "--out", str(out))
    assert report["files"][0]["path"] == str(out) and report["name"] == "chsh"
    ds = xr.load_dataset(out)
    assert ds["n01"].attrs["units"] == "counts" and ds["phi_a_deg"].attrs["units"] == "deg"
    assert ds["singles_a_hz"].attrs["units"] == "Hz" and ds["n01"].dims == ("phi_a_deg", "phi_b_deg")
    cell = ds.sel(phi_a_deg=45.0, phi_b_deg=22.5)
    assert [int(cell[f"n{ab}"]) for ab in ("00", "01", "10", "11")] == chsh["counts"]["10"]
    assert ds.attrs["ds_name"] == "chsh" and float(ds.attrs["S"]) == pytest.approx(chsh["S"])


def test_csv_is_qcodes_table_in_the_reported_column_order(chsh_run: tuple[Path, dict[str, Any]],
                                                          tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    db, chsh = chsh_run
    report = run(capsys, "export", str(chsh["run_id"]), "--db", str(db), "--format", "csv",
                 "--out", str(tmp_path / "chsh.csv"))
    [file] = report["files"]
    names = [c["name"] for c in file["columns"]]
    assert names[:2] == ["phi_a_deg", "phi_b_deg"]
    assert {c["name"]: c["unit"] for c in file["columns"]}["live_s"] == "s"
    table = np.loadtxt(file["path"], delimiter="\t")
    assert table.shape == (4, len(names))
    col = {n: table[:, i] for i, n in enumerate(names)}
    row = np.flatnonzero((col["phi_a_deg"] == 0.0) & (col["phi_b_deg"] == -22.5))[0]
    assert [int(col[f"n{ab}"][row]) for ab in ("00", "01", "10", "11")] == chsh["counts"]["01"]


def test_a_run_of_several_series_is_one_csv_per_series(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "runs.db"
    monitor = run(capsys, "monitor", "--seconds", "0.1", "--db", str(db),
                  "--calibration-dir", str(tmp_path))
    report = run(capsys, "export", str(monitor["run_id"]), "--db", str(db), "--format", "csv",
                 "--out", str(tmp_path / "mon.csv"))
    files = {Path(f["path"]).name: [c["name"] for c in f["columns"]] for f in report["files"]}
    assert files == {"mon_live_s.csv": ["time_s", "live_s"],
                     "mon_singles_hz.csv": ["time_s", "channel", "singles_hz"],
                     "mon_coincidences.csv": ["time_s", "channel_a", "channel_b", "accidentals_hz",
                                              "car", "coincidences", "coincidences_hz"]}
    singles = np.loadtxt(tmp_path / "mon_singles_hz.csv", delimiter="\t", ndmin=2)
    assert dict(zip(singles[:, 1].astype(int).astype(str), singles[:, 2])) == \
        pytest.approx(monitor["singles_hz"])


def test_without_out_qcodes_names_the_file_here(chsh_run: tuple[Path, dict[str, Any]], tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    db, chsh = chsh_run
    monkeypatch.chdir(tmp_path)
    report = run(capsys, "export", str(chsh["run_id"]), "--db", str(db), "--format", "netcdf")
    path = Path(report["files"][0]["path"])
    assert path.parent == tmp_path and path.name.startswith(f"qcodes_{chsh['run_id']}_")
    assert path.suffix == ".nc" and path.is_file()


def error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(["export", *argv]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    return captured.err


def test_errors_name_what_was_wrong(chsh_run: tuple[Path, dict[str, Any]], tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    db, chsh = chsh_run
    assert error(capsys, "7", "--db", str(db), "--format", "csv") == \
        f"qnic export: run 7 is not in {db} (captured run ids there: 1)\n"
    missing = tmp_path / "none.db"
    assert error(capsys, "1", "--db", str(missing), "--format", "csv") == \
        f"qnic export: {missing}: no such database\n"
    assert not missing.exists()  # looked for, never created
    text = tmp_path / "notes.db"
    text.write_text("not a database, just notes\n" * 100)
    assert f"qnic export: {text}: cannot open it as a QCoDeS database" in error(
        capsys, "1", "--db", str(text), "--format", "csv")
    assert "no such folder" in error(capsys, "1", "--db", str(db), "--format", "csv", "--out",
                                     str(tmp_path / "missing" / "x.csv"))
    assert not (tmp_path / "missing").exists()
    assert error(capsys, "1", "--db", str(db), "--format", "csv", "--out", str(tmp_path / "x.txt")) \
        == f"qnic export: {tmp_path / 'x.txt'}: a csv export is written to a .csv file\n"
    with pytest.raises(SystemExit) as exit_info:
        main(["export", "1", "--db", str(db), "--format", "xlsx"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'xlsx' (choose from 'netcdf', 'csv')" in capsys.readouterr().err
