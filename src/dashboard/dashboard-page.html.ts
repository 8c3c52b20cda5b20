/*
 * The live cluster dashboard, in a TypeScript module like the demo page (no asset-copy step). Plain HTML and JS:
 * the charts are drawn on <canvas> by the page itself (no chart library, no CDN, no build step). It polls
 * `GET /dashboard/stats` once per publish interval and keeps a bounded history per node (the last 2 minutes, at
 * most 600 snapshots each); per-second rates come from consecutive snapshots of one node.
 *
 * Testable state, for people and for the e2e test: every legend item carries `data-node-id`, `data-state`
 * (`live` | `gone`), `data-points` (points drawn for it in the connections chart), `data-connections` (the last
 * value drawn there) and `data-delivered-peak` (the highest frames/s drawn for it); each canvas carries
 * `data-series` and `data-points`.
 */
export const DASHBOARD_PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Push cluster dashboard</title>
<link rel="icon" href="data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'%3E%3Cpath d='M1 15V9h3v6zm5 0V5h3v10zm5 0V1h3v14z' fill='%231f77b4'/%3E%3C/svg%3E">
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 16px auto; max-width: 1200px; padding: 0 12px; color: #222; }
  h1 { font-size: 20px; margin: 0 0 4px; }
  .sub { color: #666; margin: 0 0 12px; }
  code { background: #f3f3f3; padding: 1px 4px; border-radius: 3px; }
  #error { color: #b00020; min-height: 1.4em; margin: 4px 0; }
  #status.live { color: #0a7d32; } #status.error { color: #b00020; }
  #legend { list-style: none; padding: 0; margin: 0 0 12px; display: flex; flex-wrap: wrap; gap: 6px 16px; }
  #legend li { display: flex; align-items: center; gap: 6px; }
  #legend li[data-state="gone"] { opacity: .5; text-decoration: line-through; }
  .swatch { width: 12px; height: 12px; border-radius: 2px; display: inline-block; }
  .charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(420px, 1fr)); gap: 12px; }
  figure { margin: 0; border: 1px solid #ddd; border-radius: 6px; padding: 8px; }
  figcaption { font-weight: 600; margin-bottom: 4px; }
  canvas { width: 100%; height: 200px; display: block; }
  table { border-collapse: collapse; margin-top: 16px; width: 100%; font-variant-numeric: tabular-nums; }
  th, td { border-bottom: 1px solid #eee; padding: 3px 6px; text-align: right; white-space: nowrap; }
  th:first-child, td:first-child { text-align: left; }
  .empty { color: #777; font-style: italic; }
</style>
</head>
<body>
<h1>Push cluster dashboard</h1>
<p class="sub">
  <span id="status">connecting…</span> · served by node <code id="served-by">—</code> ·
  <span id="node-count">0</span> node(s) · updated <span id="updated">never</span>
</p>
<p class="sub">Each node publishes a small snapshot through the engine every <span id="interval">?</span> ms; any node
  shows the whole cluster. Rates are computed from consecutive snapshots of each node. The x-axis spans the last
  2 minutes, on each node's own clock.</p>
<p id="error" role="alert"></p>
<ul id="legend"></ul>
<div class="charts">
  <figure><figcaption>Connections</figcaption><canvas id="chart-connections"></canvas></figure>
  <figure><figcaption>Frames delivered /s</figcaption><canvas id="chart-delivered"></canvas></figure>
  <figure><figcaption>Slow-consumer closes /s (1013)</figcaption><canvas id="chart-drops"></canvas></figure>
  <figure><figcaption>Heartbeat timeouts /s</figcaption><canvas id="chart-timeouts"></canvas></figure>
</div>
<table id="nodes-table">
  <thead><tr>
    <th>node</th><th>connections</th><th>uids</th><th>groups</th><th>delivered</th><th>delivered /s</th>
    <th>slow-consumer</th><th>heartbeat timeouts</th><th>refused upgrades</th><th>1009 closes</th>
    <th>bad frames</th><th>limit refusals</th><th>resyncs</th><th>subscriber resets</th><th>publish failures</th>
    <th>age</th>
  </tr></thead>
  <tbody></tbody>
</table>

<script>
(function () {
  'use strict';
  var WINDOW_MS = 120000;
  var MAX_SAMPLES = 600;
  var POLL_TIMEOUT_MS = 10000;
  var PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf',
    '#bcbd22', '#7f7f7f'];
  var $ = function (id) { return document.getElementById(id); };

  /** nodeId -> { id, color, samples: NodeStats[] (ascending time), state: 'live' | 'gone' } */
  var nodes = new Map();
  var colorsUsed = 0;
  var servedBy = null;
  var answeredAt = 0;

  function rate(field) {
    return function (samples) {
      var points = [];
      for (var i = 1; i < samples.length; i++) {
        var dt = (samples[i].time - samples[i - 1].time) / 1000;
        if (dt <= 0) continue;
        points.push([samples[i].time, Math.max(0, samples[i][field] - samples[i - 1][field]) / dt]);
      }
      return points;
    };
  }
  var CHARTS = [
    { id: 'connections', points: function (samples) {
      return samples.map(function (s) { return [s.time, s.connections]; });
    } },
    { id: 'delivered', points: rate('framesDelivered') },
    { id: 'drops', points: rate('slowConsumerDrops') },
    { id: 'timeouts', points: rate('heartbeatTimeouts') }
  ];
  CHARTS.forEach(function (chart) { chart.canvas = $('chart-' + chart.id); chart.drawn = {}; });

  function colorFor(id) {
    if (colorsUsed < PALETTE.length) return PALETTE[colorsUsed++];
    var hash = 0;
    for (var i = 0; i < id.length; i++) hash = (hash * 31 + id.charCodeAt(i)) >>> 0;
    return 'hsl(' + (hash % 360) + ', 60%, 45%)';
  }

  function fmt(value) {
    if (value >= 1e6) return (value / 1e6).toFixed(1) + 'M';
    if (value >= 1e4) return (value / 1e3).toFixed(0) + 'k';
    if (value >= 1e3) return (value / 1e3).toFixed(1) + 'k';
    if (Number.isInteger(value)) return String(value);
    return value >= 10 ? value.toFixed(0) : value.toFixed(value >= 1 ? 1 : 2);
  }

  /** A round grid step (1, 2 or 5 × 10^k) that splits 0..max into at most 4 intervals. */
  function niceStep(max) {
    if (!(max > 0)) return 0.25;
    var raw = max / 4;
    var pow = Math.pow(10, Math.floor(Math.log10(raw)));
    var steps = [1, 2, 5, 10];
    for (var i = 0; i < steps.length; i++) if (steps[i] * pow >= raw) return steps[i] * pow;
    return 10 * pow;
  }

  function clock(ms) {
    var d = new Date(ms);
    return d.toTimeString().slice(0, 8);
  }

  /** Adds one answer of /dashboard/stats to the history. */
  function ingest(body) {
    servedBy = body.node;
    answeredAt = body.time;
    var present = new Set();
    body.nodes.forEach(function (stats) {
      present.add(stats.nodeId);
      var node = nodes.get(stats.nodeId);
      if (!node) {
        node = { id: stats.nodeId, color: colorFor(stats.nodeId), samples: [], state: 'live' };
        nodes.set(stats.nodeId, node);
      }
      node.state = 'live';
      var last = node.samples[node.samples.length - 1];
      // Polled more often than published: the same snapshot again adds nothing.
      if (!last || stats.time > last.time) node.samples.push(stats);
      if (node.samples.length > MAX_SAMPLES) node.samples.splice(0, node.samples.length - MAX_SAMPLES);
    });
    // The answering node's clock, not the newest sample: when no node publishes any more the newest sample stops
    // moving, and gone nodes would never scroll out.
    var end = answeredAt || latestTime();
    nodes.forEach(function (node, id) {
      if (!present.has(id)) node.state = 'gone';
      while (node.samples.length && node.samples[0].time < end - WINDOW_MS) node.samples.shift();
      if (node.samples.length === 0) nodes.delete(id);
    });
  }

  function latestTime() {
    var end = 0;
    nodes.forEach(function (node) {
      var last = node.samples[node.samples.length - 1];
      if (last && last.time > end) end = last.time;
    });
    return end || Date.now();
  }

  function draw(chart, end) {
    var canvas = chart.canvas;
    var dpr = window.devicePixelRatio || 1;
    var width = canvas.clientWidth, height = canvas.clientHeight;
    if (canvas.width !== Math.round(width * dpr) || canvas.height !== Math.round(height * dpr)) {
      canvas.width = Math.round(width * dpr);
      canvas.height = Math.round(height * dpr);
    }
    var ctx = canvas.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, height);
    var left = 44, right = 8, top = 8, bottom = 18;
    var plotW = Math.max(1, width - left - right), plotH = Math.max(1, height - top - bottom);
    var start = end - WINDOW_MS;

    var series = [];
    var max = 0;
    nodes.forEach(function (node) {
      var points = chart.points(node.samples).filter(function (p) { return p[0] >= start && p[0] <= end; });
      points.forEach(function (p) { if (p[1] > max) max = p[1]; });
      series.push({ node: node, points: points });
    });
    var step = niceStep(max);
    var yMax = max > 0 ? step * Math.ceil(max / step) : 1;
    var x = function (t) { return left + ((t - start) / WINDOW_MS) * plotW; };
    var y = function (v) { return top + plotH - (v / yMax) * plotH; };

    ctx.font = '11px system-ui, sans-serif';
    ctx.lineWidth = 1;
    ctx.strokeStyle = '#e5e5e5';
    ctx.fillStyle = '#666';
    ctx.textAlign = 'right';
    ctx.textBaseline = 'middle';
    for (var value = 0; value <= yMax + step / 2; value += step) {
      var gy = Math.round(y(value)) + 0.5;
      ctx.beginPath(); ctx.moveTo(left, gy); ctx.lineTo(left + plotW, gy); ctx.stroke();
      ctx.fillText(fmt(value), left - 4, gy);
    }
    ctx.textAlign = 'center';
    ctx.textBaseline = 'top';
    for (var s = 0; s <= WINDOW_MS; s += 30000) {
      var label = s === WINDOW_MS ? 'now' : '-' + Math.floor((WINDOW_MS - s) / 60000) + ':' +
        String(((WINDOW_MS - s) / 1000) % 60).padStart(2, '0');
      ctx.fillText(label, Math.min(Math.max(x(start + s), left + 12), left + plotW - 12), top + plotH + 4);
    }

    var total = 0, drawnSeries = 0;
    chart.drawn = {};
    series.forEach(function (entry) {
      var points = entry.points;
      var peak = 0;
      points.forEach(function (p) { if (p[1] > peak) peak = p[1]; });
      chart.drawn[entry.node.id] = {
        points: points.length,
        last: points.length ? points[points.length - 1][1] : null,
        peak: peak
      };
      if (!points.length) return;
      total += points.length;
      drawnSeries++;
      ctx.strokeStyle = entry.node.color;
      ctx.fillStyle = entry.node.color;
      ctx.lineWidth = 2;
      ctx.setLineDash(entry.node.state === 'gone' ? [4, 3] : []);
      ctx.beginPath();
      points.forEach(function (p, i) {
        if (i === 0) ctx.moveTo(x(p[0]), y(p[1])); else ctx.lineTo(x(p[0]), y(p[1]));
      });
      ctx.stroke();
      var tail = points[points.length - 1];
      ctx.beginPath(); ctx.arc(x(tail[0]), y(tail[1]), 2.5, 0, 2 * Math.PI); ctx.fill();
    });
    ctx.setLineDash([]);
    canvas.setAttribute('data-series', String(drawnSeries));
    canvas.setAttribute('data-points', String(total));
  }

  function render() {
    var end = answeredAt || latestTime();
    CHARTS.forEach(function (chart) { draw(chart, end); });
    var connections = CHARTS[0], delivered = CHARTS[1];

    var legend = $('legend');
    legend.textContent = '';
    var tbody = $('nodes-table').tBodies[0];
    tbody.textContent = '';
    nodes.forEach(function (node) {
      var drawn = connections.drawn[node.id] || { points: 0, last: null };
      var rateNow = delivered.drawn[node.id] && delivered.drawn[node.id].last;
      var li = document.createElement('li');
      li.setAttribute('data-node-id', node.id);
      li.setAttribute('data-state', node.state);
      li.setAttribute('data-points', String(drawn.points));
      li.setAttribute('data-connections', drawn.last === null ? '' : String(drawn.last));
      li.setAttribute('data-delivered-peak', String(delivered.drawn[node.id] ? delivered.drawn[node.id].peak : 0));
      var swatch = document.createElement('span');
      swatch.className = 'swatch';
      swatch.style.background = node.color;
      var code = document.createElement('code');
      code.textContent = node.id;
      li.appendChild(swatch);
      li.appendChild(code);
      li.appendChild(document.createTextNode(
        (node.id === servedBy ? ' (this node)' : '') + (node.state === 'gone' ? ' gone' : '') +
        ' · ' + (drawn.last === null ? '—' : fmt(drawn.last)) + ' conn · ' +
        (rateNow === null || rateNow === undefined ? '—' : fmt(rateNow)) + ' frames/s'));
      legend.appendChild(li);

      var s = node.samples[node.samples.length - 1];
      var row = document.createElement('tr');
      row.setAttribute('data-node-id', node.id);
      [node.id.slice(0, 8) + '…', s.connections, s.uids, s.groups, s.framesDelivered,
        rateNow === null || rateNow === undefined ? '—' : fmt(rateNow), s.slowConsumerDrops, s.heartbeatTimeouts,
        s.rejectedUpgrades, s.payloadTooLarge, s.badFrames, s.limitRefusals, s.engineResyncs, s.subscriberResets,
        s.publishFailures, node.state === 'gone' ? 'gone' : ((Math.max(0, answeredAt - s.time) / 1000).toFixed(1) + ' s')
      ].forEach(function (value, i) {
        var cell = document.createElement('td');
        cell.textContent = typeof value === 'number' ? fmt(value) : value;
        if (i === 0) cell.title = node.id;
        row.appendChild(cell);
      });
      tbody.appendChild(row);
    });
    if (nodes.size === 0) {
      var empty = document.createElement('li');
      empty.className = 'empty';
      empty.textContent = 'no node publishes its stats (nodeStatsInterval: false everywhere?)';
      legend.appendChild(empty);
    }
    var live = 0;
    nodes.forEach(function (node) { if (node.state === 'live') live++; });
    $('node-count').textContent = String(live);
    $('served-by').textContent = servedBy || '—';
  }

  function setStatus(text, cls) {
    $('status').textContent = text;
    $('status').className = cls;
  }

  /** The poll period: the shortest publish interval among live nodes (polling faster only repeats snapshots). */
  function pollEvery() {
    var best = Infinity;
    nodes.forEach(function (node) {
      var last = node.samples[node.samples.length - 1];
      if (node.state === 'live' && last && last.interval > 0 && last.interval < best) best = last.interval;
    });
    return best === Infinity ? 2000 : Math.min(10000, Math.max(100, best));
  }

  async function poll() {
    // A server that never answers must show as an error, not as a chart that silently stops moving.
    var abort = new AbortController();
    var timer = setTimeout(function () { abort.abort(new Error('no answer within ' + POLL_TIMEOUT_MS + ' ms')); },
      POLL_TIMEOUT_MS);
    try {
      var res = await fetch('/dashboard/stats', { cache: 'no-store', credentials: 'same-origin', signal: abort.signal });
      var body = await res.json().catch(function () { return null; });
      if (!res.ok || !body || !Array.isArray(body.nodes)) {
        throw new Error(res.status + ': ' + ((body && body.message) || res.statusText || 'not a stats answer'));
      }
      ingest(body);
      // A stale error from an earlier poll goes as soon as one succeeds.
      $('error').textContent = '';
      setStatus('live', 'live');
      $('updated').textContent = clock(Date.now());
      $('interval').textContent = String(pollEvery());
    } catch (error) {
      $('error').textContent = 'cluster stats unavailable: ' + (error && error.message || error);
      setStatus('error', 'error');
    } finally {
      clearTimeout(timer);
    }
    render();
    setTimeout(poll, pollEvery());
  }

  window.addEventListener('resize', render);
  poll();
})();
</script>
</body>
</html>
`;
