"""Play a solved XOR game on the bench (issue 6 item 2; docs/balancing.md).

For every question pair (x, y) the game asks with non-zero probability,
both arms turn to the strategy's bases for x and y (together), the tagger
acquires, and coincidence matching picks out the distributed pairs (the
heralding role: a deployment needs heralded or stored pairs). Each side's
answer is its own outcome bit; the pair wins when a xor b = pred[x][y]. The
measured win rate, sum_xy p(x, y) P(win | x, y), is reported beside the
quantum value, the value the strategy reaches at a given visibility, and the
classical value.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import binomtest

from qnic.coincidence import outcome_counts
from qnic.games import XorGame
from qnic.node import set_bases_together
from qnic.station import LoadedStation
from qnic.storage import Quantity, RunRecorder

HERALDING = ("the pairs are heralded by coincidence matching after the fact; a deployment "
             "needs heralded or stored pairs")


SETPOINTS = (Quantity("phi_a_deg", "Arm A basis angle (polarizer-equivalent)", "deg"),
             Quantity("phi_b_deg", "Arm B basis angle (polarizer-equivalent)", "deg"))
"""The independent columns of a game played on the bench: the question pair's bases."""
VALUES = (Quantity("question_x", "Question x (player A)"),
          Quantity("question_y", "Question y (player B)"),
          Quantity("probability", "Probability of the question pair"),
          *(Quantity(f"n{ab}", f"Coincidences a={ab[0]}, b={ab[1]}", "counts")
            for ab in ("00", "01", "10", "11")),
          Quantity("win_rate", "Win rate at the question pair"),
          Quantity("live_s", "Live acquisition time", "s"))
"""The dependent columns: a row per question pair asked."""


def xor_bench_recorder(st: LoadedStation) -> RunRecorder:
    """The recorder of ``qnic xor --bench`` (run name ``xor-bench``, docs/storage.md)."""
    return RunRecorder("xor-bench", Path(st.config.path).stem, st.station, SETPOINTS, VALUES)


class NotRealizableError(ValueError):
    """The game's strategy cannot be set with this station's waveplates."""


@dataclass
class XorBenchResult:
    """A game played on the bench."""

    win_rate: float
    win_rate_err: float
    quantum_value: float
    predicted_at_visibility: float | None
    visibility: float | None
    classical_value: float
    per_question: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"win_rate": self.win_rate, "win_rate_err": self.win_rate_err,
                "quantum_value": self.quantum_value, "classical_value": self.classical_value,
                "predicted_at_visibility": self.predicted_at_visibility,
                "visibility": self.visibility, "per_question": self.per_question,
                "heralding": HERALDING}


def linear_phis(game: XorGame) -> tuple[list[float], list[float]]:
    """Polarizer-equivalent angles (degrees) of each player's bases.

    Raises:
        NotRealizableError: the strategy needs more than one Bell pair, or
            an elliptical basis (a QWP the station's arms do not have).
    """
    bases = game.bench_bases()
    if not bases.realizable:
        raise NotRealizableError(f"the optimal strategy needs {bases.bell_pairs_needed} Bell pairs: "
                                 f"{bases.note}")
    phis: list[list[float]] = [[], []]
    for i, (player, side) in enumerate((("A", bases.alice), ("B", bases.bob))):
        for q, basis in enumerate(side):
            if basis.needs_qwp or basis.phi_deg is None:
                raise NotRealizableError(f"player {player}'s basis for question {q} is elliptical "
                                         "(needs a QWP); the station's arms have HWPs only")
            phis[i].append(float(basis.phi_deg))
    return phis[0], phis[1]


def play_on_bench(st: LoadedStation, game: XorGame, seconds_per_question: float = 1.0,
                  visibility: float | None = None,
                  on_question: Callable[[dict[str, float]], None] | None = None) -> XorBenchResult:
    """Measure the game's win rate with the station's two QNICs.

    Args:
        st: an open station (rotators homed by this function).
        game: the XOR game; its quantum strategy must be linear (HWP only).
        seconds_per_question: acquisition per question pair (s).
        visibility: the bench's visibility V, to predict the strategy's
            value there: 1/2 + V sum p s E_ideal / 2 (None: not predicted).
        on_question: given each question pair's row (the columns of
            :data:`SETPOINTS` and :data:`VALUES`) as soon as it is measured.
    """
    phis_a, phis_b = linear_phis(game)
    a, b = st.qnics["A"], st.qnics["B"]
    for q in (a, b):
        q.rotator.home()
    delays = {**a.channel_delays, **b.channel_delays}
    win = 0.0
    var = 0.0
    per: dict[str, dict[str, Any]] = {}
    for x, phi_a in enumerate(phis_a):
        for y, phi_b in enumerate(phis_b):
            p = float(game.prob[x][y])
            if p <= 0:
                continue
            set_bases_together([(a, phi_a), (b, phi_b)])
            batch = a.tagger.acquire(seconds_per_question)
            n = outcome_counts(batch.timestamps, batch.channels, a.channels, b.channels,
                               st.window_ps, delays).n.ravel()
            total = int(n.sum())
            if total == 0:
                raise ValueError(f"no coincidences at questions ({x}, {y}): check the source and delays")
            same = int(n[0] + n[3])
            wins = same if game.pred[x][y] == 0 else total - same
            w = wins / total
            win += p * w
            var += p * p * w * (1 - w) / total
            ci = binomtest(wins, total).proportion_ci(confidence_level=0.95, method="wilson")
            per[f"{x}{y}"] = {"phi_deg": [phi_a, phi_b], "counts": n.tolist(), "win": w,
                              "win_ci95": [float(ci.low), float(ci.high)]}
            if on_question is not None:
                on_question({"phi_a_deg": phi_a, "phi_b_deg": phi_b, "question_x": x,
                             "question_y": y, "probability": p,
                             **{f"n{ab}": float(v) for ab, v in zip(("00", "01", "10", "11"), n)},
                             "win_rate": w, "live_s": batch.duration_s - batch.lost_s})
    predicted = None
    if visibility is not None:
        ideal = np.asarray(game.bench_bases().predicted_correlations())
        signs = 1 - 2 * np.asarray(game.pred, dtype=float)
        predicted = 0.5 + 0.5 * visibility * float(np.sum(np.asarray(game.prob) * signs * ideal))
    return XorBenchResult(win, math.sqrt(var), float(game.quantum_value().value), predicted,
                          visibility, float(game.classical_value().value), per)
