"""Any time-tag file the project reads: tell its format, open it, summarize it.

Formats, told by the first bytes (never the name): PicoQuant PTU (magic
``PQTTTR``); the legacy PicoQuant files (.pt2/.pt3 of the PicoHarp 300,
.ht2/.ht3 of the HydraHarp 400, .t3r of the TimeHarp 200: an ASCII
identifier, "PicoHarp 300", "HydraHarp" or "TimeHarp 200"), read in chunks
as PTU files are; Photon-HDF5 (the HDF5 signature) and NumPy ``.npz`` (a zip) as
written by ``qnic chsh --save-tags``: arrays ``timestamps_ps_XY`` and
``channels_XY`` per setting XY, or one pair ``timestamps_ps`` and
``channels`` (an ``.npz`` is read whole: NumPy's format has no partial
reads, and these side files hold one run).

(This module serves the replay tagger and ``qnic tags`` across formats; it
lives in the ``picoquant`` package only because PTU is the main format.)
"""

from __future__ import annotations

import os
import re
import warnings
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, BinaryIO

import numpy as np

from qnic.instruments.timetaggers.picoquant.chunk import TagChunk
from qnic.instruments.timetaggers.picoquant.errors import TagFileError, TagFileWarning
from qnic.instruments.timetaggers.picoquant.legacy import LegacyFile
from qnic.instruments.timetaggers.picoquant.legacy_header import LEGACY_IDENTS
from qnic.instruments.timetaggers.picoquant.reader import (
    DEFAULT_CHUNK_RECORDS,
    PtuFile,
    check_ptu_magic,
)

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_ZIP_MAGIC = b"PK\x03\x04"
_NPZ_KEY = re.compile(r"timestamps_ps(?:_(\w+))?$")
# Warn when the tags outlast the header's acquisition time by more than 5 %
# (stops are rounded to ms), or span less than half of it (the last tag comes
# before the stop, but not that long before in a working acquisition).
_SPAN_OVER, _SPAN_UNDER = 1.05, 0.5
# what numpy and zipfile raise for a damaged .npz: a bad zip directory or
# member (BadZipFile, NotImplementedError for an unknown zip version, a
# zlib.error in a compressed member, EOFError when a member ends early),
# or a bad .npy header (ValueError)
_NPZ_ERRORS = (OSError, ValueError, EOFError, NotImplementedError, zipfile.BadZipFile,
               zlib.error)

FileSource = str | os.PathLike[str] | BinaryIO


class TagFileFormat(str, Enum):
    """The time-tag file formats the project reads."""

    PTU = "ptu"
    PICOQUANT_LEGACY = "picoquant-legacy"
    PHOTON_HDF5 = "photon-hdf5"
    NPZ = "npz"


def _head(source: FileSource, n: int = 16) -> bytes:
    if isinstance(source, (str, os.PathLike)):
        try:
            with open(source, "rb") as fh:
                return fh.read(n)
        except OSError as exc:
            raise TagFileError(f"{source}: cannot open it ({exc.strerror})") from None
    pos = source.tell()
    head = source.read(n)
    source.seek(pos)
    return head


def detect_format(source: FileSource, name: str | None = None) -> TagFileFormat:
    """The format of a time-tag file, from its first bytes.

    Raises:
        UnsupportedFormatError: a PicoQuant file the project does not read
            (TimeHarp 260 .t2/.t3, histograms).
        TagFileError: not a format the project reads.
    """
    head = _head(source)
    name = name or str(source)
    if any(head.startswith(ident) for ident in LEGACY_IDENTS):
        return TagFileFormat.PICOQUANT_LEGACY
    if head.startswith(_HDF5_MAGIC):
        return TagFileFormat.PHOTON_HDF5
    if head.startswith(_ZIP_MAGIC):
        return TagFileFormat.NPZ
    try:
        check_ptu_magic(head, name)
    except TagFileError as exc:
        if "not a PicoQuant PTU file" not in str(exc):
            raise
        raise TagFileError(f"{name}: unknown time-tag file format (starts with {head[:8]!r}); "
                           "expected a PicoQuant PTU, a Photon-HDF5 or a qnic .npz file") from None
    return TagFileFormat.PTU


def _npz_arrays(source: FileSource, name: str, setting: str | None) -> tuple[np.ndarray, np.ndarray]:
    """The (timestamps, channels) of a qnic .npz side file, in time order."""
    try:
        with np.load(source, allow_pickle=False) as npz:
            pairs = {}
            for key in npz.files:
                m = _NPZ_KEY.match(key)
                if m is None:
                    continue
                suffix = m.group(1)
                ch_key = "channels" if suffix is None else f"channels_{suffix}"
                if ch_key not in npz.files:
                    raise TagFileError(f"{name}: {key} has no matching {ch_key} array")
                pairs[suffix or ""] = (npz[key], npz[ch_key])
    except _NPZ_ERRORS as exc:
        if isinstance(exc, TagFileError):
            raise
        raise TagFileError(f"{name}: not a readable .npz file ({type(exc).__name__}: "
                           f"{exc})") from None
    if not pairs:
        raise TagFileError(f"{name}: no timestamps_ps_XY / channels_XY arrays; expected the "
                           "tags file of `qnic chsh --save-tags`")
    if setting is not None:
        if setting not in pairs:
            raise TagFileError(f"{name}: no setting {setting!r}; expected one of "
                               f"{sorted(pairs)}")
        pairs = {setting: pairs[setting]}
    for key, (ts, ch) in pairs.items():
        if (ts.dtype.kind not in "iu" or ch.dtype.kind not in "iu" or ts.shape != ch.shape
                or ts.ndim != 1):
            raise TagFileError(f"{name}: setting {key!r}: expected integer picosecond "
                               f"timestamps and integer channels of one length, got "
                               f"{ts.dtype}{ts.shape} and {ch.dtype}{ch.shape}")
    ts = np.concatenate([p[0] for p in pairs.values()]).astype(np.int64)
    ch = np.concatenate([p[1] for p in pairs.values()]).astype(np.int32)
    order = np.argsort(ts, kind="stable")
    return ts[order], ch[order]


def open_chunks(source: FileSource, fmt: TagFileFormat | None = None, *,
                chunk_records: int = DEFAULT_CHUNK_RECORDS, name: str | None = None,
                setting: str | None = None, timestamps_unit_s: float | None = None,
                ) -> tuple[Iterator[TagChunk], Callable[[], None]]:
    """Open a time-tag file as a stream of chunks in time order.

    Args:
        source: a path or a seekable binary stream.
        fmt: the format (default: told from the first bytes).
        chunk_records: records (tags) per chunk.
        name: the name used in messages.
        setting: ``.npz`` only: one setting ("00", ...); default all in time order.
        timestamps_unit_s: Photon-HDF5 only: the timestamp unit, if the file
            has none (or to override it).

    Returns:
        ``(chunks, close)``.
    """
    name = name or str(getattr(source, "name", source))
    fmt = fmt or detect_format(source, name)
    if fmt == TagFileFormat.PTU:
        ptu = PtuFile(source, name=name)
        return ptu.chunks(chunk_records), ptu.close
    if fmt == TagFileFormat.PICOQUANT_LEGACY:
        legacy = LegacyFile(source, name=name)
        return legacy.chunks(chunk_records), legacy.close
    if fmt == TagFileFormat.PHOTON_HDF5:
        from qnic.instruments.timetaggers.photon_hdf5 import PhotonHdf5File

        h5 = PhotonHdf5File(source, timestamps_unit_s=timestamps_unit_s, name=name)
        return h5.chunks(chunk_records), h5.close
    ts, ch = _npz_arrays(source, name, setting)
    chunks = (TagChunk(ts[i:i + chunk_records], ch[i:i + chunk_records],
                       records=min(chunk_records, ts.size - i))
              for i in range(0, ts.size, chunk_records))
    return chunks, lambda: None


@dataclass(frozen=True)
class TagFileInfo:
    """What a time-tag file holds (``qnic tags info``, docs/commands.md).

    Attributes:
        format: the file's format.
        records: records in the data (PTU: 32-bit records, overflows and
            markers included; other formats: tags).
        events: tags per hardware channel (markers excluded).
        first_ps: earliest tag (int ps), None if there is none.
        last_ps: latest tag (int ps), None if there is none.
        overflows: timer overflows (wraps) counted (0 outside PTU).
        markers: marker records.
        details: format-specific facts (record type, resolutions, header values).
    """

    format: TagFileFormat
    records: int
    events: dict[int, int]
    first_ps: int | None
    last_ps: int | None
    overflows: int = 0
    markers: int = 0
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The docs/commands.md keys, then the details; JSON-ready (channel keys as str)."""
        return {"format": self.format.value, "records": self.records,
                "events": {str(k): v for k, v in sorted(self.events.items())},
                "first_ps": self.first_ps, "last_ps": self.last_ps,
                "overflows": self.overflows, "markers": self.markers, **self.details}


def _ptu_details(ptu: PtuFile) -> dict[str, Any]:
    return {"record_type": ptu.record_type.label,
            "record_type_code": f"0x{ptu.record_type.value:08X}",
            "global_resolution_s": ptu.global_resolution_s, "resolution_s": ptu.resolution_s,
            "sync_rate_hz": ptu.sync_rate_hz, "header_records": ptu.header_records,
            "header_duration_s": ptu.acquisition_time_s,
            "hardware": ptu.header.get("HW_Type"),
            # the settings' order of a `qnic chsh --save-tags` file (docs/chsh.md)
            "chsh_settings": ptu.header.get("UsrCHSH_Settings")}


def _legacy_details(f: LegacyFile) -> dict[str, Any]:
    h, rt = f.header, f.record_type
    return {"record_type": h.label,
            "record_type_code": None if rt is None else f"0x{rt.value:08X}",
            "file_type": h.kind.value, "format_version": h.format_version,
            "global_resolution_s": f.global_resolution_s, "resolution_s": f.resolution_s,
            "sync_rate_hz": f.sync_rate_hz, "header_records": f.header_records,
            "header_duration_s": f.acquisition_time_s,
            "hardware": h.fields.get("HardwareIdent", h.fields.get("Board[0].HardwareIdent"))
            or h.ident,
            "creator": h.fields.get("CreatorName"), "file_time": h.fields.get("FileTime")}


def scan(source: FileSource, fmt: TagFileFormat | None = None, *,
         chunk_records: int = DEFAULT_CHUNK_RECORDS, name: str | None = None,
         setting: str | None = None, timestamps_unit_s: float | None = None) -> TagFileInfo:
    """Read a whole file once, in chunks, and summarize it.

    Warns (``TagFileWarning``) when the tags of a PTU or legacy PicoQuant
    file span more than 105 % or less than 50 % of the header's acquisition
    time: for T3 files this usually means the header's sync rate, which sets
    the time base, is wrong. A file holding fewer records than its header
    says is not checked (its reader has warned that it is cut short).

    Args: as for :func:`open_chunks`.
    """
    name = name or str(getattr(source, "name", source))
    fmt = fmt or detect_format(source, name)
    details: dict[str, Any] = {}
    summary = None
    if fmt == TagFileFormat.PTU:
        ptu = PtuFile(source, name=name)
        details = _ptu_details(ptu)
        chunks, close = ptu.chunks(chunk_records), ptu.close
        # T2: counted in one compiled pass, the tags never written out
        try:
            summary = ptu.summary(chunk_records)
        except BaseException:
            ptu.close()
            raise
    elif fmt == TagFileFormat.PICOQUANT_LEGACY:
        legacy = LegacyFile(source, name=name)
        details = _legacy_details(legacy)
        chunks, close = legacy.chunks(chunk_records), legacy.close
    else:
        chunks, close = open_chunks(source, fmt, chunk_records=chunk_records, name=name,
                                    setting=setting, timestamps_unit_s=timestamps_unit_s)
    counts: dict[int, int] = {}
    first = last = None
    records = overflows = markers = 0
    try:
        if summary is not None:
            records, counts, overflows, markers = (summary.records, summary.events,
                                                   summary.overflows, summary.markers)
            first, last = summary.first_ps, summary.last_ps
            chunks = iter(())
        for chunk in chunks:
            records += chunk.records
            overflows += chunk.overflows
            markers += int(chunk.marker_bits.size)
            for ch, n in chunk.counts().items():
                counts[ch] = counts.get(ch, 0) + n
            if len(chunk):
                first = int(chunk.timestamps[0]) if first is None else first
                last = int(chunk.timestamps[-1])
    finally:
        close()
    header_s = details.get("header_duration_s")
    # a file cut short (fewer records than its header says) has been warned of;
    # its span is short for that reason
    cut_short = records < (details.get("header_records") or 0)
    if header_s and last is not None:
        span_s = last * 1e-12
        details["duration_s"] = span_s
        if not cut_short and not _SPAN_UNDER * header_s <= span_s <= _SPAN_OVER * header_s:
            warnings.warn(
                f"{name}: the tags span {span_s:.6g} s but the header's acquisition time is "
                f"{header_s:.6g} s; the data are read as they are"
                + (" (T3: the time base is the sync period, 1 / the header's sync rate; PTU: "
                   "MeasDesc_GlobalResolution = 1/TTResult_SyncRate; check the sync rate)"
                   if details.get("sync_rate_hz") else ""),
                TagFileWarning, stacklevel=2)
    return TagFileInfo(fmt, records, counts, first, last, overflows, markers, details)
