// Latency across brokers: for a single Mosquitto, the Mosquitto bridge and the aedes pair (the setups of the
// README's "Running on several brokers"), tab A joins through the first broker and tab B through the second
// (one broker twice for the single one), each in a browser context of its own (so neither is a background
// tab), and A sends N messages (QoS 1), one every LATENCY_GAP_MS. For each, the time from A submitting it to
// B drawing it (a MutationObserver in B), both read as `performance.timeOrigin + performance.now()`.
//
//   node end2end/cross-broker-latency.mjs         prints a table of p50 / p99 / max per setup
//
// Environment: LATENCY_N (default 200), LATENCY_GAP_MS (default 50), LATENCY_SETUPS (comma-separated, default
// single,mosquitto,aedes), and harness.mjs's (E2E_DIST, E2E_NO_BUILD to reuse a build). Not a test: nothing
// is gated on these figures. `measureCrossBrokerLatency()` is the same, for the benchmark command.

import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLUSTERS, buildApp, launchBrowser, log, serve, startBroker, startCluster } from './harness.mjs';
import { closeAll, nonce, openJoined } from './tabs.mjs';

export const SETUPS = ['single', ...CLUSTERS];
const LABELS = { single: 'single Mosquitto', mosquitto: 'Mosquitto bridge', aedes: 'aedes pair (redis)' };

/** The brokers of a setup, as [first, second] plus a `stop`. */
async function brokersFor(setup) {
  if (setup === 'single') {
    const broker = await startBroker();
    return { brokers: [broker, broker], stop: () => broker.stop() };
  }
  return startCluster(setup);
}

/** In tab B: note when each message "lat-RUN-i" is drawn. */
function observe(run) {
  window.__drawn = {};
  const note = (node) => {
    for (const el of node.querySelectorAll?.('li.message .text') ?? []) {
      const m = new RegExp(`^lat-${run}-(\\d+)$`).exec(el.textContent);
      if (m && !(m[1] in window.__drawn)) window.__drawn[m[1]] = performance.timeOrigin + performance.now();
    }
  };
  new MutationObserver((records) => {
    for (const r of records) for (const node of r.addedNodes) if (node.nodeType === 1) note(node.parentElement ?? node);
  }).observe(document.body, { childList: true, subtree: true });
}

/** In tab A: submit "lat-RUN-i" through the composer, one every `gap` ms; returns when each went out. */
async function sendAll({ run, n, gap }) {
  const box = document.getElementById('message');
  const sent = {};
  for (let i = 0; i < n; i++) {
    box.value = `lat-${run}-${i}`;
    box.dispatchEvent(new Event('input', { bubbles: true }));
    sent[i] = performance.timeOrigin + performance.now();
    box.form.requestSubmit();
    await new Promise((r) => setTimeout(r, gap));
  }
  return sent;
}

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];

/** One setup in an open browser: {setup, n, received, p50, p99, max} in ms. */
async function measure(browser, appUrl, setup, n, gap) {
  const cluster = await brokersFor(setup);
  const [first, second] = cluster.brokers;
  const run = nonce();
  let a;
  let b;
  try {
    a = await openJoined(browser, `${appUrl}?broker=${first.wsUrl}#lat${run}`, `ann${run}`);
    b = await openJoined(browser, `${appUrl}?broker=${second.wsUrl}#lat${run}`, `ben${run}`);
    await b.evaluate(observe, run);
    const sent = await a.evaluate(sendAll, { run, n, gap });
    await b.waitForFunction((count) => Object.keys(window.__drawn).length >= count, n, { timeout: 60_000 }).catch(() => {});
    const drawn = await b.evaluate(() => window.__drawn);
    const latencies = Object.entries(drawn).map(([i, t]) => t - sent[i]).sort((x, y) => x - y);
    const round = (x) => (x === undefined ? NaN : Math.round(x * 10) / 10);
    return {
      setup,
      label: LABELS[setup] ?? setup,
      n,
      received: latencies.length,
      p50: round(percentile(latencies, 50)),
      p99: round(percentile(latencies, 99)),
      max: round(latencies.at(-1)),
    };
  } finally {
    await closeAll(a, b).catch((err) => log(`latency ${setup}: ${err.message}`));
    await cluster.stop();
  }
}

/**
 * Builds (or reuses, see harness.mjs) the app, and measures each of `setups`; returns one row per setup.
 */
export async function measureCrossBrokerLatency({
  n = Number(process.env.LATENCY_N ?? 200),
  gap = Number(process.env.LATENCY_GAP_MS ?? 50),
  setups = (process.env.LATENCY_SETUPS ?? SETUPS.join(',')).split(','),
} = {}) {
  const build = await buildApp();
  const server = await serve(build.dist);
  const browser = await launchBrowser();
  try {
    const rows = [];
    for (const setup of setups) rows.push(await measure(browser, server.url, setup, n, gap));
    return rows;
  } finally {
    await browser.close();
    await server.stop();
    build.cleanup();
  }
}

/** The rows as a small Markdown table. */
export function formatTable(rows) {
  const lines = [
    '| setup | messages | received | p50 ms | p99 ms | max ms |',
    '|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.label} | ${r.n} | ${r.received} | ${r.p50} | ${r.p99} | ${r.max} |`),
  ];
  return lines.join('\n');
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const rows = await measureCrossBrokerLatency();
  console.log(formatTable(rows));
  process.exit(0);
}
