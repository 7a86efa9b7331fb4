"""Coincidence matching of time-tag streams (docs/coincidences.md).

Timestamps are int64 picoseconds sorted ascending. Events at t1 (channel i)
and t2 (channel j) coincide when |(t2 - delay_j) - (t1 - delay_i)| <= window_ps;
each event is used at most once, nearest partner first.

Public names:

- :func:`find_coincidences`: one-shot matching of two streams.
- :class:`CoincidenceStream`, :func:`find_coincidences_chunked`: the same in
  chunks with the boundary carried over (bounded memory).
- :func:`outcome_counts` -> :class:`OutcomeCounts`: per-outcome counts of two
  QNICs from one tag batch, double clicks counted apart;
  :func:`outcome_counts_at` at several offsets (accidentals) in one pass;
  :class:`OutcomeStream` the same batch by batch, exact across batches.
- :func:`accidentals_from_rates`, :func:`accidentals_from_offset`: accidental
  coincidence estimates; :func:`accidentals_under_peak` scales offset-window
  counts to the accidentals that can form under the true peak.
- :func:`cross_correlation`, :func:`estimate_delay`: cross-correlation
  histogram and the sub-bin delay at its peak.
"""

from qnic.coincidence.accidentals import (
    AccidentalEstimate,
    accidentals_from_offset,
    accidentals_from_rates,
)
from qnic.coincidence.correlation import (
    DelayEstimate,
    cross_correlation,
    estimate_delay,
)
from qnic.coincidence.matching import IndexPairs, find_coincidences
from qnic.coincidence.outcome_stream import (
    TWO_CORE_MIN_TAGS,
    OutcomeStream,
    outcome_counts,
    outcome_counts_at,
)
from qnic.coincidence.outcomes import DOUBLE_CLICK, ArmEvents, OutcomeCounts, merge_arm
from qnic.coincidence.peak_accidentals import PeakAccidentals, accidentals_under_peak
from qnic.coincidence.stream import (
    DEFAULT_CHUNK_SIZE,
    CoincidenceStream,
    find_coincidences_chunked,
)

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "DOUBLE_CLICK",
    "TWO_CORE_MIN_TAGS",
    "AccidentalEstimate",
    "ArmEvents",
    "CoincidenceStream",
    "DelayEstimate",
    "IndexPairs",
    "OutcomeCounts",
    "OutcomeStream",
    "PeakAccidentals",
    "accidentals_from_offset",
    "accidentals_from_rates",
    "accidentals_under_peak",
    "cross_correlation",
    "estimate_delay",
    "find_coincidences",
    "find_coincidences_chunked",
    "merge_arm",
    "outcome_counts",
    "outcome_counts_at",
]
