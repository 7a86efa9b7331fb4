"""The strategies a balancer node can run (docs/network.md), with their predicted win rates.

The game of a round (docs/balancing.md): partners win when their two requests
share a backend exactly when both are type C. Strategies:

- ``random``: a backend uniformly at random (the node's own randomness).
- ``round-robin``: the node's own rotation over the backends.
- ``power-of-two``: two random backends asked for their queue length over the
  network; the shorter wins (pays a round trip).
- ``coordinator``: a coordinator process asked before each decision; it sees
  both partners' requests of a round and wins every game (pays a round trip).
- ``classical-best``: shared randomness, always separate: the even node takes
  the round's backend u, the odd one v (wins unless both are C: 1 - p^2).
- ``dedicated-c``: shared randomness, C to u and E to v (wins unless both are
  E: 1 - (1 - p)^2).
- ``consistent-hash``: the request's key on a consistent-hash ring with
  bounded loads (C requests by their key, E requests by their id): the
  classical way to co-locate related requests without talking.
- ``quantum``: CHSH on the round's pair: the node's own outcome, measured in
  the basis of its request type, picks u or v (1/2 + S/8).
"""

from __future__ import annotations

from dataclasses import dataclass

CLASSICAL_RULES: dict[str, tuple[tuple[int, int], tuple[int, int]]] = {
    "classical-best": ((0, 0), (1, 1)),
    "dedicated-c": ((1, 0), (1, 0)),
}
"""Shared-randomness rules: per side (even, odd), per question (E, C), 0 for u and 1 for v."""


@dataclass(frozen=True)
class Strategy:
    """A node strategy.

    Attributes:
        name: its name on the command line and in reports.
        talks: it sends a message before deciding (and pays the round trip).
        consumes_pairs: it measures distributed pairs.
        description: one line for reports.
    """

    name: str
    talks: bool
    consumes_pairs: bool
    description: str


NETWORK_STRATEGIES: dict[str, Strategy] = {s.name: s for s in (
    Strategy("random", False, False, "a backend at random"),
    Strategy("round-robin", False, False, "the node's own rotation"),
    Strategy("power-of-two", True, False, "the shorter queue of two random backends, asked over "
             "the network"),
    Strategy("coordinator", True, False, "a coordinator asked before each decision"),
    Strategy("classical-best", False, False, "shared randomness: partners always separate"),
    Strategy("dedicated-c", False, False, "shared randomness: C to the round's C backend, E to "
             "its E backend"),
    Strategy("consistent-hash", False, False, "consistent hashing of the key with bounded loads "
             "(each node's own view of the loads)"),
    Strategy("quantum", False, True, "CHSH on distributed pairs: the own outcome in the basis of "
             "the request type picks the backend"),
)}
"""Every strategy, by name."""

DEFAULT_NETWORK_STRATEGIES = ("random", "round-robin", "power-of-two", "coordinator",
                              "classical-best", "dedicated-c", "consistent-hash", "quantum")


def win_given(name: str, backends: int, quantum_same: list[list[float]] | None = None
              ) -> list[list[float]] | None:
    """P(win | x, y) of a strategy, where it has a closed form (None otherwise).

    Args:
        name: the strategy.
        backends: M.
        quantum_same: for ``quantum``, P(same backend | x, y), 2 x 2.

    Returns:
        2 x 2, indexed [x][y] (1 for type C).
    """
    table: list[list[float]] | None = None
    if name == "random":
        table = [[1 - 1 / backends] * 2, [1 - 1 / backends, 1 / backends]]
    elif name == "coordinator":
        table = [[1.0, 1.0], [1.0, 1.0]]
    elif name == "classical-best":  # loses when both are C
        table = [[1.0, 1.0], [1.0, 0.0]]
    elif name == "dedicated-c":  # loses when both are E
        table = [[0.0, 1.0], [1.0, 1.0]]
    elif name == "quantum" and quantum_same is not None:
        table = [[1.0 - quantum_same[x][y] if not (x and y) else quantum_same[x][y]
                  for y in (0, 1)] for x in (0, 1)]
    return table


def predicted_win(name: str, c_probability: float, backends: int,
                  quantum_same: list[list[float]] | None = None) -> float | None:
    """The win rate a strategy should reach when requests are type C with probability p."""
    table = win_given(name, backends, quantum_same)
    if table is None:
        return None
    weights = (1.0 - c_probability, c_probability)
    return sum(weights[x] * weights[y] * table[x][y] for x in (0, 1) for y in (0, 1))


def same_backend_probability(table: list[float], rules: tuple[list[list[int]], list[list[int]]]
                             ) -> list[list[float]]:
    """P(both sides pick the same backend | x, y) of a 2 x 2 pair table and the sides' rules.

    Args:
        table: P(a, b | x, y) as 16 numbers in [x][y][a][b] order.
        rules: each side's output bit ``rule[question][outcome]``.
    """
    rule_a, rule_b = rules
    return [[sum(table[(x * 2 + y) * 4 + a * 2 + b] for a in (0, 1) for b in (0, 1)
                 if rule_a[x][a] == rule_b[y][b]) for y in (0, 1)] for x in (0, 1)]
