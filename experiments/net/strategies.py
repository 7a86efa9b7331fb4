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
  With several C subtypes the nodes play the game's optimal classical
  strategy instead, solved by the games package (a fixed bit per question).
- ``dedicated-c``: shared randomness, C to u and E to v (wins unless both are
  E: 1 - (1 - p)^2).
- ``consistent-hash``: the request's key on a consistent-hash ring with
  bounded loads (C requests by their key, E requests by their id): the
  classical way to co-locate related requests without talking.
- ``quantum``: CHSH on the round's pair: the node's own outcome, measured in
  the basis of its request type, picks u or v (1/2 + S/8).
- ``xor``: with K C subtypes, the XOR game whose questions are E and the K
  subtypes (together exactly when both are C of one subtype), solved by the
  games package; the node measures in the basis of its request's question.
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
    Strategy("xor", False, True, "the XOR game of C subtypes, solved (Tsirelson SDP): the own "
             "outcome in the basis of the request's subtype picks the backend"),
)}
"""Every strategy, by name."""

DEFAULT_NETWORK_STRATEGIES = ("random", "round-robin", "power-of-two", "coordinator",
                              "classical-best", "dedicated-c", "consistent-hash", "quantum")


def question(x: int, key: int) -> int:
    """A request's question in the game with C subtypes: 0 for type E, 1 + key for type C."""
    return 1 + key if x else 0


def win_given(name: str, backends: int, subtypes: int = 1,
              quantum_same: list[list[float]] | None = None,
              xor_same: list[list[float]] | None = None,
              classical_bits: tuple[list[int], list[int]] | None = None
              ) -> list[list[float]] | None:
    """P(win | qa, qb) of a strategy, where it has a closed form (None otherwise).

    The game: two requests should share a backend exactly when both are type
    C of the same subtype (with one subtype: both type C, the CHSH game).

    Args:
        name: the strategy.
        backends: M.
        subtypes: K, the number of C subtypes.
        quantum_same: for ``quantum``, P(same backend | x, y) by request type, 2 x 2.
        xor_same: for ``xor``, P(same backend | qa, qb), (K + 1) x (K + 1).
        classical_bits: for ``classical-best``, each side's answer bit per
            question when the nodes play the game's solved classical strategy
            (None: always separate).

    Returns:
        (K + 1) x (K + 1), indexed by the questions of :func:`question`.
    """
    n = subtypes + 1
    qs = range(n)
    if name == "random":
        same = [[1.0 / backends] * n for _ in qs]
    elif name == "coordinator":
        same = [[float(a == b and a > 0) for b in qs] for a in qs]
    elif name == "classical-best" and classical_bits is not None:
        same = [[float(classical_bits[0][a] == classical_bits[1][b]) for b in qs] for a in qs]
    elif name == "classical-best":
        same = [[0.0] * n for _ in qs]
    elif name == "dedicated-c":
        same = [[float((a > 0) == (b > 0)) for b in qs] for a in qs]
    elif name == "quantum" and quantum_same is not None:
        same = [[quantum_same[int(a > 0)][int(b > 0)] for b in qs] for a in qs]
    elif name == "xor" and xor_same is not None:
        same = xor_same
    else:
        return None
    return [[same[a][b] if a == b and a > 0 else 1.0 - same[a][b] for b in qs] for a in qs]


def predicted_win(name: str, c_probability: float, backends: int,
                  quantum_same: list[list[float]] | None = None, subtypes: int = 1,
                  xor_same: list[list[float]] | None = None,
                  classical_bits: tuple[list[int], list[int]] | None = None) -> float | None:
    """The win rate a strategy should reach when requests are type C with probability p
    (each subtype equally likely); the other arguments as :func:`win_given`'s."""
    table = win_given(name, backends, subtypes, quantum_same, xor_same, classical_bits)
    if table is None:
        return None
    weights = [1.0 - c_probability] + [c_probability / subtypes] * subtypes
    return sum(weights[a] * weights[b] * table[a][b] for a in range(subtypes + 1)
               for b in range(subtypes + 1))


def same_backend_probability(table: list[float], rules: tuple[list[list[int]], list[list[int]]]
                             ) -> list[list[float]]:
    """P(both sides pick the same backend | x, y) of a pair table and the sides' rules.

    Args:
        table: P(a, b | x, y) as m * n * 4 numbers in [x][y][a][b] order.
        rules: each side's output bit ``rule[question][outcome]`` (m and n rows).
    """
    rule_a, rule_b = rules
    m, n = len(rule_a), len(rule_b)
    return [[sum(table[(x * n + y) * 4 + a * 2 + b] for a in (0, 1) for b in (0, 1)
                 if rule_a[x][a] == rule_b[y][b]) for y in range(n)] for x in range(m)]
