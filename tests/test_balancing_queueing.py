"""Servers and routers of the study: hand cases, a brute-force reference, routing semantics.

Statistical checks use fixed seeds and tolerances of 4 sigma.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

from qnic.balancing import (
    QUANTUM_CHSH_WIN,
    ServerBank,
    ServiceModel,
    ServiceTime,
    StrategyOptions,
    binomial_sigma,
    make_router,
)


def bank_step(bank: ServerBank, servers: list[int], classes: list[int],
              seed: int = 0) -> tuple[float, int]:
    queue, pairs = bank.advance(np.array([servers], np.int64), np.array([classes], np.int16),
                                np.random.default_rng(seed))
    return float(queue[0]), int(pairs[0])


def test_two_c_requests_in_one_step_are_served_together() -> None:
    bank = ServerBank(2)
    assert bank_step(bank, [0, 0], [1, 1]) == (0.0, 1)
    assert bank.queue_lengths.tolist() == [0, 0]


def test_two_e_requests_or_mixed_subtypes_take_two_steps() -> None:
    for classes, subtypes in (([0, 0], 1), ([0, 1], 1), ([1, 2], 2)):
        bank = ServerBank(2, subtypes)
        assert bank_step(bank, [0, 0], classes) == (0.5, 0)  # one request left on server 0
        assert bank_step(bank, [], []) == (0.0, 0)


def test_c_requests_arriving_in_different_steps_do_not_pair() -> None:
    bank = ServerBank(1)
    bank_step(bank, [0, 0], [0, 1])  # E and C: one served, one left
    left = int(bank.queue_lengths[0])
    assert left == 1
    bank_step(bank, [0], [1])  # a new C beside a waiting one: still single jobs
    assert int(bank.queue_lengths[0]) == 1


def test_three_c_make_a_pair_and_a_single_served_in_random_order() -> None:
    left = set()
    for seed in range(40):
        bank = ServerBank(1)
        bank_step(bank, [0, 0, 0], [1, 1, 1], seed)
        left.add(int(bank.queue_lengths[0]))
    assert left == {1, 2}


def test_fixed_service_time_holds_the_server() -> None:
    bank = ServerBank(1, service=ServiceTime(3))
    queue = [bank_step(bank, [0, 0], [0, 0])[0]]
    queue += [bank_step(bank, [], [])[0] for _ in range(6)]
    assert queue == [2.0, 2.0, 1.0, 1.0, 1.0, 0.0, 0.0]


def test_geometric_service_time_has_the_stated_mean() -> None:
    """Busy steps of 2000 jobs: sum of geometric times, mean 2000 T, sd sqrt(2000 (1-p)) / p."""
    jobs, mean = 2000, 2.5
    bank = ServerBank(1, service=ServiceTime(mean, ServiceModel.GEOMETRIC))
    rng = np.random.default_rng(5)
    queue, _ = bank.advance(np.zeros((1, jobs), np.int64), np.zeros((1, jobs), np.int16), rng)
    busy = 1
    while bank.queue_lengths[0] > 0:
        bank.advance(np.zeros((1, 0), np.int64), np.zeros((1, 0), np.int16), rng)
        busy += 1
    p = 1.0 / mean
    sd = math.sqrt(jobs * (1 - p)) / p
    assert abs(busy - jobs * mean) < 4 * sd


@pytest.mark.parametrize(("steps", "model"), [(1.5, "fixed"), (0.5, "geometric"),
                                              (math.inf, "fixed")])
def test_bad_service_times_are_refused(steps: float, model: str) -> None:
    with pytest.raises(ValueError, match="step"):
        ServiceTime(steps, ServiceModel(model))


def reference_queues(servers: np.ndarray, classes: np.ndarray, m: int, subtypes: int,
                     rng: np.random.Generator) -> list[float]:
    """The model written plainly: group same-step C arrivals, one job per step, random order."""
    draws = rng.random((classes.shape[0], m))
    pairs, singles = [0] * m, [0] * m
    out = []
    for t in range(classes.shape[0]):
        c_groups = Counter((int(s), int(c)) for s, c in zip(servers[t], classes[t]) if c > 0)
        for s, c in zip(servers[t], classes[t]):
            singles[int(s)] += int(c == 0)
        for (s, _), n in c_groups.items():
            pairs[s] += n // 2
            singles[s] += n % 2
        for k in range(m):
            waiting = pairs[k] + singles[k]
            if waiting:
                if draws[t, k] * waiting < pairs[k]:
                    pairs[k] -= 1
                else:
                    singles[k] -= 1
        out.append(sum(2 * pairs[k] + singles[k] for k in range(m)) / m)
    return out


@pytest.mark.parametrize("seed", range(5))
def test_bank_matches_the_plain_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    m, subtypes, steps, n = 5, 2, 60, 8
    servers = rng.integers(0, m, (steps, n)).astype(np.int64)
    classes = rng.integers(0, subtypes + 1, (steps, n)).astype(np.int16)
    bank = ServerBank(m, subtypes)
    queue, _ = bank.advance(servers.copy(), classes, np.random.default_rng(100 + seed))
    expected = reference_queues(servers, classes, m, subtypes, np.random.default_rng(100 + seed))
    assert queue.tolist() == pytest.approx(expected)


def test_power_of_two_takes_the_shorter_queue() -> None:
    bank = ServerBank(3)
    bank_step(bank, [0, 0, 0], [0, 0, 0])  # server 0 keeps 2 requests
    first = np.array([[0, 2]], np.int64)
    second = np.array([[1, 0]], np.int64)
    bank.advance(first, np.zeros((1, 2), np.int16), np.random.default_rng(0), second)
    # request 0: server 0 (2 waiting) loses to server 1 (empty); request 1: server 2 (empty)
    # beats server 0
    assert first.tolist() == [[1, 2]]


def route(name: str, m: int = 50, n: int = 100, steps: int = 2000, seed: int = 0,
          options: StrategyOptions | None = None) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    classes = (rng.random((steps, n)) < 0.5).astype(np.int16)
    router = make_router(name, m, n, np.random.default_rng(seed + 1), options or StrategyOptions())
    return router.route(0, classes).servers, classes


def test_separate_never_shares_a_server() -> None:
    servers, _ = route("separate")
    assert np.all(servers[:, 0::2] != servers[:, 1::2])


def test_dedicated_c_shares_exactly_for_cc_and_ee() -> None:
    servers, classes = route("dedicated-c")
    same = servers[:, 0::2] == servers[:, 1::2]
    x, y = classes[:, 0::2], classes[:, 1::2]
    assert np.array_equal(same, x == y)


def test_quantum_ideal_shares_as_the_chsh_correlations_say() -> None:
    servers, classes = route("quantum-ideal")
    same = servers[:, 0::2] == servers[:, 1::2]
    x, y = classes[:, 0::2].astype(bool), classes[:, 1::2].astype(bool)
    for mask, p in (((x & y), QUANTUM_CHSH_WIN), (~(x & y), 1 - QUANTUM_CHSH_WIN)):
        n = int(mask.sum())
        assert abs(same[mask].mean() - p) < 4 * binomial_sigma(p, n)


def test_pairwise_strategies_share_server_pairs() -> None:
    """Same stream: the pair's servers {u, v} are the same for every pairwise strategy."""
    sep, _ = route("separate")
    q, _ = route("quantum-visibility", options=StrategyOptions(visibility=0.5))
    same = q[:, 0::2] == q[:, 1::2]
    for out in (q[:, 0::2], q[:, 1::2]):
        assert np.all((out == sep[:, 0::2]) | (out == sep[:, 1::2]))
    assert same.any()


def test_round_robin_steps_through_the_servers() -> None:
    servers, _ = route("round-robin", m=7, steps=20)
    assert np.all((servers[1:] - servers[:-1]) % 7 == 1)


def test_random_covers_all_servers() -> None:
    servers, _ = route("random", m=10, steps=200)
    assert set(np.unique(servers)) == set(range(10))


def test_points_are_reproducible_and_share_their_workload() -> None:
    from qnic.balancing import PointSpec, simulate_point
    a = simulate_point(PointSpec("quantum-ideal", 20, 19, 300, 30, seed=9))
    assert simulate_point(PointSpec("quantum-ideal", 20, 19, 300, 30, seed=9)) == a
    others = [simulate_point(PointSpec(s, 20, m, 300, 30, seed=9))
              for s, m in (("random", 19), ("separate", 7))]
    assert {p.c_requests for p in others} == {a.c_requests}  # same requests for all
    assert simulate_point(PointSpec("quantum-ideal", 20, 19, 300, 30, seed=10)) != a


def test_warmup_longer_than_the_run_keeps_the_last_step() -> None:
    from qnic.balancing import PointSpec, simulate_point
    point = simulate_point(PointSpec("random", 30, 10, 5, warmup_steps=100))
    assert point.mean_queue == pytest.approx(point.final_queue)
