"""`qnic lb-sim`: JSON and text reports, output files, bad input exits 2 before any work."""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest

import qnic.experiments.lb_study as study
from qnic.balancing import HERALDING_NOTE
from qnic.cli import lbsim
from qnic.cli.common import EXIT_BAD_INPUT

FAST = ["--steps", "200", "--seeds", "2", "--workers", "1"]


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="qnic")
    sub = parser.add_subparsers(dest="command", required=True)
    lbsim.add_parser(sub)
    args = parser.parse_args(["lb-sim", *argv])
    return int(args.func(args))


def test_json_is_one_object_with_the_contract_keys(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--ratios", "0.9", "1.1,1.2", "--strategies", "random", "quantum-ideal",
                "--json", *FAST]) == 0
    out = json.loads(capsys.readouterr().out)  # stdout is exactly one JSON object
    assert out["ratios"] == [0.9, 1.1, 1.2]
    assert set(out["mean_queue"]) == {"random", "quantum-ideal"}
    assert all(len(v) == 3 for v in out["mean_queue"].values())
    assert set(out["knee"]) == {"random", "quantum-ideal"}
    assert out["heralding"] == HERALDING_NOTE
    assert out["balancers"] == 100 and out["steps"] == 200 and out["seeds"] == 2


def test_text_summary_and_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--ratios", "1.0", "1.2", "--strategies", "separate,dedicated-c",
                "--out", str(tmp_path / "out"), *FAST]) == 0
    text = capsys.readouterr().out
    assert "knee" in text and "dedicated-c" in text and HERALDING_NOTE in text
    assert (tmp_path / "out" / "lb_study.png").exists()
    saved = json.loads((tmp_path / "out" / "lb_study.json").read_text())
    assert saved["strategies"] == ["separate", "dedicated-c"]


def test_visibility_and_chsh_json_add_their_strategies(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    chsh = tmp_path / "chsh.json"
    chsh.write_text(json.dumps({"S": 2.832, "counts": {
        "00": [427, 73, 73, 427], "01": [427, 73, 73, 427], "10": [427, 73, 73, 427],
        "11": [73, 427, 427, 73]}}))
    assert run(["--ratios", "1.0", "--visibility", "0.9", "--chsh-json", str(chsh), "--json",
                *FAST]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"quantum-visibility", "quantum-measured", "random"} <= set(out["mean_queue"])
    assert out["visibility"] == 0.9 and out["chsh"]["S"] == pytest.approx(2.832)


@pytest.mark.parametrize(("argv", "message"), [
    (["--strategies", "random", "telepathy"], "unknown strategies telepathy"),
    (["--ratios", "1.0", "0"], "ratios N/M must be positive"),
    (["--ratios", "-0.5"], "must be positive"),
    (["--ratios", "abc"], "--ratios: expected a number"),
    (["--ratios", "80"], "at least two servers"),
    (["--balancers", "99"], "must be even, got 99"),
    (["--strategies", "random", "--visibility", "0.9"], "--visibility is used only by"),
    (["--strategies", "quantum-visibility"], "needs a visibility"),
    (["--chsh-json", "/nonexistent/chsh.json"], "cannot read CHSH result"),
    (["--service-steps", "1.5"], "whole number of steps"),
    (["--visibility", "2"], "within \\[0, 1\\]"),
    (["--balancers", "100", "99"], "must be even, got 99"),
])
def test_bad_input_exits_2_before_any_work(monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str],
                                           argv: list[str], message: str) -> None:
    def no_work(spec: Any) -> None:
        raise AssertionError("a point was simulated")
    monkeypatch.setattr(study, "simulate_point", no_work)
    assert run([*argv, "--json", *FAST]) == EXIT_BAD_INPUT
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("qnic lb-sim: ")
    assert re.search(message, captured.err), captured.err


def test_server_rule_and_subtypes_reach_the_report(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--ratios", "1.2", "--strategies", "random", "quantum-xor", "--c-subtypes", "2",
                "--server-rule", "same-step", "--json", *FAST]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["server_rule"] == "same-step" and out["workload"]["c_subtypes"] == 2
    assert out["win_rate_predicted"]["quantum-xor"] == pytest.approx(0.875, abs=1e-6)
    assert run(["--ratios", "1.2", "--strategies", "random", "--json", *FAST]) == 0
    assert json.loads(capsys.readouterr().out)["server_rule"] == "c-pairs-first"


def test_several_balancers_and_subtypes_make_a_family(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--balancers", "20", "40", "--c-subtypes", "1", "2", "--ratios", "1.1", "1.3",
                "--strategies", "random", "dedicated-c", "--out", str(tmp_path), "--json",
                *FAST]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["balancers"] == [20, 40] and out["c_subtypes"] == [1, 2]
    assert [(s["balancers"], s["workload"]["c_subtypes"]) for s in out["studies"]] == [
        (20, 1), (40, 1), (20, 2), (40, 2)]
    knees = out["knee_over_balancers"]["random"]["2"]
    assert knees["balancers"] == [20, 40] and len(knees["knee"]) == 2
    assert (tmp_path / "lb_family.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert run(["--balancers", "20", "40", "--ratios", "1.1", "--strategies", "random",
                *FAST]) == 0
    assert "knees against N" in capsys.readouterr().out


def test_scheduler_without_distributed_exits_2(monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)
    for where in (["--scheduler", "tcp://127.0.0.1:8786"], ["--local-cluster", "2"]):
        assert run([*where, "--json", *FAST]) == EXIT_BAD_INPUT
        captured = capsys.readouterr()
        assert captured.out == "" and "'distributed' package" in captured.err


@pytest.mark.parametrize("argv", [["--steps", "0"], ["--seeds", "-1"], ["--balancers", "x"]])
def test_argument_type_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        run(argv)
    assert info.value.code == 2
    assert "positive integer" in capsys.readouterr().err
