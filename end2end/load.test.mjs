// End-to-end load: ten tabs each send 100 messages as fast as the UI takes them. Run with `scripts/test e2e`.

import { test } from 'node:test';
import { log, useSetUp } from './harness.mjs';
import { assertOnceInOrder, closeAll, nonce, openJoined, typeAll, waitForTexts } from './tabs.mjs';

const TABS = Number(process.env.LOAD_TABS ?? 10);
const EACH = Number(process.env.LOAD_EACH ?? 100);
const env = useSetUp();


test(`${TABS} tabs × ${EACH} messages: every tab ends with all of them once each, in per-sender order`, { timeout: 900_000 }, async () => {
  const hash = `#load${nonce()}`;
  const names = Array.from({ length: TABS }, (_, i) => `user${i}`);
  const total = TABS * EACH;
  const tabs = [];
  try {
    for (const name of names) tabs.push(await openJoined(env.browser, `${env.appUrl}${hash}`, name));
    const t0 = Date.now();
    await Promise.all(tabs.map((page, k) => typeAll(page, Array.from({ length: EACH }, (_, i) => `${names[k]} ${String(i).padStart(3, '0')}`))));
    const typed = Date.now() - t0;
    log(`load: ${total} messages typed in ${typed} ms`);
    const shown = [];
    for (const page of tabs) shown.push(await waitForTexts(page, /^user\d+ \d{3}$/, total, 600_000 - (Date.now() - t0)));
    const done = Date.now() - t0;
    for (const [k, texts] of shown.entries()) assertOnceInOrder(tabs[k].label, texts, total, names);
    log(`load: all ${total} in all ${TABS} tabs, once each and in order, ${done} ms after the first was typed`);
  } finally {
    await closeAll(...tabs);
  }
});
