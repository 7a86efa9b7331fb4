"""IdqTimeController against a fake Time Controller and DataLinkTarget (tests/fakes/idq_api.py).

The controller link runs over ZeroMQ on 127.0.0.1 (a bound random port) or
inproc; the DLT and the streams over inproc. Every fake is closed after its
test; nothing sleeps (the record plays in virtual time).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator

import numpy as np
import pytest
import zmq
from fakes.idq_api import FakeIdq

from qnic.instruments.clock import VirtualClock
from qnic.instruments.errors import DeviceFaultError
from qnic.instruments.timetaggers.idq import IdqTimeController, parse_address
from qnic.instruments.timetaggers.protocol import TimeTagger

RATES = {1: 3e4, 2: 1e4, 3: 2e4, 4: 5e3}
STREAM = "inproc://idq-stream-{port}"
_names = itertools.count()


@pytest.fixture
def context() -> Iterator[zmq.Context]:  # type: ignore[type-arg]
    ctx = zmq.Context()
    yield ctx
    ctx.term()


def make(context: zmq.Context, tcp: bool = False,  # type: ignore[type-arg]
         **kw: object) -> tuple[IdqTimeController, FakeIdq]:
    clock = VirtualClock()
    fake = FakeIdq(clock, RATES, STREAM, context, tcp=tcp, **kw)  # type: ignore[arg-type]
    tc = IdqTimeController(f"idq{next(_names)}", fake.tc_address, dlt_address=fake.dlt_address,
                           stream_address=STREAM, context=context, clock=clock, timeout_s=2.0)
    return tc, fake


def test_connect_routes_each_channel_over_tcp(context: zmq.Context) -> None:  # type: ignore[type-arg]
    tc, fake = make(context, tcp=True)
    try:
        assert fake.commands == []  # nothing before first use
        tc.connect()
        assert fake.commands[:8] == ["DEVI:RES:BWID?", "DELA1:LINK INPU1", "TSCO1:FIR:LINK DELA1",
                                     "TSCO1:OPIN ONLYFIR", "TSCO1:OPOU ONLYFIR",
                                     "TSCO1:WIND:ENAB OFF", "RAW1:STOP:LINK TSCO1",
                                     "RAW1:REF:LINK NONE"]
        assert tc.bin_width_ps == 1 and isinstance(tc, TimeTagger)
    finally:
        tc.close()
        fake.close()


def test_acquire_streams_poisson_counts(context: zmq.Context) -> None:  # type: ignore[type-arg]
    tc, fake = make(context)
    with fake:
        try:
            tc.set_input_delay(2, 1_000)
            batch = tc.acquire(0.5)
            assert batch.start_ps == 0 and batch.stop_ps == 500_000_000_000
            assert batch.timestamps.dtype == np.int64 and np.all(np.diff(batch.timestamps) >= 0)
            for ch, rate in RATES.items():
                n = batch.counts().get(ch, 0)
                assert abs(n - rate * 0.5) < 4 * math.sqrt(rate * 0.5)  # Poisson, 4 sigma
            assert batch.of_channel(2).min() >= 1_000  # the delay block shifted channel 2
            assert batch.overflows == ()
            second = tc.acquire(0.1)
            assert second.start_ps == batch.stop_ps  # records laid end to end
            assert any(c.startswith("start-stream --address") and "--stream-port 4242" in c
                       for c in fake.dlt_commands)
            assert fake.streams == {}  # every stream stopped
        finally:
            tc.close()


def test_acquisition_sequence(context: zmq.Context) -> None:  # type: ignore[type-arg]
    tc, fake = make(context)
    with fake:
        try:
            tc.connect()
            fake.commands.clear()
            tc.acquire(0.01)
            assert fake.commands[:5] == ["REC:TRIG:ARM:MODE MANUal", "REC:ENABle ON", "REC:STOP",
                                         "REC:NUM 1", "REC:DURation 10000000000"]
            assert fake.commands[5:7] == ["RAW1:ERRORS:CLEAR", "RAW1:SEND ON"]
            assert "REC:PLAY" in fake.commands and fake.commands[-1] == "RAW4:ERRORS?"
        finally:
            tc.close()


def test_errors_flag_overflow_and_device_errors(context: zmq.Context) -> None:  # type: ignore[type-arg]
    tc, fake = make(context, raw_errors={3: 2})
    with fake:
        try:
            batch = tc.acquire(0.05)
            assert batch.overflows == ((batch.start_ps, batch.stop_ps),)
            with pytest.raises(DeviceFaultError, match="SCPI_ERR_") as err:
                tc.scpi("BOGUS:COMMAND 1")
            assert err.value.request == "BOGUS:COMMAND 1"
            with pytest.raises(DeviceFaultError, match="DataLinkTarget"):
                tc.dlt("stop --id nope")
            with pytest.raises(ValueError):
                tc.set_trigger_level(1, 5.0)
            tc.set_trigger_level(1, -0.25)
            assert tc.get_input(1).threshold_v() == -0.25
        finally:
            tc.close()


def test_rates_stream_and_addresses(context: zmq.Context) -> None:  # type: ignore[type-arg]
    tc, fake = make(context)
    with fake:
        try:
            batches = list(tc.stream(0.25, 0.1))
            assert [round(b.duration_s, 6) for b in batches] == [0.1, 0.1, 0.05]
            assert all(a.stop_ps == b.start_ps for a, b in itertools.pairwise(batches))
            rates = tc.count_rates(0.2)
            assert abs(rates[1] - RATES[1]) < 4 * math.sqrt(RATES[1] * 0.2) / 0.2
        finally:
            tc.close()
    assert parse_address("169.254.99.101") == "tcp://169.254.99.101:5555"
    assert parse_address("host:6000") == "tcp://host:6000"
    with pytest.raises(ValueError):
        IdqTimeController("bad_idq", "x", channels=(5,))
