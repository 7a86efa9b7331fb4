"""Byte-level tests of the CONEX emulator against docs/protocols.md section 3.

Requests and replies are literals from the reference (``1PA45.0``, ``1TP?``,
``1TS00000A``, the state table) or worked out from its numbers in a comment;
codes the reference does not list are the SMC100/CONEX-CC TE letters the
emulator's docstring names. Time is virtual: no test waits.
"""

from __future__ import annotations

import numpy as np
import pytest
import serial

from qnic.instruments.clock import VirtualClock
from qnic.sim import register_serial_scheme
from qnic.sim.conex_emulator import ConexEmulator, Fault, FaultSpec
from qnic.sim.motion import RotatorMotion
from qnic.sim.registry import registered, registry

ACCEL = 4000.0  # the stand-in motors' acceleration (deg/s^2)


class StandInBench:
    """The two things the emulator uses of a bench: a clock and the arm motors."""

    def __init__(self, a_deg: float = 0.0, name: str = "conex-test") -> None:
        self.name = name
        self.clock = VirtualClock()
        self.motors = {"A": RotatorMotion(angle_deg=a_deg, accel_dps2=ACCEL),
                       "B": RotatorMotion(accel_dps2=ACCEL)}

    def motor(self, arm: str) -> RotatorMotion:
        return self.motors[arm]

    def angle(self, arm: str) -> float:
        return float(self.motors[arm].angle_at(np.array([self.clock.now()]))[0])


def make(bench: StandInBench, **options: str) -> ConexEmulator:
    return ConexEmulator.from_url_options(bench, {"bench": bench.name, "arm": "A", **options})


def read_line(emu: ConexEmulator, timeout_s: float = 0.1) -> bytes:
    out = b""
    while not out.endswith(b"\r\n"):
        chunk = emu.read(1, timeout_s)
        if not chunk:
            break
        out += chunk
    return out


def ask(emu: ConexEmulator, request: bytes) -> bytes:
    emu.receive(request)
    return read_line(emu)


def silent(emu: ConexEmulator, request: bytes) -> None:
    emu.receive(request)
    assert emu.read(100, 0.0) == b""


def error_code(emu: ConexEmulator) -> bytes:
    return ask(emu, b"1TE\r\n")


@pytest.fixture()
def bench() -> StandInBench:
    return StandInBench()


@pytest.fixture()
def agp(bench: StandInBench) -> ConexEmulator:
    return make(bench, model="agp", homed="1")


@pytest.fixture()
def cc(bench: StandInBench) -> ConexEmulator:
    return make(bench, model="cc", homed="1")


# -- identification, framing ---------------------------------------------------
def test_power_up_not_referenced_from_reset(bench: StandInBench) -> None:
    emu = make(bench)
    assert ask(emu, b"1TS\r\n") == b"1TS00000A\r\n"  # section 3: the TS example, len 9
    assert ask(emu, b"1TP?\r\n") == b"1TP0.00000\r\n"  # "TP or TP?"
    assert ask(emu, b"1TP\r\n") == b"1TP0.00000\r\n"
    assert ask(emu, b"1TE\r\n") == b"1TE@\r\n"


@pytest.mark.parametrize(("model", "ve", "ident"), [
    ("agp", b"1VE CONEX-AGP 2.0.1\r\n", b"1IDAG-PR100P\r\n"),
    ("cc", b"1VE CONEX-CC 2.0.1\r\n", b"1IDPR50CC\r\n"),
])
def test_version_and_stage_identification(bench: StandInBench, model: str, ve: bytes,
                                          ident: bytes) -> None:
    emu = make(bench, model=model)
    assert ask(emu, b"1VE\r\n") == ve
    assert ask(emu, b"1ID?\r\n") == ident


def test_serial_and_firmware_options(bench: StandInBench) -> None:
    emu = make(bench, model="cc", serial="A64MV6", fw="2.1.0")
    assert ask(emu, b"1ID?\r\n") == b"1IDPR50CC_A64MV6\r\n"
    assert ask(emu, b"1VE\r\n") == b"1VE CONEX-CC 2.1.0\r\n"
    silent(emu, b"1IDX\r\n")  # setting the stage ID needs CONFIGURATION
    assert error_code(emu) == b"1TED\r\n"


def test_controller_address(bench: StandInBench) -> None:
    emu = make(bench, addr="12")
    assert ask(emu, b"12TS\r\n") == b"12TS00000A\r\n"
    silent(emu, b"1TS\r\n")  # another controller's address
    silent(emu, b"TS\r\n")  # no address at all
    assert ask(emu, b"12TE\r\n") == b"12TE@\r\n"  # neither left an error


def test_partial_writes_terminators_and_batches(bench: StandInBench) -> None:
    emu = make(bench)
    for piece in (b"1", b"T", b"S"):
        silent(emu, piece)  # no reply before the line ends
    assert ask(emu, b"\r\n") == b"1TS00000A\r\n"
    assert ask(emu, b"1TS\n") == b"1TS00000A\r\n"
    assert ask(emu, b"1TS\r") == b"1TS00000A\r\n"
    emu.receive(b"1VE\r\n1TS\r\n1TP\r\n")
    assert [read_line(emu) for _ in range(3)] == [
        b"1VE CONEX-AGP 2.0.1\r\n", b"1TS00000A\r\n", b"1TP0.00000\r\n"]


@pytest.mark.parametrize(("request_", "code"), [
    (b"1ZZ\r\n", b"A"),  # unknown command
    (b"1ts\r\n", b"A"),  # mnemonics are upper case
    (b"1T\r\n", b"A"),
    (b"1\xd4S\r\n", b"A"),
    (b"1PA\r\n", b"C"),  # value missing
    (b"1PA4x5\r\n", b"C"),
    (b"1TPX\r\n", b"C"),
])
def test_malformed_commands_leave_a_te_code(agp: ConexEmulator, request_: bytes,
                                            code: bytes) -> None:
    silent(agp, request_)
    assert error_code(agp) == b"1TE" + code + b"\r\n"
    assert error_code(agp) == b"1TE@\r\n"  # read once, then cleared


def test_error_string(agp: ConexEmulator) -> None:
    assert ask(agp, b"1TBC\r\n") == b"1TBC Parameter missing or out of range.\r\n"
    assert ask(agp, b"1TBH\r\n") == b"1TBH Command not allowed in NOT REFERENCED state.\r\n"
    silent(agp, b"1ZZ\r\n")
    assert ask(agp, b"1TB?\r\n") == (
        b"1TBA Unknown message code or floating point controller address.\r\n")


# -- homing ---------------------------------------------------------------------
def test_home_search(bench: StandInBench) -> None:
    bench = StandInBench(a_deg=30.0)
    emu = make(bench, zero_deg="100")
    assert ask(emu, b"1TP\r\n") == b"1TP0.00000\r\n"  # counter 0 where it powered up
    silent(emu, b"1OR\r\n")  # set commands have no reply
    assert ask(emu, b"1TS\r\n") == b"1TS00001E\r\n"  # HOMING
    t_home = 70 / 1.5 + 1.5 / ACCEL  # 30 -> 100 deg at 1.5 deg/s
    bench.clock.advance_to(t_home - 1e-6)
    assert ask(emu, b"1TS\r\n") == b"1TS00001E\r\n"
    bench.clock.advance_to(t_home)
    assert ask(emu, b"1TS\r\n") == b"1TS000032\r\n"  # READY from HOMING
    assert ask(emu, b"1TP\r\n") == b"1TP0.00000\r\n"
    assert bench.angle("A") == pytest.approx(100.0)
    assert ask(emu, b"1TE\r\n") == b"1TE@\r\n"


def test_home_goes_to_the_nearest_home_angle(bench: StandInBench) -> None:
    bench = StandInBench(a_deg=300.0)
    emu = make(bench, zero_deg="10")
    silent(emu, b"1OR\r\n")
    bench.clock.advance_to(100.0)
    assert ask(emu, b"1TS\r\n") == b"1TS000032\r\n"
    assert bench.angle("A") == pytest.approx(370.0)  # 70 deg forward, not 290 back


def test_homed_option_reads_the_angle_from_home(bench: StandInBench) -> None:
    bench = StandInBench(a_deg=30.0)
    emu = make(bench, zero_deg="100", homed="1")
    assert ask(emu, b"1TS\r\n") == b"1TS000032\r\n"
    assert ask(emu, b"1TP\r\n") == b"1TP-70.00000\r\n"


@pytest.mark.parametrize(("setup", "code"), [
    (b"", b"K"),  # READY
    (b"1RS\r\n1PA90\r\n1OR\r\n", b"E"),  # already homing (from 90 deg away)
    (b"1PA90\r\n", b"M"),
    (b"1MM0\r\n", b"J"),
])
def test_or_refused_outside_not_referenced(agp: ConexEmulator, setup: bytes, code: bytes) -> None:
    if code == b"E":
        silent(agp, b"1PA90\r\n")
        agp.clock.advance_to(100.0)
        setup = b"1RS\r\n1OR\r\n"
    silent(agp, setup)
    silent(agp, b"1OR\r\n")
    assert error_code(agp) == b"1TE" + code + b"\r\n"


def test_stop_during_homing_is_not_referenced_from_homing(bench: StandInBench) -> None:
    bench = StandInBench(a_deg=30.0)
    emu = make(bench, zero_deg="100")
    silent(emu, b"1OR\r\n")
    bench.clock.advance_to(10.0)
    silent(emu, b"1ST\r\n")
    assert ask(emu, b"1TS\r\n") == b"1TS00000B\r\n"
    assert bench.angle("A") == pytest.approx(30 + 1.5 * (10 - 1.5 / (2 * ACCEL)))


# -- moves ----------------------------------------------------------------------
def test_move_absolute_in_virtual_time(agp: ConexEmulator, bench: StandInBench) -> None:
    silent(agp, b"1PA45.0\r\n")  # section 3 example
    assert error_code(agp) == b"1TE@\r\n"
    assert ask(agp, b"1TS\r\n") == b"1TS000028\r\n"  # MOVING
    assert ask(agp, b"1TH\r\n") == b"1TH45.00000\r\n"
    t_move = 45 / 1.5 + 1.5 / ACCEL  # 30.000375 s at the AG-PR100P's 1.5 deg/s
    bench.clock.advance_to(t_move / 2)
    assert ask(agp, b"1TP\r\n") == b"1TP22.50000\r\n"  # half way, by symmetry
    bench.clock.advance_to(t_move)
    assert ask(agp, b"1TS\r\n") == b"1TS000033\r\n"  # READY from MOVING
    assert ask(agp, b"1TP\r\n") == b"1TP45.00000\r\n"
    assert bench.angle("A") == pytest.approx(45.0)  # the bench's waveplate turned


def test_move_couples_to_the_bench_motor_through_the_home_reference(bench: StandInBench) -> None:
    emu = make(bench, model="cc", zero_deg="100", homed="1")
    assert ask(emu, b"1TP\r\n") == b"1TP-100.00000\r\n"
    silent(emu, b"1PA45\r\n")
    bench.clock.advance_to(60.0)
    assert bench.angle("A") == pytest.approx(145.0)


def test_zero_length_move_stays_ready_from_homing(agp: ConexEmulator) -> None:
    silent(agp, b"1PA0\r\n")  # section 3: "A zero-length move leaves the controller in 32"
    assert ask(agp, b"1TS\r\n") == b"1TS000032\r\n"
    assert error_code(agp) == b"1TE@\r\n"


def test_move_relative(cc: ConexEmulator, bench: StandInBench) -> None:
    silent(cc, b"1PR-10.5\r\n")
    assert ask(cc, b"1TH\r\n") == b"1TH-10.50000\r\n"
    bench.clock.advance_to(5.0)
    silent(cc, b"1PR+0.5\r\n")
    bench.clock.advance_to(10.0)
    assert ask(cc, b"1TP\r\n") == b"1TP-10.00000\r\n"
    silent(cc, b"1PR-351\r\n")  # to -361: beyond SL
    assert error_code(cc) == b"1TEG\r\n"


def test_pr50cc_speed_and_velocity_setting(cc: ConexEmulator, bench: StandInBench) -> None:
    assert ask(cc, b"1VA?\r\n") == b"1VA20.00000\r\n"
    assert ask(cc, b"1AC?\r\n") == b"1AC80.00000\r\n"
    silent(cc, b"1PA45\r\n")
    t_move = 45 / 20 + 20 / 80  # 2.5 s: the controller sets its motor's ramp
    bench.clock.advance_to(t_move - 1e-6)
    assert ask(cc, b"1TS\r\n") == b"1TS000028\r\n"
    silent(cc, b"1VA10\r\n")  # not while moving
    assert error_code(cc) == b"1TEM\r\n"
    bench.clock.advance_to(t_move)
    assert ask(cc, b"1TS\r\n") == b"1TS000033\r\n"
    silent(cc, b"1VA10\r\n")
    silent(cc, b"1AC1E3\r\n")
    assert error_code(cc) == b"1TE@\r\n"
    silent(cc, b"1PA0\r\n")
    bench.clock.advance_to(t_move + 45 / 10 + 10 / 1000)
    assert ask(cc, b"1TS\r\n") == b"1TS000033\r\n"
    for bad in (b"1VA20.1\r\n", b"1VA0\r\n", b"1AC0\r\n", b"1AC1e12\r\n"):
        silent(cc, bad)
        assert error_code(cc) == b"1TEC\r\n"


def test_agp_has_no_velocity_or_acceleration_commands(agp: ConexEmulator) -> None:
    for request in (b"1VA?\r\n", b"1AC?\r\n", b"1VA1\r\n"):
        silent(agp, request)
        assert error_code(agp) == b"1TEA\r\n"


def test_software_limits(agp: ConexEmulator, bench: StandInBench) -> None:
    assert ask(agp, b"1SL?\r\n") == b"1SL-360.00000\r\n"
    assert ask(agp, b"1SR?\r\n") == b"1SR360.00000\r\n"
    silent(agp, b"1PA360.001\r\n")
    assert error_code(agp) == b"1TEC\r\n"
    assert ask(agp, b"1TS\r\n") == b"1TS000032\r\n" and bench.angle("A") == 0.0
    silent(agp, b"1SL-10\r\n")  # limits are configuration, not settable here
    assert error_code(agp) == b"1TED\r\n"
    emu = make(StandInBench(), sl="-10", sr="190", homed="1")
    assert ask(emu, b"1SL?\r\n") == b"1SL-10.00000\r\n"
    silent(emu, b"1PA-11\r\n")
    assert error_code(emu) == b"1TEC\r\n"


def test_moves_refused_by_state(bench: StandInBench) -> None:
    bench = StandInBench(a_deg=30.0)  # 30 deg from the home sensor
    emu = make(bench)
    silent(emu, b"1PA10\r\n")
    assert error_code(emu) == b"1TEH\r\n"  # NOT REFERENCED
    silent(emu, b"1MM0\r\n")
    assert error_code(emu) == b"1TEH\r\n"
    silent(emu, b"1OR\r\n")
    silent(emu, b"1PR1\r\n")
    assert error_code(emu) == b"1TEL\r\n"  # HOMING
    silent(emu, b"1MM0\r\n")
    assert error_code(emu) == b"1TEL\r\n"
    bench.clock.advance_to(21.0)
    silent(emu, b"1PA10\r\n")
    silent(emu, b"1PA20\r\n")
    assert error_code(emu) == b"1TEM\r\n"  # MOVING
    assert ask(emu, b"1TH\r\n") == b"1TH10.00000\r\n"


def test_disable_and_enable(agp: ConexEmulator, bench: StandInBench) -> None:
    assert ask(agp, b"1MM?\r\n") == b"1MM32\r\n"
    silent(agp, b"1MM0\r\n")
    assert ask(agp, b"1TS\r\n") == b"1TS00003C\r\n"  # DISABLE from READY
    silent(agp, b"1PA10\r\n")
    assert error_code(agp) == b"1TEJ\r\n"
    silent(agp, b"1MM1\r\n")
    assert ask(agp, b"1TS\r\n") == b"1TS000034\r\n"  # READY from DISABLE
    silent(agp, b"1PA10\r\n")
    bench.clock.advance_to(2.0)
    silent(agp, b"1MM0\r\n")  # while moving: the motor stops
    assert ask(agp, b"1MM?\r\n") == b"1MM3D\r\n"
    stopped = bench.angle("A")
    bench.clock.advance_to(20.0)
    assert bench.angle("A") == stopped < 10.0
    silent(agp, b"1MM2\r\n")
    assert error_code(agp) == b"1TEC\r\n"


def test_stop_a_move(agp: ConexEmulator, bench: StandInBench) -> None:
    silent(agp, b"1PA90\r\n")
    bench.clock.advance_to(10.0)
    silent(agp, b"1ST\r\n")
    assert ask(agp, b"1TS\r\n") == b"1TS000033\r\n"
    here = ask(agp, b"1TP\r\n")
    assert here.startswith(b"1TP14.99") and ask(agp, b"1TH\r\n") == b"1TH" + here[3:]
    bench.clock.advance_to(60.0)
    assert ask(agp, b"1TP\r\n") == here
    silent(agp, b"1ST\r\n")  # READY: nothing to stop, no error
    assert error_code(agp) == b"1TE@\r\n"


def test_reset_and_power_cycle_lose_the_reference(agp: ConexEmulator, bench: StandInBench) -> None:
    silent(agp, b"1PA10\r\n")
    bench.clock.advance_to(2.0)
    silent(agp, b"1RS\r\n")
    assert ask(agp, b"1TS\r\n") == b"1TS00000A\r\n"
    assert ask(agp, b"1TP\r\n") == b"1TP0.00000\r\n"  # counter restarts where it stopped
    silent(agp, b"1OR\r\n")
    agp.power_cycle()
    assert agp.controller_state() == 0x0A
    assert ask(agp, b"1TS\r\n") == b"1TS00000A\r\n"


# -- faults --------------------------------------------------------------------------
def test_fault_timeout(agp: ConexEmulator, bench: StandInBench) -> None:
    agp.inject(Fault.TIMEOUT, count=2)
    silent(agp, b"1PA45\r\n")  # not heard: no move
    assert agp.read(100, 1.0) == b"" and bench.angle("A") == 0.0
    agp.receive(b"1TS\r\n")
    assert agp.read(100, 1.0) == b""
    assert ask(agp, b"1TS\r\n") == b"1TS000032\r\n"


def test_fault_truncated_and_garbled(agp: ConexEmulator) -> None:
    agp.inject(Fault.TRUNCATED)
    silent(agp, b"1PA0\r\n")  # set commands have no reply to damage
    assert ask(agp, b"1TS\r\n") == b"1TS0"  # (11 - 2) // 2 bytes, no CR LF
    agp.inject(Fault.GARBLED)
    assert ask(agp, b"1TS\r\n") == b"1\xd4S\xb00\xb00\xb32\r\n"
    assert ask(agp, b"1TS\r\n") == b"1TS000032\r\n"


def test_fault_error_code(agp: ConexEmulator, bench: StandInBench) -> None:
    agp.inject(Fault.ERROR_CODE, code="U")
    silent(agp, b"1PA45\r\n")
    assert error_code(agp) == b"1TEU\r\n"
    assert ask(agp, b"1TS\r\n") == b"1TS000032\r\n" and bench.angle("A") == 0.0
    agp.inject(Fault.ERROR_CODE)
    agp.receive(b"1TP\r\n")  # a refused query is not answered
    assert agp.read(100, 1.0) == b""
    assert error_code(agp) == b"1TEV\r\n"
    with pytest.raises(ValueError, match="TE letter"):
        agp.inject(Fault.ERROR_CODE, code="Z")


def test_fault_stall_following_error(agp: ConexEmulator, bench: StandInBench) -> None:
    agp.inject(Fault.STALL, stall_fraction=0.5)
    silent(agp, b"1PA90\r\n")
    assert ask(agp, b"1TS\r\n") == b"1TS000028\r\n"
    bench.clock.advance_to(100.0)
    assert ask(agp, b"1TS\r\n") == b"1TS00203D\r\n"  # following error, DISABLE from MOVING
    assert ask(agp, b"1TS\r\n") == b"1TS00003D\r\n"  # the bits were read and cleared
    assert ask(agp, b"1TP\r\n") == b"1TP45.00000\r\n"
    assert ask(agp, b"1TH\r\n") == b"1TH45.00000\r\n"  # the set-point follows the stop
    assert bench.angle("A") == pytest.approx(45.0)
    silent(agp, b"1MM1\r\n")
    silent(agp, b"1PA90\r\n")
    assert ask(agp, b"1TS\r\n") == b"1TS000028\r\n"


def test_fault_stall_while_homing(bench: StandInBench) -> None:
    bench = StandInBench(a_deg=30.0)
    emu = make(bench, zero_deg="100")
    emu.inject(Fault.STALL)
    silent(emu, b"1OR\r\n")
    bench.clock.advance_to(100.0)
    assert ask(emu, b"1TS\r\n") == b"1TS00400B\r\n"  # homing time-out, NOT REFERENCED from HOMING
    assert bench.angle("A") == pytest.approx(65.0)


def test_fault_off_target(agp: ConexEmulator, bench: StandInBench) -> None:
    agp.inject(Fault.OFF_TARGET, offset_mdeg=40)
    silent(agp, b"1PA45\r\n")
    bench.clock.advance_to(100.0)
    assert ask(agp, b"1TS\r\n") == b"1TS000033\r\n"
    assert ask(agp, b"1TP\r\n") == b"1TP45.04000\r\n"
    assert ask(agp, b"1TH\r\n") == b"1TH45.00000\r\n"


def test_fault_disconnect_reconnect(agp: ConexEmulator, bench: StandInBench) -> None:
    silent(agp, b"1PA45\r\n")
    agp.receive(b"1TS\r\n")
    agp.inject(Fault.DISCONNECT)
    assert not agp.connected
    assert agp.read(100, 1.0) == b""  # the reply in flight is lost
    agp.receive(b"1TS\r\n")
    assert agp.read(100, 0.1) == b""
    agp.inject(Fault.RECONNECT)
    bench.clock.advance_to(100.0)
    assert ask(agp, b"1TS\r\n") == b"1TS000033\r\n"  # the controller kept moving
    assert ask(agp, b"1TP\r\n") == b"1TP45.00000\r\n"


def test_faults_from_url_option(bench: StandInBench) -> None:
    emu = make(bench, homed="1", fault="timeout,error_code:43,truncated")
    emu.receive(b"1TS\r\n")
    assert emu.read(100, 0.5) == b""
    silent(emu, b"1PA10\r\n")
    assert ask(emu, b"1TE\r\n") == b"1T"  # "1TEC" CR LF cut to (6 - 2) // 2 bytes
    assert ask(emu, b"1TE\r\n") == b"1TE@\r\n"
    assert not make(bench, fault="disconnect").connected
    assert make(bench, fault="error_code").faults.pending() == [FaultSpec(Fault.ERROR_CODE)]


@pytest.mark.parametrize("options", [
    {"model": "smc100"}, {"addr": "0"}, {"addr": "32"}, {"addr": "x"}, {"homed": "yes"},
    {"colour": "red"}, {"fault": "gremlins"}, {"fault": "error_code:5A"}, {"sl": "10"},
    {"serial": "a b"}, {"zero_deg": "east"},
])
def test_bad_url_options_are_rejected(bench: StandInBench, options: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        make(bench, **options)
    with pytest.raises(ValueError, match="arm"):
        ConexEmulator.from_url_options(bench, {"model": "cc"})


def test_private_motor(bench: StandInBench) -> None:
    emu = make(bench, arm="-", homed="1")
    silent(emu, b"1PA10\r\n")
    bench.clock.advance_to(100.0)
    assert ask(emu, b"1TP\r\n") == b"1TP10.00000\r\n"
    assert bench.angle("A") == 0.0


def test_through_pyserial_url(bench: StandInBench) -> None:
    register_serial_scheme()
    with registered(bench):  # type: ignore[arg-type]
        port = serial.serial_for_url(
            f"sim://conex?bench={bench.name}&arm=B&model=cc&homed=1&addr=2",
            timeout=0.05, baudrate=921600)
        port.write(b"2VE\r\n")
        assert port.read_until(b"\r\n") == b"2VE CONEX-CC 2.0.1\r\n"
        port.write(b"2PA45.0\r\n")
        assert port.read_until(b"\r\n") == b""  # no reply; the read timed out in virtual time
        while True:
            port.write(b"2TS\r\n")
            if port.read_until(b"\r\n") == b"2TS000033\r\n":
                break
            port.read_until(b"\r\n")  # poll interval: one read timeout
        assert bench.clock.now() == pytest.approx(2.5, abs=0.11)
        port.close()
    assert bench.angle("B") == pytest.approx(45.0)
    assert bench.name not in registry().names()
