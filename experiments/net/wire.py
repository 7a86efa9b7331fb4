"""The networked system's wire (docs/network.md): addresses, lines, delayed links.

Every process of the system (pair source, balancer nodes, backends, load
generator, coordinator) listens on one TCP port and speaks newline-ended
ASCII lines over it. A data line is a verb and space-separated integer
fields (``REQ 17 1 3``); a control line, from the orchestrator, is a JSON
object (``{"op": "stats"}``). Lines keep the per-request cost of parsing
to one ``split`` at 20,000 requests per second on two cores.

Network delay: each link applies a one-way delay and jitter to every line it
sends (:class:`Link`), so a study can sweep round-trip time against service
time on loopback. Lines on one link keep their order (a TCP stream does). The
pair oracle's link carries physics, not coordination, and has no delay.

Timing: processes run on a select()-based event loop (:func:`new_event_loop`),
whose timers fire some 100 us late at most on an idle machine (epoll's would
round up to whole milliseconds); latencies are measured, not modelled, and a
busy machine adds its own scheduling delays to them.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import random
import selectors
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

LOOPBACK = "127.0.0.1"
"""Every process binds here unless told otherwise."""

READY = "READY"
"""First word of the line a process prints on stdout once it listens."""

LINE_LIMIT = 1 << 26
"""Longest line a reader accepts (control replies carry per-request records)."""


class NetError(RuntimeError):
    """A process of the networked system could not be reached, started or understood."""


@dataclass(frozen=True)
class Address:
    """A host:port address."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def parse_address(text: str, what: str = "address") -> Address:
    """Parse ``host:port`` (port 0 lets the system choose when listening).

    Raises:
        ValueError: names ``what`` and the text when it is not host:port.
    """
    host, sep, port_text = str(text).rpartition(":")
    if not sep or not host:
        raise ValueError(f"{what}: expected host:port, got {text!r}")
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(f"{what}: the port of {text!r} is not a number") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"{what}: port {port} is outside 0..65535")
    return Address(host.strip("[]"), port)


def now_ns() -> int:
    """Monotonic nanoseconds (the clock every latency and decision time is read from)."""
    return time.perf_counter_ns()


def ready_line(role: str, address: Address, **extra: Any) -> str:
    """The readiness line a process prints once it listens (the orchestrator waits on it)."""
    info = {"role": role, "address": str(address), "pid": os.getpid(), **extra}
    return f"{READY} {json.dumps(info)}"




def announce(role: str, address: Address, **extra: Any) -> None:
    """Print the readiness line on stdout and flush it."""
    print(ready_line(role, address, **extra), flush=True)


@dataclass(frozen=True)
class Delay:
    """One-way delay of every line a link sends.

    Attributes:
        one_way_us: mean one-way delay in microseconds (>= 0).
        jitter_us: half-width of a uniform jitter added to each line (>= 0,
            at most the delay).
    """

    one_way_us: float = 0.0
    jitter_us: float = 0.0

    def __post_init__(self) -> None:
        if not self.one_way_us >= 0:
            raise ValueError(f"the one-way delay must be >= 0 us, got {self.one_way_us}")
        if not 0 <= self.jitter_us <= self.one_way_us:
            raise ValueError(f"the jitter must lie within [0, delay = {self.one_way_us}] us, "
                             f"got {self.jitter_us}")

    @property
    def is_zero(self) -> bool:
        """No delay at all: lines are written at once."""
        return self.one_way_us == 0


class LineProtocol(asyncio.Protocol):
    """One connection, read as lines: data lines to ``on_words``, JSON lines to ``on_control``.

    Lines are split from each chunk the socket delivers (no coroutine per
    line), so reading costs little more than the split itself.
    """

    def __init__(self, on_words: Callable[[list[str]], None],
                 on_control: Callable[[dict[str, Any]], None] | None = None,
                 on_lost: Callable[[], None] | None = None) -> None:
        self.on_words = on_words
        self.on_control = on_control
        self.on_lost = on_lost
        self.transport: asyncio.Transport | None = None
        self.lost = asyncio.get_running_loop().create_future()
        self._rest = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        lines = (self._rest + data).split(b"\n")
        self._rest = lines.pop()
        if len(self._rest) > LINE_LIMIT:
            raise NetError(f"a line longer than {LINE_LIMIT} bytes arrived")
        for raw in lines:
            try:
                if raw[:1] == b"{":
                    if self.on_control is not None:
                        self.on_control(json.loads(raw))
                elif raw:
                    self.on_words(raw.decode().split())
            except Exception as exc:  # a bad line is reported and dropped; the link lives on
                print(f"qnic net: dropped a line it could not handle ({type(exc).__name__}: "
                      f"{exc}): {raw[:120]!r}", file=sys.stderr, flush=True)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(None)
        if self.on_lost is not None:
            self.on_lost()


class Link:
    """One connection's sending side, with the configured one-way delay.

    Lines are queued with their due time and written in order when due; a
    line never overtakes an earlier one (a TCP stream keeps order), so jitter
    can only hold a line back. Without a delay the lines sent during one pass
    of the event loop go out in one write at its end (one system call for
    many lines, as a proxy that batches its writes does). ``sent`` counts
    every line sent.
    """

    def __init__(self, transport: Any, delay: Delay = Delay(), rng: random.Random | None = None,
                 lost: asyncio.Future[None] | None = None) -> None:
        self.transport = transport
        self.delay = delay
        self.sent = 0
        self.peer = ""
        """Who is at the other end, as its HELLO said (role and index); "" if it did not say."""
        self._rng = rng or random.Random(0)
        self._queue: deque[tuple[float, bytes]] = deque()
        self._out: list[bytes] = []
        self._last_due = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._loop = asyncio.get_running_loop()
        self._lost = lost

    @property
    def closed(self) -> bool:
        """The connection is closing or closed."""
        return bool(self.transport.is_closing())

    def send(self, line: str) -> None:
        """Queue one line (without its newline) for delivery after the delay."""
        self.sent += 1
        data = (line + "\n").encode()
        if self.delay.is_zero:
            self._out.append(data)
            if len(self._out) == 1:  # one write per loop pass, however many lines
                self._loop.call_soon(self._write_out)
            return
        d = self.delay
        due = self._loop.time() + (d.one_way_us + self._rng.uniform(-d.jitter_us, d.jitter_us)) * 1e-6
        due = max(due, self._last_due)
        self._last_due = due
        self._queue.append((due, data))
        if self._timer is None:
            self._timer = self._loop.call_at(due, self._flush)

    def _write_out(self) -> None:
        if self._out and not self.transport.is_closing():
            self.transport.write(b"".join(self._out))
        self._out.clear()

    def _flush(self) -> None:
        self._timer = None
        now = self._loop.time()
        chunks = []
        while self._queue and self._queue[0][0] <= now:
            chunks.append(self._queue.popleft()[1])
        if chunks and not self.transport.is_closing():
            self.transport.write(b"".join(chunks))
        if self._queue:
            self._timer = self._loop.call_at(self._queue[0][0], self._flush)

    async def wait_closed(self) -> None:
        """Wait until the connection is closed."""
        if self._lost is not None:
            await self._lost

    def close(self) -> None:
        """Write what is due now, drop what is delayed, and close the connection."""
        self._write_out()
        if self._timer is not None:
            self._timer.cancel()
        self._queue.clear()
        self.transport.close()


async def open_link(address: Address, on_words: Callable[[list[str]], None],
                    delay: Delay = Delay(), what: str = "peer", rng: random.Random | None = None,
                    on_lost: Callable[[], None] | None = None, hello: str = "") -> Link:
    """Connect to ``address``; its lines go to ``on_words``, its loss to ``on_lost``.

    Args:
        hello: this process's role (and index), sent first as ``HELLO role
            index`` so that the peer knows who is talking (a node counts the
            lines it gets from other nodes by it).

    Raises:
        NetError: naming ``what`` and the address when it cannot be reached.
    """
    loop = asyncio.get_running_loop()
    try:
        transport, protocol = await asyncio.wait_for(loop.create_connection(
            lambda: LineProtocol(on_words, None, on_lost), address.host, address.port), timeout=5.0)
    except (OSError, asyncio.TimeoutError) as exc:
        raise NetError(f"cannot reach the {what} at {address}: {exc or 'timed out'}") from exc
    if hello:
        transport.write(f"HELLO {hello}\n".encode())
    return Link(transport, delay, rng, protocol.lost)


class _Accepted(LineProtocol):
    """A connection a :class:`Server` accepted: its lines go to the server, replies to its link."""

    def __init__(self, server: Server) -> None:
        super().__init__(self._words, self._control, self._lost)
        self.server = server
        self.link: Link | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        server = self.server
        self.link = Link(transport, server.delay, random.Random(server.rng.getrandbits(32)),
                         self.lost)
        server.links.add(self.link)

    def _words(self, words: list[str]) -> None:
        if words[0] == "HELLO":
            assert self.link is not None
            self.link.peer = " ".join(words[1:])
            return
        self.server.on_line(words, self.link)  # type: ignore[arg-type]

    def _control(self, message: dict[str, Any]) -> None:
        self.server.spawn(self.server._answer(message, self.link))  # type: ignore[arg-type]

    def _lost(self) -> None:
        assert self.link is not None
        self.server.links.discard(self.link)
        self.server.on_disconnect(self.link)


class Server:
    """A process's listening socket plus the control channel every role shares.

    Subclasses implement :meth:`on_line` (a data line from a connection) and
    :meth:`on_control` (a JSON request; its return value is the JSON reply).
    """

    role = "process"

    def __init__(self, listen: Address, delay: Delay = Delay(), seed: int = 0) -> None:
        self.listen = listen
        self.delay = delay
        self.rng = random.Random(seed)
        self.stopped = asyncio.Event()
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.links: set[Link] = set()
        """Open connections: accepted ones, and (subclasses add them) opened ones."""

    def spawn(self, coroutine: Any) -> asyncio.Task[Any]:
        """Run ``coroutine`` as a task this server keeps until it ends."""
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def start(self) -> Address:
        """Listen; returns the bound address (the port chosen when 0 was asked)."""
        loop = asyncio.get_running_loop()
        try:
            self._server = await loop.create_server(self._protocol, self.listen.host,
                                                    self.listen.port)
        except OSError as exc:
            raise NetError(f"{self.role}: cannot listen on {self.listen}: {exc.strerror or exc}"
                           ) from exc
        host, port = self._server.sockets[0].getsockname()[:2]
        return Address(host, port)

    def _protocol(self) -> LineProtocol:
        return _Accepted(self)

    async def _answer(self, message: dict[str, Any], link: Link) -> None:
        try:
            reply = self.on_control(message)
            if asyncio.iscoroutine(reply):
                reply = await reply
        except Exception as exc:  # a control error is reported to the orchestrator
            reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        if reply is not None and not link.closed:
            link.transport.write((json.dumps(reply) + "\n").encode())

    def on_line(self, words: list[str], link: Link) -> None:
        """Handle one data line that arrived on ``link``."""
        raise NotImplementedError

    def on_control(self, message: dict[str, Any]) -> Any:
        """Answer one control request (``op`` names it): a JSON-able reply, or a
        coroutine that returns one; ``stop`` ends the process."""
        if message.get("op") == "stop":
            self.stopped.set()
            return {"ok": True}
        if message.get("op") == "ping":
            return {"ok": True, "role": self.role}
        if message.get("op") == "delay":
            self.set_delay(Delay(float(message["one_way_us"]), float(message.get("jitter_us", 0))))
            return {"ok": True}
        raise ValueError(f"{self.role}: unknown control op {message.get('op')!r}")

    def set_delay(self, delay: Delay) -> None:
        """Apply ``delay`` to every line sent from now on, on every connection."""
        self.delay = delay
        for link in self.links:
            link.delay = delay

    def on_disconnect(self, link: Link) -> None:
        """A connection closed (override to fail over)."""

    async def serve(self, **extra: Any) -> None:
        """Start, announce readiness on stdout, and run until stopped."""
        address = await self.start()
        announce(self.role, address, **extra)
        await self.stopped.wait()
        await self.close()

    async def close(self) -> None:
        """Stop listening, close every connection and end every task of this server."""
        self.stopped.set()
        if self._server is not None:
            self._server.close()
        links = list(self.links)
        for link in links:
            link.close()
        current = asyncio.current_task()
        tasks = [t for t in self._tasks if t is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for link in links:
            await link.wait_closed()
        if self._server is not None:
            await self._server.wait_closed()


def tune_gc() -> None:
    """Collect garbage as a long-running server should.

    What exists at start-up lives for the whole process: it is kept out of
    the collector's sweeps, and the young generation is swept less often, so
    a collection seldom lands inside a decision.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)


def new_event_loop() -> asyncio.AbstractEventLoop:
    """An event loop whose timers keep sub-millisecond time.

    epoll rounds every wait up to whole milliseconds, so a 200 us service time
    would take 1 ms; select() waits in microseconds (some 100 us late here).
    A process of this system holds a handful of sockets, well within
    select()'s limit.
    """
    return asyncio.SelectorEventLoop(selectors.SelectSelector())


def run_server(server_factory: Callable[[], Server], watch_stdin: bool = False,
               **extra: Any) -> int:
    """Run one role's server in this process until a stop request or a signal.

    Args:
        server_factory: makes the server (inside the event loop).
        watch_stdin: also stop when standard input closes: an orchestrator
            hands each child a pipe, so a child outlives it by no more than
            the time to notice.

    Returns the process's exit code (0 stopped, 1 failed to start).
    """
    async def main() -> None:
        server = server_factory()
        loop = asyncio.get_running_loop()
        import signal

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, server.stopped.set)
        if watch_stdin:
            fd = sys.stdin.fileno()

            def parent_gone() -> None:
                if not os.read(fd, 4096):
                    loop.remove_reader(fd)
                    server.stopped.set()

            loop.add_reader(fd, parent_gone)
        tune_gc()
        await server.serve(**extra)

    try:
        with asyncio.Runner(loop_factory=new_event_loop) as runner:
            runner.run(main())
    except NetError as exc:
        print(f"qnic net: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0
