"""Several queueing studies at once: over N (does only N/M matter?) and over C subtypes K.

``qnic lb-sim --balancers 100 1000 10000 --c-subtypes 1 2 4`` runs one
:class:`~qnic.experiments.lb_study.StudyConfig` per (N, K), every point of
every study in one pool (local processes or a Dask cluster), and reports
each study, its knees with their intervals over seeds, and per strategy and
K the spread of the knee over N: the paper claims the curves depend on N/M
only, which holds when that spread is within the knees' intervals.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from qnic.balancing import HERALDING_NOTE
from qnic.experiments.lb_cluster import ClusterSpec
from qnic.experiments import lb_report
from qnic.experiments.lb_study import (
    Progress,
    StudyConfig,
    StudyResult,
    collect,
    format_study,
    run_points,
)

FAMILY_JSON, FAMILY_PNG = "lb_family.json", "lb_family.png"


def family_configs(base: StudyConfig, balancers: Sequence[int],
                   subtypes: Sequence[int]) -> list[StudyConfig]:
    """One validated config per (K, N), K-major."""
    return [replace(base, balancers=n, c_subtypes=k).validate()
            for k in subtypes for n in balancers]


def run_family(configs: Sequence[StudyConfig], workers: int = 1,
               cluster: ClusterSpec | None = None,
               progress: Progress | None = None) -> list[StudyResult]:
    """Every point of every study in one run (one pool, one progress count)."""
    specs = [c.point_specs() for c in configs]
    flat = run_points([s for group in specs for s in group], workers, cluster, progress)
    out, start = [], 0
    for config, group in zip(configs, specs):
        out.append(collect(config, flat[start:start + len(group)]))
        start += len(group)
    return out


def knee_spread(results: Sequence[StudyResult]) -> dict[str, dict[str, Any]]:
    """Per strategy and K: knees over N, their spread, and the widest per-seed interval."""
    out: dict[str, dict[str, Any]] = {}
    for r in results:
        report = r.to_dict()
        for name in r.config.strategies:
            entry = out.setdefault(name, {}).setdefault(
                str(r.config.c_subtypes), {"balancers": [], "knee": [], "knee_ci": []})
            entry["balancers"].append(r.config.balancers)
            entry["knee"].append(report["knee"][name])
            ci = report["knee_ci"][name]
            entry["knee_ci"].append(None if ci["low"] is None else [ci["low"], ci["high"]])
    for per_k in out.values():
        for entry in per_k.values():
            knees = [k for k in entry["knee"] if k is not None]
            widths = [hi - lo for lo, hi in (c for c in entry["knee_ci"] if c is not None)]
            entry["spread"] = max(knees) - min(knees) if len(knees) == len(entry["knee"]) \
                and knees else None
            entry["widest_interval"] = max(widths) if widths else None
    return out


def family_dict(results: Sequence[StudyResult]) -> dict[str, Any]:
    """JSON-ready: each study's report, and the knees over N per strategy and K."""
    return {"balancers": sorted({r.config.balancers for r in results}),
            "c_subtypes": sorted({r.config.c_subtypes for r in results}),
            "studies": [r.to_dict() for r in results],
            "knee_over_balancers": knee_spread(results),
            "heralding": HERALDING_NOTE}


def format_family(results: Sequence[StudyResult]) -> str:
    """Each study's table, then the knees over N per strategy and K."""
    parts = [format_study(r) for r in results]
    spread = knee_spread(results)
    lines = ["knees against N (the paper: curves depend on N/M only; spread = max - min "
             "over N, beside the widest per-seed 95% interval):"]
    for name, per_k in spread.items():
        for k, e in per_k.items():
            knees = " ".join("-" if v is None else f"{v:.3f}" for v in e["knee"])
            sp = "-" if e["spread"] is None else f"{e['spread']:.3f}"
            wide = "-" if e["widest_interval"] is None else f"{e['widest_interval']:.3f}"
            ns = ",".join(str(n) for n in e["balancers"])
            lines.append(f"  {name:<18} K={k}  N={ns}: {knees}   spread {sp}  interval {wide}")
    return "\n\n".join(parts + ["\n".join(lines)])


def plot_family(results: Sequence[StudyResult], path: Path) -> None:
    """One panel per K: mean queue against N/M, colour per strategy, line style per N."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    ks = sorted({r.config.c_subtypes for r in results})
    ns = sorted({r.config.balancers for r in results})
    fig = Figure(figsize=(5.0 * len(ks), 4.6), dpi=130)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(ks), squeeze=False)[0]
    styles = ("-", "--", ":", "-.")
    colours = {name: f"C{i}" for i, name in enumerate(results[0].config.strategies)}
    for ax, k in zip(axes, ks):
        for r in (r for r in results if r.config.c_subtypes == k):
            style = styles[ns.index(r.config.balancers) % len(styles)]
            for i, name in enumerate(r.config.strategies):
                y = np.maximum(r.mean_queue(i), 1e-3)
                label = name if r.config.balancers == ns[0] else None
                ax.plot(r.effective_ratios, y, ls=style, color=colours.get(name, "k"),
                        lw=1.0, label=label)
        ax.axhline(results[0].config.threshold, color="grey", lw=0.8, ls="--")
        ax.set_yscale("log")
        ax.set_title(f"K = {k} C subtypes; line style: N = "
                     + ", ".join(f"{n} {s}" for n, s in zip(ns, styles)), fontsize=8)
        ax.set_xlabel("load N/M (balancers per server)")
        ax.grid(alpha=0.3, which="both")
    axes[0].set_ylabel("mean queue length (requests per server)")
    axes[0].legend(fontsize=6)
    fig.text(0.01, 0.005, HERALDING_NOTE, fontsize=6, color="dimgrey")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(path)


def save_family(results: Sequence[StudyResult], out_dir: Path) -> dict[str, Path]:
    """Write ``lb_family.json`` and ``lb_family.png`` into out_dir (created if needed)."""
    return lb_report.save_report(family_dict(results), lambda png: plot_family(results, png),
                                 out_dir, FAMILY_JSON, FAMILY_PNG)
