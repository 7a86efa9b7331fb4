"""The pump laser of a simulated bench, coupled to its pair rate (docs/protocols.md 7.5).

Above its threshold a laser diode's optical power grows linearly with the
drive current, ``P = slope * (I - I_th)``, and is (nearly) zero below it;
an SPDC source's pair rate is proportional to the pump power. The bench's
``pair_rate_hz`` is the rate at the model's nominal current, so the two
numbers fix the brightness, ``pair_rate_hz / P(I_nominal)`` pairs per second
per watt, and any other current gives ``brightness * P(I)``. A power meter
on a pick-off of the pump sees ``pickoff_fraction * P``.

One :class:`Pump` per bench (:func:`pump_of`), shared by the laser
controller's emulator (which drives it) and the power meter's (which reads
it). The meter reads the pump power that gives the bench's present pair
rate, so it stays consistent when the rate is set another way (the
simulated source's ``pair_rate``, :func:`set_pair_rate_hz`).
"""

from __future__ import annotations

import math
import threading
import weakref
from dataclasses import dataclass

from qnic.sim.bench import Bench


@dataclass(frozen=True)
class PumpModel:
    """A laser diode pumping the source (defaults: a 405 nm diode of ~45 mW; typical).

    Attributes:
        threshold_a: lasing threshold current (A).
        slope_w_per_a: slope efficiency above threshold (W/A).
        nominal_current_a: the current at which the bench's ``pair_rate_hz`` holds (A).
        wavelength_nm: emission wavelength (nm).
        pickoff_fraction: fraction of the pump a power meter's pick-off takes.
    """

    threshold_a: float = 0.035
    slope_w_per_a: float = 1.0
    nominal_current_a: float = 0.080
    wavelength_nm: float = 405.0
    pickoff_fraction: float = 0.01

    def __post_init__(self) -> None:
        for name in ("threshold_a", "slope_w_per_a", "wavelength_nm", "pickoff_fraction"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"pump model: {name} must be a finite number > 0, got {value!r}")
        if not self.nominal_current_a > self.threshold_a:
            raise ValueError(f"pump model: nominal_current_a ({self.nominal_current_a} A) must "
                             f"be above the threshold ({self.threshold_a} A)")
        if self.pickoff_fraction > 1:
            raise ValueError(f"pump model: pickoff_fraction must be <= 1, got {self.pickoff_fraction}")

    def optical_power_w(self, current_a: float) -> float:
        """Optical power (W) at drive current ``current_a`` (A): 0 at or below threshold."""
        return max(0.0, self.slope_w_per_a * (current_a - self.threshold_a))


def set_pair_rate_hz(bench: Bench, rate_hz: float) -> None:
    """Make the bench's source emit ``rate_hz`` pairs per second from now on.

    Raises:
        ValueError: ``rate_hz`` is not a finite number in [0, 1e9].
    """
    if not (math.isfinite(rate_hz) and 0.0 <= rate_hz <= 1e9):
        raise ValueError(f"bench {bench.name!r}: pair rate must be 0 to 1e9 Hz, got {rate_hz!r}")
    bench.set_pair_rate(float(rate_hz))  # for pairs not yet drawn


class Pump:
    """The pump of one bench: its drive current and output, and the pair rate they give.

    Args:
        bench: the bench; its ``pair_rate_hz`` now is the rate at the nominal current.
        model: the laser diode.
    """

    def __init__(self, bench: Bench, model: PumpModel | None = None) -> None:
        # a weak reference: the registry below is keyed weakly on the bench,
        # and a strong one here would keep every bench alive
        self._bench = weakref.ref(bench)
        self.model = model or PumpModel()
        self.nominal_pair_rate_hz = bench.params.pair_rate_hz
        self.current_a = self.model.nominal_current_a
        self.emitting = True
        self._lock = threading.Lock()

    @property
    def bench(self) -> Bench:
        """The bench this pump drives."""
        bench = self._bench()
        if bench is None:
            raise RuntimeError("the pump's bench no longer exists")
        return bench

    @property
    def pairs_per_s_per_w(self) -> float:
        """Source brightness (pairs/s per W of pump)."""
        return self.nominal_pair_rate_hz / self.model.optical_power_w(self.model.nominal_current_a)

    def drive(self, current_a: float, emitting: bool) -> None:
        """The controller drives ``current_a`` (A), its output on (``emitting``) or off."""
        with self._lock:
            self.current_a = float(current_a)
            self.emitting = bool(emitting)
            set_pair_rate_hz(self.bench, self.pair_rate_hz())

    def optical_power_w(self) -> float:
        """Pump power leaving the laser now (W)."""
        return self.model.optical_power_w(self.current_a) if self.emitting else 0.0

    def pickoff_power_w(self) -> float:
        """Pump power reaching a power meter on the pick-off (W): the power that
        gives the bench's present pair rate, whoever set it (this pump's
        controller, or the source's ``pair_rate``)."""
        return self.model.pickoff_fraction * self.bench.params.pair_rate_hz / self.pairs_per_s_per_w

    def pair_rate_hz(self) -> float:
        """The pair rate the pump gives now (Hz; exactly ``pair_rate_hz`` at the nominal current)."""
        nominal_w = self.model.optical_power_w(self.model.nominal_current_a)
        return self.nominal_pair_rate_hz * (self.optical_power_w() / nominal_w)


_PUMPS: weakref.WeakKeyDictionary[Bench, Pump] = weakref.WeakKeyDictionary()
_PUMPS_LOCK = threading.Lock()


def pump_of(bench: Bench, model: PumpModel | None = None) -> Pump:
    """The pump of ``bench``, made on first use (``model`` applies then only).

    Raises:
        ValueError: ``model`` differs from the model of the bench's existing pump.
    """
    with _PUMPS_LOCK:
        pump = _PUMPS.get(bench)
        if pump is None:
            pump = _PUMPS[bench] = Pump(bench, model)
        elif model is not None and model != pump.model:
            raise ValueError(f"bench {bench.name!r} already has a pump of another model "
                             f"({pump.model})")
        return pump
