"""Ctrl-C anywhere (docs/storage.md, "When a run is interrupted"): exit 130,
one line, finished settings kept, rotators stopped.

Interrupts are injected in-process at chosen points, as a real SIGINT
(``signal.raise_signal``) through the command's own handler: at the k-th
reading of the bench's virtual clock (start-up, homing, moves, acquisition),
inside the counting kernels, where numba calls back into Python from a
kernel of the bench (the path that used to end in ``SystemError``), and
inside a database write. A few real signals go to a child ``qnic chsh``,
sent when its progress lines say how far it got.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from qcodes.dataset import load_by_run_spec
from qcodes.dataset.measurements import DataSaver

from qnic import interrupts
from qnic.cli import main
from qnic.coincidence import OutcomeStream, outcome_stream
from qnic.instruments.clock import VirtualClock
from qnic.sim import elliptec_emulator
from qnic.sim.physics import pulse_stream

LINE = re.compile(r"^qnic: interrupted; (\d+) settings? kept( \(run (\d+) in (.+)\))?$")


class Injector:
    """Counts events of each kind and raises SIGINT at the k-th event of one kind."""

    def __init__(self, kind: str | None = None, k: int = 0) -> None:
        self.kind, self.k = kind, k
        self.counts: dict[str, int] = {}
        self.fired = False
        self.wire: list[bytes] = []  # bytes the rotators' bus received, in order
        self.fired_at_wire = -1

    def event(self, kind: str, raise_signal: Callable[[], None] | None = None) -> None:
        n = self.counts[kind] = self.counts.get(kind, 0) + 1
        if kind == self.kind and n == self.k and not self.fired and \
                signal.getsignal(signal.SIGINT) is interrupts._handler:
            self.fired = True
            self.fired_at_wire = len(self.wire)
            (raise_signal or _sigint)()


def _sigint() -> None:
    signal.raise_signal(signal.SIGINT)


# numba's callback from compiled code into Python (it unpickles a result's
# dtype there): a frame of a numba module, called from a kernel
_NUMBA_LIKE: dict[str, Any] = {"__name__": "numba.core.serialize", "signal": signal}
exec("def _numba_unpickle():\n    signal.raise_signal(signal.SIGINT)\n", _NUMBA_LIKE)


@pytest.fixture
def fast_sqlite(monkeypatch: pytest.MonkeyPatch) -> None:
    """Commits without fsync: a hundred runs in seconds (durability is test_crash_safety's)."""
    real = sqlite3.connect

    def connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        conn = real(*args, **kwargs)
        conn.execute("PRAGMA synchronous=OFF")
        return conn

    monkeypatch.setattr(sqlite3, "connect", connect)


def _install(monkeypatch: pytest.MonkeyPatch) -> list[Injector]:
    """Hook every kind of event; the returned list's last injector gets them."""
    current = [Injector()]
    for name in ("now", "sleep", "advance_to"):
        real = getattr(VirtualClock, name)

        def wrapped(self: VirtualClock, *a: Any, _real: Any = real) -> Any:
            current[-1].event("clock")
            return _real(self, *a)

        monkeypatch.setattr(VirtualClock, name, wrapped)
    count_shifted = outcome_stream.count_shifted

    def kernel(*a: Any) -> Any:
        current[-1].event("kernel")  # the signal arrives while the kernel runs
        return count_shifted(*a)

    monkeypatch.setattr(outcome_stream, "count_shifted", kernel)
    advance = pulse_stream._advance

    def bench_kernel(*a: Any) -> Any:
        out = advance(*a)
        current[-1].event("numba", _NUMBA_LIKE["_numba_unpickle"])
        return out

    monkeypatch.setattr(pulse_stream, "_advance", bench_kernel)
    add_result = DataSaver.add_result

    def write(self: DataSaver, *a: Any) -> None:
        current[-1].event("db")
        add_result(self, *a)

    monkeypatch.setattr(DataSaver, "add_result", write)
    receive = elliptec_emulator.ElliptecBusEmulator.receive

    def wire(self: Any, data: bytes) -> None:
        current[-1].wire.append(bytes(data))
        receive(self, data)

    monkeypatch.setattr(elliptec_emulator.ElliptecBusEmulator, "receive", wire)
    return current


def _chsh(db: Path, tmp_path: Path) -> list[str]:
    return ["chsh", "--seconds", "0.2", "--seed", "3", "--db", str(db),
            "--calibration-dir", str(tmp_path / "cal")]


def _rows(db: Path, run_id: int) -> dict[str, np.ndarray]:
    data = load_by_run_spec(captured_run_id=run_id).get_parameter_data()
    return {k: v[k] for k, v in data.items()}


def _points(total: dict[str, int]) -> list[tuple[str, int]]:
    """100 distinct points: every kernel and database event, the rest spread over the clock."""
    points = [(kind, k) for kind in ("kernel", "numba", "db") for k in range(1, total[kind] + 1)]
    n_clock = 100 - len(points)
    # the clock is read a few times more or less from run to run (the settings'
    # order, so the moves, is drawn afresh), so the points stop short of the end
    ks = np.unique(np.linspace(1, int(total["clock"] * 0.95), n_clock).round().astype(int))
    assert ks.size == n_clock  # distinct
    return points + [("clock", int(k)) for k in ks]


@pytest.mark.usefixtures("fast_sqlite")
def test_a_hundred_interrupts_at_distinct_points(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "runs.db"
    current = _install(monkeypatch)
    dry = current[-1]
    assert main(_chsh(db, tmp_path)) == 0
    capsys.readouterr()
    assert dry.counts["kernel"] >= 8 and dry.counts["db"] == 4 and dry.counts["clock"] > 200
    kept_seen = set()
    for kind, k in _points(dry.counts):
        inj = Injector(kind, k)
        current.append(inj)
        code = main(_chsh(db, tmp_path))
        out, err = capsys.readouterr()
        where = f"{kind} #{k}"
        assert inj.fired, where
        assert (code, out) == (130, ""), where
        assert len(err.splitlines()) == 1 and "Traceback" not in err, (where, err)
        m = LINE.match(err.strip())
        assert m is not None, (where, err)
        kept = int(m.group(1))
        kept_seen.add(kept)
        if m.group(3) is not None:  # a run was recorded: exactly the finished settings
            ds = load_by_run_spec(captured_run_id=int(m.group(3)))
            assert ds.metadata["outcome"] == "interrupted", where
            rows = _rows(db, int(m.group(3)))
            assert len(rows["n00"]) == kept >= 1, where
            assert all(len(v) == kept and np.isfinite(v).all()
                       for name, v in rows.items() if name != "E"), where
        else:
            assert kept == 0, where
        moved = any(b"ma" in w or b"ho" in w for w in inj.wire[:inj.fired_at_wire])
        if moved:  # a rotator was told to move before the interrupt: it is told to stop
            assert any(w.endswith(b"st") for w in inj.wire[inj.fired_at_wire:]), where
    assert kept_seen >= {0, 1, 2, 3}  # interrupts before and between every setting


def test_a_signal_in_a_protected_block_waits_for_its_end() -> None:
    done = []
    with pytest.raises(KeyboardInterrupt), interrupts.handling():
        with interrupts.protected():
            signal.raise_signal(signal.SIGINT)
            done.append("rest of the block")
        done.append("after the block")  # not reached
    assert done == ["rest of the block"]
    assert signal.getsignal(signal.SIGINT) is not interrupts._handler


def test_a_second_signal_while_one_is_held_back_interrupts_at_once() -> None:
    done = []
    with pytest.raises(KeyboardInterrupt), interrupts.handling():
        with interrupts.protected():
            signal.raise_signal(signal.SIGINT)
            done.append("held")
            signal.raise_signal(signal.SIGINT)
            done.append("not reached")
    assert done == ["held"]


def test_a_signal_in_numba_code_is_raised_at_the_next_safe_point() -> None:
    with pytest.raises(KeyboardInterrupt), interrupts.handling():
        _NUMBA_LIKE["_numba_unpickle"]()  # returns: the compiled caller goes on
        assert interrupts.pending()
        interrupts.check()


def test_a_kernels_system_error_is_the_interrupt_it_swallowed() -> None:
    def swallowed() -> None:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as exc:
            raise SystemError("CPUDispatcher(<function f>) returned a result with an "
                              "exception set") from exc

    with pytest.raises(KeyboardInterrupt), interrupts.kernel_interrupt():
        swallowed()
    with pytest.raises(SystemError, match="other"), interrupts.kernel_interrupt():
        raise SystemError("other")


def test_batches_are_counted_in_bounded_kernel_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(5)
    t = np.sort(rng.integers(0, 2_000_000, 5000)).astype(np.int64)
    ch = rng.integers(1, 5, t.size).astype(np.int32)

    def counts() -> list[list[int]]:
        s = OutcomeStream((1, 2), (3, 4), 300, {3: 40}, (0, 50_000))
        s.push(t, ch)
        return [c.as_list() + [c.double_a, c.double_b] for c in s.finish()]

    whole = counts()
    calls: list[int] = []
    real = outcome_stream.count_shifted

    def counting(*a: Any) -> Any:
        calls.append(int(a[0].size))
        return real(*a)

    monkeypatch.setattr(outcome_stream, "CHUNK_TAGS", 700)
    monkeypatch.setattr(outcome_stream, "count_shifted", counting)
    assert counts() == whole
    assert max(calls) <= 700 and sum(calls) == t.size
    # an interrupt inside the third piece is raised when that piece is counted
    calls.clear()
    stream = OutcomeStream((1, 2), (3, 4), 300, {3: 40}, (0, 50_000))

    def interrupted(*a: Any) -> Any:
        calls.append(int(a[0].size))
        if len(calls) == 3:
            signal.raise_signal(signal.SIGINT)
        return real(*a)

    monkeypatch.setattr(outcome_stream, "count_shifted", interrupted)
    with pytest.raises(KeyboardInterrupt), interrupts.handling():
        stream.push(t, ch)
    assert calls == [700, 700, 700]
    bad = t.copy()
    bad[1400], bad[1399] = bad[1399] + 5, bad[1400]  # a decrease where two pieces meet
    monkeypatch.setattr(outcome_stream, "count_shifted", real)
    if bad[1400] < bad[1399]:
        with pytest.raises(ValueError, match=r"timestamps\[1400\]"):
            OutcomeStream((1, 2), (3, 4), 300, {3: 40}, (0, 50_000)).push(bad, ch)


def test_ctrl_c_while_the_commands_import_is_one_line(monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    import qnic.cli

    def importing() -> list[Any]:
        signal.raise_signal(signal.SIGINT)
        return []

    monkeypatch.setattr(qnic.cli, "_modules", importing)
    assert main(["chsh"]) == 130
    assert capsys.readouterr().err == "qnic: interrupted\n"


@pytest.fixture
def child_chsh(tmp_path: Path) -> Iterator[Callable[[str], tuple[int, str, Path]]]:
    """``qnic chsh`` in a child process, its stderr a terminal (progress lines),
    interrupted when a line containing ``marker`` appears (``(3/4)``: two settings done)."""
    import pty

    procs: list[subprocess.Popen[bytes]] = []

    def run(marker: str) -> tuple[int, str, Path]:
        db = tmp_path / f"child{len(procs)}.db"
        master, slave = pty.openpty()
        proc = subprocess.Popen(
            [sys.executable, "-m", "qnic.cli", "chsh", "--seconds", "30", "--seed", "2",
             "--db", str(db), "--calibration-dir", str(tmp_path / "cal")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=slave)
        procs.append(proc)
        os.close(slave)
        text = b""
        while marker.encode() not in text:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the child closed its end
                break
            if not chunk:
                break
            text += chunk
        proc.send_signal(signal.SIGINT)
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            text += chunk
        os.close(master)
        return proc.wait(timeout=120), text.decode().replace("\r\n", "\n"), db

    yield run
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("marker", ["(1/4)", "(3/4)"])  # the order is drawn per run
def test_a_real_sigint_to_a_child_run(child_chsh: Callable[[str], tuple[int, str, Path]],
                                      marker: str) -> None:
    code, err, db = child_chsh(marker)
    lines = [ln for ln in err.splitlines() if not ln.startswith("  setting ")]
    assert code == 130, err
    assert len(lines) == 1 and "Traceback" not in err, repr(err)
    m = LINE.match(lines[0])
    assert m is not None, err
    at_least = int(marker[1]) - 1  # settings finished before the marker
    assert int(m.group(1)) >= at_least
    if m.group(3) is not None:
        assert settings_in(db, int(m.group(3))) == int(m.group(1))


def settings_in(db: Path, run_id: int) -> int:
    """CHSH settings recorded in a run of ``db`` (each setting one value of n00)."""
    from qcodes.dataset import connect

    ds = load_by_run_spec(captured_run_id=run_id, conn=connect(str(db)))
    return len(ds.get_parameter_data("n00")["n00"]["n00"])


def test_one_shot_matching_in_blocks_finds_the_same_pairs(monkeypatch: pytest.MonkeyPatch) -> None:
    from qnic.coincidence import find_coincidences, matching

    rng = np.random.default_rng(8)
    t_a = np.sort(rng.integers(0, 3_000_000, 4000)).astype(np.int64)
    t_b = np.sort(np.concatenate([t_a[::2] + rng.integers(-400, 400, 2000),
                                  rng.integers(0, 3_000_000, 2000)])).astype(np.int64)
    whole = find_coincidences(t_a, t_b, 300, 20, threads=1)
    calls: list[int] = []
    real = matching.match_range

    def counting(*a: Any) -> Any:
        calls.append(int(a[5]) - int(a[4]))
        return real(*a)

    monkeypatch.setattr(matching, "BLOCK_TAGS", 250)
    monkeypatch.setattr(matching, "match_range", counting)
    blocks = find_coincidences(t_a, t_b, 300, 20, threads=1)
    assert [x.tolist() for x in blocks] == [x.tolist() for x in whole] and whole[0].size > 1000
    assert len(calls) >= 10 and sum(calls) == t_a.size and max(calls) < 2 * 250
