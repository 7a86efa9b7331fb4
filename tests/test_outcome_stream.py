"""One-pass per-outcome counting against a brute-force reference.

The reference follows docs/coincidences.md word for word: subtract delays,
match each arm's two detectors by sorting all candidate pairs by (|dt|, i, j),
order the arm's events by (time, doubles < outcome 0 < outcome 1, click
order), match the arms' events the same way with arm B shifted by the
offset, and count. Inputs are drawn on a short time axis so that ties,
chains and multi-click clusters are common.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qnic.coincidence import (
    TWO_CORE_MIN_TAGS,
    OutcomeStream,
    find_coincidences,
    merge_arm,
    outcome_counts,
    outcome_counts_at,
)

ARM_A, ARM_B = (1, 2), (3, 4)


def greedy_pairs(t_a: list[int], t_b: list[int], window: int, shift: int) -> list[tuple[int, int]]:
    """Nearest-first matching by brute force: every candidate pair sorted by (|dt|, i, j)."""
    cands = sorted((abs(tb - shift - ta), i, j)
                   for i, ta in enumerate(t_a) for j, tb in enumerate(t_b)
                   if abs(tb - shift - ta) <= window)
    used_a: set[int] = set()
    used_b: set[int] = set()
    pairs = []
    for _, i, j in cands:
        if i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
            pairs.append((i, j))
    return pairs


def reference_events(t0: list[int], t1: list[int], window: int) -> list[tuple[int, int]]:
    """An arm's (time, outcome) events in the documented order."""
    pairs = greedy_pairs(t0, t1, window, 0)
    m0 = {i for i, _ in pairs}
    m1 = {j for _, j in pairs}
    keyed = [(min(t0[i], t1[j]), 0, i, 2) for i, j in pairs]
    keyed += [(t, 1, i, 0) for i, t in enumerate(t0) if i not in m0]
    keyed += [(t, 2, j, 1) for j, t in enumerate(t1) if j not in m1]
    return [(t, o) for t, _, _, o in sorted(keyed)]


def reference_counts(ts: list[int], ch: list[int], window: int, delays: dict[int, int],
                     offset: int) -> tuple[list[int], int, int, int, int]:
    clicks = {c: [t - delays.get(c, 0) for t, cc in zip(ts, ch) if cc == c] for c in (1, 2, 3, 4)}
    ev_a = reference_events(clicks[1], clicks[2], window)
    ev_b = reference_events(clicks[3], clicks[4], window)
    n = [0, 0, 0, 0]
    double_a = double_b = 0
    for i, j in greedy_pairs([t for t, _ in ev_a], [t for t, _ in ev_b], window, offset):
        oa, ob = ev_a[i][1], ev_b[j][1]
        if oa == 2:
            double_a += 1
        elif ob == 2:
            double_b += 1
        else:
            n[2 * oa + ob] += 1
    return n, double_a, double_b, len(ev_a), len(ev_b)


@st.composite
def tag_streams(draw: st.DrawFn) -> tuple[list[int], list[int]]:
    n = draw(st.integers(0, 40))
    span = draw(st.sampled_from([20, 60, 400]))
    times = sorted(draw(st.lists(st.integers(-span, span), min_size=n, max_size=n)))
    chans = draw(st.lists(st.sampled_from([1, 2, 3, 4, 9]), min_size=n, max_size=n))
    return times, chans


delays_st = st.fixed_dictionaries({c: st.integers(-15, 15) for c in (1, 2, 3, 4)})


@settings(max_examples=400, deadline=None)
@given(tag_streams(), st.integers(0, 12), delays_st, st.lists(st.integers(-40, 40), min_size=1,
                                                                 max_size=4))
def test_counts_equal_the_brute_force_reference(stream: tuple[list[int], list[int]], window: int,
                                                delays: dict[int, int], offsets: list[int]) -> None:
    ts, ch = stream
    got = outcome_counts_at(np.array(ts, np.int64), np.array(ch, np.int64), ARM_A, ARM_B, window,
                            delays, offsets)
    for offset, counts in zip(offsets, got):
        n, double_a, double_b, events_a, events_b = reference_counts(ts, ch, window, delays, offset)
        assert counts.as_list() == n, offset
        assert (counts.double_a, counts.double_b) == (double_a, double_b)
        assert (counts.events_a, counts.events_b) == (events_a, events_b)
        assert counts.singles == {c: ch.count(c) for c in (1, 2, 3, 4)}


@settings(max_examples=300, deadline=None)
@given(tag_streams(), st.integers(0, 12), delays_st)
def test_true_coincidences_alone_equal_the_reference(stream: tuple[list[int], list[int]],
                                                     window: int, delays: dict[int, int]) -> None:
    # Offset 0 alone takes the kernel's path that writes no events.
    ts, ch = stream
    counts = outcome_counts(np.array(ts, np.int64), np.array(ch, np.int32), ARM_A, ARM_B, window,
                            delays)
    n, double_a, double_b, events_a, events_b = reference_counts(ts, ch, window, delays, 0)
    assert (counts.as_list(), counts.double_a, counts.double_b) == (n, double_a, double_b)
    assert (counts.events_a, counts.events_b) == (events_a, events_b)


@settings(max_examples=300, deadline=None)
@given(tag_streams(), st.integers(0, 12), delays_st, st.lists(st.integers(-40, 40), min_size=1,
                                                                 max_size=3),
       st.lists(st.integers(0, 40), max_size=5), st.data())
def test_batches_count_exactly_as_one_pass(stream: tuple[list[int], list[int]], window: int,
                                           delays: dict[int, int], offsets: list[int],
                                           cuts: list[int], data: st.DataObject) -> None:
    ts, ch = stream
    t, c = np.array(ts, np.int64), np.array(ch, np.int64)
    whole = outcome_counts_at(t, c, ARM_A, ARM_B, window, delays, offsets)
    s = OutcomeStream(ARM_A, ARM_B, window, delays, offsets)
    bounds = sorted({min(k, t.size) for k in cuts} | {0, t.size})
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        # until_ps, when given, may be any time up to the next batch's first tag
        nxt = int(t[hi]) if hi < t.size else None
        until = data.draw(st.one_of(st.none(), st.integers(int(t[hi - 1]), nxt if nxt is not None
                                                           else int(t[hi - 1]) + 100)))
        s.push(t[lo:hi], c[lo:hi], until_ps=until)
    assert s.finish() == whole


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-50, 50), max_size=25), st.lists(st.integers(-50, 50), max_size=25),
       st.integers(0, 8))
def test_merge_arm_equals_the_reference(t0: list[int], t1: list[int], window: int) -> None:
    t0, t1 = sorted(t0), sorted(t1)
    events = merge_arm(np.array(t0, np.int64), np.array(t1, np.int64), window)
    assert list(zip(events.time_ps.tolist(), events.outcome.tolist())) == reference_events(
        t0, t1, window)


def test_a_pair_across_a_batch_boundary_is_counted() -> None:
    s = OutcomeStream(ARM_A, ARM_B, window_ps=100, offsets_ps=(0, 10_000))
    s.push(np.array([1_000, 5_000]), np.array([1, 1]))
    mid = s.counts()[0]
    assert mid.coincidences == 0
    s.push(np.array([5_020, 30_000]), np.array([4, 3]))
    true, offset = s.finish()
    assert true.as_list() == [0, 1, 0, 0]
    assert offset.coincidences == 0
    assert true.events_a == 2 and true.events_b == 2


def test_memory_stays_bounded_over_many_batches() -> None:
    # 200 batches of a steady stream: what is held back stays a few events,
    # even with an offset window (arm B's events within the offset are kept).
    rng = np.random.default_rng(3)
    s = OutcomeStream(ARM_A, ARM_B, window_ps=1_000, offsets_ps=(0, 50_000))
    start = 0
    for _ in range(200):
        t = np.sort(rng.integers(start, start + 10_000_000, 2_000))
        s.push(t, rng.integers(1, 5, t.size), until_ps=start + 10_000_000)
        start += 10_000_000
        held, kept = s.n_held
        assert held <= 8 and kept <= 200


def test_bad_batches_get_named_errors() -> None:
    s = OutcomeStream(ARM_A, ARM_B, window_ps=10)
    with pytest.raises(ValueError, match=r"timestamps\[2\] = 5 < timestamps\[1\] = 9"):
        s.push(np.array([1, 9, 5]), np.array([1, 2, 3]))
    s.push(np.array([100]), np.array([1]))
    with pytest.raises(ValueError, match="before the previous batch's last 100 ps"):
        s.push(np.array([50]), np.array([1]))
    with pytest.raises(TypeError, match="integer array"):
        s.push(np.array([200.0]), np.array([1]))
    with pytest.raises(ValueError, match="differ in length"):
        s.push(np.array([200, 300]), np.array([1]))
    s.finish()
    with pytest.raises(RuntimeError, match="after finish"):
        s.push(np.array([400]), np.array([1]))
    with pytest.raises(ValueError, match="at least one offset"):
        OutcomeStream(ARM_A, ARM_B, 10, offsets_ps=())
    with pytest.raises(ValueError, match="four distinct"):
        OutcomeStream((1, 2), (2, 3), 10)


def pairs_and_noise(seed: int, n_pairs: int, n_noise: int) -> tuple[np.ndarray, np.ndarray]:
    """An interleaved stream over 10 ms: pairs (arm B 700 +- 300 ps late) and
    uncorrelated clicks on all four channels."""
    rng = np.random.default_rng(seed)
    emit = np.sort(rng.integers(0, 10**10, n_pairs))
    t = np.concatenate((emit, emit + 700 + rng.integers(-300, 300, n_pairs),
                        rng.integers(0, 10**10, n_noise)))
    ch = np.concatenate((rng.integers(1, 3, n_pairs), rng.integers(3, 5, n_pairs),
                         rng.integers(1, 5, n_noise)))
    order = np.argsort(t, kind="stable")
    return t[order], ch[order]


def test_batches_larger_than_a_kernel_block_count_as_small_ones() -> None:
    # 3 blocks of the kernel in one batch, against the same tags in 7 batches,
    # and against merging each arm by hand (merge_arm) and matching the events.
    n_pairs = 40_000
    t, ch = pairs_and_noise(5, n_pairs, 30_000)
    delays = {3: 700, 4: 700}
    offsets = (0, 5_000, -7_000)
    whole = outcome_counts_at(t, ch, ARM_A, ARM_B, 400, delays, offsets)
    s = OutcomeStream(ARM_A, ARM_B, 400, delays, offsets)
    for part in np.array_split(np.arange(t.size), 7):
        s.push(t[part], ch[part])
    assert s.finish() == whole
    ev_a = merge_arm(t[ch == 1], t[ch == 2], 400)
    ev_b = merge_arm(t[ch == 3] - 700, t[ch == 4] - 700, 400)
    for offset, counts in zip(offsets, whole):
        i_a, i_b = find_coincidences(ev_a.time_ps, ev_b.time_ps, 400, offset)
        oa, ob = ev_a.outcome[i_a], ev_b.outcome[i_b]
        single = (oa < 2) & (ob < 2)
        n = np.bincount(2 * oa[single].astype(int) + ob[single], minlength=4)
        assert counts.as_list() == n.tolist()
        assert counts.double_a == int(np.sum(oa == 2))
        assert counts.double_b == int(np.sum((ob == 2) & (oa < 2)))
    assert whole[0].coincidences > 0.5 * n_pairs


def test_one_batch_function_is_the_zero_offset_stream() -> None:
    rng = np.random.default_rng(11)
    t = np.sort(rng.integers(0, 10_000_000, 20_000))
    ch = rng.integers(1, 5, t.size)
    counts = outcome_counts(t, ch, ARM_A, ARM_B, 2_000, {3: 300}, offset_ps=0)
    assert counts == outcome_counts_at(t, ch, ARM_A, ARM_B, 2_000, {3: 300}, (25_000, 0))[1]
    assert counts.coincidences > 0


def test_two_threads_count_what_one_does() -> None:
    # A batch above TWO_CORE_MIN_TAGS is cut at a quiet stretch and its halves
    # counted side by side; a stretch of double clicks and pairs sits at the cut.
    n_pairs = 150_000
    t, ch = pairs_and_noise(8, n_pairs, 60_000)
    assert t.size >= TWO_CORE_MIN_TAGS
    delays = {3: 700, 4: 700}
    results = []
    for threads in (1, 2):
        s = OutcomeStream(ARM_A, ARM_B, 400, delays, threads=threads)
        for part in np.array_split(np.arange(t.size), 2):
            s.push(t[part], ch[part])
        results.append(s.finish())
    assert results[0] == results[1]
    assert results[0][0].coincidences > 0.5 * n_pairs
    bad = t.copy()
    bad[-10] = bad[-11] - 1
    with pytest.raises(ValueError, match=rf"timestamps\[{t.size - 10}\]"):
        OutcomeStream(ARM_A, ARM_B, 400, delays, threads=2).push(bad, ch)
    with pytest.raises(ValueError, match="threads must be an int >= 1"):
        OutcomeStream(ARM_A, ARM_B, 400, threads=0)
