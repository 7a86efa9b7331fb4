"""The load-balancing game with K type-C subtypes that must not mix (docs/balancing.md).

A request is type E (question 0) or type C of subtype j (question 1 + j,
j < K), type C with probability p_C and then of a subtype drawn uniformly.
Two balancers of a pair each send their request to one of the pair's two
servers; they win when the two requests share a server exactly when both are
type C of one subtype. As an XOR game (``qnic.games.XorGame``): questions
0..K on both sides, ``prob[x][y] = p(x) p(y)``, and the winning ``a xor b``
(0: same server, 1: different servers) is 0 exactly when x = y >= 1. K = 1
is the CHSH load-balancing game.

The quantum strategy of the study's ``quantum-xor`` is the one the XOR-game
solver finds for this game (its correlator matrix, on heralded pairs, each
side's outcome picking the server); for K >= 2 at p_C = 1/2 the solver finds
no advantage (quantum value = classical value = 1 - 1/(4K), reached by always
separating), and the study shows what that means for the queues.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

from qnic.balancing.decisions import PairStrategy, xor_pair_strategy
from qnic.games import XorGame


def class_probabilities(c_probability: float, subtypes: int) -> NDArray[np.float64]:
    """P(question) for E, C_0, ..., C_{K-1}, shape (K + 1,)."""
    if subtypes < 1 or not 0.0 <= c_probability <= 1.0:
        raise ValueError(f"need subtypes >= 1 and c_probability within [0, 1], got "
                         f"{subtypes}, {c_probability}")
    return np.array([1.0 - c_probability] + [c_probability / subtypes] * subtypes)


def subtype_game(subtypes: int, c_probability: float = 0.5) -> XorGame:
    """The XOR game of a pair of balancers with K subtypes (questions 0 = E, 1 + j = C_j)."""
    p = class_probabilities(c_probability, subtypes)
    pred = np.ones((subtypes + 1, subtypes + 1), dtype=np.int8)
    pred[np.arange(1, subtypes + 1), np.arange(1, subtypes + 1)] = 0
    return XorGame(np.outer(p, p), pred)


@lru_cache(maxsize=32)
def solved_subtype_strategy(subtypes: int, c_probability: float = 0.5) -> PairStrategy:
    """``quantum-xor``: the solver's optimal strategy of :func:`subtype_game` on heralded pairs.

    No flips: the game's winning ``a xor b`` is already 0 for "same server".
    """
    solved = subtype_game(subtypes, c_probability).quantum_strategy()
    return xor_pair_strategy(solved, name="quantum-xor")


def subtype_win_probability(strategy: PairStrategy, c_probability: float, subtypes: int,
                            full_questions: bool) -> float:
    """Win probability of a pair strategy in the K-subtype game.

    Args:
        strategy: its rules answer K + 1 questions (``full_questions``) or two
            (E or C, subtype ignored).
        c_probability: P(type C).
        subtypes: K.
        full_questions: the question is the request's class, not just C or E.
    """
    p = class_probabilities(c_probability, subtypes)
    classes = np.arange(subtypes + 1)
    q = classes if full_questions else np.minimum(classes, 1)
    same = strategy.same_server_probability()[q[:, None], q[None, :]]
    want_same = (classes[:, None] == classes[None, :]) & (classes[:, None] > 0)
    win = np.where(want_same, same, 1.0 - same)
    return float(p @ win @ p)
