"""Routing strategies of the load-balancing study, behind one interface.

Every router turns a block of requests (B steps x N balancers) into servers.
Balancers 2k and 2k + 1 form pair k for the pairwise strategies; a pair gets a
fresh pair of distinct servers (u, v) each step from randomness the two share
(a common seed), and then each side decides alone through the decision layer
(:mod:`qnic.balancing.decisions`).

Strategies (exactly what each does):

- ``random``: each request goes to a server drawn uniformly and independently.
- ``round-robin``: balancer i sends its t-th request to server (o_i + t) mod M,
  o_i drawn uniformly once per run and independently per balancer.
- ``power-of-two``: each request draws two distinct servers and goes to the one
  with fewer requests at the start of the step (ties: the first). It reads
  queue lengths, so it communicates: the reference for what communication buys.
- ``separate`` (classical, shared randomness): A -> u, B -> v, whatever the
  types; the pair never shares a server (loses the game only when both are C).
- ``dedicated-c`` (classical, shared randomness): the shared seed makes u the
  pair's C server and v its E server this step; C -> u, E -> v (loses only
  when both are E, which then share v).
- ``quantum-ideal``: CHSH on heralded pairs with ideal statistics.
- ``quantum-visibility``: CHSH with the correlators scaled by a visibility V.
- ``quantum-measured``: CHSH with the joint outcome frequencies of a CHSH run.
- ``quantum-xor``: the XOR-game solver's strategy for the game with K type-C
  subtypes (:mod:`qnic.balancing.subtypes`; CHSH's value for K = 1), each
  side's question its request's class (E, or C of subtype j).
- ``hash-subtype`` (classical, shared randomness; what a systems engineer
  tries first): the shared seed hashes each subtype to a server w_j of all M
  for this step; C of subtype j -> w_j on both sides, E of A -> u, E of B -> v.
  It does not keep to the pair's two servers, as the game does.

``quantum-xor`` and ``hash-subtype`` run in the compiled point kernel only
(:func:`qnic.balancing.simulate.simulate_point`); :func:`make_router` builds
the others for the step-block engine.

The pairwise strategies draw from one random stream, so in one run they see
the same server pairs (and the quantum ones the same uniform draws for their
outcomes): they differ only by their decisions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from qnic.balancing.decisions import (
    PairStrategy,
    always_separate,
    dedicated_c,
    quantum_chsh,
)
from qnic.balancing.game import chsh_strategy
from qnic.balancing.sources import OutcomeTable, visibility_table

_PAIR_STREAM = 4


class StrategyError(ValueError):
    """An unknown strategy, or one its options or the balancers cannot support."""


@dataclass(frozen=True)
class StrategyInfo:
    """What the study knows about a strategy before running it.

    Attributes:
        name: registry name.
        description: one line for reports.
        pairwise: balancers 2k and 2k + 1 act as a pair (N must be even).
        communicates: reads the servers' state before deciding.
        needs: the option it requires ("visibility" or "chsh"), if any.
        stream: id of its random stream (shared ids share draws).
    """

    name: str
    description: str
    pairwise: bool = False
    communicates: bool = False
    needs: str | None = None
    stream: int = _PAIR_STREAM

    @property
    def quantum(self) -> bool:
        """Consumes heralded pairs."""
        return self.name.startswith("quantum")


STRATEGIES: dict[str, StrategyInfo] = {s.name: s for s in (
    StrategyInfo("random", "uniform random server per request", stream=1),
    StrategyInfo("round-robin", "per balancer (o_i + t) mod M, o_i uniform per balancer",
                 stream=2),
    StrategyInfo("power-of-two", "shorter queue of two random servers (communicates)",
                 communicates=True, stream=3),
    StrategyInfo("separate", "pair: A -> u, B -> v always (classical, shared randomness)",
                 pairwise=True),
    StrategyInfo("dedicated-c", "pair: C -> u, E -> v, u the shared C server (classical)",
                 pairwise=True),
    StrategyInfo("quantum-ideal", "pair: CHSH, ideal statistics", pairwise=True),
    StrategyInfo("quantum-visibility", "pair: CHSH at visibility V", pairwise=True,
                 needs="visibility"),
    StrategyInfo("quantum-measured", "pair: CHSH with the statistics of a CHSH run",
                 pairwise=True, needs="chsh"),
    StrategyInfo("quantum-xor", "pair: the XOR-game solver's strategy for the K-subtype "
                 "game, ideal statistics", pairwise=True),
    StrategyInfo("hash-subtype", "pair: C of subtype j -> the pair's shared hash server "
                 "w_j (any of the M), E: A -> u, B -> v (classical)", pairwise=True),
)}
DEFAULT_STRATEGIES: tuple[str, ...] = ("random", "round-robin", "power-of-two", "separate",
                                       "dedicated-c", "hash-subtype", "quantum-ideal",
                                       "quantum-xor")


@dataclass(frozen=True, eq=False)
class StrategyOptions:
    """Inputs some strategies need.

    Attributes:
        visibility: V for ``quantum-visibility`` (within [0, 1]).
        measured: the measured table for ``quantum-measured``, shape (2, 2, 2, 2).
    """

    visibility: float | None = None
    measured: OutcomeTable | None = None


def validate_strategies(names: tuple[str, ...], balancers: int,
                        options: StrategyOptions) -> None:
    """Check names, options and the balancer count before any work starts.

    Raises:
        StrategyError: unknown or repeated name, a missing option, or an odd
            number of balancers for a pairwise strategy.
    """
    if not names:
        raise StrategyError("no strategies given")
    unknown = [n for n in names if n not in STRATEGIES]
    if unknown:
        raise StrategyError(f"unknown strategies {', '.join(unknown)}; "
                            f"known: {', '.join(STRATEGIES)}")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise StrategyError(f"strategies given twice: {', '.join(repeated)}")
    pairwise = [n for n in names if STRATEGIES[n].pairwise]
    if pairwise and balancers % 2:
        raise StrategyError(f"{', '.join(pairwise)} pair balancers 2k and 2k+1: the number "
                            f"of balancers must be even, got {balancers}")
    for n in names:
        if STRATEGIES[n].needs == "visibility" and options.visibility is None:
            raise StrategyError(f"{n} needs a visibility (--visibility V)")
        if STRATEGIES[n].needs == "chsh" and options.measured is None:
            raise StrategyError(f"{n} needs the statistics of a CHSH run (--chsh-json FILE)")
    if options.visibility is not None and not 0.0 <= options.visibility <= 1.0:
        raise StrategyError(f"visibility must lie within [0, 1], got {options.visibility}")


def pair_strategy(name: str, options: StrategyOptions) -> PairStrategy:
    """The decision-layer strategy behind a pairwise name."""
    if name == "separate":
        return always_separate()
    if name == "dedicated-c":
        return dedicated_c()
    if name == "quantum-ideal":
        return quantum_chsh(name=name)
    if name == "quantum-visibility" and options.visibility is not None:
        return quantum_chsh(visibility_table(chsh_strategy(), options.visibility), name=name)
    if name == "quantum-measured" and options.measured is not None:
        return quantum_chsh(options.measured, name=name)
    raise StrategyError(f"{name} is not a pairwise strategy, or its option is missing")


@dataclass(frozen=True, eq=False)
class Routes:
    """Where a block of requests goes.

    Attributes:
        servers: int64 (B, N): each request's server (first candidate for
            the power of two choices).
        second: int64 (B, N): second candidates, or None.
    """

    servers: NDArray[np.int64]
    second: NDArray[np.int64] | None = None


class Router(Protocol):
    """Routes a block of requests; ``t0`` is the index of the block's first step."""

    def route(self, t0: int, req_class: NDArray[np.int16]) -> Routes:
        """Servers for a block of requests.

        Args:
            t0: index of the block's first step.
            req_class: int16 (B, N): 0 for type E, 1 + s for type C of subtype s.

        Returns:
            The block's routes, int64 (B, N) server indices in [0, M).
        """
        ...


def _distinct_pair(rng: np.random.Generator, servers: int,
                   shape: tuple[int, ...]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Two distinct servers drawn uniformly, arrays of ``shape`` each."""
    u = rng.integers(0, servers, shape, dtype=np.int64)
    v = (u + 1 + rng.integers(0, servers - 1, shape, dtype=np.int64)) % servers
    return u, v


class RandomRouter:
    """``random``: a uniform server per request."""

    def __init__(self, servers: int, rng: np.random.Generator) -> None:
        self.servers, self.rng = servers, rng

    def route(self, t0: int, req_class: NDArray[np.int16]) -> Routes:
        """See :meth:`Router.route`."""
        return Routes(self.rng.integers(0, self.servers, req_class.shape, dtype=np.int64))


class RoundRobinRouter:
    """``round-robin``: balancer i at step t -> (o_i + t) mod M."""

    def __init__(self, servers: int, balancers: int, rng: np.random.Generator) -> None:
        self.servers = servers
        self.offsets = rng.integers(0, servers, balancers, dtype=np.int64)

    def route(self, t0: int, req_class: NDArray[np.int16]) -> Routes:
        """See :meth:`Router.route`."""
        steps = np.arange(t0, t0 + req_class.shape[0], dtype=np.int64)
        return Routes((self.offsets[None, :] + steps[:, None]) % self.servers)


class PowerOfTwoRouter:
    """``power-of-two``: two distinct candidates; the server bank picks the shorter queue."""

    def __init__(self, servers: int, rng: np.random.Generator) -> None:
        self.servers, self.rng = servers, rng

    def route(self, t0: int, req_class: NDArray[np.int16]) -> Routes:
        """See :meth:`Router.route`."""
        first, second = _distinct_pair(self.rng, self.servers, req_class.shape)
        return Routes(first, second)


class PairRouter:
    """A pairwise strategy: shared server pairs, then each side decides alone.

    Args:
        strategy: the pair's decision rules (and outcome source).
        servers: M (>= 2).
        rng: the pair stream: server pairs first, then one uniform per pair
            for the outcomes of its heralded pair (quantum strategies).
    """

    def __init__(self, strategy: PairStrategy, servers: int, rng: np.random.Generator) -> None:
        if servers < 2:
            raise StrategyError("a pair of servers needs at least two servers")
        self.strategy, self.servers, self.rng = strategy, servers, rng
        self.side_a, self.side_b = strategy.balancers()

    def route(self, t0: int, req_class: NDArray[np.int16]) -> Routes:
        """See :meth:`Router.route`."""
        steps, n = req_class.shape
        u, v = _distinct_pair(self.rng, self.servers, (steps * (n // 2),))
        pair_servers = np.stack((u, v), axis=1)  # (B * P, 2): u, v per decision pair
        x = (req_class[:, 0::2] > 0).astype(np.int8).ravel()  # 1 = type C
        y = (req_class[:, 1::2] > 0).astype(np.int8).ravel()
        if self.strategy.source is not None:  # nature: one heralded pair per decision pair
            a, b = self.strategy.source.sample(x, y, self.rng.random(x.size))
        else:
            a = b = np.zeros(x.size, dtype=np.int8)
        out = np.empty((steps, n), dtype=np.int64)
        out[:, 0::2] = self.side_a.decide_batch(x, a, pair_servers).reshape(steps, -1)
        out[:, 1::2] = self.side_b.decide_batch(y, b, pair_servers).reshape(steps, -1)
        return Routes(out)


def make_router(name: str, servers: int, balancers: int, rng: np.random.Generator,
                options: StrategyOptions) -> Router:
    """The router of a registered strategy (names checked by :func:`validate_strategies`)."""
    if name == "random":
        return RandomRouter(servers, rng)
    if name == "round-robin":
        return RoundRobinRouter(servers, balancers, rng)
    if name == "power-of-two":
        if servers < 2:
            raise StrategyError("power of two choices needs at least two servers")
        return PowerOfTwoRouter(servers, rng)
    if name in ("quantum-xor", "hash-subtype"):
        raise StrategyError(f"{name} runs in the compiled point kernel only")
    if name in STRATEGIES:
        return PairRouter(pair_strategy(name, options), servers, rng)
    raise StrategyError(f"unknown strategy {name!r}; known: {', '.join(STRATEGIES)}")
