"""Station files for tests: the embedded default as a dict, and where its
wiring and its simulated bench's physics sit (docs/station.md)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from qnic.station import default_station_path


def default_dict() -> dict[str, Any]:
    """The embedded default station, parsed (a fresh copy each call)."""
    return copy.deepcopy(yaml.safe_load(default_station_path().read_text()))


def wiring(data: dict[str, Any]) -> dict[str, Any]:
    """The QNIC wiring (``instruments.qnic.init``) of a station dict."""
    return data["instruments"]["qnic"]["init"]  # type: ignore[no-any-return]


def physics(data: dict[str, Any]) -> dict[str, Any]:
    """The simulated bench's physics (``instruments.sim.init``) of a station dict."""
    return data["instruments"]["sim"]["init"]  # type: ignore[no-any-return]


def old_layout(data: dict[str, Any]) -> dict[str, Any]:
    """The same station in the layout before QCoDeS-native files: top-level ``qnic:`` and ``sim:``."""
    out = copy.deepcopy(data)
    out["qnic"] = out["instruments"].pop("qnic")["init"]
    sim = out["instruments"].pop("sim")["init"]
    out["sim"] = {("name" if k == "bench" else k): v for k, v in sim.items()}
    return out


def write(tmp_path: Path, data: dict[str, Any], name: str = "station.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path
