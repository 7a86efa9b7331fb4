"""The exception tree of every driver in the project.

``InstrumentError`` is the root. A device's own fault becomes a
``DeviceFaultError`` naming the instrument, the request and the device's code
with its meaning from the manual; a dead or silent link is a
``TransportError``; a reply that does not parse is a ``ProtocolError``.
"""

from __future__ import annotations


class InstrumentError(Exception):
    """Root of all instrument errors."""


class TransportError(InstrumentError):
    """The link failed: no reply in time, port closed or disconnected."""

    def __init__(self, instrument: str, request: bytes | str, detail: str) -> None:
        self.instrument = instrument
        self.request = request
        self.detail = detail
        super().__init__(f"{instrument}: {detail} (request {request!r})")


class ProtocolError(InstrumentError):
    """A reply arrived but is malformed, truncated or unexpected."""

    def __init__(self, instrument: str, request: bytes | str, reply: bytes, detail: str) -> None:
        self.instrument = instrument
        self.request = request
        self.reply = reply
        self.detail = detail
        super().__init__(f"{instrument}: {detail}: reply {reply!r} to request {request!r}")


class DeviceFaultError(InstrumentError):
    """The device reported an error code."""

    def __init__(self, instrument: str, code: int, meaning: str, request: bytes | str) -> None:
        self.instrument = instrument
        self.code = code
        self.meaning = meaning
        self.request = request
        super().__init__(
            f"{instrument}: device error {code} ({meaning}) in reply to {request!r}"
        )


class MoveIncompleteError(InstrumentError):
    """A move ended away from its target by more than the tolerance.

    The move is not repeated: the caller decides (the position is known).
    """

    def __init__(self, instrument: str, request: bytes | str, target_deg: float,
                 reached_deg: float, tolerance_deg: float) -> None:
        self.instrument = instrument
        self.request = request
        self.target_deg = target_deg
        self.reached_deg = reached_deg
        self.tolerance_deg = tolerance_deg
        super().__init__(
            f"{instrument}: move {request!r} ended at {reached_deg:.4f} deg, "
            f"{reached_deg - target_deg:+.4f} deg from the target {target_deg:.4f} deg "
            f"(tolerance {tolerance_deg:g} deg)")
