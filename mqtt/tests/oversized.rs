//! A PUBLISH over the maximum packet size: `Decoder::feed` reads and checks its head, drops its payload as it
//! arrives and goes on with the next packet; the session acknowledges it and reports `Event::Oversized`. Every
//! other violation, and an oversized packet of any other type, still closes the connection.

mod common;

use std::ops::ControlFlow;

use common::*;
use mqtt::*;
use proptest::prelude::*;

/// What a sink got, owned: a PUBLISH (whole or skipped) by its head and payload length, anything else by `Debug`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Got {
    Publish {
        topic: String,
        qospid: QosPid,
        dup: bool,
        retain: bool,
        payload_len: usize,
        skipped: bool,
    },
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

    fn other(packet: Packet<'_>) -> Self {
        Got::Other(format!("{packet:?}"))
    }

    fn skipped(topic: &str, qospid: QosPid, dup: bool, retain: bool, payload_len: usize) -> Self {
        Got::Publish {
            topic: topic.into(),
            qospid,
            dup,
            retain,
            payload_len,
            skipped: true,
        }
    }
}

/// Feeds `chunks` in order to a decoder with this maximum packet size: what its sink got, and how it ended. A
/// stream fed whole must leave nothing behind.
fn feed_all(max: usize, chunks: &[&[u8]]) -> (Vec<Got>, Result<(), DecodeError>) {
    let (got, ended, left) = feed(max, chunks);
    if ended.is_ok() {
        assert_eq!(left, 0, "a whole stream leaves nothing behind");
    }
    (got, ended)
}

/// Feeds `chunks`: what the sink got, how it ended, and how many bytes the decoder still holds.
fn feed(max: usize, chunks: &[&[u8]]) -> (Vec<Got>, Result<(), DecodeError>, usize) {
    let mut d = Decoder::new(max);
    let mut got = Vec::new();
    for chunk in chunks {
        let fed = d.feed(chunk, |decoded| {
            got.push(Got::of(decoded));
            Ok::<_, DecodeError>(ControlFlow::Continue(()))
        });
        if fed.is_err() {
            return (got, fed, d.buffered());
        }
    }
    (got, Ok(()), d.buffered())
}

fn publish_bytes(topic: &str, qospid: QosPid, dup: bool, retain: bool, payload: &[u8]) -> Vec<u8> {
    bytes(Packet::Publish(Publish {
        dup,
        qospid,
        retain,
        topic: TopicName::new(topic).unwrap(),
        payload,
    }))
}

/// A fixed header with this first byte and remaining length, then `body`.
fn packet_bytes(first: u8, remaining_length: usize, body: &[u8]) -> Vec<u8> {
    let mut out = vec![first];
    let mut n = remaining_length;
    loop {
        let byte = (n % 128) as u8;
        n /= 128;
        out.push(if n > 0 { byte | 0x80 } else { byte });
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(body);
    out
}

// ---- the decoder ----

#[test]
fn an_oversized_publish_split_anywhere_is_skipped_and_the_packets_after_it_still_decode() {
    let t = "chat/rooms/general/messages/mallory";
    let long_topic = "x".repeat(300);
    for (qospid, payload_len) in [
        (QosPid::AtMostOnce, 500),
        (QosPid::AtLeastOnce(pid(7)), 500),
        (QosPid::ExactlyOnce(pid(300)), 500),
        // A remaining length of 3 bytes.
        (QosPid::AtLeastOnce(pid(9)), 20_000),
    ] {
        let dup = qospid != QosPid::AtMostOnce;
        let small = publish_bytes(t, QosPid::AtMostOnce, false, false, b"hi");
        let mut stream = small.clone();
        stream.extend(publish_bytes(
            t,
            qospid,
            dup,
            true,
            &vec![0xAB; payload_len],
        ));
        // Right after it, another: one whose head alone is over the limit, with an empty payload.
        stream.extend(publish_bytes(
            &long_topic,
            QosPid::AtMostOnce,
            false,
            false,
            b"",
        ));
        stream.extend(bytes(Packet::PubAck(pid(1))));
        stream.extend(&small);
        stream.extend(bytes(Packet::PingResp));
        let small_got = Got::Publish {
            topic: t.into(),
            qospid: QosPid::AtMostOnce,
            dup: false,
            retain: false,
            payload_len: 2,
            skipped: false,
        };
        let expected = vec![
            small_got.clone(),
            Got::skipped(t, qospid, dup, true, payload_len),
            Got::skipped(&long_topic, QosPid::AtMostOnce, false, false, 0),
            Got::other(Packet::PubAck(pid(1))),
            small_got,
            Got::other(Packet::PingResp),
        ];
        let max = 256;
        assert_eq!(feed_all(max, &[&stream]), (expected.clone(), Ok(())));
        for at in 0..=stream.len() {
            let (a, b) = stream.split_at(at);
            assert_eq!(
                feed_all(max, &[a, b]),
                (expected.clone(), Ok(())),
                "{qospid:?}, split at {at}"
            );
        }
        for size in [1, 2, 3, 7, 255, 256, 257, 4096] {
            let chunks: Vec<&[u8]> = stream.chunks(size).collect();
            assert_eq!(
                feed_all(max, &chunks),
                (expected.clone(), Ok(())),
                "{qospid:?}, {size}-byte chunks"
            );
        }
    }
}

#[test]
fn the_decoder_holds_only_the_head_of_a_3_mb_publish_while_it_streams_through() {
    let payload = vec![0x5A; 3_000_000];
    for topic_len in [12, 65_535] {
        let t = "t".repeat(topic_len);
        let mut stream = publish_bytes(&t, QosPid::AtLeastOnce(pid(1)), false, true, &payload);
        stream.extend(bytes(Packet::PingResp));
        // Fixed header (a 4-byte remaining length), topic length, topic, packet id.
        let head = 5 + 2 + topic_len + 2;
        assert!(head <= MAX_PUBLISH_HEAD);
        for size in [1, 1000, 4096, 65_536, stream.len()] {
            let mut d = Decoder::new(1 << 20);
            let mut got = Vec::new();
            let mut most = 0;
            for chunk in stream.chunks(size) {
                d.feed(chunk, |decoded| {
                    got.push(Got::of(decoded));
                    Ok::<_, DecodeError>(ControlFlow::Continue(()))
                })
                .unwrap();
                most = most.max(d.buffered());
            }
            assert!(
                most <= head,
                "{size}-byte chunks: {most} bytes held, the head is {head}"
            );
            assert_eq!(
                got,
                [
                    Got::skipped(&t, QosPid::AtLeastOnce(pid(1)), false, true, 3_000_000),
                    Got::other(Packet::PingResp)
                ],
                "{size}-byte chunks"
            );
            assert_eq!(d.buffered(), 0);
        }
    }
}

/// A PUBLISH with this first byte whose head is `fields` and whose payload is `payload_len` bytes (not included).
fn head_only(first: u8, fields: &[u8], payload_len: usize) -> Vec<u8> {
    packet_bytes(first, fields.len() + payload_len, fields)
}

#[rustfmt::skip]
#[test]
fn an_oversized_publish_with_a_bad_head_fails_as_soon_as_its_head_is_in() {
    use DecodeError::*;
    let max = 16;
    // (first byte, head fields, payload length, the error), each PUBLISH over `max`.
    let cases: &[(u8, &[u8], usize, DecodeError)] = &[
        (0x30, &[0, 3, b'a', b'/', b'+'],         300, InvalidTopicName("a/+".into())),  // wildcard [MQTT-3.3.2-2]
        (0x31, &[0, 1, b'#'],                     300, InvalidTopicName("#".into())),
        (0x30, &[0, 0],                           300, InvalidTopicName("".into())),     // empty [MQTT-4.7.3-1]
        (0x30, &[0, 3, b'a', 0, b'b'],            300, NullCharacter),                   // U+0000 [MQTT-1.5.3-2]
        (0x30, &[0, 2, 0xC3, 0x28],               300, InvalidUtf8),                     // [MQTT-1.5.3-1]
        (0x30, &[0, 3, 0xED, 0xA0, 0x80],         300, InvalidUtf8),                     // a surrogate
        (0x32, &[0, 1, b't', 0, 0],               300, ZeroPacketId),                    // [MQTT-2.3.1-1]
        (0x3C, &[0, 1, b't', 0, 0],               300, ZeroPacketId),                    // QoS 2, DUP
        (0x36, &[0, 1, b't', 0, 1],               300, InvalidQos),                      // [MQTT-3.3.1-4]
        (0x38, &[0, 1, b't'],                     300, DupOnQos0),                       // [MQTT-3.3.1-2]
        // A topic, or a packet id, that runs past the end of the packet.
        (0x30, &[0, 200, b'a', b'b', b'c', b'd', b'e', b'f', b'g', b'h', b'i', b'j', b'k', b'l', b'm', b'n', b'o'],
                                                  0,   Truncated("topic name")),
        (0x32, &[0, 14, b'a', b'b', b'c', b'd', b'e', b'f', b'g', b'h', b'i', b'j', b'k', b'l', b'm', b'n', 0],
                                                  0,   Truncated("packet identifier")),
    ];
    for (first, fields, payload_len, error) in cases {
        let head = head_only(*first, fields, *payload_len);
        let mut whole = head.clone();
        whole.resize(head.len() + payload_len, 0);
        assert!(whole.len() > max);
        // The strict decoder, with no limit, says the same of the whole packet.
        assert_eq!(decode(&whole, MAX_PACKET_SIZE).err().as_ref(), Some(error), "{head:?}");
        // The head alone is enough to fail, whole or a byte at a time: the payload is never waited for.
        assert_eq!(feed_all(max, &[&head]), (vec![], Err(error.clone())), "{head:?}");
        let bytes: Vec<&[u8]> = head.chunks(1).collect();
        assert_eq!(feed_all(max, &bytes), (vec![], Err(error.clone())), "{head:?} byte by byte");
        assert_eq!(feed_all(max, &[&whole]), (vec![], Err(error.clone())), "{head:?} with its payload");
    }
}

#[test]
fn an_oversized_packet_of_any_other_type_is_still_refused_from_its_fixed_header() {
    // Each type with its valid flags, claiming a remaining length of 128.
    for first in [
        0x10, 0x20, 0x40, 0x50, 0x62, 0x70, 0x82, 0x90, 0xA2, 0xB0, 0xC0, 0xD0, 0xE0,
    ] {
        let header = [first, 0x80, 0x01];
        let refused = Err(DecodeError::PacketTooLarge { size: 131, max: 64 });
        assert_eq!(feed_all(64, &[&header]), (vec![], refused.clone()));
        assert_eq!(
            feed_all(64, &[&header[..1], &header[1..2], &header[2..]]),
            (vec![], refused)
        );
    }
    // A SUBACK with 100 return codes, whole.
    let suback = bytes(Packet::SubAck(SubAck {
        pid: pid(1),
        return_codes: vec![Some(QoS::AtMostOnce); 100].into(),
    }));
    assert_eq!(
        feed_all(64, &[&suback]),
        (
            vec![],
            Err(DecodeError::PacketTooLarge { size: 104, max: 64 })
        )
    );
}

#[test]
fn the_pull_decoder_and_decode_still_refuse_an_oversized_publish() {
    let big = publish_bytes("t", QosPid::AtMostOnce, false, false, &[0; 100]);
    let refused = DecodeError::PacketTooLarge { size: 105, max: 64 };
    assert_eq!(decode(&big, 64).err(), Some(refused.clone()));
    let mut d = Decoder::new(64);
    d.push(&big);
    assert_eq!(d.next_packet().err(), Some(refused));
}

// ---- the session ----

fn session(max_packet_size: usize) -> Session {
    let mut o = Options::new("x");
    o.max_packet_size = max_packet_size;
    connected(o)
}

/// Everything the session wants to send, decoded.
fn sent(s: &mut Session) -> Vec<String> {
    let Some(out) = s.poll_transmit() else {
        return vec![];
    };
    let mut d = Decoder::new(MAX_PACKET_SIZE);
    d.push(&out);
    std::iter::from_fn(|| d.next_packet().unwrap().map(|p| format!("{p:?}"))).collect()
}

fn oversized(topic: &str, payload_len: usize, qos: QoS, retain: bool, dup: bool) -> Event {
    Event::Oversized(Oversized {
        topic: topic.into(),
        payload_len,
        qos,
        retain,
        dup,
    })
}

#[test]
fn an_oversized_qos0_publish_is_reported_unanswered_and_the_connection_goes_on() {
    let mut s = session(64);
    let big = publish_bytes("chat/big", QosPid::AtMostOnce, false, true, &[1; 1000]);
    s.handle_bytes(&big, 1).unwrap();
    assert_eq!(sent(&mut s), Vec::<String>::new());
    assert_eq!(
        events(&mut s),
        [oversized("chat/big", 1000, QoS::AtMostOnce, true, false)]
    );
    assert!(s.is_connected());
    s.handle_bytes(&publish("chat/small", QosPid::AtMostOnce, false, b"hi"), 2)
        .unwrap();
    assert!(matches!(&events(&mut s)[..], [Event::Message(m)] if m.payload == b"hi"));
}

#[test]
fn an_oversized_qos1_publish_is_acknowledged_once_its_last_byte_is_in() {
    let mut s = session(64);
    let big = publish_bytes("t", QosPid::AtLeastOnce(pid(5)), false, false, &[1; 1000]);
    let (most, last) = big.split_at(big.len() - 1);
    s.handle_bytes(most, 1).unwrap();
    assert_eq!(sent(&mut s), Vec::<String>::new(), "not before the end");
    assert_eq!(events(&mut s), []);
    s.handle_bytes(last, 2).unwrap();
    assert_eq!(sent(&mut s), [format!("{:?}", Packet::PubAck(pid(5)))]);
    assert_eq!(
        events(&mut s),
        [oversized("t", 1000, QoS::AtLeastOnce, false, false)]
    );
}

#[test]
fn an_oversized_qos2_publish_is_reported_once_and_released_as_usual() {
    let mut s = session(64);
    let big = publish_bytes("t", QosPid::ExactlyOnce(pid(7)), false, false, &[1; 1000]);
    let again = publish_bytes("t", QosPid::ExactlyOnce(pid(7)), true, false, &[1; 1000]);
    let pubrec = format!("{:?}", Packet::PubRec(pid(7)));
    s.handle_bytes(&big, 1).unwrap();
    assert_eq!(sent(&mut s), std::slice::from_ref(&pubrec));
    assert_eq!(
        events(&mut s),
        [oversized("t", 1000, QoS::ExactlyOnce, false, false)]
    );
    // A redelivery before PUBREL: acknowledged again, not reported again [MQTT-4.3.3-2].
    s.handle_bytes(&again, 2).unwrap();
    assert_eq!(sent(&mut s), [pubrec]);
    assert_eq!(events(&mut s), []);
    s.handle_bytes(&bytes(Packet::PubRel(pid(7))), 3).unwrap();
    assert_eq!(sent(&mut s), [format!("{:?}", Packet::PubComp(pid(7)))]);
    // After PUBREL the id is free: a new message with it is new.
    s.handle_bytes(&big, 4).unwrap();
    assert_eq!(events(&mut s).len(), 1);
}

#[test]
fn an_oversized_publish_with_a_bad_head_closes_the_connection() {
    for (bad, error) in [
        (
            head_only(0x30, &[0, 3, b'a', b'/', b'+'], 1000),
            DecodeError::InvalidTopicName("a/+".into()),
        ),
        (
            head_only(0x30, &[0, 3, b'a', 0, b'b'], 1000),
            DecodeError::NullCharacter,
        ),
        (
            head_only(0x32, &[0, 1, b't', 0, 0], 1000),
            DecodeError::ZeroPacketId,
        ),
    ] {
        let mut s = session(64);
        assert_eq!(
            s.handle_bytes(&bad, 1),
            Err(ProtocolError::Decode(error.clone()))
        );
        assert_eq!(
            events(&mut s),
            [Event::Closed(CloseReason::Protocol(ProtocolError::Decode(
                error
            )))]
        );
        assert!(!s.is_connected());
        assert_eq!(s.poll_transmit(), None);
    }
}

#[test]
fn an_oversized_suback_closes_the_connection() {
    let mut s = session(64);
    let id = s.subscribe(&[("a", QoS::AtMostOnce)], 0).unwrap();
    let suback = bytes(Packet::SubAck(SubAck {
        pid: id,
        return_codes: vec![Some(QoS::AtMostOnce); 100].into(),
    }));
    let refused = ProtocolError::Decode(DecodeError::PacketTooLarge { size: 104, max: 64 });
    assert_eq!(s.handle_bytes(&suback, 1), Err(refused.clone()));
    assert_eq!(
        events(&mut s),
        [Event::Closed(CloseReason::Protocol(refused))]
    );
}

#[test]
fn an_oversized_publish_before_connack_is_a_protocol_violation() {
    let mut o = Options::new("x");
    o.max_packet_size = 64;
    let mut s = Session::new(o);
    s.connect(0).unwrap();
    let big = publish_bytes("t", QosPid::AtMostOnce, false, false, &[1; 1000]);
    assert_eq!(
        s.handle_bytes(&big, 1),
        Err(ProtocolError::Unexpected("PUBLISH"))
    );
}

// ---- properties ----

fn arb_qospid() -> impl Strategy<Value = QosPid> {
    prop_oneof![
        Just(QosPid::AtMostOnce),
        (1u16..).prop_map(|n| QosPid::AtLeastOnce(pid(n))),
        (1u16..).prop_map(|n| QosPid::ExactlyOnce(pid(n))),
    ]
}

/// Cuts `stream` at these points.
fn cut<'a>(stream: &'a [u8], cuts: &[prop::sample::Index]) -> Vec<&'a [u8]> {
    let mut points: Vec<usize> = cuts.iter().map(|i| i.index(stream.len() + 1)).collect();
    points.push(0);
    points.push(stream.len());
    points.sort_unstable();
    points.windows(2).map(|w| &stream[w[0]..w[1]]).collect()
}

/// How many bytes the head of a PUBLISH takes, from its fixed header to its packet id, if `bytes` holds enough
/// of it to tell, cut at the end of the packet [MQTT-3.3.2].
fn publish_head_length(bytes: &[u8]) -> Option<usize> {
    let header = mqtt::decode::fixed_header(bytes).ok()??;
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

/// What `feed` with the limit `max` must make of `bytes`, worked out with the strict decoder and no limit: the
/// same packets, except that a PUBLISH over `max` is skipped and any other packet over `max` refused; an
/// oversized PUBLISH cut short fails if its head is in and bad.
fn expected(bytes: &[u8], max: usize) -> (Vec<Got>, Result<(), DecodeError>) {
    let mut got = Vec::new();
    let mut rest = bytes;
    let too_large = |size| DecodeError::PacketTooLarge { size, max };
    loop {
        let header = mqtt::decode::fixed_header(rest);
        let oversized = match header {
            Ok(Some(h)) if h.packet_length() > max => Some(h),
            _ => None,
        };
        if let Some(h) = oversized.filter(|h| h.packet_type != 3) {
            return (got, Err(too_large(h.packet_length())));
        }
        match decode(rest, MAX_PACKET_SIZE) {
            Ok(Some((packet, used))) => {
                let item = Got::of(Decoded::Packet(packet));
                got.push(match (item, oversized) {
                    (
                        Got::Publish {
                            skipped: _,
                            topic,
                            qospid,
                            dup,
                            retain,
                            payload_len,
                        },
                        Some(_),
                    ) => Got::Publish {
                        topic,
                        qospid,
                        dup,
                        retain,
                        payload_len,
                        skipped: true,
                    },
                    (item, _) => item,
                });
                rest = &rest[used..];
            }
            Err(e) => return (got, Err(e)),
            Ok(None) => {
                // Cut short. An oversized PUBLISH whose head is all there has had it checked already: as the
                // same head with no payload would be.
                if let (Some(h), Some(head)) = (oversized, publish_head_length(rest)) {
                    if rest.len() >= head {
                        let fields = &rest[h.header_length..head];
                        let alone = packet_bytes(rest[0], fields.len(), fields);
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

/// Feeds `chunks` with the limit `max`, without asking that the stream end on a packet boundary.
fn feed_stream(max: usize, chunks: &[&[u8]]) -> (Vec<Got>, Result<(), DecodeError>) {
    let (got, ended, _) = feed(max, chunks);
    (got, ended)
}

proptest! {
    #[test]
    fn the_discard_path_reports_what_the_normal_path_decodes(
        topic in "[^+#\u{0}]{1,30}",
        qospid in arb_qospid(),
        dup in any::<bool>(),
        retain in any::<bool>(),
        payload_len in 0usize..3000,
        limit in any::<prop::sample::Index>(),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
    ) {
        let dup = dup && qospid != QosPid::AtMostOnce;
        let mut stream = publish_bytes(&topic, qospid, dup, retain, &vec![0x42; payload_len]);
        let size = stream.len();
        stream.extend(bytes(Packet::PingResp));
        let chunks = cut(&stream, &cuts);
        // A limit the PUBLISH fits under: the normal path.
        let (normal, ended) = feed_all(size, &chunks);
        prop_assert_eq!(ended, Ok(()));
        let whole = Got::Publish { topic: topic.clone(), qospid, dup, retain, payload_len, skipped: false };
        prop_assert_eq!(&normal, &vec![whole, Got::other(Packet::PingResp)]);
        // Any limit under it (and over a PINGRESP): the discard path, with the same head and payload length.
        let max = 2 + limit.index(size - 2);
        let (discarded, ended) = feed_all(max, &chunks);
        prop_assert_eq!(ended, Ok(()));
        prop_assert_eq!(
            discarded,
            vec![Got::skipped(&topic, qospid, dup, retain, payload_len), Got::other(Packet::PingResp)]
        );
    }

    #[test]
    fn with_a_small_limit_feed_agrees_with_the_strict_decoder(
        packets in prop::collection::vec(
            ("[a-z/]{1,12}", arb_qospid(), any::<bool>(), 0usize..200, any::<bool>()),
            1..5,
        ),
        mutation in prop::option::of((any::<prop::sample::Index>(), any::<u8>())),
        truncate in prop::option::of(any::<prop::sample::Index>()),
        max in 0usize..100,
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
    ) {
        // PUBLISHes, some with a PINGRESP or a SUBACK after them; then maybe a byte changed, maybe the end cut off.
        let mut stream = Vec::new();
        for (topic, qospid, retain, payload_len, other) in &packets {
            stream.extend(publish_bytes(topic, *qospid, false, *retain, &vec![7; *payload_len]));
            if *other {
                stream.extend(bytes(Packet::PingResp));
                stream.extend(bytes(Packet::SubAck(SubAck {
                    pid: pid(1),
                    return_codes: vec![Some(QoS::AtLeastOnce); *payload_len / 4 + 1].into(),
                })));
            }
        }
        if let Some((at, byte)) = mutation {
            let at = at.index(stream.len());
            stream[at] = byte;
        }
        if let Some(at) = truncate {
            stream.truncate(at.index(stream.len() + 1));
        }
        let chunks = cut(&stream, &cuts);
        prop_assert_eq!(feed_stream(max, &chunks), expected(&stream, max));
    }
}
