//! The chat protocol on top of MQTT: topics, payloads, names, the client that ties them to a session, and
//! the model of what the chat shows.
//!
//! Pure Rust: no web or Leptos types, so it is tested natively and can serve a terminal client too.

pub mod app;
pub mod cache;
pub mod client;
pub mod conversation;
pub mod layout;
pub mod markup;
pub mod message;
pub mod model;
pub mod names;
pub mod outbox;
pub mod search;
pub mod settings;
pub mod sorted;
pub mod topic;

pub use app::{App, Env, Input, Notice, Output, Record, Refusal, Status, Timer};
pub use client::{
    ChatEvent, ChatMessage, Client, Content, Delivery, Ended, Identity, JoinError, Kind, SendError,
    DEFAULT_ROOM,
};
pub use conversation::Conversation;
pub use message::{Change, Quote, Target, REACTIONS};
pub use model::Model;
pub use outbox::Outbox;
