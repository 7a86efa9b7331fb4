"""Read and write Photon-HDF5 time-tag files (format 0.5) with h5py.

Photon-HDF5 (photon-hdf5.org; reference implementation phconvert) keeps
``/photon_data/timestamps`` (int64, in ``timestamps_specs/timestamps_unit``
seconds), ``/photon_data/detectors`` (the pixel ID of each photon) and, for
TCSPC data, ``nanotimes`` in ``nanotimes_specs/tcspc_unit`` seconds.

Reading (:class:`PhotonHdf5File`), like the PTU reader, gives int64
picoseconds: timestamp x unit, plus nanotime x tcspc_unit where nanotimes
exist (the photon's arrival time, as for PTU T3 files; pass
``include_nanotimes=False`` for the sync time alone). Channels are the
file's ``detectors`` values unchanged (phconvert writes PicoQuant HydraHarp
inputs 1, 2 as detectors 0, 1). Chunks are read by slicing the datasets, so
memory stays bounded.

Known deviations of real files are tolerated with a ``TagFileWarning``:

* the photon group named ``photon_data0`` in a single-spot file (the name the
  specification keeps for multi-spot files);
* no ``timestamps_specs/timestamps_unit``: the caller's ``timestamps_unit_s``
  is used, else :data:`DEFAULT_TIMESTAMPS_UNIT_S` (1 ps: the stored integers
  are taken as picoseconds) with a warning naming the argument to pass;
* unsigned ``timestamps`` (uint64) are read as int64.

Writing (:class:`PhotonHdf5Writer`, :func:`write_photon_hdf5`) stores a
TagBatch stream with a 1 ps timestamp unit, measurement type ``generic`` and
the mandatory ``identity`` and ``setup`` fields of the specification.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import h5py
import numpy as np

from qnic.instruments.timetaggers.picoquant.chunk import (
    TagChunk,
    TimeOrder,
    concatenate,
)
from qnic.instruments.timetaggers.picoquant.errors import TagFileError, TagFileWarning
from qnic.instruments.timetaggers.picoquant.records import units_to_ps
from qnic.instruments.timetaggers.protocol import TagBatch

DEFAULT_TIMESTAMPS_UNIT_S = 1e-12
"""Unit assumed for a file without ``timestamps_unit`` when the caller gives none."""
DEFAULT_CHUNK_PHOTONS = 1 << 20
FORMAT_VERSION = "0.5"
FORMAT_URL = "http://photon-hdf5.org/"
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
# what h5py raises for a damaged object header, link or chunk
_H5_ERRORS = (OSError, KeyError, RuntimeError)


def _scalar(group: h5py.Group, path: str) -> Any:
    """A scalar dataset's value (bytes decoded), or None if absent."""
    if path not in group:
        return None
    value = group[path][()]
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value.item() if isinstance(value, np.generic) else value


class PhotonHdf5File:
    """A Photon-HDF5 file opened for reading.

    Args:
        file: a path or an open binary stream.
        timestamps_unit_s: the timestamp unit in s; overrides the file's
            (with a warning if they differ) and is needed for files without one.
        spot: which ``photon_dataN`` group of a multi-spot file to read.
        include_nanotimes: add ``nanotimes x tcspc_unit`` to each timestamp.
        name: the name used in messages (default: the path).

    Raises:
        TagFileError: not an HDF5 file, or no photon data group.
    """

    def __init__(self, file: str | os.PathLike[str] | Any, *, timestamps_unit_s: float | None = None,
                 spot: int = 0, include_nanotimes: bool = True, name: str | None = None) -> None:
        self.name = name or str(file if isinstance(file, (str, os.PathLike))
                                else getattr(file, "name", "<stream>"))
        try:
            self._h5 = h5py.File(file, "r")
        except OSError as exc:
            raise TagFileError(f"{self.name}: not a readable HDF5 file ({exc}); expected "
                               "Photon-HDF5") from None
        try:
            self._group = self._photon_group(spot)
            self._open_datasets(timestamps_unit_s, include_nanotimes)
        except _H5_ERRORS as exc:
            self._h5.close()
            raise TagFileError(f"{self.name}: corrupt HDF5 file ({exc}); expected "
                               "Photon-HDF5") from None
        except BaseException:
            self._h5.close()
            raise

    def _photon_group(self, spot: int) -> h5py.Group:
        h5 = self._h5
        spots = _scalar(h5, "setup/num_spots")
        if spot == 0 and "photon_data" in h5:
            return h5["photon_data"]
        key = f"photon_data{spot}"
        if key not in h5:
            found = sorted(k for k in h5 if k.startswith("photon_data"))
            raise TagFileError(f"{self.name}: no group photon_data (or {key}); expected "
                               f"Photon-HDF5 photon data, found groups {sorted(h5)}"
                               + (f" ({found})" if found else ""))
        if spots is None or int(spots) <= 1:
            warnings.warn(f"{self.name}: photon data are in group {key} of a single-spot file; "
                          "the Photon-HDF5 specification names it photon_data. Reading it.",
                          TagFileWarning, stacklevel=4)
        return h5[key]

    def _open_datasets(self, unit_s: float | None, include_nanotimes: bool) -> None:
        g = self._group
        if "timestamps" not in g:
            raise TagFileError(f"{self.name}: {g.name} has no timestamps dataset")
        self._ts = self._column(g, "timestamps")
        self.records = int(self._ts.shape[0])
        self._det = self._column(g, "detectors") if "detectors" in g else None
        file_unit = self._unit(g, "timestamps_specs/timestamps_unit")
        if unit_s is not None:
            if not unit_s > 0:
                raise ValueError(f"timestamps_unit_s must be > 0 s, got {unit_s}")
            if file_unit is not None and not math.isclose(file_unit, unit_s, rel_tol=1e-9):
                warnings.warn(f"{self.name}: using timestamps_unit_s={unit_s} s instead of the "
                              f"file's {file_unit} s", TagFileWarning, stacklevel=4)
            self.timestamps_unit_s = float(unit_s)
        elif file_unit is None:
            warnings.warn(
                f"{self.name}: no {g.name}/timestamps_specs/timestamps_unit (required by "
                f"Photon-HDF5); assuming {DEFAULT_TIMESTAMPS_UNIT_S} s. Pass timestamps_unit_s "
                "to set it", TagFileWarning, stacklevel=4)
            self.timestamps_unit_s = DEFAULT_TIMESTAMPS_UNIT_S
        else:
            self.timestamps_unit_s = float(file_unit)
        self.tcspc_unit_s: float | None = self._unit(g, "nanotimes_specs/tcspc_unit")
        self._nano = self._column(g, "nanotimes") if "nanotimes" in g and self.tcspc_unit_s \
            else None
        self._use_nano = include_nanotimes and self._nano is not None
        self.measurement_type = _scalar(g, "measurement_specs/measurement_type")
        self.format_version = _scalar(self._h5, "identity/format_version") or \
            _scalar(self._h5, "format_version")
        self.acquisition_duration_s: float | None = _scalar(self._h5, "acquisition_duration")

    def _column(self, g: h5py.Group, name: str) -> h5py.Dataset:
        """A per-photon dataset: 1-D integers, as long as the timestamps."""
        ds = g[name]
        if not isinstance(ds, h5py.Dataset) or ds.ndim != 1 or ds.dtype.kind not in "iu":
            raise TagFileError(f"{self.name}: {g.name}/{name} is not a 1-D integer dataset; "
                               "expected one value per photon (Photon-HDF5)")
        if name != "timestamps" and ds.shape[0] != self.records:
            raise TagFileError(f"{self.name}: {g.name}/{name} holds {ds.shape[0]} values for "
                               f"{self.records} timestamps; expected one per photon")
        return ds

    def _unit(self, g: h5py.Group, path: str) -> float | None:
        """A unit in seconds: a finite number > 0, or None when absent."""
        value = _scalar(g, path)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                math.isfinite(value) and value > 0):
            raise TagFileError(f"{self.name}: {g.name}/{path} is {str(value)[:40]!r}; expected "
                               "a time unit in seconds (a finite number > 0)")
        return float(value)

    def _slice(self, ds: h5py.Dataset, start: int, stop: int) -> np.ndarray:
        try:
            return np.asarray(ds[start:stop])
        except _H5_ERRORS as exc:
            raise TagFileError(f"{self.name}: cannot read {ds.name}[{start}:{stop}] "
                               f"({exc}); the file is damaged") from None

    def chunks(self, chunk_photons: int = DEFAULT_CHUNK_PHOTONS) -> Iterator[TagChunk]:
        """The photons in time order, ``chunk_photons`` at a time.

        Yields:
            :class:`TagChunk` with int64 ps ``timestamps``, int32 ``channels``
            and, for TCSPC files, the raw ``nsync`` (timestamps) and ``dtime``
            (nanotimes).
        """
        if chunk_photons < 1:
            raise ValueError(f"chunk_photons must be >= 1, got {chunk_photons}")
        order = TimeOrder()
        for start in range(0, self.records, chunk_photons):
            stop = min(start + chunk_photons, self.records)
            raw = self._slice(self._ts, start, stop).astype(np.int64)
            coarse = units_to_ps(raw, self.timestamps_unit_s)
            det = (np.zeros(raw.size, np.int32) if self._det is None
                   else self._slice(self._det, start, stop).astype(np.int32))
            arrays = {"timestamps": coarse, "channels": det}
            if self._nano is not None:
                nano = self._slice(self._nano, start, stop).astype(np.int32)
                arrays |= {"nsync": raw, "dtime": nano}
                if self._use_nano:
                    assert self.tcspc_unit_s is not None
                    arrays["timestamps"] = coarse + units_to_ps(nano, self.tcspc_unit_s)
            bound = None if stop == self.records else int(coarse[-1])
            out = order.push(arrays, bound)
            yield TagChunk(out["timestamps"], out["channels"], records=stop - start,
                           nsync=out.get("nsync"), dtime=out.get("dtime"))

    def read(self) -> TagChunk:
        """The whole file as one chunk."""
        return concatenate(self.chunks())

    def close(self) -> None:
        """Close the file."""
        self._h5.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _text(group: h5py.Group, name: str, value: str) -> None:
    group.create_dataset(name, data=np.bytes_(value.encode("utf-8")))


class PhotonHdf5Writer:
    """Write a TagBatch stream to a Photon-HDF5 0.5 file.

    Args:
        path: the file to create (overwritten).
        description: the mandatory ``/description`` text.
        author: ``identity/author``.
        author_affiliation: ``identity/author_affiliation``.
        compression: h5py compression of the photon arrays (e.g. "gzip").
    """

    def __init__(self, path: str | os.PathLike[str], *, description: str = "qnic-bench acquisition",
                 author: str = "", author_affiliation: str = "",
                 compression: str | None = None) -> None:
        self.path = Path(path)
        self._meta = {"description": description, "author": author,
                      "author_affiliation": author_affiliation}
        self._h5 = h5py.File(self.path, "w")
        pd = self._h5.create_group("photon_data")
        self._ts = pd.create_dataset("timestamps", shape=(0,), maxshape=(None,), dtype=np.int64,
                                     chunks=(1 << 16,), compression=compression)
        self._det = pd.create_dataset("detectors", shape=(0,), maxshape=(None,), dtype=np.uint16,
                                      chunks=(1 << 16,), compression=compression)
        self.photons = 0
        self._counts: dict[int, int] = {}
        self._start_ps: int | None = None
        self._stop_ps = 0
        self._last_ps: int | None = None

    def write(self, batch: TagBatch) -> None:
        """Append a batch (batches in time order; channels 0..65535).

        Raises:
            TagFileError: a batch earlier than the last one, or a bad channel.
        """
        ts, ch = batch.timestamps, batch.channels
        if ch.size and (ch.min() < 0 or ch.max() > 0xFFFF):
            raise TagFileError(f"{self.path}: detector IDs must be 0 to 65535, got "
                               f"{int(ch.min())} to {int(ch.max())}")
        if ts.size and self._last_ps is not None and ts[0] < self._last_ps:
            raise TagFileError(f"{self.path}: batches must be written in time order")
        n = self.photons
        for ds, data in ((self._ts, ts), (self._det, ch.astype(np.uint16))):
            ds.resize((n + ts.size,))
            ds[n:] = data
        self.photons += int(ts.size)
        if ts.size:
            self._last_ps = int(ts[-1])
        for c, k in batch.counts().items():
            self._counts[c] = self._counts.get(c, 0) + k
        self._start_ps = batch.start_ps if self._start_ps is None else self._start_ps
        self._stop_ps = max(self._stop_ps, batch.stop_ps)

    def close(self) -> None:
        """Write the metadata groups and close the file."""
        if not self._h5.id.valid:
            return
        h5, ids = self._h5, sorted(self._counts)
        for key, value in (("format_name", "Photon-HDF5"), ("format_version", FORMAT_VERSION),
                           ("format_url", FORMAT_URL)):
            h5.attrs[key] = np.bytes_(value.encode())
        _text(h5, "description", self._meta["description"])
        h5.create_dataset("acquisition_duration",
                          data=(self._stop_ps - (self._start_ps or 0)) * 1e-12)
        pd = h5["photon_data"]
        pd.create_dataset("timestamps_specs/timestamps_unit", data=1e-12)
        _text(pd, "measurement_specs/measurement_type", "generic")
        setup = h5.create_group("setup")
        numbers: dict[str, int | bool] = {
            "num_pixels": len(ids), "num_spots": 1, "num_spectral_ch": 1,
            "num_polarization_ch": 1, "num_split_ch": 1, "modulated_excitation": False,
            "lifetime": False}
        for name, number in numbers.items():
            setup.create_dataset(name, data=number)
        setup.create_dataset("excitation_alternated", data=np.array([False]))
        setup.create_dataset("detectors/id", data=np.array(ids, dtype=np.uint16))
        setup.create_dataset("detectors/id_hardware", data=np.array(ids, dtype=np.uint16))
        setup.create_dataset("detectors/counts",
                             data=np.array([self._counts[i] for i in ids], dtype=np.int64))
        ident = h5.create_group("identity")
        for key, value in (("software", "qnic-bench"), ("software_version", "0.1.0"),
                           ("format_name", "Photon-HDF5"), ("format_version", FORMAT_VERSION),
                           ("format_url", FORMAT_URL), ("filename", self.path.name),
                           ("filename_full", str(self.path.resolve())),
                           ("creation_time", dt.datetime.now().strftime("%Y-%m-%d %H:%M:%S")),
                           ("author", self._meta["author"]),
                           ("author_affiliation", self._meta["author_affiliation"])):
            _text(ident, key, value)
        h5.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def write_photon_hdf5(path: str | os.PathLike[str], batches: Iterable[TagBatch],
                      **options: Any) -> int:
    """Write TagBatches to a Photon-HDF5 file; return the photons written.

    Args:
        path: the file to create.
        batches: batches in time order.
        **options: passed to :class:`PhotonHdf5Writer`.
    """
    with PhotonHdf5Writer(path, **options) as writer:
        for batch in batches:
            writer.write(batch)
    return writer.photons
