#[cfg(target_arch = "wasm32")]
fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(mqtt_chat::ui::App);
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("mqtt-chat runs in the browser: build it with `trunk serve` (see README.md).");
}
