"""Write PTU files: Generic T2 files of the project's own acquisitions.

:class:`PtuWriter` turns a stream of :class:`TagBatch` objects into a
Generic T2 PTU file (``TTResultFormat_TTTRRecType`` 0x00010207, the record
layout of MultiHarp and PicoHarp 330, read by PicoQuant's software, ptufile,
tttrlib, ETA and ``Read_PTU``). Hardware channels 1..64 become record
channels 0..63 (PicoQuant numbering, so readers print them back as 1..64);
channel 0 is written as a sync record. Timer overflows are written as
counted overflow records of at most 127 wraps each (see
``OVERFLOWS_PER_RECORD``). The header carries the tags PicoQuant's
own T2 files carry (file GUID, creator, measurement mode and submode, record
type, resolutions, acquisition time, input channel count and rates, number of
records); the record count, stop time and rates are patched in on
:meth:`PtuWriter.close`, so the target must be seekable.

:func:`write_ptu_records` writes raw records of any type under a minimal
header, for tests and converters.
"""

from __future__ import annotations

import datetime as dt
import os
import struct
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, Self

import numpy as np

from qnic.instruments.timetaggers.picoquant.errors import TagFileError
from qnic.instruments.timetaggers.picoquant.header import (
    HEADER_END,
    PTU_MAGIC,
    PTU_VERSION,
    TagType,
    encode_tag,
)
from qnic.instruments.timetaggers.picoquant.records import RecordType, encode_generic_t2
from qnic.instruments.timetaggers.protocol import TagBatch

# ptufile (2026.2) multiplies an overflow count by the 2^25 period in 32 bits, so
# it misreads counts above 127; records of at most 127 overflows are read right
# by every reader and cost one record per 4.3 ms of silence.
OVERFLOWS_PER_RECORD = 127
CREATOR = "qnic-bench"
CREATOR_VERSION = "0.1.0"
_MODE_T2, _MODE_T3 = 2, 3
_TAG_HEAD = 40  # Tag_Id + Tag_Idx + Tag_TypeCode: the value follows


def _header(tags: Sequence[tuple[str, Any, int, TagType | None]]) -> tuple[bytes, dict[str, int]]:
    """Encode tags; return the header bytes and each (name, index) value offset."""
    parts, offsets, pos = [PTU_MAGIC + PTU_VERSION], {}, 16
    for name, value, index, typ in (*tags, (HEADER_END, None, -1, TagType.EMPTY8)):
        data = encode_tag(name, value, index, typ)
        offsets[name if index < 0 else f"{name}({index})"] = pos + _TAG_HEAD
        parts.append(data)
        pos += len(data)
    return b"".join(parts), offsets


def write_ptu_records(path: str | os.PathLike[str] | BinaryIO, record_type: RecordType | int,
                      records: np.ndarray, *, global_resolution_s: float,
                      resolution_s: float | None = None, sync_rate_hz: float = 0.0,
                      header_records: int | None = None,
                      extra_tags: Mapping[str, Any] | None = None) -> None:
    """Write raw 32-bit TTTR records under a minimal PTU header.

    Args:
        path: the file to create, or a writable binary stream.
        record_type: ``TTResultFormat_TTTRRecType`` (any int, so tests can
            write unknown types too).
        records: uint32 (N,) raw records.
        global_resolution_s: ``MeasDesc_GlobalResolution`` in s.
        resolution_s: ``MeasDesc_Resolution`` in s (default: the global one).
        sync_rate_hz: ``TTResult_SyncRate``.
        header_records: ``TTResult_NumberOfRecords`` to claim (default: N);
            lets tests build files whose header disagrees with the data.
        extra_tags: more tags, written before ``Header_End``.
    """
    recs = np.asarray(records, dtype="<u4")
    is_t3 = (int(record_type) >> 8) & 0xFF == 0x03
    tags: list[tuple[str, Any, int, TagType | None]] = [
        ("File_GUID", f"{{{uuid.uuid4()}}}".upper(), -1, None),
        ("Measurement_Mode", _MODE_T3 if is_t3 else _MODE_T2, -1, None),
        ("Measurement_SubMode", 0, -1, None),
        ("TTResultFormat_TTTRRecType", int(record_type), -1, None),
        ("TTResultFormat_BitsPerRecord", 32, -1, None),
        ("MeasDesc_GlobalResolution", float(global_resolution_s), -1, None),
        ("MeasDesc_Resolution", float(resolution_s or global_resolution_s), -1, None),
        ("TTResult_SyncRate", round(sync_rate_hz), -1, None),
        ("TTResult_NumberOfRecords", recs.size if header_records is None else header_records,
         -1, None),
    ]
    tags += [(k, v, -1, None) for k, v in (extra_tags or {}).items()]
    head, _ = _header(tags)
    if isinstance(path, (str, os.PathLike)):
        with open(Path(path), "wb") as fh:
            fh.write(head + recs.tobytes())
    else:
        path.write(head + recs.tobytes())


class PtuWriter:
    """Write TagBatches to a Generic T2 PTU file.

    Args:
        path: the file to create (overwritten if it exists).
        input_channels: the tagger's input channels (1..64), for the header's
            ``HW_InpChannels`` and ``TTResult_InputRate``; default: the
            channels of the first batch written.
        global_resolution_s: time unit of the records (default 1 ps; the
            batches' picoseconds are rounded down to it).
        time_origin_ps: tagger time written as 0 (default 0); times before it
            cannot be written.
        comment: ``File_Comment``.
        hardware: ``HW_Type`` (default "qnic-bench").
        extra_tags: more tags for the header (names from PicoQuant's tag
            dictionary or ``Usr...``); written as given.

    Example:
        >>> with PtuWriter("run.ptu", input_channels=(1, 2, 3, 4)) as w:  # doctest: +SKIP
        ...     for batch in tagger.stream(10.0, 0.1):
        ...         w.write(batch)
    """

    def __init__(self, path: str | os.PathLike[str], *,
                 input_channels: Sequence[int] | None = None,
                 global_resolution_s: float = 1e-12, time_origin_ps: int = 0,
                 comment: str = "", hardware: str = CREATOR,
                 extra_tags: Mapping[str, Any] | None = None) -> None:
        res_ps = global_resolution_s * 1e12
        if not (res_ps >= 1 and abs(res_ps - round(res_ps)) < 1e-6):
            raise ValueError(f"global_resolution_s must be a whole number of ps >= 1 ps, "
                             f"got {global_resolution_s}")
        self.path = Path(path)
        self._res_ps = round(res_ps)
        self._origin_ps = int(time_origin_ps)
        self._inputs = None if input_channels is None else sorted({int(c) for c in input_channels})
        self._comment, self._hardware = comment, hardware
        self._extra = dict(extra_tags or {})
        self._fh: BinaryIO | None = None  # opened by the first write (the header needs channels)
        self._offsets: dict[str, int] = {}
        self._base = 0  # overflow correction written so far (units)
        self._last_units = 0
        self.records = 0
        self.events = 0
        self.overflows = 0
        self._counts: dict[int, int] = {}
        self._stop_ps = self._origin_ps

    def _open(self, first: TagBatch | None) -> BinaryIO:
        if self._fh is not None:
            return self._fh
        if self._inputs is None:
            self._inputs = sorted({int(c) for c in np.unique(first.channels)} - {0}) \
                if first is not None else [1]
        if any(not 1 <= c <= 64 for c in self._inputs):
            raise TagFileError(f"{self.path}: Generic T2 records hold input channels 1 to 64, "
                               f"got {self._inputs}")
        n_inputs = max(self._inputs, default=1)
        now = dt.datetime.now(dt.UTC)
        tags: list[tuple[str, Any, int, TagType | None]] = [
            ("File_GUID", f"{{{uuid.uuid4()}}}".upper(), -1, None),
            ("File_AssuredContent", f"{CREATOR}: TTTR", -1, None),
            ("CreatorSW_ContentVersion", "1.0", -1, None),
            ("CreatorSW_Name", CREATOR, -1, None),
            ("CreatorSW_Version", CREATOR_VERSION, -1, None),
            ("File_CreatingTime", now, -1, None),
            ("File_Comment", self._comment, -1, None),
            ("Measurement_Mode", _MODE_T2, -1, None),
            ("Measurement_SubMode", 0, -1, None),  # 0 = oscilloscope (plain TTTR)
            ("TTResult_StopReason", 0, -1, None),  # 0 = time over
            ("TTResultFormat_TTTRRecType", int(RecordType.GENERIC_T2), -1, None),
            ("TTResultFormat_BitsPerRecord", 32, -1, None),
            ("MeasDesc_BinningFactor", 1, -1, None),
            ("MeasDesc_Offset", 0, -1, None),
            ("MeasDesc_AcquisitionTime", 0, -1, None),
            ("MeasDesc_StopAt", 0xFFFFFFFF, -1, None),
            ("MeasDesc_StopOnOvfl", False, -1, None),
            ("MeasDesc_Restart", False, -1, None),
            ("HW_Type", self._hardware, -1, None),
            ("HW_PartNo", "", -1, None),
            ("HW_Version", CREATOR_VERSION, -1, None),
            ("HW_SerialNo", "", -1, None),
            ("HW_BaseResolution", self._res_ps * 1e-12, -1, None),
            ("HW_InpChannels", n_inputs, -1, None),
            ("HW_Markers", 0, -1, None),
            ("MeasDesc_Resolution", self._res_ps * 1e-12, -1, None),
            ("MeasDesc_GlobalResolution", self._res_ps * 1e-12, -1, None),
            ("TTResult_SyncRate", 0, -1, None),
            *((("TTResult_InputRate", 0, i, None)) for i in range(n_inputs)),
            ("TTResult_StopAfter", 0, -1, None),
            ("TTResult_NumberOfRecords", 0, -1, None),
            *((k, v, -1, None) for k, v in self._extra.items()),
        ]
        head, self._offsets = _header(tags)
        self._fh = open(self.path, "wb")  # noqa: SIM115 - closed by close()
        self._fh.write(head)
        return self._fh

    def write(self, batch: TagBatch) -> None:
        """Append a batch; batches must follow one another in time.

        Raises:
            TagFileError: a tag earlier than the origin or than one already
                written, or a channel outside 0..64.
        """
        fh = self._open(batch)
        units = (batch.timestamps - self._origin_ps) // self._res_ps
        if units.size and (units[0] < self._last_units or np.any(np.diff(units) < 0)):
            raise TagFileError(f"{self.path}: tags must be written in time order and at or "
                               f"after time_origin_ps={self._origin_ps}")
        try:
            records, self._base, wraps = encode_generic_t2(units, batch.channels, self._base,
                                                           OVERFLOWS_PER_RECORD)
        except ValueError as exc:
            raise TagFileError(f"{self.path}: {exc}") from None
        fh.write(records.astype("<u4").tobytes())
        self.records += int(records.size)
        self.events += int(units.size)
        self.overflows += wraps
        if units.size:
            self._last_units = int(units[-1])
        for ch, n in batch.counts().items():
            self._counts[ch] = self._counts.get(ch, 0) + n
        self._stop_ps = max(self._stop_ps, int(batch.stop_ps))

    def flush(self) -> None:
        """Hand what was written to the operating system: a process killed after
        this leaves a file readable up to its last whole record (the header's
        record count still 0 until :meth:`close`)."""
        if self._fh is not None and not self._fh.closed:
            self._fh.flush()

    def write_all(self, batches: Iterable[TagBatch]) -> None:
        """Append every batch of an iterable (a tagger's ``stream``)."""
        for batch in batches:
            self.write(batch)

    def close(self) -> None:
        """Patch the record count, duration and input rates; close the file."""
        if self._fh is not None and self._fh.closed:
            return
        fh = self._open(None)
        duration_s = (self._stop_ps - self._origin_ps) * 1e-12
        patches: dict[str, bytes] = {
            "TTResult_NumberOfRecords": struct.pack("<q", self.records),
            "TTResult_StopAfter": struct.pack("<q", round(duration_s * 1000)),
            "MeasDesc_AcquisitionTime": struct.pack("<q", round(duration_s * 1000)),
        }
        for ch, n in self._counts.items():
            if ch >= 1 and duration_s > 0:
                patches[f"TTResult_InputRate({ch - 1})"] = struct.pack("<q", int(n / duration_s))
        for key, value in patches.items():
            if key in self._offsets:
                fh.seek(self._offsets[key])
                fh.write(value)
        fh.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def write_ptu(path: str | os.PathLike[str], batches: Iterable[TagBatch], **options: Any) -> int:
    """Write TagBatches to a Generic T2 PTU file; return the records written.

    Args:
        path: the file to create.
        batches: batches in time order (a tagger's ``stream``, or a list).
        **options: passed to :class:`PtuWriter`.
    """
    with PtuWriter(path, **options) as writer:
        writer.write_all(batches)
    return writer.records
