"""Counting kernels compiled ahead of need (qnic.coincidence.warm)."""

from __future__ import annotations

from pathlib import Path

import pytest

from qnic.coincidence import warm
from qnic.instruments.kernel_cache import Warmup


def test_once_warm_the_kernels_are_cached_and_nothing_is_started() -> None:
    warm.warm()
    assert warm.cached()
    assert warm.start_warmup() is None


def test_a_started_warmup_can_be_waited_for_and_stopped() -> None:
    w = Warmup("qnic.coincidence.warm")
    w.stop()  # killed and reaped: no process left behind
    assert w._proc is None
    w.wait()  # nothing to wait for after a stop


def test_the_bench_warmup_marks_its_kernels_warm() -> None:
    from qnic.sim import warm as sim_warm

    sim_warm.warm()
    assert sim_warm.start_warmup() is None


def test_a_changed_module_needs_warming_again(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    from qnic.instruments import kernel_cache

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    src = tmp_path / "mod.py"
    src.write_text("x = 1\n")
    mod = types.ModuleType("mod")
    mod.__file__ = str(src)
    kernel_cache.mark_warm([mod])
    assert kernel_cache.warm_marker([mod]).exists()
    src.write_text("x = 22\n")  # another size: another marker
    assert not kernel_cache.warm_marker([mod]).exists()
