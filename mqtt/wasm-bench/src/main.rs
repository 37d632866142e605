//! The native side of the wasm comparison: the very loops `run` executes in wasm.
fn main() {
    let round_ms = std::env::args()
        .nth(1)
        .map(|s| s.parse().expect("round length in ms"))
        .unwrap_or(30.0);
    print!("{}", mqtt_wasm_bench::run_all(round_ms));
}
