"""Measured values with their uncertainties, and what a step returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Measured:
    """A value and its one-sigma uncertainty, in the unit its name says."""

    value: float
    err: float

    def to_json(self) -> dict[str, float]:
        return {"value": float(self.value), "err": float(self.err)}

    @classmethod
    def from_json(cls, data: dict[str, float]) -> Measured:
        return cls(float(data["value"]), float(data["err"]))


@dataclass
class StepResult:
    """What one calibration step found.

    Attributes:
        values: quantity -> key (arm, channel or basis) -> Measured.
        quality: fit quality figures (reduced chi-square, counts used, ...).
        plots: name -> (x, y, y_err, model_x, model_y, labels) for the PNGs.
    """

    values: dict[str, dict[str, Measured]] = field(default_factory=dict)
    quality: dict[str, Any] = field(default_factory=dict)
    plots: dict[str, dict[str, Any]] = field(default_factory=dict)
