"""Numba kernels that turn click events into one time-ordered pulse stream.

A stretch of bench time is processed in blocks. Each block's click events
(drawn here while the waveplates stand still, or handed in while one moves)
become pulses on detector indices 0-3 (A0, A1, B0, B1) with Gaussian jitter
and the detector's cable delay, inserted into the pending pulses in time
order (jitter and delays displace a pulse by a few neighbours at most, so
insertion is cheap). Then each detector's non-paralyzable dead time and
afterpulsing are applied in time order to the pending pulses that no later
event can precede, and the registered pulses are written out as tagger
channel numbers. Afterpulses wait in a small heap until their time comes.

Everything a block leaves unfinished (pending pulses, afterpulses, each
detector's last registered time and afterpulse countdown, the generator
state) lives in a :class:`PulseState`, so successive calls continue one
stream exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from qnic.instruments.kernel_cache import cached_njit
from qnic.sim.physics.prng import LOW32, next_u64
from qnic.sim.physics.pulses import insert_sorted
from qnic.sim.physics.sampling import (
    class_guide,
    draw_class,
    inverse_cdf,
    table_mean,
)

NO_DETECTOR = 4
N_DETECTORS = 4
NEVER_PS = np.iinfo(np.int64).min // 4
_LATEST = np.int64(np.iinfo(np.int64).max)
_32 = np.uint64(32)
# detector index (A0, A1, B0, B1) each click class fires on arm A / arm B
# (NO_DETECTOR = none). Classes: 0-3 both photons click (2a + b), 4-5 only
# A's (a), 6-7 only B's (b), 8-11 a dark or background count on detector 0-3.
CHAN_A = np.array([0, 0, 1, 1, 0, 1, 4, 4, 0, 1, 2, 3], dtype=np.int64)
CHAN_B = np.array([2, 3, 2, 3, 4, 4, 2, 3, 4, 4, 4, 4], dtype=np.int64)
N_CLASSES = 12


@dataclass
class PulseState:
    """What one call leaves for the next (all arrays per detector index
    have shape (4,)).

    Attributes:
        rng: uint64 (4,) generator state (``prng.seed_state``).
        pend_t, pend_d: pulses not yet registered, sorted (int64 ps, int8),
            in the first ``n_pend`` places.
        heap_t, heap_d: afterpulses waiting for their time (unsorted), in
            the first ``n_heap`` places.
        last_ps: int64, each detector's last registered pulse.
        countdown: int64, registered pulses left until the next one that
            afterpulses (0: draw anew).
    """

    rng: np.ndarray
    pend_t: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    pend_d: np.ndarray = field(default_factory=lambda: np.empty(0, np.int8))
    heap_t: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    heap_d: np.ndarray = field(default_factory=lambda: np.empty(0, np.int8))
    n_pend: int = 0
    n_heap: int = 0
    last_ps: np.ndarray = field(default_factory=lambda: np.full(N_DETECTORS, NEVER_PS, np.int64))
    countdown: np.ndarray = field(default_factory=lambda: np.zeros(N_DETECTORS, np.int64))


@dataclass(frozen=True)
class DetectorTable:
    """The detectors' fixed properties, per detector index (shape (4,)).

    Attributes:
        sigma_ps: float64 timing jitter RMS (detector and tagger together).
        delay_ps: int64 cable delay.
        dead_ps: int64 dead time.
        saturation_hz: float64 raw rate above which the module latches.
        ap_log1mp: float64 log(1 - afterpulse probability) (0: none).
        ap_mean_ps: float64 mean afterpulse delay beyond the dead time.
        channel: int32 tagger channel number.
    """

    sigma_ps: np.ndarray
    delay_ps: np.ndarray
    dead_ps: np.ndarray
    saturation_hz: np.ndarray
    ap_log1mp: np.ndarray
    ap_mean_ps: np.ndarray
    channel: np.ndarray


@cached_njit()
def _grow(a: np.ndarray, need: int) -> np.ndarray:
    if need <= a.shape[0]:
        return a
    out = np.empty(max(need, 2 * a.shape[0] + 16), dtype=a.dtype)
    # a loop, not a slice assignment: that compiles a shape check formatting
    # an error message, some 2 s of the first run's compile (docs/architecture.md)
    for i in range(a.shape[0]):
        out[i] = a[i]
    return out


@cached_njit()
def _emit_generated(pt: np.ndarray, pd: np.ndarray, k: int, a_ps: int, span_ps: float, pos: float,
                    mean_gap_ps: float, guide: np.ndarray, cum: np.ndarray, sig: np.ndarray,
                    dly: np.ndarray, rng: np.ndarray, normal: np.ndarray, expo: np.ndarray
                    ) -> tuple[int, float, bool]:
    """Draw the click events of [a, a + span) (Poisson, classes by ``cum``)
    from offset ``pos`` on and insert their pulses, until the span is done
    or ``pt`` is full. One 64-bit word gives an event's gap (low half) and
    class (high half), a second the jitter of its two clicks. (A branch-free
    variant, writing every class's two slots and sorting afterwards,
    measured 8 % slower.)

    Returns:
        (pulses now pending, offset reached, whether the span is done).
    """
    cap = pt.shape[0] - 2
    while k <= cap:
        w = next_u64(rng)
        pos += inverse_cdf(np.uint32(w & LOW32), expo) * mean_gap_ps
        if pos >= span_ps:  # memoryless: the next block draws afresh
            return k, pos, True
        c = draw_class(np.uint32(w >> _32), guide, cum)
        t = a_ps + np.int64(pos)
        w = next_u64(rng)
        d = CHAN_A[c]
        if d != NO_DETECTOR:
            jit = np.floor(inverse_cdf(np.uint32(w & LOW32), normal) * sig[d] + 0.5)
            insert_sorted(pt, pd, k, t + dly[d] + np.int64(jit), d)
            k += 1
        d = CHAN_B[c]
        if d != NO_DETECTOR:
            jit = np.floor(inverse_cdf(np.uint32(w >> _32), normal) * sig[d] + 0.5)
            insert_sorted(pt, pd, k, t + dly[d] + np.int64(jit), d)
            k += 1
    return k, pos, False


@cached_njit()
def _emit_given(pt: np.ndarray, pd: np.ndarray, k: int, times: np.ndarray, cls: np.ndarray,
                sig: np.ndarray, dly: np.ndarray, rng: np.ndarray, normal: np.ndarray) -> int:
    """Insert the pulses of given click events (sorted times, classes);
    ``pt`` has room for two per event."""
    for i in range(times.shape[0]):
        w = next_u64(rng)
        c = cls[i]
        for side in range(2):
            d = CHAN_A[c] if side == 0 else CHAN_B[c]
            if d != NO_DETECTOR:
                word = np.uint32(w & LOW32) if side == 0 else np.uint32(w >> _32)
                jit = np.floor(inverse_cdf(word, normal) * sig[d] + 0.5)
                insert_sorted(pt, pd, k, times[i] + dly[d] + np.int64(jit), d)
                k += 1
    return k


@cached_njit(inline="always")
def _heap_min(heap_t: np.ndarray, n_heap: int) -> tuple[int, np.int64]:
    """Index and time of the earliest waiting afterpulse (-1, max if none)."""
    j_min = -1
    t_min = _LATEST
    for j in range(n_heap):
        if heap_t[j] < t_min:
            j_min = j
            t_min = heap_t[j]
    return j_min, t_min


@cached_njit()
def _register(pt: np.ndarray, pd: np.ndarray, i: int, n: int, cut_ps: int,
              heap_t: np.ndarray, heap_d: np.ndarray, n_heap: int,
              out_t: np.ndarray, out_c: np.ndarray, n_out: int,
              dead: np.ndarray, last: np.ndarray, live: np.ndarray,
              ap_log1mp: np.ndarray, ap_mean: np.ndarray, countdown: np.ndarray,
              channel: np.ndarray, rng: np.ndarray, expo: np.ndarray
              ) -> tuple[int, int, int, bool]:
    """Dead time and afterpulsing over pending pulses pt[i:n] before
    ``cut_ps``, merged in time order with the waiting afterpulses, and
    written out as channel numbers. A detector that is not ``live`` (gated
    off or saturated) registers nothing: no pulse, no dead time, no
    afterpulse. Stops early when the output or the heap is full.

    Returns:
        (index of the first pending pulse left, n_heap, n_out, whether
        everything before the cut is done).
    """
    j_min, t_heap = _heap_min(heap_t, n_heap)
    while True:
        if n_out >= out_t.shape[0] or n_heap >= heap_t.shape[0]:
            return i, n_heap, n_out, False
        if i < n and pt[i] <= t_heap:  # a pulse (first on ties)
            tt = pt[i]
            if tt >= cut_ps:
                return i, n_heap, n_out, True
            dd = pd[i]
            i += 1
        elif j_min >= 0:  # the earliest afterpulse
            tt = t_heap
            if tt >= cut_ps:
                return i, n_heap, n_out, True
            dd = heap_d[j_min]
            n_heap -= 1
            heap_t[j_min] = heap_t[n_heap]
            heap_d[j_min] = heap_d[n_heap]
            j_min, t_heap = _heap_min(heap_t, n_heap)
        else:
            return i, n_heap, n_out, True
        if not live[dd] or tt - last[dd] < dead[dd]:
            continue
        last[dd] = tt
        out_t[n_out] = tt
        out_c[n_out] = channel[dd]
        n_out += 1
        if ap_log1mp[dd] < 0.0:
            if countdown[dd] <= 0:  # geometric gap to the next afterpulsing pulse
                u = (np.uint32(next_u64(rng) >> _32) + 0.5) * (1.0 / 4294967296.0)
                countdown[dd] = 1 + np.int64(np.log(u) / ap_log1mp[dd])
            countdown[dd] -= 1
            if countdown[dd] == 0:
                delay = inverse_cdf(np.uint32(next_u64(rng) >> _32), expo) * ap_mean[dd]
                t_ap = tt + dead[dd] + np.int64(delay)
                heap_t[n_heap] = t_ap
                heap_d[n_heap] = dd
                if t_ap < t_heap:
                    j_min, t_heap = n_heap, t_ap
                n_heap += 1


@cached_njit()
def _advance(times: np.ndarray, cls: np.ndarray, generate: bool, a_ps: int, b_ps: int,
             block_ps: int, ahead_ps: int, t1_ps: int, cum: np.ndarray, mean_gap_ps: float,
             pend_t: np.ndarray, pend_d: np.ndarray, n_pend: int,
             heap_t: np.ndarray, heap_d: np.ndarray, n_heap: int,
             out_t: np.ndarray, out_c: np.ndarray, n_out: int,
             sig: np.ndarray, dly: np.ndarray, dead: np.ndarray,
             ap_log1mp: np.ndarray, ap_mean: np.ndarray, channel: np.ndarray, live: np.ndarray,
             last: np.ndarray, countdown: np.ndarray, rng: np.ndarray,
             normal: np.ndarray, expo: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray, int, np.ndarray, np.ndarray, int,
                        np.ndarray, np.ndarray, int]:
    """Blocks of [a, b): emit, then register (see the module docstring);
    arrays grow here, outside the kernels' loops."""
    guide = class_guide(cum)
    x = a_ps
    while True:
        y = min(x + block_ps, b_ps) if generate else b_ps
        if generate and mean_gap_ps > 0:
            pos = 0.0
            while True:
                pend_t = _grow(pend_t, n_pend + 2 + int((y - x) / mean_gap_ps * 2.2))
                pend_d = _grow(pend_d, pend_t.shape[0])
                n_pend, pos, done = _emit_generated(pend_t, pend_d, n_pend, x, float(y - x), pos,
                                                    mean_gap_ps, guide, cum, sig, dly, rng,
                                                    normal, expo)
                if done:
                    break
        elif not generate:
            pend_t = _grow(pend_t, n_pend + 2 * times.shape[0])
            pend_d = _grow(pend_d, pend_t.shape[0])
            n_pend = _emit_given(pend_t, pend_d, n_pend, times, cls, sig, dly, rng, normal)
        stop = 0
        while True:
            out_t = _grow(out_t, n_out + n_pend - stop + n_heap + 64)
            out_c = _grow(out_c, out_t.shape[0])
            heap_t = _grow(heap_t, n_heap + 64)
            heap_d = _grow(heap_d, heap_t.shape[0])
            stop, n_heap, n_out, done = _register(
                pend_t, pend_d, stop, n_pend, min(y - ahead_ps, t1_ps), heap_t, heap_d, n_heap,
                out_t, out_c, n_out, dead, last, live, ap_log1mp, ap_mean, countdown,
                channel, rng, expo)
            if done:
                break
        for i in range(stop, n_pend):
            pend_t[i - stop] = pend_t[i]
            pend_d[i - stop] = pend_d[i]
        n_pend -= stop
        x = y
        if x >= b_ps:
            break
    return pend_t, pend_d, n_pend, heap_t, heap_d, n_heap, out_t, out_c, n_out


def detector_rates_hz(class_rates_hz: np.ndarray) -> np.ndarray:
    """Each detector's raw pulse rate (Hz, shape (4,)) from the rates of the
    12 click classes (Hz, shape (12,))."""
    rates = np.zeros(N_DETECTORS + 1)
    np.add.at(rates, CHAN_A, class_rates_hz)
    np.add.at(rates, CHAN_B, class_rates_hz)
    return rates[:N_DETECTORS]


class PulseStream:
    """The detectors' registered pulses, produced stretch by stretch.

    Calls to :meth:`static` and :meth:`given` append registered pulses to a
    scratch buffer that stays allocated (fresh memory costs page faults
    that would weigh on every tag); :meth:`finish` hands them out.

    Args:
        table: the detectors' properties.
        state: where the stream stands (see :class:`PulseState`).
        normal, expo: inverse-CDF tables (``sampling.normal_knots``,
            ``sampling.exponential_knots``).
    """

    # scratch kept between calls up to this many pulses (12 bytes each)
    KEEP_SCRATCH = 1 << 22

    def __init__(self, table: DetectorTable, state: PulseState, normal: np.ndarray,
                 expo: np.ndarray) -> None:
        self.table = table
        self.state = state
        self._knots = (normal, expo)
        # the sampled exponential's exact mean (the table's, 1 + 2e-5): gaps
        # are divided by it so that the event rate is exact
        self._expo_mean = table_mean(expo)
        self._out_t = np.empty(0, np.int64)
        self._out_c = np.empty(0, np.int32)
        self._n_out = 0

    def static(self, a_ps: int, b_ps: int, block_ps: int, ahead_ps: int, t1_ps: int,
               rates_hz: np.ndarray, live: np.ndarray) -> None:
        """Draw the clicks of [a, b) from constant class rates (Hz, shape (12,)),
        in blocks of ``block_ps``; register pulses before min(block end -
        ``ahead_ps``, ``t1_ps``). ``live``: bool per detector, False while
        it is gated off or saturated (it registers nothing)."""
        total = float(rates_hz.sum())
        cum = np.cumsum(rates_hz / total) if total > 0 else np.ones(N_CLASSES)
        mean_gap_ps = 1e12 / total / self._expo_mean if total > 0 else 0.0
        self._run(np.empty(0, np.int64), np.empty(0, np.int8), True, a_ps, b_ps, block_ps,
                  ahead_ps, t1_ps, cum, mean_gap_ps, live)

    def given(self, times: np.ndarray, cls: np.ndarray, a_ps: int, b_ps: int, ahead_ps: int,
              t1_ps: int, live: np.ndarray) -> None:
        """Add the clicks of [a, b) given as sorted int64 times and int8
        classes; register pulses before min(b - ``ahead_ps``, ``t1_ps``)."""
        self._run(times, cls, False, a_ps, b_ps, max(b_ps - a_ps, 1), ahead_ps, t1_ps,
                  np.ones(N_CLASSES), 0.0, live)

    def _run(self, times: np.ndarray, cls: np.ndarray, generate: bool, a_ps: int, b_ps: int,
             block_ps: int, ahead_ps: int, t1_ps: int, cum: np.ndarray, mean_gap_ps: float,
             live: np.ndarray) -> None:
        s, tb = self.state, self.table
        (s.pend_t, s.pend_d, s.n_pend, s.heap_t, s.heap_d, s.n_heap,
         self._out_t, self._out_c, self._n_out) = _advance(
            times, cls, generate, a_ps, b_ps, block_ps, ahead_ps, t1_ps, cum, mean_gap_ps,
            s.pend_t, s.pend_d, s.n_pend, s.heap_t, s.heap_d, s.n_heap,
            self._out_t, self._out_c, self._n_out, tb.sigma_ps, tb.delay_ps, tb.dead_ps,
            tb.ap_log1mp, tb.ap_mean_ps, tb.channel, live, s.last_ps,
            s.countdown, s.rng, *self._knots)

    def finish(self, copy: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """The pulses registered since the last call (int64 ps, int32
        channels), sorted. With ``copy`` False they may be views of the
        scratch buffer, valid only until the next call that adds pulses."""
        n, self._n_out = self._n_out, 0
        if n > self.KEEP_SCRATCH:  # hand a large buffer out rather than copy it
            out = self._out_t[:n], self._out_c[:n]
            self._out_t, self._out_c = np.empty(0, np.int64), np.empty(0, np.int32)
            return out
        if not copy:
            return self._out_t[:n], self._out_c[:n]
        return self._out_t[:n].copy(), self._out_c[:n].copy()
