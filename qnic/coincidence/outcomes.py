"""Per-outcome coincidences of two QNICs: the result type and the arm merge.

Each arm (QNIC) has two detectors behind its polarizing beam splitter: the
channel of outcome 0 (transmitted, H) and of outcome 1 (reflected, V). A pair
photon reaches only one of them, so two clicks of the same arm on different
outcome channels within the window are a "double click" (a dark count, an
afterpulse, background light or a multi-pair emission). Double clicks are
counted apart and never silently assigned to an outcome.

Procedure of :func:`~qnic.coincidence.outcome_counts` (computed in one
streaming pass by :class:`~qnic.coincidence.OutcomeStream`):

1. Subtract each channel's delay (docs/conventions.md).
2. Within each arm, match the outcome-0 clicks with the outcome-1 clicks with
   :func:`~qnic.coincidence.find_coincidences` semantics (window
   ``window_ps``, nearest first, each click used once). Each matched pair is
   one event with outcome 2 at the earlier of its two times; every other
   click is an event with the outcome of its channel.
3. Match the events of arm A with those of arm B (B shifted by
   ``offset_ps``), again with find_coincidences semantics, and count the
   pairs per outcome.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from qnic.coincidence._outcome_kernel import DOUBLE, arm_events
from qnic.coincidence._validate import as_int_ps, as_timestamps

END_OF_STREAM = int(np.iinfo(np.int64).max)
"""The ``limit`` of the kernels when no event is still to come."""

DOUBLE_CLICK = DOUBLE
"""Outcome code of an event in which both detectors of an arm clicked."""


@dataclass(frozen=True, eq=False)
class OutcomeCounts:
    """Coincidence counts of two arms, per outcome.

    Attributes:
        n: ``n[a, b]`` = coincidences with single-click outcome a on arm A and
            b on arm B; int64, shape (2, 2).
        double_a: Coincidences in which arm A double-clicked (arm B single or
            double).
        double_b: Coincidences in which arm B double-clicked and arm A had a
            single click.
        events_a: Events of arm A after merging its two channels (single
            clicks plus double-click events).
        events_b: Events of arm B, likewise.
        singles: Raw clicks per channel of both arms (channel -> count).
    """

    n: NDArray[np.int64]
    double_a: int
    double_b: int
    events_a: int
    events_b: int
    singles: dict[int, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = np.array(self.n, dtype=np.int64)
        if n.shape != (2, 2):
            raise ValueError(f"n must have shape (2, 2), got {n.shape}")
        n.setflags(write=False)
        object.__setattr__(self, "n", n)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, OutcomeCounts):
            return NotImplemented
        return (
            np.array_equal(self.n, other.n)
            and (self.double_a, self.double_b, self.events_a, self.events_b)
            == (other.double_a, other.double_b, other.events_a, other.events_b)
            and self.singles == other.singles
        )

    __hash__ = None  # type: ignore[assignment]

    @property
    def coincidences(self) -> int:
        """All coincidences: single-click ones plus those with a double click."""
        return int(self.n.sum()) + self.double_a + self.double_b

    def as_list(self) -> list[int]:
        """Return ``[n00, n01, n10, n11]`` (the CHSH counts layout of docs/commands.md)."""
        return [int(x) for x in self.n.ravel()]


class ArmEvents(NamedTuple):
    """Events of one arm after merging its two outcome channels.

    Attributes:
        time_ps: Event times in ps after delays, int64, sorted, shape (m,).
        outcome: Outcome per event (0, 1, or 2 for a double click), int8,
            shape (m,).
    """

    time_ps: NDArray[np.int64]
    outcome: NDArray[np.int8]


def merge_arm(
    t_outcome0: NDArray[np.int64], t_outcome1: NDArray[np.int64], window_ps: int
) -> ArmEvents:
    """Merge the clicks of an arm's two detectors into outcome events.

    Args:
        t_outcome0: Clicks of the outcome-0 channel in ps (delay already
            subtracted), int64, sorted, shape (n0,).
        t_outcome1: Clicks of the outcome-1 channel, likewise, shape (n1,).
        window_ps: Double-click window in ps (>= 0).

    Returns:
        The arm's events, sorted by time (ties: doubles, then outcome 0, then
        outcome 1, each in click order).

    Raises:
        ValueError: If a click array is not sorted ascending or the window is
            negative.
    """
    window = as_int_ps(window_ps, "window_ps", minimum=0)
    t0 = as_timestamps(t_outcome0, "t_outcome0")
    t1 = as_timestamps(t_outcome1, "t_outcome1")
    ev_t = np.empty(t0.size + t1.size, np.int64)
    ev_o = np.empty(t0.size + t1.size, np.int8)
    n, _, _ = arm_events(t0, t1, window, END_OF_STREAM, ev_t, ev_o)
    return ArmEvents(ev_t[:n], ev_o[:n])


def check_arms(arm_a: tuple[int, int], arm_b: tuple[int, int]) -> tuple[int, ...]:
    """Return the four arm channels (A0, A1, B0, B1) after checking them."""
    channels: list[int] = []
    for name, arm in (("arm_a", arm_a), ("arm_b", arm_b)):
        if len(arm) != 2:
            raise ValueError(
                f"{name} must be (channel of outcome 0, channel of outcome 1), got {arm!r}"
            )
        for c in arm:
            if isinstance(c, (bool, np.bool_)) or not isinstance(c, (int, np.integer)):
                raise TypeError(f"{name} channels must be ints, got {c!r}")
            channels.append(int(c))
    if len(set(channels)) != 4:
        raise ValueError(
            f"arm channels must be four distinct channels, got arm_a={tuple(arm_a)}, "
            f"arm_b={tuple(arm_b)}"
        )
    return tuple(channels)
