"""Heralded pairs: from coincidence matching to a buffer the decision layer consumes.

On a photonic bench most clicks have no partner; coincidence matching
(:mod:`qnic.coincidence`) plays the role of heralding, telling each node which
of its clicks belong to a distributed pair (docs/balancing.md). :func:`heralded_pairs`
turns two arms' outcome events into the joint outcomes of matched pairs,
dropping double clicks. A :class:`PairBuffer` holds such joint outcomes per
measurement setting (x, y) and hands them out in order, one per decision
pair, as stored pairs measured in the bases the requests ask for would be.
Quantum strategies consume heralded (coincidence-matched) pairs; a deployment
needs heralded or stored pairs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qnic.balancing.sources import OutcomeTable
from qnic.coincidence import DOUBLE_CLICK, ArmEvents, find_coincidences

Setting = tuple[int, int]


class PairsExhausted(RuntimeError):
    """A setting's buffer has fewer heralded pairs left than the decisions need."""


def heralded_pairs(events_a: ArmEvents, events_b: ArmEvents, window_ps: int,
                   delay_ps: int = 0) -> tuple[NDArray[np.int8], NDArray[np.int8]]:
    """Joint outcomes of the coincidence-matched pairs of two arms.

    Args:
        events_a: arm A's events (:func:`qnic.coincidence.merge_arm`).
        events_b: arm B's events.
        window_ps: coincidence window in ps (int, >= 0).
        delay_ps: delay of arm B in ps, subtracted before matching.

    Returns:
        (a, b): int8 outcome bits of each matched pair in time order, shape
        (k,) each; pairs in which either arm double-clicked are dropped.
    """
    i_a, i_b = find_coincidences(events_a.time_ps, events_b.time_ps, window_ps, delay_ps)
    a = events_a.outcome[i_a]
    b = events_b.outcome[i_b]
    keep = (a != DOUBLE_CLICK) & (b != DOUBLE_CLICK)
    return a[keep].astype(np.int8), b[keep].astype(np.int8)


class PairBuffer:
    """Joint outcomes of heralded pairs per setting, consumed in order.

    Args:
        outcomes: (x, y) -> (a bits, b bits), int arrays of equal length.
        questions: (m, n); default: one more than the largest x and y given.
    """

    def __init__(self, outcomes: Mapping[Setting, tuple[ArrayLike, ArrayLike]],
                 questions: tuple[int, int] | None = None) -> None:
        if not outcomes:
            raise ValueError("a pair buffer needs at least one setting")
        m, n = questions or (1 + max(k[0] for k in outcomes), 1 + max(k[1] for k in outcomes))
        self.questions = (int(m), int(n))
        self._a: dict[Setting, NDArray[np.int8]] = {}
        self._b: dict[Setting, NDArray[np.int8]] = {}
        for (x, y), (a, b) in outcomes.items():
            if not (0 <= x < m and 0 <= y < n):
                raise ValueError(f"setting {(x, y)} outside the {m} x {n} questions")
            arr_a, arr_b = np.asarray(a), np.asarray(b)
            if arr_a.shape != arr_b.shape or arr_a.ndim != 1:
                raise ValueError(f"setting {(x, y)}: outcome arrays must be 1-D of equal length")
            if np.any((arr_a != 0) & (arr_a != 1)) or np.any((arr_b != 0) & (arr_b != 1)):
                raise ValueError(f"setting {(x, y)}: outcomes must be bits")
            self._a[(int(x), int(y))] = arr_a.astype(np.int8)
            self._b[(int(x), int(y))] = arr_b.astype(np.int8)
        self._next = {key: 0 for key in self._a}

    @classmethod
    def from_table(cls, table: OutcomeTable, pairs_per_setting: int,
                   rng: np.random.Generator) -> PairBuffer:
        """Fill every setting with ``pairs_per_setting`` pairs drawn from a table."""
        m, n = table.questions
        outcomes: dict[Setting, tuple[ArrayLike, ArrayLike]] = {}
        for x in range(m):
            for y in range(n):
                q = np.full(pairs_per_setting, x), np.full(pairs_per_setting, y)
                outcomes[(x, y)] = table.sample(q[0], q[1], rng.random(pairs_per_setting))
        return cls(outcomes, (m, n))

    def available(self, x: int, y: int) -> int:
        """Pairs left for setting (x, y)."""
        key = (x, y)
        return int(self._a[key].size - self._next[key]) if key in self._a else 0

    def take(self, x: NDArray[np.integer[Any]],
             y: NDArray[np.integer[Any]]) -> tuple[NDArray[np.int8], NDArray[np.int8]]:
        """Consume one pair per decision pair, in order within each setting.

        Args:
            x: A's questions, int array (P,).
            y: B's questions, int array (P,).

        Returns:
            (a, b): int8 outcome bits, shape (P,) each.

        Raises:
            PairsExhausted: a setting has too few pairs left (nothing is consumed).
        """
        n = self.questions[1]
        key = np.asarray(x, dtype=np.int64) * n + np.asarray(y, dtype=np.int64)
        need = np.bincount(key, minlength=self.questions[0] * n)
        for k in np.flatnonzero(need):
            setting = (int(k) // n, int(k) % n)
            if self.available(*setting) < need[k]:
                raise PairsExhausted(f"setting {setting}: {need[k]} pairs needed, "
                                     f"{self.available(*setting)} heralded pairs left")
        a = np.empty(key.size, dtype=np.int8)
        b = np.empty(key.size, dtype=np.int8)
        for k in np.flatnonzero(need):
            setting = (int(k) // n, int(k) % n)
            where = np.flatnonzero(key == k)
            start = self._next[setting]
            a[where] = self._a[setting][start:start + where.size]
            b[where] = self._b[setting][start:start + where.size]
            self._next[setting] = start + where.size
        return a, b
