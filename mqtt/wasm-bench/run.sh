#!/usr/bin/env bash
# Measures our codec natively and in wasm (Node) with the same loops and workloads, and prints a table.
#
#   mqtt/wasm-bench/run.sh [round_ms]      # default 30 ms per timed round, 21 rounds, fastest kept
#   OPT_LEVEL=3 mqtt/wasm-bench/run.sh     # override the profile's opt-level (the app ships with "z")
#
# Needs: rustup target wasm32-unknown-unknown, wasm-bindgen CLI 0.2.130, node.
set -euo pipefail
cd "$(dirname "$0")"

round_ms="${1:-30}"
if [[ -n "${OPT_LEVEL:-}" ]]; then
    export CARGO_PROFILE_RELEASE_OPT_LEVEL="$OPT_LEVEL"
    target_dir="target/opt-$OPT_LEVEL"
else
    target_dir="target"
fi
export CARGO_TARGET_DIR="$target_dir"
opt="${OPT_LEVEL:-z, as the app ships}"

want="wasm-bindgen 0.2.130"
[[ "$(wasm-bindgen --version)" == "$want" ]] || { echo "need $want on PATH" >&2; exit 1; }

SECONDS=0
cargo build --release --bin native
native_s=$SECONDS
SECONDS=0
cargo build --release --lib --target wasm32-unknown-unknown
wasm-bindgen --target nodejs --out-dir "pkg" \
    "$target_dir/wasm32-unknown-unknown/release/mqtt_wasm_bench.wasm"
wasm_s=$SECONDS
echo "build: native ${native_s}s, wasm ${wasm_s}s (incremental: 0-1s when nothing changed)" >&2

native="$("$target_dir/release/native" "$round_ms")"
wasm="$(node bench.mjs "$round_ms")"

NATIVE="$native" WASM="$wasm" OPT="$opt" NODE_VERSION="$(node --version)" python3 - <<'PY'
import os
def parse(text):
    return {(w, op): (int(n), float(lo), float(med))
            for w, op, n, lo, med in (l.split("\t") for l in text.strip().splitlines())}
native, wasm = parse(os.environ["NATIVE"]), parse(os.environ["WASM"])
head = ("op", "workload", "bytes", "native ns/op", "wasm ns/op", "wasm/native", "native median", "wasm median")
rows = []
for (w, op), (n, lo, med) in native.items():
    _, wlo, wmed = wasm[(w, op)]
    rows.append((op, w, str(n), f"{lo:.1f}", f"{wlo:.1f}", f"{wlo / lo:.2f}x", f"{med:.1f}", f"{wmed:.1f}"))
rows.sort(key=lambda r: r[0])
widths = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]
line = lambda r: "  ".join(c.rjust(w) if i >= 2 else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths)))
print(f"\nour codec, native vs wasm32 in Node {os.environ['NODE_VERSION']}, opt-level {os.environ['OPT']}; "
      "ns/op = fastest of 21 timed rounds (medians alongside); wasm/native > 1 means wasm is slower")
print(line(head))
print(line(tuple("-" * w for w in widths)))
for r in rows:
    print(line(r))
PY
