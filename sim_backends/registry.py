"""The named registry of simulated benches.

Emulators find their bench by the name in their address
(``sim://ell14?bench=default&...``). There is no module-level bench: a
:class:`BenchRegistry` is filled by the station loader or a test fixture, and
:func:`registry` returns the one the ``sim://`` handler consults.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from qnic.sim.bench import Bench


class BenchRegistry:
    """Benches by name; thread-safe."""

    def __init__(self) -> None:
        self._benches: dict[str, Bench] = {}
        self._lock = threading.Lock()

    def add(self, bench: Bench) -> None:
        with self._lock:
            self._benches[bench.name] = bench

    def remove(self, name: str) -> None:
        with self._lock:
            self._benches.pop(name, None)

    def get(self, name: str) -> Bench:
        with self._lock:
            try:
                return self._benches[name]
            except KeyError:
                known = ", ".join(sorted(self._benches)) or "none"
                raise KeyError(
                    f"no simulated bench named {name!r} (registered: {known})"
                ) from None

    def clear(self) -> None:
        with self._lock:
            self._benches.clear()

    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._benches)


_REGISTRY = BenchRegistry()


def registry() -> BenchRegistry:
    """The registry that ``sim://`` addresses are resolved against."""
    return _REGISTRY


@contextmanager
def registered(bench: Bench) -> Iterator[Bench]:
    """Register ``bench`` for the duration of a ``with`` block."""
    _REGISTRY.add(bench)
    try:
        yield bench
    finally:
        _REGISTRY.remove(bench.name)
