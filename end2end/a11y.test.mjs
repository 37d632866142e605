// End-to-end: accessibility, shown rather than intended (issue 17). Against the release build, a real Mosquitto
// and headless Chromium:
//
//   - axe-core's WCAG 2.1 A and AA rules in every view (VIEWS below), light and dark, desktop and 360 px: no
//     violation, so a new one fails the suite;
//   - the keyboard alone (Tab, Shift+Tab, Enter, Escape, arrow keys): join, switch rooms, send, the log, every
//     message action, a direct message and back, the panel at 360 px; the focus always seen, never lost, never
//     trapped;
//   - what a screen reader is told: the live regions of the accessibility tree, and what changes in them;
//   - prefers-reduced-motion, and text at 200% (the browser's font size doubled, and the page zoomed to 200%).
//
// axe runs in the page through the DevTools protocol (`page.evaluate` of axe-core's source), as a script typed
// into DevTools' console would: the page's Content-Security-Policy (script-src 'self') stays as it is, with no
// `bypassCSP`, and a <script> with axe in it would be refused (the first test shows both).

import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { brokerConfig, freePort, log, run, start, stop, useSetUp, waitFor } from './harness.mjs';
import {
  CONNECTED, UI_TIMEOUT, closeAll, join, messageItem, newPage, nonce, openJoined, send, typeAll, waitForMessage,
  waitForStatus,
} from './tabs.mjs';

const T = { timeout: 600_000 };
const env = useSetUp();

const require = createRequire(import.meta.url);
const AXE_SOURCE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
/** axe-core's tags for the success criteria of WCAG 2.0 and 2.1, levels A and AA. */
const WCAG21_AA = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];

const WIDTHS = {
  desktop: { viewport: { width: 1100, height: 640 } },
  '360 px': { viewport: { width: 360, height: 640 }, isMobile: true },
};
const ALL = Object.keys(WIDTHS);
const NARROW = ['360 px'];
const SCHEMES = ['light', 'dark'];

const tab = (name, room, options = {}) => openJoined(env.browser, `${env.appUrl}#${room}`, name, options);
const nav = (page) => page.getByRole('navigation', { name: 'Rooms' });
const heading = (page) => page.getByRole('banner').getByRole('heading', { level: 1 });
const messageLog = (page) => page.getByRole('log', { name: 'Messages' });

/** Publishes `message` as `user` with mosquitto_pub (plain text on a message topic: shown as it is). */
function pub(user, topic, message) {
  return run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(env.broker.tcpPort), '-q', '1', '-u', user, '-t', topic,
    '-m', message]);
}

/** The WCAG 2.1 A and AA violations axe-core finds in `page` as it is now: [{rule, impact, help, nodes}]. */
async function axe(page) {
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) await page.evaluate(AXE_SOURCE);
  return page.evaluate(async (values) => {
    const { violations } = await window.axe.run(document, {
      runOnly: { type: 'tag', values },
      resultTypes: ['violations'],
    });
    return violations.map((v) => ({
      rule: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.map((n) => `${n.target.join(' ')}: ${(n.failureSummary ?? '').replace(/\s+/g, ' ')}`),
    }));
  }, WCAG21_AA);
}

// ---- views ------------------------------------------------------------------------------------

/** Runs `f(reader, scene)` for every reader at once. */
const each = (f) => (readers, scene) => Promise.all(readers.map((r) => f(r, scene)));

/** At 360 px, opens the rooms and people panel (the sidebar) if it is closed. */
async function panel(r) {
  if (r.width === 'desktop') return;
  const toggle = r.page.getByRole('button', { name: 'Rooms and people' });
  if ((await toggle.getAttribute('aria-expanded')) !== 'true') await toggle.click();
  await r.page.getByRole('region', { name: 'Online' }).waitFor();
}

/**
 * Every view of the app, in the order of a walk through it: [what, the widths it exists at, how the readers' tabs
 * get there from the view before]. Each is checked in light and dark at each of its widths. A new view (a dialog,
 * a popup, search results) is one more line here.
 */
const VIEWS = [
  ['login', ALL, each(({ page }) => page.getByRole('textbox', { name: 'Name' }).waitFor())],
  ['login: a name refused', ALL, each(async ({ page }) => {
    await page.getByRole('textbox', { name: 'Name' }).fill('a/b');
    await page.getByRole('button', { name: 'Join' }).click();
    await page.getByRole('alert').waitFor();
  })],
  ['accounts mode: a wrong password', ALL, each(async ({ page, name }, s) => {
    await page.getByRole('textbox', { name: 'Name' }).fill(name);
    await page.getByLabel('Password').fill('not the password');
    await page.getByRole('textbox', { name: 'Broker' }).fill(s.accounts.wsUrl);
    await page.getByRole('button', { name: 'Join' }).click();
    await waitForStatus(page, /refused/);
    await page.getByRole('button', { name: 'Reconnect' }).waitFor();
  })],
  ['the chat: lines from others and own, a look-alike name, earlier messages, a notice', ALL, async (readers, s) => {
    // A reload goes back to the login form (a login with a password is not remembered), on the open broker. An
    // unreadable outbox is kept aside with a notice.
    await each(async ({ page, name }) => {
      await page.evaluate((key) => localStorage.setItem(key, 'not json'), `mqtt-chat.outbox.${name}`);
      await page.reload();
      await join(page, name);
      await page.evaluate((room) => { location.hash = room; }, s.room);
      await heading(page).filter({ hasText: `#${s.room}` }).waitFor();
    })(readers);
    const seq = await run('sh', ['-c', `seq -f 'line %03g' 1 105 | mosquitto_pub -h 127.0.0.1 -p ${env.broker.tcpPort} ` +
      `-u zed -q 1 -l -t chat/rooms/${s.room}/messages/zed`]);
    assert.equal(seq.code, 0, seq.output);
    // "аlice" with a Cyrillic а: marked ⚠.
    assert.equal((await pub('аlice', `chat/rooms/${s.room}/messages/аlice`, 'it is me, alice')).code, 0);
    assert.equal((await pub('carol', 'chat/rooms/general/messages/carol', 'in general')).code, 0);
    await send(s.alice, 'Morning! Anyone tried the new broker?');
    await send(s.bob, 'Yes, plain Mosquitto.');
    await each(async ({ page }) => {
      await send(page, 'My own line.');
      await waitForMessage(page, 'Yes, plain Mosquitto.');
      await page.locator('li.message.own', { hasText: 'My own line.' }).locator('.delivery', { hasText: 'sent' }).waitFor();
      await page.getByRole('button', { name: 'Show earlier messages' }).waitFor();
      await page.locator('.status-bar').getByRole('alert').waitFor();
    })(readers);
  }],
  ['rich messages: an edited line, reactions, a reply and its quote; replying, with the reactions picker open', ALL,
    each(async ({ page }) => {
      const own = page.locator('li.message.own', { hasText: 'My own line.' });
      await own.hover();
      await own.getByRole('button', { name: 'Edit', exact: true }).click();
      const box = page.getByRole('textbox', { name: 'Message' });
      await box.fill('My own line, **edited**, see https://example.com/a/long/path');
      await box.press('Enter');
      await page.locator('li.message.own', { hasText: 'My own line, edited' }).locator('.edited').waitFor();
      const bobs = messageItem(page, 'Yes, plain Mosquitto.');
      await bobs.hover();
      await bobs.getByRole('button', { name: 'React', exact: true }).click();
      await page.getByRole('group', { name: 'Reactions' }).getByRole('button', { name: '👍', exact: true }).click();
      await bobs.locator('.reactions button').first().waitFor();
      await bobs.hover();
      await bobs.getByRole('button', { name: 'Reply', exact: true }).click();
      await send(page, 'Agreed, @bob.');
      await page.locator('li.message.own', { hasText: 'Agreed' }).locator('.quote').waitFor();
      // Left open for the check: replying to bob, and the picker on his line.
      await bobs.hover();
      await bobs.getByRole('button', { name: 'Reply', exact: true }).click();
      await page.getByText(/Replying to bob/).waitFor();
      await bobs.hover();
      await bobs.getByRole('button', { name: 'React', exact: true }).click();
      await page.getByRole('group', { name: 'Reactions' }).waitFor();
    })],
  ['someone muted', ALL, each(async ({ page }) => {
    await page.keyboard.press('Escape');
    await page.getByRole('textbox', { name: 'Message' }).focus();
    await page.keyboard.press('Escape');
    await messageItem(page, 'Yes, plain Mosquitto.').getByRole('button', { name: 'Mute', exact: true }).click();
    await messageItem(page, 'Yes, plain Mosquitto.').waitFor({ state: 'detached' });
  })],
  ['the rooms and people panel', NARROW, each(async (r) => {
    await panel(r);
    await r.page.getByRole('region', { name: 'Muted' }).waitFor();
  })],
  ['a direct message', ALL, each(async (r) => {
    await r.page.getByRole('button', { name: 'Dismiss' }).click();
    await panel(r);
    await r.page.getByRole('region', { name: 'Muted' }).getByRole('button', { name: 'Unmute', exact: true }).click();
    await panel(r);
    await r.page.getByRole('region', { name: 'Online' }).getByRole('button', { name: 'Message alice' }).first().click();
    await heading(r.page).filter({ hasText: '@alice' }).waitFor();
    // Enough own lines (which have no buttons) for the log to scroll.
    const lines = Array.from({ length: 16 }, (_, i) => `Hello alice, this is ${r.name}, line ${i + 1}.`);
    await typeAll(r.page, lines);
    await messageItem(r.page, lines.at(-1)).locator('.delivery', { hasText: 'sent' }).waitFor();
  })],
  ['a message not delivered, with Retry', ALL, async (readers, s) => {
    env.broker.pause();
    s.paused = true;
    await each(({ page }) => send(page, 'Nobody hears this yet.'))(readers);
    await each(({ page }) => page.getByRole('button', { name: 'Retry' }).waitFor({ timeout: 60_000 }))(readers);
  }],
  ['the connection lost: reconnecting', ALL, async (readers, s) => {
    await env.broker.crash();
    s.paused = false;
    s.crashed = true;
    await each(async ({ page }) => {
      await waitForStatus(page, /Reconnecting/);
      await page.getByRole('button', { name: 'Retry now' }).waitFor();
    })(readers);
  }],
  ['the composer\'s @ picker', ALL, each(async ({ page }) => {
    const box = page.getByRole('textbox', { name: 'Message' });
    await box.fill('');
    await box.focus();
    await page.keyboard.type('@');
    await page.getByRole('listbox', { name: 'People' }).waitFor();
  })],
  ['search results', ALL, each(async ({ page }) => {
    await page.keyboard.press('Escape');
    await page.getByRole('textbox', { name: 'Message' }).fill('');
    await page.keyboard.press('Control+K');
    await page.getByRole('searchbox', { name: 'Search' }).fill('line');
    await page.getByRole('list', { name: 'Search results' }).getByRole('button').first().waitFor();
  })],
];

/** A Mosquitto on free ports that wants a password (accounts mode), with `users` ([name, password]). */
async function startAccountsBroker(users) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mqtt-chat-a11y-accounts-'));
  fs.chmodSync(dir, 0o755);
  const passwd = path.join(dir, 'passwords');
  fs.writeFileSync(passwd, '', { mode: 0o644 });
  for (const [user, password] of users) {
    const r = await run('mosquitto_passwd', ['-b', passwd, user, password]);
    assert.equal(r.code, 0, r.output);
  }
  fs.chmodSync(passwd, 0o644);
  const tcpPort = await freePort();
  const wsPort = await freePort([tcpPort]);
  const conf = path.join(dir, 'mosquitto.conf');
  const config = brokerConfig(tcpPort, wsPort, dir).replace(/^allow_anonymous true$/m, 'allow_anonymous false');
  fs.writeFileSync(conf, `${config}\npassword_file ${passwd}\n`, { mode: 0o644 });
  const proc = start('mosquitto', ['-c', conf], { name: 'mosquitto-accounts' });
  const broker = {
    wsUrl: `ws://127.0.0.1:${wsPort}`,
    async stop() {
      await stop(proc);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await waitFor('the accounts broker', async () => {
      if (proc.exitCode !== null) throw new Error(`mosquitto exited:\n${proc.output}`);
      return new Promise((resolve) => {
        const socket = net.connect(wsPort, '127.0.0.1', () => resolve(socket.destroy() || true));
        socket.on('error', () => resolve(false));
      });
    }, { timeoutMs: UI_TIMEOUT });
  } catch (err) {
    await broker.stop();
    throw err;
  }
  return broker;
}

describe('axe-core', () => {
  test('runs in the page without relaxing its Content-Security-Policy', T, async () => {
    let page;
    try {
      page = await newPage(env.browser, 'csp', env.appUrl);
      await page.getByRole('textbox', { name: 'Name' }).waitFor();
      const csp = await page.locator('meta[http-equiv="Content-Security-Policy"]').getAttribute('content');
      assert.match(csp, /script-src 'self' 'wasm-unsafe-eval';/);
      await page.evaluate(() => {
        window.__csp = [];
        document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(e.effectiveDirective));
      });
      // The page's own inline scripts are still refused...
      await page.addScriptTag({ content: 'window.__inline = 1;' }).catch(() => {});
      assert.equal(await page.evaluate(() => window.__inline), undefined, 'an inline script ran');
      // ...while axe, evaluated through DevTools, runs, and the page reports no other violation of its policy.
      assert.deepEqual(await axe(page), []);
      assert.match(await page.evaluate(() => window.axe.version), /^4\./);
      assert.deepEqual(await page.evaluate(() => window.__csp), ['script-src-elem']);
    } finally {
      await closeAll(page);
    }
  });

  test('no WCAG 2.1 A or AA violation in any view, light and dark, desktop and 360 px', T, async () => {
    const s = { room: `axe${nonce()}` };
    const readers = [];
    const found = [];
    const table = [];
    try {
      s.accounts = await startAccountsBroker([['alice', 'wonderland']]);
      [s.alice, s.bob] = await Promise.all([tab('alice', s.room), tab('bob', s.room)]);
      for (const [i, [width, options]] of Object.entries(WIDTHS).entries()) {
        const name = ['rita', 'milo'][i];
        readers.push({ width, name, page: await newPage(env.browser, name, `${env.appUrl}#${s.room}`, options) });
      }
      for (const [view, widths, open] of VIEWS) {
        const here = readers.filter((r) => widths.includes(r.width));
        await open(here, s);
        for (const r of here) {
          for (const colorScheme of SCHEMES) {
            await r.page.emulateMedia({ colorScheme });
            const violations = await axe(r.page);
            const nodes = violations.reduce((n, v) => n + v.nodes.length, 0);
            table.push(`${view} | ${r.width} | ${colorScheme} | ${violations.length} (${nodes} nodes)` +
              `${violations.map((v) => ` ${v.rule}: ${v.impact}, ${v.nodes.length}`).join(';')}`);
            found.push(...violations.map((v) => ({ view, width: r.width, colorScheme, ...v })));
          }
        }
      }
    } finally {
      if (s.paused) env.broker.resume();
      if (s.crashed) {
        await env.broker.restart();
        // Back online before they close, so that they say goodbye (no presence is left behind).
        await Promise.all([s.alice, s.bob, ...readers.map((r) => r.page)].map((p) => p && waitForStatus(p, CONNECTED).catch(() => {})));
      }
      await s.accounts?.stop();
      log(`axe-core ${JSON.parse(fs.readFileSync(require.resolve('axe-core/package.json'))).version}, ` +
        `${WCAG21_AA.join(', ')}; view | width | scheme | violations\n${table.join('\n')}`);
      await closeAll(s.alice, s.bob, ...readers.map((r) => r.page));
    }
    const report = found.map((v) => `${v.view}, ${v.width}, ${v.colorScheme}: ${v.rule} (${v.impact}) ${v.help}\n` +
      v.nodes.slice(0, 5).map((n) => `    ${n}`).join('\n')).join('\n');
    assert.equal(found.length, 0, `axe-core found violations:\n${report}`);
  });
});

// ---- keyboard -----------------------------------------------------------------------------------

/**
 * Keyboard helpers for `page`. Every key press is followed by a look at the focus: on an element (not lost to
 * the page), drawn with a focus ring (`:focus-visible` and an outline of at least 2 px) and on screen.
 */
function keyboard(page) {
  /** The focused element: {id, name, title, tag}, or null when nothing is (the page itself). */
  const focused = () => page.evaluate(() => {
    const el = document.activeElement;
    if (!el || el === document.body || el === document.documentElement) return null;
    window.__kbd ??= new WeakMap();
    if (!window.__kbd.has(el)) window.__kbd.set(el, (window.__kbdCount = (window.__kbdCount ?? 0) + 1));
    const style = getComputedStyle(el);
    const rect = el.getBoundingClientRect();
    const label = el.labels?.[0]?.textContent;
    return {
      id: window.__kbd.get(el),
      name: (el.getAttribute('aria-label') || label || el.textContent || '').trim().replace(/\s+/g, ' '),
      title: el.getAttribute('title') ?? '',
      tag: el.tagName.toLowerCase(),
      ring: el.matches(':focus-visible') && style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2,
      shown: el.checkVisibility({ visibilityProperty: true }) && rect.width > 0 && rect.height > 0 &&
        rect.bottom > 0 && rect.top < innerHeight && rect.right > 0 && rect.left < innerWidth,
    };
  });
  const matches = (f, want) => f && (typeof want === 'function' ? want(f) : want instanceof RegExp ? want.test(f.name) : f.name === want);
  const seen = (f, after) => {
    assert.ok(f, `${page.label}: after ${after} the focus is lost (on the page itself)`);
    assert.ok(f.ring, `${page.label}: after ${after} the focus on ${f.tag} "${f.name}" has no visible focus ring`);
    assert.ok(f.shown, `${page.label}: after ${after} the focused ${f.tag} "${f.name}" is not on screen`);
    return f;
  };
  const k = {
    focused,
    /** Presses `key`; the focus must then be seen. */
    async press(key) {
      await page.keyboard.press(key);
      return seen(await focused(), key);
    },
    /** The focus is on `want` (a name, a pattern of names, or a test of {name, title, tag}), and seen. */
    async expect(want, after = 'that') {
      // A change of focus by the page may wait for a frame.
      let f;
      await waitFor(`the focus on ${want}`, async () => matches((f = await focused()), want), { timeoutMs: 5_000, intervalMs: 50 })
        .catch(() => assert.fail(`${page.label}: after ${after} the focus is on ${f ? `${f.tag} "${f.name}"` : 'nothing'}, not ${want}`));
      return seen(f, after);
    },
    /** Tab (or Shift+Tab with `back`) until the focus is on `want`; every step must be seen. */
    async tabTo(want, { back = false, max = 250 } = {}) {
      const key = back ? 'Shift+Tab' : 'Tab';
      for (let i = 0; i < max; i++) {
        await page.keyboard.press(key);
        const f = await focused();
        if (f === null) continue; // wrapped around, past the end of the page
        seen(f, key);
        if (matches(f, want)) return f;
      }
      assert.fail(`${page.label}: ${max} × ${key} never reached ${want}`);
    },
    /**
     * Tab from where the focus is until it comes back there: every control that can take the focus is reached,
     * and none keeps it. Then Shift+Tab, which must go round the same controls the opposite way.
     */
    async cycle() {
      const tabbable = await page.evaluate(() => [...document.querySelectorAll('a[href], button, input, textarea, [tabindex]')]
        .filter((el) => el.tabIndex >= 0 && !el.disabled && el.checkVisibility({ visibilityProperty: true })).length);
      const orders = [];
      for (const key of ['Tab', 'Shift+Tab']) {
        const order = [];
        for (let i = 0; i < tabbable + 5 && new Set(order).size === order.length; i++) {
          await page.keyboard.press(key);
          const f = await focused();
          if (f === null) continue; // past the end of the page, before coming round to its start
          seen(f, key);
          order.push(f.id);
        }
        assert.equal(order.at(-1), order[0], `${page.label}: ${key} never came back round (trapped?)`);
        order.pop();
        assert.equal(order.length, tabbable, `${page.label}: ${key} reached ${order.length} of ${tabbable} controls`);
        orders.push(order);
      }
      const back = [...orders[1]].reverse();
      const from = back.indexOf(orders[0][0]);
      assert.deepEqual([...back.slice(from), ...back.slice(0, from)], orders[0],
        `${page.label}: Shift+Tab does not go round the way Tab does, backwards`);
      return tabbable;
    },
  };
  return k;
}

describe('the keyboard alone', () => {
  test('joins, switches rooms, sends, scrolls the log, reaches every message action, a direct message, and back', T, async () => {
    const room = `keys${nonce()}`;
    let kim;
    let ann;
    let ben;
    try {
      [ann, ben] = await Promise.all([tab('ann', 'general'), tab('ben', 'general')]);
      kim = await newPage(env.browser, 'kim', env.appUrl, WIDTHS.desktop);
      const k = keyboard(kim);
      // The name field has the focus when the page opens; Enter joins; then the composer has it.
      await k.expect('Name', 'the page opened');
      await kim.keyboard.type('kim');
      await kim.keyboard.press('Enter');
      await waitForStatus(kim, CONNECTED);
      await k.expect('Message', 'joining');

      // A new room: back to the Room field, its name, Enter.
      await k.tabTo('Room', { back: true });
      await kim.keyboard.type(room);
      await k.press('Enter');
      await heading(kim).filter({ hasText: `#${room}` }).waitFor();
      // Switch back to #general, which counts one unread: the focus stays on its link.
      await send(ann, 'said while kim was away');
      await nav(kim).getByRole('link', { name: /#general/ }).filter({ hasText: '1' }).waitFor();
      await k.tabTo(/^#general/, { back: true });
      await k.press('Enter');
      await heading(kim).filter({ hasText: '#general' }).waitFor();
      await k.expect(/^#general/, 'opening #general');

      // Send.
      await k.tabTo('Message');
      const text = `typed only ${nonce()}`;
      await kim.keyboard.type(text);
      await k.press('Enter');
      await Promise.all([waitForMessage(ann, text), waitForMessage(ben, text)]);

      // ben fills the log until it scrolls: the log takes the focus and scrolls with the arrow keys, Page Up,
      // Home and End.
      const lines = Array.from({ length: 30 }, (_, i) => `ben's line ${i}`);
      await typeAll(ben, lines);
      await waitForMessage(kim, lines.at(-1));
      await k.tabTo('Messages', { back: true });
      const scroll = () => kim.evaluate(() => {
        const list = document.querySelector('[role=log]');
        return { top: list.scrollTop, bottom: list.scrollHeight - list.clientHeight };
      });
      // (Shift+Tab through the lines' buttons scrolled it: from the bottom.)
      await k.press('End');
      await waitFor('End to reach the bottom', async () => {
        const now = await scroll();
        return now.top >= now.bottom - 1;
      }, { timeoutMs: 5_000 });
      const at = await scroll();
      assert.ok(at.bottom > 0, 'the log does not scroll: too few lines for this test');
      await k.press('ArrowUp');
      await k.press('ArrowUp');
      // (Chromium scrolls smoothly: the position is there a moment later.)
      await waitFor('ArrowUp to scroll the log', async () => (await scroll()).top < at.top, { timeoutMs: 5_000 });
      await k.press('PageUp');
      await k.press('Home');
      await waitFor('Home to reach the top', async () => (await scroll()).top === 0, { timeoutMs: 5_000 });
      await k.press('End');
      await waitFor('End to reach the bottom', async () => {
        const now = await scroll();
        return now.top >= now.bottom - 1;
      }, { timeoutMs: 5_000 });

      // Every message action: Mute on one of ben's lines (Tab from the log); the lines go, the focus goes to
      // the log.
      await k.tabTo((f) => f.name === 'Mute' && f.title.includes('ben'));
      await k.press('Enter');
      await messageItem(kim, lines[0]).waitFor({ state: 'detached' });
      await k.expect('Messages', 'Mute');
      // Unmute, in the Muted section: the lines come back, the focus to the log again.
      await k.tabTo('Unmute', { back: true });
      await k.press('Enter');
      await waitForMessage(kim, lines[0]);
      await k.expect('Messages', 'Unmute');

      // A direct message: ✉ in the online list; the focus stays on it; then the composer, Enter.
      await k.tabTo('Message ann', { back: true });
      await k.press('Enter');
      await heading(kim).filter({ hasText: '@ann' }).waitFor();
      await k.expect('Message ann', 'opening the direct conversation');
      await k.tabTo('Message');
      await kim.keyboard.type('just between us');
      await k.press('Enter');
      await nav(ann).getByRole('link', { name: /@kim/ }).waitFor();
      // And back to #general.
      await k.tabTo(/^#general/, { back: true });
      await k.press('Enter');
      await heading(kim).filter({ hasText: '#general' }).waitFor();
      // Leave the other room: its × goes, the focus to the log.
      await k.tabTo(`Leave #${room}`);
      await k.press('Enter');
      await nav(kim).getByRole('link', { name: new RegExp(`#${room}`) }).waitFor({ state: 'detached' });
      await k.expect('Messages', 'Leave');

      // Retry, on an own line the broker never acknowledged (the broker frozen for 20 s): Shift+Tab from the
      // composer reaches it; Enter sends it again, and the focus goes to the log, where the line is redrawn.
      env.broker.pause();
      try {
        await k.tabTo('Message');
        await kim.keyboard.type('held up');
        await k.press('Enter');
        await kim.getByRole('button', { name: 'Retry' }).waitFor({ timeout: 60_000 });
        await k.tabTo('Retry', { back: true });
        await k.press('Enter');
        await k.expect('Messages', 'Retry');
      } finally {
        env.broker.resume();
      }
      await messageItem(kim, 'held up').locator('.delivery', { hasText: /^sent$/ }).waitFor();

      // Nothing traps the focus: Tab from the top reaches every control and comes back round; Shift+Tab too.
      log(`kim: Tab and Shift+Tab each went round ${await k.cycle()} controls`);
    } finally {
      await closeAll(kim, ann, ben);
    }
  });

  test('at 360 px the rooms and people panel opens, and closes with Escape or a choice, the focus back on ☰', T, async () => {
    const room = `narrow${nonce()}`;
    let mia;
    let ann;
    try {
      ann = await tab('ann', 'general');
      mia = await newPage(env.browser, 'mia', env.appUrl, WIDTHS['360 px']);
      const k = keyboard(mia);
      await k.expect('Name', 'the page opened');
      await mia.keyboard.type('mia');
      await mia.keyboard.press('Enter');
      await waitForStatus(mia, CONNECTED);
      await k.expect('Message', 'joining');
      const toggle = mia.getByRole('button', { name: 'Rooms and people' });

      // The panel opens from ☰; Tab goes into it; Escape closes it and the focus is back on ☰.
      await k.tabTo('Rooms and people', { back: true });
      await k.press('Enter');
      assert.equal(await toggle.getAttribute('aria-expanded'), 'true');
      await k.tabTo(/^#general/);
      await k.press('Escape');
      assert.equal(await toggle.getAttribute('aria-expanded'), 'false');
      await k.expect('Rooms and people', 'Escape');
      log(`mia, panel closed: Tab went round ${await k.cycle()} controls`);

      // Open again, join a room from it: the panel closes on the choice, the focus back on ☰.
      await k.press('Enter');
      await k.tabTo('Room');
      await mia.keyboard.type(room);
      await mia.keyboard.press('Enter');
      await heading(mia).filter({ hasText: `#${room}` }).waitFor();
      assert.equal(await toggle.getAttribute('aria-expanded'), 'false');
      await k.expect('Rooms and people', 'choosing a room in the panel');
      // Open once more: nothing traps the focus there either; ☰ closes it.
      await k.press('Enter');
      log(`mia, panel open: Tab went round ${await k.cycle()} controls`);
      await k.tabTo('Rooms and people');
      await k.press('Enter');
      assert.equal(await toggle.getAttribute('aria-expanded'), 'false');
      // The conversation is back: Tab reaches the composer, Enter sends.
      await k.tabTo('Message');
      await mia.keyboard.type('from a phone');
      await k.press('Enter');
      await waitForMessage(mia, 'from a phone');
    } finally {
      await closeAll(mia, ann);
    }
  });
});

// ---- screen readers ------------------------------------------------------------------------------

/**
 * Records, in the page, what its live regions would have a screen reader say, as the ARIA rules have it: a
 * change (an added node, a changed text) inside an element with `aria-live`, or with a role that implies it
 * (log and status: polite; alert: assertive), unless that is "off"; removals are not announced (the default
 * `aria-relevant`, additions and text); an atomic region (status, alert, `aria-atomic`) is read whole.
 * `window.__heard` collects [{live, region, text}].
 */
function listen(page) {
  return page.evaluate(() => {
    const implied = { log: 'polite', status: 'polite', alert: 'assertive', marquee: 'off', timer: 'off' };
    const regionOf = (node) => {
      for (let el = node.nodeType === 1 ? node : node.parentElement; el; el = el.parentElement) {
        if (el.getAttribute('aria-hidden') === 'true') return null;
        const live = el.getAttribute('aria-live') ?? implied[el.getAttribute('role')];
        if (live) return live === 'off' ? null : { el, live };
      }
      return null;
    };
    const atomic = (el) => (el.getAttribute('aria-atomic') ?? String(['status', 'alert'].includes(el.getAttribute('role')))) === 'true';
    const heard = (window.__heard = []);
    const hear = (node, text) => {
      const region = regionOf(node);
      if (!region) return;
      const said = (atomic(region.el) ? region.el.textContent : text).trim();
      if (!said) return;
      const name = region.el.getAttribute('aria-label') ?? region.el.getAttribute('role') ?? region.el.classList[0];
      heard.push({ live: region.live, region: name, text: said });
    };
    new MutationObserver((records) => {
      for (const r of records) {
        if (r.type === 'characterData') hear(r.target, r.target.data);
        for (const node of r.addedNodes) hear(node, node.textContent);
      }
    }).observe(document.body, { subtree: true, childList: true, characterData: true });
  });
}

const heard = (page) => page.evaluate(() => window.__heard.splice(0));

/**
 * The live regions in Chromium's accessibility tree, what screen readers are given: [{role, name, live, atomic,
 * text}] for each element whose `live` property is not "off" (Chromium puts it on the region's root only).
 */
async function liveRegions(page) {
  const cdp = await page.context().newCDPSession(page);
  try {
    const { nodes } = await cdp.send('Accessibility.getFullAXTree');
    const byId = new Map(nodes.map((n) => [n.nodeId, n]));
    const prop = (n, name) => n.properties?.find((p) => p.name === name)?.value.value;
    const text = (n) => (n.role?.value === 'StaticText' ? [n.name?.value ?? ''] : [])
      .concat(...(n.childIds ?? []).map((id) => byId.get(id)).filter(Boolean).map(text));
    return nodes
      .filter((n) => !n.ignored && prop(n, 'live') && prop(n, 'live') !== 'off')
      .map((n) => ({
        role: n.role?.value,
        name: n.name?.value ?? '',
        live: prop(n, 'live'),
        atomic: prop(n, 'atomic') ?? false,
        text: text(n).join(' ').replace(/\s+/g, ' ').trim(),
      }));
  } finally {
    await cdp.detach();
  }
}

describe('what a screen reader hears', () => {
  test('a new message once; typing and status politely and never twice; the log itself a list, not re-read', T, async () => {
    const room = `sr${nonce()}`;
    let sam;
    let ada;
    let ben;
    let crashed = false;
    try {
      [ada, ben, sam] = await Promise.all([tab('ada', room), tab('ben', room), tab('sam', room)]);
      await send(ada, 'said before');
      await waitForMessage(sam, 'said before');
      // The log is a list of its lines, in a region that can take the focus; it is not itself read out (its live
      // setting is off): its lines are redrawn when a room is switched, and that is not news.
      const tree = await messageLog(sam).ariaSnapshot();
      assert.match(tree, /^- log "Messages":\n {2}- list:\n( {4}- listitem[^\n]*\n?(( {6}[^\n]*\n?)*))+$/, tree);
      assert.equal((tree.match(/^ {4}- listitem/gm) ?? []).length, await messageLog(sam).locator('li').count());
      assert.equal(await messageLog(sam).getAttribute('tabindex'), '0');
      // Its live regions: new messages (a generic element), who is typing (a paragraph) and the connection (the
      // status, read whole); all polite; the log is not among them.
      const regions = await liveRegions(sam);
      log(`sam's live regions: ${JSON.stringify(regions)}`);
      assert.deepEqual(regions.map(({ role, live, atomic }) => ({ role, live, atomic }))
        .sort((a, b) => a.role.localeCompare(b.role)), [
        { role: 'generic', live: 'polite', atomic: false },
        { role: 'paragraph', live: 'polite', atomic: false },
        { role: 'status', live: 'polite', atomic: true },
      ]);
      await listen(sam);

      // A new message from somebody else: said once, politely, with its sender. (Sent with mosquitto_pub: ada's
      // tab would say she is typing first.)
      assert.equal((await pub('ada', `chat/rooms/${room}/messages/ada`, 'one')).code, 0);
      await waitForMessage(sam, 'one');
      await new Promise((r) => setTimeout(r, 1_000));
      assert.deepEqual(await heard(sam), [{ live: 'polite', region: 'announcer', text: 'ada: one' }]);
      assert.ok((await liveRegions(sam)).some((r) => r.live === 'polite' && r.text.includes('ada: one')),
        'the accessibility tree has no live region saying "ada: one"');

      // ben types for 3 s: "ben is typing…" once (the notice is redrawn every second, and never said again);
      // then his message, once; the notice going is not said.
      await ben.getByRole('textbox', { name: 'Message' }).pressSequentially('two', { delay: 1_000 });
      await ben.getByRole('textbox', { name: 'Message' }).press('Enter');
      await waitForMessage(sam, 'two');
      await new Promise((r) => setTimeout(r, 1_000));
      assert.deepEqual(await heard(sam), [
        { live: 'polite', region: 'typing', text: 'ben is typing…' },
        { live: 'polite', region: 'announcer', text: 'ben: two' },
      ]);

      // sam's own message is not read back to sam, neither sent nor when the broker acknowledges it. Switching
      // to #general and back redraws the whole log: none of it is read out again.
      await send(sam, 'mine');
      await messageItem(sam, 'mine').locator('.delivery', { hasText: /^sent$/ }).waitFor();
      await nav(sam).getByRole('link', { name: /#general/ }).click();
      await heading(sam).filter({ hasText: '#general' }).waitFor();
      assert.equal((await pub('ada', `chat/rooms/${room}/messages/ada`, 'in the room sam just left for a moment')).code, 0);
      await nav(sam).getByRole('link', { name: new RegExp(`#${room}`) }).filter({ hasText: '1' }).waitFor();
      await nav(sam).getByRole('link', { name: new RegExp(`#${room}`) }).click();
      await waitForMessage(sam, 'in the room sam just left for a moment');
      await new Promise((r) => setTimeout(r, 1_000));
      assert.deepEqual(await heard(sam), []);

      // The connection lost and back: each change of status said once, politely; the countdown (which changes
      // every second) never.
      await env.broker.crash();
      crashed = true;
      await waitForStatus(sam, /Reconnecting/);
      await new Promise((r) => setTimeout(r, 3_500));
      await env.broker.restart();
      crashed = false;
      await waitForStatus(sam, CONNECTED);
      await new Promise((r) => setTimeout(r, 1_000));
      const said = (await heard(sam)).filter((h) => h.region === 'status');
      log(`sam heard, while the broker was away: ${JSON.stringify(said)}`);
      assert.ok(said.length >= 2, `status changes not said: ${JSON.stringify(said)}`);
      assert.ok(said.every((h) => h.live === 'polite'));
      assert.ok(!said.some((h) => /\bin \d+ s\b/.test(h.text)), `the countdown is read out: ${JSON.stringify(said)}`);
      // Attempts while reconnecting say nothing new: no words are said twice.
      assert.equal(new Set(said.map((h) => h.text)).size, said.length, `said twice: ${JSON.stringify(said)}`);
      assert.match(said.at(-1).text, /^Connected as sam/);
    } finally {
      if (crashed) await env.broker.restart();
      for (const page of [sam, ada, ben]) if (page) page.errors = [];
      await closeAll(sam, ada, ben);
    }
  });
});

// ---- motion and zoom -----------------------------------------------------------------------------

describe('motion and text size', () => {
  test('prefers-reduced-motion: nothing moves, and a transition a later view adds is turned off', T, async () => {
    let page;
    try {
      page = await tab('rex', `motion${nonce()}`, { reducedMotion: 'reduce', ...WIDTHS['360 px'] });
      await send(page, 'still');
      await waitForMessage(page, 'still');
      await page.getByRole('button', { name: 'Rooms and people' }).click();
      const moving = () => page.evaluate(() => [
        ...document.getAnimations().map((a) => `animation ${a.animationName ?? a.constructor.name}`),
        ...[...document.querySelectorAll('*')].filter((el) => {
          const s = getComputedStyle(el);
          return s.transitionDuration.split(',').some((d) => parseFloat(d) > 0) ||
            (s.animationName !== 'none' && s.animationDuration.split(',').some((d) => parseFloat(d) > 0)) ||
            s.scrollBehavior === 'smooth';
        }).map((el) => `${el.tagName.toLowerCase()}.${el.className}`),
      ]);
      assert.deepEqual(await moving(), []);
      // A transition set on an element (CSSOM, which the CSP allows) is cut to nothing while motion is reduced.
      const probe = () => page.evaluate(() => {
        const el = document.querySelector('.sidebar');
        el.style.transition = 'opacity 2s';
        el.style.scrollBehavior = 'smooth';
        const s = getComputedStyle(el);
        return `${s.transitionDuration} ${s.scrollBehavior}`;
      });
      assert.equal(await probe(), '0s auto');
      await page.emulateMedia({ reducedMotion: 'no-preference' });
      assert.equal(await probe(), '2s smooth', 'the probe itself does not work');
    } finally {
      await closeAll(page);
    }
  });

  /** What is lost in `page` as it is now: content cut off or outside the page, controls out of reach. */
  const lost = (page) => page.evaluate(() => {
    const problems = [];
    const what = (el) => `${el.tagName.toLowerCase()}${el.className ? `.${el.className}` : ''} "${el.textContent.trim().slice(0, 30)}"`;
    if (document.documentElement.scrollWidth > innerWidth) {
      problems.push(`the page scrolls sideways: ${document.documentElement.scrollWidth} px in ${innerWidth}`);
    }
    // Shown, and not meant for screen readers only.
    const shown = (el) => el.checkVisibility({ visibilityProperty: true }) && !el.closest('.visually-hidden');
    for (const el of document.querySelectorAll('h1, h2, h3, label, p, time, .sender, .text, .badge, .day, .delivery')) {
      if (shown(el) && el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).overflowX !== 'visible') {
        problems.push(`${what(el)} is cut: ${el.scrollWidth} px in ${el.clientWidth}`);
      }
    }
    for (const el of document.querySelectorAll('a[href], button, input, [tabindex="0"], h1, .status')) {
      if (!shown(el)) continue;
      el.scrollIntoView({ block: 'nearest', inline: 'nearest' });
      const r = el.getBoundingClientRect();
      if (r.width === 0 || r.height === 0) problems.push(`${what(el)} has no size`);
      if (r.left < -1 || r.right > innerWidth + 1) problems.push(`${what(el)} is outside the page: ${r.left}–${r.right}`);
      const x = Math.min(Math.max(r.left + r.width / 2, 0), innerWidth - 1);
      const y = Math.min(Math.max(r.top + Math.min(r.height / 2, 8), 0), innerHeight - 1);
      const hit = document.elementFromPoint(x, y);
      if (hit && !el.contains(hit) && !hit.contains(el) && !el.labels?.[0]?.contains(hit)) {
        problems.push(`${what(el)} is covered by ${what(hit)}`);
      }
    }
    return problems;
  });

  for (const [how, options, setUp] of [
    // The browser's font size doubled (the user's setting: 32 px instead of 16 px), the window as before.
    ['the browser\'s text size at 200%', WIDTHS.desktop, async (page) => {
      const cdp = await page.context().newCDPSession(page);
      await cdp.send('Page.setFontSizes', { fontSizes: { standard: 32, fixed: 26 } });
    }],
    // The page zoomed to 200% in a 1280 × 800 window: 640 × 400 CSS pixels, two device pixels each.
    ['the page zoomed to 200%', { viewport: { width: 640, height: 400 }, deviceScaleFactor: 2 }, async () => {}],
  ]) {
    test(`${how}: nothing lost, everything still works`, T, async () => {
      const room = `zoom${nonce()}`;
      let page;
      let dee;
      try {
        dee = await tab('dee', room);
        page = await newPage(env.browser, 'cy', `${env.appUrl}#${room}`, options);
        await setUp(page);
        await page.getByRole('textbox', { name: 'Name' }).waitFor();
        const size = await page.evaluate(() => parseFloat(getComputedStyle(document.querySelector('.login h1')).fontSize) /
          parseFloat(getComputedStyle(document.documentElement).fontSize));
        assert.ok(size > 1.5, 'the heading is not larger than the text');
        if (how.startsWith('the browser')) {
          assert.equal(await page.evaluate(() => getComputedStyle(document.documentElement).fontSize), '32px',
            'the page does not follow the browser\'s text size');
        }
        assert.deepEqual(await lost(page), [], 'the login form');
        await join(page, 'cy');
        await send(dee, 'A line long enough to wrap at this size: the quick brown fox jumps over the lazy dog, twice.');
        await send(page, 'Mine, also long enough to wrap at twice the text size, on a narrow window.');
        await waitForMessage(page, 'Mine, also long enough to wrap at twice the text size, on a narrow window.');
        await waitForMessage(page, 'A line long enough to wrap at this size: the quick brown fox jumps over the lazy dog, twice.');
        assert.deepEqual(await lost(page), [], 'the chat');
        // The rooms and people, in the panel on a narrow window: every control in reach, and usable.
        const toggle = page.getByRole('button', { name: 'Rooms and people' });
        if (await toggle.isVisible()) await toggle.click();
        assert.deepEqual(await lost(page), [], 'the rooms and people');
        await page.getByRole('region', { name: 'Online' }).getByRole('button', { name: 'Message dee' }).first().click();
        await heading(page).filter({ hasText: '@dee' }).waitFor();
        await send(page, 'hello at 200%');
        await nav(dee).getByRole('link', { name: /@cy/ }).waitFor();
        assert.deepEqual(await lost(page), [], 'a direct conversation');
      } finally {
        await closeAll(page, dee);
      }
    });
  }
});
