"""ELL14 behaviour through sim:// on a simulated bench (no sleeping: virtual time)."""

from __future__ import annotations

import numpy as np
import pytest
from benches import make_bench

from qnic.instruments.errors import (
    DeviceFaultError,
    MoveIncompleteError,
    ProtocolError,
    TransportError,
)
from qnic.instruments.rotators.elliptec import ELL14
from qnic.instruments.rotators.protocol import Rotator
from qnic.sim.faults import Fault

RESOLUTION_DEG = 360 / 143360


def rotator(name: str = "rot", url_extra: str = "", device_id: str = "0") -> ELL14:
    return ELL14(name, f"sim://ell14?bench=default&arm=A&addr={device_id}{url_extra}",
                 device_id=device_id)


def emulator(rot: ELL14):  # type: ignore[no-untyped-def]
    return rot.bus.port.emulator


def test_is_a_rotator() -> None:
    make_bench()
    assert isinstance(rotator(), Rotator)


@pytest.mark.parametrize("angle", [0.0, 22.5, 45.0, -11.25, 359.9])
def test_set_and_read_back_within_resolution(angle: float) -> None:
    bench = make_bench()
    rot = rotator()
    rot.home()
    rot.angle(angle)
    assert abs(rot.angle() - angle) <= RESOLUTION_DEG
    # the bench's motor (what the physics reads) stands there too
    motor_deg = bench.motor("A").angle_at(np.array([bench.clock.now()]))[0]
    assert abs(motor_deg - angle) <= RESOLUTION_DEG


def test_moves_take_virtual_time_not_wall_time() -> None:
    bench = make_bench()
    rot = rotator()
    rot.home()
    t0 = bench.clock.now()
    rot.angle(90.0)
    elapsed = bench.clock.now() - t0
    # trapezoidal move at 430 deg/s and 4000 deg/s^2: 90/430 + 430/4000 s
    assert elapsed == pytest.approx(90 / 430 + 430 / 4000, rel=1e-6)


def test_analysed_basis_follows_the_waveplate_while_it_moves() -> None:
    bench = make_bench()
    rot = rotator()
    rot.home()
    t0 = bench.clock.now()
    rot.move_to(45.0, wait=False)
    rot.wait_for_move()
    t1 = bench.clock.now()
    mid = bench.motor("A").angle_at(np.array([(t0 + t1) / 2]))[0]
    assert 0.0 < mid < 45.0


def test_turning_the_waveplate_changes_the_statistics() -> None:
    make_bench({"pair_rate_hz": 2e5, "state": {"visibility": 1.0, "coherence": 1.0}})
    from qnic.coincidence import outcome_counts
    from qnic.sim.tagger import SimulatedTimeTagger

    rot = rotator()
    tagger = SimulatedTimeTagger("tagger", bench="default")
    rot.home()

    def pattern(angle_deg: float) -> np.ndarray:
        rot.angle(angle_deg)
        b = tagger.acquire(0.5)
        return outcome_counts(b.timestamps, b.channels, (1, 2), (3, 4), 1000).n

    same = pattern(0.0)
    flipped = pattern(45.0)  # HWP at 45 deg swaps H and V on arm A
    assert same[0, 0] + same[1, 1] > 20 * (same[0, 1] + same[1, 0])
    assert flipped[0, 1] + flipped[1, 0] > 20 * (flipped[0, 0] + flipped[1, 1])


def test_two_devices_on_one_bus_by_address() -> None:
    bench = make_bench()
    url = "sim://ell14?bench=default&devices=0:A,1:B"
    a = ELL14("a", url, device_id="0")
    b = ELL14("b", url, device_id="1")
    assert a.bus is b.bus
    a.home()
    b.home()
    a.angle(10.0)
    b.angle(20.0)
    assert a.angle() == pytest.approx(10.0, abs=RESOLUTION_DEG)
    assert b.angle() == pytest.approx(20.0, abs=RESOLUTION_DEG)
    now = np.array([bench.clock.now()])
    assert bench.motor("A").angle_at(now)[0] == pytest.approx(10.0, abs=RESOLUTION_DEG)
    assert bench.motor("B").angle_at(now)[0] == pytest.approx(20.0, abs=RESOLUTION_DEG)


def test_arms_on_separate_buses_move_together() -> None:
    bench = make_bench()
    a = ELL14("a", "sim://ell14?bench=default&arm=A&addr=0")
    b = ELL14("b", "sim://ell14?bench=default&arm=B&addr=0")
    a.home()
    b.home()
    t0 = bench.clock.now()
    a.move_to(90.0, wait=False)
    b.move_to(30.0, wait=False)
    a.wait_for_move()
    b.wait_for_move()
    # a setting costs the slower move, not the sum
    assert bench.clock.now() - t0 == pytest.approx(90 / 430 + 430 / 4000, rel=1e-6)


def test_devices_on_one_bus_move_one_at_a_time() -> None:
    # docs/protocols.md 1.7: one device moves at a time on a shared port
    bench = make_bench()
    url = "sim://ell14?bench=default&devices=0:A,1:B"
    a, b = ELL14("a", url, device_id="0"), ELL14("b", url, device_id="1")
    a.home()
    b.home()
    t0 = bench.clock.now()
    a.move_to(90.0, wait=False)
    b.move_to(30.0, wait=False)  # waits for a's move first
    a.wait_for_move()
    b.wait_for_move()
    # a trapezoidal 90 deg move, then a triangular 30 deg one (30 < v^2/a)
    expected = (90 / 430 + 430 / 4000) + 2 * (30 / 4000) ** 0.5
    assert bench.clock.now() - t0 == pytest.approx(expected, rel=1e-4)


def test_timeout_fault_raises_transport_error() -> None:
    make_bench()
    rot = rotator()
    rot.connect()
    emulator(rot).inject(Fault.TIMEOUT)
    assert rot.position_deg() == pytest.approx(0.0)  # one lost reply: retried once
    # the fault also takes the resynchronising status read in between
    emulator(rot).inject(Fault.TIMEOUT, count=3)
    with pytest.raises(TransportError, match="no reply"):
        rot.position_deg()
    assert rot.position_deg() == pytest.approx(0.0)  # the next query works


def test_garbled_and_truncated_replies_raise_protocol_error() -> None:
    make_bench()
    rot = rotator()
    rot.connect()
    # three replies in a row: the query, the resynchronising status, the retry
    emulator(rot).inject(Fault.GARBLED, count=3)
    with pytest.raises(ProtocolError):
        rot.position_deg()
    emulator(rot).inject(Fault.TRUNCATED, count=3)
    with pytest.raises(ProtocolError, match="truncated"):
        rot.position_deg()
    emulator(rot).inject(Fault.GARBLED)
    assert rot.position_deg() == pytest.approx(0.0)  # one garbled reply: retried


def test_device_error_code_raises_named_fault_and_is_cleared() -> None:
    make_bench()
    rot = rotator()
    rot.home()
    emulator(rot).inject(Fault.ERROR_CODE, code=0x0D)
    with pytest.raises(DeviceFaultError) as err:
        rot.angle(10.0)
    assert err.value.code == 13 and err.value.meaning == "Over-current error"
    rot.angle(10.0)  # latched fault was cleared; the next move goes through
    assert rot.angle() == pytest.approx(10.0, abs=RESOLUTION_DEG)


def test_out_of_travel_move_gets_out_of_range() -> None:
    make_bench()
    rot = rotator()
    rot.home()
    rot.angle(300.0)
    with pytest.raises(DeviceFaultError, match="Out of range"):
        rot.move_by(300.0)


def test_off_target_move_is_reported_not_repeated() -> None:
    make_bench()
    rot = rotator()
    rot.home()
    emulator(rot).inject(Fault.OFF_TARGET, offset_counts=80)  # 0.2 deg, tolerance 0.05
    with pytest.raises(MoveIncompleteError) as err:
        rot.angle(30.0)
    assert err.value.reached_deg - err.value.target_deg == pytest.approx(80 * 360 / 143360, abs=1e-9)
    # 30 deg is 11947 counts; the stage stands 80 counts beyond, not moved again
    assert rot.angle() == pytest.approx((11947 + 80) * 360 / 143360, abs=1e-9)


def test_stalled_move_raises_with_where_it_stopped() -> None:
    make_bench()
    rot = rotator()
    rot.home()
    emulator(rot).inject(Fault.STALL, stall_fraction=0.5)
    with pytest.raises(DeviceFaultError, match="stopped at"):
        rot.angle(40.0)
    assert rot.angle() == pytest.approx(20.0, abs=0.01)


def test_disconnect_raises_transport_error() -> None:
    make_bench()
    rot = rotator()
    rot.connect()
    emulator(rot).inject(Fault.DISCONNECT)
    with pytest.raises(TransportError):
        rot.position_deg()
