"""The pump controller drives the simulated bench's pair rate; the power meter reads the pump.

Closed forms (docs/protocols.md 7.5, the pump): above threshold the pair rate is
``pair_rate_hz * (I - I_th) / (I_nom - I_th)``; singles follow as
``pair rate * transmission * efficiency * P(outcome) + dark``; the meter on the
pick-off reads ``pickoff_fraction * slope * (I - I_th)`` at the pump's wavelength.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from benches import make_bench
from station_files import default_dict, write

from qnic.instruments.lasers.itc4000 import ITC4001
from qnic.instruments.lasers.protocol import (
    find_power_meter,
    find_pump,
    pump_currents,
    set_pump,
)
from qnic.instruments.powermeters.pm100 import PM100D
from qnic.sim.source import SimulatedSource
from qnic.sim.tagger import SimulatedTimeTagger
from qnic.sim.visa.pump import PumpModel, pump_of, set_pair_rate_hz
from qnic.station import load_station_config, open_station

RATE = 2e5
MODEL = PumpModel()


def _singles_match(tagger: SimulatedTimeTagger, seconds: float) -> None:
    expected = tagger.bench.expected_rates_hz()
    measured = tagger.count_rates(seconds)
    for ch, rate in expected.items():
        # Poisson counts (dead time of the default detectors is negligible at
        # these rates: < 1 %, inside the tolerance): 4 sigma of the count
        sigma = math.sqrt(rate * seconds) / seconds
        assert abs(measured[ch] - rate) < 4 * sigma + 0.01 * rate, (ch, measured[ch], rate)


def test_pair_rate_follows_the_pump_current() -> None:
    bench = make_bench({"seed": 21, "pair_rate_hz": RATE})
    itc = ITC4001("pump", "sim://itc4001?bench=default")
    tagger = SimulatedTimeTagger("tagger", bench="default")
    assert bench.params.pair_rate_hz == RATE  # the nominal current gives the station's rate
    for current in (0.050, 0.100, 0.030):
        itc.current_a(current)
        share = max(0.0, current - MODEL.threshold_a) / (MODEL.nominal_current_a - MODEL.threshold_a)
        assert bench.params.pair_rate_hz == pytest.approx(RATE * share)
        _singles_match(tagger, 0.5)
    itc.current_a(0.100)
    itc.output_enabled(False)
    assert bench.params.pair_rate_hz == 0.0
    dark = sum(d.dark_count_hz for arm in bench.params.arms.values() for d in arm.detectors)
    assert sum(tagger.count_rates(0.5).values()) < dark + 4 * math.sqrt(dark / 0.5) * 2


def test_power_meter_reads_a_power_consistent_with_the_pair_rate() -> None:
    bench = make_bench({"seed": 22, "pair_rate_hz": RATE})
    itc = ITC4001("pump", "sim://itc4001?bench=default")
    meter = PM100D("meter", "sim://pm100d?bench=default&noise_w=0")
    meter.wavelength_nm(MODEL.wavelength_nm)
    itc.current_a(0.065)
    pump_w = meter.read_power_w() / MODEL.pickoff_fraction
    assert pump_w == pytest.approx(MODEL.slope_w_per_a * (0.065 - MODEL.threshold_a))
    assert bench.params.pair_rate_hz == pytest.approx(pump_of(bench).pairs_per_s_per_w * pump_w)


def test_set_pair_rate_without_a_pump_controller_and_bad_values() -> None:
    bench = make_bench({"seed": 23, "pair_rate_hz": RATE})
    set_pair_rate_hz(bench, 5e4)
    assert bench.params.pair_rate_hz == 5e4
    with pytest.raises(ValueError, match="pair rate"):
        set_pair_rate_hz(bench, -1.0)
    with pytest.raises(ValueError, match="threshold"):
        PumpModel(nominal_current_a=0.01)
    pump_of(bench)
    with pytest.raises(ValueError, match="another model"):
        pump_of(bench, PumpModel(threshold_a=0.02))


def test_a_station_with_pump_and_meter(tmp_path: Path) -> None:
    data = default_dict()
    data["instruments"]["pump"] = {"type": "qnic.instruments.lasers.itc4000.ITC4001",
                                   "address": "sim://itc4001?bench=default"}
    data["instruments"]["pump_meter"] = {"type": "qnic.instruments.powermeters.pm100.PM100D",
                                         "address": "sim://pm100d?bench=default"}
    cfg = load_station_config(write(tmp_path, data))
    with open_station(cfg, seed=4) as st:
        pump = find_pump(st.station)
        meter = find_power_meter(st.station)
        assert pump is st.station.components["pump"]
        assert meter is st.station.components["pump_meter"]
        nominal = st.bench.params.pair_rate_hz
        pump.set_pump_current(MODEL.nominal_current_a / 2 + MODEL.threshold_a / 2)
        assert st.bench.params.pair_rate_hz == pytest.approx(nominal / 2)
        assert meter.read_power_w() > 0
    assert find_pump({"tagger": object()}) is None
    with pytest.raises(TypeError):
        find_pump(42)


def test_scan_helpers_drive_and_read() -> None:
    bench = make_bench({"seed": 24, "pair_rate_hz": RATE})
    itc = ITC4001("pump", "sim://itc4001?bench=default&output=off")
    meter = PM100D("meter", "sim://pm100d?bench=default&noise_w=0")
    meter.wavelength_nm(MODEL.wavelength_nm)
    currents = pump_currents(itc, 0.04, 0.08, 5)
    assert currents == pytest.approx([0.04, 0.05, 0.06, 0.07, 0.08]) and currents[-1] == 0.08
    readings = [set_pump(itc, i, meter) for i in currents]
    assert itc.output_enabled() is True  # switched on by the first set
    for i, r in zip(currents, readings):
        assert r.current_a == pytest.approx(i)
        assert r.power_w == pytest.approx(
            MODEL.pickoff_fraction * MODEL.slope_w_per_a * (i - MODEL.threshold_a))
    assert bench.params.pair_rate_hz == RATE  # the last point is the nominal current
    with pytest.raises(ValueError, match="stop_a"):
        pump_currents(itc, 0.0, 2.0, 3)
    with pytest.raises(ValueError, match="pump current"):
        set_pump(itc, -0.1)
    assert set_pump(itc, 0.05).power_w is None


def test_meter_follows_a_rate_set_through_the_source() -> None:
    make_bench({"seed": 25, "pair_rate_hz": RATE})
    meter = PM100D("meter", "sim://pm100d?bench=default&noise_w=0")
    meter.wavelength_nm(MODEL.wavelength_nm)
    nominal_w = MODEL.pickoff_fraction * MODEL.slope_w_per_a * (
        MODEL.nominal_current_a - MODEL.threshold_a)
    assert meter.read_power_w() == pytest.approx(nominal_w)
    SimulatedSource("source", bench="default").pair_rate(RATE / 4)
    assert meter.read_power_w() == pytest.approx(nominal_w / 4)
