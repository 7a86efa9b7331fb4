"""Station-file sections handled outside the core (docs/architecture.md).

The station loader reads the QNIC wiring itself. A section of a layer the
core does not import (``sim``, the simulated bench) is the ``init:`` of an
instrument of that layer; the layer declares a handler in the entry-point
group :data:`ENTRY_POINT_GROUP` of its package metadata, which names that
instrument's type and checks the section, and the loader finds it here by
the section's name. The arrow of the imports so points down only, while the
station file stays one file that QCoDeS reads as it is.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterator, Mapping
from importlib.metadata import entry_points
from typing import Any, Protocol, runtime_checkable

from qnic.instruments.clock import Clock

ENTRY_POINT_GROUP = "qnic.station_sections"
"""Entry points ``name = module:factory``; ``factory()`` returns a :class:`SectionHandler`."""


class SectionError(ValueError):
    """A bad value inside a handled section: ``key`` is its path below the section.

    Handlers live in layers that do not import the core, so they may raise
    any ``ValueError`` with the attributes ``key`` and ``message`` (or
    neither: then the key is the section and the message the error's text);
    :func:`section_error` reads either kind.
    """

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        self.message = message
        super().__init__(f"{key}: {message}" if key else message)


def section_error(exc: ValueError) -> SectionError:
    """A handler's error as a :class:`SectionError`."""
    if isinstance(exc, SectionError):
        return exc
    key, message = getattr(exc, "key", ""), getattr(exc, "message", None)
    return SectionError(key if isinstance(key, str) else "",
                        message if isinstance(message, str) else str(exc))


@runtime_checkable
class OpenedSection(Protocol):
    """What a handler's ``open`` yields: the thing the section describes (a bench)."""

    @property
    def clock(self) -> Clock:
        """The clock the station's waits go through."""
        ...


class SectionHandler(Protocol):
    """Checks an instrument that carries a section of the station and finds what it opened.

    The section lives in ``instruments:`` as the ``init:`` of an instrument
    of type :attr:`instrument_type` (a station file's old top-level section of
    the handler's name is read too, with a warning). The station loader
    loads that instrument before the others, passing ``seed=`` when the
    station is opened with a seed.
    """

    address_schemes: tuple[str, ...]
    """Instrument address prefixes (``"sim://"``) that need this section."""

    instrument_type: str
    """Class path of the QCoDeS Instrument whose ``init:`` is the section."""

    def parse(self, raw: Any) -> Any:
        """Check the section's raw YAML value (the instrument's ``init:``) and return its parsed form.

        Raises:
            ValueError: with ``key`` (below the section) and ``message``.
        """
        ...

    def channels(self, parsed: Any) -> Collection[int] | None:
        """The tagger channels the section provides detectors on (None: any)."""
        ...

    def check_address(self, address: str, parsed: Any) -> None:
        """Check an instrument address with one of :attr:`address_schemes`.

        Raises:
            ValueError: with ``message`` saying what is wrong with it.
        """
        ...

    def section_to_init(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        """An old top-level section as the ``init:`` of :attr:`instrument_type`."""
        ...

    def live(self, instrument: Any) -> OpenedSection:
        """What the loaded instrument brought to life (the bench, with its clock)."""
        ...


class SectionRegistry:
    """Section handlers by name: those declared as entry points, plus any added here."""

    def __init__(self) -> None:
        self._handlers: dict[str, SectionHandler] = {}
        self._loaded = False
        self._lock = threading.Lock()

    def _load_entry_points(self) -> None:
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            self._handlers.setdefault(ep.name, ep.load()())
        self._loaded = True

    def add(self, name: str, handler: SectionHandler) -> None:
        """Handle section ``name`` with ``handler`` (replacing a declared one)."""
        with self._lock:
            if not self._loaded:
                self._load_entry_points()
            self._handlers[name] = handler

    def handlers(self) -> Mapping[str, SectionHandler]:
        """Every known handler by section name."""
        with self._lock:
            if not self._loaded:
                self._load_entry_points()
            return dict(self._handlers)

    def __iter__(self) -> Iterator[str]:
        return iter(self.handlers())


_SECTIONS = SectionRegistry()


def section_registry() -> SectionRegistry:
    """The registry the station loader consults."""
    return _SECTIONS
