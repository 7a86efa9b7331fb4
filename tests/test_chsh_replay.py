"""`qnic chsh --save-tags FILE.ptu` and replaying that file through a station.

The PTU holds acquisition time only (the rotator moves between settings are
cut out, see ``qnic.experiments.chsh.acquisition_time_batches``), so a replay run
with the same seconds per setting reads the same stretch for each setting.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from qnic.cli import main
from qnic.coincidence import OutcomeCounts
from qnic.experiments.chsh import SettingData, acquisition_time_batches
from qnic.instruments.timetaggers.picoquant import PtuFile
from qnic.instruments.timetaggers.protocol import TagBatch
from qnic.station import default_station_path

SECONDS = 0.2


def replay_station(tmp_path: Path, ptu: Path) -> Path:
    """The default station with its tagger replaced by a replay of ``ptu``."""
    st = yaml.safe_load(default_station_path().read_text())
    st["instruments"]["tagger"] = {"type": "qnic.instruments.timetaggers.replay.ReplayTimeTagger",
                                   "address": str(ptu)}
    path = tmp_path / "replay.yaml"
    path.write_text(yaml.safe_dump(st))
    return path


def run_json(args: list[str], capsys: pytest.CaptureFixture[str]) -> dict:
    assert main(["chsh", "--json", "--seconds", str(SECONDS), *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_chsh_recorded_to_ptu_replays_to_the_same_counts_and_s(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ptu = tmp_path / "run.ptu"
    live = run_json(["--seed", "11", "--db", str(tmp_path / "live.db"), "--save-tags", str(ptu)],
                    capsys)
    assert live["raw_tags_file"] == str(ptu.resolve())
    with PtuFile(ptu) as f:
        # the settings in the randomized order they were measured (docs/chsh.md)
        order = f.header.get("UsrCHSH_Settings")
        assert sorted(order.split(",")) == ["00", "01", "10", "11"] and order == live["orders"][0]
        tags = f.read()
    # one file, the four settings back to back: acquisition time only, no rotator moves
    assert len(tags) > 0 and np.all(np.diff(tags.timestamps) >= 0)
    assert tags.timestamps[-1] < round(4 * SECONDS * 1e12)
    assert tags.timestamps[-1] > round(3.9 * SECONDS * 1e12)

    replay = run_json(["--station", str(replay_station(tmp_path, ptu)),
                       "--db", str(tmp_path / "replay.db")], capsys)
    assert replay["counts"] == live["counts"]
    assert replay["S"] == pytest.approx(live["S"], abs=1e-12)
    assert replay["S_corrected"] == pytest.approx(live["S_corrected"], abs=1e-12)
    assert replay["double_clicks"] == live["double_clicks"]


def test_replay_with_other_seconds_per_setting_reads_other_stretches(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ptu = tmp_path / "run.ptu"
    live = run_json(["--seed", "5", "--db", str(tmp_path / "live.db"), "--save-tags", str(ptu)],
                    capsys)
    station = replay_station(tmp_path, ptu)
    assert main(["chsh", "--json", "--seconds", str(SECONDS / 2), "--station", str(station),
                 "--db", str(tmp_path / "half.db")]) == 0
    half = json.loads(capsys.readouterr().out)
    assert half["counts"] != live["counts"]


def test_gaps_between_settings_are_cut_out() -> None:
    def setting(key: str, start_ps: int, stop_ps: int, times: list[int]) -> SettingData:
        batch = TagBatch(np.array(times, dtype=np.int64), np.ones(len(times), dtype=np.int32),
                         start_ps, stop_ps, ((start_ps + 1, start_ps + 2),))
        counts = OutcomeCounts(np.zeros((2, 2), dtype=np.int64), 0, 0, 0, 0, {})
        return SettingData(key, 0.0, 0.0, counts, np.zeros(4), np.zeros(4), 0.0, batch)

    out = acquisition_time_batches([setting("00", 500, 600, [500, 599]),
                                    setting("01", 10_000, 10_050, [10_010]),
                                    setting("10", 20_000, 20_100, [20_000, 20_099])])
    assert [(b.start_ps, b.stop_ps) for b in out] == [(0, 100), (100, 150), (150, 250)]
    assert [b.timestamps.tolist() for b in out] == [[0, 99], [110], [150, 249]]
    assert out[1].overflows == ((101, 102),)
