//! Arbitrary bytes, in arbitrary chunks, through the streaming decoder: never a panic.
//!
//! 1. `push` + `next_packet` (strict): every packet it accepts re-encodes to bytes that decode to the same
//!    packet -- except a CONNECT with an empty client id and clean session 0, which is well-formed (a server
//!    answers it with CONNACK 2 [MQTT-3.1.3-8]) but which our encoder, being a client's, refuses to send
//!    [MQTT-3.1.3-7].
//! 2. `feed` with a small maximum packet size, against the strict `decode` with no limit on the same bytes: the
//!    same packets, except that a PUBLISH over the limit comes out skipped (same head, same payload length) and
//!    any other packet over it is refused; the same errors, and a bad head of an oversized PUBLISH fails as soon
//!    as the head is in, payload or not.
#![no_main]

use std::ops::ControlFlow;

use libfuzzer_sys::fuzz_target;
use mqtt::decode::fixed_header;
use mqtt::{decode, DecodeError, Decoded, Decoder, EncodeError, Packet, QosPid, MAX_PACKET_SIZE};

/// What a sink got, owned: a PUBLISH by its head and payload length, anything else by `Debug`.
#[derive(Debug, PartialEq, Eq)]
enum Got {
    Publish { topic: String, qospid: QosPid, dup: bool, retain: bool, payload_len: usize, skipped: bool },
    Other(String),
}

impl Got {
    fn of(decoded: Decoded<'_>) -> Self {
        match decoded {
            Decoded::Packet(Packet::Publish(p)) => Got::Publish {
                topic: p.topic.as_str().into(),
                qospid: p.qospid,
                dup: p.dup,
                retain: p.retain,
                payload_len: p.payload.len(),
                skipped: false,
            },
            Decoded::Packet(p) => Got::Other(format!("{p:?}")),
            Decoded::Skipped(s) => Got::Publish {
                topic: s.topic.as_str().into(),
                qospid: s.qospid,
                dup: s.dup,
                retain: s.retain,
                payload_len: s.payload_len,
                skipped: true,
            },
        }
    }
}

/// How many bytes the head of a PUBLISH takes (fixed header to packet id), if `bytes` holds enough of it to tell;
/// never past the end of the packet.
fn publish_head_length(bytes: &[u8]) -> Option<usize> {
    let header = fixed_header(bytes).ok()??;
    let hl = header.header_length;
    let pid = if header.flags & 0b0110 == 0 { 0 } else { 2 };
    let fields = if header.remaining_length < 2 {
        2
    } else {
        let len = bytes.get(hl..hl + 2)?;
        2 + usize::from(u16::from_be_bytes([len[0], len[1]])) + pid
    };
    Some(hl + fields.min(header.remaining_length))
}

/// What `feed` with the limit `max` must make of `bytes`, by the strict decoder with no limit.
fn expected(bytes: &[u8], max: usize) -> (Vec<Got>, Result<(), DecodeError>) {
    let mut got = Vec::new();
    let mut rest = bytes;
    loop {
        let oversized = match fixed_header(rest) {
            Ok(Some(h)) if h.packet_length() > max => Some(h),
            _ => None,
        };
        if let Some(h) = oversized.filter(|h| h.packet_type != 3) {
            return (got, Err(DecodeError::PacketTooLarge { size: h.packet_length(), max }));
        }
        match decode(rest, MAX_PACKET_SIZE) {
            Ok(Some((packet, used))) => {
                got.push(match Got::of(Decoded::Packet(packet)) {
                    Got::Publish { topic, qospid, dup, retain, payload_len, .. } => Got::Publish {
                        topic,
                        qospid,
                        dup,
                        retain,
                        payload_len,
                        skipped: oversized.is_some(),
                    },
                    other => other,
                });
                rest = &rest[used..];
            }
            Err(e) => return (got, Err(e)),
            Ok(None) => {
                // Cut short: an oversized PUBLISH whose head is in has had it checked, as the same head with no
                // payload would be.
                if let (Some(h), Some(head)) = (oversized, publish_head_length(rest)) {
                    if rest.len() >= head {
                        let fields = &rest[h.header_length..head];
                        let mut alone = vec![rest[0]];
                        let mut n = fields.len();
                        loop {
                            let byte = (n % 128) as u8;
                            n /= 128;
                            alone.push(if n > 0 { byte | 0x80 } else { byte });
                            if n == 0 {
                                break;
                            }
                        }
                        alone.extend_from_slice(fields);
                        if let Err(e) = decode(&alone, MAX_PACKET_SIZE) {
                            return (got, Err(e));
                        }
                    }
                }
                return (got, Ok(()));
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    // The first byte picks a chunk size, the second the limit for `feed`, so that splits and the skipping of
    // oversized PUBLISHes are fuzzed too.
    let [split, limit, bytes @ ..] = data else { return };
    let chunk = usize::from(*split).max(1);
    let max = usize::from(*limit);

    let mut d = Decoder::new(64 * 1024);
    'pull: for part in bytes.chunks(chunk) {
        d.push(part);
        loop {
            match d.next_packet() {
                Ok(Some(packet)) => {
                    let mut out = Vec::new();
                    match packet.encode(&mut out) {
                        Ok(_) => {}
                        Err(EncodeError::EmptyClientIdWithoutCleanSession) => continue,
                        Err(e) => panic!("a decoded packet does not re-encode: {e}"),
                    }
                    let (again, used) = decode(&out, MAX_PACKET_SIZE)
                        .expect("re-encoded bytes decode")
                        .expect("re-encoded bytes are a whole packet");
                    assert_eq!(used, out.len());
                    assert_eq!(again, packet);
                }
                Ok(None) => break,
                Err(_) => break 'pull,
            }
        }
    }

    let mut d = Decoder::new(max);
    let mut got = Vec::new();
    let mut ended = Ok(());
    for part in bytes.chunks(chunk) {
        ended = d.feed(part, |decoded| {
            got.push(Got::of(decoded));
            Ok::<_, DecodeError>(ControlFlow::Continue(()))
        });
        if ended.is_err() {
            break;
        }
        assert!(
            d.buffered() <= max.max(mqtt::MAX_PUBLISH_HEAD),
            "{} bytes held with a limit of {max}",
            d.buffered()
        );
    }
    assert_eq!((got, ended), expected(bytes, max));
});
