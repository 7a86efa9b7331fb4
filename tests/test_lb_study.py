"""The queueing study (paper Figure 4): the quantum knee under the same-step rule, the game
accounting, measured statistics feeding the study, the options, and bad input refused before
any work. (The paper's rule, the default, and the K-subtype game: tests/test_lb_paper_rule.py.)

Simulations are seeded; statistical checks use 4 binomial sigma. Step counts are small, so
knees here sit a little above those of the default 20000 steps; the orderings are the same.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import qnic.experiments.lb_study as study
from qnic.balancing import (
    HERALDING_NOTE,
    QUANTUM_CHSH_WIN,
    PointSpec,
    ServerRule,
    ServiceModel,
    ServiceTime,
    StrategyOptions,
    binomial_sigma,
    chsh_strategy,
    find_knee,
    load_chsh_result,
    measured_table,
    simulate_point,
    visibility_table,
)
from qnic.experiments.lb_cluster import ClusterError, ClusterSpec
from qnic.experiments.lb_study import (
    StudyConfig,
    StudyConfigError,
    run_study,
    save_study,
)

SAME_STEP = ServerRule.SAME_STEP
CHSH_STRATEGIES = ("random", "round-robin", "power-of-two", "separate", "dedicated-c",
                   "quantum-ideal")

KNEE_RATIOS = (1.0, 1.04, 1.08, 1.1, 1.12, 1.14, 1.16, 1.2)

# `qnic chsh --json --seconds 0.05 --seed 1` on the embedded simulated bench (S = 2.564)
BENCH_CHSH = {"S": 2.5644801805477675, "S_err": 0.06395100992140351,
              "E": {"00": 0.6313043478260869, "01": 0.6818181818181818,
                    "10": 0.6423611111111112, "11": -0.6089965397923875},
              "counts": {"00": [225, 56, 50, 244], "01": [245, 43, 48, 236],
                         "10": [251, 56, 47, 222], "11": [55, 222, 243, 58]},
              "window_ps": 1000, "seconds_per_setting": 0.05, "run_id": 1}


@pytest.fixture(scope="module")
def default_study() -> dict[str, Any]:
    """The CHSH game's strategies under the same-step rule, N = 100, threshold 10, two seeds,
    2000 steps per point."""
    return run_study(StudyConfig(ratios=KNEE_RATIOS, steps=2000, seeds=2, rule=SAME_STEP,
                                 strategies=CHSH_STRATEGIES)).to_dict()


def test_quantum_knee_lies_beyond_random_routing(default_study: dict[str, Any]) -> None:
    """The paper's finding, under the same-step rule: with ideal CHSH statistics the knee
    moves to higher N/M."""
    knee = default_study["knee"]
    assert knee["quantum-ideal"] > knee["random"] + 0.03
    ci = default_study["knee_ci"]
    assert min(ci["quantum-ideal"]["per_seed"]) > max(ci["random"]["per_seed"]) + 0.03


def test_ordering_of_the_classical_strategies(default_study: dict[str, Any]) -> None:
    """What the simulation finds (and the report states): separate is no better than
    random; dedicated-c ties with quantum at the knee (it co-locates every C pair, quantum
    85 %, but it stacks E pairs); round-robin sits between; power of two, which reads
    queue lengths, goes furthest."""
    knee = default_study["knee"]
    assert abs(knee["separate"] - knee["random"]) < 0.01
    assert abs(knee["dedicated-c"] - knee["quantum-ideal"]) < 0.01
    assert knee["random"] + 0.02 < knee["round-robin"] <= knee["quantum-ideal"] + 0.005
    assert knee["power-of-two"] > max(knee["quantum-ideal"], knee["dedicated-c"]) + 0.015
    q, d = default_study["mean_queue"]["quantum-ideal"], default_study["mean_queue"]["dedicated-c"]
    r = default_study["effective_ratios"]
    below, above = r.index(1.0), len(r) - 2
    assert q[below] < 0.95 * d[below]  # fewer collisions below the knee
    assert d[above] < 0.95 * q[above]  # more pair jobs past it


def test_report_keys_and_heralding_note(default_study: dict[str, Any]) -> None:
    for key in ("ratios", "mean_queue", "knee", "knee_ci", "mean_queue_ci", "win_rate"):
        assert set(default_study[key]) == set(CHSH_STRATEGIES) or key == "ratios"
    assert default_study["heralding"] == HERALDING_NOTE
    assert default_study["pairs_consumed"]["quantum-ideal"] == 50 * 2000 * 2 * len(KNEE_RATIOS)
    assert default_study["pairs_consumed"]["dedicated-c"] == 0
    assert default_study["communicates"]["power-of-two"] is True


@pytest.mark.parametrize("visibility", [1.0, 0.85, 0.5])
def test_win_rate_is_half_plus_s_over_8_in_the_study_accounting(visibility: float) -> None:
    s_value = 2 * math.sqrt(2) * visibility
    spec = PointSpec("quantum-visibility", 100, 90, 2000, seed=3,
                     options=StrategyOptions(visibility=visibility))
    point = simulate_point(spec)
    p = 0.5 + s_value / 8
    assert point.rounds == 100_000
    assert abs(point.wins / point.rounds - p) < 4 * binomial_sigma(p, point.rounds)
    if visibility == 1.0:
        assert p == pytest.approx(QUANTUM_CHSH_WIN)


def exact_counts(visibility: float) -> dict[str, list[int]]:
    table = visibility_table(chsh_strategy(), visibility)
    return {f"{x}{y}": [int(round(1e6 * p)) for p in table.prob[x, y].ravel()]
            for x in (0, 1) for y in (0, 1)}


def test_measured_statistics_move_the_curve_as_their_visibility_predicts(tmp_path: Path) -> None:
    path = tmp_path / "chsh.json"
    path.write_text(json.dumps({"counts": exact_counts(0.6)}))
    measured = load_chsh_result(path)
    assert measured.visibility == pytest.approx(0.6, abs=1e-5)
    config = StudyConfig(ratios=(1.0, 1.04, 1.08, 1.1, 1.14), steps=2000, seeds=1,
                         strategies=("random", "quantum-ideal", "quantum-visibility",
                                     "quantum-measured"),
                         visibility=measured.visibility, chsh=measured, rule=SAME_STEP)
    out = run_study(config).to_dict()
    q = out["mean_queue"]
    assert q["quantum-measured"] == pytest.approx(q["quantum-visibility"], rel=0.02)
    assert all(m > 1.1 * i for m, i in zip(q["quantum-measured"], q["quantum-ideal"]))
    assert out["knee"]["random"] < out["knee"]["quantum-measured"] < out["knee"]["quantum-ideal"]
    p = 0.5 + measured.S / 8
    rounds = 50 * 2000 * 5
    assert abs(out["win_rate"]["quantum-measured"] - p) < 4 * binomial_sigma(p, rounds)
    assert out["chsh"]["S"] == pytest.approx(measured.S)


def test_a_bench_chsh_result_feeds_the_study(tmp_path: Path) -> None:
    """Real `qnic chsh --json` output (uneven correlators and marginals): its curve follows
    the visibility S / (2 sqrt 2) and its win rate 1/2 + S/8."""
    path = tmp_path / "bench.json"
    path.write_text(json.dumps(BENCH_CHSH))
    measured = load_chsh_result(path)
    config = StudyConfig(ratios=(1.0, 1.08, 1.12), steps=3000, seeds=1,
                         strategies=("quantum-visibility", "quantum-measured"),
                         visibility=measured.visibility, chsh=measured)
    out = run_study(config).to_dict()
    q = out["mean_queue"]
    assert q["quantum-measured"] == pytest.approx(q["quantum-visibility"], rel=0.08)
    p = 0.5 + BENCH_CHSH["S"] / 8
    rounds = 50 * 3000 * 3
    assert abs(out["win_rate"]["quantum-measured"] - p) < 4 * binomial_sigma(p, rounds)


def test_subtypes_that_must_not_mix_shrink_the_gain() -> None:
    base = dict(ratios=(0.9, 1.0, 1.04, 1.08, 1.12), steps=2000, seeds=1,
                strategies=("random", "quantum-ideal"), rule=SAME_STEP)
    one = run_study(StudyConfig(**base)).to_dict()  # type: ignore[arg-type]
    two = run_study(StudyConfig(**base, c_subtypes=2)).to_dict()  # type: ignore[arg-type]
    assert two["knee"]["quantum-ideal"] < one["knee"]["quantum-ideal"] - 0.03
    assert two["c_in_pairs"]["quantum-ideal"] < one["c_in_pairs"]["quantum-ideal"] - 0.1
    assert two["knee"]["quantum-ideal"] > two["knee"]["random"]


def test_longer_service_times_move_the_knees_down() -> None:
    ratios = (0.45, 0.5, 0.52, 0.54, 0.56, 0.58, 0.6)
    base = dict(ratios=ratios, steps=2000, seeds=1, strategies=("random", "quantum-ideal"),
                rule=SAME_STEP)
    fixed = run_study(StudyConfig(**base, service=ServiceTime(2))).to_dict()  # type: ignore[arg-type]
    geometric = run_study(StudyConfig(  # type: ignore[arg-type]
        **base, service=ServiceTime(2, ServiceModel.GEOMETRIC))).to_dict()
    assert 0.45 < fixed["knee"]["random"] < 0.53  # about half the 1-step knee (1.06)
    assert fixed["knee"]["quantum-ideal"] > fixed["knee"]["random"] + 0.02
    for name in ("random", "quantum-ideal"):  # more variance, longer queues
        assert all(g > f for g, f in zip(geometric["mean_queue"][name],
                                         fixed["mean_queue"][name]))
    assert fixed["service"] == {"model": "fixed", "mean_steps": 2}


def test_workers_give_the_in_process_results() -> None:
    config = StudyConfig(ratios=(1.0, 1.1), steps=300, seeds=2,
                         strategies=("random", "power-of-two", "quantum-ideal"))
    local = run_study(config).queue
    assert np.array_equal(run_study(config, workers=2).queue, local)


def test_missing_distributed_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ClusterError, match="'distributed' package"):
        run_study(StudyConfig(ratios=(1.0,), steps=10, seeds=1),
                  cluster=ClusterSpec("tcp://127.0.0.1:1"))


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"strategies": ("random", "quantum-magic")}, "unknown strategies quantum-magic"),
    ({"ratios": (1.0, 0.0)}, "ratios N/M must be positive"),
    ({"ratios": (-1.0,)}, "must be positive"),
    ({"ratios": (float("nan"),)}, "must be positive"),
    ({"ratios": (80.0,)}, "M = 1 server\\(s\\); at least two servers"),
    ({"balancers": 101}, "must be even, got 101"),
    ({"strategies": ("quantum-visibility",)}, "needs a visibility"),
    ({"strategies": ("quantum-measured",)}, "--chsh-json"),
    ({"strategies": ("quantum-visibility",), "visibility": 1.5}, "within \\[0, 1\\]"),
    ({"steps": 0}, "steps must be a positive integer"),
    ({"ratios": ()}, "no ratios"),
    ({"threshold": -1.0}, "threshold"),
    ({"rule": "fifo"}, "unknown server rule 'fifo'"),
])
def test_bad_configurations_fail_before_any_work(monkeypatch: pytest.MonkeyPatch,
                                                 kwargs: dict[str, Any], message: str) -> None:
    def no_work(spec: PointSpec) -> None:
        raise AssertionError("a point was simulated")
    monkeypatch.setattr(study, "simulate_point", no_work)
    with pytest.raises(StudyConfigError, match=message):
        run_study(StudyConfig(**kwargs))


def test_odd_balancers_are_fine_without_pairwise_strategies() -> None:
    out = run_study(StudyConfig(balancers=11, ratios=(1.0,), steps=100, seeds=1,
                                strategies=("random", "round-robin"))).to_dict()
    assert out["servers"] == [11]


def test_save_writes_json_and_png(tmp_path: Path) -> None:
    result = run_study(StudyConfig(ratios=(0.9, 1.2), steps=200, seeds=2,
                                   strategies=("random", "quantum-ideal")))
    paths = save_study(result, tmp_path / "out")
    data = json.loads(paths["json"].read_text())
    assert data["heralding"] == HERALDING_NOTE and data["ratios"] == [0.9, 1.2]
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_knee_interpolation() -> None:
    knee = find_knee([1.0, 1.1, 1.2], [5.0, 8.0, 32.0], threshold=16.0)
    assert knee.ratio == pytest.approx(1.15) and knee.status.value == "crossed"
    assert find_knee([1.0, 1.1], [11.0, 20.0], 10.0).status.value == "above at the first load"
    assert find_knee([1.0, 1.1], [1.0, 2.0], 10.0).ratio is None
    assert find_knee([1.0, 1.1], [0.0, 20.0], 10.0).ratio == pytest.approx(1.05)


def test_measured_table_from_exact_counts_has_their_visibility() -> None:
    assert measured_table(exact_counts(0.8)).visibility == pytest.approx(0.8, abs=1e-5)
