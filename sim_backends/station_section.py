"""The ``sim:`` section of a station file: the simulated bench.

Declared to the station loader as the entry point ``sim`` of the group
``qnic.station_sections`` (pyproject.toml), so the core finds the bench
through its section registry and never imports this package, while this
package, beneath the core, imports nothing of it either: the handler meets
:class:`qnic.sections.SectionHandler` by its shape and reports bad values
as :class:`~qnic.sim.params.ParamError` (``key``, ``message``), as that
protocol asks (docs/architecture.md).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from qnic.sim import register_serial_scheme
from qnic.sim.bench import Bench
from qnic.sim.params import BenchParams, ParamError, bench_params
from qnic.sim.registry import registry
from qnic.sim.serial_url.protocol_sim import parse_url

_ARMS = ("A", "B", "-")


class SimSection:
    """Handler of ``sim:``: bench parameters, ``sim://`` addresses, the live bench."""

    address_schemes = ("sim://",)

    def parse(self, raw: Any) -> BenchParams:
        """The bench parameters (docs/station.md); a bad value names its key."""
        return bench_params(raw)

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
            raise ParamError("", f"names bench {bench!r}, but sim.name is {parsed.name!r}")
        arms = [options["arm"]] if "arm" in options else [
            p.partition(":")[2] for p in options.get("devices", "").split(",") if p]
        for arm in arms:
            if arm not in _ARMS:
                raise ParamError("", f"arm {arm!r} is not an arm of the bench (A or B)")

    @contextmanager
    def open(self, parsed: BenchParams, seed: int | None) -> Iterator[Bench]:
        """Build the bench and register it for its ``sim://`` addresses meanwhile."""
        register_serial_scheme()
        params = parsed if seed is None else dataclasses.replace(parsed, seed=seed)
        bench = Bench(params)
        benches = registry()
        benches.add(bench)
        try:
            yield bench
        finally:
            benches.remove(bench.name)
