"""A balancer node of the networked system (docs/network.md).

Each node owns one QNIC: a buffer of the pair halves it was given ahead of
use, and their measurement. It receives requests (``REQ rid x key`` from the
load generator), decides each one's backend alone, forwards it (``JOB rid x
key``) and relays the answer (``DONE rid hit`` or ``FAIL rid``).

Nodes 2g and 2g+1 are partners (group g): the i-th request of each is round
i of their game, decided from shared randomness (the round's backend pair,
:func:`~qnic.experiments.net.shared.server_pair`) and, for the quantum
strategy, pair (g, i). A node never opens a connection to another node.
Strategies that do talk say so: power-of-two asks two backends for their
load, the coordinator strategy asks a coordinator process; both pay the round
trip. When a quantum node holds no pair for a round (its source is slow or
gone) it decides that round by the best classical rule and counts a fallback.
"""

from __future__ import annotations

import asyncio
import functools
import random
import sys
from dataclasses import asdict, dataclass, field
from typing import Any

from qnic.experiments.net.shared import HashRing, group_base, mix64, pair_from_base
from qnic.experiments.net.strategies import CLASSICAL_RULES, NETWORK_STRATEGIES, Strategy, question
from qnic.experiments.net.wire import Address, Delay, Link, NetError, Server, now_ns, open_link

_LOCAL = frozenset(("random", "round-robin", "consistent-hash", *CLASSICAL_RULES))
"""Strategies that decide alone, at once, without a pair."""
_PAIRED = frozenset(("quantum", "xor"))
"""Strategies that measure a distributed pair per decision."""


@dataclass(frozen=True)
class NodeClock:
    """This node's clock and detector, as the simulated bench gives them.

    Attributes:
        offset_ns: the clock's offset from the source's (ns).
        drift_ppm: its rate error (parts per million).
        efficiency: probability that a photon of this arm is detected.
        dark_hz: dark counts per second.
        jitter_ps: RMS timing jitter of a click.
    """

    offset_ns: float = 0.0
    drift_ppm: float = 0.0
    efficiency: float = 0.3
    dark_hz: float = 500.0
    jitter_ps: float = 350.0

    def __post_init__(self) -> None:
        if not 0.0 < self.efficiency <= 1.0:
            raise ValueError(f"the detection efficiency must lie within (0, 1], got {self.efficiency}")
        if not abs(self.drift_ppm) < 1e5:
            raise ValueError(f"the clock drift must be below 1e5 ppm, got {self.drift_ppm}")
        if self.dark_hz < 0 or self.jitter_ps < 0:
            raise ValueError("dark counts and jitter must be >= 0")


@dataclass(slots=True)
class _Pending:
    """A request waiting for a remote answer before it can be forwarded."""

    rid: int
    x: int
    key: int
    round_index: int
    client: Link
    t_in: int
    t_wait: int
    t_answer: int = 0
    loads: dict[int, int] = field(default_factory=dict)
    candidates: tuple[int, ...] = ()


class BalancerNode(Server):
    """One balancer node process."""

    role = "node"

    def __init__(self, listen: Address, index: int, backends: list[Address],
                 source: Address | None = None, coordinator: Address | None = None,
                 delay: Delay = Delay(), seed: int = 0, lookahead_blocks: int = 2,
                 clock: NodeClock = NodeClock()) -> None:
        super().__init__(listen, delay, seed)
        if index < 0:
            raise ValueError(f"the node index must be >= 0, got {index}")
        if len(backends) < 2:
            raise ValueError(f"a node needs at least 2 backends, got {len(backends)}")
        self.index, self.group, self.side = index, index // 2, index % 2
        self.backend_addresses = backends
        self.source_address = source
        self.coordinator_address = coordinator
        self.lookahead_blocks = lookahead_blocks
        self.strategy: Strategy = NETWORK_STRATEGIES["random"]
        self._base = group_base(0, self.group)
        self.rule: list[list[int]] = [[0, 1], [0, 1]]
        self._classical_bits: list[int] | None = None  # the game's optimal classical answers
        self.ring = HashRing(len(backends))
        self._backends: list[Link | None] = [None] * len(backends)
        self._source: Link | None = None
        self._coordinator: Link | None = None
        self._jobs: dict[int, tuple[int, int, int, Link, int]] = {}
        self._waiting: dict[int, _Pending] = {}
        # oracle questions out, by round: (rid, x, key, client, t_in, question, t_wait)
        self._measuring: dict[int, tuple[int, int, int, Link, int, int, int]] = {}
        self.clock = clock
        self._detector = random.Random(seed ^ 0x5EED)
        self._jitter_seed = seed << 16  # each outgoing link's jitter has a generator of its own
        self._held_from: int = 0  # pair halves held: rounds [from, until)
        self._held_until: int = 0
        self._next_block: int = 0
        self._blocks_out: int = 0  # blocks asked for and not yet answered
        self._ask_at: int = 0  # ask for more pairs at this round
        self._per_block: int = 1  # rounds in the last block
        self._asked: set[int] = set()  # blocks asked for and not yet answered
        self._hello = f"node {index}"
        self._meas = f"MEAS {self.group} "
        self.abandoned = 0
        self._pairs_arrived = asyncio.Event()
        self._source_gone = asyncio.Event()
        self.source_lost = False
        self._lost: set[int] = set()
        self._reset()

    def _reset(self) -> None:
        self.seq = 0
        self._rr = self.index
        self._tag = 0
        self.outstanding = [0] * len(self.backend_addresses)
        self.alive = [b not in self._lost for b in range(len(self.backend_addresses))]
        self.records: list[tuple[int, int, int, int, int, int, int]] = []
        self.counts = {"relayed": 0, "failed": 0, "fallbacks": 0, "pairs_used": 0, "failovers": 0,
                       "load_probes": 0, "messages_to_coordinator": 0,
                       "messages_between_balancers": 0}

    # -- connections ------------------------------------------------------

    async def start(self) -> Address:
        """Listen, then reach every backend, the source and the coordinator before
        saying ready: an address that does not answer is named at once."""
        address = await super().start()
        try:
            await self.connect(strict=True)
        except NetError:
            await self.close()
            raise
        return address

    async def connect(self, strict: bool = False) -> None:
        """Open the links to every backend, the pair source and the coordinator.

        Args:
            strict: a source that cannot be reached is an error (at start-up);
                otherwise the node counts it lost and falls back.
        """
        for b, address in enumerate(self.backend_addresses):
            if self._backends[b] is None and b not in self._lost:
                link = await open_link(address, functools.partial(self._on_backend, b),
                                       self.delay, f"backend {b}",
                                       random.Random(self._jitter_seed + b),
                                       functools.partial(self._backend_lost, b), self._hello)
                self._backends[b] = link
                self.links.add(link)
        if self.source_address is not None and self._source is None and not self.source_lost:
            try:
                self._source = await open_link(self.source_address, self._on_source, Delay(),
                                               "pair source", on_lost=self._source_closed,
                                               hello=self._hello)
            except NetError:
                if strict:
                    raise
                self._lose_source()
            else:
                self.links.add(self._source)
        if self.coordinator_address is not None and self._coordinator is None:
            self._coordinator = await open_link(self.coordinator_address, self._on_coordinator,
                                                self.delay, "coordinator",
                                                random.Random(self._jitter_seed - 1),
                                                self._coordinator_lost, self._hello)
            self.links.add(self._coordinator)

    def _coordinator_lost(self) -> None:
        """Questions the coordinator will never answer: decide them classically."""
        if self.stopped.is_set():
            return
        print(f"qnic net node {self.index}: lost the coordinator; deciding by the best "
              "classical rule from now on", file=sys.stderr, flush=True)
        for key, pending in list(self._waiting.items()):
            if key < 0 and self.strategy.name == "coordinator":
                del self._waiting[key]
                self._fall_back(pending)

    def _source_closed(self) -> None:
        if not self.stopped.is_set():
            self._lose_source()

    def _lose_source(self) -> None:
        if self.source_lost:
            return
        self.source_lost = True
        self._source_gone.set()
        print(f"qnic net node {self.index}: lost the pair source; deciding by the best "
              "classical rule from now on", file=sys.stderr, flush=True)
        for i, (rid, x, key, client, t_in, _q, t_wait) in list(self._measuring.items()):
            del self._measuring[i]  # its oracle question is lost
            self._fall_back(_Pending(rid, x, key, i, client, t_in, t_wait))

    # -- requests ---------------------------------------------------------

    def on_line(self, words: list[str], link: Link) -> None:
        if link.peer.startswith("node"):  # no strategy has a node talk to another node
            self.counts["messages_between_balancers"] += 1
            return
        if words[0] == "REQ":
            self.request(int(words[1]), int(words[2]), int(words[3]), link)

    def request(self, rid: int, x: int, key: int, client: Link) -> None:
        """Decide one request's backend and forward it (or ask what the strategy must ask)."""
        t_in = now_ns()
        i = self.seq
        self.seq = i + 1
        name = self.strategy.name
        if name in _LOCAL:
            self._send(rid, x, key, client, self._choose(name, rid, x, key, i), i, t_in, 0, 0)
            return
        if name in _PAIRED:
            # CHSH measures in the basis of the request type; the XOR game's strategy in
            # the basis of its question, the C subtype (0 for type E, 1 + key for type C)
            q = x if name == "quantum" else question(x, key)
            if i >= self._ask_at:
                self._ask_pairs(i)
            source = self._source
            if self._held_from <= i < self._held_until and source is not None and not source.closed:
                source.send(f"{self._meas}{i} {self.side} {q}")
                # the wait starts once the question is out; the answer is keyed by round
                self._measuring[i] = (rid, x, key, client, t_in, q, now_ns())
            else:
                self._fall_back(_Pending(rid, x, key, i, client, t_in, 0))
            return
        pending = _Pending(rid, x, key, i, client, t_in, 0)
        if name == "coordinator":
            self.counts["messages_to_coordinator"] += 1
            self._ask(pending, self._coordinator,
                      f"ASK {self.group} {i} {self.side} {question(x, key)}")
        else:  # power-of-two: ask two random backends for their queue length
            m = len(self.alive)
            first = self.rng.randrange(m)
            pending.candidates = (first, (first + 1 + self.rng.randrange(m - 1)) % m)
            self._tag += 1
            self._waiting[self._tag] = pending
            for b in pending.candidates:
                link = self._backends[b]
                if link is None or link.closed:
                    pending.loads[b] = 1 << 30
                else:
                    link.send(f"LOAD? {self._tag}")
                    self.counts["load_probes"] += 1
            pending.t_wait = now_ns()  # the wait starts once the probes are out
            if len(pending.loads) == 2:
                self._waiting.pop(self._tag)
                self._forward(pending, first, False)

    def _ask(self, pending: _Pending, link: Link | None, line: str) -> None:
        if link is None or link.closed:
            self._fall_back(pending)
            return
        self._waiting[-1 - pending.round_index] = pending  # answers are keyed by round
        link.send(line)
        pending.t_wait = now_ns()  # the wait starts once the question is out

    def _fall_back(self, pending: _Pending) -> None:
        """Decide by the best classical rule: no pair (or no source) for this round."""
        self.counts["fallbacks"] += 1
        b = self._choose("classical-best", pending.rid, pending.x, pending.key, pending.round_index)
        self._forward(pending, b, True)

    def _choose(self, name: str, rid: int, x: int, key: int, i: int) -> int:
        """The backend of a strategy that decides alone, without a pair."""
        m = len(self.alive)
        if name == "random":
            return self.rng.randrange(m)
        if name == "round-robin":
            self._rr += 1
            return self._rr % m
        if name == "consistent-hash":
            return self.ring.lookup(key if x else mix64(rid), self.outstanding, self.alive,
                                    len(self._jobs))
        if name == "classical-best" and self._classical_bits is not None:
            return pair_from_base(self._base, i, m)[self._classical_bits[question(x, key)]]
        return pair_from_base(self._base, i, m)[CLASSICAL_RULES[name][self.side][x]]

    def _forward(self, pending: _Pending, b: int, fallback: bool) -> None:
        waited = 0 if pending.t_wait == 0 else (pending.t_answer or now_ns()) - pending.t_wait
        self._send(pending.rid, pending.x, pending.key, pending.client, b, pending.round_index,
                   pending.t_in, waited, int(fallback))

    def _send(self, rid: int, x: int, key: int, client: Link, b: int, i: int, t_in: int,
              waited: int, fallback: int) -> None:
        """Forward the job to backend ``b`` (the next one up if it is down) and record it."""
        if not self.alive[b]:
            b = self._next_alive(b)
            if b < 0:
                self._fail(rid, client)
                return
        self._backends[b].send(f"JOB {rid} {x} {key}")  # type: ignore[union-attr]
        decision = now_ns() - t_in - waited
        self.outstanding[b] += 1
        self._jobs[rid] = (b, x, key, client, len(self.records))  # the last: its record
        self.records.append((i, x, key, b, fallback, decision, waited))

    def _next_alive(self, b: int) -> int:
        m = len(self.alive)
        for step in range(m):
            c = (b + step) % m
            if self.alive[c]:
                return c
        return -1

    def _fail(self, rid: int, client: Link) -> None:
        self.counts["failed"] += 1
        client.send(f"FAIL {rid}")

    # -- answers ----------------------------------------------------------

    def _on_source(self, words: list[str]) -> None:
        if words[0] == "OUT":
            i = int(words[2])
            asked = self._measuring.pop(i, None)
            if asked is None:
                return
            t_answer = now_ns()
            rid, x, key, client, t_in, q, t_wait = asked
            bit = int(words[3])
            if bit < 0:  # the source does not know this half: decide classically
                self._fall_back(_Pending(rid, x, key, i, client, t_in, t_wait, t_answer))
                return
            self.counts["pairs_used"] += 1
            b = pair_from_base(self._base, i, len(self.alive))[self.rule[q][bit]]
            self._send(rid, x, key, client, b, i, t_in, t_answer - t_wait, 0)
        elif words[0] == "PAIRS":
            block, first, count = int(words[2]), int(words[3]), int(words[4])
            if first > self._held_until:  # rounds in between were never held
                self._held_from = first
            self._held_until = max(self._held_until, first + count)
            # heralded blocks reach both partners, whichever asked: count only our own asks
            if block in self._asked:
                self._asked.discard(block)
                self._blocks_out -= 1
            self._next_block = max(self._next_block, block + 1)
            self._per_block = max(1, count)
            self._ask_at = self._held_until - self._per_block
            self._pairs_arrived.set()
        elif words[0] == "PHOTONS":
            self._detect(words)

    def _on_coordinator(self, words: list[str]) -> None:
        if words[0] == "SRV":
            pending = self._waiting.pop(-1 - int(words[2]), None)
            if pending is not None:
                pending.t_answer = now_ns()
                self._forward(pending, int(words[3]), False)

    def _on_backend(self, b: int, words: list[str]) -> None:
        verb = words[0]
        if verb == "DONE":
            job = self._jobs.pop(int(words[1]), None)
            if job is not None:
                self.outstanding[job[0]] -= 1
                self.counts["relayed"] += 1
                job[3].send(f"DONE {words[1]} {words[2]}")
        elif verb == "LOAD":  # backend b's queue length, for power-of-two's probe
            tag = int(words[1])
            pending = self._waiting.get(tag)
            if pending is not None and b in pending.candidates:
                pending.loads[b] = int(words[2])
                self._probe_answered(tag, pending)

    def _probe_answered(self, tag: int, pending: _Pending) -> None:
        """Forward to the shorter queue once both probed backends have answered."""
        if len(pending.loads) == 2:
            pending.t_answer = now_ns()
            self._waiting.pop(tag)
            self._forward(pending, min(pending.candidates, key=lambda c: (pending.loads[c], c)),
                          False)

    def _backend_lost(self, b: int) -> None:
        if self.stopped.is_set() or b in self._lost:
            return
        self._lost.add(b)
        self.alive[b] = False
        print(f"qnic net node {self.index}: backend {b} at {self.backend_addresses[b]} is gone; "
              "failing its requests over", file=sys.stderr, flush=True)
        for rid, (owner, x, key, client, k) in list(self._jobs.items()):
            if owner != b:
                continue
            del self._jobs[rid]
            self.outstanding[b] -= 1
            target = self._next_alive(b)
            if target < 0:
                self._fail(rid, client)
                continue
            self.counts["failovers"] += 1
            self.outstanding[target] += 1
            self._jobs[rid] = (target, x, key, client, k)
            r = self.records[k]  # the placement the game scores is where the job ran
            self.records[k] = (r[0], r[1], r[2], target, r[4], r[5], r[6])
            self._backends[target].send(f"JOB {rid} {x} {key}")  # type: ignore[union-attr]
        for tag, pending in list(self._waiting.items()):  # load probes the dead one will not answer
            if b in pending.candidates and b not in pending.loads:
                pending.loads[b] = 1 << 30
                self._probe_answered(tag, pending)

    # -- pairs ------------------------------------------------------------

    def _clear_pairs(self) -> None:
        self._asked.clear()
        self._held_from = self._held_until = 0
        self._next_block = self._blocks_out = self._ask_at = 0
        self._per_block = 1

    def _ask_pairs(self, i: int) -> None:
        """Ask for more blocks: fewer than one block's rounds are held beyond round ``i``."""
        source = self._source
        if source is None or source.closed:
            return
        while self._blocks_out <= self.lookahead_blocks:
            source.send(f"PAIRS? {self.group} {self.side} {self._next_block}")
            self._asked.add(self._next_block)
            self._next_block += 1
            self._blocks_out += 1
        self._ask_at = max(i + 1, self._held_until - self._per_block)

    def _detect(self, words: list[str]) -> None:
        """Detect a block's photons on this node's own clock and send the clicks to the herald.

        ``PHOTONS g b epoch start end n d0 d1 ...``: the arrival times (source
        clock, ps) of this arm's photons, as differences. Each is detected with the
        detector's efficiency, timestamped on this node's clock (offset, drift)
        with the detector's jitter; dark counts are added over the block. The
        clicks go back as ``CLICKS g side b epoch n t0 dt1 ... id0 id1 ...`` (ids: the
        photon's index in the block, -1 for a dark count; the herald matches on
        the times alone, the ids only tell the oracle which matches were true).
        """
        group, block, epoch, start, end, n = (int(w) for w in words[1:7])
        c = self.clock
        rng = self._detector
        scale, offset = 1.0 + c.drift_ppm * 1e-6, c.offset_ns * 1e3
        clicks = []
        t = start
        for k, word in enumerate(words[7:7 + n]):
            t += int(word)
            if rng.random() < c.efficiency:
                clicks.append((round(scale * t + offset + rng.gauss(0.0, c.jitter_ps)), k))
        span_s = (end - start) * 1e-12
        dark = 0.0 if c.dark_hz <= 0 else rng.expovariate(c.dark_hz)
        while dark < span_s:
            clicks.append((round(scale * (start + dark * 1e12) + offset), -1))
            dark += rng.expovariate(c.dark_hz)
        clicks.sort()
        times = [ts for ts, _ in clicks]
        deltas = times[:1] + [b - a for a, b in zip(times, times[1:])]
        ids = [k for _, k in clicks]
        if self._source is not None and not self._source.closed:
            self._source.send(f"CLICKS {group} {self.side} {block} {epoch} {len(clicks)} "
                              + " ".join(map(str, deltas + ids)))

    async def _pairs_ready(self, timeout_s: float) -> dict[str, Any]:
        """Wait until the first block of pairs is held (bounded; the partner must have
        asked too when pairs are heralded), or the source is gone."""
        if not self.strategy.consumes_pairs or self.source_lost:
            return {"ok": True, "index": self.index, "held": 0, "source_lost": self.source_lost}
        waits = [asyncio.ensure_future(self._pairs_arrived.wait()),
                 asyncio.ensure_future(self._source_gone.wait())]
        await asyncio.wait(waits, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
        for w in waits:
            w.cancel()
        return {"ok": True, "index": self.index, "held": self._held_until - self._held_from,
                "source_lost": self.source_lost}

    # -- control ----------------------------------------------------------

    def set_delay(self, delay: Delay) -> None:
        super().set_delay(delay)
        if self._source is not None:
            self._source.delay = Delay()  # the oracle's link stands for physics: no delay

    def on_control(self, message: dict[str, Any]) -> Any:
        op = message.get("op")
        if op == "configure":
            return self._configure(message)
        if op == "ready":
            return self._pairs_ready(float(message.get("timeout_s", 10.0)))
        if op == "stats":
            return {"ok": True, "index": self.index, **self.counts, "requests": self.seq,
                    "forwarded": len(self.records), "records": self.records,
                    "source_lost": self.source_lost, "backends_lost": sorted(self._lost),
                    "abandoned_before_this_run": self.abandoned,
                    "clock": asdict(self.clock),
                    "waiting": len(self._waiting) + len(self._measuring),
                    "jobs": len(self._jobs)}
        return super().on_control(message)

    def _abandon(self) -> None:
        """Answer FAIL for every request of the last run still waiting or out (a backend,
        the coordinator or the source stopped answering), so the next run starts clean."""
        stuck = [(p.rid, p.client) for p in self._waiting.values()]
        stuck += [(m[0], m[3]) for m in self._measuring.values()]
        self._measuring.clear()
        stuck += [(rid, job[3]) for rid, job in self._jobs.items()]
        self._waiting.clear()
        self._jobs.clear()
        for rid, client in stuck:
            if not client.closed:
                self._fail(rid, client)
        self.abandoned = len(stuck)

    async def _configure(self, message: dict[str, Any]) -> dict[str, Any]:
        name = message["strategy"]
        if name not in NETWORK_STRATEGIES:
            raise ValueError(f"unknown strategy {name!r}; known: {', '.join(NETWORK_STRATEGIES)}")
        self._abandon()
        self.strategy = NETWORK_STRATEGIES[name]
        seed = int(message.get("seed", 0))
        self._base = group_base(seed, self.group)
        # the node's own randomness starts afresh for every strategy (random routing,
        # power-of-two's picks): the same seed routes the same trace the same way
        self.rng.seed(mix64(seed ^ (self.index << 32)))
        self._detector.seed(mix64(seed ^ (self.index << 32) ^ 0x5EED))
        self.rule = [list(map(int, row)) for row in message.get("rule", self.rule)]
        bits = message.get("classical")
        self._classical_bits = None if bits is None else [int(v) for v in bits]
        self._reset()
        await self.connect()
        self._clear_pairs()
        self._pairs_arrived.clear()
        if name in _PAIRED and not self.source_lost:
            if self._source is None:
                raise NetError(f"node {self.index}: the {name} strategy needs a pair source")
            self._ask_pairs(0)  # the orchestrator then waits on "ready"
        return {"ok": True, "index": self.index, "strategy": name}
