"""The bench's detector hooks: gate, efficiency factor, dark counts, stray light.

Checked with the simulated tagger against the closed forms of docs/physics.md
(singles = pair rate * transmission * efficiency * factor * 1/2 + dark),
within 4 Poisson sigma.
"""

from __future__ import annotations

import math

import pytest
from benches import ideal_detectors, make_bench

from qnic.sim.bench import Bench
from qnic.sim.tagger import SimulatedTimeTagger

PAIR_HZ, TRANSMISSION = 1e5, 0.5


def assert_poisson(observed: int, expected: float) -> None:
    assert abs(observed - expected) <= 4 * math.sqrt(expected) + 1, (observed, expected)


@pytest.fixture
def bench() -> Bench:
    return make_bench({"name": "hooks", "seed": 3, "pair_rate_hz": PAIR_HZ,
                       "A": {"transmission": TRANSMISSION, "detectors": ideal_detectors("A")},
                       "B": {"transmission": TRANSMISSION, "detectors": ideal_detectors("B")}})


def test_rates_of_an_untouched_bench(bench: Bench) -> None:
    singles = PAIR_HZ * TRANSMISSION * 0.5
    assert bench.expected_rates_hz() == pytest.approx({1: singles, 2: singles, 3: singles,
                                                       4: singles})
    assert bench.light_rates_hz() == pytest.approx(bench.expected_rates_hz())


def test_efficiency_factor_dark_counts_and_stray_light_reach_the_tagger(bench: Bench) -> None:
    bench.set_detector_state(1, efficiency_factor=0.5)
    bench.set_detector_state(2, dark_count_hz=2e4)
    bench.set_detector_state(3, background_hz=3e4)
    bench.set_detector_state(4, efficiency_factor=0.25, background_hz=4e4)
    singles = PAIR_HZ * TRANSMISSION * 0.5
    expected = {1: singles * 0.5, 2: singles + 2e4, 3: singles + 3e4, 4: (singles + 4e4) * 0.25}
    assert bench.expected_rates_hz() == pytest.approx(expected)
    counts = SimulatedTimeTagger("tagger", bench="hooks").acquire(0.5).counts()
    for ch, rate in expected.items():
        assert_poisson(counts[ch], rate * 0.5)


def test_a_gated_detector_is_silent_and_the_others_are_not_disturbed(bench: Bench) -> None:
    bench.set_detector_state(2, enabled=False, background_hz=1e5)
    assert not bench.detector_enabled(2) and bench.detector_enabled(1)
    counts = SimulatedTimeTagger("tagger", bench="hooks").acquire(0.5).counts()
    assert counts.get(2, 0) == 0
    assert_poisson(counts[1], PAIR_HZ * TRANSMISSION * 0.5 * 0.5)


def test_bad_hook_values_are_refused(bench: Bench) -> None:
    with pytest.raises(KeyError, match="no detector on channel 9"):
        bench.set_detector_state(9, enabled=False)
    with pytest.raises(ValueError, match="efficiency factor"):
        bench.set_detector_state(1, efficiency_factor=1.5)  # efficiency 1.0 * 1.5 > 1
    with pytest.raises(ValueError, match="dark_count_hz must be >= 0"):
        bench.set_detector_state(1, dark_count_hz=-1.0)
    assert bench.expected_rates_hz()[1] == pytest.approx(PAIR_HZ * TRANSMISSION * 0.5)
