// End-to-end, issue 14: message text drawn as rich text (src/chat/markup.rs, src/ui/markup.rs) from DOM nodes,
// safely. bob writes through the composer and, as a stock MQTT client, with mosquitto_pub; alice and carol read
// in their own browsers, against a real Mosquitto running the repo's mosquitto.conf and mosquitto.acl. What is
// sent stays the text as typed (a plain MQTT client shows it as written): only the page reads it as markup.
// Run with `scripts/test e2e`.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { describe, test } from 'node:test';
import { run, useSetUp } from './harness.mjs';
import { closeAll, messages, nonce, openJoined, send } from './tabs.mjs';

const T = { timeout: 240_000 };
const env = useSetUp();

const AXE_SOURCE = fs.readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

const tab = (name, options = {}) => openJoined(env.browser, env.appUrl, name, options);

/** Publishes `text` as `sender`'s message in #general with the stock client, as any MQTT client may. */
async function pub(sender, text) {
  const payload = JSON.stringify({ id: `pub-${nonce()}`, text, sent_at: Date.now() });
  const args = ['-h', '127.0.0.1', '-p', String(env.broker.tcpPort), '-q', '1', '-u', sender,
    '-t', `chat/rooms/general/messages/${sender}`, '-m', payload];
  const { code, output } = await run('mosquitto_pub', args);
  assert.equal(code, 0, `mosquitto_pub failed: ${output}`);
}

/** The one message in `page`'s log that holds `tag`, once it is there. */
async function item(page, tag) {
  const found = messages(page).filter({ hasText: tag });
  await found.first().waitFor();
  assert.equal(await found.count(), 1, `${page.label}: ${tag} shown more than once`);
  return found;
}

/** Every `selector` element in `scope`, as [textContent, attributes...]. */
const all = (scope, selector, ...attributes) =>
  scope.locator(selector).evaluateAll(
    (els, names) => els.map((e) => [e.textContent, ...names.map((n) => e.getAttribute(n))]),
    attributes,
  );

const LONG_WORD = 'w'.repeat(300);
const LONG_URL = `https://example.com/${'u'.repeat(280)}`;
const HTML = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>';

/**
 * One line with every inline: what the composer (a single line, for now) and a stock client can both send. It
 * ends in a plain word: at the end of `@carol` the composer would offer to complete the name.
 */
const inline = (tag) =>
  `${tag} **bold** _italic_ ~~strike~~ \`co_de **not bold**\` snake_case_name ` +
  `see https://example.com/wiki/Rust_(language). or (mailto:bob@example.com), ` +
  'not javascript:alert(1) nor JAVASCRIPT:alert(2) nor data:text/html,hi nor vbscript:x ' +
  `${HTML} ${LONG_WORD} ${LONG_URL} hi @alice, @carol and that is all`;

/** Asserts how `page` (the tab of `me`) draws the message tagged `tag` sent as `inline(tag)`. */
async function assertInline(page, tag, me) {
  const line = await item(page, tag);
  const text = line.locator('.text');
  assert.deepEqual(await all(text, 'strong'), [['bold']]);
  assert.deepEqual(await all(text, 'em'), [['italic']]);
  assert.deepEqual(await all(text, 's'), [['strike']]);
  assert.deepEqual(await all(text, 'code'), [['co_de **not bold**']], 'nothing inside code is markup');
  assert.match(await text.textContent(), /snake_case_name/);

  // Links: http(s) and mailto only, each its own text, opening in a new tab that learns nothing of this one.
  assert.deepEqual(await all(text, 'a', 'href', 'rel', 'target'), [
    ['https://example.com/wiki/Rust_(language)', 'https://example.com/wiki/Rust_(language)', 'noopener noreferrer', '_blank'],
    ['mailto:bob@example.com', 'mailto:bob@example.com', 'noopener noreferrer', '_blank'],
    [LONG_URL, LONG_URL, 'noopener noreferrer', '_blank'],
  ]);
  await text.getByRole('link', { name: 'mailto:bob@example.com' }).waitFor();
  for (const scheme of ['javascript:', 'data:', 'vbscript:']) {
    assert.equal(await page.locator(`.messages a[href^="${scheme}" i]`).count(), 0, `a ${scheme} link`);
  }
  const shown = await text.textContent();
  for (const words of ['javascript:alert(1)', 'JAVASCRIPT:alert(2)', 'data:text/html,hi', HTML, LONG_WORD]) {
    assert.ok(shown.includes(words), `${page.label}: ${words} is not shown as text`);
  }

  // HTML in a message is text: nothing of it becomes an element, nothing runs.
  assert.equal(await page.locator('.messages img, .messages script').count(), 0);
  assert.equal(await page.evaluate(() => window.__xss), undefined, 'markup in a message ran');

  // A mention of the reader is marked; anyone else's is only set apart.
  const named = ['@alice', '@carol'];
  assert.deepEqual(await all(text, 'mark'), named.filter((n) => n === `@${me}`).map((n) => [n]));
  assert.deepEqual(await all(text, '.mention'), named.filter((n) => n !== `@${me}`).map((n) => [n]));
}

/** The log never scrolls sideways, whatever the messages hold. */
async function assertNoSidewaysScroll(page) {
  const { scrollWidth, clientWidth, wide } = await page.evaluate(() => {
    const log = document.querySelector('[role=log]');
    const wide = [...log.querySelectorAll('li.message')].filter((li) => li.scrollWidth > li.clientWidth).length;
    return { scrollWidth: log.scrollWidth, clientWidth: log.clientWidth, wide };
  });
  assert.ok(scrollWidth <= clientWidth, `${page.label}: the log is ${scrollWidth} px wide in ${clientWidth} px`);
  assert.equal(wide, 0, `${page.label}: a message is wider than its box`);
}

/** axe-core's WCAG 2.1 A and AA violations in `page`'s message log, light and dark (contrast of code, quotes, marks). */
async function axeLog(page) {
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) await page.evaluate(AXE_SOURCE);
  const found = [];
  for (const colorScheme of ['light', 'dark']) {
    await page.emulateMedia({ colorScheme });
    const violations = await page.evaluate(async () => {
      const { violations } = await window.axe.run('[role=log]', {
        runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
        resultTypes: ['violations'],
      });
      return violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
    });
    found.push(...violations.map((v) => `${colorScheme}: ${v}`));
  }
  return found;
}

describe('rich text', () => {
  test('links, bold, italic, strike, code and mentions, from the composer and from a stock client', T, async () => {
    let alice;
    let bob;
    let carol;
    try {
      [alice, bob, carol] = await Promise.all([
        tab('alice'),
        tab('bob'),
        // A phone: long words and URLs must wrap in a narrow log too.
        tab('carol', { viewport: { width: 390, height: 800 } }),
      ]);
      const typed = `typed-${nonce()}`;
      await send(bob, inline(typed));
      const published = `published-${nonce()}`;
      await pub('bob', inline(published));
      for (const tag of [typed, published]) {
        await assertInline(alice, tag, 'alice');
        await assertInline(carol, tag, 'carol');
      }
      // The sender's own line is drawn the same way, marking nobody.
      await assertInline(bob, typed, 'bob');
      const shown = await messages(bob).filter({ hasText: typed }).locator('.text').textContent();
      assert.ok(shown.includes(' bold italic strike '), 'the markers are shown');
      for (const page of [alice, carol]) await assertNoSidewaysScroll(page);
    } finally {
      await closeAll(alice, bob, carol);
    }
  });

  test('line breaks, fenced code and quotes from a stock client; a long word and URL wrap', T, async () => {
    let alice;
    let carol;
    try {
      [alice, carol] = await Promise.all([
        tab('alice'),
        tab('carol', { viewport: { width: 390, height: 800 } }),
      ]);
      const tag = `lines-${nonce()}`;
      await pub('bob', [
        `${tag} first line`,
        'second line with **bold**',
        '> quoted _words_',
        '> and more',
        '```rust',
        'fn main() {',
        `    let long = "${LONG_WORD}"; // **not bold** https://example.com`,
        '}',
        '```',
        `after the code ${LONG_URL}`,
        '@alice and @carol: see ~~below~~ `above`',
      ].join('\n'));
      for (const page of [alice, carol]) {
        const text = (await item(page, tag)).locator('.text');
        const lines = (await text.innerText()).split('\n');
        assert.equal(lines[0], `${tag} first line`);
        assert.equal(lines[1], 'second line with bold', `${page.label}: the line break is not shown`);
        assert.deepEqual(await all(text, 'strong'), [['bold']]);
        assert.deepEqual(await all(text, 'blockquote'), [['quoted words\nand more']]);
        assert.deepEqual(await all(text, 'blockquote em'), [['words']]);
        assert.deepEqual(await all(text, 'pre > code'), [[`fn main() {\n    let long = "${LONG_WORD}"; // **not bold** https://example.com\n}`]]);
        assert.equal(await text.locator('pre a, pre strong').count(), 0, 'nothing inside a code block is markup');
        assert.deepEqual(await all(text, 'a', 'href'), [[LONG_URL, LONG_URL]]);
        assert.deepEqual(await all(text, 'mark'), [[page === alice ? '@alice' : '@carol']]);
        assert.deepEqual(await all(text, '.mention'), [[page === alice ? '@carol' : '@alice']]);
        assert.equal(lines.at(-1), '@alice and @carol: see below above');
        await assertNoSidewaysScroll(page);
      }
      // Every kind of rich text is on screen: its colours, light and dark.
      assert.deepEqual(await axeLog(alice), [], 'axe-core found violations in the log');
    } finally {
      await closeAll(alice, carol);
    }
  });
});
