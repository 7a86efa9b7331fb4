"""Station files: the embedded default loads; bad files fail at load with
the file, the key and what was expected."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from qnic.station import (
    DeprecatedPathWarning,
    StationError,
    default_station_path,
    load_station_config,
    open_station,
)


def default_dict() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load(default_station_path().read_text())


def write(tmp_path: Path, data: dict) -> Path:  # type: ignore[type-arg]
    path = tmp_path / "station.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_default_station_loads_and_opens() -> None:
    cfg = load_station_config()
    assert set(cfg.arms) == {"A", "B"} and cfg.sim is not None
    with open_station(cfg) as st:
        assert set(st.qnics) == {"A", "B"}
        assert st.qnics["A"].tagger is st.qnics["B"].tagger
        assert st.bench is not None and st.clock is st.bench.clock


def test_open_station_cleans_up_on_error() -> None:
    cfg = load_station_config()
    from qcodes.instrument import Instrument

    from qnic.sim.registry import registry
    with pytest.raises(RuntimeError), open_station(cfg):
        raise RuntimeError("boom")
    assert registry().names() == []
    assert not Instrument.exist("rotator_a")


def test_seed_overrides_the_station_seed() -> None:
    cfg = load_station_config()
    with open_station(cfg, seed=99) as st:
        assert st.bench.params.seed == 99


def mutate(tmp_path: Path, edit) -> StationError:  # type: ignore[no-untyped-def]
    data = default_dict()
    edit(data)
    path = write(tmp_path, data)
    with pytest.raises(StationError) as err:
        load_station_config(path)
    assert str(path) in str(err.value)
    return err.value


def test_unknown_instrument_type(tmp_path: Path) -> None:
    err = mutate(tmp_path, lambda d: d["instruments"]["rotator_a"].update(type="qnic.instruments.rotators.nope.ELL99"))
    assert err.key == "instruments.rotator_a.type" and "unknown instrument type" in err.expected


def test_type_that_is_not_an_instrument(tmp_path: Path) -> None:
    err = mutate(tmp_path, lambda d: d["instruments"]["tagger"].update(type="qnic.node.QNIC"))
    assert err.key == "instruments.tagger.type"


def test_missing_arm(tmp_path: Path) -> None:
    err = mutate(tmp_path, lambda d: d["qnic"].pop("B"))
    assert err.key == "qnic.B" and "missing arm B" in err.expected


def test_channel_used_twice_across_arms(tmp_path: Path) -> None:
    err = mutate(tmp_path, lambda d: d["qnic"]["B"].update(channels=[2, 4]))
    assert err.key == "qnic.B.channels" and "channel 2" in err.expected


def test_channel_used_twice_within_an_arm(tmp_path: Path) -> None:
    err = mutate(tmp_path, lambda d: d["qnic"]["A"].update(channels=[1, 1]))
    assert err.key == "qnic.A.channels"


def test_rotator_that_is_not_an_instrument(tmp_path: Path) -> None:
    err = mutate(tmp_path, lambda d: d["qnic"]["A"].update(rotator="rotator_z"))
    assert err.key == "qnic.A.rotator" and "rotator_z" in err.expected


def test_channel_without_simulated_detector(tmp_path: Path) -> None:
    err = mutate(tmp_path, lambda d: d["qnic"]["B"].update(channels=[3, 7]))
    assert err.key == "qnic.B.channels" and "channel 7" in err.expected


def test_bad_sim_value_names_its_key(tmp_path: Path) -> None:
    err = mutate(tmp_path, lambda d: d["sim"]["state"].update(visibility=1.5))
    assert err.key == "sim.state.visibility" and "[0.0, 1.0]" in err.expected


def test_unknown_sim_key(tmp_path: Path) -> None:
    err = mutate(tmp_path, lambda d: d["sim"]["A"].update(transmision=0.3))
    assert err.key == "sim.A.transmision" and "unknown key" in err.expected


def test_sim_channel_used_twice(tmp_path: Path) -> None:
    def edit(d: dict) -> None:  # type: ignore[type-arg]
        d["sim"]["B"]["detectors"] = {1: {"outcome": 0}, 4: {"outcome": 1}}
    err = mutate(tmp_path, edit)
    assert err.key.startswith("sim.") and "channel 1" in err.expected


def test_unknown_top_level_section(tmp_path: Path) -> None:
    err = mutate(tmp_path, lambda d: d.update(qnics={}))
    assert err.key == "qnics"


def test_bad_window(tmp_path: Path) -> None:
    err = mutate(tmp_path, lambda d: d["qnic"].update(window_ps=-5))
    assert err.key == "qnic.window_ps"


def test_not_yaml(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("instruments: [unclosed\n")
    with pytest.raises(StationError, match="not valid YAML"):
        load_station_config(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(StationError, match="cannot read"):
        load_station_config(tmp_path / "nope.yaml")


def test_sim_address_of_another_bench(tmp_path: Path) -> None:
    err = mutate(tmp_path, lambda d: d["instruments"]["rotator_a"].update(
        address="sim://ell14?bench=lab2&arm=A&addr=0"))
    assert err.key == "instruments.rotator_a.address" and "lab2" in err.expected


def test_sim_address_with_unknown_arm(tmp_path: Path) -> None:
    err = mutate(tmp_path, lambda d: d["instruments"]["rotator_b"].update(
        address="sim://ell14?bench=default&arm=C&addr=0"))
    assert err.key == "instruments.rotator_b.address" and "'C'" in err.expected


def test_sim_address_without_sim_section(tmp_path: Path) -> None:
    err = mutate(tmp_path, lambda d: d.pop("sim"))
    assert err.key == "instruments.rotator_a.address" and "sim: section" in err.expected


def test_bad_init_argument_fails_with_the_instrument_key(tmp_path: Path) -> None:
    data = default_dict()
    data["instruments"]["rotator_a"]["init"]["device_id"] = "Z"
    cfg = load_station_config(write(tmp_path, data))
    with pytest.raises(StationError) as err, open_station(cfg):
        pass
    assert err.value.key == "instruments.rotator_a" and "one hex digit" in err.value.expected


def test_old_type_paths_load_with_a_warning_naming_the_new_path(tmp_path: Path) -> None:
    data = default_dict()
    data["instruments"]["rotator_a"]["type"] = "instruments.rotators.elliptec.ELL14"
    data["instruments"]["tagger"]["type"] = "sim_backends.tagger.SimulatedTimeTagger"
    path = write(tmp_path, data)
    with pytest.warns(DeprecatedPathWarning) as caught:
        cfg = load_station_config(path)
    messages = [str(w.message) for w in caught]
    assert any("'qnic.instruments.rotators.elliptec.ELL14'" in m and "instruments.rotator_a.type" in m
               for m in messages)
    assert any("'qnic.sim.tagger.SimulatedTimeTagger'" in m for m in messages)
    assert cfg.instruments["rotator_a"]["type"] == "qnic.instruments.rotators.elliptec.ELL14"
    with open_station(cfg) as st:
        assert type(st.qnics["A"].rotator).__module__ == "qnic.instruments.rotators.elliptec"


def test_the_sim_section_is_found_through_its_entry_point() -> None:
    from importlib.metadata import entry_points

    from qnic.sections import ENTRY_POINT_GROUP, section_registry

    declared = {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}
    assert declared == {"sim": "qnic.sim.station_section:SimSection"}
    assert type(section_registry().handlers()["sim"]).__module__ == "qnic.sim.station_section"


def test_a_section_registered_by_hand_is_read_and_opened(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from contextlib import contextmanager

    from qnic.instruments.clock import VirtualClock
    from qnic.sections import SectionRegistry

    opened: list[object] = []

    class Lab:
        address_schemes = ("lab://",)
        clock = VirtualClock()

        def parse(self, raw: object) -> object:
            if raw != {"ok": True}:
                raise ValueError("expected ok: true")
            return raw

        def channels(self, parsed: object) -> None:
            return None

        def check_address(self, address: str, parsed: object) -> None:
            pass

        @contextmanager
        def open(self, parsed: object, seed: int | None):  # type: ignore[no-untyped-def]
            opened.append(parsed)
            yield self

    registry = SectionRegistry()
    registry.add("lab", Lab())
    monkeypatch.setattr("qnic.station.section_registry", lambda: registry)
    data = default_dict()
    data["lab"] = {"ok": False}
    with pytest.raises(StationError, match=r"station.yaml: lab: expected ok: true"):
        load_station_config(write(tmp_path, data))
    data["lab"] = {"ok": True}
    cfg = load_station_config(write(tmp_path, data))
    with open_station(cfg) as st:
        assert opened == [{"ok": True}] and st.bench is not None


def test_a_labs_own_instruments_package_keeps_its_path(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    pkg = tmp_path / "lab" / "instruments"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "mine.py").write_text("from qnic.instruments.rotators.elliptec import ELL14 as Mine\n")
    monkeypatch.syspath_prepend(str(tmp_path / "lab"))
    data = default_dict()
    data["instruments"]["rotator_a"]["type"] = "instruments.mine.Mine"
    try:
        cfg = load_station_config(write(tmp_path, data))  # no warning: warnings are errors here
    finally:
        for name in [m for m in sys.modules if m == "instruments" or m.startswith("instruments.")]:
            del sys.modules[name]
    assert cfg.instruments["rotator_a"]["type"] == "instruments.mine.Mine"
