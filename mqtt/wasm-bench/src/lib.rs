//! The same decode/encode loops natively (`native` binary) and in wasm (`run` exported to JS), so the two
//! compare like for like. Only our codec: the comparison with mqttbytes is `benches/codec.rs`.

use std::hint::black_box;

#[path = "../../benches/common/workloads.rs"]
mod workloads;

#[cfg(target_arch = "wasm32")]
mod clock {
    use wasm_bindgen::prelude::*;

    #[wasm_bindgen]
    extern "C" {
        // Node and browsers both have a global `performance` (microsecond resolution or better in Node).
        #[wasm_bindgen(js_namespace = performance, js_name = now)]
        fn performance_now() -> f64;
    }

    pub fn now_ns() -> f64 {
        performance_now() * 1e6
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod clock {
    use std::sync::OnceLock;
    use std::time::Instant;

    pub fn now_ns() -> f64 {
        static START: OnceLock<Instant> = OnceLock::new();
        START.get_or_init(Instant::now).elapsed().as_nanos() as f64
    }
}

/// Timed rounds per measurement.
const ROUNDS: usize = 21;

/// Times `f` run `n` times; nanoseconds per run.
fn time_per_op(n: u64, f: &mut impl FnMut()) -> f64 {
    let start = clock::now_ns();
    for _ in 0..n {
        f();
    }
    (clock::now_ns() - start) / n as f64
}

/// Calibrates an iteration count so that one round takes about `round_ms`, then times `rounds` rounds;
/// returns (minimum, median) ns/op. The minimum is the least disturbed by other processes on a shared machine.
fn measure(round_ms: f64, rounds: usize, mut f: impl FnMut()) -> (f64, f64) {
    let mut n = 1u64;
    loop {
        let per_op = time_per_op(n, &mut f);
        if per_op * n as f64 >= 2e6 || n >= 1 << 30 {
            n = ((round_ms * 1e6 / per_op.max(0.1)) as u64).max(1);
            break;
        }
        n *= 2;
    }
    let mut samples: Vec<f64> = (0..rounds).map(|_| time_per_op(n, &mut f)).collect();
    samples.sort_by(f64::total_cmp);
    (samples[0], samples[rounds / 2])
}

/// Runs every workload; one line per measurement: `workload<TAB>op<TAB>bytes<TAB>min_ns<TAB>median_ns` (per op).
/// `round_ms` is the length of one timed round; `ROUNDS` rounds per measurement.
pub fn run_all(round_ms: f64) -> String {
    let mut report = String::new();
    for workload in workloads::all() {
        let bytes = workload.bytes();
        let packets = &workload.packets;
        let decode = measure(round_ms, ROUNDS, || {
            let count = workloads::decode_stream(black_box(&bytes), |p| drop(black_box(p)));
            assert_eq!(count, packets.len());
        });
        let mut out = Vec::with_capacity(bytes.len());
        let encode = measure(round_ms, ROUNDS, || {
            workloads::encode_stream(black_box(packets), &mut out);
            black_box(&out);
        });
        assert_eq!(out, bytes);
        for (op, (min, median)) in [("decode", decode), ("encode", encode)] {
            let (name, len) = (workload.name, bytes.len());
            report.push_str(&format!("{name}\t{op}\t{len}\t{min:.2}\t{median:.2}\n"));
        }
    }
    report
}

#[cfg(target_arch = "wasm32")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn run(round_ms: f64) -> String {
    run_all(round_ms)
}
