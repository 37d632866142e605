// Run the repo's broker config on free ports until SIGTERM/SIGINT, for scripts/test (wasm tests):
// prints one line `ws://127.0.0.1:WSPORT mqtt://127.0.0.1:TCPPORT` on stdout once it listens.
import { runUntilSignal, startBroker } from './harness.mjs';

const broker = await startBroker();
process.stdout.write(`${broker.wsUrl} mqtt://127.0.0.1:${broker.tcpPort}\n`);
// A dead broker fails the tests that use it; say so instead of hanging around.
runUntilSignal(() => broker.stop(), [broker]);
