"""qnic-bench core: QNIC, bases, clock, coincidences, CHSH, station loading."""

__version__ = "0.1.0"
