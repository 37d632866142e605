//! The streaming [`Decoder`]: packets from a byte stream split anywhere, buffering only what a chunk leaves
//! unfinished.

use std::ops::ControlFlow;

use super::{decode, fixed_header, MAX_PACKET_SIZE};
use crate::error::DecodeError;
use crate::packet::Packet;

/// A streaming decoder over chunks of a byte stream, split anywhere.
///
/// Two ways to use it: [`Decoder::feed`] decodes whole packets straight from each chunk and copies only a packet
/// split across chunks; [`Decoder::push`] + [`Decoder::next_packet`] copy every chunk into the decoder's buffer and
/// hand packets out one call at a time. Either way a packet over the maximum size is refused from its fixed
/// header, before it is buffered.
#[derive(Debug)]
pub struct Decoder {
    buf: Vec<u8>,
    start: usize,
    max_packet_size: usize,
}

impl Decoder {
    pub fn new(max_packet_size: usize) -> Self {
        Self {
            buf: Vec::new(),
            start: 0,
            max_packet_size: max_packet_size.min(MAX_PACKET_SIZE),
        }
    }

    /// Decodes every whole packet of the stream up to the end of `chunk`, handing each to `sink`; a trailing
    /// partial packet is kept for the next chunk.
    ///
    /// `sink` returns [`ControlFlow::Break`] to stop early: the rest of the chunk is dropped, as when the
    /// connection ends. An error from `sink` stops too and is returned; so is a [`DecodeError`], after which the
    /// stream is unusable: the connection must be closed [MQTT-4.8.0-1].
    pub fn feed<E: From<DecodeError>>(
        &mut self,
        mut chunk: &[u8],
        mut sink: impl FnMut(Packet<'_>) -> Result<ControlFlow<()>, E>,
    ) -> Result<(), E> {
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
            // Also refuses an oversized packet as soon as its fixed header is whole.
            let Some(packet) = self.next_packet()? else {
                if chunk.is_empty() {
                    return Ok(());
                }
                // The fixed header just became whole: the next round appends the rest of the body.
                continue;
            };
            if sink(packet)?.is_break() {
                return Ok(());
            }
        }
        // Whole packets straight from the chunk, without a copy.
        while let Some((packet, used)) = decode(chunk, self.max_packet_size)? {
            chunk = chunk.get(used..).unwrap_or_default();
            if sink(packet)?.is_break() {
                return Ok(());
            }
        }
        // `decode` has already checked a complete fixed header against the maximum size.
        self.push(chunk);
        Ok(())
    }

    /// Appends a chunk of bytes from the network.
    pub fn push(&mut self, chunk: &[u8]) {
        if self.start == self.buf.len() {
            self.clear();
        } else if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(chunk);
    }

    /// The next complete packet, or `Ok(None)` until more bytes arrive.
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

    /// Bytes held that do not yet make a whole packet.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Forgets everything buffered (a new connection starts a new stream).
    pub fn clear(&mut self) {
        self.buf.clear();
        self.start = 0;
    }
}
