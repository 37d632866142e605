//! The benchmark workloads, shared by `benches/codec.rs` (criterion, native, against mqttbytes) and
//! `wasm-bench/` (the same loops natively and in wasm). Only our own `mqtt` types appear here.
//!
//! Lives in `benches/common/` so that cargo does not take it for a bench target of its own.

#![allow(dead_code)]

use mqtt::{
    ConnAck, Connect, ConnectReturnCode, LastWill, Packet, Pid, Publish, QoS, QosPid, SubAck,
    Subscribe, TopicFilter, TopicName, Unsubscribe,
};

/// Larger than every workload packet, far below `MAX_PACKET_SIZE`; both codecs get the same limit.
pub const MAX_SIZE: usize = 1 << 20;

/// The topic a chat message is published to.
pub const CHAT_TOPIC: &str = "chat/rooms/general/messages/alice";

/// One workload: a name and the packets that make its byte stream, in order.
pub struct Workload {
    pub name: &'static str,
    pub packets: Vec<Packet<'static>>,
}

impl Workload {
    /// The byte stream (all packets encoded back to back) that the decoders read.
    pub fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for packet in &self.packets {
            packet.encode(&mut out).expect("workload packet encodes");
        }
        out
    }
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

fn pid(n: u16) -> Pid {
    Pid::new(n).expect("non-zero packet id")
}

fn topic(s: &'static str) -> TopicName<'static> {
    TopicName::new(s).expect("valid topic name")
}

fn filter(s: &'static str) -> TopicFilter<'static> {
    TopicFilter::new(s).expect("valid topic filter")
}

/// A JSON chat message as the app sends it, padded with text to exactly `len` bytes.
pub fn chat_payload(len: usize, seq: u32) -> &'static str {
    let head = format!("{{\"id\":\"mqtt-chat-0123abcd-{seq}\",\"text\":\"");
    let tail = "\",\"sent_at\":1764000000000}";
    let filler = "Hello from the MQTT chat, how is everyone doing today? ";
    let text_len = len
        .checked_sub(head.len() + tail.len())
        .expect("payload too short");
    let text: String = filler.chars().cycle().take(text_len).collect();
    let payload = format!("{head}{text}{tail}");
    assert_eq!(payload.len(), len);
    leak(payload)
}

fn chat_publish(qospid: QosPid, payload: &'static str) -> Packet<'static> {
    Packet::Publish(Publish {
        dup: false,
        qospid,
        retain: false,
        topic: topic(CHAT_TOPIC),
        payload: payload.as_bytes(),
    })
}

/// A QoS 1 PUBLISH of a 100-byte chat message.
pub fn publish_100b() -> Workload {
    Workload {
        name: "publish_100B",
        packets: vec![chat_publish(
            QosPid::AtLeastOnce(pid(42)),
            chat_payload(100, 42),
        )],
    }
}

/// A QoS 1 PUBLISH of a 1024-byte chat message.
pub fn publish_1kb() -> Workload {
    Workload {
        name: "publish_1KB",
        packets: vec![chat_publish(
            QosPid::AtLeastOnce(pid(43)),
            chat_payload(1024, 43),
        )],
    }
}

/// Every packet type a chat client meets in one session, in the order it meets them.
pub fn mixed() -> Workload {
    let packets = vec![
        Packet::Connect(Box::new(Connect {
            client_id: "mqtt-chat-0123abcd",
            clean_session: true,
            keep_alive: 30,
            last_will: Some(LastWill {
                topic: topic("chat/presence/alice"),
                message: br#"{"user":"alice","online":false}"#,
                qos: QoS::AtLeastOnce,
                retain: true,
            }),
            username: Some("alice"),
            password: Some(b"correct horse battery staple"),
        })),
        Packet::ConnAck(ConnAck {
            session_present: false,
            code: ConnectReturnCode::Accepted,
        }),
        Packet::Subscribe(Subscribe {
            pid: pid(1),
            topics: vec![
                (filter("chat/rooms/general/messages/+"), QoS::AtLeastOnce),
                (filter("chat/presence/+"), QoS::AtMostOnce),
                (filter("chat/rooms/general/typing/#"), QoS::ExactlyOnce),
            ]
            .into(),
        }),
        Packet::SubAck(SubAck {
            pid: pid(1),
            return_codes: vec![Some(QoS::AtLeastOnce), Some(QoS::AtMostOnce), None].into(),
        }),
        Packet::Publish(Publish {
            dup: false,
            qospid: QosPid::AtMostOnce,
            retain: true,
            topic: topic("chat/presence/alice"),
            payload: br#"{"user":"alice","online":true}"#,
        }),
        chat_publish(QosPid::AtLeastOnce(pid(2)), chat_payload(100, 2)),
        Packet::PubAck(pid(2)),
        chat_publish(QosPid::ExactlyOnce(pid(3)), chat_payload(100, 3)),
        Packet::PubRec(pid(3)),
        Packet::PubRel(pid(3)),
        Packet::PubComp(pid(3)),
        Packet::Unsubscribe(Unsubscribe {
            pid: pid(4),
            topics: vec![filter("chat/rooms/general/typing/#")].into(),
        }),
        Packet::UnsubAck(pid(4)),
        Packet::PingReq,
        Packet::PingResp,
        Packet::Disconnect,
    ];
    Workload {
        name: "mixed",
        packets,
    }
}

pub fn all() -> Vec<Workload> {
    vec![publish_100b(), publish_1kb(), mixed()]
}

/// Decodes a whole stream with `mqtt::decode`, handing each packet to `sink`; returns the packet count.
/// Panics on anything but a clean stream of whole packets.
#[inline]
pub fn decode_stream<'a>(mut bytes: &'a [u8], mut sink: impl FnMut(Packet<'a>)) -> usize {
    let mut count = 0;
    while !bytes.is_empty() {
        let (packet, used) = mqtt::decode(bytes, MAX_SIZE)
            .expect("valid stream")
            .expect("whole packets");
        sink(packet);
        bytes = &bytes[used..];
        count += 1;
    }
    count
}

/// Encodes every packet of a workload into `out` (cleared first).
#[inline]
pub fn encode_stream(packets: &[Packet<'_>], out: &mut Vec<u8>) {
    out.clear();
    for packet in packets {
        packet.encode(out).expect("encodes");
    }
}
