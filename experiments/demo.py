"""The live load-balancing demo on the bench (docs/balancing.md; ``qnic demo``).

Two load balancers, A and B, each with its QNIC, receive one request each per
round: type C (question 1) or type E (question 0), drawn with a seed
(:func:`draw_trace`) or read from a trace file (``qnic demo --trace``). Per round both arms measure in the bases of the round's
questions (docs/chsh.md angles through the QNICs), the round takes the next
heralded (coincidence-matched) pair at that setting, each side picks one of
the round's two servers from its own outcome bit alone, and the servers'
queues advance one step. The classical shared-randomness strategies run
beside it on the same requests, the same server pairs and the same service
draws.

Batching: waveplates move slowly (hundreds of ms per basis change), so the
rounds run in blocks; a block's rounds are grouped by setting, each setting
is visited once (in Gray order: one arm moves per change) and acquired in
short batches until it holds enough heralded pairs. Pairs of a setting are
consumed in herald order and the rounds, their decisions and the queues
are accounted one by one in the order of the trace.

prepare / run / analyze: :meth:`DemoRun.prepare` checks the wiring, homes
the rotators and computes the bench's prediction; :meth:`DemoRun.run` does
the rounds; :mod:`qnic.experiments.demo_view` analyses the record. Quantum strategies consume
heralded pairs; a deployment needs heralded or stored pairs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from qnic.balancing import (
    PairStrategy,
    ServerBank,
    heralded_pairs,
    quantum_chsh,
)
from qnic.balancing.game import lb_wins
from qnic.bases import CHSH_ANGLES_DEG
from qnic.coincidence import DOUBLE_CLICK, ArmEvents, find_coincidences, merge_arm
from qnic.experiments.demo_record import (
    _MEMORY_A,
    _MEMORY_B,
    _SERVERS,
    _SERVICE,
    _STORAGE,
    CLASSICAL,
    QUANTUM,
    DemoConfig,
    DemoError,
    DemoRecord,
    StrategyTrack,
    Trace,
    draw_trace,
)
from qnic.node import QNIC, set_bases_together
from qnic.station import LoadedStation

Setting = tuple[int, int]
SETTING_ORDER: tuple[Setting, ...] = ((0, 0), (0, 1), (1, 1), (1, 0))
"""Gray order of the settings: each change moves one arm only."""
_MIN_BATCH_S = 0.002
_EMPTY_BATCHES = 50




class BenchPairs:
    """Heralded pairs per setting, acquired from the station on demand.

    Args:
        station: the open station (QNICs A and B on one tagger).
        max_batch_s: longest acquisition batch (s).
    """

    def __init__(self, station: LoadedStation, max_batch_s: float) -> None:
        self.station = station
        self.qnic_a, self.qnic_b = station.qnics["A"], station.qnics["B"]
        self.max_batch_s = max_batch_s
        self.setting: Setting | None = None
        self.moves = 0
        self.moving_s = self.acquiring_s = self.live_s = 0.0
        self.heralded = 0
        self._last_ps = 0
        self._a: dict[Setting, NDArray[np.int8]] = {}
        self._b: dict[Setting, NDArray[np.int8]] = {}
        self._wait: dict[Setting, NDArray[np.float64]] = {}
        for s in SETTING_ORDER:
            self._a[s] = self._b[s] = np.empty(0, np.int8)
            self._wait[s] = np.empty(0, np.float64)

    def available(self, setting: Setting) -> int:
        """Heralded pairs held for a setting."""
        return int(self._a[setting].size)

    def ensure(self, need: dict[Setting, int]) -> None:
        """Visit each setting short of pairs once (Gray order from the current one) and fill it."""
        start = SETTING_ORDER.index(self.setting) if self.setting in SETTING_ORDER else 0
        for setting in SETTING_ORDER[start:] + SETTING_ORDER[:start]:
            if need.get(setting, 0) > self.available(setting):
                self._move(setting)
                self._fill(setting, need[setting])

    def take(self, x: NDArray[np.int8], y: NDArray[np.int8]
             ) -> tuple[NDArray[np.int8], NDArray[np.int8], NDArray[np.float64]]:
        """The next pair per round, in herald order within each setting.

        Returns:
            (a, b, herald wait in s), shape (P,) each.
        """
        key = 2 * x.astype(np.intp) + y
        a, b = np.empty(x.size, np.int8), np.empty(x.size, np.int8)
        wait = np.empty(x.size, np.float64)
        for s in SETTING_ORDER:
            where = np.flatnonzero(key == 2 * s[0] + s[1])
            if where.size > self.available(s):
                raise DemoError(f"setting {s}: {where.size} pairs needed, {self.available(s)} held")
            a[where], b[where] = self._a[s][:where.size], self._b[s][:where.size]
            wait[where] = self._wait[s][:where.size]
            self._a[s], self._b[s] = self._a[s][where.size:], self._b[s][where.size:]
            self._wait[s] = self._wait[s][where.size:]
        return a, b, wait

    def _move(self, setting: Setting) -> None:
        if setting == self.setting:
            return
        clock = self.station.clock
        t0 = clock.now()
        set_bases_together([(self.qnic_a, CHSH_ANGLES_DEG["A"][setting[0]]),
                            (self.qnic_b, CHSH_ANGLES_DEG["B"][setting[1]])])
        self.moving_s += clock.now() - t0
        self.moves += 1
        self.setting = setting
        self._last_ps = -1

    def _fill(self, setting: Setting, need: int) -> None:
        empty = 0
        while self.available(setting) < need:
            deficit = need - self.available(setting)
            rate = self.heralded / self.live_s if self.heralded else 0.0
            duration = _MIN_BATCH_S if rate <= 0 else 1.2 * deficit / rate + _MIN_BATCH_S
            got = self._acquire(setting, min(self.max_batch_s, duration))
            empty = 0 if got else empty + 1
            if empty >= _EMPTY_BATCHES:
                raise DemoError(f"no heralded pairs at setting {setting} in {empty} batches: "
                                "check the source, the delays and the coincidence window")

    def _acquire(self, setting: Setting, duration_s: float) -> int:
        clock = self.station.clock
        t0 = clock.now()
        batch = self.qnic_a.tagger.acquire(duration_s)
        self.acquiring_s += clock.now() - t0
        self.live_s += batch.duration_s - batch.lost_s
        window = self.station.window_ps
        events = [_arm_events(q, batch.timestamps, batch.channels, window)
                  for q in (self.qnic_a, self.qnic_b)]
        a, b = heralded_pairs(events[0], events[1], window)
        times = _herald_times(events[0], events[1], window)
        if times.size != a.size:
            raise RuntimeError("herald times and heralded pairs disagree")
        if self._last_ps < 0:
            self._last_ps = batch.start_ps
        wait = np.maximum(np.diff(times, prepend=self._last_ps), 0) * 1e-12
        if times.size:
            self._last_ps = int(times[-1])
        self._a[setting] = np.concatenate((self._a[setting], a))
        self._b[setting] = np.concatenate((self._b[setting], b))
        self._wait[setting] = np.concatenate((self._wait[setting], wait))
        self.heralded += int(a.size)
        return int(a.size)


def _arm_events(q: QNIC, timestamps: NDArray[np.int64], channels: NDArray[Any],
                window_ps: int) -> ArmEvents:
    t = [timestamps[channels == ch] - d for ch, d in zip(q.channels, q.delays_ps)]
    return merge_arm(t[0], t[1], window_ps)


def _herald_times(events_a: ArmEvents, events_b: ArmEvents, window_ps: int) -> NDArray[np.int64]:
    """Arm A's time of each pair :func:`heralded_pairs` returns (same matching, same drops)."""
    i_a, i_b = find_coincidences(events_a.time_ps, events_b.time_ps, window_ps)
    keep = (events_a.outcome[i_a] != DOUBLE_CLICK) & (events_b.outcome[i_b] != DOUBLE_CLICK)
    return events_a.time_ps[i_a][keep]


def bench_correlations(st: LoadedStation) -> NDArray[np.float64] | None:
    """E(x, y) of the heralded pairs the simulated bench predicts at the CHSH angles.

    From the bench's state and optics (docs/physics.md) at the rotator angles the
    QNICs (with their calibration) would send, weighted by each detector's
    efficiency, with the accidental coincidences R_a R_b 2 window of the
    singles (uncorrelated outcomes) added per outcome cell. None for a
    station without a simulated bench.

    Returns:
        float64 (2, 2), or None.
    """
    bench = st.bench
    if bench is None:
        return None
    e = np.zeros((2, 2))
    for x, y in SETTING_ORDER:
        total = bench.predicted_coincidence_rates(
            st.qnics["A"].basis_angle_deg(CHSH_ANGLES_DEG["A"][x]),
            st.qnics["B"].basis_angle_deg(CHSH_ANGLES_DEG["B"][y]), st.window_ps)
        e[x, y] = float((total * np.array([[1, -1], [-1, 1]])).sum() / total.sum())
    return e


class DemoRun:
    """One demo: prepare, then run blocks of rounds; :meth:`record` at any time.

    Args:
        station: the open station.
        config: validated options.
        trace: the rounds' requests.
    """

    def __init__(self, station: LoadedStation, config: DemoConfig, trace: Trace) -> None:
        self.station, self.config, self.trace = station, config, trace
        self.pairs = BenchPairs(station, config.max_batch_s)
        self.systems = {QUANTUM: quantum_chsh(name=QUANTUM),
                        **{n: CLASSICAL[n]() for n in config.classical}}
        self.tracks = {n: StrategyTrack.empty(trace.rounds, config.servers) for n in self.systems}
        self.banks = {n: ServerBank(config.servers, 1, config.service) for n in self.systems}
        p = trace.rounds
        self.raw = (np.zeros(p, np.int8), np.zeros(p, np.int8))
        self.herald_wait_s = np.zeros(p)
        self.storage_s = np.zeros(p)
        self.done = 0
        self.wall_s = 0.0
        self.correlations: NDArray[np.float64] | None = None
        self.correlations_source = "none"
        seed = config.seed
        self._rng = {k: np.random.default_rng([seed, k]) for k in (_SERVERS, _STORAGE, _MEMORY_A,
                                                                     _MEMORY_B)}
        self._service_seed = [seed, _SERVICE]

    def prepare(self) -> None:
        """Check the wiring, home the rotators, and compute the predicted correlations."""
        a, b = self.pairs.qnic_a, self.pairs.qnic_b
        if a.tagger is not b.tagger:
            raise DemoError("arms A and B must share one time tagger for coincidences")
        if self.station.config.home_on_start:
            a.rotator.home()
            b.rotator.home()
        if self.config.chsh is not None:
            self.correlations = self.config.chsh.table.correlations()
            self.correlations_source = f"CHSH result {self.config.chsh.source}"
        else:
            self.correlations = bench_correlations(self.station)
            self.correlations_source = "bench prediction" if self.correlations is not None else "none"

    def run(self, progress: Callable[[DemoRun], None] | None = None) -> None:
        """Run every block; ``progress`` is called after each (it may raise KeyboardInterrupt)."""
        start = time.perf_counter()
        while self.done < self.trace.rounds:
            hi = min(self.done + self.config.block_rounds, self.trace.rounds)
            self._block(self.done, hi)
            self.done = hi
            self.wall_s = time.perf_counter() - start
            if progress is not None:
                progress(self)

    def _block(self, lo: int, hi: int) -> None:
        x, y = self.trace.x[lo:hi], self.trace.y[lo:hi]
        key = 2 * x.astype(np.intp) + y
        counts = np.bincount(key, minlength=4)
        self.pairs.ensure({s: int(counts[2 * s[0] + s[1]]) for s in SETTING_ORDER})
        a, b, wait = self.pairs.take(x, y)
        self.raw[0][lo:hi], self.raw[1][lo:hi], self.herald_wait_s[lo:hi] = a, b, wait
        memory = self.config.memory
        if memory is not None:
            stored = memory.storage_times(x.size, self._rng[_STORAGE])
            self.storage_s[lo:hi] = stored
            a, b = memory.measure(a, b, stored, self._rng[_MEMORY_A], self._rng[_MEMORY_B])
        u = self._rng[_SERVERS].integers(0, self.config.servers, x.size)
        v = (u + 1 + self._rng[_SERVERS].integers(0, self.config.servers - 1, x.size)) \
            % self.config.servers
        req_class = np.ascontiguousarray(np.stack((x, y), axis=1).astype(np.int16))
        for name, strategy in self.systems.items():
            outcomes = (a, b) if strategy.consumes_pairs else (np.zeros_like(a), np.zeros_like(b))
            chosen, latency = _decide(strategy, x, y, outcomes, u, v)
            track = self.tracks[name]
            track.wins[lo:hi] = lb_wins(x, y, chosen[:, 0] == chosen[:, 1])
            track.decision_ns[lo:hi] = latency
            service = np.random.default_rng(self._service_seed + [lo])
            queue, _ = self.banks[name].advance(chosen, req_class, service)
            track.queue_total[lo:hi] = queue * self.config.servers
            track.final_queue[:] = self.banks[name].queue_lengths

    def record(self) -> DemoRecord:
        """Everything measured so far (callable between blocks)."""
        return DemoRecord(self.config, self.trace.head(self.done),
                          {n: t.head(self.done) for n, t in self.tracks.items()},
                          self.raw[0][:self.done], self.raw[1][:self.done],
                          self.herald_wait_s[:self.done], self.storage_s[:self.done],
                          self.correlations, self.correlations_source, self.pairs.moves,
                          self.pairs.moving_s, self.pairs.acquiring_s, self.pairs.live_s,
                          self.pairs.heralded, self.wall_s, self.station.bench is not None)


def _decide(strategy: PairStrategy, x: NDArray[np.int8], y: NDArray[np.int8],
            outcomes: tuple[NDArray[np.int8], NDArray[np.int8]], u: NDArray[np.int64],
            v: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Each side decides alone, round by round, timed per request.

    Returns:
        (servers chosen, int64 (P, 2); decision latency in ns, int64 (P, 2)).
    """
    side_a, side_b = strategy.balancers()
    clock = time.perf_counter_ns
    chosen: list[tuple[int, int]] = []
    latency: list[tuple[int, int]] = []
    for xi, yi, ai, bi, ui, vi in zip(x.tolist(), y.tolist(), outcomes[0].tolist(),
                                      outcomes[1].tolist(), u.tolist(), v.tolist()):
        t0 = clock()
        server_a = side_a.decide(xi, ai, (ui, vi))
        t1 = clock()
        server_b = side_b.decide(yi, bi, (ui, vi))
        t2 = clock()
        chosen.append((server_a, server_b))
        latency.append((t1 - t0, t2 - t1))
    return (np.ascontiguousarray(np.array(chosen, dtype=np.int64).reshape(-1, 2)),
            np.array(latency, dtype=np.int64).reshape(-1, 2))


__all__ = ["CLASSICAL", "QUANTUM", "SETTING_ORDER", "BenchPairs", "DemoConfig", "DemoError",
           "DemoRun", "Trace", "bench_correlations", "draw_trace"]
