"""An expected-exchange serial port (after PyMeasure's ``expected_protocol``).

The script is an ordered list of (bytes the host must write, bytes the device
answers). Writes are compared byte for byte, terminators included; the first
mismatch fails; an answer of ``None`` is silence (the read times out); a
script not used up is a failure too (``assert_done``).
"""

from __future__ import annotations

from collections.abc import Sequence


class ScriptMismatch(AssertionError):
    pass


class ScriptedPort:
    def __init__(self, script: Sequence[tuple[bytes, bytes | None]]) -> None:
        self.script = list(script)
        self.written: list[bytes] = []
        self._rx = bytearray()
        self.is_open = True

    def write(self, data: bytes) -> int:
        data = bytes(data)
        self.written.append(data)
        if not self.script:
            raise ScriptMismatch(f"unexpected write {data!r}: the script is used up")
        expected, reply = self.script.pop(0)
        if data != expected:
            raise ScriptMismatch(f"wrote {data!r}, the script expected {expected!r}")
        if reply is not None:
            self._rx += reply
        return len(data)

    def read_until(self, expected: bytes = b"\n", size: int | None = None) -> bytes:
        idx = self._rx.find(expected)
        if idx < 0:  # a timeout: hand back whatever partial bytes there are
            out = bytes(self._rx)
            self._rx.clear()
            return out
        out = bytes(self._rx[: idx + len(expected)])
        del self._rx[: idx + len(expected)]
        return out

    def read(self, size: int = 1) -> bytes:
        out = bytes(self._rx[:size])
        del self._rx[:size]
        return out

    def reset_input_buffer(self) -> None:
        self._rx.clear()

    def close(self) -> None:
        self.is_open = False

    def assert_done(self) -> None:
        if self.script:
            raise ScriptMismatch(f"script not used up: next expected write {self.script[0][0]!r}")
        if self._rx:
            raise ScriptMismatch(f"unread reply bytes left: {bytes(self._rx)!r}")
