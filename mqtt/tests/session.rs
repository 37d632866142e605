//! Session tests in simulated time: the broker is played by hand-written packets.

mod common;

use common::*;
use mqtt::*;
use proptest::prelude::*;

/// Everything the session wants to send, decoded.
fn sent(s: &mut Session) -> Vec<String> {
    let Some(out) = s.poll_transmit() else {
        return vec![];
    };
    let mut d = Decoder::new(MAX_PACKET_SIZE);
    d.push(&out);
    let mut packets = Vec::new();
    while let Some(p) = d.next_packet().unwrap() {
        packets.push(format!("{p:?}"));
    }
    packets
}

#[test]
fn connect_sends_the_options_and_connack_connects() {
    let mut o = Options::new("tab-1");
    o.clean_session = false;
    o.keep_alive = 20;
    o.username = Some("alice".into());
    o.will = Some(Will {
        topic: "w".into(),
        payload: b"gone".to_vec(),
        qos: QoS::AtLeastOnce,
        retain: true,
    });
    let mut s = Session::new(o);
    s.connect(5).unwrap();
    let out = sent(&mut s);
    assert_eq!(out.len(), 1);
    assert!(
        out[0].contains(r#"client_id: "tab-1", clean_session: false, keep_alive: 20"#),
        "{}",
        out[0]
    );
    assert!(out[0].contains(r#"username: Some("alice")"#));
    assert!(out[0].contains("retain: true"));
    assert!(!s.is_connected());
    s.handle_bytes(&connack(true), 6).unwrap();
    assert!(s.is_connected());
    assert_eq!(
        events(&mut s),
        [Event::Connected {
            session_present: true
        }]
    );
}

#[test]
fn a_refused_connection_closes_with_the_reason() {
    let mut s = Session::new(Options::new("x"));
    s.connect(0).unwrap();
    let refusal = bytes(Packet::ConnAck(ConnAck {
        session_present: false,
        code: ConnectReturnCode::NotAuthorized,
    }));
    s.handle_bytes(&refusal, 1).unwrap();
    let ev = events(&mut s);
    assert_eq!(
        ev,
        [Event::Closed(CloseReason::Refused(
            ConnectReturnCode::NotAuthorized
        ))]
    );
    assert_eq!(
        ev[0].clone(),
        Event::Closed(CloseReason::Refused(ConnectReturnCode::NotAuthorized))
    );
    if let Event::Closed(reason) = &ev[0] {
        assert_eq!(
            reason.to_string(),
            "the broker refused the connection: not authorized"
        );
    }
}

#[test]
fn a_packet_before_connack_is_a_protocol_violation() {
    let mut s = Session::new(Options::new("x"));
    s.connect(0).unwrap();
    let err = s.handle_bytes(&bytes(Packet::PingResp), 1).unwrap_err();
    assert_eq!(err, ProtocolError::Unexpected("PINGRESP"));
    assert!(matches!(
        &events(&mut s)[..],
        [Event::Closed(CloseReason::Protocol(_))]
    ));
    assert!(!s.is_connected());
}

#[test]
fn packets_a_server_never_sends_close_the_connection() {
    for packet in [
        Packet::PingReq,
        Packet::Disconnect,
        Packet::ConnAck(ConnAck {
            session_present: false,
            code: ConnectReturnCode::Accepted,
        }),
    ] {
        let mut s = connected(Options::new("x"));
        let name = packet.name();
        assert_eq!(
            s.handle_bytes(&bytes(packet), 1),
            Err(ProtocolError::Unexpected(name))
        );
        assert!(!s.is_connected());
    }
}

#[test]
fn malformed_bytes_close_with_the_decode_error() {
    let mut s = connected(Options::new("x"));
    let err = s.handle_bytes(&[0x36, 3, 0, 1, b't'], 1).unwrap_err();
    assert_eq!(err, ProtocolError::Decode(DecodeError::InvalidQos));
    assert_eq!(
        events(&mut s),
        [Event::Closed(CloseReason::Protocol(ProtocolError::Decode(
            DecodeError::InvalidQos
        )))]
    );
    assert_eq!(s.poll_transmit(), None);
}

#[test]
fn qos1_publish_is_delivered_on_puback() {
    let mut s = connected(Options::new("x"));
    let id = s
        .publish("a/b", b"hi", QoS::AtLeastOnce, false, 10)
        .unwrap()
        .unwrap();
    assert_eq!(sent(&mut s).len(), 1);
    assert_eq!(s.in_flight(), 1);
    s.handle_bytes(&bytes(Packet::PubAck(id)), 11).unwrap();
    assert_eq!(events(&mut s), [Event::Delivered(id)]);
    assert_eq!(s.in_flight(), 0);
    // A duplicate PUBACK is ignored.
    s.handle_bytes(&bytes(Packet::PubAck(id)), 12).unwrap();
    assert_eq!(events(&mut s), []);
}

#[test]
fn qos2_publish_goes_through_pubrec_pubrel_pubcomp() {
    let mut s = connected(Options::new("x"));
    let id = s
        .publish("a", b"x", QoS::ExactlyOnce, false, 0)
        .unwrap()
        .unwrap();
    sent(&mut s);
    s.handle_bytes(&bytes(Packet::PubRec(id)), 1).unwrap();
    assert_eq!(sent(&mut s), [format!("{:?}", Packet::PubRel(id))]);
    assert_eq!(events(&mut s), []);
    s.handle_bytes(&bytes(Packet::PubComp(id)), 2).unwrap();
    assert_eq!(events(&mut s), [Event::Delivered(id)]);
}

#[test]
fn incoming_qos1_is_acknowledged_and_delivered() {
    let mut s = connected(Options::new("x"));
    s.handle_bytes(&publish("t", QosPid::AtLeastOnce(pid(5)), false, b"m"), 1)
        .unwrap();
    assert_eq!(sent(&mut s), [format!("{:?}", Packet::PubAck(pid(5)))]);
    let ev = events(&mut s);
    assert_eq!(ev.len(), 1);
    let Event::Message(m) = &ev[0] else {
        panic!("{ev:?}")
    };
    assert_eq!(
        (m.topic.as_str(), &m.payload[..], m.qos),
        ("t", &b"m"[..], QoS::AtLeastOnce)
    );
}

#[test]
fn incoming_qos2_is_delivered_exactly_once() {
    let mut s = connected(Options::new("x"));
    let msg = publish("t", QosPid::ExactlyOnce(pid(7)), false, b"once");
    s.handle_bytes(&msg, 1).unwrap();
    let redelivery = publish("t", QosPid::ExactlyOnce(pid(7)), true, b"once");
    s.handle_bytes(&redelivery, 2).unwrap();
    assert_eq!(
        sent(&mut s),
        [
            format!("{:?}", Packet::PubRec(pid(7))),
            format!("{:?}", Packet::PubRec(pid(7)))
        ]
    );
    assert_eq!(events(&mut s).len(), 1, "the duplicate is not passed on");
    s.handle_bytes(&bytes(Packet::PubRel(pid(7))), 3).unwrap();
    assert_eq!(sent(&mut s), [format!("{:?}", Packet::PubComp(pid(7)))]);
    // After PUBREL the id is free: a new message with it is new.
    s.handle_bytes(&msg, 4).unwrap();
    assert_eq!(events(&mut s).len(), 1);
}

#[test]
fn subscribe_reports_granted_and_refused_filters() {
    let mut s = connected(Options::new("x"));
    let id = s
        .subscribe(
            &[("a/#", QoS::AtLeastOnce), ("secret", QoS::AtLeastOnce)],
            0,
        )
        .unwrap();
    sent(&mut s);
    let ack = bytes(Packet::SubAck(SubAck {
        pid: id,
        return_codes: vec![Some(QoS::AtLeastOnce), None].into(),
    }));
    s.handle_bytes(&ack, 1).unwrap();
    assert_eq!(
        events(&mut s),
        [Event::Subscribed {
            pid: id,
            granted: vec![Some(QoS::AtLeastOnce), None]
        }]
    );
}

#[test]
fn a_suback_with_the_wrong_number_of_codes_is_a_violation() {
    let mut s = connected(Options::new("x"));
    let id = s
        .subscribe(&[("a", QoS::AtMostOnce), ("b", QoS::AtMostOnce)], 0)
        .unwrap();
    let ack = bytes(Packet::SubAck(SubAck {
        pid: id,
        return_codes: vec![Some(QoS::AtMostOnce)].into(),
    }));
    assert_eq!(
        s.handle_bytes(&ack, 1),
        Err(ProtocolError::SubAckCountMismatch {
            expected: 2,
            found: 1
        })
    );
}

#[test]
fn unsubscribe_reports_its_ack() {
    let mut s = connected(Options::new("x"));
    let id = s.unsubscribe(&["a/+"], 0).unwrap();
    s.handle_bytes(&bytes(Packet::UnsubAck(id)), 1).unwrap();
    assert_eq!(events(&mut s), [Event::Unsubscribed(id)]);
}

#[test]
fn invalid_topics_are_refused_before_sending() {
    let mut s = connected(Options::new("x"));
    assert_eq!(
        s.publish("a/+", b"", QoS::AtMostOnce, false, 0),
        Err(SessionError::InvalidTopicName("a/+".into()))
    );
    assert_eq!(
        s.publish("", b"", QoS::AtMostOnce, false, 0),
        Err(SessionError::InvalidTopicName("".into()))
    );
    assert_eq!(
        s.subscribe(&[("a#", QoS::AtMostOnce)], 0),
        Err(SessionError::InvalidTopicFilter("a#".into()))
    );
    assert_eq!(s.poll_transmit(), None);
}

#[test]
fn keepalive_sends_pingreq_when_idle_and_pingresp_clears_it() {
    let mut o = Options::new("x");
    o.keep_alive = 10;
    o.response_timeout = 5_000;
    let mut s = connected(o);
    assert_eq!(s.poll_timeout(), Some(10_000));
    s.handle_timeout(9_999);
    assert_eq!(s.poll_transmit(), None);
    s.handle_timeout(10_000);
    assert_eq!(sent(&mut s), ["PingReq"]);
    assert_eq!(s.poll_timeout(), Some(15_000));
    s.handle_bytes(&bytes(Packet::PingResp), 10_050).unwrap();
    assert_eq!(s.poll_timeout(), Some(20_000));
    // Sending anything restarts the keep-alive interval.
    s.publish("t", b"", QoS::AtMostOnce, false, 12_000).unwrap();
    assert_eq!(s.poll_timeout(), Some(22_000));
}

#[test]
fn a_broker_that_stops_answering_pings_is_declared_dead() {
    let mut o = Options::new("x");
    o.keep_alive = 10;
    o.response_timeout = 5_000;
    let mut s = connected(o);
    s.handle_timeout(10_000);
    sent(&mut s);
    s.handle_timeout(14_999);
    assert!(s.is_connected());
    s.handle_timeout(15_000);
    assert!(!s.is_connected());
    assert_eq!(events(&mut s), [Event::Closed(CloseReason::PingTimeout)]);
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn a_pingresp_behind_a_packet_still_streaming_in_is_not_overdue() {
    let mut o = Options::new("x");
    o.keep_alive = 10;
    o.response_timeout = 5_000;
    let mut s = connected(o);
    s.handle_timeout(10_000);
    sent(&mut s);
    // A large PUBLISH arrives piece by piece; its last piece comes after the response timeout.
    let big = bytes(Packet::Publish(Publish {
        dup: false,
        qospid: QosPid::AtMostOnce,
        retain: false,
        topic: TopicName::new("t").unwrap(),
        payload: &[7; 1000],
    }));
    let (head, tail) = big.split_at(500);
    s.handle_bytes(head, 14_000).unwrap();
    s.handle_timeout(18_999);
    assert!(s.is_connected(), "bytes arrived at 14 s: alive until 19 s");
    s.handle_bytes(tail, 18_000).unwrap();
    s.handle_timeout(22_999);
    assert!(s.is_connected());
    s.handle_timeout(23_000);
    assert!(
        !s.is_connected(),
        "silence for the whole timeout is still death"
    );
}

#[test]
fn no_connack_in_time_closes_the_attempt() {
    let mut o = Options::new("x");
    o.response_timeout = 3_000;
    let mut s = Session::new(o);
    s.connect(1_000).unwrap();
    assert_eq!(s.poll_timeout(), Some(4_000));
    s.handle_timeout(4_000);
    assert_eq!(events(&mut s), [Event::Closed(CloseReason::ConnectTimeout)]);
}

#[test]
fn a_shorter_ping_interval_pings_earlier_but_never_later_than_the_keep_alive() {
    let mut o = Options::new("x");
    o.keep_alive = 120;
    o.ping_interval = Some(60_000);
    let s = connected(o.clone());
    assert_eq!(s.poll_timeout(), Some(60_000));
    o.ping_interval = Some(500_000);
    let s = connected(o);
    assert_eq!(s.poll_timeout(), Some(120_000));
}

#[test]
fn keepalive_zero_never_pings() {
    let mut o = Options::new("x");
    o.keep_alive = 0;
    let s = connected(o);
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn unacknowledged_messages_are_resent_with_dup_after_reconnect() {
    let mut o = Options::new("x");
    o.clean_session = false;
    let mut s = connected(o);
    let a = s
        .publish("t", b"a", QoS::AtLeastOnce, false, 0)
        .unwrap()
        .unwrap();
    let b = s
        .publish("t", b"b", QoS::ExactlyOnce, false, 0)
        .unwrap()
        .unwrap();
    let c = s
        .publish("t", b"c", QoS::ExactlyOnce, false, 0)
        .unwrap()
        .unwrap();
    sent(&mut s);
    s.handle_bytes(&bytes(Packet::PubRec(c)), 1).unwrap();
    sent(&mut s);
    s.transport_closed();
    assert_eq!(
        events(&mut s),
        [Event::Closed(CloseReason::TransportClosed)]
    );
    // Queued while offline: sent after the resends, without DUP.
    let d = s
        .publish("t", b"d", QoS::AtLeastOnce, false, 2)
        .unwrap()
        .unwrap();
    assert_eq!(s.poll_transmit(), None);
    s.connect(3).unwrap();
    sent(&mut s);
    s.handle_bytes(&connack(true), 4).unwrap();
    let out = sent(&mut s);
    assert_eq!(out.len(), 4, "{out:?}");
    assert!(
        out[0].contains(&format!("dup: true, qospid: AtLeastOnce({a})")),
        "{}",
        out[0]
    );
    assert!(
        out[1].contains(&format!("dup: true, qospid: ExactlyOnce({b})")),
        "{}",
        out[1]
    );
    assert_eq!(out[2], format!("{:?}", Packet::PubRel(c)));
    assert!(
        out[3].contains(&format!("dup: false, qospid: AtLeastOnce({d})")),
        "{}",
        out[3]
    );
}

#[test]
fn qos0_needs_a_connection() {
    let mut s = Session::new(Options::new("x"));
    assert_eq!(
        s.publish("t", b"", QoS::AtMostOnce, false, 0),
        Err(SessionError::NotConnected)
    );
}

#[test]
fn packet_ids_are_never_zero_never_reused_and_run_out_at_65535_in_flight() {
    let mut s = connected(Options::new("x"));
    let mut seen = std::collections::HashSet::new();
    for _ in 0..65_535 {
        let id = s
            .publish("t", b"", QoS::AtLeastOnce, false, 0)
            .unwrap()
            .unwrap();
        assert!(seen.insert(id));
    }
    assert_eq!(
        s.publish("t", b"", QoS::AtLeastOnce, false, 0),
        Err(SessionError::NoPacketIdAvailable)
    );
    assert_eq!(
        s.subscribe(&[("t", QoS::AtMostOnce)], 0),
        Err(SessionError::NoPacketIdAvailable)
    );
    // Freeing one id makes exactly that one available again.
    s.handle_bytes(&bytes(Packet::PubAck(pid(4242))), 0)
        .unwrap();
    assert_eq!(
        s.publish("t", b"", QoS::AtLeastOnce, false, 0),
        Ok(Some(pid(4242)))
    );
}

#[test]
fn disconnect_says_goodbye_and_closes() {
    let mut s = connected(Options::new("x"));
    s.disconnect(1);
    assert_eq!(sent(&mut s), ["Disconnect"]);
    assert_eq!(events(&mut s), [Event::Closed(CloseReason::Disconnected)]);
}

proptest! {
    #[test]
    fn arbitrary_broker_bytes_never_panic(chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 0..8)) {
        let mut s = Session::new(Options::new("x"));
        s.connect(0).unwrap();
        let mut first = connack(false);
        first.extend(chunks.concat());
        for (i, chunk) in first.chunks(17).enumerate() {
            let _ = s.handle_bytes(chunk, i as u64);
            s.handle_timeout(i as u64 * 1000);
        }
        while s.poll_event().is_some() {}
    }
}
