// The benchmark (scripts/bench; docs/performance.md): the release app against a reference chat page on
// mqtt.js (bench/reference/), in one headless Chromium against one Mosquitto, alternating the two pages
// run by run. Prints a markdown table with the ratio ours / reference per figure and writes every sample
// to target/bench/results-<time>.json (and latest.json, latest.md).
//
//   node bench/run.mjs [--brokers] [--no-build]
//
// Environment (defaults in brackets):
//   BENCH_ROUNDS=2           rounds; each runs every figure for both pages, in alternating order
//   BENCH_MESSAGES=1000      tab→tab latency: messages per page, over all rounds
//   BENCH_INGEST=5000        ingest: messages per flood (at most 5,000: Mosquitto's per-client queue)
//   BENCH_ROOM=10000         the big room's messages (0: skip the figure); BENCH_ROOM_ROUNDS=1
//   BENCH_ROOM_TIMEOUT=300   seconds a page may take to render the big room before it is given up
//   BENCH_APPENDS=20         messages appended to the big room, one at a time
//   BENCH_LOADS=5            page loads per page and round
//   BENCH_CACHED=500         ours only: messages on the device, drawn again after a reload (0: skip)
//   E2E_NO_BUILD=1 / --no-build, E2E_DIST, CHROMIUM: as for the end-to-end suite (end2end/harness.mjs)

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildApp, launchBrowser, log, ROOT, run, serve, startBroker } from '../end2end/harness.mjs';
import { FLOOD, bigRoom, cached, ingest, interop, latency, load, nativeIngest, sizes } from './figures.mjs';
import { table } from './report.mjs';

const BENCH = path.dirname(new URL(import.meta.url).pathname);
const args = new Set(process.argv.slice(2));
for (const a of args) {
  if (!['--brokers', '--no-build'].includes(a)) {
    console.error(`unknown argument ${a}\nusage: node bench/run.mjs [--brokers] [--no-build]`);
    process.exit(2);
  }
}
if (args.has('--no-build')) process.env.E2E_NO_BUILD = '1';
const int = (name, fallback) => {
  const v = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(v) || v < 0) throw new Error(`${name} must be a whole number, not ${process.env[name]}`);
  return v;
};
const config = {
  rounds: Math.max(1, int('BENCH_ROUNDS', 2)),
  messages: int('BENCH_MESSAGES', 1000),
  ingest: Math.min(5000, int('BENCH_INGEST', 5000)),
  room: int('BENCH_ROOM', 10_000),
  roomRounds: int('BENCH_ROOM_ROUNDS', 1),
  roomTimeoutMs: int('BENCH_ROOM_TIMEOUT', 300) * 1000,
  appends: Math.max(1, int('BENCH_APPENDS', 20)),
  loads: int('BENCH_LOADS', 5),
  cached: int('BENCH_CACHED', 500),
};

const started = Date.now();
const cleanups = [];
const results = { config, machine: machine(), started: new Date(started).toISOString(), runs: [] };
try {
  // The native client first: the app build below takes longer and would hold Cargo's lock.
  log('cargo build --release -p mqtt --example flood ...');
  const cargo = await run('cargo', ['build', '--release', '-p', 'mqtt', '--example', 'flood'], { timeoutMs: 20 * 60_000 });
  if (cargo.code !== 0) throw new Error(`building the flood client failed:\n${cargo.output}`);

  const build = await buildApp();
  cleanups.push(() => build.cleanup());
  const broker = await startBroker();
  cleanups.push(() => broker.stop());
  const app = await serve(build.dist);
  cleanups.push(() => app.stop());
  const refDir = referenceDir();
  const ref = await serve(refDir);
  cleanups.push(() => ref.stop());
  // Precise (not bucketed) performance.memory, for the memory figure.
  const browser = await launchBrowser({ args: ['--enable-precise-memory-info'] });
  cleanups.push(() => browser.close());
  results.machine.chromium = browser.version();

  const env = { broker, browser };
  const ours = { id: 'ours', url: `${app.url}?broker=${broker.wsUrl}` };
  const reference = { id: 'reference', url: `${ref.url}?broker=${broker.wsUrl}` };
  await interop(env, ours, reference);
  results.mqttMinJs = { path: 'mqtt/dist/mqtt.min.js', ...sizes(fs.readFileSync(path.join(refDir, 'mqtt.min.js'))) };

  const record = (figure, kind, round, value) => {
    results.runs.push({ figure, page: kind, round, ...value });
    fs.mkdirSync(outDir(), { recursive: true });
    fs.writeFileSync(path.join(outDir(), 'partial.json'), JSON.stringify(results, null, 1));
  };
  const perRound = Math.ceil(config.messages / config.rounds);
  for (let round = 1; round <= config.rounds; round++) {
    const kinds = round % 2 ? [ours, reference] : [reference, ours];
    log(`round ${round}/${config.rounds}: ${kinds.map((k) => k.id).join(', ')} ...`);
    for (const kind of kinds) {
      for (let i = 0; i < config.loads; i++) record('load', kind.id, round, await load(env, kind));
    }
    // The reference keeps nothing on the device: ours only.
    if (config.cached > 0) record('cached', ours.id, round, await cached(env, ours, config.cached));
    for (const kind of kinds) {
      if (perRound > 0) record('latency', kind.id, round, await latency(env, kind, perRound));
      log(`  latency ${kind.id} done`);
    }
    if (config.ingest > 1) {
      for (const kind of kinds) {
        record('ingest', kind.id, round, await ingest(env, kind, config.ingest));
        log(`  ingest ${kind.id} done`);
      }
      record('ingest', 'native', round, await nativeIngest(env, config.ingest));
    }
    if (config.room > 0 && round <= config.roomRounds) {
      for (const kind of kinds) {
        const chunk = 2500;
        const options = { total: config.room, chunk, appends: config.appends, timeoutMs: config.roomTimeoutMs };
        record('room', kind.id, round, await bigRoom(env, kind, options));
        log(`  ${config.room}-message room ${kind.id} done`);
      }
    }
  }
  if (args.has('--brokers')) results.brokers = await crossBroker();
} catch (err) {
  results.error = String(err?.stack ?? err);
  console.error(err);
  process.exitCode = 1;
} finally {
  for (const cleanup of cleanups.reverse()) {
    try {
      await cleanup();
    } catch (err) {
      log('cleanup failed:', err);
    }
  }
}

results.seconds = Math.round((Date.now() - started) / 1000);
results.machine.loadAverageAtEnd = os.loadavg().map((l) => +l.toFixed(2));
const markdown = table(results);
const stamp = results.started.replace(/[:.]/g, '-');
fs.mkdirSync(outDir(), { recursive: true });
fs.writeFileSync(path.join(outDir(), `results-${stamp}.json`), JSON.stringify(results, null, 1));
fs.writeFileSync(path.join(outDir(), 'latest.json'), JSON.stringify(results, null, 1));
fs.writeFileSync(path.join(outDir(), 'latest.md'), markdown);
fs.rmSync(path.join(outDir(), 'partial.json'), { force: true });
console.log(markdown);
log(`results in ${path.relative(ROOT, outDir())}/results-${stamp}.json (${results.seconds} s)`);
process.exit();

function outDir() {
  return path.join(ROOT, 'target', 'bench');
}

/** The reference page and mqtt.js's browser bundle in one folder, for the bench's own static server. */
function referenceDir() {
  const dir = path.join(outDir(), 'reference');
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  for (const f of fs.readdirSync(path.join(BENCH, 'reference'))) fs.copyFileSync(path.join(BENCH, 'reference', f), path.join(dir, f));
  const bundle = path.join(BENCH, 'node_modules', 'mqtt', 'dist', 'mqtt.min.js');
  if (!fs.existsSync(bundle)) throw new Error(`${bundle} is missing: run scripts/install --bench`);
  fs.copyFileSync(bundle, path.join(dir, 'mqtt.min.js'));
  if (!fs.existsSync(FLOOD)) throw new Error(`${FLOOD} is missing`);
  return dir;
}

function machine() {
  const cpu = fs.readFileSync('/proc/cpuinfo', 'utf8').match(/^model name\s*:\s*(.*)$/m)?.[1] ?? 'unknown';
  const help = spawnSync('mosquitto', ['-h'], { encoding: 'utf8' });
  const mosquitto = `${help.stdout}${help.stderr}`.match(/mosquitto version \S+/)?.[0] ?? 'mosquitto';
  return {
    nproc: os.availableParallelism?.() ?? os.cpus().length,
    cpu,
    memGB: +(os.totalmem() / 2 ** 30).toFixed(1),
    node: process.version,
    mosquitto,
    loadAverageAtStart: os.loadavg().map((l) => +l.toFixed(2)), // other work on the machine
  };
}

/**
 * `--brokers`: tab → tab latency on one Mosquitto, across a Mosquitto bridge and across an aedes pair
 * (end2end/cross-broker-latency.mjs: its own build, brokers and browser, after the main figures).
 */
async function crossBroker() {
  const { measureCrossBrokerLatency } = await import(path.join(ROOT, 'end2end', 'cross-broker-latency.mjs'));
  log('--brokers: latency within one broker and across two (Mosquitto bridge, aedes pair) ...');
  return measureCrossBrokerLatency({ n: Math.max(200, Math.min(config.messages, 1000)) });
}
