// End-to-end: the message list with two tabs, against a real Mosquitto running the repo's mosquitto.conf and
// headless Chromium: a sender's quick lines grouped under one name, "Jump to latest" when messages arrive below
// a reader who scrolled up, the "New" divider above the first unread message, and a message revealed (a reply's
// quote scrolls to the message it answers). Run with `scripts/test e2e`.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { useSetUp, waitFor } from './harness.mjs';
import {
  closeAll, messageItem, nonce, openJoined, send, submitAll, typeAll, waitForMessage,
} from './tabs.mjs';

const T = { timeout: 240_000 };
const env = useSetUp();

const tab = (name, room) => openJoined(env.browser, `${env.appUrl}#${room}`, name, { viewport: { width: 1000, height: 640 } });
const nav = (page) => page.getByRole('navigation', { name: 'Rooms' });
const heading = (page) => page.getByRole('banner').getByRole('heading', { level: 1 });
const messageLog = (page) => page.getByRole('log', { name: 'Messages' });
const jumpButton = (page) => page.getByRole('button', { name: /^Jump to latest/ });

/** The log's scroll position: {top, bottom} (bottom: the largest top). */
const scroll = (page) => page.evaluate(() => {
  const log = document.querySelector('[role=log]');
  return { top: log.scrollTop, bottom: log.scrollHeight - log.clientHeight };
});

const atBottom = async (page) => {
  const { top, bottom } = await scroll(page);
  return top >= bottom - 1;
};

/** Whether `locator`'s element is within the log's visible part. */
const inView = (locator) => locator.evaluate((el) => {
  const log = el.closest('[role=log]').getBoundingClientRect();
  const r = el.getBoundingClientRect();
  return r.top >= log.top - 1 && r.bottom <= log.bottom + 1;
});

/** Joins (creating) room `name` from the sidebar; it is then on screen. */
async function joinRoom(page, name) {
  await page.getByRole('textbox', { name: 'Room' }).fill(name);
  await page.getByRole('button', { name: 'Join room' }).click();
  await heading(page).filter({ hasText: `#${name}` }).waitFor();
}

async function openRoom(page, name) {
  await nav(page).getByRole('link', { name: new RegExp(`^#${name}\\b`) }).click();
  await heading(page).filter({ hasText: `#${name}` }).waitFor();
}

describe('the message list', () => {
  test('quick lines of one sender show the name once; another sender starts a new group; each line still says who', T, async () => {
    const room = `group${nonce()}`;
    let ann;
    let bob;
    try {
      [ann, bob] = await Promise.all([tab('ann', room), tab('bob', room)]);
      const quick = ['one', 'two', 'three'].map((w) => `${w} ${nonce()}`);
      await typeAll(ann, quick);
      await waitForMessage(bob, quick.at(-1));
      const answer = `bob answers ${nonce()}`;
      await send(bob, answer);
      await waitForMessage(ann, answer);
      const again = `ann again ${nonce()}`;
      await send(ann, again);
      const texts = [...quick, answer, again];
      for (const page of [ann, bob]) {
        await waitForMessage(page, again);
        // What a sighted reader sees: the name on the first line of each group only.
        const names = await Promise.all(texts.map((t) => messageItem(page, t).locator('.sender').evaluate((el) => {
          const r = el.getBoundingClientRect();
          return r.width > 1 && r.height > 1 ? el.textContent.trim() : null;
        })));
        assert.deepEqual(names, ['ann', null, null, 'bob', 'ann'], `${page.label}: the names shown`);
        // What a screen reader is given: every line says who sent it, and when.
        for (const t of texts) {
          const said = await messageItem(page, t).ariaSnapshot();
          assert.match(said, t === answer ? /\bbob\b/ : /\bann\b/, `${page.label}: ${said}`);
          assert.match(said, /\b\d\d:\d\d\b/, `${page.label}: no time in ${said}`);
        }
      }
    } finally {
      await closeAll(ann, bob);
    }
  });

  test('scrolled up while 5 messages arrive: the view stays, "Jump to latest (5 new)" brings the reader down, and they follow again; the reader\'s own message waits below too', T, async () => {
    const room = `jump${nonce()}`;
    let ann;
    let bob;
    try {
      [ann, bob] = await Promise.all([tab('ann', room), tab('bob', room)]);
      const filler = Array.from({ length: 40 }, (_, i) => `filler ${i} ${nonce()}`);
      await submitAll(ann, filler);
      await waitForMessage(bob, filler.at(-1));
      await waitFor('bob at the bottom', () => atBottom(bob), { timeoutMs: 5_000 });
      assert.equal(await jumpButton(bob).count(), 0, 'Jump to latest at the bottom');

      // bob scrolls up with the mouse wheel.
      await messageLog(bob).hover();
      await bob.mouse.wheel(0, -1500);
      await waitFor('bob scrolled up', async () => (await scroll(bob)).top < (await scroll(bob)).bottom - 600, { timeoutMs: 5_000 });
      await new Promise((r) => setTimeout(r, 300));
      const { top } = await scroll(bob);

      const five = Array.from({ length: 5 }, (_, i) => `new ${i} ${nonce()}`);
      await typeAll(ann, five);
      await waitForMessage(bob, five.at(-1));
      await jumpButton(bob).filter({ hasText: /\(5 new\)/ }).waitFor();
      assert.equal((await jumpButton(bob).innerText()).trim(), 'Jump to latest (5 new)');
      assert.equal((await scroll(bob)).top, top, 'the view moved while messages arrived below it');
      assert.ok(!(await inView(messageItem(bob, five[0]))), 'the new messages are in view already');

      await jumpButton(bob).click();
      await waitFor('Jump to latest to reach the bottom', () => atBottom(bob), { timeoutMs: 5_000 });
      await jumpButton(bob).waitFor({ state: 'detached' });
      assert.ok(await inView(messageItem(bob, five.at(-1))));
      // Following again: the next message scrolls into view.
      const next = `and then ${nonce()}`;
      await send(ann, next);
      await waitForMessage(bob, next);
      await waitFor('bob to follow', () => atBottom(bob), { timeoutMs: 5_000 });

      // Scrolled up once more, bob sends: the view stays where he reads, and his message waits below too.
      await messageLog(bob).hover();
      await bob.mouse.wheel(0, -1500);
      await waitFor('bob scrolled up', async () => (await scroll(bob)).top < (await scroll(bob)).bottom - 600, { timeoutMs: 5_000 });
      await new Promise((r) => setTimeout(r, 300));
      const before = (await scroll(bob)).top;
      const own = `from bob ${nonce()}`;
      await send(bob, own);
      await waitForMessage(bob, own);
      await jumpButton(bob).filter({ hasText: /\(1 new\)/ }).waitFor();
      assert.equal((await scroll(bob)).top, before, 'the view moved when bob sent');
      await jumpButton(bob).click();
      await waitFor('the bottom', () => atBottom(bob), { timeoutMs: 5_000 });
      assert.ok(await inView(messageItem(bob, own)));
      // Scrolling down by hand to the bottom takes the button away too.
      await messageLog(bob).hover();
      await bob.mouse.wheel(0, -1500);
      await waitFor('bob scrolled up', async () => (await scroll(bob)).top < (await scroll(bob)).bottom - 600, { timeoutMs: 5_000 });
      await new Promise((r) => setTimeout(r, 300));
      const one = `one more ${nonce()}`;
      await send(ann, one);
      await jumpButton(bob).filter({ hasText: /\(1 new\)/ }).waitFor();
      await bob.mouse.wheel(0, 5000);
      await jumpButton(bob).waitFor({ state: 'detached' });
    } finally {
      await closeAll(ann, bob);
    }
  });

  test('coming back to a room with unread messages: a "New" divider above the first of them, in view; gone once read', T, async () => {
    const room = `back${nonce()}`;
    const other = `away${nonce()}`;
    let ann;
    let bob;
    try {
      [ann, bob] = await Promise.all([tab('ann', room), tab('bob', room)]);
      const read = Array.from({ length: 30 }, (_, i) => `read ${i} ${nonce()}`);
      await submitAll(ann, read);
      await waitForMessage(bob, read.at(-1));
      const divider = messageLog(bob).getByRole('separator', { name: 'New messages' });
      assert.equal(await divider.count(), 0, 'a divider in a room read to its end');

      await joinRoom(bob, other);
      const unread = Array.from({ length: 30 }, (_, i) => `unread ${i} ${nonce()}`);
      await submitAll(ann, unread);
      await nav(bob).getByRole('link', { name: new RegExp(`^#${room}\\b`) }).filter({ hasText: '30' }).waitFor();
      await openRoom(bob, room);

      await divider.waitFor();
      assert.equal((await divider.innerText()).trim(), 'New');
      // Right above the first unread message (the last read one just before it).
      const around = await divider.evaluate((el) => [el.previousElementSibling, el.nextElementSibling]
        .map((li) => li?.querySelector('.text')?.textContent));
      assert.deepEqual(around, [read.at(-1), unread[0]]);
      // The room opens there, not at its bottom.
      await waitFor('the divider in view', () => inView(divider), { timeoutMs: 5_000 });
      assert.ok(!(await atBottom(bob)), 'the room opened at its bottom, past the unread messages');
      // It stays while bob reads on; a message arriving meanwhile is counted below him.
      const meanwhile = `meanwhile ${nonce()}`;
      await send(ann, meanwhile);
      await waitForMessage(bob, meanwhile);
      await jumpButton(bob).filter({ hasText: /\(1 new\)/ }).waitFor();
      assert.ok(await inView(divider), 'the view moved while bob read');
      await jumpButton(bob).click();
      await waitFor('the bottom', () => atBottom(bob), { timeoutMs: 5_000 });
      assert.equal(await divider.count(), 1);

      // Away and back with nothing new: no divider, and the room opens at its bottom.
      await openRoom(bob, other);
      await openRoom(bob, room);
      await waitForMessage(bob, meanwhile);
      await waitFor('the bottom', () => atBottom(bob), { timeoutMs: 5_000 });
      assert.equal(await divider.count(), 0);
    } finally {
      await closeAll(ann, bob);
    }
  });

  test('a reply\'s quote reveals the message it answers, drawn again from far above: scrolled to, focused and marked', T, async () => {
    const room = `reveal${nonce()}`;
    let ann;
    let bob;
    try {
      [ann, bob] = await Promise.all([tab('ann', room), tab('bob', room)]);
      const original = `the original ${nonce()}`;
      await send(ann, original);
      await waitForMessage(bob, original);
      // More than the list draws (100 lines) come after it.
      const filler = Array.from({ length: 120 }, (_, i) => `later ${i} ${nonce()}`);
      await submitAll(ann, filler);
      await waitForMessage(bob, filler.at(-1));
      assert.equal(await messageItem(bob, original).count(), 0, 'the original is still drawn: too few lines for this test');

      // bob answers it: shown again by "Show earlier messages", Reply, then he writes and sends.
      await bob.getByRole('button', { name: 'Show earlier messages' }).click();
      const item = messageItem(bob, original);
      await item.hover();
      await item.getByRole('button', { name: 'Reply', exact: true }).click();
      const answer = `I answer ${nonce()}`;
      await send(bob, answer);
      await waitForMessage(bob, answer);

      const { item: reply } = await waitForMessage(ann, answer);
      assert.equal(await messageItem(ann, original).count(), 0, 'ann\'s list draws the original already');
      const quote = reply.getByRole('button', { name: /^In reply to ann: the original/ });
      // What a sighted reader sees (the words for screen readers left out).
      const seen = await quote.evaluate((el) => {
        const copy = el.cloneNode(true);
        for (const hidden of copy.querySelectorAll('.visually-hidden')) hidden.remove();
        return copy.textContent;
      });
      assert.equal(seen, `↩ ann: ${original}`);
      await quote.click();
      const shown = messageItem(ann, original);
      await shown.waitFor();
      await waitFor('the original in view', () => inView(shown), { timeoutMs: 5_000 });
      assert.ok(await shown.evaluate((el) => el === document.activeElement), 'the original does not have the focus');
      assert.match((await shown.getAttribute('class')) ?? '', /\brevealed\b/);
      await waitFor('the mark to go', async () => !/\brevealed\b/.test((await shown.getAttribute('class')) ?? ''), { timeoutMs: 5_000 });
      // ann reads there: a new message waits below her.
      const next = `meanwhile ${nonce()}`;
      await send(bob, next);
      await jumpButton(ann).filter({ hasText: /\(1 new\)/ }).waitFor();
      assert.ok(await inView(shown), 'the view moved');
    } finally {
      await closeAll(ann, bob);
    }
  });

  test('message actions: shown on hover and focus, reached by the keyboard; React\'s picker works from the keyboard', T, async () => {
    const room = `actions${nonce()}`;
    let ann;
    let bob;
    try {
      [ann, bob] = await Promise.all([tab('ann', room), tab('bob', room)]);
      const hers = `hers ${nonce()}`;
      await send(ann, hers);
      const { item } = await waitForMessage(bob, hers);
      const { item: own } = await waitForMessage(ann, hers);
      const names = async (it) => (await it.locator('.actions button').allTextContents()).map((t) => t.trim());
      assert.deepEqual(await names(item), ['Reply', 'React', 'Mute'], 'on a message of someone else');
      assert.deepEqual(await names(own), ['Reply', 'React', 'Edit', 'Delete'], 'on an own message');
      const opacity = () => item.locator('.actions').evaluate((el) => getComputedStyle(el).opacity);
      await bob.mouse.move(0, 0);
      assert.equal(await opacity(), '0', 'the actions show without hover or focus');
      await item.hover();
      assert.equal(await opacity(), '1', 'hovered, the actions do not show');
      await bob.mouse.move(0, 0);

      // The keyboard: Tab from the log reaches Reply, then React; Enter opens the picker on its first emoji.
      await messageLog(bob).focus();
      await bob.keyboard.press('Tab');
      const focused = () => bob.evaluate(() => document.activeElement?.getAttribute('aria-label') || document.activeElement?.textContent?.trim());
      assert.equal(await focused(), 'Reply');
      assert.equal(await opacity(), '1', 'focused, the actions do not show');
      await bob.keyboard.press('Tab');
      assert.equal(await focused(), 'React');
      await bob.keyboard.press('Enter');
      const picker = bob.getByRole('group', { name: 'Reactions' });
      await picker.waitFor();
      assert.deepEqual((await picker.getByRole('button').allTextContents()).map((t) => t.trim()), ['👍', '❤️', '😂', '🎉', '😮', '😢']);
      await waitFor('the focus on 👍', async () => (await focused()) === '👍', { timeoutMs: 5_000 });
      // Escape closes it, the focus back on React.
      await bob.keyboard.press('Escape');
      await picker.waitFor({ state: 'detached' });
      assert.equal(await focused(), 'React');
      // Again: ❤️, chosen with Enter; the focus back on React (of the message drawn anew); both tabs see it.
      await bob.keyboard.press('Enter');
      await waitFor('the focus on 👍', async () => (await focused()) === '👍', { timeoutMs: 5_000 });
      await bob.keyboard.press('Tab');
      assert.equal(await focused(), '❤️');
      await bob.keyboard.press('Enter');
      await picker.waitFor({ state: 'detached' });
      await waitFor('the focus on React', async () => (await focused()) === 'React', { timeoutMs: 5_000 });
      const chip = (page) => messageItem(page, hers).locator('.reactions').getByRole('button', { name: /^❤️ 1: bob$/ });
      await chip(ann).waitFor();
      await chip(bob).waitFor();
      assert.equal(await chip(bob).getAttribute('aria-pressed'), 'true');
      assert.equal(await chip(ann).getAttribute('aria-pressed'), 'false');
      // Pressed again (Enter on it), it is taken back; the focus goes to React, the button gone.
      await chip(bob).focus();
      await bob.keyboard.press('Enter');
      await messageItem(ann, hers).locator('.reactions').waitFor({ state: 'detached' });
      await waitFor('the focus on React', async () => (await focused()) === 'React', { timeoutMs: 5_000 });
    } finally {
      await closeAll(ann, bob);
    }
  });
});
