//! The streaming [`Decoder`]: packets from a byte stream split anywhere, buffering only what a chunk leaves
//! unfinished. Its [`Decoder::feed`] also steps over a PUBLISH too large to take, without closing the connection.

use std::ops::ControlFlow;

use super::{decode, fixed_header, publish, FixedHeader, Reader, MAX_PACKET_SIZE};
use crate::error::DecodeError;
use crate::packet::{Packet, QosPid};
use crate::topic::TopicName;

/// The most [`Decoder::feed`] buffers of a PUBLISH over the maximum packet size, whatever that maximum: its
/// head, i.e. the fixed header (at most 5 bytes), the topic name (a 2-byte length and at most 65,535 bytes) and
/// the packet id (2 bytes) [MQTT-2.2.3, 3.3.2].
pub const MAX_PUBLISH_HEAD: usize = 5 + 2 + 65_535 + 2;

/// What [`Decoder::feed`] hands its sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// A whole packet, as [`decode`] returns it.
    Packet(Packet<'a>),
    /// A PUBLISH over the maximum packet size, taken to its last byte without buffering its payload.
    Skipped(SkippedPublish<'a>),
}

/// The head of a PUBLISH [MQTT-3.3] over the maximum packet size. It was checked as strictly as [`decode`]
/// checks any PUBLISH (header flags, topic name rules, UTF-8, U+0000, packet id); its payload was dropped as it
/// arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SkippedPublish<'a> {
    pub dup: bool,
    pub qospid: QosPid,
    pub retain: bool,
    pub topic: TopicName<'a>,
    /// Bytes of payload dropped.
    pub payload_len: usize,
}

/// A streaming decoder over chunks of a byte stream, split anywhere.
///
/// Two ways to use it: [`Decoder::feed`] decodes whole packets straight from each chunk and copies only a packet
/// split across chunks; [`Decoder::push`] + [`Decoder::next_packet`] copy every chunk into the decoder's buffer and
/// hand packets out one call at a time. Use one or the other on a stream, not both.
///
/// A packet over the maximum size is never buffered. `push` + `next_packet`, like [`decode`], refuse it from its
/// fixed header ([`DecodeError::PacketTooLarge`]), whatever its type. `feed` refuses it too, except a PUBLISH: of
/// that it buffers only the head (at most [`MAX_PUBLISH_HEAD`] bytes), checks it as strictly as ever, drops the
/// payload as it arrives, over any number of chunks, and then hands the sink a [`Decoded::Skipped`] and goes on
/// with the next packet. One message too large to take (a retained one, say) then does not end the connection.
#[derive(Debug)]
pub struct Decoder {
    buf: Vec<u8>,
    start: usize,
    max_packet_size: usize,
    /// The oversized PUBLISH `feed` is in the middle of; its head is collected in `buf[start..]`.
    skipping: Option<Skipping>,
}

/// An oversized PUBLISH being taken by [`Decoder::feed`]: first its head, into the buffer, then its payload,
/// dropped.
#[derive(Debug, Clone, Copy)]
struct Skipping {
    header: FixedHeader,
    /// `None` while the head is collected; then the bytes of the packet still to drop.
    left: Option<usize>,
}

/// The one refusal `feed` recovers from: a PUBLISH over the maximum size, whose fixed header starts `buf`.
fn oversized_publish(buf: &[u8], error: DecodeError) -> Result<Skipping, DecodeError> {
    if let DecodeError::PacketTooLarge { .. } = error {
        if let Ok(Some(header)) = fixed_header(buf) {
            if header.packet_type == 3 {
                return Ok(Skipping { header, left: None });
            }
        }
    }
    Err(error)
}

/// How many bytes the head of this PUBLISH takes from the packet's start, as far as `pending` (its first bytes)
/// tells: the fixed header, the topic name's length, then the topic and (QoS 1, 2) the packet id once that length
/// is known [MQTT-3.3.2] -- never past the end of the packet, so that a head longer than the packet fails as
/// [`decode`] fails it.
fn head_length(header: FixedHeader, pending: &[u8]) -> usize {
    let hl = header.header_length;
    let pid = if header.flags & 0b0110 == 0 { 0 } else { 2 };
    let fields = match pending.get(hl..hl + 2) {
        Some(&[hi, lo]) => 2 + usize::from(u16::from_be_bytes([hi, lo])) + pid,
        _ => 2,
    };
    hl + fields.min(header.remaining_length)
}

/// Parses and checks the whole head of an oversized PUBLISH: the same parse as [`decode`]'s, on the bytes it
/// reads (the payload is never looked at), so it fails where `decode` would.
fn skipped_head(header: FixedHeader, head: &[u8]) -> Result<SkippedPublish<'_>, DecodeError> {
    let fields = head.get(header.header_length..).unwrap_or_default();
    let p = publish(header.flags, &mut Reader { buf: fields })?;
    Ok(SkippedPublish {
        dup: p.dup,
        qospid: p.qospid,
        retain: p.retain,
        topic: p.topic,
        payload_len: header.remaining_length.saturating_sub(fields.len()),
    })
}

impl Decoder {
    pub fn new(max_packet_size: usize) -> Self {
        Self {
            buf: Vec::new(),
            start: 0,
            max_packet_size: max_packet_size.min(MAX_PACKET_SIZE),
            skipping: None,
        }
    }

    /// Decodes every whole packet of the stream up to the end of `chunk`, handing each to `sink`; a trailing
    /// partial packet is kept for the next chunk.
    ///
    /// A PUBLISH over the maximum size is not an error here: its head is read and checked, the rest of it is
    /// dropped as it arrives, and once its last byte is in, `sink` gets a [`Decoded::Skipped`] (see [`Decoder`]).
    /// Any other packet over the maximum size is refused from its fixed header.
    ///
    /// `sink` returns [`ControlFlow::Break`] to stop early: the rest of the chunk is dropped, as when the
    /// connection ends. An error from `sink` stops too and is returned; so is a [`DecodeError`], after which the
    /// stream is unusable: the connection must be closed [MQTT-4.8.0-1].
    pub fn feed<E: From<DecodeError>>(
        &mut self,
        mut chunk: &[u8],
        mut sink: impl FnMut(Decoded<'_>) -> Result<ControlFlow<()>, E>,
    ) -> Result<(), E> {
        'stream: loop {
            // An oversized PUBLISH begun earlier (in this chunk or before): the rest of it, then its head to `sink`.
            if let Some(skipping) = self.skipping {
                if !self.skip(&mut chunk, skipping)? {
                    return Ok(());
                }
                if self.finish_skip(skipping.header, &mut sink)?.is_break() {
                    return Ok(());
                }
            }
            // A packet begun in an earlier chunk: append only the bytes it still lacks, then decode it.
            while self.buffered() > 0 {
                let pending = self.buf.get(self.start..).unwrap_or_default();
                let missing = match fixed_header(pending)? {
                    Some(header) => header.packet_length().saturating_sub(pending.len()),
                    // The remaining length is not complete yet: it ends within the next byte or three.
                    None => 1,
                };
                let (head, rest) = chunk.split_at(missing.min(chunk.len()));
                chunk = rest;
                self.push(head);
                // Also refuses an oversized packet as soon as its fixed header is whole, so that the buffer then
                // holds that header and nothing more.
                let packet = match self.next_packet() {
                    Ok(Some(packet)) => packet,
                    Ok(None) if chunk.is_empty() => return Ok(()),
                    // The fixed header just became whole: the next round appends the rest of the body.
                    Ok(None) => continue,
                    Err(e) => {
                        let pending = self.buf.get(self.start..).unwrap_or_default();
                        self.skipping = Some(oversized_publish(pending, e)?);
                        continue 'stream;
                    }
                };
                if sink(Decoded::Packet(packet))?.is_break() {
                    return Ok(());
                }
            }
            // Whole packets straight from the chunk, without a copy.
            loop {
                match decode(chunk, self.max_packet_size) {
                    Ok(Some((packet, used))) => {
                        chunk = chunk.get(used..).unwrap_or_default();
                        if sink(Decoded::Packet(packet))?.is_break() {
                            return Ok(());
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        self.skipping = Some(oversized_publish(chunk, e)?);
                        continue 'stream;
                    }
                }
            }
            // `decode` has already checked a complete fixed header against the maximum size.
            self.push(chunk);
            return Ok(());
        }
    }

    /// Takes from the front of `chunk` what the oversized PUBLISH still lacks: its head into the buffer (checked
    /// as soon as it is whole, so that a bad one fails without waiting for the payload), then its payload,
    /// dropped. `Ok(true)` once its last byte is taken.
    fn skip(&mut self, chunk: &mut &[u8], mut skipping: Skipping) -> Result<bool, DecodeError> {
        let left = loop {
            if let Some(left) = skipping.left {
                break left;
            }
            let pending = self.buf.get(self.start..).unwrap_or_default();
            let head = head_length(skipping.header, pending);
            if pending.len() >= head {
                skipped_head(skipping.header, pending.get(..head).unwrap_or_default())?;
                skipping.left = Some(
                    skipping
                        .header
                        .packet_length()
                        .saturating_sub(pending.len()),
                );
            } else if chunk.is_empty() {
                self.skipping = Some(skipping);
                return Ok(false);
            } else {
                let (bytes, rest) = chunk.split_at((head - pending.len()).min(chunk.len()));
                *chunk = rest;
                self.push(bytes);
            }
        };
        let taken = left.min(chunk.len());
        *chunk = chunk.get(taken..).unwrap_or_default();
        self.skipping = Some(Skipping {
            left: Some(left - taken),
            ..skipping
        });
        Ok(taken == left)
    }

    /// Hands `sink` the head of the oversized PUBLISH whose last byte was just taken, and forgets the packet.
    fn finish_skip<E: From<DecodeError>>(
        &mut self,
        header: FixedHeader,
        sink: &mut impl FnMut(Decoded<'_>) -> Result<ControlFlow<()>, E>,
    ) -> Result<ControlFlow<()>, E> {
        self.skipping = None;
        let pending = self.buf.get(self.start..).unwrap_or_default();
        let head = pending
            .get(..head_length(header, pending))
            .unwrap_or_default();
        let flow = match skipped_head(header, head) {
            Ok(skipped) => sink(Decoded::Skipped(skipped)),
            Err(e) => Err(e.into()),
        };
        // The buffer held that head and nothing else.
        self.clear();
        flow
    }

    /// Appends a chunk of bytes from the network.
    pub fn push(&mut self, chunk: &[u8]) {
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        } else if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(chunk);
    }

    /// The next complete packet, or `Ok(None)` until more bytes arrive. Strict: a packet over the maximum size,
    /// a PUBLISH too, is [`DecodeError::PacketTooLarge`] (only [`Decoder::feed`] skips an oversized PUBLISH).
    ///
    /// After an error the stream is unusable: the connection must be closed [MQTT-4.8.0-1].
    pub fn next_packet(&mut self) -> Result<Option<Packet<'_>>, DecodeError> {
        let pending = self.buf.get(self.start..).unwrap_or_default();
        match decode(pending, self.max_packet_size)? {
            Some((packet, used)) => {
                self.start += used;
                Ok(Some(packet))
            }
            None => Ok(None),
        }
    }

    /// Bytes held that do not yet make a whole packet; while `feed` skips an oversized PUBLISH, its head (at most
    /// [`MAX_PUBLISH_HEAD`]).
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Forgets everything buffered, and an oversized PUBLISH being skipped (a new connection starts a new stream).
    pub fn clear(&mut self) {
        self.buf.clear();
        self.start = 0;
        self.skipping = None;
    }
}
