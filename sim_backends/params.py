"""Parameters of a simulated bench, read from the station file's ``sim:`` section.

Names follow docs/commands.md. Every value has a default, so ``sim: {}`` is a working
bench; bad values fail with the key that holds them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qnic.sim.physics.optics import (
    HALF_WAVE,
    QUARTER_WAVE,
    QUARTZ_RANGE_NM,
    plate_retardance_rad,
)
from qnic.sim.physics.state import BellState, bell_family, validate_density_matrix


class ParamError(ValueError):
    """A bad value in the ``sim:`` section; ``key`` is its dotted path."""

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        self.message = message
        super().__init__(f"sim.{key}: {message}")


@dataclass(frozen=True)
class DetectorParams:
    """One single-photon detector behind one PBS port."""

    channel: int
    outcome: int
    efficiency: float = 0.65
    dark_count_hz: float = 300.0
    delay_ps: int = 0
    jitter_ps: float = 350.0
    dead_time_ns: float = 22.0
    afterpulse_probability: float = 0.005
    afterpulse_delay_ns: float = 50.0
    background_hz: float = 0.0
    saturation_hz: float = 30e6


DEFAULT_WAVELENGTH_NM = 810.0


@dataclass(frozen=True)
class ArmParams:
    """One analyser arm: plates, PBS and its two detectors (outcome 0 first).

    ``hwp_retardance_error_deg`` and ``qwp_retardance_error_deg`` are each
    plate's whole deviation from pi (pi/2) at the source's wavelength: the
    station's fixed error plus what the wavelength makes of a plate of
    ``*_order`` made for ``*_design_wavelength_nm`` (docs/physics.md
    section 2); with the defaults they are the station's numbers.
    """

    name: str
    detectors: tuple[DetectorParams, DetectorParams]
    transmission: float = 0.25
    waveplate_zero_deg: float = 0.0
    extinction_ratio: float = 1000.0
    hwp_retardance_error_deg: float = 0.0
    hwp_order: int = 0
    hwp_design_wavelength_nm: float = DEFAULT_WAVELENGTH_NM
    qwp_enabled: bool = False
    qwp_zero_deg: float = 0.0
    qwp_retardance_error_deg: float = 0.0
    qwp_order: int = 0
    qwp_design_wavelength_nm: float = DEFAULT_WAVELENGTH_NM
    rotator_speed_dps: float = 430.0
    rotator_accel_dps2: float = 4000.0


@dataclass(frozen=True)
class TaggerParams:
    """The time tagger's own figures."""

    resolution_ps: int = 1
    jitter_ps: float = 8.0
    max_rate_hz: float = 70e6
    overflow_block_ns: float = 1e6  # buffer accounting granularity (1 ms)
    pulse_amplitude_v: float = 2.0
    noise_level_v: float = 0.02
    noise_rate_hz: float = 5e6


@dataclass(frozen=True)
class BenchParams:
    """Everything the physics needs (docs/physics.md)."""

    name: str = "default"
    seed: int = 0
    pair_rate_hz: float = 5e5
    wavelength_nm: float = DEFAULT_WAVELENGTH_NM
    rho: np.ndarray = field(default_factory=lambda: bell_family(0.97, 0.98))
    # (visibility, coherence, bell, phase_deg) when rho is of the default
    # family, so a pump setting can rebuild it; None for an explicit matrix
    family: tuple[float, float, str, float] | None = (0.97, 0.98, "phi+", 0.0)
    arms: Mapping[str, ArmParams] = field(default_factory=dict)
    tagger: TaggerParams = field(default_factory=TaggerParams)
    # pair-number statistics (docs/physics.md): "poisson" is the multimode
    # limit (independent pairs); "thermal" a single mode, whose pairs come in
    # Bose-Einstein bunches within one coherence time
    pair_statistics: str = "poisson"
    coherence_time_ps: float = 1.0
    # slow drift of the bench over hours (docs/physics.md): the state's phase
    # and each arm's waveplate zero turn at these rates (degrees per hour)
    drift_phase_deg_per_hour: float = 0.0
    drift_zero_deg_per_hour: Mapping[str, float] = field(default_factory=lambda: {"A": 0.0, "B": 0.0})

    def detector(self, channel: int) -> DetectorParams:
        for arm in self.arms.values():
            for det in arm.detectors:
                if det.channel == channel:
                    return det
        raise KeyError(f"no detector on channel {channel}")

    @property
    def channels(self) -> tuple[int, ...]:
        return tuple(d.channel for arm in self.arms.values() for d in arm.detectors)



def _first(keys: Any) -> str:
    """The first of a file's keys, in text order (keys of a YAML mapping may
    be numbers, strings or null, which do not sort together)."""
    return sorted(map(str, keys))[0]

def _number(section: Mapping[str, Any], key: str, path: str, default: float,
            lo: float = -math.inf, hi: float = math.inf) -> float:
    value = section.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ParamError(f"{path}{key}", f"expected a number, got {value!r}")
    if not lo <= value <= hi:
        raise ParamError(f"{path}{key}", f"expected a value within [{lo}, {hi}], got {value}")
    return float(value)


def _mapping(value: Any, path: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ParamError(path, f"expected a mapping, got {type(value).__name__}")
    return value


def _state(section: Mapping[str, Any]) -> tuple[np.ndarray, tuple[float, float, str, float] | None]:
    st = _mapping(section.get("state"), "state")
    if "density_matrix" in st:
        try:
            rho = np.array([[complex(x) for x in row] for row in st["density_matrix"]])
            return validate_density_matrix(rho), None
        except (TypeError, ValueError) as exc:
            raise ParamError("state.density_matrix", str(exc)) from exc
    bell = st.get("bell", "phi+")
    try:
        bell = BellState(str(bell).lower())
    except ValueError:
        raise ParamError("state.bell", f"expected one of phi+, phi-, psi+, psi-, got {bell!r}") from None
    family = (_number(st, "visibility", "state.", 0.97, 0.0, 1.0),
              _number(st, "coherence", "state.", 0.98, 0.0, 1.0),
              bell.value, _number(st, "phase_deg", "state.", 0.0))
    return bell_family(*family), family


_DEFAULT_CHANNELS = {"A": (1, 2), "B": (3, 4)}
_DET_KEYS = {f for f in DetectorParams.__dataclass_fields__ if f not in ("channel", "outcome")}
_ARM_KEYS = {f for f in ArmParams.__dataclass_fields__ if f not in ("name", "detectors")}


def _detectors(arm: str, sec: Mapping[str, Any]) -> tuple[DetectorParams, DetectorParams]:
    dets: Mapping[Any, Any] = _mapping(sec.get("detectors"), f"{arm}.detectors")
    if not dets:
        ch0, ch1 = _DEFAULT_CHANNELS[arm]
        dets = {ch0: {"outcome": 0}, ch1: {"outcome": 1}}
    if len(dets) != 2:
        raise ParamError(f"{arm}.detectors", f"expected two detectors (outcome 0 and 1), got {len(dets)}")
    found: dict[int, DetectorParams] = {}
    for ch, raw in dets.items():
        path = f"{arm}.detectors.{ch}."
        d = _mapping(raw, path.rstrip("."))
        unknown = set(d) - _DET_KEYS - {"outcome"}
        if unknown:
            raise ParamError(path + _first(unknown), f"unknown key (expected one of {sorted(_DET_KEYS | {'outcome'})})")
        if isinstance(ch, bool) or not isinstance(ch, int):
            raise ParamError(path.rstrip("."), "detectors are keyed by their tagger channel number")
        outcome = d.get("outcome")
        if outcome not in (0, 1) or outcome in found:
            raise ParamError(path + "outcome", "expected 0 (transmitted) or 1 (reflected), once each per arm")
        found[outcome] = DetectorParams(
            channel=ch, outcome=outcome,
            efficiency=_number(d, "efficiency", path, 0.65, 0.0, 1.0),
            dark_count_hz=_number(d, "dark_count_hz", path, 300.0, 0.0),
            # cable delays are ns; +-1 us covers any bench (and keeps the
            # pulse stream's sorting local)
            delay_ps=int(_number(d, "delay_ps", path, 0.0, -1e6, 1e6)),
            jitter_ps=_number(d, "jitter_ps", path, 350.0, 0.0),
            dead_time_ns=_number(d, "dead_time_ns", path, 22.0, 0.0),
            afterpulse_probability=_number(d, "afterpulse_probability", path, 0.005, 0.0, 0.5),
            afterpulse_delay_ns=_number(d, "afterpulse_delay_ns", path, 50.0, 0.0),
            background_hz=_number(d, "background_hz", path, 0.0, 0.0),
            saturation_hz=_number(d, "saturation_hz", path, 30e6, 0.0),
        )
    return found[0], found[1]


def _order(sec: Mapping[str, Any], key: str, path: str) -> int:
    value = sec.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 1000:
        raise ParamError(path + key, f"expected the plate's order, an integer 0 to 1000 "
                         f"(0: zero-order), got {value!r}")
    return value


def _deviation_deg(waves: float, order: int, design_nm: float, wavelength_nm: float,
                   error_deg: float) -> float:
    """A plate's retardance minus its nominal one, in degrees within (-180, 180]."""
    gamma = plate_retardance_rad(waves, order, design_nm, wavelength_nm, error_deg)
    dev = math.degrees(gamma - 2.0 * math.pi * waves) % 360.0
    return dev - 360.0 if dev > 180.0 else dev


def _arm(name: str, sec: Mapping[str, Any], wavelength_nm: float = DEFAULT_WAVELENGTH_NM) -> ArmParams:
    unknown = set(sec) - _ARM_KEYS - {"detectors"}
    if unknown:
        raise ParamError(f"{name}.{_first(unknown)}", f"unknown key (expected one of {sorted(_ARM_KEYS | {'detectors'})})")
    p = f"{name}."
    qwp = sec.get("qwp_enabled", False)
    if not isinstance(qwp, bool):
        raise ParamError(p + "qwp_enabled", f"expected true or false, got {qwp!r}")
    lo, hi = QUARTZ_RANGE_NM
    plates = {}
    for plate, waves, limit in (("hwp", HALF_WAVE, 90.0), ("qwp", QUARTER_WAVE, 45.0)):
        order = _order(sec, f"{plate}_order", p)
        design = _number(sec, f"{plate}_design_wavelength_nm", p, DEFAULT_WAVELENGTH_NM, lo, hi)
        error = _number(sec, f"{plate}_retardance_error_deg", p, 0.0, -limit, limit)
        plates[plate] = (order, design, _deviation_deg(waves, order, design, wavelength_nm, error))
    return ArmParams(
        name=name, detectors=_detectors(name, sec),
        transmission=_number(sec, "transmission", p, 0.25, 0.0, 1.0),
        waveplate_zero_deg=_number(sec, "waveplate_zero_deg", p, 0.0, -360.0, 360.0),
        extinction_ratio=_number(sec, "extinction_ratio", p, 1000.0, 1.0),
        hwp_retardance_error_deg=plates["hwp"][2],
        hwp_order=plates["hwp"][0], hwp_design_wavelength_nm=plates["hwp"][1],
        qwp_enabled=qwp,
        qwp_zero_deg=_number(sec, "qwp_zero_deg", p, 0.0, -360.0, 360.0),
        qwp_retardance_error_deg=plates["qwp"][2],
        qwp_order=plates["qwp"][0], qwp_design_wavelength_nm=plates["qwp"][1],
        rotator_speed_dps=_number(sec, "rotator_speed_dps", p, 430.0, 1e-3),
        rotator_accel_dps2=_number(sec, "rotator_accel_dps2", p, 4000.0, 1e-3),
    )


_TOP_KEYS = {"name", "seed", "pair_rate_hz", "wavelength_nm", "state", "A", "B", "tagger",
             "pair_statistics", "coherence_time_ps", "drift"}
_DRIFT_KEYS = {"state_phase_deg_per_hour", "A_zero_deg_per_hour", "B_zero_deg_per_hour"}
PAIR_STATISTICS = ("poisson", "thermal")


def bench_params(section: Mapping[str, Any] | None) -> BenchParams:
    """Build :class:`BenchParams` from a ``sim:`` mapping.

    Raises:
        ParamError: a key is unknown or a value out of range; its ``key``
            names the place.
    """
    sec = _mapping(section, "sim")
    unknown = set(sec) - _TOP_KEYS
    if unknown:
        raise ParamError(_first(unknown), f"unknown key (expected one of {sorted(_TOP_KEYS)})")
    seed = sec.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ParamError("seed", f"expected a non-negative integer, got {seed!r}")
    wavelength = _number(sec, "wavelength_nm", "", DEFAULT_WAVELENGTH_NM, *QUARTZ_RANGE_NM)
    arms = {name: _arm(name, _mapping(sec.get(name), name), wavelength) for name in ("A", "B")}
    channels = [d.channel for a in arms.values() for d in a.detectors]
    dup = {c for c in channels if channels.count(c) > 1}
    if dup:
        raise ParamError("B.detectors", f"channel {sorted(dup)[0]} is used twice")
    t = _mapping(sec.get("tagger"), "tagger")
    unknown = set(t) - set(TaggerParams.__dataclass_fields__)
    if unknown:
        raise ParamError(f"tagger.{_first(unknown)}", "unknown key")
    tagger = TaggerParams(
        resolution_ps=int(_number(t, "resolution_ps", "tagger.", 1, 1, 1e6)),
        jitter_ps=_number(t, "jitter_ps", "tagger.", 8.0, 0.0),
        max_rate_hz=_number(t, "max_rate_hz", "tagger.", 70e6, 1.0),
        overflow_block_ns=_number(t, "overflow_block_ns", "tagger.", 1e6, 1.0),
        pulse_amplitude_v=_number(t, "pulse_amplitude_v", "tagger.", 2.0, 0.0),
        noise_level_v=_number(t, "noise_level_v", "tagger.", 0.02, 0.0),
        noise_rate_hz=_number(t, "noise_rate_hz", "tagger.", 5e6, 0.0),
    )
    name = sec.get("name", "default")
    if not isinstance(name, str) or not name:
        raise ParamError("name", f"expected a bench name, got {name!r}")
    rho, family = _state(sec)
    statistics = sec.get("pair_statistics", "poisson")
    if statistics not in PAIR_STATISTICS:
        raise ParamError("pair_statistics", f"expected one of {', '.join(PAIR_STATISTICS)}, got {statistics!r}")
    drift = _mapping(sec.get("drift"), "drift")
    unknown = set(drift) - _DRIFT_KEYS
    if unknown:
        raise ParamError(f"drift.{_first(unknown)}", f"unknown key (expected one of {sorted(_DRIFT_KEYS)})")
    zero_drift = {arm: _number(drift, f"{arm}_zero_deg_per_hour", "drift.", 0.0, -1e6, 1e6)
                  for arm in ("A", "B")}
    return BenchParams(
        drift_phase_deg_per_hour=_number(drift, "state_phase_deg_per_hour", "drift.", 0.0, -1e6, 1e6),
        drift_zero_deg_per_hour=zero_drift,
        name=name, seed=seed,
        pair_rate_hz=_number(sec, "pair_rate_hz", "", 5e5, 0.0, 1e9),
        wavelength_nm=wavelength, rho=rho, family=family, arms=arms, tagger=tagger, pair_statistics=statistics,
        coherence_time_ps=_number(sec, "coherence_time_ps", "", 1.0, 1e-3, 1e6),
    )
