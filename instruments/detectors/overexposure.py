"""Overexposure protection: stop a run when one detector sees too much light.

Bright light damages single-photon detectors: a SPAD module overheats at
sustained very high count rates (instruments.md 5.1), an SNSPD latches or
heats its cryostage. :func:`guard_readings` watches a stream of
:class:`CountReading` (from an Eos counts port, or a time tagger through
:func:`tagger_readings`); the first reading in which a watched detector
counts above its limit stops the run: the source of readings is closed,
that detector is disabled (gated off, or unbiased), and an
:class:`OverexposureError` is raised that carries every reading taken
before it, so a run interrupted part-way keeps what it measured.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence

from instruments.detectors.protocol import CountReading, Detector
from instruments.errors import InstrumentError
from instruments.timetaggers.protocol import TimeTagger

log = logging.getLogger(__name__)


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


def guard_readings(readings: Iterable[CountReading], detectors: Iterable[Detector],
                   limit_hz: float | Mapping[int, float]) -> Iterator[CountReading]:
    """Pass readings through while every watched detector counts below its limit.

    Args:
        readings: the run's readings, in time order (an iterator or
            generator is closed when the guard trips, which stops the run).
        detectors: the detectors to watch, by their ``channel``; channels
            of a reading without a detector here are not watched.
        limit_hz: one count-rate limit for all (Hz), or one per channel.

    Yields:
        Each reading in which no watched detector is over its limit.

    Raises:
        OverexposureError: a watched detector counted above its limit; it
            has been disabled, and the error carries the readings so far.
        ValueError: two detectors on one channel, or a missing or
            non-positive limit.
    """
    by_channel, limits = _limits(detectors, limit_hz)
    taken: list[CountReading] = []
    source = iter(readings)
    try:
        for reading in source:
            over = [(ch, rate) for ch, rate in sorted(reading.rates_hz().items())
                    if ch in limits and rate > limits[ch]]
            if over:
                ch, rate = max(over, key=lambda item: item[1] / limits[item[0]])
                _trip(by_channel[ch], ch, rate, limits[ch], taken, reading)
            taken.append(reading)
            yield reading
    finally:
        close = getattr(source, "close", None)
        if close is not None:
            close()


def _trip(det: Detector, channel: int, rate_hz: float, limit_hz: float,
          taken: list[CountReading], reading: CountReading) -> None:
    """Disable the overexposed detector and raise."""
    log.error("%s: %.4g Hz on channel %d exceeds %.4g Hz: disabling it", det.name, rate_hz,
              channel, limit_hz)
    try:
        det.disable()
    except Exception as exc:
        raise OverexposureError(det.name, channel, rate_hz, limit_hz, taken, reading,
                                protected=False) from exc
    raise OverexposureError(det.name, channel, rate_hz, limit_hz, taken, reading, protected=True)


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
