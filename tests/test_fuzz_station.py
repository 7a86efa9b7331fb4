"""Property test: the station loader takes any file a user can write.

The embedded default station is damaged at random (values replaced by
numbers at their limits, NaN, strings, lists, mappings or nothing; keys
dropped or added; the YAML text cut or overwritten) and checked with
``parse_station``: it loads, or raises ``StationError`` naming the file and
the key, never a TypeError, KeyError, AttributeError or a bare ValueError
(issue 17 item 5). 2,000 derandomized examples; the examples the fuzzer
found are kept with ``@example``.
"""

from __future__ import annotations

import copy
import warnings
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from qnic.station import StationError, default_station_path, parse_station

FUZZ = settings(max_examples=2000, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])
BASE_TEXT = default_station_path().read_text(encoding="utf-8")
BASE: dict[str, Any] = yaml.safe_load(BASE_TEXT)
# driver paths: real ones, and broken ones that must not reach an import of
# anything but a missing module (the alphabet of the random ones names none)
TYPES = ["qnic.instruments.rotators.elliptec.ELL14", "qnic.sim.bench_instrument.SimulatedBench",
         ".ELL14", "..a.B", "qnic.", "qnic.station.StationError", "qnic.nothing_here.X", "a..b"]
LEAVES = st.one_of(
    st.none(), st.booleans(), st.sampled_from([0, -1, 2**31, 2**63, 10**30, -(10**30)]),
    st.floats(allow_nan=True, allow_infinity=True), st.text(alphabet="ab._X:/?=&01 ", max_size=12),
    st.sampled_from(TYPES), st.lists(st.integers(-2, 5), max_size=3),
    st.dictionaries(st.sampled_from(["a", "A", "B", "1", "type", "init"]), st.integers(0, 3),
                    max_size=2))


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path into the nested mappings and lists of ``node``."""
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += _paths(value, (*prefix, i))
    return out


def _parent(data: Any, path: tuple[Any, ...]) -> Any:
    for key in path[:-1]:
        data = data[key]
    return data


def _dump(data: Any) -> str:
    return yaml.dump(data, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper))


def station_with(path: tuple[Any, ...], value: Any) -> str:
    """The default station with the value at ``path`` set to ``value``."""
    data = copy.deepcopy(BASE)
    _parent(data, path)[path[-1]] = value
    return _dump(data)


# found: a number among a detector's keys was a TypeError (str + int)
UNKNOWN_INT_KEY = station_with(("instruments", "sim", "init", "A", "detectors", 1, 7), 0)


@st.composite
def damaged_stations(draw: st.DrawFn) -> str:
    data = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(data)))
        action = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
        if not path:
            data = draw(LEAVES) if action == "replace" else data
            continue
        parent = _parent(data, path)
        if action == "replace":
            parent[path[-1]] = draw(LEAVES)
        elif action == "delete" and isinstance(parent, dict):
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.sampled_from(["extra", 7, None, "qnic", "sim", "type"]))] = draw(LEAVES)
    return _dump(data)


@st.composite
def damaged_texts(draw: st.DrawFn) -> str:
    """The station text with a slice overwritten by, or cut to, YAML-ish noise."""
    start = draw(st.integers(0, len(BASE_TEXT)))
    stop = draw(st.integers(start, min(len(BASE_TEXT), start + 40)))
    noise = draw(st.text(alphabet=" \t\n:-[]{}&*!|>'\"#%@`,?ab01", max_size=12))
    return BASE_TEXT[:start] + noise + BASE_TEXT[stop:]


def check(text: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # deprecated layouts still load
        try:
            config = parse_station(text, "fuzz.yaml")
        except StationError as exc:
            assert "fuzz.yaml" in str(exc)
            return
    assert config.path == "fuzz.yaml"


@FUZZ
@given(text=st.one_of(damaged_stations(), damaged_texts()))
@example(text=BASE_TEXT.replace("qnic.instruments.rotators.elliptec.ELL14", ".ELL14", 1))
@example(text=BASE_TEXT.replace("qnic.instruments.rotators.elliptec.ELL14", "..a.B", 1))
@example(text=UNKNOWN_INT_KEY)
def test_station_loader_raises_only_station_errors(text: str) -> None:
    check(text)


@pytest.mark.parametrize("bad_type", [".ELL14", "..a.B"])
def test_a_relative_driver_path_is_named(bad_type: str) -> None:
    text = BASE_TEXT.replace("qnic.instruments.rotators.elliptec.ELL14", bad_type, 1)
    with pytest.raises(StationError, match=r"instruments\.rotator_a\.type"):
        parse_station(text, "fuzz.yaml")


def test_a_number_among_a_detectors_keys_is_named() -> None:
    with pytest.raises(StationError, match=r"A\.detectors\.1\.7: unknown key"):
        parse_station(UNKNOWN_INT_KEY, "fuzz.yaml")
