"""Calibration procedures and the calibration store (see DESIGN 8)."""
