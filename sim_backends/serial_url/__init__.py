"""pyserial URL handlers of the simulated bench (the ``sim://`` scheme)."""
