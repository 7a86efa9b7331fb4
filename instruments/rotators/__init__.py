"""Motorized waveplate rotators behind one protocol (:class:`Rotator`)."""

from qnic.instruments.rotators.protocol import Rotator

__all__ = ["Rotator"]
