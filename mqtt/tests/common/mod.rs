//! Helpers for the tests that play the broker with hand-written packets in simulated time.

#![allow(dead_code)]

use mqtt::*;

pub fn pid(n: u16) -> Pid {
    Pid::new(n).unwrap()
}

pub fn bytes(packet: Packet<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    packet.encode(&mut out).unwrap();
    out
}

pub fn events(s: &mut Session) -> Vec<Event> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

pub fn connack(session_present: bool) -> Vec<u8> {
    bytes(Packet::ConnAck(ConnAck {
        session_present,
        code: ConnectReturnCode::Accepted,
    }))
}

pub fn publish(topic: &str, qospid: QosPid, dup: bool, payload: &[u8]) -> Vec<u8> {
    bytes(Packet::Publish(Publish {
        dup,
        qospid,
        retain: false,
        topic: TopicName::new(topic).unwrap(),
        payload,
    }))
}

/// A session that has sent CONNECT (discarded) and received an accepting CONNACK at time 0.
pub fn connected(options: Options) -> Session {
    let mut s = Session::new(options);
    s.connect(0).unwrap();
    s.poll_transmit();
    s.handle_bytes(&connack(false), 0).unwrap();
    assert_eq!(
        events(&mut s),
        [Event::Connected {
            session_present: false
        }]
    );
    s
}
