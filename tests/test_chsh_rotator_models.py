"""`qnic chsh` gives the same S whatever rotators turn the waveplates (issue 3)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml
from test_cli_chsh import predicted_s

from qnic.cli import main
from qnic.station import default_station_path

MODELS = {
    "k10cr1": ("qnic.instruments.rotators.apt.K10CR1", "sim://k10cr1?bench=default&arm={arm}"),
    "kdc101": ("qnic.instruments.rotators.apt.KDC101", "sim://kdc101?bench=default&arm={arm}"),
    "conex": ("qnic.instruments.rotators.conex.Conex", "sim://conex?bench=default&arm={arm}&model=agp"),
}


@pytest.mark.parametrize("model", sorted(MODELS))
def test_chsh_with_other_rotators(model: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = copy.deepcopy(yaml.safe_load(default_station_path().read_text()))
    type_name, url = MODELS[model]
    for arm in "AB":
        data["instruments"][f"rotator_{arm.lower()}"] = {"type": type_name, "address": url.format(arm=arm)}
    path = tmp_path / "station.yaml"
    path.write_text(yaml.safe_dump(data))
    assert main(["chsh", "--json", "--station", str(path), "--seconds", "1", "--seed", "9",
                 "--db", str(tmp_path / "r.db"), "--calibration-dir", str(tmp_path)]) == 0
    out = json.loads(capsys.readouterr().out)
    # the same S as the ELL14 station predicts, within 4 sigma
    assert abs(out["S"] - predicted_s()) < 4 * out["S_err"], (model, out["S"], predicted_s())
