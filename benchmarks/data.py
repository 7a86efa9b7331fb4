"""SPDC-like tag streams for the matching, counting and replay benchmarks.

Each arm's clicks over ``duration_s``: a share from photon pairs (the same
emission times on both arms, Gaussian jitter of ``JITTER_PS`` RMS per click,
arm B ``DELAY_B_PS`` later, outcome bits equal on both arms but for 5 % of
pairs) and the rest uncorrelated (background, dark counts, partners lost),
uniform in time with random outcomes. The default share, 4 / 5.5, is a
bench with 4e6 detected pairs and 1.5e6 unpaired clicks per arm in 10 s.
Timestamps are int64 ps from 1 us on (a file can hold them), sorted.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

DURATION_S = 10.0
JITTER_PS = 100.0
DELAY_B_PS = 3_000
WINDOW_PS = 1_000
PAIRED_SHARE = 4.0 / 5.5
_START_PS = 1_000_000

Arm = tuple[NDArray[np.int64], NDArray[np.int8]]


def spdc_arms(n_tags: int, *, seed: int = 1, duration_s: float = DURATION_S,
              paired_share: float = PAIRED_SHARE) -> tuple[Arm, Arm]:
    """Both arms' clicks: ``((t_a, outcome_a), (t_b, outcome_b))``.

    Args:
        n_tags: clicks of both arms together (half each).
        seed: of the ``numpy.random.Generator``.
        duration_s: span of the emission times in s.
        paired_share: share of each arm's clicks that belong to a pair.

    Returns:
        Per arm int64 ps timestamps, sorted, and int8 outcome bits (0 or 1),
        each of shape (n_tags // 2,).
    """
    rng = np.random.default_rng(seed)
    span_ps = _START_PS + int(duration_s * 1e12)
    per_arm = n_tags // 2
    n_pairs = round(paired_share * per_arm)
    emission = rng.integers(_START_PS, span_ps, n_pairs, dtype=np.int64)
    bits_a = rng.integers(0, 2, n_pairs, dtype=np.int8)
    bits_b = bits_a ^ (rng.random(n_pairs) < 0.05).astype(np.int8)

    def arm(delay_ps: int, bits: NDArray[np.int8]) -> Arm:
        jitter = np.rint(rng.normal(0.0, JITTER_PS, n_pairs)).astype(np.int64)
        noise = rng.integers(_START_PS, span_ps, per_arm - n_pairs, dtype=np.int64)
        t = np.concatenate((emission + delay_ps + jitter, noise))
        outcome = np.concatenate((bits, rng.integers(0, 2, noise.size, dtype=np.int8)))
        order = np.argsort(t, kind="stable")
        return t[order], outcome[order]

    return arm(0, bits_a), arm(DELAY_B_PS, bits_b)


def spdc_tags(n_tags: int, *, first_channel: int = 0, seed: int = 1,
              duration_s: float = DURATION_S) -> tuple[NDArray[np.int64], NDArray[np.int32]]:
    """The two arms interleaved as one tagger's stream.

    Channels ``first_channel + outcome`` for arm A and ``first_channel + 2 +
    outcome`` for arm B (arm B's channels ``DELAY_B_PS`` late).

    Returns:
        ``(timestamps, channels)``: int64 ps sorted, int32; shape (n_tags,)
        (one less when ``n_tags`` is odd).
    """
    (t_a, o_a), (t_b, o_b) = spdc_arms(n_tags, seed=seed, duration_s=duration_s)
    t = np.concatenate((t_a, t_b))
    ch = np.concatenate((o_a.astype(np.int32) + first_channel,
                         o_b.astype(np.int32) + first_channel + 2))
    order = np.argsort(t, kind="stable")
    return t[order], ch[order]
