"""ITC4001 driver: exact SCPI bytes, the pyvisa-sim dialogue, and the bench's emulator.

Byte tests list (sent, reply) pairs as the Series 4000 programmer's reference
gives them (docs/protocols.md section 7): LF-terminated program messages,
NR3/NR1 replies, ``SYST:ERR?`` answered ``+0,"No error"`` when the queue is
empty. They are literal bytes, never the codec's or the emulator's output.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from benches import make_bench
from scripted_port import ScriptedPort

from qnic.instruments.errors import DeviceFaultError, ProtocolError, TransportError
from qnic.instruments.lasers.itc4000 import ITC4001
from qnic.instruments.lasers.protocol import PumpController
from qnic.sim.devices import build_emulator
from qnic.sim.faults import Fault
from qnic.sim.visa.laser import Itc4001Emulator
from qnic.sim.visa.scpi import header_pattern

SIM_FILE = "qnic.sim.visa:thorlabs.yaml"
USB = "USB0::0x1313::0x804A::M00000001::INSTR"
OK = (b"SYST:ERR?\n", b'+0,"No error"\n')
CONNECT = [(b"*CLS\n", None), OK,
           (b"*IDN?\n", b"THORLABS,ITC4001,M00443953,1.8.0/1.5.0/2.3.0\n"),
           (b"SOUR:CURR:LIM? MAX\n", b"1.000000E+00\n"),
           (b"SOUR2:TEMP? MIN\n", b"1.000000E+01\n"),
           (b"SOUR2:TEMP? MAX\n", b"4.000000E+01\n")]


def scripted(script: list[tuple[bytes, bytes | None]]) -> tuple[ITC4001, ScriptedPort]:
    port = ScriptedPort(script)
    return ITC4001("itc", "scripted", port=port), port


def test_connects_with_cls_identity_and_limits() -> None:
    itc, port = scripted(CONNECT)
    assert itc.get_idn() == {"vendor": "THORLABS", "model": "ITC4001", "serial": "M00443953",
                             "firmware": "1.8.0/1.5.0/2.3.0"}
    assert itc.max_current_a == 1.0
    assert itc.temperature_setpoint_c.vals.valid_values == (10.0, 40.0)  # type: ignore[union-attr]
    port.assert_done()


def test_sets_and_reads_the_current_in_amperes() -> None:
    itc, port = scripted([*CONNECT, (b"SOUR:CURR 0.065\n", None), OK,
                          (b"SOUR:CURR?\n", b"6.500000E-02\n"),
                          (b"MEAS:CURR?\n", b"6.499000E-02\n")])
    itc.current_a(0.065)
    assert itc.current_a() == pytest.approx(0.065)
    assert itc.measured_current_a() == pytest.approx(0.06499)
    port.assert_done()


def test_outputs_limit_and_tec_setpoint_bytes() -> None:
    itc, port = scripted([*CONNECT, (b"SOUR:CURR:LIM 0.5\n", None), OK,
                          (b"OUTP2 ON\n", None), OK, (b"SOUR2:TEMP 25C\n", None), OK,
                          (b"OUTP ON\n", None), OK, (b"OUTP?\n", b"1\n"),
                          (b"OUTP:PROT:INTL:TRIP?\n", b"0\n"), (b"OUTP:PROT:KEYL:TRIP?\n", b"0\n"),
                          (b"MEAS:TEMP?\n", b"2.500300E+01\n")])
    itc.current_limit_a(0.5)
    itc.tec_enabled(True)
    itc.temperature_setpoint_c(25)
    itc.output_enabled(True)
    assert itc.output_enabled() is True
    assert itc.interlock_tripped() is False and itc.keylock_tripped() is False
    assert itc.temperature_c() == pytest.approx(25.003)
    port.assert_done()


def test_a_refused_command_names_device_command_code_and_meaning() -> None:
    # the queue is read empty, so no stale error is left for the next command
    itc, port = scripted([*CONNECT, (b"OUTP ON\n", None),
                          (b"SYST:ERR?\n", b'-221,"Settings conflict"\n'), OK])
    with pytest.raises(DeviceFaultError) as err:
        itc.output_enabled(True)
    assert (err.value.instrument, err.value.code, err.value.meaning, err.value.request) == (
        "itc", -221, "Settings conflict", "OUTP ON")
    port.assert_done()


def test_out_of_range_is_rejected_before_any_byte() -> None:
    itc, port = scripted(CONNECT)
    itc.connect()
    with pytest.raises(ValueError, match="current_a"):
        itc.current_a(1.5)
    with pytest.raises(ValueError):
        itc.temperature_setpoint_c(60)
    port.assert_done()


def test_wrong_model_and_silence() -> None:
    itc, _ = scripted([(b"*CLS\n", None), OK, (b"*IDN?\n", b"Thorlabs,PM100D,P1,2.4.0\n")])
    with pytest.raises(ProtocolError, match="ITC4001"):
        itc.connect()
    itc.close()
    itc, _ = scripted([*CONNECT, (b"SOUR:CURR?\n", None), OK])
    with pytest.raises(TransportError):
        itc.current_a()


# -- the static pyvisa-sim dialogue ---------------------------------------------------
def test_pyvisa_sim_dialogue() -> None:
    itc = ITC4001("itc", USB, pyvisa_sim_file=SIM_FILE)
    assert itc.get_idn()["model"] == "ITC4001"
    itc.current_a(0.07)
    assert itc.current_a() == pytest.approx(0.07)
    itc.output_enabled(True)
    assert itc.output_enabled() is True
    assert isinstance(itc, PumpController)


# -- the bench's emulator -----------------------------------------------------------------
@pytest.fixture
def emulated() -> Iterator[tuple[ITC4001, Itc4001Emulator]]:
    make_bench({"seed": 3, "pair_rate_hz": 2e5})
    itc = ITC4001("itc", "sim://itc4001?bench=default&output=off&current_ma=50")
    emulator = itc.visa_handle.visalib.sessions[itc.visa_handle.session].interface.emulator
    assert isinstance(emulator, Itc4001Emulator)
    yield itc, emulator
    itc.close()


def test_emulator_serves_the_driver(emulated: tuple[ITC4001, Itc4001Emulator]) -> None:
    itc, emu = emulated
    assert itc.get_idn()["model"] == "ITC4001"
    assert itc.output_enabled() is False and itc.current_a() == pytest.approx(0.05)
    itc.current_a(0.09)
    itc.output_enabled(True)
    assert itc.measured_current_a() == pytest.approx(0.09)
    assert emu.received[:2] == ["*CLS", "SYST:ERR?"]


def test_emulator_interlock_and_limit_conflicts(emulated: tuple[ITC4001, Itc4001Emulator]) -> None:
    itc, emu = emulated
    emu.open_interlock()
    assert itc.interlock_tripped() is True
    with pytest.raises(DeviceFaultError) as err:
        itc.output_enabled(True)
    assert err.value.code == -221
    emu.close_interlock()
    itc.output_enabled(True)
    emu.open_interlock()
    assert itc.output_enabled() is False  # opening the interlock switched it off
    with pytest.raises(DeviceFaultError, match="-221"):
        itc.current_limit_a(0.01)  # below the setpoint


def test_emulator_garbled_reply_is_a_protocol_error(emulated: tuple[ITC4001, Itc4001Emulator]) -> None:
    itc, emu = emulated
    itc.connect()
    emu.inject(Fault.GARBLED)
    with pytest.raises(ProtocolError, match="not ASCII"):
        itc.current_a()
    assert itc.current_a() == pytest.approx(0.05)  # the next exchange is clean again


def test_emulator_error_queue_overflow_and_headers() -> None:
    make_bench({"seed": 3})
    emu = build_emulator("itc4001", {"bench": "default"})
    assert isinstance(emu, Itc4001Emulator)

    def ask(message: str) -> bytes:
        emu.receive(message.encode() + b"\n")
        return emu.read(200, 1.0)

    # short and long forms, any case, optional nodes, several units in one message
    assert ask("source:current:level:amplitude 0.065;:SOUR:CURR?") == b"6.500000E-02\n"
    assert ask("SOURce1:CURRent?") == b"6.500000E-02\n"
    for _ in range(12):
        emu.receive(b"BOGUS 1\n")
    replies = [ask("SYST:ERR?") for _ in range(11)]
    assert replies[:9] == [b'-113,"Undefined header"\n'] * 9
    assert replies[9] == b'-350,"Error queue overflow"\n'
    assert replies[10] == b'+0,"No error"\n'
    emu.receive(b"SOUR:CURR 2\n")
    assert ask("SYST:ERR?") == b'-222,"Data out of range"\n'
    emu.receive(b"SOUR:CURR abc\n*CLS\n")
    assert ask("SYST:ERR?") == b'+0,"No error"\n'
    emu.inject(Fault.TIMEOUT)
    assert ask("*IDN?") == b""


def test_header_patterns() -> None:
    rx = header_pattern("SOURce[1] CURRent [LEVel] [IMMediate] [AMPLitude]")
    for ok in ("SOUR:CURR:", "SOURCE:CURRENT:LEVEL:IMMEDIATE:AMPLITUDE:", "sour1:curr:ampl:"):
        assert rx.match(ok), ok
    for bad in ("SOU:CURR:", "SOUR:CURR:LIM:", "SOUR2:CURR:", "SOURC:CURR:"):
        assert not rx.match(bad), bad
    with pytest.raises(ValueError):
        header_pattern("SOURce[1 CURRent")
