// Run the repo's broker config on free ports until SIGTERM/SIGINT, for scripts/test (wasm tests):
// prints one line `ws://127.0.0.1:WSPORT mqtt://127.0.0.1:TCPPORT` on stdout once it listens.
import { startBroker } from './harness.mjs';

const broker = await startBroker();
process.stdout.write(`${broker.wsUrl} mqtt://127.0.0.1:${broker.tcpPort}\n`);
let stopping = false;
const shutdown = async () => {
  stopping = true;
  await broker.stop();
  process.exit(0);
};
process.removeAllListeners('SIGTERM');
process.removeAllListeners('SIGINT');
process.once('SIGTERM', shutdown);
process.once('SIGINT', shutdown);
// A dead broker fails the tests that use it; say so instead of hanging around.
broker.proc.exited.then(({ code, signal }) => {
  if (stopping) return;
  console.error(`[broker] mosquitto exited (code ${code}, signal ${signal}):\n${broker.proc.output}`);
  process.exit(1);
});
