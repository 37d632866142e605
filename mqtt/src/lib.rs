//! A sans-IO MQTT 3.1.1 client: a strict streaming codec and a session state machine.
//!
//! No I/O, no clock, no web dependencies, no panics on any input: the caller moves bytes and passes time in.

pub mod decode;
pub mod encode;
pub mod error;
pub mod list;
pub mod packet;
pub mod session;
pub mod topic;

pub use decode::{decode, Decoded, Decoder, SkippedPublish, MAX_PACKET_SIZE, MAX_PUBLISH_HEAD};
pub use error::{DecodeError, EncodeError};
pub use list::List;
pub use packet::*;
pub use session::{
    CloseReason, Event, Message, Millis, Options, Oversized, ProtocolError, Session, SessionError,
    Will,
};
pub use topic::{TopicFilter, TopicName};
