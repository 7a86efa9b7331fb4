"""The queueing study under the paper's server rule (the default), with C subtypes and over N.

What the simulation finds, asserted with per-seed knees (3 seeds, fixed): under the paper's
rule two waiting type-C requests pair whenever they meet at a server, so co-locating a pair's
C requests in the same step buys almost nothing, and sending two requests to one server makes
queues burstier: the quantum knee is not beyond random routing's, dedicated-c is the worst,
and every knee lies below the capacity 4/3 (3/4 of a job per request at best). Knees at
N = 100 and N = 400 agree (curves depend on N/M only).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from qnic.balancing import (
    DEFAULT_STRATEGIES,
    PointSpec,
    binomial_sigma,
    simulate_point,
    subtype_game,
)
from qnic.experiments.lb_family import family_configs, family_dict, run_family, save_family
from qnic.experiments.lb_study import StudyConfig

RATIOS = (1.2, 1.24, 1.26, 1.28, 1.3, 1.32)


@pytest.fixture(scope="module")
def family() -> dict[str, Any]:
    """All eight default strategies, N = 100 and 400, K = 1 and 2, 3 seeds, 3000 steps."""
    base = StudyConfig(ratios=RATIOS, steps=3000, seeds=3)
    results = run_family(family_configs(base, [100, 400], [1, 2]), workers=2)
    return family_dict(results)


def study(family: dict[str, Any], n: int, k: int) -> dict[str, Any]:
    return next(s for s in family["studies"]
                if s["balancers"] == n and s["workload"]["c_subtypes"] == k)


def per_seed(report: dict[str, Any], name: str) -> list[float]:
    knees = report["knee_ci"][name]["per_seed"]
    assert all(k is not None for k in knees), (name, knees)
    return knees


def test_the_default_rule_is_the_papers(family: dict[str, Any]) -> None:
    report = study(family, 100, 1)
    assert report["server_rule"] == "c-pairs-first"
    assert set(report["strategies"]) == set(DEFAULT_STRATEGIES) and len(DEFAULT_STRATEGIES) == 8


@pytest.mark.parametrize("k", [1, 2])
def test_under_the_papers_rule_no_strategy_beats_random_without_communicating(
        family: dict[str, Any], k: int) -> None:
    report = study(family, 100, k)
    random_knees = per_seed(report, "random")
    assert max(per_seed(report, "quantum-ideal")) < min(random_knees)
    assert max(per_seed(report, "dedicated-c")) < min(random_knees) - 0.015
    for name in ("random", "separate", "dedicated-c", "hash-subtype", "quantum-ideal",
                 "quantum-xor"):
        assert max(per_seed(report, name)) < 4 / 3
    assert report["knee"]["round-robin"] is None and report["knee"]["power-of-two"] is None


def test_with_two_subtypes_the_solvers_strategy_is_always_separate(family: dict[str, Any]
                                                                    ) -> None:
    """For K = 2 the XOR game has no quantum advantage (certified bound = classical value
    7/8), and the solver's strategy queues like `separate`."""
    value = subtype_game(2).quantum_value()
    assert value.upper_bound == pytest.approx(0.875, abs=1e-6)
    assert subtype_game(2).classical_value().value == pytest.approx(0.875)
    report = study(family, 100, 2)
    assert report["knee"]["quantum-xor"] == pytest.approx(report["knee"]["separate"], abs=0.01)
    assert report["win_rate_predicted"]["quantum-xor"] == pytest.approx(0.875, abs=1e-6)
    assert report["win_rate_predicted"]["hash-subtype"] is None


@pytest.mark.parametrize("name", ["random", "dedicated-c", "quantum-ideal", "hash-subtype"])
def test_knees_depend_on_n_over_m_only(family: dict[str, Any], name: str) -> None:
    spread = family["knee_over_balancers"][name]["1"]
    assert spread["balancers"] == [100, 400]
    assert spread["spread"] is not None and spread["spread"] < 0.01


@pytest.mark.parametrize(("k", "p"), [(1, 0.8535533906), (2, 0.875), (4, 0.9375)])
def test_quantum_xor_wins_the_k_subtype_game_at_the_solvers_value(k: int, p: float) -> None:
    point = simulate_point(PointSpec("quantum-xor", 100, 80, 2000, c_subtypes=k, seed=7))
    assert abs(point.wins / point.rounds - p) < 4 * binomial_sigma(p, point.rounds)


def test_hash_subtype_wins_unless_hash_servers_meet() -> None:
    """It loses only when a hash server meets the other side's server: C of two subtypes
    (P 1/4 (1 - 1/K)) or C against E (P 1/2), each meeting with P 1/M."""
    m, k = 80, 2
    point = simulate_point(PointSpec("hash-subtype", 100, m, 2000, c_subtypes=k, seed=7))
    p = (0.25 * (1 - 1 / k) + 0.5) / m
    assert abs(1 - point.wins / point.rounds - p) < 4 * binomial_sigma(p, point.rounds)


def test_family_files(family: dict[str, Any], tmp_path: Path) -> None:
    base = StudyConfig(ratios=(1.2, 1.3), steps=200, seeds=2, strategies=("random",))
    results = run_family(family_configs(base, [20, 40], [1, 4]))
    paths = save_family(results, tmp_path / "fam")
    data = json.loads(paths["json"].read_text())
    assert data["balancers"] == [20, 40] and data["c_subtypes"] == [1, 4]
    assert len(data["studies"]) == 4
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
