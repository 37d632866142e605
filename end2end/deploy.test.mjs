// End-to-end: `scripts/serve` as a team runs it, on free ports with a password file of its own: Caddy serves the
// release build over HTTPS (Caddy's own CA for 127.0.0.1), precompressed and with its security headers, and
// proxies wss://HOST/mqtt to Mosquitto in accounts mode on loopback. Node's requests trust the test CA;
// headless Chromium ignores certificate errors. Run with `scripts/test e2e`, or alone:
//   E2E_NO_BUILD=1 E2E_DIST=DIR node --test end2end/deploy.test.mjs

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import {
  ROOT, buildApp, freePort, isLoopback, launchBrowser, listeningSockets, log, run, start, stop, waitFor,
} from './harness.mjs';
import { CONNECTED, UI_TIMEOUT, closeAll, join, newPage, nonce, send, waitForMessage, waitForStatus } from './tabs.mjs';

const T = { timeout: 240_000 };
const REFUSED = /Disconnected: the broker refused the connection/;
const PASSWORDS = { alice: 'wonderland', bob: 'builder' };

const s = {}; // what `before` starts: build, dir, data, passwd, ports, serve, ca, browser, url

before(async () => {
  s.build = await buildApp();
  s.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mqtt-chat-serve-'));
  fs.chmodSync(s.dir, 0o755); // Mosquitto reads the password file as its own user
  s.data = path.join(s.dir, 'data');
  s.passwd = path.join(s.dir, 'passwords');
  fs.writeFileSync(s.passwd, '', { mode: 0o644 });
  for (const [user, password] of Object.entries(PASSWORDS)) {
    const r = await run('mosquitto_passwd', ['-b', s.passwd, user, password]);
    assert.equal(r.code, 0, r.output);
  }
  fs.chmodSync(s.passwd, 0o644);
  s.https = await freePort();
  s.http = await freePort([s.https]);
  s.broker = await freePort([s.https, s.http]);
  s.url = `https://127.0.0.1:${s.https}/`;
  const t0 = Date.now();
  s.serve = start(path.join(ROOT, 'scripts', 'serve'), [
    '--address', '127.0.0.1', '--port', String(s.https), '--http-port', String(s.http),
    '--broker-port', String(s.broker), '--accounts', s.passwd, '--data', s.data, '--dist', s.build.dist,
  ], { name: 'serve' });
  await waitFor('scripts/serve to say where the chat is', () => {
    if (s.serve.exitCode !== null) throw new Error(`scripts/serve exited ${s.serve.exitCode}:\n${s.serve.output}`);
    return s.serve.output.includes(`mqtt-chat is at ${s.url}`);
  }, { timeoutMs: 120_000 });
  log(`scripts/serve ready in ${Date.now() - t0} ms: ${s.url}`);
  s.ca = fs.readFileSync(path.join(s.data, 'caddy', 'caddy', 'pki', 'authorities', 'local', 'root.crt'));
  s.browser = await launchBrowser({ args: ['--ignore-certificate-errors'] });
}, { timeout: 40 * 60_000 });

after(async () => {
  await s.browser?.close();
  await stop(s.serve);
  s.build?.cleanup();
  if (s.dir) fs.rmSync(s.dir, { recursive: true, force: true });
});

/** GET over HTTPS trusting only the test CA (or plain HTTP): {status, headers, body} with the body as sent. */
function get(url, headers = {}) {
  const client = url.startsWith('https:') ? https : http;
  return new Promise((resolve, reject) => {
    client.get(url, { headers, ca: s.ca, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    }).on('error', reject);
  });
}

function decode(res) {
  switch (res.headers['content-encoding']) {
    case 'br': return zlib.brotliDecompressSync(res.body);
    case 'gzip': return zlib.gunzipSync(res.body);
    case undefined: return res.body;
    default: throw new Error(`unexpected content-encoding ${res.headers['content-encoding']}`);
  }
}

const pidOf = (what) => Number(fs.readFileSync(path.join(s.data, 'run', `${what}.pid`), 'utf8'));

/** The option lines of a Mosquitto config, trimmed: `[option, line]`. */
function optionLines(file) {
  return fs.readFileSync(file, 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'))
    .map((l) => [l.split(/\s+/)[0], l]);
}

describe('scripts/serve', () => {
  test('serves the page over HTTPS, precompressed, with its Content-Security-Policy and security headers', T, async () => {
    const page = await get(s.url, { 'accept-encoding': 'br, gzip' });
    assert.equal(page.status, 200);
    assert.equal(page.headers['content-encoding'], 'br');
    assert.match(page.headers['content-type'], /^text\/html/);
    const html = decode(page).toString('utf8');
    assert.equal(html, fs.readFileSync(path.join(s.build.dist, 'index.html'), 'utf8'));

    // The policy of the page's <meta> (kept for scripts/dev), sent as a header too, plus frame-ancestors.
    const meta = html.match(/<meta[^>]*http-equiv="?Content-Security-Policy"?[^>]*>/i)?.[0].match(/content="([^"]+)"/)?.[1];
    assert.ok(meta, 'index.html has a Content-Security-Policy <meta>');
    assert.equal(page.headers['content-security-policy'], `${meta}; frame-ancestors 'none'`);
    assert.match(page.headers['strict-transport-security'], /^max-age=\d{7,}/);
    assert.equal(page.headers['x-content-type-options'], 'nosniff');
    assert.equal(page.headers['referrer-policy'], 'no-referrer');
    assert.equal(page.headers['cache-control'], 'no-cache');

    // Every file of the first visit: brotli for a browser that takes it, gzip for one that takes only gzip,
    // decoded to the very bytes of the build; hashed files cached for a year.
    const tag = html.match(/<script[^>]*data-js="?([^" >]+)"?[^>]*data-wasm="?([^" >]+)"?/);
    const css = html.match(/<link[^>]*href="?([^" >]+\.css)"?/)?.[1];
    const boot = html.match(/<script[^>]*src="?([^" >]+boot\.js)"?/)?.[1];
    assert.ok(tag && css && boot, `the page names its script, wasm, css and boot.js:\n${html}`);
    const files = { 'index.html': '/', 'boot.js': boot, js: tag[1], wasm: tag[2], css };
    const sizes = {};
    for (const [what, href] of Object.entries(files)) {
      const file = path.join(s.build.dist, href === '/' ? 'index.html' : href.replace(/^\//, ''));
      const raw = fs.readFileSync(file);
      sizes[what] = { raw: raw.length };
      for (const encoding of ['br', 'gzip']) {
        const res = await get(new URL(href, s.url).href, { 'accept-encoding': encoding });
        assert.equal(res.status, 200, `${href} (${encoding})`);
        assert.equal(res.headers['content-encoding'], encoding, `${href} is sent ${encoding}-compressed`);
        assert.equal(res.headers.vary, 'Accept-Encoding');
        assert.deepEqual(decode(res), raw, `${href} (${encoding}) decodes to the file of the build`);
        sizes[what][encoding] = res.body.length;
        if (['js', 'wasm', 'css'].includes(what)) {
          assert.equal(res.headers['cache-control'], 'public, max-age=31536000, immutable', href);
        } else {
          assert.equal(res.headers['cache-control'], 'no-cache', href);
        }
      }
      if (what === 'wasm') {
        const plain = await get(new URL(href, s.url).href);
        assert.equal(plain.headers['content-encoding'], undefined, 'sent as it is to a client that takes no encoding');
        assert.equal(plain.headers['content-type'], 'application/wasm');
        assert.equal(plain.body.length, raw.length);
      }
    }
    const total = (key) => Object.values(sizes).reduce((sum, size) => sum + size[key], 0);
    log(`first visit: ${total('raw')} bytes as built, ${total('gzip')} gzip -9, ${total('br')} brotli -q 11; ` +
      `wasm ${sizes.wasm.raw} / ${sizes.wasm.gzip} / ${sizes.wasm.br}`);
    assert.ok(sizes.wasm.br < sizes.wasm.gzip && sizes.wasm.gzip < sizes.wasm.raw / 2);

    // Plain http:// on the redirect port sends the browser to https://.
    const redirect = await get(`http://127.0.0.1:${s.http}/?room=x`);
    assert.equal(redirect.status, 308);
    assert.equal(redirect.headers.location, `${s.url}?room=x`);
  });

  test('two accounts chat over wss:// on the page\'s own origin; a wrong password is refused', T, async () => {
    const pages = [];
    const sockets = [];
    const open = async (name) => {
      const page = await newPage(s.browser, name, s.url, { ignoreHTTPSErrors: true });
      page.on('websocket', (ws) => sockets.push(ws.url()));
      pages.push(page);
      return page;
    };
    try {
      // No ?broker=: a page served over https: connects to wss://HOST:PORT/mqtt, proxied to Mosquitto.
      const alice = await open('alice');
      await join(alice, 'alice', { password: PASSWORDS.alice });
      const wss = `wss://127.0.0.1:${s.https}/mqtt`;
      assert.match(await alice.getByRole('status').innerText(), new RegExp(`Connected as alice to ${wss}`));

      const intruder = await open('bob (wrong password)');
      await intruder.getByRole('textbox', { name: 'Name' }).fill('bob');
      await intruder.getByLabel('Password').fill('not-the-password');
      await intruder.getByRole('button', { name: 'Join' }).click();
      await waitForStatus(intruder, REFUSED);

      const bob = await open('bob');
      await join(bob, 'bob', { password: PASSWORDS.bob });
      const hello = `hello over wss ${nonce()}`;
      await send(alice, hello);
      assert.equal((await waitForMessage(bob, hello)).sender, 'alice');
      const reply = `and back ${nonce()}`;
      await send(bob, reply);
      assert.equal((await waitForMessage(alice, reply)).sender, 'bob');
      assert.ok(CONNECTED.test(await alice.getByRole('status').innerText()));
      assert.deepEqual([...new Set(sockets)], [wss], 'every tab connected to the same-origin broker only');

      // The broker keeps its sessions, queues and retained messages in the data directory (autosave 1 s).
      await waitFor('the broker\'s persistence file', () => fs.existsSync(path.join(s.data, 'broker', 'mosquitto.db')),
        { timeoutMs: 10_000 });
    } finally {
      await closeAll(...pages);
    }
  });

  test('scripts/account adds and removes people while it runs: the broker reloads at once, and drops who was removed', T, async () => {
    // The password on standard input, as a script would give it.
    const account = (...args) => new Promise((resolve, reject) => {
      const child = spawn(path.join(ROOT, 'scripts', 'account'), ['--data', s.data, '--accounts', s.passwd, ...args],
        { stdio: ['pipe', 'pipe', 'pipe'] });
      let output = '';
      child.stdout.on('data', (c) => { output += c; });
      child.stderr.on('data', (c) => { output += c; });
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, output }));
      child.stdin.end('carol-secret\n');
    });
    const pages = [];
    try {
      let r = await account('add', 'carol');
      assert.equal(r.code, 0, r.output);
      assert.match(r.output, /carol: added/);
      assert.match(r.output, /the broker \(pid \d+\) reloaded/);
      r = await account('list');
      assert.deepEqual(r.output.trim().split('\n'), ['alice', 'bob', 'carol']);

      const carol = await newPage(s.browser, 'carol', s.url, { ignoreHTTPSErrors: true });
      pages.push(carol);
      await join(carol, 'carol', { password: 'carol-secret' });

      r = await account('remove', 'carol');
      assert.equal(r.code, 0, r.output);
      // The broker drops the connection of an account it no longer has, and refuses it again.
      await waitForStatus(carol, REFUSED);
      const again = await newPage(s.browser, 'carol again', s.url, { ignoreHTTPSErrors: true });
      pages.push(again);
      await again.getByRole('textbox', { name: 'Name' }).fill('carol');
      await again.getByLabel('Password').fill('carol-secret');
      await again.getByRole('button', { name: 'Join' }).click();
      await waitForStatus(again, REFUSED);
    } finally {
      await closeAll(...pages);
    }
  });

  test('every socket of the broker is on loopback; the web front listens on the address given', T, () => {
    const sockets = listeningSockets();
    const of = (pid) => sockets.filter((sock) => sock.process.includes(`pid=${pid},`));
    const broker = of(pidOf('mosquitto'));
    assert.ok(broker.length > 0, 'the broker listens');
    for (const sock of broker) {
      assert.ok(isLoopback(sock.host), `mosquitto listens on ${sock.local}:\n${sock.line}`);
      assert.equal(sock.port, s.broker, sock.line);
    }
    const web = of(pidOf('caddy'));
    assert.deepEqual(web.map((sock) => sock.local).sort(), [`127.0.0.1:${s.http}`, `127.0.0.1:${s.https}`].sort());
  });

  test('the broker runs deploy/mosquitto.conf with every limit of the development broker', T, () => {
    const own = new Set(optionLines(path.join(ROOT, 'deploy', 'mosquitto.conf')).map(([option]) => option));
    const running = new Set(optionLines(path.join(s.data, 'etc', 'mosquitto.conf')).map(([, line]) => line));
    const shared = optionLines(path.join(ROOT, 'mosquitto.conf')).filter(([option]) => !own.has(option));
    for (const [, line] of shared) assert.ok(running.has(line), `the deployed broker lacks \`${line}\``);
    log(`from mosquitto.conf: ${[...new Set(shared.map(([option]) => option))].join(', ')}`);
    for (const line of ['allow_anonymous false', `password_file ${s.passwd}`, `listener ${s.broker} lo`]) {
      assert.ok(running.has(line), line);
    }
    // Nothing on the network: the websocket on the loopback interface, and a unix socket.
    assert.deepEqual([...running].filter((line) => line.startsWith('listener ')),
      [`listener ${s.broker} lo`, `listener 0 ${path.join(s.data, 'broker', 'mosquitto.sock')}`]);
    // max_qos is a listener's own setting: deploy/mosquitto.conf sets it under each of its listeners, to the
    // development broker's value.
    const maxQos = (file) => optionLines(file).filter(([option]) => option === 'max_qos').map(([, line]) => line);
    const devQos = [...new Set(maxQos(path.join(ROOT, 'mosquitto.conf')))];
    assert.equal(devQos.length, 1, 'mosquitto.conf sets one max_qos on its listeners');
    assert.deepEqual(maxQos(path.join(s.data, 'etc', 'mosquitto.conf')), [devQos[0], devQos[0]]);
  });

  test('Ctrl-C stops Caddy and Mosquitto', T, async () => {
    const pids = [pidOf('mosquitto'), pidOf('caddy')];
    process.kill(s.serve.pid, 'SIGINT');
    let timer;
    const { code } = await Promise.race([
      s.serve.exited,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('scripts/serve did not exit on SIGINT')), UI_TIMEOUT);
      }),
    ]).finally(() => clearTimeout(timer));
    assert.equal(code, 130);
    for (const pid of pids) {
      assert.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, `process ${pid} still runs`);
    }
  });
});
