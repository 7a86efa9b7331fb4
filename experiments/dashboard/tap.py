"""A tagger in front of the station's tagger (docs/dashboard.md).

The procedures (the CHSH run, the demo) acquire through their QNICs'
``TimeTagger``. The dashboard hands them a station whose QNICs hold a
:class:`TapTagger` around the real one: every batch is shown to the
dashboard (live rates and the cross-correlation histogram while a run goes
on), a simulated bench is paced to wall time (its virtual clock would
otherwise finish a run before anyone sees it), and a stop request raises
:class:`RunStopped` at the next batch, unwinding the procedure the way
Ctrl-C unwinds the command: a waveplate move in progress runs to its end
(moves are never tapped), the stream in progress is closed, and what was
measured so far is kept by the procedure's caller.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator, Mapping

from qnic.instruments.clock import Clock
from qnic.instruments.timetaggers.protocol import TagBatch, TimeTagger
from qnic.station import LoadedStation


class RunStopped(Exception):
    """A stop was asked for: raised by the tap at the next batch."""


class Gate:
    """Stop requests and pacing, shared by the tap and the bench thread.

    Args:
        clock: the station's clock (virtual on a simulated bench).
    """

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._cancel = threading.Event()
        self._wake = threading.Event()
        self.paced = False
        self._bench0 = clock.now()
        self._wall0 = time.monotonic()

    def restart(self, paced: bool) -> None:
        """Start a new stretch: clear the stop, pace from now on if ``paced``."""
        self._cancel.clear()
        self.paced = paced
        self._bench0, self._wall0 = self.clock.now(), time.monotonic()

    def cancel(self) -> None:
        """Ask the current stretch to stop (at the next batch)."""
        self._cancel.set()
        self._wake.set()

    def wake(self) -> None:
        """Cut the current wait short (a request arrived)."""
        self._wake.set()

    def clear_wake(self) -> None:
        self._wake.clear()

    def wait(self, seconds: float) -> None:
        """Wait ``seconds`` of wall time, or less if a request arrives."""
        self._wake.wait(seconds)

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def check(self) -> None:
        """Raise :class:`RunStopped` if a stop was asked for."""
        if self._cancel.is_set():
            raise RunStopped("stopped")

    def pace(self) -> None:
        """Wait until wall time has caught up with the bench time of this
        stretch (paced stretches only); a request cuts the wait short."""
        if not self.paced:
            return
        ahead_s = (self.clock.now() - self._bench0) - (time.monotonic() - self._wall0)
        if ahead_s > 0:
            self._wake.wait(ahead_s)


class TapTagger:
    """A ``TimeTagger`` that shows each batch to ``on_batch`` and obeys ``gate``.

    Args:
        inner: the station's tagger.
        on_batch: called with every batch acquired, before the procedure sees it.
        gate: stop requests and pacing.
    """

    def __init__(self, inner: TimeTagger, on_batch: Callable[[TagBatch], None], gate: Gate) -> None:
        self.inner = inner
        self.on_batch = on_batch
        self.gate = gate

    @property
    def input_channels(self) -> tuple[int, ...]:
        """The hardware channel numbers of the station's tagger."""
        return self.inner.input_channels

    def acquire(self, duration_s: float) -> TagBatch:
        """Acquire ``duration_s`` seconds from the station's tagger (see the class)."""
        self.gate.check()
        batch = self.inner.acquire(duration_s)
        self._seen(batch)
        return batch

    def stream(self, duration_s: float, chunk_s: float) -> Iterator[TagBatch]:
        """Stream from the station's tagger; a stop ends it at the next batch."""
        self.gate.check()
        batches = self.inner.stream(duration_s, chunk_s)
        try:
            for batch in batches:
                self._seen(batch)
                yield batch
        finally:
            close = getattr(batches, "close", None)
            if close is not None:
                close()

    def _seen(self, batch: TagBatch) -> None:
        self.on_batch(batch)
        self.gate.pace()
        self.gate.check()

    def set_input_delay(self, channel: int, delay_ps: int) -> None:
        """Delay channel ``channel`` by ``delay_ps`` picoseconds on the station's tagger."""
        self.inner.set_input_delay(channel, delay_ps)

    def set_trigger_level(self, channel: int, level_v: float) -> None:
        """Set the discriminator of ``channel`` to ``level_v`` volts on the station's tagger."""
        self.inner.set_trigger_level(channel, level_v)

    def count_rates(self, duration_s: float) -> Mapping[int, float]:
        """Count rates (Hz) on the station's tagger (not tapped: no tags to show)."""
        self.gate.check()
        return self.inner.count_rates(duration_s)


def tapped_station(station: LoadedStation, on_batch: Callable[[TagBatch], None],
                   gate: Gate) -> LoadedStation:
    """The same station with every QNIC's tagger behind one :class:`TapTagger`.

    QNICs that share a tagger share its tap (the procedures check that both
    arms use one tagger). The station itself is not changed.
    """
    taps: dict[int, TapTagger] = {}
    qnics = {}
    for name, q in station.qnics.items():
        tap = taps.setdefault(id(q.tagger), TapTagger(q.tagger, on_batch, gate))
        qnics[name] = dataclasses.replace(q, tagger=tap)
    return dataclasses.replace(station, qnics=qnics)
