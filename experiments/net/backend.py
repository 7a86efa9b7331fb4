"""A backend server of the networked system (docs/network.md): a queue and a cache.

Lines in (from balancer nodes): ``JOB rid x key`` (x = 1 for a type-C
request, whose key names its C subtype; 0 for type E, key -1) and
``LOAD? tag`` (power-of-two choices asks for the queue length). Lines out, on
the same connection: ``DONE rid hit`` when the job is served (hit 1 when a
type-C key was in this server's cache) and ``LOAD tag n``.

Service follows the paper's server rule: the server runs type-C requests
first, two of the same key together when two are waiting, then type-E
requests one at a time. A type-C request whose key is in the cache (the
``cache_size`` keys served here most recently) takes ``c_hit_us``; a miss
adds ``miss_penalty_us`` and caches the key. A type-E request takes ``e_us``
and wants an idle server: how often one found this server busy is counted.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from dataclasses import asdict, dataclass
from typing import Any

from qnic.experiments.net.wire import Address, Delay, Link, Server


@dataclass(frozen=True)
class ServiceTimes:
    """Service times of one backend, microseconds.

    Attributes:
        c_hit_us: a type-C request whose key is cached.
        miss_penalty_us: added to a type-C request whose key is not cached.
        e_us: a type-E request.
        cache_size: keys kept (least recently served dropped first); 0 caches nothing.
    """

    c_hit_us: float = 1000.0
    miss_penalty_us: float = 4000.0
    e_us: float = 2000.0
    cache_size: int = 4

    def __post_init__(self) -> None:
        for name in ("c_hit_us", "miss_penalty_us", "e_us"):
            value = getattr(self, name)
            if not value >= 0:
                raise ValueError(f"service time {name} must be >= 0 us, got {value}")
        if self.cache_size < 0:
            raise ValueError(f"cache_size must be >= 0, got {self.cache_size}")


@dataclass
class _Job:
    rid: int
    x: int
    key: int
    link: Link
    arrived: float


class Backend(Server):
    """One backend server process."""

    role = "backend"

    def __init__(self, listen: Address, index: int, times: ServiceTimes, delay: Delay = Delay(),
                 seed: int = 0) -> None:
        super().__init__(listen, delay, seed)
        self.index = index
        self.times = times
        self._cache: OrderedDict[int, None] = OrderedDict()
        self._c: deque[_Job] = deque()
        self._e: deque[_Job] = deque()
        self._busy = False
        self._jobs_wanted = 1 << 62
        self._jobs_reached = asyncio.Event()
        self._reset_counts()

    def _reset_counts(self) -> None:
        self.counts = {"jobs": 0, "served": 0, "c_jobs": 0, "hits": 0, "served_together": 0,
                       "e_jobs": 0, "e_found_busy": 0, "max_queue": 0, "queue_sum": 0}

    @property
    def queue_length(self) -> int:
        """Jobs waiting or in service."""
        return len(self._c) + len(self._e) + int(self._busy)

    def on_line(self, words: list[str], link: Link) -> None:
        verb = words[0]
        if verb == "JOB":
            self._arrive(_Job(int(words[1]), int(words[2]), int(words[3]), link,
                              asyncio.get_running_loop().time()))
        elif verb == "LOAD?":
            link.send(f"LOAD {words[1]} {self.queue_length}")
        else:
            raise ValueError(f"backend {self.index}: unknown verb {verb!r}")

    async def _wait_jobs(self, jobs: int, timeout_s: float) -> dict[str, Any]:
        self._jobs_wanted = jobs
        self._jobs_reached.clear()
        if self.counts["jobs"] < jobs:
            try:
                await asyncio.wait_for(self._jobs_reached.wait(), timeout_s)
            except asyncio.TimeoutError:
                pass
        return {"ok": True, "jobs": self.counts["jobs"]}

    def _arrive(self, job: _Job) -> None:
        c = self.counts
        queue = self.queue_length
        c["jobs"] += 1
        if c["jobs"] >= self._jobs_wanted:
            self._jobs_reached.set()
        c["queue_sum"] += queue
        c["max_queue"] = max(c["max_queue"], queue + 1)
        if job.x:
            c["c_jobs"] += 1
            self._c.append(job)
        else:
            c["e_jobs"] += 1
            c["e_found_busy"] += int(queue > 0)
            self._e.append(job)
        if not self._busy:
            self._start_next(job.arrived)

    def _start_next(self, free_at: float) -> None:
        """Start the next job at model time ``free_at`` (when the last one ended).

        The service schedule is kept in model time: a timer that fires late
        delays the answer, never the next job's start, so the queue behaves
        as the service times say whatever the timers' precision.
        """
        if self._c:
            first = self._c.popleft()
            batch = [first]
            for other in self._c:  # the paper's rule: two C of one key run together
                if other.key == first.key:
                    self._c.remove(other)
                    batch.append(other)
                    self.counts["served_together"] += 2
                    break
            hit = first.key in self._cache
            self._remember(first.key)
            service_us = self.times.c_hit_us + (0.0 if hit else self.times.miss_penalty_us)
        elif self._e:
            batch, hit, service_us = [self._e.popleft()], False, self.times.e_us
        else:
            self._busy = False
            return
        self._busy = True
        end = max(free_at, batch[0].arrived) + service_us * 1e-6
        asyncio.get_running_loop().call_at(end, self._finish, batch, hit, end)

    def _remember(self, key: int) -> None:
        if self.times.cache_size == 0:
            return
        self._cache[key] = None
        self._cache.move_to_end(key)
        while len(self._cache) > self.times.cache_size:
            self._cache.popitem(last=False)

    def _finish(self, batch: list[_Job], hit: bool, end: float) -> None:
        for job in batch:
            self.counts["served"] += 1
            self.counts["hits"] += int(hit)
            job.link.send(f"DONE {job.rid} {int(hit)}")
        self._start_next(end)

    def on_control(self, message: dict[str, Any]) -> Any:
        op = message.get("op")
        if op == "stats":
            return {"ok": True, "index": self.index, **self.counts, "queue": self.queue_length}
        if op == "reset":  # a new run: drop what an abandoned one left queued
            self._cache.clear()
            self._c.clear()
            self._e.clear()
            self._reset_counts()
            return {"ok": True}
        if op == "wait_jobs":  # answer once this many jobs have arrived (bounded)
            return self._wait_jobs(int(message["jobs"]), float(message.get("timeout_s", 30.0)))
        if op == "describe":
            return {"ok": True, "index": self.index, "times": asdict(self.times)}
        return super().on_control(message)
