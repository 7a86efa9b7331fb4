"""Overexposure protection: stop a run when one detector sees too much light.

Bright light damages single-photon detectors: a SPAD module overheats at
sustained very high count rates (docs/protocols.md 5.1), an SNSPD latches or
heats its cryostage. :func:`guard_readings` watches a stream of
:class:`CountReading` (from an Eos counts port, or a time tagger through
:func:`tagger_readings`); the first reading in which a watched detector
counts above its limit stops the run: the source of readings is closed,
that detector is disabled (gated off, or unbiased), and an
:class:`OverexposureError` is raised that carries every reading taken
before it, so a run interrupted part-way keeps what it measured.

Response time: the guard acts at the end of each reading, so it protects
within one reading of bench time; readings must be at most
:data:`MAX_READING_S` (100 ms) long, and a longer one stops the run with a
``ValueError`` (read the tagger in chunks of at most 100 ms, or set an Eos
measurement period of at most 100 ms).

Latching: an SNSPD biased too close to its switching current (or hit by a
burst of light) can latch: the wire stays normal and counts nothing, not
even dark counts, while still biased. :class:`DetectorGuard` watches the
biased detectors (those with an ``operating_bias_ua``, as
:class:`~qnic.instruments.detectors.single_quantum_channel.EosChannel`): when one
counts zero, while enabled, for long enough that its dark-count rate
(``figures().dark_count_hz``) should have given ``latch_dark_counts`` counts,
it is re-biased (bias to 0, where the wire recovers, then back to its
operating bias) and the run goes on. Every action is recorded in
:attr:`DetectorGuard.events`.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from qnic.instruments.detectors.protocol import CountReading, Detector
from qnic.instruments.errors import InstrumentError
from qnic.instruments.timetaggers.protocol import TimeTagger

log = logging.getLogger(__name__)

MAX_READING_S = 0.1  # the guard acts within one reading: at most 100 ms of bench time
LATCH_DARK_COUNTS = 10.0  # P(0 | working wire) = exp(-10) ~ 5e-5 per run of zeros
MAX_REBIAS = 3  # re-biases of one detector in a run before it is given up on


class ProtectionAction(str, enum.Enum):
    """What the guard did to a detector."""

    DISABLED = "disabled"  # overexposed: gated off (SPCM) or unbiased (SNSPD)
    DISABLE_FAILED = "disable failed"
    REBIASED = "re-biased"  # latched: bias to 0 and back
    REBIAS_FAILED = "re-bias failed"


@dataclass(frozen=True)
class ProtectionEvent:
    """One protective action of a :class:`DetectorGuard`.

    Attributes:
        action: what was done.
        detector: the detector's name.
        channel: its tagger channel.
        time_s: end of the reading that caused it (the reading's time base).
        rate_hz: that reading's count rate on the channel (Hz).
        reason: why, in words.
    """

    action: ProtectionAction
    detector: str
    channel: int
    time_s: float
    rate_hz: float
    reason: str


class OverexposureError(InstrumentError):
    """A detector counted above its limit; the run was stopped.

    Attributes:
        detector: name of the overexposed detector.
        channel: its tagger channel.
        rate_hz: the count rate that tripped the guard (Hz).
        limit_hz: the limit it exceeded (Hz).
        readings: every reading taken before the offending one, in order.
        reading: the offending reading.
        protected: True when the detector was disabled; False when that
            failed too (see ``__cause__``): protect it by hand.
    """

    def __init__(self, detector: str, channel: int, rate_hz: float, limit_hz: float,
                 readings: Sequence[CountReading], reading: CountReading,
                 protected: bool) -> None:
        self.detector = detector
        self.channel = channel
        self.rate_hz = rate_hz
        self.limit_hz = limit_hz
        self.readings = tuple(readings)
        self.reading = reading
        self.protected = protected
        action = "disabled" if protected else "could NOT be disabled"
        super().__init__(
            f"{detector}: overexposed on channel {channel}: {rate_hz:.4g} Hz above the limit "
            f"{limit_hz:.4g} Hz; run stopped after {len(self.readings)} good readings, "
            f"detector {action}")


def _limits(detectors: Iterable[Detector], limit_hz: float | Mapping[int, float]
            ) -> tuple[dict[int, Detector], dict[int, float]]:
    by_channel: dict[int, Detector] = {}
    for det in detectors:
        if det.channel in by_channel:
            raise ValueError(f"detectors {by_channel[det.channel].name} and {det.name} "
                             f"both feed channel {det.channel}")
        by_channel[det.channel] = det
    if isinstance(limit_hz, Mapping):
        missing = set(by_channel) - set(limit_hz)
        if missing:
            raise ValueError(f"no count-rate limit for channel(s) {sorted(missing)}")
        limits = {ch: float(limit_hz[ch]) for ch in by_channel}
    else:
        limits = {ch: float(limit_hz) for ch in by_channel}
    bad = {ch: v for ch, v in limits.items() if not v > 0}
    if bad:
        raise ValueError(f"count-rate limits must be > 0 Hz, got {bad}")
    return by_channel, limits


class DetectorGuard:
    """Overexposure and latch protection over a run's readings (module doc).

    Args:
        detectors: the detectors to watch, by their ``channel``.
        limit_hz: one count-rate limit for all (Hz), or one per channel.
        max_reading_s: the longest reading accepted (s); the guard's
            response time.
        latch_dark_counts: dark counts a working biased detector would have
            given over a run of zero-count readings before it is declared
            latched; 0 turns latch detection off.
        max_rebias: re-biases of one detector before the run is stopped.

    Attributes:
        events: every protective action taken, in order.
    """

    def __init__(self, detectors: Iterable[Detector], limit_hz: float | Mapping[int, float], *,
                 max_reading_s: float = MAX_READING_S,
                 latch_dark_counts: float = LATCH_DARK_COUNTS,
                 max_rebias: int = MAX_REBIAS) -> None:
        self.by_channel, self.limits = _limits(detectors, limit_hz)
        if not max_reading_s > 0:
            raise ValueError(f"max_reading_s must be > 0 s, got {max_reading_s}")
        self.max_reading_s = float(max_reading_s)
        self.latch_dark_counts = float(latch_dark_counts)
        self.max_rebias = int(max_rebias)
        self.events: list[ProtectionEvent] = []
        self._zero_counts_expected: dict[int, float] = {}
        self._rebiased: dict[int, int] = {}

    @property
    def latch_channels(self) -> tuple[int, ...]:
        """Channels of the biased (latch-prone) detectors."""
        return tuple(ch for ch, det in self.by_channel.items()
                     if hasattr(det, "operating_bias_ua"))

    def watch(self, readings: Iterable[CountReading]) -> Iterator[CountReading]:
        """Pass readings through while every watched detector is safe.

        Yields:
            Each reading in which no watched detector is over its limit.

        Raises:
            OverexposureError: a detector counted above its limit; it has
                been disabled, and the error carries the readings so far.
            DetectorLatchedError: a detector latched again after
                ``max_rebias`` re-biases (it is left unbiased).
            ValueError: a reading longer than ``max_reading_s``.
        """
        taken: list[CountReading] = []
        source = iter(readings)
        try:
            for reading in source:
                if reading.duration_s > self.max_reading_s * (1 + 1e-9):
                    raise ValueError(
                        f"a reading of {reading.duration_s:g} s is longer than the guard's "
                        f"{self.max_reading_s:g} s response time; read in chunks of at most "
                        f"{self.max_reading_s:g} s")
                rates = reading.rates_hz()
                over = [(ch, rate) for ch, rate in sorted(rates.items())
                        if ch in self.limits and rate > self.limits[ch]]
                if over:
                    ch, rate = max(over, key=lambda item: item[1] / self.limits[item[0]])
                    self._trip(ch, rate, taken, reading)
                self._check_latches(reading)
                taken.append(reading)
                yield reading
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()

    def run(self, readings: Iterable[CountReading]) -> list[CountReading]:
        """Take every reading of a run under :meth:`watch`."""
        return list(self.watch(readings))

    def _event(self, action: ProtectionAction, channel: int, reading: CountReading,
               reason: str) -> None:
        det = self.by_channel[channel]
        self.events.append(ProtectionEvent(action, det.name, channel, reading.time_s,
                                           reading.rates_hz().get(channel, 0.0), reason))

    def _trip(self, channel: int, rate_hz: float, taken: list[CountReading],
              reading: CountReading) -> None:
        """Disable the overexposed detector and raise."""
        det, limit = self.by_channel[channel], self.limits[channel]
        reason = f"{rate_hz:.4g} Hz above the limit {limit:.4g} Hz"
        log.error("%s: %.4g Hz on channel %d exceeds %.4g Hz: disabling it", det.name, rate_hz,
                  channel, limit)
        try:
            det.disable()
        except Exception as exc:
            self._event(ProtectionAction.DISABLE_FAILED, channel, reading, reason)
            raise OverexposureError(det.name, channel, rate_hz, limit, taken, reading,
                                    protected=False) from exc
        self._event(ProtectionAction.DISABLED, channel, reading, reason)
        raise OverexposureError(det.name, channel, rate_hz, limit, taken, reading,
                                protected=True)

    def _check_latches(self, reading: CountReading) -> None:
        if self.latch_dark_counts <= 0:
            return
        for ch in self.latch_channels:
            if ch not in reading.counts:
                continue
            if reading.counts[ch] > 0:
                self._zero_counts_expected[ch] = 0.0
                continue
            det = self.by_channel[ch]
            expected = self._zero_counts_expected.get(ch, 0.0) + \
                reading.duration_s * det.figures().dark_count_hz
            self._zero_counts_expected[ch] = expected
            if expected >= self.latch_dark_counts and det.is_enabled():
                self._zero_counts_expected[ch] = 0.0
                self._rebias(ch, expected, reading)

    def _rebias(self, channel: int, expected: float, reading: CountReading) -> None:
        """Bias a latched detector to 0 (the wire recovers) and back."""
        det = self.by_channel[channel]
        reason = (f"no counts while biased where {expected:.3g} dark counts were expected: "
                  "latched")
        n = self._rebiased[channel] = self._rebiased.get(channel, 0) + 1
        if n > self.max_rebias:
            det.disable()
            self._event(ProtectionAction.DISABLED, channel, reading, reason)
            raise DetectorLatchedError(
                f"{det.name}: latched again on channel {channel} after {self.max_rebias} "
                "re-biases; left unbiased, run stopped (lower its bias or check the light)")
        log.warning("%s: %s; re-biasing it", det.name, reason)
        try:
            det.disable()
            det.enable()
        except Exception:
            self._event(ProtectionAction.REBIAS_FAILED, channel, reading, reason)
            raise
        self._event(ProtectionAction.REBIASED, channel, reading, reason)


class DetectorLatchedError(InstrumentError):
    """A detector kept latching after the guard re-biased it."""


def guard_readings(readings: Iterable[CountReading], detectors: Iterable[Detector],
                   limit_hz: float | Mapping[int, float]) -> Iterator[CountReading]:
    """Pass readings through while every watched detector counts below its limit.

    A :class:`DetectorGuard` with its defaults (use one directly to keep its
    :attr:`~DetectorGuard.events`).

    Args:
        readings: the run's readings, in time order, each at most
            :data:`MAX_READING_S` long (an iterator or generator is closed
            when the guard trips, which stops the run).
        detectors: the detectors to watch, by their ``channel``; channels
            of a reading without a detector here are not watched.
        limit_hz: one count-rate limit for all (Hz), or one per channel.

    Yields:
        Each reading in which no watched detector is over its limit.

    Raises:
        OverexposureError: a watched detector counted above its limit; it
            has been disabled, and the error carries the readings so far.
        ValueError: two detectors on one channel, a missing or non-positive
            limit, or a reading longer than :data:`MAX_READING_S`.
    """
    return DetectorGuard(detectors, limit_hz).watch(readings)


def run_guarded(readings: Iterable[CountReading], detectors: Iterable[Detector],
                limit_hz: float | Mapping[int, float]) -> list[CountReading]:
    """Take every reading of a run under :func:`guard_readings`.

    Returns:
        All readings, when no detector was overexposed.

    Raises:
        OverexposureError: as :func:`guard_readings`, with the readings so far.
    """
    return list(guard_readings(readings, detectors, limit_hz))


def tagger_readings(tagger: TimeTagger, duration_s: float, chunk_s: float,
                    channels: Sequence[int] | None = None) -> Iterator[CountReading]:
    """Singles counts of a time tagger, one reading per ``chunk_s`` seconds.

    Args:
        tagger: the tagger the detectors feed.
        duration_s: length of the run (seconds).
        chunk_s: length of one reading (seconds, > 0).
        channels: the channels to report (default: all of the tagger's).

    Yields:
        One reading per chunk; its duration is the live time (the chunk
        minus any interval in which the tagger's buffer overflowed).
    """
    wanted = tuple(tagger.input_channels if channels is None else channels)
    for batch in tagger.stream(duration_s, chunk_s):
        counts = batch.counts()
        live_s = batch.duration_s - batch.lost_s
        if live_s <= 0:
            continue  # the whole chunk overflowed: no rate can be stated
        yield CountReading(time_s=batch.stop_ps * 1e-12, duration_s=live_s,
                           counts={ch: counts.get(ch, 0) for ch in wanted})
