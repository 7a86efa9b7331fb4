"""Reading a PTU file many times the chunk size keeps memory bounded by the chunk."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np

from qnic.instruments.timetaggers.picoquant import PtuFile, RecordType
from qnic.instruments.timetaggers.picoquant.writer import write_ptu_records


def _load_kernels(path: Path) -> None:
    """The first read in a process loads the compiled kernels (numba's runtime,
    some 20 MB of Python objects once per process): not the reader's memory."""
    with PtuFile(path) as ptu:
        next(ptu.chunks(16))


def test_chunked_reading_memory_is_bounded_by_the_chunk(tmp_path: Path) -> None:
    # 2,000,000 Generic T2 photon records on channels 0-3 (8 MB of data), time
    # running over ~300 overflow periods of 2^25 units, each wrap marked by an
    # overflow record (special bit, channel 63, count 1), as a tagger writes them
    n = 2_000_000
    rng = np.random.default_rng(0)
    t = np.cumsum(rng.integers(1, 10_000, n))
    wrap = t >> 25
    photons = (rng.integers(0, 4, n).astype(np.uint32) << 25) | (t & ((1 << 25) - 1)).astype(np.uint32)
    new_period = np.flatnonzero(np.diff(wrap, prepend=0) > 0)
    overflow = np.uint32((1 << 31) | (63 << 25) | 1)
    records = np.insert(photons, new_period, overflow)
    assert np.all(np.diff(wrap) <= 1)  # at most one wrap between photons
    path = tmp_path / "big.ptu"
    write_ptu_records(path, RecordType(0x00010207), records, global_resolution_s=1e-12)
    chunk = 16_384
    _load_kernels(path)
    tracemalloc.start()
    seen = 0
    try:
        with PtuFile(path) as ptu:
            assert ptu.records == records.size
            for c in ptu.chunks(chunk_records=chunk):
                assert c.records <= chunk
                seen += c.timestamps.size
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seen == n
    file_bytes = path.stat().st_size
    # every chunk is decoded to a few arrays of its own size (int64 times,
    # int32 channels, work arrays); nothing grows with the file
    assert peak < 64 * 4 * chunk, (peak, 64 * 4 * chunk)
    assert peak < file_bytes / 4


def test_t2_file_without_overflow_records_is_handed_out_chunk_by_chunk(tmp_path: Path) -> None:
    # 1,000,000 tags within one 2^25 ps overflow period (33 us, 33 ps apart):
    # T2 records are in time order, so every chunk hands out its own tags at
    # once instead of holding them until an overflow record that never comes
    n = 1_000_000
    t = np.arange(n, dtype=np.uint32) * 33
    records = (np.arange(n, dtype=np.uint32) % 4 << 25) | t
    path = tmp_path / "no_overflow.ptu"
    write_ptu_records(path, RecordType(0x00010207), records, global_resolution_s=1e-12)
    chunk = 16_384
    _load_kernels(path)
    tracemalloc.start()
    try:
        with PtuFile(path) as ptu:
            sizes = [(len(c), c.records) for c in ptu.chunks(chunk_records=chunk)]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert all(tags == recs for tags, recs in sizes) and sum(s for s, _ in sizes) == n
    assert peak < 64 * 4 * chunk, (peak, 64 * 4 * chunk)
