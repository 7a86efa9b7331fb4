"""Property tests: the time-tag file readers take any bytes a disk can hold.

Each reader (PTU, legacy PicoQuant, Photon-HDF5, the qnic ``.npz`` side
file) is fed small valid files with random damage: bytes overwritten, cut
short, bytes inserted, and 32- or 64-bit header fields set to extreme values
(record counts, board counts, resolutions). Reading the whole file either
works or raises a ``TagFileError``, never an IndexError, struct.error,
MemoryError, OverflowError or a bare ValueError (issue 17 item 5). 2,000
derandomized examples per reader; examples the fuzzers once found are kept
with ``@example``.
"""

from __future__ import annotations

import io
import struct
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from test_picoquant_legacy import hydraharp, picoharp, timeharp200

from qnic.instruments.timetaggers.picoquant import (
    RecordType,
    TagFileError,
    TagFileWarning,
    write_ptu,
    write_ptu_records,
)
from qnic.instruments.timetaggers.picoquant.files import TagFileFormat, scan
from qnic.instruments.timetaggers.protocol import TagBatch

FUZZ = settings(max_examples=2000, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])
EXTREMES = [0, 1, -1, 2**31 - 1, -(2**31), 2**32 - 1, 2**63 - 1, -(2**63)]


def _batch(n: int = 12) -> TagBatch:
    ts = np.arange(n, dtype=np.int64) * 1000 + 7
    return TagBatch(ts, (np.arange(n) % 4 + 1).astype(np.int32), 0, n * 1000)


def _ptu_seeds() -> list[bytes]:
    out = io.BytesIO()
    write_ptu_records(out, RecordType.HYDRAHARP2_T3,
                      np.array([0x02000010, 0x7E000001, 0x04001020], dtype="<u4"),
                      global_resolution_s=1e-7, resolution_s=1e-12, sync_rate_hz=1e7)
    return [_written(lambda p: write_ptu(p, [_batch()], input_channels=(1, 2, 3, 4)), "t.ptu"),
            out.getvalue()]


def _legacy_seeds() -> list[bytes]:
    words = np.array([0x10000007, 0xF0000000, 0x20000100], dtype="<u4").tobytes()
    return [picoharp(3, 3) + words, picoharp(2, 3, boards=2, img_words=1) + words,
            hydraharp(b"2.0", 2, 3) + words, hydraharp(b"1.0", 3, 3) + words,
            timeharp200(b"6.0", 3, spec_words=1) + words, timeharp200(b"5.0", 3) + words]


def _written(write: object, name: str) -> bytes:
    import tempfile

    assert callable(write)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        write(path)
        return path.read_bytes()


def _npz_seeds() -> list[bytes]:
    b = _batch()
    out = io.BytesIO()
    np.savez(out, timestamps_ps_00=b.timestamps, channels_00=b.channels,
             timestamps_ps_01=b.timestamps + 3, channels_01=b.channels)
    small = io.BytesIO()
    np.savez_compressed(small, timestamps_ps=b.timestamps, channels=b.channels)
    return [out.getvalue(), small.getvalue()]


def _hdf5_seeds() -> list[bytes]:
    """The smallest Photon-HDF5 layouts the reader takes: contiguous datasets,
    with and without nanotimes (the project's writer makes files of hundreds
    of kB, too large to damage 2,000 times quickly)."""
    b = _batch(6)
    out = []
    for nanotimes in (False, True):
        buf = io.BytesIO()
        with h5py.File(buf, "w", libver="latest") as h5:
            g = h5.create_group("photon_data")
            g["timestamps"] = b.timestamps
            g["detectors"] = b.channels.astype(np.uint8)
            g["timestamps_specs/timestamps_unit"] = 1e-12
            if nanotimes:
                g["nanotimes"] = np.arange(6, dtype=np.uint16)
                g["nanotimes_specs/tcspc_unit"] = 1e-12
            h5["acquisition_duration"] = 1e-8
        out.append(buf.getvalue())
    return out


SEEDS = {
    TagFileFormat.PTU: _ptu_seeds(),
    TagFileFormat.PICOQUANT_LEGACY: _legacy_seeds(),
    TagFileFormat.PHOTON_HDF5: _hdf5_seeds(),
    TagFileFormat.NPZ: _npz_seeds(),
}


def flipped(fmt: TagFileFormat, seed: int, pos: int) -> bytes:
    """Seed ``seed`` of ``fmt`` with the bits of byte ``pos`` inverted."""
    data = bytearray(SEEDS[fmt][seed])
    data[pos] ^= 0xFF
    return bytes(data)


def ptu_with(tag: bytes, *, index: int | None = None, value: bytes | None = None) -> bytes:
    """The Generic T2 seed with ``tag``'s Tag_Idx or 8-byte value replaced."""
    data = bytearray(SEEDS[TagFileFormat.PTU][0])
    at = data.index(tag.ljust(32, b"\x00"))
    if index is not None:
        data[at + 32:at + 36] = index.to_bytes(4, "little", signed=True)
    if value is not None:
        data[at + 40:at + 48] = value
    return bytes(data)


@st.composite
def damaged(draw: st.DrawFn, fmt: TagFileFormat) -> bytes:
    """A seed file of ``fmt`` with up to four kinds of damage."""
    data = bytearray(draw(st.sampled_from(SEEDS[fmt])))
    for _ in range(draw(st.integers(0, 4))):
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        kind = draw(st.sampled_from(["byte", "cut", "insert", "int32", "int64"]))
        if kind == "byte":
            data[pos:pos + 1] = bytes([draw(st.integers(0, 255))])
        elif kind == "cut":
            del data[pos:]
        elif kind == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        else:  # an extreme value in a header field, on a field boundary
            size = 4 if kind == "int32" else 8
            pos -= pos % size
            value = draw(st.sampled_from(EXTREMES)) & ((1 << 8 * size) - 1)
            data[pos:pos + size] = value.to_bytes(size, "little")
    return bytes(data)


def read_everything(data: bytes, fmt: TagFileFormat | None) -> None:
    """Scan the whole file (format told from its bytes when ``fmt`` is None)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TagFileWarning)
        try:
            info = scan(io.BytesIO(data), fmt, name="fuzz", chunk_records=8)
        except TagFileError:
            return
    assert info.records >= 0 and all(n >= 0 for n in info.events.values())


@FUZZ
@given(data=damaged(TagFileFormat.PTU))
# found: an array element (Tag_Idx 0) where a number belongs was a TypeError
@example(data=ptu_with(b"TTResultFormat_TTTRRecType", index=0))
@example(data=ptu_with(b"MeasDesc_GlobalResolution", index=3))
# found: a TDateTime of NaN days was a ValueError (kept as the number now)
@example(data=ptu_with(b"File_CreatingTime", value=struct.pack("<d", float("nan"))))
def test_ptu_reader_raises_only_tag_file_errors(data: bytes) -> None:
    read_everything(data, TagFileFormat.PTU)


@FUZZ
@given(data=damaged(TagFileFormat.PICOQUANT_LEGACY))
def test_legacy_reader_raises_only_tag_file_errors(data: bytes) -> None:
    read_everything(data, None)


@FUZZ
@given(data=damaged(TagFileFormat.PHOTON_HDF5))
@example(data=flipped(TagFileFormat.PHOTON_HDF5, 0, 48))  # found: h5py's KeyError
def test_photon_hdf5_reader_raises_only_tag_file_errors(data: bytes) -> None:
    read_everything(data, TagFileFormat.PHOTON_HDF5)


@FUZZ
@given(data=damaged(TagFileFormat.NPZ))
# found: EOFError (a member cut short), NotImplementedError (an unknown zip
# version), zlib.error (a damaged compressed member)
@example(data=flipped(TagFileFormat.NPZ, 0, 29))
@example(data=flipped(TagFileFormat.NPZ, 0, 1076))
@example(data=flipped(TagFileFormat.NPZ, 1, 28))
def test_npz_reader_raises_only_tag_file_errors(data: bytes) -> None:
    read_everything(data, TagFileFormat.NPZ)


@pytest.mark.parametrize("data, match", [
    (ptu_with(b"TTResultFormat_TTTRRecType", index=0), "TTResultFormat_TTTRRecType holds dict"),
    (flipped(TagFileFormat.PHOTON_HDF5, 0, 48), "corrupt HDF5 file"),
    (flipped(TagFileFormat.NPZ, 0, 1076), "not a readable .npz file"),
], ids=["ptu-array-element", "hdf5-object-header", "npz-zip-version"])
def test_found_damage_is_named(data: bytes, match: str) -> None:
    with pytest.raises(TagFileError, match=match) as err:
        scan(io.BytesIO(data), name="found.bin")
    assert "found.bin" in str(err.value)
