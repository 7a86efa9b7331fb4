"""The dashboard's bench side in-process (docs/dashboard.md): the state
board, the tagger tap, the rates it computes and the bench thread, on the
embedded simulated bench, without a web server. Waits are bounded queue
reads of the states the board publishes, never sleeps."""

from __future__ import annotations

import json
import math
import queue
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from qcodes.dataset import load_by_run_spec
from qcodes.instrument import Instrument

from qnic.experiments.dashboard.board import Board, plain
from qnic.experiments.dashboard.live import histogram, reading_from_batch
from qnic.experiments.dashboard.tap import Gate, RunStopped, TapTagger
from qnic.experiments.dashboard.worker import BenchWorker, Busy, DashboardOptions, OpenedBench
from qnic.experiments.monitor import read_rates
from qnic.instruments.timetaggers.protocol import TagBatch
from qnic.station import load_station_config, open_station

WAIT_S = 60.0
"""Longest wait for one expected state (a cold numba cache compiles first)."""


def test_the_board_publishes_plain_json_in_version_order() -> None:
    board = Board()
    got: list[tuple[int, str]] = []
    unsubscribe = board.subscribe(lambda v, text: got.append((v, text)))
    board.publish(a={"x": np.float64(math.nan), "y": np.arange(3), 1: (np.int64(2), math.inf)})
    board.publish(b=True)
    unsubscribe()
    board.publish(c=1)
    assert [v for v, _ in got] == [1, 2]
    assert json.loads(got[0][1]) == {"version": 1, "a": {"x": None, "y": [0, 1, 2], "1": [2, None]}}
    assert json.loads(board.snapshot()[1]) == {"version": 3, "a": {"x": None, "y": [0, 1, 2],
                                                                   "1": [2, None]}, "b": True, "c": 1}
    with pytest.raises(TypeError):
        plain(object())


def test_rates_count_as_the_monitor_counts() -> None:
    config = load_station_config(None)
    with open_station(config, seed=11) as st:
        expected = read_rates(st, 0.2)
    with open_station(config, seed=11) as st:
        batch = st.qnics["A"].tagger.acquire(0.2)
        got = reading_from_batch(st, batch)
        hist = histogram(st, batch)
    assert got == expected
    centers, counts = np.array(hist["centers_ps"]), np.array(hist["counts"])
    assert len(centers) == len(counts) >= 100 and hist["range_ps"] >= 4 * st.window_ps
    # delays subtracted: the peak (jitter 350 ps per detector) is centred on 0
    assert abs(hist["centroid_ps"]) < 100
    assert counts[np.abs(centers) <= st.window_ps].sum() > 0.9 * counts.sum()


class _Tagger:
    """Batches of one tag each 0.1 s, counting how streams end."""

    input_channels = (1,)

    def __init__(self) -> None:
        self.closed = 0
        self.t_ps = 0

    def _batch(self, seconds: float) -> TagBatch:
        start, self.t_ps = self.t_ps, self.t_ps + int(seconds * 1e12)
        return TagBatch(np.array([start], np.int64), np.array([1], np.int32), start, self.t_ps)

    def acquire(self, duration_s: float) -> TagBatch:
        return self._batch(duration_s)

    def stream(self, duration_s: float, chunk_s: float) -> Iterator[TagBatch]:
        try:
            for _ in range(round(duration_s / chunk_s)):
                yield self._batch(chunk_s)
        finally:
            self.closed += 1

    def set_input_delay(self, channel: int, delay_ps: int) -> None: ...

    def set_trigger_level(self, channel: int, level_v: float) -> None: ...

    def count_rates(self, duration_s: float) -> dict[int, float]:
        return {1: 10.0}


class _Clock:
    def now(self) -> float:
        return 0.0

    def sleep(self, seconds: float) -> None: ...


def test_the_tap_shows_each_batch_and_stops_at_the_next() -> None:
    inner, seen = _Tagger(), []
    gate = Gate(_Clock())
    gate.restart(paced=False)
    tap = TapTagger(inner, seen.append, gate)
    assert tap.acquire(0.1).stop_ps == 100_000_000_000 and len(seen) == 1
    got = []
    with pytest.raises(RunStopped):
        for batch in tap.stream(1.0, 0.1):
            got.append(batch)
            if len(got) == 3:
                gate.cancel()
    assert len(got) == 3 and len(seen) == 1 + 4  # the fourth batch was shown, then the stop
    assert inner.closed == 1  # the device's stream was closed
    with pytest.raises(RunStopped):
        tap.acquire(0.1)
    gate.restart(paced=False)
    assert len(list(tap.stream(0.3, 0.1))) == 3 and inner.closed == 2


@contextmanager
def _worker(**options: Any) -> Iterator[tuple[BenchWorker, queue.Queue[dict[str, Any]]]]:
    board = Board()
    states: queue.Queue[dict[str, Any]] = queue.Queue()
    board.subscribe(lambda v, text: states.put(json.loads(text)))

    @contextmanager
    def opener() -> Iterator[OpenedBench]:
        with open_station(load_station_config(None), seed=3) as st:
            yield OpenedBench(st)

    worker = BenchWorker(opener, DashboardOptions("test bench", **options), board)
    worker.start()
    try:
        worker.wait_ready()
        yield worker, states
    finally:
        worker.shutdown()
    assert not worker.is_alive()


def _until(states: queue.Queue[dict[str, Any]], predicate: Any) -> dict[str, Any]:
    for _ in range(10_000):
        state = states.get(timeout=WAIT_S)
        if predicate(state):
            return state
    raise AssertionError("no such state in 10,000")


def test_the_bench_thread_runs_chsh_stops_it_and_closes_the_station(tmp_path: Path) -> None:
    with _worker(interval_s=0.05, paced=False) as (worker, states):
        assert worker.activity() == "monitoring"
        _until(states, lambda s: s.get("rates") is not None)
        run = worker.start_chsh(0.05)
        with pytest.raises(Busy):
            worker.start_demo()
        done = _until(states, lambda s: (s.get("chsh") or {}).get("state") == "done")["chsh"]
        assert done["run"] == run and len(done["settings"]) == 4
        assert done["result"]["S"] == pytest.approx(done["partial"]["value"])
        assert done["result"]["S_err"] == pytest.approx(done["partial"]["err"], rel=1e-9)
        # a long run, stopped once its first setting is in
        worker.start_chsh(5.0)
        _until(states, lambda s: len((s.get("chsh") or {}).get("settings", [])) == 1
               and s["chsh"]["state"] == "running")
        assert worker.stop() is True
        stopped = _until(states, lambda s: s["chsh"]["state"] == "stopped")
        assert stopped["status"]["activity"] == "monitoring" and len(stopped["chsh"]["settings"]) == 1
        ds = load_by_run_spec(captured_run_id=stopped["chsh"]["run_id"])
        assert len(ds.get_parameter_data()["n00"]["n00"]) == 1  # the finished setting is kept
        assert worker.stop() is False
        assert Instrument.exist("tagger")
    assert worker.activity() == "closed" and not Instrument.exist("tagger")


def test_bad_run_requests_are_refused_before_any_work() -> None:
    with _worker(interval_s=0.05) as (worker, _):
        for bad in (0.0, -1.0, math.inf, 1e6):
            with pytest.raises(ValueError):
                worker.start_chsh(bad)
        for rounds in (0, 1.5, True, 10**7):
            with pytest.raises(ValueError):
                worker.start_demo(rounds)  # type: ignore[arg-type]
        assert worker.activity() == "monitoring"
