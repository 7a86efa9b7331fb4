"""Two-qubit state tomography on the bench (docs/tomography.md).

prepare: check that every arm has a QWP before its HWP (and, on a simulated
bench, that the bench's QWP is in the beam), then home the rotators;
run: for each setting turn all four plates together to analyse the
setting's states, acquire, count coincidences per outcome (and accidentals
from offset windows, as qnic chsh does), record the row;
analyze: the projectors the plates actually realised (each arm's plate
models at the angles sent) with the counts, maximum likelihood, figures and
bootstrap errors (pure, qnic.tomography).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from qnic.coincidence import OutcomeStream, accidentals_under_peak
from qnic.station import LoadedStation, StationError
from qnic.storage import Quantity, RunRecorder
from qnic.tomography import (
    SETTING_SETS,
    STATES,
    TomographyData,
    TomographyResult,
    analyze,
    settings_data,
)

# as in experiments/chsh.py: arm B shifted by k * 1 us counts accidentals only
ACCIDENTAL_OFFSET_PS = 1_000_000
ACCIDENTAL_WINDOWS = 4
OUTCOMES = ("00", "01", "10", "11")

SETPOINTS = (
    Quantity("qwp_a_deg", "Arm A QWP rotator angle", "deg"),
    Quantity("hwp_a_deg", "Arm A HWP rotator angle", "deg"),
    Quantity("qwp_b_deg", "Arm B QWP rotator angle", "deg"),
    Quantity("hwp_b_deg", "Arm B HWP rotator angle", "deg"),
)
"""The independent columns: the four plates' rotator angles."""

VALUES = (
    Quantity("setting", "Setting index (docs/tomography.md order)"),
    *(Quantity(f"n{ab}", f"Coincidences a={ab[0]}, b={ab[1]}", "counts") for ab in OUTCOMES),
    *(Quantity(f"acc{ab}", f"Accidental coincidences a={ab[0]}, b={ab[1]} (under the peak)",
               "counts") for ab in OUTCOMES),
    Quantity("live_s", "Live acquisition time", "s"),
)
"""The dependent columns of a setting's row."""


def check_tomography_station(st: LoadedStation) -> None:
    """Every arm needs a QWP rotator; on a simulated bench its QWP must be in the beam.

    Raises:
        StationError: naming the station file, the arm's key that is missing
            and what it should hold.
    """
    config = st.config
    for name, qnic in st.qnics.items():
        if qnic.qwp_rotator is None:
            raise StationError(config.path, f"instruments.{config.wiring_instrument}.init.{name}.qwp_rotator",
                               f"missing: arm {name} has no quarter-wave plate rotator; tomography "
                               "turns a QWP and a HWP per arm (see the embedded "
                               "qnic/stations/tomography.yaml)")
    if st.bench is not None:
        sim = config.section_instruments.get("sim", "sim")
        for name, arm in st.bench.params.arms.items():
            if not arm.qwp_enabled:
                raise StationError(config.path, f"instruments.{sim}.init.{name}.qwp_enabled",
                                   f"missing: the simulated bench has no QWP in arm {name} "
                                   "(set qwp_enabled: true)")


@dataclass
class SettingCounts:
    """What one setting measured: the states asked for, the rotator angles
    sent, the counts n00..n11 and the accidentals under the peak."""

    key: str
    angles_deg: tuple[float, float, float, float]  # QWP A, HWP A, QWP B, HWP B
    counts: np.ndarray  # int64 (4,)
    accidentals: np.ndarray  # float (4,)
    live_s: float


@dataclass
class TomographyRun:
    """One tomography measurement on a loaded station.

    Attributes:
        station: the open station (QNICs A and B, each with a QWP rotator).
        seconds_per_setting: acquisition time per setting (s, > 0).
        setting_set: "pauli" (9 basis pairs, 36 projectors) or "jkmw"
            (the 16 settings of James et al. 2001, 64 projectors).
        window_ps: coincidence window (defaults to the station's).
        progress: called with (setting key, index, total) before each setting.
    """

    station: LoadedStation
    seconds_per_setting: float = 1.0
    setting_set: str = "pauli"
    window_ps: int | None = None
    progress: Callable[[str, int, int], None] | None = None
    chunk_s: float = 0.1
    settings: list[SettingCounts] = field(default_factory=list)
    prepared: bool = False

    def prepare(self) -> None:
        """Check the station and the arguments, then home the rotators."""
        if not self.seconds_per_setting > 0:
            raise ValueError(f"seconds per setting must be > 0, got {self.seconds_per_setting}")
        if self.setting_set not in SETTING_SETS:
            raise ValueError(f"unknown setting set {self.setting_set!r} "
                             f"(expected one of {', '.join(SETTING_SETS)})")
        check_tomography_station(self.station)
        a, b = self.station.qnics["A"], self.station.qnics["B"]
        if a.tagger is not b.tagger:
            raise ValueError("arms A and B must share one time tagger for coincidences")
        if self.window_ps is None:
            self.window_ps = self.station.window_ps
        if self.station.config.home_on_start:
            for q in (a, b):
                q.rotator.home()
                assert q.qwp_rotator is not None  # checked above
                q.qwp_rotator.home()
        self.prepared = True

    def measure_setting(self, key: str) -> SettingCounts:
        """Turn both arms to analyse ``key`` (arm A's and B's state, e.g.
        "HR"), acquire and count."""
        a, b = self.station.qnics["A"], self.station.qnics["B"]
        qa, ha = a.state_angles_deg(STATES[key[0]])
        qb, hb = b.state_angles_deg(STATES[key[1]])
        for q, (qwp, hwp) in ((a, (qa, ha)), (b, (qb, hb))):
            assert q.qwp_rotator is not None  # checked in prepare
            q.qwp_rotator.move_to(qwp, wait=False)
            q.rotator.move_to(hwp, wait=False)
        a.wait_for_move()
        b.wait_for_move()
        delays = {**a.channel_delays, **b.channel_delays}
        offsets = [k * ACCIDENTAL_OFFSET_PS for k in range(ACCIDENTAL_WINDOWS + 1)]
        counter = OutcomeStream(a.channels, b.channels, int(self.window_ps or 0), delays, offsets)
        live_s = 0.0
        for batch in a.tagger.stream(self.seconds_per_setting, self.chunk_s):
            counter.push(batch.timestamps, batch.channels, until_ps=batch.stop_ps)
            live_s += batch.duration_s - batch.lost_s
        total, *shifted = counter.finish()
        acc = accidentals_under_peak(total, shifted, a.channels, b.channels)
        return SettingCounts(key, (qa, ha, qb, hb), np.asarray(total.n, dtype=np.int64).ravel(),
                             np.asarray(acc.mean, dtype=np.float64).ravel(), live_s)

    def run(self, recorder: RunRecorder | None = None) -> list[SettingCounts]:
        """Measure every setting, recording each row as it is measured
        (:meth:`prepare` first, unless done): an interrupted run keeps the
        settings it finished."""
        if not self.prepared:
            self.prepare()
        keys = SETTING_SETS[self.setting_set]
        for i, key in enumerate(keys):
            if self.progress:
                self.progress(key, i, len(keys))
            data = self.measure_setting(key)
            self.settings.append(data)
            if recorder is not None:
                recorder.add_row(**self.row(i, data))
        return self.settings

    @staticmethod
    def row(index: int, d: SettingCounts) -> dict[str, float]:
        qa, ha, qb, hb = d.angles_deg
        return {"qwp_a_deg": qa, "hwp_a_deg": ha, "qwp_b_deg": qb, "hwp_b_deg": hb,
                "setting": index,
                **{f"n{ab}": float(v) for ab, v in zip(OUTCOMES, d.counts)},
                **{f"acc{ab}": float(v) for ab, v in zip(OUTCOMES, d.accidentals)},
                "live_s": d.live_s}

    def data(self, subtract_accidentals: bool = False) -> TomographyData:
        """The measured projectors (as the plates realised them, by each
        arm's plate models) and counts (optionally less accidentals, >= 0)."""
        a, b = self.station.qnics["A"], self.station.qnics["B"]
        analysed = [(a.analysed_state(d.angles_deg[1], d.angles_deg[0]),
                     b.analysed_state(d.angles_deg[3], d.angles_deg[2])) for d in self.settings]
        counts = np.array([d.counts for d in self.settings], dtype=np.float64)
        if subtract_accidentals:
            counts = np.clip(counts - np.array([d.accidentals for d in self.settings]), 0.0, None)
        return settings_data(analysed, counts)

    def analyze(self, target: str = "phi+", n_bootstrap: int = 30, seed: int = 0,
                subtract_accidentals: bool = False) -> TomographyResult:
        """The reconstruction (pure)."""
        return analyze(self.data(subtract_accidentals), target, n_bootstrap, seed)


def tomography_recorder(st: LoadedStation) -> RunRecorder:
    """The recorder of a tomography run: a row per setting over the four plate angles."""
    return RunRecorder("tomography", Path(st.config.path).stem, st.station, SETPOINTS, VALUES)


def plot_density_matrix(rho: np.ndarray, path: Path, title: str = "") -> Path:
    """A PNG of rho's real and imaginary parts (two annotated 4 x 4 maps)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    labels = ["HH", "HV", "VH", "VV"]
    fig = Figure(figsize=(9.0, 4.2), dpi=110, layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, part, name in ((axes[0], rho.real, "Re"), (axes[1], rho.imag, "Im")):
        im = ax.imshow(part, cmap="RdBu_r", vmin=-0.5, vmax=0.5)
        ax.set_xticks(range(4), labels)
        ax.set_yticks(range(4), labels)
        ax.set_title(f"{name} rho")
        for i in range(4):
            for j in range(4):
                ax.text(j, i, f"{part[i, j]:+.3f}", ha="center", va="center", fontsize=8,
                        color="white" if abs(part[i, j]) > 0.3 else "black")
    fig.colorbar(im, ax=list(axes), shrink=0.8)
    if title:
        fig.suptitle(title)
    FigureCanvasAgg(fig)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


def summary_facts(result: TomographyResult) -> dict[str, Any]:
    """The figures a dataset's metadata keeps (docs/storage.md)."""
    return {k: v for k, v in result.to_dict().items() if k != "errors"} | {"errors": result.errors}
