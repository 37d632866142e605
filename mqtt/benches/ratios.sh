#!/usr/bin/env bash
# Runs the codec benchmark (ours against rumqttc's mqttbytes v4) and prints a table of medians and ratios.
#
#   mqtt/benches/ratios.sh                    # build + run the bench, then print the table
#   mqtt/benches/ratios.sh --no-bench         # only print the table from the last run's results
#   mqtt/benches/ratios.sh -- <criterion args> # e.g. -- --measurement-time 5 publish_100B
#   OPT_LEVEL=z mqtt/benches/ratios.sh        # override the bench profile's opt-level (the workspace's
#                                             # [profile.bench]: 3; "z" is what the app's wasm ships); results kept apart
#
#   BENCH_WALL_CLOCK=1 mqtt/benches/ratios.sh  # wall time instead of the bench thread's CPU time
#
# ratio = mqttbytes median / our median (time per iteration): above 1 we are faster.
# Goals (issue tracker): decode >= 3x mqttbytes, encode >= 1.5x.
set -euo pipefail

cd "$(dirname "$0")/../.."

run=1
args=()
while (($#)); do
    case "$1" in
        --no-bench) run=0 ;;
        --) shift; args+=("$@"); break ;;
        *) args+=("$1") ;;
    esac
    shift
done

target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
if [[ -n "${OPT_LEVEL:-}" ]]; then
    export CARGO_PROFILE_BENCH_OPT_LEVEL="$OPT_LEVEL"
    export CRITERION_HOME="${CRITERION_HOME:-$target_dir/criterion-opt$OPT_LEVEL}"
fi

if ((run)); then
    cargo bench -p mqtt --bench codec -- --warm-up-time 1 --measurement-time 3 ${args[@]+"${args[@]}"}
fi

clock="thread CPU time"
[[ -n "${BENCH_WALL_CLOCK:-}" ]] && clock="wall time"
python3 - "${CRITERION_HOME:-$target_dir/criterion}" "${OPT_LEVEL:-3 (workspace bench profile)}" "$clock" <<'EOF'
import json, os, sys

home = sys.argv[1]
workloads = ["publish_100B", "publish_1KB", "mixed"]
ops = [("decode", 3.0), ("decode_stream", 3.0), ("encode", 1.5)]

def median_ns(group, func):
    path = os.path.join(home, group, func, "new", "estimates.json")
    try:
        with open(path) as f:
            return json.load(f)["median"]["point_estimate"]
    except FileNotFoundError:
        return None

def stream_bytes(group, func):
    path = os.path.join(home, group, func, "new", "benchmark.json")
    try:
        with open(path) as f:
            t = json.load(f).get("throughput") or {}
            return t.get("Bytes") or t.get("BytesDecimal")
    except FileNotFoundError:
        return None

rows = []
for op, goal in ops:
    for w in workloads:
        ours, theirs = median_ns(w, f"{op}_ours"), median_ns(w, f"{op}_mqttbytes")
        if ours is None or theirs is None:
            continue
        ratio = theirs / ours
        n = stream_bytes(w, f"{op}_ours")
        gbps = f"{n / ours:.2f}" if n else "?"
        verdict = "meets" if ratio >= goal else "MISSES"
        base = median_ns(w, "decode_baseline") if op == "decode" else None
        net = f"{(theirs - base) / (ours - base):.2f}x" if base is not None and ours > base else "-"
        rows.append((op, w, str(n or "?"), f"{ours:.1f}", f"{theirs:.1f}", gbps, f"{ratio:.2f}x",
                     f">= {goal:g}x {verdict}", f"{base:.1f}" if base is not None else "-", net))

if not rows:
    sys.exit(f"no criterion results under {home}: run the bench first")
head = ("op", "workload", "bytes", "ours ns", "mqttbytes ns", "ours GB/s", "ratio", "goal",
        "harness ns", "net ratio")
widths = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]
line = lambda r: "  ".join(c.rjust(w) if i >= 2 and i != 7 else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths)))
print()
print(f"opt-level {sys.argv[2]}, {sys.argv[3]}; median time per iteration (one whole workload stream); ratio = mqttbytes / ours;")
print("decode: harness = decode_baseline (iter_batched, no decoding), net ratio = (mqttbytes - harness) / (ours - harness)")
print(line(head))
print(line(tuple("-" * w for w in widths)))
for r in rows:
    print(line(r))
EOF
