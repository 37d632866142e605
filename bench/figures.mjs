// One function per figure of the benchmark; each measures one page kind (ours or the mqtt.js reference)
// once and returns plain numbers. bench/run.mjs alternates the kinds and makes the table.
//
// Every tab is a page of its own browser context (tabs.mjs' newPage), which headless Chromium shows in a
// window of its own: no tab is a hidden background tab (each figure records document.visibilityState).

import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import zlib from 'node:zlib';
import { log, ROOT, startBroker } from '../end2end/harness.mjs';
import { join, newPage, nonce } from '../end2end/tabs.mjs';
import { instrument, sendFrom } from './page.mjs';
import path from 'node:path';

export const FLOOD = path.join(ROOT, 'target', 'release', 'examples', 'flood');
/** Unix ms on the clock the pages use (performance.timeOrigin + performance.now()). */
const wall = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- tabs -----------------------------------------------------------------------------------

/** A tab of `kind` in `room`, instrumented (page.mjs), joined as `name` unless `autoJoin`. */
export async function openTab(env, kind, name, room, { autoJoin = false } = {}) {
  const page = await newPage(env.browser, `${kind.id}:${name}`, 'about:blank');
  await page.context().addInitScript(instrument, { autoJoin: autoJoin ? name : null });
  await page.goto(`${kind.url}#${room}`);
  if (!autoJoin) await join(page, name);
  return page;
}

async function close(...pages) {
  await Promise.all(pages.map((p) => p.context().close()));
}

const visibility = (page) => page.evaluate(() => document.visibilityState);

// ---- the native client ----------------------------------------------------------------------

/**
 * Runs mqtt/examples/flood with `args`; resolves with its last JSON line. `onReady` is called when a
 * `receive` has its subscription.
 */
export function flood(args, { onReady } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(FLOOD, args.map(String), { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (chunk) => {
      out += chunk;
      if (onReady && out.includes('"ready":true')) {
        onReady();
        onReady = null;
      }
    });
    child.stderr.setEncoding('utf8').on('data', (chunk) => (err += chunk));
    child.on('error', reject);
    child.on('exit', (code) => {
      const last = out.trim().split('\n').pop();
      if (code !== 0) reject(new Error(`flood ${args[0]} exited ${code}: ${err}`));
      else resolve(JSON.parse(last));
    });
  });
}

const publishArgs = (env, room, count, prefix, extra = []) => [
  'publish', '--url', env.broker.wsUrl, '--topic', `chat/rooms/${room}/messages/flooder`,
  '--username', 'flooder', '--count', count, '--prefix', prefix, ...extra,
];

/** Waits until the page rendered `count` messages "PREFIX N"; gives up after `idleMs` without progress. */
async function waitForGroup(page, prefix, count, { idleMs = 30_000 } = {}) {
  let last = -1;
  let progressAt = Date.now();
  for (;;) {
    const g = await page.evaluate((p) => window.__bench.group(p), prefix);
    if (g.count >= count) return { ...g, complete: true };
    if (g.count !== last) {
      last = g.count;
      progressAt = Date.now();
    } else if (Date.now() - progressAt > idleMs) {
      return { ...g, complete: false };
    }
    await sleep(100);
  }
}

/** Long tasks (≥ 50 ms) that overlap [from, to]; null if the browser has no Long Tasks API. */
async function longTasks(page, from, to) {
  const tasks = await page.evaluate(() => window.__bench.longTasks);
  if (!tasks) return null;
  const inside = tasks.filter((t) => t.start + t.duration >= from && t.start <= to);
  return { count: inside.length, longest: Math.max(0, ...inside.map((t) => t.duration)) };
}

// ---- figures --------------------------------------------------------------------------------

/** Tab A sends `count` messages one at a time (QoS 1); each is timed until tab B's log shows it. */
export async function latency(env, kind, count) {
  const room = `lat-${nonce()}`;
  const a = await openTab(env, kind, `a${nonce()}`, room);
  const b = await openTab(env, kind, `b${nonce()}`, room);
  const box = a.getByRole('textbox', { name: 'Message' });
  const tag = `lat-${nonce()}`;
  const samples = [];
  let lost = 0;
  try {
    for (let i = -5; i < count; i++) { // five unmeasured messages first
      const text = `${tag} ${i + 5}`;
      const shown = b.evaluate((t) => window.__bench.waitFor(t), text);
      const sentAt = await sendFrom(box, text);
      const seenAt = await Promise.race([shown, sleep(10_000).then(() => null)]);
      if (seenAt === null) lost++;
      else if (i >= 0) samples.push(seenAt - sentAt);
    }
    return { samples, lost, visibility: [await visibility(a), await visibility(b)] };
  } finally {
    await close(a, b);
  }
}

/**
 * A publisher outside the browser sends `count` messages into the tab's room as fast as Mosquitto takes
 * them (QoS 1; Mosquitto then hands them to the tab 20 unacknowledged at a time, its default window). The
 * rate is the tab's: how far it caught up (the newest message drawn) after the first, over the time from the
 * first to the newest (see page.mjs: a list that draws only its newest lines skips what scrolls out within a frame).
 */
export async function ingest(env, kind, count) {
  const room = `in-${nonce()}`;
  const page = await openTab(env, kind, `in${nonce()}`, room);
  const prefix = `in-${nonce()}`;
  try {
    const from = wall();
    const published = await flood(publishArgs(env, room, count, prefix));
    const publishedAt = wall();
    const g = await waitForGroup(page, prefix, count);
    return {
      rendered: g.count,
      drawn: g.drawn,
      complete: g.complete,
      rate: g.count > 1 ? ((g.count - 1) * 1000) / (g.last - g.first) : 0,
      seconds: (g.last - g.first) / 1000,
      behindPublisherMs: g.last - publishedAt,
      publisherRate: published.rate,
      longTasks: await longTasks(page, from, g.last),
      visibility: await visibility(page),
    };
  } finally {
    await close(page);
  }
}

/** The same flood, received by our native client over the same websocket listener: Mosquitto's ceiling here. */
export async function nativeIngest(env, count) {
  const room = `nat-${nonce()}`;
  let ready;
  const isReady = new Promise((r) => (ready = r));
  const received = flood(
    ['receive', '--url', env.broker.wsUrl, '--topic', `chat/rooms/${room}/messages/+`, '--count', count, '--timeout', 30],
    { onReady: ready },
  );
  await isReady;
  const published = await flood(publishArgs(env, room, count, `nat-${nonce()}`));
  const r = await received;
  return { received: r.received, complete: r.received >= count, rate: r.rate, seconds: r.seconds, publisherRate: published.rate };
}

/** JS heap (after a garbage collection) and wasm memory, in bytes. */
async function memory(page) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('HeapProfiler.collectGarbage');
  await cdp.detach();
  return page.evaluate(async () => {
    let wasm = 0;
    // Our page: the wasm-bindgen glue module (named by boot.js's script tag) hands back the instance's
    // exports when initialised again; importing it again gives the same module instance.
    const tag = document.querySelector('script[data-wasm][data-js]');
    if (tag) {
      const glue = await import(tag.dataset.js);
      const exports = await glue.default();
      wasm = exports.memory.buffer.byteLength;
    }
    return { jsHeap: performance.memory?.usedJSHeapSize ?? null, wasm };
  });
}

/**
 * A room filled with `total` messages by the flood publisher, in chunks (Mosquitto queues at most 5,000
 * messages per client, so that a slow tab loses none); the render time is the sum over chunks of first →
 * last rendered. Then `appends` more, one every 200 ms, each timed from the WebSocket frame that carried it
 * to its <li> (the page's own work); then memory.
 */
export async function bigRoom(env, kind, { total, chunk, appends, timeoutMs }) {
  const room = `big-${nonce()}`;
  const page = await openTab(env, kind, `big${nonce()}`, room);
  const tag = nonce();
  try {
    const empty = await memory(page);
    const deadline = Date.now() + timeoutMs;
    let rendered = 0;
    let renderMs = 0;
    let complete = true;
    const from = wall();
    for (let k = 0; rendered < total; k++) {
      const n = Math.min(chunk, total - rendered);
      const prefix = `big${k}-${tag}`;
      await flood(publishArgs(env, room, n, prefix));
      const g = await waitForGroup(page, prefix, n, { idleMs: Math.max(1000, Math.min(60_000, deadline - Date.now())) });
      rendered += g.count;
      if (g.count) renderMs += g.last - g.first;
      if (!g.complete || Date.now() > deadline) {
        complete = rendered >= total;
        break;
      }
    }
    const filledAt = wall();
    const tasks = await longTasks(page, from, filledAt);
    let append = null;
    if (complete) {
      const prefix = `ap-${tag}`;
      await page.evaluate((p) => (window.__bench.framePrefix = p), prefix);
      await flood(publishArgs(env, room, appends, prefix, ['--rate', 5]));
      const g = await waitForGroup(page, prefix, appends, { idleMs: 30_000 });
      const times = await page.evaluate((p) => {
        const b = window.__bench;
        const out = [];
        for (const [text, arrived] of b.frames) if (text.startsWith(p) && b.seen.has(text)) out.push(b.seen.get(text) - arrived);
        return out;
      }, prefix);
      append = { samples: times, rendered: g.count };
    }
    return {
      rendered,
      complete,
      renderSeconds: renderMs / 1000,
      longTasks: tasks,
      append,
      memoryEmpty: empty,
      memory: await memory(page),
      visibility: await visibility(page),
    };
  } finally {
    await close(page);
  }
}

/**
 * Ours only: the time from navigation to the messages kept on the device drawn. A tab joins a room on a
 * Mosquitto of its own and takes `count` messages (what the device keeps of a conversation: 500); that broker
 * is stopped, and the same tab (its browser context keeps IndexedDB and the stored name) loads the page again:
 * what it draws can only come from the device. Returns ms from navigation start to the newest message drawn,
 * and to the page's first message drawn.
 */
export async function cached(env, kind, count) {
  const broker = await startBroker({ name: 'mosquitto-cached' });
  const url = new URL(kind.url);
  url.searchParams.set('broker', broker.wsUrl);
  const own = { ...kind, url: url.toString() };
  const room = `ca-${nonce()}`;
  const page = await openTab({ ...env, broker }, own, `ca${nonce()}`, room);
  const prefix = `ca-${nonce()}`;
  try {
    await flood(publishArgs({ broker }, room, count, prefix));
    const g = await waitForGroup(page, prefix, count);
    if (!g.complete) return { complete: false };
    // The device's writes are batched (250 ms) and then committed: give them time.
    await sleep(3000);
    await broker.stop();
    await page.goto(`${own.url}#${room}`);
    const newest = `${prefix} ${count - 1}`;
    const drawn = await page
      .waitForFunction((t) => window.__bench.seen.has(t), newest, { timeout: 30_000 })
      .then(() => true, () => false);
    if (!drawn) {
      // Not fatal for the run: what was drawn instead goes into the JSON.
      const shown = await page.evaluate(() => [...window.__bench.seen.keys()]);
      return { complete: false, drawn: shown.length, newestDrawn: shown.at(-1) ?? null };
    }
    const t = await page.evaluate((t) => ({
      origin: performance.timeOrigin,
      newest: window.__bench.seen.get(t),
      first: Math.min(...window.__bench.seen.values()),
      connected: window.__bench.connectedAt,
    }), newest);
    return {
      complete: true,
      newestMs: t.newest - t.origin,
      firstMs: t.first - t.origin,
      connected: t.connected !== null,
      visibility: await visibility(page),
    };
  } finally {
    await close(page);
    await broker.stop();
  }
}

/**
 * A fresh tab (new browser context: nothing cached) loads the page and joins at once (page.mjs' autoJoin).
 * Returns ms from navigation start to the login form being there and to "Connected" (our app says so once
 * its subscriptions are granted; the reference once its SUBACK arrived), and every file it loaded.
 */
export async function load(env, kind) {
  const name = `ld${nonce()}`;
  const page = await newPage(env.browser, `${kind.id}:${name}`, 'about:blank');
  const files = [];
  try {
    await page.context().addInitScript(instrument, { autoJoin: name });
    page.on('response', (r) => {
      const url = new URL(r.url());
      // The browser's own favicon request is not something the page loads.
      if (url.protocol.startsWith('http') && url.pathname !== '/favicon.ico') files.push(r);
    });
    await page.goto(`${kind.url}#ld-${nonce()}`);
    await page.waitForFunction(() => window.__bench.connectedAt, null, { timeout: 60_000 });
    const t = await page.evaluate(() => ({
      origin: performance.timeOrigin,
      joinedAt: window.__bench.joinedAt,
      connectedAt: window.__bench.connectedAt,
    }));
    const bodies = await Promise.all(files.map(async (r) => ({ url: r.url(), body: await r.body() })));
    return {
      formMs: t.joinedAt - t.origin,
      connectedMs: t.connectedAt - t.origin,
      files: bodies.map(({ url, body }) => ({ path: new URL(url).pathname, ...sizes(body) })),
      visibility: await visibility(page),
    };
  } finally {
    await close(page);
  }
}

/** Size as served, gzip -9 and brotli quality 11. */
export function sizes(body) {
  return {
    raw: body.length,
    gzip: zlib.gzipSync(body, { level: 9 }).length,
    brotli: zlib.brotliCompressSync(body, {
      params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: body.length },
    }).length,
  };
}

/** Our tab and a reference tab in one room see each other's messages (same topics and payloads). */
export async function interop(env, ours, reference) {
  const room = `io-${nonce()}`;
  const a = await openTab(env, ours, `ours${nonce()}`, room);
  const b = await openTab(env, reference, `ref${nonce()}`, room);
  try {
    const one = `from-ours-${nonce()} 1`;
    const two = `from-ref-${nonce()} 1`;
    const bSees = b.evaluate((t) => window.__bench.waitFor(t), one);
    await sendFrom(a.getByRole('textbox', { name: 'Message' }), one);
    const aSees = a.evaluate((t) => window.__bench.waitFor(t), two);
    await sendFrom(b.getByRole('textbox', { name: 'Message' }), two);
    const timeout = sleep(10_000).then(() => null);
    const [x, y] = await Promise.all([Promise.race([bSees, timeout]), Promise.race([aSees, timeout])]);
    if (x === null || y === null) throw new Error(`interop: the reference ${x ? '' : 'did not see ours'} ${y ? '' : 'ours did not see the reference'}`);
    log('interop: our tab and the mqtt.js tab see each other');
  } finally {
    await close(a, b);
  }
}
