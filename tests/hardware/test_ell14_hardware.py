"""The ELL14 behaviour tests on a real device (skipped unless
``--device-address PORT`` is given; these move the optics)."""

from __future__ import annotations

import pytest

from qnic.instruments.rotators.elliptec import ELL14

pytestmark = [pytest.mark.hardware, pytest.mark.moves_optics]


@pytest.fixture
def rotator(device_address: str):  # type: ignore[no-untyped-def]
    rot = ELL14("hw_ell14", device_address)
    yield rot
    rot.close()


def test_identifies_as_an_elliptec_rotator(rotator: ELL14) -> None:
    info = rotator.info
    assert info.travel == 360 and info.pulses_per_unit > 0


@pytest.mark.parametrize("angle", [0.0, 22.5, 45.0, -11.25, 359.9])
def test_set_and_read_back(rotator: ELL14, angle: float) -> None:
    rotator.home()
    rotator.angle(angle)
    resolution = 360 / rotator.info.pulses_per_unit
    assert abs(rotator.angle() - angle) <= 2 * resolution
