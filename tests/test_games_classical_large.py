"""Classical value of XOR games past brute force (issue #18 item 2): the compiled
Gray-code search against plain enumeration, closed forms past 24 questions, and
the certified bracket beyond exact search."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from qnic.games import (
    MAX_ENUMERATED_QUESTIONS,
    ClassicalTooLargeError,
    XorGame,
    chained_bell_game,
    chsh_game,
    odd_cycle_game,
)
from qnic.games.classical import _compiled_search, _numpy_search
from qnic.games.classical_bound import most_violated, triangle_bound
from qnic.games.classical_kernel import gray_blocks
from qnic.games.classical_search import exhaustive_signs, local_search


def plain_best_bias(cost: np.ndarray) -> float:
    """max over all +-1 vectors alpha, beta of alpha^T C beta, written out plainly."""
    m, n = cost.shape
    return max(float(np.array(a) @ cost @ np.array(b))
               for a in itertools.product((1, -1), repeat=m)
               for b in itertools.product((1, -1), repeat=n))


def sparse_random(rng: np.random.Generator, m: int, n: int) -> np.ndarray:
    return rng.standard_normal((m, n)) * (rng.random((m, n)) < 0.6)


@pytest.mark.parametrize(("m", "n"), [(1, 1), (1, 4), (2, 3), (3, 5), (5, 2), (6, 6), (7, 4)])
def test_gray_code_walk_equals_brute_force_at_every_split(m: int, n: int) -> None:
    rng = np.random.default_rng(100 * m + n)
    cost = sparse_random(rng, m, n)
    expected = plain_best_bias(cost)
    for outer in range(m):  # every split of the signs into blocks and walk
        bias, code = gray_blocks(np.ascontiguousarray(cost), outer, -1.0, np.inf)
        i = int(np.argmax(bias))
        alpha = np.where((int(code[i]) >> np.arange(m)) & 1, -1.0, 1.0)
        assert bias[i] == pytest.approx(expected, abs=1e-12)
        assert np.abs(alpha @ cost).sum() == pytest.approx(expected, abs=1e-12)  # the code is its vector


@pytest.mark.parametrize("seed", range(4))
def test_pruned_search_equals_numpy_enumeration(seed: int) -> None:
    rng = np.random.default_rng(seed)
    k, n = (17, 9) if seed % 2 else (18, 23)
    cost = sparse_random(rng, k, n) if seed < 2 else rng.standard_normal((k, n))
    exact = np.abs(_numpy_search(cost) @ cost).sum()
    assert np.abs(_compiled_search(cost) @ cost).sum() == pytest.approx(exact, rel=1e-13)
    # a floor above the optimum leaves nothing to find; just below it, the optimum is found
    assert exhaustive_signs(cost, exact * (1 + 1e-9)) is None
    found = exhaustive_signs(cost, exact * (1 - 1e-6))
    assert found is not None and np.abs(found @ cost).sum() == pytest.approx(exact, rel=1e-13)


def test_large_games_through_the_public_api_agree_with_their_transpose() -> None:
    rng = np.random.default_rng(9)
    prob = rng.random((20, 19))
    pred = rng.integers(0, 2, (20, 19))
    game, flipped = XorGame(prob / prob.sum(), pred), XorGame((prob / prob.sum()).T, pred.T)
    c, ct = game.classical_value(), flipped.classical_value()
    assert c.method == ct.method == "gray-code"
    assert c.value == pytest.approx(ct.value, abs=1e-13)
    won = (c.a[:, None] ^ c.b[None, :]) == game.pred
    assert c.value == pytest.approx(float(game.prob[won].sum()), abs=1e-15)
    assert c.value <= game.quantum_value().upper_bound


@pytest.mark.parametrize("n", [25, 27])
def test_odd_cycles_past_24_have_their_closed_form(n: int) -> None:
    """Cleve, Hoyer, Toner, Watrous: classical 1 - 1/(2n) (refused before issue #18)."""
    game = odd_cycle_game(n)
    assert game.classical_value().value == pytest.approx(1 - 1 / (2 * n), abs=1e-12)
    assert game.quantum_value().value == pytest.approx(math.cos(math.pi / (4 * n)) ** 2, abs=1e-9)


@pytest.mark.parametrize("n", [2, 3, 26])
def test_chained_bell_games_have_their_closed_form(n: int) -> None:
    """Braunstein-Caves: classical 1 - 1/(2n), quantum cos^2(pi/(4n)); n = 2 is CHSH."""
    game = chained_bell_game(n)
    assert game.classical_value().value == pytest.approx(1 - 1 / (2 * n), abs=1e-12)
    assert game.quantum_value().value == pytest.approx(math.cos(math.pi / (4 * n)) ** 2, abs=1e-9)
    if n == 2:
        assert game.quantum_value().value == pytest.approx(chsh_game().quantum_value().value,
                                                           abs=1e-12)
    with pytest.raises(ValueError, match="n >= 2"):
        chained_bell_game(1)


@pytest.mark.parametrize("make", [odd_cycle_game, chained_bell_game])
def test_bracket_past_exact_search_holds_the_closed_form(make: object) -> None:
    n = 33  # both sides past MAX_ENUMERATED_QUESTIONS
    game = make(n)  # type: ignore[operator]
    with pytest.raises(ClassicalTooLargeError, match=r"33 x 33.*classical_bracket\(\)"):
        game.classical_value()
    plain = game.classical_bracket(starts=200, cut_rounds=0)
    quantum = math.cos(math.pi / (4 * n)) ** 2
    assert plain.upper == pytest.approx(quantum, abs=1e-8)  # the Tsirelson bound
    assert plain.upper_method == "Tsirelson SDP dual bound"
    bracket = game.classical_bracket(starts=200, cut_rounds=15)
    closed = 1 - 1 / (2 * n)
    assert bracket.lower == pytest.approx(closed, abs=1e-12)  # local search finds an optimum
    assert closed <= bracket.upper < quantum - 1e-4  # the triangle cuts tighten the bound
    assert "triangle cuts" in bracket.upper_method
    s = bracket.strategy
    won = (s.a[:, None] ^ s.b[None, :]) == game.pred
    assert s.value == bracket.lower == pytest.approx(float(game.prob[won].sum()), abs=1e-15)
    assert not bracket.is_exact and bracket.width == pytest.approx(bracket.upper - bracket.lower)
    assert "local search, 200 starts" in bracket.lower_method


def test_bracket_of_a_small_game_is_the_exact_value() -> None:
    game = odd_cycle_game(7)
    exact = game.classical_bracket()
    assert exact.is_exact and exact.width == 0.0
    assert exact.lower == exact.upper == pytest.approx(1 - 1 / 14, abs=1e-12)
    forced = game.classical_bracket(starts=50, exact_up_to=0)
    assert not forced.is_exact
    assert forced.lower <= exact.lower + 1e-15 <= forced.upper + 1e-15


def test_local_search_reaches_a_flip_optimum_and_checks_its_arguments() -> None:
    rng = np.random.default_rng(4)
    cost = rng.standard_normal((12, 10))
    alpha, starts = local_search(cost, 20, rng)
    assert starts == 20 and set(np.unique(alpha)) <= {-1.0, 1.0}
    bias = np.abs(alpha @ cost).sum()
    for x in range(12):  # no single flip (the other player re-optimised) improves it
        flipped = alpha.copy()
        flipped[x] *= -1
        assert np.abs(flipped @ cost).sum() <= bias + 1e-12
    with pytest.raises(ValueError, match="starts must be >= 1"):
        local_search(cost, 0, rng)


def test_the_exact_limit_is_the_documented_one() -> None:
    assert MAX_ENUMERATED_QUESTIONS == 32
    lopsided = XorGame(np.full((2, 40), 1 / 80), np.zeros((2, 40), dtype=int))
    assert lopsided.classical_value().value == pytest.approx(1.0)  # only the smaller side counts


@pytest.mark.parametrize("seed", range(3))
def test_triangle_cut_bound_lies_between_the_classical_and_quantum_values(seed: int) -> None:
    rng = np.random.default_rng(50 + seed)
    prob = rng.random((9, 9))
    game = XorGame(prob / prob.sum(), rng.integers(0, 2, (9, 9)))
    exact_bias = game.classical_value().bias
    quantum_bias = 2 * game.quantum_value().upper_bound - 1
    # aimed at a bias below the true one, the bound must still stay above the true one
    cut = triangle_bound(game.cost_matrix, exact_bias - 0.05, rounds=40)
    assert cut.first_bias_bound == pytest.approx(quantum_bias, abs=1e-6)
    assert exact_bias - 1e-12 <= cut.bias_bound <= cut.first_bias_bound
    assert cut.bias_bound < quantum_bias - 1e-3  # tighter than entanglement allows
    assert cut.rounds == 40 and 0 < cut.cuts <= 6000
    with pytest.raises(ValueError, match="rounds must be >= 1"):
        triangle_bound(game.cost_matrix, exact_bias, rounds=0)


def test_most_violated_triangles_are_violated_and_valid_for_strategies() -> None:
    rng = np.random.default_rng(2)
    vectors = rng.standard_normal((12, 3))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    gram = vectors @ vectors.T
    cuts = most_violated(gram, 10)
    signs = np.array([(1, 1, 1), (1, -1, -1), (-1, 1, -1), (-1, -1, 1)])[cuts[:, 3]]
    a, b, c = cuts[:, 0], cuts[:, 1], cuts[:, 2]
    slack = signs[:, 0] * gram[a, b] + signs[:, 1] * gram[b, c] + signs[:, 2] * gram[a, c] + 1
    assert len(cuts) == 10 and np.all(slack < 0) and np.all((a < b) & (b < c))
    for v in itertools.product((1, -1), repeat=12):  # every +-1 Gram matrix satisfies them
        x = np.outer(v, v)
        assert np.all(signs[:, 0] * x[a, b] + signs[:, 1] * x[b, c] + signs[:, 2] * x[a, c] >= -1)


def test_games_too_large_for_cuts_keep_the_quantum_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    import qnic.games.classical as classical

    monkeypatch.setattr(classical, "MAX_CUT_QUESTIONS", 20)
    rng = np.random.default_rng(21)
    prob = rng.random((12, 12))
    game = XorGame(prob / prob.sum(), rng.integers(0, 2, (12, 12)))
    bracket = game.classical_bracket(starts=50, exact_up_to=0)
    assert "no triangle cuts above 20 questions" in bracket.upper_method
    assert bracket.upper == pytest.approx(game.quantum_value().upper_bound, abs=1e-15)
    assert bracket.lower <= game.classical_value().value + 1e-15 <= bracket.upper + 1e-15
