// Node 1 of a two-node aedes cluster (npm `aedes-cli`, run from end2end/node_modules/.bin/aedes):
//
//   aedes --config cluster/aedes-1.cjs     MQTT 127.0.0.1:1885, WebSocket 127.0.0.1:9003
//   aedes --config cluster/aedes-2.cjs     MQTT 127.0.0.1:1886, WebSocket 127.0.0.1:9004
//
// Both keep their state in one redis-server (127.0.0.1:6390): sessions, offline queues, retained messages
// and wills (`persistence`), and every published message goes through redis to every node (`mq`). So a
// client may reconnect to either node and find its session, and a client id connecting on one node takes
// over a connection on the other. Redis is the single point of failure: without it neither node works.
// aedes-cli has no ACL: unlike Mosquitto with mosquitto.acl, nothing stops a client from publishing under
// another user's name. `scripts/cluster aedes` starts redis and both nodes. The ports can be changed
// through the environment (AEDES_PORT, AEDES_WS_PORT, REDIS_PORT); the tests use that to run on free ports.
'use strict'

// Two aedes 1.2 bugs with a redis persistence, worked around (read the file).
require('./aedes-fixes.cjs')

const port = (name, fallback) => Number(process.env[name] || fallback)
const redis = { host: '127.0.0.1', port: port('REDIS_PORT', 6390) }

// ---- limits: what one client may cost the broker (docs/security.md, "Broker limits") -----------------------
// The same numbers hold in both nodes: aedes-2.cjs takes everything here. Mosquitto's limits (../mosquitto.conf)
// are mostly missing from aedes 1.2, and aedes-cli 1.0.2 passes only five aedes options from a config file
// (concurrency, queueLimit, maxClientsIdLength, heartbeatInterval, connectTimeout; below, in module.exports).
// Checked against an aedes node started with this file ("measured").
//
// Not offered by aedes 1.2, aedes-cli 1.0.2 or mqtt-packet 9 (their parser takes no options), so NOT limited here:
// - the size of a message or packet: a 3 MB retained publish is acknowledged, retained and delivered to everyone
//   (measured, over TCP and WebSocket), and a PUBLISH declaring 200 MB is read into memory as it arrives
//   (measured: +108 MB after 150 MB of it). aedes-cli's WebSocket server keeps the ws library's default limit
//   of 100 MiB per WebSocket message, which an MQTT packet split over several messages gets around. The chat
//   client's own MAX_PAYLOAD_BYTES (1,250,000) is the only size limit on this cluster;
// - the number of connections, in total or from one address;
// - the retained store and the offline queues in redis: redis-server's maxmemory, which scripts/cluster and the
//   tests leave unset, would be the only bound;
// - who may publish what: aedes-cli has no ACL (see above), so a user can also overwrite another's history.
//
// aedes 1.2 options that aedes-cli 1.0.2 does not pass from a config file, handed to aedes here instead (aedes-cli
// makes its broker with Aedes.createBroker):
const AEDES_OPTIONS = {
  // Keep-alive: a CONNECT asking for more than 120 s (the chat's own keep-alive), or for 0 (never time out), is
  // refused with CONNACK return code 6 (an aedes code; MQTT 3.1.1 defines 0-5). Defends against connections that
  // go silent and are never timed out; mosquitto_pub/sub ask for 60 s.
  keepaliveLimit: 120,
  // A client whose socket has not drained for 60 s (it stopped reading) is disconnected, so that it does not hold
  // up delivery to everyone else (aedes' default, set here to be seen). Costs a tab on a connection stalled for a
  // minute its connection (it reconnects).
  drainTimeout: 60000,
  // At most 1,000 QoS 2 PUBLISHes of one client awaiting its PUBREL, then it is disconnected (aedes' default; the
  // chat never uses QoS 2). Counts packets, not bytes.
  maxInflightInbound: 1000,
  // Topics of at most 100 levels (aedes' default and maximum; the chat's have 5).
  maxTopicLevels: 100
}
const { Aedes } = require(require.resolve('aedes', { paths: [require.main?.path ?? process.cwd()] }))
if (!Aedes.createBroker.mqttChatLimits) {
  const createBroker = Aedes.createBroker
  Aedes.createBroker = function (opts) {
    return createBroker.call(this, { ...opts, ...AEDES_OPTIONS })
  }
  Aedes.createBroker.mqttChatLimits = true
}
// Offline messages kept in redis for a client that is away (clean session 0): each expires after 2 days, like
// Mosquitto's persistent_client_expiration 2d (there the whole session goes); costs a tab away for longer what
// it missed meanwhile (it still gets the rooms' retained histories). A client gets at most 1,000 of them per
// CONNECT (aedes-persistence-redis' default maxSessionDelivery, set here to be seen), the rest on its next ones.
const persistence = { ...redis, maxSessionDelivery: 1000, packetTTL: () => 2 * 24 * 60 * 60 }

module.exports = {
  protos: ['tcp', 'ws'],
  // Loopback only: aedes-cli's defaults for a config file listen on 0.0.0.0.
  host: '127.0.0.1',
  port: port('AEDES_PORT', 1885),
  wsPort: port('AEDES_WS_PORT', 9003),
  brokerId: 'mqtt-chat-aedes-1',
  persistence: { name: 'redis', options: persistence },
  mq: { name: 'redis', options: redis },
  // Limits passed by aedes-cli (see "limits" above). A client id of more than 23 characters is refused (CONNACK
  // 2), but aedes applies this to MQTT 3.1 clients only: a 3.1.1 client id of 1,000 characters was accepted
  // (measured). The app's client ids are 18 characters.
  maxClientsIdLength: 23,
  // A connection that has not sent its CONNECT within 30 s is closed (aedes' default; measured: 30.1 s).
  connectTimeout: 30000,
  // At most 42 packets from a client before its CONNECT has been processed, then it is disconnected (the
  // default).
  queueLimit: 42,
  // Messages handed to the redis emitter at once: aedes-cli's default; with the redis `mq` it only sets how many
  // listeners a connection may have. Not a limit on a client.
  concurrency: 100,
  // No $SYS statistics (the config-file default would publish them every 5 s).
  stats: false,
  // AEDES_VERBOSE=1: log every connection and message (2: and every packet).
  verbose: process.env.AEDES_VERBOSE === '1',
  veryVerbose: process.env.AEDES_VERBOSE === '2'
}
