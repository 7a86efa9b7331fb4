"""PNGs of the calibration fits, written beside the calibration file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def save_fit_plots(plots: dict[str, dict[str, Any]], calibration_file: Path) -> list[Path]:
    """One PNG per fitted curve: the data with error bars, the fitted model
    and the fitted values with their errors in a box; the cross-correlation
    histograms one panel per detector pair, each zoomed to its peak with the
    coincidence window drawn. Returns the files."""
    written = []
    for name, p in plots.items():
        path = calibration_file.with_name(f"{calibration_file.stem}_{name}.png")
        if name == "cross_correlation":
            fig = _cross_correlation_figure(p)
        else:
            fig, ax = plt.subplots(figsize=(6, 4))
            ax.errorbar(p["x"], p["y"], yerr=p["y_err"], fmt="o", ms=3, label="measured")
            ax.plot(p["model_x"], p["model_y"], "-", label="fit")
            ax.set_xlabel(p["xlabel"])
            ax.set_ylabel(p["ylabel"])
            # the fitted values head the legend, placed where the data leave room
            legend = ax.legend(loc="best", fontsize=8, title=p.get("fit_text"),
                               title_fontsize=8, framealpha=0.85)
            legend.get_title().set_fontfamily("monospace")
            ax.set_title(name.replace("_", " "))
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    return written


def _cross_correlation_figure(pairs: dict[str, dict[str, Any]]) -> Any:
    """A panel per detector pair: the histogram around its peak (+-6 peak
    widths, at least +-2 windows), the fitted delay and the window drawn."""
    n = max(len(pairs), 1)
    cols = 2 if n > 1 else 1
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.2 * rows), squeeze=False)
    for ax, (pair, h) in zip(axes.ravel(), pairs.items()):
        x, y = np.asarray(h["x"], float), np.asarray(h["y"], float)
        peak, window = float(h["peak"]), float(h.get("window") or 0.0)
        half = max(6.0 * float(h.get("sigma") or 0.0), 2.0 * window, 5.0 * float(x[1] - x[0])
                   if x.size > 1 else 1.0)
        keep = np.abs(x - peak) <= half
        ax.step(x[keep], y[keep], where="mid", lw=0.9)
        ax.axvline(peak, color="C3", lw=0.8,
                   label=f"delay {peak:.0f} +- {float(h.get('peak_err') or 0.0):.0f} ps")
        if window:
            ax.axvspan(peak - window, peak + window, color="C2", alpha=0.2,
                       label=f"window +-{window:.0f} ps")
        ax.set_title(f"channels {pair}", fontsize=9)
        ax.set_xlabel("t_B - t_A (ps)")
        ax.set_ylabel("pairs per bin")
        ax.legend(fontsize=7)
    for ax in axes.ravel()[len(pairs):]:
        ax.set_visible(False)
    return fig
