"""Visibilities in the H/V and D/A bases from correlation curves, and the
detectors' relative efficiencies from the singles balance."""

from __future__ import annotations

import math

import numpy as np

from qnic.calibration.context import Context
from qnic.calibration.errors import CalibrationError
from qnic.calibration.fits import fit_step_fringe
from qnic.calibration.values import Measured, StepResult

_K_PER_DEG = 2.0 * np.pi / 180.0  # E = V cos 2(phi_A - phi_B), phi in degrees


def correlation_curve(ctx: Context, phi_b_deg: float, points: int, dwell_s: float
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """E(phi_A) with arm B at ``phi_b_deg`` (accidentals subtracted).

    Returns:
        (phi_A in degrees, E, sigma_E), each shape (points,).
    """
    phi = np.linspace(0.0, 180.0, points, endpoint=False)
    e, err = [], []
    for p in phi:
        ctx.set_bases(p, phi_b_deg)
        n, acc = ctx.counts(ctx.acquire(dwell_s))
        net = np.clip(n - acc, 0.0, None)
        total = net.sum()
        if total < 20:
            raise CalibrationError("visibility", f"{total:.0f} coincidences at phi_A = {p:.1f} deg",
                                   "the alignment, the source and the delays")
        val = (net[0] - net[1] - net[2] + net[3]) / total
        e.append(val)
        err.append(math.sqrt(max(1 - val * val, 1e-4) / total))
    return phi, np.array(e), np.array(err)


def visibilities(ctx: Context) -> StepResult:
    """Fringe amplitudes of E(phi_A) with B at H (0 deg) and at D (45 deg)."""
    ctx.set_source(shutter_open=True, pump_deg=45.0)
    out = StepResult()
    out.values["visibility"] = {}
    for basis, phi_b in (("HV", 0.0), ("DA", 45.0)):
        phi, e, err = correlation_curve(ctx, phi_b, ctx.settings.scan_points, ctx.settings.dwell_s)
        fit = fit_step_fringe("visibility", phi, e, err, _K_PER_DEG, 180.0)
        out.values["visibility"][basis] = Measured(fit.amplitude, fit.amplitude_err)
        out.quality[f"fringe_{basis}"] = {"phase_deg": fit.phase, "offset": fit.offset,
                                          "chi2_red": fit.chi2_red}
        model_x = np.linspace(0, 180, 361)
        out.plots[f"visibility_{basis}"] = {
            "x": phi.tolist(), "y": e.tolist(), "y_err": err.tolist(),
            "model_x": model_x.tolist(), "model_y": fit.model(model_x, _K_PER_DEG).tolist(),
            "xlabel": f"arm A basis phi (deg), arm B at {phi_b:g} deg", "ylabel": "E",
            "fit_text": (f"V = {fit.amplitude:.4f} +- {fit.amplitude_err:.4f}\n"
                         f"phase = {fit.phase:.2f} deg, offset = {fit.offset:.3f}\n"
                         f"chi2/dof = {fit.chi2_red:.2f}")}
    return out


def efficiencies(ctx: Context) -> StepResult:
    """Each detector's singles (dark counts removed) relative to arm A's
    outcome-0 detector: efficiency times the arm's transmission, relative.
    With the entangled source each photon's marginal is unpolarized, so both
    outcomes of an arm get half the light."""
    ctx.set_source(shutter_open=True, pump_deg=45.0)
    batch = ctx.acquire(ctx.settings.delay_s)
    live = batch.duration_s - batch.lost_s
    counts = batch.counts()
    chans = (*ctx.a.channels, *ctx.b.channels)
    net = {ch: counts.get(ch, 0) / live - ctx.dark_hz.get(ch, 0.0) for ch in chans}
    ref = net[chans[0]]
    if ref <= 0:
        raise CalibrationError("efficiencies", "no light on arm A's outcome-0 detector",
                               "the source and the detector")
    out = StepResult()
    out.values["relative_efficiency"] = {}
    n_ref = counts.get(chans[0], 0)
    for ch in chans:
        ratio = net[ch] / ref
        n = max(counts.get(ch, 0), 1)
        err = abs(ratio) * math.sqrt(1 / n + 1 / max(n_ref, 1))
        out.values["relative_efficiency"][str(ch)] = Measured(ratio, err)
    return out
