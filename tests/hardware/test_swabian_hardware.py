"""SwabianTimeTagger on a real tagger (skipped unless ``--device-address SERIAL``
gives the tagger's serial number and the vendor package is installed).

These touch no optics: they use the tagger's internal test signal, which the
reference gives as 403.2 MHz / 504 = 800 kcounts/s on the Ultra and X
(docs/protocols.md 4a), and they switch it off again afterwards.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import numpy as np
import pytest

from qnic.instruments.timetaggers.protocol import TimeTagger
from qnic.instruments.timetaggers.swabian import (
    SwabianTimeTagger,
    VendorPackageMissingError,
    load_vendor_api,
)

pytestmark = pytest.mark.hardware

TEST_SIGNAL_HZ = 800_000.0


@pytest.fixture
def tagger(device_address: str) -> Iterator[SwabianTimeTagger]:
    if "/" in device_address or "://" in device_address or device_address.upper().startswith(
            "COM"):
        pytest.skip(f"{device_address!r} is a port, not a Swabian serial number")
    try:
        api = load_vendor_api("hw_swabian")
    except VendorPackageMissingError as exc:
        pytest.skip(str(exc))
    tt = SwabianTimeTagger("hw_swabian", device_address, api=api)
    tt.connect()
    yield tt
    try:
        tt.set_test_signal(list(tt.input_channels), False)
    finally:
        tt.close()


def _test_signal_model(tt: SwabianTimeTagger) -> None:
    if not any(word in tt.model.lower().split() for word in ("ultra", "x")):
        pytest.skip(f"the reference gives the test-signal rate for Ultra and X, not {tt.model}")


def test_identifies_itself_by_the_serial_it_was_opened_with(
        tagger: SwabianTimeTagger, device_address: str) -> None:
    idn = tagger.get_idn()
    assert idn["serial"] == device_address and idn["model"]
    assert tagger.input_channels and min(tagger.input_channels) >= 1
    assert isinstance(tagger, TimeTagger)


def test_delay_and_trigger_level_read_back(tagger: SwabianTimeTagger) -> None:
    ch = tagger.input_channels[0]
    tagger.set_input_delay(ch, 1_500)
    tagger.set_trigger_level(ch, 0.25)
    try:
        assert tagger.get_input(ch).delay_ps() == 1_500
        assert tagger.get_input(ch).trigger_level_v() == pytest.approx(0.25, abs=0.01)
    finally:
        tagger.set_input_delay(ch, 0)


def test_test_signal_rate_and_tags(tagger: SwabianTimeTagger) -> None:
    _test_signal_model(tagger)
    ch = tagger.input_channels[0]
    tagger.set_test_signal(ch, True)
    assert tagger.count_rates(0.2)[ch] == pytest.approx(TEST_SIGNAL_HZ, rel=0.02)
    batch = tagger.acquire(0.1)
    assert batch.timestamps.dtype == np.int64
    assert np.all(np.diff(batch.timestamps) >= 0)
    assert batch.stop_ps - batch.start_ps == 100_000_000_000
    live_s = batch.duration_s - batch.lost_s
    assert batch.counts().get(ch, 0) / live_s == pytest.approx(TEST_SIGNAL_HZ, rel=0.02)


def test_stream_batches_tile_the_measurement(tagger: SwabianTimeTagger) -> None:
    _test_signal_model(tagger)
    ch = tagger.input_channels[0]
    tagger.set_test_signal(ch, True)
    batches = list(tagger.stream(0.3, 0.05))
    assert all(a.stop_ps == b.start_ps for a, b in itertools.pairwise(batches))
    assert batches[-1].stop_ps - batches[0].start_ps == 300_000_000_000
    assert sum(b.counts().get(ch, 0) for b in batches) == pytest.approx(
        0.3 * TEST_SIGNAL_HZ, rel=0.02)
