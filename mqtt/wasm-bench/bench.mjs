// Runs the wasm build (wasm-bindgen --target nodejs, in ./pkg) and prints its measurements.
import { createRequire } from "node:module";
const require = createRequire(import.meta.url);
const { run } = require("./pkg/mqtt_wasm_bench.js");
const roundMs = Number(process.argv[2] ?? 30);
// V8 first runs wasm from its baseline compiler (Liftoff) and tiers hot functions up to TurboFan as they run:
// one untimed pass over every workload first, so that the measured pass is all optimized code, as in a
// chat tab that has been open for a while.
run(roundMs / 3);
process.stdout.write(run(roundMs));
