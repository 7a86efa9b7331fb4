"""The study on a real dask.distributed cluster: a LocalCluster of two workers on 127.0.0.1
gives exactly the local results for the same seeds, through the scheduler's address and
through `--local-cluster 2` (worker processes); a dead address is refused by name before any
work.

The cluster is started once for the module and closed in the fixture's finally; every wait
on it is bounded (distributed's own start-up and connect timeouts).
"""

from __future__ import annotations

import argparse
import json
import socket
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from qnic.cli import lbsim
from qnic.cli.common import EXIT_BAD_INPUT
from qnic.experiments.lb_cluster import CONNECT_TIMEOUT_S, ClusterError, ClusterSpec, connect
from qnic.experiments.lb_study import StudyConfig, run_study

distributed = pytest.importorskip("distributed")

CONFIG = StudyConfig(ratios=(1.1, 1.25), steps=400, seeds=2,
                     strategies=("random", "power-of-two", "quantum-ideal", "hash-subtype"))


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    """The address of a LocalCluster: 2 single-threaded workers on 127.0.0.1 (in this process,
    behind the scheduler's TCP port; `--local-cluster` below starts worker processes)."""
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                       protocol="tcp", host="127.0.0.1",
                                       dashboard_address="127.0.0.1:0")
    try:
        yield str(cluster.scheduler_address)
    finally:
        cluster.close()


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="qnic")
    sub = parser.add_subparsers(dest="command", required=True)
    lbsim.add_parser(sub)
    args = parser.parse_args(["lb-sim", *argv])
    return int(args.func(args))


def test_points_on_a_cluster_equal_the_local_run(scheduler: str) -> None:
    assert scheduler.startswith("tcp://127.0.0.1:")
    local = run_study(CONFIG)
    remote = run_study(CONFIG, cluster=ClusterSpec(address=scheduler))
    assert np.array_equal(remote.queue, local.queue)
    assert np.array_equal(remote.wins, local.wins)
    client = connect(scheduler)
    try:
        assert len(client.scheduler_info()["workers"]) == 2
    finally:
        client.close()


def test_cli_scheduler_gives_the_local_json(scheduler: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--ratios", "1.1", "1.25", "--steps", "300", "--seeds", "2", "--strategies",
            "random", "quantum-ideal", "--json"]
    assert run([*argv, "--workers", "1"]) == 0
    local = json.loads(capsys.readouterr().out)
    assert run([*argv, "--scheduler", scheduler]) == 0
    remote = json.loads(capsys.readouterr().out)
    assert remote["mean_queue"] == local["mean_queue"] and remote["knee"] == local["knee"]


def test_cli_local_cluster_gives_the_local_json(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--ratios", "1.2", "--steps", "200", "--seeds", "2", "--strategies", "random",
            "dedicated-c", "--json"]
    assert run([*argv, "--workers", "1"]) == 0
    local = json.loads(capsys.readouterr().out)
    assert run([*argv, "--local-cluster", "2"]) == 0
    assert json.loads(capsys.readouterr().out)["mean_queue"] == local["mean_queue"]


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_dead_scheduler_address_is_refused_by_name(monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    def no_work(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a point was simulated")
    monkeypatch.setattr("qnic.experiments.lb_study.simulate_point", no_work)
    address = f"tcp://127.0.0.1:{closed_port()}"
    assert run(["--scheduler", address, "--steps", "10", "--json"]) == EXIT_BAD_INPUT
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"no Dask scheduler answers at {address}" in captured.err
    assert CONNECT_TIMEOUT_S <= 5.0  # the longest a silent address can hold the command


def test_a_malformed_address_is_refused() -> None:
    with pytest.raises(ClusterError, match="not a Dask scheduler address"):
        connect("scheduler-without-port")


def test_cluster_spec_takes_one_of_address_or_workers() -> None:
    with pytest.raises(ValueError, match="either"):
        ClusterSpec("tcp://127.0.0.1:1", 2)
    with pytest.raises(ValueError, match="at least one worker"):
        ClusterSpec(local_workers=0)
