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
from types import TracebackType
from typing import BinaryIO, Self

import numpy as np

from qnic.instruments.timetaggers.picoquant.chunk import (
    TagChunk,
    TimeOrder,
    concatenate,
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
from qnic.instruments.timetaggers.picoquant.records import (
    RecordType,
    decode,
    describe_known_types,
    units_to_ps,
)

DEFAULT_CHUNK_RECORDS = 1 << 20  # 4 MiB of records per chunk

# Legacy (pre-PTU) files start with an ASCII identifier instead of the magic.
_LEGACY_IDENTS = {
    b"PicoHarp 300": ".pt2/.pt3 (PicoHarp 300)",
    b"HydraHarp": ".ht2/.ht3 (HydraHarp 400)",
    b"TimeHarp 200": ".t3r (TimeHarp 200)",
    b"TimeHarp 260": ".t2/.t3 (TimeHarp 260)",
}
_OTHER_PQ_MAGICS = {b"PQHISTO": "a PicoQuant histogram file (.phu)",
                    b"PQRESLT": "a PicoQuant result file", b"PQDEFLT": "a PicoQuant default file",
                    b"PQCOMNT": "a PicoQuant comment file"}


def check_ptu_magic(head: bytes, source: str) -> None:
    """Raise a clear error unless ``head`` (the first bytes) starts a PTU file.

    Raises:
        UnsupportedFormatError: a legacy PicoQuant file or a PicoQuant file
            without TTTR records.
        PtuFormatError: anything else that is not a PTU file.
    """
    if head.startswith(PTU_MAGIC):
        return
    for ident, kind in _LEGACY_IDENTS.items():
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


class PtuFile:
    """A PTU file opened for reading.

    Args:
        file: a path, or an open binary stream (read from its current start).
        name: the name used in messages (default: the path).

    Raises:
        PtuFormatError: not a PTU file, unknown record type, missing or bad
            resolution tags.
        UnsupportedFormatError: a legacy or histogram PicoQuant file.
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
        code = h.require("TTResultFormat_TTTRRecType")
        try:
            self.record_type = RecordType(code)
        except ValueError:
            raise PtuFormatError(
                f"{self.name}: unknown TTTR record type 0x{int(code):08X} in "
                f"TTResultFormat_TTTRRecType; expected one of {describe_known_types()}") from None
        bits = h.get("TTResultFormat_BitsPerRecord", 32)
        if bits not in (0, 32):
            raise PtuFormatError(f"{self.name}: TTResultFormat_BitsPerRecord is {bits}; "
                                 "expected 32")
        self.global_resolution_s = float(h.require("MeasDesc_GlobalResolution"))
        self.resolution_s = float(h.get("MeasDesc_Resolution", self.global_resolution_s))
        for tag, value in (("MeasDesc_GlobalResolution", self.global_resolution_s),
                           ("MeasDesc_Resolution", self.resolution_s)):
            if not (value > 0 and np.isfinite(value)):
                raise PtuFormatError(f"{self.name}: {tag} is {value}; expected a positive "
                                     "resolution in seconds")
        self.sync_rate_hz = float(h.get("TTResult_SyncRate", 0) or 0)
        self.header_records: int | None = h.get("TTResult_NumberOfRecords")
        stop_ms = h.get("TTResult_StopAfter", h.get("MeasDesc_AcquisitionTime"))
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
    def raw_records(self, chunk_records: int = DEFAULT_CHUNK_RECORDS) -> Iterator[np.ndarray]:
        """The undecoded records, uint32 blocks of up to ``chunk_records``.

        Raises:
            PtuTruncatedError: after the last whole record, when the file ends
                inside a record.
        """
        if chunk_records < 1:
            raise ValueError(f"chunk_records must be >= 1, got {chunk_records}")
        self._fh.seek(self.header.data_offset)
        left = self.records if self._fh.seekable() else None
        done = 0
        while left is None or left > 0:
            n = chunk_records if left is None else min(chunk_records, left)
            data = self._fh.read(4 * n)
            block = np.frombuffer(data[: len(data) // 4 * 4], dtype="<u4")
            if block.size:
                done += block.size
                if left is not None:
                    left -= block.size
                yield block
            if len(data) % 4:
                raise self._truncated(done, len(data) % 4)
            if block.size == 0 or (left is None and len(data) < 4 * n):
                break
        if self.trailing_bytes:
            raise self._truncated(done, self.trailing_bytes)

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

        Overflow counting is carried across chunks, and tags are reordered
        across chunk boundaries (T3 micro times), so the chunks form one
        stream sorted in time. Memory is bounded by ``chunk_records``.

        Yields:
            One :class:`TagChunk` per block of records.

        Raises:
            PtuTruncatedError: after the chunks of every whole record, when
                the file ends inside a record.
        """
        rt, order, base = self.record_type, TimeOrder(), 0
        blocks = self.raw_records(chunk_records)
        block = next(blocks, None)
        broken: PtuTruncatedError | None = None
        while block is not None:
            try:
                following = next(blocks, None)
            except PtuTruncatedError as exc:  # hand out this block first
                following, broken = None, exc
            dec = decode(block, rt, base)
            base = dec.overflow_base
            coarse_ps = units_to_ps(dec.coarse, self.global_resolution_s)
            arrays = {"timestamps": coarse_ps, "channels": dec.channels}
            if rt.is_t3:
                assert dec.dtime is not None
                arrays["timestamps"] = coarse_ps + units_to_ps(dec.dtime, self.resolution_s)
                arrays |= {"nsync": dec.coarse, "dtime": dec.dtime}
                bound_units = dec.last_coarse
            else:
                bound_units = dec.overflow_base
            bound = None if following is None else int(
                units_to_ps(np.array([bound_units]), self.global_resolution_s)[0])
            out = order.push(arrays, bound)
            yield TagChunk(
                timestamps=out["timestamps"], channels=out["channels"].astype(np.int32),
                marker_timestamps=units_to_ps(dec.marker_coarse, self.global_resolution_s),
                marker_bits=dec.marker_bits, records=int(block.size),
                overflows=dec.overflows, nsync=out.get("nsync"), dtime=out.get("dtime"))
            block = following
        if broken is not None:
            raise broken

    def read(self) -> TagChunk:
        """The whole file as one chunk (for files that fit in memory)."""
        return concatenate(self.chunks())

    # -- lifetime ---------------------------------------------------------------
    def close(self) -> None:
        """Close the file (a stream passed in is left open)."""
        if getattr(self, "_own", False) and not self._fh.closed:
            self._fh.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"PtuFile({self.name!r}, {self.record_type.label}, records={self.records}, "
                f"global_resolution_s={self.global_resolution_s:g})")
