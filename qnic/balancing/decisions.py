"""The decision layer: one load balancer decides from its own request and its own bit.

A pair of load balancers (A and B) shares, per decision, a pair of servers
``(u, v)`` (drawn from shared randomness) and, for quantum strategies, one
heralded (coincidence-matched) photon pair. A balancer maps its question x
(1 for a type-C request, 0 for type E) and its own outcome bit o, measured in
the basis of x, to an output bit ``table[x, o]``; bit 0 sends the request to
u, bit 1 to v. Nothing of the other side enters the decision: the rule is a
table lookup on local data, so its cost is a few array loads
(benchmarks/bench_decisions.py).

Quantum strategies consume heralded pairs; a deployment needs heralded or
stored pairs (docs/balancing.md). Classical strategies use the same interface with
rules that ignore the outcome column and need no pairs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from qnic.balancing.game import XorStrategy, chsh_strategy
from qnic.balancing.sources import OutcomeTable, ideal_table

IntArray = NDArray[np.integer[Any]]


@dataclass(frozen=True, eq=False)
class SideRule:
    """One side's rule: output bit ``table[question, outcome]``.

    Attributes:
        table: int8, shape (m, 2): the output bit (0 -> server u, 1 -> server
            v) for each question and local outcome bit.
    """

    table: NDArray[np.int8]

    def __post_init__(self) -> None:
        t = np.array(self.table, dtype=np.int8)
        if t.ndim != 2 or t.shape[1] != 2 or t.shape[0] < 1:
            raise ValueError(f"a side rule is an (m, 2) table of bits, got shape {t.shape}")
        if np.any((t != 0) & (t != 1)):
            raise ValueError("a side rule's entries must be bits (0 or 1)")
        t.setflags(write=False)
        object.__setattr__(self, "table", t)

    @classmethod
    def from_outcome(cls, questions: int, flip: bool = False) -> SideRule:
        """Quantum rule: output = outcome XOR flip, whatever the question."""
        row = [int(flip), 1 - int(flip)]
        return cls(np.array([row] * questions, dtype=np.int8))

    @classmethod
    def fixed(cls, bits: Sequence[int]) -> SideRule:
        """Classical deterministic rule: output = bits[question], outcome ignored."""
        return cls(np.array([[b, b] for b in bits], dtype=np.int8))

    @property
    def questions(self) -> int:
        """m, the number of questions the rule answers."""
        return int(self.table.shape[0])

    @property
    def uses_outcome(self) -> bool:
        """Whether the output depends on the outcome bit (so a pair is consumed)."""
        return bool(np.any(self.table[:, 0] != self.table[:, 1]))

    def output(self, question: IntArray, outcome: IntArray) -> NDArray[np.int8]:
        """Output bits ``table[question, outcome]`` (vectorized; any matching shapes)."""
        return self.table[question, outcome]


class Balancer:
    """One load balancer of a pair: (question, own outcome bit, server pair) -> server.

    Args:
        rule: its side's rule.
        name: a label ("A" or "B").
    """

    __slots__ = ("_lookup", "name", "rule")

    def __init__(self, rule: SideRule, name: str = "") -> None:
        self.rule = rule
        self.name = name
        self._lookup: tuple[tuple[int, int], ...] = tuple(
            (int(r[0]), int(r[1])) for r in rule.table)

    def decide(self, question: int, outcome: int, servers: tuple[int, int]) -> int:
        """The server for one request (pure Python, no allocation).

        Args:
            question: the request's question, e.g. ``RequestType.COLOCATE`` (1).
            outcome: this side's outcome bit of its heralded pair, measured in
                the basis of ``question`` (ignored by classical rules).
            servers: the pair's two servers (u, v) for this decision.
        """
        return servers[self._lookup[question][outcome]]

    def decide_batch(self, question: IntArray, outcome: IntArray,
                     servers: NDArray[np.int64]) -> NDArray[np.int64]:
        """The servers for a batch of requests.

        Args:
            question: int array (P,).
            outcome: this side's outcome bits, int array (P,).
            servers: each decision's server pair, int64 (P, 2).

        Returns:
            int64 (P,): the chosen server per request.
        """
        bits = self.rule.table[question, outcome]
        return servers[np.arange(bits.size), bits]


@dataclass(frozen=True, eq=False)
class PairStrategy:
    """A strategy for a pair of load balancers without communication.

    Attributes:
        name: registry name.
        rule_a: A's rule, m questions.
        rule_b: B's rule, n questions.
        source: joint outcome statistics of the heralded pairs (shape (m, n,
            2, 2)); None for classical strategies.
        description: one sentence for reports.
    """

    name: str
    rule_a: SideRule
    rule_b: SideRule
    source: OutcomeTable | None = None
    description: str = ""
    _sides: tuple[Balancer, Balancer] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        uses = self.rule_a.uses_outcome or self.rule_b.uses_outcome
        if uses and self.source is None:
            raise ValueError(f"{self.name}: its rules read outcome bits, so it needs a source")
        if self.source is not None and self.source.questions != (self.rule_a.questions,
                                                                   self.rule_b.questions):
            raise ValueError(f"{self.name}: source has {self.source.questions} questions, rules "
                             f"({self.rule_a.questions}, {self.rule_b.questions})")
        object.__setattr__(self, "_sides", (Balancer(self.rule_a, "A"), Balancer(self.rule_b, "B")))

    @property
    def consumes_pairs(self) -> bool:
        """One heralded pair per decision pair (quantum strategies)."""
        return self.source is not None

    def balancers(self) -> tuple[Balancer, Balancer]:
        """The two sides, A and B."""
        return self._sides

    def outputs(self, x: IntArray, y: IntArray,
                u: NDArray[np.floating[Any]] | None = None) -> tuple[NDArray[np.int8], NDArray[np.int8]]:
        """Output bits of both sides for a batch of decision pairs.

        The joint outcome draw (nature) comes first; each side's output then
        depends on its own question and its own outcome bit only.

        Args:
            x: A's questions, int array of shape S.
            y: B's questions, shape S.
            u: uniform draws in [0, 1), shape S (quantum strategies only).

        Returns:
            (bits of A, bits of B), int8, shape S each.
        """
        if self.source is None:
            zero = np.zeros(np.shape(x), dtype=np.int8)
            return self.rule_a.output(x, zero), self.rule_b.output(y, zero)
        if u is None:
            raise ValueError(f"{self.name} consumes pairs: give one uniform draw per pair")
        a, b = self.source.sample(x, y, u)
        return self.rule_a.output(x, a), self.rule_b.output(y, b)

    def same_server_probability(self) -> NDArray[np.float64]:
        """P(both requests on the same server | x, y), shape (m, n)."""
        ta = self.rule_a.table.astype(np.int64)
        tb = self.rule_b.table.astype(np.int64)
        same = (ta[:, None, :, None] == tb[None, :, None, :]).astype(np.float64)  # [x, y, a, b]
        if self.source is None:
            return same[:, :, 0, 0]
        return np.einsum("xyab,xyab->xy", self.source.prob, same)

    def win_probability(self, c_probability: float = 0.5) -> float:
        """Win probability of the CHSH load-balancing game (questions 0 = E, 1 = C).

        Args:
            c_probability: probability that a request is type C.
        """
        if (self.rule_a.questions, self.rule_b.questions) != (2, 2):
            raise ValueError("the CHSH load-balancing game has two questions per side")
        same = self.same_server_probability()
        p = np.array([1.0 - c_probability, c_probability])
        win = 1.0 - same  # separate servers win unless both are C
        win[1, 1] = same[1, 1]
        return float(p @ win @ p)


def quantum_chsh(source: OutcomeTable | None = None,
                 strategy: XorStrategy | None = None, name: str = "quantum-ideal") -> PairStrategy:
    """The CHSH strategy: A outputs its outcome, B the complement of its own.

    Args:
        source: the pairs' statistics (default: ideal Phi+ in the strategy's bases).
        strategy: angles and flips (default :func:`~qnic.balancing.game.chsh_strategy`).
        name: registry name.
    """
    strategy = strategy or chsh_strategy()
    m, n = strategy.questions
    table = source if source is not None else ideal_table(strategy)
    return PairStrategy(name, SideRule.from_outcome(m, strategy.flip_a),
                        SideRule.from_outcome(n, strategy.flip_b), table,
                        f"CHSH on heralded pairs ({table.label}): each side's outcome in the "
                        "basis of its request type picks the server, B's bit flipped")


def always_separate() -> PairStrategy:
    """Classical: A always takes the pair's server u, B always v (loses only when both are C)."""
    return PairStrategy("separate", SideRule.fixed([0, 0]), SideRule.fixed([1, 1]), None,
                        "classical, shared randomness: A -> u, B -> v whatever the types "
                        "(wins unless both are C: 3/4)")


def dedicated_c() -> PairStrategy:
    """Classical: type C to the pair's C server u, type E to its E server v (loses when both are E)."""
    return PairStrategy("dedicated-c", SideRule.fixed([1, 0]), SideRule.fixed([1, 0]), None,
                        "classical, shared randomness: per step a shared seed makes u the "
                        "pair's C server and v its E server; C -> u, E -> v (wins unless "
                        "both are E: 3/4)")



class HasCorrelations(Protocol):
    """A solved XOR-game strategy: anything with a correlator matrix E(x, y), shape (m, n)."""

    def correlations(self) -> NDArray[np.float64]:
        """E(x, y) of the outcome bits, within [-1, 1], shape (m, n)."""
        ...


def xor_pair_strategy(solved: HasCorrelations, flip_a: bool = False, flip_b: bool = False,
                      name: str = "xor") -> PairStrategy:
    """Plug a solved XOR game's quantum strategy into the decision layer.

    Each side outputs its outcome (XOR its flip) as the server bit, so two
    requests share a server when the output bits agree. An XOR game whose
    pred[x][y] is the a xor b that wins (1: different servers, 0: the same)
    needs no flip; CHSH as the paper states it (win iff a xor b = x and y)
    needs one side flipped to make "both C" mean "same server".

    Args:
        solved: e.g. an :class:`~qnic.balancing.game.XorStrategy` or the XOR
            solver's strategy (maximally entangled states: uniform marginals,
            so the correlators fix the joint outcome statistics).
        flip_a: A outputs the complement of its outcome.
        flip_b: B outputs the complement of its outcome.
        name: registry name.
    """
    table = OutcomeTable.from_correlations(solved.correlations(), f"solved {name}")
    m, n = table.questions
    return PairStrategy(name, SideRule.from_outcome(m, flip_a), SideRule.from_outcome(n, flip_b),
                        table, f"XOR-game strategy {name} on heralded pairs")
