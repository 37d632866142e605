//! Encoding: packets to bytes, refusing what the protocol forbids instead of truncating it.

use crate::error::EncodeError;
use crate::packet::*;

/// The largest remaining length a fixed header can express [MQTT-2.2.3].
pub const MAX_REMAINING_LENGTH: usize = 268_435_455;

impl Packet<'_> {
    /// Appends the encoded packet to `out` and returns the number of bytes written.
    /// On error nothing is appended.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<usize, EncodeError> {
        // The packets a chat sends and receives by the thousand, straight-line; the rest the general way.
        match self {
            Packet::Publish(p) => return p.encode(out),
            Packet::PubAck(pid) => return Ok(encode_ack(out, 0x40, *pid)),
            Packet::PubRec(pid) => return Ok(encode_ack(out, 0x50, *pid)),
            Packet::PubRel(pid) => return Ok(encode_ack(out, 0x62, *pid)),
            Packet::PubComp(pid) => return Ok(encode_ack(out, 0x70, *pid)),
            _ => {}
        }
        let remaining = self.remaining_length()?;
        if remaining > MAX_REMAINING_LENGTH {
            return Err(EncodeError::PacketTooLarge(remaining));
        }
        let start = out.len();
        out.reserve(remaining + 8);
        Head::new(self.packet_type() << 4 | self.flags(), remaining).write(out);
        self.write_body(out);
        Ok(out.len() - start)
    }

    fn flags(&self) -> u8 {
        match self {
            Packet::Publish(p) => {
                u8::from(p.dup) << 3 | (p.qospid.qos() as u8) << 1 | u8::from(p.retain)
            }
            Packet::PubRel(_) | Packet::Subscribe(_) | Packet::Unsubscribe(_) => 0b0010,
            _ => 0,
        }
    }

    /// Validates every field and returns the body length.
    fn remaining_length(&self) -> Result<usize, EncodeError> {
        Ok(match self {
            Packet::Connect(c) => {
                if c.client_id.is_empty() && !c.clean_session {
                    return Err(EncodeError::EmptyClientIdWithoutCleanSession); // [MQTT-3.1.3-7]
                }
                if c.password.is_some() && c.username.is_none() {
                    return Err(EncodeError::PasswordWithoutUsername); // [MQTT-3.1.2-22]
                }
                let mut len = 10 + str_len(c.client_id)?;
                if let Some(will) = &c.last_will {
                    len += topic_len(will.topic.as_str()) + bin_len(will.message)?;
                }
                if let Some(username) = c.username {
                    len += str_len(username)?;
                }
                if let Some(password) = c.password {
                    len += bin_len(password)?;
                }
                len
            }
            Packet::ConnAck(_) => 2,
            Packet::Publish(p) => {
                if p.dup && p.qospid == QosPid::AtMostOnce {
                    return Err(EncodeError::DupOnQos0); // [MQTT-3.3.1-2]
                }
                topic_len(p.topic.as_str())
                    + if p.qospid.pid().is_some() { 2 } else { 0 }
                    + p.payload.len()
            }
            Packet::PubAck(_)
            | Packet::PubRec(_)
            | Packet::PubRel(_)
            | Packet::PubComp(_)
            | Packet::UnsubAck(_) => 2,
            Packet::Subscribe(s) => {
                if s.topics.is_empty() {
                    return Err(EncodeError::NoTopicFilters("SUBSCRIBE")); // [MQTT-3.8.3-3]
                }
                2 + s.topics.encoded_len()
            }
            Packet::SubAck(s) => {
                if s.return_codes.is_empty() {
                    return Err(EncodeError::NoTopicFilters("SUBACK"));
                }
                2 + s.return_codes.encoded_len()
            }
            Packet::Unsubscribe(u) => {
                if u.topics.is_empty() {
                    return Err(EncodeError::NoTopicFilters("UNSUBSCRIBE")); // [MQTT-3.10.3-2]
                }
                2 + u.topics.encoded_len()
            }
            Packet::PingReq | Packet::PingResp | Packet::Disconnect => 0,
        })
    }

    fn write_body(&self, out: &mut Vec<u8>) {
        match self {
            Packet::Connect(c) => {
                write_str(out, "MQTT");
                out.push(4); // protocol level: 3.1.1
                let mut flags = u8::from(c.clean_session) << 1;
                if let Some(will) = &c.last_will {
                    flags |= 0x04 | (will.qos as u8) << 3 | u8::from(will.retain) << 5;
                }
                flags |= u8::from(c.password.is_some()) << 6 | u8::from(c.username.is_some()) << 7;
                out.push(flags);
                out.extend_from_slice(&c.keep_alive.to_be_bytes());
                write_str(out, c.client_id);
                if let Some(will) = &c.last_will {
                    write_str(out, will.topic.as_str());
                    write_bin(out, will.message);
                }
                if let Some(username) = c.username {
                    write_str(out, username);
                }
                if let Some(password) = c.password {
                    write_bin(out, password);
                }
            }
            Packet::ConnAck(c) => {
                out.push(u8::from(c.session_present));
                out.push(c.code as u8);
            }
            Packet::Publish(p) => {
                write_str(out, p.topic.as_str());
                if let Some(pid) = p.qospid.pid() {
                    out.extend_from_slice(&pid.get().to_be_bytes());
                }
                out.extend_from_slice(p.payload);
            }
            Packet::PubAck(pid)
            | Packet::PubRec(pid)
            | Packet::PubRel(pid)
            | Packet::PubComp(pid)
            | Packet::UnsubAck(pid) => out.extend_from_slice(&pid.get().to_be_bytes()),
            Packet::Subscribe(s) => {
                out.extend_from_slice(&s.pid.get().to_be_bytes());
                s.topics.write(out);
            }
            Packet::SubAck(s) => {
                out.extend_from_slice(&s.pid.get().to_be_bytes());
                s.return_codes.write(out);
            }
            Packet::Unsubscribe(u) => {
                out.extend_from_slice(&u.pid.get().to_be_bytes());
                u.topics.write(out);
            }
            Packet::PingReq | Packet::PingResp | Packet::Disconnect => {}
        }
    }
}

impl Publish<'_> {
    fn encode(&self, out: &mut Vec<u8>) -> Result<usize, EncodeError> {
        if self.dup && self.qospid == QosPid::AtMostOnce {
            return Err(EncodeError::DupOnQos0); // [MQTT-3.3.1-2]
        }
        let start = out.len();
        let topic = self.topic.as_str().as_bytes();
        let pid = self.qospid.pid();
        let remaining =
            topic_len(self.topic.as_str()) + if pid.is_some() { 2 } else { 0 } + self.payload.len();
        if remaining > MAX_REMAINING_LENGTH {
            return Err(EncodeError::PacketTooLarge(remaining));
        }
        let first =
            0x30 | u8::from(self.dup) << 3 | (self.qospid.qos() as u8) << 1 | u8::from(self.retain);
        // A topic name is at most 65,535 bytes (checked when it was made).
        let [hi, lo] = u16::try_from(topic.len()).unwrap_or(u16::MAX).to_be_bytes();
        let head = Head::new(first, remaining).then(&[hi, lo]);
        out.reserve(head.len + remaining);
        head.write(out);
        out.extend_from_slice(topic);
        if let Some(pid) = pid {
            out.extend_from_slice(&pid.get().to_be_bytes());
        }
        out.extend_from_slice(self.payload);
        Ok(out.len() - start)
    }
}

/// PUBACK, PUBREC, PUBREL, PUBCOMP: the first byte, remaining length 2, the packet identifier.
fn encode_ack(out: &mut Vec<u8>, first: u8, pid: Pid) -> usize {
    let [hi, lo] = pid.get().to_be_bytes();
    out.extend_from_slice(&[first, 2, hi, lo]);
    4
}

/// [MQTT-1.5.3] A string is at most 65,535 bytes and never contains U+0000.
fn str_len(s: &str) -> Result<usize, EncodeError> {
    if s.len() > u16::MAX as usize {
        return Err(EncodeError::StringTooLong(s.len()));
    }
    if s.contains('\0') {
        return Err(EncodeError::NullCharacter);
    }
    Ok(2 + s.len())
}

/// Topic names and filters were checked on construction (length, no U+0000): only their size is left.
fn topic_len(s: &str) -> usize {
    2 + s.len()
}

fn bin_len(b: &[u8]) -> Result<usize, EncodeError> {
    if b.len() > u16::MAX as usize {
        return Err(EncodeError::BinaryTooLong(b.len()));
    }
    Ok(2 + b.len())
}

/// Only called after `str_len`/`bin_len` checked the length fits in 16 bits.
fn write_bin(out: &mut Vec<u8>, b: &[u8]) {
    let len = u16::try_from(b.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(b);
}

pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) {
    write_bin(out, s.as_bytes());
}

/// The start of a packet, up to 8 bytes, built in a register: the first byte, the remaining length in its
/// variable-length encoding [MQTT-2.2.3], and what follows (a PUBLISH's topic length).
///
/// Written with one 8-byte store and a truncation: a byte-by-byte array copied with `extend_from_slice`
/// would be read back before its stores retire, which stalls the copy (the encoder's largest cost when
/// measured).
struct Head {
    bytes: u64,
    len: usize,
}

impl Head {
    /// `remaining` is at most [`MAX_REMAINING_LENGTH`]: 1 to 4 bytes.
    fn new(first: u8, mut remaining: usize) -> Self {
        let mut head = Self {
            bytes: u64::from(first),
            len: 1,
        };
        loop {
            let mut byte = (remaining % 128) as u8;
            remaining /= 128;
            if remaining > 0 {
                byte |= 0x80;
            }
            head = head.then(&[byte]);
            if remaining == 0 || head.len == 5 {
                return head;
            }
        }
    }

    /// Appends bytes (at most 8 in all).
    fn then(self, bytes: &[u8]) -> Self {
        bytes.iter().fold(self, |head, &b| Self {
            bytes: head.bytes | u64::from(b) << (8 * (head.len % 8)),
            len: (head.len + 1).min(8),
        })
    }

    fn write(&self, out: &mut Vec<u8>) {
        let end = out.len() + self.len;
        out.extend_from_slice(&self.bytes.to_le_bytes());
        out.truncate(end);
    }
}
