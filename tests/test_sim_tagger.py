"""The simulated tagger: the TimeTagger protocol over a bench."""

from __future__ import annotations

import math

import numpy as np
import pytest
from benches import ideal_detectors, make_bench

from qnic.coincidence import find_coincidences
from qnic.instruments.timetaggers.protocol import TagBatch, TimeTagger
from qnic.sim.physics.pulses import tag
from qnic.sim.tagger import SimulatedTimeTagger


def tagger(**sim: object) -> SimulatedTimeTagger:
    make_bench(dict(sim))
    return SimulatedTimeTagger("tagger", bench="default")


def test_implements_the_protocol_and_advances_virtual_time() -> None:
    tg = tagger()
    assert isinstance(tg, TimeTagger)
    assert tg.input_channels == (1, 2, 3, 4)
    t0 = tg.bench.clock.now()
    batch = tg.acquire(0.25)
    assert tg.bench.clock.now() == pytest.approx(t0 + 0.25)
    assert batch.timestamps.dtype == np.int64 and batch.channels.dtype == np.int32
    assert np.all(np.diff(batch.timestamps) >= 0)
    assert batch.start_ps == round(t0 * 1e12) and batch.duration_s == pytest.approx(0.25)


def test_stream_yields_contiguous_batches() -> None:
    tg = tagger()
    batches = list(tg.stream(0.1, 0.03))
    assert [round(b.duration_s, 6) for b in batches] == [0.03, 0.03, 0.03, 0.01]
    for first, second in zip(batches, batches[1:]):
        assert first.stop_ps == second.start_ps
        assert first.timestamps[-1] <= second.timestamps[0]


def test_input_delay_shifts_a_channel() -> None:
    # no jitter anywhere: both photons of a pair carry their emission time
    tg = tagger(seed=1, pair_rate_hz=1e5, tagger={"jitter_ps": 0.0},
                A={"transmission": 1.0, "detectors": ideal_detectors("A")},
                B={"transmission": 1.0, "detectors": ideal_detectors("B")})
    tg.set_input_delay(3, 12_345)
    batch = tg.acquire(0.05)
    t1, t3, t4 = batch.of_channel(1), batch.of_channel(3), batch.of_channel(4)
    pairs = find_coincidences(t1, t3, 0, delay_ps=12_345)[0].size
    # every click of channel 1 has its partner on 3 (outcome 00) or on 4 (01);
    # binomial in the number of channel-1 clicks, 4 sigma
    p = tg.bench.outcome_probabilities(np.array([0.0]))[0]
    q = p[0] / (p[0] + p[1])
    sigma = math.sqrt(t1.size * q * (1 - q))
    assert abs(pairs - t1.size * q) < 4 * sigma
    crossed = find_coincidences(t1, t4, 0)[0].size
    assert abs(crossed - t1.size * (1 - q)) < 4 * sigma
    assert find_coincidences(t1, t3, 1000)[0].size == 0  # nothing left undelayed
    assert np.all(np.diff(batch.timestamps) >= 0)


def test_trigger_level_above_the_pulse_sees_nothing_and_in_the_noise_sees_noise() -> None:
    tg = tagger(seed=2)
    tg.set_trigger_level(1, 2.2)  # above the 2 V detector pulse
    tg.set_trigger_level(2, 0.0)  # in the noise: 5 MHz of spurious triggers
    counts = tg.acquire(0.1).counts()
    assert 1 not in counts
    # 5 MHz of noise triggers plus the detector's own pulses (default bench:
    # 5e5 pairs/s x 0.25 x 0.65 / 2 + 300 Hz dark); Poisson, 4 sigma
    expected = 0.1 * (5e6 + 5e5 * 0.25 * 0.65 / 2 + 300)
    assert abs(counts[2] - expected) < 4 * math.sqrt(expected)
    with pytest.raises(ValueError):
        tg.set_trigger_level(1, 9.0)  # outside the input range
    with pytest.raises(ValueError, match="no input channel 9"):
        tg.set_input_delay(9, 0)


def test_buffer_overflow_is_flagged_and_tags_dropped() -> None:
    # 4 x 3 MHz of dark counts into a tagger that transfers 5 M tags/s
    dets = {"dark_count_hz": 3e6}
    tg = tagger(pair_rate_hz=0.0, tagger={"max_rate_hz": 5e6},
                A={"detectors": ideal_detectors("A", **dets)},
                B={"detectors": ideal_detectors("B", **dets)})
    batch = tg.acquire(0.01)
    assert batch.overflows and batch.missed_events > 0
    assert batch.lost_s == pytest.approx(0.01)  # every block was over capacity
    assert batch.timestamps.size == 0


def test_count_rates() -> None:
    tg = tagger(seed=3, pair_rate_hz=0.0, A={"detectors": ideal_detectors("A", dark_count_hz=1e4)},
                B={"detectors": ideal_detectors("B")})
    rates = tg.count_rates(1.0)
    assert abs(rates[1] - 1e4) < 4 * math.sqrt(1e4)  # Poisson, 4 sigma
    assert rates[3] == 0.0  # no dark counts, no pairs


def test_tag_batch_checks_its_arrays() -> None:
    with pytest.raises(ValueError):
        TagBatch(np.zeros(3, np.int64), np.zeros(2, np.int32), 0, 1)
    with pytest.raises(TypeError, match="int64"):
        TagBatch(np.zeros(3, np.float64), np.zeros(3, np.int32), 0, 1)


def test_negative_duration_rejected() -> None:
    tg = tagger()
    with pytest.raises(ValueError, match="duration"):
        tg.acquire(-1.0)


def test_tagger_pass_floors_like_integer_division_at_any_time() -> None:
    # negative times (early pulses pulled back by an input delay) and times
    # of days of bench time, at resolutions that do and do not divide them
    gen = np.random.default_rng(9)
    for res, lo, hi in ((81, -10**6, 10**6), (4, 0, 10**17), (13, -10**12, 4 * 10**18)):
        pulses = np.sort(gen.integers(lo, hi, 5000))
        channels = gen.integers(1, 3, 5000).astype(np.int32)
        delay_of = np.array([0, -5, 7], dtype=np.int64)
        seen = np.ones(3, dtype=np.bool_)
        ts, cs = tag(pulses, channels, delay_of, seen, np.empty(0, np.int64),
                     np.empty(0, np.int32), res)
        expected = np.sort((pulses + delay_of[channels]) // res * res)
        assert np.array_equal(ts, expected)
        assert np.array_equal(np.sort(cs), np.sort(channels))
