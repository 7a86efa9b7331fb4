"""The QNIC wiring of a station as a QCoDeS instrument (docs/station.md).

A station file lists everything under ``instruments:``, the one section
QCoDeS's station schema allows, so the wiring of arms A and B (rotator,
tagger, channels of outcome 0 and 1, waveplate zero, delays), the
coincidence window, homing and the source are the ``init:`` of an
instrument of type :class:`QNICWiring`::

    qnic:
      type: qnic.wiring.QNICWiring
      init:
        window_ps: 1500
        A: {rotator: rotator_a, tagger: tagger, channels: [1, 2]}
        B: {rotator: rotator_b, tagger: tagger, channels: [3, 4]}

Loaded by ``qcodes.Station`` it checks its arguments and builds the two
QNICs from the station's instruments (:meth:`QNICWiring.build_qnics`); in
a dataset's snapshot its parameters are the wiring, waveplate zeros, delays
and window in use (after a calibration, the calibration's).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from qcodes.instrument import Instrument, InstrumentChannel
from qcodes.validators import Bool, Ints, Numbers, Strings

from qnic.bases import Waveplate
from qnic.node import QNIC

ARMS = ("A", "B")
PLATE_KEYS = frozenset({f"{plate}_{key}" for plate in ("hwp", "qwp")
                        for key in ("order", "design_wavelength_nm", "retardance_error_deg")})
ARM_KEYS = frozenset({"rotator", "tagger", "channels", "waveplate_zero_deg", "delays_ps",
                      "qwp_rotator", "qwp_zero_deg", *PLATE_KEYS})
WIRING_KEYS = frozenset({"window_ps", "home_on_start", "source", "wavelength_nm", *ARMS})
DEFAULT_WINDOW_PS = 1000
DEFAULT_WAVELENGTH_NM = 810.0
WAVELENGTH_RANGE_NM = (198.0, 2053.0)  # where the quartz dispersion equation holds


class WiringError(ValueError):
    """A bad value in the wiring: ``key`` is its dotted path below the wiring."""

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        self.message = message
        super().__init__(f"{key}: {message}" if key else message)


@dataclass(frozen=True)
class ArmWiring:
    """How one QNIC is wired."""

    rotator: str
    tagger: str
    channels: tuple[int, int]
    waveplate_zero_deg: float = 0.0
    delays_ps: tuple[int, int] = (0, 0)
    qwp_rotator: str | None = None
    qwp_zero_deg: float = 0.0
    # per plate (hwp, qwp): (order, design wavelength nm, fixed retardance error deg)
    plates: Mapping[str, tuple[int, float, float]] | None = None

    def plate(self, kind: str, wavelength_nm: float) -> Waveplate:
        """The arm's ``kind`` ("hwp" or "qwp") plate at ``wavelength_nm``."""
        order, design, error = (self.plates or {}).get(kind, (0, DEFAULT_WAVELENGTH_NM, 0.0))
        return Waveplate(0.5 if kind == "hwp" else 0.25, order, design, wavelength_nm, error)


@dataclass(frozen=True)
class Wiring:
    """The checked wiring: both arms, the window (ps), homing, the source's
    name and the light's wavelength (nm)."""

    arms: Mapping[str, ArmWiring]
    window_ps: int = DEFAULT_WINDOW_PS
    home_on_start: bool = True
    source: str | None = None
    wavelength_nm: float = DEFAULT_WAVELENGTH_NM


def _int_pair(value: Any, key: str) -> tuple[int, int]:
    if (not isinstance(value, list | tuple) or len(value) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)):
        raise WiringError(key, f"expected a list of two integers, got {_plain(value)!r}")
    return int(value[0]), int(value[1])


def _plain(value: Any) -> Any:
    """YAML containers (PyYAML's or QCoDeS's ruamel) as plain lists and dicts."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _known(ref: Any, key: str, instruments: Collection[str] | None) -> str:
    if instruments is not None and ref not in instruments:
        raise WiringError(key, f"{ref!r} is not an instrument of this station "
                          f"(instruments: {', '.join(instruments)})")
    if not isinstance(ref, str):
        raise WiringError(key, f"expected an instrument's name, got {ref!r}")
    return ref


def _arm(name: str, raw: Any, instruments: Collection[str] | None) -> ArmWiring:
    if not isinstance(raw, Mapping):
        raise WiringError(name, f"expected a mapping, got {type(raw).__name__}")
    unknown = set(raw) - ARM_KEYS
    if unknown:
        raise WiringError(f"{name}.{sorted(map(str, unknown))[0]}",
                          f"unknown key (expected {', '.join(sorted(ARM_KEYS))})")
    refs = {}
    for role in ("rotator", "tagger"):
        if raw.get(role) is None:
            raise WiringError(f"{name}.{role}", "missing: the name of an instrument")
        refs[role] = _known(raw[role], f"{name}.{role}", instruments)
    if "channels" not in raw:
        raise WiringError(f"{name}.channels", "missing: the tagger channels of outcome 0 and outcome 1")
    channels = _int_pair(raw["channels"], f"{name}.channels")
    if channels[0] == channels[1]:
        raise WiringError(f"{name}.channels", f"channel {channels[0]} is used twice")
    zero = raw.get("waveplate_zero_deg", 0.0)
    if isinstance(zero, bool) or not isinstance(zero, int | float):
        raise WiringError(f"{name}.waveplate_zero_deg", f"expected degrees, got {zero!r}")
    delays = _int_pair(raw.get("delays_ps", [0, 0]), f"{name}.delays_ps")
    qwp_rotator = raw.get("qwp_rotator")
    if qwp_rotator is not None:
        qwp_rotator = _known(qwp_rotator, f"{name}.qwp_rotator", instruments)
    return ArmWiring(refs["rotator"], refs["tagger"], channels, float(zero), delays, qwp_rotator,
                     _degrees(raw, "qwp_zero_deg", name), _plates(name, raw))


def _degrees(raw: Mapping[str, Any], key: str, arm: str, limit: float = 360.0) -> float:
    value = raw.get(key, 0.0)
    if isinstance(value, bool) or not isinstance(value, int | float) or not -limit <= value <= limit:
        raise WiringError(f"{arm}.{key}", f"expected degrees within [-{limit:g}, {limit:g}], got {value!r}")
    return float(value)


def _plates(arm: str, raw: Mapping[str, Any]) -> dict[str, tuple[int, float, float]]:
    """Each plate's (order, design wavelength, fixed error) (docs/station.md)."""
    plates = {}
    lo, hi = WAVELENGTH_RANGE_NM
    for kind, limit in (("hwp", 90.0), ("qwp", 45.0)):
        order = raw.get(f"{kind}_order", 0)
        if isinstance(order, bool) or not isinstance(order, int) or not 0 <= order <= 1000:
            raise WiringError(f"{arm}.{kind}_order", "expected the plate's order, an integer 0 to "
                              f"1000 (0: zero-order), got {order!r}")
        design = raw.get(f"{kind}_design_wavelength_nm", DEFAULT_WAVELENGTH_NM)
        if isinstance(design, bool) or not isinstance(design, int | float) or not lo <= design <= hi:
            raise WiringError(f"{arm}.{kind}_design_wavelength_nm",
                              f"expected nm within [{lo:g}, {hi:g}], got {design!r}")
        plates[kind] = (order, float(design), _degrees(raw, f"{kind}_retardance_error_deg", arm, limit))
    return plates


def check_wiring(raw: Any, instruments: Collection[str] | None = None) -> Wiring:
    """Check the wiring's keys and values (docs/station.md, ``qnic:``).

    Args:
        raw: the mapping (a station file's wiring ``init:``).
        instruments: names of the station's instruments that ``rotator``,
            ``tagger`` and ``source`` must be among (None: not checked).

    Raises:
        WiringError: naming the key below the wiring and what was expected.
    """
    if not isinstance(raw, Mapping):
        raise WiringError("", f"expected a mapping, got {type(raw).__name__}")
    unknown = set(raw) - WIRING_KEYS
    if unknown:
        raise WiringError(sorted(map(str, unknown))[0],
                          f"unknown key (expected {', '.join(sorted(WIRING_KEYS))})")
    arms = {}
    for name in ARMS:
        if name not in raw:
            raise WiringError(name, f"missing arm {name}: every station wires arms A and B")
        arms[name] = _arm(name, raw[name], instruments)
    for ch in arms["B"].channels:
        if ch in arms["A"].channels and arms["A"].tagger == arms["B"].tagger:
            raise WiringError("B.channels", f"channel {ch} is already used by arm A")
    window = raw.get("window_ps", DEFAULT_WINDOW_PS)
    if isinstance(window, bool) or not isinstance(window, int | float) or window < 0:
        raise WiringError("window_ps", f"expected a non-negative number of ps, got {window!r}")
    home = raw.get("home_on_start", True)
    if not isinstance(home, bool):
        raise WiringError("home_on_start", f"expected true or false, got {home!r}")
    source = raw.get("source")
    if source is not None:
        source = _known(source, "source", instruments)
    wavelength = raw.get("wavelength_nm", DEFAULT_WAVELENGTH_NM)
    lo, hi = WAVELENGTH_RANGE_NM
    if isinstance(wavelength, bool) or not isinstance(wavelength, int | float) or not lo <= wavelength <= hi:
        raise WiringError("wavelength_nm", f"expected the light's wavelength in nm within "
                          f"[{lo:g}, {hi:g}], got {wavelength!r}")
    return Wiring(arms, int(window), home, source, float(wavelength))


class ArmChannel(InstrumentChannel):
    """One arm's wiring; zeros and delays are the QNIC's own once it is built."""

    def __init__(self, parent: QNICWiring, name: str, arm: ArmWiring) -> None:
        super().__init__(parent, name)
        self.wiring = arm
        self.parent_wavelength_nm = parent.wiring.wavelength_nm
        self.qnic: QNIC | None = None
        self.add_parameter("rotator", label=f"Arm {name} rotator", unit="", vals=Strings(),
                           get_cmd=lambda: arm.rotator, set_cmd=False,
                           docstring="Get the name of the instrument turning the arm's HWP (str).")
        self.add_parameter("tagger", label=f"Arm {name} time tagger", unit="", vals=Strings(),
                           get_cmd=lambda: arm.tagger, set_cmd=False,
                           docstring="Get the name of the tagger the arm's detectors feed (str).")
        for outcome in (0, 1):
            self.add_parameter(f"channel_{outcome}", label=f"Arm {name} outcome-{outcome} channel",
                               unit="", vals=Ints(), set_cmd=False,
                               get_cmd=lambda o=outcome: arm.channels[o],
                               docstring=f"Get the tagger channel of outcome {outcome} (int).")
            self.add_parameter(f"delay_{outcome}_ps", label=f"Arm {name} outcome-{outcome} delay",
                               unit="ps", vals=Ints(), set_cmd=False,
                               get_cmd=lambda o=outcome: self._delays()[o],
                               docstring=f"Get the delay subtracted from outcome {outcome}'s "
                                         "clicks in ps (int), as in use.")
        self.add_parameter("waveplate_zero_deg", label=f"Arm {name} waveplate zero", unit="deg",
                           vals=Numbers(), set_cmd=False, get_cmd=self._zero,
                           docstring="Get the motor angle of the HWP's fast axis at H in degrees "
                                     "(float), as in use.")
        self.add_parameter("qwp_rotator", label=f"Arm {name} QWP rotator", unit="", vals=Strings(),
                           get_cmd=lambda: arm.qwp_rotator or "", set_cmd=False,
                           docstring="Get the name of the instrument turning the arm's QWP "
                                     "('' for none) (str).")
        self.add_parameter("qwp_zero_deg", label=f"Arm {name} QWP zero", unit="deg",
                           vals=Numbers(), set_cmd=False,
                           get_cmd=lambda: float(self.qnic.qwp_zero_deg if self.qnic else arm.qwp_zero_deg),
                           docstring="Get the motor angle of the QWP's fast axis at H in degrees "
                                     "(float), as in use.")
        for kind, plate_name in (("hwp", "HWP"), ("qwp", "QWP")):
            self.add_parameter(f"{kind}_retardance_deg", label=f"Arm {name} {plate_name} retardance",
                               unit="deg", vals=Numbers(), set_cmd=False,
                               get_cmd=lambda k=kind: self._retardance_deg(k),
                               docstring=f"Get the {plate_name}'s retardance at the light's "
                                         "wavelength in degrees (float), as the QNIC models it.")

    def _zero(self) -> float:
        return float(self.qnic.waveplate_zero_deg if self.qnic else self.wiring.waveplate_zero_deg)

    def _retardance_deg(self, kind: str) -> float:
        if self.qnic is not None:
            plate = self.qnic.hwp if kind == "hwp" else self.qnic.qwp
        else:
            plate = self.wiring.plate(kind, self.parent_wavelength_nm)
        return float(np.degrees(plate.retardance_rad))

    def _delays(self) -> tuple[int, int]:
        delays = self.qnic.delays_ps if self.qnic else self.wiring.delays_ps
        return int(delays[0]), int(delays[1])


class QNICWiring(Instrument):
    """The wiring of the QNICs A and B, the coincidence window and the source.

    Args:
        name: instrument name (``qnic`` in the embedded station).
        A, B: each arm's ``rotator``, ``tagger``, ``channels`` [outcome 0,
            outcome 1], ``waveplate_zero_deg`` (0) and ``delays_ps`` ([0, 0]).
        window_ps: coincidence window half-width (ps, >= 0; 1000).
        home_on_start: ``qnic chsh`` and ``qnic demo`` home the rotators first.
        source: name of the source instrument (shutter, pump), if any.
        wavelength_nm: the light's wavelength (nm; 810), at which each
            arm's plates (``hwp_order``, ``hwp_design_wavelength_nm``,
            ``hwp_retardance_error_deg`` and the same for ``qwp_``) are
            taken; an arm may name a ``qwp_rotator`` and its ``qwp_zero_deg``.

    Raises:
        WiringError: a bad argument (its key, what was expected).
    """

    def __init__(self, name: str, A: Any = None, B: Any = None,  # noqa: N803 - the arms' names
                 window_ps: Any = DEFAULT_WINDOW_PS, home_on_start: Any = True,
                 source: Any = None, wavelength_nm: Any = None, **kwargs: Any) -> None:
        raw = {"A": A, "B": B, "window_ps": window_ps, "home_on_start": home_on_start,
               "source": source, "wavelength_nm": wavelength_nm}
        self.wiring = check_wiring({k: v for k, v in raw.items() if v is not None or k in ARMS})
        super().__init__(name, **kwargs)
        self._live_window: Callable[[], int] | None = None
        self.add_parameter("window_ps", label="Coincidence window (half-width)", unit="ps",
                           vals=Ints(0), set_cmd=False, get_cmd=self._window,
                           docstring="Get the coincidence window half-width in ps (int, >= 0), "
                                     "as in use.")
        self.add_parameter("home_on_start", label="Home the rotators first", unit="", vals=Bool(),
                           get_cmd=lambda: self.wiring.home_on_start, set_cmd=False,
                           docstring="Get whether chsh and demo home both rotators first (bool).")
        self.add_parameter("wavelength_nm", label="Light's wavelength", unit="nm", vals=Numbers(),
                           get_cmd=lambda: self.wiring.wavelength_nm, set_cmd=False,
                           docstring="Get the wavelength at which the plates are taken in nm (float).")
        self.add_parameter("source", label="Source instrument", unit="", vals=Strings(),
                           get_cmd=lambda: self.wiring.source or "", set_cmd=False,
                           docstring="Get the name of the source instrument ('' for none).")
        self.arms = {arm: ArmChannel(self, arm, w) for arm, w in self.wiring.arms.items()}
        for arm, channel in self.arms.items():
            self.add_submodule(arm, channel)

    def _window(self) -> int:
        return int(self._live_window() if self._live_window else self.wiring.window_ps)

    def build_qnics(self, find: Callable[[str], Any] | None = None) -> dict[str, QNIC]:
        """The two QNICs, on the instruments the wiring names.

        Args:
            find: the instrument of a name (default: QCoDeS's
                ``Instrument.find_instrument``, i.e. any open instrument).

        Returns:
            {"A": QNIC, "B": QNIC}; this instrument's parameters read their
            zeros and delays from then on.
        """
        lookup: Callable[[str], Any] = find or Instrument.find_instrument
        qnics = {}
        nm = self.wiring.wavelength_nm
        for arm, w in self.wiring.arms.items():
            qnics[arm] = QNIC(arm, lookup(w.rotator), lookup(w.tagger), w.channels,
                              w.waveplate_zero_deg, w.delays_ps, w.plate("hwp", nm),
                              None if w.qwp_rotator is None else lookup(w.qwp_rotator),
                              w.qwp_zero_deg, w.plate("qwp", nm))
            self.arms[arm].qnic = qnics[arm]
        return qnics

    def snapshot_base(self, update: bool | None = False,
                      params_to_skip_update: Sequence[str] | None = None) -> dict[Any, Any]:
        """Always read afresh: the values are in memory (no device), and a
        calibration may have changed the zeros, delays and window since."""
        return super().snapshot_base(update=True, params_to_skip_update=params_to_skip_update)

    def follow_window(self, window_ps: Callable[[], int]) -> None:
        """Report ``window_ps()`` (the station's window in use) as :attr:`window_ps`."""
        self._live_window = window_ps

    def get_idn(self) -> dict[str, str | None]:
        return {"vendor": "qnic-bench", "model": "QNICWiring", "serial": None, "firmware": None}
