"""What procedures need of a pump-laser controller and a power meter.

A station may hold a pump controller (``PumpController``: the laser diode's
current, which sets the pair rate of an SPDC source above threshold) and a
power meter on a pick-off of the pump (``PowerMeter``). Procedures such as a
CAR scan find them by shape among the station's instruments with
:func:`find_pump` and :func:`find_power_meter`, so they work with any driver
(or a simulated one) that has these methods; with no pump controller they
fall back to what the station's source offers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class PumpController(Protocol):
    """A laser-diode controller driving the pump."""

    @property
    def max_current_a(self) -> float:
        """The largest current setpoint the device takes (A)."""
        ...

    def set_pump_current(self, current_a: float) -> None:
        """Set the laser-diode current (A); out of range raises, never clamps."""
        ...

    def pump_current_a(self) -> float:
        """The current setpoint (A)."""
        ...

    def set_pump_enabled(self, enabled: bool) -> None:
        """Switch the laser-diode output on or off."""
        ...

    def pump_enabled(self) -> bool:
        """Whether the laser-diode output is on."""
        ...


@runtime_checkable
class PowerMeter(Protocol):
    """An optical power meter."""

    def read_power_w(self) -> float:
        """One power reading (W)."""
        ...


def _components(station: Any) -> Iterable[tuple[str, Any]]:
    components = getattr(station, "components", station)
    if not isinstance(components, Mapping):
        raise TypeError(f"expected a QCoDeS station or a mapping of instruments, "
                        f"got {type(station).__name__}")
    return components.items()


def find_pump(station: Any) -> PumpController | None:
    """The station's pump controller, or None (the first by name if several).

    Args:
        station: a ``qcodes.Station`` or a mapping name -> instrument.
    """
    found = sorted((n, c) for n, c in _components(station) if isinstance(c, PumpController))
    return found[0][1] if found else None


def find_power_meter(station: Any) -> PowerMeter | None:
    """The station's power meter, or None (the first by name if several)."""
    found = sorted((n, c) for n, c in _components(station) if isinstance(c, PowerMeter))
    return found[0][1] if found else None
