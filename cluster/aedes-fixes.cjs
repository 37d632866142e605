// Workarounds for two bugs of aedes 1.2 with a redis persistence, both of which the chat runs into. Loaded by
// the node configs (aedes-1.cjs) in aedes-cli's process, after aedes itself, before the broker is made.
//
// 1. A workaround for aedes 1.2 with a redis persistence (aedes-persistence-redis 11/12, through
// aedes-persistence's BroadcastPersistence): a SUBSCRIBE with two or more topic filters from a client with a
// persistent session (clean session 0, as every tab of the chat connects) is never acknowledged. aedes stores
// the packet's whole list of subscriptions once per filter, concurrently; each store waits for its own
// broadcast to come back through the cluster, keyed by client and first filter, so every wait but the last is
// forgotten and the SUBACK never goes out. (The chat's first SUBSCRIBE names presence and room histories.)
//
// Here concurrent stores of the same list by the same client share one broadcast and one wait.
//
// 2. aedes drops a message to a client as a duplicate when the client was already given a later message
// (by the publishing broker's counter). With a redis persistence, a QoS 1 message to a persistent session
// first waits for redis (outgoingUpdate) while a later QoS 0 one (the chat's typing notices) goes straight
// out, so the QoS 1 message arrives "late" and is dropped: 10-50% of a burst of chat messages never reached
// the other tab. Here that check is off: a message is never dropped as a duplicate. (Real duplicates, from
// overlapping subscriptions, are allowed by MQTT 3.1.1 and the chat shows each message once anyway.)
'use strict'

const path = require('node:path')

// ---- 1. concurrent stores of one SUBSCRIBE ----

// Resolved as aedes-persistence-redis resolves it, from aedes-cli's own node_modules.
const redisPersistence = require.resolve('aedes-persistence-redis', { paths: [require.main?.path ?? process.cwd()] })
const BroadcastPersistence = require(require.resolve('aedes-persistence/broadcastPersistence.js', {
  paths: [path.dirname(redisPersistence)]
}))

const added = BroadcastPersistence.prototype.addedSubscriptions
const inFlight = new Map()

BroadcastPersistence.prototype.addedSubscriptions = function (client, subs) {
  const key = JSON.stringify([client.id, subs.map((sub) => [sub.topic, sub.qos])])
  let pending = inFlight.get(key)
  if (!pending) {
    pending = added.call(this, client, subs).finally(() => inFlight.delete(key))
    inFlight.set(key, pending)
  }
  return pending
}

// ---- 2. no dropping of "duplicates" by broker counter ----

// aedes does not export its Client: load its file by path (the same module instance aedes uses; aedes 1.2 is
// an ES module, which Node 20.19+ can require).
const aedesMain = require.resolve('aedes', { paths: [require.main?.path ?? process.cwd()] })
const Client = require(path.join(path.dirname(aedesMain), 'lib', 'client.js')).default
if (typeof Client !== 'function') {
  throw new Error('aedes-fixes.cjs: no Client class in aedes/lib/client.js; is this aedes-cli 1.0.2 with aedes 1.2?')
}
// Each client's record of the last counter seen per broker: one that never remembers anything.
const forgetful = new Proxy(Object.create(null), { get: () => undefined, set: () => true })
Object.defineProperty(Client.prototype, 'duplicates', {
  get: () => forgetful,
  set: () => {},
  configurable: true
})
