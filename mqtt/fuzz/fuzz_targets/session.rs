//! A session fed fuzzed broker bytes and fuzzed timing, with the app publishing and subscribing in between:
//! never a panic, never a packet id 0 or one in use twice. Half the runs use a small maximum packet size, so
//! that oversized PUBLISHes are skipped (and acknowledged) over many chunks.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mqtt::{ConnAck, ConnectReturnCode, Options, Packet, QoS, Session};

fuzz_target!(|data: &[u8]| {
    let mut o = Options::new("fuzz");
    o.keep_alive = 5;
    o.clean_session = data.first().is_some_and(|b| b & 1 == 0);
    if let Some(b) = data.first().filter(|b| *b & 2 != 0) {
        // 4 to 256 bytes: a CONNACK (4 bytes) still fits.
        o.max_packet_size = 4 + usize::from(b >> 2) * 4;
    }
    let max = o.max_packet_size;
    let mut s = Session::new(o);
    let mut now = 0u64;
    s.connect(now).ok();
    // Usually start connected, so the fuzzer reaches the interesting states.
    if data.get(1).is_some_and(|b| b & 1 == 0) {
        let mut ack = Vec::new();
        Packet::ConnAck(ConnAck { session_present: false, code: ConnectReturnCode::Accepted })
            .encode(&mut ack)
            .ok();
        s.handle_bytes(&ack, now).ok();
    }
    let mut ids = std::collections::HashSet::new();
    for chunk in data.get(2..).unwrap_or_default().chunks(9) {
        let Some((&op, rest)) = chunk.split_first() else { continue };
        match op % 8 {
            0 => {
                if let Ok(Some(pid)) = s.publish("t/a", rest, QoS::AtLeastOnce, false, now) {
                    assert!(ids.insert(pid), "packet id {pid} handed out twice");
                }
            }
            1 => {
                s.publish("t/b", rest, QoS::ExactlyOnce, op & 8 != 0, now).ok();
            }
            2 => {
                s.subscribe(&[("t/#", QoS::ExactlyOnce)], now).ok();
            }
            3 => {
                now += u64::from(rest.first().copied().unwrap_or(1)) * 100;
                s.handle_timeout(now);
            }
            4 => s.transport_closed(),
            5 => {
                s.connect(now).ok();
            }
            _ => {
                s.handle_bytes(rest, now).ok();
            }
        }
        s.poll_transmit();
        while let Some(event) = s.poll_event() {
            match event {
                mqtt::Event::Delivered(pid) => {
                    ids.remove(&pid);
                }
                mqtt::Event::Message(m) => {
                    let size = publish_size(m.topic.len(), m.qos, m.payload.len());
                    assert!(size <= max, "a message of {size} bytes is over {max}");
                }
                mqtt::Event::Oversized(o) => {
                    let size = publish_size(o.topic.len(), o.qos, o.payload_len);
                    assert!(size > max, "{o:?}: {size} bytes is not over {max}");
                }
                _ => {}
            }
        }
    }
});

/// The size of a PUBLISH with a topic and a payload of these lengths.
fn publish_size(topic_len: usize, qos: QoS, payload_len: usize) -> usize {
    let pid = if qos == QoS::AtMostOnce { 0 } else { 2 };
    let remaining = 2 + topic_len + pid + payload_len;
    let length_bytes = match remaining {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    };
    1 + length_bytes + remaining
}
