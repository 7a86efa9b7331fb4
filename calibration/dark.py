"""Dark counts per detector, with the source blocked."""

from __future__ import annotations

import math

from qnic.calibration.context import Context
from qnic.calibration.errors import CalibrationError
from qnic.calibration.values import Measured, StepResult


def dark_counts(ctx: Context) -> StepResult:
    """Count every channel with the source blocked (shutter, or the operator).

    The rate's uncertainty is Poisson: sqrt(N) / T.
    """
    if ctx.source is not None:
        ctx.set_source(shutter_open=False)
    elif ctx.ask_operator is not None:
        ctx.ask_operator("Block the source (close the pump shutter), then press Enter.")
    else:
        raise CalibrationError("dark_counts", "the station has no source shutter and nobody to ask",
                               "that the station names its source (qnic: source:) or run interactively")
    try:
        batch = ctx.acquire(ctx.settings.dark_s)
    finally:
        if ctx.source is not None:
            ctx.set_source(shutter_open=True)
        elif ctx.ask_operator is not None:
            ctx.ask_operator("Unblock the source, then press Enter.")
    live = batch.duration_s - batch.lost_s
    counts = batch.counts()
    out = StepResult()
    out.values["dark_count_hz"] = {}
    for ch in (*ctx.a.channels, *ctx.b.channels):
        n = counts.get(ch, 0)
        out.values["dark_count_hz"][str(ch)] = Measured(n / live, math.sqrt(max(n, 1)) / live)
        ctx.dark_hz[ch] = n / live
    out.quality["live_s"] = live
    return out
