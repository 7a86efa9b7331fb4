"""Optical power meters, QCoDeS VISA instruments."""
