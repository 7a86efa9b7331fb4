"""Motorized waveplate rotators behind one protocol (:class:`Rotator`)."""

from instruments.rotators.protocol import Rotator

__all__ = ["Rotator"]
