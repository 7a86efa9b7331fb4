"""Detector protection on live data: overexposure acted on within 100 ms of
bench time, and a latched SNSPD found from its counts and re-biased."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from benches import make_bench

from qnic.instruments.detectors.overexposure import (
    MAX_READING_S,
    DetectorGuard,
    DetectorLatchedError,
    OverexposureError,
    ProtectionAction,
    guard_readings,
    tagger_readings,
)
from qnic.instruments.detectors.protocol import CountReading, DetectorFigures
from qnic.instruments.detectors.single_quantum import SingleQuantumEos
from qnic.instruments.detectors.spcm import SPCMAQRH
from qnic.sim.bench import Bench
from qnic.sim.digital_line import SimulatedDigitalLine
from qnic.sim.tagger import SimulatedTimeTagger

LIMIT_HZ = 1e6
BRIGHT_HZ = 5e6


class Between:
    """Pulls readings from ``source`` and calls ``act`` once, before reading ``at``."""

    def __init__(self, source: Iterator[CountReading], at: int, act: Callable[[], None]) -> None:
        self.source, self.at, self.act = source, at, act
        self.pulled = 0

    def __iter__(self) -> Iterator[CountReading]:
        return self

    def __next__(self) -> CountReading:
        if self.pulled == self.at:
            self.act()
        reading = next(self.source)
        self.pulled += 1
        return reading

    def close(self) -> None:
        close = getattr(self.source, "close", None)
        if close is not None:
            close()


def spad_bench() -> tuple[Bench, SimulatedTimeTagger, list[SPCMAQRH]]:
    bench = make_bench({"name": "spads", "seed": 3})
    tagger = SimulatedTimeTagger("tagger", bench="spads")
    spcms = [SPCMAQRH(f"spcm{ch}", gate=SimulatedDigitalLine(f"gate{ch}", bench="spads",
                                                             channel=ch), channel=ch)
             for ch in (1, 2, 3, 4)]
    return bench, tagger, spcms


def test_overexposed_spcm_is_gated_off_within_100_ms_of_bench_time() -> None:
    bench, tagger, spcms = spad_bench()
    light_on_s: list[float] = []

    def light() -> None:
        light_on_s.append(bench.clock.now())
        bench.set_detector_state(2, background_hz=BRIGHT_HZ)

    guard = DetectorGuard(spcms, LIMIT_HZ)
    source = Between(tagger_readings(tagger, 2.0, chunk_s=MAX_READING_S), 4, light)
    with pytest.raises(OverexposureError) as err:
        guard.run(source)
    # gated off at the end of the first reading that saw the light: <= 100 ms later
    assert (err.value.channel, err.value.protected) == (2, True)
    assert 0 < bench.clock.now() - light_on_s[0] <= MAX_READING_S + 1e-12
    assert not bench.detector_enabled(2) and not spcms[1].is_enabled()
    assert len(err.value.readings) == 4
    assert [(e.action, e.detector, e.channel) for e in guard.events] == \
        [(ProtectionAction.DISABLED, "spcm2", 2)]
    assert guard.events[0].rate_hz > LIMIT_HZ


def test_readings_longer_than_100_ms_are_refused_before_the_run_goes_on() -> None:
    bench, tagger, spcms = spad_bench()
    with pytest.raises(ValueError, match="longer than the guard's 0.1 s response time"):
        list(guard_readings(tagger_readings(tagger, 2.0, chunk_s=0.25), spcms, LIMIT_HZ))
    assert bench.clock.now() == pytest.approx(0.25)  # stopped after the first reading
    with pytest.raises(ValueError, match="longer than"):
        DetectorGuard([], LIMIT_HZ).run([CountReading(0.0, 0.2, {})])


def latch(eos: SingleQuantumEos, index: int) -> Callable[[], None]:
    """Bias detector ``index`` past its switching current and back: it latches."""
    det = eos.detector_channels[index]

    def act() -> None:
        det.bias_current_ua(16.0)
        det.bias_current_ua(12.0)
    return act


def test_latched_snspd_is_found_from_its_counts_and_rebiased(
        snspd_bench: Bench, eos: SingleQuantumEos) -> None:
    source = Between(eos.stream_counts(60), 5, latch(eos, 1))  # connects: channels known
    guard = DetectorGuard(eos.detector_channels, LIMIT_HZ)
    assert guard.latch_channels == (1, 2, 3, 4)
    readings = guard.run(source)
    assert len(readings) == 60
    counts = [r.counts[2] for r in readings]
    assert all(n > 0 for n in counts[:5])
    # latched: nothing on channel 2 while biased, the others count on
    zeros = [i for i, n in enumerate(counts) if n == 0]
    assert zeros and all(readings[i].counts[1] > 0 for i in zeros)
    assert [(e.action, e.detector, e.channel) for e in guard.events] == \
        [(ProtectionAction.REBIASED, "eos_det2", 2)]
    assert "latched" in guard.events[0].reason
    # re-biased: the operating bias restored, and counting again
    assert eos.bias_currents_ua() == [12.0] * 4
    assert all(n > 0 for n in counts[-5:])
    assert snspd_bench.detector_enabled(2)


def test_driver_records_protection_events(snspd_bench: Bench, eos: SingleQuantumEos) -> None:
    snspd_bench.set_detector_state(3, background_hz=BRIGHT_HZ)
    with pytest.raises(OverexposureError):
        eos.read_counts(20, limit_hz=LIMIT_HZ)
    assert [(e.action, e.channel) for e in eos.protection_events] == \
        [(ProtectionAction.DISABLED, 3)]


class FakeSnspd:
    def __init__(self, name: str, channel: int, dark_count_hz: float = 100.0) -> None:
        self.name, self._channel, self.dark = name, channel, dark_count_hz
        self.operating_bias_ua = 12.0
        self.enabled = True
        self.calls: list[str] = []

    @property
    def channel(self) -> int:
        return self._channel

    def figures(self) -> DetectorFigures:
        return DetectorFigures(dead_time_ns=50.0, jitter_ps=20.0, dark_count_hz=self.dark,
                               efficiency=0.85)

    def enable(self) -> None:
        self.calls.append("enable")
        self.enabled = True

    def disable(self) -> None:
        self.calls.append("disable")
        self.enabled = False

    def is_enabled(self) -> bool:
        return self.enabled


def zeros(n: int, ch: int = 1) -> list[CountReading]:
    return [CountReading(0.01 * i, 0.01, {ch: 0}) for i in range(n)]


def test_a_short_silence_is_not_a_latch_and_unbiased_detectors_are_left_alone() -> None:
    det = FakeSnspd("snspd", 1, dark_count_hz=100.0)  # 10 dark counts take 100 ms
    guard = DetectorGuard([det], LIMIT_HZ)
    guard.run(zeros(9) + [CountReading(1.0, 0.01, {1: 3})] + zeros(9))
    assert guard.events == [] and det.calls == []
    det.enabled = False  # switched off on purpose: silence is expected
    guard.run(zeros(30))
    assert guard.events == [] and det.calls == []


def test_a_detector_that_keeps_latching_is_left_unbiased_and_the_run_stops() -> None:
    det = FakeSnspd("snspd", 1)
    guard = DetectorGuard([det], LIMIT_HZ, max_rebias=2)
    with pytest.raises(DetectorLatchedError, match="latched again on channel 1 after 2"):
        guard.run(zeros(100))
    assert [e.action for e in guard.events] == [ProtectionAction.REBIASED] * 2 + \
        [ProtectionAction.DISABLED]
    assert det.calls == ["disable", "enable", "disable", "enable", "disable"]
    assert not det.enabled
