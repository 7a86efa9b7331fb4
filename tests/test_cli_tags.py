"""``qnic tags info``: JSON per docs/commands.md, a readable summary, exit 2 on bad files."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from qnic.cli import tags
from qnic.cli.common import EXIT_BAD_INPUT, EXIT_OK
from qnic.experiments.chsh import save_tags
from qnic.instruments.timetaggers.picoquant import write_ptu, write_ptu_records
from qnic.instruments.timetaggers.protocol import TagBatch

REAL = Path(__file__).resolve().parents[2] / "shared" / "realdata" / "timetags"


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="qnic")
    tags.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


def sample(tmp_path: Path) -> Path:
    ts = np.array([1_000, 2**25 + 5, 3 * 2**25, 5_000_000_000], dtype=np.int64)
    ch = np.array([1, 2, 2, 4], dtype=np.int32)
    path = tmp_path / "s.ptu"
    write_ptu(path, [TagBatch(ts, ch, 0, 6_000_000_000)], input_channels=(1, 2, 3, 4))
    return path


def test_info_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = sample(tmp_path)
    assert run(["tags", "info", str(path), "--json"]) == EXIT_OK
    captured = capsys.readouterr()
    out = json.loads(captured.out)  # stdout is exactly one JSON object
    assert out["format"] == "ptu"
    # 4 tags, and overflow records for gaps of 1, 2 and 146 wraps (127 + 19)
    assert out["records"] == 4 + 1 + 1 + 2
    assert out["events"] == {"1": 1, "2": 2, "4": 1}
    assert out["first_ps"] == 1_000 and out["last_ps"] == 5_000_000_000
    assert out["overflows"] == 5_000_000_000 // 2**25 == 149
    assert out["record_type"] == "MultiHarp/Generic T2" and out["record_type_code"] == "0x00010207"
    assert out["warnings"] == [] and captured.err == ""


def test_info_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["tags", "info", str(sample(tmp_path))]) == EXIT_OK
    out = capsys.readouterr().out
    assert "PicoQuant PTU, MultiHarp/Generic T2 (0x00010207)" in out
    assert "records     8" in out and "overflows   149" in out
    lines = {line.split()[0]: line.split() for line in out.splitlines()[-3:]}
    assert lines["2"][1] == "2" and lines["4"][1] == "1"


def test_info_of_a_chsh_side_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    batch = TagBatch(np.array([10, 20, 30], np.int64), np.array([1, 3, 3], np.int32), 0, 40)
    path = tmp_path / "run.npz"
    save_tags(path, [SimpleNamespace(key="00", batch=batch)])  # type: ignore[list-item]
    assert run(["tags", "info", str(path), "--json"]) == EXIT_OK
    out = json.loads(capsys.readouterr().out)
    assert out["format"] == "npz" and out["events"] == {"1": 1, "3": 2}
    assert out["records"] == 3 and out["overflows"] == 0 and out["last_ps"] == 30


def test_unknown_record_type_exits_2_naming_the_types(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "odd.ptu"
    write_ptu_records(path, 0x00020207, np.zeros(3, np.uint32), global_resolution_s=1e-12)
    assert run(["tags", "info", str(path), "--json"]) == EXIT_BAD_INPUT
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "unknown TTTR record type 0x00020207" in captured.err
    assert "PicoHarp 300 T2 (0x00010203)" in captured.err


@pytest.mark.parametrize("content, message", [
    (None, "cannot open it"),
    (b"just some text", "unknown time-tag file format"),
    (b"HydraHarp\x00\x00\x00\x00\x00\x00\x002.0" + bytes(40),
     "file ends inside the HydraHarp 2.0 header (text header at byte offset 0)"),
    (b"HydraHarp\x00\x00\x00\x00\x00\x00\x009.0" + bytes(40),
     "HydraHarp file of unknown format version '9.0'"),
])
def test_bad_files_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                          content: bytes | None, message: str) -> None:
    path = tmp_path / "bad.dat"
    if content is not None:
        path.write_bytes(content)
    assert run(["tags", "info", str(path)]) == EXIT_BAD_INPUT
    assert message in capsys.readouterr().err


def test_bad_arguments_are_refused_by_the_parser(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        run(["tags", "info", "x.ptu", "--timestamps-unit", "-1"])
    assert exc.value.code == 2 and "expected a positive number" in capsys.readouterr().err


def test_real_nonconformant_file_warns_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    path = REAL / "jkl_photon_hdf5_min.h5"
    if not path.exists():
        pytest.skip("real data file jkl_photon_hdf5_min.h5 not present")
    assert run(["tags", "info", str(path), "--json"]) == EXIT_OK
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert out["format"] == "photon-hdf5" and out["records"] == 1280
    assert out["events"] == {"0": 727, "1": 553}
    assert len(out["warnings"]) == 2 and "photon_data0" in captured.err
    assert run(["tags", "info", str(path), "--json", "--timestamps-unit", "5e-9"]) == EXIT_OK
    out = json.loads(capsys.readouterr().out)
    assert out["last_ps"] * 1e-12 == pytest.approx(6.54, abs=0.01) and len(out["warnings"]) == 1


def test_real_ptu_info(capsys: pytest.CaptureFixture[str]) -> None:
    path = REAL / "pqsd_picoharp_v30_t2.ptu"
    if not path.exists():
        pytest.skip("real data file pqsd_picoharp_v30_t2.ptu not present")
    assert run(["tags", "info", str(path), "--json", "--chunk-records", "100000"]) == EXIT_OK
    out = json.loads(capsys.readouterr().out)
    assert out["records"] == 929_254 and out["events"] == {"0": 531_477, "1": 388_700}
    assert out["overflows"] == 9077 and out["global_resolution_s"] == 4e-12
    assert out["hardware"] == "PicoHarp 300" and out["header_duration_s"] == 7.652
