"""CHSH analysis (docs/chsh.md): correlators, S and its uncertainty.

E(x, y) = sum_ab (-1)^(a xor b) N_ab(x, y) / sum_ab N_ab(x, y) and
S = E(0,0) + E(0,1) + E(1,0) - E(1,1). Counts are Poisson: with
independent N_ab, dE/dN_ab = (s_ab - E) / N, so
Var E = sum_ab (s_ab - E)^2 Var(N_ab) / N^2, which is (1 - E^2) / N for
raw counts; this keeps the correlation between numerator and denominator.
Accidental subtraction adds the variance of the accidental estimate.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

SETTINGS = ("00", "01", "10", "11")
SIGNS = np.array([1.0, -1.0, -1.0, 1.0])  # (-1)^(a xor b) for ab = 00, 01, 10, 11
S_SIGNS = {"00": 1.0, "01": 1.0, "10": 1.0, "11": -1.0}
LOCAL_BOUND = 2.0
TSIRELSON_BOUND = 2.0 * math.sqrt(2.0)
BOUND_SIGMAS = 3.0
"""A corrected value past a physical bound by more than this many standard
errors is flagged (:attr:`CHSHResult.bound_violations`)."""


def correlator(n: Sequence[float], var: Sequence[float] | None = None) -> tuple[float, float]:
    """E and its standard error from four counts [n00, n01, n10, n11].

    Args:
        n: the four (possibly accidental-corrected) counts.
        var: their variances; default Poisson (the counts themselves).

    Returns:
        (E, sigma_E).
    """
    n_arr = np.asarray(n, dtype=np.float64)
    v = n_arr if var is None else np.asarray(var, dtype=np.float64)
    total = n_arr.sum()
    if total <= 0:
        raise ValueError("no coincidences: E is undefined")
    e = float(SIGNS @ n_arr / total)
    err = math.sqrt(float(((SIGNS - e) ** 2 @ v))) / total
    return e, err


@dataclass(frozen=True)
class CHSHResult:
    """S, its standard error and the correlators it came from.

    ``S_corrected`` and friends are set when accidentals were given; the raw
    values are always reported beside them.
    """

    S: float
    S_err: float
    E: dict[str, float]
    E_err: dict[str, float]
    counts: dict[str, list[int]]
    S_corrected: float | None = None
    S_corrected_err: float | None = None
    E_corrected: dict[str, float] | None = None
    accidentals: dict[str, list[float]] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    bound_violations: tuple[str, ...] = ()
    """Corrected values beyond a physical bound (|E| <= 1, |S| <= 2 sqrt 2)
    by more than :data:`BOUND_SIGMAS` standard errors, one sentence each:
    the accidental correction is then not to be trusted."""

    @property
    def sigmas_above_local(self) -> float:
        """How many standard errors S lies above the local bound 2."""
        return (abs(self.S) - LOCAL_BOUND) / self.S_err if self.S_err > 0 else math.inf

    @property
    def win_probability(self) -> float:
        """CHSH game win probability 1/2 + S/8 (docs/physics.md)."""
        return 0.5 + self.S / 8.0


def _validate(counts: Mapping[str, Sequence[float]], what: str) -> dict[str, list[float]]:
    if not isinstance(counts, Mapping):
        raise TypeError(f"{what} must map settings '00', '01', '10', '11' to four numbers")
    keys = set(counts)
    if keys != set(SETTINGS):
        missing = sorted(set(SETTINGS) - keys)
        extra = sorted(keys - set(SETTINGS))
        raise ValueError(f"{what}: expected keys 00, 01, 10, 11; missing {missing}, unexpected {extra}")
    out: dict[str, list[float]] = {}
    for key in SETTINGS:
        row = list(counts[key])
        if len(row) != 4:
            raise ValueError(f"{what}[{key!r}]: expected [n00, n01, n10, n11], got {len(row)} values")
        for v in row:
            if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) \
                    or not math.isfinite(v):
                raise ValueError(f"{what}[{key!r}]: {v!r} is not a finite number")
        out[key] = [float(v) for v in row]
    return out


def analyze_counts(counts: Mapping[str, Sequence[float]],
                   accidentals: Mapping[str, Sequence[float]] | None = None,
                   accidentals_var: Mapping[str, Sequence[float]] | None = None) -> CHSHResult:
    """CHSH S from the 16 coincidence counts of the four settings.

    Args:
        counts: "xy" -> [n00, n01, n10, n11] (n_ab: outcome a on A, b on B).
        accidentals: optional expected accidental counts in the same layout,
            subtracted for ``S_corrected``.
        accidentals_var: variances of those estimates (default: none, i.e.
            accidentals from rates treated as exact).

    Returns:
        :class:`CHSHResult`.

    Raises:
        ValueError: a setting is missing, a row is not four numbers, a count
            is negative, or a setting has no coincidences.
    """
    raw = _validate(counts, "counts")
    for key, row in raw.items():
        if min(row) < 0:
            raise ValueError(f"counts[{key!r}]: counts cannot be negative ({row})")
        if sum(row) <= 0:
            raise ValueError(f"counts[{key!r}]: no coincidences in this setting, E is undefined")
    e, e_err = {}, {}
    for key in SETTINGS:
        e[key], e_err[key] = correlator(raw[key])
    s = sum(S_SIGNS[k] * e[k] for k in SETTINGS)
    s_err = math.sqrt(sum(e_err[k] ** 2 for k in SETTINGS))
    int_counts = {k: [int(round(v)) for v in raw[k]] for k in SETTINGS}
    if accidentals is None:
        return CHSHResult(s, s_err, e, e_err, int_counts)
    acc = _validate(accidentals, "accidentals")
    acc_var = _validate(accidentals_var, "accidentals_var") if accidentals_var is not None \
        else {k: [0.0] * 4 for k in SETTINGS}
    e_c, var_c = {}, {}
    for key in SETTINGS:
        net = np.array(raw[key]) - np.array(acc[key])
        var = np.array(raw[key]) + np.array(acc_var[key])
        if net.sum() <= 0:
            raise ValueError(f"accidentals[{key!r}]: the accidentals ({float(np.sum(acc[key])):g}) "
                             f"are not below the coincidences ({float(np.sum(raw[key])):g}), so the "
                             "corrected E is undefined; S_corrected needs a longer run or a "
                             "narrower window")
        e_c[key], err = correlator(net, var)
        var_c[key] = err**2
    s_c = sum(S_SIGNS[k] * e_c[k] for k in SETTINGS)
    s_c_err = math.sqrt(sum(var_c.values()))
    return CHSHResult(s, s_err, e, e_err, int_counts, s_c, s_c_err, e_c,
                      {k: list(v) for k, v in acc.items()},
                      bound_violations=_violations(e_c, var_c, s_c, s_c_err))


def _violations(e: Mapping[str, float], var: Mapping[str, float], s: float, s_err: float
                ) -> tuple[str, ...]:
    """Corrected values past |E| <= 1 or |S| <= 2 sqrt 2 by > BOUND_SIGMAS sigma."""
    def sigmas(excess: float, err: float) -> float:
        # a zero error (every count in the correlated cells: a very short run) is no crash
        return excess / err if err > 0 else math.inf

    out = []
    for key in SETTINGS:
        err = math.sqrt(var[key])
        if abs(e[key]) - 1.0 > BOUND_SIGMAS * err:
            out.append(f"corrected E({key}) = {e[key]:+.4f} +- {err:.4f} lies beyond |E| <= 1 "
                       f"by {sigmas(abs(e[key]) - 1.0, err):.1f} sigma")
    if abs(s) - TSIRELSON_BOUND > BOUND_SIGMAS * s_err:
        out.append(f"corrected S = {s:.4f} +- {s_err:.4f} lies above the Tsirelson bound "
                   f"2 sqrt 2 by {sigmas(abs(s) - TSIRELSON_BOUND, s_err):.1f} sigma")
    return tuple(out)
