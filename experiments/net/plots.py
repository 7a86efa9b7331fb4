"""Plots of a networked study (docs/network.md; ``qnic lb-net --out DIR``).

- ``lb_net.png``: each strategy's win rate (with its 95% interval and
  prediction) and latency (p50, p99) at one point.
- ``lb_net_rtt.png``: latency p50 and p99 against RTT over the mean service
  time, and the win rate, per strategy (the trade-off the paper's caveats
  discuss: strategies that talk pay the round trip; quantum and shared
  randomness do not).
- ``lb_net_load.png``: the same against the load N/M.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

_MARKERS = "osD^v<>p*h"


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=110, layout="constrained")


def _save(fig: Any, path: Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    fig.savefig(path)
    return path


def plot_point(result: dict[str, Any], path: Path) -> Path:
    """Win rates and latencies of one study point."""
    rows = result["strategies"]
    names = list(rows)
    fig = _figure(10, 4.2)
    ax_win, ax_lat = fig.subplots(1, 2)
    for i, name in enumerate(names):
        row = rows[name]
        if row["win_rate"] is not None:
            lo, hi = row["win_rate_ci"]
            win = row["win_rate"]
            ax_win.errorbar(i, win, yerr=[[max(0.0, win - lo)], [max(0.0, hi - win)]],
                            fmt="o", color="C0", capsize=3)
        if row["win_rate_predicted"] is not None:
            ax_win.plot(i, row["win_rate_predicted"], "_", color="C3", markersize=18,
                        markeredgewidth=2, zorder=3)
        lat = row["latency_us"]
        if lat["p50"] is not None:
            ax_lat.bar(i - 0.2, lat["p50"] / 1e3, 0.4, color="C0", label="p50" if i == 0 else None)
            ax_lat.bar(i + 0.2, lat["p99"] / 1e3, 0.4, color="C1", label="p99" if i == 0 else None)
    ax_win.axhline(0.75, color="grey", lw=0.8, ls="--")
    ax_win.set_ylabel("win rate (red bar: predicted; dashed: 3/4)")
    ax_lat.set_ylabel("latency (ms)")
    ax_lat.legend()
    for ax in (ax_win, ax_lat):
        ax.set_xticks(range(len(names)), names, rotation=35, ha="right")
    c = result["config"]
    fig.suptitle(f"{c['balancers']} nodes, {c['backends']} backends, RTT "
                 f"{2 * c['one_way_delay_us']:g} us, pairs: {c['pair_table']}", fontsize=9)
    return _save(fig, path)


def plot_sweep(points: list[dict[str, Any]], xs: list[float], xlabel: str, title: str,
               path: Path) -> Path:
    """Latency p50 and p99 and the win rate of each strategy against ``xs``."""
    names = list(points[0]["strategies"])
    fig = _figure(12.5, 4.2)
    ax50, ax99, axwin = fig.subplots(1, 3)
    for k, name in enumerate(names):
        style = {"marker": _MARKERS[k % len(_MARKERS)], "label": name, "color": f"C{k % 10}"}
        rows = [p["strategies"].get(name) for p in points]
        p50 = [r["latency_us"]["p50"] / 1e3 if r and r["latency_us"]["p50"] else float("nan")
               for r in rows]
        p99 = [r["latency_us"]["p99"] / 1e3 if r and r["latency_us"]["p99"] else float("nan")
               for r in rows]
        win = [r["win_rate"] if r and r["win_rate"] is not None else float("nan") for r in rows]
        ax50.plot(xs, p50, **style)
        ax99.plot(xs, p99, **style)
        axwin.plot(xs, win, **style)
    ax50.set_ylabel("latency p50 (ms)")
    ax99.set_ylabel("latency p99 (ms)")
    axwin.set_ylabel("win rate")
    axwin.axhline(0.75, color="grey", lw=0.8, ls="--")
    from matplotlib.ticker import LogLocator, ScalarFormatter

    for ax in (ax50, ax99):
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(ScalarFormatter())
        ax.yaxis.set_minor_formatter(ScalarFormatter())
        ax.tick_params(axis="y", which="minor", labelsize=0)
    for ax in (ax50, ax99, axwin):
        ax.set_xlabel(xlabel)
    fig.legend(*ax50.get_legend_handles_labels(), loc="outside right center", fontsize=7)
    fig.suptitle(title, fontsize=9)
    return _save(fig, path)


def write_plots(result: dict[str, Any], folder: Path) -> list[Path]:
    """Every plot the result has data for, into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    c = result["config"]
    written = []
    if result["strategies"]:
        written.append(plot_point(result, folder / "lb_net.png"))
    sweep = result.get("rtt_sweep")
    if sweep and sweep["points"]:
        ratio = sweep["ratio"]
        xs = ratio if None not in ratio else sweep["rtt_us"]
        label = (f"RTT / mean service time ({sweep['mean_service_us']:g} us)"
                 if None not in ratio else "RTT (us)")
        written.append(plot_sweep(sweep["points"], xs, label,
                                  f"{c['balancers']} nodes, {c['backends']} backends: latency "
                                  "against the round trip", folder / "lb_net_rtt.png"))
    load = result.get("load_sweep")
    if load and load["points"]:
        written.append(plot_sweep(load["points"], load["load"], "load N/M (nodes per backend)",
                                  f"{c['balancers']} nodes, RTT {2 * c['one_way_delay_us']:g} us: "
                                  "latency against load", folder / "lb_net_load.png"))
    return written
