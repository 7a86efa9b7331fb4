"""A fake ID Quantique Time Controller and DataLinkTarget service over ZeroMQ.

Written from IDQ's Python examples (docs/protocols.md 4d), not from the
project's driver: the controller answers SCPI strings on a REP socket (the
examples' REQ partner; a setting answers an empty string, an error a string
containing ``SCPI_ERR_``); the DLT answers its text commands (``start-stream
--address A --channel N --stream-port P [--with-ref-index]``, ``status --id
I``, ``stop --id I``, ``list``) with JSON on another REP socket and, for each
started stream, binds a PAIR socket at the stream address of its port and
sends each record's timestamps there as one message of little-endian 8-byte
integers, ps from the record's start (channels without a reference). The
record plays for ``REC:DURation`` ps of the shared virtual clock
(``REC:STAGe?`` answers ``PLAYING`` until then).

Plain choices where the examples are silent, "(reference silent)": the
error strings (``SCPI_ERR_UNDEFINED_HEADER: <command>``), the stage name
after a record (``STOPPED``), the bin width (``1``), the JSON fields beyond
those the examples read.

One server thread polls every socket; :meth:`FakeIdq.close` stops it through
an inproc socket and closes everything. Use it as a context manager.
"""

from __future__ import annotations

import json
import re
import threading
from types import TracebackType
from typing import Any, Self

import numpy as np
import zmq

from qnic.instruments.clock import VirtualClock


class FakeIdq:
    """Controller + DLT. ``tc_address``/``dlt_address`` are where the driver connects.

    Args:
        clock: the virtual clock the driver waits on.
        rates_hz: Poisson rate of each input (1-4).
        stream_address: the stream address template (``{port}``), bound by the DLT.
        context: the ZeroMQ context (inproc needs the driver's).
        tcp: serve the controller on tcp://127.0.0.1 (a random port) instead of inproc.
        raw_errors: what ``RAWn:ERRORS?`` reports per channel.
        seed: the generator of the tags.
    """

    def __init__(self, clock: VirtualClock, rates_hz: dict[int, float], stream_address: str,
                 context: zmq.Context[Any], tcp: bool = False,
                 raw_errors: dict[int, int] | None = None, seed: int = 1) -> None:
        self.clock, self.rates_hz, self.context = clock, dict(rates_hz), context
        self.stream_address = stream_address
        self.raw_errors = dict(raw_errors or {})
        self.rng = np.random.default_rng(seed)
        self.commands: list[str] = []  # every SCPI command received, in order
        self.dlt_commands: list[str] = []
        self.delay_ps = {ch: 0 for ch in range(1, 5)}
        self.threshold_v = {ch: -0.4 for ch in range(1, 5)}
        self.send = {ch: False for ch in range(1, 5)}
        self.record_ps = 0
        self.play_end_s: float | None = None
        self.streams: dict[str, dict[str, Any]] = {}
        self._n = 0
        self.tc = context.socket(zmq.REP)
        self.dlt = context.socket(zmq.REP)
        for s in (self.tc, self.dlt):
            s.setsockopt(zmq.LINGER, 0)
        tag = f"{id(self):x}"
        if tcp:
            port = self.tc.bind_to_random_port("tcp://127.0.0.1")
            self.tc_address = f"tcp://127.0.0.1:{port}"
        else:
            self.tc_address = f"inproc://fake-idq-tc-{tag}"
            self.tc.bind(self.tc_address)
        self.dlt_address = f"inproc://fake-idq-dlt-{tag}"
        self.dlt.bind(self.dlt_address)
        self._stop_address = f"inproc://fake-idq-stop-{tag}"
        self._stop_rx = context.socket(zmq.PAIR)
        self._stop_rx.bind(self._stop_address)
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="fake-idq", daemon=True)
        self._thread.start()
        self._ready.wait()

    # -- the server thread ------------------------------------------------------------
    def _serve(self) -> None:
        poller = zmq.Poller()
        for s in (self.tc, self.dlt, self._stop_rx):
            poller.register(s, zmq.POLLIN)
        self._ready.set()
        while True:
            ready = dict(poller.poll())
            if self._stop_rx in ready:
                return
            if self.tc in ready:
                command = self.tc.recv().decode()
                self.commands.append(command)
                self.tc.send_string(self._scpi(command))
            if self.dlt in ready:
                command = self.dlt.recv().decode()
                self.dlt_commands.append(command)
                self.dlt.send_string(json.dumps(self._dlt(command)))

    def close(self) -> None:
        stop = self.context.socket(zmq.PAIR)
        stop.setsockopt(zmq.LINGER, 0)
        stop.connect(self._stop_address)
        stop.send(b"stop")
        self._thread.join()
        stop.close()
        for s in (self.tc, self.dlt, self._stop_rx, *(st["socket"] for st in self.streams.values())):
            s.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- the controller -----------------------------------------------------------------
    def _playing(self) -> bool:
        return self.play_end_s is not None and self.clock.now() < self.play_end_s

    def _scpi(self, command: str) -> str:
        c = command.strip()
        rules: list[tuple[str, Any]] = [
            (r"DEVI:RES:BWID\?", lambda m: "1"),
            (r"INPU(\d):THRE\?", lambda m: f"{self.threshold_v[int(m[1])]:g}V"),
            (r"INPU(\d):THRE (\S+?)V", lambda m: self._set(self.threshold_v, m[1], float(m[2]))),
            (r"DELA(\d):VALU\?", lambda m: str(self.delay_ps[int(m[1])])),
            (r"DELA(\d):VALU (\d+)", lambda m: self._set(self.delay_ps, m[1], int(m[2]))),
            (r"(DELA\d:LINK INPU\d|TSCO\d:FIR:LINK DELA\d|TSCO\d:OPIN ONLYFIR|TSCO\d:OPOU ONLYFIR"
             r"|TSCO\d:WIND:ENAB OFF|RAW\d:STOP:LINK TSCO\d|RAW\d:REF:LINK NONE|RAW\d:ERRORS:CLEAR"
             r"|REC:TRIG:ARM:MODE MANUal|REC:ENABle ON|REC:NUM 1)", lambda m: ""),
            (r"RAW(\d):ERRORS\?", lambda m: str(self.raw_errors.get(int(m[1]), 0))),
            (r"RAW(\d):SEND (ON|OFF)", lambda m: self._set(self.send, m[1], m[2] == "ON")),
            (r"REC:STOP", lambda m: self._stop_record()),
            (r"REC:DURation ([\d.eE+]+)", lambda m: self._duration(m[1])),
            (r"REC:PLAY", lambda m: self._play()),
            (r"REC:STAGe\?", lambda m: "PLAYING" if self._playing() else "STOPPED"),
        ]
        for pattern, handler in rules:
            m = re.fullmatch(pattern, c, flags=re.IGNORECASE)
            if m:
                return str(handler(m))
        return f"SCPI_ERR_UNDEFINED_HEADER: {c}"

    @staticmethod
    def _set(store: dict[int, Any], ch: str, value: Any) -> str:
        store[int(ch)] = value
        return ""

    def _stop_record(self) -> str:
        self.play_end_s = None
        return ""

    def _duration(self, text: str) -> str:
        self.record_ps = int(float(text))
        return ""

    def _play(self) -> str:
        self.play_end_s = self.clock.now() + self.record_ps * 1e-12
        for stream in self.streams.values():
            ch = stream["channel"]
            if not self.send[ch]:
                continue
            n = int(self.rng.poisson(self.rates_hz.get(ch, 0.0) * self.record_ps * 1e-12))
            t = np.sort(self.rng.integers(0, max(self.record_ps, 1), n)) + self.delay_ps[ch]
            stream["socket"].send(t.astype("<u8").tobytes())
            stream["timestamps"] += n
            stream["records"] += 1
        return ""

    # -- the DataLinkTarget ---------------------------------------------------------------------
    def _dlt(self, command: str) -> Any:
        words = command.split()
        opts = {words[i][2:]: words[i + 1] for i in range(1, len(words) - 1)
                if words[i].startswith("--") and not words[i + 1].startswith("--")}
        if words[:1] == ["start-stream"]:
            return self._start_stream(opts)
        if words[:1] == ["list"]:
            return list(self.streams)
        if words[:1] in (["status"], ["stop"]) and opts.get("id") in self.streams:
            st = self.streams[opts["id"]]
            done = not self._playing()
            status = {"acquisitions_count": st["records"] if done else 0,
                      "timestamps_count": st["timestamps"], "inactivity": 0.0, "errors": []}
            if words[0] == "stop":
                st["socket"].close()
                del self.streams[opts["id"]]
                return {"status": status}
            return status
        return {"error": {"description": f"unknown command or id: {command}"}}

    def _start_stream(self, opts: dict[str, str]) -> Any:
        try:
            ch, port = int(opts["channel"]), int(opts["stream-port"])
        except (KeyError, ValueError):
            return {"error": {"description": "start-stream needs --channel and --stream-port"}}
        sock = self.context.socket(zmq.PAIR)
        sock.setsockopt(zmq.LINGER, 0)
        sock.bind(self.stream_address.format(port=port))
        self._n += 1
        ident = f"acq-{self._n}"
        self.streams[ident] = {"channel": ch, "socket": sock, "records": 0, "timestamps": 0}
        return {"id": ident}
