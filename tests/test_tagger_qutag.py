"""QutagTimeTagger against a fake of qutools' QuTAG.py (tests/fakes/qutag_api.py).

Expected-call tests list the wrapper calls in order, as byte tests list bytes;
the rest checks counts (Poisson, 4 sigma), delays, the library's error codes,
data loss and demo mode.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from fakes.qutag_api import FakeQutagModule

from qnic.instruments.clock import VirtualClock
from qnic.instruments.errors import DeviceFaultError, TransportError
from qnic.instruments.timetaggers.protocol import TimeTagger
from qnic.instruments.timetaggers.qutag import QutagTimeTagger, load_vendor_api
from qnic.instruments.timetaggers.swabian import VendorPackageMissingError

RATES = {1: 2e4, 2: 5e4, 3: 1e4, 4: 3e4}


_names = itertools.count()


def make(**module_kw: object) -> tuple[QutagTimeTagger, FakeQutagModule]:
    clock = VirtualClock()
    module = FakeQutagModule(clock, **module_kw)  # type: ignore[arg-type]
    tagger = QutagTimeTagger(f"qutag{next(_names)}", api=module, clock=clock, buffer_size=500_000)
    return tagger, module


def test_connect_calls_and_protocol() -> None:
    tagger, module = make(rates_hz=RATES)
    assert module.calls == []  # nothing before first use
    tagger.connect()
    assert module.calls == [("Initialize",), ("setBufferSize", 1_000_000), ("getDeviceType",),
                            ("getTimebase",), ("setBufferSize", 500_000),
                            ("enableChannels", [1, 2, 3, 4])]
    assert isinstance(tagger, TimeTagger) and tagger.input_channels == (1, 2, 3, 4)


def test_acquire_counts_are_poisson() -> None:
    tagger, _ = make(rates_hz=RATES, seed=7)
    batch = tagger.acquire(0.5)
    assert batch.timestamps.dtype == np.int64 and np.all(np.diff(batch.timestamps) >= 0)
    assert batch.duration_s == pytest.approx(0.5) and batch.overflows == ()
    for ch, rate in RATES.items():
        n = batch.counts()[ch]
        assert abs(n - rate * 0.5) < 4 * math.sqrt(rate * 0.5)  # Poisson, 4 sigma


def test_stream_tiles_and_delay_shifts() -> None:
    tagger, module = make(rates_hz={1: 1e4}, seed=3)
    tagger.set_input_delay(1, 1500)
    assert module.calls[-2:] == [("getChannelDelays",),
                                 ("setChannelDelays", [0, 1500, 0, 0, 0, 0, 0, 0])]
    batches = list(tagger.stream(0.3, 0.1))
    assert len(batches) == 3
    assert all(a.stop_ps == b.start_ps for a, b in itertools.pairwise(batches))
    assert tagger.get_input(1).delay_ps() == 1500
    with pytest.raises(ValueError):
        tagger.set_input_delay(1, 200_000)  # beyond +-100 ns: rejected, not clamped
    with pytest.raises(ValueError, match="no input channel 7"):
        tagger.set_input_delay(7, 0)


def test_threshold_and_library_error_codes() -> None:
    tagger, module = make()
    tagger.set_trigger_level(2, 1.2)
    assert module.calls[-1] == ("setSignalConditioning", 2, 3, True, 1.2)
    assert tagger.get_input(2).threshold_v() == 1.2
    with pytest.raises(DeviceFaultError) as err:
        tagger.checked("setExposureTime", 70_000)
    assert (err.value.code, err.value.meaning) == (10, "Parameter in fct. call is out of range")
    assert "setExposureTime(70000)" in str(err.value)


def test_data_loss_flags_the_interval() -> None:
    tagger, _ = make(rates_hz={1: 1e5}, max_tags_per_read=1000)
    batch = tagger.acquire(0.1)
    assert batch.overflows == ((batch.start_ps, batch.stop_ps),)
    assert math.isnan(tagger.count_rates(0.1)[1])  # no rate from an interval all lost


def test_demo_mode_is_refused_and_released() -> None:
    tagger, module = make(device_type=1)
    with pytest.raises(TransportError, match="demo mode"):
        tagger.connect()
    assert module.calls[-1] == ("deInitialize",)
    demo, _ = make(device_type=1)
    demo.allow_demo = True
    demo.connect()
    assert demo.get_idn()["model"] == "quTAG demo mode"


def test_missing_wrapper_and_bad_arguments() -> None:
    with pytest.raises(VendorPackageMissingError, match="QuTAG.py"):
        load_vendor_api("qutag")
    with pytest.raises(ValueError, match="channels"):
        QutagTimeTagger("bad", channels=(0,))
    tagger, _ = make()
    with pytest.raises(ValueError, match="duration_s"):
        tagger.acquire(0.0)
