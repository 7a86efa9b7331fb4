"""Legacy PicoQuant sample files (shared/realdata/timetags; skipped when absent).

Header values are checked against the reference's own parse of these files
(shared/reference/picoquant-legacy.md section 4). Records are checked three
ways: counts per channel and overflows as the raw bits give them; ptufile's
decoder on the same records (written under a PTU header, since ptufile reads
no legacy file); and the physics of each file's time base (the tags span the
header's StopAfter, micro times fill one sync period, T2 sync tags are one
sync period apart). The .ptu files of the same sample set come from other
acquisitions (none of their records match these), so they cross-check only
that each file version maps to the record type PicoQuant's software writes.
"""

from __future__ import annotations

import argparse
import json
import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from qnic.cli import tags
from qnic.cli.common import EXIT_OK
from qnic.instruments.timetaggers.picoquant import (
    LegacyFile,
    PtuFile,
    RecordType,
    TagFileWarning,
    write_ptu_records,
)
from qnic.instruments.timetaggers.picoquant.files import TagFileFormat, scan
from qnic.instruments.timetaggers.replay import ReplayTimeTagger

REAL = Path(__file__).resolve().parents[2] / "shared" / "realdata" / "timetags"
PT3 = "fcspc_topfluorPE_2_1_1_1.pt3"
HT2_V1, HT3_V1 = "pqsd_hydraharp_v10.ht2", "pqsd_hydraharp_v10.ht3"
HT2_V2, HT3_V2, T3R = "pqsd_hydraharp_v20.ht2", "pqsd_hydraharp_v20.ht3", "pqsd_timeharp_v50.t3r"
CUT_SHORT = {HT2_V1: 25, HT3_V1: 1050, HT2_V2: 25}  # whole records present

# file: (kind, version, record type, global resolution s, micro resolution s, sync Hz,
#        header records, record offset, channels, StopAfter s); reference section 4
HEADERS: dict[str, tuple[Any, ...]] = {
    PT3: ("pt3", "2.0", RecordType.PICOHARP_T3, 1 / 78_133_041, 16e-12, 78_133_041, 986_400,
          728, 4, 11.08),
    HT2_V1: ("ht2", "1.0", RecordType.HYDRAHARP_T2, 0.5e-12, 0.5e-12, 522_093, 52_378_636, 800,
             4, 300.0),
    HT3_V1: ("ht3", "1.0", RecordType.HYDRAHARP_T3, 1 / 10_004_460, 4e-12, 10_004_460,
             72_463_591, 800, 4, 7200.0),
    HT2_V2: ("ht2", "2.0", RecordType.HYDRAHARP2_T2, 1e-12, 1e-12, 998_880, 10_431_577, 800, 4,
             10.0),
    HT3_V2: ("ht3", "2.0", RecordType.HYDRAHARP2_T3, 1 / 998_898, 16e-12, 998_898, 53_606, 800,
             4, 10.0),
    T3R: ("t3r", "5.0", None, 100e-9, 0.070237055e-9, 4_999_168, 86_997, 592, 1, 9.344),
}
# file: (events per channel, overflows, markers) as the raw record bits give them
EVENTS = {
    PT3: ({1: 482_775, 2: 490_562}, 13_063, 0),
    HT2_V1: ({1: 2, 2: 4, 3: 6, 4: 7}, 6, 0),
    HT3_V1: ({1: 6, 2: 9, 3: 3, 4: 14}, 1018, 0),
    HT2_V2: ({0: 25}, 0, 0),  # the sync input's tags only
    HT3_V2: ({1: 7102, 2: 26_648, 3: 3085, 4: 7306}, 9754, 0),  # 9465 records count 9754 wraps
    T3R: ({1: 85_571}, 1425, 1),
}


def real(name: str) -> Path:
    path = REAL / name
    if not path.exists():
        pytest.skip(f"real data file {name} not present")
    return path


def open_quietly(name: str) -> LegacyFile:
    """Open a sample whose cut-short or stray-byte warning is tested elsewhere."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TagFileWarning)
        return LegacyFile(real(name))


@pytest.mark.parametrize("name", list(HEADERS))
def test_header_fields(name: str) -> None:
    kind, version, rt, glob, res, sync, n, offset, channels, stop_s = HEADERS[name]
    with open_quietly(name) as f:
        h = f.header
        assert (h.kind.value, h.format_version, f.record_type) == (kind, version, rt)
        assert f.global_resolution_s == pytest.approx(glob, rel=1e-12)
        assert f.resolution_s == pytest.approx(res, rel=1e-12)
        assert (f.sync_rate_hz, f.header_records, h.data_offset) == (sync, n, offset)
        assert h.input_channels == channels and f.acquisition_time_s == stop_s
        assert f.records == CUT_SHORT.get(name, n)


def test_header_text_fields() -> None:
    with open_quietly(PT3) as f:
        fields = f.header.fields
    assert (fields["CreatorName"], fields["CreatorVersion"]) == ("SymPhoTime", "5.3.2.2")
    assert fields["FileTime"] == "18/10/13 14:34:28"
    assert (fields["Board[0].SyncDivider"], fields["Board[0].HardwareIdent"]) == (8, "PicoHarp 300")
    with open_quietly(T3R) as f:
        assert (f.header.fields["HardwareVersion"], f.header.fields["FileTime"]) == (
            "2.4", "08/09/03 12:51:43")
        assert f.header.fields["TTTRGlobClock"] == 100


@pytest.mark.parametrize("name", list(EVENTS))
def test_counts_per_channel_and_time_order(name: str) -> None:
    events, overflows, markers = EVENTS[name]
    with open_quietly(name) as f:
        whole = f.read()
        chunks = list(f.chunks(997))
    assert whole.counts() == events and whole.overflows == overflows
    assert whole.marker_bits.size == markers
    ts = np.concatenate([c.timestamps for c in chunks])
    assert np.all(np.diff(ts) >= 0) and np.array_equal(ts, whole.timestamps)
    assert sum(c.records for c in chunks) == CUT_SHORT.get(name, HEADERS[name][6])


@pytest.mark.parametrize("name, stop_s", [(PT3, 11.08), (HT3_V2, 10.0), (T3R, 9.344)])
def test_tags_span_the_measured_time(name: str, stop_s: float) -> None:
    """The time base (T3: 1 / sync rate; .t3r: the 100 ns clock) and the
    overflow periods are right if the tags end when the header says the
    measurement stopped (StopAfter, ms)."""
    with open_quietly(name) as f:
        last_s = f.read().timestamps[-1] * 1e-12
    assert stop_s - 0.13 < last_s <= stop_s


@pytest.mark.parametrize("name, bins", [(PT3, 4096), (HT3_V1, 32768), (HT3_V2, 32768)])
def test_t3_micro_times_fill_one_sync_period(name: str, bins: int) -> None:
    """The micro-time bin (PicoHarp: float32 ns, HydraHarp: float64 ps) and
    the sync period meet: micro times reach the next sync, or the last bin
    when the range (bins x bin) is shorter than the period."""
    with open_quietly(name) as f:
        c = f.read()
        period_s, bin_s = f.global_resolution_s, f.resolution_s
    assert c.dtime is not None
    reach_s = int(c.dtime.max()) * bin_s
    if bins * bin_s > period_s:  # .pt3: 65.5 ns range, 12.8 ns period; .ht3 1.0: 131 / 100 ns
        assert reach_s == pytest.approx(period_s, rel=0.1)
    else:  # .ht3 2.0: 524 ns range, 1001 ns period
        assert int(c.dtime.max()) == bins - 1


def test_ht2_v2_sync_tags_are_one_sync_period_apart() -> None:
    """Confirms the 1 ps tick of format 2.0 T2 files (reference section 2.3)."""
    with open_quietly(HT2_V2) as f:
        c = f.read()
        sync_hz = f.sync_rate_hz
    gaps = np.diff(c.timestamps)
    assert gaps.mean() == pytest.approx(1e12 / sync_hz, rel=1e-4)
    assert gaps.std() < 100  # ps


@pytest.mark.parametrize("name", [PT3, HT2_V1, HT3_V1, HT2_V2, HT3_V2])
def test_records_decode_as_ptufile_decodes_them(tmp_path: Path, name: str) -> None:
    ptufile = pytest.importorskip("ptufile")
    with open_quietly(name) as f:
        ours = f.read()
        offset, rt = f.header.data_offset, f.record_type
        glob, res, n = f.global_resolution_s, f.resolution_s, f.records
    assert rt is not None
    raw = np.fromfile(real(name), dtype="<u4", count=n, offset=offset)
    path = tmp_path / "same_records.ptu"
    write_ptu_records(path, rt, raw, global_resolution_s=glob, resolution_s=res)
    logging.disable(logging.WARNING)
    try:
        with ptufile.PtuFile(path) as ref:
            rec = ref.decode_records()
    finally:
        logging.disable(logging.NOTSET)
    ph = rec[rec["channel"] >= 0]
    # ptufile numbers PicoHarp T3 router inputs from 0, HydraHarp inputs as the field
    offset_ch = 0 if rt == RecordType.PICOHARP_T2 else 1
    if rt.is_t3:
        assert ours.nsync is not None and ours.dtime is not None
        mine = np.lexsort((ours.dtime, ours.channels, ours.nsync))
        theirs = np.lexsort((ph["dtime"], ph["channel"], ph["time"]))
        assert np.array_equal(ours.nsync[mine], ph["time"][theirs].astype(np.int64))
        assert np.array_equal(ours.dtime[mine], ph["dtime"][theirs])
        assert np.array_equal(ours.channels[mine], ph["channel"][theirs] + offset_ch)
    else:
        expected = np.rint(ph["time"].astype(np.int64) * (glob * 1e12)).astype(np.int64)
        assert np.array_equal(ours.timestamps, expected)
        # ptufile gives a HydraHarp T2 sync tag (special bit, channel 0) channel 0,
        # as it does input 1; ours is the sync's 0 and the inputs' 1..N
        is_sync = (raw >> 31 == 1)[rec["channel"] >= 0]
        assert np.array_equal(ours.channels, np.where(is_sync, 0, ph["channel"] + offset_ch))


@pytest.mark.parametrize("legacy, ptu", [(HT3_V1, "pqsd_hydraharp_v10_t3.ptu"),
                                         (HT3_V2, "pqsd_hydraharp_v20_t3.ptu"),
                                         (HT2_V2, "pqsd_hydraharp_v20_t2.ptu")])
def test_versions_map_to_the_record_types_picoquant_writes(legacy: str, ptu: str) -> None:
    with open_quietly(legacy) as f, PtuFile(real(ptu)) as p:
        assert f.record_type == p.record_type


@pytest.mark.parametrize("name, whole", [(HT2_V1, 25), (HT3_V1, 1050), (HT2_V2, 25)])
def test_samples_cut_short_are_read_to_their_end_with_a_warning(name: str, whole: int) -> None:
    said = HEADERS[name][6]
    with pytest.warns(TagFileWarning, match=rf"{name}: the header says {said} records but the "
                                            rf"file holds {whole} whole records \(cut short\)"):
        info = scan(real(name), chunk_records=100)
    assert info.records == whole and info.format == TagFileFormat.PICOQUANT_LEGACY
    assert info.events == EVENTS[name][0] and "duration_s" in info.details


def test_stray_trailing_byte_is_ignored_with_a_warning() -> None:
    with pytest.warns(TagFileWarning, match=rf"{T3R}: 1 bytes after the header's 86997 records"):
        info = scan(real(T3R))
    assert info.records == 86_997 and info.details["hardware"] == "TimeHarp 200"


def test_pt3_replays_as_a_tagger() -> None:
    tagger = ReplayTimeTagger("legacy_replay", str(real(PT3)))
    try:
        batch = tagger.acquire(1.0)
    finally:
        tagger.close()
    with open_quietly(PT3) as f:
        c = f.read()
    first_second = c.timestamps < 10**12
    assert batch.timestamps.size == int(first_second.sum()) > 80_000
    assert np.array_equal(batch.channels, c.channels[first_second])


def test_tags_info_reads_a_legacy_file(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="qnic")
    tags.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["tags", "info", str(real(HT3_V2)), "--json"])
    assert args.func(args) == EXIT_OK
    report = json.loads(capsys.readouterr().out)
    assert report["format"] == "picoquant-legacy" and report["warnings"] == []
    assert report["record_type"] == "HydraHarp 400 T3 (.ht3, format 2.0)"
    assert (report["record_type_code"], report["file_type"]) == ("0x01010304", "ht3")
    assert report["events"] == {"1": 7102, "2": 26_648, "3": 3085, "4": 7306}
    assert report["file_time"] == "28/11/12 10:45:06" and report["header_records"] == 53_606
    args = parser.parse_args(["tags", "info", str(real(T3R))])
    assert args.func(args) == EXIT_OK
    out, err = capsys.readouterr()
    assert "PicoQuant legacy, TimeHarp 200 TTTR (.t3r, format 5.0), hardware TimeHarp 200" in out
    assert "1 bytes after the header's 86997 records" in err
