"""Byte-level tests of the ELL14 bus emulator against docs/protocols.md section 1.

Every request and expected reply is a literal taken from the reference (or
worked out from its numbers in a comment), never produced by a codec.
"""

from __future__ import annotations

import numpy as np
import pytest
import serial

from qnic.instruments.clock import VirtualClock
from qnic.sim import register_serial_scheme
from qnic.sim.elliptec_emulator import ElliptecBusEmulator, Fault, Status
from qnic.sim.faults import FaultSpec, parse_fault_option
from qnic.sim.motion import RotatorMotion
from qnic.sim.registry import registered

# RotatorMotion defaults: 430 deg/s (docs/protocols.md 1.7), 4000 deg/s^2.
T_90_DEG_S = 90 / 430 + 430 / 4000  # 0.31680 s, trapezoidal
COUNT_DEG = 360 / 143360  # one encoder count (1.5)


class StandInBench:
    """The two things the emulator uses of a bench: a clock and the arm motors."""

    def __init__(self, a_deg: float = 0.0, b_deg: float = 0.0, name: str = "ell-test") -> None:
        self.name = name
        self.clock = VirtualClock()
        self.motors = {"A": RotatorMotion(angle_deg=a_deg), "B": RotatorMotion(angle_deg=b_deg)}

    def motor(self, arm: str) -> RotatorMotion:
        return self.motors[arm]

    def angle(self, arm: str) -> float:
        return float(self.motors[arm].angle_at(np.array([self.clock.now()]))[0])


def make_bus(bench: StandInBench, **options: str) -> ElliptecBusEmulator:
    opts = {"bench": bench.name, **options}
    if "devices" not in opts:
        opts.setdefault("arm", "A")
    return ElliptecBusEmulator.from_url_options(bench, opts)


def read_frame(emu: ElliptecBusEmulator, timeout_s: float = 5.0) -> bytes:
    """Read up to CR LF, or what arrives before ``timeout_s`` of virtual time."""
    out = b""
    while not out.endswith(b"\r\n"):
        chunk = emu.read(1, timeout_s)
        if not chunk:
            break
        out += chunk
    return out


def ask(emu: ElliptecBusEmulator, request: bytes, timeout_s: float = 5.0) -> bytes:
    emu.receive(request)
    return read_frame(emu, timeout_s)


@pytest.fixture()
def bench() -> StandInBench:
    return StandInBench()


@pytest.fixture()
def bus(bench: StandInBench) -> ElliptecBusEmulator:
    return make_bus(bench, addr="0", homed="1")


# -- identification, framing -------------------------------------------------
@pytest.mark.parametrize("capture", [
    b"2IN0E1140051720231701016800023000\r\n",  # docs/protocols.md 1.5, real captures
    b"3IN0E1140028420211501016800023000\r\n",
    b"8IN0E1140060920231701016800023000\r\n",
    b"0IN0E1140050920201501016800023000\r\n",
])
def test_in_reply_matches_real_captures(bench: StandInBench, capture: bytes) -> None:
    addr, data = capture[:1].decode(), capture[3:-2].decode()
    emu = make_bus(bench, addr=addr, serial=data[2:10], year=data[10:14], fw=data[14:16])
    reply = ask(emu, addr.encode() + b"in")
    assert reply == capture
    assert len(reply) == 33 + 2


def test_in_reports_configured_pulses(bench: StandInBench) -> None:
    emu = make_bus(bench, pulses="262144")
    assert ask(emu, b"0in") == b"0IN0E1140000020231701016800040000\r\n"


def test_gs_ok(bus: ElliptecBusEmulator) -> None:
    assert ask(bus, b"0gs") == b"0GS00\r\n"  # 1.6: "0GS00" means device 0 is OK


def test_trailing_crlf_partial_and_batched_frames(bus: ElliptecBusEmulator) -> None:
    assert ask(bus, b"0gs\r\n") == b"0GS00\r\n"  # 1.2: CR LF from the host tolerated
    for piece in (b"0", b"g"):
        bus.receive(piece)
        assert bus.read(100, 0.0) == b""  # incomplete frame: no reply yet
    assert ask(bus, b"s") == b"0GS00\r\n"
    bus.receive(b"0gs0gv\r\n0gj")
    assert read_frame(bus) == b"0GS00\r\n"
    assert read_frame(bus) == b"0GV64\r\n"
    assert read_frame(bus) == b"0GJ00004600\r\n"


def test_unknown_and_unsupported_commands_answer_gs03(bus: ElliptecBusEmulator) -> None:
    assert ask(bus, b"0zz") == b"0GS03\r\n"
    assert ask(bus, b"0om") == b"0GS03\r\n"
    assert ask(bus, b"0GS") == b"0GS03\r\n"  # upper-case mnemonic from the host
    assert ask(bus, b"0gs") == b"0GS03\r\n"  # the latched error, read once ...
    assert ask(bus, b"0gs") == b"0GS00\r\n"  # ... and cleared (1.4)
    assert ask(bus, b"0zz0gs") == b"0GS03\r\n"  # the next frame is still found
    assert read_frame(bus) == b"0GS03\r\n"


def test_malformed_data_answers_gs03(bus: ElliptecBusEmulator) -> None:
    assert ask(bus, b"0ma0000\r\n") == b"0GS03\r\n"  # cut short by CR LF
    assert ask(bus, b"0ma00008c00") == b"0GS03\r\n"  # data must be upper-case hex
    assert read_frame(bus, 0.5) == b""


def test_unknown_address_is_silent(bus: ElliptecBusEmulator, bench: StandInBench) -> None:
    bus.receive(b"5gs")
    assert bus.read(100, 0.25) == b""
    assert bench.clock.now() == pytest.approx(0.25)  # only the read timeout passed
    bus.receive(b"5ma00008C00")
    assert bus.read(100, 2.0) == b""
    assert bench.angle("A") == 0.0


# -- moves -------------------------------------------------------------------
def test_move_absolute_90_deg(bus: ElliptecBusEmulator, bench: StandInBench) -> None:
    bus.receive(b"0ma00008C00")  # 1.5: 90 deg = 35,840 counts
    assert bus.read(100, 0.0) == b""  # no reply until the motion ends (1.7)
    assert read_frame(bus) == b"0PO00008C00\r\n"
    assert bench.clock.now() == pytest.approx(0.31680, abs=1e-5)
    assert bench.angle("A") == pytest.approx(90.0)
    assert ask(bus, b"0gp") == b"0PO00008C00\r\n"


def test_address_2_example_from_reference(bench: StandInBench) -> None:
    emu = make_bus(bench, addr="2", homed="1")
    assert ask(emu, b"2ma00008C00") == b"2PO00008C00\r\n"  # 1.3


def test_negative_position_twos_complement(bus: ElliptecBusEmulator, bench: StandInBench) -> None:
    assert ask(bus, b"0maFFFFF072") == b"0POFFFFF072\r\n"  # 1.3: -10 deg
    assert bench.angle("A") == pytest.approx(-10.0, abs=COUNT_DEG)
    assert ask(bus, b"0gp") == b"0POFFFFF072\r\n"
    assert ask(bus, b"0mr00008C00") == b"0PO00007C72\r\n"  # -3982 + 35840 = 31858
    assert bench.angle("A") == pytest.approx(80.0, abs=COUNT_DEG)


def test_busy_during_motion(bus: ElliptecBusEmulator, bench: StandInBench) -> None:
    bus.receive(b"0ma00008C00")
    bench.clock.advance_to(0.15)
    assert ask(bus, b"0gs", 0.0) == b"0GS09\r\n"  # 1.7
    mid = ask(bus, b"0gp", 0.0)
    assert mid.startswith(b"0PO") and 0 < int(mid[3:11], 16) < 0x8C00
    assert ask(bus, b"0ma00000000", 0.0) == b"0GS09\r\n"  # a second move is refused
    assert read_frame(bus) == b"0PO00008C00\r\n"
    assert ask(bus, b"0gs") == b"0GS00\r\n"


def test_target_beyond_travel_is_gs0c(bus: ElliptecBusEmulator, bench: StandInBench) -> None:
    assert ask(bus, b"0ma00023001") == b"0GS0C\r\n"  # one count past a full turn
    assert bench.clock.now() == 0.0 and bench.angle("A") == 0.0
    assert ask(bus, b"0gs") == b"0GS0C\r\n"
    assert ask(bus, b"0ma00023000") == b"0PO00023000\r\n"  # exactly one turn is allowed


def test_velocity_percent(bus: ElliptecBusEmulator, bench: StandInBench) -> None:
    assert ask(bus, b"0gv") == b"0GV64\r\n"
    assert ask(bus, b"0sv32") == b"0GS00\r\n"  # 50 %
    assert ask(bus, b"0gv") == b"0GV32\r\n"
    assert ask(bus, b"0ma00008C00") == b"0PO00008C00\r\n"
    assert bench.clock.now() == pytest.approx(90 / 215 + 215 / 4000)  # 0.4724 s at 215 deg/s
    assert ask(bus, b"0sv65") == b"0GS04\r\n"  # 101 %: value out of range (1.6)
    assert ask(bus, b"0gv") == b"0GV32\r\n"
    assert ask(bus, b"0gs") == b"0GS04\r\n"


def test_too_slow_a_velocity_stalls(bus: ElliptecBusEmulator, bench: StandInBench) -> None:
    assert ask(bus, b"0sv0A") == b"0GS00\r\n"  # 10 %, below the ~25 % stall point (1.4)
    assert ask(bus, b"0ma00008C00") == b"0GS02\r\n"
    assert bench.angle("A") == 0.0


def test_jog_forward_backward(bus: ElliptecBusEmulator, bench: StandInBench) -> None:
    assert ask(bus, b"0gj") == b"0GJ00004600\r\n"
    assert ask(bus, b"0sj00008C00") == b"0GS00\r\n"
    assert ask(bus, b"0gj") == b"0GJ00008C00\r\n"
    assert ask(bus, b"0fw") == b"0PO00008C00\r\n"
    assert ask(bus, b"0fw") == b"0PO00011800\r\n"
    assert bench.angle("A") == pytest.approx(180.0)
    assert ask(bus, b"0bw") == b"0PO00008C00\r\n"
    assert ask(bus, b"0sjFFFFFFFF") == b"0GS04\r\n"


def test_continuous_jog_until_st(bus: ElliptecBusEmulator, bench: StandInBench) -> None:
    assert ask(bus, b"0sj00000000") == b"0GS00\r\n"
    bus.receive(b"0fw")
    assert bus.read(100, 0.5) == b""  # still turning after 0.5 s
    assert ask(bus, b"0gs", 0.0) == b"0GS09\r\n"
    stop = ask(bus, b"0st", 0.0)
    assert stop.startswith(b"0PO") and stop.endswith(b"\r\n")
    counts = int(stop[3:11], 16)
    assert counts == pytest.approx((0.5 - 430 / 8000) * 430 * 143360 / 360, rel=1e-3)
    assert bench.angle("A") == pytest.approx(counts * COUNT_DEG, abs=COUNT_DEG)
    assert bus.read(100, 5.0) == b""  # the cancelled end-of-travel reply never comes
    assert ask(bus, b"0gs") == b"0GS00\r\n"


def test_st_does_not_abort_a_bounded_move(bus: ElliptecBusEmulator, bench: StandInBench) -> None:
    bus.receive(b"0ma00008C00")
    bench.clock.advance_to(0.1)
    bus.receive(b"0st")
    assert read_frame(bus) == b"0PO00008C00\r\n"
    assert bench.angle("A") == pytest.approx(90.0)


# -- homing ------------------------------------------------------------------
def test_home_cw_sends_busy_then_position(bench: StandInBench) -> None:
    bench = StandInBench(a_deg=30.0)
    emu = make_bus(bench, zero_deg="100")
    emu.receive(b"0ho0")
    assert read_frame(emu, 0.0) == b"0GS09\r\n"  # 1.7: one interim busy frame
    assert read_frame(emu) == b"0PO00000000\r\n"
    assert bench.clock.now() == pytest.approx(70 / 430 + 430 / 4000)  # 30 -> 100 deg
    assert bench.angle("A") == pytest.approx(100.0)
    assert ask(emu, b"0ma00008C00") == b"0PO00008C00\r\n"
    assert bench.angle("A") == pytest.approx(190.0)
    assert emu.device("0").is_homed


def test_home_ccw_goes_the_other_way(bench: StandInBench) -> None:
    bench = StandInBench(a_deg=30.0)
    emu = make_bus(bench, zero_deg="100", home_busy="0")
    assert ask(emu, b"0ho1") == b"0PO00000000\r\n"  # no interim frame when disabled
    assert bench.clock.now() == pytest.approx(290 / 430 + 430 / 4000)  # 30 -> -260 deg
    assert bench.angle("A") == pytest.approx(-260.0)


def test_bare_ho_homes(bench: StandInBench) -> None:
    bench = StandInBench(a_deg=30.0)
    emu = make_bus(bench, zero_deg="100", home_busy="0")
    assert ask(emu, b"0ho") == b"0PO00000000\r\n"  # 1.4: old firmware's bare `ho`
    assert bench.angle("A") == pytest.approx(100.0)


def test_moves_before_homing_use_the_power_up_reference(bench: StandInBench) -> None:
    bench = StandInBench(a_deg=30.0)
    emu = make_bus(bench, zero_deg="100")
    assert not emu.device("0").is_homed
    assert ask(emu, b"0gp") == b"0PO00000000\r\n"
    assert ask(emu, b"0ma00008C00") == b"0PO00008C00\r\n"
    assert bench.angle("A") == pytest.approx(120.0)  # not 190: the counter is not homed


def test_homed_at_power_up_reads_angle_from_home(bench: StandInBench) -> None:
    bench = StandInBench(a_deg=30.0)
    emu = make_bus(bench, zero_deg="100", homed="1")
    assert ask(emu, b"0gp") == b"0PO0001C31C\r\n"  # (30 - 100) mod 360 = 290 deg = 115484
    emu.power_cycle()
    assert ask(emu, b"0gp") == b"0PO00000000\r\n"
    assert not emu.device("0").is_homed


def test_home_offset(bench: StandInBench) -> None:
    emu = make_bus(bench, home_busy="0")
    assert ask(emu, b"0go") == b"0HO00000000\r\n"
    assert ask(emu, b"0so00004600") == b"0GS00\r\n"  # 45 deg
    assert ask(emu, b"0go") == b"0HO00004600\r\n"
    assert ask(emu, b"0ho0") == b"0PO00000000\r\n"
    assert bench.angle("A") == pytest.approx(45.0)


# -- parameters, addressing, bus -------------------------------------------
def test_motor_info_and_save(bus: ElliptecBusEmulator) -> None:
    assert ask(bus, b"0i1") == b"0I1100428FFFFFFFF00BD008B\r\n"  # 1.5: the manual's example
    assert ask(bus, b"0i2") == b"0I2100428FFFFFFFF00BD008B\r\n"
    assert ask(bus, b"0us") == b"0GS00\r\n"


def test_change_address_replies_from_new_address(bus: ElliptecBusEmulator) -> None:
    assert ask(bus, b"0ca3") == b"3GS00\r\n"  # 1.3
    bus.receive(b"0gs")
    assert bus.read(100, 0.2) == b""
    assert ask(bus, b"3gs") == b"3GS00\r\n"
    bus.power_cycle()  # not saved with `us`: the old address is back
    assert ask(bus, b"0gs") == b"0GS00\r\n"
    assert ask(bus, b"0ca3") == b"3GS00\r\n"
    assert ask(bus, b"3us") == b"3GS00\r\n"
    bus.power_cycle()
    assert ask(bus, b"3gs") == b"3GS00\r\n"


def test_multidrop_bus(bench: StandInBench) -> None:
    emu = make_bus(bench, devices="0:A,1:B,2:-", homed="1", serial="11400517")
    assert ask(emu, b"1in") == b"1IN0E1140051820231701016800023000\r\n"
    assert ask(emu, b"1ma00008C00") == b"1PO00008C00\r\n"
    assert bench.angle("B") == pytest.approx(90.0) and bench.angle("A") == 0.0
    assert ask(emu, b"0maFFFFF072") == b"0POFFFFF072\r\n"
    assert bench.angle("A") == pytest.approx(-10.0, abs=COUNT_DEG)
    assert ask(emu, b"2ma00004600") == b"2PO00004600\r\n"  # its own private motor
    assert bench.angle("A") == pytest.approx(-10.0, abs=COUNT_DEG)
    assert bench.angle("B") == pytest.approx(90.0)
    emu.receive(b"0gs1gs2gs3gs")
    assert [read_frame(emu) for _ in range(3)] == [b"0GS00\r\n", b"1GS00\r\n", b"2GS00\r\n"]
    assert emu.read(100, 0.5) == b""


@pytest.mark.parametrize("options", [
    {}, {"arm": "A", "addr": "G"}, {"arm": "A", "addr": "0", "devices": "0:A"},
    {"devices": "0:A,0:B"}, {"arm": "A", "serial": "123"}, {"arm": "A", "homed": "yes"},
    {"arm": "A", "colour": "red"}, {"arm": "A", "fault": "gremlins"},
])
def test_bad_url_options_are_rejected(bench: StandInBench, options: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        ElliptecBusEmulator.from_url_options(bench, options)


def test_through_pyserial_url(bench: StandInBench) -> None:
    register_serial_scheme()
    with registered(bench):  # type: ignore[arg-type]
        port = serial.serial_for_url(f"sim://ell14?bench={bench.name}&arm=B&addr=0&homed=1",
                                     timeout=2.0)
        port.write(b"0ma00008C00")
        assert port.read_until(b"\r\n") == b"0PO00008C00\r\n"
        port.close()
    assert bench.angle("B") == pytest.approx(90.0)


# -- faults --------------------------------------------------------------------
def test_fault_timeout_drops_the_command(bus: ElliptecBusEmulator, bench: StandInBench) -> None:
    bus.inject(Fault.TIMEOUT, count=2)
    bus.receive(b"0ma00008C00")
    assert bus.read(100, 1.0) == b""
    assert bench.angle("A") == 0.0
    bus.receive(b"0gs")
    assert bus.read(100, 1.0) == b""
    assert ask(bus, b"0gs") == b"0GS00\r\n"  # spent after two commands


def test_fault_truncated(bus: ElliptecBusEmulator) -> None:
    bus.inject(Fault.TRUNCATED)
    assert ask(bus, b"0in", 0.5) == b"0IN0E11400000202"  # (35 - 2) // 2 bytes, no CR LF
    assert ask(bus, b"0gs") == b"0GS00\r\n"


def test_fault_truncated_move_reply(bus: ElliptecBusEmulator, bench: StandInBench) -> None:
    bus.inject(Fault.TRUNCATED)
    assert ask(bus, b"0ma00008C00", 1.0) == b"0PO00"
    assert bench.angle("A") == pytest.approx(90.0)  # the move itself happened


def test_fault_garbled(bus: ElliptecBusEmulator) -> None:
    bus.inject(Fault.GARBLED)
    assert ask(bus, b"0gs") == b"0\xc7S\xb00\r\n"
    assert ask(bus, b"0gs") == b"0GS00\r\n"


def test_fault_error_code(bus: ElliptecBusEmulator, bench: StandInBench) -> None:
    bus.inject(Fault.ERROR_CODE, code=Status.OVER_CURRENT)
    assert ask(bus, b"0ma00008C00") == b"0GS0D\r\n"
    assert bench.angle("A") == 0.0 and bench.clock.now() == 0.0
    bus.inject(Fault.ERROR_CODE, code=0x02)
    assert ask(bus, b"0in") == b"0GS02\r\n"
    assert ask(bus, b"0gs") == b"0GS02\r\n"  # latched, then cleared
    assert ask(bus, b"0gs") == b"0GS00\r\n"


def test_fault_stall(bus: ElliptecBusEmulator, bench: StandInBench) -> None:
    bus.inject(Fault.STALL, stall_fraction=0.5)
    bus.receive(b"0ma00008C00")
    bench.clock.advance_to(0.05)
    assert ask(bus, b"0gs", 0.0) == b"0GS09\r\n"
    assert read_frame(bus) == b"0GS02\r\n"  # 1.6: mechanical time out
    assert bench.clock.now() == pytest.approx(2 * (45 / 4000) ** 0.5)  # triangular profile
    assert bench.angle("A") == pytest.approx(45.0)
    assert ask(bus, b"0gp") == b"0PO00004600\r\n"
    assert ask(bus, b"0gs") == b"0GS02\r\n"
    assert ask(bus, b"0gs") == b"0GS00\r\n"


def test_fault_stall_while_homing_leaves_device_unhomed(bench: StandInBench) -> None:
    bench = StandInBench(a_deg=30.0)
    emu = make_bus(bench, zero_deg="100")
    emu.inject(Fault.STALL)
    emu.receive(b"0ho0")
    assert read_frame(emu) == b"0GS09\r\n"
    assert read_frame(emu) == b"0GS02\r\n"
    assert bench.angle("A") == pytest.approx(65.0)
    assert not emu.device("0").is_homed


def test_fault_off_target(bus: ElliptecBusEmulator, bench: StandInBench) -> None:
    bus.inject(Fault.OFF_TARGET, offset_counts=40)
    assert ask(bus, b"0ma00008C00") == b"0PO00008C28\r\n"  # 35840 + 40
    assert bench.angle("A") == pytest.approx(90.0 + 40 * COUNT_DEG)
    assert ask(bus, b"0ma00008C00") == b"0PO00008C00\r\n"


def test_fault_only_for_its_address(bench: StandInBench) -> None:
    emu = make_bus(bench, devices="0:A,1:B", homed="1")
    emu.inject(Fault.ERROR_CODE, addr="1", code=0x0D)
    assert ask(emu, b"0gs") == b"0GS00\r\n"
    assert ask(emu, b"1gs") == b"1GS0D\r\n"


def test_fault_disconnect_reconnect(bus: ElliptecBusEmulator, bench: StandInBench) -> None:
    bus.receive(b"0ma00008C00")
    bus.inject(Fault.DISCONNECT)
    assert not bus.connected
    assert bus.read(100, 1.0) == b""  # the reply in flight is lost
    bus.receive(b"0gs")
    assert bus.read(100, 0.1) == b""
    bus.inject(Fault.RECONNECT)
    assert bus.connected
    assert ask(bus, b"0gp") == b"0PO00008C00\r\n"  # the device kept moving
    assert bench.angle("A") == pytest.approx(90.0)


def test_fault_from_url_option(bench: StandInBench) -> None:
    emu = make_bus(bench, homed="1", fault="timeout*2,error_code:0C,garbled")
    for _ in range(2):
        emu.receive(b"0gs")
        assert emu.read(100, 0.5) == b""
    # error_code and garbled both fall on the next command: a garbled GS0C
    assert ask(emu, b"0gs") == b"0\xc7S\xb0C\r\n"
    assert ask(emu, b"0gs") == b"0GS0C\r\n"  # the injected code latched
    assert ask(emu, b"0gs") == b"0GS00\r\n"
    assert not make_bus(bench, fault="disconnect").connected


def test_parse_fault_option_arguments() -> None:
    specs = parse_fault_option("off_target:-40*3, stall:0.25")
    assert specs == [FaultSpec(Fault.OFF_TARGET, 3, offset_counts=-40),
                     FaultSpec(Fault.STALL, 1, stall_fraction=0.25)]
    with pytest.raises(ValueError):
        parse_fault_option("timeout:5")
