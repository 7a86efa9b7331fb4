"""What the queueing studies report alike (``qnic lb-sim``'s pairs, ``qnic lb-ghz``'s groups).

Both sweep N/M for several strategies and measure the mean queue per server
(strategies, ratios, seeds); this module turns that array into the report's
queue and knee entries, writes the JSON and PNG, draws the queue curves and
formats the table of mean queues and the knees' text. Pure; matplotlib is
imported only to plot.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from qnic.balancing import ServerRule, ServiceTime, find_knee, mean_ci

WARMUP_FRACTION = 0.1
QUEUE_KEYS = ("mean_queue", "mean_queue_ci", "knee", "knee_status", "knee_ci")
LINE_STYLES = ("-", "--", "-.", ":")


class QueueSweep:
    """What a study's config has of a sweep of N/M: N, the loads, steps and the warm-up.

    A base of the studies' frozen dataclasses (it adds no fields).
    """

    balancers: int
    ratios: tuple[float, ...]
    steps: int

    @property
    def warmup_steps(self) -> int:
        """Steps left out of the mean queue."""
        return int(WARMUP_FRACTION * self.steps)

    def servers(self) -> list[int]:
        """M = round(N / ratio) per ratio (after validation)."""
        return [int(round(self.balancers / r)) for r in self.ratios]


class QueueSweepResult:
    """A base of the studies' results: the effective loads of the config's sweep."""

    config: QueueSweep

    @property
    def effective_ratios(self) -> list[float]:
        """N/M of each point (M an integer)."""
        return [self.config.balancers / m for m in self.config.servers()]


def check_run(steps: object, seeds: object, threshold: float,
              bad: Callable[[str], Exception]) -> None:
    """Raise ``bad(message)`` unless steps and seeds are positive integers and the threshold a
    positive number."""
    for name, value in (("steps", steps), ("seeds", seeds)):
        if not isinstance(value, int) or value < 1:
            raise bad(f"{name} must be a positive integer, got {value!r}")
    if not (math.isfinite(threshold) and threshold > 0):
        raise bad(f"threshold must be a positive number, got {threshold!r}")


def positive_ratio(r: object) -> bool:
    """Whether a load N/M is a positive finite number."""
    return isinstance(r, (int, float)) and math.isfinite(r) and r > 0


def service_entries(rule: ServerRule, service: ServiceTime) -> dict[str, Any]:
    """The report's ``server_rule`` and ``service`` entries."""
    return {"server_rule": ServerRule(rule).value,
            "service": {"model": service.model.value, "mean_steps": service.mean_steps}}


def knee_definition(threshold: float) -> str:
    """The report's ``knee_definition``."""
    return (f"first N/M at which the mean queue exceeds {threshold:g}, "
            "interpolated linearly in log(queue)")


def queue_entries(out: dict[str, Any], name: str, queue: NDArray[np.float64],
                  ratios: Sequence[float], threshold: float) -> None:
    """Fill ``out``'s queue and knee entries (:data:`QUEUE_KEYS`) for one strategy.

    Args:
        queue: that strategy's mean queue per server, (ratios, seeds).
        ratios: the effective N/M of the points.
    """
    mean = queue.mean(axis=1)
    knee = find_knee(ratios, mean, threshold)
    per_seed = [find_knee(ratios, queue[:, k], threshold).ratio for k in range(queue.shape[1])]
    reached = [r for r in per_seed if r is not None]
    est = mean_ci(reached) if reached else None
    out["mean_queue"][name] = mean.tolist()
    out["mean_queue_ci"][name] = [
        None if e.low is None else [e.low, e.high]
        for e in (mean_ci(queue[k]) for k in range(len(ratios)))]
    out["knee"][name] = knee.ratio
    out["knee_status"][name] = knee.status.value
    out["knee_ci"][name] = {"per_seed": per_seed, "mean": est.mean if est else None,
                            "low": est.low if est else None,
                            "high": est.high if est else None}


def save_report(report: dict[str, Any], plot: Callable[[Path], None], out_dir: Path,
                json_name: str, png_name: str) -> dict[str, Path]:
    """Write the report as JSON and the plot as PNG into out_dir (created if needed)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / json_name, "png": out_dir / png_name}
    paths["json"].write_text(json.dumps(report, indent=1) + "\n")
    plot(paths["png"])
    return paths


def queue_figure() -> tuple[Any, Any]:
    """A figure (Agg) and its axes for a plot of mean queue against N/M."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.0, 4.8), dpi=150)
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def plot_queues(ax: Any, report: dict[str, Any], strategies: Sequence[str],
                labels: Sequence[str], threshold: float, knee_spans: bool) -> None:
    """Mean queue against N/M per strategy on a log axis: bands of the 95% intervals (clipped
    at a tenth of the mean), dotted knees (and, with knee_spans, their intervals shaded), the
    threshold, axis labels, grid and legend."""
    x = np.array(report["effective_ratios"])
    for k, (name, label) in enumerate(zip(strategies, labels)):
        y = np.maximum(np.array(report["mean_queue"][name]), 1e-3)
        ci = report["mean_queue_ci"][name]
        (line,) = ax.plot(x, y, marker="o", markersize=3, ls=LINE_STYLES[k % len(LINE_STYLES)],
                          label=label)
        if all(b is not None for b in ci):
            lo = np.maximum(np.array([b[0] for b in ci]), 0.1 * y)
            hi = np.maximum(np.array([b[1] for b in ci]), y)
            ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.15, lw=0)
        if report["knee"][name] is not None:
            ax.axvline(report["knee"][name], color=line.get_color(), lw=0.8, ls=":")
        knee_ci = report["knee_ci"][name]
        if knee_spans and knee_ci["low"] is not None:
            ax.axvspan(knee_ci["low"], knee_ci["high"], color=line.get_color(), alpha=0.08,
                       lw=0)
    ax.axhline(threshold, color="grey", lw=0.8, ls="--", label=f"threshold {threshold:g}")
    ax.set_yscale("log")
    ax.set_xlabel("load N/M (balancers per server)")
    ax.set_ylabel("mean queue length (requests per server)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)


def finish_figure(fig: Any, note: str, bottom: float, path: Path) -> None:
    """Put the note at the foot of the figure, lay it out and save it."""
    fig.text(0.01, 0.005, note, fontsize=6, color="dimgrey")
    fig.tight_layout(rect=(0, bottom, 1, 1))
    fig.savefig(path)


def queue_table(report: dict[str, Any], strategies: Sequence[str], width: int) -> list[str]:
    """The table of mean queues against N/M, one line a load, with its two header lines."""
    lines = ["mean queue (requests per server) against N/M:",
             "   N/M      M " + "".join(s.rjust(width) for s in strategies)]
    for k, (ratio, m) in enumerate(zip(report["effective_ratios"], report["servers"])):
        lines.append(f"  {ratio:5.3f} {m:6d} " + "".join(
            f"{report['mean_queue'][s][k]:.2f}".rjust(width) for s in strategies))
    return lines


def column_width(strategies: Sequence[str]) -> int:
    """Width of a strategy's column in the tables."""
    return max(12, *(len(s) for s in strategies)) + 2


def knee_rows(report: dict[str, Any], strategies: Sequence[str], width: int,
              win_text: Callable[[str], str], gap: str = " ") -> list[str]:
    """A line a strategy: its knee, the knee's per-seed interval (after ``gap``) and
    ``win_text(strategy)``."""
    lines = []
    for s in strategies:
        knee, ci = report["knee"][s], report["knee_ci"][s]
        knee_text = f"{knee:.3f}" if knee is not None else "beyond the sweep"
        ci_text = f"[{ci['low']:.3f}, {ci['high']:.3f}]" if ci["low"] is not None else "-"
        lines.append(f"  {s:<{width}} knee {knee_text:>16}{gap}{ci_text:>16}  win {win_text(s)}")
    return lines


__all__ = ["QUEUE_KEYS", "WARMUP_FRACTION", "QueueSweep", "QueueSweepResult", "check_run",
           "column_width", "finish_figure", "knee_definition", "knee_rows", "plot_queues",
           "positive_ratio", "queue_entries", "queue_figure", "queue_table", "save_report",
           "service_entries"]
