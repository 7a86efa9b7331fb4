"""The pair source of the networked system, and its pair oracle (docs/network.md).

Distribution: group g's pairs are numbered by round, (g, 0), (g, 1), ...; a
node asks ahead of use for a block of them (``PAIRS? g side block``) and is
told which rounds it now holds (``PAIRS g block first count``). Each node
learns only that it holds its half of those pairs; the two halves' outcomes
do not exist yet.

Measurement (the pair oracle): no table of outcomes shared in advance by two
independent processes can win the CHSH game more often than 3/4 (Bell), so
on the simulated bench the pair's joint statistics live here. A node that
measures its half of pair (g, i) in basis x asks ``MEAS g i side x`` and is
answered ``OUT g i bit``: the first half measured gets its marginal outcome,
the second its outcome conditioned on the first's basis and outcome, from the
bench's table ``P(a, b | x, y)``. A QNIC memory that stored the half for t
(from its block's delivery to the measurement) depolarizes it: with
probability ``1 - exp(-t / (2 T2))`` the bit is a fair coin of that side's
own (docs/balancing.md, QNIC memories). This query stands for physics: the
node reports its time apart and it is never counted as a message between
balancers. On hardware the node measures its own photon instead.
"""

from __future__ import annotations

import bisect
import math
import time
from dataclasses import dataclass, field
from typing import Any

from qnic.experiments.net.wire import Address, Delay, Link, Server


@dataclass(frozen=True)
class PairTable:
    """Joint outcome statistics of one distributed pair.

    Attributes:
        prob: ``prob[x][y][a][b] = P(a, b | x, y)``; x is the even node's
            (side 0) question, y the odd node's (side 1).
        label: where they come from (for reports).
    """

    prob: tuple[tuple[tuple[tuple[float, float], tuple[float, float]], ...], ...]
    label: str = "table"

    @classmethod
    def from_flat(cls, values: list[float], questions: tuple[int, int], label: str = "table"
                  ) -> PairTable:
        """Build from ``m * n * 4`` numbers in [x][y][a][b] order (each setting normalized)."""
        m, n = questions
        if len(values) != m * n * 4:
            raise ValueError(f"a {m} x {n} pair table has {m * n * 4} numbers, got {len(values)}")
        if any(not (math.isfinite(v) and v >= 0) for v in values):
            raise ValueError("pair table probabilities must be finite and non-negative")
        rows = []
        for x in range(m):
            row = []
            for y in range(n):
                p = values[(x * n + y) * 4:(x * n + y + 1) * 4]
                total = sum(p)
                if abs(total - 1.0) > 1e-6:
                    raise ValueError(f"setting ({x}, {y}): probabilities sum to {total}, not 1")
                row.append(((p[0] / total, p[1] / total), (p[2] / total, p[3] / total)))
            rows.append(tuple(row))
        return cls(tuple(rows), label)

    @classmethod
    def from_correlations(cls, correlations: list[list[float]], label: str = "correlations"
                          ) -> PairTable:
        """Uniform marginals with ``P(a, b | x, y) = (1 + (-1)^(a xor b) E(x, y)) / 4``."""
        flat = []
        for row in correlations:
            for e in row:
                if not -1.0 <= e <= 1.0:
                    raise ValueError(f"a correlator must lie within [-1, 1], got {e}")
                flat += [(1 + e) / 4, (1 - e) / 4, (1 - e) / 4, (1 + e) / 4]
        return cls.from_flat(flat, (len(correlations), len(correlations[0])), label)

    @property
    def questions(self) -> tuple[int, int]:
        """(m, n): questions of side 0 and side 1."""
        return len(self.prob), len(self.prob[0])

    def flat(self) -> list[float]:
        """The table as ``m * n * 4`` numbers ([x][y][a][b] order)."""
        return [p for row in self.prob for cell in row for pair in cell for p in pair]

    def chsh_value(self) -> float:
        """S = E(0,0) + E(0,1) + E(1,0) - E(1,1) (2 x 2 tables)."""
        e = [[c[0][0] + c[1][1] - c[0][1] - c[1][0] for c in row] for row in self.prob]
        return e[0][0] + e[0][1] + e[1][0] - e[1][1]

    def marginal(self, side: int, question: int, other: int) -> float:
        """P(bit = 0) of ``side`` measured first in ``question`` (``other``: any question of the other side)."""
        if side == 0:
            cell = self.prob[question][other]
            return cell[0][0] + cell[0][1]
        cell = self.prob[other][question]
        return cell[0][0] + cell[1][0]

    def conditional(self, side: int, question: int, other_question: int, other_bit: int) -> float:
        """P(bit = 0) of ``side`` given the other side's basis and outcome."""
        if side == 0:
            cell = self.prob[question][other_question]
            p0, p1 = cell[0][other_bit], cell[1][other_bit]
        else:
            cell = self.prob[other_question][question]
            p0, p1 = cell[other_bit][0], cell[other_bit][1]
        total = p0 + p1
        return 0.5 if total <= 0 else p0 / total


@dataclass(frozen=True)
class HeraldSpec:
    """The photons of a heralded source and how the herald matches the nodes' clicks.

    Attributes:
        pair_rate_hz: pairs emitted per second for each partner group (Poisson).
        block_s: emission time per distribution block.
        window_ps: the coincidence window (half-width) that heralds a pair.
        search_ps: the nodes' clocks differ by at most this much (the first
            block's search range).
    """

    pair_rate_hz: float = 200_000.0
    block_s: float = 0.02
    window_ps: int = 1000
    search_ps: int = 2_000_000_000

    def __post_init__(self) -> None:
        if not self.pair_rate_hz > 0 or not self.block_s > 0:
            raise ValueError("the pair rate and the block time must be > 0")
        if self.window_ps < 1 or self.search_ps < self.window_ps:
            raise ValueError("the window must be >= 1 ps and the search range at least the window")


class PairSource(Server):
    """The pair source process: distributes pairs in blocks and answers the oracle.

    Numbered pairs (``herald`` None): block b of group g is the pairs of
    rounds b * block .. (b + 1) * block - 1, told to each node that asks.

    Heralded pairs: block b of group g is the photons emitted in
    [b, b + 1) * block_s. Each node of the group is sent its arm's photons
    (``PHOTONS``), detects them on its own clock and returns its clicks
    (``CLICKS``); the herald (:mod:`qnic.experiments.net.herald`) matches the
    two lists, tracking the clocks' offset and drift, and numbers the
    heralded pairs as the group's next rounds (``PAIRS g b first count``, to
    both nodes). A heralded pair whose two clicks were not one pair's
    photons (an accidental coincidence) gives independent outcomes.
    """

    role = "source"

    def __init__(self, listen: Address, table: PairTable, block: int = 4096,
                 coherence_us: float = math.inf, delay: Delay = Delay(), seed: int = 0,
                 herald: HeraldSpec | None = None) -> None:
        super().__init__(listen, delay, seed)
        if block < 1:
            raise ValueError(f"the distribution block must be at least 1 pair, got {block}")
        if not coherence_us > 0:
            raise ValueError(f"the memory coherence time must be > 0 us, got {coherence_us}")
        self.table = table
        self.block = block
        self.coherence_us = coherence_us
        self.herald = herald
        self.seed = seed
        self._epoch = 0
        self._heralding: _Heralding | None = None
        self._clear()
        if herald is not None:
            _warm_herald()

    def _clear(self) -> None:
        self._delivered: dict[tuple[int, int, int], float] = {}
        self._first: dict[tuple[int, int], tuple[int, int, int]] = {}
        self.counts = {"pairs_distributed": 0, "measurements": 0, "pairs_measured_twice": 0,
                       "depolarized": 0, "heralded": 0, "heralded_true": 0, "accidental_answers": 0}
        self._epoch += 1  # clicks of photons sent before this reset are dropped
        self._heralding = _Heralding(epoch=self._epoch) if self.herald is not None else None

    def on_line(self, words: list[str], link: Link) -> None:
        verb = words[0]
        if verb == "MEAS":
            group, rnd, side, question = (int(w) for w in words[1:5])
            link.send(f"OUT {group} {rnd} {self.measure(group, rnd, side, question)}")
        elif verb == "PAIRS?":
            group, side, block = (int(w) for w in words[1:4])
            if self._heralding is not None:
                self._heralding.links[(group, side)] = link
                self._send_photons(group, block)
                return
            self._delivered[(group, side, block)] = time.monotonic()
            self.counts["pairs_distributed"] += self.block
            link.send(f"PAIRS {group} {block} {block * self.block} {self.block}")
        elif verb == "CLICKS" and self._heralding is not None:
            self._clicks(words)

    # -- heralded pairs -----------------------------------------------------

    def _emitted(self, group: int, block: int) -> list[int]:
        """The block's emission times (ps, source clock), the same whoever asks."""
        import numpy as np

        spec = self.herald
        assert spec is not None
        rng = np.random.default_rng([self.seed, group, block])
        n = int(rng.poisson(spec.pair_rate_hz * spec.block_s))
        start = block * spec.block_s
        times = np.sort(rng.uniform(start, start + spec.block_s, n)) * 1e12
        return [int(t) for t in np.rint(times)]

    def _send_photons(self, group: int, block: int) -> None:
        h = self._heralding
        spec = self.herald
        assert h is not None and spec is not None
        for b in range(h.photons_sent.get(group, 0), block + 1):  # in order, none skipped
            times = h.emitted.get((group, b))
            if times is None:
                times = h.emitted[(group, b)] = self._emitted(group, b)
            start_ps = int(round(b * spec.block_s * 1e12))
            end_ps = int(round((b + 1) * spec.block_s * 1e12))
            deltas = [times[0] - start_ps] + [t1 - t0 for t0, t1 in zip(times, times[1:])] \
                if times else []
            line = (f"PHOTONS {group} {b} {h.epoch} {start_ps} {end_ps} {len(times)} "
                    + " ".join(map(str, deltas)))
            for side in (0, 1):
                link = h.links.get((group, side))
                if link is not None and (group, side, b) not in h.sent:
                    h.sent.add((group, side, b))
                    link.send(line)
            if all((group, side, b) in h.sent for side in (0, 1)):
                h.photons_sent[group] = b + 1

    def _clicks(self, words: list[str]) -> None:
        import numpy as np

        h = self._heralding
        assert h is not None
        group, side, block, epoch, n = (int(w) for w in words[1:6])
        if epoch != h.epoch:  # clicks of photons sent before the last reset: not this run's
            return
        values = [int(w) for w in words[6:6 + 2 * n]]
        times = np.cumsum(np.asarray(values[:n], dtype=np.int64))
        h.clicks.setdefault((group, block), {})[side] = (times, np.asarray(values[n:], np.int64))
        while len(h.clicks.get((group, h.next_block.get(group, 0)), {})) == 2:
            self._herald(group, h.next_block.get(group, 0))

    def _herald(self, group: int, block: int) -> None:
        from qnic.experiments.net.herald import herald_block

        h = self._heralding
        spec = self.herald
        assert h is not None and spec is not None
        both = h.clicks.pop((group, block))
        (t_a, id_a), (t_b, id_b) = both[0], both[1]
        h.emitted.pop((group, block), None)
        i_a, i_b, line = herald_block(t_a, t_b, spec.window_ps, h.lines.get(group),
                                      spec.search_ps)
        if line is not None:
            h.lines[group] = line
            h.fits.setdefault(group, []).append(
                {"block": block, "offset_ps": line.offset_ps, "drift_ppm": line.drift * 1e6,
                 "ref_ps": line.ref_ps, "pairs": int(i_a.size), "residual_ps": line.residual_ps})
        first = h.next_round.get(group, 0)
        true = (id_a[i_a] == id_b[i_b]) & (id_a[i_a] >= 0)
        for k, is_true in enumerate(true.tolist()):
            h.pairs[(group, first + k)] = bool(is_true)
        count = int(i_a.size)
        h.next_round[group] = first + count
        h.next_block[group] = block + 1
        now = time.monotonic()
        h.block_firsts.setdefault(group, []).append(first)
        h.block_times.setdefault(group, []).append(now)
        self.counts["heralded"] += count
        self.counts["heralded_true"] += int(true.sum())
        for side in (0, 1):
            link = h.links.get((group, side))
            if link is not None:
                link.send(f"PAIRS {group} {block} {first} {count}")

    def _herald_time(self, group: int, rnd: int) -> float | None:
        h = self._heralding
        assert h is not None
        firsts = h.block_firsts.get(group, [])
        k = bisect.bisect_right(firsts, rnd) - 1
        return h.block_times[group][k] if k >= 0 else None

    # -- the oracle ---------------------------------------------------------

    def measure(self, group: int, rnd: int, side: int, question: int) -> int:
        """One half's outcome bit (-1 when that half was never delivered)."""
        if self._heralding is not None:
            true = self._heralding.pairs.get((group, rnd))
            if true is None:
                return -1
            delivered = self._herald_time(group, rnd)
            if not true:  # an accidental coincidence: two unrelated photons
                self.counts["measurements"] += 1
                self.counts["accidental_answers"] += 1
                return int(self.rng.random() >= self.table.marginal(side, question, 0))
        else:
            delivered = self._delivered.get((group, side, rnd // self.block))
        if delivered is None:
            return -1
        self.counts["measurements"] += 1
        first = self._first.pop((group, rnd), None)
        if first is None or first[0] == side:
            p0 = self.table.marginal(side, question, 0)
            fresh = int(self.rng.random() >= p0)
            self._first[(group, rnd)] = (side, question, fresh)
        else:
            p0 = self.table.conditional(side, question, first[1], first[2])
            fresh = int(self.rng.random() >= p0)
            self.counts["pairs_measured_twice"] += 1
        stored_us = (time.monotonic() - delivered) * 1e6
        if math.isfinite(self.coherence_us):
            if self.rng.random() >= math.exp(-stored_us / (2.0 * self.coherence_us)):
                self.counts["depolarized"] += 1
                return self.rng.getrandbits(1)
        return fresh

    def on_control(self, message: dict[str, Any]) -> Any:
        op = message.get("op")
        if op == "stats":
            fits = {} if self._heralding is None else self._heralding.fits
            return {"ok": True, **self.counts, "chsh_value": self.table.chsh_value()
                    if self.table.questions == (2, 2) else None, "label": self.table.label,
                    "clock_fits": {str(g): f for g, f in fits.items()}}
        if op == "reset":
            self._clear()
            return {"ok": True}
        if op == "configure":
            if "table" in message:
                m, n = message["questions"]
                self.table = PairTable.from_flat([float(v) for v in message["table"]], (m, n),
                                                 message.get("label", "table"))
            return {"ok": True}
        return super().on_control(message)


@dataclass
class _Heralding:
    """The herald's state: who gets the photons, the clicks waiting, the clock lines."""

    epoch: int = 0
    """Counts the resets: photons carry it, and clicks of an older epoch are dropped."""
    links: dict[tuple[int, int], Link] = field(default_factory=dict)
    emitted: dict[tuple[int, int], list[int]] = field(default_factory=dict)
    sent: set[tuple[int, int, int]] = field(default_factory=set)
    photons_sent: dict[int, int] = field(default_factory=dict)
    clicks: dict[tuple[int, int], dict[int, Any]] = field(default_factory=dict)
    next_block: dict[int, int] = field(default_factory=dict)
    next_round: dict[int, int] = field(default_factory=dict)
    pairs: dict[tuple[int, int], bool] = field(default_factory=dict)
    block_firsts: dict[int, list[int]] = field(default_factory=dict)
    block_times: dict[int, list[float]] = field(default_factory=dict)
    lines: dict[int, Any] = field(default_factory=dict)
    fits: dict[int, list[dict[str, Any]]] = field(default_factory=dict)


def _warm_herald() -> None:
    """Load the herald's compiled kernels now, before the process says it is ready."""
    import numpy as np

    from qnic.experiments.net.herald import herald_block

    t = np.arange(0, 10_000_000, 100_000, dtype=np.int64)
    herald_block(t, t + 5, 1000, None, 1_000_000)
