"""Per-outcome coincidence counts of two QNICs, double clicks counted apart."""

from __future__ import annotations

import numpy as np
import pytest

from qnic.coincidence import DOUBLE_CLICK, OutcomeCounts, merge_arm, outcome_counts

A0, A1, B0, B1, OTHER = 1, 2, 3, 4, 7
B_DELAY_PS = 10_000

# (time after delays in ps, channel). Arm B's channels carry a 10 ns cable
# delay, added below to make the raw timestamps. Window: 10 ps.
EVENTS = [
    (100, A0), (105, B0),                  # n00
    (300, A1), (298, B1),                  # n11
    (500, A0), (503, B1),                  # n01
    (700, A1), (700, B0),                  # n10
    (900, A0), (905, A1), (902, B0),       # A double click, B single -> double_a
    (1100, A0), (1101, B0), (1108, B1),    # B double click, A single -> double_b
    (1300, A0), (1302, A1), (1300, B0), (1309, B1),  # both double -> double_a
    (1500, A1),                            # A alone
    (1700, B1),                            # B alone
    (1900, A0), (1925, B0),                # outside the window
    (2000, OTHER),                         # not an arm channel: ignored
    (2100, A0), (2095, B1), (2104, B1),    # same channel twice: no double;
                                           # 2104 is nearer -> n01
]


def _tag_batch() -> tuple[np.ndarray, np.ndarray]:
    raw = [(t + (B_DELAY_PS if ch in (B0, B1) else 0), ch) for t, ch in EVENTS]
    raw.sort()
    return (np.array([t for t, _ in raw], np.int64), np.array([c for _, c in raw], np.int16))


def test_hand_built_example() -> None:
    timestamps, channels = _tag_batch()
    counts = outcome_counts(
        timestamps, channels, (A0, A1), (B0, B1), window_ps=10,
        delays_ps={B0: B_DELAY_PS, B1: B_DELAY_PS},
    )
    np.testing.assert_array_equal(counts.n, [[1, 2], [1, 1]])
    assert counts.n.dtype == np.int64
    assert counts.double_a == 2
    assert counts.double_b == 1
    assert counts.events_a == 10
    assert counts.events_b == 11
    assert counts.singles == {A0: 7, A1: 5, B0: 6, B1: 7}
    assert counts.coincidences == 8
    assert counts.as_list() == [1, 2, 1, 1]


def test_without_delays_nothing_coincides() -> None:
    timestamps, channels = _tag_batch()
    counts = outcome_counts(timestamps, channels, (A0, A1), (B0, B1), window_ps=10)
    assert counts.coincidences == 0
    assert counts.events_b == 11  # doubles within arm B are unaffected


def test_offset_shifts_arm_b() -> None:
    # The arm-B cable delay given as an offset instead of per-channel delays
    # gives the same counts; an extra 5 ns offset destroys them.
    timestamps, channels = _tag_batch()
    delays = {B0: B_DELAY_PS, B1: B_DELAY_PS}
    reference = outcome_counts(timestamps, channels, (A0, A1), (B0, B1), 10, delays_ps=delays)
    via_offset = outcome_counts(timestamps, channels, (A0, A1), (B0, B1), 10, offset_ps=B_DELAY_PS)
    assert via_offset == reference
    shifted = outcome_counts(timestamps, channels, (A0, A1), (B0, B1), 10, delays, offset_ps=5000)
    assert shifted.coincidences == 0


def test_merge_arm_marks_double_clicks() -> None:
    events = merge_arm(np.array([0, 50, 100], np.int64), np.array([3, 200], np.int64), 5)
    np.testing.assert_array_equal(events.time_ps, [0, 50, 100, 200])
    np.testing.assert_array_equal(events.outcome, [DOUBLE_CLICK, 0, 0, 1])


def test_outcome_counts_is_frozen() -> None:
    timestamps, channels = _tag_batch()
    counts = outcome_counts(timestamps, channels, (A0, A1), (B0, B1), 10)
    assert isinstance(counts, OutcomeCounts)
    with pytest.raises(AttributeError):
        counts.double_a = 3  # type: ignore[misc]
    with pytest.raises(ValueError):
        counts.n[0, 0] = 5


def test_bad_arguments_are_rejected() -> None:
    timestamps, channels = _tag_batch()
    with pytest.raises(ValueError, match="differ in length"):
        outcome_counts(timestamps, channels[:-1], (A0, A1), (B0, B1), 10)
    with pytest.raises(ValueError, match="distinct"):
        outcome_counts(timestamps, channels, (A0, A1), (A1, B1), 10)
    with pytest.raises(ValueError, match="timestamps.*index"):
        outcome_counts(timestamps[::-1], channels, (A0, A1), (B0, B1), 10)
    with pytest.raises(TypeError, match="channels"):
        outcome_counts(timestamps, channels.astype(float), (A0, A1), (B0, B1), 10)
    with pytest.raises(ValueError, match="window_ps"):
        outcome_counts(timestamps, channels, (A0, A1), (B0, B1), -1)
