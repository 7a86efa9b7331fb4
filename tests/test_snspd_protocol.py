"""Expected-exchange tests of the Single Quantum Eos driver.

Every message the driver must send is a literal from
docs/protocols.md 5.3, spelled as the vendor's
WebSQControl.py sends it (``json.dumps``: ", " and ": " separators, key
order command, label, value; no terminator). Replies are the controller's
JSON objects, each ended by 0x17. Nothing here comes from the codec.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from qnic.instruments.detectors.single_quantum import SingleQuantumEos, parse_address
from qnic.instruments.errors import DeviceFaultError, ProtocolError, TransportError


class ScriptMismatch(AssertionError):
    pass


class ScriptedSocket:
    """A socket whose peer follows a script.

    ``script`` holds ordered (bytes the host must send, bytes the peer
    answers); a send is compared byte for byte and the first mismatch
    fails. ``arrived`` is what the peer had sent before the test began;
    ``later`` chunks arrive one per blocking receive (a receive with
    timeout 0 sees only what has arrived). A receive with nothing to give
    times out at once: the fake's timeout costs no time.
    """

    def __init__(self, script: Sequence[tuple[bytes, bytes | None]] = (), arrived: bytes = b"",
                 later: Sequence[bytes] = ()) -> None:
        self.script = list(script)
        self.sent: list[bytes] = []
        self.rx = bytearray(arrived)
        self.later = list(later)
        self.timeout: float | None = None
        self.closed = False

    def sendall(self, data: bytes) -> None:
        self.sent.append(bytes(data))
        if not self.script:
            raise ScriptMismatch(f"unexpected send {data!r}: the script is used up")
        expected, reply = self.script.pop(0)
        if data != expected:
            raise ScriptMismatch(f"sent {data!r}, the script expected {expected!r}")
        if reply is not None:
            self.rx += reply

    def settimeout(self, timeout: float | None) -> None:
        self.timeout = timeout

    def recv(self, size: int) -> bytes:
        if not self.rx and self.later and self.timeout != 0.0:
            self.rx += self.later.pop(0)
        if not self.rx:
            raise TimeoutError("timed out")
        out = bytes(self.rx[:size])
        del self.rx[:size]
        return out

    def close(self) -> None:
        self.closed = True

    def assert_done(self) -> None:
        if self.script:
            raise ScriptMismatch(f"script not used up: next expected send {self.script[0][0]!r}")


LABEL_PROPS = b'{"request": "labelProps", "value": "None"}'
# a two-detector controller's labelProps answer, objects run together as the
# controller may send them (docs/protocols.md 5.3: "several {}{} may arrive together")
PROPS_2 = (b'{"label": "NumberOfDetectors", "value": {"value": 2}}'
           b'{"label": "InptMeasurementPeriod", "value": {"value": 100, "unit": "ms"}}\x17'
           b'{"label": "BiasCurrent", "value": {"value": [0.0, 0.0], "unit": "uA"}}'
           b'{"label": "TriggerLevel", "value": {"value": [50.0, 50.0], "unit": "mV"}}'
           b'{"label": "DetectorEnable", "value": {"value": false}}\x17')
CONNECT = (LABEL_PROPS, PROPS_2)


def make(script: Sequence[tuple[bytes, bytes | None]], counts: ScriptedSocket | None = None,
         **kwargs: object) -> tuple[SingleQuantumEos, ScriptedSocket]:
    sock = ScriptedSocket(script)
    eos = SingleQuantumEos("eos", "192.168.1.1", port=sock, counts_socket=counts,
                           timeout_s=0.5, **kwargs)  # type: ignore[arg-type]
    return eos, sock


def test_connect_asks_for_every_label_and_reads_the_detector_count() -> None:
    eos, sock = make([CONNECT])
    assert eos.number_of_detectors() == 2
    assert eos.measurement_period_ms() == 100
    assert eos.bias_currents_ua() == [0.0, 0.0]
    assert eos.trigger_levels_mv() == [50.0, 50.0]
    assert eos.detectors_enabled() is False
    assert [ch.channel for ch in eos.detector_channels] == [1, 2]
    sock.assert_done()


def test_set_measurement_period() -> None:
    eos, sock = make([CONNECT, (
        b'{"command": "SetMeasurementPeriod", "label": "InptMeasurementPeriod", "value": 20}',
        b'{"label": "InptMeasurementPeriod", "value": 20}\x17')])
    eos.measurement_period_ms(20)
    assert eos.measurement_period_ms() == 20
    sock.assert_done()


def test_set_all_bias_currents_in_microamps() -> None:
    eos, sock = make([CONNECT, (
        b'{"command": "SetAllBiasCurrents", "label": "BiasCurrent", "value": [12.0, 8.0]}',
        b'{"label": "BiasCurrent", "value": [12.0, 8.0]}\x17')])
    eos.bias_currents_ua([12, 8])
    assert eos.bias_currents_ua() == [12.0, 8.0]
    sock.assert_done()


def test_one_channel_bias_sends_the_whole_list() -> None:
    eos, sock = make([CONNECT, (
        b'{"command": "SetAllBiasCurrents", "label": "BiasCurrent", "value": [0.0, 9.5]}',
        b'{"label": "BiasCurrent", "value": [0.0, 9.5]}\x17')], tagger_channels=[1, 2])
    eos.det2.bias_current_ua(9.5)
    assert eos.det2.bias_current_ua() == 9.5 and eos.det1.bias_current_ua() == 0.0
    sock.assert_done()


def test_set_all_trigger_levels_in_millivolts() -> None:
    eos, sock = make([CONNECT, (
        b'{"command": "SetAllTriggerLevels", "label": "TriggerLevel", "value": [23.0, 24.0]}',
        b'{"label": "TriggerLevel", "value": [23.0, 24.0]}\x17')])
    eos.trigger_levels_mv([23.0, 24.0])
    sock.assert_done()


def test_enable_detectors() -> None:
    eos, sock = make([CONNECT, (
        b'{"command": "DetectorEnable", "label": "DetectorEnable", "value": true}',
        b'{"label": "DetectorEnable", "value": true}\x17')])
    eos.detectors_enabled(True)
    assert eos.detectors_enabled() is True
    sock.assert_done()


def test_bias_voltage_is_requested() -> None:
    eos, sock = make([CONNECT, (b'{"request": "BiasVoltage"}',
                                b'{"label": "BiasVoltage", "value": [12.1, 8.2]}\x17')])
    assert eos.bias_voltages_mv() == [12.1, 8.2]
    sock.assert_done()


def test_automatic_bias_calibration() -> None:
    eos, sock = make([
        CONNECT,
        (b'{"command": "DarkCountsAutoIV", "value": [100, 100]}', None),
        (b'{"command": "AutoCaliBiasCurrents", "value": true}',
         (b'{"label": "StartAutoIV", "value": true}\x17'
          b'{"label": "BiasCurrentAutoIV", "value": [11.25, 10.5]}\x17'
          b'{"label": "StartAutoIV", "value": false}\x17')),
        (b'{"command": "SetAllBiasCurrents", "label": "BiasCurrent", "value": [11.25, 10.5]}',
         b'{"label": "BiasCurrent", "value": [11.25, 10.5]}\x17')])
    assert eos.auto_calibrate_bias([100, 100]) == [11.25, 10.5]
    assert eos.bias_currents_ua() == [11.25, 10.5]
    sock.assert_done()


def test_a_broadcast_that_arrives_between_commands_is_filed() -> None:
    eos, sock = make([CONNECT])
    eos.connect()
    sock.rx += b'{"label": "BiasCurrent", "value": [3.0, 4.0]}\x17'  # e.g. set from the web page
    assert eos.bias_currents_ua() == [3.0, 4.0]


# -- bad input and bad devices ----------------------------------------------------------
@pytest.mark.parametrize("bias", [[91.0, 0.0], [0.0, -95.5]])
def test_bias_outside_the_range_is_rejected_before_sending(bias: list[float]) -> None:
    eos, sock = make([], tagger_channels=[1, 2])
    with pytest.raises(ValueError, match="between -90.9 and 90.9"):
        eos.bias_currents_ua(bias)
    with pytest.raises(ValueError):
        eos.det1.bias_current_ua(bias[0] or bias[1])
    assert sock.sent == []


def test_measurement_period_below_10_ms_is_rejected_before_sending() -> None:
    eos, sock = make([])
    with pytest.raises(ValueError):
        eos.measurement_period_ms(5)
    assert sock.sent == []


def test_a_list_of_the_wrong_length_is_rejected_before_the_command() -> None:
    eos, sock = make([CONNECT])
    with pytest.raises(ValueError, match="expected 2 values"):
        eos.bias_currents_ua([1.0, 2.0, 3.0])
    assert sock.sent == [LABEL_PROPS]


def test_an_address_that_answers_as_another_device_names_what_was_expected() -> None:
    # an Elliptec rotator's IN reply (docs/protocols.md 1.5) where an Eos should answer
    eos, _ = make([(LABEL_PROPS, b"0IN0E1140060520201501016800023000\r\n")])
    with pytest.raises(ProtocolError, match="Single Quantum Eos control port") as err:
        eos.connect()
    assert b"0IN0E" in err.value.reply


def test_a_json_device_that_is_not_an_eos_is_refused() -> None:
    eos, _ = make([(LABEL_PROPS, b'{"jsonrpc": "2.0", "id": 1, "result": {}}\x17')])
    with pytest.raises(ProtocolError, match="Single Quantum Eos.*lacks.*NumberOfDetectors"):
        eos.connect()


def test_silence_is_a_transport_error_naming_the_expected_device() -> None:
    eos, _ = make([(LABEL_PROPS, None)])
    with pytest.raises(TransportError, match="no reply.*Single Quantum Eos"):
        eos.connect()


def test_an_error_broadcast_raises_with_the_request() -> None:
    request = b'{"command": "SetAllBiasCurrents", "label": "BiasCurrent", "value": [1.0, 2.0]}'
    eos, _ = make([CONNECT, (request, b'{"label": "Error", "value": "bias out of range"}\x17')])
    with pytest.raises(DeviceFaultError, match="bias out of range") as err:
        eos.bias_currents_ua([1.0, 2.0])
    assert err.value.request == request


def test_a_set_the_controller_does_not_confirm_times_out() -> None:
    eos, _ = make([CONNECT, (
        b'{"command": "DetectorEnable", "label": "DetectorEnable", "value": true}', None)])
    with pytest.raises(TransportError, match="no DetectorEnable broadcast"):
        eos.detectors_enabled(True)


def test_a_set_the_controller_changes_is_not_silently_accepted() -> None:
    eos, _ = make([CONNECT, (
        b'{"command": "SetAllBiasCurrents", "label": "BiasCurrent", "value": [30.0, 2.0]}',
        b'{"label": "BiasCurrent", "value": [25.0, 2.0]}\x17')])
    with pytest.raises(ProtocolError, match=r"reports BiasCurrent = \[25.0, 2.0\]"):
        eos.bias_currents_ua([30.0, 2.0])


def test_a_garbled_reply_is_a_protocol_error() -> None:
    eos, _ = make([CONNECT, (b'{"request": "BiasVoltage"}', b'{"label": "BiasVol\xfe\xff\x17')])
    with pytest.raises(ProtocolError):
        eos.bias_voltages_mv()


def test_a_truncated_reply_is_a_protocol_error() -> None:
    eos, _ = make([CONNECT, (b'{"request": "BiasVoltage"}', b'{"label": "BiasVoltage", "val')])
    with pytest.raises(ProtocolError, match="no 0x17"):
        eos.bias_voltages_mv()


# -- the counts port -------------------------------------------------------------------
def test_counts_drop_the_buffered_lines_and_the_period_in_progress() -> None:
    counts = ScriptedSocket(
        arrived=b"1700000000.100,5,6\n1700000000.2",  # stale lines, the last one partial
        later=[b"00,7,8\n", b"1700000000.300,9,10\n1700000000.400,11,12\n"])
    eos, sock = make([CONNECT], counts=counts, tagger_channels=[3, 4])
    readings = eos.read_counts(2)
    assert [r.counts for r in readings] == [{3: 9, 4: 10}, {3: 11, 4: 12}]
    assert [r.time_s for r in readings] == [1700000000.3, 1700000000.4]
    assert all(r.duration_s == 0.1 for r in readings)
    assert readings[0].rates_hz() == {3: 90.0, 4: 100.0}
    sock.assert_done()


def test_a_count_line_of_the_wrong_shape_is_a_protocol_error() -> None:
    counts = ScriptedSocket(later=[b"1700000000.100,5\n", b"1700000000.200,5\n"])
    eos, _ = make([CONNECT], counts=counts)
    with pytest.raises(ProtocolError, match="expected count lines"):
        eos.read_counts(1)


def test_a_silent_counts_port_is_a_transport_error() -> None:
    eos, _ = make([CONNECT], counts=ScriptedSocket())
    with pytest.raises(TransportError, match="no count line"):
        eos.read_counts(1)


def test_tagger_channels_must_match_the_detector_count() -> None:
    eos, _ = make([CONNECT], tagger_channels=[1, 2, 3])
    with pytest.raises(ProtocolError, match="3 tagger channels"):
        eos.connect()


@pytest.mark.parametrize("address, expected", [
    ("192.168.1.1", ("192.168.1.1", 12000, None)),
    ("eos.lab:12001", ("eos.lab", 12001, None)),
    ("tcp://127.0.0.1:5000", ("127.0.0.1", 5000, None)),
    ("tcp://127.0.0.1:5000?counts=5001", ("127.0.0.1", 5000, 5001)),
])
def test_addresses(address: str, expected: tuple[str, int, int | None]) -> None:
    assert parse_address(address) == expected


def test_a_bad_address_scheme_is_refused() -> None:
    with pytest.raises(ValueError, match="tcp://HOST:PORT"):
        SingleQuantumEos("eos", "http://127.0.0.1:5000")


def test_every_detector_parameter_has_unit_validator_and_docstring() -> None:
    eos, sock = make([], tagger_channels=[5, 6])
    assert [ch.channel for ch in eos.detector_channels] == [5, 6]
    for ch in eos.detector_channels:
        for p in ch.parameters.values():
            assert p.unit is not None and p.vals is not None and p.__doc__ and p.label, p
    assert sock.sent == []
