"""Pure-numpy physics of the simulated bench: states, optics, detectors.

Nothing here does I/O or keeps time; :mod:`qnic.sim.bench` drives it.
"""
