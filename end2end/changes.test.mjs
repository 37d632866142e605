// End-to-end: changes to messages — edit, delete, react, reply — seen live by every tab and by a tab that joins
// later, and forged changes (a stock MQTT client under the shipped ACL) that change nothing. Real Mosquitto with
// the repo's mosquitto.conf and mosquitto.acl, real headless Chromium, one browser context per person.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { run, useSetUp } from './harness.mjs';
import { closeAll, messageItem, messages, newPage, join, nonce, send, waitForMessage } from './tabs.mjs';

const T = { timeout: 240_000 };
const env = useSetUp();

/** A tab joined as `name` in room `room`. */
async function tab(name, room) {
  const page = await newPage(env.browser, name, `${env.appUrl}#${room}`);
  await join(page, name);
  return page;
}

function pub(args) {
  return run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(env.broker.tcpPort), '-q', '1', ...args]);
}

/** Shows a message's actions (they appear on hover and focus) and clicks the one named `name`. */
async function act(item, name) {
  await item.hover();
  await item.getByRole('button', { name, exact: true }).click();
}

/** The reaction buttons under a message: their visible texts, e.g. ["👍 2"]. */
async function reactions(item) {
  return (await item.locator('.reactions button').allTextContents()).map((t) => t.replace(/\s+/g, ' ').trim());
}

async function waitForReactions(item, expected) {
  const deadline = Date.now() + 30_000;
  let got;
  for (;;) {
    got = await reactions(item);
    if (JSON.stringify(got) === JSON.stringify(expected)) return;
    if (Date.now() > deadline) assert.fail(`reactions are ${JSON.stringify(got)}, expected ${JSON.stringify(expected)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function react(page, item, emoji) {
  await act(item, 'React');
  await page.getByRole('group', { name: 'Reactions' }).getByRole('button', { name: emoji, exact: true }).click();
}

describe('changes to messages', () => {
  test('edit, react, reply and delete: every tab sees each live, and a tab that joins later sees the room as it is now', T, async () => {
    const room = `changes${nonce()}`;
    let alice;
    let bob;
    let carol;
    try {
      [alice, bob] = await Promise.all([tab('alice', room), tab('bob', room)]);
      const typo = `helo wrold ${nonce()}`;
      const fixed = typo.replace('helo wrold', 'hello world');
      await send(alice, typo);
      await waitForMessage(bob, typo);

      // Edit: the composer takes the text; Enter saves it; everyone sees the new text, marked edited.
      await act(messageItem(alice, typo), 'Edit');
      const box = alice.getByRole('textbox', { name: 'Message' });
      assert.equal(await box.inputValue(), typo, 'the composer holds the text to edit');
      await box.fill(fixed);
      await box.press('Enter');
      for (const page of [alice, bob]) {
        const { item } = await waitForMessage(page, fixed);
        await item.getByText('edited').waitFor();
        assert.equal(await messageItem(page, typo).count(), 0, `${page.label} still shows the old text`);
      }

      // Reactions: bob and alice react, bob takes his back by clicking it again.
      await react(bob, messageItem(bob, fixed), '👍');
      await waitForReactions(messageItem(alice, fixed), ['👍 1']);
      const thumbs = messageItem(alice, fixed).locator('.reactions button').first();
      assert.match(`${await thumbs.getAttribute('aria-label')} ${await thumbs.getAttribute('title')}`, /bob/, 'who reacted is named');
      assert.equal(await thumbs.getAttribute('aria-pressed'), 'false', 'not alice\'s reaction');
      await thumbs.click();
      await waitForReactions(messageItem(bob, fixed), ['👍 2']);
      await messageItem(bob, fixed).locator('.reactions button').first().click();
      await waitForReactions(messageItem(alice, fixed), ['👍 1']);
      await waitForReactions(messageItem(bob, fixed), ['👍 1']);
      // Someone else's reaction draws the line anew: a picker open on it stays open, and still works.
      await act(messageItem(bob, fixed), 'React');
      const picker = bob.getByRole('group', { name: 'Reactions' });
      await picker.waitFor();
      await thumbs.click();
      await waitForReactions(messageItem(bob, fixed), []);
      await react(alice, messageItem(alice, fixed), '👍');
      await waitForReactions(messageItem(bob, fixed), ['👍 1']);
      assert.ok(await picker.isVisible(), 'bob\'s picker closed when alice reacted');
      await picker.getByRole('button', { name: '🎉', exact: true }).click();
      await waitForReactions(messageItem(alice, fixed), ['👍 1', '🎉 1']);

      // Reply: the answered message shows above the composer; the reply quotes it.
      await act(messageItem(bob, fixed), 'Reply');
      await bob.getByText(/Replying to alice/).waitFor();
      const answer = `sure ${nonce()}`;
      await send(bob, answer);
      const { item: reply } = await waitForMessage(alice, answer);
      const quote = reply.locator('.quote');
      await quote.waitFor();
      assert.match(await quote.textContent(), new RegExp(`alice.*${fixed.slice(0, 20)}`));

      // Delete: asks first; declined, nothing happens; accepted, it is gone for everyone.
      const oops = `oops ${nonce()}`;
      await send(alice, oops);
      await waitForMessage(bob, oops);
      alice.once('dialog', (d) => d.dismiss());
      await act(messageItem(alice, oops), 'Delete');
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(await messageItem(bob, oops).count(), 1, 'declined: still there');
      alice.once('dialog', (d) => d.accept());
      await act(messageItem(alice, oops), 'Delete');
      for (const page of [alice, bob]) {
        await messageItem(page, oops).waitFor({ state: 'detached' });
      }

      // Up in the empty composer edits the last own message.
      const again = `${fixed} again`;
      await box.click();
      await box.press('ArrowUp');
      assert.equal(await box.inputValue(), fixed);
      await box.fill(again);
      await box.press('Enter');
      await waitForMessage(bob, again);

      // A late joiner reads the histories: the edited text, no deleted message, the reactions, the reply.
      carol = await tab('carol', room);
      const { item: late } = await waitForMessage(carol, again);
      await late.getByText('edited').waitFor();
      await waitForReactions(late, ['👍 1', '🎉 1']);
      await waitForMessage(carol, answer);
      assert.equal(await messageItem(carol, oops).count(), 0, 'a deleted message came back');
      assert.equal(await messageItem(carol, typo).count(), 0, 'the text before the edit came back');
    } finally {
      await closeAll(alice, bob, carol);
    }
  });

  test('nobody changes another person\'s message: forged edits, deletions and histories from a stock client change nothing', T, async () => {
    const room = `forged${nonce()}`;
    let alice;
    let late;
    try {
      alice = await tab('alice', room);
      const words = `bob's own words ${nonce()}`;
      const bob = await tab('bob', room);
      await send(bob, words);
      const { item } = await waitForMessage(alice, words);
      const id = await item.getAttribute('data-id');
      assert.ok(id, 'the message item names its id');
      await closeAll(bob);

      const to = { sender: 'bob', id };
      const now = Date.now();
      const forged = [
        // Under eve's own topic, naming bob's message.
        ['chat/rooms/ROOM/messages/eve', { kind: 'edit', to, text: 'pwned', sent_at: now }],
        ['chat/rooms/ROOM/messages/eve', { kind: 'delete', to, sent_at: now }],
        // As a "message" of eve's that claims bob's id, edited or deleted.
        ['chat/rooms/ROOM/messages/eve', { id, text: 'pwned', sent_at: now, edited: now }],
        ['chat/rooms/ROOM/messages/eve', { id, sent_at: now, deleted: true }],
        // Under bob's topic: the ACL refuses eve there (the broker drops it).
        ['chat/rooms/ROOM/messages/bob', { kind: 'edit', to, text: 'pwned', sent_at: now }],
        ['chat/rooms/ROOM/messages/bob', { kind: 'delete', to, sent_at: now }],
        // As a direct message to alice.
        ['chat/users/alice/dm/eve', { kind: 'delete', to, sent_at: now }],
        // A newer client's kind of event, and a reaction that is not one of ours.
        ['chat/rooms/ROOM/messages/eve', { kind: 'poll', to, sent_at: now }],
        ['chat/rooms/ROOM/messages/eve', { kind: 'react', to, emoji: 'FREE MONEY', on: true, sent_at: now }],
      ];
      for (const [topic, payload] of forged) {
        const r = await pub(['-u', 'eve', '-t', topic.replace('ROOM', room), '-m', JSON.stringify(payload)]);
        assert.equal(r.code, 0, r.stderr);
      }
      // eve's retained history claims bob's message is deleted; bob's history is not hers to write.
      const today = new Date().toISOString().slice(0, 10);
      for (const topic of [`chat/rooms/${room}/history/${today}/eve`, `chat/rooms/${room}/history/${today}/bob`]) {
        const r = await pub(['-u', 'eve', '-r', '-t', topic, '-m', JSON.stringify([{ id, sent_at: now, deleted: true }])]);
        assert.equal(r.code, 0, r.stderr);
      }
      const marker = `marker ${nonce()}`;
      await pub(['-u', 'eve', '-t', `chat/rooms/${room}/messages/eve`, '-m', marker]);
      await waitForMessage(alice, marker);
      const { item: still } = await waitForMessage(alice, words);
      assert.equal(await still.getByText('edited').count(), 0, 'marked edited');
      assert.equal(await messageItem(alice, 'pwned').count(), 0);
      const shown = await messages(alice).allTextContents();
      assert.ok(!shown.some((t) => t.includes('FREE MONEY') || t.includes('"poll"')), `shown: ${JSON.stringify(shown)}`);

      // A tab that joins now reads bob's history, not eve's claims about it.
      late = await tab('dave', room);
      await waitForMessage(late, words);
      assert.equal(await messageItem(late, 'pwned').count(), 0);
    } finally {
      await closeAll(alice, late);
    }
  });
});
