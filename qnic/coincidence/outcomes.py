"""Per-outcome coincidence counts of two QNICs from one tag batch.

Each arm (QNIC) has two detectors behind its polarizing beam splitter: the
channel of outcome 0 (transmitted, H) and of outcome 1 (reflected, V). A pair
photon reaches only one of them, so two clicks of the same arm on different
outcome channels within the window are a "double click" (a dark count, an
afterpulse, background light or a multi-pair emission). Double clicks are
counted apart and never silently assigned to an outcome.

Procedure of :func:`outcome_counts`:

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

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qnic.coincidence._validate import as_int_array, as_int_ps, as_timestamps
from qnic.coincidence.matching import match_sorted

DOUBLE_CLICK = 2
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
    """
    i0, i1 = match_sorted(t_outcome0, t_outcome1, window_ps, 0)
    single0 = np.ones(t_outcome0.size, np.bool_)
    single0[i0] = False
    single1 = np.ones(t_outcome1.size, np.bool_)
    single1[i1] = False
    t_double = np.minimum(t_outcome0[i0], t_outcome1[i1])
    times = np.concatenate((t_double, t_outcome0[single0], t_outcome1[single1]))
    outcome = np.concatenate(
        (
            np.full(t_double.size, DOUBLE_CLICK, np.int8),
            np.zeros(int(single0.sum()), np.int8),
            np.ones(int(single1.sum()), np.int8),
        )
    )
    order = np.argsort(times, kind="stable")
    return ArmEvents(times[order], outcome[order])


def outcome_counts(
    timestamps: ArrayLike,
    channels: ArrayLike,
    arm_a: tuple[int, int],
    arm_b: tuple[int, int],
    window_ps: int,
    delays_ps: Mapping[int, int] | None = None,
    offset_ps: int = 0,
) -> OutcomeCounts:
    """Count coincidences of two arms per outcome from one tag batch.

    Args:
        timestamps: Tag times in ps, 1-D integer, sorted ascending, shape (n,).
        channels: Tag channel numbers (as the hardware numbers them), 1-D
            integer, shape (n,). Channels of neither arm are ignored.
        arm_a: ``(channel of outcome 0, channel of outcome 1)`` of arm A.
        arm_b: Likewise for arm B. The four channels must be distinct.
        window_ps: Coincidence window in ps (int, >= 0), used both for double
            clicks within an arm and for A-B coincidences.
        delays_ps: Channel -> delay in ps (int), subtracted from that
            channel's timestamps; missing channels have delay 0.
        offset_ps: Extra delay of arm B in ps (int), for accidental
            estimation with an offset window (0 for true coincidences).

    Returns:
        The counts; see :class:`OutcomeCounts`.

    Raises:
        TypeError: If an array is not of integer dtype or a scalar is not a
            whole number.
        ValueError: If the arrays differ in length, timestamps are not sorted,
            the arm channels are not four distinct channels, or
            ``window_ps < 0``.
    """
    window = as_int_ps(window_ps, "window_ps", minimum=0)
    offset = as_int_ps(offset_ps, "offset_ps")
    t = as_timestamps(timestamps, "timestamps")
    ch = as_int_array(channels, "channels")
    if ch.size != t.size:
        raise ValueError(
            f"timestamps and channels differ in length: {t.size} != {ch.size}"
        )
    arm_channels = _check_arms(arm_a, arm_b)
    delays = {c: 0 for c in arm_channels}
    for c, d in (delays_ps or {}).items():
        if int(c) in delays:
            delays[int(c)] = as_int_ps(d, f"delays_ps[{c}]")

    clicks = {c: t[ch == c] - delays[c] for c in arm_channels}
    events_a = merge_arm(clicks[arm_channels[0]], clicks[arm_channels[1]], window)
    events_b = merge_arm(clicks[arm_channels[2]], clicks[arm_channels[3]], window)
    i_a, i_b = match_sorted(events_a.time_ps, events_b.time_ps, window, offset)
    out_a = events_a.outcome[i_a].astype(np.int64)
    out_b = events_b.outcome[i_b].astype(np.int64)
    is_double_a = out_a == DOUBLE_CLICK
    is_double_b = (out_b == DOUBLE_CLICK) & ~is_double_a
    both_single = ~(is_double_a | (out_b == DOUBLE_CLICK))
    n = np.bincount(
        2 * out_a[both_single] + out_b[both_single], minlength=4
    ).astype(np.int64).reshape(2, 2)
    return OutcomeCounts(
        n=n,
        double_a=int(is_double_a.sum()),
        double_b=int(is_double_b.sum()),
        events_a=int(events_a.time_ps.size),
        events_b=int(events_b.time_ps.size),
        singles={c: int(clicks[c].size) for c in arm_channels},
    )


def _check_arms(arm_a: tuple[int, int], arm_b: tuple[int, int]) -> tuple[int, ...]:
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
