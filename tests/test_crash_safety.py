"""A run killed outright (SIGKILL) keeps every finished setting (docs/storage.md).

A child ``qnic chsh --save-tags`` is killed when its progress lines say the
third setting has started (two finished), with no chance to clean up. Then
the database holds those two settings, and the raw-tags side file reads up
to its last whole record, holding at least the finished settings' tags.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from qcodes.dataset import connect, load_by_run_spec

from qnic.instruments.timetaggers.picoquant import PtuFile, PtuTruncatedError
from qnic.instruments.timetaggers.picoquant.errors import TagFileWarning


def _kill_at(args: list[str], marker: bytes, cwd: Path) -> bytes:
    """Run ``qnic`` with stderr on a terminal (progress lines); SIGKILL it when
    ``marker`` appears. Returns what it printed."""
    import pty

    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "qnic.cli", *args], cwd=cwd,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    text = b""
    try:
        while marker not in text:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            text += chunk
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=60) == -signal.SIGKILL, text
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    return text


def _settings(db: Path) -> dict[str, np.ndarray]:
    conn = connect(str(db))
    run_ids = [int(r[0]) for r in conn.execute("SELECT captured_run_id FROM runs")]
    assert len(run_ids) == 1
    ds = load_by_run_spec(captured_run_id=run_ids[0], conn=conn)
    assert ds.metadata.get("outcome") is None  # nobody lived to write how it ended
    data = ds.get_parameter_data()
    return {name: data[name][name] for name in ("setting_x", "setting_y", "singles_a_hz",
                                                 "singles_b_hz", "live_s")}


@pytest.mark.parametrize("suffix", [".ptu", ".npz"])
def test_a_killed_run_keeps_its_finished_settings(tmp_path: Path, suffix: str) -> None:
    db, tags = tmp_path / "runs.db", tmp_path / f"raw{suffix}"
    text = _kill_at(["chsh", "--seconds", "8", "--seed", "4", "--db", str(db),
                     "--save-tags", str(tags), "--calibration-dir", str(tmp_path / "cal")],
                    b"(3/4)", tmp_path)
    assert b"Traceback" not in text
    rows = _settings(db)
    assert len(rows["setting_x"]) == 2  # the two finished settings, whole
    finished = [f"{int(x)}{int(y)}" for x, y in zip(rows["setting_x"], rows["setting_y"])]
    # each finished setting's singles, from its recorded rate and live time
    tags_finished = np.round((rows["singles_a_hz"] + rows["singles_b_hz"]) * rows["live_s"])
    if suffix == ".npz":
        with np.load(tags) as z:
            assert sorted(k.removeprefix("channels_") for k in z.files
                          if k.startswith("channels_")) == sorted(finished)
            for key, n in zip(finished, tags_finished):
                assert np.isin(z[f"channels_{key}"], [1, 2, 3, 4]).sum() == n
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TagFileWarning)  # header: 0 records, file: more
        with PtuFile(tags) as f:
            assert f.header.get("UsrCHSH_Settings").split(",")[:2] == finished
            channels = []
            try:
                for chunk in f.chunks():
                    channels.append(chunk.channels)
            except PtuTruncatedError:  # killed inside a record: the whole ones were read
                pass
    events = np.isin(np.concatenate(channels), [1, 2, 3, 4]).sum()
    assert events >= tags_finished.sum() > 0
