"""The decision layer: the game, strategies as tables, outcome sources, heralded pairs.

Statistical checks use fixed seeds and tolerances of 4 binomial sigma.
"""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qnic.balancing import (
    CLASSICAL_CHSH_WIN,
    HERALDING_NOTE,
    QUANTUM_CHSH_WIN,
    Balancer,
    CHSHInputError,
    OutcomeTable,
    PairBuffer,
    PairsExhausted,
    PairStrategy,
    RequestType,
    SideRule,
    XorStrategy,
    always_separate,
    binomial_sigma,
    chsh_strategy,
    dedicated_c,
    heralded_pairs,
    ideal_table,
    lb_wins,
    load_chsh_result,
    measured_table,
    quantum_chsh,
    visibility_table,
)
from qnic.coincidence import ArmEvents

SQRT_HALF = 1.0 / math.sqrt(2.0)


def test_chsh_strategy_correlations_are_the_design_pattern() -> None:
    e = chsh_strategy().correlations()
    assert e == pytest.approx(np.array([[SQRT_HALF, SQRT_HALF], [SQRT_HALF, -SQRT_HALF]]))
    assert ideal_table(chsh_strategy()).chsh_value() == pytest.approx(2 * math.sqrt(2))


def test_win_probabilities_of_the_named_strategies() -> None:
    assert quantum_chsh().win_probability() == pytest.approx(QUANTUM_CHSH_WIN)
    assert QUANTUM_CHSH_WIN == pytest.approx(0.8535533905932737)
    assert always_separate().win_probability() == pytest.approx(CLASSICAL_CHSH_WIN)
    assert dedicated_c().win_probability() == pytest.approx(CLASSICAL_CHSH_WIN)
    for v in (0.0, 0.5, 0.9):
        s_value = 2 * math.sqrt(2) * v
        table = visibility_table(chsh_strategy(), v)
        assert table.chsh_value() == pytest.approx(s_value)
        assert quantum_chsh(table).win_probability() == pytest.approx(0.5 + s_value / 8)


def test_no_deterministic_classical_pair_beats_three_quarters() -> None:
    best = max(PairStrategy("det", SideRule.fixed(a), SideRule.fixed(b)).win_probability()
               for a in itertools.product((0, 1), repeat=2)
               for b in itertools.product((0, 1), repeat=2))
    assert best == pytest.approx(0.75)


def test_classical_rules_do_what_their_names_say() -> None:
    servers = (7, 3)  # (u, v)
    a, b = always_separate().balancers()
    for x, y in itertools.product((0, 1), repeat=2):
        assert (a.decide(x, 0, servers), b.decide(y, 0, servers)) == (7, 3)
    a, b = dedicated_c().balancers()
    for side in (a, b):
        assert side.decide(RequestType.COLOCATE, 0, servers) == 7  # the C server u
        assert side.decide(RequestType.EXCLUSIVE, 1, servers) == 3  # the E server v
    assert not always_separate().consumes_pairs and quantum_chsh().consumes_pairs


def test_quantum_sides_decide_from_their_own_bit() -> None:
    a, b = quantum_chsh().balancers()
    for q, o in itertools.product((0, 1), repeat=2):
        assert a.decide(q, o, (10, 20)) == (10, 20)[o]
        assert b.decide(q, o, (10, 20)) == (10, 20)[1 - o]  # B's bit is flipped


def test_batch_and_scalar_decisions_agree() -> None:
    rng = np.random.default_rng(1)
    q, o = rng.integers(0, 2, 500), rng.integers(0, 2, 500)
    pairs = rng.integers(0, 50, (500, 2))
    for strategy in (quantum_chsh(), always_separate(), dedicated_c()):
        for side in strategy.balancers():
            batch = side.decide_batch(q, o, pairs)
            assert batch.tolist() == [side.decide(int(q[i]), int(o[i]), (int(pairs[i, 0]),
                                                                      int(pairs[i, 1])))
                                      for i in range(500)]


def test_ideal_sampling_wins_cos2_pi_over_8() -> None:
    """500k rounds of the ideal table: win fraction within 4 sigma of cos^2(pi/8)."""
    rng = np.random.default_rng(7)
    n = 500_000
    x, y = rng.integers(0, 2, n), rng.integers(0, 2, n)
    bits_a, bits_b = quantum_chsh().outputs(x, y, rng.random(n))
    wins = lb_wins(x, y, bits_a == bits_b).mean()
    assert abs(wins - QUANTUM_CHSH_WIN) < 4 * binomial_sigma(QUANTUM_CHSH_WIN, n)


def test_table_sampling_matches_its_probabilities() -> None:
    prob = np.array([[[[0.1, 0.2], [0.3, 0.4]], [[0.0, 0.5], [0.5, 0.0]]]])  # (1, 2, 2, 2)
    table = OutcomeTable(prob)
    rng = np.random.default_rng(3)
    n = 200_000
    for y in (0, 1):
        a, b = table.sample(np.zeros(n, int), np.full(n, y), rng.random(n))
        freq = np.bincount(2 * a.astype(int) + b, minlength=4) / n
        for got, p in zip(freq, prob[0, y].ravel()):
            assert abs(got - p) <= 4 * binomial_sigma(p, n) + 1e-12


@given(st.lists(st.integers(1, 10_000), min_size=16, max_size=16))
@settings(max_examples=50, deadline=None)
def test_measured_win_probability_is_half_plus_s_over_8(counts: list[int]) -> None:
    rows = {k: counts[4 * i:4 * i + 4] for i, k in enumerate(("00", "01", "10", "11"))}
    measured = measured_table(rows)
    assert quantum_chsh(measured.table).win_probability() == pytest.approx(
        0.5 + measured.S / 8, abs=1e-12)
    assert measured.table.chsh_value() == pytest.approx(measured.S, abs=1e-12)


def test_any_xor_strategy_plugs_in_through_angles_or_correlations() -> None:
    three = XorStrategy((0.0, 30.0, 60.0), (15.0, 45.0), flip_b=True, name="three")
    table = ideal_table(three)
    assert table.questions == (3, 2)
    e = table.correlations()
    assert e[2, 0] == pytest.approx(math.cos(math.radians(90.0)), abs=1e-12)
    strategy = PairStrategy("three", SideRule.from_outcome(3), SideRule.from_outcome(2, True),
                            OutcomeTable.from_correlations(e))
    rng = np.random.default_rng(0)
    bits_a, bits_b = strategy.outputs(np.full(1000, 2), np.zeros(1000, int), rng.random(1000))
    assert set(np.unique(bits_a)) <= {0, 1} and bits_a.shape == bits_b.shape == (1000,)
    with pytest.raises(ValueError, match="questions"):
        PairStrategy("bad", SideRule.from_outcome(2), SideRule.from_outcome(2), table)
    with pytest.raises(ValueError, match="needs a source"):
        PairStrategy("bad", SideRule.from_outcome(2), SideRule.from_outcome(2), None)


@pytest.mark.parametrize("bad", [np.zeros((2, 2, 2)), np.full((1, 1, 2, 2), 0.3),
                                 np.array([[[[1.5, -0.5], [0.0, 0.0]]]])])
def test_outcome_table_rejects_bad_probabilities(bad: np.ndarray) -> None:
    with pytest.raises(ValueError):
        OutcomeTable(bad)


def test_visibility_outside_unit_interval_is_refused() -> None:
    with pytest.raises(ValueError, match="visibility"):
        visibility_table(chsh_strategy(), 1.2)


def chsh_json(path: Path, counts: dict[str, list[int]], **extra: object) -> Path:
    path.write_text(json.dumps({"counts": counts, **extra}))
    return path


def test_load_chsh_result_reads_counts(tmp_path: Path) -> None:
    counts = {"00": [427, 73, 73, 427], "01": [427, 73, 73, 427], "10": [427, 73, 73, 427],
              "11": [73, 427, 427, 73]}
    measured = load_chsh_result(chsh_json(tmp_path / "r.json", counts, run_id=4))
    assert measured.S == pytest.approx(4 * 0.708)
    assert measured.visibility == pytest.approx(4 * 0.708 / (2 * math.sqrt(2)))
    assert measured.to_dict()["run_id"] == 4
    assert measured.table.prob[1, 1, 0, 1] == pytest.approx(427 / 1000)


@pytest.mark.parametrize(("content", "message"), [
    (None, "cannot read"), ("{oops", "not valid JSON"), ({"S": 2.5}, "'counts'"),
    ({"counts": {"00": [1, 1, 1, 1]}}, "missing"),
    ({"counts": {k: [0, 0, 0, 0] for k in ("00", "01", "10", "11")}}, "no coincidences"),
    ({"counts": {k: [1, 1, 1, 1] for k in ("00", "01", "10", "11")}, "S": 2.0}, "disagrees"),
])
def test_load_chsh_result_errors_name_the_file(tmp_path: Path, content: object,
                                               message: str) -> None:
    path = tmp_path / "bad.json"
    if content is not None:
        path.write_text(content if isinstance(content, str) else json.dumps(content))
    with pytest.raises(CHSHInputError, match=message) as info:
        load_chsh_result(path)
    assert "bad.json" in str(info.value)


def test_pair_buffer_consumes_in_order_per_setting() -> None:
    buf = PairBuffer({(0, 0): ([0, 1, 1], [0, 0, 1]), (1, 1): ([1], [0])})
    a, b = buf.take(np.array([0, 1, 0]), np.array([0, 1, 0]))
    assert a.tolist() == [0, 1, 1] and b.tolist() == [0, 0, 0]
    assert buf.available(0, 0) == 1 and buf.available(1, 1) == 0
    with pytest.raises(PairsExhausted, match=r"\(1, 1\)"):
        buf.take(np.array([0, 1]), np.array([0, 1]))
    assert buf.available(0, 0) == 1  # nothing consumed by the failed take


def test_pair_buffer_from_table_has_the_table_statistics() -> None:
    rng = np.random.default_rng(11)
    buf = PairBuffer.from_table(ideal_table(chsh_strategy()), 100_000, rng)
    a, b = buf.take(np.ones(100_000, int), np.ones(100_000, int))
    p_diff = QUANTUM_CHSH_WIN  # at (1, 1) the outcomes differ with cos^2(pi/8)
    assert abs(np.mean(a != b) - p_diff) < 4 * binomial_sigma(p_diff, 100_000)


def test_heralded_pairs_keep_matched_single_clicks_only() -> None:
    events_a = ArmEvents(np.array([0, 1000, 2000, 3000], np.int64), np.array([0, 1, 2, 1], np.int8))
    events_b = ArmEvents(np.array([5, 1990, 2990, 9000], np.int64), np.array([1, 0, 0, 1], np.int8))
    a, b = heralded_pairs(events_a, events_b, window_ps=20)
    # 1000 has no partner, 2000 is a double click on A, 9000 has no partner
    assert a.tolist() == [0, 1] and b.tolist() == [1, 0]


def test_heralding_note_is_the_stated_sentence() -> None:
    assert HERALDING_NOTE == ("quantum strategies consume heralded (coincidence-matched) pairs; "
                              "a deployment needs heralded or stored pairs")
    import qnic.balancing as pkg
    import qnic.balancing.buffer as buffer_module
    for doc in (pkg.__doc__, buffer_module.__doc__):
        assert doc is not None and "heralded" in doc and "stored pairs" in doc


def test_balancer_needs_only_local_inputs() -> None:
    side = Balancer(SideRule.from_outcome(2, flip=True), "B")
    assert side.decide(1, 0, (4, 5)) == 5 and side.decide(0, 1, (4, 5)) == 4


def test_a_solved_xor_strategy_plugs_in_by_its_correlations() -> None:
    from qnic.balancing import xor_pair_strategy

    class Solved:  # what an XOR solver hands over: the correlators of its strategy
        def correlations(self) -> np.ndarray:
            return chsh_strategy().correlations()

    plugged = xor_pair_strategy(Solved(), flip_b=True, name="chsh")
    assert plugged.win_probability() == pytest.approx(QUANTUM_CHSH_WIN)
    assert np.allclose(plugged.source.prob, quantum_chsh().source.prob)  # type: ignore[union-attr]
    unflipped = xor_pair_strategy(Solved())
    assert unflipped.win_probability() == pytest.approx(1 - QUANTUM_CHSH_WIN)
