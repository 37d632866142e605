// The terminal client's figures (README, "A terminal client"): idle CPU and memory, and a flood received in
// line mode against the native ceiling of scripts/bench (mqtt/examples/flood.rs receiving the same flood).
//
//   node term/figures.mjs          (scripts/install --test first: end2end's npm packages, tmux)
//
// One Mosquitto with the shipped mosquitto.conf and ACL on free ports (end2end/harness.mjs). Builds the
// release binary and the flood example unless MQTT_CHAT_TERM and FLOOD name them.
//
// - Idle: a --plain client and a full-screen one (in tmux) connected and left alone for IDLE_SECONDS
//   (default 60): CPU time over that time (all threads, /proc/PID/task/*/schedstat), wake-ups (voluntary
//   context switches), resident memory (VmRSS) and its peak (VmHWM).
// - Flood: flood.rs publishes TOTAL (default 10,000) chat messages at QoS 1 into a room as fast as Mosquitto
//   acknowledges them, in chunks of CHUNK (default 2,500), each printed before the next is published:
//   Mosquitto queues at most 5,000 messages per client, so a receiver slower than the publisher would lose
//   the rest of a single burst. Rate = messages / the sum over chunks of (last line read - first line read).
//   The native ceiling: flood.rs's receiver, the whole TOTAL in one burst (it keeps pace with the publisher).
//   ROUNDS (default 3) rounds, each: terminal over TCP, terminal over WebSocket, native, and the terminal
//   given the whole flood at once (how much of it arrives); medians reported.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, log, run, start, startBroker, stop, waitFor } from '../end2end/harness.mjs';

const IDLE_SECONDS = Number(process.env.IDLE_SECONDS ?? 60);
const TOTAL = Number(process.env.TOTAL ?? 10_000);
const CHUNK = Number(process.env.CHUNK ?? 2_500);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const target = process.env.CARGO_TARGET_DIR ?? path.join(ROOT, 'target');

async function build(env, args, file) {
  if (process.env[env]) return process.env[env];
  log(`cargo build --release ${args.join(' ')}`);
  const { code, output } = await run('cargo', ['build', '--release', ...args], { timeoutMs: 40 * 60_000 });
  if (code !== 0) throw new Error(output);
  return path.join(target, 'release', file);
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** CPU ns and voluntary context switches of every thread of `pid`, and VmRSS / VmHWM in kB. */
function usage(pid) {
  let ns = 0;
  let switches = 0;
  for (const task of fs.readdirSync(`/proc/${pid}/task`)) {
    ns += Number(fs.readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0]);
    switches += Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/task/${task}/status`, 'utf8'))[1]);
  }
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)[1]);
  return { ns, switches, rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

/** A --plain client whose standard output lines are timestamped as they are read. */
function plain(term, name, broker, room, state) {
  const child = start(term, ['--plain', '--name', name, '--broker', broker, '--room', room, '--state', state],
    { name, stdin: 'pipe' });
  child.lines = [];
  let partial = '';
  child.stdout.on('data', (chunk) => {
    const now = performance.now();
    const parts = (partial + chunk).split('\n');
    partial = parts.pop();
    for (const line of parts) child.lines.push([now, line]);
  });
  child.connected = waitFor(`${name} to connect`, () => /connected as/.test(child.output), { timeoutMs: 20_000 });
  return child;
}

/** Runs flood.rs (asynchronously: the lines of the terminal client are timed meanwhile). */
async function flood(binary, args) {
  const { code, output } = await run(binary, args, { name: 'flood', timeoutMs: 120_000 });
  if (code !== 0) throw new Error(`flood ${args[0]}: ${output}`);
  return JSON.parse(output.trim().split('\n').at(-1));
}

async function idle(term, broker, state) {
  const room = `idle${process.pid}`;
  const line = plain(term, 'idle-plain', `mqtt://127.0.0.1:${broker.tcpPort}`, room, state);
  const socket = path.join(state, 'tmux.sock');
  spawnSync('tmux', ['-S', socket, '-f', '/dev/null', 'new-session', '-d', '-s', 'idle', '-x', '120', '-y', '32', '--',
    term, '--name', 'idle-screen', '--broker', broker.wsUrl, '--room', room, '--state', state]);
  try {
    await line.connected;
    const pane = () => spawnSync('tmux', ['-S', socket, 'list-panes', '-t', 'idle', '-F', '#{pane_pid}'], { encoding: 'utf8' }).stdout.trim();
    await waitFor('the full screen to connect', () =>
      /Connected as/.test(spawnSync('tmux', ['-S', socket, 'capture-pane', '-p', '-t', 'idle'], { encoding: 'utf8' }).stdout));
    const pids = { 'line mode (--plain, mqtt://)': line.pid, 'full screen (ws://)': Number(pane()) };
    const before = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, usage(pid)]));
    log(`idle for ${IDLE_SECONDS} s ...`);
    await new Promise((r) => setTimeout(r, IDLE_SECONDS * 1000));
    return Object.entries(pids).map(([mode, pid]) => {
      const after = usage(pid);
      return {
        mode,
        cpuMsPerMinute: +(((after.ns - before[mode].ns) / 1e6) * (60 / IDLE_SECONDS)).toFixed(2),
        wakeupsPerMinute: +((after.switches - before[mode].switches) * (60 / IDLE_SECONDS)).toFixed(1),
        rssMB: +(after.rss / 1000).toFixed(1),
        peakRssMB: +(after.hwm / 1000).toFixed(1),
      };
    });
  } finally {
    spawnSync('tmux', ['-S', socket, 'kill-server']);
    await stop(line);
  }
}

async function terminalFlood(term, floodBin, broker, url, state, round, chunkSize = CHUNK) {
  const room = `flood${round}${url.slice(0, 2)}${chunkSize}${process.pid}`;
  const sink = plain(term, `sink${round}`, url, room, state);
  try {
    await sink.connected;
    const prefix = `[${room}] pub: flood `;
    let seconds = 0;
    let received = 0;
    for (let from = 0; from < TOTAL; from += chunkSize) {
      const n = Math.min(chunkSize, TOTAL - from);
      const seen = () => sink.lines.filter(([, l]) => l.startsWith(prefix)).slice(from);
      const published = flood(floodBin, ['publish', '--url', broker.wsUrl, '--topic', `chat/rooms/${room}/messages/pub`,
        '--username', 'pub', '--count', String(n), '--start', String(from), '--prefix', 'flood']);
      try {
        await waitFor(`chunk ${from}`, () => seen().length >= n, { timeoutMs: 10_000, intervalMs: 20 });
      } catch {
        await published;
        const got = seen();
        const span = got.length > 1 ? (got.at(-1)[0] - got[0][0]) / 1000 : 0;
        return { received: received + got.length, complete: false, seconds: seconds + span,
          rate: span ? (received + got.length) / (seconds + span) : 0 };
      }
      await published;
      const chunk = seen();
      seconds += (chunk.at(n - 1)[0] - chunk[0][0]) / 1000;
      received += n;
    }
    return { received, complete: true, seconds, rate: received / seconds };
  } finally {
    await stop(sink);
  }
}

async function nativeFlood(floodBin, broker, round) {
  const room = `native${round}${process.pid}`;
  const receiver = start(floodBin, ['receive', '--url', broker.wsUrl, '--topic', `chat/rooms/${room}/messages/+`,
    '--count', String(TOTAL), '--timeout', '10'], { name: 'flood-receive' });
  await waitFor('the native receiver', () => receiver.output.includes('"ready":true'));
  await flood(floodBin, ['publish', '--url', broker.wsUrl, '--topic', `chat/rooms/${room}/messages/pub`, '--username', 'pub',
    '--count', String(TOTAL), '--prefix', 'native']);
  await receiver.exited;
  const result = JSON.parse(receiver.output.trim().split('\n').at(-1));
  return { received: result.received, complete: result.received >= TOTAL, seconds: result.seconds, rate: result.rate };
}

const term = await build('MQTT_CHAT_TERM', ['-p', 'mqtt-chat-term'], 'mqtt-chat-term');
const floodBin = await build('FLOOD', ['-p', 'mqtt', '--example', 'flood'], path.join('examples', 'flood'));
const broker = await startBroker();
const state = fs.mkdtempSync(path.join(os.tmpdir(), 'mqtt-chat-term-figures-'));
try {
  const load = () => os.loadavg().map((x) => x.toFixed(2)).join(' ');
  const loadBefore = load();
  const idleFigures = await idle(term, broker, state);
  const tcp = `mqtt://127.0.0.1:${broker.tcpPort}`;
  const runs = {
    'terminal, mqtt://': [], 'terminal, ws://': [], 'native flood.rs, ws://': [], 'terminal, mqtt://, one burst': [],
  };
  for (let round = 0; round < ROUNDS; round++) {
    runs['terminal, mqtt://'].push(await terminalFlood(term, floodBin, broker, tcp, state, round));
    runs['terminal, ws://'].push(await terminalFlood(term, floodBin, broker, broker.wsUrl, state, round));
    runs['native flood.rs, ws://'].push(await nativeFlood(floodBin, broker, round));
    // The whole flood at once: what a receiver slower than the publisher gets past Mosquitto's queue.
    runs['terminal, mqtt://, one burst'].push(await terminalFlood(term, floodBin, broker, tcp, state, round, TOTAL));
  }
  const floods = Object.entries(runs).map(([who, rs]) => ({
    who,
    complete: rs.every((r) => r.complete),
    received: rs.map((r) => r.received),
    rates: rs.map((r) => Math.round(r.rate ?? 0)),
    median: Math.round(median(rs.map((r) => r.rate ?? 0))),
  }));
  const ceiling = floods.find((f) => f.who.startsWith('native')).median;
  for (const f of floods) f.ofNative = `${((100 * f.median) / ceiling).toFixed(0)} %`;
  console.log(JSON.stringify({
    machine: `${os.cpus().length} cores, ${os.cpus()[0]?.model}`,
    load: { before: loadBefore, after: load() },
    idleSeconds: IDLE_SECONDS,
    idle: idleFigures,
    flood: { total: TOTAL, chunk: CHUNK, rounds: ROUNDS, results: floods },
  }, null, 2));
} finally {
  await broker.stop();
  fs.rmSync(state, { recursive: true, force: true });
}
