// A workaround for aedes 1.2 with a redis persistence (aedes-persistence-redis 11/12, through
// aedes-persistence's BroadcastPersistence): a SUBSCRIBE with two or more topic filters from a client with a
// persistent session (clean session 0, as every tab of the chat connects) is never acknowledged. aedes stores
// the packet's whole list of subscriptions once per filter, concurrently; each store waits for its own
// broadcast to come back through the cluster, keyed by client and first filter, so every wait but the last is
// forgotten and the SUBACK never goes out. (The chat's first SUBSCRIBE names presence and room histories.)
//
// Here concurrent stores of the same list by the same client share one broadcast and one wait. Loaded by
// the node configs (aedes-1.cjs) in aedes-cli's process, before the persistence is made.
'use strict'

const path = require('node:path')

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
