"""Pump-laser controllers (laser-diode current and TEC), QCoDeS VISA instruments."""
