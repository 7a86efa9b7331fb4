"""`qnic monitor --seconds N --json` and the bounded rate history."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import yaml
from station_files import physics
from scipy.special import erf

from qnic.cli import main
from qnic.experiments.monitor import RateHistory
from qnic.station import default_station_path


def test_monitor_json_rates_match_the_bench(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seconds = 2.0
    assert main(["monitor", "--seconds", str(seconds), "--json", "--seed", "5",
                 "--calibration-dir", str(tmp_path)]) == 0
    out = json.loads(capsys.readouterr().out)
    sim = physics(yaml.safe_load(default_station_path().read_text()))
    eta = {a: sim[a]["transmission"] * 0.65 for a in "AB"}
    # singles: pair_rate x transmission x efficiency x 1/2 + dark (dead-time
    # loss r tau = 7e-4 is below a tenth of the 4-sigma tolerance); Poisson
    for arm in "AB":
        for ch, det in sim[arm]["detectors"].items():
            expected = (sim["pair_rate_hz"] * eta[arm] * 0.5 + det["dark_count_hz"]) * seconds
            assert abs(out["singles_hz"][str(ch)] * seconds - expected) < 4 * math.sqrt(expected)
    # coincidences over the four pairs: pair_rate eta_A eta_B times the share of
    # the Gaussian time difference (RMS sqrt(2) 350 ps) inside the window, plus
    # the accidentals; Poisson, 4 sigma
    sigma_dt = math.sqrt(2 * (350.0**2 + 8.0**2))
    inside = erf(out["window_ps"] / (sigma_dt * math.sqrt(2)))
    expected = (sim["pair_rate_hz"] * eta["A"] * eta["B"] * inside
                + sum(out["accidentals_hz"].values())) * seconds
    measured = sum(out["coincidences_hz"].values()) * seconds
    assert abs(measured - expected) < 4 * math.sqrt(expected), (measured, expected)
    assert all(v > 10 for k, v in out["car"].items())


def test_history_stays_bounded_newest_at_full_resolution() -> None:
    h = RateHistory(capacity=8)
    values = np.arange(1000, dtype=float)
    for i, v in enumerate(values):
        h.add(float(i), v)
    assert len(h.values) <= 8
    assert h.values[-1] == 999.0  # the newest point at full resolution
    assert h.times == sorted(h.times)
    assert len(h.sparkline(5)) == 5
    with pytest.raises(ValueError):
        RateHistory(capacity=5)


def test_json_needs_seconds() -> None:
    with pytest.raises(SystemExit):
        main(["monitor", "--json"])


def test_sparkline_keeps_a_fixed_baseline_so_noise_stays_small() -> None:
    h = RateHistory(capacity=8)
    for v in (1000.0, 1010.0, 990.0, 1005.0):
        h.add(0.0, v)
    # counting noise of 1 % leaves every bar near full height
    assert set(h.sparkline()) <= {"▇", "█"}
    h.add(0.0, 500.0)
    assert h.sparkline()[-1] in "▄▅"  # a real drop to half shows as half
    z = RateHistory(capacity=4)
    z.add(0.0, 0.0)
    z.add(0.0, 0.0)
    assert z.sparkline() == "▁▁"
