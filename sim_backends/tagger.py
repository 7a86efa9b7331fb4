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

from qnic.instruments.timetaggers.protocol import TagBatch
from qnic.sim.bench import PS, Bench
from qnic.sim.physics.pulses import tag
from qnic.sim.physics.sampling import sorted_uniform
from qnic.sim.registry import registry

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
        bench: the name of a bench in the ``qnic.sim`` registry.
    """

    def __init__(self, name: str, bench: str = "default", **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        self.bench_name = bench
        self._bench: Bench | None = None
        self._inputs: dict[int, SimulatedInput] = {}
        self._read_until_ps = -(2**62)
        self._held: tuple[np.ndarray, np.ndarray] = (np.empty(0, np.int64), np.empty(0, np.int32))

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
        batch = self._tag(int(round(t0 * PS)), int(round(t1 * PS)))
        bench.clock.advance_to(t1)
        return batch

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

    def _tag(self, t0_ps: int, t1_ps: int) -> TagBatch:
        """Tags of [t0, t1) in tagger time.

        A pulse at p on channel c is tagged at p + delay_c. The bench stream
        is read up to t1 - min(delay) and tags that land at or after t1 are
        kept for the next batch, so successive batches form one sorted
        stream whatever the input delays.
        """
        bench, tp = self.bench, self.bench.params.tagger
        channels = np.array(self.input_channels)
        delay = np.zeros(channels.max() + 1, dtype=np.int64)
        level = np.zeros(channels.max() + 1)
        for ch in channels:  # the inputs' own state (a parameter get costs ~20 us)
            delay[ch] = self._inputs[ch]._delay_ps
            level[ch] = self._inputs[ch]._level_v
        min_delay = int(delay[channels].min())
        start = max(self._read_until_ps, t0_ps - int(delay[channels].max()))
        stop = max(start, t1_ps - min_delay)
        noisy = [int(c) for c in channels if level[c] <= tp.noise_level_v]
        seen = level < tp.pulse_amplitude_v
        untouched = (not noisy and self._held[0].size == 0 and not delay.any()
                     and bool(seen[channels].all()) and tp.resolution_ps <= 1)
        # unless the pulses pass untouched, they are copied below: no copy here
        pulses, ch = bench.detect_stream(start / PS, stop / PS, copy=untouched)
        self._read_until_ps = stop
        if noisy:  # a level down in the noise adds spurious triggers
            pulses, ch = self._add_noise(pulses, ch, noisy, start, stop, tp.noise_rate_hz)
        if untouched:
            ts, cs = pulses, ch  # nothing for the tagger to change
        else:
            ts, cs = tag(pulses, ch, delay, seen, *self._held, max(tp.resolution_ps, 1))
        lo, hi = np.searchsorted(ts, [t0_ps, t1_ps], side="left")
        self._held = (ts[hi:], cs[hi:])
        return self._overflow(ts[lo:hi], cs[lo:hi], t0_ps, t1_ps)

    def _add_noise(self, ts: np.ndarray, cs: np.ndarray, channels: list[int], start_ps: int,
                   stop_ps: int, rate_hz: float) -> tuple[np.ndarray, np.ndarray]:
        rng = self.bench.rng
        extra_t, extra_c = [ts], [cs]
        for c in channels:
            n = int(rng.poisson(rate_hz * (stop_ps - start_ps) / PS))
            extra_t.append(sorted_uniform(rng, n, start_ps, stop_ps - start_ps))
            extra_c.append(np.full(n, c, dtype=np.int32))
        all_t, all_c = np.concatenate(extra_t), np.concatenate(extra_c)
        order = np.argsort(all_t, kind="stable")
        return all_t[order], all_c[order]

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
