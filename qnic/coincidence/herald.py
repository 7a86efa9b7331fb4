"""Heralded second-order correlation g2(0) (docs/coincidences.md section 7).

One detector heralds (arm A's outcome-0 detector, say); the two outcome
detectors of the other arm form a Hanbury Brown-Twiss pair. For each herald
click at (delayed) time t, the window [t - w, t + w] of each HBT detector is
looked at: ``n_1`` heralds saw detector 1 click in it, ``n_2`` detector 2,
``n_12`` both (a triple). With ``n_h`` heralds,

    g2(0) = n_12 n_h / (n_1 n_2),

1 for a classical coherent field, 0 for one photon per herald, and about
twice the mean number of other pairs in the window for an SPDC source. Each
herald is looked at on its own (a click may serve several heralds), as
heralded g2 is measured in labs. The standard error treats the four counts
as independent Poisson counts: g2 sqrt(1/n_12 + 1/n_1 + 1/n_2 + 1/n_h); with
no triple it is the error of one triple (a 1-sigma upper scale), said so by
``triples == 0``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qnic.coincidence._validate import as_int_array, as_int_ps


class HeraldedG2(NamedTuple):
    """Heralded g2(0) and the counts it came from.

    Attributes:
        g2: n_12 n_h / (n_1 n_2) (float; nan when n_1 or n_2 is 0).
        g2_err: Its standard error (float).
        heralds: n_h, herald clicks counted.
        herald_1: n_1, heralds with a click of HBT detector 1 in the window.
        herald_2: n_2, likewise detector 2.
        triples: n_12, heralds with both.
    """

    g2: float
    g2_err: float
    heralds: int
    herald_1: int
    herald_2: int
    triples: int


def g2_from_counts(heralds: int, herald_1: int, herald_2: int, triples: int) -> HeraldedG2:
    """g2(0) and its error from the four counts (see the module docstring)."""
    for name, v in (("heralds", heralds), ("herald_1", herald_1), ("herald_2", herald_2),
                    ("triples", triples)):
        if v < 0:
            raise ValueError(f"{name} cannot be negative, got {v}")
    if triples > min(herald_1, herald_2) or max(herald_1, herald_2) > heralds:
        raise ValueError(f"inconsistent counts: triples {triples} <= herald_1 {herald_1}, "
                         f"herald_2 {herald_2} <= heralds {heralds} must hold")
    if herald_1 == 0 or herald_2 == 0:
        return HeraldedG2(math.nan, math.nan, heralds, herald_1, herald_2, triples)
    g2 = triples * heralds / (herald_1 * herald_2)
    scale = max(triples, 1) * heralds / (herald_1 * herald_2)
    err = scale * math.sqrt(1 / max(triples, 1) + 1 / herald_1 + 1 / herald_2 + 1 / heralds)
    return HeraldedG2(g2, err, heralds, herald_1, herald_2, triples)


def _hits(t_h: NDArray[np.int64], t_x: NDArray[np.int64], window: int) -> NDArray[np.bool_]:
    """Whether each herald has a click of ``t_x`` within +-window."""
    lo = np.searchsorted(t_x, t_h - window, side="left")
    hi = np.searchsorted(t_x, t_h + window, side="right")
    return hi > lo


class HeraldedG2Counter:
    """Heralded g2(0) counted batch by batch, exact across batch boundaries.

    Args:
        herald: Tagger channel of the herald detector.
        hbt: ``(channel 1, channel 2)`` of the Hanbury Brown-Twiss pair.
        window_ps: Half-width of the window around each herald (int, >= 0).
        delays_ps: Channel -> delay in ps, subtracted from its timestamps.

    Memory is one batch plus the clicks within a window of its end.
    """

    def __init__(self, herald: int, hbt: tuple[int, int], window_ps: int,
                 delays_ps: Mapping[int, int] | None = None) -> None:
        channels = (int(herald), int(hbt[0]), int(hbt[1]))
        if len(set(channels)) != 3:
            raise ValueError(f"the herald and the two HBT channels must differ, got {channels}")
        self.channels = channels
        self.window_ps = as_int_ps(window_ps, "window_ps", minimum=0)
        delays = dict(delays_ps or {})
        self._delay = [as_int_ps(delays.get(c, 0), f"delays_ps[{c}]") for c in channels]
        self._held: list[NDArray[np.int64]] = [np.empty(0, np.int64)] * 3
        self._n = np.zeros(4, np.int64)  # heralds, herald_1, herald_2, triples

    def push(self, timestamps: ArrayLike, channels: ArrayLike, until_ps: int | None = None) -> None:
        """Count a batch; ``until_ps`` (default: its last timestamp) is the
        time up to which every click has been delivered."""
        t = as_int_array(timestamps, "timestamps")
        ch = as_int_array(channels, "channels")
        if t.shape != ch.shape:
            raise ValueError(f"timestamps and channels differ in length ({t.size} and {ch.size})")
        stop = int(until_ps) if until_ps is not None else (int(t[-1]) + 1 if t.size else None)
        for k, c in enumerate(self.channels):
            new = t[ch == c] - self._delay[k]
            self._held[k] = np.concatenate([self._held[k], np.sort(new)]) if new.size else self._held[k]
        if stop is not None:
            # every click of every channel before stop - max delay is known
            self._count(stop - max(self._delay) - self.window_ps - 1)

    def finish(self) -> HeraldedG2:
        """Count what is held and return the result."""
        self._count(None)
        return g2_from_counts(*(int(x) for x in self._n))

    def _count(self, limit: int | None) -> None:
        t_h, t_1, t_2 = self._held
        done = t_h.size if limit is None else int(np.searchsorted(t_h, limit, side="left"))
        heralds = t_h[:done]
        hit_1 = _hits(heralds, t_1, self.window_ps)
        hit_2 = _hits(heralds, t_2, self.window_ps)
        self._n += [done, int(hit_1.sum()), int(hit_2.sum()), int((hit_1 & hit_2).sum())]
        self._held[0] = t_h[done:]
        keep_from = (t_h[done] if done < t_h.size else (limit if limit is not None else 0)) - self.window_ps
        if limit is None:
            self._held = [np.empty(0, np.int64)] * 3
            return
        for k in (1, 2):
            x = self._held[k]
            self._held[k] = x[np.searchsorted(x, keep_from, side="left"):]


def heralded_g2(timestamps: ArrayLike, channels: ArrayLike, herald: int, hbt: tuple[int, int],
                window_ps: int, delays_ps: Mapping[int, int] | None = None) -> HeraldedG2:
    """Heralded g2(0) of one tag batch (see :class:`HeraldedG2Counter`).

    Example:
        >>> r = heralded_g2([0, 3, 1000, 1004, 1005], [1, 3, 1, 3, 4], 1, (3, 4), 10)
        >>> (r.heralds, r.herald_1, r.herald_2, r.triples)
        (2, 2, 1, 1)
    """
    counter = HeraldedG2Counter(herald, hbt, window_ps, delays_ps)
    counter.push(timestamps, channels)
    return counter.finish()
