// A CPU profile of our page while it takes a flood (the benchmark's ingest figure), summed by function:
// where the main thread's time goes. Not part of scripts/bench's table; a tool for reading it.
//
//   node bench/profile.mjs DIST [COUNT]     DIST: a release build (scripts/build DIST); COUNT default 5000
//   PROFILE_ROOM=10000 node bench/profile.mjs DIST 50
//                                           the room first filled with 10,000 messages (not profiled), then
//                                           COUNT more at 5 a second: the append in a big room
//
// For function names, replace DIST's *_bg.wasm with wasm-bindgen's output before wasm-opt
// (target/small/wasm-bindgen/release/mqtt-chat_bg.wasm), which keeps its name section. Writes the raw
// profile to target/bench/profile-<time>.cpuprofile (Chromium's DevTools open it) and prints the top 40
// functions by self time, and the share of idle, garbage collection and the rest.

import fs from 'node:fs';
import path from 'node:path';
import { launchBrowser, log, ROOT, serve, startBroker } from '../end2end/harness.mjs';
import { flood, openTab } from './figures.mjs';
import { nonce } from '../end2end/tabs.mjs';

const [distArg, countArg] = process.argv.slice(2);
if (!distArg) {
  console.error('usage: node bench/profile.mjs DIST [COUNT]');
  process.exit(2);
}
const count = Number(countArg ?? 5000);
const cleanups = [];
try {
  const broker = await startBroker();
  cleanups.push(() => broker.stop());
  const app = await serve(path.resolve(distArg));
  cleanups.push(() => app.stop());
  const browser = await launchBrowser();
  cleanups.push(() => browser.close());
  const env = { broker, browser };
  const kind = { id: 'ours', url: `${app.url}?broker=${broker.wsUrl}` };
  const room = `prof-${nonce()}`;
  const page = await openTab(env, kind, `p${nonce()}`, room);
  const fill = Number(process.env.PROFILE_ROOM ?? 0);
  for (let sent = 0; sent < fill; sent += 2500) {
    const n = Math.min(2500, fill - sent);
    const p = `fill${sent}-${nonce()}`;
    await flood(['publish', '--url', broker.wsUrl, '--topic', `chat/rooms/${room}/messages/flooder`,
      '--username', 'flooder', '--count', n, '--prefix', p]);
    while ((await page.evaluate((x) => window.__bench.group(x), p)).count < n) await new Promise((r) => setTimeout(r, 200));
  }
  if (fill) log(`the room holds ${fill} messages`);
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Profiler.enable');
  await cdp.send('Profiler.setSamplingInterval', { interval: 200 });
  await cdp.send('Profiler.start');
  // The browser's own work (style, layout, paint) from its trace, summed by kind.
  const trace = [];
  cdp.on('Tracing.dataCollected', ({ value }) => trace.push(...value));
  const traced = new Promise((r) => cdp.once('Tracing.tracingComplete', r));
  await cdp.send('Tracing.start', {
    categories: 'devtools.timeline,disabled-by-default-devtools.timeline',
    transferMode: 'ReportEvents',
  });
  const prefix = `prof-${nonce()}`;
  const t0 = Date.now();
  await flood(['publish', '--url', broker.wsUrl, '--topic', `chat/rooms/${room}/messages/flooder`,
    '--username', 'flooder', '--count', count, '--prefix', prefix, ...(fill ? ['--rate', 5] : [])]);
  for (;;) {
    const g = await page.evaluate((p) => window.__bench.group(p), prefix);
    if (g.count >= count || Date.now() - t0 > 120_000) {
      log(`caught up ${g.count}/${count} in ${((g.last - g.first) / 1000).toFixed(2)} s: ${((g.count - 1) * 1000 / (g.last - g.first)).toFixed(0)} msgs/s, ${g.drawn} drawn`);
      break;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const { profile } = await cdp.send('Profiler.stop');
  await cdp.send('Tracing.end');
  await traced;
  const kinds = new Map();
  for (const e of trace) {
    if (e.ph !== 'X' || !['Layout', 'UpdateLayoutTree', 'Paint', 'PrePaint', 'Layerize', 'ParseHTML', 'FunctionCall', 'RunTask', 'EventDispatch', 'FireAnimationFrame', 'TimerFire'].includes(e.name)) continue;
    const k = kinds.get(e.name) ?? { count: 0, ms: 0, max: 0, objects: 0 };
    const ms = (e.dur ?? 0) / 1000;
    k.count++;
    k.ms += ms;
    k.max = Math.max(k.max, ms);
    k.objects += e.args?.beginData?.dirtyObjects ?? e.args?.elementCount ?? 0;
    kinds.set(e.name, k);
  }
  // The page's main thread: where its frames are laid out. Its tasks of 50 ms or more, and what is in them.
  const layout = trace.find((e) => e.name === 'Layout');
  const main = trace.filter((e) => layout && e.pid === layout.pid && e.tid === layout.tid && e.ph === 'X');
  const long = main.filter((e) => e.name === 'RunTask' && e.dur >= 50_000);
  for (const task of long.slice(0, 8)) {
    const inside = main.filter((e) => e !== task && e.ts >= task.ts && e.ts + e.dur <= task.ts + task.dur && e.dur >= 3000);
    const what = inside.map((e) => {
      const d = e.args?.data ?? {};
      const detail = d.type ?? d.functionName ?? d.url?.split('/').pop() ?? '';
      return `${e.name}${detail ? `(${detail})` : ''} ${(e.dur / 1000).toFixed(0)}`;
    });
    console.log(`task ${(task.dur / 1000).toFixed(0)} ms: ${what.join(', ')}`);
  }
  for (const [name, k] of [...kinds.entries()].sort((a, b) => b[1].ms - a[1].ms)) {
    console.log(`trace ${name.padEnd(18)} ${String(k.count).padStart(6)}× ${k.ms.toFixed(0).padStart(6)} ms, longest ${k.max.toFixed(1)} ms, ${k.objects} objects/elements`);
  }
  const tasks = await page.evaluate(() => window.__bench.longTasks);
  log(`long tasks: ${tasks.length}, longest ${Math.max(0, ...tasks.map((t) => t.duration)).toFixed(0)} ms`);
  const out = path.join(ROOT, 'target', 'bench', `profile-${Date.now()}.cpuprofile`);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, JSON.stringify(profile));
  log(`profile: ${out}`);
  // Self time per function: samples × their interval.
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  const dt = profile.timeDeltas;
  let total = 0;
  profile.samples.forEach((id, i) => {
    const n = byId.get(id);
    const f = n.callFrame;
    const name = `${f.functionName || '(anonymous)'} ${f.url ? path.basename(f.url) : ''}`.trim();
    const ms = (dt[i + 1] ?? 0) / 1000;
    self.set(name, (self.get(name) ?? 0) + ms);
    total += ms;
  });
  const rows = [...self.entries()].sort((a, b) => b[1] - a[1]);
  const busy = total - (self.get('(idle)') ?? 0) - (self.get('(program)') ?? 0);
  console.log(`total ${total.toFixed(0)} ms, idle ${(self.get('(idle)') ?? 0).toFixed(0)}, program ${(self.get('(program)') ?? 0).toFixed(0)}, gc ${(self.get('(garbage collector)') ?? 0).toFixed(0)}, rest ${busy.toFixed(0)}`);
  for (const [name, ms] of rows.slice(0, 40)) console.log(`${ms.toFixed(1).padStart(9)} ms ${(100 * ms / total).toFixed(1).padStart(5)}%  ${name.slice(0, 110)}`);
} finally {
  for (const c of cleanups.reverse()) await c();
}
