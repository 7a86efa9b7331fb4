"""Groups of n >= 3 balancers sharing GHZ states: the game, simulated win rates, queues."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qnic.balancing import _group_kernel, _point_kernel
from qnic.balancing.group_queue import GroupPointSpec, route_block, simulate_group_point
from qnic.balancing.groups import (
    GroupError,
    GroupStrategyName,
    answer_bits,
    classical_closed_form,
    draw_questions,
    group_game,
    play_rounds,
    predicted_win,
    wins_of,
)

G = GroupStrategyName


def four_sigma(p: float, n: int) -> float:
    """4 standard deviations of a fraction of n Bernoulli(p) trials (floor 1e-12 at p = 0, 1)."""
    return max(4.0 * math.sqrt(p * (1.0 - p) / n), 1e-12)


def test_three_player_values_match_the_closed_forms() -> None:
    game = group_game(3)
    assert game.classical_value().value == pytest.approx(0.75, abs=1e-12)  # 1/2 + 2^-2
    q = game.quantum_value()
    assert q.lower == pytest.approx(1.0, abs=1e-9)  # GHZ wins Mermin's game with certainty
    assert q.upper == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("n, value", [(3, 0.75), (4, 0.75), (5, 0.625)])
def test_classical_values_match_one_half_plus_two_to_minus_ceil_half_n(n: int,
                                                                       value: float) -> None:
    assert classical_closed_form(n) == value
    assert group_game(n).classical_value().value == pytest.approx(value, abs=1e-12)


def test_questions_hold_an_even_number_of_c_and_each_balancer_sees_c_half_the_time() -> None:
    x = draw_questions(4, 40_000, np.random.default_rng(5))
    assert np.all(x.sum(axis=1) % 2 == 0)
    # per balancer P(C) = 1/2: 4 sigma of 40,000 fair coins
    assert np.all(np.abs(x.mean(axis=0) - 0.5) <= four_sigma(0.5, 40_000))


@pytest.mark.parametrize("n", [3, 5])
def test_simulated_ghz_wins_within_four_sigma_of_the_quantum_value(n: int) -> None:
    rounds = 20_000
    for v in (1.0, 0.8):
        p = predicted_win(G.GHZ, n, v)
        assert p is not None
        won = play_rounds(G.GHZ, n, rounds, seed=11, visibility=v)
        assert abs(won.rate - p) <= four_sigma(p, rounds)  # fixed seed, 4 sigma
    assert predicted_win(G.GHZ, n, 0.8) == pytest.approx(0.8 + 0.2 / 2)


@pytest.mark.parametrize("n", [3, 4, 5])
def test_classical_strategy_wins_within_four_sigma_of_the_classical_value(n: int) -> None:
    rounds = 20_000
    p = classical_closed_form(n)
    won = play_rounds(G.CLASSICAL, n, rounds, seed=12)
    assert abs(won.rate - p) <= four_sigma(p, rounds)  # fixed seed, 4 sigma
    low, high = won.interval
    assert low < won.rate < high


def test_win_is_the_parity_of_the_requests_sent_to_v() -> None:
    # three balancers: C C E asks an odd number on v; E E E an even number
    x = np.array([[1, 1, 0], [1, 1, 0], [0, 0, 0], [0, 0, 0]])
    bits = np.array([[0, 0, 1], [0, 1, 1], [0, 1, 1], [1, 1, 1]], dtype=np.int8)
    assert wins_of(x, bits).tolist() == [True, False, True, False]


def test_bad_group_sizes_and_visibilities_are_named() -> None:
    with pytest.raises(GroupError, match="group size"):
        group_game(2)
    with pytest.raises(GroupError, match="visibility"):
        answer_bits(G.GHZ, [[0, 0, 0]], np.random.default_rng(0), visibility=1.5)
    with pytest.raises(GroupError, match="multiple of the group size"):
        simulate_group_point(GroupPointSpec(G.GHZ, 3, 10, 4, 10))


def test_server_kernel_bookkeeping_by_hand() -> None:
    # the paper's rule, one-step jobs, M = 2 servers, three requests per step
    classes = np.array([[1, 1, 0], [1, 0, 0], [1, 1, 0]], dtype=np.int64)
    servers = np.array([[0, 0, 1], [0, 0, 0], [1, 1, 1]], dtype=np.int64)
    state = np.zeros((_point_kernel.state_width(1), 2), dtype=np.int32)
    stats = np.zeros(2, dtype=np.int64)
    queue = np.empty(3)
    _group_kernel.serve_block(_point_kernel.C_PAIRS_FIRST, classes, servers, state,
                              np.zeros(4, dtype=np.int8), stats, np.uint64(1), 1, 0.0, queue)
    # step 0: server 0 runs the two C together, server 1 the E: nothing left
    # step 1: server 0 gets C, E, E: runs one E; C and E wait (2 requests on 2 servers)
    # step 2: server 0 (C, E) runs the E; server 1 (C, C, E) runs the C pair: C and E wait
    assert queue.tolist() == [0.0, 1.0, 1.0]
    assert stats.tolist() == [2, 2]  # requests in the system, pair jobs started
    assert state[_point_kernel.C0].tolist() == [1, 0]
    assert state[_point_kernel.E_WAIT].tolist() == [0, 1]


def test_ghz_groups_land_on_their_two_servers_with_the_game_s_parity() -> None:
    spec = GroupPointSpec(G.GHZ, 3, 12, 6, 50)
    questions = draw_questions(3, 50 * 4, np.random.default_rng(1)).reshape(50, 4, 3)
    servers, won = route_block(spec, questions, np.random.default_rng(2),
                               np.random.default_rng(3))
    redraw = np.random.default_rng(2)
    u = redraw.integers(0, 6, size=(50, 4))
    v = (u + 1 + redraw.integers(0, 5, size=(50, 4))) % 6
    s = servers.reshape(50, 4, 3)
    assert np.all((s == u[..., None]) | (s == v[..., None]))
    on_v = (s == v[..., None]).sum(axis=2)
    assert np.all(on_v % 2 == (questions.sum(axis=2) // 2) % 2)  # V = 1: every round won
    assert won == 200


def test_point_accounting_and_determinism() -> None:
    results = {}
    for strategy in G:
        spec = GroupPointSpec(strategy, 4, 16, 12, 300, warmup_steps=30, seed=3)
        r = simulate_group_point(spec)
        assert simulate_group_point(spec) == r  # deterministic in its seeds
        results[strategy] = r
    c = {r.c_requests for r in results.values()}
    assert len(c) == 1  # every strategy sees the same workload
    assert results[G.RANDOM].rounds == 0
    assert results[G.GHZ].rounds == results[G.GHZ].wins == 4 * 300
    assert all(r.mean_queue >= 0 and r.pair_jobs <= r.c_requests // 2 for r in results.values())


def test_a_point_of_several_blocks_runs_and_is_deterministic() -> None:
    # N = 1200: blocks of 109 steps, so 250 steps carry the servers and counters over 3 blocks
    spec = GroupPointSpec(G.GHZ, 3, 1200, 1000, 250, warmup_steps=25, seed=4,
                          visibility=0.5)
    r = simulate_group_point(spec)
    assert r == simulate_group_point(spec)
    assert r.rounds == 400 * 250
    p = 0.5 * 1.0 + 0.5 / 2  # V * 1 + (1 - V) / 2
    assert abs(r.wins / r.rounds - p) <= four_sigma(p, r.rounds)  # fixed seed, 4 sigma
