"""Calibration plots: the cross-correlation zoomed to its peak with the window
drawn, and the fitted values with their errors on the fit plots."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from qnic.calibration.plots import _cross_correlation_figure, save_fit_plots


def test_cross_correlation_panels_zoom_to_the_peak_and_draw_the_window() -> None:
    x = np.arange(-120_000, 120_000, 100.0)
    y = 100 * np.exp(-0.5 * ((x - 2300) / 350) ** 2)
    pairs = {"1-3": {"x": x.tolist(), "y": y.tolist(), "peak": 2300.0, "peak_err": 6.0,
                     "window": 1268, "sigma": 350.0},
             "2-4": {"x": x.tolist(), "y": y.tolist(), "peak": 2268.0, "peak_err": 6.0,
                     "window": 1268, "sigma": 350.0}}
    fig = _cross_correlation_figure(pairs)
    ax = fig.axes[0]
    lo, hi = ax.get_xlim()
    # +-6 peak widths or +-2 windows around the peak, not the +-120 ns scanned
    assert 2300 - 2 * 1268 - 500 < lo < 2300 - 2000 and 2300 + 2000 < hi < 2300 + 2 * 1268 + 500
    spans = [p for p in ax.patches if p.get_label().startswith("window")]
    assert len(spans) == 1 and "+-1268 ps" in spans[0].get_label()
    assert any("delay 2300 +- 6 ps" in t.get_text() for t in ax.get_legend().get_texts())


def test_fit_plots_carry_the_fitted_values(tmp_path: Path) -> None:
    x = np.linspace(0, 90, 10)
    plots = {"zero_A": {"x": x.tolist(), "y": np.cos(np.radians(4 * x)).tolist(),
                        "y_err": [0.01] * 10, "model_x": x.tolist(),
                        "model_y": np.cos(np.radians(4 * x)).tolist(), "xlabel": "deg",
                        "ylabel": "contrast", "fit_text": "zero = 2.96 +- 0.05 deg"}}
    paths = save_fit_plots(plots, tmp_path / "cal.json")
    assert [p.name for p in paths] == ["cal_zero_A.png"] and paths[0].stat().st_size > 1000
