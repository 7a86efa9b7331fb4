"""Overexposure protection: bright light on one detector stops the run,
disables that detector, and keeps every reading taken before it."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
from benches import make_bench

from qnic.instruments.detectors.overexposure import (
    OverexposureError,
    guard_readings,
    run_guarded,
    tagger_readings,
)
from qnic.instruments.detectors.protocol import CountReading, DetectorFigures
from qnic.instruments.detectors.single_quantum import SingleQuantumEos
from qnic.instruments.detectors.spcm import SPCMAQRH
from qnic.sim.bench import Bench
from qnic.sim.digital_line import SimulatedDigitalLine
from qnic.sim.tagger import SimulatedTimeTagger

LIMIT_HZ = 1e6
BRIGHT_HZ = 5e6  # stray light: above the limit, below the modules' 30 MHz saturation


class Counted:
    """Wraps a reading source: counts what was pulled, turns the light on
    after ``light_after`` readings, and records whether it was closed."""

    def __init__(self, source: Iterator[CountReading], bench: Bench, channel: int,
                 light_after: int) -> None:
        self.source, self.bench, self.channel, self.light_after = source, bench, channel, light_after
        self.pulled = 0
        self.closed = False

    def __iter__(self) -> Iterator[CountReading]:
        return self

    def __next__(self) -> CountReading:
        if self.pulled == self.light_after:
            self.bench.set_detector_state(self.channel, background_hz=BRIGHT_HZ)
        reading = next(self.source)
        self.pulled += 1
        return reading

    def close(self) -> None:
        self.closed = True
        close = getattr(self.source, "close", None)
        if close is not None:
            close()


def test_bright_light_on_one_spcm_stops_the_run_and_gates_it_off() -> None:
    bench = make_bench({"name": "spads", "seed": 9})
    tagger = SimulatedTimeTagger("tagger", bench="spads")
    spcms = [SPCMAQRH(f"spcm{ch}", gate=SimulatedDigitalLine(f"gate{ch}", bench="spads",
                                                             channel=ch), channel=ch)
             for ch in (1, 2, 3, 4)]
    source = Counted(tagger_readings(tagger, duration_s=1.0, chunk_s=0.01), bench, 3, 5)
    kept: list[CountReading] = []
    with pytest.raises(OverexposureError) as err:
        for reading in guard_readings(source, spcms, LIMIT_HZ):
            kept.append(reading)
    e = err.value
    assert (e.detector, e.channel, e.protected) == ("spcm3", 3, True)
    assert e.rate_hz > LIMIT_HZ and e.limit_hz == LIMIT_HZ
    assert list(e.readings) == kept and len(kept) == 5
    assert all(rate < LIMIT_HZ for r in kept for rate in r.rates_hz().values())
    assert all(r.counts[3] > 0 for r in kept)  # light reached channel 3 before
    # the run stopped: the reading that tripped was the last one taken
    assert source.pulled == 6 and source.closed
    assert bench.clock.now() == pytest.approx(0.06)
    assert not spcms[2].is_enabled() and not bench.detector_enabled(3)
    after = tagger.acquire(0.05).counts()
    assert after.get(3, 0) == 0 and after[4] > 0  # gated off: no counts, the rest go on


def test_a_run_in_the_dark_keeps_all_its_readings() -> None:
    make_bench({"name": "spads2", "seed": 1})
    tagger = SimulatedTimeTagger("tagger2", bench="spads2")
    spcm = SPCMAQRH("spcm", gate="unused", channel=1)  # never touched while all is well
    readings = run_guarded(tagger_readings(tagger, 0.1, 0.01), [spcm], LIMIT_HZ)
    assert len(readings) == 10
    assert sum(r.duration_s for r in readings) == pytest.approx(0.1)


def test_bright_light_on_one_snspd_stops_the_run_and_unbiases_it(
        snspd_bench: Bench, eos: SingleQuantumEos) -> None:
    source = Counted(eos.stream_counts(200), snspd_bench, 2, 5)
    with pytest.raises(OverexposureError) as err:
        run_guarded(source, eos.detector_channels, LIMIT_HZ)
    e = err.value
    assert (e.detector, e.channel, e.protected) == ("eos_det2", 2, True)
    assert len(e.readings) >= 5 and source.pulled == len(e.readings) + 1 and source.closed
    assert all(rate < LIMIT_HZ for r in e.readings for rate in r.rates_hz().values())
    stamps = [r.time_s for r in e.readings] + [e.reading.time_s]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    assert eos.bias_currents_ua() == [12.0, 0.0, 12.0, 12.0]
    assert eos.det2.operating_bias_ua() == 12.0
    assert not snspd_bench.detector_enabled(2)
    after = eos.read_counts(10)
    assert all(r.counts[2] == 0 and r.counts[1] > 0 for r in after)


def test_read_counts_with_a_limit_protects_from_the_first_reading(
        snspd_bench: Bench, eos: SingleQuantumEos) -> None:
    snspd_bench.set_detector_state(4, background_hz=BRIGHT_HZ)
    with pytest.raises(OverexposureError) as err:
        eos.read_counts(20, limit_hz=LIMIT_HZ)
    assert err.value.channel == 4 and err.value.readings == ()
    assert eos.bias_currents_ua()[3] == 0.0


class FakeDetector:
    def __init__(self, name: str, channel: int, fail: bool = False) -> None:
        self.name = name
        self._channel = channel
        self.fail = fail
        self.enabled = True

    @property
    def channel(self) -> int:
        return self._channel

    def figures(self) -> DetectorFigures:
        return DetectorFigures(dead_time_ns=22.0, jitter_ps=100.0, dark_count_hz=100.0,
                               efficiency=0.6)

    def enable(self) -> None:
        self.enabled = True

    def disable(self) -> None:
        if self.fail:
            raise OSError("gate line unplugged")
        self.enabled = False

    def is_enabled(self) -> bool:
        return self.enabled


def readings(*rates: dict[int, float]) -> list[CountReading]:
    return [CountReading(float(i), 0.1, {ch: int(r * 0.1) for ch, r in rate.items()})
            for i, rate in enumerate(rates)]


def test_per_channel_limits_and_unwatched_channels() -> None:
    a, b = FakeDetector("a", 1), FakeDetector("b", 2)
    data = readings({1: 500.0, 2: 500.0, 3: 1e9}, {1: 500.0, 2: 2000.0, 3: 1e9})
    with pytest.raises(OverexposureError) as err:
        run_guarded(data, [a, b], {1: 1000.0, 2: 1500.0})
    assert err.value.channel == 2 and len(err.value.readings) == 1
    assert a.enabled and not b.enabled  # only the overexposed one is disabled


def test_the_worst_overexposed_detector_is_the_one_disabled() -> None:
    a, b = FakeDetector("a", 1), FakeDetector("b", 2)
    with pytest.raises(OverexposureError) as err:
        run_guarded(readings({1: 3000.0, 2: 9000.0}), [a, b], 1000.0)
    assert err.value.detector == "b" and math.isclose(err.value.rate_hz, 9000.0)


def test_a_detector_that_cannot_be_disabled_still_stops_the_run() -> None:
    with pytest.raises(OverexposureError, match="could NOT be disabled") as err:
        run_guarded(readings({1: 10.0}, {1: 1e7}), [FakeDetector("a", 1, fail=True)], 1e3)
    assert not err.value.protected and isinstance(err.value.__cause__, OSError)
    assert len(err.value.readings) == 1


def test_bad_guard_setups_are_refused() -> None:
    with pytest.raises(ValueError, match="both feed channel 1"):
        run_guarded([], [FakeDetector("a", 1), FakeDetector("b", 1)], 1e3)
    with pytest.raises(ValueError, match=r"no count-rate limit for channel\(s\) \[2\]"):
        run_guarded([], [FakeDetector("a", 1), FakeDetector("b", 2)], {1: 1e3})
    with pytest.raises(ValueError, match="must be > 0"):
        run_guarded([], [FakeDetector("a", 1)], 0.0)
