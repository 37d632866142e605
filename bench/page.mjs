// What the benchmark puts into every page, ours and the reference alike, before the page's own scripts
// run (Playwright's addInitScript): it watches the message log and the status line and records when things
// happen, on the clock every tab of the browser shares, `performance.timeOrigin + performance.now()`.
//
//   window.__bench.seen          Map text -> when the first <li class="message"> with that .text was added
//   window.__bench.groups        Map prefix -> {count, drawn, first, last}: the texts "PREFIX N" (flooded
//                                messages, numbered from 0 and delivered in order). `count` is how far the
//                                page has caught up, the highest N drawn + 1, reached at `last`; `drawn` how
//                                many were drawn. They differ for a list that draws only its newest lines:
//                                a message that arrives and scrolls out within one frame is never drawn.
//   window.__bench.longTasks     [{start, duration}] from the Long Tasks API (tasks of 50 ms or more)
//   window.__bench.frames        Map text -> when the WebSocket frame carrying it arrived (only texts that
//                                start with `framePrefix`, set while a figure needs it: it costs a decode)
//   window.__bench.connectedAt   when the status line first said "Connected" (auto-join, below)
//
// `options.autoJoin`: a name; once the page is loaded and shows a "Name" field, the script fills it in and
// submits its form in the page itself (no round trip to Playwright), for the load → connected figure.

/** Runs inside the page: serialized by Playwright, so it may use nothing from this module's scope. */
export function instrument(options) {
  const now = () => performance.timeOrigin + performance.now();
  const b = {
    seen: new Map(),
    groups: new Map(),
    waiters: new Map(),
    longTasks: [],
    frames: new Map(),
    framePrefix: null,
    joinedAt: null,
    connectedAt: null,
  };
  window.__bench = b;

  b.waitFor = (text) =>
    b.seen.has(text) ? Promise.resolve(b.seen.get(text)) : new Promise((resolve) => b.waiters.set(text, resolve));
  b.group = (prefix) => b.groups.get(prefix) ?? { count: 0, drawn: 0, first: null, last: null };

  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) b.longTasks.push({ start: performance.timeOrigin + e.startTime, duration: e.duration });
    }).observe({ type: 'longtask', buffered: true });
  } catch {
    b.longTasks = null; // no Long Tasks API
  }

  const record = (li, t) => {
    const text = li.querySelector('.text')?.textContent ?? '';
    if (b.seen.has(text)) return; // re-rendered (a keyed list may re-create an item): the first one counts
    b.seen.set(text, t);
    const waiter = b.waiters.get(text);
    if (waiter) {
      b.waiters.delete(text);
      waiter(t);
    }
    const space = text.lastIndexOf(' ');
    const n = Number(text.slice(space + 1));
    if (space > 0 && Number.isInteger(n)) {
      const prefix = text.slice(0, space);
      let g = b.groups.get(prefix);
      if (!g) b.groups.set(prefix, (g = { count: 0, drawn: 0, first: t, last: t }));
      g.drawn += 1;
      if (n + 1 > g.count) {
        g.count = n + 1;
        g.last = t;
      }
    }
  };
  new MutationObserver((records) => {
    const t = now();
    for (const r of records) {
      for (const node of r.addedNodes) {
        if (node.nodeType !== 1) continue;
        if (node.tagName === 'LI' && node.classList.contains('message')) record(node, t);
        else if (node.querySelectorAll) for (const li of node.querySelectorAll('li.message')) record(li, t);
      }
    }
  }).observe(document, { childList: true, subtree: true });

  // The frame a message arrived in, for the figures that time the page's own work (arrival → rendered).
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      // Registered before the page's own handlers, so it runs first.
      this.addEventListener('message', (event) => {
        if (!b.framePrefix || !(event.data instanceof ArrayBuffer)) return;
        const t = now();
        const text = new TextDecoder('latin1').decode(event.data);
        for (let i = text.indexOf(b.framePrefix); i >= 0; i = text.indexOf(b.framePrefix, i + 1)) {
          const m = /^[^"\s]+ \d+/.exec(text.slice(i, i + 200));
          if (m && !b.frames.has(m[0])) b.frames.set(m[0], t);
        }
      });
    }
  };

  if (options?.autoJoin) {
    const connected = /(^|\W)Connected\b/; // not "Disconnected"
    const nameField = () =>
      [...document.querySelectorAll('input')].find((i) => [...(i.labels ?? [])].some((l) => /^\s*Name\b/.test(l.textContent)));
    // Not before DOMContentLoaded: the page's deferred scripts run after readyState is already
    // "interactive", and a form submitted before its handler is attached would navigate away.
    let loaded = false;
    const watch = new MutationObserver(() => step());
    const step = () => {
      if (!loaded) return;
      if (!b.joinedAt) {
        const input = nameField();
        if (!input) return;
        b.joinedAt = now();
        input.value = options.autoJoin;
        input.dispatchEvent(new Event('input', { bubbles: true }));
        input.form.requestSubmit();
      }
      const status = [...document.querySelectorAll('[role=status]')].map((s) => s.textContent).join(' ');
      if (connected.test(status)) {
        b.connectedAt = now();
        watch.disconnect();
      }
    };
    watch.observe(document, { childList: true, subtree: true, characterData: true });
    document.addEventListener('DOMContentLoaded', () => {
      loaded = true;
      step();
    });
  }
}

/** Sends `text` from the page's "Message" field (`box`, a Playwright locator); returns when it was submitted. */
export function sendFrom(box, text) {
  return box.evaluate((input, text) => {
    input.value = text;
    input.dispatchEvent(new Event('input', { bubbles: true }));
    const t = performance.timeOrigin + performance.now();
    input.form.requestSubmit();
    return t;
  }, text);
}
