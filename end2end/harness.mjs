// Test harness: starts what the end-to-end tests need and stops all of it again, by process id.
//
//   - a Mosquitto broker from the repo's mosquitto.conf, with its two ports replaced by free ones;
//   - or two brokers that behave as one (`startCluster`): the Mosquitto bridge of cluster/mosquitto-spoke.conf,
//     or the two aedes nodes of cluster/aedes-*.cjs with their own redis-server, all on free ports;
//   - the release build of the app (`trunk build --release`, offline), served by a small static
//     HTTP server on a free 127.0.0.1 port;
//   - headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core).
//
// Environment:
//   E2E_DIST=DIR      build into DIR (default: a temporary directory, removed afterwards)
//   E2E_NO_BUILD=1    serve E2E_DIST (default dist/) as it is, without building
//   CHROMIUM=PATH     browser binary (default /usr/bin/chromium)
//   E2E_DEBUG=1       pass broker and build output through while the tests run

import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before } from 'node:test';
import { chromium } from 'playwright-core';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DEBUG = !!process.env.E2E_DEBUG;

// The same tools scripts/* use: npm's wasm-opt from .tools/, cargo-installed trunk.
process.env.PATH = [
  path.join(ROOT, '.tools', 'node_modules', '.bin'),
  path.join(process.env.CARGO_HOME ?? path.join(os.homedir(), '.cargo'), 'bin'),
  process.env.PATH,
].join(path.delimiter);

export const log = (...args) => console.error('[e2e]', ...args);

// ---- processes ----------------------------------------------------------------------------

/** Every child we started and have not seen exit; killed on teardown and on process exit. */
const children = new Set();
/** Temporary directories we made and have not removed yet; removed on process exit. */
const tempDirs = new Set();

function makeTempDir(prefix) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

function removeTempDir(dir) {
  fs.rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

process.on('exit', () => {
  for (const child of children) killTree(child, 'SIGKILL');
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
});
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => process.exit(130));
}

/**
 * Children run in their own process group, so that a build's cargo/rustc die with it. `stdin: 'pipe'` gives
 * the child a standard input to write to (`child.stdin`); by default it has none.
 */
export function start(cmd, args, { name = cmd, env, cwd = ROOT, stdin = 'ignore' } = {}) {
  const child = spawn(cmd, args, {
    cwd,
    env: { ...process.env, ...env },
    stdio: [stdin, 'pipe', 'pipe'],
    detached: true,
  });
  child.label = name;
  child.output = '';
  const collect = (chunk) => {
    child.output += chunk;
    if (DEBUG) process.stderr.write(`[${name}] ${chunk}`);
  };
  child.stdout.setEncoding('utf8').on('data', collect);
  child.stderr.setEncoding('utf8').on('data', collect);
  children.add(child);
  child.exited = new Promise((resolve) =>
    child.once('exit', (code, signal) => {
      children.delete(child);
      resolve({ code, signal });
    }),
  );
  child.once('error', (err) => {
    child.output += `\n${err}`;
    children.delete(child);
  });
  return child;
}

function killTree(child, signal) {
  if (child.exitCode !== null || child.signalCode !== null || !child.pid) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      /* already gone */
    }
  }
}

/** SIGTERM, then SIGKILL if it has not exited after `graceMs`. */
export async function stop(child, graceMs = 5000) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  killTree(child, 'SIGTERM');
  const timer = setTimeout(() => killTree(child, 'SIGKILL'), graceMs);
  await child.exited;
  clearTimeout(timer);
}

/** Run a command to completion; resolves with {code, output} and rejects on timeout. */
export async function run(cmd, args, { timeoutMs = 60_000, ...opts } = {}) {
  const child = start(cmd, args, opts);
  const timer = setTimeout(() => killTree(child, 'SIGKILL'), timeoutMs);
  const { code, signal } = await child.exited;
  clearTimeout(timer);
  if (signal === 'SIGKILL') throw new Error(`${cmd} timed out after ${timeoutMs} ms:\n${child.output}`);
  return { code, output: child.output };
}

// ---- ports --------------------------------------------------------------------------------

/** A TCP port that was free on 127.0.0.1 a moment ago (distinct from `avoid`). */
export async function freePort(avoid = []) {
  for (;;) {
    const server = net.createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address();
    server.close();
    await once(server, 'close');
    if (!avoid.includes(port)) return port;
  }
}

function canConnect(port) {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export async function waitFor(what, check, { timeoutMs = 30_000, intervalMs = 100 } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const result = await check();
    if (result) return result;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

// ---- broker -------------------------------------------------------------------------------

/**
 * A Mosquitto config of the repo (`file`, default mosquitto.conf) with its two ports, plain MQTT first then
 * WebSocket, replaced, for use in `dir`: an `acl_file` (relative to the repo root) is copied into `dir` and
 * the line pointed at it. A bridge's `address` is pointed at `bridgeTo` (a TCP port on 127.0.0.1). The lines
 * setting any of the options named in `without` (e.g. `message_size_limit`) are left out.
 */
export function brokerConfig(tcpPort, wsPort, dir, { file = 'mosquitto.conf', bridgeTo, without = [] } = {}) {
  const source = fs.readFileSync(path.join(ROOT, file), 'utf8')
    .split('\n')
    .filter((line) => !without.includes(line.trim().split(/\s+/)[0]))
    .join('\n');
  const ports = [...source.matchAll(/^listener (\d+)(?=\s)/gm)].map((m) => m[1]);
  if (ports.length !== 2) {
    throw new Error(`${file} must have exactly two \`listener PORT ...\` lines, plain MQTT first, then WebSocket`);
  }
  let bridges = 0;
  const config = source
    .replace(/^listener (\d+)(?=\s)/gm, (_, port) => `listener ${port === ports[0] ? tcpPort : wsPort}`)
    .replace(/^address 127\.0\.0\.1:\d+\s*$/gm, () => (bridges++, `address 127.0.0.1:${bridgeTo}`))
    .replace(/^persistence_location\s+.*$/gm, () => {
      // Written by mosquitto after it drops to its own user.
      const data = path.join(dir, 'data');
      fs.mkdirSync(data, { recursive: true });
      fs.chmodSync(data, 0o777);
      return `persistence_location ${data}/`;
    })
    .replace(/^acl_file\s+(.+?)\s*$/gm, (_, file) => {
      const copy = path.join(dir, path.basename(file));
      fs.copyFileSync(path.resolve(ROOT, file), copy);
      fs.chmodSync(copy, 0o644);
      return `acl_file ${copy}`;
    });
  if ((bridgeTo === undefined) !== (bridges === 0)) {
    throw new Error(`${file}: ${bridges} bridge \`address 127.0.0.1:PORT\` lines, bridgeTo ${bridgeTo}`);
  }
  return config;
}

/**
 * Start Mosquitto on free ports (`options` go to `brokerConfig`: another config file, a bridge). Run as
 * root it drops to the `mosquitto` user, so its config lives in a world-readable temporary directory.
 */
export async function startBroker({ name = 'mosquitto', tcpPort, wsPort, ...options } = {}) {
  tcpPort ??= await freePort();
  wsPort ??= await freePort([tcpPort]);
  const dir = makeTempDir('mqtt-chat-broker-');
  fs.chmodSync(dir, 0o755);
  const conf = path.join(dir, 'mosquitto.conf');
  fs.writeFileSync(conf, brokerConfig(tcpPort, wsPort, dir, options), { mode: 0o644 });
  return superviseBroker({ name, tcpPort, wsPort, dir, command: 'mosquitto', args: ['-c', conf] });
}

/**
 * A broker process (`command args`) listening on `tcpPort` (MQTT) and `wsPort` (WebSocket), started now and
 * on `restart`; `dir` is removed on `stop`.
 */
async function superviseBroker({ name, tcpPort, wsPort, dir, command, args, env }) {
  const launch = async () => {
    const proc = start(command, args, { name, env });
    try {
      await waitFor(`${name} to listen`, async () => {
        if (proc.exitCode !== null) throw new Error(`${name} exited:\n${proc.output}`);
        return (await canConnect(tcpPort)) && (await canConnect(wsPort));
      });
    } catch (err) {
      await stop(proc);
      throw err;
    }
    return proc;
  };
  const broker = {
    name,
    proc: null,
    tcpPort,
    wsPort,
    wsUrl: `ws://127.0.0.1:${wsPort}`,
    /** Kill -9, as a crash would: no will, no goodbye, nothing saved since the last autosave. */
    async crash() {
      killTree(broker.proc, 'SIGKILL');
      await broker.proc.exited;
    },
    /** Freeze it (SIGSTOP): connections stay open but nothing is answered, until `resume`. */
    pause() {
      process.kill(broker.proc.pid, 'SIGSTOP');
    },
    resume() {
      process.kill(broker.proc.pid, 'SIGCONT');
    },
    /** Delete its persistence file (while it is down): a restart then starts from nothing. */
    wipe() {
      const data = dir && path.join(dir, 'data');
      if (!data || !fs.existsSync(data)) throw new Error(`${name} has no persistence directory`);
      for (const file of fs.readdirSync(data)) fs.rmSync(path.join(data, file), { force: true });
    },
    /** Start it again on the same ports, from its persistence file. */
    async restart() {
      broker.proc = await launch();
      log(`${name} restarted, pid ${broker.proc.pid}`);
    },
    async stop() {
      await stop(broker.proc);
      if (dir) removeTempDir(dir);
    },
  };
  try {
    broker.proc = await launch();
  } catch (err) {
    if (dir) removeTempDir(dir);
    throw err;
  }
  log(`${name} pid ${broker.proc.pid}: mqtt 127.0.0.1:${tcpPort}, ws 127.0.0.1:${wsPort}`);
  return broker;
}

// ---- two brokers as one ---------------------------------------------------------------------

/** The cluster kinds `startCluster` knows, as the README and scripts/cluster name them. */
export const CLUSTERS = ['mosquitto', 'aedes'];

/**
 * Two brokers that behave as one, on free ports: `mosquitto`, the repo's mosquitto.conf as the hub and
 * cluster/mosquitto-spoke.conf bridged to it; `aedes`, the nodes of cluster/aedes-1.cjs and aedes-2.cjs on a
 * redis-server of their own. Resolves once a message published on either broker reaches the other.
 * Returns {kind, brokers: [first, second], redis?, stop()}; each broker as `startBroker`'s. `ports` fixes
 * the ports instead: {brokers: [[tcp, ws], [tcp, ws]], redis} (scripts/cluster).
 */
export async function startCluster(kind, ports = {}) {
  const fixed = (i) => ({ tcpPort: ports.brokers?.[i]?.[0], wsPort: ports.brokers?.[i]?.[1] });
  const cluster = { kind, brokers: [], parts: [] };
  cluster.stop = async () => {
    for (const part of cluster.parts.reverse()) await part.stop();
    cluster.parts = [];
  };
  try {
    if (kind === 'mosquitto') {
      const hub = await startBroker({ name: 'mosquitto-hub', ...fixed(0) });
      cluster.parts.push(hub);
      const spoke = await startBroker({
        name: 'mosquitto-spoke', file: 'cluster/mosquitto-spoke.conf', bridgeTo: hub.tcpPort, ...fixed(1),
      });
      cluster.parts.push(spoke);
      cluster.brokers = [hub, spoke];
    } else if (kind === 'aedes') {
      cluster.redis = await startRedis(ports.redis);
      cluster.parts.push(cluster.redis);
      for (const n of [1, 2]) {
        const node = await startAedesRetrying(`cluster/aedes-${n}.cjs`, cluster.redis.port, `aedes-${n}`, fixed(n - 1));
        cluster.parts.push(node);
        cluster.brokers.push(node);
      }
    } else {
      throw new Error(`unknown cluster ${kind} (expected one of ${CLUSTERS.join(', ')})`);
    }
    await clusterJoined(cluster.brokers);
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return cluster;
}

/**
 * `startAedes`, again (up to three times in all) when the node died while starting because its redis emitter's
 * ready check ran on a connection already in subscriber mode ("Connection in subscriber mode", ioredis inside
 * mqemitter-redis): a race of those libraries at start-up, seen about once in ten CI runs even with redis
 * answering PING first, and nothing the chat does. Any other failure fails at once.
 */
async function startAedesRetrying(...args) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startAedes(...args);
    } catch (err) {
      if (attempt >= 3 || !/Connection in subscriber mode/.test(String(err?.message))) throw err;
      log(`${args[2]} died starting (ioredis: "Connection in subscriber mode"); starting it again`);
    }
  }
}

/** A redis-server on a free loopback port, keeping nothing on disk beyond its temporary directory. */
async function startRedis(port) {
  port ??= await freePort();
  const dir = makeTempDir('mqtt-chat-redis-');
  const proc = start('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '',
    '--appendonly', 'no'], { name: 'redis' });
  try {
    // Answering PING, not just listening: a client that connects while redis is still loading fails its
    // ready check, and aedes' redis emitter then dies ("Connection in subscriber mode").
    await waitFor('redis-server to answer', async () => {
      if (proc.exitCode !== null) throw new Error(`redis-server exited:\n${proc.output}`);
      const { code, output } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), 'ping'], { name: 'redis-cli' });
      return code === 0 && output.trim() === 'PONG';
    });
  } catch (err) {
    await stop(proc);
    removeTempDir(dir);
    throw err;
  }
  log(`redis-server pid ${proc.pid}: 127.0.0.1:${port}`);
  return {
    proc,
    port,
    async stop() {
      await stop(proc);
      removeTempDir(dir);
    },
  };
}

/** An aedes-cli node (end2end's npm devDependency) with `config` (relative to the repo) on free ports. */
async function startAedes(config, redisPort, name, { tcpPort, wsPort } = {}) {
  tcpPort ??= await freePort();
  wsPort ??= await freePort([tcpPort]);
  const aedes = path.join(ROOT, 'end2end', 'node_modules', '.bin', 'aedes');
  if (!fs.existsSync(aedes)) throw new Error(`no ${aedes}: run scripts/install --test (npm ci in end2end/)`);
  return superviseBroker({
    name,
    tcpPort,
    wsPort,
    command: aedes,
    args: ['--config', path.join(ROOT, config)],
    env: { AEDES_PORT: String(tcpPort), AEDES_WS_PORT: String(wsPort), REDIS_PORT: String(redisPort) },
  });
}

/**
 * Waits until a message published on each broker reaches a subscriber on the other (a bridge connects, and
 * subscribes, a moment after its broker starts), with mosquitto_pub/sub as a user the ACL lets do it.
 */
async function clusterJoined(brokers) {
  const user = 'probe';
  const topic = `chat/rooms/cluster-probe/messages/${user}`;
  for (const [from, to] of [[brokers[0], brokers[1]], [brokers[1], brokers[0]]]) {
    await waitFor(`${from.name} to reach ${to.name}`, async () => {
      const sub = start('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(to.tcpPort), '-u', user, '-t', topic,
        '-C', '1', '-W', '2', '-q', '1'], { name: 'probe-sub' });
      await new Promise((r) => setTimeout(r, 300));
      await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(from.tcpPort), '-u', user, '-t', topic, '-q', '1',
        '-m', 'probe'], { name: 'probe-pub' });
      const { code } = await sub.exited;
      return code === 0 && sub.output.includes('probe');
    }, { timeoutMs: 30_000, intervalMs: 200 });
  }
  log(`${brokers.map((b) => b.name).join(' and ')} pass messages both ways`);
}

// ---- app ----------------------------------------------------------------------------------

/** Build the release app (scripts/build) unless E2E_NO_BUILD; returns the dist dir. */
export async function buildApp() {
  if (process.env.E2E_NO_BUILD) {
    const dist = path.resolve(ROOT, process.env.E2E_DIST ?? 'dist');
    if (!fs.existsSync(path.join(dist, 'index.html'))) throw new Error(`E2E_NO_BUILD: no ${dist}/index.html`);
    log(`using the existing build in ${dist}`);
    return { dist, cleanup() {} };
  }
  const temporary = !process.env.E2E_DIST;
  const dist = temporary ? makeTempDir('mqtt-chat-dist-') : path.resolve(ROOT, process.env.E2E_DIST);
  log(`scripts/build ${dist} ...`);
  const t0 = Date.now();
  const { code, output } = await run(
    path.join(ROOT, 'scripts', 'build'),
    [dist],
    { name: 'build', timeoutMs: 30 * 60_000, env: { NO_COLOR: 'true' } },
  );
  if (code !== 0) {
    if (temporary) removeTempDir(dist);
    throw new Error(`trunk build failed (exit ${code}):\n${abbreviate(output)}`);
  }
  log(`built in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  return {
    dist,
    cleanup() {
      if (temporary) removeTempDir(dist);
    },
  };
}

/** The first and last lines of a long tool output (a failed wasm-opt prints thousands). */
function abbreviate(text, head = 25, tail = 40) {
  const lines = text.split('\n');
  if (lines.length <= head + tail) return text;
  return [...lines.slice(0, head), `... (${lines.length - head - tail} lines omitted) ...`, ...lines.slice(-tail)].join('\n');
}

const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
};

/** Serve `dist` on a free 127.0.0.1 port; unknown paths get index.html (single-page app). */
export async function serve(dist) {
  const root = path.resolve(dist);
  const server = http.createServer((req, res) => {
    const { pathname } = new URL(req.url, 'http://x');
    let file = path.join(root, path.normalize(decodeURIComponent(pathname)));
    if (!file.startsWith(root)) {
      res.writeHead(403).end();
      return;
    }
    if (!fs.existsSync(file) || fs.statSync(file).isDirectory()) file = path.join(root, 'index.html');
    fs.readFile(file, (err, body) => {
      if (err) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, {
        'content-type': MIME[path.extname(file)] ?? 'application/octet-stream',
        'cache-control': 'no-store',
      });
      res.end(body);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  log(`serving ${root} on http://127.0.0.1:${port}/`);
  return {
    url: `http://127.0.0.1:${port}/`,
    stop() {
      const closed = new Promise((resolve) => server.close(resolve));
      server.closeAllConnections?.(); // keep-alive connections would hold close() open
      return closed;
    },
  };
}

// ---- browser ------------------------------------------------------------------------------

export const CHROMIUM_ARGS = [
  '--no-sandbox', // we run as root
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
];

/**
 * Headless Chromium; playwright gives every launch a fresh temporary profile (user data dir). `args` are
 * added to CHROMIUM_ARGS (the benchmark's --enable-precise-memory-info).
 */
export async function launchBrowser({ args = [] } = {}) {
  const executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium';
  const browser = await chromium.launch({
    executablePath,
    headless: true,
    args: [...CHROMIUM_ARGS, ...args],
    timeout: 60_000,
  });
  log(`chromium ${browser.version()}`);
  return browser;
}

// ---- everything together ------------------------------------------------------------------

/**
 * Start broker, app server and browser; `env.stop()` undoes whatever of it was started. Without `broker`,
 * no broker (a suite that starts its own): `env.serverUrl` is the app without a `?broker=`.
 */
export async function setUp({ broker = true } = {}) {
  const env = { cleanups: [] };
  env.stop = async () => {
    for (const cleanup of env.cleanups.reverse()) {
      try {
        await cleanup();
      } catch (err) {
        log('cleanup failed:', err);
      }
    }
    env.cleanups = [];
  };
  try {
    const build = await buildApp();
    env.cleanups.push(() => build.cleanup());
    if (broker) {
      env.broker = await startBroker();
      env.cleanups.push(() => env.broker.stop());
    }
    const server = await serve(build.dist);
    env.cleanups.push(() => server.stop());
    env.browser = await launchBrowser();
    env.cleanups.push(() => env.browser.close());
    env.serverUrl = server.url;
    if (broker) env.appUrl = `${server.url}?broker=${env.broker.wsUrl}`;
  } catch (err) {
    await env.stop();
    throw err;
  }
  return env;
}

/**
 * For a test file: `setUp()` before its tests and `stop()` after them. The returned object is filled in
 * (broker, browser, appUrl) once the `before` hook has run.
 */
export function useSetUp(options) {
  const env = {};
  before(async () => {
    Object.assign(env, await setUp(options));
  }, { timeout: 40 * 60_000 });
  after(async () => {
    await env.stop?.();
  });
  return env;
}

/** `ss -ltnpH`: listening TCP sockets as {local, host, port, process}. */
export function listeningSockets() {
  const out = spawnSync('ss', ['-ltnpH'], { encoding: 'utf8' });
  if (out.status !== 0) throw new Error(`ss failed: ${out.stderr}`);
  return out.stdout
    .split('\n')
    .filter((line) => line.trim())
    .map((line) => {
      // State Recv-Q Send-Q Local:Port Peer:Port [Process]
      const fields = line.trim().split(/\s+/);
      const local = fields[3];
      const colon = local.lastIndexOf(':');
      return {
        line,
        local,
        host: local.slice(0, colon).replace(/^\[|\]$/g, '').replace(/%.*$/, ''),
        port: Number(local.slice(colon + 1)),
        process: fields.slice(5).join(' '),
      };
    });
}

/** 127.0.0.0/8, ::1 and IPv4-mapped ::ffff:127.x.y.z. */
export function isLoopback(host) {
  return /^127\.\d+\.\d+\.\d+$/.test(host) || host === '::1' || /^::ffff:127\.\d+\.\d+\.\d+$/i.test(host);
}

/**
 * For scripts that run brokers until stopped (broker.mjs, cluster.mjs): on SIGINT/SIGTERM `stop()` and exit 0;
 * if one of `brokers` dies first, print its output, `stop()` the rest and exit 1.
 */
export function runUntilSignal(stop, brokers) {
  let stopping = false;
  const shutdown = async (code) => {
    if (stopping) return;
    stopping = true;
    await stop();
    process.exit(code);
  };
  process.removeAllListeners('SIGTERM');
  process.removeAllListeners('SIGINT');
  process.once('SIGTERM', () => shutdown(0));
  process.once('SIGINT', () => shutdown(0));
  for (const broker of brokers) {
    broker.proc.exited.then(({ code, signal }) => {
      if (stopping) return;
      console.error(`[${broker.name}] exited (code ${code}, signal ${signal}):\n${broker.proc.output}`);
      shutdown(1);
    });
  }
}
