// Node 2 of the aedes cluster: node 1's configuration (read aedes-1.cjs) on other ports, another broker id.
// Its limits are node 1's, the same numbers on both nodes (see "limits" in aedes-1.cjs and docs/security.md).
'use strict'

const port = (name, fallback) => Number(process.env[name] || fallback)

module.exports = {
  ...require('./aedes-1.cjs'),
  port: port('AEDES_PORT', 1886),
  wsPort: port('AEDES_WS_PORT', 9004),
  brokerId: 'mqtt-chat-aedes-2'
}
