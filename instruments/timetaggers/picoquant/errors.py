"""Errors and warnings of the time-tag file readers and writers.

``TagFileError`` is the root (a ``ValueError``: the file's content, not the
program, is wrong; and an ``InstrumentError``, see below). The message always names the file and what was expected.
``TagFileWarning`` flags a file that breaks its specification in a way the
reader tolerates (a header record count that disagrees with the data, a
Photon-HDF5 group under a non-standard name); tests turn it into an error
unless they expect it.
"""

from __future__ import annotations

from instruments.errors import InstrumentError


class TagFileError(InstrumentError, ValueError):
    """A time-tag file cannot be read or written as asked.

    An ``InstrumentError`` (a replayed file is a tagger's input, and ``qnic``
    reports instrument errors cleanly) and a ``ValueError`` (bad content).
    """


class PtuFormatError(TagFileError):
    """A PicoQuant PTU file is malformed or has an unknown record type."""


class UnsupportedFormatError(TagFileError):
    """The file is of a known format that this project does not read."""


class TagFileWarning(UserWarning):
    """A file deviates from its specification; the reader carried on."""
