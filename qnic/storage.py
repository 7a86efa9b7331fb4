"""Run records in a QCoDeS dataset (SQLite), docs/storage.md.

Every measuring command records its run through one :class:`RunRecorder`:
it declares its columns as :class:`Quantity` (name, label, unit), grouped
in series of independent (setpoint) and dependent columns, adds rows as
they are measured (flushed at once, so a run interrupted part-way keeps
what it measured), and puts the run's facts (station, calibration, seed,
arguments) and derived values in the dataset's metadata. The datasets are
ordinary QCoDeS datasets: ``load_by_id`` / ``load_by_run_spec`` open them,
plottr plots them, ``qnic export`` writes them as netCDF or CSV.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import math
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import qcodes as qc
from qcodes.dataset import (
    Measurement,
    initialise_or_create_database_at,
    load_or_create_experiment,
)
from qcodes.dataset.measurements import DataSaver
from qcodes.station import Station

from qnic.interrupts import check, interrupted_by_signal, protected

if TYPE_CHECKING:
    from qnic.station import LoadedStation

EXPERIMENT = "qnic-bench"
log = logging.getLogger(__name__)


class StorageError(ValueError):
    """A database cannot be used; the message names the path and why."""


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C ended a run: what it kept (raised by :meth:`RunRecorder.run`).

    Attributes:
        rows: rows recorded before the interrupt (every one whole, flushed).
        noun: what a row is (``setting`` for a CHSH run).
        run_id: the run's captured run id, None if no row was recorded.
        db: the database file, None if no row was recorded.
    """

    def __init__(self, rows: int, noun: str, run_id: int | None, db: str | None) -> None:
        self.rows, self.noun, self.run_id, self.db = rows, noun, run_id, db
        super().__init__(self.summary())

    def summary(self) -> str:
        """``interrupted; 2 settings kept (run 7 in /data/bench.db)``."""
        where = "" if self.run_id is None else f" (run {self.run_id} in {self.db})"
        return f"interrupted; {kept(self.rows, self.noun)}{where}"


def kept(rows: int, noun: str) -> str:
    """``0 settings kept``, ``1 setting kept``."""
    return f"{rows} {noun}{'' if rows == 1 else 's'} kept"


@dataclass(frozen=True)
class Quantity:
    """One column of a run: its parameter name, label and unit (docs/storage.md).

    Units are physical: angles in ``deg``, times in ``s``, rates in ``Hz``,
    counts in ``counts``; a ratio or a bit has the unit ``""``.
    """

    name: str
    label: str
    unit: str = ""

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(f"a column name must be an identifier, got {self.name!r}")


def _quantity(q: Quantity | str) -> Quantity:
    return q if isinstance(q, Quantity) else Quantity(q, q)


@dataclass(frozen=True)
class Series:
    """Dependent columns over the same setpoints."""

    setpoints: tuple[Quantity, ...]
    values: tuple[Quantity, ...]

    @property
    def names(self) -> list[str]:
        return [q.name for q in (*self.setpoints, *self.values)]


def use_database(path: str | Path | None) -> str:
    """Point QCoDeS at ``path`` (None: QCoDeS's configured location) and
    create it if needed; return the path in use.

    Raises:
        StorageError: the folder does not exist, the path is a folder, or
            the file is not a database QCoDeS can open.
    """
    if path is not None:
        qc.config.core.db_location = str(Path(path).expanduser().resolve())
    location = Path(str(qc.config.core.db_location)).expanduser()
    if location.is_dir():
        raise StorageError(f"{location}: cannot use it as a QCoDeS database: it is a folder")
    if not location.parent.is_dir():
        raise StorageError(f"{location}: cannot create the QCoDeS database: the folder "
                           f"{location.parent} does not exist")
    if location.is_file() and not _is_sqlite(location):
        raise StorageError(f"{location}: cannot open it as a QCoDeS database: not an SQLite file")
    try:
        with library_chatter():
            initialise_or_create_database_at(str(location))
    except (sqlite3.Error, RuntimeError) as exc:
        raise StorageError(f"{location}: cannot open it as a QCoDeS database: {_cause(exc)}") from exc
    return str(location)


_SQLITE_HEADER = b"SQLite format 3\x00"


def _is_sqlite(path: Path) -> bool:
    """Whether the file starts as an SQLite database does (an empty file does not)."""
    with path.open("rb") as f:
        return f.read(len(_SQLITE_HEADER)) == _SQLITE_HEADER


class _DropRecords(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        log.info("qcodes: %s", record.getMessage().partition(";")[0])
        return False


@contextlib.contextmanager
def _quiet_qcodes_exit() -> Iterator[None]:
    """QCoDeS's warning with the traceback of a run's exception goes to this
    module's logger at INFO, one line, instead of the terminal."""
    logger = logging.getLogger("qcodes.dataset.measurements")
    drop = _DropRecords()
    logger.addFilter(drop)
    try:
        yield
    finally:
        logger.removeFilter(drop)


def _cause(exc: BaseException) -> BaseException:
    """QCoDeS wraps sqlite's errors ("Rolling back due to unhandled exception"): the sqlite one."""
    return exc.__cause__ if isinstance(exc.__cause__, sqlite3.Error) else exc


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


def _encode(value: Any) -> str | int | float:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return json.dumps(value, default=_jsonable)
    return value


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    return float(value)


class RunRecorder:
    """One run: series of rows, its facts and derived values as metadata.

    Args:
        name: run name (the command: ``"chsh"``, ``"calibrate"``, ...).
        sample: sample name (the station file's stem).
        station: the QCoDeS station whose snapshot is stored.
        setpoints, values: a first series (more with :meth:`add_series`);
            a plain name is a column without label or unit.
        row_noun: what one row is, for the interrupt's summary (``setting``).

    The dataset starts with the first row (or when :attr:`run_id` is first
    asked for): metadata added before is kept until then, and a run that
    fails before it measured anything (an instrument that does not open)
    leaves no dataset behind. A dataset that started records how the run
    ended in the metadata ``outcome``: ``complete``, ``interrupted`` or
    ``failed: <error>``.

    Ctrl-C cannot cut a row or the run's end in two: rows, metadata and the
    closing are written whole (:func:`qnic.interrupts.protected`), and an
    interrupt leaves :meth:`run` as :class:`RunInterrupted`, which says how
    many rows were kept.
    """

    def __init__(self, name: str, sample: str, station: Station | None,
                 setpoints: Sequence[Quantity | str] = (), values: Sequence[Quantity | str] = (),
                 row_noun: str = "row") -> None:
        self.name = name
        self.row_noun = row_noun
        self.rows = 0
        """Rows recorded so far (each flushed to the database)."""
        self.sample = sample
        self.station = station
        self.series: list[Series] = []
        self._columns: dict[str, Quantity] = {}
        self._pending: list[tuple[str, Any]] = []
        self._saver: DataSaver | None = None
        self._runner: Any = None
        self._open = False
        self._saver_run_id: int | None = None
        self._saver_db: str | None = None
        self.outcome: str | None = None
        """How the run ended, if not as the ``with`` block says (``interrupted`` when a
        command catches Ctrl-C itself and keeps what it measured)."""
        if setpoints or values:
            self.add_series(setpoints, values)

    @property
    def setpoints(self) -> list[str]:
        """Names of the first series' setpoints."""
        return [q.name for q in self.series[0].setpoints] if self.series else []

    @property
    def values(self) -> list[str]:
        """Names of the first series' dependent columns."""
        return [q.name for q in self.series[0].values] if self.series else []

    def add_series(self, setpoints: Sequence[Quantity | str], values: Sequence[Quantity | str]) -> None:
        """Declare dependent ``values`` over ``setpoints`` (before :meth:`run`).

        A setpoint may be shared by several series (``channel``); a column
        is declared once with one label and unit.
        """
        if self._open:
            raise RuntimeError("series are declared before the run starts")
        series = Series(tuple(map(_quantity, setpoints)), tuple(map(_quantity, values)))
        for q in (*series.setpoints, *series.values):
            known = self._columns.get(q.name)
            if known is not None and (known != q or q in series.values):
                raise ValueError(f"column {q.name!r} is declared twice")
            self._columns[q.name] = q
        self.series.append(series)

    @contextlib.contextmanager
    def run(self) -> Iterator[RunRecorder]:
        """Record for the duration of the ``with`` block."""
        self._open = True
        try:
            yield self
            check()  # a Ctrl-C held back by the last kernel ends the run as interrupted
        except BaseException as exc:
            interrupted = interrupted_by_signal(exc)
            self._finish(KeyboardInterrupt() if interrupted else exc)
            if interrupted and not isinstance(exc, RunInterrupted):
                started = self._saver_run_id is not None
                raise RunInterrupted(self.rows, self.row_noun, self._saver_run_id,
                                     self._saver_db if started else None) from None
            raise
        else:
            self._finish(None)
        finally:
            self._open = False

    def _start(self) -> DataSaver:
        if self._saver is not None:
            return self._saver
        if not self._open:
            raise RuntimeError("no run in progress")
        exp = load_or_create_experiment(EXPERIMENT, sample_name=self.sample)
        meas = Measurement(exp=exp, station=self.station, name=self.name)
        independent = [q for s in self.series for q in s.setpoints]
        for q in dict.fromkeys(independent):
            meas.register_custom_parameter(q.name, label=q.label, unit=q.unit, paramtype="numeric")
        for s in self.series:
            for q in s.values:
                meas.register_custom_parameter(q.name, label=q.label, unit=q.unit,
                                               setpoints=[p.name for p in s.setpoints],
                                               paramtype="numeric")
        self._runner = meas.run()
        with library_chatter():
            self._saver = self._runner.__enter__()
        self._saver_run_id = int(self._saver.dataset.captured_run_id)
        self._saver_db = str(self._saver.dataset.path_to_db)
        for key, value in self._pending:
            self._saver.dataset.add_metadata(key, value)
        self._pending.clear()
        return self._saver

    def _finish(self, exc: BaseException | None) -> None:
        if self._saver is None:
            return
        if exc is None:
            outcome = self.outcome or "complete"
        elif isinstance(exc, KeyboardInterrupt):
            outcome = "interrupted"
        else:
            outcome = f"failed: {type(exc).__name__}: {exc}"
        with protected():
            self._saver.dataset.add_metadata("outcome", outcome)
            self._saver = None
            # QCoDeS logs the exception's traceback as a warning on the terminal;
            # the outcome above says how the run ended, and the command says why.
            failed = exc is not None and not isinstance(exc, KeyboardInterrupt)
            with library_chatter(), _quiet_qcodes_exit():
                self._runner.__exit__(*((type(exc), exc, exc.__traceback__) if failed and exc
                                        else (None, None, None)))

    @property
    def run_id(self) -> int:
        """The run's captured run id (starts the dataset)."""
        return int(self._start().dataset.captured_run_id)

    @property
    def db_path(self) -> str:
        """The database the run is in (starts the dataset)."""
        return str(self._start().dataset.path_to_db)

    @property
    def started(self) -> bool:
        """Whether the dataset exists (a row was added or the run id asked for)."""
        return self._saver is not None

    def _series_of(self, columns: Mapping[str, Any]) -> list[Series]:
        given = set(columns)
        touched = [s for s in self.series if given & {q.name for q in s.values}]
        if not touched:
            raise ValueError(f"row has no value of any series (columns: {sorted(given)}; "
                             f"declared: {sorted(self._columns)})")
        for s in touched:
            missing = set(s.names) - given
            if missing:
                raise ValueError(f"row lacks columns {sorted(missing)}")
        return touched

    def add_row(self, **columns: float) -> None:
        """Add one row: every column of the series it gives values of; flushed at once.

        Columns of no declared series are ignored.
        """
        names = [n for s in self._series_of(columns) for n in s.names]
        # the run's start (QCoDeS reads the station's snapshot) and its first row
        # land together, and every row whole; Ctrl-C is raised after
        with protected():
            saver = self._start()
            saver.add_result(*((n, columns[n]) for n in dict.fromkeys(names)))
            saver.flush_data_to_database()
            self.rows += 1

    def add_rows(self, **columns: Sequence[float] | np.ndarray) -> None:
        """Add many rows at once: equal-length 1-D arrays per column; flushed at once."""
        names = list(dict.fromkeys(n for s in self._series_of(columns) for n in s.names))
        arrays = {n: np.asarray(columns[n], dtype=np.float64).ravel() for n in names}
        sizes = {a.size for a in arrays.values()}
        if len(sizes) != 1:
            raise ValueError(f"columns of different lengths: { {n: a.size for n, a in arrays.items()} }")
        if sizes == {0}:
            return
        with protected():
            saver = self._start()
            saver.add_result(*arrays.items())
            saver.flush_data_to_database()
            self.rows += sizes.pop()

    def add_metadata(self, key: str, value: Any) -> None:
        """Store ``value`` (JSON-encoded unless a str or number) under ``key``."""
        if not self._open:
            raise RuntimeError("no run in progress")
        encoded = _encode(value)
        if self._saver is None:
            self._pending.append((key, encoded))
        else:
            with protected():
                self._saver.dataset.add_metadata(key, encoded)

    def add_facts(self, facts: Mapping[str, Any]) -> None:
        """Store every item of ``facts`` (see :func:`run_facts`) as metadata."""
        for key, value in facts.items():
            self.add_metadata(key, value)


def calibration_in_use(st: LoadedStation, file: str | None) -> dict[str, Any]:
    """The calibration a run used: its file (or None) and when it was written
    (UTC, ISO 8601), the window and each arm's waveplate zero and delays as in use."""
    created = None
    if file is not None:
        try:
            created = datetime.fromtimestamp(Path(file).stat().st_mtime, timezone.utc).isoformat(
                timespec="seconds")
        except OSError:
            created = None
    return {"file": file, "written": created, "window_ps": st.window_ps,
            **{name: {"waveplate_zero_deg": q.waveplate_zero_deg, "delays_ps": list(q.delays_ps)}
               for name, q in st.qnics.items()}}


def run_facts(st: LoadedStation, calibration_file: str | None, seed: int | None,
              arguments: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The facts of a run for its metadata (docs/storage.md).

    Args:
        st: the open station.
        calibration_file: the calibration applied, or None.
        seed: the command's ``--seed`` (None: not given).
        arguments: the command's options, stored as given.
    """
    bench = st.bench
    facts: dict[str, Any] = {
        "station_file": st.config.path,
        "simulated": bench is not None,
        "seed": seed,
        "bench_seed": None if bench is None else int(bench.params.seed),
        "calibration": calibration_in_use(st, calibration_file),
    }
    if arguments is not None:
        facts["arguments"] = {k: v for k, v in arguments.items() if _plain_value(v)}
    return facts


def _plain_value(value: Any) -> bool:
    if isinstance(value, list | tuple):
        return all(_plain_value(v) for v in value)
    return value is None or (isinstance(value, str | int | float | bool)
                             and not (isinstance(value, float) and not math.isfinite(value)))


def command_arguments(args: Any) -> dict[str, Any]:
    """A command's parsed options (argparse namespace) for :func:`run_facts`."""
    return {k: v for k, v in vars(args).items() if k != "func" and not k.startswith("default_")}


EXPORT_FORMATS = {"netcdf": ".nc", "csv": ".csv"}
"""``qnic export`` formats (QCoDeS's ``DataExportType`` values) and their file suffixes."""


@dataclass(frozen=True)
class ExportedFile:
    """A file ``qnic export`` wrote: its path and its columns (variables) in order."""

    path: str
    columns: tuple[Quantity, ...]


def open_run(db: str | Path, run: int) -> Any:
    """The dataset of captured run id ``run`` in the database ``db`` (never created).

    Raises:
        StorageError: no such database file, not a QCoDeS database, or no
            such run (the message lists the run ids there).
    """
    from qcodes.dataset import connect, load_by_run_spec

    path = Path(db).expanduser()
    if not path.is_file():
        raise StorageError(f"{path}: no such database" + (" (it is a folder)" if path.is_dir() else ""))
    if not _is_sqlite(path):
        raise StorageError(f"{path}: cannot open it as a QCoDeS database: not an SQLite file")
    try:
        conn = connect(str(path))
        runs = [int(r[0]) for r in conn.execute("SELECT captured_run_id FROM runs ORDER BY run_id")]
    except (sqlite3.Error, RuntimeError) as exc:
        raise StorageError(f"{path}: cannot open it as a QCoDeS database: {_cause(exc)}") from exc
    if run not in runs:
        there = _id_ranges(runs) or "none"
        raise StorageError(f"run {run} is not in {path} (captured run ids there: {there})")
    try:
        return load_by_run_spec(captured_run_id=run, conn=conn)
    except NameError as exc:  # the same captured id twice (runs copied in from elsewhere)
        raise StorageError(f"run {run} of {path}: {exc}") from exc


def _id_ranges(ids: Sequence[int]) -> str:
    """1, 2, 3, 5 -> '1-3, 5'."""
    out: list[str] = []
    for i in sorted(set(ids)):
        if out and out[-1].rpartition("-")[2] == str(i - 1):
            out[-1] = f"{out[-1].partition('-')[0]}-{i}"
        else:
            out.append(str(i))
    return ", ".join(out)


def _groups(ds: Any) -> list[list[str]]:
    """The dataset's dependent parameters grouped by their setpoints, in declaration order."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for spec in ds.description.interdeps.dependencies:
        key = tuple(p.name for p in ds.description.interdeps.dependencies[spec])
        groups.setdefault(key, []).append(spec.name)
    return list(groups.values())


def _columns(ds: Any, names: Sequence[str]) -> tuple[Quantity, ...]:
    specs = {p.name: p for p in ds.get_parameters()}
    return tuple(Quantity(n, specs[n].label or n, specs[n].unit or "") for n in names)


@contextlib.contextmanager
def _qcodes_file_name(prefix: str) -> Iterator[None]:
    """Make QCoDeS name an export ``{prefix}.{ext}`` (no run id and guid appended)."""
    config = qc.config.dataset
    old = config.export_name_elements
    config.export_name_elements = []
    try:
        yield
    finally:
        config.export_name_elements = old


def export_run(ds: Any, fmt: str, out: str | Path | None = None) -> list[ExportedFile]:
    """Write a run with QCoDeS's own export (``DataSet.export``).

    Args:
        ds: the dataset (:func:`open_run`).
        fmt: ``netcdf`` or ``csv``.
        out: the file to write (its suffix ``.nc`` or ``.csv``); None: QCoDeS's
            own name (``qcodes_<run>_<guid>``) in the current folder.

    A CSV file is QCoDeS's: tab-separated, no header, the setpoints then the
    values (the order :class:`ExportedFile` gives). A run whose values hang on
    different setpoints (``calibrate``, ``monitor``) cannot be one table, so
    each group of values gets its own file, ``<out stem>_<first value>.csv``,
    written by QCoDeS's CSV writer.

    Raises:
        StorageError: an unknown format, an ``out`` with another suffix or
            in a folder that does not exist.
    """
    if fmt not in EXPORT_FORMATS:
        raise StorageError(f"unknown export format {fmt!r} (expected {', '.join(EXPORT_FORMATS)})")
    suffix = EXPORT_FORMATS[fmt]
    target = None if out is None else Path(out).expanduser().resolve()
    if target is not None and target.suffix.lower() != suffix:
        raise StorageError(f"{target}: a {fmt} export is written to a {suffix} file")
    if target is not None and not target.parent.is_dir():
        raise StorageError(f"{target}: no such folder {target.parent} (create it first)")
    groups = _groups(ds)
    if fmt == "csv" and len(groups) > 1:
        return _export_csv_groups(ds, groups, target)
    with contextlib.ExitStack() as stack:
        if target is not None:
            stack.enter_context(_qcodes_file_name(target.stem))
        with library_chatter():
            ds.export(export_type=fmt, path=str(target.parent if target else Path.cwd()),
                      prefix=target.stem if target else None)
    from qcodes.dataset.export_config import get_data_export_type

    kind = get_data_export_type(fmt)
    assert kind is not None  # every EXPORT_FORMATS key is a DataExportType
    written = Path(ds.export_info.export_paths[kind.value])
    if fmt == "csv":  # the index (setpoints), then the values in QCoDeS's data frames' order
        frames = ds.to_pandas_dataframe_dict()
        names = [*next(iter(frames.values())).index.names, *frames]
    else:
        deps = ds.description.interdeps.dependencies
        names = [*dict.fromkeys(p.name for spec in deps for p in deps[spec]),
                 *(n for g in groups for n in g)]
    return [ExportedFile(str(written), _columns(ds, names))]


def _export_csv_groups(ds: Any, groups: list[list[str]], target: Path | None) -> list[ExportedFile]:
    from qcodes.dataset.exporters.export_to_csv import dataframe_to_csv

    folder = target.parent if target is not None else Path.cwd()
    stem = target.stem if target is not None else f"qcodes_{ds.captured_run_id}_{ds.guid}"
    folder.mkdir(parents=True, exist_ok=True)
    frames = ds.to_pandas_dataframe_dict()
    files = []
    for names in groups:
        path = folder / f"{stem}_{names[0]}.csv"
        part = {n: frames[n] for n in frames if n in names}
        dataframe_to_csv(part, folder, single_file=True, single_file_name=path.name)
        index = list(next(iter(part.values())).index.names)
        files.append(ExportedFile(str(path), _columns(ds, [*index, *part])))
    return files
