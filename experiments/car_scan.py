"""Pump-power scan (docs/commands.md ``qnic car-scan``; docs/physics.md "Rates at any pump power").

run: for each pair rate, set the source (its settable pair rate), or on a
station with a pump controller (qnic.instruments.lasers) each pump current,
reading the power meter when there is one; acquire in the diagonal basis of
both arms, and count singles,
coincidences and the accidentals under the peak (offset windows scaled,
docs/coincidences.md section 4); record the row.
analyze: CAR = (N - A) / A and the raw and corrected visibility per point,
and the closed form of :mod:`qnic.pair_source` fitted through them (pure).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qnic.coincidence import OutcomeStream, accidentals_under_peak
from qnic.instruments.lasers.protocol import PumpController, find_power_meter, set_pump
from qnic.node import set_bases_together
from qnic.pair_source import ScanFit, fit_scan
from qnic.station import LoadedStation
from qnic.storage import Quantity, RunRecorder

OFFSETS_PS = (0, 1_000_000, 2_000_000, 3_000_000, 4_000_000)
BASIS_DEG = 45.0
"""Both arms analyse the diagonal basis, where the visibility shows the
coherence of the pairs (the H/V one would show only their correlation)."""

SETPOINTS = (Quantity("pair_rate_hz", "Pair rate set on the source", "Hz"),)
PUMP_SETPOINTS = (Quantity("pump_current_a", "Pump laser-diode current", "A"),)
VALUES = (
    Quantity("singles_a_hz", "Singles rate, arm A", "Hz"),
    Quantity("singles_b_hz", "Singles rate, arm B", "Hz"),
    Quantity("coincidences", "Coincidences in the true window", "counts"),
    Quantity("accidentals", "Accidentals under the peak", "counts"),
    Quantity("car", "Coincidence-to-accidental ratio"),
    Quantity("visibility_raw", "Visibility, diagonal basis (raw)"),
    Quantity("visibility", "Visibility, diagonal basis (accidentals subtracted)"),
    Quantity("live_s", "Live acquisition time", "s"),
)
PUMP_VALUES = (*VALUES, Quantity("pump_power_w", "Pump power on the power meter", "W"))


class NoRateControl(ValueError):
    """The station has nothing that sets the pair rate."""


@dataclass
class CarPoint:
    """One pair rate of the scan."""

    pair_rate_hz: float
    live_s: float
    singles_a_hz: float
    singles_b_hz: float
    coincidences: float
    accidentals: float
    accidentals_var: float
    car: float
    car_err: float
    visibility_raw: float
    visibility: float
    visibility_err: float
    pump_current_a: float | None = None
    pump_power_w: float | None = None

    @property
    def drive(self) -> float:
        """What the scan's closed form is fitted against: the pair rate set,
        or the pump power read (the pair rate is proportional to it), or the
        pump current."""
        if self.pump_power_w is not None:
            return self.pump_power_w
        if self.pump_current_a is not None:
            return self.pump_current_a
        return self.pair_rate_hz


def rate_setter(st: LoadedStation) -> Callable[[float], None]:
    """How this station sets the pair rate: the source's ``pair_rate``
    parameter (the simulated source; a pump controller's driver on hardware).

    Raises:
        NoRateControl: the station names no source, or it cannot set a rate.
    """
    source = st.source
    if source is None:
        raise NoRateControl("the station names no source (qnic: source: ...), so nothing sets the "
                            "pair rate; add the source instrument to the wiring")
    param = getattr(source, "parameters", {}).get("pair_rate")
    if param is None:
        raise NoRateControl(f"source {source.name!r} has no pair_rate parameter to turn the pump "
                            "power with")
    return lambda hz: param(float(hz))


def measure_point(st: LoadedStation, pair_rate_hz: float, seconds: float, window_ps: int) -> CarPoint:
    """Set one pair rate and measure it (the bases must be set already)."""
    a, b = st.qnics["A"], st.qnics["B"]
    counter = OutcomeStream(a.channels, b.channels, window_ps,
                            {**a.channel_delays, **b.channel_delays}, OFFSETS_PS)
    live = 0.0
    for batch in a.tagger.stream(seconds, 0.1):
        counter.push(batch.timestamps, batch.channels, until_ps=batch.stop_ps)
        live += batch.duration_s - batch.lost_s
    true, *shifted = counter.finish()
    acc = accidentals_under_peak(true, shifted, a.channels, b.channels)
    n = true.n.astype(np.float64)
    total, acc_total = float(n.sum()), float(acc.mean.sum())
    acc_var = float(acc.var.sum())
    car = (total - acc_total) / acc_total if acc_total > 0 else math.inf
    car_err = math.sqrt(total / acc_total**2 + total**2 * acc_var / acc_total**4) \
        if acc_total > 0 else math.inf
    sign = np.array([[1.0, -1.0], [-1.0, 1.0]])
    raw_v = float((sign * n).sum() / total) if total > 0 else math.nan
    net = n - acc.mean
    net_total = float(net.sum())
    vis = float((sign * net).sum() / net_total) if net_total > 0 else math.nan
    # 1 - V^2 = 4 p (1 - p), p the anticorrelated share; with none counted p
    # is kept at least 1 / (N + 2) (rule of succession), so a lucky point at
    # V = 1 gets an error of a count, not none (nor all the fit's weight)
    floor = 4.0 / (net_total + 2) * (1.0 - 1.0 / (net_total + 2)) if net_total > 0 else 1.0
    vis_err = math.sqrt(max(1 - vis**2, floor) * (total + acc_var) / net_total**2) \
        if net_total > 0 else math.inf
    live = max(live, 1e-12)
    return CarPoint(pair_rate_hz, live, sum(true.singles[c] for c in a.channels) / live,
                    sum(true.singles[c] for c in b.channels) / live, total, acc_total, acc_var,
                    car, car_err, raw_v, vis, vis_err)


def run_pump_scan(st: LoadedStation, pump: PumpController, currents_a: Sequence[float],
                  seconds: float, window_ps: int,
                  on_point: Callable[[CarPoint], None] | None = None) -> list[CarPoint]:
    """Scan the pump currents in order (checked against the controller's range
    first), reading the power meter at each; the pump is put back to its
    current and output state after, also on error."""
    top = pump.max_current_a
    bad = [c for c in currents_a if not (math.isfinite(c) and 0.0 <= c <= top)]
    if bad:
        raise ValueError(f"pump currents must be 0 to {top * 1e3:g} mA, got {bad[0] * 1e3:g} mA")
    meter = find_power_meter(st.station)
    before, was_on = float(pump.pump_current_a()), bool(pump.pump_enabled())
    set_bases_together([(st.qnics["A"], BASIS_DEG), (st.qnics["B"], BASIS_DEG)])
    points: list[CarPoint] = []
    try:
        for current in currents_a:
            reading = set_pump(pump, float(current), meter)
            point = measure_point(st, math.nan, seconds, window_ps)
            point.pump_current_a, point.pump_power_w = reading.current_a, reading.power_w
            points.append(point)
            if on_point is not None:
                on_point(point)
    finally:
        pump.set_pump_current(before)
        pump.set_pump_enabled(was_on)
    return points


def run_scan(st: LoadedStation, rates_hz: Sequence[float], seconds: float, window_ps: int,
             on_point: Callable[[CarPoint], None] | None = None) -> list[CarPoint]:
    """Scan the pair rates in order; the source is put back to its first rate after."""
    set_rate = rate_setter(st)
    source = st.source
    before = float(source.pair_rate())
    set_bases_together([(st.qnics["A"], BASIS_DEG), (st.qnics["B"], BASIS_DEG)])
    points: list[CarPoint] = []
    try:
        for rate in rates_hz:
            set_rate(rate)
            point = measure_point(st, float(rate), seconds, window_ps)
            points.append(point)
            if on_point is not None:
                on_point(point)
    finally:
        set_rate(before)
    return points


def fit_points(points: Sequence[CarPoint], window_ps: int) -> ScanFit:
    """The closed form through the scan (:func:`qnic.pair_source.fit_scan`)."""
    arr = {k: np.array([getattr(p, k) for p in points]) for k in CarPoint.__dataclass_fields__}
    true_hz = (arr["coincidences"] - arr["accidentals"]) / arr["live_s"]
    return fit_scan(np.array([p.drive for p in points]), arr["singles_a_hz"], arr["singles_b_hz"], true_hz,
                    arr["visibility"], arr["visibility_err"], window_ps)


def point_row(p: CarPoint) -> dict[str, float]:
    """A point as a dataset row (a pump scan's, with its current and power)."""
    if p.pump_current_a is None:
        return {q.name: float(getattr(p, q.name)) for q in (*SETPOINTS, *VALUES)}
    row = {q.name: float(getattr(p, q.name)) for q in (*PUMP_SETPOINTS, *VALUES)}
    row["pump_power_w"] = math.nan if p.pump_power_w is None else float(p.pump_power_w)
    return row


def car_recorder(st: LoadedStation, pump: bool = False) -> RunRecorder:
    """The recorder of a scan: a row per pair rate, or per pump current (docs/storage.md)."""
    if pump:
        return RunRecorder("car_scan", Path(st.config.path).stem, st.station, PUMP_SETPOINTS, PUMP_VALUES,
                           row_noun="point")
    return RunRecorder("car_scan", Path(st.config.path).stem, st.station, SETPOINTS, VALUES,
                       row_noun="point")


def _finite(row: dict[str, Any]) -> dict[str, Any]:
    """JSON has no infinity: a CAR without accidentals is null."""
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()}


def to_json(points: Sequence[CarPoint], fit: ScanFit | None) -> dict[str, Any]:
    """The scan and its fit as JSON-ready data (non-finite values as null)."""
    return {"points": [_finite(asdict(p)) for p in points],
            "fit": None if fit is None else {**asdict(fit), "efficiency": list(fit.efficiency),
                                             "dark_hz": list(fit.dark_hz)}}


def save_scan_png(points: Sequence[CarPoint], fit: ScanFit | None, path: Path) -> None:
    """Rates, CAR and visibility against pair rate, with the fitted closed form."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    r = np.array([p.drive for p in points])
    pump = bool(points) and points[0].pump_current_a is not None
    x_label = "pair rate (Hz)" if not pump else (
        "pump power (W)" if points[0].pump_power_w is not None else "pump current (A)")
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    live = np.array([p.live_s for p in points])
    axes[0].loglog(r, [p.singles_a_hz for p in points], "o", label="singles A")
    axes[0].loglog(r, [p.singles_b_hz for p in points], "s", label="singles B")
    axes[0].loglog(r, np.array([p.coincidences for p in points]) / live, "^", label="coincidences")
    car = np.array([p.car if math.isfinite(p.car) else np.nan for p in points])
    car_err = np.array([p.car_err if math.isfinite(p.car_err) else np.nan for p in points])
    axes[1].errorbar(r, car, yerr=car_err, fmt="o", label="CAR")
    axes[2].errorbar(r, [p.visibility_raw for p in points], fmt="o", label="raw")
    axes[2].errorbar(r, [p.visibility for p in points], yerr=[p.visibility_err for p in points],
                     fmt="s", label="accidentals subtracted")
    curve_car = np.array([])
    drawn = r[np.isfinite(r) & (r > 0)]  # a pump below threshold may read 0 W (or a hair below)
    if fit is not None and drawn.size:
        x = np.geomspace(drawn.min(), drawn.max(), 200)
        c = fit.curves(x)
        curve_car = c["car"]
        axes[0].loglog(x, c["singles_a_hz"], "-", x, c["singles_b_hz"], "-", x, c["coincidences_hz"], "-")
        axes[1].plot(x, c["car"], "-", label=f"closed form (eta {fit.efficiency[0]:.3f}, "
                                             f"{fit.efficiency[1]:.3f})")
        axes[2].plot(x, c["visibility_raw"], "-", label=f"closed form (V = {fit.visibility:.4f})")
    axes[0].set_ylabel("rate (Hz)")
    axes[1].set_xscale("log")
    shown = np.concatenate([car, curve_car])
    if np.any(np.isfinite(shown) & (shown > 0)):
        axes[1].set_yscale("log")
    else:  # no point counted an accidental: nothing to put on a log scale
        axes[1].text(0.5, 0.5, "no accidentals counted:\nCAR unbounded at every point",
                     transform=axes[1].transAxes, ha="center", va="center")
    axes[1].set_ylabel("CAR")
    axes[2].set_xscale("log")
    axes[2].set_ylabel("visibility, diagonal basis")
    for ax in axes:
        ax.set_xlabel(x_label)
        ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
