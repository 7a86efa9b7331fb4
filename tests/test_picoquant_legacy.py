"""Legacy PicoQuant files (.pt2, .pt3, .ht2, .ht3, .t3r) built here byte by byte.

Headers are packed at the offsets of the reference
(shared/reference/picoquant-legacy.md, sections 0-3: PicoQuant's pt3demo,
libpicoquant's ph_v20.h / hh_v20.h / th_v50.h / th_v60.h) and records bit by
bit from its record tables (sections 1.2-3.5), never with the project's
codec, so a codec bug cannot hide on both sides. Expected times are written
out as numbers.
"""

from __future__ import annotations

import io
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from qnic.instruments.timetaggers.picoquant import (
    LegacyFile,
    LegacyFormatError,
    RecordType,
    TagFileError,
    TagFileWarning,
)
from qnic.instruments.timetaggers.picoquant.files import (
    TagFileFormat,
    detect_format,
    open_chunks,
    scan,
)


def text_header(ident: bytes, version: bytes) -> bytearray:
    """Section 0: Ident[16], FormatVersion[6], CreatorName[18], CreatorVersion[12],
    FileTime[18], CRLF[2], Comment[256]: 328 bytes."""
    h = bytearray(328)
    h[0:len(ident)], h[16:16 + len(version)] = ident, version
    h[22:31], h[40:43], h[52:69], h[70:72] = b"qnic test", b"1.0", b"01/02/03 04:05:06", b"\r\n"
    h[72:79] = b"comment"
    return h


def picoharp(mode: int, n_records: int, *, cnt_rate0: int = 100_000_000,
             resolution_ns: float = 0.004, boards: int = 1, img_words: int = 0,
             stop_after_ms: int = 1500) -> bytes:
    """Section 1.1: binary header at 328, boards of 156 bytes at 536, TTTR header."""
    h = text_header(b"PicoHarp 300", b"2.0") + bytearray(208)
    struct.pack_into("<iiii", h, 332, 32, 4, boards, 0)  # BitsPerRecord, RoutingChannels, boards
    struct.pack_into("<i", h, 348, mode)
    for _ in range(boards):
        board = bytearray(156)
        board[0:12] = b"PicoHarp 300"
        struct.pack_into("<ii", board, 24, 1013247, 8)  # HardwareSerial, SyncDivider
        struct.pack_into("<f", board, 48, resolution_ns)
        h += board
    tttr = bytearray(36)
    struct.pack_into("<i", tttr, 12, cnt_rate0)
    struct.pack_into("<iiii", tttr, 20, stop_after_ms, 0, n_records, img_words)
    return bytes(h + tttr + bytes(4 * img_words))


def hydraharp(version: bytes, mode: int, n_records: int, *, resolution_ps: float = 1.0,
              sync_rate: int = 1_000_000, inputs: int = 4, stop_after_ms: int = 2000) -> bytes:
    """Section 2.1: binary header at 328, hardware header at 536-696, then inputs x
    {ModuleIdx, CFDLevel, CFDZeroCross, Offset}, inputs x InputRate, TTTR header."""
    h = text_header(b"HydraHarp", version) + bytearray(208 + 160)
    struct.pack_into("<i", h, 332, 32)
    struct.pack_into("<i", h, 340, mode)
    struct.pack_into("<d", h, 352, resolution_ps)
    h[536:549] = b"HydraHarp 400"
    struct.pack_into("<d", h, 648, 1.0)  # BaseResolution
    struct.pack_into("<i", h, 664, inputs)
    h += bytes(16 * inputs) + struct.pack(f"<{inputs}i", *range(1000, 1000 + inputs))
    h += struct.pack("<iiiiq", sync_rate, stop_after_ms, 0, 0, n_records)
    return bytes(h)


def timeharp200(version: bytes, n_records: int, *, clock_ns: int = 100,
                resolution_ns: float = 0.25, spec_words: int = 0, mode: int = 2,
                stop_after_ms: int = 700) -> bytes:
    """Section 3: text header of 304 (5.0) or 328 (6.0) bytes, 212-byte binary
    header, a 24- (5.0) or 48-byte (6.0) board, 52-byte TTTR header."""
    if version == b"5.0":
        text = bytearray(304)
        text[0:12], text[16:19], text[22:25], text[46:48] = b"TimeHarp 200", b"5.0", b"2.4", b"\r\n"
        board = bytearray(24)
    else:
        text = text_header(b"TimeHarp 200", b"6.0")
        board = bytearray(48)
        board[0:12] = b"TimeHarp 200"
    struct.pack_into("<f", board, len(board) - 4, resolution_ns)
    binary = bytearray(212)
    struct.pack_into("<5i", binary, 0, 4096, 0, 32, 1, 1)  # ..., RoutingChannels, boards
    struct.pack_into("<i", binary, 24, mode)
    tttr = bytearray(52)
    struct.pack_into("<i", tttr, 0, clock_ns)
    struct.pack_into("<i", tttr, 28, 5_000_000)  # SyncRate
    struct.pack_into("<i", tttr, 36, stop_after_ms)
    struct.pack_into("<ii", tttr, 44, n_records, spec_words)
    return bytes(text + binary + board + tttr + bytes(4 * spec_words))


def write(tmp_path: Path, name: str, header: bytes, words: list[int], extra: bytes = b"") -> Path:
    path = tmp_path / name
    path.write_bytes(header + np.array(words, dtype="<u4").tobytes() + extra)
    return path


@pytest.mark.parametrize("header, offset", [
    (picoharp(3, 0), 728), (picoharp(2, 0, boards=2, img_words=3), 536 + 2 * 156 + 36 + 12),
    (hydraharp(b"1.0", 3, 0), 800), (hydraharp(b"2.0", 2, 0, inputs=8), 696 + 20 * 8 + 24),
    (timeharp200(b"5.0", 0), 592), (timeharp200(b"6.0", 0, spec_words=2), 640 + 8),
])
def test_records_start_where_the_reference_puts_them(tmp_path: Path, header: bytes,
                                                     offset: int) -> None:
    assert len(header) == offset
    with LegacyFile(write(tmp_path, "f.bin", header, [])) as f:
        assert f.header.data_offset == offset and f.records == 0
        assert f.read().timestamps.size == 0


def test_pt3_overflows_markers_and_times(tmp_path: Path) -> None:
    # 100 MHz sync (10 ns = 10,000 ps), 4 ps micro-time bins (float32 0.004 ns)
    words = [(1 << 28) | (5 << 16) | 100,      # router channel 1, dtime 5, nsync 100
             0xF << 28 | 77,                    # special, markers 0: overflow (+65536 syncs)
             (0xF << 28) | (0b0101 << 16) | 7,  # markers 1 and 3 at nsync 7
             (4 << 28) | (4095 << 16) | 3,      # router channel 4, last micro-time bin
             0xF << 28, 0xF << 28,              # two overflows
             (2 << 28) | (0 << 16) | 0]         # channel 2 right at the wrap
    path = write(tmp_path, "a.pt3", picoharp(3, len(words)), words)
    with LegacyFile(path) as f:
        assert f.kind.value == "pt3" and f.record_type == RecordType.PICOHARP_T3 and f.is_t3
        assert (f.global_resolution_s, f.resolution_s) == (1e-8, 4e-12)
        assert f.sync_rate_hz == 1e8 and f.acquisition_time_s == 1.5
        c = f.read()
    assert c.timestamps.tolist() == [1_000_020, 655_406_380, 3 * 65536 * 10_000]
    assert c.channels.tolist() == [1, 4, 2]
    assert c.nsync is not None and c.nsync.tolist() == [100, 65539, 3 * 65536]
    assert c.dtime is not None and c.dtime.tolist() == [5, 4095, 0]
    assert c.marker_timestamps.tolist() == [65543 * 10_000] and c.marker_bits.tolist() == [5]
    assert c.overflows == 3 and c.records == 7


def test_pt2_wraps_at_210698240_ticks_of_4_ps(tmp_path: Path) -> None:
    words = [(0 << 28) | 1000, 0xF0000000 | 0x500,  # sync input; overflow (low 4 bits 0)
             (1 << 28) | 5, 0xF0000000 | 0x100 | 0b0010]  # channel 1; marker 2
    path = write(tmp_path, "a.pt2", picoharp(2, len(words)), words)
    with LegacyFile(path) as f:
        assert f.kind.value == "pt2" and f.global_resolution_s == 4e-12 and not f.is_t3
        c = f.read()
    assert c.timestamps.tolist() == [4000, (210_698_240 + 5) * 4]
    assert c.channels.tolist() == [0, 1] and c.nsync is None
    # the marker keeps its bits in the time, as PicoQuant's PTU demo reads it
    assert c.marker_timestamps.tolist() == [(210_698_240 + 0x102) * 4]
    assert c.marker_bits.tolist() == [2] and c.overflows == 1


@pytest.mark.parametrize("version, rt, wraps", [
    (b"1.0", RecordType.HYDRAHARP_T3, [1, 1, 1]),    # one wrap per record, nsync ignored
    (b"2.0", RecordType.HYDRAHARP2_T3, [3, 1, 2]),   # nsync = number of wraps, 0 = one
])
def test_ht3_overflows_by_version(tmp_path: Path, version: bytes, rt: RecordType,
                                  wraps: list[int]) -> None:
    ofl = (1 << 31) | (63 << 25)
    words = [(0 << 25) | (7 << 10) | 9,          # input 1 (field 0), dtime 7, nsync 9
             ofl | 3, (2 << 25) | (32767 << 10) | 1023,  # input 3 at the last nsync
             ofl | 0, (1 << 31) | (0b1001 << 25) | 4,     # markers 1 and 4 at nsync 4
             ofl | 2, (3 << 25) | 0]
    path = write(tmp_path, "a.ht3", hydraharp(version, 3, len(words), resolution_ps=16.0,
                                                sync_rate=1_000_000), words)
    with LegacyFile(path) as f:
        assert f.record_type == rt and f.kind.value == "ht3"
        assert (f.global_resolution_s, f.resolution_s) == (1e-6, 16e-12)
        c = f.read()
    base = np.cumsum([0, *wraps]) * 1024
    nsync = [9, base[1] + 1023, base[3]]
    assert c.nsync is not None and c.nsync.tolist() == nsync
    assert c.channels.tolist() == [1, 3, 4] and c.overflows == sum(wraps)
    assert c.timestamps.tolist() == [9 * 1_000_000 + 7 * 16, nsync[1] * 1_000_000 + 32767 * 16,
                                     nsync[2] * 1_000_000]
    assert c.marker_bits.tolist() == [9]
    assert c.marker_timestamps.tolist() == [(base[2] + 4) * 1_000_000]


def test_ht2_v1_wraps_at_33552000_ticks_of_the_header_resolution(tmp_path: Path) -> None:
    # format 1.0: Resolution 0.5 ps is the tick (libpicoquant halves v1 T2 tags)
    ofl = (1 << 31) | (63 << 25)
    words = [(0 << 25) | 1000, ofl | 7, (1 << 25) | 4, (1 << 31) | (0 << 25) | 10]
    path = write(tmp_path, "a.ht2", hydraharp(b"1.0", 2, len(words), resolution_ps=0.5), words)
    with LegacyFile(path) as f:
        assert f.record_type == RecordType.HYDRAHARP_T2 and f.global_resolution_s == 0.5e-12
        c = f.read()
    assert c.timestamps.tolist() == [500, (33_552_000 + 4) // 2, (33_552_000 + 10) // 2]
    assert c.channels.tolist() == [1, 2, 0] and c.overflows == 1  # special channel 0: sync


def test_ht2_v2_overflow_counts_syncs_and_markers(tmp_path: Path) -> None:
    ofl = (1 << 31) | (63 << 25)
    words = [(3 << 25) | 17, ofl | 3, (1 << 31) | 5, ofl, (1 << 31) | (0b0110 << 25) | 8,
             (7 << 25) | 2]
    path = write(tmp_path, "a.ht2", hydraharp(b"2.0", 2, len(words), inputs=8), words)
    with LegacyFile(path) as f:
        assert f.record_type == RecordType.HYDRAHARP2_T2 and f.global_resolution_s == 1e-12
        assert f.header.input_channels == 8
        c = f.read()
    assert c.timestamps.tolist() == [17, 3 * 2**25 + 5, 4 * 2**25 + 2]
    assert c.channels.tolist() == [4, 0, 8] and c.overflows == 4
    assert c.marker_timestamps.tolist() == [4 * 2**25 + 8] and c.marker_bits.tolist() == [6]


@pytest.mark.parametrize("version", [b"5.0", b"6.0"])
def test_t3r_clock_overflows_and_markers(tmp_path: Path, version: bytes) -> None:
    valid = 1 << 30
    words = [valid | (0 << 28) | (2000 << 16) | 65535,  # route 0, data 2000, last tick
             0x800 << 16 | 123,                         # valid 0, data bit 11: overflow
             valid | (2 << 28) | (1 << 16) | 4,         # route 2 (channel 3)
             (0b101 << 16) | 9,                         # marker bits 1 and 3
             0 | 11]                                    # valid 0, no overflow, no marker
    path = write(tmp_path, "a.t3r", timeharp200(version, len(words)), words)
    with LegacyFile(path) as f:
        assert f.kind.value == "t3r" and f.record_type is None
        assert (f.global_resolution_s, f.resolution_s) == (1e-7, 0.25e-9)
        assert f.header.format_version == version.decode() and f.acquisition_time_s == 0.7
        c = f.read()
    assert c.timestamps.tolist() == [65535 * 100_000, (65536 + 4) * 100_000]
    assert c.channels.tolist() == [1, 3] and c.overflows == 1
    assert c.nsync is not None and c.nsync.tolist() == [65535, 65540]
    assert c.dtime is not None and c.dtime.tolist() == [2000, 1]
    assert c.marker_timestamps.tolist() == [(65536 + 9) * 100_000]
    assert c.marker_bits.tolist() == [5]


@pytest.mark.parametrize("chunk_records", [1, 2, 7, 500])
def test_chunks_join_to_the_whole_file_in_time_order(tmp_path: Path, chunk_records: int) -> None:
    # HydraHarp 2.0 T3 at 80 MHz with micro times up to 3 sync periods: record
    # order is not time order, and tags must be held across chunk boundaries
    rng = np.random.default_rng(5)
    n = 3000
    nsync = np.cumsum(rng.integers(0, 3, n))
    words, wrap = [], 0
    for k in range(n):
        while nsync[k] >> 10 > wrap:
            words.append((1 << 31) | (63 << 25) | 1)
            wrap += 1
        words.append((int(rng.integers(0, 4)) << 25) | (int(rng.integers(0, 2400)) << 10)
                     | int(nsync[k] & 1023))
    path = write(tmp_path, "a.ht3", hydraharp(b"2.0", 3, len(words), resolution_ps=16.0,
                                                sync_rate=80_000_000), words)
    with LegacyFile(path) as f:
        whole = f.read()
        chunks = list(f.chunks(chunk_records))
    ts = np.concatenate([c.timestamps for c in chunks])
    assert np.all(np.diff(ts) >= 0) and np.array_equal(ts, whole.timestamps)
    assert np.array_equal(np.sort(whole.nsync), nsync)  # type: ignore[arg-type]
    assert sum(c.records for c in chunks) == len(words)


def test_file_cut_short_is_read_to_its_end_with_a_warning(tmp_path: Path) -> None:
    words = [(1 << 28) | (k << 16) | k for k in range(10)]
    path = write(tmp_path, "cut.pt3", picoharp(3, 1000), words, extra=b"\x01\x02")
    with pytest.warns(TagFileWarning, match=r"cut.pt3: the header says 1000 records but the "
                                            r"file holds 10 whole records and 2 bytes"):
        f = LegacyFile(path)
    with f:
        assert f.records == 10 and f.header_records == 1000
        assert f.read().nsync.tolist() == list(range(10))  # type: ignore[union-attr]


def test_bytes_after_the_counted_records_are_ignored_with_a_warning(tmp_path: Path) -> None:
    words = [(1 << 28) | 5, (1 << 28) | 6, (1 << 28) | 7]
    path = write(tmp_path, "long.pt3", picoharp(3, 2), words, extra=b"\n")
    with pytest.warns(TagFileWarning, match="long.pt3: 5 bytes after the header's 2 records"):
        f = LegacyFile(path)
    with f:
        assert f.records == 2 and f.read().nsync.tolist() == [5, 6]  # type: ignore[union-attr]


def test_stream_and_detection(tmp_path: Path) -> None:
    words = [valid_t3r(7)]
    data = timeharp200(b"6.0", 1, stop_after_ms=0) + np.array(words, "<u4").tobytes()
    stream = io.BytesIO(data)
    assert detect_format(stream) == TagFileFormat.PICOQUANT_LEGACY and stream.tell() == 0
    chunks, close = open_chunks(stream, name="mem.t3r")
    assert [c.timestamps.tolist() for c in chunks] == [[700_000]]
    close()
    assert not stream.closed
    info = scan(io.BytesIO(data), name="mem.t3r")
    assert info.format == TagFileFormat.PICOQUANT_LEGACY and info.events == {1: 1}
    assert info.details["record_type"] == "TimeHarp 200 TTTR (.t3r, format 6.0)"
    assert info.details["record_type_code"] is None and info.details["file_type"] == "t3r"


def valid_t3r(tick: int) -> int:
    return (1 << 30) | tick


# -- bad input ------------------------------------------------------------------

@pytest.mark.parametrize("data, message", [
    (b"NotPicoQuant at all" + bytes(400), r"not a legacy PicoQuant file: starts with "
                                          r"b'NotPicoQuant at '; expected the identifier"),
    (b"HydraHarp\0\0\0\0\0\0\0" + b"3.0\0\0\0" + bytes(900),
     r"HydraHarp file of unknown format version '3.0'; this reader knows 1.0, 2.0"),
    (b"PicoHarp 300\0\0\0\0" + b"1.0\0\0\0" + bytes(900),
     r"PicoHarp 300 file of unknown format version '1.0'; this reader knows 2.0"),
    (b"TimeHarp 200\0\0\0\0" + b"4.0\0\0\0" + bytes(900),
     r"TimeHarp 200 file of unknown format version '4.0'; this reader knows 5.0, 6.0"),
    (b"HydraHarp\0\0\0\0\0\0\0" + b"2.", r"file ends inside the HydraHarp header \(FormatVersion"),
])
def test_wrong_identifier_or_version_is_named(tmp_path: Path, data: bytes, message: str) -> None:
    path = tmp_path / "bad.ht3"
    path.write_bytes(data)
    with pytest.raises(LegacyFormatError, match=message) as err:
        LegacyFile(path)
    assert str(err.value).startswith(f"{path}: ") and isinstance(err.value, TagFileError)


@pytest.mark.parametrize("header, cut, part", [
    (picoharp(3, 0), 300, "text header at byte offset 0"),
    (picoharp(3, 0), 380, "binary header at byte offset 328"),
    (picoharp(3, 0), 600, "board header 0 at byte offset 536"),
    (picoharp(3, 0), 700, "TTTR header at byte offset 692"),
    (picoharp(3, 0, img_words=4), 740, "imaging header at byte offset 728"),
    (hydraharp(b"1.0", 3, 0), 690, "hardware header at byte offset 536"),
    (hydraharp(b"2.0", 3, 0), 720, "input channel 1 at byte offset 712"),
    (hydraharp(b"2.0", 3, 0), 790, "TTTR header at byte offset 776"),
    (timeharp200(b"5.0", 0), 530, "board header 0 at byte offset 516"),
    (timeharp200(b"6.0", 0, spec_words=1), 641, "special header at byte offset 640"),
])
def test_header_cut_off_names_the_part_and_offset(tmp_path: Path, header: bytes, cut: int,
                                                  part: str) -> None:
    path = tmp_path / "cut.bin"
    path.write_bytes(header[:cut])
    with pytest.raises(LegacyFormatError, match=rf"cut.bin: file ends inside the .* header "
                                                rf"\({part}\): expected \d+ bytes, got \d+"):
        LegacyFile(path)


@pytest.mark.parametrize("header, message", [
    (picoharp(0, 0), r"MeasMode is 0; expected 2 or 3 \(T2 = 2, T3 = 3; other modes hold "
                     r"histograms"),
    (timeharp200(b"5.0", 0, mode=3), r"MeasurementMode is 3; expected 2 \(TTTR = 2;"),
    (picoharp(3, 0, cnt_rate0=0), r"CntRate0 \(the sync rate\) is 0; a T3 file needs the sync "
                                  r"rate"),
    (hydraharp(b"2.0", 3, 0, sync_rate=-5), r"SyncRate is -5"),
    (hydraharp(b"2.0", 2, 0, resolution_ps=0.0), r"Resolution is 0.0; expected a positive"),
    (hydraharp(b"2.0", 2, 0, resolution_ps=1e-300), r"Resolution is 1e-300; expected a positive "
                                                    r"resolution of at least 1 fs"),
    (hydraharp(b"2.0", 2, 0, inputs=0), r"InpChansPresent is 0; expected 1 to 64"),
    (picoharp(3, 0, boards=0), r"NumberOfBoards is 0; expected 1 to 16"),
    (timeharp200(b"6.0", 0, clock_ns=0), r"TTTRGlobClock is 0"),
])
def test_impossible_header_values_are_named(tmp_path: Path, header: bytes, message: str) -> None:
    path = tmp_path / "odd.bin"
    path.write_bytes(header)
    with pytest.raises(LegacyFormatError, match=rf"odd.bin: corrupt or unsupported header: "
                                                rf"{message}"):
        LegacyFile(path)


class _Pipe(io.RawIOBase):
    """A stream that cannot seek, as a pipe."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        return self._data.readinto(buffer)


def test_a_stream_that_cannot_seek_is_read_to_its_end(tmp_path: Path) -> None:
    ofl = (1 << 31) | (63 << 25)
    words = [(0 << 25) | (3 << 10) | 5, ofl | 1, (1 << 25) | 9, (1 << 25) | (900 << 10) | 8]
    data = hydraharp(b"2.0", 3, 10, resolution_ps=16.0) + np.array(words, "<u4").tobytes()
    f = LegacyFile(io.BufferedReader(_Pipe(data)), name="pipe.ht3")
    with pytest.warns(TagFileWarning, match="pipe.ht3: the header says 10 records but the "
                                            "stream held 4 whole records"):
        chunks = list(f.chunks(3))
    # the third tag (sync 1032 + 900 x 16 ps) comes before the second (sync 1033)
    assert np.concatenate([c.timestamps for c in chunks]).tolist() == [
        5 * 1_000_000 + 3 * 16, 1032 * 1_000_000 + 900 * 16, 1033 * 1_000_000]
    assert [c.records for c in chunks] == [3, 1]
