"""Closed forms of an SPDC pair source seen through two arms (docs/physics.md, "Rates at any pump power").

What a lab measures against pump power, to first order in the small
quantities (a rate times a window or a dead time), including what the
detectors and the analysis do: dead time (non-paralyzable), afterpulses,
double clicks set apart, each event used once, and multi-pair emission
(Poisson pair numbers in the multimode limit, Bose-Einstein within one
coherence time for a single mode). Used to fit ``qnic car-scan`` data and
to predict ``qnic g2``; checked against the simulated bench in
tests/test_pair_source.py.

Detectors are indexed A0, A1, B0, B1. ``p_ab`` is the joint outcome
probability of one pair (2 x 2, the analysers' setting).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

STATISTICS = ("poisson", "thermal")


@dataclass(frozen=True)
class DetectorModel:
    """One detector behind its arm.

    Attributes:
        efficiency: probability that a photon of its arm, sent to its port,
            clicks it (arm transmission x detector efficiency, 0 to 1).
        dark_hz: dark (and stray-light) click rate in Hz.
        dead_time_s: non-paralyzable dead time in s.
        afterpulse_probability: chance of an extra click after a click.
        jitter_ps: Gaussian timing jitter (RMS, detector and tagger).
    """

    efficiency: float
    dark_hz: float = 0.0
    dead_time_s: float = 0.0
    afterpulse_probability: float = 0.0
    jitter_ps: float = 0.0


@dataclass(frozen=True)
class Prediction:
    """Predicted rates (Hz) at one pair rate and setting.

    Attributes:
        singles_hz: registered clicks per detector, float64 (4,) A0 A1 B0 B1.
        true_hz: true-pair coincidences with single clicks, (2, 2) [a, b].
        accidentals_hz: chance coincidences under the true peak, (2, 2).
        offset_hz: what an offset window counts, (2, 2).
        multipair_hz: coincidences of two pairs of one mode (thermal), (2, 2).
    """

    singles_hz: NDArray[np.float64]
    true_hz: NDArray[np.float64]
    accidentals_hz: NDArray[np.float64]
    offset_hz: NDArray[np.float64]
    multipair_hz: NDArray[np.float64]

    @property
    def coincidences_hz(self) -> NDArray[np.float64]:
        """Everything counted in the true window, (2, 2)."""
        return self.true_hz + self.accidentals_hz + self.multipair_hz

    @property
    def car(self) -> float:
        """Coincidence-to-accidental ratio as labs compute it: (coincidences
        in the true window - offset-window count) / offset-window count."""
        off = float(self.offset_hz.sum())
        return (float(self.coincidences_hz.sum()) - off) / off if off > 0 else math.inf


@dataclass(frozen=True)
class SourceModel:
    """A pair source and two arms of two detectors each.

    Attributes:
        pair_rate_hz: emitted pairs per second.
        detectors: the four detectors A0, A1, B0, B1.
        window_ps: coincidence half-width (|dt| <= window).
        statistics: "poisson" (multimode) or "thermal" (one mode).
        coherence_time_ps: the mode's coherence time (thermal only).
    """

    pair_rate_hz: float
    detectors: tuple[DetectorModel, DetectorModel, DetectorModel, DetectorModel]
    window_ps: float
    statistics: str = "poisson"
    coherence_time_ps: float = 1.0

    def __post_init__(self) -> None:
        if self.statistics not in STATISTICS:
            raise ValueError(f"statistics must be one of {STATISTICS}, got {self.statistics!r}")
        if len(self.detectors) != 4:
            raise ValueError(f"detectors: expected A0, A1, B0, B1, got {len(self.detectors)}")
        for name, v in (("pair_rate_hz", self.pair_rate_hz), ("window_ps", self.window_ps),
                        ("coherence_time_ps", self.coherence_time_ps)):
            if not (math.isfinite(v) and v >= 0):
                raise ValueError(f"{name} must be finite and >= 0, got {v!r}")

    # -- pieces ------------------------------------------------------------
    def window_fraction(self) -> NDArray[np.float64]:
        """Share of true pairs whose two clicks fall within the window,
        (2, 2) [a, b]: the two jitters add as Gaussians (delays aligned)."""
        sigma = self._array("jitter_ps")
        s = np.hypot(sigma[:2, None], sigma[None, 2:])
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(s > 0, self.window_ps / (np.sqrt(2.0) * s), np.inf)
        return np.array([[math.erf(v) if math.isfinite(v) else 1.0 for v in row] for row in z])

    def _array(self, attr: str) -> NDArray[np.float64]:
        return np.array([getattr(d, attr) for d in self.detectors], dtype=np.float64)

    def _mode_pairs_in_window(self) -> float:
        """Extra pairs of the same mode within the window, beyond the Poisson
        background: mu = R tau for a thermal mode (its pair number has
        E[n(n-1)] / E[n] = 2 mu against mu for Poisson), times the chance
        that two times spread uniformly over tau lie within the window."""
        if self.statistics != "thermal" or self.pair_rate_hz == 0:
            return 0.0
        tau, w = self.coherence_time_ps, self.window_ps
        overlap = 1.0 if w >= tau else 1.0 - (1.0 - w / tau) ** 2
        return self.pair_rate_hz * tau * 1e-12 * overlap

    def _detection(self, p_ab: NDArray[np.float64]) -> tuple[NDArray[np.float64], ...]:
        """Photon click rates per detector, live fractions, registered rates."""
        eff = self._array("efficiency")
        marg = np.concatenate([p_ab.sum(axis=1), p_ab.sum(axis=0)])
        raw = (self.pair_rate_hz * eff * marg + self._array("dark_hz")) \
            * (1.0 + self._array("afterpulse_probability"))
        live = 1.0 / (1.0 + raw * self._array("dead_time_s"))
        return eff, marg, live, raw * live

    def predict(self, p_ab: NDArray[np.float64]) -> Prediction:
        """Rates at the setting whose joint outcome probabilities are ``p_ab``.

        Raises:
            ValueError: ``p_ab`` is not a 2 x 2 probability table.
        """
        p = _check_p(p_ab)
        eff, marg, live, m = self._detection(p)
        two_w = 2.0 * self.window_ps * 1e-12
        # a single-click event survives when its arm's other detector is
        # silent within the window (else it is a double click, set apart)
        single = np.exp(-m[[1, 0, 3, 2]] * two_w)
        ea, eb = m[:2] * single[:2], m[2:] * single[2:]
        ga, gb = eff[:2] * live[:2] * single[:2], eff[2:] * live[2:] * single[2:]
        inside = self.window_fraction()
        true = self.pair_rate_hz * p * np.outer(ga, gb) * inside
        paired_a = self.pair_rate_hz * ga * ((p * inside) @ (eff[2:] * live[2:]))
        paired_b = self.pair_rate_hz * gb * ((p * inside).T @ (eff[:2] * live[:2]))
        fa, fb = np.maximum(ea - paired_a, 0.0), np.maximum(eb - paired_b, 0.0)
        mode = self._mode_pairs_in_window()
        multi = self.pair_rate_hz * mode * np.outer(ga * marg[:2], gb * marg[2:])
        return Prediction(m, true, np.outer(fa, fb) * two_w, np.outer(ea, eb) * two_w, multi)

    def heralded_g2(self, p_ab: NDArray[np.float64], herald: int = 0) -> float:
        """g2(0) of arm B's two detectors heralded by arm A's detector ``herald``.

        With pi the share of heralds that come from a pair, q_i the chance
        that the herald's partner registers in B_i, and b_i the chance of any
        other click of B_i in the window (Poisson, 1 - exp(-m_i 2w), plus the
        same mode's extra pairs for a thermal source):
        P_i = pi (q_i + (1 - q_i) b_i) + (1 - pi) b_i,
        P_12 = pi (q_1 b_2 + q_2 b_1 + (1 - q_1 - q_2) b_1 b_2) + (1 - pi) b_1 b_2,
        g2 = P_12 / (P_1 P_2) (docs/physics.md).
        """
        p = _check_p(p_ab)
        if herald not in (0, 1):
            raise ValueError(f"herald must be arm A's detector 0 or 1, got {herald!r}")
        eff, marg, live, m = self._detection(p)
        two_w = 2.0 * self.window_ps * 1e-12
        if m[herald] <= 0:
            raise ValueError("the herald detector never clicks: g2 is undefined")
        pi = self.pair_rate_hz * eff[herald] * marg[herald] * live[herald] / m[herald]
        cond = p[herald] / marg[herald] if marg[herald] > 0 else np.zeros(2)
        q = eff[2:] * live[2:] * cond * self.window_fraction()[herald]
        bg = 1.0 - np.exp(-m[2:] * two_w)
        extra = bg + self._mode_pairs_in_window() * eff[2:] * live[2:] * marg[2:]
        p1 = pi * (q + (1 - q) * extra) + (1 - pi) * bg
        p12 = pi * (q[0] * extra[1] + q[1] * extra[0] + (1 - q.sum()) * extra[0] * extra[1]) \
            + (1 - pi) * bg[0] * bg[1]
        return float(p12 / (p1[0] * p1[1])) if p1.min() > 0 else math.nan


def _check_p(p_ab: NDArray[np.float64]) -> NDArray[np.float64]:
    p = np.asarray(p_ab, dtype=np.float64)
    if p.shape != (2, 2) or np.any(p < -1e-12) or abs(p.sum() - 1.0) > 1e-9:
        raise ValueError(f"p_ab must be a 2 x 2 table of probabilities summing to 1, got {p.tolist()}")
    return np.clip(p, 0.0, 1.0)


@dataclass(frozen=True)
class ScanFit:
    """Closed form fitted to a pair-rate scan (``qnic car-scan``).

    Attributes:
        efficiency: (eta_A, eta_B): each arm's photon detection probability.
        dark_hz: (d_A, d_B): each arm's dark-click rate (both detectors).
        dead_time_s: the detectors' dead time (shared).
        pair_window: share of true pairs counted (jitter, window, losses).
        visibility: the visibility with accidentals removed (weighted mean).
        window_ps: the coincidence half-width the scan used.
        errors: standard errors of ``efficiency_a``, ``efficiency_b``,
            ``dark_hz_a``, ``dark_hz_b``, ``dead_time_s`` (from the fit's
            Jacobian, scaled by its reduced chi^2 when above 1),
            ``pair_window`` (its least squares on Poisson counts) and
            ``visibility``. A dead time the scan cannot see (rates far below
            1 / tau) comes with an error as large as itself or larger.
    """

    efficiency: tuple[float, float]
    dark_hz: tuple[float, float]
    dead_time_s: float
    pair_window: float
    visibility: float
    window_ps: float
    errors: dict[str, float] | None = None

    def model(self, pair_rate_hz: float) -> SourceModel:
        """The fitted source at one pair rate (each arm's two detectors alike)."""
        dets = tuple(DetectorModel(self.efficiency[k], self.dark_hz[k] / 2, self.dead_time_s)
                     for k in (0, 0, 1, 1))
        return SourceModel(pair_rate_hz, dets, self.window_ps)  # type: ignore[arg-type]

    def curves(self, pair_rate_hz: NDArray[np.float64]) -> dict[str, NDArray[np.float64]]:
        """Singles per arm, coincidences, CAR and raw visibility (uncorrelated
        outcomes per pair, p = 1/4 each) against pair rate."""
        out: dict[str, list[float]] = {"singles_a_hz": [], "singles_b_hz": [], "coincidences_hz": [],
                                       "car": [], "visibility_raw": []}
        p = np.full((2, 2), 0.25)
        for r in np.asarray(pair_rate_hz, dtype=np.float64):
            pred = self.model(float(r)).predict(p)
            true = pred.true_hz.sum() * self.pair_window
            acc = pred.accidentals_hz.sum()
            out["singles_a_hz"].append(pred.singles_hz[:2].sum())
            out["singles_b_hz"].append(pred.singles_hz[2:].sum())
            out["coincidences_hz"].append(true + acc)
            out["car"].append(true / acc if acc > 0 else math.inf)
            out["visibility_raw"].append(self.visibility * true / (true + acc) if true + acc > 0 else 0.0)
        return {k: np.array(v) for k, v in out.items()}


def fit_scan(pair_rate_hz: NDArray[np.float64], singles_a_hz: NDArray[np.float64],
             singles_b_hz: NDArray[np.float64], true_hz: NDArray[np.float64],
             visibility: NDArray[np.float64], visibility_err: NDArray[np.float64],
             window_ps: float) -> ScanFit:
    """Fit the closed form to a scan: each arm's singles m(R) = 2 r / (1 + r tau)
    with r = (eta R + d) / 2 (two detectors, non-paralyzable dead time tau),
    then the share of true pairs counted, from the true coincidences
    C(R) = k R eta_A eta_B L_A L_B (L = 1 / (1 + r tau), least squares in k).

    Raises:
        ValueError: fewer than three points, or arrays of different lengths.
    """
    from scipy.optimize import least_squares

    arrays = [np.asarray(x, dtype=np.float64) for x in
              (pair_rate_hz, singles_a_hz, singles_b_hz, true_hz, visibility, visibility_err)]
    rate, sa, sb, true, vis, vis_err = arrays
    if len({a.size for a in arrays}) != 1:
        raise ValueError(f"scan arrays differ in length: {[a.size for a in arrays]}")
    if rate.size < 3:
        raise ValueError(f"a scan fit needs at least 3 pair rates, got {rate.size}")

    def singles(theta: NDArray[np.float64], eta: float, d: float) -> NDArray[np.float64]:
        r = (eta * rate + d) / 2
        return 2 * r / (1 + r * theta[0])

    def residual(theta: NDArray[np.float64]) -> NDArray[np.float64]:
        tau, ea, da, eb, db = theta
        return np.concatenate([(singles(theta, ea, da) - sa) / np.sqrt(np.maximum(sa, 1.0)),
                               (singles(theta, eb, db) - sb) / np.sqrt(np.maximum(sb, 1.0))])

    guess_eta = [float(np.median(s / rate)) for s in (sa, sb)]
    x0 = np.array([1e-8, guess_eta[0], max(float(sa.min()) * 0.01, 1.0),
                   guess_eta[1], max(float(sb.min()) * 0.01, 1.0)])
    # the drive may be a pair rate (eta a probability) or a pump power or
    # current (eta then counts per unit of drive): eta is bounded below only
    sol = least_squares(residual, x0, bounds=([0, 0, 0, 0, 0], [1e-5, np.inf, np.inf, np.inf, np.inf]),
                        x_scale="jac")
    tau, ea, da, eb, db = (float(v) for v in sol.x)
    live_a = 1 / (1 + (ea * rate + da) / 2 * tau)
    live_b = 1 / (1 + (eb * rate + db) / 2 * tau)
    basis = rate * ea * eb * live_a * live_b
    k = float(basis @ true / (basis @ basis)) if basis @ basis > 0 else 0.0
    # a point without coincidences (a pump below threshold) has no visibility
    ok = np.isfinite(vis) & np.isfinite(vis_err)
    w = 1 / np.maximum(vis_err[ok], 1e-12) ** 2
    v0 = float((w * vis[ok]).sum() / w.sum()) if ok.any() else math.nan
    errors = _fit_errors(residual, sol.x, 2 * rate.size)
    # k: least squares with Poisson weights (counts ~ rate in Hz: weights 1 / |C|)
    wk = 1 / np.maximum(np.abs(true), 1.0)
    errors["pair_window"] = float(1 / math.sqrt((wk * basis**2).sum())) if basis @ basis > 0 else math.inf
    errors["visibility"] = float(1 / math.sqrt(w.sum())) if ok.any() else math.nan
    return ScanFit((ea, eb), (da, db), tau, k, v0, float(window_ps), errors)


def _fit_errors(residual: Any, x: NDArray[np.float64], points: int) -> dict[str, float]:
    """Standard errors of the singles fit from its Jacobian at the solution
    (central differences; the residuals are already in standard deviations),
    scaled by sqrt(chi^2 / dof) when above 1."""
    names = ("dead_time_s", "efficiency_a", "dark_hz_a", "efficiency_b", "dark_hz_b")
    x = np.asarray(x, dtype=np.float64)
    r0 = residual(x)
    jac = np.empty((r0.size, x.size))
    for i in range(x.size):
        h = max(abs(x[i]) * 1e-4, 1e-12 if i == 0 else 1e-6)
        up, down = x.copy(), x.copy()
        up[i] += h
        down[i] = max(down[i] - h, 0.0)
        jac[:, i] = (residual(up) - residual(down)) / (up[i] - down[i])
    dof = max(points - x.size, 1)
    scale = max(1.0, float(r0 @ r0) / dof)
    # columns scaled to one size first: tau (~1e-8 s) and the dark rates
    # (~1e2 Hz) differ by ten orders, beyond what pinv resolves unscaled
    col = np.linalg.norm(jac, axis=0)
    col[col == 0] = 1.0
    js = jac / col
    cov = np.linalg.pinv(js.T @ js) / np.outer(col, col) * scale
    err = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    return {n: float(e) for n, e in zip(names, err)}
