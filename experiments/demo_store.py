"""What ``qnic demo`` records in its QCoDeS dataset (docs/storage.md).

One row per round, added block by block as the rounds are played: the two
balancers' requests, the outcome bits of the heralded pair the round used,
how long that pair was waited for and stored, and for each strategy whether
the round was won, the requests queued on all servers after it and each
side's decision time.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from qnic.experiments.demo_record import DemoRecord
from qnic.station import LoadedStation
from qnic.storage import Quantity, RunRecorder

ROUND = Quantity("round", "Round")
SHARED = (
    Quantity("request_a", "Balancer A's request (1 = type C, 0 = type E)"),
    Quantity("request_b", "Balancer B's request (1 = type C, 0 = type E)"),
    Quantity("outcome_a", "Arm A's outcome bit of the round's pair"),
    Quantity("outcome_b", "Arm B's outcome bit of the round's pair"),
    Quantity("herald_wait_s", "Wait for the round's heralded pair (bench time)", "s"),
    Quantity("storage_s", "Storage time of the round's pair in the memories", "s"),
)
"""Columns of every round, whatever the strategies."""


def column_prefix(strategy: str) -> str:
    """A strategy's name as the prefix of its columns (``dedicated-c`` -> ``dedicated_c``)."""
    return strategy.replace("-", "_")


def strategy_columns(strategy: str) -> tuple[Quantity, ...]:
    """The columns of one strategy: win, queue, each side's decision time."""
    p = column_prefix(strategy)
    return (Quantity(f"{p}_win", f"Round won ({strategy})"),
            Quantity(f"{p}_queue", f"Requests queued on all servers after the round ({strategy})",
                     "requests"),
            Quantity(f"{p}_decision_a_s", f"Balancer A's decision time ({strategy})", "s"),
            Quantity(f"{p}_decision_b_s", f"Balancer B's decision time ({strategy})", "s"))


def demo_recorder(st: LoadedStation, strategies: Iterable[str]) -> RunRecorder:
    """The recorder of a demo (run name ``demo``): a row per round."""
    values = [*SHARED, *(q for s in strategies for q in strategy_columns(s))]
    return RunRecorder("demo", Path(st.config.path).stem, st.station, [ROUND], values)


def record_rounds(recorder: RunRecorder, record: DemoRecord, start: int) -> int:
    """Add the rounds of ``record`` from ``start`` on; return the next round to add."""
    stop = record.rounds
    if stop <= start:
        return start
    part = slice(start, stop)
    columns: dict[str, np.ndarray] = {
        "round": np.arange(start, stop), "request_a": record.trace.x[part],
        "request_b": record.trace.y[part], "outcome_a": record.raw_a[part],
        "outcome_b": record.raw_b[part], "herald_wait_s": record.herald_wait_s[part],
        "storage_s": record.storage_s[part]}
    for name, track in record.tracks.items():
        p = column_prefix(name)
        columns[f"{p}_win"] = track.wins[part]
        columns[f"{p}_queue"] = track.queue_total[part]
        columns[f"{p}_decision_a_s"] = track.decision_ns[part, 0] * 1e-9
        columns[f"{p}_decision_b_s"] = track.decision_ns[part, 1] * 1e-9
    recorder.add_rows(**columns)
    return stop
