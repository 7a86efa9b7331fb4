"""ReplayTimeTagger: recorded tags played as a TimeTagger (PTU, qnic .npz,
Photon-HDF5), with input delays, channel maps and a defined end of file."""

from __future__ import annotations

import io
import itertools
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from benches import make_bench

from qnic.coincidence import find_coincidences
from qnic.experiments.chsh import save_tags
from qnic.instruments.timetaggers.photon_hdf5 import write_photon_hdf5
from qnic.instruments.timetaggers.picoquant import (
    TagFileError,
    TagFileWarning,
    write_ptu,
)
from qnic.instruments.timetaggers.protocol import TagBatch, TimeTagger
from qnic.instruments.timetaggers.replay import (
    ReplayEndError,
    ReplayTimeTagger,
    load_channel_map,
)
from qnic.sim.tagger import SimulatedTimeTagger

REAL = Path(__file__).resolve().parents[2] / "shared" / "realdata" / "timetags"
PS = 10**12


def recording(seed: int = 1, n: int = 20_000, span_s: float = 1.0) -> TagBatch:
    rng = np.random.default_rng(seed)
    ts = np.sort(rng.integers(1, int(span_s * PS), n)).astype(np.int64)
    ch = rng.choice([1, 2, 3, 4], n).astype(np.int32)
    return TagBatch(ts, ch, 0, int(span_s * PS))


@pytest.fixture
def ptu(tmp_path: Path) -> tuple[Path, TagBatch]:
    rec = recording()
    path = tmp_path / "rec.ptu"
    write_ptu(path, [rec], input_channels=(1, 2, 3, 4))
    return path, rec


def test_builds_without_reading_and_fails_on_first_use(tmp_path: Path) -> None:
    tagger = ReplayTimeTagger("replay", tmp_path / "missing.ptu")
    assert tagger.position_s() == 0.0 and tagger.at_end() is False
    with pytest.raises(TagFileError, match="missing.ptu: cannot open it"):
        tagger.acquire(0.1)


def test_acquisitions_play_the_recording_in_order(ptu: tuple[Path, TagBatch]) -> None:
    path, rec = ptu
    tagger = ReplayTimeTagger("replay", path, chunk_records=997)
    assert isinstance(tagger, TimeTagger)  # (on Python 3.11 this reads input_channels)
    assert tagger.input_channels == (1, 2, 3, 4)
    batches = [tagger.acquire(0.3) for _ in range(3)] + [tagger.acquire(0.3)]
    assert [b.start_ps for b in batches] == [0, 3 * PS // 10, 6 * PS // 10, 9 * PS // 10]
    last = int(rec.timestamps[-1])
    assert batches[-1].stop_ps == last + 1  # the recording ends 1 ps after its last tag
    for b in batches:
        assert np.all((b.timestamps >= b.start_ps) & (b.timestamps < b.stop_ps))
    assert np.array_equal(np.concatenate([b.timestamps for b in batches]), rec.timestamps)
    assert np.array_equal(np.concatenate([b.channels for b in batches]), rec.channels)
    assert tagger.at_end() is True and tagger.position_s() == pytest.approx(last * 1e-12)


def test_end_of_file_is_an_error_or_an_empty_flagged_batch(ptu: tuple[Path, TagBatch]) -> None:
    path, rec = ptu
    tagger = ReplayTimeTagger("replay", path)
    tagger.acquire(5.0)
    end_s = f"{(int(rec.timestamps[-1]) + 1) * 1e-12:.6g}"
    with pytest.raises(ReplayEndError, match=rf"rec.ptu ended at {end_s} s of replay; no tags left"):
        tagger.acquire(0.1)
    tagger.end_of_file("empty")
    empty = tagger.acquire(0.1)
    assert empty.timestamps.size == 0 and empty.duration_s == 0 and tagger.at_end()
    assert [b.duration_s for b in tagger.stream(1.0, 0.1)] == [0.0]  # as acquire does
    tagger.rewind()
    assert tagger.at_end() is False
    assert np.array_equal(tagger.acquire(2.0).timestamps, rec.timestamps)
    with pytest.raises(ValueError, match=r"'wrap' is not in \{'e.*'\}; Parameter: replay.end_of"):
        tagger.end_of_file("wrap")


def test_stream_ends_with_the_recording(ptu: tuple[Path, TagBatch]) -> None:
    path, rec = ptu
    tagger = ReplayTimeTagger("replay", path)
    batches = list(tagger.stream(5.0, 0.25))
    assert len(batches) == 4 and batches[-1].stop_ps == int(rec.timestamps[-1]) + 1
    for first, second in itertools.pairwise(batches):
        assert first.stop_ps == second.start_ps
    with pytest.raises(ReplayEndError):
        next(tagger.stream(1.0, 0.1))
    with pytest.raises(ValueError, match="chunk must be > 0 s"):
        next(tagger.stream(1.0, 0.0))


def test_input_delays_shift_channels_and_keep_order(ptu: tuple[Path, TagBatch]) -> None:
    path, rec = ptu
    tagger = ReplayTimeTagger("replay", path, chunk_records=501)
    tagger.set_input_delay(2, 700_000)
    tagger.set_input_delay(3, -400_000)
    assert tagger.ch2.delay_ps() == 700_000
    batches = list(tagger.stream(2.0, 0.01))
    ts = np.concatenate([b.timestamps for b in batches])
    ch = np.concatenate([b.channels for b in batches])
    assert np.all(np.diff(ts) >= 0)
    shift = np.select([rec.channels == 2, rec.channels == 3], [700_000, -400_000], 0)
    kept = rec.timestamps + shift >= 0  # a negative delay moves tags before the start
    order = np.argsort(rec.timestamps + shift, kind="stable")
    expected_t = (rec.timestamps + shift)[order]
    expected_c = rec.channels[order]
    keep = expected_t >= 0
    assert kept.sum() == keep.sum()
    assert np.array_equal(ts, expected_t[keep]) and np.array_equal(ch, expected_c[keep])
    assert batches[-1].stop_ps == int(rec.timestamps[-1]) + 1 + 700_000


def test_bad_channels_and_delays_name_what_was_expected(ptu: tuple[Path, TagBatch]) -> None:
    tagger = ReplayTimeTagger("replay", ptu[0])
    with pytest.raises(ValueError, match=r"no input channel 7; expected one of \[1, 2, 3, 4\]"):
        tagger.set_input_delay(7, 0)
    with pytest.raises(ValueError, match="1000001 is invalid: must be between -1000000 and "
                                         "1000000 inclusive; Parameter: replay_ch1.delay_ps"):
        tagger.set_input_delay(1, 1_000_001)
    with pytest.raises(ValueError, match="-2000000 is invalid"):
        tagger.set_input_delay(1, -2_000_000)
    assert tagger.ch1.delay_ps() == 0


def test_trigger_levels_are_recorded_without_effect(ptu: tuple[Path, TagBatch]) -> None:
    path, rec = ptu
    tagger = ReplayTimeTagger("replay", path)
    tagger.set_trigger_level(1, -0.3)
    assert tagger.ch1.trigger_level_v() == -0.3
    assert np.array_equal(tagger.acquire(2.0).timestamps, rec.timestamps)


def test_count_rates(ptu: tuple[Path, TagBatch]) -> None:
    path, rec = ptu
    rates = ReplayTimeTagger("replay", path).count_rates(0.5)
    first_half = rec.timestamps < PS // 2
    assert rates == {c: pytest.approx(np.sum(rec.channels[first_half] == c) / 0.5)
                     for c in (1, 2, 3, 4)}


def test_channel_map_from_a_file(tmp_path: Path, ptu: tuple[Path, TagBatch]) -> None:
    path, rec = ptu
    mapping = tmp_path / "map.yaml"
    mapping.write_text("channels:\n  1: 5\n  3: 6\n")
    tagger = ReplayTimeTagger("replay", path, channel_map=mapping)
    assert tagger.input_channels == (5, 6)
    tagger.set_input_delay(6, 100)
    b = tagger.acquire(2.0)
    keep = np.isin(rec.channels, [1, 3])
    assert np.array_equal(b.of_channel(5), rec.timestamps[rec.channels == 1])
    assert np.array_equal(b.of_channel(6), rec.timestamps[rec.channels == 3] + 100)
    assert b.timestamps.size == keep.sum()
    with pytest.raises(ValueError, match="no input channel 1"):
        tagger.set_input_delay(1, 0)


@pytest.mark.parametrize("mapping, message", [
    ({1: 1, 9: 2}, (r"file channel\(s\) \[9\], which .*rec.ptu does not have; expected "
                    r"channels of the recording: \[1, 2, 3, 4\]")),
    ({1: 1, 2: 1}, "station channel 1 is mapped from two file channels"),
    ({1: "x"}, "expected integer channels"),
])
def test_bad_channel_maps(ptu: tuple[Path, TagBatch], mapping: dict[Any, Any], message: str) -> None:
    tagger = ReplayTimeTagger("replay", ptu[0], channel_map=mapping)
    for _ in range(2):  # and it stays refused
        with pytest.raises(TagFileError, match=message):
            tagger.acquire(0.1)


def test_channel_map_file_errors(tmp_path: Path) -> None:
    with pytest.raises(TagFileError, match="cannot read it"):
        load_channel_map(tmp_path / "none.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(TagFileError, match="expected a mapping of file channel to station"):
        load_channel_map(tmp_path / "list.yaml")
    (tmp_path / "ok.json").write_text('{"2": 4}')
    assert load_channel_map(tmp_path / "ok.json") == {2: 4}


def test_unknown_record_type_fails_on_first_use(tmp_path: Path) -> None:
    from qnic.instruments.timetaggers.picoquant import write_ptu_records

    path = tmp_path / "odd.ptu"
    write_ptu_records(path, 0x00010209, np.zeros(4, np.uint32), global_resolution_s=1e-12)
    tagger = ReplayTimeTagger("replay", path)
    with pytest.raises(TagFileError, match="unknown TTTR record type 0x00010209.*expected one of"):
        tagger.count_rates(0.1)


def test_chsh_side_file_replays_one_or_every_setting(tmp_path: Path) -> None:
    a, b = recording(seed=2, n=300, span_s=0.1), recording(seed=3, n=200, span_s=0.1)
    b = TagBatch(b.timestamps + PS // 10, b.channels, PS // 10, PS // 5)  # acquired after a
    path = tmp_path / "tags.npz"
    save_tags(path, [SimpleNamespace(key="00", batch=a), SimpleNamespace(key="01", batch=b)])  # type: ignore[list-item]
    every = ReplayTimeTagger("every", path)
    played = every.acquire(1.0)
    assert played.start_ps == int(a.timestamps[0])  # an .npz replays from its first tag
    assert np.array_equal(played.timestamps, np.concatenate([a.timestamps, b.timestamps]))
    one = ReplayTimeTagger("one", path, setting="01")
    assert np.array_equal(one.acquire(1.0).timestamps, b.timestamps)
    with pytest.raises(TagFileError, match=r"no setting '11'; expected one of \['00', '01'\]"):
        ReplayTimeTagger("bad", path, setting="11").acquire(0.1)


def test_photon_hdf5_and_open_streams(tmp_path: Path) -> None:
    rec = recording(seed=4, n=1000)
    path = tmp_path / "rec.h5"
    write_photon_hdf5(path, [rec])
    assert np.array_equal(ReplayTimeTagger("h5", path).acquire(2.0).timestamps, rec.timestamps)
    ptu_path = tmp_path / "rec.ptu"
    write_ptu(ptu_path, [rec])
    stream = io.BytesIO(ptu_path.read_bytes())
    tagger = ReplayTimeTagger("stream", "memory.ptu", port=stream)
    assert np.array_equal(tagger.acquire(2.0).channels, rec.channels)


def test_real_nonconformant_photon_hdf5_replays_with_its_unit() -> None:
    path = REAL / "jkl_photon_hdf5_min.h5"
    if not path.exists():
        pytest.skip("real data file jkl_photon_hdf5_min.h5 not present")
    tagger = ReplayTimeTagger("jkl", path, timestamps_unit_s=5e-9)
    with pytest.warns(TagFileWarning, match="photon_data0"):
        rates = tagger.count_rates(1.0)
    assert tagger.input_channels == (0, 1)
    # 1280 photons over 6.54 s of a 5 ns clock: about 100 Hz per detector in the first second
    assert 10 < rates[0] < 1000 and 10 < rates[1] < 1000


def test_replayed_simulation_gives_the_same_coincidences(tmp_path: Path) -> None:
    make_bench({"seed": 9, "pair_rate_hz": 1e5})
    sim = SimulatedTimeTagger("sim", bench="default")
    sim.set_input_delay(3, 2000)
    recorded = list(sim.stream(0.05, 0.01))
    path = tmp_path / "sim.ptu"
    write_ptu(path, recorded, input_channels=sim.input_channels)
    replay = ReplayTimeTagger("replay", path, chunk_records=4096)
    assert replay.input_channels == sim.input_channels
    played = list(replay.stream(0.05, 0.007))
    t_rec = np.concatenate([b.timestamps for b in recorded])
    c_rec = np.concatenate([b.channels for b in recorded])
    t_rep = np.concatenate([b.timestamps for b in played])
    c_rep = np.concatenate([b.channels for b in played])
    assert np.array_equal(t_rec, t_rep) and np.array_equal(c_rec, c_rep)
    pairs = find_coincidences(t_rec[c_rec == 1], t_rec[c_rec == 3], 1000, delay_ps=2000)[0]
    again = find_coincidences(t_rep[c_rep == 1], t_rep[c_rep == 3], 1000, delay_ps=2000)[0]
    assert pairs.size == again.size > 0


def test_parameters_document_themselves(ptu: tuple[Path, TagBatch]) -> None:
    tagger = ReplayTimeTagger("replay", ptu[0])
    tagger.input_channels  # noqa: B018 - opens the file, builds the inputs
    params = list(tagger.parameters.values()) + [
        p for sub in tagger.submodules.values() for p in sub.parameters.values()]
    params = [p for p in params if p.name != "IDN"]
    assert len(params) == 3 + 2 * 4
    for p in params:
        assert p.unit is not None and p.vals is not None and p.__doc__ and p.label, p.full_name
