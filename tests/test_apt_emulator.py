"""Byte-level tests of the APT emulator (K10CR1, KDC101 + PRM1-Z8) against
docs/protocols.md section 2.

Every request and expected reply is written out by hand from the reference's
tables (header 2.3, message IDs and layouts 2.4, status bits 2.5, unit
factors 2.6), with the arithmetic in comments; nothing here is produced by a
codec or a driver.
"""

from __future__ import annotations

import numpy as np
import pytest
import serial

from qnic.instruments.clock import VirtualClock
from qnic.sim import register_serial_scheme
from qnic.sim.apt_emulator import AptEmulator, Fault
from qnic.sim.motion import RotatorMotion
from qnic.sim.registry import registry

H = bytes.fromhex  # spaces in the literals separate header and fields

# 2.6 K10CR1: 409600/3 counts/deg; velocity x 53.68 per count/s; accel x 53.68 x 204.94e-6
K10_CPD = 409600 / 3
K10_VEL = K10_CPD * 53.68  # 7,329,109 per deg/s
K10_ACC = K10_CPD * 53.68 * 204.94e-6  # ~1,502 per deg/s^2
# 2.6 PRM1-Z8: 1919.64 counts/deg; T = 2048/6 MHz; vel x T x 65536; accel x T^2 x 65536
PRM_CPD = 1919.6418578623391
# power-up: 10 deg/s = 73,291,093 (0x045E5555), 10 deg/s^2 = 15,020 (0x3AAC) on the K10CR1
V10 = 73291093 / K10_VEL
A10 = 15020 / K10_ACC

# K10CR1 requests (dest 0x50, source 0x01; long: dest 0xD0)
REQ_INFO = H("0500 0000 5001")
REQ_POS = H("1104 0100 5001")  # MOT_REQ_POSCOUNTER chan 1
REQ_BITS = H("2904 0100 5001")  # MOT_REQ_STATUSBITS chan 1
MOVE_HOME = H("4304 0100 5001")
MOVE_ABS_90 = H("5304 0600 D001 0100 0080BB00")  # 90 deg = 12,288,000 = 0x00BB8000
START_UPDATES = H("1100 0000 5001")
ACK = H("9204 0000 5001")

# status words (2.5): enabled 0x80000000 | power_ok 0x10000000 | connected 0x100
IDLE = "00010090"  # 0x90000100, not homed
IDLE_HOMED = "00050090"  # + homed 0x400
MOVING_FWD = "100100B0"  # + active 0x20000000 + moving forward 0x10


def t_move(dist_deg: float, v: float = V10, a: float = A10) -> float:
    """Trapezoidal move time (seconds) at top speed v and acceleration a."""
    return dist_deg / v + v / a if dist_deg >= v * v / a else 2 * (dist_deg / a) ** 0.5


class StandInBench:
    """The two things the emulator uses of a bench: a clock and the arm motors."""

    def __init__(self, a_deg: float = 0.0, b_deg: float = 0.0, name: str = "apt-test") -> None:
        self.name = name
        self.clock = VirtualClock()
        self.motors = {"A": RotatorMotion(angle_deg=a_deg), "B": RotatorMotion(angle_deg=b_deg)}

    def motor(self, arm: str) -> RotatorMotion:
        return self.motors[arm]

    def angle(self, arm: str = "A") -> float:
        return float(self.motors[arm].angle_at(np.array([self.clock.now()]))[0])


def make(bench: StandInBench, model: str = "k10cr1", **options: str) -> AptEmulator:
    return AptEmulator.from_url_options(bench, {"bench": bench.name, "arm": "A", **options}, model)


def read_msg(emu: AptEmulator, timeout_s: float = 60.0) -> bytes:
    """One message: the 6-byte header, then the data length it announces (2.3)."""
    head = emu.read(6, timeout_s)
    if len(head) < 6 or not head[4] & 0x80:
        return head
    return head + emu.read(head[2] | head[3] << 8, 0.0)


def ask(emu: AptEmulator, request: bytes, timeout_s: float = 60.0) -> bytes:
    emu.receive(request)
    return read_msg(emu, timeout_s)


@pytest.fixture()
def bench() -> StandInBench:
    return StandInBench()


@pytest.fixture()
def k10(bench: StandInBench) -> AptEmulator:
    return make(bench)


@pytest.fixture()
def kdc(bench: StandInBench) -> AptEmulator:
    return make(bench, "kdc101", serial="27000001")


# -- identification and framing ------------------------------------------------
K10_INFO = (
    "0600 5400 8150"  # HW_GET_INFO, 84 bytes, dest 0x01|0x80, source 0x50
    "C13B4703"  # serial 55000001 = 0x03473BC1
    "4B31304352310000"  # "K10CR1" NUL-padded to 8
    "1000"  # hardware type 16 (emulator value)
    "0A000300"  # firmware minor 10, interim 0, major 3, unused
    + b"K10CR1 stepper motor rotation mount".hex().ljust(96, "0")  # notes char[48]
    + "00" * 12  # empty
    + "0100" "0000" "0100"  # hardware version 1, modification state 0, 1 channel
)


def test_hw_info_k10cr1(k10: AptEmulator) -> None:
    reply = ask(k10, REQ_INFO)
    assert reply == H(K10_INFO)
    assert len(reply) == 6 + 84
    assert k10.clock.now() == 0.0  # queries are answered at once


def test_hw_info_kdc101_has_prm1z8_stage_id(bench: StandInBench) -> None:
    emu = make(bench, "kdc101", serial="27000001", fw="2.1.3")
    reply = ask(emu, REQ_INFO)
    assert reply[:6] == H("0600 5400 8150")
    assert reply[6:10] == H("C1FC9B01")  # 27000001 = 0x019BFCC1
    assert reply[10:18] == b"KDC101\0\0"
    assert reply[20:24] == H("03010200")  # minor 3, interim 1, major 2
    assert reply[6 + 76:6 + 78] == H("0600")  # 2.4: stage ID 6 = PRM1-Z8 at offset 76
    assert reply[6 + 82:] == H("0100")


def test_partial_frames_noise_and_batches(k10: AptEmulator) -> None:
    for piece in (H("5304 06"), H("00 D001 0100"), H("0080BB")):
        k10.receive(piece)
        assert k10.read(100, 0.0) == b""  # incomplete: no action yet
    k10.receive(H("00"))
    assert k10.axis.is_moving(k10.clock.now())
    # a header to another destination or from another source is noise: resync
    assert ask(k10, H("FF 0500 0000 5101") + REQ_POS)[:6] == H("1204 0600 8150")
    k10.receive(REQ_POS + REQ_BITS)
    assert read_msg(k10)[:6] == H("1204 0600 8150")
    assert read_msg(k10)[:6] == H("2A04 0600 8150")


def test_unknown_message_gets_rich_response(k10: AptEmulator) -> None:
    reply = ask(k10, H("9909 0000 5001"))
    assert reply[:6] == H("8100 4400 8150")  # HW_RICHRESPONSE, 68 bytes
    assert reply[6:10] == H("9909 0100")  # msg_ident 0x0999, code 1 (Notice.UNKNOWN_MESSAGE)
    notes = reply[10:]
    assert len(notes) == 64 and notes.rstrip(b"\0").isascii() and notes.endswith(b"\0")


def test_short_notice_option(bench: StandInBench) -> None:
    emu = make(bench, notice="short")
    assert ask(emu, H("9909 0000 5001")) == H("8000 0100 0150")  # HW_RESPONSE, code 1


def test_malformed_and_bad_channel_are_refused(k10: AptEmulator) -> None:
    assert ask(k10, H("1104 0200 5001"))[6:10] == H("1104 0300")  # chan 2: BAD_CHANNEL
    assert ask(k10, H("5304 0400 D001 0100 0080"))[6:10] == H("5304 0200")  # short data
    assert ask(k10, H("1304 0E00 D001 0100 00000000 00000000 00000000"))[6:10] == H(
        "1304 0400")  # zero velocity and acceleration: OUT_OF_RANGE, nothing moves
    assert not k10.axis.is_moving(k10.clock.now())


def test_enccounter_only_where_there_is_an_encoder(k10: AptEmulator, kdc: AptEmulator) -> None:
    assert ask(k10, H("0A04 0100 5001"))[6:10] == H("0A04 0100")  # K10CR1: no encoder
    assert ask(kdc, H("0A04 0100 5001")) == H("0B04 0600 8150 0100 00000000")


def test_identify_flash_programming_and_silence(k10: AptEmulator) -> None:
    for msg in (H("2302 0100 5001"), H("1800 0000 5001"), H("1200 0000 5001")):
        k10.receive(msg)
    assert k10.read(100, 1.0) == b""
    assert k10.identify_count == 1 and not k10.flash_programming


def test_channel_enable_state(k10: AptEmulator, bench: StandInBench) -> None:
    assert ask(k10, H("1102 0100 5001")) == H("1202 0101 0150")  # enabled
    k10.receive(H("1002 0102 5001"))  # disable
    assert ask(k10, H("1102 0100 5001")) == H("1202 0102 0150")
    assert ask(k10, REQ_BITS) == H("2A04 0600 8150 0100 00010010")  # bit 31 clear
    assert ask(k10, MOVE_ABS_90)[6:10] == H("5304 0500")  # CHANNEL_DISABLED
    assert bench.angle() == 0.0
    k10.receive(H("1002 0101 5001"))
    assert ask(k10, REQ_BITS) == H("2A04 0600 8150 0100" + IDLE)


def test_parameter_triples_power_up_and_echo(k10: AptEmulator) -> None:
    # GENMOVEPARAMS: backlash 1 deg = 136,533 = 0x00021555
    assert ask(k10, H("3B04 0100 5001")) == H("3C04 0600 8150 0100 55150200")
    # JOGPARAMS: mode 2, step 5 deg = 682,667 (0x000A6AAB), min 0, accel, max, stop mode 2
    assert ask(k10, H("1704 0100 5001")) == H(
        "1804 1600 8150 0100 0200 AB6A0A00 00000000 AC3A0000 55555E04 0200")
    # LIMSWITCHPARAMS: stored only (a rotation stage has no limits)
    k10.receive(H("2304 1000 D001 0100 0300 0300 10000000 F0FFFFFF 0200"))
    assert ask(k10, H("2404 0100 5001")) == H(
        "2504 1000 8150 0100 0300 0300 10000000 F0FFFFFF 0200")
    k10.receive(H("1004 0600 D001 0100 00100000"))  # SET_POSCOUNTER 4096
    assert ask(k10, REQ_POS) == H("1204 0600 8150 0100 00100000")
    assert ask(k10, H("4004 0E00 D001 0100 0300 0100 55555E04 55550800"))[6:10] == H(
        "4004 0400")  # home direction 3: OUT_OF_RANGE


# -- moves -----------------------------------------------------------------------
def test_move_absolute_long_form(k10: AptEmulator, bench: StandInBench) -> None:
    reply = ask(k10, MOVE_ABS_90)
    # MOVE_COMPLETED: chan, position 0x00BB8000, encoder 0 (none), status idle
    assert reply == H("6404 0E00 8150 0100 0080BB00 00000000" + IDLE)
    assert bench.clock.now() == pytest.approx(t_move(90.0), abs=1e-9)
    assert bench.clock.now() == pytest.approx(10.0, abs=1e-3)  # 90/10 + 10/10
    assert bench.angle() == pytest.approx(90.0)
    assert ask(k10, REQ_POS) == H("1204 0600 8150 0100 0080BB00")


def test_status_bits_and_motor_during_move(k10: AptEmulator, bench: StandInBench) -> None:
    k10.receive(MOVE_ABS_90)
    assert k10.read(100, 5.0) == b""  # nothing until the move ends
    assert ask(k10, REQ_BITS) == H("2A04 0600 8150 0100" + MOVING_FWD)
    # after the acceleration (v/a ~ 1 s, v^2/2a ~ 5 deg) it cruises: ~45 deg at 5 s
    assert bench.angle() == pytest.approx(V10 ** 2 / (2 * A10) + V10 * (5.0 - V10 / A10))
    pos = int.from_bytes(ask(k10, REQ_POS)[8:12], "little", signed=True)
    assert pos == round(bench.angle() * K10_CPD)
    assert read_msg(k10)[:6] == H("6404 0E00 8150")
    assert ask(k10, REQ_BITS) == H("2A04 0600 8150 0100" + IDLE)


def test_move_absolute_short_form_uses_stored_params(k10: AptEmulator, bench: StandInBench) -> None:
    k10.receive(H("5004 0600 D001 0100 0040A2FF"))  # MOVEABSPARAMS -6,144,000 (-45 deg)
    assert ask(k10, H("5104 0100 5001")) == H("5204 0600 8150 0100 0040A2FF")
    reply = ask(k10, H("5304 0100 5001"))
    assert reply == H("6404 0E00 8150 0100 0040A2FF 00000000" + IDLE)
    assert bench.angle() == pytest.approx(-45.0)


def test_move_relative_both_forms(k10: AptEmulator, bench: StandInBench) -> None:
    assert ask(k10, H("4804 0600 D001 0100 0080BB00"))[8:12] == H("0080BB00")  # +90
    k10.receive(H("4504 0600 D001 0100 0040A2FF"))  # MOVERELPARAMS -45 deg
    assert ask(k10, H("4804 0100 5001"))[8:12] == H("00C05D00")  # 90 - 45 = 6,144,000
    assert bench.angle() == pytest.approx(45.0)


def test_velocity_params_set_get_and_timing(k10: AptEmulator, bench: StandInBench) -> None:
    assert ask(k10, H("1404 0100 5001")) == H("1504 0E00 8150 0100 00000000 AC3A0000 55555E04")
    # 20 deg/s = 146,582,187 = 0x08BCAAAB; 20 deg/s^2 = 30,041 = 0x7559
    k10.receive(H("1304 0E00 D001 0100 00000000 59750000 ABAABC08"))
    assert ask(k10, H("1404 0100 5001")) == H("1504 0E00 8150 0100 00000000 59750000 ABAABC08")
    ask(k10, MOVE_ABS_90)
    expected = t_move(90.0, 146582187 / K10_VEL, 30041 / K10_ACC)
    assert bench.clock.now() == pytest.approx(expected, abs=1e-9)
    assert expected == pytest.approx(90 / 20 + 20 / 20, rel=1e-4)  # 5.5 s


def test_kdc101_prm1z8_move_and_dc_status(kdc: AptEmulator, bench: StandInBench) -> None:
    # power-up 10 deg/s = 429,417 (0x00068D69); 10 deg/s^2 = 147 (0x93)
    assert ask(kdc, H("1404 0100 5001")) == H("1504 0E00 8150 0100 00000000 93000000 698D0600")
    # 90 deg x 1919.64 = 172,768 counts = 0x0002A2E0
    reply = ask(kdc, H("5304 0600 D001 0100 E0A20200"))
    # MOVE_COMPLETED with the DC status payload: chan, pos, velocity 0, reserved 0, status
    assert reply == H("6404 0E00 8150 0100 E0A20200 0000 0000" + IDLE)
    v, a = 429417 / (PRM_CPD * 2048 / 6e6 * 65536), 147 / (PRM_CPD * (2048 / 6e6) ** 2 * 65536)
    # the stage turns 172,768 / 1919.64 = 90.0001 deg
    assert bench.clock.now() == pytest.approx(t_move(172768 / PRM_CPD, v, a), abs=1e-9)
    assert ask(kdc, H("9004 0100 5001")) == H("9104 0E00 8150 0100 E0A20200 0000 0000" + IDLE)
    assert ask(kdc, H("8004 0100 5001")) == H("8104 0E00 8150 0100 E0A20200 E0A20200" + IDLE)


def test_stop_immediate_and_profiled(k10: AptEmulator, bench: StandInBench) -> None:
    k10.receive(MOVE_ABS_90)
    k10.read(100, 5.0)
    here = bench.angle()
    reply = ask(k10, H("6504 0101 5001"))  # immediate
    assert reply[:8] == H("6604 0E00 8150 0100") and reply[-4:] == H(IDLE)
    assert int.from_bytes(reply[8:12], "little") == round(here * K10_CPD)
    assert bench.clock.now() == 5.0
    k10.receive(H("5304 0600 D001 0100 00000000"))  # back towards 0, cruising after 1 s
    k10.read(100, 3.0)
    there = bench.angle()
    reply = ask(k10, H("6504 0102 5001"))  # profiled: stops v^2/2a (~5 deg) further on
    assert reply[:8] == H("6604 0E00 8150 0100")
    assert bench.angle() == pytest.approx(there - V10 ** 2 / (2 * A10), abs=1e-4)
    assert bench.clock.now() == pytest.approx(8.0 + 2 ** 0.5 * V10 / A10, abs=1e-4)
    assert ask(k10, H("6504 0101 5001")) == H("6604 0E00 8150 0100") + reply[8:]  # at rest


def test_jog_and_velocity_moves(k10: AptEmulator, bench: StandInBench) -> None:
    k10.receive(H("6A04 0101 5001"))  # jog forward by the 5 deg step (682,667 = 0x000A6AAB)
    k10.read(100, 0.5)
    assert ask(k10, REQ_BITS) == H("2A04 0600 8150 0100 400100B0")  # jogging forward 0x40
    assert read_msg(k10) == H("6404 0E00 8150 0100 AB6A0A00 00000000" + IDLE)
    k10.receive(H("5704 0102 5001"))  # move at velocity, reverse
    k10.read(100, 3.0)
    assert ask(k10, REQ_BITS) == H("2A04 0600 8150 0100 200100B0")  # moving reverse 0x20
    assert ask(k10, H("6504 0101 5001"))[:6] == H("6604 0E00 8150")
    assert bench.angle() < 5.0


def test_new_move_replaces_the_running_one(k10: AptEmulator, bench: StandInBench) -> None:
    k10.receive(MOVE_ABS_90)
    k10.read(100, 2.0)
    reply = ask(k10, H("5304 0600 D001 0100 00000000"))
    assert reply == H("6404 0E00 8150 0100 00000000 00000000" + IDLE)  # only one completion
    assert k10.read(100, 30.0) == b""


# -- homing ------------------------------------------------------------------------
def test_power_up_unhomed_then_home(bench: StandInBench) -> None:
    bench.motors["A"].set_angle(30.0, 0.0)
    emu = make(bench)
    assert ask(emu, REQ_POS) == H("1204 0600 8150 0100 00000000")  # meaningless 0
    assert ask(emu, REQ_BITS) == H("2A04 0600 8150 0100" + IDLE)
    # home params at power-up: reverse (2), reverse switch (1), 10 deg/s, offset 4 deg
    assert ask(emu, H("4104 0100 5001")) == H(
        "4204 0E00 8150 0100 0200 0100 55555E04 55550800")
    emu.receive(MOVE_HOME)
    emu.read(100, 1.0)
    # homing, moving reverse, active; not homed while it runs
    assert ask(emu, REQ_BITS) == H("2A04 0600 8150 0100 200300B0")
    assert read_msg(emu) == H("4404 0100 0150")  # MOVE_HOMED, chan 1
    assert bench.clock.now() == pytest.approx(t_move(30.0), abs=1e-9)  # 30 -> 0 at 10 deg/s
    assert bench.angle() == pytest.approx(0.0, abs=1e-9)
    assert ask(emu, REQ_POS) == H("1204 0600 8150 0100 00000000")
    assert ask(emu, REQ_BITS) == H("2A04 0600 8150 0100" + IDLE_HOMED)


def test_home_forward_with_offset(bench: StandInBench) -> None:
    bench.motors["A"].set_angle(10.0, 0.0)
    emu = make(bench, zero_deg="20")  # switch at 16 deg, home (offset 4 deg) at 20 deg
    # home forward (1), offset 1 deg (136,533 = 0x00021555), velocity 10 deg/s
    emu.receive(H("4004 0E00 D001 0100 0100 0400 55555E04 55150200"))
    assert ask(emu, MOVE_HOME) == H("4404 0100 0150")
    assert bench.angle() == pytest.approx(17.0)  # 10 -> switch 16 -> +1
    assert ask(emu, REQ_POS) == H("1204 0600 8150 0100 00000000")


def test_homed_at_power_up_reads_angle_from_home(bench: StandInBench) -> None:
    bench.motors["A"].set_angle(390.0, 0.0)
    emu = make(bench, homed="1")
    # one turn past home plus 30 deg reads 30 deg: 30 x 136533.33 = 4,096,000 = 0x003E8000
    assert ask(emu, REQ_POS) == H("1204 0600 8150 0100 00803E00")
    assert ask(emu, REQ_BITS) == H("2A04 0600 8150 0100" + IDLE_HOMED)


# -- status updates and keep-alive ------------------------------------------------
def updates(emu: AptEmulator, until_s: float) -> list[tuple[float, bytes]]:
    out = []
    while emu.clock.now() < until_s:
        msg = read_msg(emu, until_s - emu.clock.now())
        if msg:
            out.append((emu.clock.now(), msg))
    return out


def test_status_updates_every_100_ms_stop_without_ack(k10: AptEmulator) -> None:
    k10.receive(START_UPDATES)
    got = updates(k10, 8.0)
    # 2.4 (UNVERIFIED rule): no ACK -> the controller stops after 50 messages
    assert len(got) == 50
    assert [t for t, _ in got] == pytest.approx([0.1 * (i + 1) for i in range(50)])
    assert got[0][1] == H("8104 0E00 8150 0100 00000000 00000000" + IDLE)
    k10.receive(ACK)  # too late: only HW_START_UPDATEMSGS restarts them
    assert k10.read(100, 1.0) == b""
    k10.receive(START_UPDATES)
    assert read_msg(k10, 0.2)[:6] == H("8104 0E00 8150")


def test_updates_continue_with_keepalive_ack_and_show_motion(k10: AptEmulator) -> None:
    k10.receive(START_UPDATES)
    k10.receive(MOVE_ABS_90)
    got: list[tuple[float, bytes]] = []
    last_ack = 0.0
    while sum(m[:2] == H("8104") for _, m in got) < 120:
        msg = read_msg(k10, 1.0)
        assert msg, "updates stopped although acknowledged"
        got.append((k10.clock.now(), msg))
        if k10.clock.now() - last_ack >= 0.9:  # thorlabs-apt-device's 0.9 s
            k10.receive(ACK)
            last_ack = k10.clock.now()
    assert k10.clock.now() == pytest.approx(12.0)  # 120 updates in 12 s, past the 50
    ups = [m for _, m in got if m[:2] == H("8104")]
    assert ups[10][-4:] == H(MOVING_FWD)
    assert ups[-1][-4:] == H(IDLE)
    done = [t for t, m in got if m[:2] == H("6404")]
    assert done == [pytest.approx(t_move(90.0))]


def test_kdc101_updates_are_dc_status(kdc: AptEmulator) -> None:
    kdc.receive(START_UPDATES)
    assert read_msg(kdc, 0.2) == H("9104 0E00 8150 0100 00000000 0000 0000" + IDLE)
    kdc.receive(H("1200 0000 5001"))  # HW_STOP_UPDATEMSGS
    assert kdc.read(100, 1.0) == b""


def test_update_period_and_keepalive_options(bench: StandInBench) -> None:
    emu = make(bench, update_ms="250", keepalive="0")  # 0: updates never stop
    emu.receive(START_UPDATES)
    got = updates(emu, 30.0)
    assert len(got) == 120 and got[-1][0] == pytest.approx(30.0)


def test_suspend_end_of_move_messages(k10: AptEmulator, bench: StandInBench) -> None:
    k10.receive(H("6B04 0000 5001"))  # MOT_SUSPEND_ENDOFMOVEMSGS
    k10.receive(MOVE_ABS_90)
    assert k10.read(100, 20.0) == b""
    assert bench.angle() == pytest.approx(90.0)
    k10.receive(H("6C04 0000 5001"))  # MOT_RESUME_ENDOFMOVEMSGS
    assert ask(k10, H("5304 0600 D001 0100 00000000"))[:6] == H("6404 0E00 8150")


def test_power_cycle_forgets_homing(bench: StandInBench) -> None:
    emu = make(bench, homed="1")
    emu.receive(START_UPDATES)
    emu.power_cycle()
    assert emu.read(100, 1.0) == b""  # updates are off after power-up
    assert ask(emu, REQ_BITS) == H("2A04 0600 8150 0100" + IDLE)


# -- faults ------------------------------------------------------------------------
def test_fault_timeout(k10: AptEmulator, bench: StandInBench) -> None:
    k10.inject(Fault.TIMEOUT)
    assert ask(k10, MOVE_ABS_90, 20.0) == b""
    assert bench.angle() == 0.0 and bench.clock.now() == 20.0
    assert ask(k10, REQ_POS) == H("1204 0600 8150 0100 00000000")


def test_fault_truncated_and_garbled(k10: AptEmulator) -> None:
    k10.inject(Fault.TRUNCATED)
    k10.receive(REQ_POS)
    assert k10.read(100, 1.0) == H("1204 0600 81")  # (12 - 2) // 2 = 5 bytes
    k10.inject(Fault.GARBLED)
    k10.receive(REQ_POS)
    # bit 7 flipped in bytes 1, 3, 5, 7, 9
    assert k10.read(100, 1.0) == H("1284 0680 81D0 0180 0080 0000")


def test_fault_truncated_end_of_move(k10: AptEmulator) -> None:
    k10.inject(Fault.TRUNCATED)
    k10.receive(MOVE_ABS_90)
    assert k10.read(100, 30.0) == H("6404 0E00 8150 0100 00")  # (20 - 2) // 2 = 9


def test_fault_error_code(k10: AptEmulator, bench: StandInBench) -> None:
    k10.inject(Fault.ERROR_CODE, code=0x2A)
    reply = ask(k10, MOVE_ABS_90)
    assert reply[:10] == H("8100 4400 8150 5304 2A00")  # msg_ident 0x0453, code 0x2A
    assert bench.angle() == 0.0 and not k10.axis.is_moving(bench.clock.now())


def test_fault_stall(k10: AptEmulator, bench: StandInBench) -> None:
    k10.inject(Fault.STALL, stall_fraction=0.5)
    reply = ask(k10, MOVE_ABS_90)
    # MOVE_STOPPED at 45 deg (6,144,000 = 0x005DC000), motion_error 0x4000 set
    assert reply == H("6604 0E00 8150 0100 00C05D00 00000000 00410090")
    assert bench.clock.now() == pytest.approx(t_move(45.0))
    assert ask(k10, REQ_BITS) == H("2A04 0600 8150 0100 00410090")  # latched
    assert ask(k10, MOVE_ABS_90)[:6] == H("6404 0E00 8150")
    assert ask(k10, REQ_BITS) == H("2A04 0600 8150 0100" + IDLE)  # the next move cleared it


def test_fault_stall_while_homing_leaves_unhomed(bench: StandInBench) -> None:
    bench.motors["A"].set_angle(30.0, 0.0)
    emu = make(bench, fault="stall:0.25")
    assert ask(emu, MOVE_HOME)[:6] == H("6604 0E00 8150")
    assert emu.axis.status_bits(bench.clock.now()) & 0x400 == 0


def test_fault_off_target(k10: AptEmulator, bench: StandInBench) -> None:
    k10.inject(Fault.OFF_TARGET, offset_counts=-40)
    reply = ask(k10, MOVE_ABS_90)  # 12,288,000 - 40 = 12,287,960 = 0x00BB7FD8
    assert reply == H("6404 0E00 8150 0100 D87FBB00 00000000" + IDLE)
    assert bench.angle() == pytest.approx(90.0 - 40 / K10_CPD)


def test_fault_disconnect_reconnect(k10: AptEmulator, bench: StandInBench) -> None:
    k10.receive(MOVE_ABS_90)
    k10.inject(Fault.DISCONNECT)
    assert not k10.connected
    k10.receive(REQ_POS)  # lost
    assert k10.read(100, 20.0) == b""  # the end-of-move message is lost too
    assert bench.angle() == pytest.approx(90.0)  # the stage kept moving
    k10.inject(Fault.RECONNECT)
    assert ask(k10, REQ_POS) == H("1204 0600 8150 0100 0080BB00")


def test_ack_does_not_spend_faults(k10: AptEmulator) -> None:
    k10.inject(Fault.TIMEOUT)
    k10.receive(ACK)
    assert ask(k10, REQ_POS, 1.0) == b""


def test_fault_from_url_with_short_notice(bench: StandInBench) -> None:
    emu = make(bench, "kdc101", fault="error_code:07,timeout", notice="short")
    assert ask(emu, REQ_POS) == H("8000 0700 0150")  # HW_RESPONSE, code 7
    assert ask(emu, REQ_POS, 1.0) == b""  # then the timeout
    assert ask(emu, REQ_POS) == H("1204 0600 8150 0100 00000000")


def test_bad_url_options(bench: StandInBench) -> None:
    for bad in ({"colour": "red"}, {"serial": "27000001"}, {"homed": "yes"},
                {"notice": "loud"}, {"fw": "1.2"}, {"stage": "prm1z8"}):
        with pytest.raises(ValueError):
            make(bench, **bad)


# -- through pyserial ------------------------------------------------------------
def test_pyserial_round_trip(bench: StandInBench) -> None:
    register_serial_scheme()
    registry().add(bench)  # type: ignore[arg-type]
    try:
        port = serial.serial_for_url(f"sim://k10cr1?bench={bench.name}&arm=B&homed=1",
                                     timeout=30.0)
        port.write(REQ_INFO)
        assert port.read(90) == H(K10_INFO)
        port.write(MOVE_ABS_90)
        assert port.read(20) == H("6404 0E00 8150 0100 0080BB00 00000000" + IDLE_HOMED)
        assert bench.angle("B") == pytest.approx(90.0)
        port.close()
        port = serial.serial_for_url(f"sim://kdc101?bench={bench.name}&arm=A&serial=27000001",
                                     timeout=1.0)
        port.write(H("1104 0100 5001"))
        assert port.read(12) == H("1204 0600 8150 0100 00000000")
        port.close()
    finally:
        registry().clear()
