"""Fringe fits for calibration steps: qnic.fringe, failures as CalibrationError."""

from __future__ import annotations

import numpy as np

from qnic.calibration.errors import CalibrationError
from qnic.fringe import FringeFit, FringeFitError, fit_fringe


def fit_step_fringe(step: str, x: np.ndarray, y: np.ndarray, sigma: np.ndarray, k: float,
                    period: float) -> FringeFit:
    """:func:`qnic.fringe.fit_fringe`; a failure stops ``step`` with its reason."""
    try:
        return fit_fringe(x, y, sigma, k, period)
    except FringeFitError as exc:
        raise CalibrationError(step, exc.seen, exc.check) from None
