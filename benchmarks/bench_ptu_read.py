"""Benchmark: reading a large Generic T2 PTU file chunk by chunk.

Run on demand (not part of the tests)::

    python benchmarks/bench_ptu_read.py [--size-mb 1024] [--chunk-records 65536 1048576]

Writes a Generic T2 PTU file of about ``--size-mb`` MB (4-byte records: tags
on channels 1..4, 2.5 ns apart on average, so timer overflows are rare) into
a temporary directory with :class:`PtuWriter`, then reads it whole with
``PtuFile.chunks`` once per chunk size, reporting the read rate (MB/s of file
and million tags/s) and the peak memory the reader allocated (tracemalloc,
numpy's arrays included, measured in a pass of its own) against the chunk
size. The file is deleted at the
end. Expect the peak to grow with the chunk size and to stay far below the
file's size.

The baseline is ptufile (when installed), in the same process on the same
file: its compiled ``decode_records`` over blocks of the same size read with
``np.fromfile`` (bounded memory, as ours; its overflow count restarts per
block, which changes no work done). ``x ptufile`` is our tags/s over its
records/s (every record of this file is a tag but the rare overflow). The
compiled kernels are loaded once before timing (``--no-warm-up`` keeps that
first-use cost in the first row).

The runner (``python -m benchmarks --only ptu_read``) does the same at one
chunk size (262,144 records) on a 200 MB file (40 MB with ``--quick``),
5 interleaved repeats of ours and ptufile, and the peak memory of each.
"""

from __future__ import annotations

import argparse
import logging
import resource
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np

from qnic.instruments.timetaggers.picoquant import PtuFile, PtuWriter
from qnic.instruments.timetaggers.protocol import TagBatch

try:
    from benchmarks.common import Row, compare, interleaved
except ModuleNotFoundError:  # run as a script: python benchmarks/bench_ptu_read.py
    from common import Row, compare, interleaved  # type: ignore[no-redef]

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


def _read_all(path: Path, chunk_records: int) -> int:
    tags = 0
    with PtuFile(path) as f:
        for chunk in f.chunks(chunk_records):
            tags += len(chunk)
    return tags


def read_file(path: Path, chunk_records: int) -> tuple[float, int, int]:
    """Read every chunk; return (seconds, tags, peak bytes allocated while reading).

    Two passes: the peak under tracemalloc, then the time without it
    (tracemalloc hooks every Python allocation, some tens of microseconds per
    chunk, which would be timed as the reader's).
    """
    tracemalloc.start()
    tracemalloc.reset_peak()
    _read_all(path, chunk_records)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    start = time.perf_counter()
    tags = _read_all(path, chunk_records)
    elapsed = time.perf_counter() - start
    return elapsed, tags, peak


def read_file_ptufile(path: Path, chunk_records: int) -> tuple[float, int] | None:
    """ptufile's decoding of the same file in blocks; (seconds, records), None
    without ptufile."""
    try:
        import ptufile  # noqa: F401
    except ImportError:
        return None
    offset = _data_offset(path)
    start = time.perf_counter()
    records = _read_all_ptufile(path, chunk_records, offset)
    return time.perf_counter() - start, records


def _data_offset(path: Path) -> int:
    with PtuFile(path) as ours:
        return ours.header.data_offset


def _read_all_ptufile(path: Path, chunk_records: int, offset: int) -> int:
    import ptufile

    logging.disable(logging.WARNING)  # ptufile logs its view of some header tags
    try:
        records = 0
        with ptufile.PtuFile(path) as ref, open(path, "rb") as fh:
            fh.seek(offset)
            while (block := np.fromfile(fh, dtype="<u4", count=chunk_records)).size:
                records += ref.decode_records(block).size
        return records
    finally:
        logging.disable(logging.NOTSET)


def _peak(fn: Callable[[], object]) -> int:
    """Peak bytes allocated while ``fn`` runs (tracemalloc, numpy's arrays included)."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def measure(path: Path, tags: int, chunk_records: int, repeats: int) -> list[Row]:
    """Read rate and peak memory, ours against ptufile, at one chunk size."""
    size_mb = path.stat().st_size / 1e6
    what = (f"read a {size_mb:.0f} MB Generic T2 PTU file ({tags / 1e6:.1f} M tags, page "
            f"cache warm) in chunks of {chunk_records:,} records")
    calls: dict[str, Callable[[], object]] = {"ours": lambda: _read_all(path, chunk_records)}
    try:
        import ptufile  # noqa: F401
        offset = _data_offset(path)
        calls["ptufile"] = lambda: _read_all_ptufile(path, chunk_records, offset)
        base = "ptufile decode_records on the same blocks (np.fromfile)"
    except ImportError:
        base = "unavailable: ptufile not installed (pip install ptufile)"
    if _read_all(path, chunk_records) != tags:
        raise RuntimeError(f"{path}: read back a different number of tags than written")
    seconds = interleaved(calls, repeats)
    mbs = {k: [size_mb / s for s in v] for k, v in seconds.items()}
    peaks = {k: [_peak(fn) / 1e6] for k, fn in calls.items()}
    return [
        compare("ptu_read", what, "MB/s", mbs["ours"], base, mbs.get("ptufile"),
                higher_is_better=True,
                notes=f"ours {tags / 1e6 / np.median(seconds['ours']):.1f} M tags/s"),
        compare("ptu_read", f"peak memory allocated while reading: {what}", "MB", peaks["ours"],
                base, peaks.get("ptufile"), higher_is_better=False,
                notes="tracemalloc, one pass of its own (untimed); the file is "
                      f"{size_mb:.0f} MB"),
    ]


def run(quick: bool) -> list[Row]:
    """200 MB (40 MB with ``quick``), 262,144-record chunks, 5 interleaved repeats."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.ptu"
        tags = write_file(path, 40.0 if quick else 200.0)
        warm_up(path)
        return measure(path, tags, 1 << 18, 5)


def warm_up(path: Path) -> None:
    """Load the compiled kernels (numba's first use in a process) before timing."""
    with PtuFile(path) as f:
        for _ in f.chunks(1024):
            break


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=1024.0,
                        help="file size in MB (default 1024)")
    parser.add_argument("--chunk-records", type=int, nargs="+",
                        default=[1 << 14, 1 << 16, 1 << 18, 1 << 20, 1 << 22],
                        help="records per chunk to compare")
    parser.add_argument("--dir", default=None, help="where to write the file (default: a temp dir)")
    parser.add_argument("--no-warm-up", action="store_true",
                        help="time the kernels' first use (loading or compiling) too")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        path = Path(tmp) / "bench.ptu"
        start = time.perf_counter()
        n = write_file(path, args.size_mb)
        size = path.stat().st_size
        print(f"wrote {size / 1e6:.1f} MB ({n / 1e6:.1f} M tags) in "
              f"{time.perf_counter() - start:.1f} s: {path}")
        if not args.no_warm_up:
            warm_up(path)
        print(f"{'chunk records':>14} {'chunk MB':>9} {'s':>7} {'MB/s':>8} {'Mtags/s':>8} "
              f"{'peak MB':>8} {'ptufile Mrec/s':>15} {'x ptufile':>10}")
        for chunk in args.chunk_records:
            elapsed, tags, peak = read_file(path, chunk)
            if tags != n:
                raise SystemExit(f"read {tags} tags, wrote {n}")
            base = read_file_ptufile(path, chunk)
            ref = "-" if base is None else f"{base[1] / 1e6 / base[0]:.2f}"
            ratio = "-" if base is None else f"{tags / elapsed / (base[1] / base[0]):.2f}"
            print(f"{chunk:>14} {chunk * 4 / 1e6:>9.2f} {elapsed:>7.2f} "
                  f"{size / 1e6 / elapsed:>8.1f} {tags / 1e6 / elapsed:>8.2f} {peak / 1e6:>8.1f} "
                  f"{ref:>15} {ratio:>10}")
    maxrss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"process max RSS (writing included): {maxrss_mb:.0f} MB")


if __name__ == "__main__":
    main()
