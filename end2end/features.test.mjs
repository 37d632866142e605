// End-to-end: the chat's features with three or more tabs, each in its own browser context, against a
// real Mosquitto running the repo's mosquitto.conf and mosquitto.acl. Run with `scripts/test e2e`.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { ROOT, brokerConfig, freePort, log, run, useSetUp, start, stop, waitFor } from './harness.mjs';
import {
  UI_TIMEOUT, CONNECTED, closeAll, join, messageItem, messages, newPage, nonce, openJoined, send, waitForMessage,
  waitForOnline, waitForStatus,
} from './tabs.mjs';

const T = { timeout: 240_000 };
const env = useSetUp();

const open = (name, { hash = '', ...options } = {}) => newPage(env.browser, name, `${env.appUrl}${hash}`, options);

const tab = (name, { hash = '', ...options } = {}) => openJoined(env.browser, `${env.appUrl}${hash}`, name, options);

const nav = (page) => page.getByRole('navigation', { name: 'Rooms' });
const heading = (page) => page.getByRole('banner').getByRole('heading', { level: 1 });

function pub(args) {
  return run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(env.broker.tcpPort), '-q', '1', ...args]);
}


describe('rooms', () => {
  test('create, link, switch, unread counts and leave, with three tabs', T, async () => {
    const room = `rust${nonce()}`;
    let alice;
    let bob;
    let carol;
    try {
      [alice, carol] = await Promise.all([tab('alice'), tab('carol')]);
      // alice creates a room by typing its name; the URL names it.
      await alice.getByRole('textbox', { name: 'Room' }).fill(room);
      await alice.getByRole('button', { name: 'Join room' }).click();
      await assert.doesNotReject(heading(alice).filter({ hasText: `#${room}` }).waitFor());
      assert.equal(new URL(alice.url()).hash, `#${room}`);
      // bob follows a link to it.
      bob = await open('bob', { hash: `#${room}` });
      await join(bob, 'bob');
      await heading(bob).filter({ hasText: `#${room}` }).waitFor();

      const inRoom = `in ${room} ${nonce()}`;
      await send(bob, inRoom);
      await waitForMessage(alice, inRoom);
      // carol is in general only: she never sees it. A later general message proves delivery order.
      const inGeneral = `in general ${nonce()}`;
      await send(carol, inGeneral);
      await carol.getByRole('link', { name: /#general/ }).waitFor();
      assert.equal(await messageItem(carol, inRoom).count(), 0, 'a message of another room shows in general');

      // alice is looking at the new room: general counts one unread.
      const generalLink = nav(alice).getByRole('link', { name: /#general/ });
      await generalLink.filter({ hasText: '1' }).waitFor();
      assert.match(await generalLink.innerText(), /1/);
      await generalLink.click();
      await waitForMessage(alice, inGeneral);
      await nav(alice).getByRole('link', { name: /#general/ }).filter({ hasNotText: '1' }).waitFor();
      assert.equal(new URL(alice.url()).hash, '#general');

      // Leave the room: it goes from the list.
      await nav(alice).getByRole('button', { name: `Leave #${room}` }).click();
      await nav(alice).getByRole('link', { name: new RegExp(`#${room}`) }).waitFor({ state: 'detached' });
    } finally {
      await closeAll(alice, bob, carol);
    }
  });

  test('the keyboard alone joins, switches and sends', T, async () => {
    const room = `keys${nonce()}`;
    let alice;
    let bob;
    let carol;
    try {
      [alice, bob, carol] = await Promise.all([tab('alice'), tab('bob'), tab('carol')]);
      await alice.getByRole('textbox', { name: 'Room' }).focus();
      await alice.keyboard.type(room);
      await alice.keyboard.press('Enter');
      await heading(alice).filter({ hasText: `#${room}` }).waitFor();
      await nav(alice).getByRole('link', { name: /#general/ }).focus();
      await alice.keyboard.press('Enter');
      await heading(alice).filter({ hasText: '#general' }).waitFor();
      // Tab order reaches the composer; Enter sends.
      await alice.getByRole('textbox', { name: 'Message' }).focus();
      const text = `typed only ${nonce()}`;
      await alice.keyboard.type(text);
      await alice.keyboard.press('Enter');
      await Promise.all([waitForMessage(bob, text), waitForMessage(carol, text)]);
    } finally {
      await closeAll(alice, bob, carol);
    }
  });

  test('a room or name with a slash, plus or hash is refused with a clear message', T, async () => {
    let alice;
    let login;
    try {
      alice = await tab('alice');
      await alice.getByRole('textbox', { name: 'Room' }).fill('a/b');
      await alice.getByRole('button', { name: 'Join room' }).click();
      await alice.getByRole('alert').filter({ hasText: "a name cannot contain '/'" }).waitFor();
      login = await open('login');
      for (const [bad, why] of [['x+y', "'+'"], ['#x', "'#'"], ['é'.repeat(33), 'at most 64 bytes']]) {
        await login.getByRole('textbox', { name: 'Name' }).fill(bad);
        await login.getByRole('button', { name: 'Join' }).click();
        await login.getByRole('alert').filter({ hasText: why }).waitFor();
      }
    } finally {
      await closeAll(alice, login);
    }
  });
});

describe('presence', () => {
  test('online lists follow tabs closing normally (< 2 s) and crashing (Last Will)', T, async () => {
    let alice;
    let bob;
    let carol;
    let dave;
    try {
      [alice, bob, carol, dave] = await Promise.all(['alice', 'bob', 'carol', 'dave'].map((n) => tab(n)));
      for (const page of [alice, bob]) {
        await waitForOnline(page, ['alice', 'bob', 'carol', 'dave']);
        await waitForOnline(page, ['alice', 'bob', 'carol', 'dave'], 'In #general');
      }
      // carol closes her tab normally.
      const closed = Date.now();
      await carol.context().close();
      carol = null;
      const seen = await waitForOnline(alice, ['alice', 'bob', 'dave']);
      log(`closed tab gone from the online list after ${seen - closed} ms`);
      assert.ok(seen - closed < 2_000, `took ${seen - closed} ms`);
      await waitForOnline(bob, ['alice', 'bob', 'dave']);

      // dave's renderer crashes: no DISCONNECT, no goodbye; the broker's Last Will clears his presence.
      const cdp = await dave.context().newCDPSession(dave);
      cdp.send('Page.crash').catch(() => {});
      const crashed = Date.now();
      const gone = await waitForOnline(alice, ['alice', 'bob'], 'Everyone', 45_000 * 1.5);
      log(`crashed tab gone from the online list after ${gone - crashed} ms`);
      await waitForOnline(bob, ['alice', 'bob'], 'Everyone', 45_000 * 1.5);
      dave.errors = [];
    } finally {
      await closeAll(alice, bob, carol, dave);
    }
  });

  test('typing shows in the other tabs and expires by itself', T, async () => {
    let alice;
    let bob;
    let carol;
    try {
      [alice, bob, carol] = await Promise.all([tab('alice'), tab('bob'), tab('carol')]);
      await bob.getByRole('textbox', { name: 'Message' }).pressSequentially('hel', { delay: 50 });
      for (const page of [alice, carol]) {
        await page.locator('.typing', { hasText: 'bob is typing…' }).waitFor();
      }
      assert.equal(await bob.locator('.typing', { hasText: 'typing' }).count(), 0, 'bob sees himself typing');
      const t0 = Date.now();
      await alice.locator('.typing', { hasText: 'bob is typing…' }).waitFor({ state: 'detached', timeout: 10_000 });
      log(`typing notice expired after ${Date.now() - t0} ms`);
    } finally {
      await closeAll(alice, bob, carol);
    }
  });

  test('a name in use in another browser is refused; a reload keeps its name', T, async () => {
    let first;
    let second;
    try {
      first = await tab('erin');
      second = await open('erin-2');
      await second.getByRole('textbox', { name: 'Name' }).fill('erin');
      await second.getByRole('textbox', { name: 'Name' }).press('Enter');
      await waitForStatus(second, /in use in another browser/);
      await first.reload();
      await waitForStatus(first, /Connected as erin/);
    } finally {
      await closeAll(first, second);
    }
  });
});

describe('direct messages', () => {
  test('a direct message reaches only its recipient, with an unread count', T, async () => {
    let alice;
    let bob;
    let carol;
    let spy;
    try {
      [alice, bob, carol] = await Promise.all([tab('alice'), tab('bob'), tab('carol')]);
      // carol tries to read bob's direct messages with mosquitto_sub.
      spy = start('stdbuf', ['-oL', 'mosquitto_sub', '-h', '127.0.0.1', '-p', String(env.broker.tcpPort),
        '-u', 'carol', '-t', 'chat/users/bob/dm/#', '-t', 'chat/users/+/dm/+', '-v', '-d'], { name: 'spy' });
      await waitFor('the spy to subscribe', () => /received SUBACK/.test(spy.output), { timeoutMs: UI_TIMEOUT });

      await waitForOnline(alice, ['alice', 'bob', 'carol']);
      await alice.getByRole('region', { name: 'Online' }).getByRole('button', { name: 'Message bob' }).first().click();
      await heading(alice).filter({ hasText: '@bob' }).waitFor();
      const secret = `psst ${nonce()}`;
      await send(alice, secret);
      await waitForMessage(alice, secret);

      const link = nav(bob).getByRole('link', { name: /@alice/ });
      await link.filter({ hasText: '1' }).waitFor();
      await link.click();
      const got = await waitForMessage(bob, secret);
      assert.equal(got.sender, 'alice');

      // A room message after it: once carol has that, she would have had the direct message.
      const marker = `marker ${nonce()}`;
      await send(bob, 'back to you');
      await nav(bob).getByRole('link', { name: /#general/ }).click();
      await send(bob, marker);
      await waitForMessage(carol, marker);
      assert.equal(await nav(carol).getByRole('link', { name: /@/ }).count(), 0, 'carol has a direct conversation');
      assert.equal(await messageItem(carol, secret).count(), 0);
      await waitForMessage(alice, 'back to you');
      await new Promise((r) => setTimeout(r, 500));
      assert.ok(!spy.output.includes(secret), `carol read bob's direct message:\n${spy.output}`);
      assert.ok(!spy.output.includes('back to you'), `carol read alice's direct message:\n${spy.output}`);
    } finally {
      await stop(spy);
      await closeAll(alice, bob, carol);
    }
  });
});

describe('history and identity', () => {
  test('a tab opened after 60 messages shows at least the last 50, in order, once each', T, async () => {
    const room = `hist${nonce()}`;
    let alice;
    let bob;
    let carol;
    try {
      [alice, bob] = await Promise.all([tab('alice', { hash: `#${room}` }), tab('bob', { hash: `#${room}` })]);
      for (let i = 0; i < 60; i++) await send(i % 2 ? bob : alice, `m${String(i).padStart(2, '0')}`);
      await waitForMessage(alice, 'm59');
      await waitForMessage(bob, 'm58');
      await closeAll(alice, bob);
      [alice, bob] = [null, null];

      carol = await tab('carol', { hash: `#${room}` });
      await waitForMessage(carol, 'm59');
      const texts = await messages(carol).locator('.text').allTextContents();
      const shown = texts.filter((t) => /^m\d\d$/.test(t));
      assert.ok(shown.length >= 50, `only ${shown.length} of the last messages shown`);
      assert.deepEqual(shown, [...shown].sort(), 'history is not in order');
      assert.equal(new Set(shown).size, shown.length, 'a message is shown twice');
      assert.equal(shown.at(-1), 'm59');
      assert.ok(shown.includes('m10'), 'm10 (one of the last 50) is missing');
    } finally {
      await closeAll(alice, bob, carol);
    }
  });

  test('a busy room draws its newest 100 messages; "Show earlier messages" draws the rest, in order', T, async () => {
    const room = `busy${nonce()}`;
    let alice;
    try {
      alice = await tab('alice', { hash: `#${room}` });
      const pub = await run('sh', ['-c',
        `seq -f 'busy %03g' 0 149 | mosquitto_pub -h 127.0.0.1 -p ${env.broker.tcpPort} -u zed -q 1 -l ` +
        `-t chat/rooms/${room}/messages/zed`]);
      assert.equal(pub.code, 0, `mosquitto_pub failed: ${pub.output}`);
      await waitForMessage(alice, 'busy 149');
      // A burst is drawn newest first, a few lines a frame (the list's work per frame is bounded): the window is
      // whole a few frames later.
      await alice.waitForFunction(() => document.querySelectorAll('li.message').length >= 100, null, { timeout: 10_000 });
      const drawn = async () => (await messages(alice).locator('.text').allTextContents()).filter((t) => t.startsWith('busy '));
      const all = Array.from({ length: 150 }, (_, i) => `busy ${String(i).padStart(3, '0')}`);
      assert.deepEqual(await drawn(), all.slice(50), 'the newest 100, in order');
      const earlier = alice.getByRole('button', { name: 'Show earlier messages' });
      await earlier.click();
      await waitForMessage(alice, 'busy 000');
      // The view stays where it was: the line that was first is still in sight, now below the new ones.
      await alice.waitForFunction(() => {
        const list = document.querySelector('[role=log]').getBoundingClientRect();
        const line = [...document.querySelectorAll('li.message')].find((li) => li.textContent.includes('busy 050'));
        const at = line?.getBoundingClientRect();
        return at && at.bottom > list.top && at.top < list.bottom;
      }, null, { timeout: 5_000 });
      assert.deepEqual(await drawn(), all, 'all 150, in order, once each');
      assert.equal(await earlier.count(), 0, 'nothing earlier is left to show');
      // Reading up there, a new message does not move what is shown.
      await alice.locator('li.message', { hasText: 'busy 000' }).scrollIntoViewIfNeeded();
      await send(alice, 'while reading');
      assert.equal((await drawn()).length, 150);
    } finally {
      await closeAll(alice);
    }
  });

  test('nobody can post as someone else', T, async () => {
    let alice;
    let bob;
    let carol;
    try {
      [alice, bob, carol] = await Promise.all([tab('alice'), tab('bob'), tab('carol')]);
      const forged = `forged ${nonce()}`;
      const marker = `marker ${nonce()}`;
      assert.equal((await pub(['-u', 'mallory', '-t', 'chat/rooms/general/messages/alice', '-m', forged])).code, 0);
      assert.equal((await pub(['-u', 'mallory', '-t', 'chat/rooms/general/messages/mallory', '-m', marker])).code, 0);
      for (const page of [alice, bob, carol]) {
        assert.equal((await waitForMessage(page, marker)).sender, 'mallory');
        assert.equal(await messageItem(page, forged).count(), 0, `${page.label} shows the forged message`);
      }
    } finally {
      await closeAll(alice, bob, carol);
    }
  });

  test('markup is shown as text; too long is refused, and cut short from others', T, async () => {
    let alice;
    let bob;
    let carol;
    try {
      [alice, bob, carol] = await Promise.all([tab('alice'), tab('bob'), tab('carol')]);
      const html = `<img src=x onerror="window.__xss=1"><script>window.__xss=2</script> ${nonce()}`;
      await send(alice, html);
      for (const page of [bob, carol]) {
        await waitForMessage(page, html);
        assert.equal(await page.evaluate(() => window.__xss), undefined, 'markup in a message ran');
        assert.equal(await page.locator('.messages img').count(), 0);
      }
      await bob.getByRole('textbox', { name: 'Message' }).fill('x'.repeat(4001));
      await bob.getByRole('alert').filter({ hasText: 'Too long' }).waitFor();
      await bob.getByRole('textbox', { name: 'Message' }).press('Enter');
      await bob.getByRole('alert').filter({ hasText: 'can be at most 4000 bytes long' }).waitFor();

      const long = JSON.stringify({ id: `z-${nonce()}`, text: 'y'.repeat(5000), sent_at: Date.now() });
      assert.equal((await pub(['-u', 'zed', '-t', 'chat/rooms/general/messages/zed', '-m', long])).code, 0);
      const cut = carol.locator('li.message', { hasText: 'cut short' });
      await cut.waitFor();
      assert.equal((await cut.locator('.text').textContent()).length, 4000);
    } finally {
      await closeAll(alice, bob, carol);
    }
  });

  test('messages to a hidden tab show in its title and as notifications', T, async () => {
    let alice;
    let bob;
    let carol;
    try {
      alice = await open('alice', { permissions: ['notifications'] });
      // Headless pages are never hidden: let the test hide this one, and record notifications.
      await alice.addInitScript(() => {
        window.__hidden = false;
        window.__notes = [];
        Object.defineProperty(Document.prototype, 'hidden', { get: () => window.__hidden });
        const Real = window.Notification;
        window.Notification = class extends Real {
          constructor(title, options) {
            super(title, options);
            window.__notes.push(`${title}: ${options?.body}`);
          }
        };
        Object.defineProperty(window.Notification, 'permission', { get: () => 'granted' });
      });
      await alice.reload();
      await join(alice, 'alice');
      [bob, carol] = await Promise.all([tab('bob'), tab('carol')]);
      await alice.evaluate(() => { window.__hidden = true; });
      const text = `while away ${nonce()}`;
      await send(bob, text);
      await send(carol, `${text} 2`);
      await waitForMessage(alice, `${text} 2`);
      await alice.waitForFunction(() => document.title.startsWith('(2) '));
      const notes = await alice.evaluate(() => window.__notes);
      assert.deepEqual(notes, [`bob in #general: ${text}`, `carol in #general: ${text} 2`]);
      await alice.evaluate(() => {
        window.__hidden = false;
        document.dispatchEvent(new Event('visibilitychange'));
      });
      await alice.waitForFunction(() => !document.title.startsWith('('));
    } finally {
      await closeAll(alice, bob, carol);
    }
  });
});

describe('layout', () => {
  test('works at 360 px, in light and dark; screenshots for the README', T, async () => {
    const room = `tour${nonce()}`;
    const pages = [];
    try {
      const shots = [
        ['desktop-light', { viewport: { width: 1100, height: 640 }, colorScheme: 'light' }],
        ['desktop-dark', { viewport: { width: 1100, height: 640 }, colorScheme: 'dark' }],
        ['mobile-light', { viewport: { width: 360, height: 640 }, colorScheme: 'light', isMobile: true }],
        ['mobile-dark', { viewport: { width: 360, height: 640 }, colorScheme: 'dark', isMobile: true }],
      ];
      const [alice, bob] = await Promise.all([tab('alice', { hash: `#${room}` }), tab('bob', { hash: `#${room}` })]);
      pages.push(alice, bob);
      const lines = [
        [alice, 'Morning! Anyone tried the new broker?'],
        [bob, 'Yes — plain **Mosquitto**, and the chat speaks `MQTT 3.1.1` itself: https://mosquitto.org'],
        [alice, 'Nice, @bob. History, presence and direct messages all work over it.'],
      ];
      for (const [page, text] of lines) await send(page, text);
      await waitForMessage(bob, lines[2][1]);
      // A reaction and a reply, so that the screenshots show them.
      const first = messageItem(bob, lines[0][1]);
      await first.hover();
      await first.getByRole('button', { name: 'React', exact: true }).click();
      await bob.getByRole('group', { name: 'Reactions' }).getByRole('button', { name: '🎉', exact: true }).click();
      const answered = messageItem(bob, lines[2][1]);
      await answered.hover();
      await answered.getByRole('button', { name: 'Reply', exact: true }).click();
      const reply = 'Then I will move the team over today.';
      await send(bob, reply);
      await waitForMessage(alice, reply);
      const readers = ['carol', 'dave', 'erin', 'frank'];
      const shown = await Promise.all(shots.map(([, options], i) => tab(readers[i], { hash: `#${room}`, ...options })));
      pages.push(...shown);
      for (const page of shown) {
        await waitForMessage(page, reply);
        await page.locator('.reactions button').first().waitFor();
        const width = await page.evaluate(() => document.documentElement.scrollWidth);
        assert.ok(width <= page.viewportSize().width, `${page.label}: the page is ${width} px wide`);
      }
      // alice types: every reader shows it (typing notices are not retained, so all are open first).
      await alice.getByRole('textbox', { name: 'Message' }).pressSequentially('typing', { delay: 20 });
      for (const page of shown) await page.locator('.typing', { hasText: 'alice is typing…' }).waitFor();
      for (const [i, [name]] of shots.entries()) {
        await shown[i].screenshot({ path: path.join(ROOT, 'docs', `${name}.png`) });
        log(`wrote docs/${name}.png`);
      }
      for (const [i, [name]] of shots.entries()) {
        if (!name.startsWith('mobile')) continue;
        // The rooms and people panel opens from the header.
        const page = shown[i];
        await page.getByRole('button', { name: 'Rooms and people' }).click();
        await page.getByRole('region', { name: 'Online' }).waitFor();
        await page.screenshot({ path: path.join(ROOT, 'docs', `${name}-panel.png`) });
        await page.getByRole('link', { name: /#general/ }).click();
        await heading(page).filter({ hasText: '#general' }).waitFor();
      }
    } finally {
      await closeAll(...pages);
    }
  });
});

describe('accounts mode', () => {
  test('with a password file, the login needs the right password', T, async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mqtt-chat-accounts-'));
    fs.chmodSync(dir, 0o755);
    let broker;
    let good;
    let bad;
    try {
      const passwd = path.join(dir, 'passwords');
      fs.writeFileSync(passwd, '', { mode: 0o644 });
      for (const [user, password] of [['alice', 'wonderland'], ['bob', 'builder']]) {
        const r = await run('mosquitto_passwd', ['-b', passwd, user, password]);
        assert.equal(r.code, 0, r.output);
      }
      fs.chmodSync(passwd, 0o644);
      const [tcpPort, wsPort] = [await freePort(), await freePort()];
      const conf = path.join(dir, 'mosquitto.conf');
      const config = brokerConfig(tcpPort, wsPort, dir).replace(/^allow_anonymous true$/m, 'allow_anonymous false');
      fs.writeFileSync(conf, `${config}\npassword_file ${passwd}\n`, { mode: 0o644 });
      broker = start('mosquitto', ['-c', conf], { name: 'mosquitto-accounts' });
      await waitFor('the accounts broker', () => new Promise((resolve) => {
        const s = net.connect(wsPort, '127.0.0.1', () => { s.destroy(); resolve(true); });
        s.on('error', () => resolve(false));
      }), { timeoutMs: UI_TIMEOUT });

      const url = `${env.appUrl.split('?')[0]}?broker=ws://127.0.0.1:${wsPort}`;
      good = await newPage(env.browser, 'alice', url);
      await join(good, 'alice', { password: 'wonderland' });
      bad = await newPage(env.browser, 'bob', url);
      await bad.getByRole('textbox', { name: 'Name' }).fill('bob');
      await bad.getByLabel('Password').fill('wrong');
      await bad.getByRole('button', { name: 'Join' }).click();
      await waitForStatus(bad, /Disconnected: the broker refused the connection/);
      assert.doesNotMatch(await good.getByRole('status').innerText(), /Disconnected/);
      assert.ok(CONNECTED.test(await good.getByRole('status').innerText()));
    } finally {
      await closeAll(good, bad);
      await stop(broker);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
