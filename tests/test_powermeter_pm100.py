"""PM100D driver: exact SCPI bytes, the pyvisa-sim dialogue, and the bench's emulator.

Byte tests are (sent, reply) pairs with the PM100 command set of
docs/protocols.md section 8, LF-terminated, written out literally.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from benches import make_bench
from scripted_port import ScriptedPort

from qnic.instruments.errors import DeviceFaultError, ProtocolError
from qnic.instruments.lasers.protocol import PowerMeter
from qnic.instruments.powermeters.pm100 import PM100D
from qnic.sim.devices import build_emulator
from qnic.sim.visa.power_meter import SAMPLE_S, Pm100dEmulator
from qnic.sim.visa.pump import pump_of

OK = (b"SYST:ERR?\n", b'+0,"No error"\n')
CONNECT = [(b"*CLS\n", None), OK, (b"*IDN?\n", b"Thorlabs,PM100D,P0007837,2.4.0\n"),
           (b"SYST:SENS:IDN?\n", b"S120C,11040512,10-Jan-2011,1,18,289\n"),
           (b"SENS:POW:UNIT W\n", None), OK,
           (b"SENS:CORR:WAV? MIN\n", b"4.000000E+02\n"),
           (b"SENS:CORR:WAV? MAX\n", b"1.100000E+03\n")]


def scripted(script: list[tuple[bytes, bytes | None]]) -> tuple[PM100D, ScriptedPort]:
    port = ScriptedPort(script)
    return PM100D("pm", "scripted", port=port), port


def test_connects_reads_the_sensor_and_sets_watts() -> None:
    pm, port = scripted(CONNECT)
    assert pm.get_idn()["serial"] == "P0007837"
    assert pm.sensor == ("S120C", "11040512")
    assert pm.wavelength_nm.vals.valid_values == (400.0, 1100.0)  # type: ignore[union-attr]
    port.assert_done()


def test_wavelength_averaging_range_and_power_bytes() -> None:
    pm, port = scripted([*CONNECT, (b"SENS:CORR:WAV 405\n", None), OK,
                         (b"SENS:CORR:WAV?\n", b"4.050000E+02\n"),
                         (b"SENS:AVER:COUN 100\n", None), OK, (b"SENS:AVER:COUN?\n", b"100\n"),
                         (b"SENS:POW:RANG:AUTO ON\n", None), OK,
                         (b"MEAS:POW?\n", b"4.500123E-04\n")])
    pm.wavelength_nm(405)
    assert pm.wavelength_nm() == 405.0
    pm.averaging_count(100)
    assert pm.averaging_count() == 100
    pm.auto_range_enabled(True)
    assert pm.read_power_w() == pytest.approx(4.500123e-4)
    port.assert_done()


def test_rejects_out_of_sensor_range_and_reports_device_errors() -> None:
    pm, port = scripted([*CONNECT, (b"SENS:CORR:WAV 1000\n", None),
                         (b"SYST:ERR?\n", b'-222,"Data out of range"\n'), OK])
    pm.connect()
    with pytest.raises(ValueError):
        pm.wavelength_nm(1200)  # beyond the sensor's range read on connection: no byte
    with pytest.raises(ValueError):
        pm.averaging_count(0)
    with pytest.raises(DeviceFaultError, match="Data out of range"):
        pm.wavelength_nm(1000)
    port.assert_done()


def test_garbled_sensor_reply() -> None:
    pm, _ = scripted([*CONNECT[:3], (b"SYST:SENS:IDN?\n", b"\n")])
    with pytest.raises(ProtocolError, match="sensor"):
        pm.connect()


def test_pyvisa_sim_dialogue() -> None:
    pm = PM100D("pm", "USB0::0x1313::0x8078::P0000001::INSTR",
                pyvisa_sim_file="qnic.sim.visa:thorlabs.yaml")
    assert pm.get_idn()["model"] == "PM100D"
    pm.wavelength_nm(405)
    assert pm.wavelength_nm() == 405.0
    assert pm.power_w() == pytest.approx(1e-4)
    assert isinstance(pm, PowerMeter)


def test_emulated_reading_follows_wavelength_and_takes_its_averaging_time() -> None:
    bench = make_bench({"seed": 11, "pair_rate_hz": 3e5})
    pm = PM100D("pm", "sim://pm100d?bench=default&noise_w=0")
    pump = pump_of(bench)
    pm.wavelength_nm(405)
    assert pm.power_w() == pytest.approx(pump.pickoff_power_w(), rel=1e-6)
    # a photodiode reads P * lambda_pump / lambda_set at another setting (8.3)
    pm.wavelength_nm(810)
    assert pm.power_w() == pytest.approx(pump.pickoff_power_w() / 2, rel=1e-6)
    pm.averaging_count(200)
    t0 = bench.clock.now()
    pm.power_w()
    assert bench.clock.now() - t0 == pytest.approx(200 * SAMPLE_S, abs=5e-3)


def test_emulated_noise_shrinks_with_averaging() -> None:
    make_bench({"seed": 5})
    emu = build_emulator("pm100d", {"bench": "default", "noise_w": "1e-6"})
    assert isinstance(emu, Pm100dEmulator)

    def readings(count: int, n: int) -> np.ndarray:
        emu.receive(f"SENS:CORR:WAV 405\nSENS:AVER:COUN {count}\n".encode())
        out = []
        for _ in range(n):
            emu.receive(b"MEAS:POW?\n")
            out.append(float(emu.read(100, 10.0)))
        return np.array(out)

    # the sample standard deviation of n Gaussian readings has relative
    # standard error ~ 1/sqrt(2(n-1)) = 0.05 for n = 200; 4 sigma = 20 %
    for count in (1, 100):
        s = readings(count, 200).std(ddof=1)
        assert s == pytest.approx(1e-6 / math.sqrt(count), rel=0.2)
