"""PNGs of the calibration fits, written beside the calibration file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def save_fit_plots(plots: dict[str, dict[str, Any]], calibration_file: Path) -> list[Path]:
    """One PNG per fitted curve (data with error bars and the fitted model);
    the cross-correlation histograms in one figure. Returns the files."""
    written = []
    for name, p in plots.items():
        path = calibration_file.with_name(f"{calibration_file.stem}_{name}.png")
        fig, ax = plt.subplots(figsize=(6, 4))
        if name == "cross_correlation":
            for pair, h in p.items():
                ax.plot(h["x"], h["y"], lw=0.8, label=f"{pair}: peak {h['peak']:.0f} ps")
            ax.set_xlabel("t_B - t_A (ps)")
            ax.set_ylabel("pairs per bin")
            ax.legend(fontsize=8)
        else:
            ax.errorbar(p["x"], p["y"], yerr=p["y_err"], fmt="o", ms=3, label="measured")
            ax.plot(p["model_x"], p["model_y"], "-", label="fit")
            ax.set_xlabel(p["xlabel"])
            ax.set_ylabel(p["ylabel"])
            ax.legend()
        ax.set_title(name.replace("_", " "))
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    return written
