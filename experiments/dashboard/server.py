"""Serving the dashboard with uvicorn (docs/dashboard.md).

The command binds the listening socket itself (:func:`bind`), so ``--port 0``
gets a free port that is known before serving, and a port in use fails
before the bench is opened. :func:`serve` runs uvicorn on that socket and
calls ``on_ready`` once it accepts connections. Ctrl-C (SIGINT) or SIGTERM:
uvicorn stops accepting, closes every websocket and ends the application,
then raises :class:`KeyboardInterrupt` here for the caller to finish.
"""

from __future__ import annotations

import asyncio
import signal
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

import uvicorn
from starlette.applications import Starlette

GRACEFUL_SHUTDOWN_S = 5
"""Longest wait for open connections when the server stops."""


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host``:``port`` (0: any free port).

    Raises:
        OSError: the address cannot be had (in use, not on this machine).
    """
    family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    return socket.create_server(address[:2], family=family)


def url_of(sock: socket.socket) -> str:
    """``http://host:port/`` of a bound socket."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, on_ready: Callable[[], None]) -> None:
        super().__init__(config)
        self.on_ready = on_ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            self.on_ready()


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM ends the server as Ctrl-C does (uvicorn raises the signal again
    once it has stopped; without this the process would end there, with the
    bench still open)."""
    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def serve(app: Starlette, sock: socket.socket, on_ready: Callable[[], None]) -> None:
    """Serve ``app`` on ``sock`` until Ctrl-C or SIGTERM.

    Raises:
        KeyboardInterrupt: after a clean stop on a signal.
    """
    config = uvicorn.Config(app, ws="websockets-sansio", lifespan="on", log_config=None,
                            log_level="warning", access_log=False,
                            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S)
    server = _Server(config, on_ready)
    with _sigterm_as_interrupt():
        asyncio.run(server.serve(sockets=[sock]))
