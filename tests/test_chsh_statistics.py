"""CHSH statistics a referee accepts (docs/chsh.md, "Statistics"): settings in
random orders per block, a drifting bench, a target sigma, the test of local
realism in the report. Statistical checks: 4 standard errors of S."""

from __future__ import annotations

import json
import math

import pytest
from qcodes.dataset import load_by_run_spec
from station_files import default_dict, physics, write

from qnic.cli import main
from qnic.experiments.chsh import CHSHRun
from qnic.station import load_station_config, open_station

DRIFT_DEG_PER_HOUR = 30.0 * 3600  # the state's phase turns 30 degrees per second of bench time


def _drifting_station(tmp_path):
    st = default_dict()
    sim = physics(st)
    sim.update(state={"bell": "phi+", "visibility": 1.0, "coherence": 1.0},
               drift={"state_phase_deg_per_hour": DRIFT_DEG_PER_HOUR})
    for arm in "AB":
        sim[arm]["extinction_ratio"] = 1e7
    return write(tmp_path, st)


def _run(path, blocks: int, order_seed: int) -> tuple[float, float, float]:
    """S corrected, its error, and S of the state averaged over the run's
    acquisition time: with phase(t) = rate t, E(45, +-22.5) = +-cos(phase) / sqrt 2
    and E(0, +-22.5) = 1 / sqrt 2, so S = sqrt 2 (1 + <cos phase>)."""
    config = load_station_config(str(path))
    with open_station(config, seed=4) as st:
        run = CHSHRun(st, 1.0, keep_tags=True, blocks=blocks, order_seed=order_seed)
        run.run()
        result = run.analyze()
        spans = [(d.batch.start_ps / 1e12, d.batch.stop_ps / 1e12) for d in run.settings
                 if d.batch is not None]
    # <cos phase> over the times the tagger acquired (the rotator moves between excluded)
    rate = math.radians(DRIFT_DEG_PER_HOUR / 3600)
    mean_cos = sum(math.sin(rate * b) - math.sin(rate * a) for a, b in spans) \
        / (rate * sum(b - a for a, b in spans))
    assert result.S_corrected is not None and result.S_corrected_err is not None
    return result.S_corrected, result.S_corrected_err, math.sqrt(2) * (1 + mean_cos)


def test_interleaved_random_blocks_keep_s_unbiased_under_drift_a_fixed_pass_does_not(tmp_path):
    path = _drifting_station(tmp_path)
    # order seed 1 gives 00, 01, 10, 11 in one pass: the phase-sensitive
    # settings 10 and 11 both sit in the second half of the run
    s_one, err_one, s_avg_one = _run(path, blocks=1, order_seed=1)
    s_many, err_many, s_avg_many = _run(path, blocks=20, order_seed=1)
    assert abs(s_one - s_avg_one) > 4 * err_one, (s_one, s_avg_one, err_one)
    assert abs(s_many - s_avg_many) < 4 * err_many, (s_many, s_avg_many, err_many)


def test_report_carries_the_order_and_the_test_of_local_realism(tmp_path, capsys):
    assert main(["chsh", "--json", "--seconds", "0.4", "--blocks", "3", "--seed", "2", "--order-seed", "5",
                 "--db", str(tmp_path / "r.db")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["blocks"] == 3 and out["order_seed"] == 5 and len(out["orders"]) == 3
    assert all(sorted(o.split(",")) == ["00", "01", "10", "11"] for o in out["orders"])
    lr = out["local_realism"]
    assert lr["sigmas"] == pytest.approx((out["S"] - 2) / out["S_err"])
    assert lr["log10_p_hoeffding"] < -10 and lr["log10_p_gaussian"] < lr["log10_p_hoeffding"]
    data = load_by_run_spec(captured_run_id=out["run_id"]).get_parameter_data()
    assert sorted(data["block"]["block"].tolist()) == [0] * 4 + [1] * 4 + [2] * 4


def test_target_sigma_plans_the_time(tmp_path, capsys):
    assert main(["chsh", "--json", "--seconds", "2", "--target-sigma", "0.03", "--seed", "3",
                 "--order-seed", "2", "--db", str(tmp_path / "r.db")]) == 0
    out = json.loads(capsys.readouterr().out)
    # reached within its own standard error's scatter (sigma_S ~ 1/sqrt(time))
    assert out["S_err"] < 0.03 * 1.1
    assert 2 <= out["blocks"] <= 20
    # --seconds was the most per setting; what was measured is the planned blocks
    assert out["target_sigma"] == 0.03 and out["seconds_per_setting"] == 2
    assert out["seconds_measured_per_setting"] == pytest.approx(0.2 * out["blocks"])


def test_an_unreachable_target_sigma_is_refused_and_the_first_block_kept(tmp_path, capsys):
    db = tmp_path / "r.db"
    assert main(["chsh", "--seconds", "0.5", "--target-sigma", "0.0005", "--seed", "3",
                 "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert "sigma_S = 0.0005 needs about" in err and "the first block (S = " in err
    run_id = int(err.rsplit("kept in run ", 1)[1].split()[0])
    data = load_by_run_spec(captured_run_id=run_id).get_parameter_data()
    assert len(data["n00"]["n00"]) == 4  # the four settings of the first block


def test_bad_blocks_are_refused(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["chsh", "--blocks", "0"])
    assert exc.value.code == 2
    assert "--blocks" in capsys.readouterr().err
    # --target-sigma plans its own blocks: a --blocks beside it would be ignored
    assert main(["chsh", "--blocks", "4", "--target-sigma", "0.02"]) == 2
    assert "give --blocks or --target-sigma, not both" in capsys.readouterr().err


def test_a_run_below_the_local_bound_says_so(tmp_path, capsys):
    """A phase turning 30 degrees a second washes S out below 2 over many
    blocks: the summary says 'below' (not '-N sigma above') and p = 1."""
    st = default_dict()
    physics(st)["drift"] = {"state_phase_deg_per_hour": 30.0 * 3600}
    path = write(tmp_path, st)
    assert main(["chsh", "--station", str(path), "--seconds", "0.2", "--blocks", "20", "--seed", "4",
                 "--order-seed", "3", "--uncalibrated", "--db", str(tmp_path / "r.db")]) == 0
    text = capsys.readouterr().out
    assert "sigma below the local bound 2" in text
    assert "p <= 1 (Hoeffding bound" in text and "p = 1 (Gaussian)" in text
