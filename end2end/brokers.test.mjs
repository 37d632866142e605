// End-to-end across brokers: tabs connected to two different brokers that behave as one chat as if on one,
// for each setup of the README's "Running on several brokers": the Mosquitto bridge (mosquitto.conf as the
// hub, cluster/mosquitto-spoke.conf) and the aedes pair on redis (cluster/aedes-*.cjs). Every tab is given
// both brokers, its own first: `?broker=MINE,OTHER`. Run with `scripts/test e2e`.
//
//   CLUSTER_EACH=N     messages each of the two tabs sends in the bulk test (default 500: 1,000 in all)

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CLUSTERS, isLoopback, listeningSockets, log, startCluster, useSetUp } from './harness.mjs';
import {
  assertOnceInOrder, closeAll, escapeRegExp, messageItem, messages, nonce, openJoined, send, submitAll, waitForMessage,
  waitForOnline, waitForStatus, waitForTexts,
} from './tabs.mjs';

const T = { timeout: 240_000 };
const EACH = Number(process.env.CLUSTER_EACH ?? 500);
const env = useSetUp({ broker: false });

const nav = (page) => page.getByRole('navigation', { name: 'Rooms' });

/** Every text in `texts` is shown exactly once in each of `pages`. */
async function shownOnce(pages, texts) {
  for (const page of pages) {
    for (const text of texts) {
      assert.equal(await messageItem(page, text).count(), 1, `${page.label}: ${JSON.stringify(text)} not shown once`);
    }
  }
}

for (const kind of CLUSTERS) {
  describe(`${kind}: tabs on two brokers chat as one`, () => {
    let cluster;
    before(async () => {
      cluster = await startCluster(kind);
    }, { timeout: 60_000 });
    after(async () => {
      await cluster?.stop();
    });

    /** A tab on broker `i` (0 or 1), joined as `name`, with the other broker to fail over to. */
    const tab = async (i, name, hash = '') => {
      const [mine, other] = [cluster.brokers[i], cluster.brokers[1 - i]];
      const page = await openJoined(env.browser, `${env.serverUrl}?broker=${mine.wsUrl},${other.wsUrl}${hash}`, name);
      await onBroker(page, i);
      return page;
    };
    /** Waits until the status bar says the tab is connected to broker `i`. */
    const onBroker = (page, i) =>
      waitForStatus(page, new RegExp(`^Connected as .+ to ${escapeRegExp(cluster.brokers[i].wsUrl)} \\(broker [12] of 2\\)$`));

    test('the brokers (and redis) listen on loopback only', () => {
      const ports = cluster.brokers.flatMap((b) => [b.tcpPort, b.wsPort]).concat(cluster.redis ? [cluster.redis.port] : []);
      const sockets = listeningSockets().filter((s) => ports.includes(s.port));
      for (const port of ports) assert.ok(sockets.some((s) => s.port === port), `nothing listens on ${port}`);
      for (const socket of sockets) assert.ok(isLoopback(socket.host), `not loopback: ${socket.line}`);
    });

    test('room messages and direct messages cross between the brokers, exactly once', T, async () => {
      const n = nonce();
      const [a, b] = [`ann${n}`, `ben${n}`];
      let ann;
      let ben;
      try {
        [ann, ben] = await Promise.all([tab(0, a, `#r${n}`), tab(1, b, `#r${n}`)]);
        const [fromA, fromB] = [`room from A ${n}`, `room from B ${n}`];
        await send(ann, fromA);
        await send(ben, fromB);
        for (const page of [ann, ben]) {
          assert.equal((await waitForMessage(page, fromA)).sender, a);
          assert.equal((await waitForMessage(page, fromB)).sender, b);
        }

        // ben's presence crossed to ann's broker (the online lists themselves are the next test's).
        await ann.getByRole('region', { name: 'Online' }).getByRole('button', { name: `Message ${b}` }).first().click();
        const [dmA, dmB] = [`direct from A ${n}`, `direct from B ${n}`];
        await send(ann, dmA);
        await nav(ben).getByRole('link', { name: new RegExp(`@${a}`) }).click();
        assert.equal((await waitForMessage(ben, dmA)).sender, a);
        await send(ben, dmB);
        assert.equal((await waitForMessage(ann, dmB)).sender, b);

        // Anything sent twice would have arrived by the time a later message has.
        const last = `last ${n}`;
        await send(ben, last);
        await waitForMessage(ann, last);
        await shownOnce([ann, ben], [dmA, dmB, last]);
        await nav(ann).getByRole('link', { name: new RegExp(`#r${n}`) }).click();
        await nav(ben).getByRole('link', { name: new RegExp(`#r${n}`) }).click();
        await shownOnce([ann, ben], [fromA, fromB]);
      } finally {
        await closeAll(ann, ben);
      }
    });

    test('both brokers show the same online list, and a crashed tab goes offline on the other (Last Will)', T, async () => {
      const n = nonce();
      const names = ['ann', 'ben', 'cid', 'dot'].map((x) => `${x}${n}`);
      let pages = [];
      try {
        // ann and cid on the first broker, ben and dot on the second.
        pages = await Promise.all(names.map((name, k) => tab(k % 2, name)));
        const [ann, ben, cid, dot] = pages;
        for (const page of pages) await waitForOnline(page, names);

        // A renderer crash: no DISCONNECT, no goodbye; the broker the tab was on publishes its will.
        for (const [gone, left] of [[cid, names.slice(0, 2).concat(names[3])], [dot, names.slice(0, 2)]]) {
          const cdp = await gone.context().newCDPSession(gone);
          cdp.send('Page.crash').catch(() => {});
          const crashed = Date.now();
          const seen = await Promise.all([ann, ben].map((page) => waitForOnline(page, left, 'Everyone', 60_000)));
          log(`${kind}: ${gone.label}'s crash seen on both brokers after ${Math.max(...seen) - crashed} ms`);
          gone.errors = [];
        }
      } finally {
        await closeAll(...pages);
      }
    });

    test('a tab joining on one broker sees the history written through the other', T, async () => {
      const n = nonce();
      const hash = `#h${n}`;
      const texts = Array.from({ length: 5 }, (_, i) => `history ${i} ${n}`);
      let ann;
      let eve;
      try {
        ann = await tab(0, `ann${n}`, hash);
        for (const text of texts) await send(ann, text);
        await waitForTexts(ann, new RegExp(`^history \\d ${n}$`), texts.length, 30_000);
        await closeAll(ann);
        ann = null;
        eve = await tab(1, `eve${n}`, hash);
        for (const text of texts) await waitForMessage(eve, text);
        const shown = (await messages(eve).locator('.text').allTextContents()).filter((t) => texts.includes(t));
        assert.deepEqual(shown, texts, 'history in order, once each');
      } finally {
        await closeAll(ann, eve);
      }
    });

    // On aedes this is what found its dropping of QoS 1 messages overtaken by typing notices (cluster/aedes-fixes.cjs).
    test(`${2 * EACH} messages sent through both brokers: none lost, none twice, in per-sender order`, { timeout: 300_000 }, async () => {
      const n = nonce();
      const hash = `#bulk${n}`;
      const names = [`ann${n}`, `ben${n}`];
      let pages = [];
      try {
        pages = await Promise.all(names.map((name, i) => tab(i, name, hash)));
        const t0 = Date.now();
        await Promise.all(pages.map((page, k) =>
          submitAll(page, Array.from({ length: EACH }, (_, i) => `${names[k]} ${String(i).padStart(4, '0')}`))));
        const pattern = new RegExp(`^(ann|ben)${n} \\d{4}$`);
        for (const page of pages) {
          assertOnceInOrder(page.label, await waitForTexts(page, pattern, 2 * EACH, 90_000), 2 * EACH, names);
        }
        log(`${kind}: ${2 * EACH} messages in both tabs, once each, ${Date.now() - t0} ms after the first was typed`);
      } finally {
        await closeAll(...pages);
      }
    });

    // Last: it kills the first broker (and starts it again).
    test('a tab whose broker is killed moves to the other and loses nothing it sent', T, async () => {
      const n = nonce();
      const hash = `#f${n}`;
      const [a, b] = [`ann${n}`, `ben${n}`];
      let ann;
      let ben;
      try {
        [ann, ben] = await Promise.all([tab(0, a, hash), tab(1, b, hash)]);
        await send(ann, `before ${n}`);
        for (const page of [ann, ben]) await waitForMessage(page, `before ${n}`);

        await cluster.brokers[0].crash();
        const crashed = Date.now();
        // Sent at once, while ann has no broker: kept as pending, sent again on the other one.
        const texts = [0, 1, 2].map((i) => `${a} while moving ${i}`);
        for (const text of texts) await send(ann, text);
        await onBroker(ann, 1);
        log(`${kind}: ann connected to the other broker ${Date.now() - crashed} ms after the crash`);
        for (const text of texts) await waitForMessage(ben, text);
        await ann.waitForFunction(() => !document.querySelector('li.message.pending'), null, { timeout: 20_000 });

        // And the conversation goes on both ways, over the broker that is left.
        const reply = `reply ${n}`;
        await send(ben, reply);
        await waitForMessage(ann, reply);
        for (const page of [ann, ben]) {
          const shown = (await messages(page).locator('.text').allTextContents()).filter((t) => texts.includes(t));
          assert.deepEqual(shown, texts, `${page.label}: once each, in order`);
        }
        await shownOnce([ann, ben], [`before ${n}`, reply]);
        assert.deepEqual(await ann.locator('li.message.own', { hasText: 'while moving' }).locator('.delivery').allTextContents(),
          ['sent', 'sent', 'sent']);

        // The first broker is back, and first in ann's list: a reload still stays where her session is.
        await cluster.brokers[0].restart();
        await ann.reload();
        await onBroker(ann, 1);
        await waitForMessage(ann, reply);
      } finally {
        await closeAll(ann, ben);
      }
    });
  });
}
