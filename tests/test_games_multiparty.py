"""XOR games of three and more players (issue #18 item 3): validation, exact classical
value, the GHZ see-saw strategy and its sampling, the bipartite Tsirelson bound."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from qnic.games import (
    GhzStrategy,
    InvalidGameError,
    MultipartyXorGame,
    XorGame,
    ghz_state,
    mermin_game,
)


def brute_force_classical(game: MultipartyXorGame) -> float:
    """Best win probability over every deterministic strategy of every player, written out."""
    shape = game.shape
    best = 0.0
    for answers in itertools.product(*[itertools.product((0, 1), repeat=q) for q in shape]):
        won = sum(game.prob[x] for x in itertools.product(*map(range, shape))
                  if sum(answers[i][x[i]] for i in range(len(shape))) % 2 == game.pred[x])
        best = max(best, won)
    return best


def random_game(rng: np.random.Generator, shape: tuple[int, ...]) -> MultipartyXorGame:
    prob = rng.random(shape) * (rng.random(shape) < 0.8)
    prob.flat[0] += 0.1
    return MultipartyXorGame(prob / prob.sum(), rng.integers(0, 2, shape))


# --- validation -----------------------------------------------------------------

@pytest.mark.parametrize(("prob", "pred", "message"), [
    ([0.5, 0.5], [0, 1], "N >= 2 axes"),
    (np.full((2, 2, 2), 0.125), np.zeros((2, 2)), r"pred has shape \(2, 2\) but prob has shape \(2, 2, 2\)"),
    (np.full((2, 2, 2), 0.1), np.zeros((2, 2, 2)), "sum to 1, sums to 0.8"),
    ([[[0.5, 0.5], [0.5, -0.5]]], np.zeros((1, 2, 2)), r"prob\[0\]\[1\]\[1\] = -0.5 is negative"),
    ([[[0.5, np.nan]]], np.zeros((1, 1, 2)), r"prob\[0\]\[0\]\[1\] is nan"),
    (np.full((2, 1, 2), 0.25), [[[0, 1]], [[2, 0]]], r"pred\[1\]\[0\]\[0\] = .*2.*must be 0 or 1"),
    (np.full((2, 1, 2), 0.25), [[[0, 0.5]], [[1, 0]]], r"pred\[0\]\[0\]\[1\] = .*0.5"),
    ([[["a"]]], [[[0]]], "must hold numbers"),
    ("0.5", [[0]], "N-dimensional array"),
])
def test_invalid_games_name_the_array_and_entry(prob: object, pred: object, message: str) -> None:
    with pytest.raises(InvalidGameError, match=message):
        MultipartyXorGame(prob, pred)  # type: ignore[arg-type]


# --- classical value ----------------------------------------------------------------

@pytest.mark.parametrize("shape", [(2, 3), (3, 2, 2), (2, 2, 3), (1, 3, 2, 2), (2, 2, 2, 2)])
def test_classical_value_equals_brute_force(shape: tuple[int, ...]) -> None:
    game = random_game(np.random.default_rng(sum(shape) * 7 + len(shape)), shape)
    result = game.classical_value()
    assert result.value == pytest.approx(brute_force_classical(game), abs=1e-12)
    assert [a.size for a in result.answers] == list(shape)
    # the reported strategy wins with the reported value
    questions = np.array(list(itertools.product(*map(range, shape))))
    xor = np.bitwise_xor.reduce(result.answer(questions), axis=1)
    won = xor == game.pred[tuple(questions.T)]
    assert float(game.prob[tuple(questions[won].T)].sum()) == pytest.approx(result.value, abs=1e-15)


@pytest.mark.parametrize("players", [3, 4, 5, 6])
def test_mermin_game_classical_closed_form(players: int) -> None:
    """Brassard, Broadbent and Tapp: 1/2 + 2^-ceil(N/2)."""
    game = mermin_game(players)
    assert game.players == players and game.shape == (2,) * players
    assert game.classical_value().value == pytest.approx(0.5 + 2.0 ** -math.ceil(players / 2),
                                                         abs=1e-12)


def test_too_many_strategies_are_refused() -> None:
    shape = (13, 13, 13)
    game = MultipartyXorGame(np.full(shape, 1 / 13 ** 3), np.zeros(shape, dtype=int))
    with pytest.raises(ValueError, match=r"2\^22"):
        game.classical_value()
    with pytest.raises(ValueError, match="at least 3 players"):
        mermin_game(2)


# --- quantum value --------------------------------------------------------------------

@pytest.mark.parametrize("players", [3, 4])
def test_ghz_strategy_wins_the_mermin_game(players: int) -> None:
    q = mermin_game(players).quantum_value(restarts=5)
    assert q.lower == pytest.approx(1.0, abs=1e-12)
    assert q.upper == pytest.approx(1.0, abs=1e-7) and q.width < 1e-7
    s = q.strategy
    assert s.state == pytest.approx(ghz_state(players))
    for player in range(players):  # qubit observables with eigenvalues +-1
        for obs in s.observables[player]:
            assert np.allclose(obs, obs.conj().T)
            assert np.allclose(obs @ obs, np.eye(2))
        assert np.allclose(np.linalg.norm(s.bloch_vectors(player), axis=1), 1.0)


def test_bracket_orders_classical_below_quantum_bounds() -> None:
    rng = np.random.default_rng(3)
    for shape in [(2, 2, 2), (3, 2, 3)]:
        game = random_game(rng, shape)
        q = game.quantum_value(restarts=8)
        assert game.classical_value().value <= q.lower + 1e-12
        assert q.lower <= q.upper + 1e-12 <= 1.0 + 1e-9
        assert q.strategy.value == q.lower == pytest.approx(
            game.win_probability(q.strategy.correlations()), abs=1e-12)
        assert "GHZ" in q.lower_method and "Tsirelson" in q.upper_method


def test_two_players_agree_with_the_xor_game() -> None:
    rng = np.random.default_rng(8)
    prob, pred = rng.random((3, 3)), rng.integers(0, 2, (3, 3))
    two = MultipartyXorGame(prob / prob.sum(), pred)
    xor = XorGame(prob / prob.sum(), pred)
    assert two.classical_value().value == pytest.approx(xor.classical_value().value, abs=1e-12)
    q = two.quantum_value(restarts=10)
    assert q.upper == pytest.approx(xor.quantum_value().upper_bound, abs=1e-12)
    assert q.lower == pytest.approx(xor.quantum_value().value, abs=1e-7)  # qubits suffice at 3 x 3


def test_outcome_law_matches_the_correlators() -> None:
    game = random_game(np.random.default_rng(5), (2, 3, 2))
    s = game.quantum_value(restarts=4).strategy
    law = s.outcome_probabilities()  # (2, 3, 2, 2, 2, 2)
    assert law.sum(axis=(3, 4, 5)) == pytest.approx(np.ones((2, 3, 2)), abs=1e-12)
    parity = (-1.0) ** np.indices((2, 2, 2)).sum(axis=0)
    assert (law * parity).sum(axis=(3, 4, 5)) == pytest.approx(s.correlations(), abs=1e-12)


def test_sampling_wins_at_the_strategy_value() -> None:
    game = random_game(np.random.default_rng(6), (2, 2, 2))
    s = game.quantum_value(restarts=8).strategy
    rng = np.random.default_rng(12)
    rounds = 40_000
    flat = rng.choice(game.prob.size, size=rounds, p=game.prob.ravel())
    questions = np.stack(np.unravel_index(flat, game.shape), axis=1)
    answers = s.sample(questions, rng)
    assert answers.shape == (rounds, 3) and answers.dtype == np.int8
    won = np.bitwise_xor.reduce(answers, axis=1) == game.pred[tuple(questions.T)]
    # 4 sigma of a binomial proportion over 40 000 rounds
    sigma = math.sqrt(s.value * (1 - s.value) / rounds)
    assert abs(won.mean() - s.value) < 4 * sigma
    with pytest.raises(ValueError, match="shape"):
        s.sample(np.zeros((5, 2), dtype=int), rng)
    with pytest.raises(ValueError, match="out of range"):
        s.sample(np.full((5, 3), 2), rng)


def test_strategy_type_is_exported() -> None:
    assert isinstance(mermin_game(3).quantum_value(restarts=2).strategy, GhzStrategy)


def test_ghz_shortcut_equals_the_state_contraction() -> None:
    from qnic.games.multiparty_quantum import _expectations, _random_observables, ghz_correlations

    ops = _random_observables((2, 3, 1, 2), np.random.default_rng(4))
    assert ghz_correlations(ops) == pytest.approx(_expectations(ghz_state(4), ops), abs=1e-14)


def test_bound_takes_the_best_split_into_two_groups() -> None:
    from qnic.games.multiparty_quantum import bipartite_bound

    game = random_game(np.random.default_rng(31), (2, 2, 2, 2))
    bound, group = bipartite_bound(game.cost)
    singles = []
    for i in range(4):  # "player i against the rest", each computed here
        rest = tuple(j for j in range(4) if j != i)
        split = np.transpose(game.cost, (i,) + rest).reshape(2, 8)
        singles.append(XorGame(np.abs(split), (split < 0).astype(int)).quantum_value().upper_bound)
    assert bound <= min(singles) + 1e-12 and 0 in group
    q = game.quantum_value(restarts=5)
    assert q.lower <= bound + 1e-12 and q.upper == pytest.approx(bound, abs=1e-15)
