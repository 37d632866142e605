//! The chat protocol on top of MQTT: topics, payloads, names, and the client that ties them to a session.
//!
//! Pure Rust: no web or Leptos types, so it is tested natively and can serve a terminal client too.

pub mod client;
pub mod message;
pub mod names;
pub mod settings;
pub mod topic;

pub use client::{ChatEvent, ChatMessage, Client, Content, Delivery, SendError, DEFAULT_ROOM};
