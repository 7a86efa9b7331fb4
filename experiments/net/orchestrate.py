"""Start the networked system's processes, run a study through them, stop them all (docs/network.md).

:class:`Cluster` starts every role as its own OS process (``python -m
qnic.cli net ROLE ...``, each bound to 127.0.0.1 and a port the system
chooses), waits for each one's readiness line, and talks to each over a
control connection. Leaving the ``with`` block stops every process it
started, whatever happened: a stop request, then SIGTERM, then SIGKILL.
Processes run in their own session, so a Ctrl-C at the terminal reaches only
the orchestrator, which then stops them; each child also stops when its
standard input, a pipe from the orchestrator, closes, so none outlives an
orchestrator that was killed.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from qnic.experiments.net.wire import LOOPBACK, READY, Address, NetError, parse_address

START_TIMEOUT_S = 30.0
"""How long a process may take to print its readiness line."""


@dataclass
class Process:
    """One started process: its role, pid, address and control connection."""

    role: str
    name: str
    popen: subprocess.Popen[bytes]
    address: Address
    log: Path
    _sock: socket.socket | None = field(default=None, repr=False)
    _buffer: bytes = field(default=b"", repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def pid(self) -> int:
        """The OS process id."""
        return self.popen.pid

    def call(self, op: str, wait_s: float = 30.0, **fields: Any) -> dict[str, Any]:
        """Send one control request and wait for its JSON reply.

        Raises:
            NetError: the process is gone, did not answer in time, or
                answered with an error (its message names the process).
        """
        with self._lock:  # one request at a time on the control connection
            return self._call(op, wait_s, fields)

    def _call(self, op: str, wait_s: float, fields: dict[str, Any]) -> dict[str, Any]:
        try:
            if self._sock is None:
                self._sock = socket.create_connection((self.address.host, self.address.port),
                                                      timeout=5.0)
            self._sock.settimeout(wait_s)
            self._sock.sendall((json.dumps({"op": op, **fields}) + "\n").encode())
            while b"\n" not in self._buffer:
                chunk = self._sock.recv(1 << 20)
                if not chunk:
                    raise ConnectionError("connection closed")
                self._buffer += chunk
        except (OSError, ConnectionError) as exc:
            raise NetError(f"{self.name} ({self.address}, pid {self.pid}) did not answer "
                           f"{op!r}: {exc}{self._log_tail()}") from exc
        line, _, self._buffer = self._buffer.partition(b"\n")
        reply: dict[str, Any] = json.loads(line)
        if not reply.get("ok", False):
            raise NetError(f"{self.name}: {op!r} failed: {reply.get('error', reply)}")
        return reply

    def _log_tail(self) -> str:
        try:
            text = self.log.read_text(errors="replace").strip()
        except OSError:
            return ""
        return f"\n{self.name} said: {text[-800:]}" if text else ""

    def stop(self, grace_s: float = 3.0) -> None:
        """Ask the process to stop; terminate, then kill it if it does not."""
        if self.popen.poll() is None:
            try:
                if self._sock is not None:
                    self._sock.settimeout(1.0)
                    self._sock.sendall(b'{"op": "stop"}\n')
                else:
                    self.popen.send_signal(signal.SIGTERM)
            except OSError:
                self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(grace_s)
            except subprocess.TimeoutExpired:
                self.popen.terminate()
                try:
                    self.popen.wait(grace_s)
                except subprocess.TimeoutExpired:
                    self.popen.kill()
                    self.popen.wait()
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        for pipe in (self.popen.stdout, self.popen.stdin):
            if pipe is not None:
                pipe.close()


def _read_ready(popen: subprocess.Popen[bytes], name: str, log: Path, timeout_s: float
                ) -> dict[str, Any]:
    stdout: IO[bytes] = popen.stdout  # type: ignore[assignment]
    deadline = time.monotonic() + timeout_s
    buffer = b""
    with selectors.DefaultSelector() as sel:
        sel.register(stdout, selectors.EVENT_READ)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise NetError(f"{name} did not report ready within {timeout_s:g} s")
            if not sel.select(left):
                continue
            chunk = os.read(stdout.fileno(), 4096)
            if not chunk:
                popen.wait()
                said = log.read_text(errors="replace").strip()
                raise NetError(f"{name} exited (code {popen.returncode}) before it was ready"
                               + (f": {said[-800:]}" if said else ""))
            buffer += chunk
            for line in buffer.split(b"\n")[:-1]:
                if line.startswith(READY.encode()):
                    info: dict[str, Any] = json.loads(line[len(READY):])
                    return info


class Cluster:
    """The processes of one study; use as a context manager."""

    def __init__(self, workdir: Path | None = None) -> None:
        self.processes: list[Process] = []
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="qnic-lb-net-")
            workdir = Path(self._tmp.name)
        self.workdir = workdir

    def start(self, role: str, name: str, args: Sequence[str],
              timeout_s: float = START_TIMEOUT_S) -> Process:
        """Start ``qnic net ROLE ARGS`` and wait for its readiness line."""
        log = self.workdir / f"{name.replace(' ', '-')}.log"
        command = [sys.executable, "-m", "qnic.cli", "net", role, *args, "--watch-stdin"]
        with open(log, "wb") as err:
            # the child's stdin is a pipe from here: if this process dies, however it dies,
            # the pipe closes and the child stops
            popen = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=err, start_new_session=True)
        process = Process(role, name, popen, Address(LOOPBACK, 0), log)
        self.processes.append(process)  # stopped on exit even if it never gets ready
        info = _read_ready(popen, name, log, timeout_s)
        process.address = parse_address(info["address"], f"{name}'s address")
        return process

    def by_role(self, role: str) -> list[Process]:
        """The started processes of one role, in start order."""
        return [p for p in self.processes if p.role == role]

    def listing(self) -> list[dict[str, Any]]:
        """Every process that took part: role, name, pid, address."""
        return [{"role": p.role, "name": p.name, "pid": p.pid, "address": str(p.address)}
                for p in self.processes]

    def stop(self) -> None:
        """Stop every process started, newest first."""
        for process in reversed(self.processes):
            process.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextmanager
def interrupts_as_keyboard_interrupt() -> Iterator[None]:
    """SIGTERM ends the study like Ctrl-C does (so the cluster is stopped either way)."""
    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
