"""Heralded g2(0) (docs/commands.md ``qnic g2``; docs/coincidences.md section 7).

One detector of arm A heralds; arm B's two outcome detectors are the Hanbury
Brown-Twiss pair. Arm A analyses H/V and arm B the diagonal basis, so a
heralded photon (H or V) meets arm B's beam splitter as a 50/50 splitter.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qnic.coincidence.herald import HeraldedG2, HeraldedG2Counter
from qnic.node import set_bases_together
from qnic.station import LoadedStation
from qnic.storage import Quantity, RunRecorder

HERALD_BASIS_DEG = 0.0
HBT_BASIS_DEG = 45.0

SETPOINTS = (Quantity("herald_channel", "Tagger channel of the herald"),)
VALUES = (
    Quantity("g2", "Heralded g2(0)"),
    Quantity("g2_err", "Heralded g2(0), standard error"),
    Quantity("heralds", "Herald clicks", "counts"),
    Quantity("herald_1", "Heralds with HBT detector 1", "counts"),
    Quantity("herald_2", "Heralds with HBT detector 2", "counts"),
    Quantity("triples", "Heralds with both HBT detectors", "counts"),
    Quantity("live_s", "Live acquisition time", "s"),
)


@dataclass
class G2Run:
    """What ``qnic g2`` measured."""

    herald_channel: int
    hbt_channels: tuple[int, int]
    window_ps: int
    live_s: float
    result: HeraldedG2

    def to_json(self) -> dict[str, Any]:
        return {"herald_channel": self.herald_channel, "hbt_channels": list(self.hbt_channels),
                "window_ps": self.window_ps, "live_s": self.live_s, **self.result._asdict()}

    def row(self) -> dict[str, float]:
        return {"herald_channel": self.herald_channel, "live_s": self.live_s,
                **{k: float(v) for k, v in self.result._asdict().items()}}


def measure_g2(st: LoadedStation, seconds: float, window_ps: int, herald_outcome: int = 0) -> G2Run:
    """Set the bases, acquire ``seconds`` and count heralds, doubles and triples."""
    a, b = st.qnics["A"], st.qnics["B"]
    set_bases_together([(a, HERALD_BASIS_DEG), (b, HBT_BASIS_DEG)])
    herald = a.channels[herald_outcome]
    counter = HeraldedG2Counter(herald, b.channels, window_ps, {**a.channel_delays, **b.channel_delays})
    live = 0.0
    for batch in a.tagger.stream(seconds, 0.1):
        counter.push(batch.timestamps, batch.channels, until_ps=batch.stop_ps)
        live += batch.duration_s - batch.lost_s
    return G2Run(herald, tuple(b.channels), window_ps, live, counter.finish())  # type: ignore[arg-type]


def g2_recorder(st: LoadedStation) -> RunRecorder:
    """The recorder of a g2 run: one row (docs/storage.md)."""
    return RunRecorder("g2", Path(st.config.path).stem, st.station, SETPOINTS, VALUES)


__all__ = ["G2Run", "g2_recorder", "measure_g2"]
