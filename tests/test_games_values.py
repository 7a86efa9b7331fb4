"""XOR games: input validation, classical value, Tsirelson SDP and its certificate."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qnic.games import InvalidGameError, XorGame, chsh_game, odd_cycle_game

GROTHENDIECK_BOUND = 1.7823  # K_G < 1.7823 (Braverman et al.): quantum bias <= K_G classical bias


def brute_force_classical(game: XorGame) -> float:
    """Best win probability over all 2^(m+n) deterministic strategies, written out plainly."""
    m, n = game.shape
    best = 0.0
    for a in itertools.product((0, 1), repeat=m):
        for b in itertools.product((0, 1), repeat=n):
            won = sum(game.prob[x, y] for x in range(m) for y in range(n)
                      if (a[x] ^ b[y]) == game.pred[x, y])
            best = max(best, won)
    return best


def sign_vector_game(k: int) -> XorGame:
    """Alice gets i < k, Bob a sign vector s in {+-1}^k, uniformly; win when (-1)^(a xor b) = s_i.

    Its optimum puts Alice's vectors on an orthonormal basis of R^k (unique up
    to rotation: E_s ||sum s_i u_i|| <= sqrt k with equality only then), so
    the quantum value is 1/2 + 1/(2 sqrt k) and needs k dimensions; classically
    1/2 + E|s_1 + ... + s_k| / (2k).
    """
    signs = np.array(list(itertools.product((1, -1), repeat=k))).T  # (k, 2^k)
    prob = np.full(signs.shape, 1.0 / signs.size)
    return XorGame(prob, (signs < 0).astype(int))


def check_certificate(game: XorGame) -> None:
    """The dual point is feasible for the SDP built here from scratch, and closes the gap."""
    q = game.quantum_value()
    m, n = game.shape
    cost = game.prob * np.where(game.pred == 1, -1.0, 1.0)
    w = np.block([[np.zeros((m, m)), cost / 2], [cost.T / 2, np.zeros((n, n))]])
    z = np.concatenate([q.certificate.alice, q.certificate.bob])
    assert np.linalg.eigvalsh(np.diag(z) - w)[0] >= -1e-12
    assert q.upper_bound == pytest.approx(0.5 + 0.5 * z.sum(), abs=1e-15)
    achieved = game.win_probability(q.alice_vectors @ q.bob_vectors.T)
    assert np.allclose(np.linalg.norm(q.alice_vectors, axis=1), 1.0)
    assert np.allclose(np.linalg.norm(q.bob_vectors, axis=1), 1.0)
    assert achieved == pytest.approx(q.value, abs=1e-12)
    assert q.value <= q.upper_bound + 1e-15
    assert q.gap == pytest.approx(q.upper_bound - q.value, abs=1e-15)
    assert q.gap < 1e-8


# --- validation -----------------------------------------------------------------

@pytest.mark.parametrize(("prob", "pred", "message"), [
    ([0.5, 0.5], [0, 1], "2-D"),
    ([], [], "2-D"),
    ([[0.5, 0.5], [0.0]], [[0, 0], [0]], "rectangular"),
    ([["a", "b"]], [[0, 0]], "numbers"),
    ("0.5", [[0]], "matrix"),
    ([[0.75, -0.25], [0.25, 0.25]], [[0, 0], [0, 0]], r"prob\[0\]\[1\] = -0.25 is negative"),
    ([[float("nan"), 1.0]], [[0, 0]], r"prob\[0\]\[0\] is nan"),
    ([[0.25, 0.25], [0.25, 0.2]], [[0, 0], [0, 0]], "sum to 1, sums to 0.95"),
    ([[0.25, 0.25], [0.25, 0.25]], [[0, 0]], r"pred has shape \(1, 2\) but prob has shape \(2, 2\)"),
    ([[0.25, 0.25], [0.25, 0.25]], [[0, 0], [0, 2]], r"pred\[1\]\[1\] = .*2.*must be 0 or 1"),
    ([[0.25, 0.25], [0.25, 0.25]], [[0, 0.5], [0, 1]], r"pred\[0\]\[1\] = .*0.5.*must be 0 or 1"),
])
def test_invalid_games_are_rejected_with_the_reason(prob: object, pred: object, message: str) -> None:
    with pytest.raises(InvalidGameError, match=message):
        XorGame(prob, pred)  # type: ignore[arg-type]


def test_from_dict_names_missing_keys_and_accepts_json_form() -> None:
    with pytest.raises(InvalidGameError, match="missing.*pred"):
        XorGame.from_dict({"prob": [[1.0]]})
    with pytest.raises(InvalidGameError, match="object"):
        XorGame.from_dict([[1.0]])
    game = XorGame.from_dict({"prob": [[0.5, 0.5]], "pred": [[True, False]]})
    assert game.pred.tolist() == [[1, 0]] and game.shape == (1, 2)
    assert XorGame.from_dict(game.to_dict()).to_dict() == game.to_dict()
    with pytest.raises(ValueError):
        game.prob[0, 0] = 1.0  # read-only


# --- known values -------------------------------------------------------------------

def test_chsh_values() -> None:
    game = chsh_game()
    c = game.classical_value()
    assert c.value == pytest.approx(0.75, abs=1e-15)
    won = (c.a[:, None] ^ c.b[None, :]) == game.pred
    assert game.prob[won].sum() == pytest.approx(0.75)
    assert game.quantum_value().value == pytest.approx(math.cos(math.pi / 8) ** 2, abs=1e-10)
    check_certificate(game)


@pytest.mark.parametrize("n", [3, 5, 7, 9])
def test_odd_cycle_values(n: int) -> None:
    game = odd_cycle_game(n)
    assert game.classical_value().value == pytest.approx(1 - 1 / (2 * n), abs=1e-12)
    assert game.quantum_value().value == pytest.approx(math.cos(math.pi / (4 * n)) ** 2, abs=1e-10)
    assert game.quantum_value().upper_bound == pytest.approx(math.cos(math.pi / (4 * n)) ** 2,
                                                             abs=1e-9)
    check_certificate(game)


@pytest.mark.parametrize(("k", "classical"), [(3, 0.75), (4, 0.6875)])
def test_sign_vector_games(k: int, classical: float) -> None:
    game = sign_vector_game(k)
    assert game.classical_value().value == pytest.approx(classical, abs=1e-12)
    assert game.quantum_value().value == pytest.approx(0.5 + 0.5 / math.sqrt(k), abs=1e-10)
    check_certificate(game)


@pytest.mark.parametrize("pred_fill", [0, 1])
def test_games_whose_values_coincide(pred_fill: int) -> None:
    """All-equal predicates are won classically (answer alike, or opposite); nothing beats 1."""
    game = XorGame(np.full((3, 4), 1 / 12), np.full((3, 4), pred_fill))
    assert game.classical_value().value == pytest.approx(1.0, abs=1e-12)
    q = game.quantum_value()
    assert q.value == game.classical_value().value
    assert q.upper_bound == pytest.approx(1.0, abs=1e-9)
    check_certificate(game)
    # a one-question side can never gain from entanglement
    lone = XorGame([[0.2, 0.3, 0.5]], [[1, 0, 1]])
    assert lone.quantum_value().value == lone.classical_value().value == pytest.approx(1.0)


def test_large_game_classical_both_orientations() -> None:
    rng = np.random.default_rng(11)
    prob = rng.random((16, 10))
    prob /= prob.sum()
    pred = rng.integers(0, 2, (16, 10))
    game, flipped = XorGame(prob, pred), XorGame(prob.T, pred.T)
    c, ct = game.classical_value(), flipped.classical_value()
    assert c.value == pytest.approx(ct.value, abs=1e-12)
    assert c.a.tolist() in (ct.b.tolist(), (1 - ct.b).tolist())
    q = game.quantum_value()
    assert c.value < q.value <= 1.0
    check_certificate(game)


def test_sixteen_by_sixteen() -> None:
    rng = np.random.default_rng(5)
    prob = rng.random((16, 16))
    game = XorGame(prob / prob.sum(), rng.integers(0, 2, (16, 16)))
    c = game.classical_value()
    alpha, beta = c.signs()
    # no single answer flip improves an optimal strategy
    cost = game.cost_matrix
    assert np.all(alpha * (cost @ beta) >= -1e-15) and np.all(beta * (alpha @ cost) >= -1e-15)
    check_certificate(game)
    assert game.quantum_value().value >= c.value


# --- random games ---------------------------------------------------------------------

@st.composite
def small_games(draw: st.DrawFn) -> XorGame:
    m, n = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    weights = np.array(draw(st.lists(st.integers(0, 6), min_size=m * n, max_size=m * n)), float)
    if weights.sum() == 0:
        weights[draw(st.integers(0, m * n - 1))] = 1.0
    pred = draw(st.lists(st.integers(0, 1), min_size=m * n, max_size=m * n))
    return XorGame((weights / weights.sum()).reshape(m, n), np.reshape(pred, (m, n)))


@settings(max_examples=40, deadline=None)
@given(small_games())
def test_random_games_order_and_brute_force(game: XorGame) -> None:
    c, q = game.classical_value(), game.quantum_value()
    assert c.value == pytest.approx(brute_force_classical(game), abs=1e-12)
    assert c.value <= q.value <= q.upper_bound <= 1.0 + 1e-9
    check_certificate(game)
    if c.bias > 1e-9:
        assert 2 * q.upper_bound - 1 <= GROTHENDIECK_BOUND * c.bias + 1e-9
    strategy = game.quantum_strategy()
    assert strategy.value <= q.upper_bound + 1e-12
    assert strategy.value >= q.upper_bound - 1e-8
