"""Read PicoQuant PTU files (T2 and T3) in bounded-memory chunks.

Times are int64 picoseconds from the start of the measurement:

* T2: (overflows x period + timetag) x ``MeasDesc_GlobalResolution``, the
  tag's global arrival time.
* T3: nsync x ``MeasDesc_GlobalResolution`` + dtime x ``MeasDesc_Resolution``:
  the sync-based global time plus the micro time, i.e. the photon's arrival
  time on the same clock as T2 tags, so coincidence analysis works on T3 files
  unchanged. (The sync period is measured, ``1/TTResult_SyncRate``, and not
  exact; for TCSPC work the raw ``nsync`` and ``dtime`` of each tag are in the
  chunk too.)

Channels are numbered as the hardware numbers them (see
:mod:`~qnic.instruments.timetaggers.picoquant.records`: HydraHarp-family field + 1,
T2 sync = 0; PicoHarp as recorded). Markers are reported apart.

The data, not the header, decides how many records there are: a header
``TTResult_NumberOfRecords`` that disagrees with the bytes present (an
interrupted or still-running measurement, a patched file) gives a
``TagFileWarning`` and every whole record present is read. A file that ends
inside a record (an interrupted write or copy) is read up to the break: the
chunk iterator hands out every whole record, then raises
:class:`~qnic.instruments.timetaggers.picoquant.errors.PtuTruncatedError` naming
the broken record's index and byte offset.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np

from qnic.instruments.timetaggers.picoquant.chunk import (
    DEFAULT_CHUNK_RECORDS,
    ChunkedFile,
    TagChunk,
)
from qnic.instruments.timetaggers.picoquant.decoder import (
    ChunkDecoder,
    FileSummary,
    RecordBlocks,
    RecordFormat,
    summarizer,
)
from qnic.instruments.timetaggers.picoquant.errors import (
    PtuFormatError,
    PtuTruncatedError,
    TagFileWarning,
    UnsupportedFormatError,
)
from qnic.instruments.timetaggers.picoquant.header import (
    PTU_MAGIC,
    PtuHeader,
    read_header,
)
from qnic.instruments.timetaggers.picoquant.legacy_header import LEGACY_IDENTS
from qnic.instruments.timetaggers.picoquant.records import (
    RecordType,
    describe_known_types,
    split_unit,
)


# Older PicoQuant files this project does not read (TimeHarp 260's own .t2/.t3).
_UNREAD_IDENTS = {b"TimeHarp 260": ".t2/.t3 (TimeHarp 260)"}
_OTHER_PQ_MAGICS = {b"PQHISTO": "a PicoQuant histogram file (.phu)",
                    b"PQRESLT": "a PicoQuant result file", b"PQDEFLT": "a PicoQuant default file",
                    b"PQCOMNT": "a PicoQuant comment file"}


# Physically possible resolutions: PicoQuant's finest bin is a fraction of a
# picosecond (0.5 ps tags in HydraHarp 2.0 files), so 1 fs leaves room; a T3
# file's global resolution is the sync period, and no sync is slower than 1 Hz.
# Outside these a header is corrupt (a value of 1e-300 would make every time 0).
MIN_RESOLUTION_S = 1e-15
MAX_RESOLUTION_S = 1.0
# No sync input counts faster than a few GHz (PicoQuant's take at most some
# hundreds of MHz); a negative or larger rate is a corrupt header.
MAX_SYNC_RATE_HZ = 1e10


def check_ptu_magic(head: bytes, source: str) -> None:
    """Raise a clear error unless ``head`` (the first bytes) starts a PTU file.

    Raises:
        PtuFormatError: a legacy PicoQuant file (read by
            :class:`~qnic.instruments.timetaggers.picoquant.legacy.LegacyFile`),
            or anything else that is not a PTU file.
        UnsupportedFormatError: a TimeHarp 260 .t2/.t3 file or a PicoQuant
            file without TTTR records.
    """
    if head.startswith(PTU_MAGIC):
        return
    for ident, kind in LEGACY_IDENTS.items():
        if head.startswith(ident):
            raise PtuFormatError(
                f"{source}: not a PTU file but a legacy PicoQuant {kind} file; open it with "
                "picoquant.legacy.LegacyFile, or picoquant.files.open_chunks, which tells "
                "the format from the first bytes")
    for ident, kind in _UNREAD_IDENTS.items():
        if head.startswith(ident):
            raise UnsupportedFormatError(
                f"{source}: a legacy PicoQuant {kind} file; this format is not supported. "
                "Expected a PTU file (magic PQTTTR): export or convert the data to PTU")
    for magic, kind in _OTHER_PQ_MAGICS.items():
        if head.startswith(magic):
            raise UnsupportedFormatError(f"{source}: {kind}, which holds no time tags; "
                                         "expected a PTU file of TTTR records (magic PQTTTR)")
    raise PtuFormatError(f"{source}: not a PicoQuant PTU file: starts with {head[:8]!r}, "
                         f"expected {PTU_MAGIC!r}")


class PtuFile(ChunkedFile):
    """A PTU file opened for reading.

    Args:
        file: a path, or an open binary stream (read from its current start).
        name: the name used in messages (default: the path).

    Raises:
        PtuFormatError: not a PTU file (a legacy PicoQuant file included),
            unknown record type, missing or bad resolution tags.
        UnsupportedFormatError: a histogram PicoQuant file.
    """

    def __init__(self, file: str | os.PathLike[str] | BinaryIO, *, name: str | None = None) -> None:
        if isinstance(file, (str, os.PathLike)):
            self.name = name or str(file)
            self._fh: BinaryIO = open(Path(file), "rb")  # noqa: SIM115 - closed by close()
            self._own = True
        else:
            self.name = name or str(getattr(file, "name", "<stream>"))
            self._fh, self._own = file, False
        try:
            self._start = self._fh.tell()
            check_ptu_magic(self._fh.read(16), self.name)
            self._fh.seek(self._start)
            self.header: PtuHeader = read_header(self._fh, self.name)
            self._check_header()
            self.records = self._count_records()
        except BaseException:
            self.close()
            raise

    # -- header ---------------------------------------------------------------
    def _check_header(self) -> None:
        h = self.header
        code = h.number("TTResultFormat_TTTRRecType", required=True)
        try:
            self.record_type = RecordType(code)
        except ValueError:
            raise PtuFormatError(
                f"{self.name}: unknown TTTR record type 0x{int(code):08X} in "
                f"TTResultFormat_TTTRRecType; expected one of {describe_known_types()}") from None
        bits = h.number("TTResultFormat_BitsPerRecord", 32)
        if bits not in (0, 32):
            raise PtuFormatError(f"{self.name}: TTResultFormat_BitsPerRecord is {bits}; "
                                 "expected 32")
        self.global_resolution_s = float(h.number("MeasDesc_GlobalResolution", required=True))
        self.resolution_s = float(h.number("MeasDesc_Resolution", self.global_resolution_s))
        for tag, value in (("MeasDesc_GlobalResolution", self.global_resolution_s),
                           ("MeasDesc_Resolution", self.resolution_s)):
            if not (MIN_RESOLUTION_S <= value <= MAX_RESOLUTION_S):
                raise PtuFormatError(f"{self.name}: {tag} is {value}; expected a resolution "
                                     f"in seconds from {MIN_RESOLUTION_S:g} to "
                                     f"{MAX_RESOLUTION_S:g}")
        self.sync_rate_hz = float(h.number("TTResult_SyncRate", 0) or 0)
        if not 0 <= self.sync_rate_hz <= MAX_SYNC_RATE_HZ:
            raise PtuFormatError(f"{self.name}: TTResult_SyncRate is {self.sync_rate_hz}; "
                                 f"expected a rate in Hz from 0 to {MAX_SYNC_RATE_HZ:g}")
        records = h.number("TTResult_NumberOfRecords")
        self.header_records: int | None = None if records is None else int(records)
        stop_ms = h.number("TTResult_StopAfter", h.number("MeasDesc_AcquisitionTime"))
        self.acquisition_time_s: float | None = None if stop_ms is None else stop_ms / 1000

    def _count_records(self) -> int:
        offset = self.header.data_offset
        self.trailing_bytes = 0
        if not self._fh.seekable():
            return int(self.header_records or 0)
        size = self._fh.seek(0, os.SEEK_END) - offset
        self._fh.seek(offset)
        records, extra = divmod(max(size, 0), 4)
        self.trailing_bytes = extra
        # A broken last record is reported by chunks() (PtuTruncatedError), which
        # names the header's count too; one diagnosis, not a warning as well.
        if not extra and self.header_records != records:
            warnings.warn(
                f"{self.name}: header TTResult_NumberOfRecords says {self.header_records} "
                f"records but the file holds {records}; reading the {records} present",
                TagFileWarning, stacklevel=3)
        return records

    @property
    def is_t3(self) -> bool:
        """True for a T3 (sync-based) file."""
        return self.record_type.is_t3

    # -- records ----------------------------------------------------------------
    def _blocks(self, chunk_records: int) -> RecordBlocks:
        count = self.records if self._fh.seekable() else None
        return RecordBlocks(self._fh, self.header.data_offset, count, chunk_records)

    def raw_records(self, chunk_records: int = DEFAULT_CHUNK_RECORDS) -> Iterator[np.ndarray]:
        """The undecoded records, uint32 blocks of up to ``chunk_records``.

        Raises:
            PtuTruncatedError: after the last whole record, when the file ends
                inside a record.
        """
        blocks = self._blocks(chunk_records)
        for block, _ in blocks:
            yield block.copy()
        self._raise_if_broken(blocks)

    def _raise_if_broken(self, blocks: RecordBlocks) -> None:
        partial = blocks.partial_bytes or self.trailing_bytes
        if partial:
            raise self._truncated(blocks.records_read, partial)

    def _truncated(self, index: int, present: int) -> PtuTruncatedError:
        offset = self.header.data_offset + 4 * index
        said = "" if self.header_records is None else \
            f"; the header says {self.header_records} records"
        return PtuTruncatedError(
            f"{self.name}: file ends inside record {index} at byte offset {offset}: "
            f"{present} of its 4 bytes present{said}. The {index} whole records before "
            "it were read", index, offset)

    def chunks(self, chunk_records: int = DEFAULT_CHUNK_RECORDS) -> Iterator[TagChunk]:
        """Decode the file in chunks of ``chunk_records`` records.

        Each block of records is decoded in one compiled pass. Overflow
        counting is carried across chunks, and T3 tags are reordered across
        chunk boundaries (micro times), so the chunks form one stream sorted
        in time. Memory is bounded by ``chunk_records``, not the file.

        Yields:
            One :class:`TagChunk` per block of records.

        Raises:
            PtuTruncatedError: after the chunks of every whole record, when
                the file ends inside a record.
        """
        decoder = ChunkDecoder(RecordFormat.of(self.record_type), self.global_resolution_s,
                               self.resolution_s, self.name)
        blocks = self._blocks(chunk_records)
        for block, last in blocks:
            yield decoder.decode(block, last)
        tail = decoder.finish()
        if tail is not None:
            yield tail
        self._raise_if_broken(blocks)

    def summary(self, chunk_records: int = DEFAULT_CHUNK_RECORDS) -> FileSummary | None:
        """What :func:`~qnic.instruments.timetaggers.picoquant.files.scan` needs,
        for T2 files without decoding the tags into arrays (None for T3).

        One compiled counting pass per block: records, tags per channel, the
        first and last tag time, timer wraps and markers.

        Raises:
            PtuTruncatedError: when the file ends inside a record.
        """
        fmt = RecordFormat.of(self.record_type)
        summarize = summarizer(fmt)
        if summarize is None:
            return None
        counts = np.zeros(66, np.int64)
        base = 0
        lo, hi = np.iinfo(np.int64).max, np.iinfo(np.int64).min
        records = overflows = markers = 0
        blocks = self._blocks(chunk_records)
        for block, _ in blocks:
            n_mk, ovf, base, b_lo, b_hi = summarize(block, base, counts)
            records += int(block.size)
            overflows += int(ovf)
            markers += int(n_mk)
            lo, hi = min(lo, int(b_lo)), max(hi, int(b_hi))
        self._raise_if_broken(blocks)
        g_whole, g_frac = split_unit(self.global_resolution_s)

        def ps(units: int) -> int:
            return units * g_whole + (int(np.rint(units * g_frac)) if g_frac else 0)

        first, last = (ps(lo), ps(hi)) if lo <= hi else (None, None)
        return FileSummary(records, {int(c): int(counts[c]) for c in np.flatnonzero(counts)},
                           first, last, overflows, markers)

    def __repr__(self) -> str:
        return (f"PtuFile({self.name!r}, {self.record_type.label}, records={self.records}, "
                f"global_resolution_s={self.global_resolution_s:g})")
