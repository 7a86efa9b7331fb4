"""Shared fixtures: every test starts with no open instrument, no registered
bench and a QCoDeS database of its own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import qcodes as qc
from qcodes.instrument import Instrument

import sim_backends
from sim_backends.registry import registry


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--device-address", action="store", default=None,
                     help="serial port of a real ELL14 for tests/hardware (e.g. /dev/ttyUSB0)")


@pytest.fixture(autouse=True)
def _clean_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    sim_backends.register_serial_scheme()
    # never read or write the user's calibration store
    monkeypatch.setattr("calibration.store.default_directory", lambda: tmp_path / "calibrations")
    old_db = qc.config.core.db_location
    qc.config.core.db_location = str(tmp_path / "experiments.db")
    try:
        yield
    finally:
        Instrument.close_all()
        registry().clear()
        qc.config.core.db_location = old_db


@pytest.fixture
def device_address(request: pytest.FixtureRequest) -> str:
    address = request.config.getoption("--device-address")
    if not address:
        pytest.skip("hardware test: give --device-address PORT to run it")
    return str(address)
