"""The house has one direction (docs/architecture.md): each layer imports only
the layers below it, no module imports itself back through others, and the
wheel installs one import name.

Every import statement counts, also inside functions and under
``TYPE_CHECKING``: a lazy import is still an arrow.
"""

from __future__ import annotations

import ast
import importlib.util
import sys
import warnings
import zipfile
from pathlib import Path

import pytest
from layout import PACKAGE_ROOTS, PACKAGES, ROOT, copy_source, folder_of, module_files

LAYERS: dict[str, str] = {
    "qnic.instruments": "instruments",
    "qnic.sim": "sim",
    "qnic.calibration": "procedures:calibration",
    "qnic.experiments": "procedures:experiments",
    "qnic.cli": "cli",
}
"""Layer of each subpackage; every other module of qnic is the core."""

MAY_IMPORT: dict[str, set[str]] = {
    "instruments": {"instruments"},
    "sim": {"sim", "instruments"},
    "core": {"core", "instruments"},
    "procedures:calibration": {"procedures:calibration", "core", "instruments"},
    "procedures:experiments": {"procedures:experiments", "core", "instruments"},
    "cli": {"cli", "procedures:calibration", "procedures:experiments", "core", "sim", "instruments"},
}
"""Bottom to top: drivers; the simulated bench beside and behind them; the core;
the procedures (calibration and experiments, apart from each other); the
command line. ``qnic`` itself (the root ``__init__``) belongs to no layer and
imports nothing of the project."""

MODULES = module_files()


def layer_of(module: str) -> str:
    for prefix, layer in LAYERS.items():
        if module == prefix or module.startswith(prefix + "."):
            return layer
    return "core"


def _resolve(module: str, path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    base = package.split(".")[: len(package.split(".")) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def project_imports(module: str, path: Path) -> list[tuple[str, int]]:
    """(imported project module, line) for every import statement of ``module``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, path, node)
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.append((sub if sub in MODULES else target, node.lineno))
    return [(name, line) for name, line in found if name == "qnic" or name.startswith("qnic.")]


GRAPH = {m: project_imports(m, p) for m, p in MODULES.items()}


def test_the_package_list_covers_every_folder() -> None:
    folders = {p.parent for p in ROOT.glob("*/**/__init__.py")
               if p.parent.parts[len(ROOT.parts)] in set(PACKAGE_ROOTS.values())}
    assert folders == {folder_of(p) for p in PACKAGES}


def test_every_import_names_a_module_of_the_package() -> None:
    unknown = [f"{m}:{line} imports {name}" for m, edges in GRAPH.items()
               for name, line in edges if name not in MODULES]
    assert not unknown


def test_no_layer_imports_a_higher_one() -> None:
    upward = [f"{m}:{line} ({layer_of(m)}) imports {name} ({layer_of(name)})"
              for m, edges in GRAPH.items() for name, line in edges
              if name != "qnic" and layer_of(name) not in MAY_IMPORT[layer_of(m)]]
    assert not upward, "\n".join(upward)


def test_the_root_package_imports_nothing_of_the_project() -> None:
    # every import of qnic.anything runs qnic/__init__.py first, in every layer
    assert GRAPH["qnic"] == []


def _cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w, _ in GRAPH.get(v, []):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10 * len(MODULES)))
    try:
        for v in MODULES:
            if v not in index:
                visit(v)
    finally:
        sys.setrecursionlimit(limit)
    return out


def test_no_import_circles() -> None:
    assert _cycles() == []


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    # the checker itself: a core module importing the simulator is caught
    fake = tmp_path / "x.py"
    fake.write_text("def f():\n    from qnic.sim.bench import Bench\n")
    edges = project_imports("qnic.station", fake)
    assert edges == [("qnic.sim.bench", 2)]
    assert layer_of("qnic.sim.bench") not in MAY_IMPORT[layer_of("qnic.station")]


def test_the_check_sees_a_circle(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(GRAPH, "qnic.bases", [*GRAPH["qnic.bases"], ("qnic.node", 1)])
    assert any({"qnic.bases", "qnic.node"} <= set(c) for c in _cycles())


@pytest.mark.parametrize("generic", ["instruments", "experiments", "calibration", "sim_backends", "cli"])
def test_no_generic_top_level_name_is_importable_from_elsewhere(generic: str, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    # the checkout's folders stay where they are; installed, only qnic is a name
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if Path(p or ".").resolve() != ROOT])
    assert importlib.util.find_spec(generic) is None


def test_station_types_resolve_under_the_namespace() -> None:
    text = (ROOT / "qnic" / "stations" / "default.yaml").read_text(encoding="utf-8")
    types = [line.split(":", 1)[1].strip() for line in text.splitlines()
             if line.strip().startswith("type:")]
    assert types and all(t.startswith("qnic.") for t in types)


def test_a_built_wheel_holds_only_qnic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    build_meta = pytest.importorskip("setuptools.build_meta")
    source = copy_source(tmp_path / "source")
    monkeypatch.chdir(source)
    with warnings.catch_warnings():  # the build's own chatter is not ours to judge
        warnings.simplefilter("ignore")
        name = build_meta.build_wheel(str(tmp_path / "dist"))
    with zipfile.ZipFile(tmp_path / "dist" / name) as zf:
        names = zf.namelist()
        entry_points = zf.read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    tops = {n.split("/", 1)[0] for n in names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"qnic"}
    for module in MODULES:
        path = module.replace(".", "/")
        assert f"{path}.py" in names or f"{path}/__init__.py" in names, module
    assert "qnic/stations/default.yaml" in names and "qnic/py.typed" in names
    assert "[qnic.station_sections]" in entry_points
    assert "sim = qnic.sim.station_section:SimSection" in entry_points
