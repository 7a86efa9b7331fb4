"""The simulated bench as a QCoDeS instrument of the station (docs/station.md).

A station file keeps everything under ``instruments:``, the one section
QCoDeS's station schema allows; the simulated bench's physics is the
``init:`` of an instrument of type :class:`SimulatedBench`, with the keys
of docs/physics.md (``bench`` names it, as the ``sim://`` addresses'
``bench=`` and the simulated instruments' ``bench`` do)::

    sim:
      type: qnic.sim.bench_instrument.SimulatedBench
      init:
        bench: default
        seed: 2025
        state: {bell: phi+, visibility: 0.96, coherence: 0.95}

Building it builds the bench and registers it under its name, so the
``sim://`` ports and the simulated tagger and source find it; closing it
unregisters it. Load it before the instruments that use it (the station
loader of qnic does; with ``qcodes.Station`` alone, load it first).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from qcodes.instrument import Instrument
from qcodes.validators import Ints, Numbers

from qnic.sim.bench import Bench
from qnic.sim.params import BenchParams, ParamError, bench_params
from qnic.sim.registry import registry

NAME_KEY = "bench"
"""The init key naming the bench (a station's old top-level ``sim:`` said ``name``;
QCoDeS takes an init ``name`` as the instrument's own name)."""


def params_from_init(init: Mapping[str, Any]) -> BenchParams:
    """Bench parameters from the keys of the ``init:`` (or an old ``sim:`` section).

    Raises:
        ParamError: a bad key or value, named by its dotted key.
    """
    if not isinstance(init, Mapping):
        raise ParamError("", f"expected a mapping, got {type(init).__name__}")
    section = dict(init)
    if NAME_KEY in section:
        if "name" in section:
            raise ParamError(NAME_KEY, "give the bench's name once, as bench: (not also name:)")
        section["name"] = section.pop(NAME_KEY)
    try:
        return bench_params(section)
    except ParamError as exc:
        if exc.key == "name" and NAME_KEY in init:
            raise ParamError(NAME_KEY, exc.message) from None
        raise


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    for kind in (bool, int, float, str):  # ruamel's scalars (ScalarFloat, ...) as plain ones
        if isinstance(value, kind):
            return kind(value)
    return None if value is None else str(value)


class SimulatedBench(Instrument):
    """The simulated bench: its physics (docs/physics.md), registered by name.

    Args:
        name: instrument name (``sim`` in the embedded station).
        bench: the bench's name, which ``sim://`` addresses and the simulated
            instruments' ``bench`` refer to (``default``).
        **physics: ``seed``, ``pair_rate_hz``, ``state``, ``A``, ``B``,
            ``tagger`` as in docs/station.md (``sim:`` keys).

    Raises:
        ParamError: a bad key or value (a ``ValueError`` with ``key``).
    """

    def __init__(self, name: str, bench: str = "default", **physics: Any) -> None:
        qcodes_keys = {k: physics.pop(k) for k in ("metadata", "label") if k in physics}
        self.params = params_from_init({NAME_KEY: bench, **physics})
        super().__init__(name, **qcodes_keys)
        self.bench = Bench(self.params)
        self.metadata["sim"] = _plain({NAME_KEY: bench, **physics})
        registry().add(self.bench)
        self.add_parameter("seed", label="Seed of the bench", unit="", vals=Ints(0),
                           get_cmd=lambda: self.params.seed, set_cmd=False,
                           docstring="Get the seed of the bench's random generator (int, >= 0).")
        self.add_parameter("pair_rate_hz", label="Pair emission rate", unit="Hz",
                           vals=Numbers(0, 1e9), get_cmd=lambda: self.params.pair_rate_hz,
                           set_cmd=False,
                           docstring="Get the rate of pair emission in Hz (float, 0 to 1e9).")
        self.add_parameter("time_s", label="Bench time", unit="s", vals=Numbers(0),
                           get_cmd=lambda: self.bench.clock.now(), set_cmd=False,
                           docstring="Get the bench's virtual time in s (float, >= 0).")

    @property
    def clock(self) -> Any:
        """The bench's virtual clock (the station's clock)."""
        return self.bench.clock

    def snapshot_base(self, update: bool | None = False,
                      params_to_skip_update: Sequence[str] | None = None) -> dict[Any, Any]:
        """Always read afresh: the values are in memory (the bench time moves on)."""
        return super().snapshot_base(update=True, params_to_skip_update=params_to_skip_update)

    def get_idn(self) -> dict[str, str | None]:
        return {"vendor": "qnic-bench", "model": "SimulatedBench", "serial": self.params.name,
                "firmware": None}

    def close(self) -> None:
        benches = registry()
        if self.params.name in benches.names() and benches.get(self.params.name) is self.bench:
            benches.remove(self.params.name)
        super().close()
