// The benchmark's table: from the raw runs of bench/run.mjs to one markdown table, figure by figure, with
// the ratio ours / reference and the goal for each.

import { formatTable } from '../end2end/cross-broker-latency.mjs';

const KB = 1000; // decimal units, as the issue counts (mqtt.min.js: "105 KB gzipped")
const MB = 1000 * 1000;

/** Nearest-rank percentile of `values` (unsorted); null when empty. */
export function percentile(values, p) {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}
/** The median of a few runs (the mean of the middle two of an even count); null when empty. */
function median(values) {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
const sum = (values) => values.reduce((a, b) => a + b, 0);

function fmt(value, digits = 1) {
  if (value === null || value === undefined || Number.isNaN(value)) return 'n/a';
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}
const ratio = (a, b) => (a === null || b === null || a === undefined || b === undefined || b === 0 ? null : a / b);
const times = (r) => (r === null ? 'n/a' : `${fmt(r, 2)}×`);

/** Per page, the figures over all rounds. */
export function summarize(results) {
  const runs = (figure, page) => results.runs.filter((r) => r.figure === figure && r.page === page);
  const page = (id) => {
    const loads = runs('load', id);
    const lat = runs('latency', id);
    const samples = lat.flatMap((r) => r.samples);
    const ing = runs('ingest', id);
    const rooms = runs('room', id);
    const cache = runs('cached', id);
    const files = loads[0]?.files ?? [];
    const appends = rooms.flatMap((r) => r.append?.samples ?? []);
    const longest = (rs) => {
      const known = rs.map((r) => r.longTasks).filter(Boolean);
      return known.length ? Math.max(...known.map((t) => t.longest)) : null;
    };
    return {
      transfer: files.length ? { raw: sum(files.map((f) => f.raw)), gzip: sum(files.map((f) => f.gzip)), brotli: sum(files.map((f) => f.brotli)), files } : null,
      formMs: median(loads.map((r) => r.formMs)),
      connectedMs: median(loads.map((r) => r.connectedMs)),
      loads: loads.length,
      latency: { n: samples.length, lost: sum(lat.map((r) => r.lost)), p50: percentile(samples, 50), p99: percentile(samples, 99), max: samples.length ? Math.max(...samples) : null },
      ingest: {
        rate: median(ing.map((r) => r.rate)),
        rates: ing.map((r) => Math.round(r.rate)),
        complete: ing.every((r) => r.complete),
        longestTask: longest(ing),
        longTasks: sum(ing.map((r) => r.longTasks?.count ?? 0)),
      },
      room: rooms.length
        ? {
            complete: rooms.every((r) => r.complete),
            rendered: Math.min(...rooms.map((r) => r.rendered)),
            renderSeconds: median(rooms.map((r) => r.renderSeconds)),
            longestTask: longest(rooms),
            appendP50: median(appends),
            appendMax: appends.length ? Math.max(...appends) : null,
            appends: appends.length,
            jsHeap: median(rooms.map((r) => r.memory.jsHeap)),
            wasm: median(rooms.map((r) => r.memory.wasm)),
            total: median(rooms.map((r) => r.memory.jsHeap + r.memory.wasm)),
            emptyTotal: median(rooms.map((r) => r.memoryEmpty.jsHeap + r.memoryEmpty.wasm)),
          }
        : null,
      cached: cache.length
        ? {
            complete: cache.every((r) => r.complete),
            newestMs: median(cache.filter((r) => r.complete).map((r) => r.newestMs)),
            firstMs: median(cache.filter((r) => r.complete).map((r) => r.firstMs)),
            runs: cache.length,
          }
        : null,
      hidden: results.runs.filter((r) => r.page === id).some((r) => [r.visibility].flat().some((v) => v && v !== 'visible')),
    };
  };
  const native = runs('ingest', 'native');
  return {
    ours: page('ours'),
    reference: page('reference'),
    native: { rate: median(native.map((r) => r.rate)), rates: native.map((r) => Math.round(r.rate)), complete: native.every((r) => r.complete) },
  };
}

/** The markdown table (and a few lines under it). */
export function table(results) {
  const s = summarize(results);
  const o = s.ours;
  const r = s.reference;
  const rows = [];
  // verdict: true (met), false (missed), undefined (no goal), null (cannot tell)
  const row = (figure, ours, ref, rat, goal = '—', met) => {
    const verdict = met === undefined ? '' : met === null ? 'not measured' : met ? 'met' : '**missed**';
    rows.push(`| ${figure} | ${ours} | ${ref} | ${rat} | ${goal} | ${verdict} |`);
  };
  const ok = (value, test) => (value === null || value === undefined ? null : test(value));

  if (o.transfer && r.transfer) {
    row('transfer, gzip -9 (KB)', fmt(o.transfer.gzip / KB), fmt(r.transfer.gzip / KB), times(ratio(o.transfer.gzip, r.transfer.gzip)), 'ours ≤ 100 KB', o.transfer.gzip <= 100 * KB);
    row('transfer, brotli 11 (KB)', fmt(o.transfer.brotli / KB), fmt(r.transfer.brotli / KB), times(ratio(o.transfer.brotli, r.transfer.brotli)));
    row('transfer, as served (KB)', fmt(o.transfer.raw / KB), fmt(r.transfer.raw / KB), times(ratio(o.transfer.raw, r.transfer.raw)));
  }
  if (o.transfer && results.mqttMinJs) {
    const m = results.mqttMinJs;
    row("transfer, gzip: ours vs mqtt.js's dist/mqtt.min.js alone (KB)", fmt(o.transfer.gzip / KB), fmt(m.gzip / KB), times(ratio(o.transfer.gzip, m.gzip)));
    row("transfer, brotli: ours vs mqtt.js's dist/mqtt.min.js alone (KB)", fmt(o.transfer.brotli / KB), fmt(m.brotli / KB), times(ratio(o.transfer.brotli, m.brotli)));
  }
  row(`page load → form ready (ms, median of ${o.loads})`, fmt(o.formMs), fmt(r.formMs), times(ratio(o.formMs, r.formMs)));
  row(`page load → connected and subscribed (ms, median of ${o.loads})`, fmt(o.connectedMs), fmt(r.connectedMs), times(ratio(o.connectedMs, r.connectedMs)));
  const lat = (k) => ratio(o.latency[k], r.latency[k]);
  row(`tab→tab latency p50 (ms, ${o.latency.n} / ${r.latency.n} msgs)`, fmt(o.latency.p50, 2), fmt(r.latency.p50, 2), times(lat('p50')), '≤ 1×', ok(lat('p50'), (x) => x <= 1));
  row('tab→tab latency p99 (ms)', fmt(o.latency.p99, 2), fmt(r.latency.p99, 2), times(lat('p99')), '≤ 1×', ok(lat('p99'), (x) => x <= 1));
  row('tab→tab latency max (ms)', fmt(o.latency.max, 2), fmt(r.latency.max, 2), times(lat('max')));
  if (o.ingest.rate !== null) {
    const ir = ratio(o.ingest.rate, r.ingest.rate);
    row(`ingest (msgs/s, median of ${o.ingest.rates.length})`, fmt(o.ingest.rate, 0), fmt(r.ingest.rate, 0), times(ir), '≥ 2×', ok(ir, (x) => x >= 2));
    const on = ratio(o.ingest.rate, s.native.rate);
    row(
      `ingest ÷ native client's ${fmt(s.native.rate, 0)} msgs/s (Mosquitto's ceiling)`,
      `${fmt(100 * on, 2)} %`,
      `${fmt(100 * ratio(r.ingest.rate, s.native.rate), 2)} %`,
      '',
      'ours ≥ 10 %',
      ok(on, (x) => x >= 0.1),
    );
    const task = (p) => (p.ingest.longestTask === null ? 'n/a' : p.ingest.longestTask === 0 ? 'none ≥ 50' : fmt(p.ingest.longestTask, 0));
    row('ingest: longest main-thread task (ms)', task(o), task(r), '', 'ours ≤ 50 ms', ok(o.ingest.longestTask, (x) => x <= 50));
  }
  if (o.room && r.room) {
    const n = results.config.room.toLocaleString('en-US');
    const done = (p) => (p.room.complete ? fmt(p.room.renderSeconds, 2) : `not reached (${p.room.rendered} rendered)`);
    row(`${n}-message room: time to render, first → last (s)`, done(o), done(r), o.room.complete && r.room.complete ? times(ratio(o.room.renderSeconds, r.room.renderSeconds)) : 'n/a');
    const task = (p) => (p.room.longestTask === null ? 'n/a' : p.room.longestTask === 0 ? 'none ≥ 50' : fmt(p.room.longestTask, 0));
    row(`${n}-message room: longest main-thread task while filling (ms)`, task(o), task(r), '');
    const ap = ratio(o.room.appendP50, r.room.appendP50);
    row(`${n}-message room: append one more, frame → rendered, median (ms)`, fmt(o.room.appendP50, 2), fmt(r.room.appendP50, 2), times(ap), 'ours ≤ 2 ms', ok(o.room.appendP50, (x) => x <= 2));
    row(`${n}-message room: append one more, max of ${o.room.appends} (ms)`, fmt(o.room.appendMax, 2), fmt(r.room.appendMax, 2), times(ratio(o.room.appendMax, r.room.appendMax)));
    row(`${n}-message room: JS heap + wasm memory (MB)`, fmt(o.room.total / MB), fmt(r.room.total / MB), times(ratio(o.room.total, r.room.total)), 'ours ≤ 20 MB', o.room.complete ? o.room.total <= 20 * MB : null);
    row('… of which JS heap / wasm memory (MB)', `${fmt(o.room.jsHeap / MB)} / ${fmt(o.room.wasm / MB)}`, `${fmt(r.room.jsHeap / MB)} / ${fmt(r.room.wasm / MB)}`, '');
    row('… the same tab in an empty room (MB)', fmt(o.room.emptyTotal / MB), fmt(r.room.emptyTotal / MB), times(ratio(o.room.emptyTotal, r.room.emptyTotal)));
  }
  if (o.cached) {
    const c = o.cached;
    const n = results.config.cached.toLocaleString('en-US');
    row(
      `reload → ${n} messages on the device drawn, broker unreachable (ms, newest / first, median of ${c.runs})`,
      c.complete ? `${fmt(c.newestMs)} / ${fmt(c.firstMs)}` : 'not drawn',
      '—',
      '',
      'reported',
    );
  }
  const m = results.machine;
  const lines = [
    '| figure | ours | mqtt.js page | ours / mqtt.js | goal | verdict |',
    '|---|---|---|---|---|---|',
    ...rows,
    '',
    `Machine: ${m.nproc} cores, ${m.cpu}, ${m.memGB} GB; Chromium ${m.chromium ?? '?'} (headless); ${m.mosquitto}; Node ${m.node}. ` +
      `${results.config.rounds} rounds, pages alternating; ${Math.round(results.seconds ?? 0)} s; ` +
      `load average ${m.loadAverageAtStart?.[0]} at the start, ${m.loadAverageAtEnd?.[0]} at the end.`,
  ];
  const notes = [];
  if (o.latency.lost || r.latency.lost) notes.push(`latency messages never shown: ours ${o.latency.lost}, mqtt.js ${r.latency.lost}`);
  if (!o.ingest.complete || !r.ingest.complete || !s.native.complete) notes.push('an ingest run did not receive every message (see JSON)');
  if (o.hidden || r.hidden) notes.push('a tab was not visible during a figure (see JSON)');
  if (s.ours.ingest.rates.length) notes.push(`ingest runs (msgs/s): ours ${o.ingest.rates.join(', ')}; mqtt.js ${r.ingest.rates.join(', ')}; native ${s.native.rates.join(', ')}`);
  if (results.error) notes.push(`the run failed: ${results.error.split('\n')[0]}`);
  if (notes.length) lines.push('', ...notes.map((n) => `- ${n}`));
  if (Array.isArray(results.brokers)) {
    lines.push('', 'Tab → tab latency within one broker and across two (`--brokers`; tab A on broker 1, tab B on broker 2):', '', formatTable(results.brokers));
  }
  return `${lines.join('\n')}\n`;
}

// `node bench/report.mjs FILE.json`: the table of an earlier run again.
if (process.argv[1] && new URL(import.meta.url).pathname === process.argv[1]) {
  const fs = await import('node:fs');
  process.stdout.write(table(JSON.parse(fs.readFileSync(process.argv[2] ?? 'target/bench/latest.json', 'utf8'))));
}
