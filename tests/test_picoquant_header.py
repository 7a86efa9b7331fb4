"""The PTU header codec and the reader's handling of bad or inconsistent files."""

from __future__ import annotations

import datetime as dt
import io
import struct
from pathlib import Path

import numpy as np
import pytest

from qnic.instruments.timetaggers.picoquant import (
    PtuFile,
    PtuFormatError,
    PtuTruncatedError,
    TagFileError,
    TagFileWarning,
    TagType,
    UnsupportedFormatError,
    write_ptu_records,
)
from qnic.instruments.timetaggers.picoquant.header import encode_tag, read_header

MAGIC = b"PQTTTR\x00\x001.0.00\x00\x00"


def tag(name: str, typ: int, value: bytes, idx: int = -1, data: bytes = b"") -> bytes:
    """One tag packed by hand: Tag_Id[32], Tag_Idx i32, Tag_TypeCode u32, Tag_Value[8]."""
    return name.encode().ljust(32, b"\x00") + struct.pack("<iI", idx, typ) + value + data


def end() -> bytes:
    return tag("Header_End", 0xFFFF0008, bytes(8))


def test_hand_packed_header_parses_every_tag_type() -> None:
    when = 45000.5  # days after 1899-12-30: 2023-03-15 12:00 UTC
    raw = MAGIC + b"".join([
        tag("Empty", 0xFFFF0008, bytes(8)),
        tag("Flag", 0x00000008, struct.pack("<q", 1)),
        tag("Count", 0x10000008, struct.pack("<q", -42)),
        tag("Bits", 0x11000008, struct.pack("<q", 0xF0)),
        tag("Res", 0x20000008, struct.pack("<d", 4e-12)),
        tag("When", 0x21000008, struct.pack("<d", when)),
        tag("Arr", 0x2001FFFF, struct.pack("<q", 16), data=struct.pack("<2d", 1.5, -2.0)),
        tag("Text", 0x4001FFFF, struct.pack("<q", 8), data=b"HH 400\x00\x00"),
        tag("Wide", 0x4002FFFF, struct.pack("<q", 8), data="Wü".encode("utf-16-le") + bytes(4)),
        tag("Blob", 0xFFFFFFFF, struct.pack("<q", 8), data=b"\x01\x02" + bytes(6)),
        # array elements out of order and with a gap, as real HydraHarp files have
        tag("UsrHeadName", 0x4001FFFF, struct.pack("<q", 8), idx=3, data=b"b\x00" + bytes(6)),
        tag("UsrHeadName", 0x4001FFFF, struct.pack("<q", 8), idx=1, data=b"a\x00" + bytes(6)),
        end(),
    ]) + b"\x11\x22\x33\x44"
    h = read_header(io.BytesIO(raw))
    assert h.version == "1.0.00"
    assert h.tags["Empty"] is None and h.tags["Flag"] is True and h.tags["Count"] == -42
    assert h.tags["Bits"] == 0xF0 and h.tags["Res"] == 4e-12
    assert h.tags["When"] == dt.datetime(2023, 3, 15, 12, tzinfo=dt.UTC)
    assert h.tags["Arr"] == (1.5, -2.0) and h.tags["Text"] == "HH 400"
    assert h.tags["Wide"] == "Wü" and h.tags["Blob"].startswith(b"\x01\x02")
    assert h.tags["UsrHeadName"] == {3: "b", 1: "a"}
    assert h.types["Bits"] == TagType.BITSET64
    assert h.data_offset == len(raw) - 4


def test_encode_tag_round_trips_through_the_parser() -> None:
    values = {"b": True, "i": 7, "f": 0.25, "s": "qnic-bench ü", "t": dt.datetime(2024, 1, 2, 3, 4, 5,
              tzinfo=dt.UTC), "n": None, "a": (1.0, 2.0, 3.0), "x": b"abc"}
    raw = MAGIC + b"".join(encode_tag(k, v) for k, v in values.items()) \
        + encode_tag("Rate", 5, index=0) + encode_tag("Rate", 6, index=1) \
        + encode_tag("Header_End", None)
    assert len(raw) % 8 == 0  # every tag, data included, is 8-byte aligned
    tags = read_header(io.BytesIO(raw)).tags
    assert tags["t"] - values["t"] < dt.timedelta(microseconds=1)
    assert {k: tags[k] for k in values if k not in ("t", "x")} == \
        {k: v for k, v in values.items() if k not in ("t", "x")}
    assert tags["x"].rstrip(b"\x00") == b"abc" and tags["Rate"] == {0: 5, 1: 6}


def test_header_errors_name_what_was_expected() -> None:
    with pytest.raises(PtuFormatError, match=r"unknown type code 0x12345678; expected one of .*INT8 \(0x10000008\)"):
        read_header(io.BytesIO(MAGIC + tag("Odd", 0x12345678, bytes(8)) + end()))
    with pytest.raises(PtuFormatError, match="file ends inside the header"):
        read_header(io.BytesIO(MAGIC + tag("Count", 0x10000008, bytes(8))))
    with pytest.raises(PtuFormatError, match="claims -8 bytes"):
        read_header(io.BytesIO(MAGIC + tag("Text", 0x4001FFFF, struct.pack("<q", -8)) + end()))
    with pytest.raises(PtuFormatError, match=r"magic b'PQTTTX"):
        read_header(io.BytesIO(b"PQTTTX\x00\x00" + bytes(8)))


def write(path: Path, rt: int = 0x00010207, n: int = 10, **kw: object) -> Path:
    records = ((np.arange(n, dtype=np.uint32) * 100) | (1 << 25)).astype(np.uint32)
    write_ptu_records(path, rt, records, global_resolution_s=1e-12, **kw)  # type: ignore[arg-type]
    return path


def test_unknown_record_type_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "u.ptu", rt=0x00010208)
    with pytest.raises(PtuFormatError) as err:
        PtuFile(path)
    msg = str(err.value)
    assert "unknown TTTR record type 0x00010208" in msg and "u.ptu" in msg
    assert "HydraHarp V2 T2 (0x01010204)" in msg and "MultiHarp/Generic T3 (0x00010307)" in msg


def test_missing_or_bad_required_tags(tmp_path: Path) -> None:
    path = tmp_path / "m.ptu"
    path.write_bytes(MAGIC + encode_tag("TTResultFormat_TTTRRecType", 0x00010207)
                     + encode_tag("Header_End", None))
    with pytest.raises(PtuFormatError, match="no MeasDesc_GlobalResolution tag"):
        PtuFile(path)
    path.write_bytes(MAGIC + encode_tag("MeasDesc_GlobalResolution", 1e-12)
                     + encode_tag("Header_End", None))
    with pytest.raises(PtuFormatError, match="no TTResultFormat_TTTRRecType tag"):
        PtuFile(path)
    write(path, extra_tags={"TTResultFormat_BitsPerRecord": 64})
    with pytest.raises(PtuFormatError, match="BitsPerRecord is 64; expected 32"):
        PtuFile(path)
    write_ptu_records(path, 0x00010207, np.zeros(2, np.uint32), global_resolution_s=0.0)
    with pytest.raises(PtuFormatError, match="MeasDesc_GlobalResolution is 0.0; expected a resolution"):
        PtuFile(path)


@pytest.mark.parametrize("rate", [-1.0, 1e12])
def test_physically_impossible_sync_rates_are_refused_by_name(tmp_path: Path, rate: float) -> None:
    path = tmp_path / "s.ptu"
    write_ptu_records(path, 0x00010207, np.zeros(2, np.uint32), global_resolution_s=1e-12,
                      sync_rate_hz=rate)
    with pytest.raises(PtuFormatError, match=f"TTResult_SyncRate is {rate}; expected a rate"):
        PtuFile(path)


@pytest.mark.parametrize(("tag", "value"), [
    ("MeasDesc_GlobalResolution", 1e-300), ("MeasDesc_GlobalResolution", 10.0),
    ("MeasDesc_GlobalResolution", float("inf")), ("MeasDesc_Resolution", 1e-300),
])
def test_physically_impossible_resolutions_are_refused_by_name(tmp_path: Path, tag: str,
                                                                value: float) -> None:
    # 1e-300 s would turn every time into 0 ps; a sync period of 10 s is no bench's
    path = tmp_path / "r.ptu"
    res = {"global_resolution_s": value} if tag == "MeasDesc_GlobalResolution" else \
        {"global_resolution_s": 1e-12, "resolution_s": value}
    write_ptu_records(path, 0x00010207, np.zeros(2, np.uint32), **res)
    with pytest.raises(PtuFormatError, match=f"{tag} is {value}; expected a resolution in "
                                             "seconds from 1e-15 to 1"):
        PtuFile(path)


@pytest.mark.parametrize("claimed", [25, 4, 0])
def test_header_record_count_differing_from_the_data_trusts_the_data(tmp_path: Path,
                                                                     claimed: int) -> None:
    path = write(tmp_path / "c.ptu", n=10, header_records=claimed)
    with pytest.warns(TagFileWarning, match=f"says {claimed} records but the file holds 10"):
        f = PtuFile(path)
    with f:
        c = f.read()
    assert f.records == 10 and f.header_records == claimed and len(c) == 10
    assert c.timestamps.tolist() == [100 * k for k in range(10)]


def test_trailing_partial_record_is_an_error_after_the_whole_records(tmp_path: Path) -> None:
    path = write(tmp_path / "t.ptu", n=3)
    with open(path, "ab") as fh:
        fh.write(b"\x01\x02")
    with PtuFile(path) as f:
        read = 0
        with pytest.raises(PtuTruncatedError, match="2 of its 4 bytes present") as err:
            for chunk in f.chunks(2):
                read += len(chunk)
    assert read == 3 and err.value.record_index == 3


def test_reads_from_an_open_stream(tmp_path: Path) -> None:
    data = write(tmp_path / "s.ptu", n=5).read_bytes()
    stream = io.BytesIO(data)
    with PtuFile(stream) as f:
        assert f.read().timestamps.tolist() == [0, 100, 200, 300, 400]
    assert not stream.closed


@pytest.mark.parametrize("head, kind", [
    (b"PicoHarp 300\x00\x00\x00\x002.0", ".pt2/.pt3"),
    (b"HydraHarp\x00\x00\x00\x00\x00\x00\x002.0", ".ht2/.ht3"),
    (b"TimeHarp 200\x00\x00\x00\x005.0", ".t3r"),
])
def test_legacy_files_opened_as_ptu_point_to_the_legacy_reader(tmp_path: Path, head: bytes,
                                                               kind: str) -> None:
    path = tmp_path / "legacy.bin"
    path.write_bytes(head + bytes(64))
    with pytest.raises(PtuFormatError, match=f"legacy.bin: not a PTU file but a legacy "
                                             f"PicoQuant {kind} .* file; open it with "
                                             "picoquant.legacy.LegacyFile"):
        PtuFile(path)


def test_timeharp_260_legacy_files_are_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "legacy.t3"
    path.write_bytes(b"TimeHarp 260\x00\x00\x00\x001.0" + bytes(64))
    with pytest.raises(UnsupportedFormatError, match="legacy PicoQuant .t2/.t3 .*not supported"):
        PtuFile(path)


def test_histogram_and_garbage_files_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "h.phu"
    path.write_bytes(b"PQHISTO\x00" + bytes(64))
    with pytest.raises(UnsupportedFormatError, match="histogram file"):
        PtuFile(path)
    path.write_bytes(b"hello world, not tags")
    with pytest.raises(PtuFormatError, match="not a PicoQuant PTU file") as err:
        PtuFile(path)
    assert isinstance(err.value, TagFileError) and isinstance(err.value, ValueError)
