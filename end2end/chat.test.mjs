// End-to-end: a real Mosquitto (the repo's config on free ports), the release build of the app,
// and several headless Chromium tabs. Run with `scripts/test e2e` (or `npm test` in end2end/
// after scripts/install --test). See harness.mjs for the environment variables.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { ROOT, isLoopback, listeningSockets, log, run, useSetUp, start, stop, waitFor } from './harness.mjs';
import { UI_TIMEOUT, closeAll as closeTabs, messages, nonce, openJoined, send, waitForMessage } from './tabs.mjs';

const T = { timeout: 180_000 }; // per test

const env = useSetUp();

/** A tab in its own browser context (own storage, own connection) that has joined the chat. */
const openTab = (name, { viewport, hash = '' } = {}) =>
  openJoined(env.browser, `${env.appUrl}${hash}`, name, viewport ? { viewport } : {});


describe('broker', () => {
  test('listens on loopback only (mosquitto.conf on free ports)', () => {
    const pid = env.broker.proc.pid;
    let sockets = listeningSockets().filter((s) => s.process.includes(`pid=${pid},`));
    if (sockets.length === 0) {
      // No process info (not root?): fall back to the ports we configured.
      sockets = listeningSockets().filter((s) => [env.broker.tcpPort, env.broker.wsPort].includes(s.port));
    }
    const ports = new Set(sockets.map((s) => s.port));
    assert.ok(ports.has(env.broker.tcpPort), `nothing listens on the TCP port ${env.broker.tcpPort}`);
    assert.ok(ports.has(env.broker.wsPort), `nothing listens on the WebSocket port ${env.broker.wsPort}`);
    for (const socket of sockets) {
      assert.ok(isLoopback(socket.host), `broker socket not bound to loopback: ${socket.line}`);
    }
  });
});

describe('chat', () => {
  test('two tabs exchange messages both ways; blank messages are not sent', T, async () => {
    let alice;
    let bob;
    try {
      [alice, bob] = await Promise.all([openTab('alice'), openTab('bob')]);
      const fromAlice = `hello bob ${nonce()}`;
      const fromBob = `hi alice ${nonce()}`;

      await send(alice, fromAlice); // Enter
      const received = await waitForMessage(bob, fromAlice);
      assert.equal(received.sender, 'alice');
      assert.ok(!received.classes.includes('own'), 'a message from alice is marked own in bob\'s tab');
      const echoed = await waitForMessage(alice, fromAlice);
      assert.equal(echoed.sender, 'alice');
      assert.ok(echoed.classes.includes('own'), 'alice\'s own message lacks class "own"');

      await send(bob, fromBob, { click: true }); // the Send button
      assert.equal((await waitForMessage(alice, fromBob)).sender, 'bob');
      assert.equal((await waitForMessage(bob, fromBob)).sender, 'bob');

      // Whitespace only: nothing is published. Messages arrive in order, so once the next
      // message is shown in both tabs, the blank one would have been shown too.
      const [countAlice, countBob] = [await messages(alice).count(), await messages(bob).count()];
      await send(alice, '   \t  ');
      const next = `after blank ${nonce()}`;
      await send(alice, next);
      await waitForMessage(bob, next);
      await waitForMessage(alice, next);
      assert.equal(await messages(bob).count(), countBob + 1, 'a blank message appeared in bob\'s tab');
      assert.equal(await messages(alice).count(), countAlice + 1, 'a blank message appeared in alice\'s tab');
    } finally {
      await closeTabs(alice, bob);
    }
  });

  test('a plain-text message published with mosquitto_pub shows in both tabs', T, async () => {
    let alice;
    let bob;
    try {
      [alice, bob] = await Promise.all([openTab('alice'), openTab('bob')]);
      const pub = await run('mosquitto_pub', [
        '-h', '127.0.0.1', '-p', String(env.broker.tcpPort),
        '-u', 'zed', '-t', 'chat/rooms/general/messages/zed', '-m', 'hi from cli', '-q', '1',
      ]);
      assert.equal(pub.code, 0, `mosquitto_pub failed: ${pub.output}`);
      for (const page of [alice, bob]) {
        const message = await waitForMessage(page, 'hi from cli');
        assert.equal(message.sender, 'zed');
        assert.ok(!message.classes.includes('unreadable'), 'a UTF-8 text payload was shown as unreadable');
        assert.ok(!message.classes.includes('own'));
      }
    } finally {
      await closeTabs(alice, bob);
    }
  });

  test('a message sent from a tab reaches mosquitto_sub as JSON on the sender\'s topic', T, async () => {
    let alice;
    let sub;
    try {
      alice = await openTab('alice');
      // -d prints the SUBACK, so we know the subscription is in place before sending; stdbuf
      // makes it write each line at once into our pipe.
      sub = start('stdbuf', [
        '-oL', 'mosquitto_sub', '-h', '127.0.0.1', '-p', String(env.broker.tcpPort), '-t', 'chat/rooms/#', '-v', '-d',
      ], { name: 'mosquitto_sub' });
      await waitFor('mosquitto_sub to subscribe', () => /received SUBACK/.test(sub.output), {
        timeoutMs: UI_TIMEOUT,
      });

      const text = `héllo, ünïcode ✓ “quotes” ${nonce()}`;
      await send(alice, text);
      const sentAround = Date.now();
      const topic = 'chat/rooms/general/messages/alice';
      const line = await waitFor(
        `a publish on ${topic}`,
        () => sub.output.split('\n').find((l) => l.startsWith(`${topic} `)),
        { timeoutMs: UI_TIMEOUT },
      ).catch((err) => {
        throw new Error(`${err.message}; mosquitto_sub saw:\n${sub.output}`);
      });

      const payload = JSON.parse(line.slice(topic.length + 1));
      assert.deepEqual(Object.keys(payload).sort(), ['id', 'sent_at', 'text'], `payload ${line}`);
      assert.equal(typeof payload.id, 'string');
      assert.ok(payload.id.length > 0, 'empty id');
      assert.equal(payload.text, text);
      assert.ok(Number.isInteger(payload.sent_at), `sent_at is not an integer: ${payload.sent_at}`);
      assert.ok(Math.abs(payload.sent_at - sentAround) < 60_000, `sent_at ${payload.sent_at} is not ms near now`);
    } finally {
      await stop(sub);
      await closeTabs(alice);
    }
  });

  test('screenshot of two tabs chatting side by side (docs/screenshot.png)', T, async () => {
    const viewport = { width: 800, height: 520 };
    const hash = `#lobby${nonce()}`;
    let alice;
    let bob;
    let frame;
    try {
      [alice, bob] = await Promise.all([openTab('alice', { viewport, hash }), openTab('bob', { viewport, hash })]);
      const lines = [
        [alice, 'Hi Bob! Is the broker up?'],
        [bob, 'Yes, messages go over MQTT 3.1.1 on a WebSocket.'],
        [alice, 'Great, and both tabs see everything.'],
      ];
      for (const [page, text] of lines) {
        await send(page, text);
        await Promise.all([waitForMessage(alice, text), waitForMessage(bob, text)]);
      }
      const [left, right] = await Promise.all([alice.screenshot(), bob.screenshot()]);

      // Compose both screenshots in a third page and screenshot that.
      frame = await env.browser.newPage({ viewport: { width: 2 * viewport.width + 24, height: viewport.height + 16 } });
      const img = (png) => `<img src="data:image/png;base64,${png.toString('base64')}">`;
      await frame.setContent(
        `<body style="margin:0;padding:8px;display:flex;gap:8px;background:#888">${img(left)}${img(right)}</body>`,
      );
      await frame.waitForFunction(() => [...document.images].every((i) => i.complete && i.naturalWidth > 0));
      const out = path.join(ROOT, 'docs', 'screenshot.png');
      fs.mkdirSync(path.dirname(out), { recursive: true });
      await frame.screenshot({ path: out });
      assert.ok(fs.statSync(out).size > 10_000, 'the screenshot is suspiciously small');
      log(`wrote ${path.relative(ROOT, out)}`);
    } finally {
      await frame?.close();
      await closeTabs(alice, bob);
    }
  });
});
