"""Station files: the embedded default loads; bad files fail at load with
the file, the key and what was expected."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from station_files import default_dict, old_layout, physics, wiring, write

from qnic.station import (
    DeprecatedPathWarning,
    DeprecatedSectionWarning,
    StationError,
    load_station_config,
    open_station,
)

W = "instruments.qnic.init"
"""Where the default station's wiring is, as error keys name it."""


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
    err = mutate(tmp_path, lambda d: wiring(d).pop("B"))
    assert err.key == f"{W}.B" and "missing arm B" in err.expected


def test_channel_used_twice_across_arms(tmp_path: Path) -> None:
    err = mutate(tmp_path, lambda d: wiring(d)["B"].update(channels=[2, 4]))
    assert err.key == f"{W}.B.channels" and "channel 2" in err.expected


def test_channel_used_twice_within_an_arm(tmp_path: Path) -> None:
    err = mutate(tmp_path, lambda d: wiring(d)["A"].update(channels=[1, 1]))
    assert err.key == f"{W}.A.channels"


def test_rotator_that_is_not_an_instrument(tmp_path: Path) -> None:
    err = mutate(tmp_path, lambda d: wiring(d)["A"].update(rotator="rotator_z"))
    assert err.key == f"{W}.A.rotator" and "rotator_z" in err.expected


def test_channel_without_simulated_detector(tmp_path: Path) -> None:
    err = mutate(tmp_path, lambda d: wiring(d)["B"].update(channels=[3, 7]))
    assert err.key == f"{W}.B.channels" and "channel 7" in err.expected


def test_bad_sim_value_names_its_key(tmp_path: Path) -> None:
    err = mutate(tmp_path, lambda d: physics(d)["state"].update(visibility=1.5))
    assert err.key == "instruments.sim.init.state.visibility" and "[0.0, 1.0]" in err.expected


def test_unknown_sim_key(tmp_path: Path) -> None:
    err = mutate(tmp_path, lambda d: physics(d)["A"].update(transmision=0.3))
    assert err.key == "instruments.sim.init.A.transmision" and "unknown key" in err.expected


def test_sim_channel_used_twice(tmp_path: Path) -> None:
    def edit(d: dict) -> None:  # type: ignore[type-arg]
        physics(d)["B"]["detectors"] = {1: {"outcome": 0}, 4: {"outcome": 1}}
    err = mutate(tmp_path, edit)
    assert err.key.startswith("instruments.sim.init.") and "channel 1" in err.expected


def test_unknown_top_level_section(tmp_path: Path) -> None:
    err = mutate(tmp_path, lambda d: d.update(qnics={}))
    assert err.key == "qnics"


def test_bad_window(tmp_path: Path) -> None:
    err = mutate(tmp_path, lambda d: wiring(d).update(window_ps=-5))
    assert err.key == f"{W}.window_ps"


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
    err = mutate(tmp_path, lambda d: d["instruments"].pop("sim"))
    assert err.key == "instruments.rotator_a.address"
    assert "qnic.sim.bench_instrument.SimulatedBench" in err.expected


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


LAB_MODULE = """
from qcodes.instrument import Instrument
from qnic.instruments.clock import VirtualClock

class LabThing(Instrument):
    def __init__(self, name, ok=False, seed=None, **kwargs):
        super().__init__(name, **kwargs)
        self.ok, self.seed, self.clock = ok, seed, VirtualClock()
"""


def test_a_section_registered_by_hand_is_read_and_opened(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from qnic.sections import SectionRegistry

    (tmp_path / "labsection.py").write_text(LAB_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))

    class Lab:
        address_schemes = ("lab://",)
        instrument_type = "labsection.LabThing"

        def parse(self, raw: object) -> object:
            if raw != {"ok": True}:
                raise ValueError("expected ok: true")
            return raw

        def channels(self, parsed: object) -> None:
            return None

        def check_address(self, address: str, parsed: object) -> None:
            pass

        def section_to_init(self, raw: dict) -> dict:  # type: ignore[type-arg]
            return dict(raw)

        def live(self, instrument: object) -> object:
            return instrument

    registry = SectionRegistry()
    registry.add("lab", Lab())
    monkeypatch.setattr("qnic.station.section_registry", lambda: registry)
    data = default_dict()
    data["instruments"]["lab"] = {"type": "labsection.LabThing", "init": {"ok": False}}
    with pytest.raises(StationError, match=r"station.yaml: instruments.lab.init: expected ok: true"):
        load_station_config(write(tmp_path, data))
    data["instruments"]["lab"]["init"]["ok"] = True
    cfg = load_station_config(write(tmp_path, data))
    assert cfg.section_instruments["lab"] == "lab" and cfg.extensions["lab"] == {"ok": True}
    with open_station(cfg, seed=3) as st:  # loaded first, with the seed
        lab = st.station.components["lab"]
        assert lab.ok is True and lab.seed == 3
    del data["instruments"]["lab"]
    data["lab"] = {"ok": True}  # the older layout: a top-level section
    with pytest.warns(DeprecatedSectionWarning, match="lab: a top-level section is deprecated"):
        cfg = load_station_config(write(tmp_path, data))
    assert cfg.instruments["lab"] == {"type": "labsection.LabThing", "init": {"ok": True}}


def test_the_older_layout_loads_with_a_warning_and_its_own_keys(tmp_path: Path) -> None:
    new = load_station_config()
    path = write(tmp_path, old_layout(default_dict()))
    with pytest.warns(DeprecatedSectionWarning) as caught:
        cfg = load_station_config(path)
    messages = sorted(str(w.message) for w in caught)
    assert len(messages) == 2
    assert "qnic: a top-level section is deprecated" in messages[0]
    assert "type: qnic.wiring.QNICWiring" in messages[0]
    assert "sim: a top-level section is deprecated" in messages[1] and "bench:" in messages[1]
    assert (cfg.arms, cfg.window_ps, cfg.source) == (new.arms, new.window_ps, new.source)
    assert repr(cfg.sim) == repr(new.sim)
    assert cfg.instruments["sim"]["init"]["bench"] == "default"
    with open_station(cfg, seed=4) as st:
        assert st.bench.params.seed == 4 and set(st.qnics) == {"A", "B"}
    for edit, key in [(lambda d: d["qnic"].pop("B"), "qnic.B"),
                      (lambda d: d["sim"]["A"].update(transmision=0.3), "sim.A.transmision"),
                      (lambda d: d["sim"].update(name=""), "sim.name")]:
        data = old_layout(default_dict())
        edit(data)
        with pytest.warns(DeprecatedSectionWarning), pytest.raises(StationError) as err:
            load_station_config(write(tmp_path, data))
        assert err.value.key == key


def test_the_wiring_instrument_is_required_once(tmp_path: Path) -> None:
    err = mutate(tmp_path, lambda d: d["instruments"].pop("qnic"))
    assert err.key == "instruments" and "qnic.wiring.QNICWiring" in err.expected
    err = mutate(tmp_path, lambda d: d["instruments"].update(qnic2=d["instruments"]["qnic"]))
    assert err.key == "instruments.qnic2" and "second QNIC wiring" in err.expected
    err = mutate(tmp_path, lambda d: physics(d).update(name="default"))
    assert err.key == "instruments.sim.init.name" and "instrument's" in err.expected


def test_parameters_of_a_taggers_inputs_are_set_after_it_makes_them(tmp_path: Path) -> None:
    data = default_dict()
    data["instruments"]["tagger"]["parameters"] = {"ch1.trigger_level_v": {"initial_value": 0.3},
                                                   "ch2.delay_ps": {"initial_value": 40}}
    with open_station(load_station_config(write(tmp_path, data))) as st:
        tagger = st.station.components["tagger"]
        assert tagger.submodules["ch1"].trigger_level_v() == 0.3
        assert tagger.submodules["ch2"].delay_ps() == 40
    data["instruments"]["tagger"]["parameters"] = {"ch9.trigger_level_v": {"initial_value": 0.3}}
    with pytest.raises(StationError) as err, open_station(load_station_config(write(tmp_path, data))):
        pass
    assert err.value.key == "instruments.tagger.parameters.ch9.trigger_level_v"
    assert "ch1" in err.value.expected


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
