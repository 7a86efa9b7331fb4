"""Statistics of a Bell test (docs/chsh.md, "Statistics"): p-values against
local realism, the settings' order per block, and planning to a target sigma.

**Hoeffding-type bound.** Each coincidence is a trial of setting (x, y)
with outcomes a, b, scored Y = 1 when the CHSH game is won (a xor b = x and
y). A local-realist model, whatever its memory of earlier trials, wins a
trial whose setting it cannot predict with probability at most 3/4 on
average over the four settings. The settings' weighted win rate
w = sum_xy (1/4) wins_xy / N_xy = 1/2 + S/8 is a sum of bounded terms with
weights c = 1 / (4 N_xy), so by the Azuma-Hoeffding inequality

    p <= exp(-2 (w - 3/4)^2 / sum_i c_i^2) = exp(-(S - 2)^2 / (2 sum_xy 1 / N_xy)).

It holds for trials that depend on the past (a martingale bound), provided
the settings are chosen independently of the source, which the randomized
order of the settings per block stands for here. The trial counts are
taken as planned (equal times per setting), not as random. This bound is
far weaker than the per-trial test-factor methods of loophole-free
experiments. It is labelled as what it is, and it assumes fair sampling
(only coincidences are trials) and a source that sees no earlier setting:
a setting is held for a whole dwell, so a model that remembered the trials
before could tell it (docs/chsh.md, "Statistics").

**Gaussian.** (S - 2) / sigma_S, with the one-sided normal tail. This is
what most papers quote. It is exact only for many counts, and it assumes
independent trials.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

SETTINGS = ("00", "01", "10", "11")
_LN10 = math.log(10.0)


@dataclass(frozen=True)
class LocalRealismTest:
    """How strongly the counts reject local realism.

    Attributes:
        log10_p_hoeffding: log10 of the Hoeffding-type (martingale) bound
            on the p-value (0 when S <= 2: nothing rejected).
        sigmas: (S - 2) / sigma_S, the Gaussian number of standard errors.
        log10_p_gaussian: log10 of the one-sided normal tail at ``sigmas``.
        trials: coincidences used (single clicks on both arms).
    """

    log10_p_hoeffding: float
    sigmas: float
    log10_p_gaussian: float
    trials: int

    def describe(self) -> str:
        """One line, each figure labelled."""
        return (f"p <= 10^{self.log10_p_hoeffding:.1f} (Hoeffding bound, settings chosen at random); "
                f"{self.sigmas:.1f} sigma (Gaussian, p = 10^{self.log10_p_gaussian:.1f})")


def local_realism_test(counts: Mapping[str, Sequence[float]], s: float, s_err: float) -> LocalRealismTest:
    """p-values of the raw counts against the local bound S <= 2.

    Args:
        counts: "xy" -> [n00, n01, n10, n11], raw counts (never corrected:
            subtracting accidentals is not allowed in a test of local realism).
        s: The raw S of those counts.
        s_err: Its standard error.

    Raises:
        ValueError: a setting has no coincidences.
    """
    n = {k: float(sum(counts[k])) for k in SETTINGS}
    empty = [k for k in SETTINGS if n[k] <= 0]
    if empty:
        raise ValueError(f"setting(s) {', '.join(empty)} have no coincidences: no test is possible")
    inv = sum(1.0 / v for v in n.values())
    excess = s - 2.0
    log10_h = -(excess**2) / (2.0 * inv) / _LN10 if excess > 0 else 0.0
    sigmas = excess / s_err if s_err > 0 else math.inf
    return LocalRealismTest(log10_h, sigmas, _log10_normal_tail(sigmas), int(sum(n.values())))


def _log10_normal_tail(z: float) -> float:
    """log10 P(N(0, 1) > z), accurate far in the tail."""
    from scipy.special import log_ndtr

    return float(log_ndtr(-z)) / _LN10 if math.isfinite(z) else -math.inf


def block_orders(blocks: int, seed: int) -> list[tuple[str, ...]]:
    """The four settings in a fresh random order for each block.

    Args:
        blocks: Number of blocks (>= 1).
        seed: Seed of the order (recorded with the run, so it can be repeated).
    """
    if blocks < 1:
        raise ValueError(f"blocks must be >= 1, got {blocks}")
    rng = np.random.default_rng(seed)
    return [tuple(SETTINGS[i] for i in rng.permutation(4)) for _ in range(blocks)]


class TargetUnreachable(ValueError):
    """The target sigma needs more time than the run allows."""


def plan_seconds(s_err_first: float, seconds_first: float, target_sigma: float,
                 max_seconds: float) -> float:
    """Per-setting time to reach ``target_sigma`` from a first block.

    The standard error of S falls as 1/sqrt(time) at fixed rates, so
    T = T_1 (sigma_1 / target)^2 in total per setting (the first block included).

    Raises:
        TargetUnreachable: T exceeds ``max_seconds`` (the message gives both).
        ValueError: a non-positive argument.
    """
    for name, v in (("s_err_first", s_err_first), ("seconds_first", seconds_first),
                    ("target_sigma", target_sigma), ("max_seconds", max_seconds)):
        if not (math.isfinite(v) and v > 0):
            raise ValueError(f"{name} must be finite and > 0, got {v!r}")
    need = seconds_first * (s_err_first / target_sigma) ** 2
    if need > max_seconds:
        raise TargetUnreachable(
            f"sigma_S = {target_sigma:g} needs about {need:.4g} s per setting at the first block's "
            f"rates (sigma {s_err_first:.4g} after {seconds_first:g} s), more than the "
            f"{max_seconds:g} s per setting allowed (--seconds)")
    return max(need, seconds_first)
