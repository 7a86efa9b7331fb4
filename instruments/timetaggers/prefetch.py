"""Read ahead: decode the next chunks of a file on a thread of their own.

A replayed recording is decoded (compiled kernels that release the GIL)
while the caller analyses the chunks before (its kernels release the GIL
too), so on two cores reading and analysing overlap. The queue between the
two holds at most ``depth`` chunks, so memory stays bounded; an error while
reading is raised by the caller's next ``next()``; :meth:`Prefetcher.close`
stops the thread and waits for it.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")
_END = object()


class Prefetcher(Generic[T]):
    """Iterate ``source`` one or more items ahead, on a daemon thread.

    Args:
        source: The iterator to read ahead (run on the thread only).
        depth: Items held ready at most (>= 1).
        name: The thread's name.
    """

    def __init__(self, source: Iterator[T], depth: int = 2, name: str = "qnic-read-ahead") -> None:
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._done = False
        self._thread = threading.Thread(target=self._run, args=(source,), name=name, daemon=True)
        self._thread.start()

    def _put(self, item: Any) -> bool:
        """Queue ``item`` unless stopped; False once stopped."""
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, source: Iterator[T]) -> None:
        try:
            for item in source:
                if not self._put(item):
                    return
            self._put(_END)
        except BaseException as exc:  # noqa: BLE001 - handed to the reader
            self._put(_Failure(exc))
        finally:
            close: Callable[[], None] | None = getattr(source, "close", None)
            if close is not None:
                close()

    def __iter__(self) -> Prefetcher[T]:
        return self

    def __next__(self) -> T:
        if self._done:
            raise StopIteration
        item = self._queue.get()
        if item is _END:
            self._done = True
            raise StopIteration
        if isinstance(item, _Failure):
            self._done = True
            raise item.exc
        return item

    def close(self) -> None:
        """Stop reading ahead and wait for the thread to end."""
        self._stop.set()
        self._done = True
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._thread.join()


class _Failure:
    """An exception raised on the reading thread."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc
