"""The compiled point kernel: both server rules by hand, routing semantics, and agreement with
the step-block engine it replaced.

Statistical checks use fixed seeds and tolerances of 4 sigma (binomial, or the spread over
seeds for the queue means).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from qnic.balancing import (
    QUANTUM_CHSH_WIN,
    PointSpec,
    ServerRule,
    ServiceModel,
    ServiceTime,
    binomial_sigma,
    simulate_point,
    simulate_point_blocks,
)
from qnic.balancing import _point_kernel as k
from qnic.balancing.simulate import kernel_routing

C_FIRST, SAME = k.C_PAIRS_FIRST, k.SAME_STEP


class Servers:
    """M servers driven one step at a time through the kernel's arrive and serve."""

    def __init__(self, rule: int, servers: int = 1, subtypes: int = 1, service_steps: int = 1,
                 unit: bool = False) -> None:
        self.rule, self.subtypes, self.service_steps, self.unit = rule, subtypes, service_steps, unit
        self.state = np.zeros((k.state_width(subtypes), servers), dtype=np.int32)
        self.open_c = np.zeros(servers * (subtypes + 1), dtype=np.int8)
        self.stats = np.zeros(2, dtype=np.int64)
        self.ctr = np.uint64(12345)

    def step(self, servers: list[int], classes: list[int]) -> int:
        """One step; returns the requests left in the system."""
        srv, cls = np.array(servers, np.int64), np.array(classes, np.int64)
        k.arrive(self.rule, cls, srv, self.state, self.subtypes, self.open_c)
        if self.unit:
            self.ctr = np.uint64(k.serve_unit(self.rule, self.ctr, self.subtypes, self.state,
                                              self.stats))
        else:
            self.ctr = np.uint64(k.serve(self.rule, self.ctr, self.subtypes, self.service_steps,
                                         0.0, self.state, self.stats))
        return int(self.stats[0])

    @property
    def pair_jobs(self) -> int:
        return int(self.stats[1])


@pytest.mark.parametrize("unit", [False, True])
def test_paper_rule_pairs_c_requests_that_arrived_in_different_steps(unit: bool) -> None:
    paper = Servers(C_FIRST, unit=unit)
    assert paper.step([0, 0], [0, 1]) == 1  # E first, the lone C waits for a partner
    assert paper.step([0], [1]) == 0  # the new C pairs with it: one job serves both
    assert paper.pair_jobs == 1
    same = Servers(SAME, unit=unit)
    same.step([0, 0], [0, 1])
    assert same.step([0], [1]) == 1 and same.pair_jobs == 0  # same-step: no pairing later


@pytest.mark.parametrize("unit", [False, True])
def test_paper_rule_runs_c_pairs_before_e_and_e_before_a_lone_c(unit: bool) -> None:
    s = Servers(C_FIRST, unit=unit)
    assert s.step([0, 0, 0], [0, 1, 1]) == 1 and s.pair_jobs == 1  # the pair went first
    assert int(s.state[k.E_WAIT, 0]) == 1  # the E is what is left
    s = Servers(C_FIRST, unit=unit)
    assert s.step([0, 0], [1, 0]) == 1
    assert int(s.state[k.C0, 0]) == 1  # the E went before the lone C
    assert s.step([], []) == 0  # then the lone C runs alone


def test_paper_rule_never_mixes_subtypes_and_takes_the_fullest_subtype() -> None:
    s = Servers(C_FIRST, subtypes=2)
    assert s.step([0, 0], [1, 2]) == 1 and s.pair_jobs == 0
    assert s.step([], []) == 0
    s = Servers(C_FIRST, subtypes=2)
    assert s.step([0] * 5, [1, 1, 2, 2, 2]) == 3  # subtype 1 (three waiting) pairs first
    assert s.state[k.C0:k.C0 + 2, 0].tolist() == [2, 1]
    assert s.step([], []) == 1 and s.state[k.C0:k.C0 + 2, 0].tolist() == [0, 1]


def test_a_job_holds_its_server_for_its_service_time() -> None:
    s = Servers(C_FIRST, service_steps=3)
    left = [s.step([0, 0, 0], [1, 1, 0])] + [s.step([], []) for _ in range(5)]
    assert left == [3, 3, 1, 1, 1, 0]  # the pair for 3 steps, then the E for 3


def test_same_step_rule_holds_the_server_for_the_service_time() -> None:
    seen = set()
    for seed in range(20):
        s = Servers(SAME, service_steps=3)
        s.ctr = np.uint64(seed)
        seen.add(tuple([s.step([0, 0, 0], [1, 1, 0])] + [s.step([], []) for _ in range(5)]))
    assert seen == {(3, 3, 1, 1, 1, 0), (3, 3, 2, 2, 2, 0)}  # pair first, or the E first


def test_same_step_rule_pairs_only_within_the_step_and_serves_in_random_order() -> None:
    s = Servers(SAME, servers=2)
    assert s.step([0, 0, 1], [1, 1, 1]) == 0 and s.pair_jobs == 1  # 2 C on 0 pair; 1 alone
    left = set()
    for seed in range(30):
        s = Servers(SAME)
        s.ctr = np.uint64(seed)
        left.add(s.step([0, 0, 0], [1, 1, 1]))  # a pair job and a single job, one served
    assert left == {1, 2}


def route(strategy: str, classes: np.ndarray, servers: int = 50,
          subtypes: int = 1) -> np.ndarray:
    """Route one step of requests (balancers 2k, 2k + 1 paired) through the kernel."""
    r = kernel_routing(PointSpec(strategy, classes.size, servers, 1, c_subtypes=subtypes))
    out = np.zeros(classes.size, np.int64)
    k.route_pairs(np.uint64(1), np.uint64(2), classes.astype(np.int64), out, np.uint64(servers),
                  r.full_questions, r.table_a, r.table_b, r.cum, r.has_source,
                  r.mode == k.HASH_SUBTYPE)
    return out


def classes_of(n_pairs: int, subtypes: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    is_c = rng.random(2 * n_pairs) < 0.5
    return np.where(is_c, rng.integers(1, subtypes + 1, 2 * n_pairs), 0)


def same_and_both(classes: np.ndarray, servers: np.ndarray) -> tuple[np.ndarray, ...]:
    x, y = classes[0::2], classes[1::2]
    return servers[0::2] == servers[1::2], x, y


def test_kernel_routes_separate_and_dedicated_c_as_stated() -> None:
    c = classes_of(50_000, 1)
    same, x, y = same_and_both(c, route("separate", c))
    assert not same.any()
    same, x, y = same_and_both(c, route("dedicated-c", c))
    assert np.array_equal(same, (x > 0) == (y > 0))  # C with C on u, E with E on v


def test_kernel_routes_quantum_ideal_with_the_chsh_correlations() -> None:
    c = classes_of(50_000, 1)
    same, x, y = same_and_both(c, route("quantum-ideal", c))
    both_c = (x > 0) & (y > 0)
    for mask, p in ((both_c, QUANTUM_CHSH_WIN), (~both_c, 1 - QUANTUM_CHSH_WIN)):
        assert abs(same[mask].mean() - p) < 4 * binomial_sigma(p, int(mask.sum()))


def test_kernel_routes_quantum_xor_and_hash_subtype_per_subtype() -> None:
    c = classes_of(50_000, 2)
    same, x, y = same_and_both(c, route("quantum-xor", c, subtypes=2))
    assert same.mean() < 1e-4  # the solver's K = 2 strategy: separate (E = -1 within 1e-5)
    same, x, y = same_and_both(c, route("hash-subtype", c, servers=1000, subtypes=2))
    assert same[(x > 0) & (x == y)].all()
    assert not same[(x == 0) & (y == 0)].any()  # E: A to u, B to v
    other = (x > 0) & (y > 0) & (x != y)  # two subtypes' hash servers meet with P = 1/M
    p = 1 / 1000
    assert abs(same[other].mean() - p) < 4 * binomial_sigma(p, int(other.sum())) + 1e-12


def test_every_strategy_sees_the_same_requests() -> None:
    points = [simulate_point(PointSpec(s, 40, m, 500, seed=4))
              for s, m in (("random", 40), ("quantum-ideal", 37), ("hash-subtype", 30))]
    assert len({p.c_requests for p in points}) == 1
    c = points[0].c_requests  # P(C) = 1/2 of 20000 requests
    assert abs(c - 10_000) < 4 * math.sqrt(20_000 * 0.25)


@pytest.mark.parametrize("strategy", ["random", "dedicated-c", "quantum-ideal"])
def test_kernel_agrees_with_the_step_block_engine(strategy: str) -> None:
    """Same model (same-step rule), different random streams: the mean queue over 4 seeds
    agrees within 4 standard errors of the difference."""
    def queues(fn: object) -> np.ndarray:
        return np.array([fn(PointSpec(strategy, 100, 110, 10_000, 1000, seed_index=i,  # type: ignore[operator]
                                      rule=ServerRule.SAME_STEP)).mean_queue for i in range(4)])
    new, old = queues(simulate_point), queues(simulate_point_blocks)
    se = math.sqrt(new.var(ddof=1) / 4 + old.var(ddof=1) / 4)
    assert abs(new.mean() - old.mean()) < 4 * se + 1e-3, (new, old)


def test_geometric_service_in_the_kernel_has_the_stated_mean() -> None:
    """One balancer, many servers: each request a job of L steps, L geometric with mean T; a
    job is counted at the end of L - 1 steps (queues are read after the step's work), so the
    mean queue * M is T - 1 (Little), within 4 standard errors of a mean over 20000 jobs."""
    t = 2.5
    point = simulate_point(PointSpec("random", 1, 200, 20_000, 0, c_probability=0.0,
                                     service=ServiceTime(t, ServiceModel.GEOMETRIC)))
    sd = math.sqrt(t * (t - 1)) / math.sqrt(20_000)  # geometric variance (1 - p) / p^2
    assert abs(point.mean_queue * 200 - (t - 1)) < 4 * sd


def test_bad_points_are_refused() -> None:
    with pytest.raises(ValueError, match="servers >= 2"):
        simulate_point(PointSpec("random", 10, 1, 10))
    with pytest.raises(ValueError, match="same-step rule only"):
        simulate_point_blocks(PointSpec("random", 10, 5, 10))
