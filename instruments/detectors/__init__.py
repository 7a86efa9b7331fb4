"""Single-photon detectors behind one protocol (:class:`Detector`), gated
through :class:`DigitalLine` where the detector has no data interface."""

from qnic.instruments.detectors.protocol import (
    CountReading,
    Detector,
    DetectorFigures,
    DigitalLine,
)

__all__ = ["CountReading", "Detector", "DetectorFigures", "DigitalLine"]
