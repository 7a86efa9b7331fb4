"""XOR-game advantage study (the paper's Figure 3; docs/balancing.md).

Random XOR games on the complete graph K_n: every edge is exclusive (a xor b
must be 1: different servers) with probability p and co-locate (a xor b = 0:
same server) otherwise; the two load balancers receive an ordered pair of
distinct vertices, uniformly. For each n and p the study estimates the
probability that the quantum value exceeds the classical value by more than
``threshold``, with binomial standard errors.

run: draw ``trials`` games per point and solve them (classical value exactly,
quantum value from the certified SDP: the value compared is the one the
returned vectors achieve, so a counted advantage is real); analyze: the
fractions and their errors (pure); save: JSON and a PNG.

Each point (n, p) draws from ``numpy.random.default_rng([seed, n, k])``, k
the index of p, so a point is reproducible alone and independent of the others.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from qnic.experiments.demo_view import wilson_bounds
from qnic.games import XorGame, random_graph_game

DEFAULT_NS: tuple[int, ...] = (3, 4, 5, 6, 7)
DEFAULT_PS: tuple[float, ...] = tuple(round(0.05 * k, 2) for k in range(21))
DEFAULT_TRIALS = 200
ADVANTAGE_THRESHOLD = 1e-6
JSON_NAME, PNG_NAME = "xor_figure3.json", "xor_figure3.png"

Progress = Callable[[int, float, int, int], None]  # (n, p, points done, points in all)


def quantum_gain(game: XorGame) -> float:
    """Quantum value minus classical value (0 without computing the SDP when classical is 1)."""
    classical = game.classical_value().value
    if classical >= 1.0 - 1e-12:
        return 0.0  # nothing can beat a perfect classical strategy
    return game.quantum_value().value - classical


@dataclass(frozen=True)
class Figure3Result:
    """Counts of games with a quantum advantage, per n (rows) and p (columns).

    Attributes:
        ns: numbers of vertices, length R.
        ps: probabilities of an exclusive edge, length P.
        trials: games per point.
        seed: the study's seed.
        threshold: advantage counted when quantum - classical > threshold.
        advantage_counts: int64 array of shape (R, P).
        mean_gain: mean of quantum - classical value, float64 array (R, P).
    """

    ns: tuple[int, ...]
    ps: tuple[float, ...]
    trials: int
    seed: int
    threshold: float
    advantage_counts: NDArray[np.int64]
    mean_gain: NDArray[np.float64]

    @property
    def fraction(self) -> NDArray[np.float64]:
        """Estimated probability of an advantage, shape (R, P)."""
        return self.advantage_counts / self.trials

    @property
    def stderr(self) -> NDArray[np.float64]:
        """Binomial standard error sqrt(f (1 - f) / trials), shape (R, P)."""
        f = self.fraction
        return np.sqrt(f * (1.0 - f) / self.trials)

    @property
    def ci95(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Wilson 95% interval of each fraction: (low, high), shape (R, P) each."""
        low, high = wilson_bounds(self.advantage_counts, np.full_like(self.advantage_counts,
                                                                       self.trials))
        return low, high

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; per-n series are keyed by str(n)."""
        def by_n(arr: NDArray[Any]) -> dict[str, list[Any]]:
            return {str(n): arr[i].tolist() for i, n in enumerate(self.ns)}
        return {"ns": list(self.ns), "ps": list(self.ps), "trials": self.trials,
                "seed": self.seed, "threshold": self.threshold,
                "questions": "uniform over ordered pairs of distinct vertices",
                "advantage_counts": by_n(self.advantage_counts),
                "fraction": by_n(self.fraction), "stderr": by_n(self.stderr),
                "mean_gain": by_n(self.mean_gain)}


def run_figure3(trials: int = DEFAULT_TRIALS, seed: int = 0,
                ns: Sequence[int] = DEFAULT_NS, ps: Sequence[float] = DEFAULT_PS,
                threshold: float = ADVANTAGE_THRESHOLD,
                progress: Progress | None = None) -> Figure3Result:
    """Draw and solve the random games of every point (n, p).

    Args:
        trials: games per point (>= 1).
        seed: seed of the study.
        ns: numbers of vertices (each >= 2).
        ps: probabilities of an exclusive edge (each within [0, 1]).
        threshold: minimum quantum - classical gap counted as an advantage.
        progress: called after each point.

    Returns:
        The counts and mean gains.
    """
    if trials < 1:
        raise ValueError(f"trials must be >= 1, got {trials}")
    counts = np.zeros((len(ns), len(ps)), dtype=np.int64)
    gains = np.zeros((len(ns), len(ps)))
    total, done = len(ns) * len(ps), 0
    for i, n in enumerate(ns):
        for k, p in enumerate(ps):
            rng = np.random.default_rng([seed, n, k])
            point = np.array([quantum_gain(random_graph_game(n, p, rng)) for _ in range(trials)])
            counts[i, k] = int(np.sum(point > threshold))
            gains[i, k] = float(point.mean())
            done += 1
            if progress is not None:
                progress(n, p, done, total)
    return Figure3Result(tuple(int(n) for n in ns), tuple(float(p) for p in ps), trials, seed,
                         threshold, counts, gains)


def plot_figure3(result: Figure3Result, path: Path) -> None:
    """Write the curves (one per n, binomial error bars) as a PNG (Agg, no pyplot state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.4), dpi=150)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for i, n in enumerate(result.ns):
        ax.errorbar(result.ps, result.fraction[i], yerr=result.stderr[i], marker="o",
                    markersize=3, capsize=2, label=f"n = {n}")
    ax.set_xlabel("probability p that an edge is exclusive")
    ax.set_ylabel("P(quantum value > classical value)")
    ax.set_title(f"Random XOR games on K_n ({result.trials} games per point, seed {result.seed})",
                 fontsize=9)
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)


def save_figure3(result: Figure3Result, out_dir: Path) -> dict[str, Path]:
    """Write ``xor_figure3.json`` and ``xor_figure3.png`` into out_dir (created if needed).

    Returns:
        {"json": path, "png": path}.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / JSON_NAME, "png": out_dir / PNG_NAME}
    paths["json"].write_text(json.dumps(result.to_dict(), indent=1) + "\n")
    plot_figure3(result, paths["png"])
    return paths


def format_figure3(result: Figure3Result) -> str:
    """A table of the fractions (rows: p, columns: n)."""
    head = "     p  " + "".join(f"{'n = ' + str(n):>22}" for n in result.ns)
    title = (f"Random XOR games on K_n: P(quantum > classical + {result.threshold:g}), "
             f"{result.trials} games per point, seed {result.seed}")
    lines = [title, head]
    low, high = result.ci95
    for k, p in enumerate(result.ps):
        cells = "".join(f"{result.fraction[i, k]:.3f} [{low[i, k]:.3f}, {high[i, k]:.3f}]".rjust(22)
                        for i in range(len(result.ns)))
        lines.append(f"  {p:4.2f}  {cells}")
    return "\n".join(lines)


def expected_sigma(fraction: float, trials: int) -> float:
    """Binomial standard deviation of an estimated fraction (for tests and readers)."""
    return math.sqrt(max(fraction * (1.0 - fraction), 0.0) / trials)
