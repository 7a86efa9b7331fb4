"""Headers of the legacy PicoQuant TTTR files: parse them, byte for byte.

Formats (before PTU): PicoHarp 300 ``.pt2``/``.pt3`` (format version 2.0),
HydraHarp 400 ``.ht2``/``.ht3`` (1.0 and 2.0) and TimeHarp 200 ``.t3r``
(5.0 and 6.0). Layouts, offsets and field meanings follow the reference
``shared/reference/picoquant-legacy.md`` (beside this checkout), sections
0-4, which draws on PicoQuant's ``pt3demo.c``/``pt2demo.c`` and PTU demo
(``ptudemo.cc``), tsbischof/libpicoquant (``ph_v20.h``, ``hh_v10.h``,
``hh_v20.h``, ``th_v50.h``, ``th_v60.h``), phconvert's ``pqreader.py`` and
tttrlib's ``TTTRHeader.cpp``; the summary is in docs/hardware.md.

Every header starts with ``Ident`` (char[16]) and ``FormatVersion``
(char[6]); they pick the layout. All values are little-endian, integers
int32 unless noted, strings NUL-padded. Measurement mode 2 is T2 (TimeHarp
200: TTTR), 3 is T3.

Pure codec: a readable stream in, a :class:`LegacyHeader` out; the stream is
left at the first record.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, BinaryIO

import numpy as np

from qnic.instruments.timetaggers.picoquant.errors import LegacyFormatError
from qnic.instruments.timetaggers.picoquant.records import RecordType

PICOHARP, HYDRAHARP, TIMEHARP200 = "PicoHarp 300", "HydraHarp", "TimeHarp 200"
VERSIONS = {PICOHARP: ("2.0",), HYDRAHARP: ("1.0", "2.0"), TIMEHARP200: ("5.0", "6.0")}
"""Format versions read, by ``Ident`` (reference section 0, 1-3)."""
LEGACY_IDENTS = {PICOHARP.encode(): ".pt2/.pt3 (PicoHarp 300)",
                 HYDRAHARP.encode(): ".ht2/.ht3 (HydraHarp 400)",
                 TIMEHARP200.encode(): ".t3r (TimeHarp 200)"}
"""First bytes of the legacy files read here, with what they are."""
_MAX_BOARDS = 16  # real files have 1; more is a corrupt header
_MAX_CHANNELS = 64
_MAX_EXTRA_WORDS = 1 << 24  # imaging / special header words (64 MiB)
_PH_T2_TICK_S = 4e-12  # PicoHarp T2 time tag unit (libpicoquant PH_BASE_RESOLUTION)

# (struct format, field names); "_" fields are skipped, "*" a run of ints kept as a tuple
_TEXT = ("<16s6s18s12s18s2s256s", ("Ident", "FormatVersion", "CreatorName", "CreatorVersion",
                                   "FileTime", "CRLF", "Comment"))
_TEXT_TH_V5 = ("<16s6s6s18s2s256s", ("Ident", "FormatVersion", "HardwareVersion", "FileTime",
                                     "CRLF", "Comment"))
_DISPLAY = ("<116s20s", ("_", "ScriptName"))  # DispCurves, Params, Repeat x 4; ScriptName
_PH_BIN = ("<10iI7i", ("Curves", "BitsPerRecord", "RoutingChannels", "NumberOfBoards",
                       "ActiveCurve", "MeasMode", "SubMode", "RangeNo", "Offset", "Tacq",
                       "StopAt", "StopOnOvfl", "Restart", "DispLinLog", "DispTimeFrom",
                       "DispTimeTo", "DispCountsFrom", "DispCountsTo"))
_PH_BOARD = ("<16s8s6if2i96s", ("HardwareIdent", "HardwareVersion", "HardwareSerial",
                                "SyncDivider", "CFDZeroCross0", "CFDLevel0", "CFDZeroCross1",
                                "CFDLevel1", "Resolution", "RouterModelCode", "RouterEnabled",
                                "_"))
_PH_TTTR = ("<9i", ("ExtDevices", "Reserved1", "Reserved2", "CntRate0", "CntRate1", "StopAfter",
                    "StopReason", "Records", "ImgHdrSize"))
_HH_BIN = ("<6idiiI7i", ("Curves", "BitsPerRecord", "ActiveCurve", "MeasMode", "SubMode",
                         "Binning", "Resolution", "Offset", "Tacq", "StopAt", "StopOnOvfl",
                         "Restart", "DispLinLog", "DispTimeFrom", "DispTimeTo", "DispCountsFrom",
                         "DispCountsTo"))
_HH_HARDWARE = ("<16s8s2i80sdQ8i", ("HardwareIdent", "HardwarePartNo", "HardwareSerial",
                                    "NumberOfModules", "_", "BaseResolution", "InputsEnabled",
                                    "InpChansPresent", "RefClockSource", "ExtDevices",
                                    "MarkerSettings", "SyncDivider", "SyncCFDLevel",
                                    "SyncCFDZeroCross", "SyncOffset"))
_HH_TTTR = ("<4iq", ("SyncRate", "StopAfter", "StopReason", "ImgHdrSize", "NumRecords"))
_TH_BIN = ("<19i", ("NumberOfChannels", "NumberOfCurves", "BitsPerChannel", "RoutingChannels",
                    "NumberOfBoards", "ActiveCurve", "MeasurementMode", "SubMode", "RangeNo",
                    "Offset", "AcquisitionTime", "StopAt", "StopOnOvfl", "Restart", "DispLinLog",
                    "DispTimeAxisFrom", "DispTimeAxisTo", "DispCountAxisFrom",
                    "DispCountAxisTo"))
_TH_BOARD_V5 = ("<5if", ("BoardSerial", "CFDZeroCross", "CFDDiscriminatorMin", "SYNCLevel",
                         "CurveOffset", "Resolution"))
_TH_BOARD_V6 = ("<16s8s5if", ("HardwareIdent", "HardwareVersion") + _TH_BOARD_V5[1])
_TH_TTTR = ("<13i", ("TTTRGlobClock", "ExtDevices", "_", "_", "_", "_", "_", "SyncRate",
                     "AverageCFDRate", "StopAfter", "StopReason", "NumberOfRecords",
                     "SpecHeaderLength"))


class LegacyKind(Enum):
    """Legacy file types: the extension PicoQuant's software gives them."""

    PT2 = "pt2"
    PT3 = "pt3"
    HT2 = "ht2"
    HT3 = "ht3"
    T3R = "t3r"

    @property
    def is_t3(self) -> bool:
        """True for sync-based T3 files (.pt3, .ht3); .t3r is timed by its clock."""
        return self in (LegacyKind.PT3, LegacyKind.HT3)


@dataclass(frozen=True)
class LegacyHeader:
    """A parsed legacy header.

    Attributes:
        source: the file's name, for messages.
        kind: the file type (from ``Ident`` and the measurement mode).
        ident: ``Ident``, e.g. ``"HydraHarp"``.
        format_version: ``FormatVersion``, e.g. ``"2.0"``.
        record_type: the PTU record type of the same records (None for .t3r).
        global_resolution_s: T2: the time tag unit; T3: the sync period
            (1 / the header's sync rate); .t3r: the macro clock tick.
        resolution_s: the micro-time bin (T3, .t3r); the global one for T2.
        sync_rate_hz: the sync rate the header gives (rate meter), 0 if none.
        header_records: the record count the header gives.
        data_offset: byte offset of the first record.
        input_channels: router channels (PicoHarp, TimeHarp 200) or inputs
            present (HydraHarp).
        acquisition_time_s: ``StopAfter``: how long the measurement ran.
        fields: every decoded value by its name in the reference (boards
            as ``Board[i].Name``, HydraHarp inputs as ``InpChan[i].Name``).
    """

    source: str
    kind: LegacyKind
    ident: str
    format_version: str
    record_type: RecordType | None
    global_resolution_s: float
    resolution_s: float
    sync_rate_hz: float
    header_records: int
    data_offset: int
    input_channels: int
    acquisition_time_s: float
    fields: Mapping[str, Any]

    @property
    def label(self) -> str:
        """What the file is, e.g. "HydraHarp 400 T3 (.ht3, format 2.0)"."""
        device = {PICOHARP: "PicoHarp 300", HYDRAHARP: "HydraHarp 400"}.get(self.ident, self.ident)
        mode = "TTTR" if self.kind == LegacyKind.T3R else self.kind.value[1:].upper()
        return f"{device} {mode} (.{self.kind.value}, format {self.format_version})"


def _f32(value: float) -> float:
    """A float32 header value as the decimal the software wrote (0.016, not 0.01600000076)."""
    return float(str(np.float32(value)))


def _text(raw: bytes) -> str:
    return raw.split(b"\x00", 1)[0].decode("latin-1").strip()


class _Cursor:
    """Reads a header's fixed-size parts, naming the part a short file ends in."""

    def __init__(self, fh: BinaryIO, source: str, what: str, first: bytes) -> None:
        self.fh, self.source, self.what = fh, source, what
        self._first = first  # bytes already read from the stream
        self.offset = 0
        self.fields: dict[str, Any] = {}

    def take(self, layout: tuple[str, tuple[str, ...]], part: str,
             prefix: str = "") -> dict[str, Any]:
        """Read one struct (``layout``: format, field names; "_" skipped) as a dict."""
        fmt, names = layout
        size = struct.calcsize(fmt)
        data = self.skip(size, part)
        values = dict(zip(names, struct.unpack(fmt, data)))
        values.pop("_", None)
        for key, value in values.items():
            values[key] = _text(value) if isinstance(value, bytes) else value
            self.fields[prefix + key] = values[key]
        return values

    def skip(self, size: int, part: str) -> bytes:
        data, self._first = self._first[:size], self._first[size:]
        if len(data) < size:
            data += self.fh.read(size - len(data))
        if len(data) != size:
            raise LegacyFormatError(
                f"{self.source}: file ends inside the {self.what} header ({part} at byte offset "
                f"{self.offset}): expected {size} bytes, got {len(data)}")
        self.offset += size
        return data


def _check(ok: bool, source: str, what: str) -> None:
    if not ok:
        raise LegacyFormatError(f"{source}: corrupt or unsupported header: {what}")


def _check_count(value: int, name: str, low: int, high: int, c: _Cursor) -> None:
    _check(low <= value <= high, c.source, f"{name} is {value}; expected {low} to {high}")


def _mode(values: dict[str, Any], c: _Cursor, t2: LegacyKind,
          t3: LegacyKind | None = None) -> LegacyKind:
    """The file type from the measurement mode (2 = T2 or TTTR, 3 = T3)."""
    name = "MeasMode" if "MeasMode" in values else "MeasurementMode"
    mode = values[name]
    modes = {2: t2} if t3 is None else {2: t2, 3: t3}
    meaning = "TTTR = 2" if t3 is None else "T2 = 2, T3 = 3"
    _check(mode in modes, c.source,
           f"{name} is {mode}; expected {' or '.join(map(str, modes))} "
           f"({meaning}; other modes hold histograms, not time tags)")
    return modes[mode]


def _sync_period(rate: int, name: str, c: _Cursor) -> float:
    _check(rate > 0, c.source, f"{name} is {rate}; a T3 file needs the sync rate (Hz) as its "
                               "time base")
    return 1.0 / rate


def _resolution(value: float, name: str, per_s: float, c: _Cursor) -> float:
    """``value`` in units of 1/``per_s`` s (ns: 1e9, ps: 1e12), in s; at least 1 fs
    (PicoQuant's finest bin is a fraction of a ps: 1e-300 would make every time 0)."""
    _check(value >= 1e-15 * per_s and value < 1e9, c.source,
           f"{name} is {value}; expected a positive resolution of at least 1 fs")
    return float(value) / per_s


def _picoharp(c: _Cursor, version: str) -> LegacyHeader:
    """PicoHarp 300, format 2.0 (reference section 1.1)."""
    c.take(_TEXT, "text header")
    b = c.take(_PH_BIN, "binary header")
    c.take(_DISPLAY, "display settings")
    _check(b["BitsPerRecord"] == 32, c.source, f"BitsPerRecord is {b['BitsPerRecord']}; "
                                                "expected 32")
    _check_count(b["NumberOfBoards"], "NumberOfBoards", 1, _MAX_BOARDS, c)
    kind = _mode(b, c, LegacyKind.PT2, LegacyKind.PT3)
    boards = [c.take(_PH_BOARD, f"board header {i}", f"Board[{i}].")
              for i in range(b["NumberOfBoards"])]
    t = c.take(_PH_TTTR, "TTTR header")
    _check_count(t["ImgHdrSize"], "ImgHdrSize", 0, _MAX_EXTRA_WORDS, c)
    _check_count(t["Records"], "Records", 0, 2**31 - 1, c)
    c.skip(4 * t["ImgHdrSize"], "imaging header")
    if kind == LegacyKind.PT3:
        glob = _sync_period(t["CntRate0"], "CntRate0 (the sync rate)", c)
        res = _resolution(_f32(boards[0]["Resolution"]), "Board[0].Resolution", 1e9, c)
        rt = RecordType.PICOHARP_T3
    else:
        glob = res = _PH_T2_TICK_S
        rt = RecordType.PICOHARP_T2
    return LegacyHeader(c.source, kind, PICOHARP, version, rt, glob, res, float(t["CntRate0"]),
                        t["Records"], c.offset, b["RoutingChannels"], t["StopAfter"] / 1000,
                        c.fields)


def _hydraharp(c: _Cursor, version: str) -> LegacyHeader:
    """HydraHarp 400, formats 1.0 and 2.0 (same bytes; reference section 2.1)."""
    c.take(_TEXT, "text header")
    b = c.take(_HH_BIN, "binary header")
    c.take(_DISPLAY, "display settings")
    _check(b["BitsPerRecord"] == 32, c.source, f"BitsPerRecord is {b['BitsPerRecord']}; "
                                                "expected 32")
    kind = _mode(b, c, LegacyKind.HT2, LegacyKind.HT3)
    hw = c.take(_HH_HARDWARE, "hardware header")
    n = hw["InpChansPresent"]
    _check_count(n, "InpChansPresent", 1, _MAX_CHANNELS, c)
    for i in range(n):
        c.take(("<4i", ("ModuleIdx", "CFDLevel", "CFDZeroCross", "Offset")),
               f"input channel {i}", f"InpChan[{i}].")
    for i in range(n):
        c.take(("<i", ("InputRate",)), f"input rate {i}", f"InpChan[{i}].")
    t = c.take(_HH_TTTR, "TTTR header")
    _check_count(t["ImgHdrSize"], "ImgHdrSize", 0, _MAX_EXTRA_WORDS, c)
    _check_count(t["NumRecords"], "NumRecords", 0, 2**62, c)
    c.skip(4 * t["ImgHdrSize"], "imaging header")
    v2 = version == "2.0"
    if kind == LegacyKind.HT3:
        glob = _sync_period(t["SyncRate"], "SyncRate", c)
        res = _resolution(b["Resolution"], "Resolution", 1e12, c)
        rt = RecordType.HYDRAHARP2_T3 if v2 else RecordType.HYDRAHARP_T3
    else:
        # The T2 tag unit is the header's Resolution: 1 ps in 2.0 files, 0.5 ps in
        # 1.0 ones, which libpicoquant's hh_v10_t2_decode expresses as halving
        # every v1 time tag and wrap (reference section 2.3).
        glob = res = _resolution(b["Resolution"], "Resolution", 1e12, c)
        rt = RecordType.HYDRAHARP2_T2 if v2 else RecordType.HYDRAHARP_T2
    return LegacyHeader(c.source, kind, HYDRAHARP, version, rt, glob, res, float(t["SyncRate"]),
                        t["NumRecords"], c.offset, n, t["StopAfter"] / 1000, c.fields)


def _timeharp200(c: _Cursor, version: str) -> LegacyHeader:
    """TimeHarp 200 TTTR, formats 5.0 and 6.0 (reference section 3)."""
    v5 = version == "5.0"
    c.take(_TEXT_TH_V5 if v5 else _TEXT, "text header")
    b = c.take(_TH_BIN, "binary header")
    c.take(_DISPLAY, "display settings")
    kind = _mode(b, c, LegacyKind.T3R)
    _check_count(b["NumberOfBoards"], "NumberOfBoards", 1, _MAX_BOARDS, c)
    boards = [c.take(_TH_BOARD_V5 if v5 else _TH_BOARD_V6, f"board header {i}", f"Board[{i}].")
              for i in range(b["NumberOfBoards"])]
    t = c.take(_TH_TTTR, "TTTR header")
    _check_count(t["SpecHeaderLength"], "SpecHeaderLength", 0, _MAX_EXTRA_WORDS, c)
    _check_count(t["NumberOfRecords"], "NumberOfRecords", 0, 2**31 - 1, c)
    c.skip(4 * t["SpecHeaderLength"], "special header")
    glob = _resolution(t["TTTRGlobClock"], "TTTRGlobClock", 1e9, c)
    res = _resolution(_f32(boards[0]["Resolution"]), "Board[0].Resolution", 1e9, c)
    return LegacyHeader(c.source, kind, TIMEHARP200, version, None, glob, res,
                        float(t["SyncRate"]), t["NumberOfRecords"], c.offset,
                        b["RoutingChannels"], t["StopAfter"] / 1000, c.fields)


def read_legacy_header(fh: BinaryIO, source: str = "<stream>") -> LegacyHeader:
    """Parse a legacy header from the start of ``fh``.

    Args:
        fh: a binary stream at the file's first byte.
        source: the file's name, for messages.

    Returns:
        The header; ``fh`` is left at the first record.

    Raises:
        LegacyFormatError: an unknown ``Ident`` or ``FormatVersion``, a file
            that ends inside the header, or values no such file holds (a
            histogram-mode file, no sync rate for T3, an absurd board count).
    """
    start = fh.read(22)
    ident, version = _text(start[:16]), _text(start[16:22])
    if ident not in VERSIONS:
        kinds = ", ".join(f"{k!r}" for k in VERSIONS)
        raise LegacyFormatError(f"{source}: not a legacy PicoQuant file: starts with "
                                f"{start[:16]!r}; expected the identifier {kinds}")
    if len(start) < 22:
        raise LegacyFormatError(f"{source}: file ends inside the {ident} header (FormatVersion "
                                f"at byte offset 16): expected 22 bytes, got {len(start)}")
    if version not in VERSIONS[ident]:
        raise LegacyFormatError(
            f"{source}: {ident} file of unknown format version {version!r}; this reader knows "
            f"{', '.join(VERSIONS[ident])}")
    parse = {PICOHARP: _picoharp, HYDRAHARP: _hydraharp, TIMEHARP200: _timeharp200}[ident]
    return parse(_Cursor(fh, source, f"{ident} {version}", start), version)
