"""The demo's shared types: its options, request trace and record.

Beneath both :mod:`qnic.experiments.demo` (which runs the rounds and fills a
:class:`DemoRecord`) and :mod:`qnic.experiments.demo_view` (which analyses
and shows it), so that neither imports the other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from qnic.balancing import PairStrategy, ServiceTime, always_separate, dedicated_c
from qnic.balancing.memory import QuantumMemory
from qnic.balancing.sources import MeasuredCHSH

QUANTUM = "quantum"

CLASSICAL: dict[str, Callable[[], PairStrategy]] = {"dedicated-c": dedicated_c,
                                                    "separate": always_separate}
"""The classical shared-randomness strategies the demo can run beside the quantum one."""
_WORKLOAD, _SERVERS, _SERVICE, _STORAGE, _MEMORY_A, _MEMORY_B = range(6)
"""Seed streams of the demo's random draws (workload, server pairs, service, storage, memories)."""


class DemoError(ValueError):
    """A demo cannot run as asked (bad trace, options, or a bench without pairs)."""


@dataclass(frozen=True)
class Trace:
    """The requests of every round.

    Attributes:
        x: A's question per round (1 = type C, 0 = type E), int8 (P,).
        y: B's question per round, int8 (P,).
        source: the trace file, or "seed N".
    """

    x: NDArray[np.int8]
    y: NDArray[np.int8]
    source: str

    @property
    def rounds(self) -> int:
        """P, the number of rounds."""
        return int(self.x.size)

    def head(self, rounds: int) -> Trace:
        """The first ``rounds`` rounds."""
        return Trace(self.x[:rounds], self.y[:rounds], self.source)


def draw_trace(rounds: int, seed: int) -> Trace:
    """Uniform independent request types for both balancers (seeded)."""
    rng = np.random.default_rng([seed, _WORKLOAD])
    q = rng.integers(0, 2, (2, rounds), dtype=np.int8)
    return Trace(q[0], q[1], f"seed {seed}")


@dataclass(frozen=True, eq=False)
class DemoConfig:
    """What the demo runs.

    Attributes:
        seed: seeds server pairs, service order and memory noise.
        servers: M servers; each round the pair of balancers shares two of them.
        service: service time of a job.
        classical: classical strategies run beside the quantum one.
        block_rounds: rounds per block (one visit per setting per block).
        max_batch_s: longest acquisition batch (s).
        rtt_s: classical round-trip time between the balancers (s).
        memory: QNIC memories (None: pairs used as heralded).
        chsh: a CHSH result whose S gives the predicted rate (instead of the bench's).
        sweep_storage_s: storage times (s) at which to report the win rate afterwards,
            on the same heralded pairs.
        sweep_coherence_s: the memories' coherence time T2 (s) for that sweep.
    """

    seed: int = 0
    servers: int = 2
    service: ServiceTime = field(default_factory=ServiceTime)
    classical: tuple[str, ...] = tuple(CLASSICAL)
    block_rounds: int = 250
    max_batch_s: float = 0.02
    rtt_s: float = 50e-6
    memory: QuantumMemory | None = None
    chsh: MeasuredCHSH | None = None
    sweep_storage_s: tuple[float, ...] = ()
    sweep_coherence_s: float | None = None

    def validate(self) -> DemoConfig:
        """Check everything before any work.

        Raises:
            DemoError: naming the bad value.
        """
        unknown = [c for c in self.classical if c not in CLASSICAL]
        if unknown or len(set(self.classical)) != len(self.classical):
            raise DemoError(f"classical strategies must be distinct names among "
                            f"{', '.join(CLASSICAL)}; got {', '.join(self.classical)}")
        if self.servers < 2:
            raise DemoError(f"a pair of balancers needs at least two servers, got {self.servers}")
        if self.block_rounds < 1 or not self.max_batch_s > 0 or not self.rtt_s >= 0:
            raise DemoError("block rounds, batch length and round-trip time must be positive")
        if self.sweep_storage_s and not (self.sweep_coherence_s or 0) > 0:
            raise DemoError("a storage-time sweep needs a positive coherence time")
        if any(not t >= 0 for t in self.sweep_storage_s):
            raise DemoError("storage times must be >= 0")
        return self


@dataclass(eq=False)
class StrategyTrack:
    """Per-round record of one strategy.

    Attributes:
        wins: round won, bool (P,).
        decision_ns: wall time of each side's decision (A, B) in ns, int64 (P, 2).
        queue_total: requests waiting or in service over all servers after
            each round, float64 (P,).
        final_queue: requests per server after the last round, int64 (M,).
    """

    wins: NDArray[np.bool_]
    decision_ns: NDArray[np.int64]
    queue_total: NDArray[np.float64]
    final_queue: NDArray[np.int64]

    @classmethod
    def empty(cls, rounds: int, servers: int) -> StrategyTrack:
        """Zeroed arrays for ``rounds`` rounds and ``servers`` servers."""
        return cls(np.zeros(rounds, np.bool_), np.zeros((rounds, 2), np.int64), np.zeros(rounds),
                   np.zeros(servers, np.int64))

    def head(self, rounds: int) -> StrategyTrack:
        """The first ``rounds`` rounds."""
        return StrategyTrack(self.wins[:rounds], self.decision_ns[:rounds],
                             self.queue_total[:rounds], self.final_queue.copy())


@dataclass(frozen=True, eq=False)
class DemoRecord:
    """What a demo measured (rounds done so far); analysed by :mod:`qnic.experiments.demo_view`.

    Attributes:
        config: the options.
        trace: the requests of the rounds done.
        tracks: per strategy, its per-round record.
        raw_a, raw_b: outcome bits of the heralded pair each round used
            (before any memory), int8 (P,).
        herald_wait_s: time from the previous heralded pair of the setting
            (or the end of the move) to the pair each round used, bench time, (P,).
        storage_s: storage time of each round's pair in the memories (0 without), (P,).
        correlations: predicted E(x, y) of the heralded pairs, (2, 2), or None.
        correlations_source: where the prediction comes from.
        moves, moving_s, acquiring_s: basis changes and the bench time they
            and the acquisitions took (station clock).
        live_s: tagger live time; heralded: pairs heralded in it.
        wall_s: wall time of the rounds so far.
        simulated: the station is a simulated bench.
    """

    config: DemoConfig
    trace: Trace
    tracks: dict[str, StrategyTrack]
    raw_a: NDArray[np.int8]
    raw_b: NDArray[np.int8]
    herald_wait_s: NDArray[np.float64]
    storage_s: NDArray[np.float64]
    correlations: NDArray[np.float64] | None
    correlations_source: str
    moves: int
    moving_s: float
    acquiring_s: float
    live_s: float
    heralded: int
    wall_s: float
    simulated: bool

    @property
    def rounds(self) -> int:
        """Rounds done."""
        return self.trace.rounds


__all__ = ["CLASSICAL", "QUANTUM", "DemoConfig", "DemoError", "DemoRecord", "StrategyTrack", "Trace",
           "draw_trace"]
