"""Read legacy PicoQuant TTTR files (.pt2, .pt3, .ht2, .ht3, .t3r) in chunks.

The files PicoQuant's software wrote before PTU: PicoHarp 300 T2/T3
(format 2.0), HydraHarp 400 T2/T3 (1.0 and 2.0) and TimeHarp 200 TTTR (5.0
and 6.0). Each is a fixed binary header
(:mod:`~qnic.instruments.timetaggers.picoquant.legacy_header`) followed by
32-bit records; the PicoHarp and HydraHarp records are those of the PTU
record types of the same names (PTU ids 0x00010203/0x00010303,
0x00010204/0x00010304 for format 1.0, 0x01010204/0x01010304 for 2.0:
reference ``shared/reference/picoquant-legacy.md`` section 2.4, after
phconvert's ``_ptu_rec_type``), so they are decoded by the same compiled
kernels, into the same :class:`~qnic.instruments.timetaggers.picoquant.chunk.TagChunk`
stream, as PTU files; docs/hardware.md has the time bases and channels.

The header's record count decides how many records are read. A file that
holds fewer (an acquisition cut short, a sample cut upstream) is read to its
last whole record with a ``TagFileWarning``; bytes after the counted
records (a stray byte appended by a copy) are ignored with a warning.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from qnic.instruments.timetaggers.picoquant.chunk import (
    DEFAULT_CHUNK_RECORDS,
    ChunkedFile,
    TagChunk,
)
from qnic.instruments.timetaggers.picoquant.decoder import (
    TIMEHARP200,
    ChunkDecoder,
    RecordBlocks,
    RecordFormat,
)
from qnic.instruments.timetaggers.picoquant.errors import TagFileWarning
from qnic.instruments.timetaggers.picoquant.legacy_header import (
    LegacyHeader,
    LegacyKind,
    read_legacy_header,
)
from qnic.instruments.timetaggers.picoquant.records import RecordType


class LegacyFile(ChunkedFile):
    """A legacy PicoQuant file opened for reading.

    Args:
        file: a path, or an open binary stream (read from its current start).
        name: the name used in messages (default: the path).

    Attributes:
        header: the parsed header.
        records: 32-bit records that will be read (the header's count, or
            fewer if the file is shorter).

    Raises:
        LegacyFormatError: an unknown identifier or version, a header cut
            off, or header values no such file holds.
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
            self._start = self._fh.tell() if self._fh.seekable() else 0
            self.header: LegacyHeader = read_legacy_header(self._fh, self.name)
            self.records = self._count_records()
        except BaseException:
            self.close()
            raise

    # -- header facts (the names PtuFile uses) ------------------------------------
    @property
    def kind(self) -> LegacyKind:
        """The file type (.pt2, .pt3, .ht2, .ht3, .t3r)."""
        return self.header.kind

    @property
    def record_type(self) -> RecordType | None:
        """The PTU record type of the same records; None for TimeHarp 200 .t3r."""
        return self.header.record_type

    @property
    def record_format(self) -> RecordFormat:
        """How the records are decoded."""
        rt = self.header.record_type
        return TIMEHARP200 if rt is None else RecordFormat.of(rt)

    @property
    def is_t3(self) -> bool:
        """True for a sync-based T3 file (.pt3, .ht3)."""
        return self.header.kind.is_t3

    @property
    def global_resolution_s(self) -> float:
        """T2 tag unit, T3 sync period (1 / header sync rate), or .t3r clock tick (s)."""
        return self.header.global_resolution_s

    @property
    def resolution_s(self) -> float:
        """Micro-time bin (s); the global resolution for T2."""
        return self.header.resolution_s

    @property
    def sync_rate_hz(self) -> float:
        """The sync rate the header gives (rate meter, Hz)."""
        return self.header.sync_rate_hz

    @property
    def header_records(self) -> int:
        """The record count the header gives."""
        return self.header.header_records

    @property
    def acquisition_time_s(self) -> float:
        """How long the measurement ran (the header's ``StopAfter``), s."""
        return self.header.acquisition_time_s

    def _count_records(self) -> int:
        said = self.header.header_records
        if not self._fh.seekable():
            return said
        size = self._fh.seek(0, os.SEEK_END) - self._start - self.header.data_offset
        whole, extra = divmod(max(size, 0), 4)
        if whole < said:
            broken = f" and {extra} bytes of a broken one" if extra else ""
            warnings.warn(
                f"{self.name}: the header says {said} records but the file holds {whole} whole "
                f"records{broken} (cut short); reading the {whole} present",
                TagFileWarning, stacklevel=3)
            return whole
        beyond = size - 4 * said
        if beyond:
            warnings.warn(
                f"{self.name}: {beyond} bytes after the header's {said} records are not "
                "records and are ignored", TagFileWarning, stacklevel=3)
        return said

    # -- records ----------------------------------------------------------------
    def chunks(self, chunk_records: int = DEFAULT_CHUNK_RECORDS) -> Iterator[TagChunk]:
        """Decode the file in chunks of ``chunk_records`` records.

        As :meth:`PtuFile.chunks <qnic.instruments.timetaggers.picoquant.reader.PtuFile.chunks>`:
        one compiled pass per block, overflows carried across chunks, T3
        tags reordered across chunk boundaries, memory bounded by
        ``chunk_records``.

        Yields:
            One :class:`TagChunk` per block of records.
        """
        decoder = ChunkDecoder(self.record_format, self.global_resolution_s,
                               self.resolution_s, self.name)
        blocks = RecordBlocks(self._fh, self._start + self.header.data_offset, self.records,
                              chunk_records)
        for block, last in blocks:
            yield decoder.decode(block, last)
        tail = decoder.finish()
        if tail is not None:
            yield tail
        if blocks.records_read < self.records:  # a stream that ended early
            warnings.warn(
                f"{self.name}: the header says {self.header_records} records but the stream "
                f"held {blocks.records_read} whole records; read those", TagFileWarning,
                stacklevel=2)

    def __repr__(self) -> str:
        return (f"LegacyFile({self.name!r}, {self.header.label}, records={self.records}, "
                f"global_resolution_s={self.global_resolution_s:g})")
