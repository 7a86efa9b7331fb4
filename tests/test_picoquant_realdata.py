"""The PTU reader on real recorded files (shared/realdata/timetags; skipped when
absent): against ptufile, against the rates the acquisition software wrote in
the header, and against ETA's stored g2 histograms of the same files."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from qnic.instruments.timetaggers.picoquant import (
    PtuFile,
    PtuFormatError,
    RecordType,
    TagFileWarning,
)
from qnic.instruments.timetaggers.picoquant.files import scan

REAL = Path(__file__).resolve().parents[2] / "shared" / "realdata" / "timetags"

# file: (record type, records, events per hardware channel, overflows)
FILES = {
    "pqsd_picoharp_v30_t2.ptu": (RecordType.PICOHARP_T2, 929_254, {0: 531_477, 1: 388_700}, 9077),
    "pqsd_hydraharp_v20_t2.ptu": (RecordType.HYDRAHARP2_T2, 435_319, {1: 305_565}, 149_011),
    "pqsd_hydraharp_v20_t3.ptu": (RecordType.HYDRAHARP2_T3, 106_349, {1: 45_012, 2: 32_871},
                                  48_827),
    "pqsd_hydraharp_v10_t3.ptu": (RecordType.HYDRAHARP_T3, 167_801, {1: 48_001, 2: 46_559},
                                  73_241),
    "eta_200204_HH400_T2_320MHz_HBT.ptu": (RecordType.HYDRAHARP2_T2, 409_482,
                                           {1: 159_298, 2: 224_721}, 29_801),
    "eta_200204_HH400_T3_320MHz_HBT.ptu": (RecordType.HYDRAHARP2_T3, 456_812,
                                           {1: 186_647, 2: 266_616}, 3549),
    "eta_200213_HH400_T3_80MHz_HBT.ptu": (RecordType.HYDRAHARP2_T3, 561_879,
                                          {1: 160_953, 2: 235_373}, 390_759),
}


def real(name: str) -> Path:
    path = REAL / name
    if not path.exists():
        pytest.skip(f"real data file {name} not present")
    return path


@pytest.mark.parametrize("name", list(FILES))
def test_real_file_matches_ptufile(name: str) -> None:
    ptufile = pytest.importorskip("ptufile")
    rt, records, events, overflows = FILES[name]
    with PtuFile(real(name)) as f:
        assert f.record_type == rt and f.records == records == f.header_records
        chunks = list(f.chunks(65_536))
    ts = np.concatenate([c.timestamps for c in chunks])
    ch = np.concatenate([c.channels for c in chunks])
    assert np.all(np.diff(ts) >= 0)
    assert sum(c.overflows for c in chunks) == overflows
    assert sum(c.records for c in chunks) == records
    assert dict(zip(*map(list, np.unique(ch, return_counts=True)))) == events
    logging.disable(logging.WARNING)  # ptufile logs its view of the UsrHeadName tags
    try:
        ref = ptufile.PtuFile(real(name))
        rec = ref.decode_records()
        ref.close()
    finally:
        logging.disable(logging.NOTSET)
    ph = rec[rec["channel"] >= 0]
    offset = 0 if rt == RecordType.PICOHARP_T2 else 1
    if not rt.is_t3:
        unit = round(f.global_resolution_s * 1e12)
        assert np.array_equal(ts, ph["time"].astype(np.int64) * unit)
        assert np.array_equal(ch, ph["channel"] + offset)
    else:
        nsync = np.concatenate([c.nsync for c in chunks])
        dtime = np.concatenate([c.dtime for c in chunks])
        mine = np.lexsort((dtime, ch, nsync))
        theirs = np.lexsort((ph["dtime"], ph["channel"], ph["time"]))
        assert np.array_equal(nsync[mine], ph["time"][theirs].astype(np.int64))
        assert np.array_equal(dtime[mine], ph["dtime"][theirs])
        assert np.array_equal(ch[mine], ph["channel"][theirs] + offset)


@pytest.mark.parametrize("name", ["eta_200204_HH400_T2_320MHz_HBT.ptu",
                                  "eta_200213_HH400_T3_80MHz_HBT.ptu"])
def test_hydraharp_rates_match_the_header_input_rates(name: str) -> None:
    """TTResult_InputRate(i) is input i+1's rate: the channel numbering and the
    time base (T3: 1/sync rate) agree with what the acquisition software saw."""
    with PtuFile(real(name)) as f:
        c = f.read()
        header = f.header.get("TTResult_InputRate")
    span_s = c.timestamps[-1] * 1e-12
    for index, rate in header.items():
        assert c.counts()[index + 1] / span_s == pytest.approx(rate, rel=0.1)


def test_picoharp_channel_0_is_the_sync_input() -> None:
    with PtuFile(real("pqsd_picoharp_v30_t2.ptu")) as f:
        c = f.read()
        sync_hz, inputs = f.sync_rate_hz, f.header.get("TTResult_InputRate")
        stop_s = f.acquisition_time_s
    span_s = c.timestamps[-1] * 1e-12
    assert span_s == pytest.approx(stop_s, rel=1e-3)  # TTResult_StopAfter, 7.652 s (manual stop)
    assert c.counts()[0] / span_s == pytest.approx(sync_hz, rel=0.05)
    assert c.counts()[1] / span_s == pytest.approx(inputs[0], rel=0.05)


def _g2(ts: np.ndarray, ch: np.ndarray, start: int, stop: int, bins: int = 10_000,
        bin_ps: int = 16) -> np.ndarray:
    """Histogram of t_stop - t_start over every pair within bins x bin_ps (ETA's recipe)."""
    a, b = ts[ch == start], ts[ch == stop]
    out = np.zeros(bins, np.int64)
    lo = np.searchsorted(a, b - bins * bin_ps, side="right")
    hi = np.searchsorted(a, b, side="right")
    for k in range(int((hi - lo).max(initial=0))):
        idx = hi - 1 - k
        ok = idx >= lo
        np.add.at(out, (b[ok] - a[idx[ok]]) // bin_ps, 1)
    return out


def test_t2_g2_contains_eta_reference_histograms() -> None:
    """ETA's Correlation recipe (16 ps bins, 10000 bins) on this file; ETA's
    processing in cuts loses ~1 % of pairs, so ours must hold every one of its
    pairs, bin by bin, and at most 2 % more."""
    with PtuFile(real("eta_200204_HH400_T2_320MHz_HBT.ptu")) as f:
        c = f.read()
    ref = np.load(real("eta_200204_HH400_T2_320MHz_HBT_g2.npz"))
    for key, (start, stop) in (("hist1", (1, 2)), ("hist2", (2, 1))):
        ours, theirs = _g2(c.timestamps, c.channels, start, stop), ref[key]
        assert np.all(ours >= theirs)
        assert ours.sum() <= 1.02 * theirs.sum()
    assert _g2(c.timestamps, c.channels, 2, 1).argmax() == ref["hist2"].argmax() == 8083


def test_t3_g2_follows_eta_reference_histograms() -> None:
    """T3 times (nsync x 12.4955 ns + dtime x 16 ps) against ETA's: the same
    shape at 1.6 ns resolution; single bins move by sub-ps rounding."""
    with PtuFile(real("eta_200213_HH400_T3_80MHz_HBT.ptu")) as f:
        c = f.read()
    ref = np.load(real("eta_200213_HH400_T3_80MHz_HBT.npz"))
    for key, (start, stop) in (("hist1", (1, 2)), ("hist2", (2, 1))):
        ours, theirs = _g2(c.timestamps, c.channels, start, stop), ref[key]
        assert ours.sum() == pytest.approx(theirs.sum(), rel=0.02)
        coarse_ours, coarse_theirs = ours.reshape(100, 100).sum(1), theirs.reshape(100, 100).sum(1)
        assert np.corrcoef(coarse_ours, coarse_theirs)[0, 1] > 0.999


def test_t3_file_whose_sync_rate_disagrees_with_its_data_warns() -> None:
    """The 320 MHz T3 file spans 45 ms at the header's 79.9 MHz sync although
    the header says 10 s were acquired: read as is, with a warning."""
    with pytest.warns(TagFileWarning, match=r"span 0.0454745 s but the header's acquisition "
                                            r"time is 10 s.*check the sync rate"):
        info = scan(real("eta_200204_HH400_T3_320MHz_HBT.ptu"), chunk_records=100_000)
    assert info.records == 456_812 and info.events == {1: 186_647, 2: 266_616}


@pytest.mark.parametrize("name", ["fcspc_topfluorPE_2_1_1_1.pt3", "pqsd_hydraharp_v10.ht2",
                                  "pqsd_hydraharp_v20.ht3", "pqsd_timeharp_v50.t3r"])
def test_legacy_real_files_opened_as_ptu_point_to_the_legacy_reader(name: str) -> None:
    with pytest.raises(PtuFormatError, match="not a PTU file but a legacy PicoQuant .* open it "
                                             "with picoquant.legacy.LegacyFile"):
        PtuFile(real(name))
