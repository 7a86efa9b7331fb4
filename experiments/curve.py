"""Correlation curve: E(phi_A, phi_B) over a scan of one arm, and its fringe.

E = (n00 - n01 - n10 + n11) / N per setting (accidentals from offset
windows subtracted, raw values kept); fitted with E = offset + V cos 2(phi -
phase) (phi in degrees, period 180): V is the visibility in the basis of
the fixed arm.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qnic.coincidence import accidentals_under_peak, outcome_counts_at
from qnic.fringe import FringeFit, fit_fringe
from qnic.node import set_bases_together
from qnic.station import LoadedStation
from qnic.storage import Quantity, RunRecorder

_K_PER_DEG = 2.0 * math.pi / 180.0
_ACC_OFFSETS_PS = (1_000_000, 2_000_000, 3_000_000, 4_000_000)

SETPOINTS = (Quantity("phi_a_deg", "Arm A basis angle (polarizer-equivalent)", "deg"),
             Quantity("phi_b_deg", "Arm B basis angle (polarizer-equivalent)", "deg"))
"""The independent columns of a curve dataset: both arms' bases (one of them fixed)."""
VALUES = (Quantity("E", "Correlator E (accidentals subtracted)"),
          Quantity("E_err", "Correlator E uncertainty"),
          Quantity("E_raw", "Correlator E (raw)"),
          *(Quantity(f"n{ab}", f"Coincidences a={ab[0]}, b={ab[1]}", "counts")
            for ab in ("00", "01", "10", "11")),
          Quantity("live_s", "Live acquisition time", "s"))
"""The dependent columns: a row per scan point."""


def curve_recorder(st: LoadedStation) -> RunRecorder:
    """The recorder of a correlation curve (run name ``curve``, docs/storage.md)."""
    return RunRecorder("curve", Path(st.config.path).stem, st.station, SETPOINTS, VALUES,
                       row_noun="point")


@dataclass
class CurveResult:
    """A measured correlation curve and its fit."""

    scan_arm: str
    fixed_phi_deg: float
    phi_deg: np.ndarray
    e: np.ndarray
    e_err: np.ndarray
    e_raw: np.ndarray
    fit: FringeFit

    def to_json(self) -> dict[str, Any]:
        return {"scan_arm": self.scan_arm, "fixed_phi_deg": self.fixed_phi_deg,
                "phi_deg": self.phi_deg.tolist(), "E": self.e.tolist(), "E_err": self.e_err.tolist(),
                "E_raw": self.e_raw.tolist(), "visibility": self.fit.amplitude,
                "visibility_err": self.fit.amplitude_err, "phase_deg": self.fit.phase,
                "phase_err_deg": self.fit.phase_err, "offset": self.fit.offset,
                "chi2_red": self.fit.chi2_red}


def measure_curve(st: LoadedStation, scan_arm: str = "A", fixed_phi_deg: float = 0.0,
                  points: int = 24, dwell_s: float = 0.5,
                  on_point: Callable[[dict[str, float]], None] | None = None) -> CurveResult:
    """Scan ``scan_arm``'s basis over [0, 180) with the other arm at ``fixed_phi_deg``.

    ``on_point`` is given each point's row (the columns of :data:`SETPOINTS`
    and :data:`VALUES`) as soon as it is measured.
    """
    if scan_arm not in ("A", "B"):
        raise ValueError(f"scan arm must be 'A' or 'B', got {scan_arm!r}")
    if points < 4:
        raise ValueError(f"a fringe needs at least 4 points, got {points}")
    a, b = st.qnics["A"], st.qnics["B"]
    delays = {**a.channel_delays, **b.channel_delays}
    phi = np.linspace(0.0, 180.0, points, endpoint=False)
    e, err, raw = [], [], []
    for p in phi:
        pa, pb = (p, fixed_phi_deg) if scan_arm == "A" else (fixed_phi_deg, p)
        set_bases_together([(a, pa), (b, pb)])
        batch = a.tagger.acquire(dwell_s)
        args = (batch.timestamps, batch.channels, a.channels, b.channels, st.window_ps, delays)
        true, *shifted = outcome_counts_at(*args, (0, *_ACC_OFFSETS_PS))
        n = true.n.ravel().astype(float)
        acc = accidentals_under_peak(true, shifted, a.channels, b.channels).mean.ravel()
        net = np.clip(n - acc, 0.0, None)
        total = max(net.sum(), 1.0)
        val = (net[0] - net[1] - net[2] + net[3]) / total
        e.append(val)
        err.append(math.sqrt(max(1 - val * val, 1e-4) / total))
        raw.append((n[0] - n[1] - n[2] + n[3]) / max(n.sum(), 1.0))
        if on_point is not None:
            on_point({"phi_a_deg": float(pa), "phi_b_deg": float(pb), "E": float(val),
                      "E_err": err[-1], "E_raw": float(raw[-1]),
                      **{f"n{ab}": float(v) for ab, v in zip(("00", "01", "10", "11"), n)},
                      "live_s": batch.duration_s - batch.lost_s})
    fit = fit_fringe(phi, np.array(e), np.array(err), _K_PER_DEG, 180.0)
    return CurveResult(scan_arm, fixed_phi_deg, phi, np.array(e), np.array(err), np.array(raw), fit)


def save_curve_png(result: CurveResult, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.errorbar(result.phi_deg, result.e, yerr=result.e_err, fmt="o", ms=3, label="E (accidentals subtracted)")
    x = np.linspace(0, 180, 361)
    ax.plot(x, result.fit.model(x, _K_PER_DEG), "-",
            label=f"fit: V = {result.fit.amplitude:.4f} +- {result.fit.amplitude_err:.4f}")
    other = "B" if result.scan_arm == "A" else "A"
    ax.set_xlabel(f"arm {result.scan_arm} basis phi (deg); arm {other} at {result.fixed_phi_deg:g} deg")
    ax.set_ylabel("E")
    ax.set_ylim(-1.05, 1.05)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
