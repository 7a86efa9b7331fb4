"""The simulated time tagger: a QCoDeS Instrument implementing ``TimeTagger``.

It reads detector pulses from its bench and applies what a tagger does to
them: per-input delays, a discriminator level per input (pulses below the
level are not seen; a level down in the noise adds noise triggers), the
tagger's resolution, and a finite transfer rate: when more tags arrive in a
buffer block than ``max_rate_hz`` allows, the block's tags are lost and the
block is reported as an overflow interval (the way hardware flags it).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from qcodes.instrument import Instrument, InstrumentChannel
from qcodes.validators import Ints, Numbers

from instruments.timetaggers.protocol import TagBatch
from sim_backends.bench import PS, Bench
from sim_backends.physics.detectors import merge_channels
from sim_backends.physics.sampling import sorted_uniform
from sim_backends.registry import registry

_MAX_DELAY_PS = 2_000_000  # +-2 us of settable input delay


class SimulatedInput(InstrumentChannel):
    """One input of the simulated tagger."""

    def __init__(self, parent: SimulatedTimeTagger, name: str, channel: int) -> None:
        super().__init__(parent, name)
        self.channel = channel
        self._delay_ps = 0
        self._level_v = 0.5
        self.delay_ps = self.add_parameter(
            "delay_ps", label=f"Input {channel} delay", unit="ps",
            get_cmd=lambda: self._delay_ps, set_cmd=self._set_delay,
            vals=Ints(-_MAX_DELAY_PS, _MAX_DELAY_PS),
            docstring="Control the input delay in ps (int, -2e6 to 2e6).")
        self.trigger_level_v = self.add_parameter(
            "trigger_level_v", label=f"Input {channel} trigger level", unit="V",
            get_cmd=lambda: self._level_v, set_cmd=self._set_level,
            vals=Numbers(-2.5, 2.5),
            docstring="Control the discriminator level in volts (float, -2.5 to 2.5).")

    def _set_delay(self, value: int) -> None:
        self._delay_ps = int(value)

    def _set_level(self, value: float) -> None:
        self._level_v = float(value)


class SimulatedTimeTagger(Instrument):
    """A time tagger on a simulated bench.

    Args:
        name: instrument name.
        bench: the name of a bench in the ``sim_backends`` registry.
    """

    def __init__(self, name: str, bench: str = "default", **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        self.bench_name = bench
        self._bench: Bench | None = None
        self._inputs: dict[int, SimulatedInput] = {}

    @property
    def bench(self) -> Bench:
        if self._bench is None:
            self._bench = registry().get(self.bench_name)
            for ch in self._bench.channels:
                inp = SimulatedInput(self, f"ch{ch}", ch)
                self.add_submodule(f"ch{ch}", inp)
                self._inputs[ch] = inp
        return self._bench

    @property
    def input_channels(self) -> tuple[int, ...]:
        return tuple(sorted(self.bench.channels))

    def _input(self, channel: int) -> SimulatedInput:
        self.bench  # noqa: B018 - builds the inputs
        try:
            return self._inputs[channel]
        except KeyError:
            raise ValueError(
                f"{self.name}: no input channel {channel} (has {sorted(self._inputs)})") from None

    def set_input_delay(self, channel: int, delay_ps: int) -> None:
        self._input(channel).delay_ps(delay_ps)

    def set_trigger_level(self, channel: int, level_v: float) -> None:
        self._input(channel).trigger_level_v(level_v)

    def get_idn(self) -> dict[str, str | None]:
        return {"vendor": "qnic-bench", "model": "SimulatedTimeTagger",
                "serial": self.bench_name, "firmware": None}

    # -- acquisition --------------------------------------------------------
    def acquire(self, duration_s: float) -> TagBatch:
        """Record for ``duration_s`` seconds of bench time (advances its clock)."""
        if not duration_s >= 0:
            raise ValueError(f"{self.name}: duration must be >= 0 s, got {duration_s}")
        bench = self.bench
        t0 = bench.clock.now()
        t1 = t0 + duration_s
        pulses = bench.detect(t0, t1)
        bench.clock.advance_to(t1)
        return self._tag(pulses, int(round(t0 * PS)), int(round(t1 * PS)))

    def stream(self, duration_s: float, chunk_s: float) -> Iterator[TagBatch]:
        """Record for ``duration_s`` seconds in batches of ``chunk_s`` seconds."""
        if not chunk_s > 0:
            raise ValueError(f"{self.name}: chunk must be > 0 s, got {chunk_s}")
        end = self.bench.clock.now() + duration_s
        while (left := end - self.bench.clock.now()) > 1e-12:
            yield self.acquire(min(chunk_s, left))

    def count_rates(self, duration_s: float) -> dict[int, float]:
        batch = self.acquire(duration_s)
        counts = batch.counts()
        live = max(batch.duration_s - batch.lost_s, 1e-15)
        return {ch: counts.get(ch, 0) / live for ch in self.input_channels}

    def _tag(self, pulses: dict[int, np.ndarray], t0_ps: int, t1_ps: int) -> TagBatch:
        tp = self.bench.params.tagger
        rng = self.bench.rng
        inputs, delays = [], []
        for ch, t in sorted(pulses.items()):
            inp = self._inputs[ch]
            level = inp.trigger_level_v()
            if level >= tp.pulse_amplitude_v:
                continue  # the discriminator never fires
            if level <= tp.noise_level_v:  # down in the noise: spurious triggers
                n_noise = int(rng.poisson(tp.noise_rate_hz * (t1_ps - t0_ps) / PS))
                t = np.union1d(t, sorted_uniform(rng, n_noise, t0_ps, t1_ps - t0_ps))
            inputs.append((ch, t))
            delays.append(inp.delay_ps())
        ts, cs = merge_channels(inputs, delays, tp.resolution_ps)
        return self._overflow(ts, cs, t0_ps, t1_ps)

    def _overflow(self, ts: np.ndarray, cs: np.ndarray, t0_ps: int, t1_ps: int) -> TagBatch:
        tp = self.bench.params.tagger
        block_ps = max(int(tp.overflow_block_ns * 1e3), 1)
        capacity = tp.max_rate_hz * block_ps / PS
        if ts.size <= capacity or t1_ps <= t0_ps:
            return TagBatch(ts, cs, t0_ps, t1_ps)
        edges = np.arange(t0_ps, t1_ps + block_ps, block_ps)
        bounds = np.searchsorted(ts, edges)
        full = np.flatnonzero(np.diff(bounds) > capacity)
        if full.size == 0:
            return TagBatch(ts, cs, t0_ps, t1_ps)
        keep = np.ones(ts.size, dtype=bool)
        for b in full:
            keep[bounds[b]:bounds[b + 1]] = False
        overflows = tuple((t0_ps + int(b) * block_ps, min(t0_ps + (int(b) + 1) * block_ps, t1_ps))
                          for b in full)
        return TagBatch(ts[keep], cs[keep], t0_ps, t1_ps, overflows, int((~keep).sum()))
