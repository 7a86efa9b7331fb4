"""PTU reading: hand-built records of every record type, decoded by our reader,
checked against the times they were built from and against ptufile.

Records are packed here bit by bit from PicoQuant's record layouts
(docs/protocols.md 4c), never with the project's codec, so a codec bug cannot
hide on both sides.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from qnic.instruments.timetaggers.picoquant import (
    PtuFile,
    RecordType,
    TagFileWarning,
    write_ptu_records,
)
from qnic.instruments.timetaggers.picoquant.chunk import concatenate

ptufile = pytest.importorskip("ptufile")

PICO_T2, PICO_T3 = 0x00010203, 0x00010303
# (record type, T2?, overflow period, overflow count in the record?)
TYPES = {
    0x00010203: (True, 210_698_240, False), 0x00010303: (False, 65_536, False),
    0x00010204: (True, 33_552_000, False), 0x00010304: (False, 1024, False),
    0x01010204: (True, 1 << 25, True), 0x01010304: (False, 1024, True),
    0x00010205: (True, 1 << 25, True), 0x00010305: (False, 1024, True),
    0x00010206: (True, 1 << 25, True), 0x00010306: (False, 1024, True),
    0x00010207: (True, 1 << 25, True), 0x00010307: (False, 1024, True),
}


@dataclass
class Built:
    records: np.ndarray  # uint32
    coarse: np.ndarray  # event times in file units (T2 timetag / T3 nsync), overflows added
    dtime: np.ndarray
    field_channel: np.ndarray  # the channel field of each event record
    marker_coarse: np.ndarray
    marker_bits: np.ndarray
    overflows: int


def _overflow_words(rt: int, n: int, rng: np.random.Generator) -> list[int]:
    counted = TYPES[rt][2]
    if rt == PICO_T2:
        return [0xF0000000] * n
    if rt == PICO_T3:
        return [0xF << 28] * n  # dtime 0 = overflow
    if not counted:  # HydraHarp V1: one wrap per record, whatever the field says
        return [(1 << 31) | (63 << 25) | int(rng.integers(0, 5))] * n
    if n == 1 and rng.random() < 0.5:
        return [(1 << 31) | (63 << 25)]  # old-style: count 0 means one
    return [(1 << 31) | (63 << 25) | n]


def _event_word(rt: int, ch: int, low: int, dtime: int) -> int:
    if rt == PICO_T2:
        return (ch << 28) | low
    if rt == PICO_T3:
        return (ch << 28) | (dtime << 16) | low
    if TYPES[rt][0]:
        return (ch << 25) | low
    return (ch << 25) | (dtime << 10) | low


def _marker_word(rt: int, bits: int, low: int) -> int:
    if rt == PICO_T2:
        return 0xF0000000 | (low & ~0xF) | bits
    if rt == PICO_T3:
        return (0xF << 28) | (bits << 16) | low
    return (1 << 31) | (bits << 25) | low


def build(rt: int, n: int, seed: int, markers: bool = True) -> Built:
    """Random photons (and markers) with gaps of up to several overflow periods."""
    rng = np.random.default_rng(seed)
    is_t2, period, _ = TYPES[rt]
    t = np.cumsum(rng.integers(0, 3 * period, n) // rng.integers(1, 50, n)).astype(np.int64)
    is_marker = (rng.random(n) < 0.05) if markers else np.zeros(n, bool)
    if rt == PICO_T2:
        t[is_marker] -= t[is_marker] % 16  # marker bits take the timetag's low 4 bits
        t = np.maximum.accumulate(t)
    n_ch = {PICO_T2: 4, PICO_T3: 4}.get(rt, 64)
    ch = rng.integers(1 if rt == PICO_T3 else 0, n_ch + (1 if rt == PICO_T3 else 0), n)
    dmax = {PICO_T3: 4096}.get(rt, 32768)
    dt = np.zeros(n, np.int64) if is_t2 else rng.integers(0, dmax, n)
    bits = rng.integers(1, 16, n)
    words, wrap, ovf = [], 0, 0
    for k in range(n):
        w, low = divmod(int(t[k]), period)
        while w > wrap:
            step = min(w - wrap, 1000)
            words += _overflow_words(rt, step, rng)
            wrap += step
            ovf += step
        if is_marker[k]:
            words.append(_marker_word(rt, int(bits[k]), low))
        else:
            words.append(_event_word(rt, int(ch[k]), low, int(dt[k])))
    m = is_marker
    marker_t = t[m] + (bits[m] if rt == PICO_T2 else 0)  # PicoHarp T2 markers keep the bits
    return Built(np.array(words, np.uint32), t[~m], dt[~m], ch[~m], marker_t, bits[m], ovf)


def write(path: Path, rt: int, built: Built, glob_s: float, res_s: float) -> Path:
    write_ptu_records(path, rt, built.records, global_resolution_s=glob_s, resolution_s=res_s,
                      sync_rate_hz=1 / glob_s if not TYPES[rt][0] else 0.0)
    return path


def hardware_channel(rt: int, field: np.ndarray) -> np.ndarray:
    """The documented numbering: PicoHarp as recorded, the others field + 1."""
    return field if rt in (PICO_T2, PICO_T3) else field + 1


def resolutions(rt: int) -> tuple[float, float]:
    if TYPES[rt][0]:
        return (4e-12 if rt == PICO_T2 else 1e-12), 1e-12
    return 12.512587663189168e-9, 16e-12  # a measured 79.9 MHz sync, as real files have


@pytest.mark.parametrize("rt", list(TYPES), ids=lambda r: RecordType(r).name)
def test_every_record_type_decodes_to_the_built_times(tmp_path: Path, rt: int) -> None:
    built = build(rt, 3000, seed=rt % 1000)
    glob_s, res_s = resolutions(rt)
    with PtuFile(write(tmp_path / "f.ptu", rt, built, glob_s, res_s)) as f:
        assert f.record_type == rt and f.records == built.records.size
        chunk = f.read()
    assert chunk.overflows == built.overflows and chunk.records == built.records.size
    expected_ch = hardware_channel(rt, built.field_channel)
    assert np.all(np.diff(chunk.timestamps) >= 0)
    if TYPES[rt][0]:  # T2: whole picoseconds, exact
        expected_ps = built.coarse * round(glob_s * 1e12)
        mine = np.lexsort((chunk.channels, chunk.timestamps))
        want = np.lexsort((expected_ch, expected_ps))
        assert np.array_equal(chunk.timestamps[mine], expected_ps[want])
        assert np.array_equal(chunk.channels[mine], expected_ch[want])
    else:  # T3: nsync x 12512.5877 ps + dtime x 16 ps, rounded to the picosecond
        assert chunk.nsync is not None and chunk.dtime is not None
        got = np.lexsort((chunk.dtime, chunk.channels, chunk.nsync))
        want = np.lexsort((built.dtime, expected_ch, built.coarse))
        assert np.array_equal(chunk.nsync[got], built.coarse[want])
        assert np.array_equal(chunk.dtime[got], built.dtime[want])
        assert np.array_equal(chunk.channels[got], expected_ch[want])
        exact = built.coarse * (glob_s * 1e12) + built.dtime * (res_s * 1e12)
        assert np.abs(chunk.timestamps[got] - exact[want]).max() <= 1
    marker_ps = np.rint(built.marker_coarse * glob_s * 1e12).astype(np.int64)
    assert np.array_equal(chunk.marker_bits, built.marker_bits)
    assert np.abs(chunk.marker_timestamps - marker_ps).max(initial=0) <= 1


@pytest.mark.parametrize("rt", list(TYPES), ids=lambda r: RecordType(r).name)
def test_every_record_type_agrees_with_ptufile(tmp_path: Path, rt: int) -> None:
    built = build(rt, 2000, seed=7 + rt % 97)
    glob_s, res_s = resolutions(rt)
    path = write(tmp_path / "f.ptu", rt, built, glob_s, res_s)
    with PtuFile(path) as f:
        chunk = f.read()
    ref = ptufile.PtuFile(path)
    try:
        rec = ref.decode_records()
    finally:
        ref.close()
    photons, markers = rec[rec["channel"] >= 0], rec[rec["marker"] > 0]
    # ptufile numbers PicoHarp T3 router channels from 0, the others as the field
    offset = {PICO_T2: 0, PICO_T3: 1}.get(rt, 1)
    if TYPES[rt][0]:
        unit = round(glob_s * 1e12)
        assert np.array_equal(chunk.timestamps, photons["time"].astype(np.int64) * unit)
        assert np.array_equal(chunk.channels, photons["channel"] + offset)
    else:
        assert chunk.nsync is not None and chunk.dtime is not None
        mine = np.lexsort((chunk.dtime, chunk.channels, chunk.nsync))
        theirs = np.lexsort((photons["dtime"], photons["channel"], photons["time"]))
        assert np.array_equal(chunk.nsync[mine], photons["time"][theirs].astype(np.int64))
        assert np.array_equal(chunk.dtime[mine], photons["dtime"][theirs])
        assert np.array_equal(chunk.channels[mine], photons["channel"][theirs] + offset)
    assert np.array_equal(chunk.marker_bits, markers["marker"])
    mt = markers["time"].astype(np.int64)
    assert np.abs(chunk.marker_timestamps - np.rint(mt * glob_s * 1e12)).max(initial=0) <= 1


@pytest.mark.parametrize("rt", [0x01010204, 0x00010304, 0x00010203, 0x01010304])
@pytest.mark.parametrize("chunk_records", [1, 2, 7, 1000])
def test_chunks_carry_overflows_and_order(tmp_path: Path, rt: int, chunk_records: int) -> None:
    built = build(rt, 1500, seed=3)
    path = write(tmp_path / "f.ptu", rt, built, *resolutions(rt))
    with PtuFile(path) as f:
        whole = f.read()
        chunks = list(f.chunks(chunk_records))
    assert sum(c.records for c in chunks) == built.records.size
    assert sum(c.overflows for c in chunks) == built.overflows
    joined = np.concatenate([c.timestamps for c in chunks])
    assert np.array_equal(joined, whole.timestamps)
    assert np.array_equal(np.concatenate([c.channels for c in chunks]), whole.channels)
    assert np.all(np.diff(joined) >= 0)


def test_t3_micro_times_past_the_sync_period_are_reordered_across_chunks(tmp_path: Path) -> None:
    # dtime x resolution up to 0.5 us against a 12.5 ns sync period, as in a real
    # HydraHarp file: record order is not time order
    rt = 0x01010304
    built = build(rt, 4000, seed=11, markers=False)
    path = write(tmp_path / "f.ptu", rt, built, 12.5e-9, 16e-12)
    with PtuFile(path) as f:
        chunks = list(f.chunks(64))
    ts = np.concatenate([c.timestamps for c in chunks])
    expected = np.sort(np.rint(built.coarse * 12500.0).astype(np.int64) + built.dtime * 16)
    assert np.all(np.diff(ts) >= 0) and np.array_equal(ts, expected)
    record_order = built.coarse * 12500 + built.dtime * 16
    assert np.any(np.diff(record_order) < 0)  # the case is really exercised


def test_hydraharp_t2_sync_records_are_channel_0(tmp_path: Path) -> None:
    # special=1, channel 0: a sync event (Read_PTU: gotPhoton(truetime, 0, 0))
    words = [(0 << 25) | 5, (1 << 31) | (0 << 25) | 9, (1 << 31) | (63 << 25) | 2,
             (3 << 25) | 4, (1 << 31) | (0 << 25) | 6]
    path = tmp_path / "s.ptu"
    write_ptu_records(path, 0x00010207, np.array(words, np.uint32), global_resolution_s=1e-12)
    with PtuFile(path) as f:
        c = f.read()
    assert c.channels.tolist() == [1, 0, 4, 0]
    assert c.timestamps.tolist() == [5, 9, 2 * 2**25 + 4, 2 * 2**25 + 6]
    assert c.overflows == 2 and c.marker_bits.size == 0


def test_ptufile_is_quiet_about_our_files(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    built = build(0x00010207, 200, seed=1)
    path = write(tmp_path / "f.ptu", 0x00010207, built, 1e-12, 1e-12)
    with caplog.at_level(logging.WARNING):
        ref = ptufile.PtuFile(path)
        assert ref.number_records == built.records.size
        ref.close()
    assert not caplog.records


def test_overflow_counts_up_to_the_field_maximum(tmp_path: Path) -> None:
    # one record holding 2^25 - 1 overflows (a 1126 s silence at 1 ps), then
    # an old-style count of 0 (one overflow); ptufile 2026.2 computes
    # count x 2^25 in 32 bits and misreads counts above 127, so the built
    # times are the reference here
    words = [7, (1 << 31) | (63 << 25) | (2**25 - 1), (5 << 25) | 9,
             (1 << 31) | (63 << 25), (2 << 25) | 1]
    path = tmp_path / "big.ptu"
    write_ptu_records(path, 0x01010204, np.array(words, np.uint32), global_resolution_s=1e-12)
    with PtuFile(path) as f:
        c = f.read()
    assert c.timestamps.tolist() == [7, (2**25 - 1) * 2**25 + 9, 2**25 * 2**25 + 1]
    assert c.channels.tolist() == [1, 6, 3] and c.overflows == 2**25


def test_generic_t2_encoder_splits_long_gaps() -> None:
    from qnic.instruments.timetaggers.picoquant.records import encode_generic_t2

    units = np.array([3, 3 + 2 * (2**25 - 1) * 2**25 + 2**25], dtype=np.int64)
    words, base, wraps = encode_generic_t2(units, np.array([1, 2]))
    assert [f"{w:08X}" for w in words] == ["00000003", "FFFFFFFF", "FFFFFFFF", "FE000001",
                                           "02000003"]
    assert wraps == 2 * (2**25 - 1) + 1 and base == wraps * 2**25
    with pytest.raises(ValueError, match="sorted"):
        encode_generic_t2(np.array([5, 4]), np.array([1, 1]))


@pytest.mark.parametrize("rt", list(TYPES), ids=lambda r: RecordType(r).name)
def test_compiled_decoder_matches_the_vectorised_reference(rt: int) -> None:
    """Every 32-bit word, reserved special codes included, through the compiled
    kernels (seven blocks, overflows carried) and through records.decode.
    Random words keep no time order, so events are compared as sets."""
    from qnic.instruments.timetaggers.picoquant.decoder import ChunkDecoder, RecordFormat
    from qnic.instruments.timetaggers.picoquant.records import decode, units_to_ps

    words = np.random.default_rng(rt % 1000).integers(0, 2**32, 20_000, dtype=np.uint64)
    words = words.astype(np.uint32)
    glob_s, res_s = resolutions(rt)
    ref = decode(words, RecordType(rt))
    decoder = ChunkDecoder(RecordFormat.of(RecordType(rt)), glob_s, res_s, "random")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TagFileWarning)  # random T2 words go back in time
        chunk = concatenate([decoder.decode(b, last=True) for b in np.array_split(words, 7)])
    times = units_to_ps(ref.coarse, glob_s)
    if ref.dtime is not None:
        times = times + units_to_ps(ref.dtime, res_s)
        assert chunk.nsync is not None and chunk.dtime is not None
        mine = np.lexsort((chunk.dtime, chunk.nsync, chunk.channels, chunk.timestamps))
        want = np.lexsort((ref.dtime, ref.coarse, ref.channels, times))
        assert np.array_equal(chunk.nsync[mine], ref.coarse[want])
        assert np.array_equal(chunk.dtime[mine], ref.dtime[want])
    else:
        mine = np.lexsort((chunk.channels, chunk.timestamps))
        want = np.lexsort((ref.channels, times))
    assert np.array_equal(chunk.timestamps[mine], times[want])
    assert np.array_equal(chunk.channels[mine], ref.channels[want])
    assert np.array_equal(chunk.marker_timestamps, units_to_ps(ref.marker_coarse, glob_s))
    assert np.array_equal(chunk.marker_bits, ref.marker_bits)
    assert chunk.overflows == ref.overflows and chunk.records == words.size


def test_t2_records_going_back_across_chunks_warn_once(tmp_path: Path) -> None:
    # T2 records are written in time order, so each chunk is handed out whole;
    # a file that breaks the order is read as recorded, with one warning
    words = np.array([(0 << 25) | 100, (1 << 25) | 200, (2 << 25) | 50, (0 << 25) | 60,
                      (1 << 25) | 10], np.uint32)
    path = tmp_path / "odd.ptu"
    write_ptu_records(path, 0x00010207, words, global_resolution_s=1e-12)
    with PtuFile(path) as f, pytest.warns(TagFileWarning) as caught:
        chunks = [c.timestamps.tolist() for c in f.chunks(2)]
    assert chunks == [[100, 200], [50, 60], [10]]
    assert len(caught) == 1
    assert "odd.ptu: HydraHarp-family T2 records out of time order: a tag at 50 ps follows one " \
           "at 200 ps in an earlier chunk" in str(caught[0].message)


def test_the_record_kernels_are_cached_in_the_user_folder() -> None:
    """docs/architecture.md: never beside the installed package or in the checkout."""
    import numba

    from qnic.instruments.kernel_cache import UserCacheLocator, user_cache_dir
    from qnic.instruments.timetaggers.picoquant import kernels

    found = [v for v in vars(kernels).values() if isinstance(v, numba.core.registry.CPUDispatcher)]
    assert len(found) >= 6
    for kernel in found:
        locator = kernel._cache._impl._locator
        assert isinstance(locator, UserCacheLocator)
        assert user_cache_dir() in Path(locator.get_cache_path()).parents
