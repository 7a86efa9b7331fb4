"""Groups of n >= 3 load balancers sharing one GHZ state per round (docs/balancing.md).

The group game is Mermin's n-player XOR game read as a load-balancing round
(docs/balancing.md, "Groups of three or more balancers"): balancer i of a
group gets one request, question x_i = 1 for type C and 0 for type E; the
group's requests carry an even number of type-C requests (C requests come
in pairs, uniform over such tuples; each balancer still sees type C with
probability 1/2); each balancer's answer bit a_i sends its request to the
group's server u (0) or v (1) of the round; the group wins when the number
of its requests sent to v is (number of C / 2) mod 2. Classical value
1/2 + 2^-ceil(n/2), quantum value 1 (GHZ state).

The GHZ statistics here are simulated: answers are drawn from the Born rule
of :class:`qnic.games.multiparty_quantum.GhzStrategy` (optionally mixed
with white noise at visibility V: with probability 1 - V a round's answers
are uniform), never taken from the bench, which has two arms.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.stats import binomtest

from qnic.games.multiparty import MultipartyClassicalResult, MultipartyXorGame, mermin_game
from qnic.games.multiparty_quantum import GhzStrategy

MIN_GROUP = 3
SIMULATED_NOTE = ("GHZ statistics are simulated: answers drawn from the Born rule of the "
                  "GHZ strategy (white noise at visibility V where given), not measured on the "
                  "bench, which has two arms")


class GroupStrategyName(str, Enum):
    """How the balancers of a group route (docs/balancing.md)."""

    RANDOM = "random"
    """Each request to a uniform server among all M (no game played)."""
    COIN = "coin"
    """Each balancer flips its own coin between the group's u and v (the GHZ strategy at V = 0)."""
    CLASSICAL = "classical"
    """The optimal deterministic strategy of the exact classical search (shared randomness)."""
    GHZ = "ghz"
    """Each balancer measures its qubit of a GHZ state in its question's basis (simulated)."""


class GroupError(ValueError):
    """A group size, visibility or strategy that cannot be used."""


def check_group_size(players: int) -> int:
    """``players`` if it is an integer >= 3, else GroupError."""
    if isinstance(players, bool) or int(players) != players or players < MIN_GROUP:
        raise GroupError(f"group size must be an integer >= {MIN_GROUP}, got {players!r}")
    return int(players)


@lru_cache(maxsize=16)
def group_game(players: int) -> MultipartyXorGame:
    """The load-balancing game of a group of ``players`` balancers (Mermin's game, cached)."""
    return mermin_game(check_group_size(players))


def classical_closed_form(players: int) -> float:
    """1/2 + 2^-ceil(n/2), the classical value of Mermin's game (Brassard, Broadbent, Tapp 2005)."""
    return 0.5 + 2.0 ** -math.ceil(check_group_size(players) / 2)


@lru_cache(maxsize=16)
def classical_strategy(players: int) -> MultipartyClassicalResult:
    """The exact classical search's optimal deterministic strategy (cached)."""
    return group_game(players).classical_value()


@lru_cache(maxsize=16)
def ghz_strategy(players: int) -> GhzStrategy:
    """The GHZ-state strategy found by see-saw (20 restarts, seed 0; cached)."""
    return group_game(players).quantum_value().strategy


def check_visibility(visibility: float) -> float:
    """``visibility`` if within [0, 1], else GroupError."""
    if not (math.isfinite(visibility) and 0.0 <= visibility <= 1.0):
        raise GroupError(f"visibility must lie within [0, 1], got {visibility!r}")
    return float(visibility)


def predicted_win(strategy: GroupStrategyName, players: int, visibility: float = 1.0,
                  ) -> float | None:
    """The game value a strategy achieves (None for ``random``, which plays no game).

    GHZ at visibility V: V * value + (1 - V) / 2 (uniform answers win half the rounds).
    """
    if strategy is GroupStrategyName.RANDOM:
        return None
    if strategy is GroupStrategyName.COIN:
        return 0.5
    if strategy is GroupStrategyName.CLASSICAL:
        return classical_strategy(players).value
    v = check_visibility(visibility)
    return v * ghz_strategy(players).value + (1.0 - v) / 2.0


def draw_questions(players: int, rounds: int, rng: np.random.Generator) -> NDArray[np.int64]:
    """Question tuples drawn from the game's distribution, int64 (rounds, n)."""
    game = group_game(players)
    flat = rng.choice(game.prob.size, size=rounds, p=game.prob.ravel())
    return np.stack(np.unravel_index(flat, game.shape), axis=1).astype(np.int64)


def answer_bits(strategy: GroupStrategyName, questions: ArrayLike, rng: np.random.Generator,
                visibility: float = 1.0) -> NDArray[np.int8]:
    """Each balancer's server bit (0: u, 1: v) per round, int8 (rounds, n).

    Args:
        strategy: COIN, CLASSICAL or GHZ (RANDOM plays no game).
        questions: int (rounds, n), 1 for type C, 0 for type E.
        rng: draws the GHZ outcomes, the noise and the coins.
        visibility: GHZ only: with probability 1 - V a round's answers are uniform.
    """
    x = np.asarray(questions, dtype=np.int64)
    players = check_group_size(x.shape[1]) if x.ndim == 2 else -1
    if x.ndim != 2:
        raise GroupError(f"questions must have shape (rounds, n), got {x.shape}")
    if strategy is GroupStrategyName.COIN:
        return rng.integers(0, 2, size=x.shape, dtype=np.int8)
    if strategy is GroupStrategyName.CLASSICAL:
        return classical_strategy(players).answer(x)
    if strategy is not GroupStrategyName.GHZ:
        raise GroupError(f"strategy {strategy.value!r} plays no game: it has no answer bits")
    v = check_visibility(visibility)
    bits = ghz_strategy(players).sample(x, rng)
    if v < 1.0:
        noisy: NDArray[np.bool_] = np.asarray(rng.random(x.shape[0]) >= v)
        bits[noisy] = rng.integers(0, 2, size=(int(noisy.sum()), players)).astype(np.int8)
    return bits


def wins_of(questions: ArrayLike, bits: ArrayLike) -> NDArray[np.bool_]:
    """Whether each round is won: XOR of the bits == pred[questions], bool (rounds,)."""
    x = np.asarray(questions, dtype=np.int64)
    a = np.asarray(bits, dtype=np.int8)
    pred = group_game(x.shape[1]).pred[tuple(x.T)]
    return np.asarray(np.bitwise_xor.reduce(a, axis=1) == pred)


@dataclass(frozen=True)
class WinRate:
    """Rounds won of rounds played, with the Wilson 95% interval (scipy)."""

    wins: int
    rounds: int

    @property
    def rate(self) -> float:
        """wins / rounds."""
        return self.wins / self.rounds

    @property
    def interval(self) -> tuple[float, float]:
        """Wilson score interval at 95% confidence."""
        ci = binomtest(self.wins, self.rounds).proportion_ci(confidence_level=0.95,
                                                              method="wilson")
        return float(ci.low), float(ci.high)


def play_rounds(strategy: GroupStrategyName, players: int, rounds: int, seed: int,
                visibility: float = 1.0) -> WinRate:
    """Play ``rounds`` rounds of the group game (questions from the game's law), count wins.

    The questions come from ``default_rng([seed, 0])``, the answers from
    ``default_rng([seed, 1])``, so every strategy sees the same questions.
    """
    if rounds < 1:
        raise GroupError(f"rounds must be >= 1, got {rounds}")
    questions = draw_questions(players, rounds, np.random.default_rng([seed, 0]))
    bits = answer_bits(strategy, questions, np.random.default_rng([seed, 1]), visibility)
    return WinRate(int(wins_of(questions, bits).sum()), rounds)
