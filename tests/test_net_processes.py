"""The networked system as real processes on 127.0.0.1 (docs/network.md).

Every test here starts its processes through the orchestrator, waits on their
readiness lines (never on time), bounds its requests, and checks that every
process it started is gone afterwards. Win rates are checked to 4 standard
deviations of a binomial fraction, sqrt(p (1 - p) / rounds).
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import threading
from typing import Any

import pytest

from qnic.experiments.net.backend import ServiceTimes
from qnic.experiments.net.loadgen import TraceSpec
from qnic.experiments.net.orchestrate import Cluster
from qnic.experiments.net.source import PairTable
from qnic.experiments.net.study import NetConfig, run_study
from qnic.experiments.net.wire import NetError

R = math.cos(math.pi / 4)
IDEAL = PairTable.from_correlations([[R, R], [R, -R]], "ideal")
QUANTUM_WIN = math.cos(math.pi / 8) ** 2


def four_sigma(p: float, n: int) -> float:
    return 4.0 * math.sqrt(p * (1.0 - p) / n)


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # a zombie still answers signal 0; it is gone once it is not running
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True


def wait_for_line(process: subprocess.Popen[str], start: str, timeout_s: float = 120.0) -> None:
    """Read the process's stderr until a line starts with ``start`` (bounded in time)."""
    import selectors
    import time

    assert process.stderr is not None
    deadline = time.monotonic() + timeout_s
    with selectors.DefaultSelector() as sel:
        sel.register(process.stderr, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if sel.select(deadline - time.monotonic()):
                line = process.stderr.readline()
                if not line:
                    break
                if line.strip().startswith(start):
                    return
    raise AssertionError(f"no line starting {start!r} on stderr within {timeout_s} s")


def wait_gone(pids: list[int], timeout_s: float = 30.0) -> bool:
    """Wait (on pidfds, not by sleeping) until none of ``pids`` runs."""
    import select
    import time

    deadline = time.monotonic() + timeout_s
    for pid in pids:
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            continue
        try:
            if not select.select([fd], [], [], max(0.0, deadline - time.monotonic()))[0]:
                return False
        finally:
            os.close(fd)
    return True


def config(strategies: tuple[str, ...], requests: int = 2000, balancers: int = 2,
           backends: int = 2, **kw: Any) -> NetConfig:
    trace = TraceSpec(balancers, requests, "step", step_us=100.0, seed=kw.pop("seed", 0))
    return NetConfig(balancers, backends, trace, IDEAL, service=ServiceTimes(20, 50, 30, 2),
                     strategies=strategies, timeout_s=20.0, **kw)


def test_a_study_on_real_processes() -> None:
    result = run_study(config(("quantum", "classical-best", "coordinator"), requests=3000))
    processes = result["processes"]
    roles = sorted(p["role"] for p in processes)
    assert roles == ["backend", "backend", "coordinator", "loadgen", "node", "node", "source"]
    assert len({p["pid"] for p in processes}) == 7 and os.getpid() not in {p["pid"] for p in processes}
    assert all(gone(p["pid"]) for p in processes)
    rows = result["strategies"]
    assert len({row["trace_digest"] for row in rows.values()}) == 1
    rounds = 1500
    for name, row in rows.items():
        assert row["requests"] == {"sent": 3000, "served": 3000, "failed": 0}, name
        assert row["rounds"] == rounds
        assert row["messages_between_balancers"] == 0
        assert row["latency_us"]["p50"] > 0
    q = rows["quantum"]
    assert abs(q["win_rate"] - QUANTUM_WIN) <= four_sigma(QUANTUM_WIN, rounds)
    assert q["pairs_used"] == 3000 and q["fallbacks"] == 0
    assert q["coordination_messages"] == 0 and rows["classical-best"]["coordination_messages"] == 0
    assert q["oracle_wait_us"]["p50"] > 0  # the oracle's time is reported apart
    assert rows["classical-best"]["win_rate"] <= 0.75 + four_sigma(0.75, rounds)
    assert rows["coordinator"]["win_rate"] == 1.0
    assert rows["coordinator"]["coordination_messages"] == 3000


def test_a_backend_that_dies_mid_run_fails_over() -> None:
    killed: list[int] = []

    def hook(cluster: Cluster) -> None:
        victim = cluster.by_role("backend")[1]
        probe = cluster.by_role("backend")[0]

        def kill_when_busy() -> None:
            # readiness, not time: the backend answers once the run has put 200 jobs on it
            # (on a control connection of this thread's own)
            import socket

            with socket.create_connection((probe.address.host, probe.address.port), 5) as sock:
                sock.settimeout(120)
                sock.sendall(b'{"op": "wait_jobs", "jobs": 200, "timeout_s": 60}\n')
                sock.makefile().readline()
            os.kill(victim.pid, signal.SIGKILL)
            killed.append(victim.pid)

        threading.Thread(target=kill_when_busy, daemon=True).start()

    result = run_study(config(("random", "round-robin"), requests=4000, backends=3),
                       cluster_hook=hook)
    assert killed
    first = result["strategies"]["random"]
    assert first["requests"]["served"] == 4000  # two backends left: everything fails over
    assert first["failovers"] > 0  # the jobs the dead one held moved to the others
    second = result["strategies"]["round-robin"]
    assert second["requests"]["served"] == 4000  # the next strategy runs on the survivors
    assert all(gone(p["pid"]) for p in result["processes"])


def test_a_process_that_cannot_start_is_named_and_the_rest_stopped() -> None:
    cluster = Cluster()
    with cluster:
        first = cluster.start("backend", "backend 0", ["--listen", "127.0.0.1:0"])
        taken = str(first.address)
        with pytest.raises(NetError, match=r"backend 1 exited .*cannot listen on 127\.0\.0\.1"):
            cluster.start("backend", "backend 1", ["--listen", taken])
        with pytest.raises(NetError, match=r"node 0 exited .*--backends: a node needs at least 2"):
            cluster.start("node", "node 0", ["--index", "0", "--backends", taken])
    pids = [p.pid for p in cluster.processes]
    assert len(pids) == 3 and all(gone(pid) for pid in pids)


def test_an_unreachable_peer_is_named_before_the_node_is_ready() -> None:
    with Cluster() as cluster:
        backend = cluster.start("backend", "backend 0", [])
        with pytest.raises(NetError, match=r"node 0 exited \(code 1\) before it was ready: "
                                           r".*cannot reach the backend 1 at 127\.0\.0\.1:1"):
            cluster.start("node", "node 0", [
                "--index", "0", "--backends", f"{backend.address},127.0.0.1:1"])
        with pytest.raises(NetError, match=r"cannot reach the pair source at 127\.0\.0\.1:1"):
            cluster.start("node", "node 1", ["--index", "1", "--backends",
                                             f"{backend.address},{backend.address}",
                                             "--source", "127.0.0.1:1"])
        processes = list(cluster.processes)
    assert all(gone(p.pid) for p in processes)


def test_bad_arguments_exit_2_naming_them() -> None:
    run = [sys.executable, "-m", "qnic.cli"]
    out = subprocess.run([*run, "lb-net", "--balancers", "3"], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 2 and "--balancers must be even" in out.stderr
    out = subprocess.run([*run, "net", "node", "--index", "0", "--backends", "nowhere"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "backend 0: expected host:port, got 'nowhere'" in out.stderr
    out = subprocess.run([*run, "lb-net", "--strategies", "telepathy"], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 2 and "unknown strategies ['telepathy']" in out.stderr
    out = subprocess.run([*run, "lb-net", "--visibility", "0.9", "--chsh-json", "x.json"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "not --visibility and --chsh-json" in out.stderr
    out = subprocess.run([*run, "lb-net", "--requests", "1001"], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 2 and "must be a multiple of --balancers" in out.stderr
    out = subprocess.run([*run, "net", "node", "--index", "0", "--backends",
                          "127.0.0.1:5000,,127.0.0.1:5001"], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 2 and "an empty entry" in out.stderr


def test_ctrl_c_stops_the_study_and_every_process() -> None:
    command = [sys.executable, "-m", "qnic.cli", "lb-net", "--visibility", "1", "--balancers", "2",
               "--backends", "2", "--requests", "2000", "--step-us", "200", "--json",
               "--c-hit-us", "20", "--miss-penalty-us", "20", "--e-us", "20",
               "--strategies", "classical-best", "random", "round-robin", "quantum"]
    study = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_line(study, "classical-best:")  # readiness: the first strategy's row is done
        study.send_signal(signal.SIGINT)
        out, err = study.communicate(timeout=60)
    finally:
        if study.poll() is None:
            study.kill()
            study.wait()
    assert study.returncode == 130, err
    result = json.loads(out)
    assert result["interrupted"] is True
    assert "classical-best" in result["strategies"]  # what was measured is kept
    assert len(result["processes"]) == 7
    assert all(gone(p["pid"]) for p in result["processes"])


def test_an_rtt_sweep_delays_every_message() -> None:
    rtt = 4000.0
    cfg = config(("classical-best", "coordinator"), requests=400)
    result = run_study(cfg, rtts_us=[0.0, rtt])
    sweep = result["rtt_sweep"]
    assert sweep["rtt_us"] == [0.0, rtt]
    assert sweep["ratio"] == [0.0, rtt / (0.5 * 20 + 0.5 * 30)]
    delayed = sweep["points"][1]["strategies"]
    # a request crosses loadgen -> node -> backend -> node -> loadgen: two round trips at
    # least; the coordinator's question adds a third. Lower bounds only: time spent
    # elsewhere can only add to them.
    assert delayed["classical-best"]["latency_us"]["p50"] >= 2 * rtt
    assert delayed["coordinator"]["latency_us"]["p50"] >= 3 * rtt
    assert delayed["coordinator"]["network_wait_us"]["p50"] >= rtt
    assert delayed["classical-best"]["requests"]["served"] == 400
    assert all(gone(p["pid"]) for p in result["processes"])


def test_a_load_sweep_runs_a_fresh_system_per_point(tmp_path: Any) -> None:
    from qnic.experiments.net.plots import write_plots
    from qnic.experiments.net.study import run_load_sweep

    result = run_load_sweep(config(("classical-best",), requests=200), [2, 4])
    sweep = result["load_sweep"]
    assert sweep["backends"] == [2, 4] and sweep["load"] == [1.0, 0.5]
    assert len(result["processes"]) == 7 + 9
    assert all(gone(p["pid"]) for p in result["processes"])
    written = write_plots(result, tmp_path)
    assert [p.name for p in written] == ["lb_net.png", "lb_net_load.png"]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in written)


def test_the_command_writes_its_plots(tmp_path: Any) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "qnic.cli", "lb-net", "--visibility", "0.9", "--balancers", "2",
         "--backends", "2", "--requests", "200", "--step-us", "500", "--c-hit-us", "20",
         "--miss-penalty-us", "20", "--e-us", "20", "--strategies", "quantum", "random",
         "--sweep-rtt-us", "0", "1000", "--out", str(tmp_path), "--json"],
        capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert sorted(result["strategies"]) == ["quantum", "random"]
    names = sorted(p.rsplit("/", 1)[-1] for p in result["files"])
    assert names == ["lb_net.json", "lb_net.png", "lb_net_rtt.png"]
    saved = json.loads((tmp_path / "lb_net.json").read_text())
    assert saved["rtt_sweep"]["rtt_us"] == [0.0, 1000.0]
    both = subprocess.run([sys.executable, "-m", "qnic.cli", "lb-net", "--sweep-rtt-us", "0",
                           "--sweep-backends", "4"], capture_output=True, text=True, timeout=60)
    assert both.returncode == 2 and "not both" in both.stderr


def test_with_c_subtypes_the_xor_strategy_beats_the_best_classical_one() -> None:
    # two C subtypes, C with probability 0.7: classical value 0.79, quantum 0.835
    trace = TraceSpec(2, 8000, "step", step_us=100.0, c_probability=0.7, c_subtypes=2, seed=3)
    cfg = NetConfig(2, 2, trace, IDEAL, service=ServiceTimes(20, 50, 30, 2),
                    strategies=("classical-best", "xor"), timeout_s=20.0)
    rows = run_study(cfg)["strategies"]
    rounds = rows["xor"]["rounds"]
    assert rounds == 4000
    assert rows["xor"]["game"]["quantum_value"] == pytest.approx(0.835, abs=1e-3)
    for name in ("classical-best", "xor"):
        p = rows[name]["win_rate_predicted"]
        # 4 sigma of a binomial fraction over the rounds
        assert abs(rows[name]["win_rate"] - p) <= four_sigma(p, rounds), name
    assert rows["xor"]["win_rate"] > rows["classical-best"]["win_rate"]
    assert rows["xor"]["pairs_used"] == 8000 and rows["xor"]["coordination_messages"] == 0


def test_heralded_pairs_across_drifting_clocks() -> None:
    from qnic.experiments.net.node import NodeClock
    from qnic.experiments.net.source import HeraldSpec

    clocks = (NodeClock(offset_ns=250_000.0, drift_ppm=-12.0),
              NodeClock(offset_ns=-480_000.0, drift_ppm=9.0))
    trace = TraceSpec(2, 3000, "step", step_us=300.0, seed=1)
    cfg = NetConfig(2, 2, trace, IDEAL, service=ServiceTimes(20, 50, 30, 2),
                    strategies=("quantum",), timeout_s=20.0, herald=HeraldSpec(), clocks=clocks)
    row = run_study(cfg)["strategies"]["quantum"]
    track = row["heralding"]["clock_tracking"]["0"]
    # the clocks start 730 us apart and drift 21 ppm apart (a few us over the blocks used);
    # the herald finds both from the clicks alone. Per block the offset is known to ~30 ps
    # (350 pairs, 500 ps scatter): 10 sigma allowed
    assert track["offset_ns"] == pytest.approx(-730_000.0, abs=10_000.0)
    assert abs(track["offset_ns_fitted"] - track["offset_ns"]) < 0.3
    assert track["offset_error_ps_max"] < 300
    assert track["drift_ppm_fitted"] == pytest.approx(track["drift_ppm"], abs=0.05)
    assert row["heralding"]["true"] >= 0.99 * row["heralding"]["heralded"]
    assert row["pairs_used"] + row["fallbacks"] == 3000
    p = row["win_rate_predicted"]  # weighs the fallback rounds by their own rule
    assert abs(row["win_rate"] - p) <= four_sigma(p, row["rounds"])
    # only pairs beat 3/4: checked to 4 sigma of a binomial fraction at 3/4
    assert row["win_rate"] > 0.75 + four_sigma(0.75, row["rounds"])


def test_the_demo_runs_on_the_networked_system() -> None:
    out = subprocess.run([sys.executable, "-m", "qnic.cli", "demo", "--net", "--rounds", "600",
                          "--chunks", "3", "--servers", "4", "--json"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert sorted(report["win_rate"]) == ["classical-best", "coordinator", "quantum"]
    assert report["rounds"] == 600 and report["chunks"] == 3
    assert "motorised waveplates" in report["note"]
    q = report["strategies"]["quantum"]
    assert q["pairs_used"] + q["fallbacks"] == 1200
    # 4 sigma of a binomial fraction over the 600 rounds
    assert abs(q["win_rate"] - q["win_rate_predicted"]) <= four_sigma(q["win_rate_predicted"], 600)
    assert report["win_rate"]["coordinator"] == 1.0
    assert all(gone(p["pid"]) for p in report["processes"])
    assert out.stderr.count("chunk ") == 9  # the view is updated after every strategy's chunk


def test_sigterm_or_a_killed_orchestrator_leaves_no_process() -> None:
    command = [sys.executable, "-m", "qnic.cli", "lb-net", "--visibility", "1", "--balancers", "2",
               "--backends", "2", "--requests", "4000", "--step-us", "200",
               "--c-hit-us", "20", "--miss-penalty-us", "20", "--e-us", "20",
               "--strategies", "random", "random", "random"]
    for how in (signal.SIGTERM, signal.SIGKILL):
        study = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            wait_for_line(study, "random:")
            children = [int(p) for p in subprocess.run(
                ["pgrep", "-P", str(study.pid)], capture_output=True, text=True).stdout.split()]
            assert len(children) == 7
            study.send_signal(how)
            study.communicate(timeout=60)
            assert study.returncode == (130 if how == signal.SIGTERM else -signal.SIGKILL)
            # SIGTERM: the orchestrator stops them; SIGKILL: each notices its stdin close
            assert wait_gone(children), how
        finally:
            if study.poll() is None:
                study.kill()
                study.wait()
