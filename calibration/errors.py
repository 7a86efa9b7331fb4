"""The error a calibration step stops with."""

from __future__ import annotations


class CalibrationError(RuntimeError):
    """A step could not determine its values.

    The message says what the step saw and what to check (alignment,
    cabling, source); no value of the step is written.
    """

    def __init__(self, step: str, seen: str, check: str) -> None:
        self.step = step
        self.seen = seen
        self.check = check
        super().__init__(f"calibration step '{step}' stopped: {seen}. Check {check}.")
