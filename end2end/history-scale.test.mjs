// End-to-end, issue 18: what joining a room costs once many people have posted in it, on the shipped broker
// config. For each N (100, 1,000, 10,000 and 50,000 people; `HISTORY_PEOPLE=100,1000` to change), a broker of
// its own (the shipped mosquitto.conf and ACL on free ports) is filled with the retained histories of N people
// spread over a year (`history/examples/populate.rs`: person i's newest message at now − i × 365 days / N, 5
// messages each), then a new tab joins the room (`#scale`) and must show the room's newest 50 messages, once
// each, in order, the newest poster's last one among them (past the broker's queue limit it went missing
// silently: the bug of issue 18). Logged per N, as a `HISTORY_SCALE` line: the ms from pressing Enter on the
// login form to the frame that drew the newest 50; the bytes the page's WebSocket received until then and in
// the whole join, with the retained histories among them; the days whose histories it read (so the steps of
// `HISTORY_STEPS`); whether the broker logged dropping messages; and the broker's retained store (histories
// in its persistence file, the file's size). The time is a figure; only a generous bound (15 s) is asserted,
// so that a real regression fails. The days a join reads depend on the time of day (UTC): just after
// midnight today's bucket holds few people, and the join reads the days before.
//
// One more scenario, logged and not asserted (`HISTORY_TODAY_PEOPLE`, default 5,000; 0 skips it): that many
// people all posting today, the worst case for histories bucketed by day (a join reads them all at once).
//
// About 70 s on 2 cores, once the generator is built. Run with `scripts/test e2e`, or alone (it builds the
// generator itself):
//
//   E2E_NO_BUILD=1 E2E_DIST=/tmp/dist node --test end2end/history-scale.test.mjs

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import { ROOT, log, run, startBroker, useSetUp, waitFor } from './harness.mjs';
import { UI_TIMEOUT, closeAll } from './tabs.mjs';

const PEOPLE = (process.env.HISTORY_PEOPLE ?? '100,1000,10000,50000').split(',').map(Number);
const TODAY_PEOPLE = Number(process.env.HISTORY_TODAY_PEOPLE ?? 5000);
const ROOM = 'scale';
/** Messages each person posted (populate's default). */
const EACH = 5;
/** The newest messages a join must show: a history's length, HISTORY_LEN in src/chat/client.rs. */
const NEWEST = 50;
/** The bound asserted on the join: generous, a regression's bound, not the figure. */
const JOIN_MS = 15_000;
/** How long a join is watched for a figure, even past the bound. */
const WATCH_MS = 60_000;
/** Days read by the end of each step of HISTORY_STEPS (src/chat/client.rs): today, a week, 30 days, a year. */
const STEP_DAYS = [1, 7, 30, 365];
const T = { timeout: 300_000 };

const env = useSetUp({ broker: false });
const populate = path.join(process.env.CARGO_TARGET_DIR ?? path.join(ROOT, 'target'), 'release', 'examples', 'populate');

before(async () => {
  log('cargo build --release -p mqtt-chat-history --example populate ...');
  const { code, output } = await run('cargo', ['build', '--release', '-p', 'mqtt-chat-history', '--example', 'populate'],
    { name: 'cargo', timeoutMs: 30 * 60_000 });
  assert.equal(code, 0, `building populate failed:\n${output}`);
}, { timeout: 30 * 60_000 });

// ---- the broker's side -------------------------------------------------------------------------------------

/** Runs populate against `broker`; returns its summary (JSON) and the room's newest 50 messages, oldest first. */
async function fill(broker, dir, people, days) {
  const newest = path.join(dir, 'newest.json');
  const { code, output } = await run(populate, ['--broker', `mqtt://127.0.0.1:${broker.tcpPort}`, '--room', ROOM,
    '--people', String(people), '--each', String(EACH), '--days', String(days), '--newest', newest],
  { name: 'populate', timeoutMs: 240_000 });
  assert.equal(code, 0, `populate failed: ${output}`);
  const summary = JSON.parse(output.trim().split('\n').at(-1));
  assert.equal(summary.histories, people);
  return { summary, newest: JSON.parse(fs.readFileSync(newest, 'utf8')) };
}

/**
 * What the broker saved: the persistence file's size, and the retained messages in it on the room's history
 * topics. Read from the file, not by subscribing: a subscriber is sent every retained message at once, and
 * past `max_queued_messages` the broker drops the rest (one subscriber to the room's 50,000 histories got
 * 19,489 at QoS 0, 5,020 at QoS 1) — the very limit the day buckets are about.
 */
async function saved(broker) {
  const conf = broker.proc.spawnargs.at(-1);
  const file = path.join(path.dirname(conf), 'data', 'mosquitto.db');
  // Saved once more than a whole second has passed since the last save (autosave_interval 1): wait for the
  // size to hold still.
  let last = -1;
  const bytes = await waitFor('the persistence file to settle', async () => {
    await new Promise((r) => setTimeout(r, 1_500));
    const size = fs.existsSync(file) ? fs.statSync(file).size : -1;
    const settled = size > 0 && size === last;
    last = size;
    return settled && size;
  }, { timeoutMs: 60_000, intervalMs: 0 });
  return { bytes, retained: retainedIn(fs.readFileSync(file), `chat/rooms/${ROOM}/history/`) };
}

/**
 * The retained messages under `prefix` in a Mosquitto 2.0 persistence file (db version 6, `src/persist.h`):
 * a 15-byte magic, CRC and version (u32 each), then chunks of {type u32, length u32, data}, big-endian. A
 * retained message is a RETAIN chunk (4) naming the store id (u64) of a MSG_STORE chunk (2), whose fixed part
 * is store id, expiry (8 bytes each), payload length (4), source mid, source id length, source user name
 * length, topic length, source port (2 each), QoS and retain (1 each): 32 bytes, then the source id, the user
 * name and the topic.
 */
function retainedIn(db, prefix) {
  assert.equal(db.toString('latin1', 3, 15), 'mosquitto db', 'not a Mosquitto persistence file');
  assert.equal(db.readUInt32BE(19), 6, 'a persistence file version this suite does not read');
  const topics = new Map();
  const retained = [];
  let at = 23;
  while (at < db.length) {
    const type = db.readUInt32BE(at);
    const length = db.readUInt32BE(at + 4);
    const data = db.subarray(at + 8, at + 8 + length);
    if (type === 2) {
      const [idLength, userLength, topicLength] = [22, 24, 26].map((o) => data.readUInt16BE(o));
      const topic = 32 + idLength + userLength;
      topics.set(data.readBigUInt64BE(0), data.toString('utf8', topic, topic + topicLength));
    } else if (type === 4) {
      retained.push(data.readBigUInt64BE(0));
    }
    at += 8 + length;
  }
  assert.equal(at, db.length, 'the persistence file ends inside a chunk');
  return retained.filter((id) => topics.get(id)?.startsWith(prefix)).length;
}

// ---- the page's side ---------------------------------------------------------------------------------------

/**
 * Reads MQTT packets from the bytes of a WebSocket, split into frames anywhere: `onPacket(type, flags, body)`.
 */
function mqttReader(onPacket) {
  let buffered = Buffer.alloc(0);
  return (chunk) => {
    buffered = buffered.length ? Buffer.concat([buffered, chunk]) : chunk;
    for (;;) {
      // Fixed header: type and flags, then the remaining length in 1 to 4 bytes of 7 bits.
      let length = 0;
      let at = 1;
      for (let shift = 0; ; shift += 7, at++) {
        if (at >= buffered.length || at > 4) return;
        length += (buffered[at] & 127) * 2 ** shift;
        if (!(buffered[at] & 128)) break;
      }
      at++;
      if (buffered.length < at + length) return;
      onPacket(buffered[0] >> 4, buffered[0] & 15, buffered.subarray(at, at + length));
      buffered = buffered.subarray(at + length);
    }
  };
}

const string = (body, at) => body.toString('utf8', at + 2, at + 2 + body.readUInt16BE(at));

/**
 * Watches `page`'s WebSockets: `bytes` received (payloads), the retained `histories` of the room among them,
 * and `days`, the days whose histories the page subscribed to (how many steps of HISTORY_STEPS it read).
 */
function watchSocket(page) {
  const seen = { bytes: 0, histories: 0, historyBytes: 0, lastHistoryAt: null, days: new Set(), sockets: 0 };
  const prefix = `chat/rooms/${ROOM}/history/`;
  const dayFilter = new RegExp(`^chat/rooms/${ROOM}/history/(\\d{4}-\\d\\d-\\d\\d)/\\+$`);
  page.on('websocket', (ws) => {
    seen.sockets++;
    const received = mqttReader((type, flags, body) => {
      if (type === 3 && flags & 1 && string(body, 0).startsWith(prefix)) {
        seen.histories++;
        seen.historyBytes += body.length;
        seen.lastHistoryAt = Date.now();
      }
    });
    const sent = mqttReader((type, _flags, body) => {
      if (type !== 8) return; // SUBSCRIBE: packet id, then (filter, QoS) pairs
      for (let at = 2; at < body.length; at += 2 + body.readUInt16BE(at) + 1) {
        const day = dayFilter.exec(string(body, at));
        if (day) seen.days.add(day[1]);
      }
    });
    const bytes = (payload) => (typeof payload === 'string' ? Buffer.from(payload) : payload);
    ws.on('framereceived', ({ payload }) => {
      const b = bytes(payload);
      seen.bytes += b.length;
      received(b);
    });
    ws.on('framesent', ({ payload }) => sent(bytes(payload)));
  });
  return seen;
}

/**
 * Runs inside the page (serialized by Playwright: it may use nothing from this module). Records in
 * `window.__scale` when Enter was first pressed and when the frame that first holds all of `texts` ran
 * (Unix ms).
 */
function watchNewest(texts) {
  const want = new Set(texts);
  const now = () => performance.timeOrigin + performance.now();
  const scale = { enterAt: null, drawnAt: null };
  window.__scale = scale;
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && scale.enterAt === null) scale.enterAt = now();
  }, true);
  const observer = new MutationObserver(() => {
    const found = new Set();
    for (const el of document.querySelectorAll('li.message .text')) if (want.has(el.textContent)) found.add(el.textContent);
    if (found.size < want.size) return;
    observer.disconnect();
    requestAnimationFrame(() => {
      scale.drawnAt = now();
    });
  });
  observer.observe(document, { subtree: true, childList: true, characterData: true });
}

/** The message lines the page draws, oldest first, as {sender, text}. */
const lines = (page) => page.evaluate(() => [...document.querySelectorAll('li.message')].map((li) => ({
  sender: li.querySelector('.sender')?.textContent.trim() ?? '',
  text: li.querySelector('.text')?.textContent ?? '',
})));

/** After the newest 50 are drawn, the join is over once no history arrived for this long (ms). */
const QUIET_MS = 2_000;

/**
 * A tab joins the room as `reader` on `broker`. Resolves, once no history arrived for `QUIET_MS` after it drew
 * the `newest` messages (or `WATCH_MS` passed; or, with `giveUp`, no history arrived for `giveUp` ms and they
 * were never drawn), with {page, ms to the newest drawn (null if never), what had arrived then (`atDrawn`:
 * bytes, histories, their bytes), what arrived in all (`total`: the same, and the ms from Enter to the last
 * history), the days whose histories it subscribed to, the lines drawn}.
 */
async function joinRoom(broker, newest, { giveUp } = {}) {
  const context = await env.browser.newContext();
  const page = await context.newPage();
  page.setDefaultTimeout(UI_TIMEOUT);
  page.label = 'reader';
  page.errors = [];
  page.on('pageerror', (err) => page.errors.push(`reader: ${err.message}`));
  const seen = watchSocket(page);
  await page.goto(`${env.serverUrl}?broker=${broker.wsUrl}#${ROOM}`);
  await page.evaluate(watchNewest, newest.map((m) => m.text));
  await page.getByRole('textbox', { name: 'Name' }).fill('reader');
  assert.equal(seen.sockets, 0, 'the page opened a WebSocket before joining');
  const t0 = Date.now();
  await page.getByRole('textbox', { name: 'Name' }).press('Enter');
  const received = () => ({ bytes: seen.bytes, histories: seen.histories, historyBytes: seen.historyBytes });
  const quiet = (ms) => seen.lastHistoryAt !== null && Date.now() - seen.lastHistoryAt > ms;
  let scale = {};
  let atDrawn = null;
  // Never drawn: the caller reports it.
  await waitFor(`the newest ${NEWEST} drawn`, async () => {
    scale = await page.evaluate(() => window.__scale);
    if (scale.drawnAt) atDrawn ??= received();
    return (atDrawn && quiet(QUIET_MS)) || (giveUp && !atDrawn && quiet(giveUp));
  }, { timeoutMs: WATCH_MS, intervalMs: 50 }).catch(() => {});
  const ms = scale.drawnAt ? Math.round(scale.drawnAt - scale.enterAt) : null;
  const total = { ...received(), ms: seen.lastHistoryAt && seen.lastHistoryAt - t0 };
  return { page, ms, atDrawn, total, days: seen.days.size, lines: await lines(page) };
}

/** How many steps of HISTORY_STEPS reading `days` days took. */
const steps = (days) => STEP_DAYS.findIndex((d) => d >= days) + 1;

/**
 * One scenario: a fresh broker holding `people` histories spread over `days` days, then a tab joining. Returns
 * the figures and what the tab drew; logs them as a `label` line.
 */
async function scenario(label, people, days, { giveUp, settle } = {}) {
  const broker = await startBroker({ name: `mosquitto-${people}` });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mqtt-chat-scale-'));
  let page;
  try {
    const t0 = Date.now();
    const { summary, newest } = await fill(broker, dir, people, days);
    const filled = Date.now() - t0;
    const { retained, bytes: dbBytes } = await saved(broker);
    const join = await joinRoom(broker, newest, { giveUp });
    const drops = broker.proc.output.match(/Outgoing messages are being dropped/g)?.length ?? 0;
    page = join.page;
    const figures = { ms: join.ms, retained, steps: steps(join.days) };
    const drawn = join.atDrawn ?? { bytes: '-', histories: '-' };
    log(`${label} people=${people} days=${days} join_ms=${join.ms ?? 'never'} bytes_to_drawn=${drawn.bytes} ` +
      `histories_to_drawn=${drawn.histories} join_bytes=${join.total.bytes} join_histories=${join.total.histories} ` +
      `(${join.total.historyBytes} bytes, the last ${join.total.ms} ms after Enter) days_read=${join.days} ` +
      `steps=${figures.steps} broker_drop_notices=${drops} retained=${retained} db_bytes=${dbBytes} ` +
      `populate_ms=${filled} published_bytes=${summary.payload_bytes} populate_predicts=${JSON.stringify(summary.steps)}`);
    // What the page told the user (the notice that the broker may have left histories out, if any), once it
    // has had `settle` to finish reading.
    if (settle) await settle(page, newest);
    const notices = await page.locator('.notice').allTextContents();
    return { figures, newest, lines: settle ? await lines(page) : join.lines, notices };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
    // The page first: closing the broker under it would only make it reconnect.
    try {
      await closeAll(page);
    } finally {
      await broker.stop();
    }
  }
}

describe('a room N people posted in over a year', () => {
  for (const people of PEOPLE) {
    test(`${people} people: a new tab shows the newest ${NEWEST} messages, the newest poster's last among them`, T, async () => {
      const { figures, newest, lines } = await scenario('HISTORY_SCALE', people, 365);
      assert.equal(figures.retained, people, 'the broker does not hold every history');
      const last = newest.at(-1);
      const shown = (m) => lines.filter((l) => l.text === m.text && l.sender === m.sender).length;
      assert.equal(shown(last), 1, `the newest poster's last message (${last.text}) is shown ${shown(last)} times`);
      const missing = newest.filter((m) => shown(m) !== 1).map((m) => `${m.text} × ${shown(m)}`);
      assert.deepEqual(missing, [], `of the newest ${NEWEST}, not shown once (${lines.length} lines drawn)`);
      assert.deepEqual(lines.slice(-NEWEST), newest.map(({ sender, text }) => ({ sender, text })),
        `the newest ${NEWEST} are not the last lines, in order`);
      assert.ok(figures.ms !== null && figures.ms <= JOIN_MS, `the newest ${NEWEST} took ${figures.ms} ms (bound ${JOIN_MS})`);
    });
  }

  test(`${TODAY_PEOPLE || 'no'} people all posting today: all the newest shown, or the page says some may be missing`, { ...T, skip: !TODAY_PEOPLE && 'HISTORY_TODAY_PEOPLE=0' }, async () => {
    // The case day buckets do not help with (a join reads them all at once), measured to be reported. Asserted:
    // nothing is missing without a word.
    // Reading all of them takes a while (about 3.5 ms a history): until the newest poster's last message or the
    // notice shows, at most a minute.
    const settle = (page, newest) => page.waitForFunction(
      (text) => [...document.querySelectorAll('li.message .text')].some((e) => e.textContent === text)
        || /may be missing/.test(document.querySelector('.notice')?.textContent ?? ''),
      newest.at(-1).text, { timeout: 60_000 },
    ).catch(() => {});
    const { newest, lines, notices } = await scenario('HISTORY_TODAY', TODAY_PEOPLE, 0, { giveUp: 5_000, settle });
    const last = newest.at(-1);
    const shownNewest = newest.filter((m) => lines.some((l) => l.text === m.text)).length;
    const senders = new Set(lines.map((l) => l.sender));
    const warned = notices.some((n) => /may be missing/.test(n));
    log(`HISTORY_TODAY: ${shownNewest} of the newest ${NEWEST} shown; the newest poster's last message ` +
      `(${last.text}) ${lines.some((l) => l.text === last.text) ? 'shown' : 'MISSING'}; ${lines.length} lines drawn, ` +
      `from ${senders.size} senders; the page ${warned ? 'says some may be missing' : 'says nothing'}`);
    assert.ok(shownNewest === NEWEST || warned, `${NEWEST - shownNewest} of the newest ${NEWEST} missing, and not a word`);
  });
});
