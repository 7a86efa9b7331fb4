"""`qnic demo` on the embedded simulated bench: win rates, accounting, memories, failures."""

from __future__ import annotations

import argparse
import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_cli_chsh import predicted_s

from qnic.cli import demo as demo_cli
from qnic.cli import demo_run
from qnic.experiments.demo import DemoConfig, DemoRun
from qnic.experiments.demo_view import dashboard, demo_report, wilson_interval
from qnic.station import load_station_config, open_station


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="qnic")
    demo_cli.add_parser(p.add_subparsers(dest="command", required=True))
    return p


def run_demo(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    args = parser().parse_args(["demo", *argv])
    code = int(args.func(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def json_demo(argv: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    code, out, err = run_demo([*argv, "--json"], capsys)
    assert code == 0, err
    report: dict[str, Any] = json.loads(out)  # stdout is one JSON object
    return report


def binomial_sigma(p: float, n: int) -> float:
    return math.sqrt(p * (1 - p) / n)


def test_quantum_beats_classical_at_the_predicted_rate(capsys: pytest.CaptureFixture[str]) -> None:
    """2000 rounds: quantum within 4 binomial sigma of 1/2 + S/8 (S the station predicts),
    classical within 4 binomial sigma of 0.75."""
    r = json_demo(["--rounds", "2000"], capsys)  # exactly `qnic demo --rounds 2000 --json`
    assert r["rounds"] == 2000
    for key in ("win_rate", "win_rate_ci", "predicted_quantum", "queues", "latency_us", "timing",
                "heralding"):
        assert key in r
    s = predicted_s()
    p_q = 0.5 + s / 8
    assert r["predicted_quantum"]["S"] == pytest.approx(s, rel=1e-6)
    assert r["predicted_quantum"]["source"] == "bench prediction"
    assert abs(r["win_rate"]["quantum"] - p_q) < 4 * binomial_sigma(p_q, 2000), (r["win_rate"], p_q)
    for name in ("dedicated-c", "separate"):
        assert abs(r["win_rate"][name] - 0.75) < 4 * binomial_sigma(0.75, 2000), r["win_rate"]
    lo, hi = r["win_rate_ci"]["quantum"]
    assert lo < r["win_rate"]["quantum"] < hi and lo > 0.75  # the advantage is resolved
    # every round consumed one heralded pair; the S of those pairs agrees with the prediction
    assert r["pairs"]["consumed"] == 2000 <= r["pairs"]["heralded"]
    assert abs(r["S_measured"] - s) < 0.25
    assert sum(r["questions"].values()) == 2000 and min(r["questions"].values()) > 400
    # time: moving waveplates (bench time) dwarfs deciding (wall time)
    t = r["timing"]
    assert t["waveplate_moves"] >= 4 and t["moving_s"] > 100 * t["deciding_s"] > 0
    # latency: without memories each request waits for the next heralded pair
    lat = r["latency_us"]
    assert lat["rtt_us"] == 50
    assert lat["quantum"]["p50"] <= lat["quantum"]["p90"] <= lat["quantum"]["p99"]
    mean_gap_us = 1e6 / r["pairs"]["herald_rate_hz"]
    assert lat["herald_wait"]["mean"] == pytest.approx(mean_gap_us, rel=0.15)
    assert 0 < lat["fraction_within_rtt"] < 1
    assert lat["decision_only"]["quantum"]["p50"] < 50
    assert set(r["queues"]) == {"quantum", "dedicated-c", "separate"}
    assert all(len(q["final"]) == 2 for q in r["queues"].values())
    assert "heralded" in r["heralding"]


def test_rounds_follow_the_trace_in_order(tmp_path: Path) -> None:
    """Per-round accounting: the first half is all C,C and the second all E,E."""
    from qnic.experiments.demo import Trace

    half = 150
    x = np.array([1] * half + [0] * half, np.int8)
    trace = Trace(x, x.copy(), "halves")
    with open_station(load_station_config(None), seed=4) as st:
        run = DemoRun(st, DemoConfig(block_rounds=100).validate(), trace)
        run.prepare()
        run.run()
        rec = run.record()
    ded, sep = rec.tracks["dedicated-c"].wins, rec.tracks["separate"].wins
    assert ded[:half].all() and not ded[half:].any()  # loses only when both are E
    assert not sep[:half].any() and sep[half:].all()  # loses only when both are C
    quantum = rec.tracks["quantum"].wins
    same_bits = rec.raw_a == rec.raw_b  # B flips: equal bits -> different servers
    assert np.array_equal(quantum[:half], ~same_bits[:half])
    assert np.array_equal(quantum[half:], same_bits[half:])
    # the pairs were measured in the round's bases: E(1,1) < 0 < E(0,0)
    sign = np.where(same_bits, 1.0, -1.0)
    assert sign[:half].mean() < -0.4 and sign[half:].mean() > 0.4
    # separate never shares a server, so with one-round service nothing ever waits
    assert not rec.tracks["separate"].queue_total.any()
    report = demo_report(rec, "test")
    assert report["questions"] == {"00": half, "01": 0, "10": 0, "11": half}
    assert report["win_rate_predicted"]["dedicated-c"] == 0.5


def test_trace_file_sets_the_rounds(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trace = tmp_path / "requests.csv"
    trace.write_text("A,B\n# balancer A, balancer B\n" + "C,E\nc e\nEE\nC;C\n" * 25)
    r = json_demo(["--trace", str(trace), "--seed", "2"], capsys)
    assert r["rounds"] == 100 and r["trace"] == str(trace)
    assert r["questions"] == {"00": 25, "01": 0, "10": 50, "11": 25}
    r = json_demo(["--trace", str(trace), "--rounds", "8"], capsys)
    assert r["rounds"] == 8 and r["questions"]["11"] == 2


@pytest.mark.parametrize("text, message", [
    ("C,E\nC,X\n", "line 2: unknown request type 'X'"),
    ("C,E\nC\n", "line 2: expected two request types"),
    ("C,E,E\n", "line 1: expected two request types"),
    ("# nothing\n\n", "no rounds"),
    ("co-locate,exclusive\n", "unknown request type 'co-locate'"),
])
def test_bad_traces_fail_before_any_work(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch, text: str,
                                         message: str) -> None:
    def no_work(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the station was opened")

    monkeypatch.setattr(demo_run, "open_station", no_work)
    trace = tmp_path / "bad.csv"
    trace.write_text(text)
    code, out, err = run_demo(["--trace", str(trace), "--json"], capsys)
    assert code == 2 and out == ""
    assert str(trace) in err and message in err


@pytest.mark.parametrize("argv, message", [
    (["--trace", "/nonexistent/requests.csv"], "cannot read trace file /nonexistent/requests.csv"),
    (["--classical", "always-win"], "classical strategies"),
    (["--coherence-us", "50"], "--coherence-us is used only with --memory-us"),
    (["--storage", "refresh"], "--storage applies to the memories"),
    (["--chsh-json", "/nonexistent/chsh.json"], "cannot read CHSH result"),
])
def test_bad_options_fail_before_any_work(capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch, argv: list[str],
                                          message: str) -> None:
    monkeypatch.setattr(demo_run, "open_station", lambda *a, **k: pytest.fail("station opened"))
    code, out, err = run_demo([*argv, "--json"], capsys)
    assert code == 2 and out == ""
    assert message in err


def test_more_rounds_than_the_trace_is_refused(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    trace = tmp_path / "short.csv"
    trace.write_text("C,E\nE,E\n")
    code, _, err = run_demo(["--trace", str(trace), "--rounds", "3"], capsys)
    assert code == 2 and "has only 2 rounds" in err


def test_memories_lower_the_win_rate_as_the_curve_says(capsys: pytest.CaptureFixture[str]) -> None:
    """Stored 50 us with T2 = 100 us: 1/2 + S e^-0.5 / 8 within 4 binomial sigma; the sweep
    on the same pairs follows 1/2 + S exp(-t/T2)/8 within 4 binomial sigma at each t."""
    r = json_demo(["--rounds", "2000", "--seed", "3", "--memory-us", "50", "--coherence-us", "100",
                   "--memory-sweep-us", "0", "30", "100", "300"], capsys)
    s = predicted_s()
    p = 0.5 + s * math.exp(-0.5) / 8
    assert r["predicted_quantum"]["win_rate"] == pytest.approx(p, rel=1e-6)
    assert abs(r["win_rate"]["quantum"] - p) < 4 * binomial_sigma(p, 2000), r["win_rate"]
    assert r["memory"]["max_storage_us"] == 50 and r["memory"]["coherence_us"] == 100
    # a stored pair is measured on arrival: no herald wait, latency within the round trip
    assert r["latency_us"]["herald_wait"] is None
    assert r["latency_us"]["quantum"]["p99"] < 50
    sweep = r["memory_sweep"]
    assert sweep["storage_us"] == pytest.approx([0, 30, 100, 300])
    for t, w in zip(sweep["storage_us"], sweep["win_rate"]):
        curve = 0.5 + s * math.exp(-t / 100) / 8
        assert abs(w - curve) < 4 * binomial_sigma(curve, 2000), (t, w, curve)
    assert sweep["win_rate"][0] > 0.78 and sweep["win_rate"][-1] < 0.6


def test_chsh_result_gives_the_prediction(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    counts = {"00": [420, 80, 80, 420], "01": [420, 80, 80, 420], "10": [420, 80, 80, 420],
              "11": [80, 420, 420, 80]}
    path = tmp_path / "chsh.json"
    path.write_text(json.dumps({"counts": counts}))
    r = json_demo(["--rounds", "200", "--chsh-json", str(path)], capsys)
    assert r["predicted_quantum"]["S"] == pytest.approx(4 * 0.68)
    assert r["predicted_quantum"]["win_rate"] == pytest.approx(0.5 + 0.34)
    assert str(path) in r["predicted_quantum"]["source"]


def test_same_seed_same_rounds(capsys: pytest.CaptureFixture[str]) -> None:
    a = json_demo(["--rounds", "300", "--seed", "9"], capsys)
    b = json_demo(["--rounds", "300", "--seed", "9"], capsys)
    assert a["wins"] == b["wins"] and a["queues"] == b["queues"]


def test_summary_png_and_dashboard(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    png = tmp_path / "demo.png"
    code, out, err = run_demo(["--rounds", "300", "--out", str(png)], capsys)
    assert code == 0, err
    assert "quantum" in out and "95% interval" in out and "heralded" in out and str(png) in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the live dashboard renders (drawn here into a string, never live)
    from rich.console import Console

    with open_station(load_station_config(None), seed=1) as st:
        from qnic.experiments.demo import draw_trace

        run = DemoRun(st, DemoConfig().validate(), draw_trace(100, 0))
        run.prepare()
        run.run()
        report = demo_report(run.record(), "bench")
    console = Console(file=io.StringIO(), width=120)
    console.print(dashboard(report, {"quantum": [0.0, 2.0, 1.0]}, 100))
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "round 100/100" in text and "vs 0.75" in text and "round trip 50 us" in text


def test_wilson_interval() -> None:
    lo, hi = wilson_interval(830, 1000) or (0.0, 0.0)
    assert lo < 0.83 < hi and hi - lo == pytest.approx(2 * 1.96 * math.sqrt(0.83 * 0.17 / 1000),
                                                       rel=0.02)
    assert wilson_interval(0, 0) is None
    assert wilson_interval(10, 10) is not None
