"""The benchmark runner (``python -m benchmarks``): its command line, its
writers and the README's generated table. Nothing here times anything or runs
a benchmark; the figures are made up."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from layout import ROOT

BENCH = ROOT / "benchmarks"


def _package() -> ModuleType:
    """The repository's ``benchmarks`` package (a checkout folder, not installed)."""
    found = sys.modules.get("benchmarks")
    if found is None or Path(found.__file__ or "").resolve() != BENCH / "__init__.py":
        spec = importlib.util.spec_from_file_location(
            "benchmarks", BENCH / "__init__.py", submodule_search_locations=[str(BENCH)])
        assert spec is not None and spec.loader is not None
        found = importlib.util.module_from_spec(spec)
        sys.modules["benchmarks"] = found
        spec.loader.exec_module(found)
    return found


def _fake_rows() -> list:
    common = importlib.import_module("benchmarks.common")
    rate = common.compare("matching", "find_coincidences on fake tags", "tags/s",
                          [200e6, 210e6, 190e6, 205e6, 195e6], "plain loop",
                          [100e6, 105e6, 95e6, 100e6, 100e6], higher_is_better=True,
                          reference="ETA: 49 M tags/s")
    time_ = common.compare("startup", "qnic --help | a pipe in the text", "s",
                           [0.06, 0.07, 0.065, 0.061, 0.062], "python -c pass",
                           [0.02, 0.021, 0.022, 0.02, 0.023], higher_is_better=False)
    alone = common.compare("xor", "quantum_value per game", "s", [2e-3] * 5,
                           "unavailable: toqito does not import here", higher_is_better=False)
    return [rate, time_, alone]


def test_the_runner_answers_help() -> None:
    out = subprocess.run([sys.executable, "-m", "benchmarks", "--help"], cwd=ROOT,
                         capture_output=True, text=True, check=True, timeout=60).stdout
    for word in ("--quick", "--only", "--json", "--markdown", "--readme"):
        assert word in out
    for name in _package().BENCHMARKS:
        assert name in out


def test_every_benchmark_module_exposes_run() -> None:
    names = _package().BENCHMARKS
    assert {p.stem for p in BENCH.glob("bench_*.py")} == set(names.values())
    for module_name in names.values():
        module = importlib.import_module(f"benchmarks.{module_name}")
        assert callable(module.run), module_name
        assert list(inspect.signature(module.run).parameters) == ["quick"], module_name
        assert callable(module.main), module_name  # still runs as a script


def test_ratios_are_oriented_so_that_above_one_is_better() -> None:
    _package()
    rate, time_, alone = _fake_rows()
    assert rate.ratio == pytest.approx(2.0) and rate.ratio_basis == "ours / baseline"
    assert time_.ratio == pytest.approx(1 / 3, rel=0.1)
    assert time_.ratio_basis == "baseline time / ours"
    assert alone.ratio is None and alone.baseline_stats is None
    ours = rate.ours
    assert (ours.median, ours.low, ours.high, ours.n) == (200e6, 190e6, 210e6, 5)


def test_json_keeps_every_field_and_each_rows_machine(tmp_path: Path) -> None:
    _package()
    report = importlib.import_module("benchmarks.report")
    rows = _fake_rows()
    report.write_json(tmp_path / "r.json", rows)
    data = json.loads((tmp_path / "r.json").read_text())
    for item in data["rows"]:
        assert {"benchmark", "measured", "unit", "ours", "baseline", "baseline_stats", "ratio",
                "ratio_basis", "quick", "machine", "date", "reference", "notes"} <= set(item)
        assert {"cpu", "cores", "python", "numpy", "numba"} <= set(item["machine"])
    assert report.load(tmp_path / "r.json") == rows
    merged = report.merge(rows, [rows[0]], ["matching", "startup"])
    assert [r.benchmark for r in merged] == ["xor", "matching"]


def test_markdown_table_has_the_columns_on_every_row() -> None:
    _package()
    report = importlib.import_module("benchmarks.report")
    rows = _fake_rows()
    lines = report.table(rows).splitlines()
    assert lines[0] == "| " + " | ".join(report.COLUMNS) + " |"
    assert len(lines) == 2 + len(rows)
    for line, row in zip(lines[2:], rows):
        cells = [c.strip() for c in line.strip("|").split(" | ")]
        assert len(cells) == len(report.COLUMNS), line
        assert cells[0] == row.benchmark
        assert cells[-1].startswith(row.machine["cpu"]) and row.date[:10] in cells[-1]
    assert "200 M tags/s (190-210)" in lines[2] and "2.00x (ours / baseline)" in lines[2]
    assert "ETA: 49 M tags/s" in lines[2]
    assert "62 ms (60-70)" in lines[3] and "--help \\| a pipe" in lines[3]  # escaped, not split
    assert "unavailable: toqito" in lines[4]


def test_readme_option_replaces_exactly_the_marked_section(tmp_path: Path) -> None:
    _package()
    report = importlib.import_module("benchmarks.report")
    runner = importlib.import_module("benchmarks.__main__")
    rows = _fake_rows()
    report.write_json(tmp_path / "results.json", rows)
    head = "# Project\n\n## Performance\n\nintro\n\n"
    tail = "\n\nafter the table\n## Next\n"
    readme = tmp_path / "README.md"
    readme.write_text(f"{head}{report.START}\n| old | table |\n{report.END}{tail}")
    assert runner.main(["--readme", "--json", str(tmp_path / "results.json"),
                        "--readme-path", str(readme)]) == 0
    text = readme.read_text()
    assert text.startswith(head + report.START + "\n") and text.endswith(report.END + tail)
    assert "| old | table |" not in text and report.table(rows) in text
    assert importlib.import_module("benchmarks.common").machine_text(rows[0].machine) in text
    with pytest.raises(ValueError, match="expected one"):
        report.replace_marked("no markers here", "x")


def test_the_readme_has_one_marked_performance_table() -> None:
    _package()
    report = importlib.import_module("benchmarks.report")
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert text.count(report.START) == 1 and text.count(report.END) == 1
    assert text.index("## Performance") < text.index(report.START) < text.index(report.END)
