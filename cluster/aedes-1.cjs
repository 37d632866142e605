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

module.exports = {
  protos: ['tcp', 'ws'],
  // Loopback only: aedes-cli's defaults for a config file listen on 0.0.0.0.
  host: '127.0.0.1',
  port: port('AEDES_PORT', 1885),
  wsPort: port('AEDES_WS_PORT', 9003),
  brokerId: 'mqtt-chat-aedes-1',
  persistence: { name: 'redis', options: redis },
  mq: { name: 'redis', options: redis },
  // The app's client ids are 18 characters; MQTT 3.1.1 brokers must accept up to 23.
  maxClientsIdLength: 23,
  // No $SYS statistics (the config-file default would publish them every 5 s).
  stats: false,
  // AEDES_VERBOSE=1: log every connection and message (2: and every packet).
  verbose: process.env.AEDES_VERBOSE === '1',
  veryVerbose: process.env.AEDES_VERBOSE === '2'
}
