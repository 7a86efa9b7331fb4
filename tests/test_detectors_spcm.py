"""The Excelitas SPCM-AQRH as a Detector, gated through a simulated TTL line.

Singles on the simulated bench: pair rate * transmission * efficiency * 1/2
+ dark counts (docs/physics.md; the marginal of the Bell-diagonal state is 1/2 at
every angle), checked within 4 Poisson sigma. Gated off: no counts at all.
"""

from __future__ import annotations

import math

import pytest
from benches import make_bench

from qnic.instruments.detectors.protocol import Detector, DetectorFigures, DigitalLine
from qnic.instruments.detectors.spcm import DATASHEET, SPCMAQRH
from qnic.instruments.errors import InstrumentError, TransportError
from qnic.sim.bench import Bench
from qnic.sim.digital_line import SimulatedDigitalLine
from qnic.sim.params import bench_params
from qnic.sim.tagger import SimulatedTimeTagger

SPAD = {"efficiency": 0.65, "dark_count_hz": 300.0, "dead_time_ns": 0.0, "jitter_ps": 150.0,
        "afterpulse_probability": 0.0}
PAIR_HZ, TRANSMISSION = 2e5, 0.25
SIM = {"name": "spcm", "seed": 5, "pair_rate_hz": PAIR_HZ,
       "A": {"transmission": TRANSMISSION, "detectors": {1: {"outcome": 0, **SPAD},
                                                         2: {"outcome": 1, **SPAD}}},
       "B": {"transmission": TRANSMISSION, "detectors": {3: {"outcome": 0, **SPAD},
                                                         4: {"outcome": 1, **SPAD}}}}
SINGLES_HZ = PAIR_HZ * TRANSMISSION * 0.65 * 0.5 + 300.0


def assert_poisson(observed: int, expected: float) -> None:
    assert abs(observed - expected) <= 4 * math.sqrt(expected) + 1, (observed, expected)


@pytest.fixture
def bench() -> Bench:
    return make_bench(SIM)


@pytest.fixture
def tagger(bench: Bench) -> SimulatedTimeTagger:
    return SimulatedTimeTagger("tagger", bench="spcm")


def spcm_on(channel: int) -> tuple[SPCMAQRH, SimulatedDigitalLine]:
    line = SimulatedDigitalLine(f"gate{channel}", bench="spcm", channel=channel)
    return SPCMAQRH(f"spcm{channel}", gate=line, channel=channel), line


def test_figures_default_to_the_reference_datasheet() -> None:
    spcm = SPCMAQRH("spcm", gate="nowhere")
    fig = spcm.figures()
    assert fig == DATASHEET
    assert fig.dead_time_ns == 22.0 and fig.efficiency == 0.65
    assert fig.afterpulse_probability == 0.005
    assert fig.jitter_ps == pytest.approx(350.0 / 2.3548)  # 350 ps FWHM as an RMS
    assert spcm.channel == 1
    assert isinstance(spcm, Detector)
    assert spcm.get_idn()["model"] == "SPCM-AQRH"


def test_figures_build_a_matching_simulated_detector() -> None:
    fig = DetectorFigures(dead_time_ns=24.0, jitter_ps=140.0, dark_count_hz=100.0,
                          efficiency=0.7, afterpulse_probability=0.004, max_count_rate_hz=25e6)
    params = bench_params({"A": {"detectors": {1: {"outcome": 0, **fig.as_sim_params()},
                                               2: {"outcome": 1}}}})
    det = params.detector(1)
    assert (det.dead_time_ns, det.jitter_ps, det.dark_count_hz, det.efficiency,
            det.afterpulse_probability, det.saturation_hz) == (24.0, 140.0, 100.0, 0.7, 0.004, 25e6)


def test_gate_low_stops_every_count_and_high_restores_them(
        bench: Bench, tagger: SimulatedTimeTagger) -> None:
    spcm, line = spcm_on(3)
    assert isinstance(line, DigitalLine)
    assert spcm.is_enabled()  # a bench detector is gated on at power-up
    spcm.disable()
    assert not spcm.is_enabled() and not line.is_high() and spcm.gate_enabled() is False
    counts = tagger.acquire(0.2).counts()
    assert counts.get(3, 0) == 0
    assert_poisson(counts[4], SINGLES_HZ * 0.2)  # the other detectors go on counting
    spcm.enable()
    assert spcm.is_enabled() and bench.detector_enabled(3)
    assert_poisson(tagger.acquire(0.2).counts()[3], SINGLES_HZ * 0.2)


def test_no_dark_count_or_afterpulse_leaves_a_gated_detector() -> None:
    bench = make_bench({"name": "noisy", "A": {"detectors": {
        1: {"outcome": 0, "dark_count_hz": 1e5, "afterpulse_probability": 0.3},
        2: {"outcome": 1}}}})
    line = SimulatedDigitalLine("gate_n", bench="noisy", channel=1)
    noisy = SimulatedTimeTagger("tagger_n", bench="noisy")
    assert noisy.acquire(0.01).counts()[1] > 0
    line.set_low()
    assert noisy.acquire(0.05).counts().get(1, 0) == 0
    assert bench.expected_rates_hz()[1] == 0.0


def test_the_gate_line_is_found_by_its_station_name(tagger: SimulatedTimeTagger) -> None:
    line = SimulatedDigitalLine("gate_a0", bench="spcm", channel=1)  # a station holds it
    spcm = SPCMAQRH("spcm_a0", gate="gate_a0", channel=1)
    spcm.disable()
    assert not line.is_high()
    assert tagger.acquire(0.05).counts().get(1, 0) == 0


def test_a_gate_that_is_not_a_digital_line_names_what_was_expected() -> None:
    with pytest.raises(InstrumentError, match="not an open instrument.*DigitalLine"):
        SPCMAQRH("spcm_x", gate="no_such_line").enable()
    with pytest.raises(InstrumentError, match="not a DigitalLine"):
        SPCMAQRH("spcm_y", gate=object()).enable()  # type: ignore[arg-type]


def test_a_stuck_gate_line_is_caught_on_read_back(bench: Bench) -> None:
    spcm, line = spcm_on(2)
    line.stuck_at = True
    with pytest.raises(TransportError, match="reads back high after being driven low"):
        spcm.disable()
    assert bench.detector_enabled(2)  # the detector really is still counting


def test_figure_parameters_reject_nonsense() -> None:
    spcm = SPCMAQRH("spcm_v", gate="nowhere")
    with pytest.raises(ValueError):
        spcm.efficiency(1.5)
    with pytest.raises(ValueError):
        spcm.dead_time_ns(-1.0)
    spcm.tagger_channel(7)
    assert spcm.channel == 7
