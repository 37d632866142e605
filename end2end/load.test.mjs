// End-to-end load: ten tabs each send 100 messages as fast as the UI takes them. Run with `scripts/test e2e`.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { log, useSetUp } from './harness.mjs';
import { closeAll, nonce, openJoined } from './tabs.mjs';

const TABS = Number(process.env.LOAD_TABS ?? 10);
const EACH = Number(process.env.LOAD_EACH ?? 100);
const env = useSetUp();


/** In the page: the load messages shown, in order, and how many own ones are still pending. */
function shown() {
  const texts = [...document.querySelectorAll('li.message .text')]
    .map((e) => e.textContent)
    .filter((t) => /^user\d+ \d{3}$/.test(t));
  return { texts, pending: document.querySelectorAll('li.message.pending').length };
}

test(`${TABS} tabs × ${EACH} messages: every tab ends with all of them once each, in per-sender order`, { timeout: 900_000 }, async () => {
  const hash = `#load${nonce()}`;
  const names = Array.from({ length: TABS }, (_, i) => `user${i}`);
  const total = TABS * EACH;
  const tabs = [];
  try {
    for (const name of names) tabs.push(await openJoined(env.browser, `${env.appUrl}${hash}`, name));
    const t0 = Date.now();
    await Promise.all(tabs.map(async (page, k) => {
      const box = page.getByRole('textbox', { name: 'Message' });
      for (let i = 0; i < EACH; i++) {
        await box.fill(`${names[k]} ${String(i).padStart(3, '0')}`);
        await box.press('Enter');
      }
    }));
    const typed = Date.now() - t0;
    log(`load: ${total} messages typed in ${typed} ms`);
    for (const page of tabs) {
      for (;;) {
        const { texts, pending } = await page.evaluate(shown);
        if (texts.length >= total && pending === 0) break;
        if (Date.now() - t0 > 600_000) assert.fail(`${page.label}: ${texts.length} of ${total} after 10 min, ${pending} pending`);
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    const done = Date.now() - t0;
    for (const page of tabs) {
      const { texts } = await page.evaluate(shown);
      assert.equal(texts.length, total, `${page.label}: ${texts.length} messages`);
      assert.equal(new Set(texts).size, total, `${page.label}: a message is shown twice`);
      for (const name of names) {
        const own = texts.filter((t) => t.startsWith(`${name} `));
        assert.deepEqual(own, [...own].sort(), `${page.label}: ${name}'s messages out of order`);
      }
    }
    log(`load: all ${total} in all ${TABS} tabs, once each and in order, ${done} ms after the first was typed`);
  } finally {
    await closeAll(...tabs);
  }
});
