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

import math
import time
from dataclasses import dataclass
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


class PairSource(Server):
    """The pair source process: distributes pair ids in blocks and answers the oracle."""

    role = "source"

    def __init__(self, listen: Address, table: PairTable, block: int = 4096,
                 coherence_us: float = math.inf, delay: Delay = Delay(), seed: int = 0) -> None:
        super().__init__(listen, delay, seed)
        if block < 1:
            raise ValueError(f"the distribution block must be at least 1 pair, got {block}")
        if not coherence_us > 0:
            raise ValueError(f"the memory coherence time must be > 0 us, got {coherence_us}")
        self.table = table
        self.block = block
        self.coherence_us = coherence_us
        self._delivered: dict[tuple[int, int, int], float] = {}
        self._first: dict[tuple[int, int], tuple[int, int, int]] = {}
        self.counts = {"pairs_distributed": 0, "measurements": 0, "pairs_measured_twice": 0,
                       "depolarized": 0}

    def on_line(self, words: list[str], link: Link) -> None:
        verb = words[0]
        if verb == "MEAS":
            group, rnd, side, question = (int(w) for w in words[1:5])
            link.send(f"OUT {group} {rnd} {self.measure(group, rnd, side, question)}")
        elif verb == "PAIRS?":
            group, side, block = (int(w) for w in words[1:4])
            self._delivered[(group, side, block)] = time.monotonic()
            self.counts["pairs_distributed"] += self.block
            link.send(f"PAIRS {group} {block} {block * self.block} {self.block}")

    def measure(self, group: int, rnd: int, side: int, question: int) -> int:
        """One half's outcome bit (-1 when that half was never delivered)."""
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
            return {"ok": True, **self.counts, "chsh_value": self.table.chsh_value()
                    if self.table.questions == (2, 2) else None, "label": self.table.label}
        if op == "reset":
            self._delivered.clear()
            self._first.clear()
            self.counts = dict.fromkeys(self.counts, 0)
            return {"ok": True}
        if op == "configure":
            if "table" in message:
                m, n = message["questions"]
                self.table = PairTable.from_flat([float(v) for v in message["table"]], (m, n),
                                                 message.get("label", "table"))
            return {"ok": True}
        return super().on_control(message)
