"""Benchmark: replaying a PTU recording into per-outcome counts, end to end.

Run on demand (not part of the tests)::

    python benchmarks/bench_replay.py [--tags 20000000] [--repeats 5]

Writes (once, untimed, into a temporary directory) a Generic T2 PTU file of
SPDC-like tags on 4 channels (:mod:`benchmarks.data`; arm A on inputs 1 and
2, arm B on 3 and 4, 3 ns late; 10 s) with ``write_ptu``. Then times, with
the file in the page cache:

- ours: a :class:`ReplayTimeTagger` opened on the file (a new name each
  time, closed after), its ``stream`` in 50 ms batches pushed into an
  :class:`OutcomeStream` ((1, 2), (3, 4), window 1 ns, arm B's delays 3 ns)
  with ``until_ps`` = the batch's stop, then ``finish()``;
- baseline: ptufile reading the same file whole (``PtuFile(path)
  .decode_records()``), its photon records' times and channels handed to
  ``outcome_counts`` with the same arms, window and delays (ptufile numbers
  the inputs from 0).

Both must give the same counts. Rates are tags per second of wall time,
opening the file included. Target: 80 M tags/s. The file's inputs are 1..4
rather than 0..3: input 0 of a Generic T2 record is the sync input, which
ptufile decodes as channel 0 just as it does input 1.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import os
import tempfile
from pathlib import Path

import numpy as np

from qnic.coincidence import OutcomeCounts, OutcomeStream, outcome_counts
from qnic.instruments.timetaggers.picoquant import write_ptu
from qnic.instruments.timetaggers.protocol import TagBatch
from qnic.instruments.timetaggers.replay import ReplayTimeTagger

try:
    from benchmarks.common import Row, compare, interleaved, print_row, rates
    from benchmarks.data import DELAY_B_PS, DURATION_S, WINDOW_PS, spdc_tags
except ModuleNotFoundError:  # run as a script: python benchmarks/bench_replay.py
    from common import Row, compare, interleaved, print_row, rates  # type: ignore[no-redef]
    from data import DELAY_B_PS, DURATION_S, WINDOW_PS, spdc_tags  # type: ignore[no-redef]

BATCH_S = 0.05
WRITE_BLOCK = 1 << 22
TARGET_RATE = 80e6
ETA_REFERENCE = "ETA: 49 M tags/s (as stated in issue #14)"
_names = itertools.count()


def write_file(path: Path, n_tags: int) -> int:
    """Write the SPDC-like recording (inputs 1..4); return the tags written."""
    t, ch = spdc_tags(n_tags, first_channel=1, seed=11)
    stop = int(t[-1]) + 1
    cuts = list(range(0, t.size, WRITE_BLOCK)) + [t.size]
    batches = [TagBatch(t[a:b], ch[a:b], int(t[a]), int(t[b]) if b < t.size else stop)
               for a, b in itertools.pairwise(cuts)]
    write_ptu(path, batches, input_channels=(1, 2, 3, 4))
    return int(t.size)


def replay_counts(path: Path) -> OutcomeCounts:
    """Ours: replay the file in 50 ms batches into an OutcomeStream."""
    tagger = ReplayTimeTagger(f"bench_replay_{os.getpid()}_{next(_names)}", path)
    try:
        stream = OutcomeStream((1, 2), (3, 4), WINDOW_PS, {3: DELAY_B_PS, 4: DELAY_B_PS})
        for batch in tagger.stream(DURATION_S + 1.0, BATCH_S):
            stream.push(batch.timestamps, batch.channels, until_ps=batch.stop_ps)
        return stream.finish()[0]
    finally:
        tagger.close()


def ptufile_counts(path: Path) -> OutcomeCounts:
    """Baseline: ptufile decodes the whole file, then the same counting."""
    import ptufile

    logging.disable(logging.WARNING)  # ptufile logs its view of some header tags
    try:
        with ptufile.PtuFile(path) as f:
            records = f.decode_records()
    finally:
        logging.disable(logging.NOTSET)
    photon = records["channel"] >= 0
    t = records["time"][photon].astype(np.int64)
    ch = records["channel"][photon].astype(np.int32)
    return outcome_counts(t, ch, (0, 1), (2, 3), WINDOW_PS, {2: DELAY_B_PS, 3: DELAY_B_PS})


def _same(a: OutcomeCounts, b: OutcomeCounts) -> bool:
    # singles are keyed by channel, which ptufile numbers from 0
    return (np.array_equal(a.n, b.n) and (a.double_a, a.double_b, a.events_a, a.events_b)
            == (b.double_a, b.double_b, b.events_a, b.events_b))


def measure(path: Path, n_tags: int, repeats: int) -> list[Row]:
    """The end-to-end row: ours against ptufile + counting."""
    ours = replay_counts(path)
    calls = {"ours": lambda: replay_counts(path)}
    try:
        import ptufile  # noqa: F401
    except ImportError:
        base = "unavailable: ptufile not installed (pip install ptufile)"
    else:
        if not _same(ours, ptufile_counts(path)):
            raise AssertionError("replay and ptufile + outcome_counts disagree")
        calls["ptufile"] = lambda: ptufile_counts(path)
        base = ("ptufile PtuFile(path).decode_records() of the whole file, photons to "
                "int64/int32, then outcome_counts (same arms, window, delays)")
    seconds = interleaved(calls, repeats)
    r = {k: rates(n_tags, v) for k, v in seconds.items()}
    row = compare(
        "replay", f"ReplayTimeTagger.stream({BATCH_S:g} s batches) of a {n_tags / 1e6:.0f} M-tag "
        f"Generic T2 PTU file ({path.stat().st_size / 1e6:.0f} MB, page cache warm) into "
        "OutcomeStream, opening the file included", "tags/s", r["ours"], base, r.get("ptufile"),
        higher_is_better=True, reference=ETA_REFERENCE,
        notes=f"target >= {TARGET_RATE / 1e6:.0f} M tags/s: "
              f"{'met' if np.median(r['ours']) >= TARGET_RATE else 'NOT met'}; "
              f"{ours.coincidences:,} coincidences, equal to the baseline's")
    return [row]


def run(quick: bool) -> list[Row]:
    """2e7 tags (4e6 with ``quick``), 5 interleaved repeats."""
    n = 4_000_000 if quick else 20_000_000
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "replay.ptu"
        return measure(path, write_file(path, n), 5)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tags", type=int, default=20_000_000)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "replay.ptu"
        for row in measure(path, write_file(path, args.tags), args.repeats):
            print_row(row)


if __name__ == "__main__":
    main()
