"""Station files: one YAML file describes a bench (docs/station.md).

``instruments:`` is a QCoDeS station section; ``qnic:`` wires arms A and B
(rotator, tagger, channels of outcome 0 and 1, waveplate zero, delays) and
the coincidence window; ``sim:`` (simulated benches only) holds the physics.
Everything is checked at load time: a bad file fails with the file, the key
and what was expected, before any instrument is touched.
"""

from __future__ import annotations

import importlib
import importlib.resources
import importlib.util
import warnings
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from qcodes.instrument import Instrument
from qcodes.station import Station

from qnic.instruments.clock import Clock, RealClock
from qnic.node import QNIC
from qnic.sections import section_error, section_registry

ARMS = ("A", "B")
_CORE_SECTIONS = ("instruments", "qnic")
_ARM_KEYS = {"rotator", "tagger", "channels", "waveplate_zero_deg", "delays_ps"}
_QNIC_KEYS = {"window_ps", "home_on_start", "source", *ARMS}


class StationError(ValueError):
    """A station file is wrong: ``file``, ``key`` (dotted path) and what was expected."""

    def __init__(self, file: str, key: str, expected: str) -> None:
        self.file = file
        self.key = key
        self.expected = expected
        where = f"{file}: {key}" if key else file
        super().__init__(f"{where}: {expected}")


def default_station_path() -> Path:
    """The embedded default station (a simulated bench) shipped in the package."""
    return Path(str(importlib.resources.files("qnic") / "stations" / "default.yaml"))


@dataclass(frozen=True)
class ArmWiring:
    """How one QNIC is wired."""

    rotator: str
    tagger: str
    channels: tuple[int, int]
    waveplate_zero_deg: float = 0.0
    delays_ps: tuple[int, int] = (0, 0)


@dataclass(frozen=True)
class StationConfig:
    """A checked station file."""

    path: str
    instruments: Mapping[str, Any]
    arms: Mapping[str, ArmWiring]
    window_ps: int
    home_on_start: bool
    source: str | None
    extensions: Mapping[str, Any]  # parsed sections of registered handlers (qnic.sections)
    text: str

    @property
    def sim(self) -> Any:
        """The parsed ``sim:`` section (the simulated bench's parameters), or None."""
        return self.extensions.get("sim")


def _need_mapping(value: Any, file: str, key: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise StationError(file, key, f"expected a mapping, got {type(value).__name__}")
    return value


_OLD_ROOTS = {"instruments": "qnic.instruments", "sim_backends": "qnic.sim",
              "calibration": "qnic.calibration", "experiments": "qnic.experiments"}
"""Top-level import names of releases before one namespace, and where they live now."""


class DeprecatedPathWarning(FutureWarning):
    """A station file names a class by a path that has moved (it still loads)."""


def _foreign_package(root: str) -> bool:
    """``root`` imports as a package that is not this checkout's own folder of that name."""
    spec = importlib.util.find_spec(root)
    if spec is None:
        return False
    ours = Path(__file__).resolve().parent.parent / root
    places = [*(spec.submodule_search_locations or []), *([spec.origin] if spec.origin else [])]
    return not any(Path(p).resolve() == ours or ours in Path(p).resolve().parents for p in places)


def _current_type(file: str, key: str, type_name: str) -> str:
    root, dot, rest = type_name.partition(".")
    if root not in _OLD_ROOTS or not dot:
        return type_name
    if _foreign_package(root):
        return type_name  # a lab's own package of that name: its path stays its own
    new = f"{_OLD_ROOTS[root]}.{rest}"
    warnings.warn(f"{file}: {key}: {type_name!r} is a deprecated path; write {new!r}",
                  DeprecatedPathWarning, stacklevel=4)
    return new


def _check_type(file: str, name: str, spec: Mapping[str, Any]) -> Mapping[str, Any]:
    """The instrument's spec, its ``type`` checked (and moved off a deprecated path)."""
    key = f"instruments.{name}.type"
    type_name = spec.get("type")
    if not isinstance(type_name, str) or "." not in type_name:
        raise StationError(file, key, "expected a driver class path such as "
                           "qnic.instruments.rotators.elliptec.ELL14")
    type_name = _current_type(file, key, type_name)
    module_name, _, cls_name = type_name.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise StationError(file, key, f"unknown instrument type {type_name!r} "
                           f"(module {module_name!r} cannot be imported: {exc})") from None
    cls = getattr(module, cls_name, None)
    if not (isinstance(cls, type) and issubclass(cls, Instrument)):
        raise StationError(file, key, f"unknown instrument type {type_name!r} "
                           f"(no QCoDeS Instrument {cls_name!r} in {module_name})")
    return {**spec, "type": type_name}


def _int_pair(value: Any, file: str, key: str) -> tuple[int, int]:
    if (not isinstance(value, list) or len(value) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)):
        raise StationError(file, key, f"expected a list of two integers, got {value!r}")
    return int(value[0]), int(value[1])


def _arm(file: str, name: str, raw: Any, instruments: Mapping[str, Any]) -> ArmWiring:
    sec = _need_mapping(raw, file, f"qnic.{name}")
    unknown = set(sec) - _ARM_KEYS
    if unknown:
        raise StationError(file, f"qnic.{name}.{sorted(unknown)[0]}",
                           f"unknown key (expected {', '.join(sorted(_ARM_KEYS))})")
    for role in ("rotator", "tagger"):
        ref = sec.get(role)
        if ref is None:
            raise StationError(file, f"qnic.{name}.{role}", "missing: the name of an instrument")
        if ref not in instruments:
            raise StationError(file, f"qnic.{name}.{role}",
                               f"{ref!r} is not an instrument of this station "
                               f"(instruments: {', '.join(instruments)})")
    if "channels" not in sec:
        raise StationError(file, f"qnic.{name}.channels",
                           "missing: the tagger channels of outcome 0 and outcome 1")
    channels = _int_pair(sec["channels"], file, f"qnic.{name}.channels")
    if channels[0] == channels[1]:
        raise StationError(file, f"qnic.{name}.channels", f"channel {channels[0]} is used twice")
    zero = sec.get("waveplate_zero_deg", 0.0)
    if isinstance(zero, bool) or not isinstance(zero, (int, float)):
        raise StationError(file, f"qnic.{name}.waveplate_zero_deg", f"expected degrees, got {zero!r}")
    delays = _int_pair(sec.get("delays_ps", [0, 0]), file, f"qnic.{name}.delays_ps")
    return ArmWiring(str(sec["rotator"]), str(sec["tagger"]), channels, float(zero), delays)


def _qnic(file: str, raw: Any, instruments: Mapping[str, Any]
          ) -> tuple[dict[str, ArmWiring], int, bool, str | None]:
    sec = _need_mapping(raw, file, "qnic")
    unknown = set(sec) - _QNIC_KEYS
    if unknown:
        raise StationError(file, f"qnic.{sorted(unknown)[0]}",
                           f"unknown key (expected {', '.join(sorted(_QNIC_KEYS))})")
    arms = {}
    for name in ARMS:
        if name not in sec:
            raise StationError(file, f"qnic.{name}", f"missing arm {name}: every station wires arms A and B")
        arms[name] = _arm(file, name, sec[name], instruments)
    used = set(arms["A"].channels)
    for ch in arms["B"].channels:
        if ch in used and arms["A"].tagger == arms["B"].tagger:
            raise StationError(file, "qnic.B.channels", f"channel {ch} is already used by arm A")
    window = sec.get("window_ps", 1000)
    if isinstance(window, bool) or not isinstance(window, (int, float)) or window < 0:
        raise StationError(file, "qnic.window_ps", f"expected a non-negative number of ps, got {window!r}")
    home = sec.get("home_on_start", True)
    if not isinstance(home, bool):
        raise StationError(file, "qnic.home_on_start", f"expected true or false, got {home!r}")
    source = sec.get("source")
    if source is not None and source not in instruments:
        raise StationError(file, "qnic.source", f"{source!r} is not an instrument of this station "
                           f"(instruments: {', '.join(instruments)})")
    return arms, int(window), home, source


def _extension(file: str, name: str, raw: Any, arms: Mapping[str, ArmWiring]) -> Any:
    handler = section_registry().handlers()[name]
    try:
        parsed = handler.parse(raw)
    except ValueError as raised:
        exc = section_error(raised)
        raise StationError(file, f"{name}.{exc.key}" if exc.key else name, exc.message) from None
    channels = handler.channels(parsed)
    if channels is not None:
        for arm_name, arm in arms.items():
            for ch in arm.channels:
                if ch not in channels:
                    raise StationError(file, f"qnic.{arm_name}.channels",
                                       f"channel {ch} has no detector in {name} (detectors on "
                                       f"{', '.join(map(str, channels))})")
    return parsed


def _check_addresses(file: str, instruments: Mapping[str, Any], extensions: Mapping[str, Any]) -> None:
    """Addresses of a scheme a section serves (``sim://``) need that section, and fit it."""
    for section, handler in section_registry().handlers().items():
        for name, spec in instruments.items():
            address = spec.get("address")
            if not (isinstance(address, str) and address.startswith(handler.address_schemes)):
                continue
            key = f"instruments.{name}.address"
            if section not in extensions:
                raise StationError(file, key, f"a {address.partition('//')[0]}// address needs a "
                                   f"{section}: section describing the bench")
            try:
                handler.check_address(address, extensions[section])
            except ValueError as exc:
                raise StationError(file, key, section_error(exc).message) from None


def parse_station(text: str, file: str = "<station>") -> StationConfig:
    """Check a station file's text; see :func:`load_station_config`."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise StationError(file, "", f"not valid YAML: {exc}") from None
    top = _need_mapping(data, file, "(top level)")
    known = [*_CORE_SECTIONS, *section_registry()]
    unknown = set(top) - set(known)
    if unknown:
        raise StationError(file, sorted(unknown)[0], f"unknown section (expected {', '.join(known)})")
    if "instruments" not in top:
        raise StationError(file, "instruments", "missing: the QCoDeS instruments of the station")
    instruments = {name: _check_type(file, name, _need_mapping(spec, file, f"instruments.{name}"))
                   for name, spec in _need_mapping(top["instruments"], file, "instruments").items()}
    if "qnic" not in top:
        raise StationError(file, "qnic", "missing: the wiring of arms A and B")
    arms, window, home, source = _qnic(file, top["qnic"], instruments)
    extensions = {name: _extension(file, name, top[name], arms)
                  for name in section_registry() if name in top}
    _check_addresses(file, instruments, extensions)
    return StationConfig(file, instruments, arms, window, home, source, extensions, text)


def load_station_config(path: str | Path | None = None) -> StationConfig:
    """Read and check a station file (``None``: the embedded default)."""
    p = default_station_path() if path is None else Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise StationError(str(p), "", f"cannot read the station file: {exc.strerror}") from None
    return parse_station(text, str(p))


@dataclass
class LoadedStation:
    """A station with its instruments open and its two QNICs built."""

    config: StationConfig
    station: Station
    qnics: dict[str, QNIC]
    clock: Clock
    bench: Any = None  # the simulated bench, when there is one
    window_ps_override: int | None = None  # set by a calibration

    @property
    def window_ps(self) -> int:
        """The coincidence window: a calibration's, else the station file's."""
        return self.window_ps_override if self.window_ps_override is not None else self.config.window_ps

    @property
    def source(self) -> Any:
        """The source instrument (shutter, pump) the station names, if any."""
        name = self.config.source
        return None if name is None else self.station.components[name]


@contextmanager
def open_station(config: StationConfig, seed: int | None = None) -> Iterator[LoadedStation]:
    """Open every instrument of ``config`` and build the QNICs.

    On a simulated bench the bench is registered for its ``sim://``
    addresses (re-seeded with ``seed`` if given) and its virtual clock is
    the station's clock. Instruments are closed and the bench unregistered
    on exit, whatever happened.
    """
    with ExitStack() as opened:
        bench = None
        clock: Clock = RealClock()
        handlers = section_registry().handlers()
        for name, parsed in config.extensions.items():
            live = opened.enter_context(handlers[name].open(parsed, seed))
            if name == "sim":
                bench, clock = live, live.clock
        with _instruments(config) as station:
            qnics = {
                name: QNIC(name, station.components[w.rotator], station.components[w.tagger],  # type: ignore[arg-type]
                           w.channels, w.waveplate_zero_deg, w.delays_ps)
                for name, w in config.arms.items()
            }
            yield LoadedStation(config, station, qnics, clock, bench)


@contextmanager
def _instruments(config: StationConfig) -> Iterator[Station]:
    """A QCoDeS station with every instrument of ``config`` loaded; all closed on exit."""
    station = Station()
    station.load_config(yaml.safe_dump({"instruments": dict(config.instruments)}))
    try:
        for name in config.instruments:
            try:
                station.load_instrument(name)
            except (TypeError, ValueError, KeyError) as exc:
                raise StationError(config.path, f"instruments.{name}",
                                   f"cannot build the instrument: {exc}") from exc
        yield station
    finally:
        for name in list(station.components):
            component = station.components[name]
            if isinstance(component, Instrument):
                component.close()
