"""The CHSH load-balancing game and XOR-game strategies (docs/balancing.md; paper section 4.1).

Two load balancers, A and B, share a pair of servers and a pair of photons.
Each receives a request: type C (co-locate, question x = 1) or type E
(exclusive, x = 0). Each outputs a bit that picks one of the pair's two
servers. The pair wins when it lands on the same server exactly when both
requests are type C: win iff ``(server_A == server_B) == (x and y)``.

With the bench's CHSH bases (docs/chsh.md: A analyses 0 or 45 degrees, B 22.5 or
-22.5 degrees, polarizer-equivalent, on Phi+) the outcomes satisfy
``P(a xor b = x and y) = cos^2(pi/8)``: equal bits except at (1, 1). B flips
its bit, so equal bits send the two requests to different servers and
unequal bits to the same one; the pair then wins with probability
cos^2(pi/8) ~ 0.854, against 0.75 for the best classical strategy. A bench
of CHSH value S wins with probability 1/2 + S/8.

Any solved XOR game's strategy plugs in the same way: per-question analyser
angles for each side (or, more generally, its correlator matrix, see
:meth:`qnic.balancing.sources.OutcomeTable.from_correlations`) and an output
flip per side.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum

import numpy as np
from numpy.typing import ArrayLike, NDArray

HERALDING_NOTE = ("quantum strategies consume heralded (coincidence-matched) pairs; "
                  "a deployment needs heralded or stored pairs")
"""Printed with every report: the decision layer consumes matched pairs only."""

QUANTUM_CHSH_WIN = math.cos(math.pi / 8) ** 2
"""Ideal quantum win probability of the CHSH game, cos^2(pi/8) ~ 0.8536."""

CLASSICAL_CHSH_WIN = 0.75
"""Best win probability of any classical strategy, shared randomness included."""

TSIRELSON_BOUND = 2.0 * math.sqrt(2.0)
"""CHSH value S of the ideal bench: 2 sqrt 2."""


class RequestType(IntEnum):
    """A request's type; its value is the balancer's question bit x."""

    EXCLUSIVE = 0
    """Type E: wants a server of its own."""
    COLOCATE = 1
    """Type C: two of them (of one subtype) can be served together."""


def win_probability_from_s(s_value: float) -> float:
    """CHSH (and CHSH load-balancing) win probability 1/2 + S/8 of a bench of value S."""
    return 0.5 + s_value / 8.0


def lb_wins(x: ArrayLike, y: ArrayLike, same_server: ArrayLike) -> NDArray[np.bool_]:
    """Which rounds of the load-balancing game were won.

    Args:
        x: A's question bits (1 = type C), shape (P,).
        y: B's question bits, shape (P,).
        same_server: whether the two requests went to the same server, shape (P,).

    Returns:
        bool array (P,): True where ``same_server == (x and y)``.
    """
    both_c = (np.asarray(x) != 0) & (np.asarray(y) != 0)
    return np.asarray(same_server, dtype=np.bool_) == both_c


@dataclass(frozen=True)
class XorStrategy:
    """A quantum strategy for one Bell pair: analyser angles per question and output flips.

    Outcome bits are measured on Phi+ in linear bases, so
    ``E(x, y) = cos 2(phi_A[x] - phi_B[y])`` (docs/physics.md with c = 1). A side's
    output bit (which of the pair's two servers) is its outcome XOR its flip.

    Attributes:
        angles_a_deg: polarizer-equivalent angle of A's basis per question
            (degrees from H), length m.
        angles_b_deg: the same for B, length n.
        flip_a: A outputs the complement of its outcome.
        flip_b: B outputs the complement of its outcome.
        name: a label for reports.
    """

    angles_a_deg: tuple[float, ...]
    angles_b_deg: tuple[float, ...]
    flip_a: bool = False
    flip_b: bool = False
    name: str = "xor"

    def __post_init__(self) -> None:
        for side, angles in (("A", self.angles_a_deg), ("B", self.angles_b_deg)):
            if len(angles) < 1:
                raise ValueError(f"side {side} needs at least one question angle")
            if not all(math.isfinite(float(a)) for a in angles):
                raise ValueError(f"side {side}: angles must be finite, got {angles}")

    @property
    def questions(self) -> tuple[int, int]:
        """(m, n): the number of questions of A and of B."""
        return len(self.angles_a_deg), len(self.angles_b_deg)

    def correlations(self, visibility: float = 1.0) -> NDArray[np.float64]:
        """E(x, y) = V cos 2(phi_A[x] - phi_B[y]) of the outcome bits, shape (m, n)."""
        if not 0.0 <= visibility <= 1.0:
            raise ValueError(f"visibility must lie within [0, 1], got {visibility}")
        phi_a = np.radians(np.asarray(self.angles_a_deg, dtype=np.float64))
        phi_b = np.radians(np.asarray(self.angles_b_deg, dtype=np.float64))
        return visibility * np.cos(2.0 * (phi_a[:, None] - phi_b[None, :]))


def chsh_strategy() -> XorStrategy:
    """The CHSH load-balancing strategy: docs/chsh.md angles, B's bit flipped."""
    return XorStrategy(angles_a_deg=(0.0, 45.0), angles_b_deg=(22.5, -22.5),
                       flip_a=False, flip_b=True, name="chsh")
