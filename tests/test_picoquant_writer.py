"""Generic T2 PTU files written from TagBatch streams: byte layout, header tags,
and what our reader and ptufile read back."""

from __future__ import annotations

import itertools
import re
import struct
from pathlib import Path

import numpy as np
import pytest
from benches import make_bench

from qnic.instruments.timetaggers.picoquant import (
    PtuFile,
    PtuWriter,
    TagFileError,
    write_ptu,
)
from qnic.instruments.timetaggers.protocol import TagBatch
from qnic.sim.tagger import SimulatedTimeTagger

ptufile = pytest.importorskip("ptufile")


def batch(ts: list[int] | np.ndarray, ch: list[int] | np.ndarray, start: int = 0,
          stop: int | None = None) -> TagBatch:
    t = np.asarray(ts, dtype=np.int64)
    return TagBatch(t, np.asarray(ch, dtype=np.int32), start,
                    int(t[-1]) + 1 if stop is None else stop)


def records_of(path: Path) -> np.ndarray:
    data = path.read_bytes()
    end = data.index(b"Header_End") + 48
    return np.frombuffer(data[end:], dtype="<u4")


def test_records_are_laid_out_as_picoquant_documents(tmp_path: Path) -> None:
    path = tmp_path / "w.ptu"
    # input 1 at 5 ps; input 2 at 2^25 + 3 (one wrap); sync at 3 * 2^25 (two more);
    # input 64 at the same time
    write_ptu(path, [batch([5, 2**25 + 3, 3 * 2**25, 3 * 2**25], [1, 2, 0, 64])],
              input_channels=[1, 2, 64])
    assert [f"{w:08X}" for w in records_of(path)] == [
        "00000005",  # special 0, channel field 0, timetag 5
        "FE000001", "02000003",  # overflow x1; channel field 1, timetag 3
        "FE000002", "80000000", "7E000000",  # overflow x2; sync; channel field 63
    ]
    write_ptu(path, [batch([300 * 2**25 + 1], [1])])
    # 300 wraps: counts of at most 127, which 32-bit readers multiply safely
    assert [f"{w:08X}" for w in records_of(path)] == ["FE00007F", "FE00007F", "FE00002E",
                                                        "00000001"]


def test_round_trip_through_our_reader_and_ptufile(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    n = 20_000
    ts = np.cumsum(rng.exponential(5e5, n)).astype(np.int64)
    ts[n // 2:] += 1000 * 2**25 + 12345  # a gap of 1000 wraps: 8 overflow records of <= 127
    ch = rng.integers(0, 9, n).astype(np.int32)
    cut = [0, 7000, 7000, 15000, n]  # includes an empty batch
    batches = [batch(ts[a:b], ch[a:b], int(ts[a]) if a < n else 0, int(ts[b - 1]) + 1
                     if b > a else int(ts[a]) + 1) for a, b in itertools.pairwise(cut)]
    path = tmp_path / "rt.ptu"
    with PtuWriter(path, input_channels=range(1, 9)) as w:
        w.write_all(batches)
    assert w.events == n and w.records == records_of(path).size
    with PtuFile(path) as f:
        back = f.read()
    assert np.array_equal(back.timestamps, ts) and np.array_equal(back.channels, ch)
    assert back.overflows == int(ts[-1] // 2**25)
    as_batch = back.to_batch(0, int(ts[-1]) + 1)
    assert as_batch.counts() == back.counts() and as_batch.duration_s == (ts[-1] + 1) * 1e-12
    ref = ptufile.PtuFile(path)
    try:
        rec = ref.decode_records()
        raw = ref.read_records()
        assert ref.number_records == w.records
    finally:
        ref.close()
    is_sync = (raw >> 25) == 0x40  # special bit and channel 0
    inputs = rec[(rec["channel"] >= 0) & ~is_sync]
    assert np.array_equal(inputs["time"].astype(np.int64), ts[ch > 0])
    assert np.array_equal(inputs["channel"] + 1, ch[ch > 0])
    assert np.array_equal(rec["time"][is_sync].astype(np.int64), ts[ch == 0])


def test_header_carries_the_tags_picoquant_software_reads(tmp_path: Path) -> None:
    path = tmp_path / "h.ptu"
    ts = np.arange(0, 2_000_000_000_000, 1_000_000, dtype=np.int64)  # 2 s, 1 MHz
    ch = np.where(np.arange(ts.size) % 4 == 0, 3, 1).astype(np.int32)
    with PtuWriter(path, input_channels=(1, 2, 3, 4), comment="bench run 7") as w:
        w.write(TagBatch(ts, ch, 0, 2_000_000_000_000))
    ref = ptufile.PtuFile(path)
    try:
        tags = ref.tags
        assert ref.record_type == ptufile.PtuRecordType.GenericT2
        assert ref.measurement_mode == ptufile.PtuMeasurementMode.T2
        assert ref.global_resolution == 1e-12
        assert tags["TTResult_NumberOfRecords"] == w.records == ref.number_records
    finally:
        ref.close()
    assert tags["TTResultFormat_TTTRRecType"] == 0x00010207
    assert tags["TTResultFormat_BitsPerRecord"] == 32
    assert tags["Measurement_SubMode"] == 0 and tags["MeasDesc_Resolution"] == 1e-12
    assert tags["TTResult_StopAfter"] == 2000 and tags["MeasDesc_AcquisitionTime"] == 2000
    assert tags["HW_InpChannels"] == 4 and tags["TTResult_SyncRate"] == 0
    assert list(tags["TTResult_InputRate"]) == [750_000, 0, 250_000, 0]
    assert re.fullmatch(r"\{[0-9A-F]{8}-([0-9A-F]{4}-){3}[0-9A-F]{12}\}", tags["File_GUID"])
    assert tags["CreatorSW_Name"] == "qnic-bench" and tags["File_Comment"] == "bench run 7"
    # our reader sees the same header
    with PtuFile(path) as f:
        assert f.header_records == w.records and f.acquisition_time_s == 2.0


def test_coarser_resolution_and_time_origin(tmp_path: Path) -> None:
    path = tmp_path / "r.ptu"
    b = batch([1_000_007, 1_000_013, 1_000_020], [2, 2, 1], start=1_000_000)
    write_ptu(path, [b], global_resolution_s=5e-12, time_origin_ps=1_000_000)
    with PtuFile(path) as f:
        assert f.global_resolution_s == 5e-12
        assert f.read().timestamps.tolist() == [5, 10, 20]  # floored to 5 ps units


def test_writer_refuses_what_it_cannot_write(tmp_path: Path) -> None:
    w = PtuWriter(tmp_path / "e.ptu", input_channels=(1, 2))
    w.write(batch([10, 20], [1, 2]))
    with pytest.raises(TagFileError, match="time order"):
        w.write(batch([15], [1], start=20))
    with pytest.raises(TagFileError, match="channels 0 \\(sync\\) to 64, got 1 to 65"):
        w.write(batch([30, 31], [1, 65], start=20))
    w.close()
    w.close()  # closing twice is harmless
    with pytest.raises(TagFileError, match="at or after time_origin_ps=100"):
        write_ptu(tmp_path / "o.ptu", [batch([50], [1])], time_origin_ps=100)
    with pytest.raises(TagFileError, match="input channels 1 to 64"):
        PtuWriter(tmp_path / "c.ptu", input_channels=(0, 70)).write(batch([1], [1]))
    with pytest.raises(ValueError, match="whole number of ps"):
        PtuWriter(tmp_path / "x.ptu", global_resolution_s=2.5e-12)


def test_a_simulated_acquisition_survives_the_round_trip(tmp_path: Path) -> None:
    make_bench({"seed": 3, "pair_rate_hz": 2e5})
    tagger = SimulatedTimeTagger("tagger", bench="default")
    batches = list(tagger.stream(0.02, 0.005))
    path = tmp_path / "sim.ptu"
    records = write_ptu(path, batches, input_channels=tagger.input_channels)
    with PtuFile(path) as f:
        back = f.read()
        assert f.records == records
    assert np.array_equal(back.timestamps, np.concatenate([b.timestamps for b in batches]))
    assert np.array_equal(back.channels, np.concatenate([b.channels for b in batches]))
    assert back.counts() == {c: sum(b.counts().get(c, 0) for b in batches)
                             for c in tagger.input_channels}
    # the record count in the header was patched in place
    data = path.read_bytes()
    pos = data.index(b"TTResult_NumberOfRecords") + 40
    assert struct.unpack("<q", data[pos:pos + 8])[0] == records
