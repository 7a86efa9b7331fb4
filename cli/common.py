"""Argument types and exit codes shared by the ``qnic`` commands."""

from __future__ import annotations

import argparse
import math
from typing import Any

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


class CommandError(Exception):
    """An error a command reports in one line (``qnic: <message>``) with its exit code."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


def bounded_float(maximum: float, unit: str) -> Any:
    """An argparse type: a positive number at most ``maximum`` (in ``unit``)."""
    def parse(text: str) -> float:
        value = positive_float(text)
        if value > maximum:
            raise argparse.ArgumentTypeError(f"expected at most {maximum:g} {unit}, got {text!r}")
        return value
    return parse


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")
    return value


seed = non_negative_int
"""A seed: any non-negative integer."""


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (value >= 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a non-negative number, got {text!r}")
    return value


def non_negative_or_inf(text: str) -> float:
    """A non-negative number, or ``inf``."""
    if text.strip().lower() in ("inf", "infinity"):
        return math.inf
    return non_negative(text)


def probability(text: str) -> float:
    value = non_negative(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"expected a probability within [0, 1], got {text!r}")
    return value



def bench_seed(config: Any, seed: int | None) -> int | None:
    """The seed to run a simulated bench with (docs/commands.md).

    ``--seed`` when given; else the station file's own ``seed:`` when it sets
    one; else a fresh random seed, so two runs do not repeat each other's
    numbers by accident (the commands print it, and ``--seed`` repeats the
    run). None for a station without a simulated bench.
    """
    if seed is not None or config.sim is None:
        return seed
    name = config.section_instruments.get("sim")
    init = (config.instruments.get(name) or {}).get("init") or {} if name else {}
    if "seed" in init:
        return None
    import secrets

    return secrets.randbelow(2**31)


def seed_used(st: Any) -> int | None:
    """The seed the station's simulated bench runs with (None on hardware)."""
    bench = getattr(st, "bench", None)
    return None if bench is None else int(bench.params.seed)


def seed_line(seed_value: int | None, command: str) -> str:
    """The summary's line naming the bench seed and how to repeat the run."""
    return "" if seed_value is None else \
        f"  seed {seed_value} ({command} --seed {seed_value} repeats the bench's randomness)"


def add_run_options(p: argparse.ArgumentParser) -> None:
    """The options every measuring command shares: the bench seed, the
    calibration store, the database and JSON output (docs/commands.md)."""
    p.add_argument("--seed", type=seed, metavar="N", help="seed of the simulated bench")
    p.add_argument("--calibration-dir", metavar="DIR", help="the calibration store")
    p.add_argument("--db", metavar="FILE", help="QCoDeS database (default: QCoDeS's configured one)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def home_if_asked(st: Any) -> None:
    """Home both rotators when the wiring asks for it (``home_on_start``)."""
    if st.config.home_on_start:
        for q in st.qnics.values():
            q.rotator.home()


def json_safe(value: Any) -> Any:
    """``value`` with every non-finite float (nan, inf) as None: JSON has no
    such numbers, and ``json.dumps`` would write ``NaN``/``Infinity``."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value
