"""PicoQuant time-tag files: read PTU (T2 and T3 of PicoHarp 300, HydraHarp
V1/V2, TimeHarp 260, MultiHarp/Generic) and the legacy files before it
(PicoHarp 300 .pt2/.pt3, HydraHarp 400 .ht2/.ht3 format 1.0 and 2.0,
TimeHarp 200 .t3r format 5.0 and 6.0) in bounded-memory chunks, decoded by
compiled kernels; write Generic T2 PTU.

Modules: ``header`` (the PTU tagged header), ``legacy_header`` (the fixed
headers of the legacy files), ``records`` (the 32-bit record codec, a
vectorised reference), ``kernels`` (the compiled decoders), ``decoder``
(records to chunks), ``chunk`` (what readers hand out), ``reader`` (PTU),
``legacy`` (legacy files), ``files`` (any tag file by its first bytes) and
``writer``. docs/hardware.md describes the formats and time bases.
"""

from qnic.instruments.timetaggers.picoquant.chunk import TagChunk
from qnic.instruments.timetaggers.picoquant.errors import (
    LegacyFormatError,
    PtuFormatError,
    PtuTruncatedError,
    TagFileError,
    TagFileWarning,
    UnsupportedFormatError,
)
from qnic.instruments.timetaggers.picoquant.header import PtuHeader, TagType
from qnic.instruments.timetaggers.picoquant.legacy import LegacyFile
from qnic.instruments.timetaggers.picoquant.legacy_header import LegacyHeader, LegacyKind
from qnic.instruments.timetaggers.picoquant.reader import PtuFile
from qnic.instruments.timetaggers.picoquant.records import RecordType
from qnic.instruments.timetaggers.picoquant.writer import (
    PtuWriter,
    write_ptu,
    write_ptu_records,
)

__all__ = [
    "LegacyFile", "LegacyFormatError", "LegacyHeader", "LegacyKind", "PtuFile",
    "PtuFormatError", "PtuHeader", "PtuTruncatedError", "PtuWriter", "RecordType", "TagChunk",
    "TagFileError", "TagFileWarning", "TagType", "UnsupportedFormatError", "write_ptu",
    "write_ptu_records",
]
