"""PicoQuant time-tag files: read PTU (T2 and T3 of PicoHarp 300, HydraHarp
V1/V2, TimeHarp 260, MultiHarp/Generic) in chunks; write Generic T2 PTU.

Modules: ``header`` (the tagged header), ``records`` (the 32-bit record
codec), ``chunk`` (what readers hand out), ``reader`` and ``writer``.
"""

from qnic.instruments.timetaggers.picoquant.chunk import TagChunk
from qnic.instruments.timetaggers.picoquant.errors import (
    PtuFormatError,
    PtuTruncatedError,
    TagFileError,
    TagFileWarning,
    UnsupportedFormatError,
)
from qnic.instruments.timetaggers.picoquant.header import PtuHeader, TagType
from qnic.instruments.timetaggers.picoquant.reader import PtuFile
from qnic.instruments.timetaggers.picoquant.records import RecordType
from qnic.instruments.timetaggers.picoquant.writer import (
    PtuWriter,
    write_ptu,
    write_ptu_records,
)

__all__ = [
    "PtuFile", "PtuFormatError", "PtuHeader", "PtuTruncatedError", "PtuWriter", "RecordType", "TagChunk",
    "TagFileError", "TagFileWarning", "TagType", "UnsupportedFormatError", "write_ptu",
    "write_ptu_records",
]
