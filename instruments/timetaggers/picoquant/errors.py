"""Errors and warnings of the time-tag file readers and writers.

``TagFileError`` is the root (a ``ValueError``: the file's content, not the
program, is wrong; and an ``InstrumentError``, see below). The message always names the file and what was expected.
``TagFileWarning`` flags a file that breaks its specification in a way the
reader tolerates (a header record count that disagrees with the data, a
Photon-HDF5 group under a non-standard name); tests turn it into an error
unless they expect it.
"""

from __future__ import annotations

from qnic.instruments.errors import InstrumentError


class TagFileError(InstrumentError, ValueError):
    """A time-tag file cannot be read or written as asked.

    An ``InstrumentError`` (a replayed file is a tagger's input, and ``qnic``
    reports instrument errors cleanly) and a ``ValueError`` (bad content).
    """


class PtuFormatError(TagFileError):
    """A PicoQuant PTU file is malformed or has an unknown record type."""


class PtuTruncatedError(PtuFormatError):
    """A PTU file ends inside a record (an interrupted write or copy).

    Raised by the chunk iterator after every whole record before the break
    has been handed out, so a reader keeps what the file holds intact.

    Attributes:
        record_index: index (from 0) of the broken record in the data.
        byte_offset: byte offset of that record from the start of the file.
    """

    def __init__(self, message: str, record_index: int, byte_offset: int) -> None:
        super().__init__(message)
        self.record_index = record_index
        self.byte_offset = byte_offset


class LegacyFormatError(TagFileError):
    """A legacy PicoQuant file (.pt2, .pt3, .ht2, .ht3, .t3r) is malformed:
    an unknown identifier or format version, a header cut off, or header
    values no such file can hold."""


class UnsupportedFormatError(TagFileError):
    """The file is of a known format that this project does not read."""


class TagFileWarning(UserWarning):
    """A file deviates from its specification; the reader carried on."""
