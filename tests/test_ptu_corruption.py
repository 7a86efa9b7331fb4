"""Broken PTU files: the reader hands out what is intact, then names where
the file broke (record index and byte offset, or the header tag and offset)."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from qnic.instruments.timetaggers.picoquant import (
    PtuFile,
    PtuFormatError,
    PtuTruncatedError,
    write_ptu,
)
from qnic.instruments.timetaggers.protocol import TagBatch
from qnic.instruments.timetaggers.replay import ReplayTimeTagger

N = 1000


@pytest.fixture
def ptu(tmp_path: Path) -> tuple[Path, TagBatch]:
    """1000 tags 1 ns apart on channels 1..4: one record each, no overflows."""
    ts = np.arange(N, dtype=np.int64) * 1000 + 7
    batch = TagBatch(ts, (np.arange(N) % 4 + 1).astype(np.int32), 0, N * 1000)
    path = tmp_path / "run.ptu"
    assert write_ptu(path, [batch], input_channels=(1, 2, 3, 4)) == N
    return path, batch


@pytest.mark.parametrize("cut_records, keep_bytes", [(300, 2), (1, 3), (N - 1, 1)])
def test_truncated_mid_record_raises_after_the_intact_records(
        ptu: tuple[Path, TagBatch], cut_records: int, keep_bytes: int) -> None:
    path, batch = ptu
    with PtuFile(path) as f:
        data_offset = f.header.data_offset
    broken = data_offset + 4 * cut_records + keep_bytes
    with open(path, "r+b") as fh:
        fh.truncate(broken)
    got: list[np.ndarray] = []
    with PtuFile(path) as f:  # opening is fine (and warns of nothing)
        assert f.records == cut_records
        with pytest.raises(PtuTruncatedError) as err:
            for chunk in f.chunks(chunk_records=128):
                got.append(chunk.timestamps)
    assert np.array_equal(np.concatenate(got), batch.timestamps[:cut_records])
    e = err.value
    assert isinstance(e, PtuFormatError)
    assert (e.record_index, e.byte_offset) == (cut_records, data_offset + 4 * cut_records)
    msg = str(e)
    assert str(path) in msg and f"record {cut_records}" in msg
    assert f"byte offset {data_offset + 4 * cut_records}" in msg
    assert f"{keep_bytes} of its 4 bytes" in msg and f"header says {N} records" in msg


def test_truncated_file_replays_up_to_the_break_then_fails(ptu: tuple[Path, TagBatch]) -> None:
    path, _ = ptu
    with PtuFile(path) as f:
        cut = f.header.data_offset + 4 * 500 + 2
    with open(path, "r+b") as fh:
        fh.truncate(cut)
    with pytest.raises(PtuTruncatedError, match="record 500"):
        ReplayTimeTagger("replay", path).acquire(1.0)


def test_corrupted_header_tag_type_names_tag_and_offset(ptu: tuple[Path, TagBatch]) -> None:
    path, _ = ptu
    raw = bytearray(path.read_bytes())
    at = raw.index(b"Measurement_Mode\x00")
    raw[at + 36:at + 40] = struct.pack("<I", 0xDEADBEEF)  # Tag_TypeCode
    path.write_bytes(bytes(raw))
    with pytest.raises(PtuFormatError) as err:
        PtuFile(path)
    msg = str(err.value)
    assert "corrupt header" in msg and "'Measurement_Mode'" in msg
    assert f"at byte offset {at}" in msg and "0xDEADBEEF" in msg


def test_corrupted_string_length_names_tag_and_offset(ptu: tuple[Path, TagBatch]) -> None:
    path, _ = ptu
    raw = bytearray(path.read_bytes())
    at = raw.index(b"File_Comment\x00")
    raw[at + 40:at + 48] = struct.pack("<q", 1 << 40)  # Tag_Value: the string's length
    path.write_bytes(bytes(raw))
    with pytest.raises(PtuFormatError, match=rf"'File_Comment'\) at byte offset {at} claims"):
        PtuFile(path)


def test_header_cut_short_names_the_tag_it_ends_in(ptu: tuple[Path, TagBatch]) -> None:
    path, _ = ptu
    raw = path.read_bytes()
    at = raw.index(b"HW_Type\x00")
    path.write_bytes(raw[:at + 20])
    with pytest.raises(PtuFormatError, match=rf"ends inside the header \(tag \d+ at byte "
                                             rf"offset {at}\)"):
        PtuFile(path)
