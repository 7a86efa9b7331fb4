"""The load generator of the networked system (docs/network.md): one seeded trace, replayed.

Open-loop arrivals: requests are sent when the trace says, whether or not
earlier ones were answered. Two arrival models:

- ``step``: the paper's model. Every ``step_us`` each node receives one
  request, type C with probability p, else type E.
- ``poisson``: each node receives a Poisson stream of ``rate_hz / N``.

A type-C request carries a key, its C subtype, uniform over ``c_subtypes``;
type E carries -1. The same seed gives the same trace, so every strategy of
a study routes the same requests. Latency is measured from the moment a
request is written to the moment its answer is read, on this process's
monotonic clock; how late the generator itself sent (its timers fire some
100 us late, more on a busy machine) is reported apart as ``send_lag_us``.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from dataclasses import asdict, dataclass
from typing import Any

from qnic.experiments.net.wire import Address, Delay, Link, Server, now_ns, open_link

ARRIVAL_MODELS = ("step", "poisson")


@dataclass(frozen=True)
class TraceSpec:
    """What requests to send.

    Attributes:
        nodes: N balancer nodes.
        requests: requests in all (each node gets requests // N).
        model: ``step`` or ``poisson``.
        step_us: the step of the ``step`` model.
        rate_hz: total arrival rate of the ``poisson`` model.
        c_probability: p, the probability that a request is type C.
        c_subtypes: number of C subtypes (keys 0 .. K-1).
        seed: the trace's seed.
    """

    nodes: int
    requests: int
    model: str = "step"
    step_us: float = 1000.0
    rate_hz: float = 2000.0
    c_probability: float = 0.5
    c_subtypes: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        if self.nodes < 1:
            raise ValueError(f"a trace needs at least one node, got {self.nodes}")
        if self.requests < self.nodes:
            raise ValueError(f"requests ({self.requests}) must be at least the number of nodes "
                             f"({self.nodes})")
        if self.model not in ARRIVAL_MODELS:
            raise ValueError(f"arrival model must be one of {ARRIVAL_MODELS}, got {self.model!r}")
        if not self.step_us > 0 or not self.rate_hz > 0:
            raise ValueError("step_us and rate_hz must be > 0")
        if not 0.0 <= self.c_probability <= 1.0:
            raise ValueError(f"c_probability must lie within [0, 1], got {self.c_probability}")
        if self.c_subtypes < 1:
            raise ValueError(f"c_subtypes must be at least 1, got {self.c_subtypes}")


def make_trace(spec: TraceSpec) -> list[tuple[float, int, int, int]]:
    """The trace: (send time in us, node, x, key) per request, by time; index = request id."""
    rng = random.Random(spec.seed)
    per_node = spec.requests // spec.nodes
    trace = []
    for node in range(spec.nodes):
        t = 0.0
        for k in range(per_node):
            if spec.model == "step":
                t = k * spec.step_us
            else:
                t += rng.expovariate(spec.rate_hz / spec.nodes) * 1e6
            x = int(rng.random() < spec.c_probability)
            key = rng.randrange(spec.c_subtypes) if x else -1
            trace.append((t, node, x, key))
    trace.sort(key=lambda item: (item[0], item[1]))
    return trace


def trace_digest(trace: list[tuple[float, int, int, int]]) -> str:
    """A short fingerprint of a trace (equal traces, equal digests)."""
    return hashlib.sha256(repr(trace).encode()).hexdigest()[:16]


class LoadGenerator(Server):
    """The load generator process: replays a trace through the nodes on request."""

    role = "loadgen"

    def __init__(self, listen: Address, nodes: list[Address], delay: Delay = Delay(),
                 seed: int = 0) -> None:
        super().__init__(listen, delay, seed)
        if not nodes:
            raise ValueError("the load generator needs at least one node address")
        self.nodes = nodes

    def on_line(self, words: list[str], link: Link) -> None:
        """The load generator takes no data lines."""

    def on_control(self, message: dict[str, Any]) -> Any:
        if message.get("op") == "run":
            spec = TraceSpec(**message["trace"])
            if spec.nodes != len(self.nodes):
                raise ValueError(f"the trace is for {spec.nodes} nodes, this generator has "
                                 f"{len(self.nodes)}")
            return self.run(spec, float(message.get("timeout_s", 10.0)))
        return super().on_control(message)

    async def run(self, spec: TraceSpec, timeout_s: float) -> dict[str, Any]:
        """Send the trace, wait for every answer (or the timeout), return what was measured."""
        trace = make_trace(spec)
        n = len(trace)
        answers = _Answers(n)
        links = [await open_link(address, answers.on_line, self.delay, f"node {i}", self.rng,
                                 hello="loadgen")
                 for i, address in enumerate(self.nodes)]
        lag = await _send(trace, links, answers.sent)
        last_sent = now_ns()
        try:
            await asyncio.wait_for(answers.all_done.wait(), timeout=timeout_s)
        except asyncio.TimeoutError:
            pass
        for link in links:
            link.close()
        for link in links:
            await link.wait_closed()
        done, sent = answers.done, answers.sent
        last_done = max(done) if any(done) else last_sent
        return {"ok": True, "trace": asdict(spec), "trace_digest": trace_digest(trace),
                "nodes": [t[1] for t in trace],
                "x": [t[2] for t in trace], "key": [t[3] for t in trace],
                "latency_ns": [(done[r] - sent[r]) if done[r] else -1 for r in range(n)],
                "hit": answers.hit, "failed": answers.failed,
                "unanswered": sum(1 for r in range(n) if not done[r] and not answers.failed[r]),
                "wall_s": (last_done - sent[0]) * 1e-9 if n else 0.0,
                "send_lag_us": {"mean": lag[0] / max(n, 1) * 1e6, "max": lag[1] * 1e6}}


class _Answers:
    """What came back for each request: when (ns), a cache hit, or a failure."""

    def __init__(self, n: int) -> None:
        self.sent = [0] * n
        self.done = [0] * n
        self.hit = [0] * n
        self.failed = [0] * n
        self.left = n
        self.all_done = asyncio.Event()

    def on_line(self, words: list[str]) -> None:
        rid = int(words[1])
        if self.done[rid] or self.failed[rid]:
            return
        if words[0] == "DONE":
            self.done[rid] = now_ns()
            self.hit[rid] = int(words[2])
        elif words[0] == "FAIL":
            self.failed[rid] = 1
        else:
            return
        self.left -= 1
        if self.left == 0:
            self.all_done.set()


async def _send(trace: list[tuple[float, int, int, int]], links: list[Link], sent: list[int]
                ) -> tuple[float, float]:
    """Write each request when the trace says (open loop); returns (sum, max) of the lateness (s)."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    lag_max = lag_sum = 0.0
    for rid, (t_us, node, x, key) in enumerate(trace):
        due = start + t_us * 1e-6
        now = loop.time()
        if due > now:
            await asyncio.sleep(due - now)
            now = loop.time()
        elif rid % 256 == 255:
            await asyncio.sleep(0)  # behind schedule: still read the answers
        lag = max(0.0, now - due)
        lag_max = max(lag_max, lag)
        lag_sum += lag
        sent[rid] = now_ns()
        links[node].send(f"REQ {rid} {x} {key}")
    return lag_sum, lag_max
