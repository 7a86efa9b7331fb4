"""Behaviour of the Eos driver through the loopback emulator on a bench.

The expected values are the documented model (qnic.sim.snspd_emulator
SnspdModel, written out here again): efficiency factor
f(I) = 1 / (1 + exp(-(I - 10 uA) / 0.8 uA)); dark counts
50 Hz * f(I) + 1e4 Hz * exp((I - 15 uA) / 0.5 uA); latching above 15 uA
until the bias is at most 5 uA. Singles = pair rate * transmission *
efficiency * 1/2 * f(I) + dark(I). Counts are checked within 4 Poisson
sigma.
"""

from __future__ import annotations

import math
import socket
import threading
from collections.abc import Iterator

import pytest
from benches import make_bench

from qnic.instruments.detectors.protocol import Detector
from qnic.instruments.detectors.single_quantum import SingleQuantumEos
from qnic.instruments.errors import DeviceFaultError, ProtocolError, TransportError
from qnic.sim.bench import Bench
from qnic.sim.snspd_emulator import EosEmulator, EosFault
from qnic.sim.tagger import SimulatedTimeTagger

SNSPD = {"efficiency": 0.8, "dark_count_hz": 50.0, "jitter_ps": 20.0, "dead_time_ns": 0.0,
         "afterpulse_probability": 0.0}
PAIR_HZ, TRANSMISSION = 2e5, 0.25
SIM = {"name": "snspd", "seed": 11, "pair_rate_hz": PAIR_HZ,
       "A": {"transmission": TRANSMISSION, "detectors": {1: {"outcome": 0, **SNSPD},
                                                         2: {"outcome": 1, **SNSPD}}},
       "B": {"transmission": TRANSMISSION, "detectors": {3: {"outcome": 0, **SNSPD},
                                                         4: {"outcome": 1, **SNSPD}}}}
PERIOD_S = 0.01


def f(bias_ua: float) -> float:
    return 1.0 / (1.0 + math.exp(-(bias_ua - 10.0) / 0.8))


def dark_hz(bias_ua: float) -> float:
    return 50.0 * f(bias_ua) + 1e4 * math.exp((bias_ua - 15.0) / 0.5)


def singles_hz(bias_ua: float, light: bool = True) -> float:
    photons = PAIR_HZ * TRANSMISSION * 0.8 * 0.5 * f(bias_ua) if light else 0.0
    return photons + dark_hz(bias_ua)


def assert_poisson(observed: int, expected: float) -> None:
    assert abs(observed - expected) <= 4 * math.sqrt(expected) + 1, (observed, expected)


@pytest.fixture
def bench() -> Bench:
    return make_bench(SIM)


@pytest.fixture
def emulator(bench: Bench) -> Iterator[EosEmulator]:
    with EosEmulator(bench, channels=(1, 2, 3, 4), period_ms=10, speedup=20) as emu:
        yield emu


@pytest.fixture
def eos(emulator: EosEmulator) -> Iterator[SingleQuantumEos]:
    driver = SingleQuantumEos("eos", emulator.address, timeout_s=2.0)
    try:
        yield driver
    finally:
        driver.close()


def totals(eos: SingleQuantumEos, n: int) -> dict[int, int]:
    readings = eos.read_counts(n)
    assert len(readings) == n
    return {ch: sum(r.counts[ch] for r in readings) for ch in (1, 2, 3, 4)}


def test_connects_and_reads_its_power_up_state(eos: SingleQuantumEos) -> None:
    assert eos.number_of_detectors() == 4
    assert eos.measurement_period_ms() == 10
    assert eos.bias_currents_ua() == [0.0] * 4
    assert eos.detectors_enabled() is False
    assert all(isinstance(ch, Detector) for ch in eos.detector_channels)


def test_counts_follow_the_bench_rates_at_the_bias(eos: SingleQuantumEos) -> None:
    eos.detectors_enabled(True)
    eos.bias_currents_ua([12.0] * 4)
    n = 100
    for count in totals(eos, n).values():
        assert_poisson(count, singles_hz(12.0) * n * PERIOD_S)


def test_efficiency_rises_sigmoidally_to_its_plateau(eos: SingleQuantumEos) -> None:
    biases = [9.0, 10.0, 11.0, 13.5]
    eos.detectors_enabled(True)
    eos.bias_currents_ua(biases)
    n = 100
    got = totals(eos, n)
    for ch, bias in zip((1, 2, 3, 4), biases):
        assert_poisson(got[ch], singles_hz(bias) * n * PERIOD_S)
    assert got[1] < got[2] < got[3] < got[4]
    # on the plateau the detector counts nearly every photon: f(13.5) > 0.98
    assert got[4] > 0.95 * PAIR_HZ * TRANSMISSION * 0.8 * 0.5 * n * PERIOD_S


def test_dark_counts_rise_exponentially_near_the_switching_current(
        bench: Bench, eos: SingleQuantumEos) -> None:
    bench.source_enabled = False
    biases = [10.0, 13.0, 14.0, 14.8]
    eos.detectors_enabled(True)
    eos.bias_currents_ua(biases)
    n = 100
    got = totals(eos, n)
    for ch, bias in zip((1, 2, 3, 4), biases):
        assert_poisson(got[ch], dark_hz(bias) * n * PERIOD_S)
    assert got[4] > 20 * got[2]  # e^((14.8 - 13) / 0.5) ~ 36 times the intrinsic part


def test_a_bias_above_the_switching_current_latches_until_reset(eos: SingleQuantumEos) -> None:
    eos.detectors_enabled(True)
    eos.bias_currents_ua([12.0] * 4)
    eos.det2.bias_current_ua(15.5)
    latched = totals(eos, 20)
    assert latched[2] == 0 and latched[1] > 0
    volts = eos.bias_voltages_mv()
    assert volts[1] > 100 * volts[0]  # the normal wire drops a large voltage
    eos.det2.bias_current_ua(12.0)  # above the retrapping current: still latched
    assert totals(eos, 20)[2] == 0
    eos.det2.bias_current_ua(0.0)  # reset
    eos.det2.bias_current_ua(12.0)
    assert_poisson(totals(eos, 100)[2], singles_hz(12.0) * 100 * PERIOD_S)


def test_disabling_the_outputs_resets_a_latched_detector(eos: SingleQuantumEos) -> None:
    eos.detectors_enabled(True)
    eos.bias_currents_ua([16.0, 12.0, 12.0, 12.0])
    assert totals(eos, 10)[1] == 0
    eos.detectors_enabled(False)
    assert totals(eos, 10) == {1: 0, 2: 0, 3: 0, 4: 0}
    eos.det1.bias_current_ua(12.0)
    eos.detectors_enabled(True)
    assert_poisson(totals(eos, 50)[1], singles_hz(12.0) * 50 * PERIOD_S)


def test_disable_unbiases_and_enable_restores_one_detector(eos: SingleQuantumEos) -> None:
    eos.detectors_enabled(True)
    eos.bias_currents_ua([12.0, 11.0, 12.0, 12.0])
    eos.det2.disable()
    assert eos.bias_currents_ua() == [12.0, 0.0, 12.0, 12.0]
    assert not eos.det2.is_enabled() and eos.det1.is_enabled()
    assert totals(eos, 10)[2] == 0
    eos.det2.enable()
    assert eos.bias_currents_ua()[1] == 11.0


def test_the_tagger_sees_what_the_controller_decides(bench: Bench, eos: SingleQuantumEos) -> None:
    tagger = SimulatedTimeTagger("tagger", bench="snspd")
    eos.detectors_enabled(True)
    eos.bias_currents_ua([12.0, 16.0, 0.0, 10.0])  # counting, latched, unbiased, half
    duration_s = 0.5
    counts = tagger.acquire(duration_s).counts()
    assert counts.get(2, 0) == 0 and counts.get(3, 0) == 0
    assert_poisson(counts[1], singles_hz(12.0) * duration_s)
    assert_poisson(counts[4], singles_hz(10.0) * duration_s)


def test_automatic_calibration_finds_the_bias_of_the_target_dark_counts(
        bench: Bench, eos: SingleQuantumEos) -> None:
    bench.source_enabled = False  # calibrate in the dark
    eos.detectors_enabled(True)
    targets = [100, 1000, 100, 300]
    found = eos.auto_calibrate_bias(targets)
    assert eos.bias_currents_ua() == found
    assert all(10.0 < b < 15.0 for b in found) and found[1] > found[0]
    n = 100
    got = totals(eos, n)
    for ch, target in zip((1, 2, 3, 4), targets):
        assert_poisson(got[ch], target * n * PERIOD_S)


def test_a_longer_measurement_period_counts_longer(eos: SingleQuantumEos) -> None:
    eos.detectors_enabled(True)
    eos.bias_currents_ua([12.0] * 4)
    eos.measurement_period_ms(20)
    readings = eos.read_counts(50)
    assert all(r.duration_s == 0.02 for r in readings)
    assert_poisson(sum(r.counts[1] for r in readings), singles_hz(12.0) * 50 * 0.02)
    rates = eos.count_rates_hz(50)
    assert abs(rates[3] - singles_hz(12.0)) <= 4 * math.sqrt(singles_hz(12.0) / 1.0) + 1


def test_the_counts_port_is_not_a_control_port(emulator: EosEmulator) -> None:
    wrong = SingleQuantumEos("wrong", f"127.0.0.1:{emulator.counts_port}", timeout_s=2.0)
    try:
        with pytest.raises(ProtocolError, match="Single Quantum Eos control port"):
            wrong.connect()
    finally:
        wrong.close()


@pytest.mark.parametrize("fault, error, match", [
    (EosFault.ERROR, DeviceFaultError, "Error: refused"),
    (EosFault.SILENT, TransportError, "no BiasCurrent broadcast"),
    (EosFault.GARBLED, ProtocolError, "Single Quantum Eos"),
])
def test_injected_faults_raise_named_errors(emulator: EosEmulator, fault: EosFault,
                                            error: type[Exception], match: str) -> None:
    eos = SingleQuantumEos("eos_f", emulator.address, timeout_s=0.3)
    try:
        eos.connect()
        emulator.inject(fault)
        with pytest.raises(error, match=match):
            eos.bias_currents_ua([1.0, 2.0, 3.0, 4.0])
    finally:
        eos.close()


def test_a_disconnect_is_a_transport_error_and_the_next_call_reconnects(
        emulator: EosEmulator, eos: SingleQuantumEos) -> None:
    eos.detectors_enabled(True)
    eos.bias_currents_ua([12.0] * 4)
    assert eos.read_counts(2)[0].counts[1] > 0
    emulator.inject(EosFault.DISCONNECT)
    with pytest.raises(TransportError):
        eos.detectors_enabled(True)
    with pytest.raises(TransportError):
        eos.read_counts(1)
    assert eos.bias_currents_ua() == [12.0] * 4  # the controller kept its state
    assert eos.read_counts(2)[1].counts[1] > 0
    assert {"command": "DetectorEnable", "label": "DetectorEnable", "value": True} \
        in emulator.received


def test_the_emulator_stops_its_threads_and_frees_its_ports(bench: Bench) -> None:
    with EosEmulator(bench, period_ms=10) as emu:
        port = emu.control_port
        eos = SingleQuantumEos("eos_s", emu.address, timeout_s=1.0)
        eos.connect()
    eos.close()
    names = {t.name for t in threading.enumerate()}
    assert "eos-control" not in names and "eos-counts" not in names
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1.0).close()
