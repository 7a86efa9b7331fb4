"""Closed forms of the pair source (qnic.pair_source), heralded g2, and the
commands built on them (`qnic car-scan`, `qnic g2`), against the bench.

Statistical checks use fixed seeds and 4 standard deviations of the measured
quantity (Poisson counts), as stated at each assert.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from station_files import default_dict, physics, wiring, write

from qnic.cli import main
from qnic.cli.g2 import source_model
from qnic.coincidence import OutcomeStream
from qnic.coincidence.herald import HeraldedG2Counter, g2_from_counts, heralded_g2
from qnic.pair_source import DetectorModel, SourceModel
from qnic.sim.bench import Bench
from qnic.sim.params import bench_params


# -- counting -------------------------------------------------------------------

def _brute(t, ch, window, delays):
    th = t[ch == 1] - delays.get(1, 0)
    t1, t2 = t[ch == 3] - delays.get(3, 0), t[ch == 4] - delays.get(4, 0)
    h1 = np.array([np.any(np.abs(t1 - x) <= window) for x in th], dtype=bool)
    h2 = np.array([np.any(np.abs(t2 - x) <= window) for x in th], dtype=bool)
    return th.size, int(h1.sum()), int(h2.sum()), int((h1 & h2).sum())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_herald_counts_equal_brute_force_in_any_batches(seed):
    rng = np.random.default_rng(seed)
    t = np.sort(rng.integers(0, 2_000_000, 3000))
    ch = rng.integers(1, 5, t.size)
    delays = {3: int(rng.integers(-900, 900)), 4: int(rng.integers(-900, 900))}
    want = _brute(t, ch, 400, delays)
    assert heralded_g2(t, ch, 1, (3, 4), 400, delays)[2:] == want
    counter = HeraldedG2Counter(1, (3, 4), 400, delays)
    for part in np.array_split(np.arange(t.size), int(rng.integers(2, 40))):
        if part.size:
            counter.push(t[part], ch[part], until_ps=int(t[part[-1]]) + 1)
    assert counter.finish()[2:] == want


def test_g2_from_counts_and_bad_input():
    r = g2_from_counts(1000, 100, 50, 5)
    assert r.g2 == pytest.approx(1.0)
    assert r.g2_err == pytest.approx(math.sqrt(1 / 5 + 1 / 100 + 1 / 50 + 1 / 1000))
    assert math.isnan(g2_from_counts(10, 0, 5, 0).g2)
    with pytest.raises(ValueError, match="inconsistent counts"):
        g2_from_counts(10, 5, 5, 6)
    with pytest.raises(ValueError, match="must differ"):
        HeraldedG2Counter(1, (1, 4), 100)
    with pytest.raises(ValueError, match="p_ab must be a 2 x 2"):
        SourceModel(1e5, (DetectorModel(0.2),) * 4, 1000).predict(np.ones((2, 2)))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="statistics"):
        SourceModel(1e5, (DetectorModel(0.2),) * 4, 1000, statistics="laser")  # type: ignore[arg-type]


# -- closed forms against the bench ------------------------------------------------

def _bench(rate: float, dead_ns: float = 22.0, statistics: str = "poisson", tau_ps: float = 1.0,
           seed: int = 3) -> Bench:
    det = {"dead_time_ns": dead_ns, "dark_count_hz": 2e4}
    return Bench(bench_params({
        "seed": seed, "pair_rate_hz": rate, "pair_statistics": statistics, "coherence_time_ps": tau_ps,
        "state": {"visibility": 1.0, "coherence": 1.0},
        "A": {"detectors": {1: {"outcome": 0, **det}, 2: {"outcome": 1, **det}}},
        "B": {"detectors": {3: {"outcome": 0, **det}, 4: {"outcome": 1, **det}}}}))


def _model(bench: Bench, window_ps: float) -> SourceModel:
    return source_model(bench, window_ps)  # type: ignore[no-any-return]


def _p(bench: Bench, hwp_a: float, hwp_b: float) -> np.ndarray:
    rates = bench.predicted_coincidence_rates(hwp_a, hwp_b, window_ps=0)
    return rates / rates.sum()


@pytest.mark.parametrize("rate,dead_ns", [(1e5, 22.0), (1e6, 22.0), (3e6, 22.0), (2e6, 200.0)])
def test_rates_follow_the_closed_form_with_dead_time_and_double_clicks(rate, dead_ns):
    seconds, window = 1.0, 1500
    bench = _bench(rate, dead_ns)
    bench.motor("A").set_angle(0.0, 0.0)
    bench.motor("B").set_angle(22.5, 0.0)
    stream = OutcomeStream((1, 2), (3, 4), window, {}, (0, 1_000_000, 2_000_000, 3_000_000, 4_000_000))
    stream.push(*bench.detect_stream(0.0, seconds))
    true, *shifted = stream.finish()
    pred = _model(bench, window).predict(_p(bench, 0.0, 22.5))
    singles = np.array([true.singles[c] for c in (1, 2, 3, 4)], dtype=float)
    # 4 sigma of a Poisson count (dead time makes the singles slightly sub-Poisson: conservative)
    assert np.all(np.abs(singles - pred.singles_hz * seconds) < 4 * np.sqrt(pred.singles_hz * seconds))
    n, want = float(true.n.sum()), float(pred.coincidences_hz.sum()) * seconds
    assert abs(n - want) < 4 * math.sqrt(want), (n, want)
    off, want_off = float(np.sum([c.n for c in shifted])), 4 * float(pred.offset_hz.sum()) * seconds
    assert abs(off - want_off) < 4 * math.sqrt(want_off) + 1, (off, want_off)
    # the dead time is visible: at 2e6 pairs/s and 200 ns, 3.4 % of the clicks are lost,
    # against a Poisson spread of 0.12 % of the total
    if dead_ns > 100:
        assert singles.sum() < 0.975 * (pred.singles_hz * (1 + pred.singles_hz * 200e-9)).sum() * seconds


@pytest.mark.parametrize("statistics,tau_ps", [("poisson", 1.0), ("thermal", 5000.0)])
def test_heralded_g2_follows_the_multipair_model(statistics, tau_ps):
    """Poisson pairs: g2 ~ 2 R (2w); one thermal mode adds 2 R tau (its pairs
    bunch). 4 sigma of the measured g2 (its Poisson error); the closed form,
    first order in the multi-pair terms, sits within about 5 % (1 sigma here)."""
    window, seconds = 5000, 4.0
    bench = _bench(3e6, statistics=statistics, tau_ps=tau_ps, seed=8)
    bench.motor("A").set_angle(0.0, 0.0)
    bench.motor("B").set_angle(22.5, 0.0)
    t, ch = bench.detect_stream(0.0, seconds)
    got = heralded_g2(t, ch, 1, (3, 4), window)
    model = _model(bench, window)
    want = model.heralded_g2(_p(bench, 0.0, 22.5))
    assert abs(got.g2 - want) < 4 * got.g2_err + 0.05 * want, (got.g2, got.g2_err, want)
    if statistics == "thermal":  # the bunching is resolved: above the Poisson value by > 4 sigma
        poisson = SourceModel(model.pair_rate_hz, model.detectors, window).heralded_g2(_p(bench, 0.0, 22.5))
        assert got.g2 - poisson > 4 * got.g2_err


def test_thermal_pairs_bunch_and_keep_their_mean_rate():
    """Pair-number statistics of one mode: the bench's emission times have
    the mean rate R and, counted per coherence time, the Bose-Einstein
    second moment E[n(n-1)] = 2 mu^2 (Poisson: mu^2). 4 sigma of each."""
    bench = _bench(2e6, statistics="thermal", tau_ps=50_000.0, seed=4)
    times = bench._pair_times(0, 2 * 10**11)  # 0.2 s
    assert abs(times.size - 4e5) < 4 * math.sqrt(4e5 * 1.1)
    n = np.bincount((times // 50_000).astype(np.int64))
    mu = 0.1
    m2 = float((n * (n - 1)).mean())
    sd = math.sqrt(float(np.var(n * (n - 1))) / n.size)
    assert abs(m2 - 2 * mu**2) < 4 * sd, (m2, 2 * mu**2, sd)


# -- the commands ----------------------------------------------------------------

def test_car_scan_fits_the_benchs_efficiencies(tmp_path, capsys):
    out = tmp_path / "car.png"
    assert main(["car-scan", "--seconds", "0.3", "--rates", "2e4,1e5,5e5,2e6", "--seed", "5", "--json",
                 "--out", str(out), "--db", str(tmp_path / "runs.db")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert out.stat().st_size > 10_000
    points = report["points"]
    assert [p["pair_rate_hz"] for p in points] == [2e4, 1e5, 5e5, 2e6]
    # the default bench: transmission 0.3 x efficiency 0.65 per arm, 22 ns dead
    # time, 300 + 250 and 280 + 320 Hz of dark counts: within 4 of the fit's
    # standard errors (which say how little a short scan pins the dead time)
    fit, err = report["fit"], report["fit"]["errors"]
    assert fit["efficiency"] == pytest.approx([0.195, 0.195], rel=0.02)
    assert abs(fit["efficiency"][0] - 0.195) < 4 * err["efficiency_a"] + 0.002
    assert abs(fit["dead_time_s"] - 22e-9) < 4 * err["dead_time_s"]
    assert abs(fit["dark_hz"][1] - 600.0) < 4 * err["dark_hz_b"]
    assert 0 < err["dark_hz_a"] < 1000 and 0 < err["pair_window"] < 0.05
    # CAR falls as 1 / R at high rate: 4x the rate, about a quarter of the CAR
    assert points[3]["car"] < 0.4 * points[2]["car"]
    assert all(abs(p["visibility"] - 0.96 * 0.95) < 4 * p["visibility_err"] + 0.01 for p in points)


def test_car_scan_bad_input(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["car-scan", "--rates", "1e4,-5"])
    assert exc.value.code == 2
    assert "every pair rate must be" in capsys.readouterr().err
    st = default_dict()
    wiring(st).pop("source")
    path = write(tmp_path, st)
    assert main(["car-scan", "--station", str(path), "--db", str(tmp_path / "r.db")]) == 2
    assert "names no source" in capsys.readouterr().err
    assert main(["car-scan", "--out", str(tmp_path / "missing" / "x.png")]) == 2
    capsys.readouterr()
    # beyond what the source can set: refused before anything is measured
    assert main(["car-scan", "--rates", "1e4,1e12", "--db", str(tmp_path / "r.db"),
                 "--out", str(tmp_path / "x.png")]) == 2
    assert "--rates: 1e+12 Hz is not a pair rate source" in capsys.readouterr().err


def test_car_scan_without_accidentals_plots_and_reports(tmp_path, capsys):
    """Short low-rate points count no accidental (CAR unbounded at every
    point): the plot is still written, and a point whose anticorrelated
    cells are empty (V = 1) gets an error of about one count, not none."""
    out = tmp_path / "car.png"
    assert main(["car-scan", "--rates", "1e4,1.1e4,1.2e4", "--seconds", "0.1", "--seed", "1", "--json",
                 "--out", str(out), "--db", str(tmp_path / "r.db")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert out.stat().st_size > 10_000
    for p in report["points"]:
        assert p["car"] is None  # no accidentals: JSON's null for infinity
        n = p["coincidences"]
        assert p["visibility_err"] > 1.9 / n  # 2 / N for V = 1


def test_qnic_g2_on_a_thermal_bench_matches_its_closed_form(tmp_path, capsys):
    st = default_dict()
    physics(st).update(pair_rate_hz=3e6, pair_statistics="thermal", coherence_time_ps=3000.0)
    path = write(tmp_path, st)
    assert main(["g2", "--station", str(path), "--seconds", "6", "--window-ps", "5000", "--seed", "2",
                 "--json", "--db", str(tmp_path / "runs.db")]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["triples"] > 100
    # 4 sigma of the measured g2, plus the closed form's own first-order
    # precision in the multi-pair terms (about 5 %, docs/physics.md)
    assert abs(r["g2"] - r["predicted_g2"]) < 4 * r["g2_err"] + 0.05 * r["predicted_g2"], r


def test_qnic_g2_without_heralded_clicks_is_undefined(tmp_path, capsys):
    """0.1 ms: no heralded click on the HBT detectors. g2 is undefined: one
    line naming the channels, null in strict JSON (no NaN), exit 1."""
    db = str(tmp_path / "r.db")
    assert main(["g2", "--seconds", "0.0001", "--seed", "1", "--json", "--db", db]) == 1
    r = json.loads(capsys.readouterr().out, parse_constant=lambda c: pytest.fail(f"{c} in JSON"))
    assert r["g2"] is None and r["g2_err"] is None and r["herald_1"] == 0
    assert main(["g2", "--seconds", "0.0001", "--seed", "1", "--db", db]) == 1
    assert "g2(0) undefined: no heralded click on HBT channel 3 or 4" in capsys.readouterr().out


def _pump_station(tmp_path):
    st = default_dict()
    st["instruments"]["pump"] = {"type": "qnic.instruments.lasers.itc4000.ITC4001",
                                 "address": "sim://itc4001?bench=default"}
    st["instruments"]["pump_meter"] = {"type": "qnic.instruments.powermeters.pm100.PM100D",
                                       "address": "sim://pm100d?bench=default"}
    return write(tmp_path, st, "pump.yaml")


def test_car_scan_drives_a_pump_controller_and_reads_the_meter(tmp_path, capsys):
    path = _pump_station(tmp_path)
    assert main(["car-scan", "--station", str(path), "--currents-ma", "45,60,80,100", "--seconds", "0.3",
                 "--seed", "6", "--json", "--out", str(tmp_path / "p.png"), "--db", str(tmp_path / "r.db")]) == 0
    report = json.loads(capsys.readouterr().out)
    points = report["points"]
    assert [p["pump_current_a"] for p in points] == pytest.approx([0.045, 0.060, 0.080, 0.100])
    power = np.array([p["pump_power_w"] for p in points])
    singles = np.array([p["singles_a_hz"] for p in points])
    assert np.all(np.diff(power) > 0) and np.all(np.diff(singles) > 0)
    # above threshold the pair rate, so the singles less the dark counts, follow
    # the pump power: the same ratio at every current within 4 sigma (Poisson, 0.3 s)
    dark = 550.0
    ratio = (singles - dark) / power
    err = np.sqrt(singles / 0.3) / power
    assert np.all(np.abs(ratio - ratio.mean()) < 4 * np.hypot(err, err.mean() / 2))
    assert report["fit"] is not None


def test_car_scan_from_below_the_pump_threshold(tmp_path, capsys):
    """A current below threshold: no pairs, the meter reads about 0 W (a hair
    below, with its noise) and the point has no visibility; the fit and the
    plot still come out, the visibility from the other points, and the summary
    leaves out the share of pairs counted, meaningless against pump power."""
    path = _pump_station(tmp_path)
    args = ["car-scan", "--station", str(path), "--currents-ma", "20,45,60,80,100", "--seconds", "0.2",
            "--seed", "3", "--out", str(tmp_path / "p.png"), "--db", str(tmp_path / "r.db")]
    assert main([*args, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["points"][0]["visibility"] is None  # no coincidences at 20 mA
    assert 0.8 < report["fit"]["visibility"] < 1.0
    assert (tmp_path / "p.png").stat().st_size > 10_000
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "detection per W of pump" in text and "pairs counted" not in text


def test_car_scan_on_a_pump_station_needs_currents(tmp_path, capsys):
    path = _pump_station(tmp_path)
    assert main(["car-scan", "--station", str(path), "--db", str(tmp_path / "r.db")]) == 2
    assert "give the currents to scan with --currents-ma" in capsys.readouterr().err
    assert main(["car-scan", "--station", str(path), "--currents-ma", "40,5000", "--out",
                 str(tmp_path / "x.png"), "--db", str(tmp_path / "r.db")]) == 2
    assert "5000 mA is above the controller's" in capsys.readouterr().err
    assert main(["car-scan", "--currents-ma", "40,50", "--db", str(tmp_path / "r.db")]) == 2
    assert "needs a pump controller" in capsys.readouterr().err


def test_ctrl_c_in_a_car_scan_keeps_the_finished_points(tmp_path, capsys, monkeypatch):
    """A SIGINT while the third rate is measured: exit 130, one line, the two
    finished points in the database (docs/storage.md)."""
    import signal

    from qcodes.dataset import load_by_run_spec

    from qnic.experiments import car_scan

    real = car_scan.measure_point
    calls = []

    def measure(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            signal.raise_signal(signal.SIGINT)
        return real(*args, **kwargs)

    monkeypatch.setattr(car_scan, "measure_point", measure)
    assert main(["car-scan", "--rates", "1e4,1e5,1e6,2e6", "--seconds", "0.1", "--out",
                 str(tmp_path / "c.png"), "--db", str(tmp_path / "r.db")]) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("qnic: interrupted; 2 points kept (run "), err
    run_id = int(err[0].split("(run ")[1].split()[0])
    data = load_by_run_spec(captured_run_id=run_id).get_parameter_data()
    assert data["car"]["pair_rate_hz"].tolist() == [1e4, 1e5]
