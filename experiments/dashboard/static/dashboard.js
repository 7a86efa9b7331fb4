// qnic dashboard (docs/dashboard.md): draws the state the server pushes over
// /ws and sends the buttons' requests. No library: plain DOM and SVG.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const COLORS = { quantum: "#7b3fc4", "dedicated-c": "#e07b1a", separate: "#1a9e8f" };
const FALLBACK = ["#3a5bd9", "#c0362c", "#5a6b7d"];
let lastVersion = 0;
let defaultsSet = false;

const $ = (id) => document.getElementById(id);

function el(tag, attrs, text) {
  const node = tag.startsWith("svg:") ? document.createElementNS(SVG, tag.slice(4))
    : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function fmt(v, digits, options) {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  return Number(v).toLocaleString("en-US", {
    minimumFractionDigits: digits, maximumFractionDigits: digits, ...(options || {}) });
}

function color(name, i) { return COLORS[name] || FALLBACK[i % FALLBACK.length]; }

// ---- connection ----------------------------------------------------------
function connect(delayMs) {
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  const ws = new WebSocket(scheme + location.host + "/ws");
  ws.onopen = () => { document.body.dataset.connected = "true"; $("connection").textContent = "live"; delayMs = 250; };
  ws.onmessage = (event) => {
    const state = JSON.parse(event.data);
    if (state.version <= lastVersion) return;
    lastVersion = state.version;
    render(state);
    document.body.dataset.version = String(state.version);
  };
  ws.onclose = () => {
    document.body.dataset.connected = "false";
    $("connection").textContent = "offline: reconnecting";
    lastVersion = 0;
    setTimeout(() => connect(Math.min(delayMs * 2, 5000)), delayMs);
  };
}

async function post(path, body) {
  const response = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body || {}) });
  const answer = await response.json().catch(() => ({}));
  $("status-error").textContent = response.ok ? "" : (answer.error || response.statusText);
}

// ---- rendering -----------------------------------------------------------
function render(s) {
  if (s.bench) renderBench(s.bench);
  if (s.status) renderStatus(s.status);
  $("viewers").textContent = s.viewers ? `${s.viewers} viewer${s.viewers === 1 ? "" : "s"}` : "";
  if (s.rates) renderRates(s.rates);
  if (s.histogram) renderHistogram(s.histogram);
  renderChsh(s.chsh);
  renderDemo(s.demo);
}

function renderBench(b) {
  $("station").textContent = `${b.station}${b.simulated ? " (simulated)" : ""} · window ${b.window_ps} ps`
    + (b.calibration ? " · calibrated" : "");
  if (!defaultsSet) {
    $("chsh-seconds").value = b.defaults.seconds_per_setting;
    $("demo-rounds").value = b.defaults.rounds;
    defaultsSet = true;
  }
}

let lastStatus = "";

function renderStatus(st) {
  const text = JSON.stringify(st);
  if (text !== lastStatus) $("status-error").textContent = st.error || "";  // a new status replaces an old error
  lastStatus = text;
  $("activity").textContent = st.activity;
  $("status-message").textContent = st.message || "";
  const busy = st.activity === "chsh" || st.activity === "demo";
  $("start-chsh").disabled = busy;
  $("start-demo").disabled = busy;
  $("stop").disabled = !busy;
}

function sparkline(values) {
  const svg = el("svg:svg", { class: "spark", viewBox: "0 0 160 22", preserveAspectRatio: "none" });
  if (!values || values.length < 2) return svg;
  const lo = Math.min(...values), hi = Math.max(...values), span = hi - lo || 1;
  const pts = values.map((v, i) => `${(i / (values.length - 1) * 158 + 1).toFixed(1)},`
    + `${(20 - (v - lo) / span * 18).toFixed(1)}`);
  svg.appendChild(el("svg:polyline", { points: pts.join(" "), fill: "none", stroke: "#3a5bd9", "stroke-width": 1.2 }));
  return svg;
}

function rateRow(id, label, hz, acc, car, history, digits) {
  const tr = el("tr", { id });
  tr.appendChild(el("td", {}, label));
  tr.appendChild(el("td", { class: "num rate", "data-hz": hz === null ? "" : String(hz) }, fmt(hz, digits)));
  tr.appendChild(el("td", { class: "num" }, acc === undefined ? "" : fmt(acc, 2)));
  tr.appendChild(el("td", { class: "num" }, car === undefined ? "" : fmt(car, 0)));
  const cell = el("td");
  cell.appendChild(sparkline(history));
  tr.appendChild(cell);
  return tr;
}

function renderRates(r) {
  $("rates-caption").textContent = `${fmt(r.live_s, 3)} s per reading, from ${r.source}; `
    + `accidentals R1 R2 2 window (window ${r.window_ps} ps)`;
  $("rates-caption").dataset.source = r.source;
  const body = $("rates-body");
  body.replaceChildren();
  for (const [ch, hz] of Object.entries(r.singles_hz)) {
    body.appendChild(rateRow(`singles-${ch}`, `singles ch ${ch}`, hz, undefined, undefined, r.history[ch], 0));
  }
  for (const [pair, hz] of Object.entries(r.coincidences_hz)) {
    body.appendChild(rateRow(`coinc-${pair}`, `coinc ${pair}`, hz, r.accidentals_hz[pair], r.car[pair],
      r.history[pair], 1));
  }
}

function axes(svg, box, xTicks, xLabel, yMax, yLabel) {
  const { x0, x1, y0, y1 } = box;
  svg.appendChild(el("svg:line", { x1: x0, y1: y1, x2: x1, y2: y1, stroke: "#98a2b3" }));
  svg.appendChild(el("svg:line", { x1: x0, y1: y0, x2: x0, y2: y1, stroke: "#98a2b3" }));
  for (const [x, text] of xTicks) {
    svg.appendChild(el("svg:line", { x1: x, y1: y1, x2: x, y2: y1 + 4, stroke: "#98a2b3" }));
    svg.appendChild(el("svg:text", { x, y: y1 + 15, "text-anchor": "middle" }, text));
  }
  svg.appendChild(el("svg:text", { x: (x0 + x1) / 2, y: y1 + 29, "text-anchor": "middle" }, xLabel));
  if (!yLabel) return;
  svg.appendChild(el("svg:text", { x: x0 - 4, y: y0 + 4, "text-anchor": "end" }, yMax));
  svg.appendChild(el("svg:text", { x: x0 - 4, y: y1, "text-anchor": "end" }, "0"));
  svg.appendChild(el("svg:text", { x: x0 + 4, y: y0 - 4 }, yLabel));
}

function renderHistogram(h) {
  const svg = $("histogram");
  svg.replaceChildren();
  const box = { x0: 50, x1: 550, y0: 14, y1: 222 };
  const lo = -h.range_ps, hi = lo + h.counts.length * h.bin_ps;
  const max = Math.max(1, ...h.counts);
  const X = (ps) => box.x0 + (ps - lo) / (hi - lo) * (box.x1 - box.x0);
  const Y = (n) => box.y1 - n / max * (box.y1 - box.y0);
  svg.appendChild(el("svg:rect", { id: "coincidence-window", x: X(-h.window_ps), y: box.y0,
    width: X(h.window_ps) - X(-h.window_ps), height: box.y1 - box.y0, fill: "rgba(58,91,217,0.14)" }));
  let d = `M${X(lo).toFixed(1)},${box.y1}`;
  h.counts.forEach((n, i) => {
    const xa = X(lo + i * h.bin_ps), xb = X(lo + (i + 1) * h.bin_ps);
    d += `L${xa.toFixed(1)},${Y(n).toFixed(1)}L${xb.toFixed(1)},${Y(n).toFixed(1)}`;
  });
  d += `L${X(hi).toFixed(1)},${box.y1}Z`;
  svg.appendChild(el("svg:path", { d, fill: "#3a5bd9", "fill-opacity": 0.55, stroke: "#3a5bd9", "stroke-width": 1 }));
  const stepNs = h.range_ps >= 10000 ? 5 : h.range_ps >= 4000 ? 2 : 1;
  const ticks = [];
  for (let ns = Math.ceil(lo / 1000 / stepNs) * stepNs; ns * 1000 <= hi; ns += stepNs) ticks.push([X(ns * 1000), String(ns)]);
  axes(svg, box, ticks, "t_B − t_A after delays (ns)", fmt(max, 0), "pairs per bin");
  const total = h.counts.reduce((a, b) => a + b, 0);
  $("histogram-caption").textContent = `${fmt(total, 0)} pairs in ±${fmt(h.range_ps / 1000, 1)} ns, `
    + `${h.bin_ps} ps bins, ${fmt(h.live_s, 3)} s; shaded: the coincidence window ±${h.window_ps} ps`
    + (h.centroid_ps === null ? "" : `; mean inside it ${fmt(h.centroid_ps, 0)} ps`);
}

function renderChsh(c) {
  const body = $("chsh-body");
  if (!c) return;
  $("chsh-caption").textContent = `run ${c.run}: ${c.state}`
    + (c.message ? ` (${c.message})` : "") + `, ${c.seconds_per_setting} s per setting`
    + (c.run_id ? `, dataset ${c.run_id} in ${c.db}` : "");
  $("chsh-bar").style.width = `${c.settings.length / 4 * 100}%`;
  $("chsh-caption").dataset.state = c.state;
  body.replaceChildren();
  for (const row of c.settings) {
    const tr = el("tr", { "data-key": row.key });
    [row.key, fmt(row.angle_a_deg, 1), fmt(row.angle_b_deg, 1), ...row.counts.map((n) => fmt(n, 0)),
      `${fmt(row.E, 4, { signDisplay: "always" })} ± ${fmt(row.E_err, 4)}`].forEach((text, i) =>
      tr.appendChild(el("td", { class: i ? "num" : "" }, text)));
    body.appendChild(tr);
  }
  if (c.current && c.state === "running") {
    const tr = el("tr", { class: "pending" });
    tr.appendChild(el("td", { colspan: 8 }, `setting ${c.current}: measuring…`));
    body.appendChild(tr);
  }
  const S = $("chsh-S");
  if (c.result) {
    S.textContent = `S = ${fmt(c.result.S, 4)} ± ${fmt(c.result.S_err, 4)}`;
    S.dataset.s = String(c.result.S);
    $("chsh-detail").textContent = `${fmt(c.result.sigmas_above_2, 1)} σ above the local bound `
      + `${c.local_bound}; accidentals subtracted: S = ${fmt(c.result.S_corrected, 4)} ± `
      + `${fmt(c.result.S_corrected_err, 4)}`;
  } else {
    S.dataset.s = "";
    S.textContent = c.partial.terms ? `S so far (${c.partial.terms} of 4 terms) = `
      + `${fmt(c.partial.value, 4)} ± ${fmt(c.partial.err, 4)}` : "S = –";
    $("chsh-detail").textContent = "S = E00 + E01 + E10 − E11, each term as its setting completes";
  }
}

function renderDemo(d) {
  if (!d) return;
  $("demo-caption").textContent = `run ${d.run}: ${d.state}` + (d.message ? ` (${d.message})` : "")
    + `, round ${d.rounds} of ${d.rounds_total}, blocks of ${d.block}`
    + (d.predicted_quantum ? `; predicted quantum 1/2 + S/8 = ${fmt(d.predicted_quantum.win_rate, 3)}` : "");
  $("demo-caption").dataset.rounds = String(d.rounds);
  $("demo-caption").dataset.state = d.state;
  $("demo-bar").style.width = `${d.rounds / d.rounds_total * 100}%`;
  const body = $("demo-body");
  body.replaceChildren();
  const names = d.win_rate ? Object.keys(d.win_rate) : [];
  names.forEach((name, i) => {
    const tr = el("tr", { "data-strategy": name });
    const ci = d.win_rate_ci[name];
    const q = d.queues[name];
    const sw = el("td");
    sw.appendChild(el("span", { class: "swatch", style: `background:${color(name, i)}` }));
    sw.appendChild(document.createTextNode(name));
    tr.appendChild(sw);
    tr.appendChild(el("td", { class: "num win", "data-rate": String(d.win_rate[name]) }, fmt(d.win_rate[name], 4)));
    tr.appendChild(el("td", { class: "num" }, ci ? `[${fmt(ci[0], 3)}, ${fmt(ci[1], 3)}]` : "–"));
    tr.appendChild(el("td", { class: "num" }, fmt(d.win_rate_predicted[name], 4)));
    tr.appendChild(el("td", { class: "num" }, q.final.join(" + ")));
    tr.appendChild(el("td", { class: "num" }, fmt(q.mean_total, 2)));
    body.appendChild(tr);
  });
  renderWins(d, names);
  renderQueues(d, names);
}

function renderWins(d, names) {
  const svg = $("demo-wins");
  svg.replaceChildren();
  const box = { x0: 110, x1: 540, y0: 8, y1: 130 };
  const lo = 0.5, hi = 1.0;
  const X = (p) => box.x0 + (p - lo) / (hi - lo) * (box.x1 - box.x0);
  const rowH = (box.y1 - box.y0) / Math.max(names.length, 1);
  names.forEach((name, i) => {
    const y = box.y0 + i * rowH + rowH * 0.2, h = rowH * 0.6;
    const p = d.win_rate[name], ci = d.win_rate_ci[name];
    svg.appendChild(el("svg:text", { x: box.x0 - 6, y: y + h * 0.7, "text-anchor": "end" }, name));
    if (p === null) return;
    svg.appendChild(el("svg:rect", { x: box.x0, y, width: Math.max(0, X(p) - box.x0), height: h, fill: color(name, i) }));
    if (ci) svg.appendChild(el("svg:line", { x1: X(ci[0]), x2: X(ci[1]), y1: y + h / 2, y2: y + h / 2, stroke: "#1d2330", "stroke-width": 2 }));
  });
  const bound = d.classical_bound;
  svg.appendChild(el("svg:line", { x1: X(bound), x2: X(bound), y1: box.y0, y2: box.y1, stroke: "#c0362c", "stroke-dasharray": "4 3" }));
  if (d.predicted_quantum && d.predicted_quantum.win_rate !== null) {
    const pq = d.predicted_quantum.win_rate;
    svg.appendChild(el("svg:line", { x1: X(pq), x2: X(pq), y1: box.y0, y2: box.y1, stroke: "#7b3fc4", "stroke-dasharray": "2 2" }));
  }
  const ticks = [0.5, 0.6, 0.7, 0.75, 0.8, 0.9, 1.0].map((p) => [X(p), String(p)]);
  axes(svg, box, ticks, "win rate (red: classical bound 0.75; purple: predicted quantum)", "", "");
}

function renderQueues(d, names) {
  const svg = $("demo-queues");
  svg.replaceChildren();
  const box = { x0: 50, x1: 540, y0: 14, y1: 130 };
  const rounds = d.history.rounds;
  const all = names.flatMap((n) => d.history.queue_mean[n] || []);
  const max = Math.max(1, ...all);
  const X = (r) => box.x0 + r / d.rounds_total * (box.x1 - box.x0);
  const Y = (q) => box.y1 - q / max * (box.y1 - box.y0);
  names.forEach((name, i) => {
    const values = d.history.queue_mean[name] || [];
    const pts = values.map((q, k) => `${X(rounds[k]).toFixed(1)},${Y(q).toFixed(1)}`);
    if (pts.length) svg.appendChild(el("svg:polyline", { points: pts.join(" "), fill: "none", stroke: color(name, i), "stroke-width": 2 }));
  });
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => [X(f * d.rounds_total), fmt(f * d.rounds_total, 0)]);
  axes(svg, box, ticks, "round", fmt(max, 1), "mean queue per block (requests, all servers)");
}

// ---- controls ------------------------------------------------------------
$("start-chsh").addEventListener("click", () => post("api/chsh", { seconds: Number($("chsh-seconds").value) }));
$("start-demo").addEventListener("click", () => post("api/demo", { rounds: Number($("demo-rounds").value) }));
$("stop").addEventListener("click", () => post("api/stop"));
connect(250);
