"""qnic.chsh.analyze_counts: pure analysis, no bench."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import numpy as np
import pytest

from qnic.chsh import analyze_counts, correlator

REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata" / "bell"


def test_perfect_correlations_give_tsirelson_like_values() -> None:
    # E = +-1/sqrt 2 exactly: n = N/2 (1 +- E/...) chosen to make E = 0.5
    counts = {"00": [300, 100, 100, 300], "01": [300, 100, 100, 300],
              "10": [300, 100, 100, 300], "11": [100, 300, 300, 100]}
    r = analyze_counts(counts)
    assert r.E == {"00": 0.5, "01": 0.5, "10": 0.5, "11": -0.5}
    assert r.S == pytest.approx(2.0)
    # Var E = (1 - E^2) / N per setting
    assert r.S_err == pytest.approx(math.sqrt(4 * (1 - 0.25) / 800))
    assert r.win_probability == pytest.approx(0.75)


def test_error_propagation_matches_monte_carlo() -> None:
    # Poisson counts around a realistic CHSH pattern; the spread of S over many
    # seeded repetitions must match the propagated S_err (within 4 sigma of
    # the standard error of a standard deviation, sigma / sqrt(2 (K - 1)))
    rng = np.random.default_rng(42)
    mean = {"00": [800, 140, 140, 800], "01": [800, 140, 140, 800],
            "10": [800, 140, 140, 800], "11": [140, 800, 800, 140]}
    ref = analyze_counts(mean)
    k = 4000
    s = np.array([analyze_counts({key: rng.poisson(v).tolist() for key, v in mean.items()}).S
                  for _ in range(k)])
    assert abs(s.std(ddof=1) - ref.S_err) < 4 * ref.S_err / math.sqrt(2 * (k - 1))
    assert abs(s.mean() - ref.S) < 4 * ref.S_err / math.sqrt(k)


def test_correlator_with_variances() -> None:
    e, err = correlator([10, 0, 0, 10])
    assert e == 1.0 and err == 0.0
    e, err = correlator([9.0, 1.0, 1.0, 9.0], var=[10.0, 2.0, 2.0, 10.0])
    assert e == pytest.approx(0.8)
    expected = math.sqrt(((1 - 0.8) ** 2 * 10 * 2 + (-1 - 0.8) ** 2 * 2 * 2)) / 20
    assert err == pytest.approx(expected)


def test_accidental_subtraction_reported_beside_raw() -> None:
    counts = {"00": [400, 50, 50, 400], "01": [400, 50, 50, 400],
              "10": [400, 50, 50, 400], "11": [50, 400, 400, 50]}
    acc = {k: [20.0] * 4 for k in counts}
    r = analyze_counts(counts, acc, {k: [4.0] * 4 for k in counts})
    e_raw = 700 / 900
    e_net = 700 / 820
    assert r.S == pytest.approx(4 * e_raw)
    assert r.S_corrected == pytest.approx(4 * e_net)
    assert r.S_corrected_err is not None and r.S_corrected_err > r.S_err
    assert r.accidentals == {k: [20.0] * 4 for k in counts}


@pytest.mark.parametrize(("counts", "message"), [
    ({"00": [1, 2, 3, 4]}, "missing"),
    ({"00": [1, 2, 3], "01": [1, 1, 1, 1], "10": [1, 1, 1, 1], "11": [1, 1, 1, 1]}, "'00'"),
    ({"00": [1, 2, 3, -4], "01": [1, 1, 1, 1], "10": [1, 1, 1, 1], "11": [1, 1, 1, 1]}, "negative"),
    ({"00": [0, 0, 0, 0], "01": [1, 1, 1, 1], "10": [1, 1, 1, 1], "11": [1, 1, 1, 1]}, "no coincidences"),
    ({"00": [1, "x", 1, 1], "01": [1, 1, 1, 1], "10": [1, 1, 1, 1], "11": [1, 1, 1, 1]}, "not a finite"),
    ({"00": [1, 1, 1, 1], "01": [1, 1, 1, 1], "10": [1, 1, 1, 1], "11": [1, 1, 1, 1], "22": [1] * 4}, "unexpected"),
])
def test_bad_counts_rejected_with_the_key(counts: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValueError, match=message):
        analyze_counts(counts)


def _sheet_rows(path: Path) -> list[tuple[float, float, float]]:
    """(alpha, beta, coincidences) rows of the first sheet of the workbook."""
    ns = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}
    with zipfile.ZipFile(path) as z:
        root = ET.fromstring(z.read("xl/worksheets/sheet1.xml"))
    rows = []
    for row in root.iterfind(".//m:sheetData/m:row", ns):
        cells = {c.get("r", "")[0]: c for c in row.iterfind("m:c", ns)}
        if all(k in cells and cells[k].get("t") is None and cells[k].find("m:v", ns) is not None
               for k in "ABC"):
            rows.append(tuple(float(cells[k].find("m:v", ns).text) for k in "ABC"))  # type: ignore[union-attr,arg-type]
    return rows  # type: ignore[return-value]


def test_published_undergraduate_experiment() -> None:
    """lukeburns/entanglement (shared/realdata/bell): 16 coincidence counts,
    polarizers alpha, beta; CHSH with a = 45, a' = 0, b = 22.5, b' = -22.5 and
    S = E(a,b) - E(a,b') + E(a',b) + E(a',b'). In docs/chsh.md's layout
    (S = E00 + E01 + E10 - E11) that is x = 0 -> a', x = 1 -> a, y = 0 -> b,
    y = 1 -> b': the same angles as docs/chsh.md (A: 0, 45; B: 22.5, -22.5)."""
    path = REALDATA / "lukeburns_entanglement_data.xlsx"
    if not path.exists():
        pytest.skip("shared/realdata is not present")
    n = {(a, b): c for a, b, c in _sheet_rows(path)}
    assert len(n) == 16

    def perp(angle: float, choices: set[float]) -> float:
        return next(c for c in choices if (c - angle) % 180 == 90)

    alphas = {a for a, _ in n}
    betas = {b for _, b in n}
    a_set, b_set = {0: 0.0, 1: 45.0}, {0: 22.5, 1: -22.5}
    counts = {}
    for x, a in a_set.items():
        for y, b in b_set.items():
            ap, bp = perp(a, alphas), perp(b, betas)
            counts[f"{x}{y}"] = [n[(a, b)], n[(a, bp)], n[(ap, b)], n[(ap, bp)]]
    r = analyze_counts(counts)
    # the same arithmetic by hand from the sheet
    e = {k: (v[0] - v[1] - v[2] + v[3]) / sum(v) for k, v in counts.items()}
    assert r.S == pytest.approx(e["00"] + e["01"] + e["10"] - e["11"])
    # the published run violates the local bound: S = 2.56 +- 0.05
    assert r.S == pytest.approx(2.558, abs=0.005)
    assert r.sigmas_above_local > 10
