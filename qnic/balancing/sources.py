"""Joint outcome statistics of heralded pairs: ideal, at a visibility, or measured.

An :class:`OutcomeTable` holds ``P(a, b | x, y)`` for one heralded
(coincidence-matched) pair measured by A in the basis of question x and by B
in the basis of question y. The simulation draws one joint outcome per pair
from it: that draw stands for nature, not for a decision, since the
correlations cannot be produced locally. Each side then decides from its own
bit alone (:mod:`qnic.balancing.decisions`).

Sources:

- ideal: Phi+ in the strategy's bases, ``E(x, y) = cos 2(phi_A - phi_B)``,
  uniform marginals; for CHSH ``P(a xor b = x and y) = cos^2(pi/8)``.
- visibility V: the same with E scaled by V (white noise), S = 2 sqrt 2 V.
- measured: the frequencies of a CHSH run (``qnic chsh --json``: "counts"
  {"xy": [n00, n01, n10, n11]}, n_ab counting outcome a on arm A and b on arm
  B), sampled per setting as measured, marginals and all.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qnic.balancing.game import TSIRELSON_BOUND, XorStrategy, win_probability_from_s
from qnic.chsh import SETTINGS, analyze_counts

_SIGNS = np.array([[1.0, -1.0], [-1.0, 1.0]])  # (-1)^(a xor b), indexed [a, b]
_TOLERANCE = 1e-9


class CHSHInputError(ValueError):
    """A CHSH result could not be read or used (names the file and the key)."""


@dataclass(frozen=True, eq=False)
class OutcomeTable:
    """Joint outcome probabilities of one heralded pair per question pair.

    Attributes:
        prob: ``prob[x, y, a, b] = P(a, b | x, y)``, float64, shape (m, n, 2, 2);
            each (x, y) slice sums to 1.
        label: where the statistics come from (for reports).
    """

    prob: NDArray[np.float64]
    label: str = "table"
    _cum: NDArray[np.float64] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        p = np.array(self.prob, dtype=np.float64)
        if p.ndim != 4 or p.shape[2:] != (2, 2) or p.shape[0] < 1 or p.shape[1] < 1:
            raise ValueError(f"outcome table must have shape (m, n, 2, 2), got {p.shape}")
        if not np.all(np.isfinite(p)) or np.any(p < 0):
            raise ValueError("outcome probabilities must be finite and non-negative")
        sums = p.sum(axis=(2, 3))
        if np.any(np.abs(sums - 1.0) > 1e-6):
            raise ValueError(f"each setting's outcome probabilities must sum to 1, got {sums}")
        p /= sums[:, :, None, None]
        p.setflags(write=False)
        object.__setattr__(self, "prob", p)
        cum = np.cumsum(p.reshape(p.shape[0], p.shape[1], 4), axis=-1)[..., :3]
        cum.setflags(write=False)
        object.__setattr__(self, "_cum", cum)

    @classmethod
    def from_correlations(cls, correlations: ArrayLike, label: str = "correlations") -> OutcomeTable:
        """Uniform-marginal table with ``P(a, b | x, y) = (1 + (-1)^(a xor b) E(x, y)) / 4``.

        Any XOR-game strategy on maximally entangled states has uniform
        marginals, so its correlator matrix is all the decision layer needs.

        Args:
            correlations: E(x, y) within [-1, 1], shape (m, n).
            label: for reports.
        """
        e = np.asarray(correlations, dtype=np.float64)
        if e.ndim != 2:
            raise ValueError(f"correlations must have shape (m, n), got {e.shape}")
        if np.any(np.abs(e) > 1.0 + _TOLERANCE) or not np.all(np.isfinite(e)):
            raise ValueError("correlations must lie within [-1, 1]")
        e = np.clip(e, -1.0, 1.0)
        return cls((1.0 + _SIGNS[None, None] * e[:, :, None, None]) / 4.0, label)

    @property
    def questions(self) -> tuple[int, int]:
        """(m, n): the numbers of questions of A and B."""
        return int(self.prob.shape[0]), int(self.prob.shape[1])

    def correlations(self) -> NDArray[np.float64]:
        """E(x, y) = sum_ab (-1)^(a xor b) P(a, b | x, y), shape (m, n)."""
        return np.einsum("xyab,ab->xy", self.prob, _SIGNS)

    def chsh_value(self) -> float:
        """S = E(0,0) + E(0,1) + E(1,0) - E(1,1) (a 2 x 2 table only)."""
        if self.questions != (2, 2):
            raise ValueError(f"S needs a 2 x 2 table, this one is {self.questions}")
        e = self.correlations()
        return float(e[0, 0] + e[0, 1] + e[1, 0] - e[1, 1])

    def sample(self, x: NDArray[np.integer[Any]], y: NDArray[np.integer[Any]],
               u: NDArray[np.floating[Any]]) -> tuple[NDArray[np.int8], NDArray[np.int8]]:
        """Joint outcomes of heralded pairs, one per element.

        Args:
            x: A's question per pair, integer array of any shape S.
            y: B's question per pair, shape S.
            u: uniform draws in [0, 1), shape S (one per pair, so two tables
                that agree give the same outcomes from the same draws).

        Returns:
            (a, b): int8 outcome bits, shape S each.
        """
        setting = np.asarray(x, dtype=np.intp) * self.prob.shape[1] + np.asarray(y, dtype=np.intp)
        cum = self._cum.reshape(-1, 3)
        index = (u >= cum[:, 0][setting]).astype(np.int8)
        index += u >= cum[:, 1][setting]
        index += u >= cum[:, 2][setting]
        return index >> 1, index & 1


def ideal_table(strategy: XorStrategy) -> OutcomeTable:
    """Outcomes of Phi+ in the strategy's bases (ideal optics, V = 1)."""
    return OutcomeTable.from_correlations(strategy.correlations(1.0), f"ideal {strategy.name}")


def visibility_table(strategy: XorStrategy, visibility: float) -> OutcomeTable:
    """Outcomes at visibility V: the ideal correlators scaled by V (white noise)."""
    if not 0.0 <= visibility <= 1.0:
        raise ValueError(f"visibility must lie within [0, 1], got {visibility}")
    return OutcomeTable.from_correlations(strategy.correlations(visibility),
                                          f"{strategy.name} at visibility {visibility:g}")


@dataclass(frozen=True)
class MeasuredCHSH:
    """The statistics of one CHSH run, ready to feed the decision layer.

    Attributes:
        table: the measured frequencies per setting, shape (2, 2, 2, 2).
        S: CHSH value recomputed from the counts.
        S_err: its counting standard error.
        source: the file (or "mapping") it came from.
        run_id: the run's id when the result carried one.
    """

    table: OutcomeTable
    S: float
    S_err: float
    source: str
    run_id: Any = None

    @property
    def visibility(self) -> float:
        """The visibility an ideal bench would need for this S: S / (2 sqrt 2)."""
        return self.S / TSIRELSON_BOUND

    @property
    def win_probability(self) -> float:
        """Predicted CHSH load-balancing win probability 1/2 + S/8."""
        return win_probability_from_s(self.S)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {"S": self.S, "S_err": self.S_err, "source": self.source, "run_id": self.run_id,
                "visibility_equivalent": self.visibility,
                "win_probability_predicted": self.win_probability,
                "E": {k: float(v) for k, v in zip(SETTINGS, self.table.correlations().ravel())}}


def measured_table(counts: Mapping[str, Sequence[float]], source: str = "mapping",
                   run_id: Any = None) -> MeasuredCHSH:
    """Measured statistics from CHSH counts.

    Args:
        counts: "xy" ("00", "01", "10", "11") -> [n00, n01, n10, n11]; x is
            A's setting (0: 0 deg, 1: 45 deg), y is B's (0: 22.5, 1: -22.5).
        source: named in errors and reports.
        run_id: carried into reports.

    Raises:
        CHSHInputError: a setting is missing, a row is not four
            non-negative numbers, or a setting has no coincidences.
    """
    try:
        result = analyze_counts(counts)
    except (TypeError, ValueError) as exc:
        raise CHSHInputError(f"{source}: bad CHSH counts: {exc}") from exc
    prob = np.zeros((2, 2, 2, 2))
    for key in SETTINGS:
        row = np.asarray(counts[key], dtype=np.float64)
        prob[int(key[0]), int(key[1])] = (row / row.sum()).reshape(2, 2)
    table = OutcomeTable(prob, f"measured ({source})")
    return MeasuredCHSH(table, float(result.S), float(result.S_err), source, run_id)


def load_chsh_result(path: str | Path) -> MeasuredCHSH:
    """Read the JSON printed by ``qnic chsh --json`` (only "counts" is required).

    Raises:
        CHSHInputError: the file cannot be read, is not JSON, or has no
            usable "counts" (the message names the file and the key).
    """
    name = str(path)
    try:
        data = json.loads(Path(path).read_text())
    except OSError as exc:
        raise CHSHInputError(f"cannot read CHSH result {name}: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise CHSHInputError(f"{name} is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or "counts" not in data:
        raise CHSHInputError(f"{name}: expected the JSON object of `qnic chsh --json` "
                             "with key 'counts' {\"xy\": [n00, n01, n10, n11]}")
    measured = measured_table(data["counts"], name, data.get("run_id"))
    reported = data.get("S")
    if isinstance(reported, (int, float)) and math.isfinite(reported) \
            and abs(reported - measured.S) > 1e-6 * max(1.0, abs(reported)):
        raise CHSHInputError(f"{name}: 'S' = {reported} disagrees with the S of its "
                             f"'counts' ({measured.S:.6f})")
    return measured
