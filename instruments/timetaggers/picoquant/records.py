"""TTTR record codec: the 32-bit records of PicoQuant T2 and T3 files.

Bit layouts (PicoQuant ``apx_tttrrecords``, docs/protocols.md 4c; bit 31 is the
MSB of the little-endian 32-bit word):

* PicoHarp 300 T2: channel (4) | timetag (28). Channel 15 is special: low 4
  timetag bits 0 = overflow (+210,698,240), else marker bits.
* PicoHarp 300 T3: channel (4) | dtime (12) | nsync (16). Channel 15 is
  special: dtime 0 = overflow (+65,536), else marker bits in dtime.
* HydraHarp, TimeHarp 260, MultiHarp, PicoHarp 330 ("Generic") T2:
  special (1) | channel (6) | timetag (25); T3: special (1) | channel (6) |
  dtime (15) | nsync (10). Special channel 63 = overflow (period 33,552,000
  for HydraHarp V1 T2, 2^25 for the others, 1024 in T3); except on HydraHarp
  V1 the timetag/nsync field holds the number of overflows (0 meaning one).
  Special channel 0 in T2 = a sync event; special channels 1-15 = markers.

Channel numbering (docs/conventions.md: as the hardware numbers them):

* PicoHarp 300: the record's channel field as is. T2: 0 and 1 are the front
  inputs "Channel 0" (sync) and "Channel 1"; T3: 1-4 are the router inputs.
* HydraHarp / TimeHarp 260 / MultiHarp / Generic: record field + 1, so the
  inputs are 1..N as on the front panel and in PicoQuant's software
  (``Read_PTU`` prints ``channel+1``); a T2 sync record becomes channel 0.

Times leave this module in the file's own units (``coarse``: the T2 timetag,
or the T3 sync count, with overflows added; ``dtime``: T3 micro time in
``MeasDesc_Resolution`` units); :func:`units_to_ps` converts.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

_LABELS = {
    0x00010203: "PicoHarp 300 T2", 0x00010303: "PicoHarp 300 T3",
    0x00010204: "HydraHarp V1 T2", 0x00010304: "HydraHarp V1 T3",
    0x01010204: "HydraHarp V2 T2", 0x01010304: "HydraHarp V2 T3",
    0x00010205: "TimeHarp 260 N T2", 0x00010305: "TimeHarp 260 N T3",
    0x00010206: "TimeHarp 260 P T2", 0x00010306: "TimeHarp 260 P T3",
    0x00010207: "MultiHarp/Generic T2", 0x00010307: "MultiHarp/Generic T3",
}
GENERIC_T2_PERIOD = 1 << 25
GENERIC_T2_MAX_OVERFLOWS = (1 << 25) - 1  # largest overflow count one record holds


class RecordType(IntEnum):
    """``TTResultFormat_TTTRRecType`` values."""

    PICOHARP_T2 = 0x00010203
    PICOHARP_T3 = 0x00010303
    HYDRAHARP_T2 = 0x00010204
    HYDRAHARP_T3 = 0x00010304
    HYDRAHARP2_T2 = 0x01010204
    HYDRAHARP2_T3 = 0x01010304
    TIMEHARP260N_T2 = 0x00010205
    TIMEHARP260N_T3 = 0x00010305
    TIMEHARP260P_T2 = 0x00010206
    TIMEHARP260P_T3 = 0x00010306
    GENERIC_T2 = 0x00010207
    GENERIC_T3 = 0x00010307

    @property
    def label(self) -> str:
        """Device and mode as PicoQuant names them, e.g. "HydraHarp V2 T2"."""
        return _LABELS[self.value]

    @property
    def is_t3(self) -> bool:
        """True for T3 (sync-based) records, False for T2."""
        return (self.value >> 8) & 0xFF == 0x03

    @property
    def is_picoharp(self) -> bool:
        """True for the PicoHarp 300 layouts (4-bit channel field)."""
        return self in (RecordType.PICOHARP_T2, RecordType.PICOHARP_T3)

    @property
    def overflow_period(self) -> int:
        """Units (T2 timetag or T3 syncs) that one overflow adds."""
        if self == RecordType.PICOHARP_T2:
            return 210_698_240
        if self == RecordType.PICOHARP_T3:
            return 65_536
        if self.is_t3:
            return 1024
        return 33_552_000 if self == RecordType.HYDRAHARP_T2 else GENERIC_T2_PERIOD

    @property
    def counts_overflows(self) -> bool:
        """True if an overflow record carries a count of overflows."""
        return not (self.is_picoharp or self in (RecordType.HYDRAHARP_T2,
                                                 RecordType.HYDRAHARP_T3))


def describe_known_types() -> str:
    """The supported record types, for error messages."""
    return ", ".join(f"{t.label} (0x{t.value:08X})" for t in RecordType)


@dataclass(frozen=True)
class DecodedRecords:
    """One block of records, decoded.

    Attributes:
        coarse: int64 (N,), events' T2 timetag or T3 nsync with overflows added.
        dtime: int32 (N,), T3 micro time (resolution units); None for T2.
        channels: int32 (N,), hardware channel of each event (module doc).
        marker_coarse: int64 (M,), markers' time in ``coarse`` units.
        marker_bits: uint8 (M,), the marker bits (bit k set = marker input k+1).
        overflows: overflows (timer wraps) counted in this block.
        overflow_records: overflow records in this block.
        overflow_base: overflow correction after the block (coarse units); no
            later record can be earlier than this.
        last_coarse: coarse time of the block's last event or marker record
            (``overflow_base`` if it had none).
    """

    coarse: np.ndarray
    dtime: np.ndarray | None
    channels: np.ndarray
    marker_coarse: np.ndarray
    marker_bits: np.ndarray
    overflows: int
    overflow_records: int
    overflow_base: int
    last_coarse: int


def decode(records: np.ndarray, rectype: RecordType, overflow_base: int = 0) -> DecodedRecords:
    """Decode TTTR records (vectorised numpy, whole arrays at a time).

    The readers decode with the compiled kernels of
    :mod:`~qnic.instruments.timetaggers.picoquant.kernels` in one pass per
    block; this is the reference the tests hold them to.

    Args:
        records: uint32 (N,), the raw little-endian records.
        rectype: their record type.
        overflow_base: overflow correction carried from the previous block
            (coarse units; 0 at the start of a file).

    Returns:
        The block's events, markers and overflow count; pass
        ``result.overflow_base`` with the next block.
    """
    r = np.asarray(records, dtype=np.uint32)
    if rectype.is_picoharp:
        ch = (r >> 28).astype(np.int32)
        special = ch == 15
        if rectype.is_t3:
            field = (r & 0xFFFF).astype(np.int64)
            dtime = ((r >> 16) & 0xFFF).astype(np.int32)
            bits = dtime
        else:
            field = (r & 0x0FFFFFFF).astype(np.int64)
            dtime = None
            bits = (field & 0xF).astype(np.int32)
        overflow = special & (bits == 0)
        marker = special & (bits != 0)
        event = ~special
        count = overflow.astype(np.int64)
        channel = ch
    else:
        special = (r >> 31).astype(bool)
        ch = ((r >> 25) & 0x3F).astype(np.int32)
        if rectype.is_t3:
            field = (r & 0x3FF).astype(np.int64)
            dtime = ((r >> 10) & 0x7FFF).astype(np.int32)
        else:
            field = (r & 0x1FFFFFF).astype(np.int64)
            dtime = None
        overflow = special & (ch == 63)
        marker = special & (ch >= 1) & (ch <= 15)
        bits = ch
        sync = special & (ch == 0) & (not rectype.is_t3)
        event = ~special | sync
        counted = field if rectype.counts_overflows else np.ones_like(field)
        count = np.where(overflow, np.where(counted == 0, 1, counted), 0)
        channel = np.where(special, 0, ch + 1).astype(np.int32)
    correction = np.cumsum(count * rectype.overflow_period) + overflow_base
    times = correction + field
    timed = event | marker
    last = int(times[np.flatnonzero(timed)[-1]]) if timed.any() else None
    base = int(correction[-1]) if correction.size else overflow_base
    return DecodedRecords(
        coarse=times[event], dtime=None if dtime is None else dtime[event],
        channels=channel[event], marker_coarse=times[marker],
        marker_bits=bits[marker].astype(np.uint8), overflows=int(count.sum()),
        overflow_records=int(overflow.sum()), overflow_base=base,
        last_coarse=base if last is None else max(last, base))


def units_to_ps(units: np.ndarray, resolution_s: float) -> np.ndarray:
    """Convert integer time units to int64 picoseconds, rounding to nearest.

    A resolution that is a whole number of picoseconds (1 ps, 4 ps, 25 ps;
    real headers carry float noise such as 4.000000000000001e-12) is applied
    exactly in integers; otherwise (T3: 1/sync rate, e.g. 12512.5877 ps) the
    whole picoseconds are applied in integers and the fraction in float64,
    which keeps the error below 1 ps for any realistic file.

    Args:
        units: int64 array of counts of ``resolution_s``.
        resolution_s: the unit in seconds (> 0).

    Returns:
        int64 array of picoseconds, same shape.
    """
    u = np.asarray(units, dtype=np.int64)
    whole, frac = split_unit(resolution_s)
    if frac == 0.0:
        return u * np.int64(whole)
    return u * np.int64(whole) + np.rint(u * frac).astype(np.int64)


def split_unit(resolution_s: float) -> tuple[int, float]:
    """A time unit as (whole ps, fraction of a ps), as :func:`units_to_ps` applies it.

    A unit within 1e-9 (relative) of a whole number of picoseconds gives a
    fraction of exactly 0.0.
    """
    res_ps = resolution_s * 1e12
    whole = round(res_ps)
    if whole > 0 and abs(res_ps - whole) <= 1e-9 * res_ps:
        return int(whole), 0.0
    whole = int(np.floor(res_ps))
    return whole, res_ps - whole


def encode_generic_t2(units: np.ndarray, channels: np.ndarray, overflow_base: int = 0,
                      max_count: int = GENERIC_T2_MAX_OVERFLOWS) -> tuple[np.ndarray, int, int]:
    """Encode events as Generic T2 records (RecType 0x00010207).

    Overflow records carry a count (at most ``max_count`` each, 2^25 - 1 by
    the format), so a long gap costs few records, not one per 33.5 us.

    Args:
        units: int64 (N,), event times in global-resolution units, sorted,
            >= ``overflow_base``.
        channels: int (N,), hardware channels: 1..64 are inputs (field
            channel - 1), 0 is the sync input.
        overflow_base: overflow correction already written (a multiple of 2^25).
        max_count: the largest overflow count to put in one record (1 to 2^25 - 1).

    Returns:
        ``(records, new_overflow_base, overflows)``: uint32 records, the
        correction after them, and the number of timer wraps written.

    Raises:
        ValueError: unsorted or too-early times, or a channel outside 0..64.
    """
    u = np.asarray(units, dtype=np.int64)
    c = np.asarray(channels)
    if u.size and (np.any(np.diff(u) < 0) or u[0] < overflow_base):
        raise ValueError("Generic T2 encoding needs times sorted and after those already written")
    if c.size and (c.min() < 0 or c.max() > 64):
        raise ValueError(f"Generic T2 records hold channels 0 (sync) to 64, got {int(c.min())}"
                         f" to {int(c.max())}")
    if not 1 <= max_count <= GENERIC_T2_MAX_OVERFLOWS:
        raise ValueError(f"max_count must be 1 to {GENERIC_T2_MAX_OVERFLOWS}, got {max_count}")
    wraps = u // GENERIC_T2_PERIOD
    prev = np.concatenate(([overflow_base // GENERIC_T2_PERIOD], wraps[:-1]))
    gap = wraps - prev
    n_ofl = -(-gap // max_count)
    event_pos = np.arange(u.size) + np.cumsum(n_ofl)
    out = np.empty(u.size + int(n_ofl.sum()), dtype=np.uint32)
    low = (u % GENERIC_T2_PERIOD).astype(np.uint32)
    field = np.where(c == 0, np.uint32(0x80000000), (c.astype(np.uint32) - 1) << 25)
    out[event_pos] = field.astype(np.uint32) | low
    if n_ofl.any():
        owner = np.repeat(np.arange(u.size), n_ofl)
        first = np.cumsum(n_ofl) - n_ofl
        k = np.arange(owner.size) - first[owner]
        last = k == n_ofl[owner] - 1
        counts = np.where(last, gap[owner] - max_count * k, max_count)
        mask = np.ones(out.size, dtype=bool)
        mask[event_pos] = False
        out[mask] = np.uint32(0xFE000000) | counts.astype(np.uint32)
    new_base = int(wraps[-1]) * GENERIC_T2_PERIOD if u.size else overflow_base
    return out, new_base, int(gap.sum())
