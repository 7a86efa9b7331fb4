"""Clock, bases and the QNIC."""

from __future__ import annotations

import numpy as np
import pytest
from benches import make_bench

from qnic.bases import CHSH_ANGLES_DEG, LinearBasis, hwp_angle_deg, phi_from_hwp_deg
from qnic.instruments.clock import Clock, RealClock, VirtualClock
from qnic.instruments.rotators.elliptec import ELL14
from qnic.instruments.timetaggers.protocol import TagBatch
from qnic.node import QNIC, set_bases_together
from qnic.sim.tagger import SimulatedTimeTagger


def test_virtual_clock_moves_only_when_advanced() -> None:
    clock = VirtualClock(5.0)
    assert isinstance(clock, Clock) and isinstance(RealClock(), Clock)
    assert clock.now() == 5.0
    clock.sleep(2.5)
    assert clock.now() == 7.5
    assert clock.advance_to(3.0) == 7.5  # never backwards
    assert clock.advance_to(9.0) == 9.0
    with pytest.raises(ValueError):
        clock.sleep(-1)


def test_real_clock_is_monotonic() -> None:
    c = RealClock()
    assert c.now() <= c.now()


@pytest.mark.parametrize(("phi", "zero", "motor"), [
    (0.0, 0.0, 0.0), (45.0, 0.0, 22.5), (22.5, 0.0, 11.25), (-22.5, 0.0, 78.75),
    (90.0, 3.0, 48.0), (0.0, -2.0, 88.0)])
def test_hwp_angle_is_half_the_polarizer_angle_plus_zero(phi: float, zero: float, motor: float) -> None:
    assert hwp_angle_deg(phi, zero) == pytest.approx(motor)
    # analysing the motor angle back gives phi (mod 180, the basis period)
    assert phi_from_hwp_deg(motor, zero) == pytest.approx(phi % 180.0)
    assert LinearBasis(phi).hwp_angle_deg(zero) == pytest.approx(motor)


def test_chsh_angles_are_design_6() -> None:
    assert CHSH_ANGLES_DEG == {"A": (0.0, 45.0), "B": (22.5, -22.5)}
    with pytest.raises(ValueError):
        LinearBasis(float("inf"))


def test_qnic_sets_basis_through_its_rotator() -> None:
    bench = make_bench()
    rot = ELL14("rot_a", "sim://ell14?bench=default&arm=A&addr=0")
    q = QNIC("A", rot, SimulatedTimeTagger("tg", bench="default"), (1, 2), waveplate_zero_deg=3.0)
    rot.home()
    q.set_basis(45.0)
    assert rot.angle() == pytest.approx(25.5, abs=0.003)
    assert bench.motor("A").angle_at(np.array([bench.clock.now()]))[0] == pytest.approx(25.5, abs=0.003)


def test_set_bases_together_waits_for_both() -> None:
    make_bench()
    url = "sim://ell14?bench=default&devices=0:A,1:B"
    tg = SimulatedTimeTagger("tg", bench="default")
    a = QNIC("A", ELL14("a", url, device_id="0"), tg, (1, 2))
    b = QNIC("B", ELL14("b", url, device_id="1"), tg, (3, 4))
    set_bases_together([(a, 90.0), (b, 45.0)])
    assert not a.rotator.is_moving() and not b.rotator.is_moving()
    assert a.rotator.position_deg() == pytest.approx(45.0, abs=0.003)
    assert b.rotator.position_deg() == pytest.approx(22.5, abs=0.003)


def test_clicks_are_bits_after_delays() -> None:
    batch = TagBatch(np.array([10, 20, 30, 40], np.int64), np.array([1, 2, 3, 1], np.int32), 0, 100)
    q = QNIC("A", object(), object(), (1, 2), delays_ps=(0, 15))  # type: ignore[arg-type]
    t, bits = q.clicks(batch)
    assert t.tolist() == [5, 10, 40] and bits.tolist() == [1, 0, 0]
    with pytest.raises(ValueError):
        QNIC("B", object(), object(), (3, 3))  # type: ignore[arg-type]
