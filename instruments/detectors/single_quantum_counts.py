"""The counts port of the Single Quantum Eos: one line per measurement
period, "Unix time, count, count, ..." (docs/protocols.md
section 5.3). Mixed into :class:`~qnic.instruments.detectors.single_quantum.SingleQuantumEos`,
which supplies the connection, the period and the channels.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

from qnic.instruments.detectors import single_quantum_codec as sq
from qnic.instruments.detectors.overexposure import DetectorGuard, ProtectionEvent
from qnic.instruments.detectors.protocol import CountReading
from qnic.instruments.errors import ProtocolError, TransportError

if TYPE_CHECKING:
    from qcodes.parameters import Parameter

    from qnic.instruments.detectors.single_quantum_channel import EosChannel
    from qnic.instruments.detectors.single_quantum_codec import EosInfo
    from qnic.instruments.detectors.single_quantum_link import SocketLink


class EosCounts:
    """Fresh count readings, plain or under overexposure protection."""

    if TYPE_CHECKING:  # supplied by the driver
        name: str
        counts_port: int
        timeout_s: float
        measurement_period_ms: Parameter
        detector_channels: list[EosChannel]
        protection_events: list[ProtectionEvent]
        _counts: SocketLink | None
        _counts_lock: threading.Lock

        def connect(self) -> EosInfo: ...
        def _open(self, port: int) -> SocketLink: ...

    def stream_counts(self, n_periods: int, settle_periods: int = 1) -> Iterator[CountReading]:
        """Counts of ``n_periods`` fresh measurement periods, one reading each.

        Connects at once; when iteration starts, the lines already buffered
        are dropped, then ``settle_periods`` more (the period in progress
        may straddle the last change).

        Yields:
            One reading per period, counts keyed by tagger channel.
        """
        if n_periods < 0 or settle_periods < 0:
            raise ValueError(f"{self.name}: periods must be >= 0, got {n_periods} and "
                             f"{settle_periods}")
        n_det = self.connect().number_of_detectors
        period_s = self.measurement_period_ms() / 1000.0
        channels = [ch.channel for ch in self.detector_channels]
        return self._stream(n_periods, settle_periods, n_det, period_s, channels)

    def _stream(self, n_periods: int, settle_periods: int, n_det: int, period_s: float,
                channels: list[int]) -> Iterator[CountReading]:
        with self._counts_lock:
            if self._counts is None:
                self._counts = self._open(self.counts_port)
            link = self._counts
            wait_s = max(self.timeout_s, 3 * period_s)
            try:
                link.drop_lines()
                for _ in range(settle_periods):
                    link.read_line(wait_s)
                for _ in range(n_periods):
                    line = link.read_line(wait_s)
                    try:
                        stamp, counts = sq.parse_count_line(line, n_det)
                    except (ValueError, UnicodeDecodeError) as exc:
                        raise ProtocolError(self.name, b"counts", line[:200],
                                            f"expected count lines (Unix time, then {n_det} "
                                            f"counts): {exc}") from None
                    yield CountReading(stamp, period_s, dict(zip(channels, counts)))
            except TransportError:  # a dead link is reopened by the next call
                link.close()
                self._counts = None
                raise

    def read_counts(self, n_periods: int, settle_periods: int = 1,
                    limit_hz: float | None = None) -> list[CountReading]:
        """Read ``n_periods`` fresh periods; with ``limit_hz``, under overexposure
        protection: a detector counting above it is unbiased and the run stops,
        and a latched one is re-biased (``protection_events`` records both).

        Raises:
            OverexposureError: carries every reading taken before the trip.
        """
        readings = self.stream_counts(n_periods, settle_periods)
        if limit_hz is None:
            return list(readings)
        guard = DetectorGuard(self.detector_channels, limit_hz)
        try:
            return guard.run(readings)
        finally:
            self.protection_events.extend(guard.events)

    def count_rates_hz(self, n_periods: int = 10) -> dict[int, float]:
        """Mean count rate per tagger channel over ``n_periods`` fresh periods (Hz)."""
        if n_periods < 1:
            raise ValueError(f"{self.name}: count at least one period, got {n_periods}")
        readings = self.read_counts(n_periods)
        total_s = sum(r.duration_s for r in readings)
        return {ch: sum(r.counts[ch] for r in readings) / total_s for ch in readings[0].counts}
