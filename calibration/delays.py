"""Channel delays from the cross-correlation peaks of the A-B detector pairs,
and the coincidence window."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

from qnic.calibration.context import Context
from qnic.calibration.errors import CalibrationError
from qnic.calibration.values import Measured, StepResult
from qnic.coincidence import cross_correlation, estimate_delay, find_coincidences
from qnic.instruments.timetaggers.protocol import TagBatch


def channel_delays(ctx: Context) -> StepResult:
    """Each channel's delay relative to arm A's outcome-0 channel (docs/commands.md).

    The peak of the A_i-B_j cross-correlation sits at d(B_j) - d(A_i); the
    four pairs give d(A_1), d(B_0), d(B_1) by weighted least squares (a pair
    without a peak, as at settings where its outcomes never coincide, is
    left out). The window then keeps ``window_fraction`` of the true pairs:
    w = z sigma with sigma the width of the delay-corrected peak, the
    smallest window, and so the best coincidence-to-accidental ratio, that
    keeps that fraction.
    """
    s = ctx.settings
    ctx.set_source(shutter_open=True, pump_deg=45.0)
    # HWP at 22.5 deg on A and 0 on B: bases about 45 degrees apart, so all
    # four outcome pairs coincide often enough to show their peaks
    ctx.set_motor_angles(22.5, 0.0)
    batch = ctx.acquire(s.delay_s)
    a_ch, b_ch = ctx.a.channels, ctx.b.channels
    rows, peaks, errs, plots = [], [], [], {}
    for i, ca in enumerate(a_ch):
        for j, cb in enumerate(b_ch):
            centers, hist = cross_correlation(batch.of_channel(ca), batch.of_channel(cb),
                                              s.delay_range_ps, s.delay_bin_ps)
            try:
                est = estimate_delay(centers, hist)
            except ValueError:
                continue
            row = np.zeros(3)  # unknowns d(A1), d(B0), d(B1)
            row[1 + j] = 1.0
            if i == 1:
                row[0] = -1.0
            rows.append(row)
            peaks.append(est.delay_ps)
            errs.append(max(est.delay_err_ps, 1e-3))
            plots[f"{ca}-{cb}"] = {"x": centers.tolist(), "y": hist.tolist(), "peak": est.delay_ps,
                                   "peak_err": est.delay_err_ps}
    design = np.array(rows)
    if len(rows) < 3 or np.linalg.matrix_rank(design) < 3:
        raise CalibrationError("delays", f"only {len(rows)} of 4 detector pairs show a coincidence peak",
                               "the cabling, that both arms see the source, and the delay range")
    w = 1.0 / np.array(errs)
    sol, *_ = np.linalg.lstsq(design * w[:, None], np.array(peaks) * w, rcond=None)
    cov = np.linalg.inv((design * w[:, None]).T @ (design * w[:, None]))
    found = {a_ch[0]: (0.0, 0.0), a_ch[1]: (sol[0], cov[0, 0]), b_ch[0]: (sol[1], cov[1, 1]),
             b_ch[1]: (sol[2], cov[2, 2])}
    ctx.delays_ps = {ch: int(round(v)) for ch, (v, _) in found.items()}
    out = StepResult()
    out.values["delay_ps"] = {str(ch): Measured(float(v), math.sqrt(var)) for ch, (v, var) in found.items()}
    sigma = _peak_width(ctx, batch)
    window = int(math.ceil(sigma * NormalDist().inv_cdf((1 + s.window_fraction) / 2)))
    ctx.window_ps = window
    out.values["window_ps"] = {"A-B": Measured(window, 0.0)}
    out.quality.update({"pairs_with_peak": len(rows), "peak_sigma_ps": sigma})
    for h in plots.values():
        h["window"] = window
        h["sigma"] = sigma
    out.plots["cross_correlation"] = plots
    return out


def _peak_width(ctx: Context, batch: TagBatch) -> float:
    """RMS width (ps) of the delay-corrected coincidence peak, from the
    median absolute deviation of matched time differences."""
    t_a: list[np.ndarray] = []
    t_b: list[np.ndarray] = []
    for q, store in ((ctx.a, t_a), (ctx.b, t_b)):
        for ch in q.channels:
            store.append(batch.of_channel(ch) - ctx.delays_ps[ch])
    ta, tb = np.sort(np.concatenate(t_a)), np.sort(np.concatenate(t_b))
    i, j = find_coincidences(ta, tb, 5_000)
    if i.size < 100:
        raise CalibrationError("delays", f"only {i.size} coincidences within 5 ns after the delays",
                               "the source and the detectors")
    dt = (tb[j] - ta[i]).astype(np.float64)
    return float(1.4826 * np.median(np.abs(dt - np.median(dt))))
