"""Shared fixtures: every test starts with no open instrument, no registered
bench and a QCoDeS database of its own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import qcodes as qc
from qcodes.instrument import Instrument

from qnic.sim import register_serial_scheme
from qnic.sim.registry import registry


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--device-address", action="store", default=None,
                     help="serial port of a real ELL14 for tests/hardware (e.g. /dev/ttyUSB0)")


@pytest.fixture(autouse=True)
def _clean_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    register_serial_scheme()
    # never read or write the user's calibration store
    monkeypatch.setattr("qnic.calibration.store.default_directory", lambda: tmp_path / "calibrations")
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


# SNSPD benches and an Eos controller in front of them, shared by the detector tests
SNSPD = {"efficiency": 0.8, "dark_count_hz": 50.0, "dead_time_ns": 0.0,
         "afterpulse_probability": 0.0}

if TYPE_CHECKING:
    from qnic.instruments.detectors.single_quantum import SingleQuantumEos
    from qnic.sim.bench import Bench


@pytest.fixture
def snspd_bench() -> Bench:
    from benches import make_bench

    return make_bench({"name": "snspd", "seed": 4, "pair_rate_hz": 2e5,
                       "A": {"detectors": {1: {"outcome": 0, **SNSPD}, 2: {"outcome": 1, **SNSPD}}},
                       "B": {"detectors": {3: {"outcome": 0, **SNSPD}, 4: {"outcome": 1, **SNSPD}}}})


@pytest.fixture
def eos(snspd_bench: Bench) -> Iterator[SingleQuantumEos]:
    from qnic.instruments.detectors.single_quantum import SingleQuantumEos
    from qnic.sim.snspd_emulator import EosEmulator

    with EosEmulator(snspd_bench, period_ms=10, bias_ua=[12.0] * 4, enabled=True) as emu:
        driver = SingleQuantumEos("eos", emu.address)
        try:
            yield driver
        finally:
            driver.close()
