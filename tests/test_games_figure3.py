"""The Figure 3 study: random XOR games on complete graphs."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest

from qnic.experiments.xor_figure3 import quantum_gain, run_figure3, save_figure3
from qnic.games import graph_game, random_edge_labels


def labelings(n: int) -> list[np.ndarray]:
    """Every exclusive/co-locate labelling of K_n's edges."""
    edges = list(itertools.combinations(range(n), 2))
    out = []
    for bits in itertools.product((False, True), repeat=len(edges)):
        labels = np.zeros((n, n), dtype=bool)
        for (x, y), bit in zip(edges, bits):
            labels[x, y] = labels[y, x] = bit
        out.append(labels)
    return out


def test_graph_game_shape() -> None:
    game = graph_game(random_edge_labels(5, 0.5, np.random.default_rng(0)))
    assert np.all(np.diag(game.prob) == 0) and game.prob.sum() == pytest.approx(1.0)
    assert np.allclose(game.prob[~np.eye(5, dtype=bool)], 1 / 20)
    assert np.array_equal(game.pred, game.pred.T)
    with pytest.raises(ValueError, match="symmetric"):
        graph_game([[False, True], [False, False]])


def test_ends_of_the_curve_are_zero() -> None:
    """p = 0: co-locate everything (answer alike); p = 1: answer opposite. Both win classically."""
    result = run_figure3(trials=6, seed=1, ns=(3, 4, 5, 6, 7), ps=(0.0, 1.0))
    assert result.advantage_counts.sum() == 0
    assert np.all(result.stderr == 0)


def test_triangle_never_has_an_advantage() -> None:
    """K_3's questions form a 6-cycle between Alice's and Bob's vertices: always satisfiable."""
    for labels in labelings(3):
        assert graph_game(labels).classical_value().value == pytest.approx(1.0)
    assert run_figure3(trials=10, seed=2, ns=(3,), ps=(0.3, 0.6)).advantage_counts.sum() == 0


def test_study_is_reproducible_by_seed() -> None:
    a, b, other = (run_figure3(trials=8, seed=seed, ns=(4, 5), ps=(0.3, 0.5))
                   for seed in (7, 7, 8))
    assert np.array_equal(a.advantage_counts, b.advantage_counts)
    assert np.array_equal(a.mean_gain, b.mean_gain)
    assert not np.array_equal(a.mean_gain, other.mean_gain)
    # a point does not depend on which other points are computed
    alone = run_figure3(seed=7, trials=8, ns=(5,), ps=(0.3, 0.5))
    assert np.array_equal(alone.mean_gain[0], a.mean_gain[1])


def test_fraction_matches_exact_enumeration_on_k4() -> None:
    """At p = 1/2 every labelling of K_4's 6 edges is equally likely: the exact advantage
    probability is a count over 64 games; the estimate must lie within 4 sigma."""
    exact = float(np.mean([quantum_gain(graph_game(lab)) > 1e-6 for lab in labelings(4)]))
    assert 0.2 < exact < 0.9  # the check below has power
    trials = 120
    result = run_figure3(trials=trials, seed=3, ns=(4,), ps=(0.5,))
    sigma = math.sqrt(exact * (1 - exact) / trials)
    assert abs(result.fraction[0, 0] - exact) < 4 * sigma, (result.fraction[0, 0], exact)
    assert result.stderr[0, 0] == pytest.approx(
        math.sqrt(result.fraction[0, 0] * (1 - result.fraction[0, 0]) / trials))


def test_gain_is_certified() -> None:
    """A counted advantage is the value achieved by vectors, above the exact classical value."""
    rng = np.random.default_rng(9)
    for _ in range(10):
        game = graph_game(random_edge_labels(5, 0.4, rng))
        gain = quantum_gain(game)
        q = game.quantum_value()
        achieved = game.win_probability(q.alice_vectors @ q.bob_vectors.T)
        if gain > 0:
            assert achieved - game.classical_value().value == pytest.approx(gain, abs=1e-12)
        assert gain >= 0


def test_outputs_written(tmp_path: Path) -> None:
    result = run_figure3(trials=3, seed=0, ns=(4, 5), ps=(0.0, 0.5, 1.0))
    paths = save_figure3(result, tmp_path / "fig")
    data = json.loads(paths["json"].read_text())
    assert data == json.loads(json.dumps(result.to_dict()))
    assert data["ns"] == [4, 5] and data["ps"] == [0.0, 0.5, 1.0]
    assert set(data["fraction"]) == {"4", "5"} and len(data["stderr"]["4"]) == 3
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
