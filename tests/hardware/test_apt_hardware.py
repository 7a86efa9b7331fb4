"""The K10CR1 / KDC101 behaviour tests on a real device (skipped unless
``--device-address PORT`` is given; these move the optics).

The driver class is chosen from the port's USB serial number, whose first two
digits name the model (docs/protocols.md 2.2: 55 K10CR1, 27 KDC101); a port that
is not one of them is skipped, so an Elliptec bus given as the address is
never sent APT bytes. A KDC101 is assumed to drive a PRM1Z8.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from serial.tools import list_ports

from qnic.instruments.rotators import Rotator
from qnic.instruments.rotators.apt import K10CR1, KDC101
from qnic.instruments.rotators.apt_codec import StatusBits

pytestmark = [pytest.mark.hardware, pytest.mark.moves_optics]

_BY_PREFIX: dict[str, type[K10CR1] | type[KDC101]] = {"55": K10CR1, "27": KDC101}


def _apt_class(address: str) -> type[K10CR1] | type[KDC101]:
    wanted = os.path.realpath(address)
    for info in list_ports.comports():
        if info.device in (address, wanted) or os.path.realpath(info.device) == wanted:
            cls = _BY_PREFIX.get((info.serial_number or "")[:2])
            if cls is not None:
                return cls
            pytest.skip(f"{address} has USB serial {info.serial_number!r}: not a K10CR1 (55...) "
                        "or KDC101 (27...)")
    pytest.skip(f"{address} is not a USB serial port listed by pyserial")


@pytest.fixture
def rotator(device_address: str) -> Iterator[K10CR1 | KDC101]:
    cls = _apt_class(device_address)
    rot = cls("hw_apt", device_address)
    yield rot
    rot.close()


def _resolution_deg(rot: K10CR1 | KDC101) -> float:
    return 1.0 / rot.stage.counts_per_deg


def test_identifies_as_the_expected_model(rotator: K10CR1 | KDC101) -> None:
    info = rotator.info
    assert info.model.startswith(rotator.MODEL)
    assert info.serial[:2] == {"K10CR1": "55", "KDC101": "27"}[rotator.MODEL]
    assert info.channels >= 1
    assert isinstance(rotator, Rotator)


def test_channel_enabled_after_connect(rotator: K10CR1 | KDC101) -> None:
    rotator.connect()
    assert rotator.channel_enabled() is True
    assert rotator.status_bits() & StatusBits.CHANNEL_ENABLED


def test_velocity_parameters_round_trip(rotator: K10CR1 | KDC101) -> None:
    velocity, acceleration = rotator.velocity_params()
    assert 0 < velocity <= 100 and 0 < acceleration <= 1000
    new_velocity = min(5.0, rotator.stage.max_velocity_deg_s)
    try:
        rotator.velocity(new_velocity)
        assert rotator.velocity() == pytest.approx(new_velocity, rel=1e-3)
        assert rotator.acceleration() == pytest.approx(acceleration, rel=1e-3)
    finally:
        rotator.set_velocity_params(velocity_deg_s=min(velocity, rotator.stage.max_velocity_deg_s))


def test_home_sets_the_homed_bit(rotator: K10CR1 | KDC101) -> None:
    rotator.home()
    status = rotator.status_bits()
    assert status & StatusBits.HOMED and not status.is_moving


@pytest.mark.parametrize("angle", [0.0, 22.5, 45.0, -11.25, 90.0])
def test_set_and_read_back(rotator: K10CR1 | KDC101, angle: float) -> None:
    rotator.home()
    rotator.angle(angle)
    assert abs(rotator.angle() - angle) <= max(2 * _resolution_deg(rotator),
                                               rotator.position_tolerance_deg)


def test_relative_move(rotator: K10CR1 | KDC101) -> None:
    rotator.home()
    rotator.angle(10.0)
    rotator.move_by(5.0)
    assert rotator.angle() == pytest.approx(15.0, abs=rotator.position_tolerance_deg)


def test_stop_ends_a_move_part_way(rotator: K10CR1 | KDC101) -> None:
    rotator.home()
    rotator.move_to(90.0, wait=False)
    assert rotator.is_moving()
    rotator.stop()
    assert not rotator.is_moving()
    assert not rotator.status_bits().is_moving
    assert -1.0 <= rotator.position_deg() <= 91.0
