"""The Bell/CHSH run (docs/chsh.md): four settings, coincidences, S with its error.

prepare: check the wiring (both arms on one tagger) and home the rotators;
run: for each setting turn both waveplates together, acquire, count
coincidences per outcome and accidentals from offset windows, record the row;
analyze: E and S, raw and accidental-corrected (pure, no hardware).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from qnic.bases import CHSH_ANGLES_DEG
from qnic.bell_test import block_orders, local_realism_test, plan_seconds
from qnic.chsh import SETTINGS, CHSHResult, analyze_counts
from qnic.coincidence import OutcomeCounts, OutcomeStream, accidentals_under_peak
from qnic.instruments.timetaggers.protocol import TagBatch
from qnic.node import set_bases_together
from qnic.station import LoadedStation
from qnic.storage import Quantity, RunRecorder

# Accidentals are counted with arm B shifted by k * 1 us (k = 1..4): far
# beyond the detector jitter and the afterpulse delays (tens of ns), so the
# shifted windows see only uncorrelated clicks.
ACCIDENTAL_OFFSET_PS = 1_000_000
ACCIDENTAL_WINDOWS = 4

COLUMNS = ["n00", "n01", "n10", "n11", "E", "double_a", "double_b",
           "acc00", "acc01", "acc10", "acc11", "singles_a_hz", "singles_b_hz", "live_s", "block"]
"""Names of the measured columns of a setting's row (docs/storage.md)."""

SETPOINTS = (
    Quantity("phi_a_deg", "Arm A basis angle (polarizer-equivalent)", "deg"),
    Quantity("phi_b_deg", "Arm B basis angle (polarizer-equivalent)", "deg"),
)
"""The independent columns of a CHSH dataset: the setting's two bases."""

VALUES = (
    Quantity("setting_x", "CHSH question x (arm A)"),
    Quantity("setting_y", "CHSH question y (arm B)"),
    *(Quantity(f"n{ab}", f"Coincidences a={ab[0]}, b={ab[1]}", "counts")
      for ab in ("00", "01", "10", "11")),
    Quantity("E", "Correlator E (raw)"),
    Quantity("double_a", "Coincidences set apart: arm A double click", "counts"),
    Quantity("double_b", "Coincidences set apart: arm B double click", "counts"),
    *(Quantity(f"acc{ab}", f"Accidental coincidences a={ab[0]}, b={ab[1]} (under the peak)",
               "counts") for ab in ("00", "01", "10", "11")),
    Quantity("singles_a_hz", "Singles rate, arm A", "Hz"),
    Quantity("singles_b_hz", "Singles rate, arm B", "Hz"),
    Quantity("live_s", "Live acquisition time", "s"),
    Quantity("block", "Block of the randomized setting order"),
)
"""The dependent columns: the questions, then :data:`COLUMNS` with labels and units."""


@dataclass
class SettingData:
    """What one setting measured."""

    key: str
    angle_a_deg: float
    angle_b_deg: float
    counts: OutcomeCounts
    accidentals: np.ndarray  # mean accidental counts per outcome cell, shape (4,)
    accidentals_var: np.ndarray
    live_s: float
    batch: TagBatch | None = None
    block: int = 0


@dataclass
class CHSHRun:
    """One CHSH measurement on a loaded station.

    Attributes:
        station: the open station (QNICs A and B, window, clock).
        seconds_per_setting: acquisition time per setting (s, > 0).
        window_ps: coincidence window (defaults to the station's).
        keep_tags: keep each setting's raw tags (for a side file).
        tag_sink: receives the raw tags as they come (``begin(keys, seconds)``,
            ``add(key, batch, first)``, ``finished(settings)``): the side file
            of :class:`~qnic.experiments.raw_tags.RawTagFile`, which a killed
            run leaves readable.
        progress: called with (setting key, index, total) before each setting.
        before_counting: called once, just before the first tags are
            counted (``qnic chsh`` waits there for the kernels compiled
            beside it, qnic.coincidence.warm).
        blocks: the settings are measured in this many blocks, each the four
            settings in a fresh random order, ``seconds_per_setting / blocks``
            each (docs/chsh.md, "Statistics"): slow drifts then fall alike on
            every setting.
        order_seed: seed of the orders (drawn and kept when None). A replay
            tagger that knows the recorded order plays it instead.
        target_sigma: plan the time from a first block of a tenth of
            ``seconds_per_setting``: enough further blocks of the same length
            to bring sigma_S to this, within ``seconds_per_setting`` per setting
            (:class:`~qnic.bell_test.TargetUnreachable` after the first block,
            which stays recorded, otherwise).
    """

    station: LoadedStation
    seconds_per_setting: float = 1.0
    window_ps: int | None = None
    keep_tags: bool = False
    tag_sink: Any = None
    progress: Callable[[str, int, int], None] | None = None
    chunk_s: float = 0.1
    before_counting: Callable[[], None] | None = None
    settings: list[SettingData] = field(default_factory=list)
    prepared: bool = False
    blocks: int = 1
    order_seed: int | None = None
    target_sigma: float | None = None
    orders: list[tuple[str, ...]] = field(default_factory=list)

    def prepare(self) -> None:
        """Check the wiring and the time, and home the rotators (first device traffic)."""
        if not self.seconds_per_setting > 0:
            raise ValueError(f"seconds per setting must be > 0, got {self.seconds_per_setting}")
        if self.blocks < 1:
            raise ValueError(f"blocks must be >= 1, got {self.blocks}")
        a, b = self.station.qnics["A"], self.station.qnics["B"]
        if a.tagger is not b.tagger:
            raise ValueError("arms A and B must share one time tagger for coincidences")
        if self.window_ps is None:
            self.window_ps = self.station.window_ps
        if self.station.config.home_on_start:
            a.rotator.home()
            b.rotator.home()
        self.prepared = True

    def measure_setting(self, key: str, seconds: float | None = None, block: int = 0) -> SettingData:
        """Turn both arms to setting ``key`` ("xy"), acquire and count.

        Tags are streamed in batches of ``chunk_s`` and counted batch by
        batch in one pass with the accidental windows
        (:class:`~qnic.coincidence.OutcomeStream`), so memory stays bounded
        however long the setting, and pairs across batch boundaries count.
        """
        a, b = self.station.qnics["A"], self.station.qnics["B"]
        x, y = int(key[0]), int(key[1])
        phi_a, phi_b = CHSH_ANGLES_DEG["A"][x], CHSH_ANGLES_DEG["B"][y]
        set_bases_together([(a, phi_a), (b, phi_b)])
        window = int(self.window_ps or 0)
        delays = {**a.channel_delays, **b.channel_delays}
        offsets = [k * ACCIDENTAL_OFFSET_PS for k in range(ACCIDENTAL_WINDOWS + 1)]
        counter = OutcomeStream(a.channels, b.channels, window, delays, offsets)
        live_s = 0.0
        kept: list[TagBatch] = []
        started = False
        dwell = self.seconds_per_setting if seconds is None else seconds
        for batch in a.tagger.stream(dwell, self.chunk_s):
            if self.before_counting is not None:
                self.before_counting()
                self.before_counting = None
            counter.push(batch.timestamps, batch.channels, until_ps=batch.stop_ps)
            live_s += batch.duration_s - batch.lost_s
            if self.keep_tags:
                kept.append(batch)
            if self.tag_sink is not None:
                self.tag_sink.add(key, batch, first=not started)
            started = True
        total, *shifted = counter.finish()
        # the offset windows scaled to the events left free under the true
        # peak (docs/coincidences.md section 4): unbiased at high rates
        acc = accidentals_under_peak(total, shifted, a.channels, b.channels)
        return SettingData(key, phi_a, phi_b, total, acc.mean.ravel(), acc.var.ravel(),
                           live_s, _join(kept), block)

    def schedule(self) -> list[tuple[str, ...]]:
        """The settings' order per block: the replayed recording's order when
        the tagger knows it, else fresh random orders from ``order_seed``."""
        recorded = getattr(self.station.qnics["A"].tagger, "recorded_settings", None)
        if recorded:
            keys = tuple(recorded)
            if len(keys) % 4 or any(sorted(keys[i:i + 4]) != list(SETTINGS)
                                    for i in range(0, len(keys), 4)):
                raise ValueError(f"the replayed recording's setting order {','.join(keys)} is not "
                                 "blocks of the four settings")
            self.blocks = len(keys) // 4
            return [keys[i:i + 4] for i in range(0, len(keys), 4)]
        if self.order_seed is None:
            self.order_seed = int(np.random.default_rng().integers(2**31))
        return block_orders(self.blocks, self.order_seed)

    def run(self, recorder: RunRecorder | None = None) -> list[SettingData]:
        """Measure the settings block by block, recording each row as it is
        measured (:meth:`prepare` first, unless done)."""
        if not self.prepared:
            self.prepare()
        if self.target_sigma is not None:
            return self._run_to_target(recorder)
        self.orders = self.schedule()
        seconds = self.seconds_per_setting / len(self.orders)
        if self.tag_sink is not None:
            self.tag_sink.begin([k for order in self.orders for k in order], seconds)
        for block, order in enumerate(self.orders):
            self._measure_block(block, order, seconds, recorder)
        return self.settings

    def _measure_block(self, block: int, order: tuple[str, ...], seconds: float,
                       recorder: RunRecorder | None) -> None:
        total = 4 * max(len(self.orders), block + 1)
        for i, key in enumerate(order):
            if self.progress:
                self.progress(key, 4 * block + i, total)
            data = self.measure_setting(key, seconds, block)
            self.settings.append(data)
            if self.tag_sink is not None:
                self.tag_sink.finished(self.settings)
            if recorder is not None:
                recorder.add_row(**self.row(data))

    def _run_to_target(self, recorder: RunRecorder | None) -> list[SettingData]:
        """A first block of a tenth of the time, then blocks of the same
        length until the planned time (qnic.bell_test.plan_seconds)."""
        assert self.target_sigma is not None
        self.blocks = 1
        first = self.schedule()[0]
        pilot = self.seconds_per_setting / 10
        self.orders = [first]
        if self.tag_sink is not None:  # the blocks after the first are planned after it
            self.tag_sink.begin(list(first), pilot)
        self._measure_block(0, first, pilot, recorder)
        planned = plan_seconds(self.analyze().S_err, pilot, self.target_sigma, self.seconds_per_setting)
        self.blocks = max(1, math.ceil(planned / pilot - 1e-9))
        self.orders = [first, *block_orders(self.blocks, self.order_seed or 0)[1:]]
        for block in range(1, self.blocks):
            self._measure_block(block, self.orders[block], pilot, recorder)
        return self.settings

    def row(self, d: SettingData) -> dict[str, float]:
        a, b = self.station.qnics["A"], self.station.qnics["B"]
        n = d.counts.n.ravel()
        total = n.sum()
        live = max(d.live_s, 1e-12)
        return {
            "phi_a_deg": d.angle_a_deg, "phi_b_deg": d.angle_b_deg,
            "setting_x": int(d.key[0]), "setting_y": int(d.key[1]),
            **{f"n{ab}": float(v) for ab, v in zip(("00", "01", "10", "11"), n)},
            "E": float((n[0] - n[1] - n[2] + n[3]) / total) if total else float("nan"),
            "double_a": d.counts.double_a, "double_b": d.counts.double_b,
            **{f"acc{ab}": float(v) for ab, v in zip(("00", "01", "10", "11"), d.accidentals)},
            "singles_a_hz": sum(d.counts.singles[c] for c in a.channels) / live,
            "singles_b_hz": sum(d.counts.singles[c] for c in b.channels) / live,
            "live_s": d.live_s,
            "block": d.block,
        }

    def analyze(self) -> CHSHResult:
        """S from the measured settings (pure)."""
        result = analyze_chsh(self.settings, int(self.window_ps or 0), self.seconds_per_setting)
        result.metadata.update({"blocks": len(self.orders), "order_seed": self.order_seed,
                                "orders": [",".join(o) for o in self.orders]})
        return result


def chsh_recorder(st: LoadedStation) -> RunRecorder:
    """The recorder of a CHSH run: a row per setting over its two bases (docs/storage.md)."""
    return RunRecorder("chsh", Path(st.config.path).stem, st.station, SETPOINTS, VALUES,
                       row_noun="setting")


def _join(batches: list[TagBatch]) -> TagBatch | None:
    if not batches:
        return None
    return TagBatch(np.concatenate([b.timestamps for b in batches]),
                    np.concatenate([b.channels for b in batches]),
                    batches[0].start_ps, batches[-1].stop_ps,
                    tuple(o for b in batches for o in b.overflows),
                    sum(b.missed_events for b in batches))


def merge_blocks(settings: list[SettingData]) -> dict[str, SettingData]:
    """Each setting's blocks summed into one (counts, accidentals and their
    variances, live time), in the order of :data:`SETTINGS`."""
    merged: dict[str, SettingData] = {}
    for d in settings:
        m = merged.get(d.key)
        if m is None:
            merged[d.key] = SettingData(d.key, d.angle_a_deg, d.angle_b_deg, d.counts,
                                        d.accidentals.copy(), d.accidentals_var.copy(), d.live_s)
            continue
        c, e = m.counts, d.counts
        singles = {k: c.singles.get(k, 0) + e.singles.get(k, 0) for k in {*c.singles, *e.singles}}
        m.counts = OutcomeCounts(c.n + e.n, c.double_a + e.double_a, c.double_b + e.double_b,
                                 c.events_a + e.events_a, c.events_b + e.events_b, singles)
        m.accidentals = m.accidentals + d.accidentals
        m.accidentals_var = m.accidentals_var + d.accidentals_var
        m.live_s += d.live_s
    return {k: merged[k] for k in SETTINGS if k in merged}


def analyze_chsh(settings: list[SettingData], window_ps: int, seconds: float) -> CHSHResult:
    """CHSH result of the measured settings (blocks summed), raw and
    accidental-corrected, with the test of local realism on the raw counts."""
    merged = merge_blocks(settings)
    counts = {k: [int(v) for v in d.counts.n.ravel()] for k, d in merged.items()}
    acc = {k: [float(v) for v in d.accidentals] for k, d in merged.items()}
    acc_var = {k: [float(v) for v in d.accidentals_var] for k, d in merged.items()}
    result = analyze_counts(counts, acc, acc_var)
    test = local_realism_test(counts, result.S, result.S_err)
    result.metadata.update({
        "window_ps": window_ps,
        "seconds_per_setting": seconds,
        "angles_deg": {k: [d.angle_a_deg, d.angle_b_deg] for k, d in merged.items()},
        "double_clicks": {k: [d.counts.double_a, d.counts.double_b] for k, d in merged.items()},
        "local_realism": {"log10_p_hoeffding": test.log10_p_hoeffding, "sigmas": test.sigmas,
                          "log10_p_gaussian": test.log10_p_gaussian, "trials": test.trials},
    })
    return result


def save_tags(path: Path, settings: list[SettingData]) -> None:
    """Write the settings' raw tags to one side file, chosen by its suffix.

    ``.ptu``: one Generic T2 PTU file (:func:`save_tags_ptu`); anything else:
    a ``.npz`` file of arrays ``timestamps_ps_XY`` and ``channels_XY``.
    """
    if Path(path).suffix.lower() == ".ptu":
        save_tags_ptu(path, settings)
        return
    arrays: dict[str, Any] = {}
    for d in settings:
        if d.batch is None:
            continue
        block = getattr(d, "block", 0)
        suffix = d.key if block == 0 else f"{d.key}_block{block}"
        arrays[f"timestamps_ps_{suffix}"] = d.batch.timestamps
        arrays[f"channels_{suffix}"] = d.batch.channels
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)


def acquisition_time_batches(settings: list[SettingData]) -> list[TagBatch]:
    """The settings' tags on one clock of acquisition time only.

    The CHSH run acquires the settings one after another, with the rotator
    moves in between; those gaps hold no tags and are cut out: setting k's
    tags are shifted so that it starts where setting k-1 stopped, and the
    first starts at 0. A replay (``ReplayTimeTagger``) that reads the settings
    in the same order for the same seconds each therefore reads exactly the
    stretch each setting recorded.

    Returns:
        One batch per setting that kept tags, in order, contiguous in time.
    """
    out: list[TagBatch] = []
    at_ps = 0
    for d in settings:
        b = d.batch
        if b is None:
            continue
        shift = at_ps - int(b.start_ps)
        out.append(TagBatch(b.timestamps + shift, b.channels, at_ps, int(b.stop_ps) + shift,
                            tuple((s + shift, e + shift) for s, e in b.overflows),
                            b.missed_events))
        at_ps = int(b.stop_ps) + shift
    return out


def save_tags_ptu(path: Path, settings: list[SettingData]) -> None:
    """Write the settings' raw tags as one Generic T2 PTU file.

    The settings follow one another in the order measured, on the clock of
    :func:`acquisition_time_batches` (rotator moves cut out, the first
    setting at 0). The header records the order (``UsrCHSH_Settings``, e.g.
    "00,01,10,11") and each setting's length (``UsrCHSH_SettingDurations_ps``).
    """
    from qnic.instruments.timetaggers.picoquant import write_ptu

    kept = [d for d in settings if d.batch is not None]
    batches = acquisition_time_batches(kept)
    channels = sorted({int(c) for b in batches for c in np.unique(b.channels)} - {0}) or [1]
    path.parent.mkdir(parents=True, exist_ok=True)
    write_ptu(path, batches, input_channels=channels, comment="qnic chsh raw tags",
              extra_tags={"UsrCHSH_Settings": ",".join(d.key for d in kept),
                          "UsrCHSH_SettingDurations_ps": ",".join(
                              str(b.stop_ps - b.start_ps) for b in batches),
                          "UsrCHSH_GapsRemoved": True})
