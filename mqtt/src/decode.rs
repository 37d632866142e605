//! Decoding: a total function from bytes to packets, and a streaming [`Decoder`] over chunks (`decode/stream.rs`).
//!
//! "Need more bytes" is `Ok(None)`, not an error. Every violation is a [`DecodeError`]; nothing here panics.

use crate::error::DecodeError;
use crate::list::List;
use crate::packet::*;
use crate::topic::{is_plain_ascii_filter, is_plain_ascii_topic, TopicFilter, TopicName};

mod stream;
pub use stream::{Decoded, Decoder, SkippedPublish, MAX_PUBLISH_HEAD};

/// The largest packet MQTT 3.1.1 can express: 1 header byte, 4 length bytes, 268,435,455 bytes [MQTT-2.2.3].
pub const MAX_PACKET_SIZE: usize = 1 + 4 + 268_435_455;

/// The fixed header: packet type, flags, remaining length, and the header's own length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedHeader {
    pub packet_type: u8,
    pub flags: u8,
    pub remaining_length: usize,
    pub header_length: usize,
}

impl FixedHeader {
    pub fn packet_length(&self) -> usize {
        self.header_length + self.remaining_length
    }
}

/// Reads and checks the fixed header; `Ok(None)` if `buf` does not hold all of it yet.
///
/// The type and flags are checked from the first byte alone, so a bad packet fails before its body arrives.
pub fn fixed_header(buf: &[u8]) -> Result<Option<FixedHeader>, DecodeError> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    let packet_type = first >> 4;
    let flags = first & 0x0F;
    check_flags(packet_type, flags)?;
    let mut remaining_length = 0usize;
    for (i, &byte) in buf.iter().skip(1).take(4).enumerate() {
        remaining_length |= usize::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(Some(FixedHeader {
                packet_type,
                flags,
                remaining_length,
                header_length: i + 2,
            }));
        }
    }
    if buf.len() >= 5 {
        // Four bytes, all with the continuation bit set [MQTT-2.2.3].
        return Err(DecodeError::RemainingLengthTooLong);
    }
    Ok(None)
}

/// [MQTT-2.2.2-1, 2.2.2-2] Reserved flags must have their documented values.
fn check_flags(packet_type: u8, flags: u8) -> Result<(), DecodeError> {
    let expected = match packet_type {
        0 | 15 => return Err(DecodeError::ReservedPacketType(packet_type)),
        3 => {
            let qos = (flags >> 1) & 0b11;
            if qos == 3 {
                return Err(DecodeError::InvalidQos); // [MQTT-3.3.1-4]
            }
            if qos == 0 && flags & 0b1000 != 0 {
                return Err(DecodeError::DupOnQos0); // [MQTT-3.3.1-2]
            }
            return Ok(());
        }
        // [MQTT-3.6.1-1, 3.8.1-1, 3.10.1-1]
        6 | 8 | 10 => 0b0010,
        _ => 0,
    };
    if flags == expected {
        Ok(())
    } else {
        Err(DecodeError::InvalidHeaderFlags { packet_type, flags })
    }
}

/// Decodes one packet from the front of `buf`.
///
/// Returns the packet and the number of bytes it took, or `Ok(None)` when `buf` holds only part of a packet.
/// A packet larger than `max_packet_size` is refused as soon as its fixed header is read, a PUBLISH too (only
/// [`Decoder::feed`] steps over an oversized PUBLISH).
pub fn decode(
    buf: &[u8],
    max_packet_size: usize,
) -> Result<Option<(Packet<'_>, usize)>, DecodeError> {
    let Some(header) = fixed_header(buf)? else {
        return Ok(None);
    };
    let size = header.packet_length();
    if size > max_packet_size {
        return Err(DecodeError::PacketTooLarge {
            size,
            max: max_packet_size,
        });
    }
    let Some(body) = buf.get(header.header_length..size) else {
        return Ok(None);
    };
    let packet = decode_body(header, body)?;
    Ok(Some((packet, size)))
}

fn decode_body(header: FixedHeader, body: &[u8]) -> Result<Packet<'_>, DecodeError> {
    let mut r = Reader { buf: body };
    let packet = match header.packet_type {
        1 => Packet::Connect(Box::new(connect(&mut r)?)),
        2 => {
            exact_length(body, 2)?;
            let flags = r.u8("CONNACK flags")?;
            if flags & 0xFE != 0 {
                return Err(DecodeError::ConnAckReservedBits(flags)); // [MQTT-3.2.2.1]
            }
            let byte = r.u8("return code")?;
            let code = ConnectReturnCode::from_byte(byte)
                .ok_or(DecodeError::InvalidConnectReturnCode(byte))?;
            let session_present = flags & 1 == 1;
            if session_present && code != ConnectReturnCode::Accepted {
                return Err(DecodeError::SessionPresentOnRefusal); // [MQTT-3.2.2-4]
            }
            Packet::ConnAck(ConnAck {
                session_present,
                code,
            })
        }
        3 => Packet::Publish(publish(header.flags, &mut r)?),
        4..=7 | 11 => {
            exact_length(body, 2)?;
            let pid = r.pid()?;
            match header.packet_type {
                4 => Packet::PubAck(pid),
                5 => Packet::PubRec(pid),
                6 => Packet::PubRel(pid),
                7 => Packet::PubComp(pid),
                _ => Packet::UnsubAck(pid),
            }
        }
        // The lists are checked here and kept as the bytes they are: decoding them allocates nothing.
        8 => {
            let pid = r.pid()?;
            let topics = r.buf;
            while !r.is_empty() {
                r.filter()?;
                let byte = r.u8("requested QoS")?;
                // [MQTT-3.8.3-4] The upper six bits are reserved.
                QoS::from_bits(byte).ok_or(DecodeError::InvalidRequestedQos(byte))?;
            }
            if topics.is_empty() {
                return Err(DecodeError::NoTopicFilters("SUBSCRIBE")); // [MQTT-3.8.3-3]
            }
            Packet::Subscribe(Subscribe {
                pid,
                topics: List::Wire(topics),
            })
        }
        9 => {
            let pid = r.pid()?;
            let return_codes = r.rest();
            if let Some(&code) = return_codes
                .iter()
                .find(|&&code| code != 0x80 && QoS::from_bits(code).is_none())
            {
                return Err(DecodeError::InvalidSubAckReturnCode(code)); // [MQTT-3.9.3-2]
            }
            if return_codes.is_empty() {
                return Err(DecodeError::NoTopicFilters("SUBACK"));
            }
            Packet::SubAck(SubAck {
                pid,
                return_codes: List::Wire(return_codes),
            })
        }
        10 => {
            let pid = r.pid()?;
            let topics = r.buf;
            while !r.is_empty() {
                r.filter()?;
            }
            if topics.is_empty() {
                return Err(DecodeError::NoTopicFilters("UNSUBSCRIBE")); // [MQTT-3.10.3-2]
            }
            Packet::Unsubscribe(Unsubscribe {
                pid,
                topics: List::Wire(topics),
            })
        }
        12 => {
            exact_length(body, 0)?;
            Packet::PingReq
        }
        13 => {
            exact_length(body, 0)?;
            Packet::PingResp
        }
        14 => {
            exact_length(body, 0)?;
            Packet::Disconnect
        }
        other => return Err(DecodeError::ReservedPacketType(other)),
    };
    r.finish()?;
    Ok(packet)
}

fn exact_length(body: &[u8], expected: usize) -> Result<(), DecodeError> {
    if body.len() == expected {
        Ok(())
    } else {
        Err(DecodeError::InvalidRemainingLength {
            expected: match expected {
                0 => "0",
                _ => "2",
            },
            found: body.len(),
        })
    }
}

fn publish<'a>(flags: u8, r: &mut Reader<'a>) -> Result<Publish<'a>, DecodeError> {
    // [MQTT-3.3.2-2] No wildcards in a topic name; [MQTT-4.7.3-1] at least one character.
    let topic = r.topic_name("topic name")?;
    let qospid = match (flags >> 1) & 0b11 {
        0 => QosPid::AtMostOnce,
        1 => QosPid::AtLeastOnce(r.pid()?),
        2 => QosPid::ExactlyOnce(r.pid()?),
        _ => return Err(DecodeError::InvalidQos),
    };
    Ok(Publish {
        dup: flags & 0b1000 != 0,
        qospid,
        retain: flags & 1 != 0,
        topic,
        payload: r.rest(),
    })
}

fn connect<'a>(r: &mut Reader<'a>) -> Result<Connect<'a>, DecodeError> {
    let name = r.str("protocol name")?;
    if name != "MQTT" {
        return Err(DecodeError::InvalidProtocolName(name.into())); // [MQTT-3.1.2-1]
    }
    let level = r.u8("protocol level")?;
    if level != 4 {
        return Err(DecodeError::UnsupportedProtocolLevel(level)); // [MQTT-3.1.2-2]
    }
    let flags = r.u8("connect flags")?;
    let username_flag = flags & 0x80 != 0;
    let password_flag = flags & 0x40 != 0;
    let will_retain = flags & 0x20 != 0;
    let will_qos = (flags >> 3) & 0b11;
    let will_flag = flags & 0x04 != 0;
    let bad = flags & 1 != 0 // [MQTT-3.1.2-3] reserved
        || will_qos == 3 // [MQTT-3.1.2-14]
        || (!will_flag && (will_qos != 0 || will_retain)) // [MQTT-3.1.2-11, 3.1.2-13, 3.1.2-15]
        || (password_flag && !username_flag); // [MQTT-3.1.2-22]
    if bad {
        return Err(DecodeError::InvalidConnectFlags(flags));
    }
    let keep_alive = r.u16("keep alive")?;
    let client_id = r.str("client id")?;
    let last_will = if will_flag {
        let topic = r.topic_name("will topic")?;
        let message = r.bin("will message")?;
        Some(LastWill {
            topic,
            message,
            qos: QoS::from_bits(will_qos).ok_or(DecodeError::InvalidQos)?,
            retain: will_retain,
        })
    } else {
        None
    };
    let username = username_flag.then(|| r.str("user name")).transpose()?;
    let password = password_flag.then(|| r.bin("password")).transpose()?;
    Ok(Connect {
        client_id,
        clean_session: flags & 0x02 != 0,
        keep_alive,
        last_will,
        username,
        password,
    })
}

/// A string refused as a topic: [MQTT-1.5.3-2] U+0000 is its own error, checked before the topic rules.
fn nul_or(s: &str, invalid: fn(String) -> DecodeError) -> DecodeError {
    if s.as_bytes().contains(&0) {
        DecodeError::NullCharacter
    } else {
        invalid(s.into())
    }
}

/// `bytes` as a string, if it is not empty and `plain` (which accepts only ASCII) accepts it: the one-pass
/// check of a topic name or filter.
#[inline(always)]
fn plain_ascii(bytes: &[u8], plain: fn(&[u8]) -> bool) -> Option<&str> {
    if bytes.is_empty() || !plain(bytes) {
        return None;
    }
    // SAFETY: `plain` accepts only ASCII bytes, and ASCII is well-formed UTF-8.
    Some(unsafe { std::str::from_utf8_unchecked(bytes) })
}

/// A cursor over one packet's body; every read is bounds-checked.
struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    #[inline(always)]
    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], DecodeError> {
        if self.buf.len() < n {
            return Err(DecodeError::Truncated(field));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    #[inline(always)]
    fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        let (&first, rest) = self
            .buf
            .split_first()
            .ok_or(DecodeError::Truncated(field))?;
        self.buf = rest;
        Ok(first)
    }

    #[inline(always)]
    fn u16(&mut self, field: &'static str) -> Result<u16, DecodeError> {
        let bytes = self.take(2, field)?;
        let pair = <[u8; 2]>::try_from(bytes).map_err(|_| DecodeError::Truncated(field))?;
        Ok(u16::from_be_bytes(pair))
    }

    /// [MQTT-2.3.1-1] Packet identifiers are non-zero.
    #[inline(always)]
    fn pid(&mut self) -> Result<Pid, DecodeError> {
        Pid::new(self.u16("packet identifier")?).ok_or(DecodeError::ZeroPacketId)
    }

    #[inline(always)]
    fn bin(&mut self, field: &'static str) -> Result<&'a [u8], DecodeError> {
        let len = self.u16(field)?;
        self.take(usize::from(len), field)
    }

    /// [MQTT-1.5.3-1] well-formed UTF-8 (which excludes surrogates); [MQTT-1.5.3-2] no U+0000.
    /// A BOM is kept as it is [MQTT-1.5.3-3].
    fn str(&mut self, field: &'static str) -> Result<&'a str, DecodeError> {
        let bytes = self.bin(field)?;
        let s = std::str::from_utf8(bytes).map_err(|_| DecodeError::InvalidUtf8)?;
        if s.contains('\0') {
            return Err(DecodeError::NullCharacter);
        }
        Ok(s)
    }

    /// Like [`Self::str`] then [`TopicName::new`]. A plain ASCII topic (every chat topic) is checked in one
    /// pass; anything else takes the full UTF-8 check, so the errors are the same either way.
    fn topic_name(&mut self, field: &'static str) -> Result<TopicName<'a>, DecodeError> {
        let bytes = self.bin(field)?;
        if let Some(s) = plain_ascii(bytes, is_plain_ascii_topic) {
            // Not empty, at most 65,535 bytes (a 16-bit length), no wildcard or U+0000.
            return Ok(TopicName::new_unchecked(s));
        }
        let s = std::str::from_utf8(bytes).map_err(|_| DecodeError::InvalidUtf8)?;
        TopicName::new(s).ok_or_else(|| nul_or(s, DecodeError::InvalidTopicName))
    }

    /// Like [`Self::topic_name`], for a topic filter.
    fn filter(&mut self) -> Result<TopicFilter<'a>, DecodeError> {
        let bytes = self.bin("topic filter")?;
        if let Some(s) = plain_ascii(bytes, is_plain_ascii_filter) {
            // Not empty, at most 65,535 bytes (a 16-bit length), the wildcard rules kept.
            return Ok(TopicFilter::new_unchecked(s));
        }
        let s = std::str::from_utf8(bytes).map_err(|_| DecodeError::InvalidUtf8)?;
        TopicFilter::new(s).ok_or_else(|| nul_or(s, DecodeError::InvalidTopicFilter))
    }

    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.buf)
    }

    fn finish(&self) -> Result<(), DecodeError> {
        match self.buf.len() {
            0 => Ok(()),
            n => Err(DecodeError::TrailingBytes(n)),
        }
    }
}
