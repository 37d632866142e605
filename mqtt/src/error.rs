//! Error types, one per layer, carrying the offending values.

use thiserror::Error;

/// Why a byte stream from the network is not a valid MQTT 3.1.1 packet.
///
/// Every variant is a protocol violation: the receiver must close the network connection [MQTT-4.8.0-1].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    #[error("packet type {0} is reserved")]
    ReservedPacketType(u8),
    #[error("fixed header flags {flags:#06b} are invalid for packet type {packet_type}")]
    InvalidHeaderFlags { packet_type: u8, flags: u8 },
    #[error("QoS 3 is not a valid quality of service")]
    InvalidQos,
    #[error("DUP is set on a QoS 0 PUBLISH")]
    DupOnQos0,
    #[error("the remaining length takes more than 4 bytes")]
    RemainingLengthTooLong,
    /// Over the receiver's own limit (3.1.1 sets none below [MQTT-2.2.3]'s). `Decoder::feed` does not return it
    /// for a PUBLISH, which it skips instead ([`crate::Decoded::Skipped`]).
    #[error("packet of {size} bytes exceeds the maximum of {max} bytes")]
    PacketTooLarge { size: usize, max: usize },
    #[error("remaining length {found} is invalid for this packet (expected {expected})")]
    InvalidRemainingLength {
        expected: &'static str,
        found: usize,
    },
    #[error("the packet ends before its {0} field")]
    Truncated(&'static str),
    #[error("{0} trailing bytes after the packet's last field")]
    TrailingBytes(usize),
    #[error("a string is not well-formed UTF-8")]
    InvalidUtf8,
    #[error("a string contains U+0000")]
    NullCharacter,
    #[error("packet identifier 0 is not allowed")]
    ZeroPacketId,
    #[error("invalid topic name {0:?}")]
    InvalidTopicName(String),
    #[error("invalid topic filter {0:?}")]
    InvalidTopicFilter(String),
    #[error("CONNACK reserved bits are set: {0:#010b}")]
    ConnAckReservedBits(u8),
    #[error("CONNACK return code {0} is not defined")]
    InvalidConnectReturnCode(u8),
    #[error("CONNACK has session present set with a refusal")]
    SessionPresentOnRefusal,
    #[error("SUBACK return code {0:#04x} is not defined")]
    InvalidSubAckReturnCode(u8),
    #[error("requested QoS byte {0:#04x} has reserved bits set")]
    InvalidRequestedQos(u8),
    #[error("{0} carries no topic filter")]
    NoTopicFilters(&'static str),
    #[error("protocol name {0:?} is not \"MQTT\"")]
    InvalidProtocolName(String),
    #[error("protocol level {0} is not 4 (MQTT 3.1.1)")]
    UnsupportedProtocolLevel(u8),
    #[error("CONNECT flags {0:#010b} are inconsistent")]
    InvalidConnectFlags(u8),
}

/// Why a packet cannot be encoded: the encoder refuses to send what the protocol forbids.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EncodeError {
    #[error("a string of {0} bytes exceeds the 65,535-byte limit")]
    StringTooLong(usize),
    #[error("a binary field of {0} bytes exceeds the 65,535-byte limit")]
    BinaryTooLong(usize),
    #[error("a string contains U+0000")]
    NullCharacter,
    #[error("packet of {0} bytes exceeds the 268,435,455-byte limit")]
    PacketTooLarge(usize),
    #[error("invalid topic name {0:?}")]
    InvalidTopicName(String),
    #[error("invalid topic filter {0:?}")]
    InvalidTopicFilter(String),
    #[error("{0} needs at least one topic filter")]
    NoTopicFilters(&'static str),
    #[error("a zero-length client id needs clean session")]
    EmptyClientIdWithoutCleanSession,
    #[error("a password needs a user name")]
    PasswordWithoutUsername,
    #[error("DUP must be 0 on a QoS 0 PUBLISH")]
    DupOnQos0,
}
