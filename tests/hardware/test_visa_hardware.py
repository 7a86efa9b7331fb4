"""ITC4001 and PM100D on real devices (skipped unless ``--device-address`` gives a
VISA resource of one: ``USB0::0x1313::0x804A::M...::INSTR`` for an ITC4000,
``USB0::0x1313::0x8078::P...::INSTR`` for a PM100D).

They never switch a laser on: they read, and write back values the device
already holds (docs/protocols.md sections 7 and 8).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from qnic.instruments.lasers.itc4000 import ITC4001
from qnic.instruments.powermeters.pm100 import PM100D

pytestmark = pytest.mark.hardware

ITC_PID = "0x804A"  # Thorlabs' USB product id of the ITC4000 series (7.1)
PM100D_PID = "0x8078"  # of the PM100D (8.1)


def _resource(address: str, pid: str) -> str:
    if not address.upper().startswith("USB") or pid.upper() not in address.upper():
        pytest.skip(f"{address!r} is not a VISA resource with USB product id {pid}")
    return address


@pytest.fixture
def itc(device_address: str) -> Iterator[ITC4001]:
    driver = ITC4001("hw_itc", _resource(device_address, ITC_PID))
    yield driver
    driver.close()


@pytest.fixture
def meter(device_address: str) -> Iterator[PM100D]:
    driver = PM100D("hw_pm", _resource(device_address, PM100D_PID))
    yield driver
    driver.close()


def test_itc_identity_limits_and_protections(itc: ITC4001) -> None:
    assert itc.get_idn()["vendor"].upper() == "THORLABS"
    assert 0 < itc.max_current_a <= 20
    assert isinstance(itc.interlock_tripped(), bool)
    assert isinstance(itc.keylock_tripped(), bool)


def test_itc_writes_back_its_setpoint(itc: ITC4001) -> None:
    setpoint = itc.current_a()
    itc.current_a(setpoint)
    assert itc.current_a() == pytest.approx(setpoint, abs=1e-5)


def test_meter_reads_power_and_writes_back_its_wavelength(meter: PM100D) -> None:
    assert meter.get_idn()["model"] and meter.sensor is not None
    wavelength = meter.wavelength_nm()
    meter.wavelength_nm(wavelength)
    assert meter.wavelength_nm() == pytest.approx(wavelength)
    assert meter.read_power_w() > -1e-3  # a dark reading may be slightly negative
