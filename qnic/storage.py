"""Run records in a QCoDeS dataset (SQLite), docs/storage.md.

A :class:`RunRecorder` opens the database, starts a QCoDeS measurement with
the station snapshot, and adds one row per measured setting as it comes, so
a run interrupted part-way keeps every setting it finished. Derived values
and run facts go to the dataset's metadata.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import qcodes as qc
from qcodes.dataset import (
    Measurement,
    initialise_or_create_database_at,
    load_or_create_experiment,
)
from qcodes.dataset.measurements import DataSaver
from qcodes.station import Station

EXPERIMENT = "qnic-bench"
log = logging.getLogger(__name__)


def use_database(path: str | Path | None) -> str:
    """Point QCoDeS at ``path`` (None: QCoDeS's configured location) and
    create it if needed; return the path in use."""
    if path is not None:
        qc.config.core.db_location = str(Path(path).expanduser().resolve())
    location = str(Path(str(qc.config.core.db_location)).expanduser())
    with library_chatter():
        initialise_or_create_database_at(location)
    return location


@contextlib.contextmanager
def library_chatter() -> Iterator[None]:
    """Keep what QCoDeS prints ("Starting experimental run with id: 3") off the
    terminal: it goes to this module's logger at INFO (``qnic --verbose``)."""
    buffer = io.StringIO()
    try:
        with contextlib.redirect_stdout(buffer):
            yield
    finally:
        for line in buffer.getvalue().splitlines():
            if line.strip():
                log.info("qcodes: %s", line.strip())


class RunRecorder:
    """Rows of one run: independent ``setpoints`` and dependent ``values``.

    Args:
        name: run name (e.g. ``"chsh"``).
        sample: sample name (the station or bench name).
        station: the QCoDeS station whose snapshot is stored.
        setpoints: names of the independent columns.
        values: names of the dependent columns.
    """

    def __init__(self, name: str, sample: str, station: Station | None,
                 setpoints: Sequence[str], values: Sequence[str]) -> None:
        self.name = name
        self.sample = sample
        self.station = station
        self.setpoints = list(setpoints)
        self.values = list(values)
        self._saver: DataSaver | None = None

    @contextlib.contextmanager
    def run(self) -> Iterator[RunRecorder]:
        """Open the dataset for the duration of the ``with`` block."""
        exp = load_or_create_experiment(EXPERIMENT, sample_name=self.sample)
        meas = Measurement(exp=exp, station=self.station, name=self.name)
        for sp in self.setpoints:
            meas.register_custom_parameter(sp, paramtype="numeric")
        for v in self.values:
            meas.register_custom_parameter(v, setpoints=self.setpoints, paramtype="numeric")
        runner = meas.run()
        with library_chatter():
            self._saver = runner.__enter__()
        try:
            yield self
        except BaseException:
            self._saver = None
            with library_chatter():
                runner.__exit__(*sys.exc_info())
            raise
        else:
            self._saver = None
            with library_chatter():
                runner.__exit__(None, None, None)

    @property
    def run_id(self) -> int:
        if self._saver is None:
            raise RuntimeError("no run in progress")
        return int(self._saver.dataset.captured_run_id)

    @property
    def db_path(self) -> str:
        if self._saver is None:
            raise RuntimeError("no run in progress")
        return str(self._saver.dataset.path_to_db)

    def add_row(self, **columns: float) -> None:
        """Add one row (all setpoints and values by name); flushed at once."""
        if self._saver is None:
            raise RuntimeError("no run in progress")
        missing = set(self.setpoints + self.values) - set(columns)
        if missing:
            raise ValueError(f"row lacks columns {sorted(missing)}")
        self._saver.add_result(*((k, columns[k]) for k in self.setpoints + self.values))
        self._saver.flush_data_to_database()

    def add_metadata(self, key: str, value: Any) -> None:
        """Store ``value`` (JSON-encoded unless a str or number) under ``key``."""
        if self._saver is None:
            raise RuntimeError("no run in progress")
        if not isinstance(value, (str, int, float)):
            value = json.dumps(value, default=float)
        self._saver.dataset.add_metadata(key, value)
