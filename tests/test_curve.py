"""`qnic curve`: the correlation fringe and its visibility."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from station_files import physics

from qnic.cli import main
from qnic.station import default_station_path


@pytest.mark.parametrize(("fixed", "basis"), [(0.0, "HV"), (45.0, "DA")])
def test_curve_visibility_matches_the_bench(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                            fixed: float, basis: str) -> None:
    png = tmp_path / "curve.png"
    assert main(["curve", "--json", "--fixed-deg", str(fixed), "--points", "16", "--dwell", "0.4",
                 "--seed", "2", "--out", str(png), "--calibration-dir", str(tmp_path)]) == 0
    out = json.loads(capsys.readouterr().out)
    sim = physics(yaml.safe_load(default_station_path().read_text()))
    v, c = sim["state"]["visibility"], sim["state"]["coherence"]
    contrast = (1 - 2 / (1 + sim["A"]["extinction_ratio"])) * (1 - 2 / (1 + sim["B"]["extinction_ratio"]))
    expected = (v if basis == "HV" else v * c) * contrast
    # 4 reported sigmas, plus the ~1e-3 accidental share the subtraction leaves
    assert abs(out["visibility"] - expected) < 4 * out["visibility_err"] + 1e-3
    # E = V cos 2(phi_A - phi_B): the fringe peaks where A's basis equals B's
    assert abs((out["phase_deg"] - fixed + 90) % 180 - 90) < 4 * out["phase_err_deg"] + 0.05
    assert png.exists() and png.stat().st_size > 1000
    assert len(out["E"]) == 16


def test_too_few_points_rejected() -> None:
    with pytest.raises(SystemExit, match="at least 4"):
        main(["curve", "--points", "2"])
