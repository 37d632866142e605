// Browser-tab helpers shared by the end-to-end suites: open a tab and join, send, wait for what the page
// shows. Every control is found by its accessible name (the same names screen readers use).

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { log } from './harness.mjs';

export const UI_TIMEOUT = 30_000; // the CI machine is slow: 2 cores
export const CONNECTED = /(^|\W)Connected\b/; // not "Disconnected"
export const nonce = () => randomBytes(3).toString('hex');

export function escapeRegExp(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * A new browser context (its own storage, so its own "browser") with one page at `url`, collecting
 * uncaught errors. `options` go to `browser.newContext` (viewport, colorScheme, ...).
 */
export async function newPage(browser, name, url, options = {}) {
  const context = await browser.newContext(options);
  const page = await context.newPage();
  page.setDefaultTimeout(UI_TIMEOUT);
  page.label = name;
  page.errors = [];
  page.on('pageerror', (err) => page.errors.push(`${name}: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') log(`${name} console error: ${msg.text()}`);
  });
  await page.goto(url);
  return page;
}

/** `newPage`, then join as `name`. */
export async function openJoined(browser, url, name, options = {}) {
  const page = await newPage(browser, name, url, options);
  await join(page, name);
  return page;
}

/** Fills the login form and waits until connected. */
export async function join(page, name, { password } = {}) {
  await page.getByRole('textbox', { name: 'Name' }).fill(name);
  if (password !== undefined) await page.getByLabel('Password').fill(password);
  await page.getByRole('textbox', { name: 'Name' }).press('Enter');
  await waitForStatus(page, CONNECTED);
}

export async function waitForStatus(page, pattern) {
  const status = page.getByRole('status');
  try {
    await status.filter({ hasText: pattern }).first().waitFor();
  } catch (err) {
    const text = await status.allTextContents().catch(() => []);
    throw new Error(`${page.label}: status never matched ${pattern}; it is ${JSON.stringify(text)}`, { cause: err });
  }
}

/** Closes the pages' contexts; an uncaught error (a Rust panic) in any of them fails the test. */
export async function closeAll(...pages) {
  const errors = pages.flatMap((page) => page?.errors ?? []);
  await Promise.all(pages.map((page) => page?.context().close()));
  assert.deepEqual(errors, [], 'uncaught errors in the page');
}

export const messages = (page) => page.getByRole('log', { name: 'Messages' }).locator('li.message');

/** Types into the composer and sends with Enter (or by clicking Send). */
export async function send(page, text, { click = false } = {}) {
  const box = page.getByRole('textbox', { name: 'Message' });
  await box.fill(text);
  if (click) await page.getByRole('button', { name: 'Send' }).click();
  else await box.press('Enter');
}

/** The log item whose text is exactly `text`, once it appears: {sender, text, classes}. */
export async function waitForMessage(page, text, { timeout = UI_TIMEOUT } = {}) {
  const item = messageItem(page, text);
  try {
    await item.first().waitFor({ timeout });
  } catch (err) {
    const shown = await messages(page).allTextContents().catch(() => []);
    throw new Error(`${page.label}: message ${JSON.stringify(text)} never appeared; the log holds ${JSON.stringify(shown)}`, {
      cause: err,
    });
  }
  assert.equal(await item.count(), 1, `${page.label}: message ${JSON.stringify(text)} shown more than once`);
  return {
    sender: (await item.locator('.sender').textContent()).trim(),
    text: (await item.locator('.text').textContent()).trim(),
    classes: ((await item.getAttribute('class')) ?? '').split(/\s+/),
    item,
  };
}

export function messageItem(page, text) {
  return messages(page).filter({
    has: page.locator('.text', { hasText: new RegExp(`^${escapeRegExp(text)}$`) }),
  });
}

/** The names in the Online section's list under heading `which` ("Everyone" or "In #room"). */
export async function online(page, which = 'Everyone') {
  const region = page.getByRole('region', { name: 'Online' });
  const list = region.getByRole('heading', { name: which }).locator('xpath=following-sibling::ul[1]');
  return (await list.locator('.name').allTextContents()).map((s) => s.trim()).sort();
}

/** Polls `online(page, which)` until it equals `expected` (sorted). */
export async function waitForOnline(page, expected, which = 'Everyone', timeout = UI_TIMEOUT) {
  const want = [...expected].sort();
  const deadline = Date.now() + timeout;
  let got;
  for (;;) {
    got = await online(page, which);
    if (JSON.stringify(got) === JSON.stringify(want)) return Date.now();
    if (Date.now() > deadline) {
      throw new Error(`${page.label}: online (${which}) is ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Types each of `texts` into the composer and sends it, as fast as the page takes them. */
export async function typeAll(page, texts) {
  const box = page.getByRole('textbox', { name: 'Message' });
  for (const text of texts) {
    await box.fill(text);
    await box.press('Enter');
  }
}

/**
 * Polls until `page` shows at least `total` messages whose text matches `pattern` and none of its own is
 * pending, with every earlier message drawn; returns those texts in the order shown. Fails after `timeout` ms, saying how far it got.
 */
export async function waitForTexts(page, pattern, total, timeout = 600_000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const { texts, pending, hidden } = await page.evaluate((source) => {
      const re = new RegExp(source);
      // The list draws the newest messages only: ask for the earlier ones until all are drawn.
      const earlier = [...document.querySelectorAll('button')].filter((b) => b.textContent === 'Show earlier messages');
      for (const button of earlier) button.click();
      return {
        hidden: earlier.length > 0,
        texts: [...document.querySelectorAll('li.message .text')].map((e) => e.textContent).filter((t) => re.test(t)),
        pending: document.querySelectorAll('li.message.pending').length,
      };
    }, pattern.source);
    if (texts.length >= total && pending === 0 && !hidden) return texts;
    if (Date.now() > deadline) {
      assert.fail(`${page.label}: ${texts.length} of ${total} messages after ${timeout / 1000} s, ${pending} pending`);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** `texts` (as `waitForTexts` gives them, each "SENDER ...") hold `total` messages, once each, in per-sender order. */
export function assertOnceInOrder(label, texts, total, senders) {
  assert.equal(texts.length, total, `${label}: ${texts.length} messages`);
  assert.equal(new Set(texts).size, total, `${label}: a message is shown twice`);
  for (const name of senders) {
    const own = texts.filter((t) => t.startsWith(`${name} `));
    assert.deepEqual(own, [...own].sort(), `${label}: ${name}'s messages out of order`);
  }
}

/**
 * Sends each of `texts` as `typeAll` does, but from inside the page: sets the composer's value, fires its
 * input event and submits its form, yielding to the page between messages. The same path through the app,
 * without a round trip to the test per keystroke, for runs of hundreds of messages.
 */
export async function submitAll(page, texts) {
  await page.getByRole('textbox', { name: 'Message' }).waitFor();
  await page.evaluate(async (all) => {
    const box = document.getElementById('message');
    for (const text of all) {
      box.value = text;
      box.dispatchEvent(new Event('input', { bubbles: true }));
      box.form.requestSubmit();
      await new Promise((r) => setTimeout(r, 0));
    }
  }, texts);
}
