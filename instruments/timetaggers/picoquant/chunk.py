"""Chunks of tags read from a file, and putting them in time order.

File readers (PTU, Photon-HDF5) hand out :class:`TagChunk` objects: what a
:class:`~qnic.instruments.timetaggers.protocol.TagBatch` holds (int64 picosecond
timestamps sorted in time, hardware channels) plus what a file adds: marker
events, reported apart from photons, the number of records and timer
overflows the chunk decoded, and the T3 sync count and micro time of each tag.

Records in a file are ordered by their coarse time only (T3: the sync count),
so tags whose fine time moves them past the next chunk's start are held back
by :class:`TimeOrder` and handed out with the next chunk: the chunks of one
file form one stream sorted in time.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import BinaryIO, Self

import numpy as np

from qnic.instruments.timetaggers.protocol import TagBatch

_EMPTY_I64 = np.empty(0, dtype=np.int64)

DEFAULT_CHUNK_RECORDS = 1 << 20
"""Records decoded per chunk by default (4 MiB of 32-bit records)."""
_BINCOUNT_CHANNELS = 4096  # channel numbers below this are counted with bincount


@dataclass(frozen=True)
class TagChunk:
    """Tags decoded from part of a file.

    Attributes:
        timestamps: int64 ps, shape (N,), sorted ascending.
        channels: int32 (N,), hardware channel numbers.
        marker_timestamps: int64 ps (M,), in record order (PicoQuant markers
            have a coarser resolution and may be slightly out of order).
        marker_bits: uint8 (M,), bit k set = marker input k + 1.
        records: file records decoded into this chunk.
        overflows: timer overflows (wraps) counted in this chunk.
        nsync: int64 (N,), T3 only: the sync count of each tag (overflows added).
        dtime: int32 (N,), T3 only: micro time in ``MeasDesc_Resolution`` units.
    """

    timestamps: np.ndarray
    channels: np.ndarray
    marker_timestamps: np.ndarray = field(default_factory=lambda: _EMPTY_I64)
    marker_bits: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.uint8))
    records: int = 0
    overflows: int = 0
    nsync: np.ndarray | None = None
    dtime: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.timestamps.size)

    def counts(self) -> dict[int, int]:
        """Tags per channel."""
        ch = self.channels
        if ch.size and 0 <= ch.min() and ch.max() < _BINCOUNT_CHANNELS:
            n = np.bincount(ch)
            return {int(c): int(n[c]) for c in np.flatnonzero(n)}
        chans, n = np.unique(ch, return_counts=True)
        return {int(c): int(k) for c, k in zip(chans, n)}

    def of_channel(self, channel: int) -> np.ndarray:
        """Sorted int64 ps timestamps of one channel."""
        return self.timestamps[self.channels == channel]

    def to_batch(self, start_ps: int, stop_ps: int) -> TagBatch:
        """This chunk's tags as a ``TagBatch`` covering [start_ps, stop_ps)."""
        return TagBatch(self.timestamps, self.channels, start_ps, stop_ps)


def concatenate(chunks: Iterable[TagChunk]) -> TagChunk:
    """Join consecutive chunks of one stream into one chunk."""
    parts = list(chunks)
    if not parts:
        return TagChunk(_EMPTY_I64, np.empty(0, dtype=np.int32))

    def cat(name: str) -> np.ndarray | None:
        arrays = [getattr(p, name) for p in parts]
        return None if any(a is None for a in arrays) else np.concatenate(arrays)

    return TagChunk(
        timestamps=np.concatenate([p.timestamps for p in parts]),
        channels=np.concatenate([p.channels for p in parts]),
        marker_timestamps=np.concatenate([p.marker_timestamps for p in parts]),
        marker_bits=np.concatenate([p.marker_bits for p in parts]),
        records=sum(p.records for p in parts), overflows=sum(p.overflows for p in parts),
        nsync=cat("nsync"), dtime=cat("dtime"))


class TimeOrder:
    """Merge blocks of tags into one stream sorted by timestamp.

    Each :meth:`push` gives a block's tags and a bound: no later block holds
    a tag earlier than it. Tags before the bound come out sorted; the rest are
    held for the next push. Memory stays bounded by one block plus the tags
    within one coarse period of the bound.
    """

    def __init__(self) -> None:
        self._held: dict[str, np.ndarray] | None = None

    def push(self, arrays: dict[str, np.ndarray], bound_ps: int | None) -> dict[str, np.ndarray]:
        """Add a block; return the tags now known to be in order.

        Args:
            arrays: equal-length arrays, ``"timestamps"`` (int64 ps) among them.
            bound_ps: no later block has a tag before this time; None at the
                end of the stream (everything comes out).

        Returns:
            The same keys, sorted by timestamp, holding the tags < ``bound_ps``.
        """
        if self._held is not None:
            arrays = {k: np.concatenate((self._held[k], v)) for k, v in arrays.items()}
        ts = arrays["timestamps"]
        if ts.size > 1 and np.any(ts[1:] < ts[:-1]):
            order = np.argsort(ts, kind="stable")
            arrays = {k: v[order] for k, v in arrays.items()}
            ts = arrays["timestamps"]
        cut = ts.size if bound_ps is None else int(np.searchsorted(ts, bound_ps, side="left"))
        self._held = {k: v[cut:] for k, v in arrays.items()} if cut < ts.size else None
        return {k: v[:cut] for k, v in arrays.items()}


class ChunkedFile:
    """What the chunked file readers share: reading whole, closing, ``with``.

    A subclass sets ``_fh`` (the open binary stream) and ``_own`` (True when
    it opened the file itself) and provides :meth:`chunks`.
    """

    _fh: BinaryIO
    _own: bool

    def chunks(self, chunk_records: int = DEFAULT_CHUNK_RECORDS) -> Iterator[TagChunk]:
        """The file's tags in chunks of ``chunk_records`` records."""
        raise NotImplementedError

    def read(self) -> TagChunk:
        """The whole file as one chunk (for files that fit in memory)."""
        return concatenate(self.chunks())

    def close(self) -> None:
        """Close the file (a stream passed in is left open)."""
        if getattr(self, "_own", False) and not self._fh.closed:
            self._fh.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
