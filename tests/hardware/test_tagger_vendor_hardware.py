"""quTAG, ID900/ID1000 and MultiHarp/HydraHarp drivers on real taggers.

Skipped unless ``--device-address`` names one of them, with its vendor
software installed:

- ``qutag``: a quTAG through the wrapper QuTAG.py (on the Python path);
- ``idq:HOST``: a Time Controller at HOST, with IDQ's DataLinkTarget service
  running on this computer;
- ``multiharp:SERIAL`` / ``hydraharp:SERIAL``: through MHLib / HHLib.

They touch no optics: they read identities, write back settings and record
a short interval of whatever the inputs see (docs/protocols.md 4b, 4d, 4e).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from qcodes.instrument import Instrument

from qnic.instruments.errors import TransportError
from qnic.instruments.timetaggers.harp import HydraHarpTimeTagger, MultiHarpTimeTagger
from qnic.instruments.timetaggers.idq import IdqTimeController
from qnic.instruments.timetaggers.protocol import TimeTagger
from qnic.instruments.timetaggers.qutag import QutagTimeTagger
from qnic.instruments.timetaggers.swabian import VendorPackageMissingError

pytestmark = pytest.mark.hardware


def _open(device_address: str) -> (QutagTimeTagger | IdqTimeController | MultiHarpTimeTagger
                                   | HydraHarpTimeTagger):
    kind, _, rest = device_address.partition(":")
    if kind == "qutag":
        return QutagTimeTagger("hw_qutag")
    if kind == "idq" and rest:
        return IdqTimeController("hw_idq", rest)
    if kind == "multiharp":
        return MultiHarpTimeTagger("hw_multiharp", rest)
    if kind == "hydraharp":
        return HydraHarpTimeTagger("hw_hydraharp", rest)
    pytest.skip(f"{device_address!r} names no quTAG, idq:HOST, multiharp:SERIAL or hydraharp:SERIAL")


@pytest.fixture
def tagger(device_address: str) -> Iterator[TimeTagger]:
    inst = _open(device_address)
    try:
        inst.connect()  # every driver here opens its device in connect()
    except (VendorPackageMissingError, TransportError) as exc:
        inst.close()
        pytest.skip(str(exc))
    assert isinstance(inst, TimeTagger)
    yield inst
    inst.close()


def test_identity_and_channels(tagger: TimeTagger) -> None:
    assert tagger.input_channels and min(tagger.input_channels) >= 1
    assert isinstance(tagger, Instrument) and tagger.get_idn()["vendor"]


def test_short_acquisition(tagger: TimeTagger) -> None:
    batch = tagger.acquire(0.05)
    assert batch.timestamps.dtype == np.int64 and np.all(np.diff(batch.timestamps) >= 0)
    assert batch.duration_s == pytest.approx(0.05, rel=0.05)
    assert set(batch.counts()) <= set(tagger.input_channels)


def test_zero_delay_is_accepted(tagger: TimeTagger) -> None:
    ch = tagger.input_channels[0]
    tagger.set_input_delay(ch, 0)  # every driver's delay or offset range holds 0
    batch = tagger.acquire(0.01)
    assert batch.stop_ps > batch.start_ps
