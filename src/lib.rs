//! mqtt-chat: a chat in the browser that speaks MQTT 3.1.1 through the hand-written `mqtt` crate.
//!
//! Data flows one way: socket bytes -> `mqtt` session -> [`chat`] events -> reactive state -> view.

pub mod chat;

#[cfg(target_arch = "wasm32")]
pub mod net;
#[cfg(target_arch = "wasm32")]
pub mod ui;
