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

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
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


@dataclass(frozen=True)
class PumpReading:
    """Where a pump was set, and what the power meter read there.

    Attributes:
        current_a: the current setpoint the controller reports (A).
        power_w: the meter's reading (W), None without a meter.
    """

    current_a: float
    power_w: float | None


def set_pump(pump: PumpController, current_a: float,
             meter: PowerMeter | None = None) -> PumpReading:
    """Drive the pump at ``current_a`` (A), output on, and read the meter.

    Raises:
        ValueError: ``current_a`` outside 0 to the controller's maximum
            (rejected, never clamped).
    """
    if not (math.isfinite(current_a) and 0.0 <= current_a <= pump.max_current_a):
        raise ValueError(f"pump current must be 0 to {pump.max_current_a:g} A, got {current_a!r}")
    pump.set_pump_current(current_a)
    if not pump.pump_enabled():
        pump.set_pump_enabled(True)
    return PumpReading(pump.pump_current_a(), None if meter is None else meter.read_power_w())


def pump_currents(pump: PumpController, start_a: float, stop_a: float, points: int) -> list[float]:
    """``points`` evenly spaced currents from ``start_a`` to ``stop_a`` (A), checked
    against the controller's range before anything is driven.

    Raises:
        ValueError: fewer than 2 points, or an end outside 0 to the maximum.
    """
    top = pump.max_current_a
    for name, value in (("start_a", start_a), ("stop_a", stop_a)):
        if not (math.isfinite(value) and 0.0 <= value <= top):
            raise ValueError(f"{name} must be 0 to {top:g} A, got {value!r}")
    if points < 2:
        raise ValueError(f"points must be >= 2, got {points}")
    step = (stop_a - start_a) / (points - 1)
    return [start_a + i * step for i in range(points - 1)] + [stop_a]
