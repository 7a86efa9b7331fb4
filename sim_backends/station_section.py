"""The ``sim`` section of a station file: the simulated bench.

The section is the ``init:`` of an instrument of type
:class:`qnic.sim.bench_instrument.SimulatedBench` (or, in old files, a
top-level ``sim:``). Declared to the station loader as the entry point
``sim`` of the group ``qnic.station_sections`` (pyproject.toml), so the core
finds the bench through its section registry and never imports this
package, while this package, beneath the core, imports nothing of it
either: the handler meets :class:`qnic.sections.SectionHandler` by its
shape and reports bad values as :class:`~qnic.sim.params.ParamError`
(``key``, ``message``), as that protocol asks (docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from qnic.sim.bench import Bench
from qnic.sim.bench_instrument import NAME_KEY, SimulatedBench, params_from_init
from qnic.sim.params import BenchParams, ParamError
from qnic.sim.serial_url.protocol_sim import parse_url

_ARMS = ("A", "B", "-")


class SimSection:
    """Handler of ``sim:``: bench parameters, ``sim://`` addresses, the live bench."""

    address_schemes = ("sim://",)
    instrument_type = f"{SimulatedBench.__module__}.{SimulatedBench.__qualname__}"

    def parse(self, raw: Any) -> BenchParams:
        """The bench parameters (docs/station.md); a bad value names its key."""
        return params_from_init(raw)

    def channels(self, parsed: BenchParams) -> tuple[int, ...]:
        """The tagger channels that have a simulated detector."""
        return parsed.channels

    def check_address(self, address: str, parsed: BenchParams) -> None:
        """A ``sim://`` address must name this bench and one of its arms."""
        try:
            _, options = parse_url(address)
        except Exception as exc:
            raise ParamError("", f"not a valid sim:// address: {exc}") from None
        bench = options.get("bench", "default")
        if bench != parsed.name:
            raise ParamError("", f"names bench {bench!r}, but the simulated bench is {parsed.name!r}")
        arms = [options["arm"]] if "arm" in options else [
            p.partition(":")[2] for p in options.get("devices", "").split(",") if p]
        for arm in arms:
            if arm not in _ARMS:
                raise ParamError("", f"arm {arm!r} is not an arm of the bench (A or B)")

    def section_to_init(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        """An old top-level ``sim:`` as the instrument's ``init:`` (``name`` becomes ``bench``)."""
        return {(NAME_KEY if k == "name" else k): v for k, v in raw.items()}

    def live(self, instrument: SimulatedBench) -> Bench:
        """The bench the instrument built and registered."""
        return instrument.bench
