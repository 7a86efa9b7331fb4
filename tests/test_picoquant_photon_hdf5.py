"""Photon-HDF5: our writer's files against the specification's mandatory fields,
round trips, and real files (a phconvert conversion of a real PTU, and a
LabVIEW file that breaks the specification)."""

from __future__ import annotations

import itertools
from pathlib import Path

import h5py
import numpy as np
import pytest

from qnic.instruments.timetaggers.photon_hdf5 import (
    DEFAULT_TIMESTAMPS_UNIT_S,
    PhotonHdf5File,
    PhotonHdf5Writer,
    write_photon_hdf5,
)
from qnic.instruments.timetaggers.picoquant import PtuFile, TagFileError, TagFileWarning
from qnic.instruments.timetaggers.protocol import TagBatch

REAL = Path(__file__).resolve().parents[2] / "shared" / "realdata" / "timetags"


def real(name: str) -> Path:
    path = REAL / name
    if not path.exists():
        pytest.skip(f"real data file {name} not present")
    return path


def batches(seed: int = 2, n: int = 5000) -> list[TagBatch]:
    rng = np.random.default_rng(seed)
    ts = np.cumsum(rng.integers(1, 10**6, n)).astype(np.int64)
    ch = rng.choice([1, 2, 3, 4], n).astype(np.int32)
    cuts = [0, 1000, 1000, n]
    return [TagBatch(ts[a:b], ch[a:b], int(ts[a]) if a else 0, int(ts[b - 1]) + 1 if b > a
                     else int(ts[a])) for a, b in itertools.pairwise(cuts)]


def test_written_file_has_the_mandatory_fields(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    parts = batches()
    assert write_photon_hdf5(path, parts, description="CHSH setting 00", author="lab") == 5000
    with h5py.File(path) as h5:
        assert h5.attrs["format_name"] == b"Photon-HDF5" and h5.attrs["format_version"] == b"0.5"
        assert h5["description"][()] == b"CHSH setting 00"
        assert h5["acquisition_duration"][()] == pytest.approx(parts[-1].stop_ps * 1e-12)
        pd = h5["photon_data"]
        assert pd["timestamps"].dtype == np.int64 and pd["timestamps"].shape == (5000,)
        assert pd["timestamps_specs/timestamps_unit"][()] == 1e-12
        assert pd["measurement_specs/measurement_type"][()] == b"generic"
        assert pd["detectors"].dtype == np.uint16
        setup = h5["setup"]
        for key in ("num_pixels", "num_spots", "num_spectral_ch", "num_polarization_ch",
                    "num_split_ch", "modulated_excitation", "lifetime"):
            assert key in setup, key
        assert setup["num_pixels"][()] == 4 and not setup["lifetime"][()]
        assert setup["detectors/id"][()].tolist() == [1, 2, 3, 4]
        assert sum(setup["detectors/counts"][()]) == 5000
        for key in ("software", "format_name", "format_version", "creation_time", "filename"):
            assert key in h5["identity"], key
        assert h5["identity/author"][()] == b"lab"


def test_round_trip_in_chunks(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    parts = batches(seed=4)
    write_photon_hdf5(path, parts)
    with PhotonHdf5File(path) as f:
        assert f.timestamps_unit_s == 1e-12 and f.records == 5000
        chunks = list(f.chunks(333))
    assert np.array_equal(np.concatenate([c.timestamps for c in chunks]),
                          np.concatenate([b.timestamps for b in parts]))
    assert np.array_equal(np.concatenate([c.channels for c in chunks]),
                          np.concatenate([b.channels for b in parts]))
    assert [c.records for c in chunks][:2] == [333, 333]


def test_writer_refuses_out_of_order_batches_and_bad_channels(tmp_path: Path) -> None:
    with PhotonHdf5Writer(tmp_path / "bad.h5") as w:
        w.write(TagBatch(np.array([10, 20], np.int64), np.array([1, 2], np.int32), 0, 30))
        with pytest.raises(TagFileError, match="time order"):
            w.write(TagBatch(np.array([15], np.int64), np.array([1], np.int32), 30, 40))
        with pytest.raises(TagFileError, match="detector IDs must be 0 to 65535, got -1"):
            w.write(TagBatch(np.array([50], np.int64), np.array([-1], np.int32), 40, 60))


def test_phconvert_file_equals_the_ptu_it_was_made_from() -> None:
    with PhotonHdf5File(real("phconvert_pqsd_hydraharp_v20_t3.h5")) as h5:
        assert h5.measurement_type == "generic" and h5.format_version == "0.5"
        assert h5.acquisition_duration_s == 10.0
        chunks = list(h5.chunks(10_000))
    with PtuFile(real("pqsd_hydraharp_v20_t3.ptu")) as f:
        ptu = f.read()
    ts = np.concatenate([c.timestamps for c in chunks])
    assert np.array_equal(ts, ptu.timestamps)  # nsync x 1/sync rate + nanotime x tcspc unit
    # phconvert stores the HydraHarp record's channel field: inputs 1, 2 -> detectors 0, 1
    assert np.array_equal(np.concatenate([c.channels for c in chunks]) + 1, ptu.channels)
    assert ptu.nsync is not None and ptu.dtime is not None
    assert np.array_equal(np.concatenate([c.nsync for c in chunks]), ptu.nsync)
    assert np.array_equal(np.concatenate([c.dtime for c in chunks]), ptu.dtime)
    with PhotonHdf5File(real("phconvert_pqsd_hydraharp_v20_t3.h5"),
                        include_nanotimes=False) as h5:
        coarse = h5.read()
    assert coarse.nsync is not None
    assert np.all(coarse.timestamps <= ts)
    assert np.array_equal(np.sort(coarse.nsync), np.sort(ptu.nsync))
    # without nanotimes a tag sits at its sync: nsync x 200.0016 ns
    assert np.abs(np.sort(coarse.timestamps) - np.sort(ptu.nsync) * 200001.6000128001).max() <= 1


def test_nonconformant_labview_file_reads_with_warnings() -> None:
    path = real("jkl_photon_hdf5_min.h5")
    with pytest.warns(TagFileWarning) as record:
        f = PhotonHdf5File(path)
    messages = [str(w.message) for w in record]
    assert any("group photon_data0 of a single-spot file" in m for m in messages)
    assert any("no /photon_data0/timestamps_specs/timestamps_unit" in m
               and "timestamps_unit_s" in m for m in messages)
    with f:
        raw = f.read()
    assert f.timestamps_unit_s == DEFAULT_TIMESTAMPS_UNIT_S == 1e-12
    assert raw.counts() == {0: 727, 1: 553} and raw.timestamps[0] == 1_104_297
    # its README: the resolution is 5 ns
    with pytest.warns(TagFileWarning, match="photon_data0"):
        f = PhotonHdf5File(path, timestamps_unit_s=5e-9)
    with f:
        five = f.read()
    assert np.array_equal(five.timestamps, raw.timestamps * 5000)
    assert five.timestamps[-1] * 1e-12 == pytest.approx(6.54, abs=0.01)


def _h5(path: Path, group: str = "photon_data", unit: float | None = 1e-9,
        nanotimes: np.ndarray | None = None, spots: int | None = 1) -> Path:
    with h5py.File(path, "w") as h5:
        g = h5.create_group(group)
        g["timestamps"] = np.arange(0, 100, 10, dtype=np.int64)
        g["detectors"] = np.array([0, 1] * 5, dtype=np.uint8)
        if unit is not None:
            g["timestamps_specs/timestamps_unit"] = unit
        if nanotimes is not None:
            g["nanotimes"] = nanotimes
            g["nanotimes_specs/tcspc_unit"] = 1e-10
        if spots is not None:
            h5["setup/num_spots"] = spots
    return path


def test_deviations_and_errors_on_hand_built_files(tmp_path: Path) -> None:
    with PhotonHdf5File(_h5(tmp_path / "ok.h5")) as f:
        assert f.read().timestamps.tolist() == list(range(0, 100_000, 10_000))
    with pytest.warns(TagFileWarning, match="instead of the file's 1e-09 s"):
        PhotonHdf5File(_h5(tmp_path / "ok.h5"), timestamps_unit_s=2e-9).close()
    # multi-spot files name their groups photon_data0.. by the specification: no warning
    with PhotonHdf5File(_h5(tmp_path / "ms.h5", group="photon_data1", spots=2), spot=1) as f:
        assert f.records == 10
    with pytest.raises(TagFileError, match="no group photon_data .*found groups \\['other'"):
        PhotonHdf5File(_h5(tmp_path / "no.h5", group="other"))
    (tmp_path / "text.h5").write_text("not hdf5")
    with pytest.raises(TagFileError, match="not a readable HDF5 file"):
        PhotonHdf5File(tmp_path / "text.h5")


def test_nanotimes_past_the_timestamp_unit_are_put_in_order(tmp_path: Path) -> None:
    # 10 ns timestamps, nanotimes up to 25 ns: record order is not time order
    nano = np.array([250, 0, 200, 0, 150, 100, 0, 50, 240, 0], dtype=np.uint16)
    path = _h5(tmp_path / "n.h5", nanotimes=nano)
    with PhotonHdf5File(path) as f:
        chunks = list(f.chunks(3))
    ts = np.concatenate([c.timestamps for c in chunks])
    expected = np.sort(np.arange(0, 100, 10) * 1000 + nano.astype(np.int64) * 100)
    assert np.array_equal(ts, expected)
