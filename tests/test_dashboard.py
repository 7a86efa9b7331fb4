"""``qnic dashboard`` as a server, without a browser (docs/dashboard.md).

The command runs as a subprocess on 127.0.0.1, port 0; the tests read the
URL it prints, then talk to it over HTTP and websockets while short runs go
on the embedded simulated bench. Every wait is bounded and event-driven
(a line on a pipe, a websocket message), never a sleep; every process is
stopped at the end (Ctrl-C, as an operator would), and its exit checked.
"""

from __future__ import annotations

import json
import selectors
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from qcodes.dataset import connect as connect_db
from qcodes.dataset import load_by_run_spec
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from qnic.cli import main

READY_S = 60.0
"""Longest wait for the URL line (imports and opening the bench)."""
STATE_S = 60.0
"""Longest wait for one expected state (a cold numba cache compiles the kernels first)."""
MAX_MESSAGES = 5000
"""Most websocket messages read while waiting for one state."""


class Dashboard:
    """A ``qnic dashboard`` subprocess on 127.0.0.1, port 0.

    Args:
        tmp: a folder of the test's own (database, calibration store, stderr).
        extra: more command-line options.
    """

    def __init__(self, tmp: Path, *extra: str) -> None:
        tmp.mkdir(parents=True, exist_ok=True)
        self.db = tmp / "runs.db"
        self.stderr_path = tmp / "stderr.txt"
        with self.stderr_path.open("w") as stderr:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "qnic.cli", "dashboard", "--host", "127.0.0.1", "--port",
                 "0", "--db", str(self.db), "--calibration-dir", str(tmp / "calibrations"),
                 *extra],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr, text=True)
        self.url = self._ready_line()

    def _ready_line(self) -> str:
        assert self.proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            if not sel.select(READY_S):
                self.stop()
                raise AssertionError(f"no URL line within {READY_S} s: {self.stderr()}")
        line = self.proc.stdout.readline().strip()
        assert line.startswith("http://127.0.0.1:") and line.endswith("/"), (line, self.stderr())
        return line

    @property
    def ws_url(self) -> str:
        return "ws://" + self.url.removeprefix("http://") + "ws"

    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def get(self, path: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=10) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def post(self, path: str, body: dict[str, Any] | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
        request = urllib.request.Request(
            self.url + path, data=json.dumps(body or {}).encode(), method="POST",
            headers={"Content-Type": "application/json", **(headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=10) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def stop(self) -> int:
        """Ctrl-C, then wait (killed if it does not end in 30 s); the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            code = self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            raise AssertionError(f"the dashboard did not stop on Ctrl-C: {self.stderr()}") from None
        finally:
            if self.proc.stdout is not None:
                self.proc.stdout.close()
        return code


def wait_for(ws: ClientConnection, predicate: Callable[[dict[str, Any]], bool],
             seen: list[dict[str, Any]] | None = None, timeout_s: float = STATE_S) -> dict[str, Any]:
    """Read states from ``ws`` until one satisfies ``predicate`` (bounded in
    time and count); every state read is appended to ``seen``."""
    deadline = time.monotonic() + timeout_s
    for _ in range(MAX_MESSAGES):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            state = json.loads(ws.recv(timeout=remaining))
        except TimeoutError:
            break
        if seen is not None:
            seen.append(state)
        if predicate(state):
            return state
    raise AssertionError(f"no such state within {timeout_s} s / {MAX_MESSAGES} messages")


@pytest.fixture(scope="module")
def dash(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    d = Dashboard(tmp_path_factory.mktemp("dashboard"), "--interval", "0.1", "--seconds", "0.05",
                  "--seed", "7")
    try:
        yield d
    finally:
        assert d.stop() == 0, d.stderr()


def test_the_page_health_and_live_rates(dash: Dashboard) -> None:
    status, health = dash.get("health")
    assert status == 200 and json.loads(health)["ok"] is True
    status, page = dash.get("")
    assert status == 200 and b"qnic dashboard" in page
    # every script and style comes from this server, none from the network
    assert b"http://" not in page.replace(b"http://www.w3.org", b"") and b"https://" not in page
    assert dash.get("static/dashboard.js")[0] == 200
    with connect(dash.ws_url) as ws:
        first = wait_for(ws, lambda s: s.get("rates") is not None)
        later = wait_for(ws, lambda s: s.get("rates") is not None
                         and s["rates"]["time_s"] > first["rates"]["time_s"])
    bench, rates, hist = later["bench"], later["rates"], later["histogram"]
    assert bench["simulated"] and bench["station"] == "embedded simulated bench"
    assert set(rates["singles_hz"]) == {"1", "2", "3", "4"}
    assert set(rates["coincidences_hz"]) == {"1-3", "1-4", "2-3", "2-4"}
    assert all(v > 1000 for v in rates["singles_hz"].values())
    assert sum(rates["coincidences_hz"].values()) > 100
    # the histogram's peak lies in the coincidence window the page shades
    inside = sum(n for c, n in zip(hist["centers_ps"], hist["counts"]) if abs(c) <= hist["window_ps"])
    assert hist["window_ps"] == bench["window_ps"] and inside > 0.5 * sum(hist["counts"])
    assert json.loads(dash.get("api/state")[1])["version"] >= later["version"]


def test_two_browsers_watch_one_chsh_run(dash: Dashboard) -> None:
    with connect(dash.ws_url) as one, connect(dash.ws_url) as two:
        for ws in (one, two):
            wait_for(ws, lambda s: (s.get("viewers") or 0) >= 2)
        status, started = dash.post("api/chsh", {"seconds": 0.05})
        assert status == 202, started
        run = started["run"]
        assert dash.post("api/chsh")[0] == 409  # one run at a time
        finals, progress = [], []
        for ws in (one, two):
            seen: list[dict[str, Any]] = []
            finals.append(wait_for(ws, lambda s: (s.get("chsh") or {}).get("run") == run
                                   and s["chsh"]["state"] == "done", seen))
            progress.append([len(s["chsh"]["settings"]) for s in seen
                             if (s.get("chsh") or {}).get("run") == run])
    for counts in progress:  # each setting published as it finished, in order
        assert counts == sorted(counts) and {1, 2, 3, 4} <= set(counts), counts
    a, b = (f["chsh"] for f in finals)
    assert a["result"] == b["result"] and a["settings"] == b["settings"]
    # the four settings, once each, in the run's random order (docs/chsh.md)
    assert sorted(s["key"] for s in a["settings"]) == ["00", "01", "10", "11"]
    assert a["result"]["S"] > 2 + 3 * a["result"]["S_err"]
    assert a["partial"]["value"] == pytest.approx(a["result"]["S"])
    assert a["run_id"] is not None and a["db"] == str(dash.db.resolve())


def test_stop_ends_the_demo_and_monitoring_resumes(dash: Dashboard) -> None:
    with connect(dash.ws_url) as ws:
        status, started = dash.post("api/demo", {"rounds": 100_000, "block": 100})
        assert status == 202, started
        run = started["run"]
        wait_for(ws, lambda s: (s.get("demo") or {}).get("run") == run and s["demo"]["rounds"] >= 100)
        assert dash.post("api/stop") == (200, {"stopped": True})
        stopped = wait_for(ws, lambda s: s["demo"]["run"] == run and s["demo"]["state"] == "stopped")
        assert stopped["status"]["activity"] == "monitoring"
        demo = stopped["demo"]
        assert 100 <= demo["rounds"] < 100_000 and demo["rounds"] % 100 == 0
        assert set(demo["win_rate"]) == {"quantum", "dedicated-c", "separate"}
        assert len(demo["history"]["rounds"]) == demo["rounds"] // 100
        assert set(demo["queues"]["quantum"]) >= {"final", "mean_total"}
        wait_for(ws, lambda s: s["rates"]["source"] == "monitor"
                 and s["version"] > stopped["version"])
    assert dash.post("api/stop") == (200, {"stopped": False})


def test_requests_are_checked(dash: Dashboard) -> None:
    bad = urllib.request.Request(dash.url + "api/chsh", data=b"{}", method="POST",
                                 headers={"Content-Type": "text/plain"})
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(bad, timeout=10)
    assert info.value.code == 415
    info.value.close()
    assert dash.post("api/stop", headers={"Origin": "http://elsewhere.example"})[0] == 403
    assert dash.post("api/chsh", {"seconds": -1})[0] == 400
    assert dash.post("api/chsh", {"seconds": "1"})[0] == 400
    assert dash.post("api/demo", {"rounds": 1.5})[0] == 400
    assert dash.get("api/chsh")[0] == 405


def test_ctrl_c_during_a_run_stops_cleanly_and_keeps_the_settings(tmp_path: Path) -> None:
    d = Dashboard(tmp_path / "d", "--interval", "0.1")
    try:
        with connect(d.ws_url) as ws:
            wait_for(ws, lambda s: s.get("status") is not None)
            assert d.post("api/chsh", {"seconds": 0.3})[0] == 202
            state = wait_for(ws, lambda s: len((s.get("chsh") or {}).get("settings", [])) >= 1)
            run_id = state["chsh"]["run_id"]
            d.proc.send_signal(signal.SIGINT)
            with pytest.raises(ConnectionClosed):  # the server closes the websocket
                wait_for(ws, lambda s: False)
    finally:
        code = d.stop()
    assert code == 0 and "qnic dashboard: stopped" in d.stderr()
    rows, metadata = _recorded(d.db, run_id)
    assert 1 <= rows < 4 and metadata["interrupted"] == "stopped from the dashboard"


def _recorded(db: Path, run_id: int) -> tuple[int, dict[str, Any]]:
    """Rows and metadata of a run in a QCoDeS database."""
    conn = connect_db(str(db))
    try:
        ds = load_by_run_spec(captured_run_id=run_id, conn=conn)
        return len(ds.get_parameter_data()["n00"]["n00"]), dict(ds.metadata)
    finally:
        conn.close()


def test_a_port_in_use_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        assert main(["dashboard", "--port", str(port), "--db", str(tmp_path / "r.db")]) == 2
    assert f"cannot listen on 127.0.0.1 port {port}" in capsys.readouterr().err


def test_help_does_not_load_the_web_libraries() -> None:
    probe = ("import contextlib, io, sys\n"
             "import qnic.cli\n"
             "for argv in (['--help'], ['dashboard', '--help']):\n"
             "    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
             "        qnic.cli.main(argv)\n"
             "web = ('starlette', 'uvicorn', 'websockets', 'anyio')\n"
             "print(sorted(m for m in web if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60,
                         check=True)
    assert out.stdout.strip() == "[]"
