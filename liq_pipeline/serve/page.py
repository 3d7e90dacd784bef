"""The live page: the heatmap (zoom, hover) with the price line and the recorded liquidations over it, the key
levels and the health badge, refreshed from the API as bars close (the nowcast) and liquidations arrive, without a
reload; on a replayed clock, the map as it stood. Plotly's own
bundle is served from the installed package (no network)."""
from __future__ import annotations

import functools


@functools.cache
def plotly_js() -> bytes:
    from plotly.offline import get_plotlyjs
    return get_plotlyjs().encode()


HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>liq_pipeline live map</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<script src="/static/plotly.min.js"></script>
<style>
 body { background:#0b0b14; color:#ddd; font:14px system-ui, sans-serif; margin:0; }
 header { display:flex; gap:12px; align-items:center; padding:8px 14px; border-bottom:1px solid #222; }
 select, input { background:#15151f; color:#ddd; border:1px solid #333; padding:3px 6px; }
 #badge { padding:2px 10px; border-radius:10px; font-weight:600; }
 .ok { background:#1b5e20; } .degraded { background:#8d6e00; } .down { background:#8e1b1b; }
 main { display:grid; grid-template-columns: 1fr 330px; gap:8px; padding:8px; }
 #map { height: calc(100vh - 70px); }
 table { border-collapse:collapse; width:100%; font-size:12px; }
 td, th { padding:3px 5px; border-bottom:1px solid #222; text-align:right; }
 .long { color:#4fc3f7; } .short { color:#ffb74d; } #asof, #clock { color:#999; }
</style></head>
<body>
<header>
 <strong>liq_pipeline</strong>
 <select id="symbol"></select>
 <select id="timeframe"><option>1d</option><option selected>7d</option><option>30d</option><option>90d</option></select>
 <select id="model"><option>flow</option><option>static</option></select>
 <span id="badge" class="down">…</span><span id="asof"></span><span id="clock"></span>
</header>
<main><div id="map"></div>
<div><h3>Key levels</h3><table id="levels"><thead><tr><th>side</th><th>from</th><th>to</th><th>$M</th><th>dist %</th></tr></thead><tbody></tbody></table>
<p id="note"></p></div></main>
<script>
const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
let shown = null;
function fmt(x) { return x >= 1000 ? x.toLocaleString(undefined, {maximumFractionDigits: 1}) : x.toPrecision(6); }
async function getJSON(url) { const r = await fetch(url); const body = await r.json(); if (!r.ok) throw new Error(body.error || r.status); return body; }
async function health() {
  try {
    const h = await fetch('/api/health').then(r => r.json());
    $('badge').textContent = h.status; $('badge').className = h.status;
    $('badge').title = h.reasons.join('\\n');
    $('clock').textContent = h.clock && h.clock !== 'now' ? `clock ${h.clock}` : '';
    const syms = Object.keys(h.symbols).sort();
    const sel = $('symbol');
    if (sel.options.length !== syms.length) {
      const want = params.get('symbol') || sel.value || syms[0];
      sel.innerHTML = syms.map(s => `<option${s === want ? ' selected' : ''}>${s}</option>`).join('');
    }
  } catch (e) { $('badge').textContent = 'down'; $('badge').className = 'down'; }
}
async function draw() {
  const q = `symbol=${$('symbol').value || 'BTCUSDT'}&timeframe=${$('timeframe').value}&model=${$('model').value}`;
  let m;
  try { m = await getJSON('/api/heatmap?' + q); } catch (e) { $('note').textContent = e.message; return; }
  const key = q + m.asof + '/' + m.events.length;     // a new bar, or a liquidation that just arrived
  if (key === shown) return;
  const y = m.matrix.price_bins.map((p, i) => p + m.matrix.bin_width[i] / 2);
  const heat = (z, name, scale) => ({type: 'heatmap', x: m.matrix.times, y, z: z.map(r => r.map(v => v > 0 ? v / 1e6 : null)),
      name, colorscale: scale, showscale: false, hovertemplate: name + ' %{z:.2f} $M at %{y:.1f}<br>%{x}<extra></extra>'});
  const traces = [heat(m.matrix.long_usd, 'long', [[0, '#0b1f4d'], [1, '#9be7ff']]),
    heat(m.matrix.short_usd, 'short', [[0, '#3d1004'], [1, '#ffd180']]),
    {type: 'scatter', mode: 'lines', x: m.matrix.times, y: m.matrix.price, name: 'price', line: {color: '#f5f5f5', width: 1.4}}];
  for (const side of ['long', 'short']) {
    const ev = m.events.filter(e => e.side === side);
    // a simulated market's stream is named so, never passed off as the exchange's tape
    const from = ev.length && (ev[0].source || '').startsWith('simulated') ? 'simulated' : 'forceOrder tape';
    if (ev.length) traces.push({type: 'scatter', mode: 'markers', name: `${side} liquidations (${from})`,
      x: ev.map(e => e.ts), y: ev.map(e => e.price), marker: {size: ev.map(e => 4 + 2 * Math.log10(1 + e.notional_usd / 1e3)),
      color: side === 'long' ? '#00e5ff' : '#ff3d7f', line: {color: '#000', width: 0.5}}});
  }
  Plotly.react('map', traces, {paper_bgcolor: '#0b0b14', plot_bgcolor: '#0b0b14', font: {color: '#ddd'},
    margin: {l: 60, r: 10, t: 10, b: 40}, yaxis: {title: 'price (USDT)'}, showlegend: true,
    legend: {orientation: 'h', y: 1.02}}, {responsive: true});
  $('asof').textContent = `as of ${m.asof} · price ${fmt(m.price)}` + (m.covers_timeframe ? '' : ` · data from ${m.from}`);
  const lv = await getJSON(`/api/levels?symbol=${m.symbol}&model=${m.model}&top=15`).catch(() => ({levels: []}));
  $('levels').querySelector('tbody').innerHTML = lv.levels.map(l => `<tr class="${l.side}"><td>${l.side}</td>` +
    `<td>${fmt(l.price_low)}</td><td>${fmt(l.price_high)}</td><td>${(l.notional_usd / 1e6).toFixed(2)}</td><td>${l.distance_pct}</td></tr>`).join('');
  $('note').textContent = '';
  shown = key;
}
async function tick() { await health(); await draw(); }
for (const id of ['symbol', 'timeframe', 'model']) $(id).addEventListener('change', () => { shown = null; draw(); });
if (params.get('timeframe')) $('timeframe').value = params.get('timeframe');
tick(); setInterval(tick, 3000);      // answers are cached per bar: a poll that finds nothing new costs nothing
</script></body></html>
"""
