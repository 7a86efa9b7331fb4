"""The demo's record and its views: JSON report, text summary, live dashboard, PNG.

:class:`DemoRecord` is what :class:`qnic.experiments.demo.DemoRun` measured;
:func:`demo_report` analyses it (pure): win rates with Wilson 95% intervals
and binomial standard deviations, the predicted rates for the rounds'
question mix, queues, decision latency against the classical round-trip
time, and where the time went (waveplate moves and acquisitions in bench
time from the station clock, decisions in wall time).

Latency model, per request (request to routing decision):

- without memories, the request waits for the next heralded pair at its
  setting (back-to-back requests: the gap between consecutive heralded
  pairs, bench time) and then decides (wall time of the decision);
- with memories the pair is already stored: the decision alone (measuring
  the stored qubit is taken as instantaneous);
- motorized waveplates change basis in hundreds of ms; the demo batches
  rounds by setting to hide that, and reports it as ``moving_s``: a
  deployment needs bases switched per request (electro-optically) or pairs
  stored and measured on arrival.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from qnic.balancing.analysis import binomial_sigma
from qnic.balancing.game import CLASSICAL_CHSH_WIN, HERALDING_NOTE
from qnic.balancing.memory import US, storage_sweep, visibility_factor
from qnic.experiments.demo_record import QUANTUM, DemoRecord

_Z95 = 1.959963984540054
_PERCENTILES = (50.0, 90.0, 99.0)




def wilson_bounds(wins: NDArray[np.int64], rounds: NDArray[np.int64]
                  ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Wilson 95% intervals of fractions wins / rounds (rounds >= 1), elementwise."""
    n = np.asarray(rounds, dtype=np.float64)
    p, z2 = np.asarray(wins, dtype=np.float64) / n, _Z95 ** 2
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = _Z95 * np.sqrt(p * (1 - p) / n + z2 / (4 * n ** 2)) / (1 + z2 / n)
    return np.maximum(0.0, centre - half), np.minimum(1.0, centre + half)


def wilson_interval(wins: int, rounds: int) -> tuple[float, float] | None:
    """Wilson 95% interval of a fraction (None without rounds)."""
    if rounds <= 0:
        return None
    lo, hi = wilson_bounds(np.array([wins]), np.array([rounds]))
    return float(lo[0]), float(hi[0])


def percentiles_us(values_us: NDArray[np.float64]) -> dict[str, float] | None:
    """p50, p90, p99, max and mean of latencies in microseconds (None when empty)."""
    v = np.asarray(values_us, dtype=np.float64).ravel()
    if v.size == 0:
        return None
    out = {f"p{p:g}": float(np.percentile(v, p)) for p in _PERCENTILES}
    return {**out, "max": float(v.max()), "mean": float(v.mean())}


def measured_correlations(rec: DemoRecord) -> NDArray[np.float64]:
    """E(x, y) of the heralded pairs the rounds used (before any memory), (2, 2); NaN if unused."""
    e = np.full((2, 2), np.nan)
    sign = 1 - 2 * (rec.raw_a ^ rec.raw_b).astype(np.float64)
    for xq in (0, 1):
        for yq in (0, 1):
            sel = (rec.trace.x == xq) & (rec.trace.y == yq)
            if sel.any():
                e[xq, yq] = float(sign[sel].mean())
    return e


def _predicted(rec: DemoRecord) -> dict[str, float | None]:
    """Predicted win probability per strategy for the rounds' question mix."""
    x, y, n = rec.trace.x, rec.trace.y, rec.rounds
    if n == 0:
        return {k: None for k in rec.tracks}
    both_c = float(np.count_nonzero((x == 1) & (y == 1))) / n
    both_e = float(np.count_nonzero((x == 0) & (y == 0))) / n
    out: dict[str, float | None] = {"dedicated-c": 1.0 - both_e, "separate": 1.0 - both_c}
    out[QUANTUM] = None
    if rec.correlations is not None:
        memory = rec.config.memory
        factor = visibility_factor(rec.storage_s, memory.coherence_s) if memory else 1.0
        sign = np.where((x == 1) & (y == 1), -1.0, 1.0)
        out[QUANTUM] = float(np.mean((1 + sign * rec.correlations[x, y] * factor) / 2))
    return {k: out.get(k) for k in rec.tracks}


def _s(e: NDArray[np.float64]) -> float:
    return float(e[0, 0] + e[0, 1] + e[1, 0] - e[1, 1])


def _latency(rec: DemoRecord) -> dict[str, Any]:
    """Request-to-decision latency of the quantum strategy (us) against the round trip."""
    c, n = rec.config, rec.rounds
    decision_us = {k: t.decision_ns.astype(np.float64) / 1e3 for k, t in rec.tracks.items()}
    wait_us = np.zeros(n) if c.memory else rec.herald_wait_s * 1e6
    latency = decision_us.get(QUANTUM, np.zeros((0, 2))) + wait_us[:, None]
    return {"rtt_us": c.rtt_s / US, QUANTUM: percentiles_us(latency),
            "herald_wait": None if c.memory else percentiles_us(wait_us),
            "decision_only": {k: percentiles_us(v) for k, v in decision_us.items()},
            "fraction_within_rtt": float(np.mean(latency < c.rtt_s / US)) if n else None,
            "model": ("stored pair measured on arrival, then the decision" if c.memory else
                      "wait for the next heralded pair at the setting, then the decision")}


def demo_report(rec: DemoRecord, station: str = "", extra: dict[str, Any] | None = None
                ) -> dict[str, Any]:
    """The demo's JSON report (keys of docs/commands.md and more); pure.

    Args:
        rec: what the run measured.
        station: a label for the station.
        extra: more keys to add (files, calibration, ...).
    """
    c, n = rec.config, rec.rounds
    predicted = _predicted(rec)
    wins = {k: int(t.wins.sum()) for k, t in rec.tracks.items()}
    rate = {k: (w / n if n else None) for k, w in wins.items()}
    sigma = {k: (binomial_sigma(predicted[k] or rate[k] or 0.0, n) if n else None) for k in wins}
    mf = c.memory.mean_visibility_factor() if c.memory else 1.0
    s0 = _s(rec.correlations) if rec.correlations is not None else None
    e_meas = measured_correlations(rec)
    report: dict[str, Any] = {
        "rounds": n, "win_rate": rate, "wins": wins,
        "win_rate_ci": {k: wilson_interval(w, n) for k, w in wins.items()},
        "win_rate_sigma": sigma, "win_rate_predicted": predicted,
        "sigma_note": "binomial: sqrt(p (1 - p) / rounds) at the predicted p",
        "classical_bound": CLASSICAL_CHSH_WIN,
        "predicted_quantum": {
            "S": s0, "win_rate": None if s0 is None else 0.5 + s0 * mf / 8,
            "win_rate_fresh_pairs": None if s0 is None else 0.5 + s0 / 8,
            "memory_factor": mf, "source": rec.correlations_source,
            "formula": "1/2 + S/8 (uniform questions), S times exp(-t/T2) with memories"},
        "S_measured": None if np.isnan(e_meas).any() else _s(e_meas),
        "queues": {k: {"final": t.final_queue.tolist(),
                       "mean_total": float(t.queue_total.mean()) if n else 0.0,
                       "max_total": float(t.queue_total.max()) if n else 0.0}
                   for k, t in rec.tracks.items()},
        "queue_unit": "requests waiting or in service; final per server, totals over servers",
        "latency_us": _latency(rec),
        "timing": {"waveplate_moves": rec.moves, "moving_s": rec.moving_s,
                   "acquiring_s": rec.acquiring_s,
                   "deciding_s": float(rec.tracks[QUANTUM].decision_ns.sum()) * 1e-9
                   if QUANTUM in rec.tracks else 0.0, "wall_s": rec.wall_s,
                   "decisions_per_s": n / rec.wall_s if rec.wall_s > 0 else None,
                   "clock": "moving and acquiring: bench time (station clock); deciding: wall"},
        "pairs": {"heralded": rec.heralded, "consumed": n if QUANTUM in rec.tracks else 0,
                  "herald_rate_hz": rec.heralded / rec.live_s if rec.live_s > 0 else None},
        "questions": {f"{a}{b}": int(np.count_nonzero((rec.trace.x == a) & (rec.trace.y == b)))
                      for a in (0, 1) for b in (0, 1)},
        "trace": rec.trace.source, "seed": c.seed, "servers": c.servers,
        "service": c.service.describe(), "station": station, "simulated": rec.simulated,
        "memory": c.memory.to_dict() if c.memory else None,
        "memory_sweep": None, "heralding": HERALDING_NOTE}
    if c.sweep_storage_s and c.sweep_coherence_s and n:
        e0 = rec.correlations if rec.correlations is not None else np.nan_to_num(e_meas)
        report["memory_sweep"] = storage_sweep(rec.trace.x, rec.trace.y, rec.raw_a, rec.raw_b,
                                               c.sweep_storage_s, c.sweep_coherence_s, e0,
                                               c.seed).to_dict()
    return {**report, **(extra or {})}


def _fmt(value: float | None, spec: str = ".4f") -> str:
    return "-" if value is None else format(value, spec)


def _strategy_lines(r: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """(name, wins/rounds, rate, 95% interval, predicted) per strategy."""
    rows = []
    for k, rate in r["win_rate"].items():
        ci = r["win_rate_ci"][k]
        rows.append((k, f"{r['wins'][k]}/{r['rounds']}", _fmt(rate),
                     "-" if ci is None else f"[{ci[0]:.4f}, {ci[1]:.4f}]",
                     _fmt(r["win_rate_predicted"].get(k))))
    return rows


def format_demo(r: dict[str, Any]) -> str:
    """The readable summary of a demo report."""
    pq, lat, tm = r["predicted_quantum"], r["latency_us"], r["timing"]
    sim = " (simulated)" if r["simulated"] else ""
    lines = [(f"Load-balancing demo on the {r['station']}{sim}: {r['rounds']} rounds, requests "
              f"from {r['trace']}, {r['servers']} servers ({r['service']})"),
             (f"  predicted quantum 1/2 + S/8 = {_fmt(pq['win_rate'])} (S = {_fmt(pq['S'])}, "
              f"{pq['source']}); classical bound {r['classical_bound']}; S of the pairs used "
              f"{_fmt(r['S_measured'])}"),
             "  strategy        wins         rate    95% interval        predicted"]
    for name, wins, rate, ci, pred in _strategy_lines(r):
        lines.append(f"  {name:<14}{wins:>12}  {rate:>7}   {ci:<20}{pred:>8}")
    lines.append("  queues (requests, final per server; mean and max total):")
    for k, q in r["queues"].items():
        lines.append(f"    {k:<14}{q['final']!s:<16} mean {q['mean_total']:.2f}  "
                     f"max {q['max_total']:.0f}")
    ql = lat[QUANTUM] or {}
    lines += [(f"  decision latency ({lat['model']}): p50 {_fmt(ql.get('p50'), '.2f')} us, "
               f"p99 {_fmt(ql.get('p99'), '.2f')} us, max {_fmt(ql.get('max'), '.2f')} us; within "
               f"the {lat['rtt_us']:g} us round trip: {_fmt(lat['fraction_within_rtt'], '.1%')}"),
              (f"  time: {tm['waveplate_moves']} waveplate moves {tm['moving_s']:.3f} s and "
               f"acquisition {tm['acquiring_s']:.3f} s (bench time) against deciding "
               f"{tm['deciding_s'] * 1e3:.3f} ms (wall); {_fmt(tm['decisions_per_s'], ',.0f')} "
               "rounds/s")]
    if r["memory"]:
        m = r["memory"]
        lines.append(f"  memories: stored {m['max_storage_us']:g} us ({m['policy']}), T2 "
                     f"{m['coherence_us']} us, visibility factor {m['mean_visibility_factor']:.4f}")
    if r["memory_sweep"]:
        sw = r["memory_sweep"]
        lines.append("  win rate against storage time (measured / 1/2 + S0 exp(-t/T2)/8):")
        for t, w, p in zip(sw["storage_us"], sw["win_rate"], sw["predicted"]):
            lines.append(f"    {t:8.2f} us  {w:.4f} / {p:.4f}")
    lines.append(f"  {r['heralding']}")
    for kind, path in r.get("files", {}).items():
        lines.append(f"  {kind}: {path}")
    return "\n".join(lines)


def dashboard(r: dict[str, Any], history: dict[str, list[float]], total_rounds: int) -> Any:
    """A rich renderable of the live state (win rates, queues, time, latency)."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    pq, lat, tm = r["predicted_quantum"], r["latency_us"], r["timing"]
    wins = Table(title=f"qnic demo: round {r['rounds']}/{total_rounds} on the {r['station']}",
                 title_justify="left")
    for col in ("strategy", "wins", "win rate", "95% interval", "vs 0.75", "predicted"):
        wins.add_column(col, justify="right")
    for name, w, rate, ci, pred in _strategy_lines(r):
        rt, sg = r["win_rate"][name], r["win_rate_sigma"][name]
        vs = "-" if rt is None or not sg else f"{(rt - CLASSICAL_CHSH_WIN) / sg:+.1f} sigma"
        wins.add_row(name, w, rate, ci, vs, pred)
    queues = Table()
    for col in ("queues", "per server now", "total now", "mean total", "block means"):
        queues.add_column(col, justify="right")
    for k, q in r["queues"].items():
        queues.add_row(k, str(q["final"]), str(sum(q["final"])), f"{q['mean_total']:.2f}",
                       sparkline(history.get(k, [])))
    ql = lat[QUANTUM] or {}
    text = Text.assemble(
        f"predicted quantum 1/2 + S/8 = {_fmt(pq['win_rate'])} (S = {_fmt(pq['S'])}, "
        f"{pq['source']}); classical 0.75\n",
        f"{_fmt(tm['decisions_per_s'], ',.0f')} rounds/s; waveplates moved {tm['waveplate_moves']}"
        f" times, {tm['moving_s']:.2f} s, acquiring {tm['acquiring_s']:.3f} s (bench time) "
        f"vs deciding {tm['deciding_s'] * 1e3:.2f} ms (wall)\n",
        f"latency request -> decision: p50 {_fmt(ql.get('p50'), '.2f')} us, p99 "
        f"{_fmt(ql.get('p99'), '.2f')} us vs round trip {lat['rtt_us']:g} us "
        f"({_fmt(lat['fraction_within_rtt'], '.1%')} within)\n",
        (f"memories: pairs stored {r['memory']['max_storage_us']:g} us "
         f"({r['memory']['policy']}), visibility factor "
         f"{r['memory']['mean_visibility_factor']:.3f}\n" if r["memory"] else ""),
        Text(r["heralding"], style="dim"))
    return Group(wins, queues, text)


def sparkline(values: list[float], width: int = 40) -> str:
    """The newest ``width`` values as a unicode sparkline (from zero to the maximum)."""
    v = np.asarray(values[-width:], dtype=float)
    if v.size == 0:
        return ""
    bars = "▁▂▃▄▅▆▇█"
    top = float(v.max())
    if top <= 0:
        return bars[0] * v.size
    return "".join(bars[int(i)] for i in np.round(v / top * (len(bars) - 1)))


def plot_demo(rec: DemoRecord, report: dict[str, Any], path: Path) -> None:
    """Running win rate per strategy (quantum with its Wilson band) and total queues (PNG)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 6.0), dpi=150)
    FigureCanvasAgg(fig)
    ax_w, ax_q = fig.subplots(2, 1, sharex=True)
    rounds = np.arange(1, rec.rounds + 1)
    for name, track in rec.tracks.items():
        running = np.cumsum(track.wins) / rounds
        (line,) = ax_w.plot(rounds, running, lw=1.2, label=name)
        if name == QUANTUM:
            lo, hi = wilson_bounds(np.cumsum(track.wins), rounds)
            ax_w.fill_between(rounds, lo, hi, color=line.get_color(), alpha=0.2, lw=0,
                              label="quantum 95% interval")
        ax_q.plot(rounds, track.queue_total, lw=1.0, label=name)
    ax_w.axhline(CLASSICAL_CHSH_WIN, color="grey", ls="--", lw=0.8, label="classical 0.75")
    pq = report["predicted_quantum"]["win_rate"]
    if pq is not None:
        ax_w.axhline(pq, color="black", ls=":", lw=0.8, label=f"predicted {pq:.3f}")
    ax_w.set_ylim(0.5, 1.0)
    ax_w.set_ylabel("win rate so far")
    ax_w.legend(fontsize=7, loc="lower right")
    ax_w.grid(alpha=0.3)
    ax_q.set_xlabel("round")
    ax_q.set_ylabel("requests queued (all servers)")
    ax_q.legend(fontsize=7)
    ax_q.grid(alpha=0.3)
    memory = f"; {rec.config.memory.describe()}" if rec.config.memory else ""
    ax_w.set_title(f"{rec.rounds} rounds, {report['servers']} servers, requests from "
                   f"{rec.trace.source}{memory}", fontsize=9)
    fig.text(0.01, 0.005, HERALDING_NOTE, fontsize=6, color="dimgrey")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(path)


__all__ = ["DemoRecord", "StrategyTrack", "dashboard", "demo_report", "format_demo",
           "measured_correlations", "percentiles_us", "plot_demo", "sparkline", "wilson_bounds",
           "wilson_interval"]
