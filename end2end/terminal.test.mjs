// End-to-end: the terminal client (mqtt-chat-term, term/) with a browser tab, on one Mosquitto running the
// repo's mosquitto.conf and mosquitto.acl. One terminal client in line mode (--plain, its standard input and
// output piped here, over MQTT/TCP), one full screen, driven through tmux (send-keys to type, capture-pane to
// read the screen, over WebSocket). They chat both ways with the tab, see each other online, a killed terminal
// goes offline in the tab (its Last Will), a terminal started later prints the room's history, and /join and
// /dm work both ways.
//
// The binary: MQTT_CHAT_TERM=PATH, else `cargo build --release -p mqtt-chat-term` (a no-op once scripts/test
// has built it) and target/release/mqtt-chat-term. Needs tmux (scripts/install --test).

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ROOT, log, run, start, stop, useSetUp, waitFor } from './harness.mjs';
import { closeAll, newPage, join, nonce, send, waitForMessage, waitForOnline, UI_TIMEOUT } from './tabs.mjs';

const T = { timeout: 300_000 };
const env = useSetUp();
let binary;
let stateDir;
/** Every terminal client started here, stopped after each test. */
const clients = new Set();

before(async () => {
  binary = process.env.MQTT_CHAT_TERM;
  if (!binary) {
    log('cargo build --release -p mqtt-chat-term ...');
    const { code, output } = await run('cargo', ['build', '--release', '-p', 'mqtt-chat-term'], {
      name: 'cargo', timeoutMs: 30 * 60_000,
    });
    if (code !== 0) throw new Error(`cargo build failed:\n${output}`);
    binary = path.join(process.env.CARGO_TARGET_DIR ?? path.join(ROOT, 'target'), 'release', 'mqtt-chat-term');
  }
  assert.ok(fs.existsSync(binary), `no ${binary}`);
  stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mqtt-chat-term-state-'));
}, { timeout: 40 * 60_000 });

after(async () => {
  for (const c of clients) await c.stop();
  if (stateDir) fs.rmSync(stateDir, { recursive: true, force: true });
});

const mqttUrl = () => `mqtt://127.0.0.1:${env.broker.tcpPort}`;
const wsUrl = () => env.broker.wsUrl;

/**
 * A line-mode client: `say(line)` writes a line to its standard input; `lines` are its standard output's lines
 * (messages), `errors` its standard error's (status).
 */
function plain(name, { room, broker = mqttUrl(), input = true } = {}) {
  const args = ['--plain', '--name', name, '--broker', broker, '--state', stateDir];
  if (room) args.push('--room', room);
  const child = start(binary, args, { name: `term-${name}`, stdin: input ? 'pipe' : 'ignore' });
  let out = '';
  let err = '';
  child.stdout.on('data', (chunk) => { out += chunk; });
  child.stderr.on('data', (chunk) => { err += chunk; });
  const client = {
    name,
    child,
    get lines() { return out.split('\n').filter(Boolean); },
    get errors() { return err.split('\n').filter(Boolean); },
    say(line) { child.stdin.write(`${line}\n`); },
    async waitLine(line, timeoutMs = UI_TIMEOUT) {
      await waitFor(`${name} to print ${JSON.stringify(line)}; it printed ${JSON.stringify(client.lines)}`,
        () => client.lines.includes(line), { timeoutMs });
    },
    async waitStatus(part, timeoutMs = UI_TIMEOUT) {
      await waitFor(`${name} to say ${JSON.stringify(part)}; it said ${JSON.stringify(client.errors)}`,
        () => client.errors.some((l) => l.includes(part)), { timeoutMs });
    },
    /** `/who` until its answer has `part` (a presence takes a moment to come back from the broker). */
    async waitWho(part) {
      await waitFor(`${name}'s /who to say ${JSON.stringify(part)}; it said ${JSON.stringify(client.errors)}`, () => {
        client.say('/who');
        return client.errors.some((l) => l.includes(part));
      }, { timeoutMs: UI_TIMEOUT, intervalMs: 300 });
    },
    /** Ends standard input; resolves with the exit code once it has said goodbye. */
    async finish() {
      child.stdin?.end();
      const { code } = await child.exited;
      clients.delete(client);
      return code;
    },
    async stop() {
      await stop(child);
      clients.delete(client);
    },
  };
  clients.add(client);
  return client;
}

/** A full-screen client in a tmux session of its own (its own tmux server, on a socket in the state dir). */
async function fullScreen(name, { room, broker = wsUrl() } = {}) {
  const socket = path.join(stateDir, `tmux-${name}-${nonce()}`);
  const tmux = (...args) => run('tmux', ['-S', socket, ...args], { name: 'tmux' });
  const command = [binary, '--name', name, '--broker', broker, '--state', stateDir, ...(room ? ['--room', room] : [])];
  const started = await tmux('-f', '/dev/null', 'new-session', '-d', '-s', 'chat', '-x', '120', '-y', '32', '--', ...command);
  assert.equal(started.code, 0, started.output);
  await tmux('set-option', '-t', 'chat', 'remain-on-exit', 'on');
  const client = {
    name,
    async screen() {
      const { output } = await tmux('capture-pane', '-p', '-t', 'chat');
      return output;
    },
    async waitScreen(pattern, what = String(pattern)) {
      let last = '';
      try {
        await waitFor(`${name}'s screen to show ${what}`, async () => {
          last = await client.screen();
          return pattern.test(last);
        }, { timeoutMs: UI_TIMEOUT, intervalMs: 200 });
      } catch (err) {
        throw new Error(`${err.message}; the screen:\n${last}`);
      }
    },
    /** Types `text` (literally) and presses Enter. */
    async type(text) {
      await tmux('send-keys', '-t', 'chat', '-l', text);
      await tmux('send-keys', '-t', 'chat', 'Enter');
    },
    async stop() {
      await tmux('send-keys', '-t', 'chat', 'C-c');
      await new Promise((r) => setTimeout(r, 300));
      await tmux('kill-server');
      clients.delete(client);
    },
  };
  clients.add(client);
  await client.waitScreen(/Connected as /, '"Connected as"');
  return client;
}

const tab = async (name, room) => {
  const page = await newPage(env.browser, name, `${env.appUrl}#${room}`);
  await join(page, name);
  return page;
};

/** The line of a message row on a full screen: "HH:MM sender: text". */
const row = (sender, text) => new RegExp(`\\d\\d:\\d\\d ${sender}: ${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`);
/** A name in the full screen's Online pane (at the right edge: "│ name      │"). */
const listed = (name) => new RegExp(`│ ${name} +│\\s*$`, 'm');

describe('terminal clients with a browser tab', () => {
  test('line mode and full screen chat with a tab both ways, see each other online, go offline when killed, and a later one prints the history', T, async () => {
    const room = `term${nonce()}`;
    let alice;
    try {
      alice = await tab('alice', room);
      const bob = plain('bob', { room });
      const carol = await fullScreen('carol', { room });
      await bob.waitStatus('connected as bob');

      // Everyone sees everyone online.
      await waitForOnline(alice, ['alice', 'bob', 'carol'], `In #${room}`);
      await bob.waitWho(`online in #${room}: alice, bob, carol`);
      await carol.waitScreen(listed('alice'), 'alice online');
      await carol.waitScreen(listed('bob'), 'bob online');

      // Both ways, each with each.
      const fromTab = `from the tab ${nonce()}`;
      await send(alice, fromTab);
      await bob.waitLine(`[${room}] alice: ${fromTab}`);
      await carol.waitScreen(row('alice', fromTab));
      const fromLine = `from line mode ${nonce()}`;
      bob.say(fromLine);
      assert.equal((await waitForMessage(alice, fromLine)).sender, 'bob');
      await carol.waitScreen(row('bob', fromLine));
      const fromScreen = `from the full screen ${nonce()}`;
      await carol.type(fromScreen);
      assert.equal((await waitForMessage(alice, fromScreen)).sender, 'carol');
      await bob.waitLine(`[${room}] carol: ${fromScreen}`);
      // The full screen marks its own message sent once the broker has it.
      await carol.waitScreen(new RegExp(`${row('carol', fromScreen).source} ✓`), 'the sent mark');

      // bob is killed: no goodbye; the broker publishes his Last Will and the tab sees him go.
      const killed = Date.now();
      process.kill(bob.child.pid, 'SIGKILL');
      await waitForOnline(alice, ['alice', 'carol'], `In #${room}`);
      log(`killed terminal gone from the tab's online list after ${Date.now() - killed} ms`);
      await carol.waitScreen(/^(?![\s\S]*│ bob +│)/, 'bob gone from the online list');

      // Started later, with nothing to say: the room's history, oldest first, each message once; then exit 0.
      const dave = plain('dave', { room, input: false });
      assert.equal(await dave.finish(), 0, dave.errors.join('\n'));
      const history = dave.lines.filter((l) => l.startsWith(`[${room}] `));
      assert.deepEqual(history, [
        `[${room}] alice: ${fromTab}`,
        `[${room}] bob: ${fromLine}`,
        `[${room}] carol: ${fromScreen}`,
      ]);
      await carol.stop();
      await waitForOnline(alice, ['alice'], `In #${room}`);
    } finally {
      for (const c of clients) await c.stop();
      await closeAll(alice);
    }
  });

  test('/join and /dm from both kinds of terminal, and direct messages from the tab', T, async () => {
    const room = `termroom${nonce()}`;
    const other = `termother${nonce()}`;
    let alice;
    let grace;
    try {
      alice = await tab('alice', room);
      const erin = plain('erin', { room });
      const frank = await fullScreen('frank', { room });
      await erin.waitStatus('connected as erin');
      await waitForOnline(alice, ['alice', 'erin', 'frank'], `In #${room}`);

      // /join: both terminals move to another room; a tab there (grace's) reads them, and they read it.
      erin.say(`/join ${other}`);
      await erin.waitStatus(`now in #${other}`);
      await frank.type(`/join ${other}`);
      await frank.waitScreen(new RegExp(`┌ #${other} `), `#${other} shown`);
      const inOther = `in the other room ${nonce()}`;
      erin.say(inOther);
      await frank.waitScreen(row('erin', inOther));
      grace = await tab('grace', other);
      await waitForMessage(grace, inOther);
      const tabInOther = `the tab in the other room ${nonce()}`;
      await send(grace, tabInOther);
      await erin.waitLine(`[${other}] grace: ${tabInOther}`);
      await frank.waitScreen(row('grace', tabInOther));

      // /dm from line mode and from the full screen reach the tab, in conversations of their own.
      const nav = alice.getByRole('navigation', { name: 'Rooms' });
      const fromErin = `psst from erin ${nonce()}`;
      erin.say(`/dm alice ${fromErin}`);
      await erin.waitLine(`[@alice] erin: ${fromErin}`);
      await nav.getByRole('link', { name: /@erin/ }).click();
      assert.equal((await waitForMessage(alice, fromErin)).sender, 'erin');
      const fromFrank = `psst from frank ${nonce()}`;
      await frank.type(`/dm alice ${fromFrank}`);
      await frank.waitScreen(new RegExp(`┌ @alice `), 'the direct conversation shown');
      await nav.getByRole('link', { name: /@frank/ }).click();
      assert.equal((await waitForMessage(alice, fromFrank)).sender, 'frank');

      // The tab answers both directly; line mode prints it as [@alice], the full screen shows it.
      await nav.getByRole('link', { name: /@erin/ }).click();
      const toErin = `back to erin ${nonce()}`;
      await send(alice, toErin);
      await erin.waitLine(`[@alice] alice: ${toErin}`);
      await nav.getByRole('link', { name: /@frank/ }).click();
      const toFrank = `back to frank ${nonce()}`;
      await send(alice, toFrank);
      await frank.waitScreen(row('alice', toFrank));
      // A direct message did not move erin: her next line still goes to the other room.
      const stillOther = `still in the other room ${nonce()}`;
      erin.say(stillOther);
      await waitForMessage(grace, stillOther);

      assert.equal(await erin.finish(), 0, erin.errors.join('\n'));
      assert.equal(erin.lines.filter((l) => l === `[@alice] erin: ${fromErin}`).length, 1, 'own direct message once');
    } finally {
      for (const c of clients) await c.stop();
      await closeAll(alice, grace);
    }
  });
});
