// Test harness: starts what the end-to-end tests need and stops all of it again, by process id.
//
//   - a Mosquitto broker from the repo's mosquitto.conf, with its two ports replaced by free ones;
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

/** Children run in their own process group, so that a build's cargo/rustc die with it. */
export function start(cmd, args, { name = cmd, env, cwd = ROOT } = {}) {
  const child = spawn(cmd, args, {
    cwd,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
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
 * The repo's mosquitto.conf with its TCP (1883) and WebSocket (9001) ports replaced, for use in
 * `dir`: an `acl_file` (relative to the repo root) is copied into `dir` and the line pointed at it.
 */
export function brokerConfig(tcpPort, wsPort, dir) {
  const source = fs.readFileSync(path.join(ROOT, 'mosquitto.conf'), 'utf8');
  let tcp = 0;
  let ws = 0;
  const config = source
    .replace(/^listener 1883(?=\s)/gm, () => (tcp++, `listener ${tcpPort}`))
    .replace(/^listener 9001(?=\s)/gm, () => (ws++, `listener ${wsPort}`))
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
  if (tcp !== 1 || ws !== 1) {
    throw new Error('mosquitto.conf must have exactly one `listener 1883 ...` and one `listener 9001 ...` line');
  }
  return config;
}

/**
 * Start Mosquitto on free ports. Run as root it drops to the `mosquitto` user, so its config
 * lives in a world-readable temporary directory.
 */
export async function startBroker() {
  const tcpPort = await freePort();
  const wsPort = await freePort([tcpPort]);
  const dir = makeTempDir('mqtt-chat-broker-');
  fs.chmodSync(dir, 0o755);
  const conf = path.join(dir, 'mosquitto.conf');
  fs.writeFileSync(conf, brokerConfig(tcpPort, wsPort, dir), { mode: 0o644 });

  const launch = async () => {
    const proc = start('mosquitto', ['-c', conf], { name: 'mosquitto' });
    try {
      await waitFor('mosquitto to listen', async () => {
        if (proc.exitCode !== null) throw new Error(`mosquitto exited:\n${proc.output}`);
        return (await canConnect(tcpPort)) && (await canConnect(wsPort));
      });
    } catch (err) {
      await stop(proc);
      throw err;
    }
    return proc;
  };
  const broker = {
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
    /** Start it again on the same ports, from its persistence file. */
    async restart() {
      broker.proc = await launch();
      log(`mosquitto restarted, pid ${broker.proc.pid}`);
    },
    async stop() {
      await stop(broker.proc);
      removeTempDir(dir);
    },
  };
  try {
    broker.proc = await launch();
  } catch (err) {
    removeTempDir(dir);
    throw err;
  }
  log(`mosquitto pid ${broker.proc.pid}: mqtt 127.0.0.1:${tcpPort}, ws 127.0.0.1:${wsPort}`);
  return broker;
}

// ---- app ----------------------------------------------------------------------------------

/** Build the app with trunk (release, offline) unless E2E_NO_BUILD; returns the dist dir. */
export async function buildApp() {
  if (process.env.E2E_NO_BUILD) {
    const dist = path.resolve(ROOT, process.env.E2E_DIST ?? 'dist');
    if (!fs.existsSync(path.join(dist, 'index.html'))) throw new Error(`E2E_NO_BUILD: no ${dist}/index.html`);
    log(`using the existing build in ${dist}`);
    return { dist, cleanup() {} };
  }
  const temporary = !process.env.E2E_DIST;
  const dist = temporary ? makeTempDir('mqtt-chat-dist-') : path.resolve(ROOT, process.env.E2E_DIST);
  log(`trunk build --release into ${dist} ...`);
  const t0 = Date.now();
  const { code, output } = await run(
    'trunk',
    ['build', '--release', '--offline', '--dist', dist],
    { name: 'trunk', timeoutMs: 30 * 60_000, env: { NO_COLOR: 'true' } },
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

/** Start broker, app server and browser; `env.stop()` undoes whatever of it was started. */
export async function setUp() {
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
    env.broker = await startBroker();
    env.cleanups.push(() => env.broker.stop());
    const server = await serve(build.dist);
    env.cleanups.push(() => server.stop());
    env.browser = await launchBrowser();
    env.cleanups.push(() => env.browser.close());
    env.appUrl = `${server.url}?broker=${env.broker.wsUrl}`;
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
export function useSetUp() {
  const env = {};
  before(async () => {
    Object.assign(env, await setUp());
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
