"""The benchmarks of qnic-bench and their runner (``python -m benchmarks``).

Each ``bench_*.py`` module runs on its own (``python benchmarks/bench_x.py``)
and exposes ``run(quick: bool) -> list[Row]`` for the runner. Every row puts
one of our measurements beside the strongest baseline available in the same
process and run (:mod:`benchmarks.common`). This folder is not part of the
installed package: run it from a checkout, at the repository's root.
"""

from __future__ import annotations

BENCHMARKS: dict[str, str] = {
    "matching": "bench_coincidences",
    "outcomes": "bench_outcomes",
    "ptu_read": "bench_ptu_read",
    "replay": "bench_replay",
    "tag_generation": "bench_tag_generation",
    "xor": "bench_xor",
    "decisions": "bench_decisions",
    "queueing": "bench_queueing",
    "net": "bench_net",
    "startup": "bench_startup",
}
"""Runner name -> module of ``benchmarks``, in the order they run."""
