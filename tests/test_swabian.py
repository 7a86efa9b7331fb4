"""SwabianTimeTagger against a fake of the vendor API (tests/fakes/swabian_api.py).

Expected-call tests list the exact vendor calls, in order and with their
arguments, the way byte tests list bytes; the rest checks the conversion of
stream buffers into TagBatch objects, validation, and the missing package.
"""

from __future__ import annotations

import importlib.util
import itertools
import sys
from collections.abc import Iterator

import numpy as np
import pytest
from fakes.swabian_api import (
    CHANNEL_UNUSED,
    ChannelEdge,
    FakeDevice,
    FakeTimeTaggerAPI,
    TagType,
    call,
)

from qnic.instruments.errors import (
    DeviceFaultError,
    InstrumentError,
    ProtocolError,
    TransportError,
)
from qnic.instruments.timetaggers.protocol import TimeTagger
from qnic.instruments.timetaggers.swabian import (
    SwabianAPIError,
    SwabianTimeTagger,
    VendorPackageMissingError,
)
from qnic.instruments.timetaggers.swabian_stream import StreamBuffer, StreamDecoder

SERIAL = "1910000ABC"
T0 = 7_000_000_000  # the fake device's time when the test starts (ps since start-up)
MS = 1_000_000_000  # ps
TT = "TimeTagger"
TS = "TimeTagStream"
SM = "SynchronizedMeasurements"
TAGGER = f"<TimeTagger {SERIAL}>"
PROXY = f"<proxy of <SynchronizedMeasurements {SERIAL}>>"
CONNECT = [call("createTimeTagger", SERIAL), call(f"{TT}.getModel"), call(f"{TT}.getSerial"),
           call(f"{TT}.getFirmwareVersion"), call(f"{TT}.getChannelList", ChannelEdge.Rising),
           *[call(f"{TT}.getTriggerLevelRange", ch) for ch in (1, 2, 3, 4)]]


def _start(n_max: int, duration_ps: int) -> list[tuple[object, ...]]:
    return [call(SM, TAGGER), call(f"{SM}.getTagger"), call(TS, PROXY, n_max, [1, 2, 3, 4]),
            call(f"{SM}.startFor", duration_ps)]


def _poll(timeout_ms: int) -> list[tuple[object, ...]]:
    return [call(f"{TS}.isRunning"), call(f"{TS}.waitUntilFinished", timeout_ms),
            call(f"{TS}.getData")]


FINAL = [call(f"{TS}.isRunning"), call(f"{TS}.getData")]


@pytest.fixture
def device() -> FakeDevice:
    return FakeDevice(SERIAL, model="Time Tagger Ultra", channels=(1, 2, 3, 4), start_ps=T0)


@pytest.fixture
def api(device: FakeDevice) -> FakeTimeTaggerAPI:
    return FakeTimeTaggerAPI(device)


@pytest.fixture
def tagger(api: FakeTimeTaggerAPI) -> Iterator[SwabianTimeTagger]:
    tt = SwabianTimeTagger("swabian", SERIAL, api=api, poll_s=0.1, stream_buffer_events=1000)
    yield tt
    tt.close()


@pytest.fixture
def connected(tagger: SwabianTimeTagger, api: FakeTimeTaggerAPI) -> SwabianTimeTagger:
    tagger.connect()
    api.calls.clear()
    return tagger


# -- connection and identity ------------------------------------------------------------
def test_construction_and_snapshot_make_no_vendor_call(tagger: SwabianTimeTagger,
                                                       api: FakeTimeTaggerAPI) -> None:
    tagger.snapshot(update=False)
    assert api.calls == []


def test_connect_opens_by_serial_and_reads_identity_and_inputs(
        tagger: SwabianTimeTagger, api: FakeTimeTaggerAPI) -> None:
    tagger.connect()
    tagger.connect()  # once only
    assert api.calls == CONNECT
    assert tagger.input_channels == (1, 2, 3, 4)
    assert tagger.get_idn() == {"vendor": "Swabian Instruments", "model": "Time Tagger Ultra",
                                "serial": SERIAL, "firmware": "FW 5 (fake)"}
    idn = tagger.snapshot(update=False)["parameters"]["IDN"]["value"]
    assert (idn["serial"], idn["model"]) == (SERIAL, "Time Tagger Ultra")
    assert isinstance(tagger, TimeTagger)


def test_every_input_parameter_is_documented(connected: SwabianTimeTagger) -> None:
    params = [p for inp in (connected.get_input(c) for c in connected.input_channels)
              for p in inp.parameters.values()]
    assert len(params) == 16
    for p in params:
        assert p.unit is not None and p.vals is not None and p.__doc__ and p.label, p.full_name


def test_first_use_connects(tagger: SwabianTimeTagger, api: FakeTimeTaggerAPI) -> None:
    tagger.set_trigger_level(1, 0.3)
    assert api.calls == [*CONNECT, call(f"{TT}.setTriggerLevel", 1, 0.3)]


def test_absent_serial_is_a_transport_error_with_the_vendor_message(
        api: FakeTimeTaggerAPI) -> None:
    tt = SwabianTimeTagger("swabian_absent", "0000NOPE", api=api)
    with pytest.raises(TransportError, match=r"swabian_absent.*No Time Tagger attached"
                                             r".*createTimeTagger\('0000NOPE'\)"):
        tt.connect()
    assert api.calls == [call("createTimeTagger", "0000NOPE")]


def test_close_frees_the_tagger(tagger: SwabianTimeTagger, api: FakeTimeTaggerAPI) -> None:
    tagger.connect()
    api.calls.clear()
    tagger.close()
    assert api.calls == [call("freeTimeTagger", TAGGER)]
    assert api.open == {}


# -- settings -----------------------------------------------------------------------------
def test_settings_make_exactly_these_calls(connected: SwabianTimeTagger,
                                           api: FakeTimeTaggerAPI, device: FakeDevice) -> None:
    connected.set_trigger_level(2, 0.25)
    connected.set_input_delay(3, -1500)
    assert connected.set_dead_time(1, 10_000) == 10_000
    connected.set_test_signal([1, 2], True)
    connected.ch4.test_signal_enabled(False)
    assert connected.ch2.trigger_level_v() == 0.25
    assert connected.ch3.delay_ps() == -1500
    assert api.calls == [
        call(f"{TT}.setTriggerLevel", 2, 0.25), call(f"{TT}.setInputDelay", 3, -1500),
        call(f"{TT}.setDeadtime", 1, 10_000), call(f"{TT}.setTestSignal", [1, 2], True),
        call(f"{TT}.setTestSignal", 4, False), call(f"{TT}.getTriggerLevel", 2),
        call(f"{TT}.getInputDelay", 3)]
    assert device.test_signal == {1, 2}
    assert connected.ch1.test_signal_enabled() is True


def test_dead_time_reads_the_value_the_device_rounded_to() -> None:
    api = FakeTimeTaggerAPI(FakeDevice("TT20", model="Time Tagger 20"))
    tt = SwabianTimeTagger("swabian_tt20", "TT20", api=api)
    assert tt.set_dead_time(1, 10_000) == 12_000
    assert tt.ch1.dead_time_ps() == 12_000
    with pytest.raises(ValueError, match="between 6000 and 393000000"):
        tt.set_dead_time(1, 2_000)


def test_trigger_level_reads_back_the_dac_value() -> None:
    api = FakeTimeTaggerAPI(FakeDevice("DAC", trigger_dac_step_v=0.01))
    tt = SwabianTimeTagger("swabian_dac", "DAC", api=api)
    tt.set_trigger_level(1, 0.123)
    assert tt.ch1.trigger_level_v() == pytest.approx(0.12)


@pytest.mark.parametrize(("model", "limit"), [("Time Tagger Ultra", 2_000_000),
                                              ("Time Tagger X", 2_500_000)])
def test_delay_range_is_the_models(model: str, limit: int) -> None:
    api = FakeTimeTaggerAPI(FakeDevice("M", model=model))
    tt = SwabianTimeTagger("swabian_model", "M", api=api)
    tt.set_input_delay(1, -limit)
    assert tt.ch1.delay_ps() == -limit
    n = len(api.calls)
    with pytest.raises(ValueError, match=f"must be between {-limit} and {limit}.*ch1.delay_ps"):
        tt.set_input_delay(1, limit + 1)
    assert len(api.calls) == n


def test_bad_channel_and_values_fail_before_any_call(connected: SwabianTimeTagger,
                                                     api: FakeTimeTaggerAPI) -> None:
    with pytest.raises(ValueError, match=r"no input channel 5; expected one of \[1, 2, 3, 4\]"):
        connected.set_input_delay(5, 0)
    with pytest.raises(ValueError, match=r"no input channel -1; expected one of"):
        connected.set_trigger_level(-1, 0.1)
    with pytest.raises(ValueError, match=r"between -2.5 and 2.5"):
        connected.set_trigger_level(1, 3.0)
    with pytest.raises(TypeError, match="not an int"):
        connected.set_input_delay(1, 1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="between 2000 and 2147000000"):
        connected.set_dead_time(2, 1_000)
    with pytest.raises(ValueError, match=r"no input channel 9"):
        connected.set_test_signal([1, 9], True)
    assert api.calls == []


def test_a_vendor_exception_names_the_call_and_keeps_the_original(
        connected: SwabianTimeTagger, api: FakeTimeTaggerAPI) -> None:
    api.freeTimeTagger(api.open[SERIAL])  # freed behind the driver's back
    with pytest.raises(SwabianAPIError, match=r"swabian: setTriggerLevel\(1, 0\.3\) failed") as e:
        connected.set_trigger_level(1, 0.3)
    assert isinstance(e.value.__cause__, RuntimeError)
    assert isinstance(e.value, InstrumentError)


# -- acquisition: calls ----------------------------------------------------------------------
def test_acquire_runs_one_synchronized_measurement_for_the_duration(
        connected: SwabianTimeTagger, api: FakeTimeTaggerAPI, device: FakeDevice) -> None:
    batch = connected.acquire(0.25)
    assert api.calls == [*_start(1000, 250 * MS), *_poll(100), *_poll(100), *_poll(100), *FINAL]
    assert (batch.start_ps, batch.stop_ps) == (T0, T0 + 250 * MS)
    assert device.now_ps == T0 + 250 * MS  # virtual time: nothing waited


def test_changed_settings_are_synced_before_the_next_acquisition(
        connected: SwabianTimeTagger, api: FakeTimeTaggerAPI) -> None:
    connected.set_input_delay(1, 100)
    connected.acquire(0.05)
    connected.acquire(0.05)
    names = [c[0] for c in api.calls]
    assert names.count(f"{TT}.sync") == 1
    assert names.index(f"{TT}.sync") == names.index(SM) - 1


def test_count_rates_uses_a_countrate_for_the_duration(
        connected: SwabianTimeTagger, api: FakeTimeTaggerAPI) -> None:
    connected.set_test_signal(2, True)
    api.calls.clear()
    rates = connected.count_rates(0.5)
    assert api.calls == [call(f"{TT}.sync"), call("Countrate", TAGGER, [1, 2, 3, 4]),
                         call("Countrate.startFor", 500 * MS), call("Countrate.waitUntilFinished"),
                         call("Countrate.getData")]
    assert rates == {1: 0.0, 2: pytest.approx(800_000.0), 3: 0.0, 4: 0.0}


# -- acquisition: conversion -----------------------------------------------------------------
def test_tags_come_back_as_int64_ps_with_hardware_channels(
        connected: SwabianTimeTagger, device: FakeDevice) -> None:
    device.add_tags([T0 + 10, T0 + 150 * MS, T0 + 20, T0 + 249 * MS, T0 + 300 * MS],
                    [1, 4, 2, 3, 1])
    connected.set_input_delay(2, 1_000)
    batch = connected.acquire(0.25)
    assert batch.timestamps.dtype == np.int64 and batch.channels.dtype == np.int32
    assert batch.timestamps.tolist() == [T0 + 10, T0 + 1_020, T0 + 150 * MS, T0 + 249 * MS]
    assert batch.channels.tolist() == [1, 2, 4, 3]
    assert batch.overflows == () and batch.missed_events == 0


def test_an_overflow_becomes_an_interval_with_its_missed_events(
        connected: SwabianTimeTagger, device: FakeDevice) -> None:
    device.add_tags([T0 + 5 * MS, T0 + 60 * MS, T0 + 61 * MS, T0 + 70 * MS, T0 + 200 * MS],
                    [1, 1, 2, 2, 3])
    device.inject_overflow(T0 + 50 * MS, T0 + 120 * MS)
    batch = connected.acquire(0.25)
    assert batch.timestamps.tolist() == [T0 + 5 * MS, T0 + 200 * MS]
    assert batch.overflows == ((T0 + 50 * MS, T0 + 120 * MS),)
    assert batch.missed_events == 3


def test_missed_counts_above_uint16_repeat_and_are_summed(
        connected: SwabianTimeTagger, device: FakeDevice) -> None:
    device.inject_overflow(T0 + 10 * MS, T0 + 20 * MS, missed={1: 70_000, 3: 5})
    assert connected.acquire(0.05).missed_events == 70_005


def test_an_overflow_across_chunks_is_flagged_in_each(
        connected: SwabianTimeTagger, device: FakeDevice) -> None:
    device.inject_overflow(T0 + 80 * MS, T0 + 230 * MS)  # no marker in the 2nd chunk
    device.add_tags([T0 + 150 * MS, T0 + 250 * MS], [1, 1])
    batches = list(connected.stream(0.3, 0.1))
    assert [(b.start_ps - T0, b.stop_ps - T0) for b in batches] == [
        (0, 100 * MS), (100 * MS, 200 * MS), (200 * MS, 300 * MS)]
    assert [b.overflows for b in batches] == [
        ((T0 + 80 * MS, T0 + 100 * MS),), ((T0 + 100 * MS, T0 + 200 * MS),),
        ((T0 + 200 * MS, T0 + 230 * MS),)]
    assert [b.missed_events for b in batches] == [0, 0, 1]
    assert [b.timestamps.size for b in batches] == [0, 0, 1]


def test_batches_end_at_the_measurement_end_when_reads_come_late() -> None:
    device = FakeDevice(SERIAL, start_ps=T0, call_latency_ps=3 * MS)  # 3 ms between calls
    device.add_tags([T0 + k * 10 * MS for k in range(40)], [1] * 40)
    tt = SwabianTimeTagger("swabian_late", SERIAL, api=FakeTimeTaggerAPI(device), poll_s=0.1)
    tt.connect()
    batches = list(tt.stream(0.25, 0.1))
    start = batches[0].start_ps
    assert batches[-1].stop_ps == start + 250 * MS
    assert all(a.stop_ps == b.start_ps for a, b in itertools.pairwise(batches))
    for b in batches:
        assert ((b.timestamps >= b.start_ps) & (b.timestamps < b.stop_ps)).all()
    tags = np.concatenate([b.timestamps for b in batches])
    assert tags.tolist() == [t for t in range(T0, T0 + 400 * MS, 10 * MS)
                             if start <= t < start + 250 * MS]
    whole = tt.acquire(0.25)
    assert whole.stop_ps - whole.start_ps == 250 * MS


def test_an_overflow_open_at_either_end_is_cut_at_the_measurement(
        connected: SwabianTimeTagger, device: FakeDevice) -> None:
    device.inject_overflow(T0 - 10 * MS, T0 + 20 * MS)  # began before the start
    device.inject_overflow(T0 + 90 * MS, T0 + 500 * MS)  # still open at the end
    batch = connected.acquire(0.1)
    assert batch.overflows == ((T0, T0 + 20 * MS), (T0 + 90 * MS, T0 + 100 * MS))


def test_a_full_stream_buffer_flags_the_rest_of_its_interval(
        api: FakeTimeTaggerAPI, device: FakeDevice) -> None:
    tt = SwabianTimeTagger("swabian_small", SERIAL, api=api, poll_s=0.1, stream_buffer_events=3)
    device.add_tags([T0 + k * MS for k in (1, 2, 3, 4, 5, 150)], [1] * 6)
    batch = tt.acquire(0.2)
    assert batch.timestamps.tolist() == [T0 + MS, T0 + 2 * MS, T0 + 3 * MS, T0 + 150 * MS]
    assert batch.overflows == ((T0 + 3 * MS, T0 + 100 * MS),)


def test_an_error_event_raises_and_stops_the_measurement(
        connected: SwabianTimeTagger, api: FakeTimeTaggerAPI, device: FakeDevice) -> None:
    device.inject_error(T0 + 30 * MS)
    with pytest.raises(DeviceFaultError, match=r"swabian: device error 1 .*time base"):
        connected.acquire(0.5)
    assert api.calls[-1] == call(f"{TS}.stop")


def test_stream_batches_tile_the_measurement_and_closing_stops_it(
        connected: SwabianTimeTagger, api: FakeTimeTaggerAPI, device: FakeDevice) -> None:
    device.add_tags([T0 + 40 * MS, T0 + 140 * MS], [1, 2])
    it = connected.stream(1.0, 0.1)
    assert api.calls == []  # nothing starts before the first next()
    first = next(it)
    assert first.timestamps.tolist() == [T0 + 40 * MS]
    assert next(it).channels.tolist() == [2]
    it.close()  # type: ignore[attr-defined]
    assert api.calls == [*_start(1000, 1000 * MS), *_poll(100), *_poll(100), call(f"{TS}.stop")]


def test_bad_durations_are_refused(connected: SwabianTimeTagger) -> None:
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="duration_s must be a finite number of seconds > 0"):
            connected.acquire(bad)
    with pytest.raises(ValueError, match="chunk_s"):
        connected.stream(1.0, 0.0)


# -- the decoder alone -------------------------------------------------------------------------
def _buf(rows: list[tuple[int, int, int, int]], t_start: int, t_get: int) -> StreamBuffer:
    cols = list(zip(*rows)) if rows else [[], [], [], []]
    return StreamBuffer(np.array(cols[0], np.int64), np.array(cols[1], np.int32),
                        np.array(cols[2], np.uint8), np.array(cols[3], np.uint16),
                        t_start, t_get)


def test_decoder_carries_an_open_overflow_into_the_next_buffer() -> None:
    dec = StreamDecoder("d", 100)
    a = dec.decode(_buf([(5, 1, TagType.TimeTag, 0), (8, CHANNEL_UNUSED, TagType.OverflowBegin, 0)],
                        0, 10), 0, 10)
    assert dec.overflow_open
    b = dec.decode(_buf([(12, 2, TagType.MissedEvents, 7), (12, CHANNEL_UNUSED,
                                                           TagType.OverflowEnd, 0),
                         (15, 3, TagType.TimeTag, 0)], 10, 20), 10, 20)
    assert (a.overflows, a.timestamps.tolist()) == (((8, 10),), [5])
    assert (b.overflows, b.timestamps.tolist(), b.missed_events) == (((10, 12),), [15], 7)
    assert not dec.overflow_open


def test_decoder_refuses_an_unknown_event_type() -> None:
    with pytest.raises(ProtocolError, match="unknown stream event type 9"):
        StreamDecoder("d", 100).decode(_buf([(1, 1, 9, 0)], 0, 2), 0, 2)


# -- the vendor package ---------------------------------------------------------------------------
def _block_vendor(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("Swabian", "Swabian.TimeTagger", "TimeTagger"):
        monkeypatch.setitem(sys.modules, name, None)  # import now raises ImportError


def test_without_the_package_the_error_names_the_extra_on_first_use(
        monkeypatch: pytest.MonkeyPatch) -> None:
    _block_vendor(monkeypatch)
    spec = importlib.util.find_spec("qnic.instruments.timetaggers.swabian")
    assert spec is not None and spec.loader is not None
    fresh = importlib.util.module_from_spec(spec)  # our module imports without it
    spec.loader.exec_module(fresh)
    tt = SwabianTimeTagger("swabian_nopkg", SERIAL)  # and builds without it
    with pytest.raises(VendorPackageMissingError, match=r"qnic-bench\[swabian\]") as e:
        tt.connect()
    assert isinstance(e.value, ImportError) and isinstance(e.value, InstrumentError)
    assert "swabian_nopkg" in str(e.value)


def test_the_old_top_level_module_is_used_when_the_new_one_is_absent(
        monkeypatch: pytest.MonkeyPatch, api: FakeTimeTaggerAPI) -> None:
    _block_vendor(monkeypatch)
    monkeypatch.setitem(sys.modules, "TimeTagger", api)  # type: ignore[arg-type]
    tt = SwabianTimeTagger("swabian_oldpkg", SERIAL)
    assert tt.input_channels == (1, 2, 3, 4)
    assert api.calls[0] == call("createTimeTagger", SERIAL)
