// End-to-end: "Load older messages" from the optional history service (mqtt-chat-history, history/), on one
// Mosquitto running the repo's mosquitto.conf and mosquitto.acl. A room longer than the retained histories
// hold: a new tab shows the newest messages (the broker's histories, and the service's newest page, asked for
// at once), and pages back through the service to the room's first message, in order, once each. While no service runs the tab offers nothing to load; when the
// service dies its will clears its marker and the tab stops offering it.
//
// The binary: MQTT_CHAT_HISTORY=PATH, else `cargo build --release -p mqtt-chat-history` (a no-op once built)
// and target/release/mqtt-chat-history.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ROOT, log, run, start, stop, useSetUp, waitFor } from './harness.mjs';
import { closeAll, messages, nonce, openJoined, waitForMessage } from './tabs.mjs';

const T = { timeout: 300_000 };
const env = useSetUp();
let binary;
let dir;

before(async () => {
  binary = process.env.MQTT_CHAT_HISTORY;
  if (!binary) {
    log('cargo build --release -p mqtt-chat-history ...');
    const { code, output } = await run('cargo', ['build', '--release', '-p', 'mqtt-chat-history'], {
      name: 'cargo', timeoutMs: 30 * 60_000,
    });
    if (code !== 0) throw new Error(`cargo build failed:\n${output}`);
    binary = path.join(process.env.CARGO_TARGET_DIR ?? path.join(ROOT, 'target'), 'release', 'mqtt-chat-history');
  }
  assert.ok(fs.existsSync(binary), `no ${binary}`);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mqtt-chat-history-'));
}, { timeout: 40 * 60_000 });

after(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** The service on the test broker, its database in `dir`; resolves once it has read the histories. */
async function startService() {
  const child = start(binary, ['--broker', `mqtt://127.0.0.1:${env.broker.tcpPort}`, '--db', path.join(dir, 'h.sqlite3')], {
    name: 'history',
  });
  await waitFor('the service to read the histories', () => child.output.includes('histories read'));
  return child;
}

/** Publishes `texts` as chat messages of `sender` in `room`, one a millisecond apart (`mosquitto_pub -l`). */
async function post(sender, room, texts, t0) {
  const file = path.join(dir, `${sender}-${nonce()}.txt`);
  const lines = texts.map((text, i) => JSON.stringify({ id: `${sender}-${i}`, text, sent_at: t0 + i }));
  fs.writeFileSync(file, `${lines.join('\n')}\n`);
  const pub = await run('sh', ['-c',
    `mosquitto_pub -h 127.0.0.1 -p ${env.broker.tcpPort} -u ${sender} -q 1 -l -t chat/rooms/${room}/messages/${sender} < ${file}`]);
  assert.equal(pub.code, 0, `mosquitto_pub failed: ${pub.output}`);
}

describe('Load older messages, from the history service', () => {
  test('a new tab pages back to the room\'s first message, in order, once each', T, async () => {
    const room = `long${nonce()}`;
    const service = await startService();
    let ann;
    let bob;
    try {
      // ann writes 30 through a tab (so her retained history holds them), zed 220 with mosquitto_pub (no
      // history at all): the broker's histories hold 30 of the room's 250 messages.
      ann = await openJoined(env.browser, `${env.appUrl}#${room}`, 'ann');
      const t0 = Date.now() - 3_600_000;
      const zed = Array.from({ length: 220 }, (_, i) => `zed ${String(i).padStart(3, '0')}`);
      await post('zed', room, zed, t0);
      const box = ann.getByRole('textbox', { name: 'Message' });
      const annSays = Array.from({ length: 30 }, (_, i) => `ann ${String(i).padStart(2, '0')}`);
      for (const text of annSays) {
        await box.fill(text);
        await box.press('Enter');
      }
      await waitForMessage(ann, annSays.at(-1));

      bob = await openJoined(env.browser, `${env.appUrl}#${room}`, 'bob');
      await waitForMessage(bob, annSays.at(-1));
      const texts = async () => (await messages(bob).locator('.text').allTextContents())
        .filter((t) => /^(zed|ann) /.test(t));
      // The broker's histories give ann's 30; the service, asked at once for the room's newest page, the
      // newest 100 (zed's last 70 among them).
      await waitForMessage(bob, 'zed 150');
      assert.deepEqual(await texts(), [...zed.slice(150), ...annSays], 'the newest 100, in order');
      const older = bob.getByRole('button', { name: 'Load older messages' });
      const all = [...zed, ...annSays];
      for (let page = 0; page < 10 && (await texts()).length < all.length; page++) {
        await older.click();
        await waitFor('the page to arrive', async () => (await bob.locator('.older', { hasText: 'Loading' }).count()) === 0);
        // What was drawn earlier is drawn too: "Show earlier messages" draws the rest of what the tab holds.
        const earlier = bob.getByRole('button', { name: 'Show earlier messages' });
        while (await earlier.count()) await earlier.click();
      }
      assert.deepEqual(await texts(), all, 'every message, in order, once each');
      await bob.locator('.older', { hasText: 'This is the beginning of the room.' }).waitFor();
      assert.equal(await older.count(), 0);
      log(`LOAD_OLDER: ${all.length} messages paged back from the history service`);
    } finally {
      await stop(service);
      await closeAll(ann, bob);
    }
  });

  test('without a running service nothing is offered; a service that dies stops being offered', T, async () => {
    const room = `plain${nonce()}`;
    let ann;
    let bob;
    let service;
    try {
      ann = await openJoined(env.browser, `${env.appUrl}#${room}`, 'ann');
      const note = (page) => page.locator('.older');
      assert.equal(await ann.getByRole('button', { name: 'Load older messages' }).count(), 0, 'no service, no button');
      assert.equal(await note(ann).count(), 0, 'and nothing said');
      // The service starts: the tab hears its marker and asks it for the room's newest page; there is none older.
      service = await startService();
      await note(ann).filter({ hasText: 'This is the beginning of the room.' }).waitFor();
      // 150 messages while it runs; a new tab gets the newest 100 from it, and is offered the rest.
      await post('zed', room, Array.from({ length: 150 }, (_, i) => `zed ${i}`), Date.now() - 60_000);
      bob = await openJoined(env.browser, `${env.appUrl}#${room}`, 'bob');
      await waitForMessage(bob, 'zed 50');
      const older = bob.getByRole('button', { name: 'Load older messages' });
      await older.waitFor();
      // Killed: its will clears the marker, and the button goes.
      service.kill('SIGKILL');
      await service.exited;
      service = undefined;
      await older.waitFor({ state: 'detached' });
    } finally {
      if (service) await stop(service);
      await closeAll(ann, bob);
    }
  });
});
