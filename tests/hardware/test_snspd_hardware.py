"""The Eos behaviour tests on a real controller (skipped unless
``--device-address HOST[:PORT]`` names one; a serial port is skipped).

They only read, or write back values the controller already holds, and
change the measurement period for a moment: no bias is changed, so no
detector is latched or exposed.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from qnic.instruments.detectors.single_quantum import SingleQuantumEos

pytestmark = pytest.mark.hardware


@pytest.fixture
def eos(device_address: str) -> Iterator[SingleQuantumEos]:
    if device_address.startswith(("/dev/", "COM", "sim://")):
        pytest.skip(f"{device_address} is a serial port, not an Eos address")
    driver = SingleQuantumEos("hw_eos", device_address, timeout_s=5.0)
    yield driver
    driver.close()


def test_identifies_as_an_eos(eos: SingleQuantumEos) -> None:
    n = eos.number_of_detectors()
    assert n >= 1
    assert len(eos.bias_currents_ua()) == n and len(eos.trigger_levels_mv()) == n
    assert len(eos.bias_voltages_mv()) == n


def test_writing_back_the_bias_is_confirmed(eos: SingleQuantumEos) -> None:
    bias = eos.bias_currents_ua()
    eos.bias_currents_ua(bias)
    assert eos.bias_currents_ua() == pytest.approx(bias, abs=0.01)


def test_counts_arrive_once_per_measurement_period(eos: SingleQuantumEos) -> None:
    period = eos.measurement_period_ms()
    try:
        eos.measurement_period_ms(20)
        readings = eos.read_counts(10)
    finally:
        eos.measurement_period_ms(period)
    stamps = [r.time_s for r in readings]
    assert all(r.duration_s == 0.02 for r in readings)
    assert stamps == sorted(stamps)
    steps = [b - a for a, b in zip(stamps, stamps[1:])]
    assert all(0.01 < s < 0.05 for s in steps), steps
    assert all(n >= 0 for r in readings for n in r.counts.values())


def test_bias_outside_the_range_is_rejected_before_sending(eos: SingleQuantumEos) -> None:
    with pytest.raises(ValueError):
        eos.bias_currents_ua([95.0] * eos.number_of_detectors())
