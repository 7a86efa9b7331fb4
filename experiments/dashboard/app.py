"""The dashboard's web application (Starlette; docs/dashboard.md).

Routes:

- ``GET /``: the page; ``GET /static/...``: its script and style, served
  from this package (no other JavaScript, nothing from the network);
- ``GET /health``: ``{"ok": true, "activity": ..., "version": N}``, for
  readiness checks;
- ``GET /api/state``: the whole state as JSON (:mod:`.board`);
- ``WS /ws``: the state on connecting, then again after every change;
- ``POST /api/chsh`` (``{"seconds": S}`` optional), ``POST /api/demo``
  (``{"rounds": N, "block": N}`` optional): start a run; 202 with its
  number, 409 if a run is in progress, 400 for a bad value;
- ``POST /api/stop``: stop the run in progress (200 either way).

The POSTs must say ``Content-Type: application/json`` and, if they carry an
``Origin``, come from this server's own origin: a page elsewhere in the same
browser cannot then start or stop a run (a browser asks before sending
such a request across origins, and this server never agrees).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket, WebSocketDisconnect

from qnic.experiments.dashboard.board import Board
from qnic.experiments.dashboard.worker import BenchWorker, Busy

STATIC = Path(__file__).resolve().parent / "static"
CLIENT_BACKLOG = 256
"""States queued per browser; a browser further behind skips the oldest."""


class Hub:
    """Pushes every published state to every connected browser.

    The board calls :meth:`on_publish` from whichever thread published; the
    text is handed to the event loop, which queues it for each browser.
    """

    def __init__(self, board: Board, loop: asyncio.AbstractEventLoop) -> None:
        self.board = board
        self.loop = loop
        self.clients: set[asyncio.Queue[str | None]] = set()

    def on_publish(self, version: int, text: str) -> None:
        """Board listener (any thread): hand ``text`` to the event loop."""
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody to tell
            self.loop.call_soon_threadsafe(self._fanout, text)

    def _fanout(self, text: str | None) -> None:
        for queue in self.clients:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(text)

    def join(self) -> asyncio.Queue[str | None]:
        """A new browser: its queue, holding the current state first."""
        queue: asyncio.Queue[str | None] = asyncio.Queue(CLIENT_BACKLOG)
        queue.put_nowait(self.board.snapshot()[1])
        self.clients.add(queue)
        self.board.publish(viewers=len(self.clients))
        return queue

    def leave(self, queue: asyncio.Queue[str | None]) -> None:
        self.clients.discard(queue)
        self.board.publish(viewers=len(self.clients))

    def close(self) -> None:
        """Tell every browser's sender to end."""
        self._fanout(None)


def create_app(worker: BenchWorker, board: Board) -> Starlette:
    """The application serving ``board`` and sending requests to ``worker``."""
    hubs: list[Hub] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        hub = Hub(board, asyncio.get_running_loop())
        hubs.append(hub)
        unsubscribe = board.subscribe(hub.on_publish)
        try:
            yield
        finally:
            unsubscribe()
            hub.close()

    async def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    async def health(request: Request) -> Response:
        return JSONResponse({"ok": worker.opened and worker.is_alive(),
                             "activity": worker.activity(), "version": board.snapshot()[0]})

    async def state(request: Request) -> Response:
        return Response(board.snapshot()[1], media_type="application/json",
                        headers={"Cache-Control": "no-store"})

    async def start_chsh(request: Request) -> Response:
        body = await _json_body(request)
        if isinstance(body, Response):
            return body
        return _started(lambda: worker.start_chsh(_number(body, "seconds")))

    async def start_demo(request: Request) -> Response:
        body = await _json_body(request)
        if isinstance(body, Response):
            return body
        return _started(lambda: worker.start_demo(body.get("rounds"), body.get("block")))

    async def stop(request: Request) -> Response:
        body = await _json_body(request)
        if isinstance(body, Response):
            return body
        return JSONResponse({"stopped": worker.stop()})

    async def stream(websocket: WebSocket) -> None:
        await websocket.accept()
        await _serve_client(websocket, hubs[-1])

    return Starlette(routes=[
        Route("/", index), Route("/health", health), Route("/api/state", state),
        Route("/api/chsh", start_chsh, methods=["POST"]),
        Route("/api/demo", start_demo, methods=["POST"]),
        Route("/api/stop", stop, methods=["POST"]),
        WebSocketRoute("/ws", stream),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ], lifespan=lifespan)


async def _serve_client(websocket: WebSocket, hub: Hub) -> None:
    """Send each state as it comes until the browser leaves or the server stops."""
    queue = hub.join()

    async def send() -> None:
        while (text := await queue.get()) is not None:
            await websocket.send_text(text)

    async def receive() -> None:
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                await websocket.receive_text()  # browsers send nothing; wait for the close

    tasks = [asyncio.ensure_future(send()), asyncio.ensure_future(receive())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        hub.leave(queue)
    with contextlib.suppress(Exception):
        await websocket.close()


def _number(body: dict[str, Any], key: str) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{key} must be a number, got {value!r}")
    return float(value)


def _started(start: Any) -> Response:
    try:
        number = start()
    except Busy as exc:
        return JSONResponse({"error": str(exc)}, status_code=409)
    except ValueError as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)
    return JSONResponse({"run": number}, status_code=202)


async def _json_body(request: Request) -> dict[str, Any] | Response:
    """The POST's JSON object, or the error response to send instead."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        return JSONResponse({"error": "send Content-Type: application/json"}, status_code=415)
    origin = request.headers.get("origin")
    if origin is not None and urlsplit(origin).netloc != request.headers.get("host"):
        return JSONResponse({"error": f"requests from {origin} are not accepted"},
                            status_code=403)
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = await request.json()
    except ValueError:
        return JSONResponse({"error": "the body is not JSON"}, status_code=400)
    if not isinstance(body, dict):
        return JSONResponse({"error": "the body must be a JSON object"}, status_code=400)
    return body
