"""Instrument drivers, one family per folder, each a QCoDeS Instrument over a transport."""
