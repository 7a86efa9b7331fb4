"""The calibration store (docs/storage.md): versioned JSON files per bench.

A file holds the schema version, the bench name, the time, a hash of the
station file, every value with its uncertainty, the fit quality and the
steps done. Files are never overwritten: each calibration adds one, so older
ones stay as history, and the newest complete one is what ``qnic chsh`` uses.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qnic.calibration.values import Measured

SCHEMA_VERSION = 1


class CalibrationFileError(ValueError):
    """A calibration file cannot be used; the message says why and what to do."""


def default_directory() -> Path:
    """Where calibrations live unless told otherwise: ~/.qnic-bench/calibrations."""
    return Path.home() / ".qnic-bench" / "calibrations"


def station_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@dataclass
class CalibrationRecord:
    """One calibration of one bench."""

    bench: str
    station_hash: str
    time: str = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
    values: dict[str, dict[str, Measured]] = field(default_factory=dict)
    quality: dict[str, Any] = field(default_factory=dict)
    steps_done: list[str] = field(default_factory=list)
    complete: bool = False
    schema_version: int = SCHEMA_VERSION

    def value(self, quantity: str, key: str) -> float | None:
        m = self.values.get(quantity, {}).get(key)
        return None if m is None else m.value

    def to_json(self) -> dict[str, Any]:
        return {"schema_version": self.schema_version, "bench": self.bench, "time": self.time,
                "station_hash": self.station_hash, "complete": self.complete,
                "steps_done": self.steps_done, "quality": self.quality,
                "values": {q: {k: m.to_json() for k, m in kv.items()} for q, kv in self.values.items()}}

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=2, default=float))
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> CalibrationRecord:
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise CalibrationFileError(f"{path}: cannot read the calibration file ({exc})") from None
        version = data.get("schema_version") if isinstance(data, dict) else None
        if version != SCHEMA_VERSION:
            raise CalibrationFileError(
                f"{path}: calibration schema version {version!r}, this qnic-bench reads version "
                f"{SCHEMA_VERSION}; rerun `qnic calibrate` to make a current file (the old one is "
                "kept as history)")
        try:
            values = {q: {k: Measured.from_json(m) for k, m in kv.items()}
                      for q, kv in data["values"].items()}
            return cls(bench=data["bench"], station_hash=data["station_hash"], time=data["time"],
                       values=values, quality=data.get("quality", {}),
                       steps_done=list(data.get("steps_done", [])), complete=bool(data["complete"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise CalibrationFileError(f"{path}: malformed calibration file (missing {exc})") from None


class CalibrationStore:
    """Calibration files of every bench under one directory (one folder per bench)."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = Path(directory) if directory is not None else default_directory()

    def new_path(self, bench: str) -> Path:
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        return self.directory / bench / f"calibration-{stamp}.json"

    def files(self, bench: str) -> list[Path]:
        """The bench's calibration files, oldest first."""
        folder = self.directory / bench
        return sorted(folder.glob("calibration-*.json")) if folder.is_dir() else []

    def history(self, bench: str) -> list[tuple[Path, CalibrationRecord]]:
        out = []
        for path in self.files(bench):
            try:
                out.append((path, CalibrationRecord.load(path)))
            except CalibrationFileError:
                continue
        return out

    def newest(self, bench: str, complete: bool = True) -> tuple[Path, CalibrationRecord] | None:
        for path, rec in reversed(self.history(bench)):
            if rec.complete or not complete:
                return path, rec
        return None
