"""The runs the dashboard starts (docs/dashboard.md): CHSH and the demo.

Each runs the procedure of ``qnic chsh`` / ``qnic demo`` on the tapped
station (:mod:`.tap`) in the bench thread and publishes its section of the
state as it goes:

- CHSH (:class:`ChshJob`): :class:`~qnic.experiments.chsh.CHSHRun`
  prepared (wiring checked, rotators homed), then the four settings in the
  order 00, 01, 10, 11, each :class:`~qnic.experiments.chsh.SettingData`
  published as it finishes with its correlator E and error, the partial sum
  of the finished terms of S and, after the fourth, S and its error raw and
  with accidentals subtracted (:func:`~qnic.experiments.chsh.analyze_chsh`).
  Each setting is also recorded as a row of a QCoDeS dataset, as
  ``qnic chsh`` records it, so a stopped run keeps its finished settings.
- The demo (:class:`DemoJob`): :class:`~qnic.experiments.demo.DemoRun` on a
  seeded trace, beside the classical strategies ``dedicated-c`` and
  ``separate``; after each block the win rates with their 95% intervals and
  predictions (:func:`~qnic.experiments.demo_view.demo_report`), each
  strategy's queues, and their history over the blocks.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from typing import Any

from qnic.chsh import LOCAL_BOUND, S_SIGNS, correlator
from qnic.experiments.chsh import CHSHRun, SettingData, chsh_recorder
from qnic.experiments.dashboard.board import Board
from qnic.experiments.dashboard.live import LiveRates
from qnic.experiments.dashboard.tap import RunStopped
from qnic.experiments.demo import DemoConfig, DemoRun, draw_trace
from qnic.experiments.demo_view import demo_report
from qnic.station import LoadedStation
from qnic.storage import RunRecorder, run_facts

DEMO_CLASSICAL = ("dedicated-c", "separate")
"""The classical strategies the demo runs beside the quantum one (``qnic demo``'s default)."""


@dataclass
class Bench:
    """What a job works with.

    Attributes:
        station: the open station, its QNICs behind the tap.
        board: where to publish.
        live: the live rates (a job names itself as their source).
        label: the station as the page names it.
        calibration_file: the calibration applied (None: the station file's values).
        record: record CHSH runs in the QCoDeS database.
        seed: the command's ``--seed`` (None: not given), for the run's facts.
        arguments: the command's options, for the run's facts.
    """

    station: LoadedStation
    board: Board
    live: LiveRates
    label: str
    calibration_file: str | None = None
    record: bool = True
    seed: int | None = None
    arguments: dict[str, Any] = field(default_factory=dict)


def setting_row(d: SettingData) -> dict[str, Any]:
    """One finished CHSH setting as the page shows it (E with its Poisson error)."""
    n = [int(v) for v in d.counts.n.ravel()]
    try:
        e, e_err = correlator(n)
    except ValueError:  # no coincidences: E undefined
        e, e_err = math.nan, math.nan
    return {"key": d.key, "angle_a_deg": d.angle_a_deg, "angle_b_deg": d.angle_b_deg,
            "counts": n, "E": e, "E_err": e_err, "accidentals": d.accidentals,
            "double_a": d.counts.double_a, "double_b": d.counts.double_b, "live_s": d.live_s}


def partial_s(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The finished terms of S = E00 + E01 + E10 - E11 and their error (the
    settings are independent, so the errors add in quadrature)."""
    done = [r for r in rows if r["E"] is not None and math.isfinite(r["E"])]
    return {"terms": len(done),
            "value": sum(S_SIGNS[r["key"]] * r["E"] for r in done),
            "err": math.sqrt(sum(r["E_err"] ** 2 for r in done))}


class ChshJob:
    """A CHSH run of ``seconds`` per setting, number ``number`` of this dashboard."""

    kind = "chsh"

    def __init__(self, number: int, seconds: float) -> None:
        self.number = number
        self.seconds = seconds
        self.rows: list[dict[str, Any]] = []
        self.current: str | None = None
        self.result: dict[str, Any] | None = None
        self.run_id: int | None = None
        self.db: str | None = None
        self.window_ps: int | None = None

    def section(self, state: str, message: str = "") -> dict[str, Any]:
        """The ``chsh`` section: ``state`` is running, done, stopped or failed."""
        return {"run": self.number, "state": state, "message": message,
                "seconds_per_setting": self.seconds, "window_ps": self.window_ps,
                "current": self.current if state == "running" else None,
                "settings": self.rows, "partial": partial_s(self.rows), "result": self.result,
                "local_bound": LOCAL_BOUND, "run_id": self.run_id, "db": self.db}

    def run(self, bench: Bench) -> None:
        """Measure the four settings, publishing and recording each (the
        bench thread publishes the final section once the run has ended)."""
        st, board = bench.station, bench.board
        run = CHSHRun(st, self.seconds)
        recorder = chsh_recorder(st) if bench.record else None
        board.publish(chsh=self.section("running", "homing the rotators"))
        with recorder.run() if recorder is not None else contextlib.nullcontext():
            if recorder is not None:  # the metadata of `qnic chsh`, and where the run came from
                recorder.add_facts(run_facts(st, bench.calibration_file, bench.seed,
                                             {**bench.arguments, "seconds": self.seconds}))
                recorder.add_metadata("seconds_per_setting", self.seconds)
                recorder.add_metadata("started_from", "qnic dashboard")
                self.run_id, self.db = recorder.run_id, recorder.db_path
            try:
                run.prepare()
                self.window_ps = int(run.window_ps or 0)
                run.orders = run.schedule()  # one block, in a random order (docs/chsh.md)
                if recorder is not None:
                    recorder.add_metadata("order_seed", int(run.order_seed or 0))
                for key in run.orders[0]:
                    self._setting(run, key, bench, recorder)
            except RunStopped:
                if recorder is not None:
                    recorder.add_metadata("interrupted", "stopped from the dashboard")
                raise
            analysis = run.analyze()
            self.result = {"S": analysis.S, "S_err": analysis.S_err,
                           "S_corrected": analysis.S_corrected,
                           "S_corrected_err": analysis.S_corrected_err,
                           "sigmas_above_2": analysis.sigmas_above_local}
            if recorder is not None:
                for key in ("S", "S_err", "S_corrected", "S_corrected_err"):
                    recorder.add_metadata(key, float(self.result[key]))
                recorder.add_metadata("window_ps", self.window_ps)

    def _setting(self, run: CHSHRun, key: str, bench: Bench, recorder: RunRecorder | None) -> None:
        self.current = key
        bench.live.source = f"CHSH setting {key}"
        bench.board.publish(chsh=self.section("running", f"setting {key}"))
        data = run.measure_setting(key)
        run.settings.append(data)
        if recorder is not None:
            recorder.add_row(**run.row(data))
        self.rows.append(setting_row(data))
        bench.board.publish(chsh=self.section("running", f"setting {key} done"))


class DemoJob:
    """The load-balancing demo: ``rounds`` rounds in blocks of ``block`` (seeded)."""

    kind = "demo"

    def __init__(self, number: int, rounds: int, block: int, seed: int) -> None:
        self.number = number
        self.rounds = rounds
        self.block = block
        self.seed = seed
        self.report: dict[str, Any] | None = None
        self.history: dict[str, Any] = {"rounds": [], "win_rate": {}, "queue_mean": {}}
        self._shown = 0

    def section(self, state: str, message: str = "") -> dict[str, Any]:
        """The ``demo`` section: ``state`` is running, done, stopped or failed."""
        r = self.report or {}
        return {"run": self.number, "state": state, "message": message,
                "rounds_total": self.rounds, "rounds": r.get("rounds", 0),
                "block": self.block, "seed": self.seed,
                "win_rate": r.get("win_rate"), "win_rate_ci": r.get("win_rate_ci"),
                "win_rate_predicted": r.get("win_rate_predicted"),
                "classical_bound": r.get("classical_bound", 0.75),
                "predicted_quantum": r.get("predicted_quantum"),
                "S_measured": r.get("S_measured"), "queues": r.get("queues"),
                "pairs": r.get("pairs"), "history": self.history}

    def run(self, bench: Bench) -> None:
        """Run the rounds, publishing after each block (the bench thread
        publishes the final section once the run has ended)."""
        config = DemoConfig(seed=self.seed, classical=DEMO_CLASSICAL,
                            block_rounds=self.block).validate()
        run = DemoRun(bench.station, config, draw_trace(self.rounds, self.seed))
        bench.live.source = "demo"
        bench.board.publish(demo=self.section("running", "homing the rotators"))
        run.prepare()
        run.run(lambda r: self._block_done(r, bench))

    def _block_done(self, run: DemoRun, bench: Bench) -> None:
        record = run.record()
        self.report = demo_report(record, bench.label)
        self.history["rounds"].append(record.rounds)
        for name, track in record.tracks.items():
            self.history["win_rate"].setdefault(name, []).append(self.report["win_rate"][name])
            self.history["queue_mean"].setdefault(name, []).append(
                float(track.queue_total[self._shown:].mean()))
        self._shown = record.rounds
        bench.board.publish(demo=self.section("running", f"round {record.rounds}"))


Job = ChshJob | DemoJob
