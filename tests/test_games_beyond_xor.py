"""Nonlocal games beyond XOR: validation, exact classical value, see-saw and NPA level 1,
and the ECMP conjecture study (issue #6 item 5)."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest

from qnic.experiments.ecmp_conjecture import (
    ecmp_game,
    independent_activity,
    pairwise_test_game,
    run_study,
    save_study,
    summary_text,
    tagged_pair_activity,
)
from qnic.games import (
    InvalidGameError,
    NonlocalGame,
    chsh_game,
    chsh_nonlocal_game,
    linear_game,
    magic_square_game,
)
from qnic.games.npa import moment_constraints, probability_maps

CHSH_QUANTUM = math.cos(math.pi / 8) ** 2
TOL = 1e-6


def brute_force_classical(game: NonlocalGame) -> float:
    """Best win probability over all pairs of deterministic strategies, written out plainly."""
    n_x, n_y, n_a, n_b = game.shape
    return max(sum(game.prob[x, y] * game.win[x, y, a[x], b[y]]
                   for x in range(n_x) for y in range(n_y))
               for a in itertools.product(range(n_a), repeat=n_x)
               for b in itertools.product(range(n_b), repeat=n_y))


def random_game(rng: np.random.Generator, max_questions: int = 3,
                max_outputs: int = 3) -> NonlocalGame:
    n_x, n_y = rng.integers(1, max_questions + 1, size=2)
    n_a, n_b = rng.integers(1, max_outputs + 1, size=2)
    prob = rng.dirichlet(np.ones(n_x * n_y)).reshape(n_x, n_y)
    return NonlocalGame(prob, rng.random((n_x, n_y, n_a, n_b)) < 0.5)


RANDOM_GAMES = [random_game(np.random.default_rng([6, k])) for k in range(20)]


# --- construction and validation -------------------------------------------------------

def test_predicate_and_array_forms_agree() -> None:
    array_form = NonlocalGame.from_xor(chsh_game())
    assert array_form.shape == (2, 2, 2, 2)
    assert np.array_equal(array_form.win, chsh_nonlocal_game().win)
    assert array_form.win[1, 1, 0, 1] and not array_form.win[1, 1, 0, 0]
    assert np.array_equal(array_form.prob, np.full((2, 2), 0.25))
    with pytest.raises(ValueError):
        array_form.prob[0, 0] = 1.0  # read-only


@pytest.mark.parametrize(("prob", "win", "outputs", "match"), [
    ([[0.5, 0.6]], np.ones((1, 2, 2, 2)), None, "sum to 1"),
    ([[1.0, -0.0], [0.5, -0.5]], np.ones((2, 2, 2, 2)), None, r"prob\[1\]\[1\].*negative"),
    ([[1.0]], np.ones((1, 1, 2)), None, "4-D"),
    ([[0.5, 0.5]], np.ones((2, 1, 2, 2)), None, "must match"),
    ([[1.0]], np.ones((1, 1, 0, 2)), None, "at least one output"),
    ([[1.0]], [[[[0, 2]]]], None, r"win\[0\]\[0\]\[0\]\[1\] = 2"),
    ([[1.0]], "win", None, "predicate"),
    ([[1.0]], np.ones((1, 1, 2, 2)), 3, "outputs=3"),
    ([[1.0]], lambda x, y, a, b: True, None, "needs outputs"),
    ([[1.0]], lambda x, y, a, b: True, (2, 0), "positive int"),
    ([[1.0]], lambda x, y, a, b: 1 / (a - b), 2, r"win\(0, 0, 0, 0\) raised ZeroDivisionError"),
    ([[1.0]], lambda x, y, a, b: "yes", 2, "must return a bool"),
])
def test_invalid_games_are_rejected_with_the_reason(prob: object, win: object, outputs: object,
                                                    match: str) -> None:
    with pytest.raises(InvalidGameError, match=match):
        NonlocalGame(prob, win, outputs)  # type: ignore[arg-type]


def test_win_probability_checks_the_shape() -> None:
    game = chsh_nonlocal_game()
    uniform = np.full((2, 2, 2, 2), 0.25)
    assert game.win_probability(uniform) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="shape"):
        game.win_probability(np.zeros((2, 2, 2)))


# --- classical value --------------------------------------------------------------------

@pytest.mark.parametrize("game", RANDOM_GAMES, ids=lambda g: "x".join(map(str, g.shape)))
def test_classical_value_matches_brute_force(game: NonlocalGame) -> None:
    result = game.classical_value()
    assert result.value == pytest.approx(brute_force_classical(game), abs=1e-14)
    achieved = sum(game.prob[x, y] * game.win[x, y, result.a[x], result.b[y]]
                   for x in range(game.shape[0]) for y in range(game.shape[1]))
    assert result.value == pytest.approx(achieved, abs=1e-15)


def test_classical_value_of_named_games() -> None:
    assert chsh_nonlocal_game().classical_value().value == pytest.approx(0.75, abs=1e-15)
    assert magic_square_game().classical_value().value == pytest.approx(8 / 9, abs=1e-15)
    assert linear_game(3).classical_value().value == pytest.approx(2 / 3, abs=1e-15)


def test_classical_enumeration_refuses_huge_games() -> None:
    game = NonlocalGame(np.full((12, 12), 1 / 144), np.ones((12, 12, 4, 4)))
    with pytest.raises(ValueError, match="at most"):
        game.classical_value()


# --- see-saw and NPA level 1 ------------------------------------------------------------

def test_chsh_seesaw_and_npa1_reach_tsirelson() -> None:
    game = chsh_nonlocal_game()
    seesaw = game.seesaw(dim=2, restarts=5, seed=0)
    assert seesaw.value == pytest.approx(CHSH_QUANTUM, abs=TOL)
    for positivity in (True, False):
        bound = game.npa1_upper_bound(positivity=positivity)
        assert bound.upper_bound == pytest.approx(CHSH_QUANTUM, abs=TOL)
        assert bound.upper_bound >= CHSH_QUANTUM - 1e-12  # a bound, not an estimate
        assert bound.gap < 1e-8


def test_seesaw_strategy_is_a_valid_quantum_strategy() -> None:
    game = linear_game(3, questions=2)
    result = game.seesaw(dim=3, restarts=4, seed=1)
    eye = np.eye(3)
    for projs in (result.alice, result.bob):
        assert np.allclose(projs.sum(axis=1), eye, atol=1e-12)
        assert np.allclose(projs @ projs, projs, atol=1e-12)
        assert np.allclose(projs, projs.conj().swapaxes(-1, -2), atol=1e-12)
    assert np.all(result.behaviour >= -1e-12)
    assert np.allclose(result.behaviour.sum(axis=(2, 3)), 1.0, atol=1e-12)
    assert result.value == pytest.approx(game.win_probability(result.behaviour), abs=1e-15)
    assert result.value == pytest.approx(float(result.restart_values.max()), abs=1e-12)
    assert result.value > game.classical_value().value + 0.05  # 0.829 against 0.75
    with pytest.raises(ValueError, match="dim"):
        game.seesaw(dim=0)


def test_npa1_certificate_and_moment_matrix() -> None:
    game = linear_game(3, questions=2)
    bound = game.npa1_upper_bound()
    cert = bound.certificate
    assert bound.upper_bound == pytest.approx(
        cert.dual_value + max(0.0, -cert.min_eigenvalue) * cert.trace_bound
        + cert.negative_slack_weight, abs=1e-15)
    assert cert.min_eigenvalue > -1e-9 and cert.negative_slack_weight < 1e-9
    gamma = bound.moment_matrix
    assert np.linalg.eigvalsh(gamma)[0] > -1e-12
    mats, rhs = moment_constraints(game.shape)
    assert np.allclose(np.einsum("mij,ij->m", mats, gamma), rhs, atol=1e-8)
    behaviour = np.einsum("xyabij,ij->xyab", probability_maps(game.shape), gamma)
    assert np.all(behaviour > -1e-8)
    assert game.win_probability(behaviour) == pytest.approx(bound.value, abs=1e-12)
    assert bound.value <= bound.upper_bound + 1e-12


@pytest.mark.parametrize("game", RANDOM_GAMES, ids=lambda g: "x".join(map(str, g.shape)))
def test_bounds_are_ordered_on_random_games(game: NonlocalGame) -> None:
    classical = game.classical_value().value
    seesaw = game.seesaw(dim=2, restarts=3, seed=2, max_iter=100).value
    npa = game.npa1_upper_bound()
    loose = game.npa1_upper_bound(positivity=False)
    assert classical <= npa.upper_bound + 1e-9
    assert seesaw <= npa.upper_bound + 1e-9
    assert npa.upper_bound <= loose.upper_bound + 1e-8  # positivity only tightens
    assert npa.gap < 1e-6


def test_one_question_for_alice_means_quantum_equals_classical() -> None:
    # Alice's single measurement can be made first: every no-signalling behaviour
    # with one input on a side is local, and NPA1 with positivity is no-signalling.
    rng = np.random.default_rng(11)
    for _ in range(5):
        n_y, n_a, n_b = rng.integers(2, 4, size=3)
        game = NonlocalGame(rng.dirichlet(np.ones(n_y))[None, :],
                            rng.random((1, n_y, n_a, n_b)) < 0.5)
        classical = game.classical_value().value
        assert game.npa1_upper_bound().upper_bound == pytest.approx(classical, abs=TOL)
        assert game.seesaw(dim=2, restarts=3, seed=0).value <= classical + 1e-9


def test_magic_square_values() -> None:
    # Mermin-Peres: 8/9 classically, 1 with two Bell pairs (local dimension 4).
    game = magic_square_game()
    assert game.npa1_upper_bound().upper_bound == pytest.approx(1.0, abs=TOL)
    assert game.seesaw(dim=4, restarts=6, seed=0).value == pytest.approx(1.0, abs=TOL)


def test_chsh3_brackets() -> None:
    # CHSH_3 (a + b = x y mod 3): classical 2/3; NPA1 meets the Bavarian-Shor bound
    # 1/3 + 2/(3 sqrt 3) = 0.71823; a qutrit see-saw reaches 0.71239.
    game = linear_game(3)
    bound = game.npa1_upper_bound().upper_bound
    assert bound == pytest.approx(1 / 3 + 2 / (3 * math.sqrt(3)), abs=TOL)
    seesaw = game.seesaw(dim=3, restarts=6, seed=0).value
    assert 0.712 < seesaw <= bound


# --- the ECMP conjecture ----------------------------------------------------------------

def test_activity_distributions() -> None:
    for model in (tagged_pair_activity(2, 1), tagged_pair_activity(4, 3),
                  independent_activity(0.3)):
        assert model.prob.sum() == pytest.approx(1.0, abs=1e-15)
    assert tagged_pair_activity(3, 2).prob[1, 1] == pytest.approx(1 / 3)
    assert tagged_pair_activity(2, 1).prob[1, 1] == 0.0
    with pytest.raises(ValueError):
        tagged_pair_activity(2, 3)
    with pytest.raises(ValueError):
        independent_activity(1.5)


@pytest.mark.parametrize("model", [tagged_pair_activity(2, 2), independent_activity(0.5)],
                         ids=lambda m: m.name)
def test_smallest_ecmp_case_has_no_quantum_advantage(model: object) -> None:
    # Two switches, two paths. Only a collision of two active switches loses, so
    # "Alice path 0, Bob path 1" is perfect: classical value 1, and NPA1 certifies
    # that no entangled strategy exceeds it.
    game = ecmp_game(2, model)  # type: ignore[arg-type]
    assert game.classical_value().value == pytest.approx(1.0, abs=1e-15)
    assert game.npa1_upper_bound().upper_bound == pytest.approx(1.0, abs=TOL)
    assert game.seesaw(dim=2, restarts=3, seed=0).value == pytest.approx(1.0, abs=1e-12)
    # with one path the collision is forced: 1 - P(both active), entangled or not
    one_path = ecmp_game(1, model)  # type: ignore[arg-type]
    expected = 1.0 - model.prob[1, 1]  # type: ignore[attr-defined]
    assert one_path.classical_value().value == pytest.approx(expected, abs=1e-15)
    assert one_path.npa1_upper_bound().upper_bound == pytest.approx(expected, abs=TOL)


def test_pairwise_reduction_of_three_switches_is_the_triangle_game() -> None:
    # Named switches i, j of 3 (the same switch with probability 1/2). Classically
    # 5/6: one 2-colouring for both players wins every consistency test and loses
    # the 2 ordered pairs of its monochromatic edge (1/2 + 1/2 * 4/6). Quantum:
    # u_i = v_i at 120 degrees give bias 1/2 * 1 + 1/2 * 1/2, value 7/8, which
    # NPA1 (tight for XOR games) certifies as optimal.
    game = pairwise_test_game(3, 2)
    assert game.classical_value().value == pytest.approx(5 / 6, abs=1e-15)
    assert game.npa1_upper_bound().upper_bound == pytest.approx(7 / 8, abs=TOL)
    assert game.seesaw(dim=2, restarts=5, seed=0).value == pytest.approx(7 / 8, abs=TOL)


def test_study_table_and_json(tmp_path: Path) -> None:
    study = run_study(paths=(2,), dims=(2,), activities=[tagged_pair_activity(3, 2)],
                      pairwise=[(3, 2)], restarts=3, seed=0)
    activity, pairwise = study.cases
    assert not activity.advantage_possible and not activity.advantage_found
    assert pairwise.advantage_possible and pairwise.advantage_found
    text = summary_text(study)
    assert "no advantage (proved)" in text and "quantum advantage" in text
    data = json.loads(save_study(study, tmp_path / "out").read_text())
    assert [c["advantage_possible"] for c in data["cases"]] == [False, True]
    assert data["cases"][1]["npa1_upper_bound"] == pytest.approx(7 / 8, abs=TOL)
    assert "provably does not help" in data["finding"]
