"""ELL14 driver on the wire: byte-exact exchanges from docs/protocols.md 1.

Vectors are literal bytes from the reference (real device captures where it
has them), never codec output, so a codec bug cannot hide on both sides.
"""

from __future__ import annotations

import pytest
from scripted_port import ScriptedPort, ScriptMismatch

from qnic.instruments.errors import DeviceFaultError, ProtocolError, TransportError
from qnic.instruments.rotators.elliptec import ELL14
from qnic.instruments.rotators.elliptec_codec import ElliptecStatus

# real ELL14 capture at address 2 (docs/protocols.md 1.5): 143,360 pulses per 360 deg
IN_2 = (b"2in", b"2IN0E1140051720231701016800023000\r\n")


def make(script: list[tuple[bytes, bytes | None]], name: str = "rot") -> tuple[ELL14, ScriptedPort]:
    port = ScriptedPort(script)
    return ELL14(name, "scripted", device_id="2", port=port), port


def test_construction_sends_nothing() -> None:
    rot, port = make([])
    assert port.written == []
    rot.close()


def test_device_info_from_in_reply() -> None:
    rot, port = make([IN_2])
    info = rot.info
    assert (info.model, info.serial, info.year, info.firmware) == (14, "11400517", 2023, "17")
    assert (info.travel, info.pulses_per_unit) == (360, 0x23000)
    assert info.imperial_thread is False and info.hardware_release == 1
    assert rot.get_idn() == {"vendor": "Thorlabs", "model": "ELL14", "serial": "11400517",
                             "firmware": "17"}
    port.assert_done()


def test_pulses_per_revolution_come_from_the_in_reply() -> None:
    # a device reporting 262,144 pulses per turn: 90 deg is 0x10000 counts
    rot, port = make([(b"2in", b"2IN0E1140051720231701016800040000\r\n"),
                      (b"2ma00010000", b"2PO00010000\r\n")])
    rot.angle(90.0)
    port.assert_done()


def test_home_clockwise_skips_interim_busy() -> None:
    rot, port = make([IN_2, (b"2ho0", b"2GS09\r\n2PO00000000\r\n")])
    rot.home()
    port.assert_done()


def test_home_counter_clockwise() -> None:
    rot, port = make([IN_2, (b"2ho1", b"2PO00000000\r\n")])
    rot.home("ccw")
    port.assert_done()


def test_move_absolute_90_degrees() -> None:
    # docs/protocols.md 1.3 / 1.5: 90 deg = 35,840 = 00008C00
    rot, port = make([IN_2, (b"2ma00008C00", b"2PO00008C00\r\n"),
                      (b"2gp", b"2PO00008C00\r\n")])
    rot.angle(90.0)
    assert rot.angle() == pytest.approx(90.0)
    port.assert_done()


def test_negative_angle_is_twos_complement() -> None:
    # docs/protocols.md 1.3: -10 deg on an ELL14 is FFFFF072
    rot, port = make([IN_2, (b"2maFFFFF072", b"2POFFFFF072\r\n")])
    rot.move_to(-10.0)
    port.assert_done()


def test_position_reply_negative() -> None:
    rot, port = make([IN_2, (b"2gp", b"2POFFFFF072\r\n")])
    assert rot.angle() == pytest.approx(-3982 * 360 / 143360)
    port.assert_done()


def test_move_relative() -> None:
    rot, port = make([IN_2, (b"2mr00008C00", b"2PO00011800\r\n")])
    rot.move_by(90.0)
    port.assert_done()


def test_velocity_get_and_set() -> None:
    rot, port = make([(b"2gv", b"2GV32\r\n"), (b"2sv19", b"2GS00\r\n")])
    assert rot.velocity() == 50
    rot.velocity(25)
    port.assert_done()


def test_jog_step() -> None:
    rot, port = make([IN_2, (b"2sj00008C00", b"2GS00\r\n"), (b"2gj", b"2GJ00008C00\r\n")])
    rot.jog_step(90.0)
    assert rot.jog_step() == pytest.approx(90.0)
    port.assert_done()


def test_status_query_returns_code_and_busy_is_not_an_error() -> None:
    rot, port = make([(b"2gs", b"2GS00\r\n"), (b"2gs", b"2GS09\r\n")])
    assert rot.status() == ElliptecStatus.OK
    assert rot.status() == ElliptecStatus.BUSY
    port.assert_done()


FAULT_CODES = [(1, "Communication time out"),
               (3, "Command error or not supported"), (4, "Value out of range"),
               (5, "Module isolated"), (6, "Module out of isolation"),
               (7, "Initializing error"), (8, "Thermal error"), (10, "Sensor error"),
               (11, "Motor error"), (12, "Out of range"), (13, "Over-current error")]


@pytest.mark.parametrize(("code", "meaning"), FAULT_CODES)
def test_every_gs_error_code_raises_with_device_command_and_meaning(code: int, meaning: str) -> None:
    reply = f"2GS{code:02X}\r\n".encode()
    # the driver reads the status once to clear the latched error (docs/protocols.md 1.4)
    rot, port = make([IN_2, (b"2ma00008C00", reply), (b"2gs", reply)])
    with pytest.raises(DeviceFaultError) as err:
        rot.angle(90.0)
    assert err.value.code == code and err.value.meaning == meaning
    assert err.value.instrument == "rot" and err.value.request == b"2ma00008C00"
    assert f"device error {code} ({meaning})" in str(err.value)
    port.assert_done()


def test_mechanical_timeout_accepted_when_the_stage_arrived() -> None:
    # GS02 follows some good moves (docs/protocols.md 1.6): the driver reads the
    # position back instead of repeating the move
    rot, port = make([IN_2, (b"2ma00008C00", b"2GS02\r\n"), (b"2gs", b"2GS00\r\n"),
                      (b"2gp", b"2PO00008C01\r\n")])
    rot.move_to(90.0, wait=False)
    assert rot.wait_for_move() == pytest.approx(0x8C01 * 360 / 143360)
    port.assert_done()


def test_mechanical_timeout_off_target_raises_with_where_it_stopped() -> None:
    rot, port = make([IN_2, (b"2ma00008C00", b"2GS02\r\n"), (b"2gs", b"2GS00\r\n"),
                      (b"2gp", b"2PO00004600\r\n")])
    with pytest.raises(DeviceFaultError) as err:
        rot.angle(90.0)
    assert err.value.code == 2 and "Mechanical time out" in err.value.meaning
    assert "stopped at 45.0000 deg" in err.value.meaning
    port.assert_done()


def test_resynchronises_after_a_timeout() -> None:
    # the move's reply never comes within the timeout; the driver reads the
    # status (busy: still moving), and skips the late PO when it arrives
    rot, port = make([IN_2, (b"2ma00008C00", None), (b"2gs", b"2GS09\r\n"),
                      (b"2gv", b"2PO00008C00\r\n2GV32\r\n")])
    rot.move_timeout_s = 0.5
    with pytest.raises(TransportError):
        rot.angle(90.0)
    assert rot.velocity() == 50
    port.assert_done()


def test_error_on_a_set_command() -> None:
    rot, port = make([(b"2sv64", b"2GS04\r\n"), (b"2gs", b"2GS00\r\n")])
    with pytest.raises(DeviceFaultError, match="Value out of range"):
        rot.velocity(100)
    port.assert_done()


GS_OK = (b"2gs", b"2GS00\r\n")  # the resynchronising status read after a bad reply


def test_one_garbled_reply_is_retried_once() -> None:
    rot, port = make([IN_2, (b"2gp", b"2P\xcf0\xb000\x8c00\r\n"), GS_OK,
                      (b"2gp", b"2PO00008C00\r\n")])
    assert rot.angle() == pytest.approx(90.0)
    port.assert_done()


def test_garbled_reply_twice_raises_protocol_error() -> None:
    rot, port = make([IN_2, (b"2gp", b"2P\xcf0\xb000\x8c00\r\n"), GS_OK,
                      (b"2gp", b"2P\xcf0\xb000\x8c00\r\n"), GS_OK])
    with pytest.raises(ProtocolError) as err:
        rot.angle()
    assert err.value.request == b"2gp"
    port.assert_done()


def test_short_reply_twice_raises_protocol_error() -> None:
    rot, port = make([IN_2, (b"2gp", b"2PO0000"), GS_OK, (b"2gp", b"2PO0000"), GS_OK])
    with pytest.raises(ProtocolError, match="truncated"):
        rot.angle()
    port.assert_done()


def test_short_in_reply_raises_protocol_error() -> None:
    rot, port = make([(b"2in", b"2IN0E11400517\r\n")])
    with pytest.raises(ProtocolError, match="30"):
        rot.connect()
    port.assert_done()


def test_no_reply_twice_raises_transport_error() -> None:
    rot, port = make([IN_2, (b"2gp", None), GS_OK, (b"2gp", None), GS_OK])
    with pytest.raises(TransportError, match="no reply") as err:
        rot.angle()
    assert err.value.request == b"2gp"
    port.assert_done()


def test_a_move_is_never_retried() -> None:
    rot, port = make([IN_2, (b"2ma00008C00", None), (b"2gs", b"2GS09\r\n")])
    rot.move_timeout_s = 0.5
    with pytest.raises(TransportError):
        rot.angle(90.0)
    port.assert_done()  # no second 2ma00008C00 was written


def test_unexpected_mnemonic_raises_protocol_error() -> None:
    rot, port = make([IN_2, (b"2gp", b"2GV32\r\n"), GS_OK, (b"2gp", b"2GV32\r\n"), GS_OK])
    with pytest.raises(ProtocolError, match="expected a PO reply"):
        rot.angle()
    port.assert_done()


def test_reply_of_another_address_is_not_taken() -> None:
    # a reply from device 3 on the same bus is kept for it, not parsed as ours
    rot, port = make([IN_2, (b"2gp", b"3PO00000001\r\n2PO00008C00\r\n")])
    assert rot.angle() == pytest.approx(90.0)
    port.assert_done()


def test_unsolicited_front_panel_messages_are_skipped() -> None:
    rot, port = make([IN_2, (b"2gp", b"2BS00\r\n2PO00008C00\r\n")])
    assert rot.angle() == pytest.approx(90.0)
    port.assert_done()


@pytest.mark.parametrize("angle", [360.5, -400.0, float("nan")])
def test_out_of_range_angle_rejected_before_any_byte(angle: float) -> None:
    rot, port = make([])
    with pytest.raises(ValueError):
        rot.angle(angle)
    assert port.written == []


def test_out_of_range_velocity_rejected_before_any_byte() -> None:
    rot, port = make([])
    with pytest.raises(ValueError):
        rot.velocity(101)
    assert port.written == []


def test_bad_device_address_rejected() -> None:
    with pytest.raises(ValueError, match="one hex digit"):
        ELL14("bad", "scripted", device_id="G", port=ScriptedPort([]))


def test_start_move_then_wait() -> None:
    rot, port = make([IN_2, (b"2ma00008C00", b"2PO00008C00\r\n")])
    rot.move_to(90.0, wait=False)
    assert rot.is_moving()
    assert rot.wait_for_move() == pytest.approx(90.0)
    assert not rot.is_moving()
    port.assert_done()


def test_harness_fails_on_wrong_bytes() -> None:
    rot, _ = make([(b"2gs", b"2GS00\r\n")])
    with pytest.raises(ScriptMismatch):
        rot.velocity()
