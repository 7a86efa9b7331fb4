"""CONEX driver on the wire: byte-exact exchanges from docs/protocols.md 3.

Vectors are literal bytes, never codec output: ``1PA45.0``, ``1TP12.34567``,
``1TS00000A`` and the state codes from section 3; the ``TE`` letters and the
``1VE CONEX-CC 2.0.1`` form from the public drivers the emulator docstring
names. Each script is the whole exchange: a missing or extra line fails.
The last section runs the driver against the emulator through ``sim://``.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
from scripted_port import ScriptedPort, ScriptMismatch

from qnic.instruments.clock import VirtualClock
from qnic.instruments.errors import (
    DeviceFaultError,
    MoveIncompleteError,
    ProtocolError,
    TransportError,
)
from qnic.instruments.rotators.conex import Conex
from qnic.instruments.rotators.conex_codec import (
    ConexError,
    ControllerState,
    PositionerError,
)
from qnic.sim.conex_emulator import ConexEmulator, Fault
from qnic.sim.motion import RotatorMotion
from qnic.sim.registry import registry

Script = list[tuple[bytes, bytes | None]]
CONNECT_AGP: Script = [(b"1VE\r\n", b"1VE CONEX-AGP 2.0.1\r\n"), (b"1ID?\r\n", b"1IDAG-PR100P\r\n")]
CONNECT_CC: Script = [(b"1VE\r\n", b"1VE CONEX-CC 2.0.1\r\n"), (b"1ID?\r\n", b"1IDPR50CC\r\n")]
TE_OK = (b"1TE\r\n", b"1TE@\r\n")
PA45 = (b"1PA45.0\r\n", None)  # section 3 example; set commands are not answered
STOP_AND_READ = [(b"1ST\r\n", None), TE_OK]


def make(script: Script, model: str = "agp", name: str = "rot",
         **kwargs: object) -> tuple[Conex, ScriptedPort]:
    port = ScriptedPort(script)
    return Conex(name, "scripted", model=model, port=port, **kwargs), port  # type: ignore[arg-type]


# -- construction and identity -----------------------------------------------------
def test_construction_sends_nothing() -> None:
    rot, port = make([])
    assert port.written == []
    assert "velocity" not in rot.parameters  # the CONEX-AGP has no VA
    rot.close()


@pytest.mark.parametrize(("model", "script", "idn"), [
    ("agp", CONNECT_AGP, {"vendor": "Newport", "model": "CONEX-AGP/AG-PR100P", "serial": None,
                          "firmware": "2.0.1"}),
    ("cc", [(b"1VE\r\n", b"1VE CONEX-CC 2.0.1\r\n"), (b"1ID?\r\n", b"1IDPR50CC_FT5TMFGL\r\n")],
     {"vendor": "Newport", "model": "CONEX-CC/PR50CC", "serial": "FT5TMFGL",
      "firmware": "2.0.1"}),
])
def test_identification(model: str, script: Script, idn: dict[str, str | None]) -> None:
    rot, port = make(script, model)
    assert rot.get_idn() == idn
    assert rot.connect().firmware == "2.0.1"
    port.assert_done()


@pytest.mark.parametrize(("model", "script"), [
    ("agp", CONNECT_CC),  # a CONEX-CC where a CONEX-AGP was named
    ("cc", [(b"1VE\r\n", b"1VE CONEX-CC 2.0.1\r\n"), (b"1ID?\r\n", b"1IDTRA25CC\r\n")]),
])
def test_a_different_device_is_refused_naming_port_and_expectation(model: str,
                                                                  script: Script) -> None:
    rot, port = make(script, model)
    with pytest.raises(ProtocolError) as err:
        rot.connect()
    text = str(err.value)
    assert "rot:" in text and "on scripted" in text
    expected = "CONEX-AGP with stage AG-PR100P" if model == "agp" else "CONEX-CC with stage PR50CC"
    assert f"not a {expected}" in text
    port.assert_done()


def test_a_silent_port_is_refused_naming_port_and_expectation() -> None:
    # a refused query is not answered, so the silence is explained by TE first
    rot, port = make([(b"1VE\r\n", None), (b"1TE\r\n", None), (b"1VE\r\n", None)])
    with pytest.raises(TransportError, match="expected a CONEX-AGP at controller address 1 "
                                             "on scripted"):
        rot.connect()
    port.assert_done()


def test_a_port_speaking_another_protocol_is_refused() -> None:
    rot, port = make([(b"1VE\r\n", b"0GS03\r\n"), (b"1VE\r\n", b"0GS03\r\n")])
    with pytest.raises(ProtocolError, match="expected a reply starting '1VE'.*expected a "
                                            "CONEX-AGP"):
        rot.connect()
    port.assert_done()


# -- homing ----------------------------------------------------------------------------
def test_home_from_not_referenced() -> None:
    rot, port = make(CONNECT_AGP + [
        (b"1TS\r\n", b"1TS00000A\r\n"),  # section 3: boots NOT REFERENCED
        (b"1OR\r\n", None), TE_OK,
        (b"1TS\r\n", b"1TS00001E\r\n"), (b"1TS\r\n", b"1TS00001E\r\n"),
        (b"1TS\r\n", b"1TS000032\r\n"), (b"1TP\r\n", b"1TP0.00000\r\n")])
    rot.home()
    port.assert_done()


def test_home_when_referenced_resets_first() -> None:
    rot, port = make(CONNECT_AGP + [
        (b"1TS\r\n", b"1TS000033\r\n"),
        (b"1RS\r\n", None), (b"1TS\r\n", None),  # silent while it reboots
        (b"1TS\r\n", b"1TS00000A\r\n"),
        (b"1OR\r\n", None), TE_OK, (b"1TS\r\n", b"1TS000032\r\n"),
        (b"1TP\r\n", b"1TP0.00000\r\n")])
    rot.home()
    port.assert_done()


def test_reset_that_never_comes_back() -> None:
    rot, port = make(CONNECT_AGP + [(b"1TS\r\n", b"1TS000033\r\n"), (b"1RS\r\n", None),
                                    (b"1TS\r\n", None), (b"1TS\r\n", None)],
                     reset_timeout_s=0.2)
    with pytest.raises(TransportError, match="did not come back NOT REFERENCED within 0.2 s"):
        rot.home()
    port.assert_done()


def test_homing_that_never_ends_names_device_and_port() -> None:
    rot, port = make(CONNECT_AGP + [
        (b"1TS\r\n", b"1TS00000A\r\n"), (b"1OR\r\n", None), TE_OK,
        (b"1TS\r\n", b"1TS00001E\r\n"), (b"1TS\r\n", b"1TS00001E\r\n"),
        (b"1TS\r\n", b"1TS00001E\r\n"),
        *STOP_AND_READ, (b"1TP\r\n", b"1TP12.00000\r\n")], move_timeout_s=0.3)
    with pytest.raises(DeviceFaultError) as err:
        rot.home()
    assert err.value.code == ControllerState.HOMING and err.value.request == b"1OR\r\n"
    text = str(err.value)
    assert "device error 1E (still HOMING: the home search did not end within 0.3 s" in text
    assert "rot:" in text and "CONEX-AGP at controller address 1 on scripted" in text
    assert "stopped at 12.0000 deg" in text
    port.assert_done()


def test_homing_refused() -> None:
    rot, port = make(CONNECT_AGP + [(b"1TS\r\n", b"1TS00000A\r\n"), (b"1OR\r\n", None),
                                    (b"1TE\r\n", b"1TEE\r\n")])
    with pytest.raises(DeviceFaultError, match="Home sequence already started"):
        rot.home()
    port.assert_done()


# -- moves ---------------------------------------------------------------------------
def test_move_absolute_reference_example() -> None:
    rot, port = make(CONNECT_AGP + [PA45, TE_OK, (b"1TS\r\n", b"1TS000028\r\n"),
                                    (b"1TS\r\n", b"1TS000033\r\n"),
                                    (b"1TP\r\n", b"1TP45.00000\r\n")])
    rot.angle(45.0)
    port.assert_done()


@pytest.mark.parametrize(("angle", "line"), [
    (-11.25, b"1PA-11.25\r\n"), (22.5, b"1PA22.5\r\n"), (0.0, b"1PA0.0\r\n"),
    (359.999999, b"1PA359.999999\r\n"), (-360.0, b"1PA-360.0\r\n")])
def test_angle_formatting(angle: float, line: bytes) -> None:
    rot, port = make(CONNECT_AGP + [(line, None), TE_OK])
    rot.move_to(angle, wait=False)
    port.assert_done()


def test_zero_length_move_ends_in_32() -> None:
    # section 3: a zero-length move leaves the controller in 32; waiting only for 33 hangs
    rot, port = make(CONNECT_AGP + [(b"1PA0.0\r\n", None), TE_OK,
                                    (b"1TS\r\n", b"1TS000032\r\n"),
                                    (b"1TP\r\n", b"1TP0.00000\r\n")])
    rot.move_to(0.0)
    port.assert_done()


def test_start_then_wait_and_is_moving() -> None:
    rot, port = make(CONNECT_AGP + [PA45, TE_OK, (b"1TS\r\n", b"1TS000028\r\n"),
                                    (b"1TS\r\n", b"1TS000028\r\n"),
                                    (b"1TS\r\n", b"1TS000033\r\n"),
                                    (b"1TP\r\n", b"1TP45.00000\r\n")])
    rot.move_to(45.0, wait=False)
    assert rot.is_moving()
    assert rot.wait_for_move() == pytest.approx(45.0)
    assert not rot.is_moving()
    port.assert_done()


def test_a_second_move_waits_for_the_first() -> None:
    rot, port = make(CONNECT_AGP + [PA45, TE_OK, (b"1TS\r\n", b"1TS000033\r\n"),
                                    (b"1TP\r\n", b"1TP45.00000\r\n"),
                                    (b"1PA90.0\r\n", None), TE_OK])
    rot.move_to(45.0, wait=False)
    rot.move_to(90.0, wait=False)
    port.assert_done()


def test_position_reference_example() -> None:
    rot, port = make([(b"1TP\r\n", b"1TP12.34567\r\n")])  # section 3: "1TP12.34567"
    assert rot.angle() == pytest.approx(12.34567)
    port.assert_done()


def test_controller_address_prefix() -> None:
    rot, port = make([(b"12TP\r\n", b"12TP-1.50000\r\n")], controller_address=12)
    assert rot.position_deg() == -1.5
    port.assert_done()


def test_stop_and_enable() -> None:
    rot, port = make([(b"1ST\r\n", None), TE_OK, (b"1MM1\r\n", None), TE_OK])
    rot.stop()
    rot.enable()
    port.assert_done()


def test_status_maps_state_codes_by_model() -> None:
    for model, text in (("cc", "NOT REFERENCED ESP stage error"),
                        ("agp", "NOT REFERENCED no parameters")):
        rot, port = make([(b"1TS\r\n", b"1TS000010\r\n")], model, name=f"st_{model}")
        status = rot.status()
        assert status.state is ControllerState.NOT_REFERENCED_NO_PARAMETERS
        assert status.meaning == text and status.errors == 0
        port.assert_done()


# -- TE command errors -------------------------------------------------------------------
TE_CODES = [
    ("A", "Unknown message code or floating point controller address."),
    ("B", "Controller address not correct."), ("C", "Parameter missing or out of range."),
    ("D", "Command not allowed."), ("E", "Home sequence already started."),
    ("F", "ESP stage name unknown."), ("G", "Displacement out of limits."),
    ("H", "Command not allowed in NOT REFERENCED state."),
    ("I", "Command not allowed in CONFIGURATION state."),
    ("J", "Command not allowed in DISABLE state."), ("K", "Command not allowed in READY state."),
    ("L", "Command not allowed in HOMING state."), ("M", "Command not allowed in MOVING state."),
    ("N", "Current position out of software limit."),
    ("P", "Command not allowed in TRACKING state."), ("S", "Communication Time Out."),
    ("U", "Error during EEPROM access."), ("V", "Error during command execution."),
    ("W", "Command not allowed for PP version."), ("X", "Command not allowed for CC version."),
]


@pytest.mark.parametrize(("letter", "meaning"), TE_CODES)
def test_every_te_code_refuses_the_move_with_code_and_meaning(letter: str, meaning: str) -> None:
    # a refused move did not start: no stop, no read-back follows
    rot, port = make(CONNECT_AGP + [PA45, (b"1TE\r\n", f"1TE{letter}\r\n".encode())])
    with pytest.raises(DeviceFaultError) as err:
        rot.angle(45.0)
    assert err.value.code == ConexError(ord(letter)) and err.value.meaning == meaning
    assert err.value.instrument == "rot" and err.value.request == b"1PA45.0\r\n"
    assert f"device error {letter} ({meaning})" in str(err.value)
    port.assert_done()


def test_unknown_te_code() -> None:
    rot, port = make([(b"1ST\r\n", None), (b"1TE\r\n", b"1TEZ\r\n")])
    with pytest.raises(DeviceFaultError, match="unknown TE code 'Z'") as err:
        rot.stop()
    assert err.value.code == ord("Z")
    port.assert_done()


# -- TS controller states and positioner errors ---------------------------------------------
@pytest.mark.parametrize("state", [b"32", b"33", b"34", b"35"])
def test_every_ready_state_ends_a_move(state: bytes) -> None:
    rot, port = make(CONNECT_CC + [PA45, TE_OK, (b"1TS\r\n", b"1TS0000" + state + b"\r\n"),
                                   (b"1TP\r\n", b"1TP45.00000\r\n")], "cc")
    rot.move_to(45.0)
    port.assert_done()


@pytest.mark.parametrize("state", [b"1E", b"1F", b"28", b"46", b"47"])
def test_motion_states_keep_the_wait_going(state: bytes) -> None:
    rot, port = make(CONNECT_CC + [PA45, TE_OK, (b"1TS\r\n", b"1TS0000" + state + b"\r\n"),
                                   (b"1TS\r\n", b"1TS000033\r\n"),
                                   (b"1TP\r\n", b"1TP45.00000\r\n")], "cc")
    rot.move_to(45.0)
    port.assert_done()


FAULT_STATES = [
    ("cc", 0x0A, "NOT REFERENCED from reset"), ("cc", 0x0B, "NOT REFERENCED from HOMING"),
    ("cc", 0x0C, "NOT REFERENCED from CONFIGURATION"), ("cc", 0x0D, "NOT REFERENCED from DISABLE"),
    ("cc", 0x0E, "NOT REFERENCED from READY"), ("cc", 0x0F, "NOT REFERENCED from MOVING"),
    ("cc", 0x10, "NOT REFERENCED ESP stage error"), ("agp", 0x10, "NOT REFERENCED no parameters"),
    ("cc", 0x11, "NOT REFERENCED from JOGGING"), ("cc", 0x14, "CONFIGURATION"),
    ("cc", 0x3C, "DISABLE from READY"), ("agp", 0x3D, "DISABLE from MOVING"),
    ("cc", 0x3E, "DISABLE from JOGGING"), ("cc", 0x48, "SIMULATION MODE"),
    ("agp", 0x48, "unknown state 48"),  # a CONEX-CC state only
]


@pytest.mark.parametrize(("model", "code", "text"), FAULT_STATES)
def test_states_other_than_motion_or_ready_stop_and_raise(model: str, code: int,
                                                         text: str) -> None:
    connect = CONNECT_CC if model == "cc" else CONNECT_AGP
    rot, port = make(connect + [PA45, TE_OK, (b"1TS\r\n", f"1TS0000{code:02X}\r\n".encode()),
                                *STOP_AND_READ, (b"1TP\r\n", b"1TP3.00000\r\n")], model)
    with pytest.raises(DeviceFaultError) as err:
        rot.move_to(45.0)
    assert err.value.code == code and err.value.meaning.startswith(f"{text}: the move did not")
    assert "stopped at 3.0000 deg, -42.0000 deg from the target 45.0000 deg" in str(err.value)
    port.assert_done()


POSITIONER_BITS = [
    (0x0001, "negative end of run"), (0x0002, "positive end of run"),
    (0x0004, "peak current limit"), (0x0008, "RMS current limit"),
    (0x0010, "short circuit detection"), (0x0020, "following error"),
    (0x0040, "homing time-out"), (0x0080, "wrong ESP stage"), (0x0100, "DC voltage too low"),
    (0x0200, "80 W output power exceeded"),
]


@pytest.mark.parametrize(("bits", "text"), POSITIONER_BITS)
def test_every_positioner_error_bit(bits: int, text: str) -> None:
    rot, port = make(CONNECT_CC + [PA45, TE_OK, (b"1TS\r\n", f"1TS{bits:04X}3D\r\n".encode()),
                                   *STOP_AND_READ, (b"1TP\r\n", b"1TP22.50000\r\n")], "cc")
    with pytest.raises(DeviceFaultError) as err:
        rot.move_to(45.0)
    assert err.value.code == PositionerError(bits)
    assert err.value.meaning.startswith(f"{text} (state 3D DISABLE from MOVING) during the move")
    assert f"device error {bits:04X}" in str(err.value)
    port.assert_done()


def test_several_positioner_bits_most_significant_first() -> None:
    rot, port = make([(b"1TS\r\n", b"1TS004C1E\r\n")])
    status = rot.status()
    assert status.errors == (PositionerError.HOMING_TIME_OUT | PositionerError.RMS_CURRENT_LIMIT
                             | PositionerError.PEAK_CURRENT_LIMIT)
    assert status.state is ControllerState.HOMING
    port.assert_done()


def test_fault_within_tolerance_is_accepted_with_a_warning(
        caplog: pytest.LogCaptureFixture) -> None:
    rot, port = make(CONNECT_AGP + [PA45, TE_OK, (b"1TS\r\n", b"1TS00203D\r\n"),
                                    *STOP_AND_READ, (b"1TP\r\n", b"1TP44.99500\r\n")])
    with caplog.at_level(logging.WARNING):
        rot.move_to(45.0, wait=False)
        assert rot.wait_for_move() == pytest.approx(44.995)
    assert "within 0.01 deg of the target; accepted" in caplog.text
    port.assert_done()


def test_off_target_end_raises_move_incomplete() -> None:
    # READY, but 0.04 deg away (tolerance 0.01): reported, never moved again
    rot, port = make(CONNECT_AGP + [PA45, TE_OK, (b"1TS\r\n", b"1TS000033\r\n"),
                                    (b"1TP\r\n", b"1TP45.04000\r\n")])
    rot.move_to(45.0, wait=False)
    with pytest.raises(MoveIncompleteError) as err:
        rot.wait_for_move()
    assert err.value.reached_deg == pytest.approx(45.04)
    port.assert_done()


# -- transport and protocol faults --------------------------------------------------------
def test_query_retried_once_after_silence(caplog: pytest.LogCaptureFixture) -> None:
    rot, port = make([(b"1TP\r\n", None), TE_OK, (b"1TP\r\n", b"1TP1.00000\r\n")])
    with caplog.at_level(logging.WARNING):
        assert rot.position_deg() == 1.0
    assert "retrying once" in caplog.text and "no reply within 0.1 s" in caplog.text
    port.assert_done()


def test_silence_explained_by_te_raises_the_device_error() -> None:
    rot, port = make([(b"1TP\r\n", None), (b"1TE\r\n", b"1TEV\r\n")])
    with pytest.raises(DeviceFaultError, match="Error during command execution") as err:
        rot.position_deg()
    assert err.value.request == b"1TP\r\n" and f"{err.value.code}" == "V"
    port.assert_done()


@pytest.mark.parametrize("bad", [b"1\xd4P\xb12.34567\r\n", b"1TP12.3", b"2TP1.0\r\n",
                                 b"1TPabc\r\n"])
def test_bad_reply_retried_once(bad: bytes) -> None:
    rot, port = make([(b"1TP\r\n", bad), (b"1TP\r\n", b"1TP12.34567\r\n")])
    assert rot.position_deg() == pytest.approx(12.34567)
    port.assert_done()


def test_the_retry_is_bounded() -> None:
    rot, port = make([(b"1TP\r\n", b"1TP12"), (b"1TP\r\n", b"1TP1")])
    with pytest.raises(ProtocolError, match="truncated reply"):
        rot.position_deg()
    port.assert_done()
    rot, port = make([(b"1TS\r\n", None), TE_OK, (b"1TS\r\n", None)], name="rot2")
    with pytest.raises(TransportError, match="no reply"):
        rot.status()
    port.assert_done()


def test_a_failed_stop_after_a_fault_raises_the_original_error(
        caplog: pytest.LogCaptureFixture) -> None:
    rot, port = make(CONNECT_AGP + [PA45, TE_OK, (b"1TS\r\n", b"1TS00203D\r\n"),
                                    (b"1ST\r\n", None), (b"1TE\r\n", None)])
    with caplog.at_level(logging.WARNING), pytest.raises(DeviceFaultError) as err:
        rot.move_to(45.0)
    assert err.value.code == PositionerError.FOLLOWING_ERROR
    assert "stopped at" not in str(err.value)
    assert "could not stop and read back" in caplog.text
    port.assert_done()


def test_link_lost_during_a_move_stops_and_reads_back() -> None:
    rot, port = make(CONNECT_AGP + [PA45, TE_OK, (b"1TS\r\n", None), (b"1TE\r\n", None),
                                    (b"1TS\r\n", None), *STOP_AND_READ,
                                    (b"1TP\r\n", b"1TP20.00000\r\n")])
    with pytest.raises(TransportError) as err:
        rot.move_to(45.0)
    assert "stopped at 20.0000 deg, -25.0000 deg from the target" in str(err.value)
    port.assert_done()


def test_lost_te_after_a_move_is_never_repeated() -> None:
    # the controller at rest off the target: it never took the move
    rot, port = make(CONNECT_AGP + [PA45, (b"1TE\r\n", None), (b"1TS\r\n", b"1TS000033\r\n"),
                                    (b"1TP\r\n", b"1TP0.50000\r\n")])
    with pytest.raises(TransportError) as err:
        rot.move_to(45.0)
    assert "reading TE after b'1PA45.0\\r\\n'" in str(err.value)
    assert "the move was not acknowledged: the controller is 33 READY from MOVING at " \
        "0.5000 deg" in str(err.value)
    assert not rot.is_moving()
    port.assert_done()


def test_lost_te_with_the_controller_moving_lets_the_move_go_on(
        caplog: pytest.LogCaptureFixture) -> None:
    rot, port = make(CONNECT_AGP + [PA45, (b"1TE\r\n", None), (b"1TS\r\n", b"1TS000028\r\n"),
                                    (b"1TP\r\n", b"1TP0.50000\r\n"),
                                    (b"1TS\r\n", b"1TS000033\r\n"),
                                    (b"1TP\r\n", b"1TP45.00000\r\n")])
    with caplog.at_level(logging.WARNING):
        rot.move_to(45.0)
    assert "the move goes on" in caplog.text
    port.assert_done()


# -- parameters and validation --------------------------------------------------------------
def test_velocity_on_the_cc() -> None:
    rot, port = make([(b"1VA?\r\n", b"1VA20.00000\r\n"), (b"1VA10.0\r\n", None), TE_OK], "cc")
    assert rot.velocity() == 20.0
    rot.velocity(10.0)
    port.assert_done()
    assert rot._motion_timeout_s() == pytest.approx(720 / 10 * 1.5 + 10)


@pytest.mark.parametrize("value", [25.0, 0.0, -1.0])
def test_out_of_range_velocity_rejected_before_any_byte(value: float) -> None:
    rot, port = make([], "cc")
    with pytest.raises(ValueError):
        rot.velocity(value)
    assert port.written == []


@pytest.mark.parametrize("angle", [360.5, -400.0, float("nan"), float("inf")])
def test_out_of_range_angle_rejected_before_any_byte(angle: float) -> None:
    rot, port = make([])
    with pytest.raises(ValueError):
        rot.angle(angle)
    with pytest.raises(ValueError):
        rot.move_to(angle)
    assert port.written == []


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"controller_address": 0}, "1 to 31"), ({"controller_address": 32}, "1 to 31"),
    ({"controller_address": "1"}, "1 to 31"), ({"model": "smc100"}, "model"),
])
def test_bad_construction_arguments(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Conex("bad", "scripted", port=ScriptedPort([]), **kwargs)  # type: ignore[arg-type]


def test_raw_seam() -> None:
    rot, port = make([(b"1ST\r\n", None), (b"1TS\r\n", b"1TS000033\r\n")])
    rot.write_raw("1ST")
    assert rot.ask_raw("1TS") == "1TS000033"
    port.assert_done()


def test_harness_fails_on_wrong_bytes() -> None:
    rot, _ = make([(b"1TS\r\n", b"1TS000033\r\n")])
    with pytest.raises(ScriptMismatch):
        rot.position_deg()


# -- the driver against the emulator (sim://) --------------------------------------------------
class StandInBench:
    """A clock and the arm motors (4000 deg/s^2), all an emulator uses of a bench."""

    def __init__(self, a_deg: float = 0.0) -> None:
        self.name = "conex-driver-test"
        self.clock = VirtualClock()
        self.motors = {"A": RotatorMotion(angle_deg=a_deg), "B": RotatorMotion()}

    def motor(self, arm: str) -> RotatorMotion:
        return self.motors[arm]

    def angle(self, arm: str) -> float:
        return float(self.motors[arm].angle_at(np.array([self.clock.now()]))[0])


@pytest.fixture()
def bench() -> StandInBench:
    bench = StandInBench(a_deg=30.0)
    registry().add(bench)  # type: ignore[arg-type]  # cleared by the conftest fixture
    return bench


def sim(bench: StandInBench, model: str = "agp", name: str = "sim", **options: str) -> Conex:
    query = "&".join(f"{k}={v}" for k, v in {"arm": "A", "model": model, **options}.items())
    return Conex(name, f"sim://conex?bench={bench.name}&{query}", model=model)


def test_sim_home_and_move_turn_the_bench_waveplate(bench: StandInBench) -> None:
    rot = sim(bench, zero_deg="100")
    rot.home()
    assert bench.angle("A") == pytest.approx(100.0)
    assert bench.clock.now() == pytest.approx(70 / 1.5, abs=0.2)  # polled every 0.1 s
    rot.angle(-11.25)
    assert rot.angle() == pytest.approx(-11.25) and bench.angle("A") == pytest.approx(88.75)
    rot.home()  # referenced: RS, then OR
    assert rot.angle() == 0.0 and bench.angle("A") == pytest.approx(100.0)


def test_sim_cc_velocity(bench: StandInBench) -> None:
    rot = sim(bench, "cc", homed="1")
    assert rot.angle() == pytest.approx(30.0)  # referenced at power-up, 30 deg from home
    rot.velocity(10.0)
    start = bench.clock.now()
    rot.move_to(45.0)
    assert bench.clock.now() - start == pytest.approx(15 / 10 + 10 / 80, abs=0.11)


def test_sim_stall_stops_and_reports_where(bench: StandInBench) -> None:
    rot = sim(bench, homed="1", fault="stall:0.5")
    with pytest.raises(DeviceFaultError, match="following error.*stopped at 37.5000 deg, "
                                               "-7.5000 deg from the target 45.0000 deg"):
        rot.move_to(45.0)  # from 30 deg, stalled half way
    assert bench.angle("A") == pytest.approx(37.5)
    with pytest.raises(DeviceFaultError, match="DISABLE state"):
        rot.move_to(45.0)
    rot.enable()
    rot.move_to(45.0)
    assert bench.angle("A") == pytest.approx(45.0)


def test_sim_transient_faults_are_retried(bench: StandInBench) -> None:
    rot = sim(bench, homed="1", fault="timeout")
    assert rot.connect().controller == "CONEX-AGP"  # VE unheard, TE says @, VE again
    emu = rot.port.emulator
    assert isinstance(emu, ConexEmulator) and emu.faults.pending() == []
    for fault in (Fault.TRUNCATED, Fault.GARBLED):
        emu.inject(fault)
        assert rot.position_deg() == pytest.approx(30.0)
    emu.inject(Fault.ERROR_CODE, code="U")
    with pytest.raises(DeviceFaultError, match="EEPROM"):
        rot.position_deg()


def test_sim_device_that_never_finishes_homing(bench: StandInBench) -> None:
    rot = sim(bench, zero_deg="100")
    rot.move_timeout_s = 5.0
    with pytest.raises(DeviceFaultError, match=r"the home search did not end within 5 s; the "
                                               r"stage was stopped at .* \(CONEX-AGP at "
                                               r"controller address 1 on sim://"):
        rot.home()
    assert bench.angle("A") == pytest.approx(30 + 1.5 * 5, abs=0.2)  # stopped, not left running


def test_sim_an_elliptec_port_is_not_a_conex(bench: StandInBench) -> None:
    rot = Conex("wrong", f"sim://ell14?bench={bench.name}&arm=B&addr=0")
    with pytest.raises(TransportError, match="expected a CONEX-AGP at controller address 1 on "
                                             "sim://ell14"):
        rot.connect()


def test_a_port_that_cannot_open_is_not_retried(caplog: pytest.LogCaptureFixture) -> None:
    rot = Conex("nowhere", "sim://conex?bench=no-such-bench&arm=A")
    with caplog.at_level(logging.WARNING), pytest.raises(TransportError) as err:
        rot.connect()
    assert "cannot open port sim://conex?bench=no-such-bench" in str(err.value)
    assert "expected a CONEX-AGP" in str(err.value) and "retrying" not in caplog.text
