// scripts/cluster: run the two brokers of a cluster kind (`mosquitto` or `aedes`) on the ports of the shipped
// configs until SIGINT/SIGTERM, through the same code the tests use (harness.mjs `startCluster`).
import { CLUSTERS, runUntilSignal, startCluster } from './harness.mjs';

const PORTS = {
  mosquitto: { brokers: [[1883, 9001], [1884, 9002]] },
  aedes: { brokers: [[1885, 9003], [1886, 9004]], redis: 6390 },
};
const kind = process.argv[2];
if (!CLUSTERS.includes(kind)) {
  console.error(`usage: node end2end/cluster.mjs ${CLUSTERS.join('|')}`);
  process.exit(2);
}
const cluster = await startCluster(kind, PORTS[kind]);
const urls = cluster.brokers.map((b) => b.wsUrl);
console.log(`${kind}: ${cluster.brokers.map((b) => `${b.name} mqtt://127.0.0.1:${b.tcpPort} ${b.wsUrl}`).join(', ')}`);
console.log(`open the app with  ?broker=${urls.join(',')}  (a tab on the second: ?broker=${[...urls].reverse().join(',')})`);
runUntilSignal(() => cluster.stop(), cluster.brokers);
