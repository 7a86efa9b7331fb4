"""`qnic lb-ghz`: JSON report, output files, and bad input exits 2 naming the option."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from qnic.balancing.groups import SIMULATED_NOTE
from qnic.cli import lbghz
from qnic.cli.common import EXIT_BAD_INPUT

FAST = ["--steps", "300", "--seeds", "2", "--ratios", "1.0", "1.2"]


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="qnic")
    sub = parser.add_subparsers(dest="command", required=True)
    lbghz.add_parser(sub)
    args = parser.parse_args(["lb-ghz", *argv])
    return int(args.func(args))


def test_json_is_one_object_with_game_values_win_rates_and_knees(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--group-size", "3", "--balancers", "30", "--json", *FAST]) == 0
    out = json.loads(capsys.readouterr().out)  # stdout is exactly one JSON object
    assert out["group_size"] == 3 and out["groups"] == 10
    assert out["game"]["classical_value"] == pytest.approx(0.75)
    assert out["game"]["quantum_value"] == pytest.approx(1.0)
    assert set(out["mean_queue"]) == set(out["knee"]) == {"random", "coin", "classical", "ghz"}
    assert all(len(v) == 2 for v in out["mean_queue"].values())
    assert out["win_rate"]["random"] is None
    assert out["win_rate"]["ghz"] == 1.0 and out["rounds"]["ghz"] == 10 * 300 * 2  # one load's rounds
    low, high = out["win_rate_ci"]["classical"]
    assert low < 0.75 < high
    assert out["simulated"] == SIMULATED_NOTE


def test_text_and_files_say_the_statistics_are_simulated(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--group-size", "4", "--balancers", "40", "--strategies", "coin,ghz",
                "--visibility", "0.9", "--out", str(tmp_path / "o"), *FAST]) == 0
    text = capsys.readouterr().out
    assert "simulated" in text and "not measured on the bench" in text and "knee" in text
    assert (tmp_path / "o" / "lb_groups.png").stat().st_size > 0
    saved = json.loads((tmp_path / "o" / "lb_groups.json").read_text())
    assert saved["strategies"] == ["coin", "ghz"] and saved["visibility"] == 0.9
    assert saved["win_rate_predicted"]["ghz"] == pytest.approx(0.95)


@pytest.mark.parametrize("argv, option", [
    (["--group-size", "2"], "--group-size"),
    (["--balancers", "100"], "--balancers"),
    (["--group-size", "4", "--balancers", "30"], "--group-size"),
    (["--visibility", "1.5"], "--visibility"),
    (["--strategies", "quantum"], "unknown strategy"),
    (["--ratios", "100"], "fewer than two servers"),
])
def test_bad_input_exits_2_naming_the_option(argv: list[str], option: str,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert run([*argv, "--steps", "10"]) == EXIT_BAD_INPUT
    captured = capsys.readouterr()
    assert option in captured.err and captured.out == ""
