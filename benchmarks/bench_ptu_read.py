"""Benchmark: reading a large Generic T2 PTU file chunk by chunk.

Run on demand (not part of the tests)::

    python benchmarks/bench_ptu_read.py [--size-mb 1024] [--chunk-records 65536 1048576]

Writes a Generic T2 PTU file of about ``--size-mb`` MB (4-byte records: tags
on channels 1..4, 2.5 ns apart on average, so timer overflows are rare) into
a temporary directory with :class:`PtuWriter`, then reads it whole with
``PtuFile.chunks`` once per chunk size, reporting the read rate (MB/s of file
and million tags/s) and the peak memory the reader allocated (tracemalloc,
numpy's arrays included) against the chunk size. The file is deleted at the
end. Expect the peak to grow with the chunk size and to stay far below the
file's size.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

from qnic.instruments.timetaggers.picoquant import PtuFile, PtuWriter
from qnic.instruments.timetaggers.protocol import TagBatch

WRITE_BLOCK = 1 << 22  # tags per written batch (bounds the writer's memory)
MEAN_SPACING_PS = 2_500


def write_file(path: Path, size_mb: float, seed: int = 1) -> int:
    """Write about ``size_mb`` MB of Generic T2 records; return the tags written."""
    rng = np.random.default_rng(seed)
    n_total = int(size_mb * 1e6 // 4)
    t0, written = 0, 0
    with PtuWriter(path, input_channels=(1, 2, 3, 4), comment="bench_ptu_read") as w:
        while written < n_total:
            n = min(WRITE_BLOCK, n_total - written)
            ts = t0 + np.cumsum(rng.integers(1, 2 * MEAN_SPACING_PS, n, dtype=np.int64))
            ch = rng.integers(1, 5, n, dtype=np.int32)
            w.write(TagBatch(ts, ch, int(t0), int(ts[-1]) + 1))
            t0, written = int(ts[-1]) + 1, written + n
    return written


def read_file(path: Path, chunk_records: int) -> tuple[float, int, int]:
    """Read every chunk; return (seconds, tags, peak bytes allocated while reading)."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    start = time.perf_counter()
    tags = 0
    with PtuFile(path) as f:
        for chunk in f.chunks(chunk_records):
            tags += len(chunk)
    elapsed = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return elapsed, tags, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=1024.0,
                        help="file size in MB (default 1024)")
    parser.add_argument("--chunk-records", type=int, nargs="+",
                        default=[1 << 14, 1 << 16, 1 << 18, 1 << 20, 1 << 22],
                        help="records per chunk to compare")
    parser.add_argument("--dir", default=None, help="where to write the file (default: a temp dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        path = Path(tmp) / "bench.ptu"
        start = time.perf_counter()
        n = write_file(path, args.size_mb)
        size = path.stat().st_size
        print(f"wrote {size / 1e6:.1f} MB ({n / 1e6:.1f} M tags) in "
              f"{time.perf_counter() - start:.1f} s: {path}")
        print(f"{'chunk records':>14} {'chunk MB':>9} {'s':>7} {'MB/s':>8} {'Mtags/s':>8} "
              f"{'peak MB':>8}")
        for chunk in args.chunk_records:
            elapsed, tags, peak = read_file(path, chunk)
            if tags != n:
                raise SystemExit(f"read {tags} tags, wrote {n}")
            print(f"{chunk:>14} {chunk * 4 / 1e6:>9.2f} {elapsed:>7.2f} "
                  f"{size / 1e6 / elapsed:>8.1f} {tags / 1e6 / elapsed:>8.2f} {peak / 1e6:>8.1f}")
    maxrss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"process max RSS (writing included): {maxrss_mb:.0f} MB")


if __name__ == "__main__":
    main()
