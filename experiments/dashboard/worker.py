"""The bench thread (docs/dashboard.md): the one thread that touches the bench.

QCoDeS instruments, serial ports and the simulated bench are not made for
several threads at once, so one thread opens the station, uses it and closes
it. While no run goes on it takes a monitor reading per interval (paced to
wall time on a simulated bench); a start request from the page runs a CHSH
run or the demo in this same thread (:mod:`.jobs`), one at a time; a stop
request makes the tap raise :class:`~.tap.RunStopped` at the next batch,
which unwinds the run the way Ctrl-C unwinds ``qnic chsh``: the move in
progress finishes, the dataset keeps the finished settings, and monitoring
resumes. :meth:`BenchWorker.shutdown` stops any run the same way, then
leaves the station's ``with`` block, which closes every instrument.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from qnic.experiments.dashboard.board import Board
from qnic.experiments.dashboard.jobs import Bench, ChshJob, DemoJob, Job
from qnic.experiments.dashboard.live import LiveRates
from qnic.experiments.dashboard.tap import Gate, RunStopped, tapped_station
from qnic.station import LoadedStation

MAX_SECONDS_PER_SETTING = 3600.0
MAX_ROUNDS = 1_000_000


@dataclass(frozen=True)
class OpenedBench:
    """What the command's opener yields: the open station and the calibration it applied."""

    station: LoadedStation
    calibration_file: str | None = None


@dataclass(frozen=True)
class DashboardOptions:
    """The command's choices.

    Attributes:
        label: the station as the page names it.
        interval_s: live time per rates reading (s, > 0).
        seconds_per_setting: default CHSH acquisition per setting (s).
        rounds, block: default demo rounds and rounds per block.
        seed: the demo's request seed.
        paced: pace runs on a simulated bench to wall time (monitoring always is).
        record: record CHSH runs in the QCoDeS database.
        bench_seed: the command's ``--seed`` (None: not given), for the runs' facts.
        arguments: the command's options, for the runs' facts.
    """

    label: str
    interval_s: float = 0.25
    seconds_per_setting: float = 1.0
    rounds: int = 2000
    block: int = 250
    seed: int = 0
    paced: bool = True
    record: bool = True
    bench_seed: int | None = None
    arguments: dict[str, Any] = field(default_factory=dict)


class Busy(Exception):
    """A run is in progress: stop it before starting another."""


class BenchWorker(threading.Thread):
    """Owns the station; serves the page's requests one at a time.

    Args:
        opener: a context manager factory that opens the station (and applies
            the calibration); entered and left in this thread.
        options: the command's choices.
        board: where the state is published.
    """

    def __init__(self, opener: Callable[[], AbstractContextManager[OpenedBench]],
                 options: DashboardOptions, board: Board) -> None:
        super().__init__(name="qnic-dashboard-bench", daemon=True)
        self.opener, self.options, self.board = opener, options, board
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._closing = False
        self._pending: Job | None = None
        self._active: Job | None = None
        self._runs = 0
        self._gate: Gate | None = None
        self.error: BaseException | None = None
        self.opened = False

    # -- requests (any thread) ---------------------------------------------
    def start_chsh(self, seconds: float | None = None) -> int:
        """Queue a CHSH run; return its number.

        Raises:
            Busy: a run is queued or going on.
            ValueError: ``seconds`` not in (0, 3600].
        """
        s = self.options.seconds_per_setting if seconds is None else float(seconds)
        if not 0 < s <= MAX_SECONDS_PER_SETTING:
            raise ValueError(f"seconds per setting must be in (0, {MAX_SECONDS_PER_SETTING:g}], got {s}")
        return self._queue(lambda n: ChshJob(n, s))

    def start_demo(self, rounds: int | None = None, block: int | None = None) -> int:
        """Queue a demo run; return its number.

        Raises:
            Busy: a run is queued or going on.
            ValueError: rounds or block not a positive integer (rounds at most 1e6).
        """
        r = self.options.rounds if rounds is None else rounds
        b = self.options.block if block is None else block
        for name, v in (("rounds", r), ("block", b)):
            if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= MAX_ROUNDS:
                raise ValueError(f"{name} must be an integer from 1 to {MAX_ROUNDS}, got {v!r}")
        return self._queue(lambda n: DemoJob(n, r, b, self.options.seed))

    def _queue(self, make: Callable[[int], Job]) -> int:
        with self._lock:
            if self._closing:
                raise Busy("the dashboard is shutting down")
            busy = self._pending or self._active
            if busy is not None:
                raise Busy(f"{busy.kind} run {busy.number} is in progress: stop it first")
            self._runs += 1
            self._pending = make(self._runs)
            gate = self._gate
        if gate is not None:
            gate.wake()
        return self._runs

    def stop(self) -> bool:
        """Stop the queued or running run; return whether there was one."""
        with self._lock:
            had = self._pending is not None or self._active is not None
            self._pending = None
            if self._active is not None and self._gate is not None:
                self._gate.cancel()
        return had

    def activity(self) -> str:
        """``starting``, ``monitoring``, ``chsh``, ``demo`` or ``closed``."""
        with self._lock:
            if not self.opened:
                return "closed" if self._ready.is_set() else "starting"
            job = self._active or self._pending
            return job.kind if job is not None else ("closed" if self._closing else "monitoring")

    def wait_ready(self) -> None:
        """Wait until the station is open; re-raise the error if it could not be."""
        self._ready.wait()
        if not self.opened:
            raise self.error or RuntimeError("the bench thread ended before the station opened")

    def shutdown(self, timeout_s: float = 30.0) -> None:
        """Stop any run, close the station and end the thread (waits ``timeout_s`` at most)."""
        with self._lock:
            self._closing = True
            self._pending = None
            if self._gate is not None:
                self._gate.cancel()
        if self.is_alive():
            self.join(timeout_s)

    # -- the bench thread ---------------------------------------------------
    def run(self) -> None:
        try:
            with self.opener() as opened:
                self._serve(opened)
        except Exception as exc:  # reported to wait_ready and on the page
            self.error = exc
            self.board.publish(status=self._status("closed", error=f"{type(exc).__name__}: {exc}"))
        else:
            self.board.publish(status=self._status("closed", "the bench is closed"))
        finally:
            self._ready.set()

    def _serve(self, opened: OpenedBench) -> None:
        st = opened.station
        gate = Gate(st.clock)
        live = LiveRates(self.board, st, self.options.interval_s)
        view = tapped_station(st, live.add, gate)
        bench = Bench(view, self.board, live, self.options.label, opened.calibration_file,
                      self.options.record, self.options.bench_seed, dict(self.options.arguments))
        self.board.publish(bench=self._bench_section(st, opened), chsh=None, demo=None,
                           status=self._status("monitoring"))
        with self._lock:
            self._gate = gate
            self.opened = True
        self._ready.set()
        while True:
            gate.clear_wake()
            with self._lock:
                if self._closing:
                    return
                job, self._pending = self._pending, None
                self._active = job
                gate.restart(paced=st.bench is not None and (job is None or self.options.paced))
            if job is None:
                self._monitor(view, live, gate)
            else:
                self._run(job, bench)

    def _monitor(self, view: LoadedStation, live: LiveRates, gate: Gate) -> None:
        live.source = "monitor"
        try:
            view.qnics["A"].tagger.acquire(self.options.interval_s)
            live.flush()
        except RunStopped:
            return
        except Exception as exc:  # an instrument error: shown on the page, tried again after a pause
            self.board.publish(status=self._status("monitoring", error=_describe(exc)))
            gate.wait(4 * self.options.interval_s)

    def _run(self, job: Job, bench: Bench) -> None:
        bench.live.drop()
        self.board.publish(status=self._status(job.kind, f"{job.kind} run {job.number}"))
        outcome, message, error = "done", f"{job.kind} run {job.number} done", ""
        try:
            job.run(bench)
        except RunStopped:
            outcome, message = "stopped", f"{job.kind} run {job.number} stopped; what it measured is kept"
        except Exception as exc:  # the run ends and says why; the server and the bench go on
            outcome, message, error = "failed", f"{job.kind} run {job.number} failed", _describe(exc)
            traceback.print_exc()
        finally:
            bench.live.drop()
            with self._lock:
                self._active = None
        # one change, after the run has let go of the bench: whoever sees it
        # ended can start the next
        note = error or ("" if outcome == "done" else message)
        self.board.publish(**{job.kind: job.section(outcome, note),
                              "status": self._status("monitoring", message, error)})

    def _status(self, activity: str, message: str = "", error: str = "") -> dict[str, Any]:
        return {"activity": activity, "message": message, "error": error, "runs": self._runs}

    def _bench_section(self, st: LoadedStation, opened: OpenedBench) -> dict[str, Any]:
        o = self.options
        return {"station": o.label, "simulated": st.bench is not None,
                "window_ps": int(st.window_ps), "calibration": opened.calibration_file,
                "channels": {name: list(q.channels) for name, q in st.qnics.items()},
                "interval_s": o.interval_s, "paced": o.paced and st.bench is not None,
                "defaults": {"seconds_per_setting": o.seconds_per_setting, "rounds": o.rounds,
                             "block": o.block, "seed": o.seed}}


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
