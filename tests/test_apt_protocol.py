"""K10CR1 and KDC101 drivers on the wire: byte-exact exchanges from
docs/protocols.md section 2 (APT binary protocol).

Vectors are literal bytes written from the reference's tables (header 2.3,
message IDs 2.4, status bits 2.5, unit conversions 2.6), never codec output,
so a codec bug cannot hide on both sides. Host messages go to the USB unit
0x50 from the host 0x01 (0xD0 = 0x50 | 0x80 on long messages); replies come
to 0x01 (0x81 long) from 0x50. Channel 1 throughout.

Conversions used (2.6): K10CR1 136,533.33 counts/deg, velocity 7,329,109.33
per deg/s, acceleration 1,502.03 per deg/s^2; PRM1Z8 on KDC101 1,919.64
counts/deg, velocity 42,941.66 per deg/s, acceleration 14.657 per deg/s^2.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
import serial
from scripted_port import ScriptedPort, ScriptMismatch
from serial.serialutil import SerialBase

from qnic.instruments.errors import (
    DeviceFaultError,
    MoveIncompleteError,
    ProtocolError,
    TransportError,
)
from qnic.instruments.rotators import Rotator
from qnic.instruments.rotators.apt import K10CR1, KDC101
from qnic.instruments.rotators.apt_codec import StatusBits

# -- host messages (2.4) ------------------------------------------------------
NO_FLASH = b"\x18\x00\x00\x00\x50\x01"  # HW_NO_FLASH_PROGRAMMING
STOP_UPDATES = b"\x12\x00\x00\x00\x50\x01"  # HW_STOP_UPDATEMSGS
REQ_INFO = b"\x05\x00\x00\x00\x50\x01"  # HW_REQ_INFO
ENABLE = b"\x10\x02\x01\x01\x50\x01"  # MOD_SET_CHANENABLESTATE chan 1, enable
DISABLE = b"\x10\x02\x01\x02\x50\x01"  # MOD_SET_CHANENABLESTATE chan 1, disable
REQ_ENABLED = b"\x11\x02\x01\x00\x50\x01"  # MOD_REQ_CHANENABLESTATE chan 1
IDENTIFY = b"\x23\x02\x01\x00\x50\x01"  # MOD_IDENTIFY chan 1
HOME = b"\x43\x04\x01\x00\x50\x01"  # MOT_MOVE_HOME chan 1
REQ_POS = b"\x11\x04\x01\x00\x50\x01"  # MOT_REQ_POSCOUNTER chan 1
REQ_STATUS = b"\x29\x04\x01\x00\x50\x01"  # MOT_REQ_STATUSBITS chan 1
REQ_VEL = b"\x14\x04\x01\x00\x50\x01"  # MOT_REQ_VELPARAMS chan 1
STOP = b"\x65\x04\x01\x02\x50\x01"  # MOT_MOVE_STOP chan 1, profiled
ACK = b"\x92\x04\x00\x00\x50\x01"  # MOT_ACK_DCSTATUSUPDATE
MOVE_ABS = b"\x53\x04\x06\x00\xd0\x01\x01\x00"  # MOT_MOVE_ABSOLUTE long, chan 1, then i32
MOVE_REL = b"\x48\x04\x06\x00\xd0\x01\x01\x00"  # MOT_MOVE_RELATIVE long, chan 1, then i32
SET_VEL = b"\x13\x04\x0e\x00\xd0\x01\x01\x00\x00\x00\x00\x00"  # MOT_SET_VELPARAMS, min 0

# -- device replies (2.4) --------------------------------------------------------
HOMED = b"\x44\x04\x01\x00\x01\x50"  # MOT_MOVE_HOMED chan 1
GET_POS = b"\x12\x04\x06\x00\x81\x50\x01\x00"  # MOT_GET_POSCOUNTER, chan 1, then i32
GET_STATUS = b"\x2a\x04\x06\x00\x81\x50\x01\x00"  # MOT_GET_STATUSBITS, chan 1, then u32
GET_VEL = b"\x15\x04\x0e\x00\x81\x50\x01\x00\x00\x00\x00\x00"  # GET_VELPARAMS chan 1, min 0
COMPLETED = b"\x64\x04\x0e\x00\x81\x50\x01\x00"  # MOT_MOVE_COMPLETED, chan 1, then 12 bytes
STOPPED = b"\x66\x04\x0e\x00\x81\x50\x01\x00"  # MOT_MOVE_STOPPED, chan 1, then 12 bytes
STATUS_UPDATE = b"\x81\x04\x0e\x00\x81\x50\x01\x00"  # MOT_GET_STATUSUPDATE
DC_STATUS_UPDATE = b"\x91\x04\x0e\x00\x81\x50\x01\x00"  # MOT_GET_DCSTATUSUPDATE
HW_RESPONSE = b"\x80\x00\x00\x00\x01\x50"
RICH = b"\x81\x00\x44\x00\x81\x50"  # HW_RICHRESPONSE, 68 data bytes follow

# status u32 at rest: homed, motor connected, channel enabled (2.5)
AT_REST = b"\x00\x05\x00\x80"
NO_ENC = b"\x00\x00\x00\x00"  # the encoder / velocity word of a status payload

# positions: K10CR1 90 deg = 12,288,000 counts = 0x00BB8000; 45 deg = 0x005DC000;
# 30 deg = 0x003E8000; 89.97 deg = 12,283,904 = 0x00BB7000; -10 deg = -1,365,333
# = 0xFFEB2AAB; PRM1Z8 90 deg = 172,768 = 0x0002A2E0
K90 = b"\x00\x80\xbb\x00"
K45 = b"\x00\xc0\x5d\x00"
K30 = b"\x00\x80\x3e\x00"
K89_97 = b"\x00\x70\xbb\x00"
K_MINUS_10 = b"\xab\x2a\xeb\xff"
P90 = b"\xe0\xa2\x02\x00"
ZERO = b"\x00\x00\x00\x00"

# HW_GET_INFO (84 bytes): serial u32, model char[8], type u16, firmware
# (minor, interim, major, 0), notes char[48], 12 bytes, hw version, mod state,
# channels (2.4)
K10CR1_INFO = (b"\x06\x00\x54\x00\x81\x50"
               + b"\x3b\x3c\x47\x03"  # 55000123
               + b"K10CR1\x00\x00" + b"\x10\x00" + b"\x0a\x00\x03\x00"  # firmware 3.0.10
               + b"APT Stepper Motor Controller" + b"\x00" * 20
               + b"\x00" * 12 + b"\x01\x00" + b"\x00\x00" + b"\x01\x00")
KDC101_INFO = (b"\x06\x00\x54\x00\x81\x50"
               + b"\x88\xfe\x9b\x01"  # 27000456
               + b"KDC101\x00\x00" + b"\x10\x00" + b"\x11\x00\x03\x00"  # firmware 3.0.17
               + b"Brushed Motor Controller" + b"\x00" * 24
               + b"\x00" * 10 + b"\x06\x00"  # stage ID 6 = PRM1-Z8 at offset 76
               + b"\x02\x00" + b"\x00\x00" + b"\x01\x00")

Script = list[tuple[bytes, bytes | None]]
CONNECT_K10: Script = [(NO_FLASH, None), (STOP_UPDATES, None), (REQ_INFO, K10CR1_INFO),
                       (ENABLE, None)]
CONNECT_KDC: Script = [(NO_FLASH, None), (STOP_UPDATES, None), (REQ_INFO, KDC101_INFO),
                       (ENABLE, None)]


def k10(script: Script, address: str = "scripted", **kw: Any) -> tuple[K10CR1, ScriptedPort]:
    port = ScriptedPort(CONNECT_K10 + script)
    return K10CR1("rot", address, port=port, **kw), port


def kdc(script: Script, **kw: Any) -> tuple[KDC101, ScriptedPort]:
    port = ScriptedPort(CONNECT_KDC + script)
    return KDC101("kdc", "scripted", port=port, **kw), port


def done(port: ScriptedPort, move: bytes | None = None) -> None:
    port.assert_done()
    if move is not None:  # a move is never repeated
        assert sum(w.startswith(move[:6]) for w in port.written) == 1


# -- construction and connection ---------------------------------------------------
@pytest.mark.parametrize("cls", [K10CR1, KDC101])
def test_construction_sends_nothing(cls: type[K10CR1 | KDC101]) -> None:
    port = ScriptedPort([])
    rot = cls("rot", "scripted", port=port)
    assert port.written == []
    assert isinstance(rot, Rotator)
    rot.close()


def test_connect_sequence_and_hardware_info() -> None:
    rot, port = k10([])
    info = rot.info
    assert (info.serial, info.model, info.firmware) == ("55000123", "K10CR1", "3.0.10")
    assert info.notes == "APT Stepper Motor Controller" and info.channels == 1
    assert rot.get_idn() == {"vendor": "Thorlabs", "model": "K10CR1", "serial": "55000123",
                             "firmware": "3.0.10"}
    rot.connect()  # once only
    done(port)


def test_kdc101_hardware_info_with_stage_id() -> None:
    rot, port = kdc([])
    info = rot.info
    assert (info.serial, info.model, info.firmware, info.stage_id) == (
        "27000456", "KDC101", "3.0.17", 6)
    done(port)


def test_a_port_that_is_not_the_named_device_is_refused() -> None:
    port = ScriptedPort([(NO_FLASH, None), (STOP_UPDATES, None), (REQ_INFO, KDC101_INFO)])
    rot = K10CR1("arm_a", "/dev/ttyUSB3", port=port)
    with pytest.raises(ProtocolError) as err:
        rot.angle()
    text = str(err.value)
    assert "arm_a" in text and "/dev/ttyUSB3" in text and "K10CR1" in text and "KDC101" in text
    done(port)


def test_no_answer_at_connect_names_model_and_port() -> None:
    port = ScriptedPort([(NO_FLASH, None), (STOP_UPDATES, None), (REQ_INFO, None),
                         (REQ_INFO, None)])
    rot = K10CR1("rot", "COM7", port=port)
    with pytest.raises(TransportError, match="no K10CR1 answering on port COM7"):
        rot.connect()
    done(port)


def test_identify() -> None:
    rot, port = k10([(IDENTIFY, None)])
    rot.identify()
    done(port)


def test_channel_enable_state() -> None:
    rot, port = k10([(REQ_ENABLED, b"\x12\x02\x01\x01\x01\x50"),
                     (REQ_ENABLED, b"\x12\x02\x01\x02\x01\x50"),
                     (DISABLE, None), (ENABLE, None)])
    assert rot.channel_enabled() is True
    assert rot.channel_enabled() is False
    rot.channel_enabled(False)
    rot.channel_enabled(True)
    done(port)


# -- start-up (2.2) -------------------------------------------------------------------
class RtsPort(ScriptedPort):
    """A scripted port with modem-control lines and both buffers."""

    def __init__(self, script: Script, events: list[str]) -> None:
        super().__init__(script)
        self.events = events

    @property
    def rts(self) -> bool:
        return False

    @rts.setter
    def rts(self, level: bool) -> None:
        self.events.append(f"rts={int(level)}")

    def reset_input_buffer(self) -> None:
        self.events.append("purge rx")
        super().reset_input_buffer()

    def reset_output_buffer(self) -> None:
        self.events.append("purge tx")


def test_startup_cycles_rts_around_the_purge_with_injected_waits() -> None:
    events: list[str] = []
    port = RtsPort(CONNECT_K10, events)
    rot = K10CR1("rot", "scripted", port=port, sleep=lambda s: events.append(f"wait {s}"))
    rot.connect()
    assert events == ["rts=1", "wait 0.05", "purge rx", "purge tx", "wait 0.05", "rts=0",
                      "wait 0.05"]
    done(port)


class NoModemLines(SerialBase):
    """A pyserial port without RTS control (like a sim:// port)."""

    def __init__(self, script: Script) -> None:
        self.inner = ScriptedPort(script)
        super().__init__()
        self.is_open = True

    def open(self) -> None:  # pragma: no cover - opened at construction
        pass

    def _reconfigure_port(self) -> None:
        pass

    def write(self, data: bytes) -> int:
        return self.inner.write(data)

    def read(self, size: int = 1) -> bytes:
        return self.inner.read(size)

    def reset_input_buffer(self) -> None:
        self.inner.reset_input_buffer()


def test_startup_on_a_port_without_rts_skips_the_cycle(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_sleeping(seconds: float) -> None:
        raise AssertionError("a non-hardware port must not sleep")
    monkeypatch.setattr("time.sleep", no_sleeping)
    port = NoModemLines(CONNECT_K10)
    rot = K10CR1("rot", "sim://k10cr1", port=port)
    rot.connect()
    port.inner.assert_done()


# -- motion ----------------------------------------------------------------------------
def test_home_waits_for_homed_then_reads_the_position() -> None:
    rot, port = k10([(HOME, HOMED), (REQ_POS, GET_POS + ZERO)])
    rot.home()
    assert not rot.is_moving()
    done(port, HOME)


def test_move_absolute_90_degrees_k10cr1() -> None:
    rot, port = k10([(MOVE_ABS + K90, COMPLETED + K90 + NO_ENC + AT_REST),
                     (REQ_POS, GET_POS + K90)])
    rot.angle(90.0)
    assert rot.angle() == pytest.approx(90.0)
    done(port, MOVE_ABS)


def test_move_absolute_negative_is_twos_complement() -> None:
    rot, port = k10([(MOVE_ABS + K_MINUS_10, COMPLETED + K_MINUS_10 + NO_ENC + AT_REST)])
    rot.move_to(-10.0)
    done(port)


def test_move_absolute_90_degrees_kdc101_prm1z8() -> None:
    rot, port = kdc([(MOVE_ABS + P90, COMPLETED + P90 + NO_ENC + AT_REST)])
    rot.move_to(90.0, wait=False)
    assert rot.wait_for_move() == pytest.approx(172768 / 1919.6418578623391)
    done(port)


def test_move_relative_reads_the_position_first() -> None:
    rot, port = k10([(REQ_POS, GET_POS + K45),
                     (MOVE_REL + K45, COMPLETED + K90 + NO_ENC + AT_REST)])
    rot.move_by(45.0)
    done(port, MOVE_REL)


MOVING_FWD = b"\x10\x05\x00\x80"  # MOVING_FORWARD, MOTOR_CONNECTED, HOMED, CHANNEL_ENABLED


def test_start_move_then_wait() -> None:
    # is_moving asks the status bits; the end message comes after their reply
    rot, port = k10([(MOVE_ABS + K90, None),
                     (REQ_STATUS, GET_STATUS + MOVING_FWD + COMPLETED + K90 + NO_ENC + AT_REST)])
    rot.move_to(90.0, wait=False)
    assert rot.is_moving()
    assert rot.wait_for_move() == pytest.approx(90.0)
    assert not rot.is_moving()
    done(port)


def test_move_end_seen_during_a_query_ends_the_move() -> None:
    rot, port = k10([(MOVE_ABS + K90, None),
                     (REQ_STATUS, COMPLETED + K90 + NO_ENC + AT_REST + GET_STATUS + AT_REST),
                     (REQ_POS, GET_POS + K90), (REQ_POS, GET_POS + K90)])
    rot.move_to(90.0, wait=False)
    assert rot.position_deg() == pytest.approx(90.0)
    assert not rot.is_moving()
    assert rot.wait_for_move() == pytest.approx(90.0)
    done(port)


def test_stall_seen_by_a_position_read_is_latched_for_the_wait() -> None:
    stopped = STOPPED + K45 + NO_ENC + b"\x00\x45\x00\x90"  # MOTION_ERROR set
    rot, port = k10([(MOVE_ABS + K90, None), (REQ_STATUS, stopped + GET_STATUS + AT_REST)])
    rot.move_to(90.0, wait=False)
    with pytest.raises(DeviceFaultError) as seen:
        rot.position_deg()
    assert not rot.is_moving()
    with pytest.raises(DeviceFaultError) as again:
        rot.wait_for_move()
    assert str(again.value) == str(seen.value)
    assert "device error 0x90004500 (MOT_MOVE_STOPPED with MOTION_ERROR set (status bits " \
        "MOTOR_CONNECTED|HOMED|MOTION_ERROR|POWER_OK|CHANNEL_ENABLED)" in str(seen.value)
    assert "stopped at 45.0000 deg" in str(seen.value)
    done(port, MOVE_ABS)


def test_stop_waits_for_move_stopped() -> None:
    rot, port = k10([(STOP, STOPPED + K45 + NO_ENC + AT_REST)])
    rot.stop()
    done(port)


def test_stop_at_rest_without_move_stopped_checks_the_status() -> None:
    rot, port = k10([(STOP, None), (REQ_STATUS, GET_STATUS + AT_REST)], stop_timeout_s=1.0)
    rot.stop()
    done(port)


def test_stop_that_does_not_stop_raises() -> None:
    # moving forward (bit 4) with homed, connected, enabled
    rot, port = k10([(STOP, None), (REQ_STATUS, GET_STATUS + b"\x10\x05\x00\x80")],
                    stop_timeout_s=1.0)
    with pytest.raises(TransportError, match="still moving"):
        rot.stop()
    done(port)


def test_move_stopped_before_the_target_raises_move_incomplete() -> None:
    rot, port = k10([(MOVE_ABS + K90, STOPPED + K45 + NO_ENC + AT_REST)])
    with pytest.raises(MoveIncompleteError) as err:
        rot.angle(90.0)
    assert err.value.reached_deg == pytest.approx(45.0)
    assert err.value.target_deg == pytest.approx(90.0)
    assert err.value.request == MOVE_ABS + K90
    done(port, MOVE_ABS)


def test_completed_off_target_raises_move_incomplete() -> None:
    # 89.9 deg = 12,274,347 counts = 0x00BB4AAB: 0.1 deg short, tolerance 0.05
    rot, port = k10([(MOVE_ABS + K90, COMPLETED + b"\xab\x4a\xbb\x00" + NO_ENC + AT_REST)])
    with pytest.raises(MoveIncompleteError, match="-0.1000 deg from the target 90.0000 deg"):
        rot.angle(90.0)
    done(port, MOVE_ABS)


def test_stall_with_motion_error_raises_device_fault() -> None:
    # motion error (bit 14) set, the stage stopped 45 deg short of its target
    stalled = b"\x00\x45\x00\x80"
    rot, port = k10([(MOVE_ABS + K90, STOPPED + K45 + NO_ENC + stalled)])
    with pytest.raises(DeviceFaultError) as err:
        rot.angle(90.0)
    assert err.value.code == 0x80004500 and "MOTION_ERROR" in err.value.meaning
    assert "stopped at 45.0000 deg" in err.value.meaning
    done(port, MOVE_ABS)


def test_homing_cut_short_raises_device_fault_naming_port() -> None:
    rot, port = k10([(HOME, STOPPED + K30 + NO_ENC + AT_REST)], address="COM4")
    with pytest.raises(DeviceFaultError, match="did not finish homing") as err:
        rot.home()
    assert "COM4" in str(err.value)
    done(port, HOME)


def test_completed_within_tolerance_is_accepted() -> None:
    rot, port = k10([(MOVE_ABS + K90, COMPLETED + K89_97 + NO_ENC + AT_REST)])
    rot.move_to(90.0)
    done(port)


# -- status bits (2.5) ---------------------------------------------------------------
STATUS_BITS = [
    (b"\x01\x00\x00\x00", "FORWARD_LIMIT_SWITCH"), (b"\x02\x00\x00\x00", "REVERSE_LIMIT_SWITCH"),
    (b"\x04\x00\x00\x00", "FORWARD_LIMIT_SOFT"), (b"\x08\x00\x00\x00", "REVERSE_LIMIT_SOFT"),
    (b"\x10\x00\x00\x00", "MOVING_FORWARD"), (b"\x20\x00\x00\x00", "MOVING_REVERSE"),
    (b"\x40\x00\x00\x00", "JOGGING_FORWARD"), (b"\x80\x00\x00\x00", "JOGGING_REVERSE"),
    (b"\x00\x01\x00\x00", "MOTOR_CONNECTED"), (b"\x00\x02\x00\x00", "HOMING"),
    (b"\x00\x04\x00\x00", "HOMED"), (b"\x00\x08\x00\x00", "INITIALIZING"),
    (b"\x00\x10\x00\x00", "TRACKING"), (b"\x00\x20\x00\x00", "SETTLED"),
    (b"\x00\x40\x00\x00", "MOTION_ERROR"), (b"\x00\x80\x00\x00", "INSTRUMENT_ERROR"),
    (b"\x00\x00\x01\x00", "INTERLOCK"), (b"\x00\x00\x02\x00", "OVERTEMP"),
    (b"\x00\x00\x04\x00", "VOLTAGE_FAULT"), (b"\x00\x00\x08\x00", "COMMUTATION_ERROR"),
    (b"\x00\x00\x10\x00", "DIGITAL_INPUT_1"), (b"\x00\x00\x20\x00", "DIGITAL_INPUT_2"),
    (b"\x00\x00\x40\x00", "DIGITAL_INPUT_3"), (b"\x00\x00\x80\x00", "DIGITAL_INPUT_4"),
    (b"\x00\x00\x00\x01", "MOTOR_CURRENT_LIMIT_REACHED"), (b"\x00\x00\x00\x02", "ENCODER_FAULT"),
    (b"\x00\x00\x00\x04", "OVERCURRENT"), (b"\x00\x00\x00\x08", "CURRENT_FAULT"),
    (b"\x00\x00\x00\x10", "POWER_OK"), (b"\x00\x00\x00\x20", "ACTIVE"),
    (b"\x00\x00\x00\x40", "ERROR"), (b"\x00\x00\x00\x80", "CHANNEL_ENABLED"),
]
MOVING_NAMES = {"MOVING_FORWARD", "MOVING_REVERSE", "JOGGING_FORWARD", "JOGGING_REVERSE",
                "HOMING"}


@pytest.mark.parametrize(("word", "name"), STATUS_BITS, ids=[n for _, n in STATUS_BITS])
def test_every_status_bit_decodes(word: bytes, name: str) -> None:
    rot, port = k10([(REQ_STATUS, GET_STATUS + word)])
    bits = rot.status_bits()
    assert bits == StatusBits[name]
    assert bits.is_moving == (name in MOVING_NAMES)
    done(port)


def test_status_bits_combine() -> None:
    rot, port = k10([(REQ_STATUS, GET_STATUS + AT_REST)])
    assert rot.status_bits() == (StatusBits.HOMED | StatusBits.MOTOR_CONNECTED
                                 | StatusBits.CHANNEL_ENABLED)
    done(port)


# -- velocity parameters (2.4, 2.6) ------------------------------------------------
# K10CR1: 10 deg/s = 73,291,093 = 0x045E5555; 5 deg/s = 36,645,547 = 0x022F2AAB;
# 10 deg/s^2 = 15,020 = 0x3AAC; 5 deg/s^2 = 7,510 = 0x1D56
K_ACC10, K_VEL10 = b"\xac\x3a\x00\x00", b"\x55\x55\x5e\x04"
K_ACC5, K_VEL5 = b"\x56\x1d\x00\x00", b"\xab\x2a\x2f\x02"


def test_k10cr1_velocity_parameters_get() -> None:
    rot, port = k10([(REQ_VEL, GET_VEL + K_ACC10 + K_VEL10),
                     (REQ_VEL, GET_VEL + K_ACC10 + K_VEL10)])
    assert rot.velocity() == pytest.approx(10.0, abs=1e-6)
    assert rot.acceleration() == pytest.approx(10.0, abs=1e-3)
    done(port)


def test_k10cr1_velocity_set_keeps_the_acceleration() -> None:
    rot, port = k10([(REQ_VEL, GET_VEL + K_ACC10 + K_VEL10), (SET_VEL + K_ACC10 + K_VEL5, None),
                     (REQ_VEL, GET_VEL + K_ACC10 + K_VEL10), (SET_VEL + K_ACC5 + K_VEL10, None)])
    rot.velocity(5.0)
    rot.acceleration(5.0)
    done(port)


def test_k10cr1_velocity_and_acceleration_in_one_message() -> None:
    rot, port = k10([(SET_VEL + K_ACC10 + K_VEL10, None)])
    rot.set_velocity_params(velocity_deg_s=10.0, acceleration_deg_s2=10.0)
    done(port)


def test_kdc101_prm1z8_velocity_parameters() -> None:
    # PRM1Z8: 10 deg/s = 429,417 = 0x068D69; 20 deg/s = 858,833 = 0x0D1AD1;
    # 10 deg/s^2 = 147 = 0x93
    acc10, vel10, vel20 = b"\x93\x00\x00\x00", b"\x69\x8d\x06\x00", b"\xd1\x1a\x0d\x00"
    rot, port = kdc([(REQ_VEL, GET_VEL + acc10 + vel10), (REQ_VEL, GET_VEL + acc10 + vel10),
                     (REQ_VEL, GET_VEL + acc10 + vel10), (SET_VEL + acc10 + vel20, None)])
    assert rot.velocity() == pytest.approx(10.0, abs=1e-4)
    assert rot.acceleration() == pytest.approx(10.0, abs=0.05)
    rot.velocity(20.0)
    done(port)


@pytest.mark.parametrize(("param", "value"), [("velocity", 10.5), ("velocity", 0.0),
                                              ("acceleration", 11.0), ("acceleration", -1.0)])
def test_out_of_range_velocity_parameters_send_nothing(param: str, value: float) -> None:
    port = ScriptedPort([])
    rot = K10CR1("rot", "scripted", port=port)
    with pytest.raises(ValueError):
        getattr(rot, param)(value)
    assert port.written == []


# -- unsolicited messages and the keep-alive (2.4) -----------------------------------
def test_status_update_is_skipped_and_acknowledged() -> None:
    rot, port = k10([(REQ_POS, DC_STATUS_UPDATE + K45 + NO_ENC + AT_REST + GET_POS + K90),
                     (ACK, None)])
    assert rot.position_deg() == pytest.approx(90.0)
    done(port)


def test_status_updates_during_a_move_are_acknowledged() -> None:
    rot, port = k10([(MOVE_ABS + K90, STATUS_UPDATE + K45 + NO_ENC + b"\x10\x05\x00\x80"),
                     (ACK, STATUS_UPDATE + K90 + NO_ENC + AT_REST),
                     (ACK, COMPLETED + K90 + NO_ENC + AT_REST)])
    rot.angle(90.0)
    done(port, MOVE_ABS)


def test_stale_move_end_without_a_move_is_skipped() -> None:
    rot, port = k10([(REQ_POS, COMPLETED + K90 + NO_ENC + AT_REST + GET_POS + K90)])
    assert rot.position_deg() == pytest.approx(90.0)
    done(port)


def test_a_flood_of_status_updates_cannot_stretch_a_wait() -> None:
    # 0.2 s of budget at 0.1 s per update: the third update is never read
    update = STATUS_UPDATE + K45 + NO_ENC + b"\x10\x05\x00\x80"
    rot, port = k10([(MOVE_ABS + K90, update), (ACK, update), (ACK, None),
                     (STOP, STOPPED + K45 + NO_ENC + AT_REST), (REQ_POS, GET_POS + K45)],
                    timeout_s=0.1, move_timeout_s=0.2)
    with pytest.raises(TransportError, match="stopped at 45.0000 deg"):
        rot.angle(90.0)
    done(port, MOVE_ABS)


# -- device error notices (2.4) --------------------------------------------------------
def test_hw_response_during_a_move_stops_and_reports_the_position() -> None:
    rot, port = k10([(MOVE_ABS + K90, HW_RESPONSE), (STOP, STOPPED + K30 + NO_ENC + AT_REST),
                     (REQ_POS, GET_POS + K30)])
    with pytest.raises(DeviceFaultError) as err:
        rot.angle(90.0)
    assert err.value.instrument == "rot" and err.value.request == MOVE_ABS + K90
    assert err.value.code == 0 and "HW_RESPONSE" in err.value.meaning
    assert "stopped at 30.0000 deg" in err.value.meaning
    assert not rot.is_moving()
    done(port, MOVE_ABS)


def test_hw_richresponse_gives_code_and_the_device_text() -> None:
    # for MOT_MOVE_ABSOLUTE (0x0453), code 0x0011, text, NUL then junk
    notes = b"Motor not homed" + b"\x00" + b"\xff" * 48
    rich = RICH + b"\x53\x04" + b"\x11\x00" + notes
    rot, port = k10([(MOVE_ABS + K90, rich), (STOP, STOPPED + ZERO + NO_ENC + AT_REST),
                     (REQ_POS, GET_POS + ZERO)])
    with pytest.raises(DeviceFaultError) as err:
        rot.angle(90.0)
    assert err.value.code == 0x11
    assert err.value.meaning.startswith("Motor not homed (HW_RICHRESPONSE for MOT_MOVE_ABSOLUTE)")
    assert "device error 17 (Motor not homed" in str(err.value)
    done(port, MOVE_ABS)


def test_hw_response_to_a_query_is_not_retried() -> None:
    rot, port = k10([(REQ_VEL, HW_RESPONSE)])
    with pytest.raises(DeviceFaultError) as err:
        rot.velocity()
    assert err.value.request == REQ_VEL
    done(port)


def test_fault_in_a_query_during_a_move_stops_the_stage() -> None:
    rot, port = k10([(MOVE_ABS + K90, None), (REQ_STATUS, HW_RESPONSE),
                     (STOP, STOPPED + K45 + NO_ENC + AT_REST)])
    rot.move_to(90.0, wait=False)
    with pytest.raises(DeviceFaultError):
        rot.position_deg()
    assert not rot.is_moving()
    with pytest.raises(DeviceFaultError, match="HW_RESPONSE"):
        rot.wait_for_move()
    done(port, MOVE_ABS)


# -- garbled, short and missing replies: one retry for idempotent queries -------------
GARBLED_POS = b"\x12\x04\x06\x00\x81\xd0\x01\x00" + K90  # source 0x50 with bit 7 flipped


@pytest.mark.parametrize("bad", [GARBLED_POS, GET_POS + b"\x00\x80", b"\x12\x04\x06", None,
                                 GET_VEL + K_ACC10 + K_VEL10],
                         ids=["garbled", "short-data", "short-header", "silence",
                              "reply-to-another-request"])
def test_position_query_is_retried_once(bad: bytes | None,
                                        caplog: pytest.LogCaptureFixture) -> None:
    rot, port = k10([(REQ_POS, bad), (REQ_POS, GET_POS + K90)])
    with caplog.at_level(logging.WARNING):
        assert rot.angle() == pytest.approx(90.0)
    assert "trying once more" in caplog.text
    done(port)


def test_status_bits_query_is_retried_once() -> None:
    rot, port = k10([(REQ_STATUS, b"\x2a\x04\x06\x00\x81\x50\x01"),
                     (REQ_STATUS, GET_STATUS + AT_REST)])
    assert rot.status_bits() & StatusBits.HOMED
    done(port)


def test_velocity_query_is_retried_once() -> None:
    rot, port = k10([(REQ_VEL, GET_VEL + K_ACC10), (REQ_VEL, GET_VEL + K_ACC10 + K_VEL10)])
    assert rot.velocity() == pytest.approx(10.0, abs=1e-6)
    done(port)


def test_hardware_info_query_is_retried_once() -> None:
    port = ScriptedPort([(NO_FLASH, None), (STOP_UPDATES, None), (REQ_INFO, K10CR1_INFO[:40]),
                         (REQ_INFO, K10CR1_INFO), (ENABLE, None)])
    assert K10CR1("rot", "scripted", port=port).info.serial == "55000123"
    done(port)


def test_two_silences_raise_transport_error() -> None:
    rot, port = k10([(REQ_POS, None), (REQ_POS, None)])
    with pytest.raises(TransportError, match="no MOT_GET_POSCOUNTER") as err:
        rot.angle()
    assert err.value.request == REQ_POS
    done(port)


def test_two_garbled_replies_raise_protocol_error() -> None:
    rot, port = k10([(REQ_POS, GARBLED_POS), (REQ_POS, GARBLED_POS)])
    with pytest.raises(ProtocolError) as err:
        rot.angle()
    assert err.value.request == REQ_POS
    done(port)


def test_wrong_length_reply_raises_protocol_error() -> None:
    # a GET_POSCOUNTER announcing 8 data bytes instead of 6
    bad = b"\x12\x04\x08\x00\x81\x50\x01\x00" + K90 + b"\x00\x00"
    rot, port = k10([(REQ_POS, bad), (REQ_POS, bad)])
    with pytest.raises(ProtocolError, match="needs 6 data bytes"):
        rot.angle()
    done(port)


# -- faults during a move: stop, read back, never repeat ------------------------------
def test_lost_completion_at_the_target_is_accepted_after_stop_and_read_back(
        caplog: pytest.LogCaptureFixture) -> None:
    rot, port = k10([(MOVE_ABS + K90, None), (STOP, STOPPED + K90 + NO_ENC + AT_REST),
                     (REQ_POS, GET_POS + K90)], move_timeout_s=3.0)
    with caplog.at_level(logging.WARNING):
        rot.move_to(90.0, wait=False)
        assert rot.wait_for_move() == pytest.approx(90.0)
    assert "reached its target" in caplog.text
    done(port, MOVE_ABS)


def test_lost_completion_off_target_raises_with_where_it_stopped() -> None:
    rot, port = k10([(MOVE_ABS + K90, None), (STOP, STOPPED + K45 + NO_ENC + AT_REST),
                     (REQ_POS, GET_POS + K45)], move_timeout_s=3.0)
    with pytest.raises(TransportError) as err:
        rot.angle(90.0)
    assert "stopped at 45.0000 deg, -45.0000 deg from the target 90.0000 deg" in str(err.value)
    done(port, MOVE_ABS)


def test_garbled_completion_stops_and_checks_the_position() -> None:
    garbled = b"\x64\x04\x0e\x00\x81\xd0\x01\x00" + K90 + NO_ENC + AT_REST
    rot, port = k10([(MOVE_ABS + K90, garbled), (STOP, STOPPED + K30 + NO_ENC + AT_REST),
                     (REQ_POS, GET_POS + K30)])
    with pytest.raises(ProtocolError, match="stopped at 30.0000 deg"):
        rot.angle(90.0)
    done(port, MOVE_ABS)


def test_truncated_completion_at_the_target_is_accepted() -> None:
    rot, port = k10([(MOVE_ABS + K90, COMPLETED + K90),
                     (STOP, STOPPED + K90 + NO_ENC + AT_REST), (REQ_POS, GET_POS + K90)])
    rot.angle(90.0)
    done(port, MOVE_ABS)


def test_homing_that_never_finishes_names_device_and_port() -> None:
    rot, port = k10([(HOME, None), (STOP, STOPPED + K30 + NO_ENC + AT_REST),
                     (REQ_POS, GET_POS + K30)], address="/dev/ttyUSB5", move_timeout_s=2.0)
    with pytest.raises(TransportError) as err:
        rot.home()
    text = str(err.value)
    assert "did not finish homing" in text and "/dev/ttyUSB5" in text
    assert "K10CR1" in text and "'rot'" in text
    done(port, HOME)


class DyingPort(ScriptedPort):
    """Disconnects after ``alive`` writes."""

    def __init__(self, script: Script, alive: int) -> None:
        super().__init__(script)
        self.alive = alive

    def write(self, data: bytes) -> int:
        if len(self.written) >= self.alive:
            raise serial.SerialException("device disconnected")
        return super().write(data)


def test_disconnect_during_a_move_raises_transport_error_noting_the_failed_stop() -> None:
    port = DyingPort(CONNECT_K10 + [(MOVE_ABS + K90, None)], alive=5)
    rot = K10CR1("rot", "scripted", port=port, move_timeout_s=1.0)
    with pytest.raises(TransportError) as err:
        rot.angle(90.0)
    assert "no MOT_MOVE_COMPLETED" in str(err.value)
    assert any("stop after this fault failed" in n for n in err.value.__notes__)
    port.assert_done()


# -- travel: out-of-range angles send nothing -------------------------------------------
@pytest.mark.parametrize("angle", [360.5, -400.0, float("nan"), float("inf")])
@pytest.mark.parametrize("cls", [K10CR1, KDC101])
def test_out_of_range_angle_rejected_before_any_byte(cls: type[K10CR1 | KDC101],
                                                     angle: float) -> None:
    port = ScriptedPort([])
    rot = cls("rot", "scripted", port=port)
    with pytest.raises(ValueError):
        rot.angle(angle)
    with pytest.raises(ValueError):
        rot.move_to(angle, wait=False)
    assert port.written == []


def limited(script: Script) -> tuple[KDC101, ScriptedPort]:
    # a stage of 1000 counts per degree travelling 0 to 90 deg
    port = ScriptedPort(CONNECT_KDC + script)
    return KDC101("lin", "scripted", counts_per_deg=1000, travel_deg=(0, 90), port=port), port


@pytest.mark.parametrize("angle", [-0.5, 90.5, 180.0])
def test_limited_travel_stage_rejects_angles_outside_it(angle: float) -> None:
    rot, port = limited([])
    with pytest.raises(ValueError):
        rot.angle(angle)
    assert port.written == []


def test_limited_travel_stage_moves_inside_it() -> None:
    # 45 deg = 45,000 counts = 0xAFC8
    rot, port = limited([(MOVE_ABS + b"\xc8\xaf\x00\x00",
                          COMPLETED + b"\xc8\xaf\x00\x00" + NO_ENC + AT_REST)])
    rot.angle(45.0)
    done(port)


def test_limited_travel_relative_move_past_the_end_sends_no_move() -> None:
    # at 80 deg = 80,000 counts = 0x013880; +20 deg would end at 100
    rot, port = limited([(REQ_POS, GET_POS + b"\x80\x38\x01\x00")])
    with pytest.raises(ValueError):
        rot.move_by(20.0)
    done(port)


# -- stages ------------------------------------------------------------------------------
def test_unknown_stage_name_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown KDC101 stage 'PRM2Z9'.*PRM1Z8.*counts_per_deg"):
        KDC101("kdc", "scripted", stage="PRM2Z9", port=ScriptedPort([]))


def test_stage_name_spellings_and_conflicts() -> None:
    rot = KDC101("kdc", "scripted", stage="PRM1-Z8", port=ScriptedPort([]))
    assert rot.stage.counts_per_deg == pytest.approx(1919.6418578623391)
    with pytest.raises(ValueError, match="not both"):
        KDC101("kdc2", "scripted", stage="PRM1Z8", counts_per_deg=100, port=ScriptedPort([]))


def test_harness_fails_on_wrong_bytes() -> None:
    rot, _ = k10([])
    rot.connect()
    with pytest.raises(ScriptMismatch):
        rot.identify()
