"""Compiled decoders of PicoQuant TTTR records: one pass per block of records.

Each kernel walks a block of 32-bit records once and writes, per event, its
time in int64 picoseconds and its hardware channel (T3: also the sync count
and the micro time) straight into arrays the caller allocated; markers go to
a scratch pair of arrays. The bit layouts, overflow rules and channel
numbering are those of :mod:`~qnic.instruments.timetaggers.picoquant.records`
(PTU record types) and of docs/hardware.md for the legacy TimeHarp 200
``.t3r`` records; :func:`~qnic.instruments.timetaggers.picoquant.records.decode`
is the vectorised reference the tests hold these kernels to.

Kernel arguments, common to all:

* ``rec``: uint32 (N,), the raw little-endian records.
* ``base``: the overflow correction carried in, in file units (T2 timetag
  units, T3 syncs, TimeHarp 200 clock ticks).
* ``g_whole``, ``g_frac``: the global (macro) unit in ps, split as
  :func:`~qnic.instruments.timetaggers.picoquant.records.units_to_ps` does:
  whole picoseconds applied in integers, the fraction (0 for a whole number)
  in float64 and rounded to nearest; ``m_whole``, ``m_frac`` likewise for
  the T3 micro time.
* ``out_ts`` int64, ``out_ch`` int32 (and T3 ``out_nsync`` int64,
  ``out_dtime`` int32): written from index ``start`` on; sized at least
  ``start + N``.
* ``mk_ts`` int64, ``mk_bits`` uint8: markers; only the first
  ``mk_ts.size`` are written, all are counted, so a caller whose scratch was
  too small grows it and runs the kernel again on the same block.

Each returns ``(events, markers, overflows, base, last_coarse, ordered)``:
events written (from ``start``), markers counted, timer wraps counted, the
overflow correction after the block, the coarse time (file units) of the
last event or marker (``-1`` if none), and whether ``out_ts[:start +
events]`` is non-decreasing (checked against ``out_ts[start - 1]`` too).

Compiled once per machine into the user's cache folder
(:mod:`qnic.instruments.kernel_cache`, docs/architecture.md).
"""

from __future__ import annotations

import numpy as np

from qnic.instruments.kernel_cache import cached_njit

_EARLIEST = np.iinfo(np.int64).min


@cached_njit(nogil=True)
def _ps(units: int, whole: int, frac: float) -> int:
    """``units`` of a time unit (``whole`` ps + ``frac`` ps) as int64 ps."""
    if frac == 0.0:
        return units * whole
    return units * whole + int(np.rint(units * frac))


@cached_njit(nogil=True)
def _previous(out_ts: np.ndarray, start: int) -> int:
    return out_ts[start - 1] if start > 0 else _EARLIEST


@cached_njit(nogil=True)
def decode_picoharp_t2(rec: np.ndarray, base: int, g_whole: int, g_frac: float,
                       out_ts: np.ndarray, out_ch: np.ndarray, start: int,
                       mk_ts: np.ndarray, mk_bits: np.ndarray
                       ) -> tuple[int, int, int, int, int, bool]:
    """PicoHarp 300 T2: channel (4) | timetag (28); channel 15 special."""
    n, n_mk, ovf, last, ordered = start, 0, 0, -1, True
    prev = _previous(out_ts, start)
    for i in range(rec.size):
        r = int(rec[i])
        ch = r >> 28
        field = r & 0x0FFFFFFF
        if ch == 15:
            bits = field & 0xF
            if bits == 0:
                base += 210_698_240
                ovf += 1
            else:  # the marker bits stay in the time, as PicoQuant's PTU demo reads it
                last = base + field
                if n_mk < mk_ts.size:
                    mk_ts[n_mk] = _ps(last, g_whole, g_frac)
                    mk_bits[n_mk] = bits
                n_mk += 1
        else:
            last = base + field
            t = _ps(last, g_whole, g_frac)
            ordered = ordered and t >= prev
            prev = t
            out_ts[n] = t
            out_ch[n] = ch
            n += 1
    return n - start, n_mk, ovf, base, last, ordered


@cached_njit(nogil=True)
def decode_hydraharp_t2(rec: np.ndarray, base: int, period: int, counted: bool,
                        g_whole: int, g_frac: float, out_ts: np.ndarray, out_ch: np.ndarray,
                        start: int, mk_ts: np.ndarray, mk_bits: np.ndarray
                        ) -> tuple[int, int, int, int, int, bool]:
    """HydraHarp / TimeHarp 260 / MultiHarp / Generic T2: special (1) |
    channel (6) | timetag (25). ``counted``: an overflow record's timetag is
    its number of wraps (0 meaning one); else each record is one wrap."""
    n, n_mk, ovf, last, ordered = start, 0, 0, -1, True
    prev = _previous(out_ts, start)
    for i in range(rec.size):
        r = int(rec[i])
        ch = (r >> 25) & 0x3F
        field = r & 0x1FFFFFF
        if r >> 31:
            if ch == 63:
                count = field if counted and field != 0 else 1
                base += count * period
                ovf += count
                continue
            if ch > 15:
                continue  # reserved special codes: neither time nor event
            last = base + field
            if ch != 0:
                if n_mk < mk_ts.size:
                    mk_ts[n_mk] = _ps(last, g_whole, g_frac)
                    mk_bits[n_mk] = ch
                n_mk += 1
                continue
            hw = 0  # special channel 0 in T2: a sync event
        else:
            last = base + field
            hw = ch + 1
        t = _ps(last, g_whole, g_frac)
        ordered = ordered and t >= prev
        prev = t
        out_ts[n] = t
        out_ch[n] = hw
        n += 1
    return n - start, n_mk, ovf, base, last, ordered


@cached_njit(nogil=True)
def decode_picoharp_t3(rec: np.ndarray, base: int, g_whole: int, g_frac: float,
                       m_whole: int, m_frac: float, out_ts: np.ndarray, out_ch: np.ndarray,
                       out_nsync: np.ndarray, out_dtime: np.ndarray, start: int,
                       mk_ts: np.ndarray, mk_bits: np.ndarray
                       ) -> tuple[int, int, int, int, int, bool]:
    """PicoHarp 300 T3: channel (4) | dtime (12) | nsync (16); channel 15
    special, dtime 0 = overflow (+65536 syncs), else marker bits."""
    n, n_mk, ovf, last, ordered = start, 0, 0, -1, True
    prev = _previous(out_ts, start)
    for i in range(rec.size):
        r = int(rec[i])
        ch = r >> 28
        dtime = (r >> 16) & 0xFFF
        nsync = base + (r & 0xFFFF)
        if ch == 15:
            if dtime == 0:
                base += 65_536
                ovf += 1
            else:
                last = nsync
                if n_mk < mk_ts.size:
                    mk_ts[n_mk] = _ps(nsync, g_whole, g_frac)
                    mk_bits[n_mk] = dtime & 0xFF
                n_mk += 1
            continue
        last = nsync
        t = _ps(nsync, g_whole, g_frac) + _ps(dtime, m_whole, m_frac)
        ordered = ordered and t >= prev
        prev = t
        out_ts[n] = t
        out_ch[n] = ch
        out_nsync[n] = nsync
        out_dtime[n] = dtime
        n += 1
    return n - start, n_mk, ovf, base, last, ordered


@cached_njit(nogil=True)
def decode_hydraharp_t3(rec: np.ndarray, base: int, counted: bool, g_whole: int,
                        g_frac: float, m_whole: int, m_frac: float, out_ts: np.ndarray,
                        out_ch: np.ndarray, out_nsync: np.ndarray, out_dtime: np.ndarray,
                        start: int, mk_ts: np.ndarray, mk_bits: np.ndarray
                        ) -> tuple[int, int, int, int, int, bool]:
    """HydraHarp / TimeHarp 260 / MultiHarp / Generic T3: special (1) |
    channel (6) | dtime (15) | nsync (10); overflow = special channel 63,
    1024 syncs per wrap (``counted`` as for T2)."""
    n, n_mk, ovf, last, ordered = start, 0, 0, -1, True
    prev = _previous(out_ts, start)
    for i in range(rec.size):
        r = int(rec[i])
        ch = (r >> 25) & 0x3F
        field = r & 0x3FF
        if r >> 31:
            if ch == 63:
                count = field if counted and field != 0 else 1
                base += count * 1024
                ovf += count
            elif 1 <= ch <= 15:
                last = base + field
                if n_mk < mk_ts.size:
                    mk_ts[n_mk] = _ps(last, g_whole, g_frac)
                    mk_bits[n_mk] = ch
                n_mk += 1
            continue
        last = base + field
        dtime = (r >> 10) & 0x7FFF
        t = _ps(last, g_whole, g_frac) + _ps(dtime, m_whole, m_frac)
        ordered = ordered and t >= prev
        prev = t
        out_ts[n] = t
        out_ch[n] = ch + 1
        out_nsync[n] = last
        out_dtime[n] = dtime
        n += 1
    return n - start, n_mk, ovf, base, last, ordered


@cached_njit(nogil=True)
def decode_timeharp200(rec: np.ndarray, base: int, g_whole: int, g_frac: float,
                       out_ts: np.ndarray, out_ch: np.ndarray, out_nsync: np.ndarray,
                       out_dtime: np.ndarray, start: int, mk_ts: np.ndarray,
                       mk_bits: np.ndarray) -> tuple[int, int, int, int, int, bool]:
    """TimeHarp 200 TTTR (.t3r): reserved (1) | valid (1) | route (2) |
    data (12) | timetag (16). Valid: a photon on router input route + 1,
    data its micro time; else data bit 11 = overflow (+65536 clock ticks),
    or marker bits in data's low 3 bits. The time is the macro time alone
    (the TimeHarp 200's clock is not the sync; see docs/hardware.md)."""
    n, n_mk, ovf, last, ordered = start, 0, 0, -1, True
    prev = _previous(out_ts, start)
    for i in range(rec.size):
        r = int(rec[i])
        data = (r >> 16) & 0xFFF
        tick = base + (r & 0xFFFF)
        if (r >> 30) & 1 == 0:
            if data & 0x800:
                base += 65_536
                ovf += 1
            elif data & 0x7:
                last = tick
                if n_mk < mk_ts.size:
                    mk_ts[n_mk] = _ps(tick, g_whole, g_frac)
                    mk_bits[n_mk] = data & 0x7
                n_mk += 1
            continue
        last = tick
        t = _ps(tick, g_whole, g_frac)
        ordered = ordered and t >= prev
        prev = t
        out_ts[n] = t
        out_ch[n] = ((r >> 28) & 0x3) + 1
        out_nsync[n] = tick
        out_dtime[n] = data
        n += 1
    return n - start, n_mk, ovf, base, last, ordered


@cached_njit(nogil=True)
def sort_nearly_sorted(ts: np.ndarray, ch: np.ndarray, nsync: np.ndarray, dtime: np.ndarray,
                       budget: int) -> bool:
    """Stable insertion sort of ``ts`` carrying the other arrays along.

    T3 tags are in record order, i.e. by sync count; adding the micro time
    moves a tag past a few neighbours at most, which insertion sort mends in
    about one pass. Gives up once more than ``budget`` moves were made (the
    prefix is then sorted, the rest untouched, so a stable sort of the
    result equals one of the input).

    Args:
        ts: int64 ps (N,), sorted in place; the others (N,) move with it.
        budget: moves allowed.

    Returns:
        True if sorted, False if it gave up.
    """
    moves = 0
    for i in range(1, ts.size):
        t = ts[i]
        if t >= ts[i - 1]:
            continue
        c, s, d = ch[i], nsync[i], dtime[i]
        j = i - 1
        while j >= 0 and ts[j] > t:
            ts[j + 1], ch[j + 1], nsync[j + 1], dtime[j + 1] = ts[j], ch[j], nsync[j], dtime[j]
            j -= 1
        moves += i - 1 - j
        ts[j + 1], ch[j + 1], nsync[j + 1], dtime[j + 1] = t, c, s, d
        if moves > budget:
            return False
    return True


# -- summaries: what a scan of a T2 file needs, without writing the tags ------
#
# Each returns ``(markers, overflows, base, lo, hi)``: markers and timer wraps
# counted, the overflow correction after the block, and the earliest and
# latest event time of the block in file units (``lo`` > ``hi`` if none);
# ``counts[hw]`` is incremented per event of hardware channel ``hw``.


@cached_njit(nogil=True)
def summarize_picoharp_t2(rec: np.ndarray, base: int, counts: np.ndarray
                          ) -> tuple[int, int, int, int, int]:
    """:func:`decode_picoharp_t2`, counting instead of writing."""
    n_mk, ovf = 0, 0
    lo, hi = np.iinfo(np.int64).max, np.iinfo(np.int64).min
    for i in range(rec.size):
        r = int(rec[i])
        ch = r >> 28
        field = r & 0x0FFFFFFF
        if ch == 15:
            if field & 0xF == 0:
                base += 210_698_240
                ovf += 1
            else:
                n_mk += 1
        else:
            t = base + field
            lo = min(lo, t)
            hi = max(hi, t)
            counts[ch] += 1
    return n_mk, ovf, base, lo, hi


@cached_njit(nogil=True)
def summarize_hydraharp_t2(rec: np.ndarray, base: int, period: int, counted: bool,
                           counts: np.ndarray) -> tuple[int, int, int, int, int]:
    """:func:`decode_hydraharp_t2`, counting instead of writing."""
    n_mk, ovf = 0, 0
    lo, hi = np.iinfo(np.int64).max, np.iinfo(np.int64).min
    for i in range(rec.size):
        r = int(rec[i])
        ch = (r >> 25) & 0x3F
        field = r & 0x1FFFFFF
        hw = ch + 1
        if r >> 31:
            if ch == 63:
                count = field if counted and field != 0 else 1
                base += count * period
                ovf += count
                continue
            if ch > 15:
                continue
            if ch != 0:
                n_mk += 1
                continue
            hw = 0
        t = base + field
        lo = min(lo, t)
        hi = max(hi, t)
        counts[hw] += 1
    return n_mk, ovf, base, lo, hi
