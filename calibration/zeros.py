"""Waveplate zeros: the motor angle at which each HWP's fast axis is along H.

The source is set to emit |HH> (pump polarization 0: one crystal only), a
polarization reference the PBS can see: then arm X's outcome-0 probability
is cos^2 2(theta - z_X) whatever the other arm does. Scanning arm X's HWP
(the other fixed) and fitting the contrast of its outcomes among the
coincidences, C = offset + V cos 4(theta - z), gives z_X (mod 90 degrees,
the HWP's period), the fringe visibility, amplitude and background.
"""

from __future__ import annotations

import numpy as np

from qnic.calibration.context import Context
from qnic.calibration.errors import CalibrationError
from qnic.calibration.fits import fit_step_fringe
from qnic.calibration.values import Measured, StepResult

_K_PER_DEG = 4.0 * np.pi / 180.0  # cos 4(theta - z), theta in degrees


def waveplate_zeros(ctx: Context) -> StepResult:
    s = ctx.settings
    if ctx.source is not None:
        ctx.set_source(shutter_open=True, pump_deg=0.0)
    elif ctx.ask_operator is not None:
        ctx.ask_operator("Set the source to emit H-polarized pairs (pump at 0 deg), then press Enter.")
    else:
        raise CalibrationError("waveplate_zeros", "the station has no source with pump control",
                               "that the station names its source (qnic: source:) or run interactively")
    out = StepResult()
    out.values["waveplate_zero_deg"] = {}
    try:
        for arm in ("A", "B"):
            theta = np.linspace(0.0, 90.0, s.scan_points, endpoint=False)
            contrast, sigma, totals, backgrounds = [], [], [], []
            for t in theta:
                ctx.set_motor_angles(t if arm == "A" else None, t if arm == "B" else None)
                n, acc = ctx.counts(ctx.acquire(s.dwell_s))
                net = np.clip(n - acc, 0.0, None)
                total = net.sum()
                if total < 20:
                    raise CalibrationError("waveplate_zeros", f"{total:.0f} coincidences at {t:.1f} deg on arm {arm}",
                                           "the alignment, the source and the delays")
                # outcome 0 of this arm: cells 00 and 01 for A, 00 and 10 for B
                zero_out = net[0] + (net[1] if arm == "A" else net[2])
                c = (2 * zero_out - total) / total
                contrast.append(c)
                sigma.append(np.sqrt(max(1 - c * c, 1e-4) / total))
                totals.append(total)
                backgrounds.append(acc.sum())
            fit = fit_step_fringe("waveplate_zeros", theta, np.array(contrast), np.array(sigma),
                             _K_PER_DEG, 90.0)
            ctx.zeros_deg[arm] = fit.phase
            out.values["waveplate_zero_deg"][arm] = Measured(fit.phase, fit.phase_err)
            out.quality[f"fringe_{arm}"] = {
                "visibility": fit.amplitude, "visibility_err": fit.amplitude_err,
                "offset": fit.offset, "amplitude_counts": float(np.mean(totals)),
                "background_counts": float(np.mean(backgrounds)), "chi2_red": fit.chi2_red}
            model_x = np.linspace(0, 90, 181)
            out.plots[f"zero_{arm}"] = {
                "x": theta.tolist(), "y": contrast, "y_err": sigma,
                "model_x": model_x.tolist(), "model_y": fit.model(model_x, _K_PER_DEG).tolist(),
                "xlabel": f"arm {arm} HWP motor angle (deg)", "ylabel": "outcome contrast",
                "fit_text": (f"zero = {fit.phase:.2f} +- {fit.phase_err:.2f} deg\n"
                             f"visibility = {fit.amplitude:.4f} +- {fit.amplitude_err:.4f}\n"
                             f"chi2/dof = {fit.chi2_red:.2f}")}
    finally:
        if ctx.source is not None:
            ctx.set_source(pump_deg=45.0)
        elif ctx.ask_operator is not None:
            ctx.ask_operator("Set the source back to entangled pairs (pump at 45 deg), then press Enter.")
    return out
