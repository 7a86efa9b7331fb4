"""Sinusoidal fringe fits (scipy): correlation curves, waveplate scans."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class FringeFitError(ValueError):
    """A fringe could not be fitted; ``seen`` says what was seen, ``check``
    what to check."""

    def __init__(self, seen: str, check: str) -> None:
        self.seen = seen
        self.check = check
        super().__init__(f"{seen}; check {check}")


@dataclass(frozen=True)
class FringeFit:
    """y = offset + amplitude cos(k (x - phase)), fitted with weights.

    Attributes:
        phase, phase_err: position of the maximum in x units.
        amplitude, amplitude_err: fringe amplitude (>= 0).
        offset, offset_err: constant background level.
        chi2_red: reduced chi-square of the fit.
    """

    phase: float
    phase_err: float
    amplitude: float
    amplitude_err: float
    offset: float
    offset_err: float
    chi2_red: float

    def model(self, x: np.ndarray, k: float) -> np.ndarray:
        return self.offset + self.amplitude * np.cos(k * (x - self.phase))


def fit_fringe(x: np.ndarray, y: np.ndarray, sigma: np.ndarray, k: float,
               period: float) -> FringeFit:
    """Fit ``offset + amplitude cos(k (x - phase))``; phase reduced mod ``period``.

    The linear form a cos kx + b sin kx + c gives the starting point; the
    uncertainties are scaled by sqrt(chi2_red) when the fit is worse than
    its error bars (never shrunk).

    Raises:
        FringeFitError: too few points, or the fit does not converge.
    """
    if x.size < 4 or np.any(~np.isfinite(y)) or np.any(sigma <= 0):
        raise FringeFitError(f"only {x.size} usable scan points", "that light reaches the detectors")
    design = np.column_stack([np.cos(k * x), np.sin(k * x), np.ones_like(x)])
    coef, *_ = np.linalg.lstsq(design / sigma[:, None], y / sigma, rcond=None)
    amp0 = float(np.hypot(coef[0], coef[1]))
    phase0 = float(np.arctan2(coef[1], coef[0]) / k)

    def model(xx: np.ndarray, offset: float, amplitude: float, phase: float) -> np.ndarray:
        return offset + amplitude * np.cos(k * (xx - phase))

    from scipy.optimize import curve_fit  # (imported on use: scipy costs every command 0.2 s)

    try:
        popt, pcov = curve_fit(model, x, y, p0=[coef[2], amp0, phase0], sigma=sigma,
                               absolute_sigma=True, maxfev=10_000)
    except (RuntimeError, ValueError) as exc:
        raise FringeFitError(f"the fringe fit did not converge ({exc})",
                             "the alignment and that the fringe has enough counts") from None
    offset, amplitude, phase = (float(v) for v in popt)
    if amplitude < 0:
        amplitude, phase = -amplitude, phase + np.pi / k
    resid = (y - model(x, *popt)) / sigma
    dof = max(x.size - 3, 1)
    chi2_red = float(resid @ resid / dof)
    scale = max(1.0, np.sqrt(chi2_red))
    err = np.sqrt(np.clip(np.diag(pcov), 0, None)) * scale
    if not np.all(np.isfinite(err)):
        raise FringeFitError("the fringe fit has undetermined parameters",
                             "that the scan covers a full fringe period")
    return FringeFit(float(phase % period), float(err[2]), amplitude, float(err[1]), offset,
                     float(err[0]), chi2_red)
