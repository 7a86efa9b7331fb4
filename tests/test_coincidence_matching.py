"""Coincidence matching: one-shot, chunked and streaming, against a brute force."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qnic.coincidence import (
    CoincidenceStream,
    find_coincidences,
    find_coincidences_chunked,
)

Pairs = tuple[np.ndarray, np.ndarray]


def brute_force(t_a: list[int], t_b: list[int], window_ps: int, delay_ps: int) -> Pairs:
    """The specification written plainly: sort all candidates by (|dt|, i, j), greedy."""
    candidates = []
    for i, ta in enumerate(t_a):
        for j, tb in enumerate(t_b):
            dt = abs((tb - delay_ps) - ta)
            if dt <= window_ps:
                candidates.append((dt, i, j))
    candidates.sort()
    used_a: set[int] = set()
    used_b: set[int] = set()
    pairs = []
    for _, i, j in candidates:
        if i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
            pairs.append((i, j))
    pairs.sort()
    i_a = np.array([p[0] for p in pairs], dtype=np.int64)
    i_b = np.array([p[1] for p in pairs], dtype=np.int64)
    return i_a, i_b


def assert_pairs_equal(got: Pairs, expected: Pairs) -> None:
    assert got[0].dtype == np.int64 and got[1].dtype == np.int64
    np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_array_equal(got[1], expected[1])


# Small time range so that equal timestamps and equal distances are frequent.
stamps = st.lists(st.integers(min_value=0, max_value=60), max_size=25).map(sorted)
any_order = st.lists(st.integers(min_value=0, max_value=60), max_size=25)
windows = st.integers(min_value=0, max_value=8)
delays = st.integers(min_value=-8, max_value=8)


@settings(max_examples=200, deadline=None)
@given(t_a=stamps, t_b=stamps, window_ps=windows, delay_ps=delays)
def test_matches_brute_force(t_a: list[int], t_b: list[int], window_ps: int, delay_ps: int) -> None:
    got = find_coincidences(
        np.array(t_a, np.int64), np.array(t_b, np.int64), window_ps, delay_ps
    )
    assert_pairs_equal(got, brute_force(t_a, t_b, window_ps, delay_ps))


@settings(max_examples=150, deadline=None)
@given(t_a=stamps, t_b=stamps, window_ps=windows, delay_ps=delays,
       chunk_size=st.integers(min_value=1, max_value=30))
def test_chunked_equals_one_shot(
    t_a: list[int], t_b: list[int], window_ps: int, delay_ps: int, chunk_size: int
) -> None:
    a, b = np.array(t_a, np.int64), np.array(t_b, np.int64)
    got = find_coincidences_chunked(a, b, window_ps, delay_ps, chunk_size=chunk_size)
    assert_pairs_equal(got, find_coincidences(a, b, window_ps, delay_ps))


def _split(values: np.ndarray, cuts: list[int]) -> list[np.ndarray]:
    edges = [0, *sorted(min(c, values.size) for c in cuts), values.size]
    return [values[lo:hi] for lo, hi in zip(edges[:-1], edges[1:])]


@settings(max_examples=150, deadline=None)
@given(t_a=stamps, t_b=stamps, window_ps=windows, delay_ps=delays,
       cuts_a=st.lists(st.integers(0, 25), max_size=6),
       cuts_b=st.lists(st.integers(0, 25), max_size=6))
def test_stream_with_independent_cuts_equals_one_shot(
    t_a: list[int], t_b: list[int], window_ps: int, delay_ps: int,
    cuts_a: list[int], cuts_b: list[int],
) -> None:
    # The two streams are cut at unrelated places (empty chunks included), so
    # one stream may run far ahead of the other.
    a, b = np.array(t_a, np.int64), np.array(t_b, np.int64)
    chunks_a, chunks_b = _split(a, cuts_a), _split(b, cuts_b)
    n = max(len(chunks_a), len(chunks_b))
    chunks_a += [a[:0]] * (n - len(chunks_a))
    chunks_b += [b[:0]] * (n - len(chunks_b))
    stream = CoincidenceStream(window_ps, delay_ps)
    results = [stream.push(ca, cb) for ca, cb in zip(chunks_a, chunks_b)]
    results.append(stream.finish())
    got = (np.concatenate([r[0] for r in results]), np.concatenate([r[1] for r in results]))
    assert_pairs_equal(got, brute_force(t_a, t_b, window_ps, delay_ps))
    assert stream.n_pushed == (a.size, b.size)


def _dense_streams(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Correlated pairs with jitter plus background: clusters of many sizes."""
    rng = np.random.default_rng(seed)
    emission = np.sort(rng.integers(0, 40 * n, size=n))
    t_a = np.sort(np.concatenate((emission + rng.integers(-3, 4, n),
                                  rng.integers(0, 40 * n, size=n // 2))))
    t_b = np.sort(np.concatenate((emission + 7 + rng.integers(-3, 4, n),
                                  rng.integers(0, 40 * n, size=n // 2))))
    return t_a, t_b


def candidate_greedy(t_a: np.ndarray, t_b: np.ndarray, window_ps: int, delay_ps: int) -> Pairs:
    """The same specification for long inputs: candidates enumerated with
    searchsorted, sorted by (|dt|, i, j), accepted greedily in plain Python."""
    shifted = t_b - delay_ps
    lo = np.searchsorted(shifted, t_a - window_ps, side="left")
    hi = np.searchsorted(shifted, t_a + window_ps, side="right")
    counts = hi - lo
    i = np.repeat(np.arange(t_a.size), counts)
    j = np.concatenate([np.arange(a, b) for a, b in zip(lo, hi)] or [np.empty(0, np.int64)])
    dt = np.abs(shifted[j] - t_a[i])
    order = np.lexsort((j, i, dt))
    used_a = np.zeros(t_a.size, bool)
    used_b = np.zeros(t_b.size, bool)
    pairs = []
    for k in order.tolist():
        ik, jk = int(i[k]), int(j[k])
        if not used_a[ik] and not used_b[jk]:
            used_a[ik] = used_b[jk] = True
            pairs.append((ik, jk))
    pairs.sort()
    return (np.array([p[0] for p in pairs], np.int64), np.array([p[1] for p in pairs], np.int64))


def test_long_dense_input_matches_candidate_greedy() -> None:
    # Long enough for the two-lane merge of the kernel (blocks of 8192
    # a-events), dense enough for clusters of many sizes.
    t_a, t_b = _dense_streams(seed=5, n=30_000)
    for window_ps, delay_ps in ((30, 7), (80, -20), (0, 7)):
        got = find_coincidences(t_a, t_b, window_ps, delay_ps)
        assert_pairs_equal(got, candidate_greedy(t_a, t_b, window_ps, delay_ps))


@pytest.mark.parametrize("position", [1, 4095, 4096, 4097, 8191, 8192, 12_000, 29_999])
@pytest.mark.parametrize("stream", ["t_a", "t_b"])
def test_unsorted_found_anywhere_in_long_input(position: int, stream: str) -> None:
    # The order is checked inside the matching pass; a single decrease at
    # any position (block and lane boundaries included) must be reported.
    t_a, t_b = _dense_streams(seed=6, n=20_000)
    arrays = {"t_a": t_a.copy(), "t_b": t_b.copy()}
    arrays[stream][position] = arrays[stream][position - 1] - 1
    with pytest.raises(ValueError, match=rf"{stream}.*index {position}\b"):
        find_coincidences(arrays["t_a"], arrays["t_b"], 30, 7)


def test_dense_medium_input_matches_brute_force() -> None:
    t_a, t_b = _dense_streams(seed=1, n=300)
    got = find_coincidences(t_a, t_b, window_ps=12, delay_ps=7)
    assert_pairs_equal(got, brute_force(t_a.tolist(), t_b.tolist(), 12, 7))


@pytest.mark.parametrize("chunk_size", [13, 1000, 10**6])
def test_chunked_large_input(chunk_size: int) -> None:
    t_a, t_b = _dense_streams(seed=2, n=20_000)
    expected = find_coincidences(t_a, t_b, window_ps=30, delay_ps=7)
    assert expected[0].size > 10_000
    got = find_coincidences_chunked(t_a, t_b, 30, 7, chunk_size=chunk_size)
    assert_pairs_equal(got, expected)


def test_result_is_one_to_one_and_within_window() -> None:
    t_a, t_b = _dense_streams(seed=3, n=20_000)
    i_a, i_b = find_coincidences(t_a, t_b, window_ps=20, delay_ps=7)
    assert np.all(np.diff(i_a) > 0)
    assert np.unique(i_b).size == i_b.size
    assert np.all(np.abs(t_b[i_b] - 7 - t_a[i_a]) <= 20)


def test_nearest_partner_first_and_index_tie_break() -> None:
    # a=10 is nearer to b=6 than a=0 is.
    assert_pairs_equal(find_coincidences([0, 10], [6], 10), (np.array([1]), np.array([0])))
    # All distances 5: (|dt|, i, j) order accepts (0, 0), then (1, 1).
    both = (np.array([0, 1]), np.array([0, 1]))
    assert_pairs_equal(find_coincidences([0, 10], [5, 15], 5), both)
    # Equal timestamps: lowest indices pair first.
    assert_pairs_equal(find_coincidences([5, 5], [5, 5, 5], 0), both)


def test_window_zero_means_equal_after_delay() -> None:
    got = find_coincidences([100, 200, 300], [149, 250, 351], window_ps=0, delay_ps=50)
    assert_pairs_equal(got, (np.array([1]), np.array([1])))


def test_empty_inputs() -> None:
    for t_a, t_b in (([], []), ([1, 2], []), ([], [1, 2])):
        i_a, i_b = find_coincidences(np.array(t_a, np.int64), np.array(t_b, np.int64), 5)
        assert i_a.size == 0 and i_b.size == 0
        assert i_a.dtype == np.int64 and i_b.dtype == np.int64
    assert find_coincidences([], [], 5)[0].size == 0  # plain empty lists too
    stream = CoincidenceStream(5)
    assert stream.push([], [])[0].size == 0
    assert stream.finish()[0].size == 0


def test_any_integer_dtype_is_accepted() -> None:
    expected = find_coincidences(np.array([1, 5, 9]), np.array([2, 9]), 1)
    for dtype in (np.int8, np.int32, np.uint16, np.uint64):
        got = find_coincidences(np.array([1, 5, 9], dtype), np.array([2, 9], dtype), 1)
        assert_pairs_equal(got, expected)


def test_unsorted_input_is_rejected_naming_argument_and_index() -> None:
    with pytest.raises(ValueError, match=r"t_a.*index 2"):
        find_coincidences([1, 5, 4, 6], [1, 2], 1)
    with pytest.raises(ValueError, match=r"t_b.*index 1"):
        find_coincidences([1, 2], [3, 2], 1)
    with pytest.raises(ValueError, match=r"t_b"):
        find_coincidences_chunked([1, 2], [3, 2], 1, chunk_size=1)


@settings(max_examples=150, deadline=None)
@given(t_a=any_order, t_b=any_order, window_ps=windows, delay_ps=delays)
def test_any_order_is_checked(t_a: list[int], t_b: list[int], window_ps: int, delay_ps: int) -> None:
    a, b = np.array(t_a, np.int64), np.array(t_b, np.int64)
    for name, values in (("t_a", t_a), ("t_b", t_b)):
        if values != sorted(values):
            first = next(k for k in range(1, len(values)) if values[k] < values[k - 1])
            with pytest.raises(ValueError, match=rf"{name}.*index {first}\b"):
                find_coincidences(a, b, window_ps, delay_ps)
            return
    assert_pairs_equal(find_coincidences(a, b, window_ps, delay_ps),
                       brute_force(t_a, t_b, window_ps, delay_ps))


def test_bad_arguments_are_rejected() -> None:
    with pytest.raises(TypeError, match="t_a.*integer"):
        find_coincidences(np.array([1.0, 2.0]), [1], 1)
    with pytest.raises(TypeError, match="t_b.*integer"):
        find_coincidences([1], np.array([True]), 1)
    with pytest.raises(ValueError, match="1-D"):
        find_coincidences(np.zeros((2, 2), np.int64), [1], 1)
    with pytest.raises(ValueError, match="window_ps"):
        find_coincidences([1], [1], -1)
    with pytest.raises(ValueError, match="window_ps"):
        find_coincidences([1], [1], 2.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="chunk_size"):
        find_coincidences_chunked([1], [1], 1, chunk_size=0)


def test_stream_rejects_chunks_out_of_order_and_push_after_finish() -> None:
    stream = CoincidenceStream(window_ps=5)
    stream.push([10, 20], [15])
    with pytest.raises(ValueError, match=r"t_a_chunk.*before"):
        stream.push([19], [])
    with pytest.raises(ValueError, match=r"t_b_chunk.*index 1"):
        stream.push([], [30, 29])
    stream.finish()
    with pytest.raises(RuntimeError):
        stream.push([30], [30])


def test_stream_holds_back_only_the_boundary() -> None:
    # Memory stays bounded: when both streams are cut at common times, only
    # the events within reach of the cut are held back.
    t_a, t_b = _dense_streams(seed=4, n=20_000)
    stream = CoincidenceStream(window_ps=30, delay_ps=7)
    cuts = np.linspace(t_a[0], t_a[-1] + 1, 11).astype(np.int64)
    ends_a = np.searchsorted(t_a, cuts)
    ends_b = np.searchsorted(t_b, cuts + 7)
    ends_a[0], ends_b[0] = 0, 0
    ends_a[-1], ends_b[-1] = t_a.size, t_b.size
    parts = []
    for k in range(1, cuts.size):
        parts.append(stream.push(t_a[ends_a[k - 1]:ends_a[k]], t_b[ends_b[k - 1]:ends_b[k]]))
        held_a, held_b = stream.n_held
        assert held_a < 20 and held_b < 20
    parts.append(stream.finish())
    got = (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
    assert_pairs_equal(got, find_coincidences(t_a, t_b, 30, 7))


@settings(max_examples=200, deadline=None)
@given(t_a=stamps, t_b=stamps, window_ps=windows, delay_ps=delays,
       threads=st.integers(min_value=2, max_value=6))
def test_threads_give_the_one_thread_result(t_a: list[int], t_b: list[int], window_ps: int,
                                            delay_ps: int, threads: int) -> None:
    # Small inputs cut into up to six blocks: every cut must fall where no
    # pair crosses, or the result would differ from the specification.
    got = find_coincidences(np.array(t_a, np.int64), np.array(t_b, np.int64), window_ps,
                            delay_ps, threads=threads)
    assert_pairs_equal(got, brute_force(t_a, t_b, window_ps, delay_ps))


@pytest.mark.parametrize("threads", [2, 3, 8])
def test_threads_on_long_dense_input(threads: int) -> None:
    t_a, t_b = _dense_streams(seed=7, n=40_000)
    for window_ps, delay_ps in ((30, 7), (0, 7)):
        one = find_coincidences(t_a, t_b, window_ps, delay_ps, threads=1)
        assert_pairs_equal(find_coincidences(t_a, t_b, window_ps, delay_ps, threads=threads), one)
        assert_pairs_equal(one, candidate_greedy(t_a, t_b, window_ps, delay_ps))


def test_threads_must_be_a_positive_int() -> None:
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="threads must be an int >= 1"):
            find_coincidences([1], [1], 0, threads=bad)  # type: ignore[arg-type]


# Bursts of 0-3 events per stream within a few ps, apart by gaps around the
# window: the one-pass kernel cuts runs at gaps wider than the window, pairs
# runs of one A and one B event on its branch-free path and resolves the
# others exactly; the bursts make every kind of run, side by side.
bursts = st.lists(
    st.tuples(st.integers(min_value=0, max_value=14),
              st.lists(st.integers(min_value=0, max_value=6), max_size=3),
              st.lists(st.integers(min_value=0, max_value=6), max_size=3)),
    max_size=12)


def _from_bursts(spec: list[tuple[int, list[int], list[int]]]) -> tuple[list[int], list[int]]:
    t_a: list[int] = []
    t_b: list[int] = []
    start = 0
    for gap, offsets_a, offsets_b in spec:
        start += gap + 6
        t_a += sorted(start + x for x in offsets_a)
        t_b += sorted(start + x for x in offsets_b)
    return sorted(t_a), sorted(t_b)


@settings(max_examples=300, deadline=None)
@given(spec=bursts, window_ps=windows, delay_ps=st.integers(min_value=-3, max_value=3),
       threads=st.integers(min_value=1, max_value=3))
def test_runs_of_every_shape_match_brute_force(
    spec: list[tuple[int, list[int], list[int]]], window_ps: int, delay_ps: int, threads: int,
) -> None:
    t_a, t_b = _from_bursts(spec)
    got = find_coincidences(np.array(t_a, np.int64), np.array(t_b, np.int64), window_ps,
                            delay_ps, threads=threads)
    assert_pairs_equal(got, brute_force(t_a, t_b, window_ps, delay_ps))


def test_runs_are_cut_only_at_gaps_wider_than_the_window() -> None:
    # A gap of exactly the window keeps the run whole: B at 10 is as near A
    # at 0 as A at 20, and the lower A index takes it.
    assert_pairs_equal(find_coincidences([0, 20], [10], 10), (np.array([0]), np.array([0])))
    assert_pairs_equal(find_coincidences([0], [10], 10), (np.array([0]), np.array([0])))
    assert_pairs_equal(find_coincidences([0], [11], 10), (np.array([], np.int64),) * 2)
    # Runs of one stream only, then a pair, then a run of three with two pairs.
    got = find_coincidences([0, 5, 100, 200, 204], [50, 52, 101, 202], 2)
    assert_pairs_equal(got, (np.array([2, 3]), np.array([2, 3])))
    # Five A events in one run with five B events: the general resolver.
    t_a = [0, 2, 4, 6, 8]
    t_b = [1, 3, 5, 7, 9]
    assert_pairs_equal(find_coincidences(t_a, t_b, 1), brute_force(t_a, t_b, 1, 0))


def _sparse_streams(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """SPDC-like: pairs with 100 ps jitter (B 3 ns late) and as many
    uncorrelated clicks, 1 ms apart on average: nearly every run one pair."""
    rng = np.random.default_rng(seed)
    span = n * 1_000_000
    emission = rng.integers(0, span, n)
    t_a = np.sort(np.concatenate((emission + np.rint(rng.normal(0, 100, n)).astype(np.int64),
                                  rng.integers(0, span, n))))
    t_b = np.sort(np.concatenate((emission + 3000 + np.rint(rng.normal(0, 100, n)).astype(
        np.int64), rng.integers(0, span, n))))
    return t_a, t_b


@pytest.mark.parametrize("threads", [1, 2])
def test_long_sparse_input_matches_candidate_greedy(threads: int) -> None:
    t_a, t_b = _sparse_streams(seed=9, n=50_000)
    got = find_coincidences(t_a, t_b, 1000, 3000, threads=threads)
    assert got[0].size > 40_000
    assert_pairs_equal(got, candidate_greedy(t_a, t_b, 1000, 3000))


@pytest.mark.parametrize("path", ["one call", "blocks", "two threads"])
@pytest.mark.parametrize("stream", ["t_a", "t_b"])
def test_unsorted_found_at_block_edges(path: str, stream: str,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    # The order is checked inside each block and across the edges between
    # blocks (the cut of the threads sits near the middle of A).
    from qnic.coincidence import matching

    t_a, t_b = _dense_streams(seed=6, n=20_000)
    threads = 2 if path == "two threads" else 1
    if path == "blocks":
        monkeypatch.setattr(matching, "BLOCK_TAGS", 5000)
    middle = (t_a.size if stream == "t_a" else t_b.size) // 2
    for position in (1, 4999, 5000, 5001, middle - 1, middle, middle + 1, middle + 30):
        arrays = {"t_a": t_a.copy(), "t_b": t_b.copy()}
        arrays[stream][position] = arrays[stream][position - 1] - 1
        with pytest.raises(ValueError, match=rf"{stream}.*index {position}\b"):
            find_coincidences(arrays["t_a"], arrays["t_b"], 30, 7, threads=threads)


def test_timestamps_spanning_the_whole_int64_range() -> None:
    low, high = int(np.iinfo(np.int64).min), int(np.iinfo(np.int64).max)
    # Gaps wider than 2^63 ps between runs: compared as unsigned, exactly.
    t_a = [low + 10, 0, high - 10]
    t_b = [low + 12, 3, high - 9]
    got = find_coincidences(np.array(t_a, np.int64), np.array(t_b, np.int64), 5)
    assert_pairs_equal(got, brute_force(t_a, t_b, 5, 0))
    assert got[0].tolist() == [0, 1, 2]
    # A's times shifted by the delay past int64: at an end the order is
    # checked beforehand, inside the wrapped time shows as a decrease.
    for t_a, delay_ps, first in (([high - 1, 0], 10, 1), ([0, low], -10, 1),
                                 ([0, high - 1, 5], 10, 2), ([0, low, 5], -10, 1)):
        with pytest.raises(ValueError, match=rf"t_a.*index {first}\b"):
            find_coincidences(np.array(t_a, np.int64), np.array([5], np.int64), 5, delay_ps)


def test_threads_share_the_blocks_and_pass_on_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    from qnic.coincidence import matching

    t_a, t_b = _sparse_streams(seed=10, n=20_000)
    one = find_coincidences(t_a, t_b, 1000, 3000, threads=1)
    real = matching.match_range
    calls: list[tuple[int, int]] = []

    def recording(*args: object) -> object:
        calls.append((int(args[4]), int(args[5])))  # type: ignore[call-overload]
        return real(*args)

    monkeypatch.setattr(matching, "match_range", recording)
    assert_pairs_equal(find_coincidences(t_a, t_b, 1000, 3000, threads=2), one)
    # Every A event in exactly one block.
    spans = sorted(calls)
    assert len(spans) == 2 * matching.BLOCKS_PER_THREAD
    assert spans[0][0] == 0 and spans[-1][1] == t_a.size
    assert all(a1 == b0 for (_, a1), (b0, _) in zip(spans[:-1], spans[1:]))

    # A block that fails on either thread: its error is raised here.
    for failing_block in (0, 2 * matching.BLOCKS_PER_THREAD - 1):
        starts = [a0 for a0, _ in spans]

        def failing(*args: object, at: int = starts[failing_block]) -> object:
            if int(args[4]) == at:  # type: ignore[call-overload]
                raise RuntimeError("kernel failed")
            return real(*args)

        monkeypatch.setattr(matching, "match_range", failing)
        with pytest.raises(RuntimeError, match="kernel failed"):
            find_coincidences(t_a, t_b, 1000, 3000, threads=2)
