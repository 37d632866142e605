// A small chat on mqtt.js, for comparison only: it joins one room (the URL fragment, default "general"),
// shows each message of `chat/rooms/{room}/messages/+` as one <li> and sends with QoS 1, with the payloads
// of the README's wire protocol, so that it and the app see each other's messages. No presence, history,
// typing or DMs.
/* global mqtt */
'use strict';

const params = new URLSearchParams(location.search);
const brokerUrl = params.get('broker') ?? `ws://${location.hostname}:9001`;
const room = decodeURIComponent(location.hash.slice(1)) || 'general';
const clientId = `ref${Math.random().toString(16).slice(2, 14)}`;
const $ = (id) => document.getElementById(id);
const list = $('messages');
const status = $('status');
const seen = new Set(); // `${sender}\0${id}`: a QoS 1 redelivery is shown once
const utf8 = new TextDecoder('utf-8', { fatal: true });
let client = null;
let name = '';
let counter = 0;

$('login').addEventListener('submit', (event) => {
  event.preventDefault();
  name = $('name').value.trim();
  if (!name || client) return;
  status.textContent = 'Connecting…';
  client = mqtt.connect(brokerUrl, { clientId, username: name, protocolVersion: 4, keepalive: 120, clean: true });
  client.on('connect', () => {
    client.subscribe(`chat/rooms/${room}/messages/+`, { qos: 1 }, (err) => {
      status.textContent = err ? `Subscription refused: ${err.message}` : `Connected as ${name} in #${room}`;
    });
  });
  client.on('reconnect', () => { status.textContent = 'Reconnecting…'; });
  client.on('close', () => { status.textContent = 'Disconnected'; });
  client.on('message', (topic, payload) => receive(topic.split('/')[4], payload));
});

$('composer').addEventListener('submit', (event) => {
  event.preventDefault();
  const box = $('message');
  const text = box.value;
  if (!client || !text.trim()) return;
  const message = { id: `${clientId}-${++counter}`, text, sent_at: Date.now() };
  client.publish(`chat/rooms/${room}/messages/${name}`, JSON.stringify(message), { qos: 1 });
  seen.add(`${name}\0${message.id}`);
  show(name, message.text, message.sent_at);
  box.value = '';
});

function receive(sender, payload) {
  let text;
  let sentAt = Date.now();
  try {
    text = utf8.decode(payload);
  } catch {
    show(sender, `unreadable message (${payload.length} bytes)`, sentAt);
    return;
  }
  try {
    const m = JSON.parse(text);
    if (m && typeof m.id === 'string' && typeof m.text === 'string' && Number.isInteger(m.sent_at)) {
      const key = `${sender}\0${m.id}`;
      if (seen.has(key)) return;
      seen.add(key);
      text = m.text;
      sentAt = m.sent_at;
    }
  } catch {
    // not JSON: shown as plain text
  }
  show(sender, text, sentAt);
}

// Follow new messages while the reader is at the bottom: known from scroll events, applied once per frame,
// so that appending never forces a layout.
let atBottom = true;
let scrollQueued = false;
list.addEventListener('scroll', () => {
  atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 160;
});

function show(sender, text, sentAt) {
  const li = document.createElement('li');
  li.className = 'message';
  const who = document.createElement('span');
  who.className = 'sender';
  who.textContent = sender;
  const when = document.createElement('time');
  const date = new Date(sentAt);
  when.dateTime = date.toISOString();
  when.textContent = `${String(date.getHours()).padStart(2, '0')}:${String(date.getMinutes()).padStart(2, '0')}`;
  const body = document.createElement('span');
  body.className = 'text';
  body.textContent = text;
  li.append(who, when, body);
  list.append(li);
  if (atBottom && !scrollQueued) {
    scrollQueued = true;
    requestAnimationFrame(() => {
      scrollQueued = false;
      list.scrollTop = list.scrollHeight;
    });
  }
}
