"""Named XOR games: CHSH, odd cycles, and the paper's graph games (docs/balancing.md).

Graph games (paper section 4.2): task types are the vertices of a graph and
each edge is labelled co-locate (0: both requests to the same server) or
exclusive (1: different servers). Each load balancer receives a vertex; the
two answer bits pick servers and win when a xor b equals the edge's label.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qnic.games.xor import XorGame


def chsh_game() -> XorGame:
    """CHSH: uniform questions, win when a xor b = x AND y (values 3/4 and cos^2(pi/8))."""
    return XorGame(np.full((2, 2), 0.25), [[0, 0], [0, 1]])


def odd_cycle_game(n: int) -> XorGame:
    """The n-cycle game (n odd >= 3) of Cleve, Hoyer, Toner and Watrous.

    Alice gets a uniform vertex x, Bob gets x or x + 1 (mod n) with
    probability 1/2 each; answers must agree on the same vertex and differ on
    neighbours. Classical value 1 - 1/(2n), quantum value cos^2(pi/(4n)).
    """
    if n < 3 or n % 2 == 0:
        raise ValueError(f"the odd-cycle game needs an odd n >= 3, got {n}")
    prob = np.zeros((n, n))
    pred = np.zeros((n, n), dtype=np.int8)
    for x in range(n):
        prob[x, x] += 0.5 / n
        prob[x, (x + 1) % n] += 0.5 / n
        pred[x, (x + 1) % n] = 1
    return XorGame(prob, pred)


def chained_bell_game(n: int) -> XorGame:
    """The chained Bell game of Braunstein and Caves (Ann. Phys. 202, 22 (1990)), n >= 2 settings.

    Alice and Bob each get one of n questions; the 2n question pairs (k, k)
    and (k + 1, k), and (0, n - 1), form a cycle of length 2n and are drawn
    uniformly. Answers must agree on every pair but (0, n - 1), where they
    must differ. No assignment satisfies the whole cycle, all but one pair
    can be: classical value 1 - 1/(2n); quantum value cos^2(pi/(4n)) (Wehner,
    Phys. Rev. A 73, 022110 (2006)). n = 2 is CHSH.
    """
    if n < 2:
        raise ValueError(f"the chained Bell game needs n >= 2 settings, got {n}")
    prob = np.zeros((n, n))
    pred = np.zeros((n, n), dtype=np.int8)
    for k in range(n):
        prob[k, k] = 1.0 / (2 * n)
        prob[(k + 1) % n, k] = 1.0 / (2 * n)
    pred[0, n - 1] = 1
    return XorGame(prob, pred)


def graph_game(exclusive: ArrayLike) -> XorGame:
    """Game on the complete graph with questions uniform over ordered pairs x != y.

    Args:
        exclusive: symmetric bool array of shape (n, n), n >= 2: True where
            the edge {x, y} is exclusive (a xor b must be 1), False where the
            two requests must be co-located; the diagonal is ignored.

    Raises:
        ValueError: if the labels are not a symmetric square matrix.
    """
    labels = np.asarray(exclusive, dtype=bool)
    if labels.ndim != 2 or labels.shape[0] != labels.shape[1] or labels.shape[0] < 2:
        raise ValueError(f"edge labels must be an n x n matrix with n >= 2, got {labels.shape}")
    if not np.array_equal(labels, labels.T):
        raise ValueError("edge labels must be symmetric (an edge has one label)")
    n = labels.shape[0]
    prob = np.full((n, n), 1.0 / (n * (n - 1)))
    np.fill_diagonal(prob, 0.0)
    pred = labels.astype(np.int8)
    np.fill_diagonal(pred, 0)
    return XorGame(prob, pred)


def random_edge_labels(n: int, p_exclusive: float, rng: np.random.Generator) -> NDArray[np.bool_]:
    """Symmetric labels of K_n, each edge exclusive with probability p, shape (n, n)."""
    if not 0.0 <= p_exclusive <= 1.0:
        raise ValueError(f"p_exclusive must be within [0, 1], got {p_exclusive}")
    upper = np.triu(rng.random((n, n)) < p_exclusive, k=1)
    return upper | upper.T


def random_graph_game(n: int, p_exclusive: float, rng: np.random.Generator) -> XorGame:
    """A graph game on K_n with each edge exclusive with probability ``p_exclusive``."""
    return graph_game(random_edge_labels(n, p_exclusive, rng))
