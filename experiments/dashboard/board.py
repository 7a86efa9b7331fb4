"""The dashboard's state, held once on the server (docs/dashboard.md).

The state is a JSON object of named sections (``bench``, ``status``,
``rates``, ``histogram``, ``chsh``, ``demo``, ``viewers``). Whoever changes a
section publishes it; the board bumps one version number, serializes the
whole state once, and hands ``(version, text)`` to every listener in order.
The web application's listener pushes the text to every connected browser,
so all of them show the same run.

JSON has no NaN or infinity: such values (an undefined correlator, the CAR of
a pair with no accidentals) are published as ``null``.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

Listener = Callable[[int, str], None]
"""Called with (version, JSON text) after each change, in version order."""


def plain(value: Any) -> Any:
    """``value`` as plain JSON types: numpy scalars and arrays unpacked,
    tuples as lists, mapping keys as strings, non-finite floats as None."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return f if math.isfinite(f) else None
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"cannot publish a {type(value).__name__} on the dashboard")


class Board:
    """Versioned sections of state; thread-safe.

    Publishing happens on the bench thread and on the web server's event
    loop; listeners are called under the board's lock, so they see versions
    in order, and must return at once (hand the text over, never wait).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sections: dict[str, Any] = {}
        self._version = 0
        self._text = json.dumps({"version": 0})
        self._listeners: list[Listener] = []

    def publish(self, **sections: Any) -> int:
        """Replace the named sections; return the new version."""
        converted = {name: plain(value) for name, value in sections.items()}
        with self._lock:
            self._sections.update(converted)
            self._version += 1
            self._text = json.dumps({"version": self._version, **self._sections},
                                    allow_nan=False, separators=(",", ":"))
            for listener in list(self._listeners):
                listener(self._version, self._text)
            return self._version

    def snapshot(self) -> tuple[int, str]:
        """The current (version, JSON text)."""
        with self._lock:
            return self._version, self._text

    def section(self, name: str) -> Any:
        """A copy of one section as published (None if never published)."""
        with self._lock:
            value = self._sections.get(name)
        return json.loads(json.dumps(value))

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` after every change from now on; returns the unsubscribe."""
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)
        return unsubscribe
