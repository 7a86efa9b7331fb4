"""MultiHarp / HydraHarp T2 live acquisition against a fake MHLib / HHLib (tests/fakes/harp_lib.py).

Expected-call tests list the library calls in order; counts are Poisson
(4 sigma); errors carry the library's code and text.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from fakes.harp_lib import FakeHarpLib

from qnic.instruments.clock import VirtualClock
from qnic.instruments.errors import DeviceFaultError, ProtocolError
from qnic.instruments.timetaggers.harp import (
    MULTIHARP,
    HydraHarpTimeTagger,
    MultiHarpTimeTagger,
    load_library,
)
from qnic.instruments.timetaggers.protocol import TimeTagger
from qnic.instruments.timetaggers.swabian import VendorPackageMissingError

RATES = {1: 2e4, 2: 1e4, 3: 3e4, 4: 5e3}
_names = itertools.count()


def multiharp(**kw: object) -> tuple[MultiHarpTimeTagger, FakeHarpLib]:
    clock = VirtualClock()
    lib = FakeHarpLib("MH", clock, RATES, **kw)  # type: ignore[arg-type]
    return MultiHarpTimeTagger(f"mh{next(_names)}", library=lib, clock=clock, poll_s=0.01), lib


def test_connect_sequence() -> None:
    mh, lib = multiharp()
    assert lib.calls == []
    assert isinstance(mh, TimeTagger) and mh.input_channels == (1, 2, 3, 4)
    assert [c[0] for c in lib.calls] == ["OpenDevice", "Initialize", "GetHardwareInfo",
                                         "GetNumOfInputChannels", "GetBaseResolution",
                                         "SetInputChannelEnable", "SetInputChannelEnable",
                                         "SetInputChannelEnable", "SetInputChannelEnable"]
    assert lib.calls[1] == ("Initialize", 0, 2, 0)  # T2 mode, internal clock
    assert mh.get_idn() == {"vendor": "PicoQuant", "model": "MultiHarp 150 4P",
                            "serial": "1044321", "firmware": "1.0"}
    assert mh.resolution_ps == 5.0


def test_acquire_decodes_t2_records_across_overflows() -> None:
    mh, lib = multiharp(seed=5)
    batch = mh.acquire(0.2)  # 0.2 s = ~1200 timer wraps of 2^25 * 5 ps
    assert batch.duration_s == pytest.approx(0.2) and batch.overflows == ()
    assert np.all(np.diff(batch.timestamps) >= 0)
    assert batch.timestamps.min() >= 0 and batch.timestamps.max() < 200_000_000_000
    for ch, rate in RATES.items():
        n = batch.counts()[ch]
        assert abs(n - rate * 0.2) < 4 * math.sqrt(rate * 0.2)  # Poisson, 4 sigma
    # the events are spread over the whole interval, not folded into one timer period
    assert batch.timestamps.max() > 150_000_000_000
    assert lib.calls[-1] == ("StopMeas", 0)
    second = mh.acquire(0.01)
    assert second.start_ps == batch.stop_ps


def test_trigger_offset_and_library_errors() -> None:
    mh, lib = multiharp()
    mh.set_trigger_level(2, -0.3)
    assert lib.calls[-1] == ("SetInputEdgeTrg", 0, 1, -300, 1)
    mh.set_input_delay(3, 1234)
    assert lib.calls[-1] == ("SetInputChannelOffset", 0, 2, 1234)
    assert mh.get_input(3).offset_ps() == 1234
    with pytest.raises(ValueError):
        mh.set_input_delay(3, 200_000)  # beyond +-99,999 ps: rejected before the library
    with pytest.raises(DeviceFaultError) as err:
        mh.call("StartMeas", 0, 0)
    assert (err.value.code, err.value.meaning, err.value.request) == (
        -17, "INVALID_ARGUMENT", "MH_StartMeas")
    with pytest.raises(ValueError, match="1 ms"):
        mh.acquire(0.0001)


def test_fifo_full_flags_the_rest_as_lost() -> None:
    mh, _ = multiharp(fifo_capacity=500)
    batch = mh.acquire(0.1)
    assert len(batch.overflows) == 1 and batch.overflows[0][1] == batch.stop_ps
    assert math.isfinite(batch.lost_s) and batch.lost_s > 0


def test_wrong_serial_and_missing_library() -> None:
    clock = VirtualClock()
    lib = FakeHarpLib("MH", clock, RATES)
    mh = MultiHarpTimeTagger("mh_serial", "9999999", library=lib, clock=clock)
    with pytest.raises(ProtocolError, match="1044321"):
        mh.connect()
    assert lib.calls[-1] == ("CloseDevice", 0)
    with pytest.raises(VendorPackageMissingError, match="MHLib"):
        load_library("mh", MULTIHARP, "/nonexistent/libmhlib.so")


def test_hydraharp_calibrates_reads_with_a_count_and_uses_cfd() -> None:
    clock = VirtualClock()
    lib = FakeHarpLib("HH", clock, {1: 1e4, 2: 1e4}, model="HydraHarp 400", n_inputs=2,
                      resolution_ps=1.0)
    hh = HydraHarpTimeTagger("hh", library=lib, clock=clock)
    assert hh.input_channels == (1, 2)
    assert [c[0] for c in lib.calls[:3]] == ["OpenDevice", "Initialize", "Calibrate"]
    hh.set_trigger_level(1, 0.05)
    assert lib.calls[-1] == ("SetInputCFD", 0, 0, 50, 10)
    rates = hh.count_rates(0.05)
    assert abs(rates[1] - 1e4) < 4 * math.sqrt(1e4 * 0.05) / 0.05
    assert ("ReadFiFo", 0, "*", 131072, "*") in lib.calls
    batches = list(hh.stream(0.03, 0.01))
    assert [b.duration_s for b in batches] == pytest.approx([0.01] * 3)
