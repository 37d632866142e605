// End-to-end: the multi-line composer (Shift+Enter, growing, the @ picker, Up to edit) and Search (Ctrl+K and
// `/`, results from every conversation and from the on-device store, a chosen one shown in its conversation),
// with two or three tabs, each in its own browser context, against a real Mosquitto. Run with `scripts/test e2e`.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { startBroker, useSetUp, waitFor } from './harness.mjs';
import {
  closeAll, messageItem, messages, nonce, openJoined, send, submitAll, waitForMessage, waitForOnline,
  waitForStatus,
} from './tabs.mjs';

const T = { timeout: 240_000 };
const env = useSetUp();

const tab = (name, hash = '') => openJoined(env.browser, `${env.appUrl}${hash}`, name);
const composer = (page) => page.getByRole('textbox', { name: 'Message' });
const searchbox = (page) => page.getByRole('searchbox', { name: 'Search' });
const heading = (page) => page.getByRole('banner').getByRole('heading', { level: 1 });
const height = (locator) => locator.evaluate((e) => e.getBoundingClientRect().height);
const focused = (locator) => locator.evaluate((e) => e === document.activeElement);

/** The log item holding `text` (the text of a multi-line message as it reads, lines joined by "\n"). */
const itemWith = (page, text) => messages(page).filter({ hasText: text });

/** Waits until `item` lies wholly inside the message log's visible area. */
async function waitInView(page, item, what) {
  await item.first().waitFor();
  await waitFor(`${page.label}: ${what} in view`, () =>
    item.first().evaluate((el) => {
      const log = el.closest('[role="log"]').getBoundingClientRect();
      const r = el.getBoundingClientRect();
      return r.height > 0 && r.top >= log.top - 1 && r.bottom <= log.bottom + 1;
    }), { timeout: 10_000 });
}

describe('composer', () => {
  test('Shift+Enter starts a new line, Enter sends both lines to the other tab; the field grows to six lines, then scrolls', T, async () => {
    const hash = `#lines${nonce()}`;
    const n = nonce();
    let alice;
    let bob;
    try {
      [alice, bob] = await Promise.all([tab('alice', hash), tab('bob', hash)]);
      const box = composer(alice);
      await box.click();
      const oneLine = await height(box);
      await alice.keyboard.type(`first line ${n}`);
      await alice.keyboard.press('Shift+Enter');
      await alice.keyboard.type(`second line ${n}`);
      assert.equal(await box.inputValue(), `first line ${n}\nsecond line ${n}`, 'Shift+Enter sent, or made no line');
      const twoLines = await height(box);
      assert.ok(twoLines > oneLine * 1.3, `two lines are ${twoLines} px high, one ${oneLine}`);

      // Enter while an input method composes confirms the composition: nothing is sent.
      await box.evaluate((e) => e.dispatchEvent(new KeyboardEvent('keydown', {
        key: 'Enter', code: 'Enter', isComposing: true, bubbles: true, cancelable: true,
      })));
      assert.equal(await messages(alice).count(), 0, 'Enter sent while composing');

      await box.press('Enter');
      for (const page of [alice, bob]) {
        const item = itemWith(page, `second line ${n}`);
        await item.waitFor();
        assert.equal((await item.locator('.text').innerText()).trim(), `first line ${n}\nsecond line ${n}`,
          `${page.label}: the line break did not survive`);
      }
      assert.equal(await box.inputValue(), '');
      await waitFor('the field to shrink back to one line', async () => (await height(box)) <= oneLine + 1);

      // Ten lines: the field stops at six and scrolls.
      const line = twoLines - oneLine;
      const sixLines = oneLine + 5 * line;
      await box.fill(Array.from({ length: 10 }, (_, i) => `line ${i}`).join('\n'));
      await waitFor('the field to grow', async () => (await height(box)) > oneLine + 4 * line);
      const tall = await height(box);
      const { scroll, client } = await box.evaluate((e) => ({ scroll: e.scrollHeight, client: e.clientHeight }));
      assert.ok(Math.abs(tall - sixLines) < line / 2, `ten lines made the field ${tall} px high (six lines: ${sixLines})`);
      assert.ok(scroll > client, 'ten lines do not scroll');
      await box.fill('');
    } finally {
      await closeAll(alice, bob);
    }
  });

  test('@ offers the people of the room by the letters typed; Up/Down move, Enter, Tab or a click insert, Escape closes', T, async () => {
    const room = `at${nonce()}`;
    let alice;
    let bob;
    let bea;
    let bert;
    try {
      [alice, bob, bea, bert] = await Promise.all([
        tab('alice', `#${room}`), tab('bob', `#${room}`), tab('bea', `#${room}`), tab('bert'),
      ]);
      await waitForOnline(alice, ['alice', 'bea', 'bob'], `In #${room}`);
      await waitForOnline(alice, ['alice', 'bea', 'bert', 'bob']);
      const box = composer(alice);
      await box.click();
      await alice.keyboard.type('hi @b');
      const picker = alice.getByRole('listbox', { name: 'People' });
      await picker.waitFor();
      const options = picker.getByRole('option');
      // bert is online, but not in this room; alice is never offered to herself.
      assert.deepEqual((await options.allInnerTexts()).map((s) => s.trim()), ['bea', 'bob']);
      assert.equal(await box.getAttribute('aria-autocomplete'), 'list');
      assert.equal(await box.getAttribute('aria-controls'), await picker.getAttribute('id'));
      const active = async () => alice.locator(`[id="${await box.getAttribute('aria-activedescendant')}"]`);
      assert.equal((await (await active()).innerText()).trim(), 'bea');
      assert.equal(await (await active()).getAttribute('aria-selected'), 'true');
      await box.press('ArrowDown');
      assert.equal((await (await active()).innerText()).trim(), 'bob');
      await box.press('Enter');
      assert.equal(await box.inputValue(), 'hi @bob ', 'Enter inserts the name, and does not send');
      await picker.waitFor({ state: 'detached' });
      assert.equal(await box.getAttribute('aria-activedescendant'), null);
      assert.equal(await messages(alice).count(), 0);

      // Case does not matter; Escape closes the picker and keeps the text.
      await alice.keyboard.type('and @BE');
      await picker.waitFor();
      assert.deepEqual((await options.allInnerTexts()).map((s) => s.trim()), ['bea']);
      await box.press('Escape');
      await picker.waitFor({ state: 'detached' });
      assert.equal(await box.inputValue(), 'hi @bob and @BE');
      // Gone, and typed again: Tab inserts.
      for (let i = 0; i < 3; i++) await box.press('Backspace');
      await alice.keyboard.type('@be');
      await picker.waitFor();
      await box.press('Tab');
      assert.equal(await box.inputValue(), 'hi @bob and @bea ');
      assert.ok(await focused(box), 'Tab left the field');
      // A click on an option inserts it too.
      await alice.keyboard.type('or @');
      await picker.waitFor();
      assert.deepEqual((await options.allInnerTexts()).map((s) => s.trim()), ['bea', 'bob']);
      await options.filter({ hasText: 'bob' }).click();
      assert.equal(await box.inputValue(), 'hi @bob and @bea or @bob ');
      assert.ok(await focused(box), 'the click took the focus from the field');
      await box.press('Enter');
      await waitForMessage(bob, 'hi @bob and @bea or @bob');
      // A name typed in full: Enter sends, as it is.
      await alice.keyboard.type('thanks @bob');
      await picker.waitFor();
      await box.press('Enter');
      await waitForMessage(bob, 'thanks @bob');
      assert.equal(await box.inputValue(), '');
    } finally {
      await closeAll(alice, bob, bea, bert);
    }
  });

  test('Up in the empty composer edits the last own message; Escape gives up; the other tab shows the new text, edited', T, async () => {
    const hash = `#edit${nonce()}`;
    const n = nonce();
    let alice;
    let bob;
    try {
      [alice, bob] = await Promise.all([tab('alice', hash), tab('bob', hash)]);
      await send(alice, `first ${n}`);
      await send(bob, `from bob ${n}`);
      await send(alice, `typo ${n}`);
      await waitForMessage(bob, `typo ${n}`);
      await waitForMessage(alice, `from bob ${n}`);
      const box = composer(alice);
      await box.click();
      await box.press('ArrowUp');
      assert.equal(await box.inputValue(), `typo ${n}`, 'Up did not take the last own message');
      const banner = alice.getByText('Editing message');
      await banner.waitFor();
      await alice.getByRole('button', { name: 'Cancel' }).waitFor();
      await box.press('Escape');
      await banner.waitFor({ state: 'detached' });
      assert.equal(await box.inputValue(), '', 'Escape kept the text of the edit');

      await box.press('ArrowUp');
      await banner.waitFor();
      await box.fill(`fixed ${n}`);
      await box.press('Enter');
      await banner.waitFor({ state: 'detached' });
      assert.equal(await box.inputValue(), '');
      for (const page of [bob, alice]) {
        const item = itemWith(page, `fixed ${n}`);
        await item.waitFor();
        await item.filter({ hasText: /edited/ }).waitFor();
        await waitFor(`${page.label}: the old text to go`, async () => (await itemWith(page, `typo ${n}`).count()) === 0);
      }
      assert.equal(await messages(alice).count(), 3, 'the edit was sent as a new message');
    } finally {
      await closeAll(alice, bob);
    }
  });
});

describe('search', () => {
  test('Ctrl+K from anywhere and / outside a text field focus Search', T, async () => {
    let alice;
    try {
      alice = await tab('alice');
      const box = composer(alice);
      const search = searchbox(alice);
      await box.click();
      await alice.keyboard.press('Control+K');
      assert.ok(await focused(search), 'Ctrl+K did not focus Search');
      await search.press('Escape');
      // `/` in a text field is typed.
      await box.click();
      await alice.keyboard.type('a/b');
      assert.equal(await box.inputValue(), 'a/b');
      assert.ok(await focused(box));
      await box.fill('');
      // Elsewhere it is the shortcut, and is not typed.
      await alice.getByRole('log', { name: 'Messages' }).focus();
      await alice.keyboard.press('/');
      assert.ok(await focused(search), '/ did not focus Search');
      assert.equal(await search.inputValue(), '');
    } finally {
      await closeAll(alice);
    }
  });

  test('a message of another room is found, with room, sender, time and match; choosing it opens the room with it in view', T, async () => {
    const room = `far${nonce()}`;
    const n = nonce();
    const needle = `needle ${n}`;
    let alice;
    let bob;
    try {
      [alice, bob] = await Promise.all([tab('alice', `#${room}`), tab('bob', `#${room}`)]);
      await alice.getByRole('navigation', { name: 'Rooms' }).getByRole('link', { name: /#general/ }).click();
      await heading(alice).filter({ hasText: '#general' }).waitFor();
      await send(bob, `the ${needle} in the haystack`);
      // Far back: more messages after it than the list draws at first.
      const fillers = Array.from({ length: 130 }, (_, i) => `hay ${n} ${i}`);
      await submitAll(bob, fillers);
      await waitForMessage(bob, fillers.at(-1));

      const search = searchbox(alice);
      await alice.keyboard.press('Control+K');
      await search.fill(`hay ${n} 129`);
      await alice.locator('.search-results').getByRole('button').first().waitFor();
      await search.fill(needle.toUpperCase());
      const results = alice.getByRole('list', { name: 'Search results' }).getByRole('button');
      await waitFor('one result', async () => (await results.count()) === 1);
      const hit = results.first();
      assert.equal((await hit.locator('.where').innerText()).trim(), `#${room}`);
      assert.equal((await hit.locator('.sender').innerText()).trim(), 'bob');
      assert.match(await hit.locator('time').innerText(), /\d:\d\d/);
      assert.ok(await hit.locator('time').getAttribute('datetime'));
      assert.equal(await hit.locator('mark').innerText(), needle);
      assert.equal((await hit.locator('.text').innerText()).trim(), `the ${needle} in the haystack`);

      // Escape closes the results; they come back with the focus.
      await search.press('Escape');
      await results.first().waitFor({ state: 'detached' });
      await search.blur();
      await search.focus();
      await hit.click();
      await heading(alice).filter({ hasText: `#${room}` }).waitFor();
      await waitInView(alice, messageItem(alice, `the ${needle} in the haystack`), 'the message chosen');
    } finally {
      await closeAll(alice, bob);
    }
  });

  test('a message from before a reload is found in the on-device store, with the broker gone', T, async () => {
    const broker = await startBroker({ name: 'mosquitto-search' });
    const n = nonce();
    const room = `kept${n}`;
    let alice;
    try {
      alice = await openJoined(env.browser, `${env.serverUrl}?broker=${broker.wsUrl}#${room}`, 'alice');
      await send(alice, `kept on the device ${n}`);
      await alice.locator('li.message.own:not(.pending)', { hasText: `kept on the device ${n}` }).waitFor();
      await alice.getByRole('navigation', { name: 'Rooms' }).getByRole('link', { name: /#general/ }).click();
      await heading(alice).filter({ hasText: '#general' }).waitFor();
      await broker.stop();
      await waitForStatus(alice, /Reconnecting/);
      await alice.reload();
      await waitForStatus(alice, /Disconnected|Connecting|Reconnecting/);

      await alice.keyboard.press('Control+K');
      await searchbox(alice).fill(`DEVICE ${n}`);
      const hit = alice.getByRole('list', { name: 'Search results' }).getByRole('button');
      await hit.first().waitFor();
      assert.equal(await hit.count(), 1);
      assert.equal((await hit.locator('.where').innerText()).trim(), `#${room}`);
      assert.equal((await hit.locator('.sender').innerText()).trim(), 'alice');
      assert.equal(await hit.locator('mark').innerText(), `device ${n}`);
      // The keyboard alone: Down to the result, Enter.
      await searchbox(alice).press('ArrowDown');
      assert.ok(await focused(hit.first()), 'Down did not reach the result');
      await alice.keyboard.press('Enter');
      await heading(alice).filter({ hasText: `#${room}` }).waitFor();
      await waitInView(alice, messageItem(alice, `kept on the device ${n}`), 'the message chosen');
    } finally {
      await closeAll(alice);
      await broker.stop();
    }
  });
});
