"""Calibration procedures and the calibration store (see docs/storage.md)."""
