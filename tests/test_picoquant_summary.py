"""The T2 summary pass (PtuFile.summary, used by scan) against decoding the tags.

On synthetic Generic T2 files with many timer wraps and markers-free data,
and on the real T2 recordings of shared/realdata/timetags (skipped when
absent), the counting pass must give what decoding every tag gives.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qnic.instruments.timetaggers.picoquant import PtuFile, write_ptu
from qnic.instruments.timetaggers.picoquant.chunk import concatenate
from qnic.instruments.timetaggers.picoquant.files import scan
from qnic.instruments.timetaggers.protocol import TagBatch

REAL = Path(__file__).resolve().parents[2] / "shared" / "realdata" / "timetags"


def _decoded(path: Path, chunk_records: int) -> tuple[dict[int, int], int | None, int | None, int]:
    with PtuFile(path) as f:
        whole = concatenate(f.chunks(chunk_records))
    ts = whole.timestamps
    first = int(ts.min()) if ts.size else None
    last = int(ts.max()) if ts.size else None
    return whole.counts(), first, last, whole.overflows


@pytest.mark.parametrize("chunk_records", [7, 1000, 1 << 20])
def test_summary_of_a_written_file_equals_its_decoded_tags(tmp_path: Path,
                                                            chunk_records: int) -> None:
    rng = np.random.default_rng(4)
    # 60 s of sparse tags: thousands of timer wraps (2^25 ps each)
    t = np.sort(rng.integers(0, 60 * 10**12, 20_000))
    ch = rng.integers(1, 6, t.size).astype(np.int32)
    path = tmp_path / "x.ptu"
    write_ptu(path, [TagBatch(t, ch, 0, 60 * 10**12)])
    with PtuFile(path) as f:
        summary = f.summary(chunk_records)
    assert summary is not None
    counts, first, last, overflows = _decoded(path, chunk_records)
    assert summary.events == counts == {int(c): int(np.sum(ch == c)) for c in np.unique(ch)}
    assert (summary.first_ps, summary.last_ps) == (first, last) == (int(t[0]), int(t[-1]))
    assert summary.overflows == overflows > 1000
    info = scan(path, chunk_records=chunk_records)
    assert (info.events, info.first_ps, info.last_ps) == (counts, first, last)


@pytest.mark.parametrize("name", ["pqsd_picoharp_v30_t2.ptu", "pqsd_hydraharp_v20_t2.ptu",
                                  "eta_200204_HH400_T2_320MHz_HBT.ptu"])
def test_summary_of_real_t2_files_equals_their_decoded_tags(name: str) -> None:
    path = REAL / name
    if not path.exists():
        pytest.skip(f"{path} absent (shared/realdata not beside the checkout)")
    with PtuFile(path) as f:
        summary = f.summary(1 << 16)
        markers = sum(int(c.marker_bits.size) for c in f.chunks(1 << 16))
    assert summary is not None
    counts, first, last, overflows = _decoded(path, 1 << 16)
    assert (summary.events, summary.first_ps, summary.last_ps) == (counts, first, last)
    assert (summary.overflows, summary.markers) == (overflows, markers)
    assert sum(counts.values()) > 0


def test_t3_files_have_no_summary(tmp_path: Path) -> None:
    path = REAL / "pqsd_hydraharp_v20_t3.ptu"
    if not path.exists():
        pytest.skip(f"{path} absent (shared/realdata not beside the checkout)")
    with PtuFile(path) as f:
        assert f.summary() is None
