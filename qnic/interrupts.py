"""Ctrl-C at safe points (docs/storage.md, "When a run is interrupted").

Python turns SIGINT into ``KeyboardInterrupt`` at the next bytecode of the
main thread, wherever that is. Two places must not be cut that way:

* A compiled (numba) kernel. The signal waits until the kernel returns, but
  when the kernel builds its result it calls back into Python (numba
  unpickles the arrays' dtypes); a ``KeyboardInterrupt`` raised there is
  swallowed by the compiled code, and the call ends in ``SystemError: ...
  returned a result with an exception set`` instead.
* A database write, or the closing of a dataset: the row or the run's end
  must land whole.

:func:`handling` installs a handler (the ``qnic`` command does, for the
whole command) that raises ``KeyboardInterrupt`` at once, except inside a
:func:`protected` block or in a frame of numba's own code: there it only
notes the signal, and the interrupt is raised at the next safe point, the
end of the protected block or a :func:`check`; a second signal while one
is held back interrupts at once. Kernels are called in
bounded chunks (each a protected block), so a signal is handled within one
chunk's time. Without the handler (a library user's own program) the blocks
cost nothing and Python's default applies; :func:`kernel_interrupt` still
turns the ``SystemError`` back into the ``KeyboardInterrupt`` it stands for.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

__all__ = ["check", "handling", "interrupted_by_signal", "kernel_interrupt", "pending",
           "protected"]


class _State:
    """The process's one SIGINT handler state (signals are per process)."""

    def __init__(self) -> None:
        self.installed = False
        self.depth = 0  # protected blocks open on the main thread
        self.pending = False  # a signal noted, not yet raised


_STATE = _State()


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _in_numba(frame: FrameType | None) -> bool:
    """Whether Python code of numba's own runs in ``frame`` (a callback of compiled code)."""
    name = frame.f_globals.get("__name__", "") if frame is not None else ""
    return isinstance(name, str) and (name == "numba" or name.startswith("numba."))


def _handler(signum: int, frame: FrameType | None) -> None:
    if (_STATE.depth > 0 or _in_numba(frame)) and not _STATE.pending:
        _STATE.pending = True
        return
    # a second Ctrl-C while the first is held back (a slow device or disk
    # inside a protected block) interrupts at once
    _STATE.pending = False
    raise KeyboardInterrupt


@contextlib.contextmanager
def handling() -> Iterator[None]:
    """Handle SIGINT at safe points for the duration of the block (main thread only).

    Restores the previous handler on exit; a signal noted but not yet raised
    when the block ends is raised then.
    """
    if not _main_thread() or _STATE.installed:
        yield
        return
    previous = signal.signal(signal.SIGINT, _handler)
    _STATE.installed, _STATE.pending, _STATE.depth = True, False, 0
    try:
        yield
        check()
    finally:
        signal.signal(signal.SIGINT, previous)
        _STATE.installed, _STATE.pending, _STATE.depth = False, False, 0


def pending() -> bool:
    """Whether a signal was noted and not yet raised."""
    return _STATE.pending


def check() -> None:
    """Raise the noted interrupt, if any (a safe point).

    Raises:
        KeyboardInterrupt: a SIGINT arrived inside a protected block or a
            kernel and was held back until here.
    """
    if _STATE.pending and _STATE.depth == 0 and _main_thread():
        _STATE.pending = False
        raise KeyboardInterrupt


@contextlib.contextmanager
def protected() -> Iterator[None]:
    """Hold SIGINT back until the block ends (then raise it); no-op off the main thread."""
    if not _main_thread():
        yield
        return
    _STATE.depth += 1
    try:
        yield
    finally:
        _STATE.depth -= 1
    check()


def interrupted_by_signal(exc: BaseException) -> bool:
    """Whether ``exc`` is, or was caused by, a ``KeyboardInterrupt`` (a compiled
    call's ``SystemError`` wraps the interrupt it swallowed as its cause)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, KeyboardInterrupt):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


@contextlib.contextmanager
def kernel_interrupt() -> Iterator[None]:
    """A protected block around compiled calls, where a ``SystemError`` standing
    for a swallowed ``KeyboardInterrupt`` is raised as that interrupt."""
    with protected():
        try:
            yield
        except SystemError as exc:
            if interrupted_by_signal(exc):
                raise KeyboardInterrupt from None
            raise
