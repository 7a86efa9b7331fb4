"""The tagged header of PicoQuant unified files (PTU): parse and encode.

Layout (PicoQuant ``apx_tagtypes``, docs/protocols.md 4c): an 8-byte magic
``PQTTTR\\0\\0``, an 8-byte version string, then tags of 48 bytes each:
``Tag_Id`` char[32] (NUL-padded), ``Tag_Idx`` int32 (-1 unless an array
element), ``Tag_TypeCode`` uint32 and an 8-byte ``Tag_Value``. For strings,
arrays and blobs the value is the byte length of the data that follows. The
tag ``Header_End`` closes the header; the TTTR records follow it.

Pure codec: bytes in, values out; no file handling beyond a readable stream.
"""

from __future__ import annotations

import datetime as dt
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, BinaryIO

from qnic.instruments.timetaggers.picoquant.errors import PtuFormatError

PTU_MAGIC = b"PQTTTR\x00\x00"
PTU_VERSION = b"1.0.00\x00\x00"
HEADER_END = "Header_End"
_TAG = struct.Struct("<32siI8s")
# A header larger than this is corrupt, not a header (real ones are a few kB).
_MAX_TAG_DATA = 64 * 1024 * 1024
# TDateTime: days since 1899-12-30 (Delphi epoch); Unix time = (v - 25569) * 86400.
_DELPHI_EPOCH = dt.datetime(1899, 12, 30, tzinfo=dt.UTC)


class TagType(IntEnum):
    """``Tag_TypeCode`` values (apx_tagtypes)."""

    EMPTY8 = 0xFFFF0008
    BOOL8 = 0x00000008
    INT8 = 0x10000008
    BITSET64 = 0x11000008
    COLOR8 = 0x12000008
    FLOAT8 = 0x20000008
    TDATETIME = 0x21000008
    FLOAT8_ARRAY = 0x2001FFFF
    ANSI_STRING = 0x4001FFFF
    WIDE_STRING = 0x4002FFFF
    BINARY_BLOB = 0xFFFFFFFF


@dataclass(frozen=True)
class PtuHeader:
    """A parsed PTU header.

    Attributes:
        version: the version string after the magic (``"1.0.00"``).
        tags: tag values by ``Tag_Id``. A tag written with ``Tag_Idx >= 0``
            (an array element) maps to ``{index: value}``; real files skip and
            reorder indices, so no list is built.
        types: the ``TagType`` of each tag (of its last element for arrays).
        data_offset: byte offset of the first TTTR record.
    """

    version: str
    tags: Mapping[str, Any]
    types: Mapping[str, TagType]
    data_offset: int
    source: str = field(default="<stream>")

    def get(self, name: str, default: Any = None) -> Any:
        """The value of tag ``name``, or ``default`` when the file lacks it."""
        return self.tags.get(name, default)

    def require(self, name: str) -> Any:
        """The value of tag ``name``.

        Raises:
            PtuFormatError: the header has no such tag.
        """
        try:
            return self.tags[name]
        except KeyError:
            raise PtuFormatError(
                f"{self.source}: the PTU header has no {name} tag, which every TTTR file "
                "must carry") from None

    def number(self, name: str, default: float | None = None, *,
               required: bool = False) -> Any:
        """The value of tag ``name`` as a plain number (int, float or bool).

        Args:
            name: the ``Tag_Id``.
            default: the value when the file lacks the tag (and it is not required).
            required: a missing tag raises instead.

        Raises:
            PtuFormatError: the tag is missing (if required), or is an array
                element, a string, a blob or a date where a number belongs.
        """
        value = self.require(name) if required else self.tags.get(name, default)
        if value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)):
            return value
        if isinstance(value, bool):
            return int(value)
        raise PtuFormatError(f"{self.source}: corrupt header: {name} holds "
                             f"{type(value).__name__} {str(value)[:40]!r}; expected a number")


def _read_exact(fh: BinaryIO, n: int, source: str, what: str) -> bytes:
    data = fh.read(n)
    if len(data) != n:
        raise PtuFormatError(f"{source}: file ends inside the header ({what}); "
                             f"expected {n} more bytes, got {len(data)}")
    return data


def _decode_string(raw: bytes, wide: bool) -> str:
    if wide:
        return raw.decode("utf-16-le", errors="replace").split("\x00", 1)[0]
    text = raw.split(b"\x00", 1)[0]
    try:
        return text.decode("utf-8")
    except UnicodeDecodeError:  # older PicoQuant software writes Windows-1252
        return text.decode("latin-1")


def _value(fh: BinaryIO, typ: TagType, raw: bytes, source: str, name: str) -> Any:
    if typ == TagType.EMPTY8:
        return None
    if typ == TagType.BOOL8:
        return struct.unpack("<q", raw)[0] != 0
    if typ in (TagType.INT8, TagType.BITSET64, TagType.COLOR8):
        return struct.unpack("<q", raw)[0]
    if typ == TagType.FLOAT8:
        return struct.unpack("<d", raw)[0]
    if typ == TagType.TDATETIME:
        days = struct.unpack("<d", raw)[0]
        try:
            return _DELPHI_EPOCH + dt.timedelta(days=days)
        except (OverflowError, ValueError):  # out of range, or NaN: kept as the number
            return days
    size = struct.unpack("<q", raw)[0]
    if not 0 <= size <= _MAX_TAG_DATA:
        raise PtuFormatError(f"{source}: corrupt header: {name} claims {size} bytes of data; "
                             f"expected 0 to {_MAX_TAG_DATA}")
    data = _read_exact(fh, size, source, f"data of {name}")
    if typ == TagType.FLOAT8_ARRAY:
        return struct.unpack(f"<{size // 8}d", data[: size // 8 * 8])
    if typ in (TagType.ANSI_STRING, TagType.WIDE_STRING):
        return _decode_string(data, typ == TagType.WIDE_STRING)
    return data  # BinaryBlob


def _data_size(typ: TagType, raw: bytes) -> int:
    """Bytes of data that follow a tag of type ``typ`` (0 for 8-byte values)."""
    if typ in (TagType.FLOAT8_ARRAY, TagType.ANSI_STRING, TagType.WIDE_STRING,
               TagType.BINARY_BLOB):
        return int(struct.unpack("<q", raw)[0])
    return 0


def read_header(fh: BinaryIO, source: str = "<stream>") -> PtuHeader:
    """Parse a PTU header from the start of ``fh``.

    Args:
        fh: a binary stream positioned at the file's first byte.
        source: the file's name, for error messages.

    Returns:
        The header; ``fh`` is left at the first TTTR record.

    Raises:
        PtuFormatError: not a PTU file, an unknown tag type, or a file that
            ends before ``Header_End``.
    """
    magic = fh.read(8)
    if magic != PTU_MAGIC:
        raise PtuFormatError(f"{source}: not a PicoQuant PTU file: magic {magic!r}, "
                             f"expected {PTU_MAGIC!r}")
    version = _decode_string(_read_exact(fh, 8, source, "version"), wide=False)
    tags: dict[str, Any] = {}
    types: dict[str, TagType] = {}
    offset, index = 16, 0  # bytes from the header's start; tags read
    while True:
        where = f"tag {index} at byte offset {offset}"
        ident, idx, code, raw = _TAG.unpack(_read_exact(fh, _TAG.size, source, where))
        name = ident.split(b"\x00", 1)[0].decode("ascii", errors="replace")
        where = f"tag {index} ({name!r}) at byte offset {offset}"
        try:
            typ = TagType(code)
        except ValueError:
            raise PtuFormatError(
                f"{source}: corrupt header: {where} has unknown type code 0x{code:08X}; "
                "expected one of "
                + ", ".join(f"{t.name} (0x{t.value:08X})" for t in TagType)) from None
        value = _value(fh, typ, raw, source, where)
        offset += _TAG.size + _data_size(typ, raw)
        index += 1
        if name == HEADER_END:
            break
        types[name] = typ
        if idx >= 0:
            slot = tags.setdefault(name, {})
            if isinstance(slot, dict):
                slot[idx] = value
        else:
            tags[name] = value
    return PtuHeader(version, tags, types, fh.tell(), source)


def _pad8(data: bytes) -> bytes:
    """NUL-terminate and pad to a multiple of 8 bytes, as PicoQuant writes."""
    return data + b"\x00" * (8 - len(data) % 8)


def infer_type(value: Any) -> TagType:
    """The tag type a Python value is written as.

    bool -> Bool8, int -> Int8, float -> Float8, datetime -> TDateTime,
    str -> AnsiString, bytes -> BinaryBlob, None -> Empty8, a sequence of
    floats -> Float8Array.
    """
    if value is None:
        return TagType.EMPTY8
    if isinstance(value, bool):
        return TagType.BOOL8
    if isinstance(value, int):
        return TagType.INT8
    if isinstance(value, float):
        return TagType.FLOAT8
    if isinstance(value, dt.datetime):
        return TagType.TDATETIME
    if isinstance(value, str):
        return TagType.ANSI_STRING
    if isinstance(value, bytes):
        return TagType.BINARY_BLOB
    if isinstance(value, (tuple, list)) and all(isinstance(v, float) for v in value):
        return TagType.FLOAT8_ARRAY
    raise TypeError(f"no PTU tag type for {type(value).__name__} value {value!r}")


def encode_tag(name: str, value: Any, index: int = -1, typ: TagType | None = None) -> bytes:
    """One tag as bytes (48 bytes, plus padded data for strings and blobs).

    Args:
        name: ``Tag_Id``, at most 31 ASCII characters.
        value: the value; its type picks the tag type unless ``typ`` is given.
        index: ``Tag_Idx``: -1, or the element index of an array tag.
        typ: force a tag type (e.g. ``BITSET64`` for an int).

    Returns:
        The encoded tag, a multiple of 8 bytes long.
    """
    ident = name.encode("ascii")
    if len(ident) > 31:
        raise ValueError(f"PTU tag name {name!r} is longer than 31 characters")
    typ = infer_type(value) if typ is None else typ
    data = b""
    if typ == TagType.EMPTY8:
        raw = bytes(8)
    elif typ == TagType.BOOL8:
        raw = struct.pack("<q", 1 if value else 0)
    elif typ in (TagType.INT8, TagType.BITSET64, TagType.COLOR8):
        raw = struct.pack("<q", int(value))
    elif typ == TagType.FLOAT8:
        raw = struct.pack("<d", float(value))
    elif typ == TagType.TDATETIME:
        when = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        days = (when - _DELPHI_EPOCH).total_seconds() / 86400.0
        raw = struct.pack("<d", days)
    else:
        if typ == TagType.FLOAT8_ARRAY:
            data = struct.pack(f"<{len(value)}d", *value)
        elif typ == TagType.ANSI_STRING:
            data = _pad8(value.encode("utf-8"))
        elif typ == TagType.WIDE_STRING:
            data = _pad8(value.encode("utf-16-le") + b"\x00")
        else:
            data = bytes(value) + b"\x00" * (-len(value) % 8)
        raw = struct.pack("<q", len(data))
    return _TAG.pack(ident, index, int(typ), raw) + data
