// End-to-end: faults. A real Mosquitto with persistence is killed with SIGKILL while three tabs chat, and
// started again on the same ports. Run with `scripts/test e2e`.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { log, useSetUp } from './harness.mjs';
import { closeAll, messages, nonce, openJoined, send, waitForMessage, waitForStatus } from './tabs.mjs';

const env = useSetUp();
const names = ['alice', 'bob', 'carol'];

/**
 * Waits until the broker has saved what it holds: `autosave_interval 1` saves when more than a whole second
 * has passed since the last save, by its one-second clock, so up to about 2 s later.
 */
const persisted = () => new Promise((r) => setTimeout(r, 3_000));


describe('broker crash', () => {
  test('messages sent while the broker is down arrive once each, in order, marked sent', { timeout: 240_000 }, async () => {
    const hash = `#fault${nonce()}`;
    const tabs = await Promise.all(names.map((n) => openJoined(env.browser, `${env.appUrl}${hash}`, n)));
    try {
      await send(tabs[0], 'before the crash');
      for (const page of tabs) await waitForMessage(page, 'before the crash');
      await persisted();

      await env.broker.crash();
      for (const page of tabs) await waitForStatus(page, /Disconnected: .*Reconnecting/);
      const sent = [];
      for (let i = 0; i < 3; i++) {
        for (const [k, page] of tabs.entries()) {
          const text = `${names[k]} while down ${i}`;
          await send(page, text);
          sent.push(text);
        }
      }
      // Shown at once, as pending.
      const pending = await tabs[0].locator('li.message.pending').count();
      assert.ok(pending >= 3, `only ${pending} pending messages in alice's tab`);

      await env.broker.restart();
      const restarted = Date.now();
      for (const page of tabs) {
        for (const text of sent) {
          await waitForMessage(page, text, { timeout: Math.max(1, 10_000 - (Date.now() - restarted)) });
        }
      }
      log(`every tab had every message ${Date.now() - restarted} ms after the restart`);
      for (const [k, page] of tabs.entries()) {
        const texts = await messages(page).locator('.text').allTextContents();
        for (const name of names) {
          const own = texts.filter((t) => t.startsWith(`${name} while down`));
          assert.deepEqual(own, [0, 1, 2].map((i) => `${name} while down ${i}`), `${names[k]}: ${name}'s order`);
        }
        // Every own message ends up acknowledged by the broker.
        const mine = page.locator('li.message.own', { hasText: 'while down' });
        await page.waitForFunction(
          () => [...document.querySelectorAll('li.message.own')].every((li) => !li.classList.contains('pending')),
          null,
          { timeout: 10_000 },
        );
        assert.equal(await mine.count(), 3);
        assert.deepEqual(await mine.locator('.delivery').allTextContents(), ['sent', 'sent', 'sent']);
      }
    } finally {
      await closeAll(...tabs);
    }
  });

  test('a tab reloaded while the broker is down loses nothing it sent', { timeout: 240_000 }, async () => {
    const hash = `#reload${nonce()}`;
    const tabs = await Promise.all(names.map((n) => openJoined(env.browser, `${env.appUrl}${hash}`, n)));
    const [alice, bob, carol] = tabs;
    try {
      await send(bob, 'said before');
      for (const page of tabs) await waitForMessage(page, 'said before');
      await persisted();
      await env.broker.crash();
      await waitForStatus(alice, /Reconnecting/);
      const texts = ['kept 1', 'kept 2', 'kept 3'];
      for (const text of texts) await send(alice, text);
      // The messages exist only in this page and its outbox (local storage) now.
      await alice.reload();
      await waitForStatus(alice, /Reconnecting/);
      for (const text of texts) await waitForMessage(alice, text);
      await env.broker.restart();
      for (const page of tabs) {
        for (const text of texts) await waitForMessage(page, text, { timeout: 15_000 });
        await waitForMessage(page, 'said before');
        const shown = (await messages(page).locator('.text').allTextContents()).filter((t) => t.startsWith('kept'));
        assert.deepEqual(shown, texts, `${page.label}: order`);
      }
      await alice.waitForFunction(() => !document.querySelector('li.message.pending'), null, { timeout: 10_000 });
      assert.equal(await alice.evaluate(() => localStorage.getItem('mqtt-chat.outbox.alice')), '[]');
    } finally {
      await closeAll(alice, bob, carol);
    }
  });

  test('a burst of messages and a reload right after: all arrive once, in order', { timeout: 240_000 }, async () => {
    const hash = `#burst${nonce()}`;
    const tabs = await Promise.all(names.map((n) => openJoined(env.browser, `${env.appUrl}${hash}`, n)));
    const [alice] = tabs;
    try {
      const texts = Array.from({ length: 10 }, (_, i) => `burst ${i}`);
      for (const text of texts) await send(alice, text);
      await alice.reload();
      await waitForStatus(alice, /Connected as alice/);
      for (const page of tabs) {
        for (const text of texts) await waitForMessage(page, text);
        const shown = (await messages(page).locator('.text').allTextContents()).filter((t) => t.startsWith('burst'));
        assert.deepEqual(shown, texts, `${page.label}: order`);
      }
    } finally {
      await closeAll(...tabs);
    }
  });

  test('a message the broker does not acknowledge turns "not delivered"; Retry sends it once', { timeout: 240_000 }, async () => {
    const hash = `#stuck${nonce()}`;
    const tabs = await Promise.all(names.map((n) => openJoined(env.browser, `${env.appUrl}${hash}`, n)));
    const [alice, bob, carol] = tabs;
    try {
      env.broker.pause();
      try {
        await send(alice, 'into the void');
        const item = alice.locator('li.message.own', { hasText: 'into the void' });
        await item.locator('.delivery', { hasText: 'sending…' }).waitFor();
        await item.locator('.delivery', { hasText: 'not delivered' }).waitFor({ timeout: 40_000 });
        await item.getByRole('button', { name: 'Retry' }).click();
      } finally {
        env.broker.resume();
      }
      const item = alice.locator('li.message.own', { hasText: 'into the void' });
      await item.locator('.delivery', { hasText: /^sent$/ }).waitFor();
      for (const page of [bob, carol]) await waitForMessage(page, 'into the void');
      const marker = `after ${nonce()}`;
      await send(alice, marker);
      for (const page of [bob, carol]) {
        await waitForMessage(page, marker);
        assert.equal(await messages(page).filter({ hasText: 'into the void' }).count(), 1, `${page.label}: shown twice`);
      }
    } finally {
      await closeAll(alice, bob, carol);
    }
  });
});
