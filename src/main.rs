// Smaller than the default dlmalloc (single-threaded wasm: no atomics).
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOC: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

#[cfg(target_arch = "wasm32")]
fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(mqtt_chat::ui::App);
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("mqtt-chat runs in the browser: build it with `trunk serve` (see README.md).");
}
