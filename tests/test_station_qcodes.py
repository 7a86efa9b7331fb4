"""Station files are QCoDeS stations (docs/station.md): ``qcodes.Station``
reads them without a warning (its schema validation included), loads each
instrument with ``load_instrument``, and ``sim://`` ports open without
registering anything by hand."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import qcodes
from qcodes.station import ValidationWarning
from station_files import default_dict, old_layout, wiring, write

from qnic.station import default_station_path, load_station_config, open_station
from qnic.wiring import QNICWiring

ORDER = ["sim", "rotator_a", "rotator_b", "tagger", "source", "qnic"]
"""The default station's instruments, the bench first (docs/station.md)."""


@pytest.fixture
def no_warnings() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def test_qcodes_reads_the_default_station_without_a_warning(no_warnings: None) -> None:
    station = qcodes.Station(config_file=str(default_station_path()))
    assert list(station.config["instruments"]) == ORDER
    for name in ORDER:
        station.load_instrument(name)
    wired = station.components["qnic"]
    assert isinstance(wired, QNICWiring)
    qnics = wired.build_qnics()
    qnics["A"].rotator.home()
    qnics["A"].set_basis(22.5)
    assert qnics["A"].rotator.angle() == pytest.approx(22.5 / 2 + 3.0, abs=0.01)
    batch = qnics["A"].tagger.acquire(0.01)
    assert set(np.unique(batch.channels)) == {1, 2, 3, 4}
    snapshot = station.snapshot()["instruments"]
    # the default station sets no seed: loaded directly, the bench's default 0
    # (the qnic commands draw a random one instead, tests/test_cli_seed.py)
    assert "seed" not in snapshot["sim"]["metadata"]["sim"]
    assert snapshot["sim"]["parameters"]["seed"]["value"] == 0
    assert snapshot["sim"]["parameters"]["pair_rate_hz"]["unit"] == "Hz"
    assert snapshot["qnic"]["submodules"]["B"]["parameters"]["channel_1"]["value"] == 4


def test_the_older_layout_is_what_qcodes_warns_about(tmp_path: Path) -> None:
    path = write(tmp_path, old_layout(default_dict()))
    with pytest.warns(ValidationWarning, match="Additional properties are not allowed"):
        qcodes.Station(config_file=str(path))


def test_a_fresh_interpreter_opens_sim_ports_without_registering_them() -> None:
    # conftest registers the simulator's handler by hand; a user's script does not
    probe = f"""
import json, warnings
warnings.simplefilter("error")
warnings.filterwarnings("ignore", category=DeprecationWarning, module="qcodes")
import qcodes, serial
station = qcodes.Station(config_file={str(default_station_path())!r})
for name in {ORDER!r}:
    station.load_instrument(name)
rotator = station.components["rotator_b"]
rotator.home()
rotator.angle(30.0)
print(json.dumps({{"angle": rotator.angle(), "handlers": serial.protocol_handler_packages}}))
"""
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         timeout=120, check=True)
    seen = json.loads(out.stdout)
    assert seen["angle"] == pytest.approx(30.0, abs=0.01)
    assert "qnic.sim.serial_url" not in seen["handlers"]
    assert "qnic.instruments.url_handlers" in seen["handlers"]


def hardware_station(tmp_path: Path) -> Path:
    """A station without a simulated bench: rotators on serial ports, a replayed tagger."""
    rng = np.random.default_rng(1)
    t = np.sort(rng.integers(0, 10**9, 4000)).astype(np.int64)
    np.savez(tmp_path / "tags.npz", timestamps_ps_00=t,
             channels_00=rng.integers(1, 5, t.size).astype(np.int64))
    data = {"instruments": {
        "rotator_a": {"type": "qnic.instruments.rotators.elliptec.ELL14",
                      "address": "/dev/ttyUSB0", "init": {"device_id": "0"}},
        "rotator_b": {"type": "qnic.instruments.rotators.apt.K10CR1", "address": "/dev/ttyUSB1"},
        "tagger": {"type": "qnic.instruments.timetaggers.replay.ReplayTimeTagger",
                   "address": str(tmp_path / "tags.npz"), "init": {"setting": "00"},
                   "parameters": {"end_of_file": {"initial_value": "empty"}}},
        "qnic": {"type": "qnic.wiring.QNICWiring", "init": wiring(default_dict())}}}
    del data["instruments"]["qnic"]["init"]["source"]
    return write(tmp_path, data, "lab1.yaml")


def test_qcodes_reads_a_hardware_station_with_a_replayed_tagger(tmp_path: Path,
                                                                no_warnings: None) -> None:
    path = hardware_station(tmp_path)
    station = qcodes.Station(config_file=str(path))
    for name in ("rotator_a", "rotator_b"):  # no device here: a snapshot would ask it
        station.load_instrument(name, update_snapshot=False)
    station.load_instrument("tagger")
    station.load_instrument("qnic")
    qnics = station.components["qnic"].build_qnics()
    assert type(qnics["B"].rotator).__name__ == "K10CR1"
    assert qnics["A"].tagger.end_of_file() == "empty"
    assert qnics["A"].tagger.acquire(2e-3).timestamps.size > 0
    cfg = load_station_config(path)  # the project's loader agrees, also without warnings
    assert cfg.sim is None and cfg.section_instruments == {} and cfg.source is None
    assert cfg.arms["B"].channels == (3, 4)


def test_the_loaders_station_is_the_files_qcodes_station(no_warnings: None) -> None:
    with open_station(load_station_config(), seed=11) as st:
        assert list(st.station.components) == ORDER
        assert st.station.components["sim"].seed() == 11
        st.window_ps_override = 1234
        st.qnics["A"].waveplate_zero_deg = 7.5
        wired = st.station.snapshot()["instruments"]["qnic"]
        assert wired["parameters"]["window_ps"]["value"] == 1234
        assert wired["submodules"]["A"]["parameters"]["waveplate_zero_deg"]["value"] == 7.5
