"""``qnic calibrate``: every step in order, saved after each, resumable.

Steps: home the rotators; dark counts; channel delays and window; waveplate
zeros; visibilities; relative efficiencies. After each step the calibration
file is rewritten (marked incomplete until the last), so an interrupted or
failed run keeps the steps it finished and ``--resume`` continues it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from qnic.calibration.context import Context
from qnic.calibration.dark import dark_counts
from qnic.calibration.delays import channel_delays
from qnic.calibration.store import CalibrationRecord, CalibrationStore, station_hash
from qnic.calibration.values import StepResult
from qnic.calibration.visibility import efficiencies, visibilities
from qnic.calibration.zeros import waveplate_zeros
from qnic.station import LoadedStation


def home(ctx: Context) -> StepResult:
    """Home every rotator (they must be homed after power-up)."""
    for q in (ctx.a, ctx.b):
        q.rotator.home()
    return StepResult()


STEPS: list[tuple[str, Callable[[Context], StepResult]]] = [
    ("home", home), ("dark_counts", dark_counts), ("delays", channel_delays),
    ("waveplate_zeros", waveplate_zeros), ("visibility", visibilities),
    ("efficiencies", efficiencies)]


def bench_name(station: LoadedStation) -> str:
    """The name calibrations are filed under: the simulated bench's name, or
    the station file's stem on hardware."""
    if station.config.sim is not None:
        return str(station.config.sim.name)
    return Path(station.config.path).stem


@dataclass
class Calibration:
    """A calibration run on an open station."""

    ctx: Context
    store: CalibrationStore
    path: Path
    record: CalibrationRecord

    @classmethod
    def start(cls, ctx: Context, store: CalibrationStore, out: Path | None = None,
              resume: bool = False) -> Calibration:
        bench = bench_name(ctx.station)
        digest = station_hash(ctx.station.config.text)
        if resume:
            found = (out, CalibrationRecord.load(out)) if out is not None and out.exists() \
                else store.newest(bench, complete=False)
            if found is not None and not found[1].complete:
                path, record = found
                restore(ctx, record)
                return cls(ctx, store, path, record)
        path = out if out is not None else store.new_path(bench)
        return cls(ctx, store, path, CalibrationRecord(bench=bench, station_hash=digest))

    def remaining(self) -> list[tuple[str, Callable[[Context], StepResult]]]:
        return [(n, f) for n, f in STEPS if n not in self.record.steps_done]

    def run_step(self, name: str, step: Callable[[Context], StepResult]) -> StepResult:
        result = step(self.ctx)
        for quantity, kv in result.values.items():
            self.record.values.setdefault(quantity, {}).update(kv)
        if result.quality:
            self.record.quality[name] = result.quality
        self.record.steps_done.append(name)
        self.record.complete = not self.remaining()
        self.record.save(self.path)
        return result


def restore(ctx: Context, record: CalibrationRecord) -> None:
    """Put what a (partial) calibration found back into the context."""
    for arm in ("A", "B"):
        z = record.value("waveplate_zero_deg", arm)
        if z is not None:
            ctx.zeros_deg[arm] = z
    delays = record.values.get("delay_ps", {})
    if delays:
        ctx.delays_ps = {int(ch): int(round(m.value)) for ch, m in delays.items()}
    window = record.value("window_ps", "A-B")
    if window is not None:
        ctx.window_ps = int(window)
    for ch, m in record.values.get("dark_count_hz", {}).items():
        ctx.dark_hz[int(ch)] = m.value


def apply_calibration(station: LoadedStation, record: CalibrationRecord) -> None:
    """Make the station's QNICs use a calibration: waveplate zeros, channel
    delays and the coincidence window."""
    for name, q in station.qnics.items():
        z = record.value("waveplate_zero_deg", name)
        if z is not None:
            q.waveplate_zero_deg = z
        d = [record.value("delay_ps", str(ch)) for ch in q.channels]
        if all(v is not None for v in d):
            q.delays_ps = (int(round(d[0])), int(round(d[1])))  # type: ignore[arg-type]
    window = record.value("window_ps", "A-B")
    if window is not None:
        station.window_ps_override = int(window)
