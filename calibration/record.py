"""What ``qnic calibrate`` records in its QCoDeS dataset (docs/storage.md).

Each step adds the rows it measured as it finishes: dark counts, channel
delays and relative efficiencies per tagger channel, the cross-correlation
histogram of each A-B detector pair over the time difference, each arm's
waveplate-zero scan over the motor angle, and the H/V and D/A correlation
curves over both arms' bases. The values with their uncertainties also go
to the calibration file (:mod:`qnic.calibration.store`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from qnic.calibration.values import StepResult
from qnic.station import LoadedStation
from qnic.storage import Quantity, RunRecorder

PS = 1e-12
CHANNEL = Quantity("channel", "Tagger channel")
PHI_A = Quantity("phi_a_deg", "Arm A basis angle (polarizer-equivalent)", "deg")
PHI_B = Quantity("phi_b_deg", "Arm B basis angle (polarizer-equivalent)", "deg")
CHANNEL_A = Quantity("channel_a", "Arm A tagger channel")
CHANNEL_B = Quantity("channel_b", "Arm B tagger channel")
TIME_DIFFERENCE = Quantity("time_difference_s", "Time difference t_B - t_A", "s")


def _motor(arm: str) -> Quantity:
    return Quantity(f"motor_angle_{arm.lower()}_deg", f"Arm {arm} HWP motor angle", "deg")


SERIES: list[tuple[tuple[Quantity, ...], tuple[Quantity, ...]]] = [
    ((CHANNEL,), (Quantity("dark_count_hz", "Dark count rate", "Hz"),
                  Quantity("dark_count_err_hz", "Dark count rate uncertainty", "Hz"))),
    ((CHANNEL,), (Quantity("delay_s", "Channel delay relative to arm A outcome 0", "s"),
                  Quantity("delay_err_s", "Channel delay uncertainty", "s"))),
    ((CHANNEL_A, CHANNEL_B, TIME_DIFFERENCE),
     (Quantity("cross_correlation", "Cross-correlation", "counts"),)),
    *(((_motor(arm),), (Quantity(f"zero_contrast_{arm.lower()}",
                                 f"Arm {arm} outcome contrast, |HH> source"),
                        Quantity(f"zero_contrast_err_{arm.lower()}",
                                 f"Arm {arm} outcome contrast uncertainty")))
      for arm in ("A", "B")),
    ((PHI_A, PHI_B), (Quantity("E", "Correlator E (accidentals subtracted)"),
                      Quantity("E_err", "Correlator E uncertainty"))),
    ((CHANNEL,), (Quantity("relative_efficiency", "Detection efficiency relative to arm A outcome 0"),
                  Quantity("relative_efficiency_err", "Relative efficiency uncertainty"))),
]
"""The series of a calibration dataset: (setpoints, values)."""

_PER_CHANNEL = {"dark_count_hz": ("dark_count_hz", "dark_count_err_hz", 1.0),
                "delay_ps": ("delay_s", "delay_err_s", PS),
                "relative_efficiency": ("relative_efficiency", "relative_efficiency_err", 1.0)}
"""Calibration quantity -> (value column, uncertainty column, factor to the column's unit)."""

_FIXED_B_DEG = {"HV": 0.0, "DA": 45.0}
"""Arm B's basis during each visibility curve (calibration/visibility.py)."""


def calibration_recorder(st: LoadedStation) -> RunRecorder:
    """The recorder of a calibration run (run name ``calibrate``)."""
    recorder = RunRecorder("calibrate", Path(st.config.path).stem, st.station)
    for setpoints, values in SERIES:
        recorder.add_series(setpoints, values)
    return recorder


def record_step(recorder: RunRecorder, result: StepResult) -> None:
    """Add what one calibration step measured (its values and its fit data)."""
    for quantity, (value, err, factor) in _PER_CHANNEL.items():
        measured = result.values.get(quantity, {})
        if measured:
            channels = sorted(measured, key=int)
            recorder.add_rows(channel=[int(c) for c in channels],
                              **{value: [measured[c].value * factor for c in channels],
                                 err: [measured[c].err * factor for c in channels]})
    for pair, hist in result.plots.get("cross_correlation", {}).items():
        ca, cb = (int(c) for c in pair.split("-"))
        x = np.asarray(hist["x"], dtype=np.float64)
        recorder.add_rows(channel_a=np.full(x.size, ca), channel_b=np.full(x.size, cb),
                          time_difference_s=x * PS, cross_correlation=hist["y"])
    for arm in ("A", "B"):
        scan = result.plots.get(f"zero_{arm}")
        if scan is not None:
            recorder.add_rows(**{_motor(arm).name: scan["x"], f"zero_contrast_{arm.lower()}": scan["y"],
                                 f"zero_contrast_err_{arm.lower()}": scan["y_err"]})
    for basis, phi_b in _FIXED_B_DEG.items():
        curve = result.plots.get(f"visibility_{basis}")
        if curve is not None:
            x = np.asarray(curve["x"], dtype=np.float64)
            recorder.add_rows(phi_a_deg=x, phi_b_deg=np.full(x.size, phi_b), E=curve["y"],
                              E_err=curve["y_err"])
