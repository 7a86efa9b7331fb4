"""The CONEX behaviour tests on a real controller (skipped unless
``--device-address PORT`` is given; these move the optics). The model, AGP
or CC, is taken from the controller's own ``VE`` reply."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from qnic.instruments.rotators.conex import Conex

pytestmark = [pytest.mark.hardware, pytest.mark.moves_optics]

TOLERANCE_DEG = 0.05


@pytest.fixture
def rotator(device_address: str) -> Iterator[Conex]:
    probe = Conex("hw_conex_probe", device_address)
    try:
        model = "cc" if "CONEX-CC" in probe.ask_raw("1VE") else "agp"
    finally:
        probe.close()
    rot = Conex("hw_conex", device_address, model=model)
    yield rot
    rot.close()


def test_identifies_as_a_conex_rotation_stage(rotator: Conex) -> None:
    info = rotator.connect()
    assert info.controller == rotator.spec.controller
    assert rotator.spec.stage in info.stage_id


def test_home_ends_ready_at_zero(rotator: Conex) -> None:
    rotator.home()
    assert rotator.status().state in (0x32, 0x33, 0x34)
    assert abs(rotator.angle()) <= TOLERANCE_DEG


@pytest.mark.parametrize("angle", [0.0, 22.5, 45.0, -11.25, 90.0])
def test_set_and_read_back(rotator: Conex, angle: float) -> None:
    rotator.home()
    rotator.angle(angle)
    assert abs(rotator.angle() - angle) <= TOLERANCE_DEG


def test_start_then_wait(rotator: Conex) -> None:
    rotator.home()
    rotator.move_to(10.0, wait=False)
    assert rotator.wait_for_move() == pytest.approx(10.0, abs=TOLERANCE_DEG)
    assert not rotator.is_moving()
