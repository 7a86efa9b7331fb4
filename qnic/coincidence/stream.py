"""Chunked coincidence matching with the boundary carried over.

A stream of any length is matched in bounded memory: each :meth:`push`
resolves the clusters of candidate pairs that no future event can reach and
holds back the rest (the events near the end of the data seen so far). The
concatenated results of all pushes and :meth:`finish` equal
:func:`~qnic.coincidence.find_coincidences` on the whole arrays exactly.

Future events of stream A come no earlier than the last A timestamp pushed,
``L_a``; likewise for B. An A event at ``t`` is out of reach of every future B
event when ``t < (L_b - delay) - window``, a B event at ``t`` out of reach of
every future A event when ``t - delay < L_a - window``. A cluster is final
when all its events are out of reach; clusters are ordered along the time
axis, so the final ones form a prefix.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qnic.coincidence._matching_kernel import match_clusters
from qnic.coincidence._validate import as_int_ps, as_timestamps, clamp_int64
from qnic.coincidence.matching import IndexPairs

DEFAULT_CHUNK_SIZE = 1 << 20
"""Default number of events per stream and chunk (about 8 MB of int64)."""


class CoincidenceStream:
    """Incremental :func:`~qnic.coincidence.find_coincidences` over chunks.

    Each stream must stay sorted across chunks (a chunk's first timestamp is
    not earlier than the previous chunk's last one of the same stream).
    Memory is the chunk plus the held-back events: those within about one
    window (plus the extent of the cluster there) of the end of the data seen,
    provided both streams advance in time together. Events of one stream are
    held back until the other stream has been pushed past them.

    Args:
        window_ps: Coincidence half-width in ps (int, >= 0).
        delay_ps: Delay of stream B in ps (int), subtracted from B timestamps.

    Example:
        >>> stream = CoincidenceStream(window_ps=10)
        >>> stream.push([0, 100], [5, 200])
        (array([0]), array([0]))
        >>> stream.push([250], [255])  # 250 and 255 may still find nearer partners
        (array([], dtype=int64), array([], dtype=int64))
        >>> stream.finish()
        (array([2]), array([2]))
    """

    def __init__(self, window_ps: int, delay_ps: int = 0) -> None:
        self._window = as_int_ps(window_ps, "window_ps", minimum=0)
        self._delay = as_int_ps(delay_ps, "delay_ps")
        self._buf_a: NDArray[np.int64] = np.empty(0, np.int64)
        self._buf_b: NDArray[np.int64] = np.empty(0, np.int64)
        # Global index of the first held-back event of each stream.
        self._base_a = 0
        self._base_b = 0
        # Last timestamp pushed so far (None before the first event).
        self._last_a: int | None = None
        self._last_b: int | None = None
        self._finished = False

    @property
    def window_ps(self) -> int:
        """Coincidence half-width in ps (int)."""
        return self._window

    @property
    def delay_ps(self) -> int:
        """Delay of stream B in ps (int)."""
        return self._delay

    @property
    def n_pushed(self) -> tuple[int, int]:
        """Number of A and B events pushed so far."""
        return self._base_a + self._buf_a.size, self._base_b + self._buf_b.size

    @property
    def n_held(self) -> tuple[int, int]:
        """Number of A and B events held back for the next chunk."""
        return self._buf_a.size, self._buf_b.size

    def push(self, t_a_chunk: ArrayLike, t_b_chunk: ArrayLike) -> IndexPairs:
        """Add the next chunk of each stream and return the final matches.

        Args:
            t_a_chunk: Next A timestamps in ps, 1-D integer, sorted, shape
                (m_a,); may be empty.
            t_b_chunk: Next B timestamps in ps, same conventions, shape (m_b,).

        Returns:
            ``(i_a, i_b)``: int64 global indices (counted over all events
            pushed so far), shape (n_pairs,), ordered by ``i_a``.

        Raises:
            RuntimeError: If called after :meth:`finish`.
            TypeError: If a chunk is not of integer dtype.
            ValueError: If a chunk is not 1-D, not sorted, or starts before
                the previous chunk of the same stream ended.
        """
        if self._finished:
            raise RuntimeError("CoincidenceStream.push() called after finish()")
        a = as_timestamps(t_a_chunk, "t_a_chunk")
        b = as_timestamps(t_b_chunk, "t_b_chunk")
        self._check_continues(a, self._last_a, "t_a_chunk")
        self._check_continues(b, self._last_b, "t_b_chunk")
        return self._push_checked(a, b)

    def _push_checked(self, a: NDArray[np.int64], b: NDArray[np.int64]) -> IndexPairs:
        """:meth:`push` for chunks already known to be int64, sorted and in order."""
        if a.size:
            self._last_a = int(a[-1])
            self._buf_a = np.concatenate((self._buf_a, a)) if self._buf_a.size else a
        if b.size:
            self._last_b = int(b[-1])
            self._buf_b = np.concatenate((self._buf_b, b)) if self._buf_b.size else b
        safe_a, safe_b = self._safe_counts()
        return self._resolve(safe_a, safe_b)

    def finish(self) -> IndexPairs:
        """Resolve everything held back; the stream cannot be pushed again.

        Returns:
            ``(i_a, i_b)``: int64 global indices, shape (n_pairs,), ordered by
            ``i_a``.
        """
        if self._finished:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        self._finished = True
        return self._resolve(self._buf_a.size, self._buf_b.size)

    @staticmethod
    def _check_continues(chunk: NDArray[np.int64], last: int | None, name: str) -> None:
        if chunk.size and last is not None and int(chunk[0]) < last:
            raise ValueError(
                f"{name} must continue the stream in order: its first timestamp "
                f"{int(chunk[0])} ps is before the previous chunk's last {last} ps"
            )

    def _safe_counts(self) -> tuple[int, int]:
        """Number of leading held events of A and B that no future event reaches."""
        if self._last_b is None:
            safe_a = 0
        else:
            limit = clamp_int64(self._last_b - self._delay - self._window)
            safe_a = int(np.searchsorted(self._buf_a, limit, side="left"))
        if self._last_a is None:
            safe_b = 0
        else:
            limit = clamp_int64(self._last_a - self._window + self._delay)
            safe_b = int(np.searchsorted(self._buf_b, limit, side="left"))
        return safe_a, safe_b

    def _resolve(self, safe_a: int, safe_b: int) -> IndexPairs:
        a, b = self._buf_a, self._buf_b
        if a.size == 0 or b.size == 0:
            # No candidates at all: drop what no future event can reach.
            hold_a, hold_b = safe_a, safe_b
            pairs: IndexPairs = (np.empty(0, np.int64), np.empty(0, np.int64))
        else:
            # Chunks were checked on push, so the order flag is always True.
            out_a, out_b, n_out, hold_a, hold_b, _ = match_clusters(
                a, b, self._window, self._delay, safe_a, safe_b
            )
            pairs = (out_a[:n_out] + self._base_a, out_b[:n_out] + self._base_b)
        # Copies, so that a caller's chunk is not kept alive by a view.
        self._buf_a = a[hold_a:].copy()
        self._buf_b = b[hold_b:].copy()
        self._base_a += hold_a
        self._base_b += hold_b
        return pairs


def find_coincidences_chunked(
    t_a: ArrayLike,
    t_b: ArrayLike,
    window_ps: int,
    delay_ps: int = 0,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> IndexPairs:
    """:func:`~qnic.coincidence.find_coincidences` computed in chunks.

    Both streams are cut at common (delay-shifted) times so that no chunk
    holds more than ``chunk_size`` events of either stream; the result equals
    the one-shot result exactly. Useful for arrays held in memory maps.

    Args:
        t_a: Timestamps of stream A in ps, 1-D integer, sorted, shape (n_a,).
        t_b: Timestamps of stream B in ps, 1-D integer, sorted, shape (n_b,).
        window_ps: Coincidence half-width in ps (int, >= 0).
        delay_ps: Delay of stream B in ps (int).
        chunk_size: Maximum events per stream and chunk (int, >= 1).

    Returns:
        ``(i_a, i_b)``: int64 index arrays, shape (n_pairs,), ordered by ``i_a``.

    Raises:
        TypeError, ValueError: As :func:`~qnic.coincidence.find_coincidences`;
            ValueError also if ``chunk_size < 1``.
    """
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)):
        raise TypeError(f"chunk_size must be an int, got {chunk_size!r}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    stream = CoincidenceStream(window_ps, delay_ps)
    a = as_timestamps(t_a, "t_a")
    b = as_timestamps(t_b, "t_b")
    delay = stream.delay_ps
    parts_a: list[NDArray[np.int64]] = []
    parts_b: list[NDArray[np.int64]] = []
    pos_a = pos_b = 0
    while pos_a < a.size or pos_b < b.size:
        end_a, end_b = _next_cut(a, b, pos_a, pos_b, int(chunk_size), delay)
        # a and b are checked as a whole above; chunks need no second check.
        got_a, got_b = stream._push_checked(a[pos_a:end_a], b[pos_b:end_b])
        parts_a.append(got_a)
        parts_b.append(got_b)
        pos_a, pos_b = end_a, end_b
    got_a, got_b = stream.finish()
    parts_a.append(got_a)
    parts_b.append(got_b)
    return np.concatenate(parts_a), np.concatenate(parts_b)


def _next_cut(
    a: NDArray[np.int64],
    b: NDArray[np.int64],
    pos_a: int,
    pos_b: int,
    chunk_size: int,
    delay: int,
) -> tuple[int, int]:
    """End indices of the next chunks, cut at a common time (A's time axis)."""
    big = np.iinfo(np.int64).max
    limit_a = int(a[pos_a + chunk_size - 1]) if a.size - pos_a > chunk_size else big
    limit_b = int(b[pos_b + chunk_size - 1]) - delay if b.size - pos_b > chunk_size else big
    cut = min(limit_a, limit_b)
    if cut == big:
        return a.size, b.size
    end_a = min(int(np.searchsorted(a, cut, side="right")), pos_a + chunk_size)
    end_b = min(
        int(np.searchsorted(b, clamp_int64(cut + delay), side="right")), pos_b + chunk_size
    )
    return max(end_a, pos_a), max(end_b, pos_b)
