"""Station files: one YAML file describes a bench (docs/station.md).

The file is a QCoDeS station: everything is an instrument of
``instruments:``, which ``qcodes.Station(config_file=...)`` reads without a
warning. Two kinds of instrument carry what the qnic commands need beyond
the devices: the QNIC wiring (:class:`qnic.wiring.QNICWiring`: arms A and B
with rotator, tagger, channels of outcome 0 and 1, waveplate zero, delays;
the coincidence window; the source) and, on a simulated bench, the bench
itself (its physics; found through :mod:`qnic.sections`). Files of the
older layout, with top-level ``qnic:`` and ``sim:`` sections, still load,
with a :class:`DeprecatedSectionWarning`.

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from qcodes.instrument import Instrument
from qcodes.station import Station

from qnic.instruments.clock import Clock, RealClock
from qnic.node import QNIC
from qnic.sections import SectionHandler, section_error, section_registry
from qnic.wiring import ARMS, ArmWiring, QNICWiring, WiringError, check_wiring

WIRING_TYPE = f"{QNICWiring.__module__}.{QNICWiring.__qualname__}"
"""The ``type`` of the instrument that wires the QNICs."""
WIRING_SECTION = "qnic"
"""The old top-level section of the wiring, and the name its instrument gets."""

__all__ = ["ARMS", "ArmWiring", "DeprecatedPathWarning", "DeprecatedSectionWarning",
           "LoadedStation", "StationConfig", "StationError", "default_station_path",
           "load_station_config", "open_station", "parse_station"]


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
class StationConfig:
    """A checked station file.

    Attributes:
        path: the file.
        instruments: every instrument's QCoDeS entry (``type`` on its current
            path), with the wiring and section instruments of an old layout added.
        arms, window_ps, home_on_start, source: the checked wiring.
        extensions: parsed sections by name (``sim``: the bench's parameters).
        text: the file's text.
        wiring_instrument: the name of the wiring's instrument.
        section_instruments: section name -> the name of its instrument.
    """

    path: str
    instruments: Mapping[str, Any]
    arms: Mapping[str, ArmWiring]
    window_ps: int
    home_on_start: bool
    source: str | None
    extensions: Mapping[str, Any]  # parsed sections of registered handlers (qnic.sections)
    text: str
    wiring_instrument: str = WIRING_SECTION
    section_instruments: Mapping[str, str] = field(default_factory=dict)

    @property
    def sim(self) -> Any:
        """The parsed ``sim`` section (the simulated bench's parameters), or None."""
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


class DeprecatedSectionWarning(FutureWarning):
    """A station file has a top-level ``qnic:`` or ``sim:`` section (it still loads).

    QCoDeS's station schema allows ``instruments:`` only, so ``qcodes.Station``
    warns about such a file; the section belongs in an instrument's ``init:``.
    """


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


def _check_type(file: str, name: str, spec: Mapping[str, Any]) -> tuple[dict[str, Any], type]:
    """The instrument's spec, its ``type`` checked (and moved off a deprecated path), and its class."""
    key = f"instruments.{name}.type"
    type_name = spec.get("type")
    # an absolute dotted path: a relative one ('.ELL14') cannot be imported
    if not isinstance(type_name, str) or "." not in type_name or not all(
            part.isidentifier() for part in type_name.split(".")):
        raise StationError(file, key, "expected a driver class path such as "
                           f"qnic.instruments.rotators.elliptec.ELL14, got {type_name!r}")
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
    return {**spec, "type": type_name}, cls


def _old_sections(file: str, top: Mapping[str, Any], instruments: dict[str, Any],
                  handlers: Mapping[str, SectionHandler]) -> dict[str, str]:
    """Move an old layout's top-level sections into ``instruments`` (warning once for each).

    Returns:
        instrument name -> the dotted key its ``init:`` is reported under.
    """
    where: dict[str, str] = {}
    for section in (WIRING_SECTION, *handlers):
        if section not in top:
            continue
        if section in instruments:
            raise StationError(file, section, f"the deprecated top-level section needs the "
                               f"instrument name {section!r}, which instruments: already uses; "
                               "move the section into an instrument's init: (docs/station.md)")
        raw = top[section]
        if section == WIRING_SECTION:
            entry = {"type": WIRING_TYPE, "init": _need_mapping(raw, file, section)}
        else:
            handler = handlers[section]
            _parse_section(file, section, handler, raw)  # errors name the old keys
            entry = {"type": handler.instrument_type,
                     "init": handler.section_to_init(_need_mapping(raw, file, section))}
        warnings.warn(f"{file}: {section}: a top-level section is deprecated (QCoDeS's station "
                      f"schema refuses it); move it into instruments: as {section}: {{type: "
                      f"{entry['type']}, init: ...}}"
                      + (", with name: written bench:" if section != WIRING_SECTION else "")
                      + " (docs/station.md)", DeprecatedSectionWarning, stacklevel=4)
        instruments[section] = entry
        where[section] = section
    return where


def _parse_section(file: str, key: str, handler: SectionHandler, raw: Any) -> Any:
    try:
        return handler.parse(raw)
    except ValueError as raised:
        exc = section_error(raised)
        raise StationError(file, f"{key}.{exc.key}" if exc.key else key, exc.message) from None


def _init_of(file: str, name: str, spec: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    init = spec.get("init") or {}
    init = _need_mapping(init, file, key)
    if "name" in init:
        raise StationError(file, f"{key}.name", "QCoDeS takes an init name: as the instrument's "
                           f"own name; {name!r} is named by its key in instruments:")
    return init


def _one_of(file: str, names: list[str], what: str) -> str | None:
    if len(names) > 1:
        raise StationError(file, f"instruments.{names[1]}", f"a second {what} "
                           f"(instruments.{names[0]} is one); a station has one")
    return names[0] if names else None


def _wiring(file: str, instruments: Mapping[str, Any], classes: Mapping[str, type],
            where: Mapping[str, str]) -> tuple[str, Any, str]:
    """The wiring's instrument name, its checked wiring and the key its init is reported under."""
    name = _one_of(file, [n for n, c in classes.items() if issubclass(c, QNICWiring)],
                   "QNIC wiring")
    if name is None:
        raise StationError(file, "instruments", f"missing: the wiring of arms A and B (an "
                           f"instrument of type {WIRING_TYPE}, docs/station.md)")
    key = where.get(name, f"instruments.{name}.init")
    try:
        wiring = check_wiring(_init_of(file, name, instruments[name], key), list(instruments))
    except WiringError as exc:
        raise StationError(file, f"{key}.{exc.key}" if exc.key else key, exc.message) from None
    return name, wiring, key


def _sections(file: str, instruments: Mapping[str, Any], where: Mapping[str, str],
              handlers: Mapping[str, SectionHandler]) -> tuple[dict[str, Any], dict[str, str]]:
    """Each section instrument's parsed ``init:`` by section name, and its instrument's name."""
    parsed, names = {}, {}
    for section, handler in handlers.items():
        name = _one_of(file, [n for n, spec in instruments.items()
                              if spec["type"] == handler.instrument_type], handler.instrument_type)
        if name is None:
            continue
        key = where.get(name, f"instruments.{name}.init")
        if name in where:  # an old section, already parsed under its own keys
            parsed[section] = handler.parse(instruments[name]["init"])
        else:
            parsed[section] = _parse_section(file, key, handler, _init_of(file, name, instruments[name], key))
        names[section] = name
    return parsed, names


def _check_channels(file: str, wiring_key: str, arms: Mapping[str, ArmWiring],
                    extensions: Mapping[str, Any], names: Mapping[str, str],
                    handlers: Mapping[str, SectionHandler]) -> None:
    for section, parsed in extensions.items():
        channels = handlers[section].channels(parsed)
        if channels is None:
            continue
        for arm_name, arm in arms.items():
            for ch in arm.channels:
                if ch not in channels:
                    raise StationError(file, f"{wiring_key}.{arm_name}.channels",
                                       f"channel {ch} has no detector in {names[section]} "
                                       f"(detectors on {', '.join(map(str, channels))})")


def _check_addresses(file: str, instruments: Mapping[str, Any], extensions: Mapping[str, Any],
                     handlers: Mapping[str, SectionHandler]) -> None:
    """Addresses of a scheme a section serves (``sim://``) need that section, and fit it."""
    for section, handler in handlers.items():
        for name, spec in instruments.items():
            address = spec.get("address")
            if not (isinstance(address, str) and address.startswith(handler.address_schemes)):
                continue
            key = f"instruments.{name}.address"
            if section not in extensions:
                raise StationError(file, key, f"a {address.partition('//')[0]}// address needs "
                                   f"an instrument of type {handler.instrument_type} describing "
                                   "the bench")
            try:
                handler.check_address(address, extensions[section])
            except ValueError as exc:
                raise StationError(file, key, section_error(exc).message) from None


# libyaml's safe loader where PyYAML was built with it: the same documents,
# twenty times faster than the pure-Python one
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_station(text: str, file: str = "<station>") -> StationConfig:
    """Check a station file's text; see :func:`load_station_config`."""
    try:
        data = yaml.load(text, Loader=_SAFE_LOADER)  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        raise StationError(file, "", f"not valid YAML: {exc}") from None
    top = _need_mapping(data, file, "(top level)")
    handlers = section_registry().handlers()
    old = [WIRING_SECTION, *handlers]
    unknown = set(top) - {"instruments", *old}
    if unknown:
        raise StationError(file, sorted(map(str, unknown))[0], "unknown section (expected "
                           "instruments; the older layout also had " + ", ".join(old) + ")")
    if "instruments" not in top:
        raise StationError(file, "instruments", "missing: the QCoDeS instruments of the station")
    instruments = dict(_need_mapping(top["instruments"], file, "instruments"))
    where = _old_sections(file, top, instruments, handlers)
    checked = {name: _check_type(file, name, _need_mapping(spec, file, f"instruments.{name}"))
               for name, spec in instruments.items()}
    instruments = {name: spec for name, (spec, _) in checked.items()}
    classes = {name: cls for name, (_, cls) in checked.items()}
    wiring_name, wiring, wiring_key = _wiring(file, instruments, classes, where)
    extensions, section_names = _sections(file, instruments, where, handlers)
    _check_channels(file, wiring_key, wiring.arms, extensions, section_names, handlers)
    _check_addresses(file, instruments, extensions, handlers)
    return StationConfig(file, instruments, wiring.arms, wiring.window_ps, wiring.home_on_start,
                         wiring.source, extensions, text, wiring_name, section_names)


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
def open_station(config: StationConfig, seed: int | None = None,
                 snapshot: bool = True) -> Iterator[LoadedStation]:
    """Open every instrument of ``config`` and build the QNICs.

    The section instruments come first (on a simulated bench the bench,
    re-seeded with ``seed`` if given, registered for its ``sim://``
    addresses; its virtual clock is the station's clock), then the others
    in the file's order. Instruments are closed (and the bench unregistered)
    on exit, whatever happened.

    Args:
        config: the checked station file.
        seed: the simulated bench's seed (None: the file's).
        snapshot: let QCoDeS read every parameter as it adds an instrument
            (its snapshot, the first device traffic); False leaves that to the
            caller (``station.snapshot(update=True)``), which can first ask
            the devices who they are and fail in one line if one is silent.
    """
    handlers = section_registry().handlers()
    with ExitStack() as opened:
        station = opened.enter_context(_instruments(config, seed, snapshot))
        bench = None
        clock: Clock = RealClock()
        for section, name in config.section_instruments.items():
            live = handlers[section].live(station.components[name])
            if section == "sim":
                bench, clock = live, live.clock
        wiring = station.components[config.wiring_instrument]
        assert isinstance(wiring, QNICWiring)  # parse_station found it by its class
        qnics = wiring.build_qnics(lambda name: station.components[name])
        loaded = LoadedStation(config, station, qnics, clock, bench)
        wiring.follow_window(lambda: loaded.window_ps)
        yield loaded


_BUILD_ERRORS = (TypeError, ValueError, KeyError, RuntimeError, AttributeError)
"""What a driver or QCoDeS raises for arguments or parameters it cannot take."""


@contextmanager
def _instruments(config: StationConfig, seed: int | None, snapshot: bool = True) -> Iterator[Station]:
    """A QCoDeS station with every instrument of ``config`` loaded; all closed on exit.

    Settings of parameters below an instrument (``ch1.trigger_level_v``, the
    inputs a tagger makes on first use) are applied after it is built
    (:func:`_apply_deferred`); QCoDeS itself applies the others.
    """
    entries = {name: dict(spec) for name, spec in config.instruments.items()}
    deferred = {name: _split_parameters(spec) for name, spec in entries.items()}
    station = Station()
    station.load_config(yaml.safe_dump({"instruments": entries}))
    sections = list(config.section_instruments.values())
    order = sections + [n for n in entries if n not in sections]
    try:
        for name in order:
            overrides: dict[str, Any] = {"seed": seed} if name in sections and seed is not None else {}
            try:
                instrument = station.load_instrument(name, update_snapshot=snapshot, **overrides)
            except _BUILD_ERRORS as exc:
                raise StationError(config.path, f"instruments.{name}",
                                   f"cannot build the instrument: {_describe(exc)}") from exc
            _apply_deferred(config.path, name, instrument, deferred[name])
        yield station
    finally:
        for name in list(station.components):
            component = station.components[name]
            if isinstance(component, Instrument):
                component.close()


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if isinstance(exc, AttributeError | RuntimeError) else str(exc)


def _split_parameters(spec: dict[str, Any]) -> dict[str, Any]:
    """Take the ``parameters:`` entries below a submodule (dotted) out of ``spec``; return them."""
    params = spec.get("parameters")
    if not isinstance(params, Mapping):
        return {}
    later = {k: v for k, v in params.items() if "." in str(k)}
    spec["parameters"] = {k: v for k, v in params.items() if k not in later}
    return later


def _apply_deferred(file: str, name: str, instrument: Any, settings: Mapping[str, Any]) -> None:
    """QCoDeS ``parameters:`` settings of submodules, after the instrument made its inputs.

    A time tagger makes its inputs (``ch1``, ...) when first asked for them
    (``input_channels``); the station asks, once, when a setting needs one.
    """
    from qcodes.station import PARAMETER_ATTRIBUTES
    from qcodes.validators import Numbers

    for path, options in settings.items():
        key = f"instruments.{name}.parameters.{path}"
        *parts, last = str(path).split(".")
        target = instrument
        try:
            if parts[0] not in instrument.submodules and hasattr(type(instrument), "input_channels"):
                instrument.input_channels  # noqa: B018 - a tagger makes its inputs here
            for part in parts:
                target = target.submodules[part]
            parameter = target.parameters[last]
        except KeyError:
            raise StationError(file, key, f"no such parameter on {name} (it has submodules "
                               f"{', '.join(sorted(instrument.submodules)) or 'none'})") from None
        options = _need_mapping(options, file, key)
        try:
            for attr, value in options.items():
                if attr in PARAMETER_ATTRIBUTES:
                    setattr(parameter, attr, value)
                elif attr == "limits":
                    parameter.vals = Numbers(*value)
                elif attr == "alias":
                    setattr(target, value, parameter)
                elif attr != "initial_value":
                    raise StationError(file, f"{key}.{attr}", "not supported below an instrument "
                                       f"(supported: {', '.join(PARAMETER_ATTRIBUTES)}, limits, "
                                       "alias, initial_value)")
            if "initial_value" in options:
                parameter.set(options["initial_value"])
        except (TypeError, ValueError) as exc:
            if isinstance(exc, StationError):
                raise
            raise StationError(file, key, f"cannot set it: {exc}") from exc
