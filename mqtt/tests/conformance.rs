//! Conformance tests: the client-side normative statements of MQTT 3.1.1 that no other test pins down, one test
//! (or a small group) per statement, each citing its `[MQTT-x.x.x-y]` id. See `mqtt/CONFORMANCE.md` for the map of
//! every statement to the tests that cover it.
//!
//! Only the public API of the `mqtt` crate is used; the broker is played by hand-written packets in simulated time.

mod common;

use common::*;
use mqtt::*;
use proptest::prelude::*;

/// Everything the session wants to send, one `Vec` per packet (split by the fixed header).
fn transmitted(s: &mut Session) -> Vec<Vec<u8>> {
    let Some(out) = s.poll_transmit() else {
        return vec![];
    };
    let mut packets = Vec::new();
    let mut rest = &out[..];
    while !rest.is_empty() {
        let header = mqtt::decode::fixed_header(rest)
            .expect("the session sends valid fixed headers")
            .expect("the session sends whole packets");
        let (packet, tail) = rest.split_at(header.packet_length());
        packets.push(packet.to_vec());
        rest = tail;
    }
    packets
}

/// Decodes one whole packet.
fn packet(bytes: &[u8]) -> Packet<'_> {
    let (p, used) = decode(bytes, MAX_PACKET_SIZE).unwrap().unwrap();
    assert_eq!(used, bytes.len());
    p
}

fn persistent(client_id: &str) -> Options {
    let mut o = Options::new(client_id);
    o.clean_session = false;
    o
}

/// Drops the connection and connects again; the broker answers with `session_present`.
fn reconnect(s: &mut Session, session_present: bool, now: Millis) {
    reconnect_with_events(s, session_present, now, &[]);
}

/// As [`reconnect`], where `connect` itself reports `before` (a clean session settles the old one's flows).
fn reconnect_with_events(s: &mut Session, session_present: bool, now: Millis, before: &[Event]) {
    s.transport_closed();
    assert_eq!(events(s), [Event::Closed(CloseReason::TransportClosed)]);
    s.connect(now).unwrap();
    let out = transmitted(s);
    assert_eq!(out.len(), 1);
    assert!(matches!(packet(&out[0]), Packet::Connect(_)));
    s.handle_bytes(&connack(session_present), now).unwrap();
    let mut expected = before.to_vec();
    expected.push(Event::Connected { session_present });
    assert_eq!(events(s), expected);
}

fn is_closed_by_protocol_error(events: &[Event]) -> bool {
    matches!(events, [Event::Closed(CloseReason::Protocol(_))])
}

// ---- 1.5.3 UTF-8 encoded strings ----

/// [MQTT-1.5.3-1] Ill-formed UTF-8 (including an encoded surrogate) from the broker closes the connection.
#[test]
fn ill_formed_utf8_from_the_broker_closes_the_connection() {
    // A QoS 0 PUBLISH whose topic is C3 28 (a broken 2-byte sequence), then one whose topic is ED A0 80 (U+D800).
    for bad in [
        &[0x30, 4, 0, 2, 0xC3, 0x28][..],
        &[0x30, 5, 0, 3, 0xED, 0xA0, 0x80][..],
    ] {
        let mut s = connected(Options::new("utf8"));
        assert_eq!(
            s.handle_bytes(bad, 1),
            Err(ProtocolError::Decode(DecodeError::InvalidUtf8))
        );
        assert!(is_closed_by_protocol_error(&events(&mut s)));
        assert!(!s.is_connected());
        assert_eq!(s.poll_transmit(), None);
    }
}

/// [MQTT-1.5.3-2, MQTT-4.7.3-2] U+0000 is never sent in any string, and one received closes the connection.
#[test]
fn a_null_character_is_never_sent_and_closes_the_connection_when_received() {
    // In the client id and the user name: CONNECT is refused before anything is sent.
    let mut o = Options::new("a\0b");
    let mut s = Session::new(o.clone());
    assert_eq!(
        s.connect(0),
        Err(SessionError::Encode(EncodeError::NullCharacter))
    );
    assert_eq!(s.poll_transmit(), None);
    assert_eq!(s.poll_timeout(), None, "no connection attempt is under way");
    o.client_id = "ok".into();
    o.username = Some("u\0".into());
    let mut s = Session::new(o);
    assert_eq!(
        s.connect(0),
        Err(SessionError::Encode(EncodeError::NullCharacter))
    );
    assert_eq!(s.poll_transmit(), None);
    // In a topic name or filter: refused by the session.
    let mut s = connected(Options::new("nul"));
    assert_eq!(
        s.publish("a\0", b"", QoS::AtLeastOnce, false, 1),
        Err(SessionError::InvalidTopicName("a\0".into()))
    );
    assert_eq!(
        s.subscribe(&[("a/\0", QoS::AtMostOnce)], 1),
        Err(SessionError::InvalidTopicFilter("a/\0".into()))
    );
    assert_eq!(s.poll_transmit(), None);
    // Received in a topic name: the connection is closed.
    assert_eq!(
        s.handle_bytes(&[0x30, 4, 0, 2, b'a', 0], 2),
        Err(ProtocolError::Decode(DecodeError::NullCharacter))
    );
    assert!(is_closed_by_protocol_error(&events(&mut s)));
}

/// [MQTT-1.5.3-3] A BOM (EF BB BF) in a received topic is passed on as U+FEFF, not skipped or stripped.
#[test]
fn a_byte_order_mark_is_passed_on_not_stripped() {
    let mut s = connected(Options::new("bom"));
    s.handle_bytes(
        &publish("\u{FEFF}a/\u{FEFF}", QosPid::AtMostOnce, false, b"x"),
        1,
    )
    .unwrap();
    let ev = events(&mut s);
    let [Event::Message(m)] = &ev[..] else {
        panic!("{ev:?}")
    };
    assert_eq!(m.topic.as_bytes(), b"\xEF\xBB\xBFa/\xEF\xBB\xBF");
}

// ---- 2.2.2 flags ----

/// [MQTT-2.2.2-2] Invalid fixed-header flags from the broker close the connection.
#[test]
fn invalid_fixed_header_flags_from_the_broker_close_the_connection() {
    for (bad, packet_type, flags) in [
        (&[0x41, 2, 0, 1][..], 4, 1),  // PUBACK with flags 0001
        (&[0x60, 2, 0, 1][..], 6, 0),  // PUBREL with flags 0000 instead of 0010
        (&[0xD2, 0][..], 13, 2),       // PINGRESP with flags 0010
        (&[0xB8, 2, 0, 1][..], 11, 8), // UNSUBACK with flags 1000
    ] {
        let mut s = connected(Options::new("flags"));
        assert_eq!(
            s.handle_bytes(bad, 1),
            Err(ProtocolError::Decode(DecodeError::InvalidHeaderFlags {
                packet_type,
                flags
            }))
        );
        assert!(is_closed_by_protocol_error(&events(&mut s)));
        assert_eq!(s.poll_transmit(), None);
    }
}

/// [MQTT-2.2.2-1, MQTT-3.6.1-1, MQTT-3.8.1-1, MQTT-3.10.1-1] Every packet type the session sends carries the flag
/// bits of Table 2.2: 0010 for PUBREL, SUBSCRIBE and UNSUBSCRIBE, 0000 for the others but PUBLISH, whose DUP is 0
/// at QoS 0 and whose QoS is never 3.
#[test]
fn every_packet_the_session_sends_has_the_flags_of_table_2_2() {
    let mut o = persistent("flags");
    o.keep_alive = 1;
    o.username = Some("u".into());
    o.password = Some(b"p".to_vec());
    o.will = Some(Will {
        topic: "w".into(),
        payload: b"bye".to_vec(),
        qos: QoS::ExactlyOnce,
        retain: true,
    });
    let mut s = Session::new(o);
    let mut sent = Vec::new();
    s.connect(0).unwrap();
    sent.extend(transmitted(&mut s));
    s.handle_bytes(&connack(false), 0).unwrap();
    s.subscribe(&[("a/+", QoS::ExactlyOnce), ("#", QoS::AtMostOnce)], 1)
        .unwrap();
    s.unsubscribe(&["a/+"], 1).unwrap();
    s.publish("t", b"0", QoS::AtMostOnce, true, 1).unwrap();
    let q1 = s
        .publish("t", b"1", QoS::AtLeastOnce, true, 1)
        .unwrap()
        .unwrap();
    let q2 = s
        .publish("t", b"2", QoS::ExactlyOnce, false, 1)
        .unwrap()
        .unwrap();
    s.handle_bytes(&bytes(Packet::PubAck(q1)), 2).unwrap();
    s.handle_bytes(&bytes(Packet::PubRec(q2)), 2).unwrap(); // -> PUBREL
    s.handle_bytes(&bytes(Packet::PubComp(q2)), 2).unwrap();
    s.handle_bytes(&publish("t", QosPid::AtLeastOnce(pid(9)), false, b""), 3)
        .unwrap(); // -> PUBACK
    s.handle_bytes(&publish("t", QosPid::ExactlyOnce(pid(9)), false, b""), 3)
        .unwrap(); // -> PUBREC
    s.handle_bytes(&bytes(Packet::PubRel(pid(9))), 3).unwrap(); // -> PUBCOMP
    sent.extend(transmitted(&mut s));
    s.handle_timeout(1_003); // -> PINGREQ
    s.handle_bytes(&bytes(Packet::PingResp), 1_004).unwrap();
    // A message resent after a reconnect carries DUP.
    s.publish("t", b"again", QoS::AtLeastOnce, false, 1_005)
        .unwrap();
    sent.extend(transmitted(&mut s));
    events(&mut s);
    reconnect(&mut s, true, 1_006);
    sent.extend(transmitted(&mut s));
    s.disconnect(1_007); // -> DISCONNECT
    sent.extend(transmitted(&mut s));

    let mut types: Vec<u8> = sent.iter().map(|p| p[0] >> 4).collect();
    types.sort_unstable();
    types.dedup();
    assert_eq!(
        types,
        [1, 3, 4, 5, 6, 7, 8, 10, 12, 14],
        "every packet type a client sends was exercised"
    );
    let mut saw_dup = false;
    for p in &sent {
        let (packet_type, flags) = (p[0] >> 4, p[0] & 0x0F);
        match packet_type {
            3 => {
                let qos = (flags >> 1) & 0b11;
                assert_ne!(qos, 3, "{p:?}");
                if qos == 0 {
                    assert_eq!(flags & 0b1000, 0, "DUP on a QoS 0 PUBLISH: {p:?}");
                }
                saw_dup |= flags & 0b1000 != 0;
            }
            6 | 8 | 10 => assert_eq!(flags, 0b0010, "{p:?}"),
            _ => assert_eq!(flags, 0, "{p:?}"),
        }
    }
    assert!(saw_dup, "the resent PUBLISH was among the packets checked");
}

// ---- 2.3.1 packet identifiers ----

/// [MQTT-2.3.1-2, MQTT-2.3.1-3] A QoS 2 PUBLISH keeps its packet id after PUBREC; the id is free again only once
/// PUBCOMP is processed.
#[test]
fn a_qos2_packet_id_stays_in_use_until_pubcomp() {
    let mut s = connected(Options::new("ids"));
    for _ in 0..65_534 {
        s.publish("t", b"", QoS::AtLeastOnce, false, 0).unwrap();
    }
    let last = s
        .publish("t", b"", QoS::ExactlyOnce, false, 0)
        .unwrap()
        .unwrap();
    assert_eq!(last, pid(65_535));
    transmitted(&mut s);
    s.handle_bytes(&bytes(Packet::PubRec(last)), 1).unwrap();
    assert_eq!(
        s.publish("t", b"", QoS::AtLeastOnce, false, 1),
        Err(SessionError::NoPacketIdAvailable),
        "after PUBREC the id is still in use"
    );
    s.handle_bytes(&bytes(Packet::PubComp(last)), 2).unwrap();
    assert_eq!(
        s.publish("t", b"", QoS::AtLeastOnce, false, 2),
        Ok(Some(last))
    );
}

/// [MQTT-2.3.1-2, MQTT-2.3.1-3] SUBSCRIBE and UNSUBSCRIBE ids are in use until their SUBACK and UNSUBACK, and are
/// not shared with PUBLISH ids.
#[test]
fn subscribe_and_unsubscribe_ids_stay_in_use_until_their_acks() {
    let mut s = connected(Options::new("ids"));
    for _ in 0..65_533 {
        s.publish("t", b"", QoS::AtLeastOnce, false, 0).unwrap();
    }
    let sub = s.subscribe(&[("a", QoS::AtMostOnce)], 0).unwrap();
    let unsub = s.unsubscribe(&["b"], 0).unwrap();
    assert_eq!((sub, unsub), (pid(65_534), pid(65_535)));
    assert_eq!(
        s.publish("t", b"", QoS::AtLeastOnce, false, 0),
        Err(SessionError::NoPacketIdAvailable)
    );
    s.handle_bytes(&bytes(Packet::UnsubAck(unsub)), 1).unwrap();
    assert_eq!(
        s.publish("t", b"", QoS::AtLeastOnce, false, 1),
        Ok(Some(unsub))
    );
    let ack = bytes(Packet::SubAck(SubAck {
        pid: sub,
        return_codes: vec![Some(QoS::AtMostOnce)].into(),
    }));
    s.handle_bytes(&ack, 2).unwrap();
    assert_eq!(
        s.publish("t", b"", QoS::AtLeastOnce, false, 2),
        Ok(Some(sub))
    );
}

/// [MQTT-2.3.1-5, MQTT-3.3.1-2, MQTT-4.3.1-1] A QoS 0 PUBLISH from the session has QoS 0, DUP 0, no packet id, and
/// is not kept.
#[test]
fn a_qos0_publish_has_dup_0_and_no_packet_id() {
    let mut s = connected(Options::new("q0"));
    assert_eq!(s.publish("t", b"hi", QoS::AtMostOnce, false, 1), Ok(None));
    assert_eq!(
        transmitted(&mut s),
        [vec![0x30, 5, 0, 1, b't', b'h', b'i']] // type 3, flags 0000; topic; payload, no id
    );
    assert_eq!(s.in_flight(), 0);
}

/// [MQTT-3.3.1-2] Whatever the encoder is asked to write, a QoS 0 PUBLISH never goes out with DUP set: it is refused
/// or written without DUP.
#[test]
fn the_encoder_never_writes_dup_on_a_qos0_publish() {
    let p = Packet::Publish(Publish {
        dup: true,
        qospid: QosPid::AtMostOnce,
        retain: false,
        topic: TopicName::new("t").unwrap(),
        payload: b"",
    });
    let mut out = Vec::new();
    if p.encode(&mut out).is_ok() {
        assert_eq!(
            out[0] & 0b1000,
            0,
            "DUP written on a QoS 0 PUBLISH: {out:02x?}"
        );
    }
}

// ---- 3.1 CONNECT ----

/// [MQTT-3.1.0-1] CONNECT is the first packet on every connection: nothing queued before it, or while CONNACK is
/// awaited, goes out before it.
#[test]
fn connect_is_the_first_packet_on_every_connection() {
    let mut s = Session::new(Options::new("first"));
    // Queued before any connection.
    let early = s
        .publish("t", b"early", QoS::AtLeastOnce, false, 0)
        .unwrap()
        .unwrap();
    assert_eq!(s.poll_transmit(), None);
    s.connect(1).unwrap();
    // Asked for while CONNACK is awaited.
    let waiting = s
        .publish("t", b"waiting", QoS::ExactlyOnce, false, 2)
        .unwrap()
        .unwrap();
    assert_eq!(
        s.publish("t", b"", QoS::AtMostOnce, false, 2),
        Err(SessionError::NotConnected)
    );
    assert_eq!(
        s.subscribe(&[("t", QoS::AtMostOnce)], 2),
        Err(SessionError::NotConnected)
    );
    assert_eq!(s.unsubscribe(&["t"], 2), Err(SessionError::NotConnected));
    s.handle_timeout(3);
    let out = transmitted(&mut s);
    assert_eq!(out.len(), 1, "only CONNECT before CONNACK");
    assert!(matches!(packet(&out[0]), Packet::Connect(_)));
    // After CONNACK the queued messages follow, as first sends.
    s.handle_bytes(&connack(false), 4).unwrap();
    let out = transmitted(&mut s);
    let ids: Vec<_> = out
        .iter()
        .map(|p| match packet(p) {
            Packet::Publish(p) => {
                assert!(!p.dup);
                p.qospid.pid().unwrap()
            }
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(ids, [early, waiting]);
    // Bytes not yet written when the transport closes are not sent ahead of the next CONNECT.
    s.publish("t", b"lost", QoS::AtMostOnce, false, 5).unwrap();
    s.transport_closed();
    s.connect(6).unwrap();
    let out = transmitted(&mut s);
    assert_eq!(out.len(), 1);
    assert!(matches!(packet(&out[0]), Packet::Connect(_)));
}

fn arb_qos() -> impl Strategy<Value = QoS> {
    prop_oneof![
        Just(QoS::AtMostOnce),
        Just(QoS::AtLeastOnce),
        Just(QoS::ExactlyOnce)
    ]
}

fn arb_will() -> impl Strategy<Value = Will> {
    (
        "[a-z/]{1,8}",
        prop::collection::vec(any::<u8>(), 0..16),
        arb_qos(),
        any::<bool>(),
    )
        .prop_map(|(topic, payload, qos, retain)| Will {
            topic,
            payload,
            qos,
            retain,
        })
}

proptest! {
    /// [MQTT-3.1.2-3, 3.1.2-9, 3.1.2-11, 3.1.2-13, 3.1.2-14, 3.1.2-15, 3.1.2-18, 3.1.2-19, 3.1.2-20, 3.1.2-21,
    /// MQTT-3.1.3-1, 3.1.3-3] The CONNECT flags always agree with the fields in the payload, in the order the
    /// standard gives, and the reserved bit is 0.
    #[test]
    fn connect_flags_match_the_fields_in_the_payload(
        client_id in "[a-zA-Z0-9]{1,23}",
        clean_session in any::<bool>(),
        keep_alive in any::<u16>(),
        will in prop::option::of(arb_will()),
        username in prop::option::of("[a-z]{0,8}"),
        password in prop::option::of(prop::collection::vec(any::<u8>(), 0..8)),
    ) {
        let password = if username.is_some() { password } else { None };
        let mut o = Options::new(client_id.clone());
        o.clean_session = clean_session;
        o.keep_alive = keep_alive;
        o.will = will.clone();
        o.username = username.clone();
        o.password = password.clone();
        let mut s = Session::new(o);
        s.connect(0).unwrap();
        let out = transmitted(&mut s);
        prop_assert_eq!(out.len(), 1);
        let header = mqtt::decode::fixed_header(&out[0]).unwrap().unwrap();
        // Variable header: protocol name (6 bytes), level, flags, keep alive.
        let flags = out[0][header.header_length + 7];
        prop_assert_eq!(flags & 0x01, 0, "reserved bit");
        prop_assert_eq!(flags & 0x02 != 0, clean_session);
        prop_assert_eq!(flags & 0x04 != 0, will.is_some());
        match &will {
            Some(w) => {
                prop_assert_eq!((flags >> 3) & 0b11, w.qos as u8);
                prop_assert_eq!(flags & 0x20 != 0, w.retain);
            }
            None => prop_assert_eq!(flags & 0b0011_1000, 0, "will QoS and retain without a will"),
        }
        prop_assert_eq!(flags & 0x80 != 0, username.is_some());
        prop_assert_eq!(flags & 0x40 != 0, password.is_some());
        // The strict decoder finds exactly these fields, in the standard's order.
        let Packet::Connect(c) = packet(&out[0]) else { panic!("not a CONNECT") };
        prop_assert_eq!(c.client_id, client_id.as_str());
        prop_assert_eq!(c.keep_alive, keep_alive);
        prop_assert_eq!(
            c.last_will.map(|w| (w.topic.as_str().to_owned(), w.message.to_vec(), w.qos, w.retain)),
            will.map(|w| (w.topic, w.payload, w.qos, w.retain))
        );
        prop_assert_eq!(c.username, username.as_deref());
        prop_assert_eq!(c.password, password.as_deref());
    }
}

/// [MQTT-3.1.2-22] A password without a user name is never sent.
#[test]
fn a_password_without_a_user_name_is_never_sent() {
    let mut o = Options::new("pw");
    o.password = Some(b"secret".to_vec());
    let mut s = Session::new(o);
    assert_eq!(
        s.connect(0),
        Err(SessionError::Encode(EncodeError::PasswordWithoutUsername))
    );
    assert_eq!(s.poll_transmit(), None);
    assert_eq!(s.poll_timeout(), None);
}

/// [MQTT-3.1.3-7] A zero-byte client id is only sent with CleanSession = 1.
#[test]
fn an_empty_client_id_needs_a_clean_session() {
    let mut s = Session::new(persistent(""));
    assert_eq!(
        s.connect(0),
        Err(SessionError::Encode(
            EncodeError::EmptyClientIdWithoutCleanSession
        ))
    );
    assert_eq!(s.poll_transmit(), None);
    let mut s = Session::new(Options::new(""));
    s.connect(0).unwrap();
    let out = transmitted(&mut s);
    let Packet::Connect(c) = packet(&out[0]) else {
        panic!()
    };
    assert_eq!((c.client_id, c.clean_session), ("", true));
}

/// [MQTT-3.1.3-10, MQTT-4.7.1-1, MQTT-4.7.3-1] The will topic is a topic name like any other: no wildcards, not
/// empty.
#[test]
fn a_will_topic_is_checked_like_any_topic_name() {
    for bad in ["a/+", "#", ""] {
        let mut o = Options::new("will");
        o.will = Some(Will {
            topic: bad.into(),
            payload: vec![],
            qos: QoS::AtMostOnce,
            retain: false,
        });
        let mut s = Session::new(o);
        assert_eq!(
            s.connect(0),
            Err(SessionError::InvalidTopicName(bad.into()))
        );
        assert_eq!(s.poll_transmit(), None);
    }
}

/// [MQTT-3.1.2-6] With CleanSession = 1 the state of the previous session is discarded: after reconnecting, no
/// PUBLISH is re-sent as a duplicate and no PUBREL of the old session goes out.
#[test]
fn a_clean_session_does_not_reuse_the_previous_sessions_state() {
    let mut s = connected(Options::new("clean")); // clean_session = true
    s.publish("t", b"a", QoS::AtLeastOnce, false, 1).unwrap();
    let b = s
        .publish("t", b"b", QoS::ExactlyOnce, false, 1)
        .unwrap()
        .unwrap();
    transmitted(&mut s);
    s.handle_bytes(&bytes(Packet::PubRec(b)), 2).unwrap();
    transmitted(&mut s);
    // The broker took `b` (PUBREC): it counts as delivered; `a` goes out again as a new message.
    reconnect_with_events(&mut s, false, 3, &[Event::Delivered(b)]);
    for p in transmitted(&mut s) {
        match packet(&p) {
            Packet::PubRel(id) => panic!("PUBREL {id} of the previous session"),
            Packet::Publish(p) => assert!(!p.dup, "{p:?} re-sent from the previous session"),
            _ => {}
        }
    }
}

/// [MQTT-3.1.2-4, MQTT-4.1.0-1, MQTT-4.3.3-2] With CleanSession = 0 the receiving side of a QoS 2 flow survives a
/// lost connection: the broker's redelivery is acknowledged but not passed on twice.
#[test]
fn incoming_qos2_state_survives_a_lost_connection() {
    let mut s = connected(persistent("keep"));
    s.handle_bytes(
        &publish("t", QosPid::ExactlyOnce(pid(7)), false, b"once"),
        1,
    )
    .unwrap();
    assert_eq!(transmitted(&mut s), [bytes(Packet::PubRec(pid(7)))]);
    assert_eq!(events(&mut s).len(), 1);
    reconnect(&mut s, true, 2);
    s.handle_bytes(&publish("t", QosPid::ExactlyOnce(pid(7)), true, b"once"), 3)
        .unwrap();
    assert_eq!(transmitted(&mut s), [bytes(Packet::PubRec(pid(7)))]);
    assert_eq!(events(&mut s), [], "the redelivery is not passed on");
    s.handle_bytes(&bytes(Packet::PubRel(pid(7))), 4).unwrap();
    assert_eq!(transmitted(&mut s), [bytes(Packet::PubComp(pid(7)))]);
}

/// [MQTT-3.1.2-23] With PINGRESPs answered, an idle or lightly used client sends a control packet at least once
/// every keep-alive period, for ten simulated minutes.
#[test]
fn an_idle_client_sends_something_within_every_keep_alive_period() {
    let mut o = Options::new("ka");
    o.keep_alive = 5;
    o.response_timeout = 2_000;
    let mut s = connected(o); // CONNECT sent at 0
    let (mut last_sent, mut max_gap, mut pings) = (0u64, 0u64, 0);
    let mut round = 0u64;
    while last_sent < 600_000 {
        round += 1;
        let due = s.poll_timeout().expect("keep-alive is on");
        // Now and then the application publishes before the timer fires.
        let now = if round % 3 == 0 {
            let at = due - 1_700;
            s.publish("t", b"", QoS::AtMostOnce, false, at).unwrap();
            at
        } else {
            s.handle_timeout(due);
            due
        };
        let out = transmitted(&mut s);
        assert!(!out.is_empty(), "nothing sent at {now}");
        max_gap = max_gap.max(now - last_sent);
        last_sent = now;
        if out.contains(&vec![0xC0, 0]) {
            pings += 1;
            s.handle_bytes(&bytes(Packet::PingResp), now + 100).unwrap();
        }
    }
    assert!(s.is_connected());
    assert!(pings > 50, "{pings} pings");
    assert!(max_gap <= 5_000, "{max_gap} ms between two sends");
}

/// [MQTT-3.1.2-23] A PINGRESP that is late does not let the client go silent for longer than the keep-alive: by
/// then it sends again, or gives up on the connection.
#[test]
fn a_late_pingresp_does_not_stretch_the_keep_alive_interval() {
    let mut o = Options::new("late");
    o.keep_alive = 2;
    o.response_timeout = 10_000; // the default
    let mut s = connected(o);
    s.handle_timeout(2_000);
    assert_eq!(transmitted(&mut s), [vec![0xC0, 0]]);
    // No PINGRESP. The next packet (or the end of the connection) is due one keep-alive after the PINGREQ.
    let due = s.poll_timeout().unwrap();
    assert!(due <= 4_000, "the session stays silent until {due} ms");
    s.handle_timeout(due);
    assert!(!transmitted(&mut s).is_empty() || !s.is_connected());
}

// ---- 3.3 PUBLISH and the QoS flows of 4.3 ----

/// [MQTT-3.3.4-1, MQTT-4.5.0-2] Every PUBLISH received gets the response its QoS asks for (none, PUBACK, PUBREC),
/// whether or not the client subscribed to its topic.
#[test]
fn each_publish_received_gets_the_response_its_qos_asks_for() {
    let mut s = connected(Options::new("resp"));
    s.handle_bytes(
        &publish("never/subscribed", QosPid::AtMostOnce, false, b"0"),
        1,
    )
    .unwrap();
    assert_eq!(transmitted(&mut s), Vec::<Vec<u8>>::new());
    s.handle_bytes(
        &publish("never/subscribed", QosPid::AtLeastOnce(pid(1)), false, b"1"),
        2,
    )
    .unwrap();
    assert_eq!(transmitted(&mut s), [bytes(Packet::PubAck(pid(1)))]);
    s.handle_bytes(
        &publish("never/subscribed", QosPid::ExactlyOnce(pid(2)), false, b"2"),
        3,
    )
    .unwrap();
    assert_eq!(transmitted(&mut s), [bytes(Packet::PubRec(pid(2)))]);
    assert_eq!(events(&mut s).len(), 3);
}

/// [MQTT-4.3.2-2] After its PUBACK, a QoS 1 PUBLISH with the same packet id is a new publication, whatever its DUP.
#[test]
fn a_qos1_id_is_a_new_publication_after_its_puback() {
    let mut s = connected(Options::new("q1"));
    for (dup, payload, now) in [(false, b"first", 1), (true, b"again", 2)] {
        s.handle_bytes(
            &publish("t", QosPid::AtLeastOnce(pid(5)), dup, payload),
            now,
        )
        .unwrap();
        assert_eq!(transmitted(&mut s), [bytes(Packet::PubAck(pid(5)))]);
        let ev = events(&mut s);
        let [Event::Message(m)] = &ev[..] else {
            panic!("{ev:?}")
        };
        assert_eq!(m.payload, payload);
    }
}

/// [MQTT-4.3.2-1, MQTT-4.3.3-1] A new QoS 1 or QoS 2 message goes out with a fresh packet id, its QoS and DUP = 0,
/// and stays unacknowledged until PUBACK or PUBCOMP (PUBREC alone does not complete a QoS 2 flow).
#[test]
fn new_qos1_and_qos2_messages_go_out_with_dup_0_and_wait_for_their_acks() {
    let mut s = connected(Options::new("send"));
    let one = s
        .publish("t", b"1", QoS::AtLeastOnce, false, 1)
        .unwrap()
        .unwrap();
    let two = s
        .publish("t", b"2", QoS::ExactlyOnce, false, 1)
        .unwrap()
        .unwrap();
    assert_ne!(one, two);
    let out = transmitted(&mut s);
    assert_eq!(out.len(), 2);
    assert_eq!(out[0][0], 0x32, "PUBLISH, QoS 1, DUP 0");
    assert_eq!(out[1][0], 0x34, "PUBLISH, QoS 2, DUP 0");
    assert_eq!(s.in_flight(), 2);
    s.handle_bytes(&bytes(Packet::PubRec(two)), 2).unwrap();
    assert_eq!(transmitted(&mut s), [bytes(Packet::PubRel(two))]);
    assert_eq!(s.in_flight(), 2, "PUBREL is unacknowledged until PUBCOMP");
    s.handle_bytes(&bytes(Packet::PubAck(one)), 3).unwrap();
    s.handle_bytes(&bytes(Packet::PubComp(two)), 3).unwrap();
    assert_eq!(
        events(&mut s),
        [Event::Delivered(one), Event::Delivered(two)]
    );
    assert_eq!(s.in_flight(), 0);
}

// ---- 4.6 message ordering ----

/// [MQTT-4.6.0-1, MQTT-2.3.1-3, MQTT-4.4.0-1] Unacknowledged PUBLISH packets are re-sent with their original ids in
/// the order they were first sent, also when the ids have wrapped around (so id order is not send order).
#[test]
fn resent_publishes_keep_their_original_order_when_ids_wrap() {
    let mut s = connected(persistent("order"));
    let first = s
        .publish("t", b"first", QoS::AtLeastOnce, false, 1)
        .unwrap()
        .unwrap();
    for _ in 0..65_533 {
        let id = s
            .publish("t", b"", QoS::AtLeastOnce, false, 1)
            .unwrap()
            .unwrap();
        s.handle_bytes(&bytes(Packet::PubAck(id)), 1).unwrap();
    }
    let second = s
        .publish("t", b"second", QoS::AtLeastOnce, false, 1)
        .unwrap()
        .unwrap();
    let third = s
        .publish("t", b"third", QoS::ExactlyOnce, false, 1)
        .unwrap()
        .unwrap();
    assert_eq!(
        (first, second, third),
        (pid(1), pid(65_535), pid(2)),
        "the ids wrapped"
    );
    transmitted(&mut s);
    events(&mut s);
    reconnect(&mut s, true, 2);
    let resent: Vec<(Pid, bool, Vec<u8>)> = transmitted(&mut s)
        .iter()
        .map(|p| match packet(p) {
            Packet::Publish(p) => (p.qospid.pid().unwrap(), p.dup, p.payload.to_vec()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        resent,
        [
            (first, true, b"first".to_vec()),
            (second, true, b"second".to_vec()),
            (third, true, b"third".to_vec())
        ]
    );
}

/// [MQTT-4.6.0-2, MQTT-4.6.0-3] PUBACKs and PUBRECs go out in the order their PUBLISH packets arrived.
#[test]
fn pubacks_and_pubrecs_follow_the_order_of_arrival() {
    let mut s = connected(Options::new("acks"));
    let arrivals = [
        QosPid::AtLeastOnce(pid(9)),
        QosPid::ExactlyOnce(pid(8)),
        QosPid::AtLeastOnce(pid(3)),
        QosPid::ExactlyOnce(pid(2)),
        QosPid::AtLeastOnce(pid(7)),
        QosPid::ExactlyOnce(pid(6)),
    ];
    let stream: Vec<u8> = arrivals
        .iter()
        .flat_map(|&q| publish("t", q, false, b""))
        .collect();
    s.handle_bytes(&stream, 1).unwrap();
    let expected: Vec<Vec<u8>> = arrivals
        .iter()
        .map(|q| match *q {
            QosPid::AtLeastOnce(id) => bytes(Packet::PubAck(id)),
            QosPid::ExactlyOnce(id) => bytes(Packet::PubRec(id)),
            QosPid::AtMostOnce => unreachable!(),
        })
        .collect();
    assert_eq!(transmitted(&mut s), expected);
}

/// [MQTT-4.6.0-4] PUBRELs go out in the order their PUBRECs arrived.
#[test]
fn pubrels_follow_the_order_of_the_pubrecs() {
    let mut s = connected(Options::new("rel"));
    let ids: Vec<Pid> = (0..3)
        .map(|_| {
            s.publish("t", b"", QoS::ExactlyOnce, false, 1)
                .unwrap()
                .unwrap()
        })
        .collect();
    transmitted(&mut s);
    let order = [ids[2], ids[0], ids[1]];
    let recs: Vec<u8> = order
        .iter()
        .flat_map(|&id| bytes(Packet::PubRec(id)))
        .collect();
    s.handle_bytes(&recs, 2).unwrap();
    let expected: Vec<Vec<u8>> = order.iter().map(|&id| bytes(Packet::PubRel(id))).collect();
    assert_eq!(transmitted(&mut s), expected);
}

/// [MQTT-4.6.0-4, MQTT-4.4.0-1] PUBRELs re-sent after a reconnect also keep the order of their PUBRECs.
#[test]
fn resent_pubrels_keep_the_order_of_their_pubrecs() {
    let mut s = connected(persistent("rel-again"));
    let a = s
        .publish("t", b"a", QoS::ExactlyOnce, false, 1)
        .unwrap()
        .unwrap();
    let b = s
        .publish("t", b"b", QoS::ExactlyOnce, false, 1)
        .unwrap()
        .unwrap();
    transmitted(&mut s);
    s.handle_bytes(&bytes(Packet::PubRec(b)), 2).unwrap();
    s.handle_bytes(&bytes(Packet::PubRec(a)), 2).unwrap();
    assert_eq!(
        transmitted(&mut s),
        [bytes(Packet::PubRel(b)), bytes(Packet::PubRel(a))]
    );
    reconnect(&mut s, true, 3);
    assert_eq!(
        transmitted(&mut s),
        [bytes(Packet::PubRel(b)), bytes(Packet::PubRel(a))]
    );
}

// ---- 3.8 / 3.10 SUBSCRIBE and UNSUBSCRIBE ----

/// [MQTT-3.8.3-3, MQTT-3.10.3-2] SUBSCRIBE and UNSUBSCRIBE carry at least one topic filter: empty ones are refused.
#[test]
fn subscribe_and_unsubscribe_need_at_least_one_topic_filter() {
    let mut s = connected(Options::new("empty"));
    assert_eq!(
        s.subscribe(&[], 1),
        Err(SessionError::Encode(EncodeError::NoTopicFilters(
            "SUBSCRIBE"
        )))
    );
    assert_eq!(
        s.unsubscribe(&[], 1),
        Err(SessionError::Encode(EncodeError::NoTopicFilters(
            "UNSUBSCRIBE"
        )))
    );
    assert_eq!(s.poll_transmit(), None);
    let empty = Packet::Unsubscribe(Unsubscribe {
        pid: pid(1),
        topics: vec![].into(),
    });
    assert_eq!(
        empty.encode(&mut Vec::new()),
        Err(EncodeError::NoTopicFilters("UNSUBSCRIBE"))
    );
}

// ---- 3.14 DISCONNECT ----

/// [MQTT-3.14.4-1, MQTT-3.14.4-2] After DISCONNECT the session tells the I/O layer to close and sends nothing more:
/// no acks for late packets, no pings, no publishes.
#[test]
fn nothing_is_sent_after_disconnect() {
    let mut o = Options::new("bye");
    o.keep_alive = 1;
    let mut s = connected(o);
    s.disconnect(1);
    assert_eq!(transmitted(&mut s), [vec![0xE0, 0]]);
    assert_eq!(events(&mut s), [Event::Closed(CloseReason::Disconnected)]);
    assert_eq!(s.poll_timeout(), None);
    assert_eq!(
        s.handle_bytes(&publish("t", QosPid::AtLeastOnce(pid(1)), false, b""), 2),
        Ok(())
    );
    s.handle_timeout(60_000);
    assert_eq!(
        s.publish("t", b"", QoS::AtMostOnce, false, 60_001),
        Err(SessionError::NotConnected)
    );
    s.publish("t", b"later", QoS::AtLeastOnce, false, 60_001)
        .unwrap();
    assert_eq!(
        s.subscribe(&[("t", QoS::AtMostOnce)], 60_001),
        Err(SessionError::NotConnected)
    );
    assert_eq!(s.poll_transmit(), None);
    assert_eq!(events(&mut s), []);
}

// ---- 4.7 topic names and filters ----

/// [MQTT-4.7.3-3] Topic names and topic filters encode to at most 65,535 bytes.
#[test]
fn topics_longer_than_65535_bytes_are_refused() {
    let max = "a".repeat(65_535);
    let over = "a".repeat(65_536);
    assert!(TopicFilter::new(&max).is_some());
    assert!(TopicFilter::new(&over).is_none());
    let multibyte = "é".repeat(32_768); // 65,536 bytes in 32,768 characters
    assert!(TopicName::new(&multibyte).is_none());
    assert!(TopicFilter::new(&multibyte).is_none());
    let mut s = connected(Options::new("long"));
    assert_eq!(
        s.subscribe(&[(&over, QoS::AtMostOnce)], 1),
        Err(SessionError::InvalidTopicFilter(over.clone()))
    );
    assert_eq!(
        s.publish(&over, b"", QoS::AtMostOnce, false, 1),
        Err(SessionError::InvalidTopicName(over.clone()))
    );
    assert_eq!(s.poll_transmit(), None);
}

// ---- 4.8 protocol violations ----

/// [MQTT-4.8.0-1] A protocol violation ends the connection at once: nothing in the same chunk after it is
/// processed, nothing is sent, and later bytes are ignored.
#[test]
fn a_protocol_violation_ends_all_processing_on_that_connection() {
    let mut s = connected(Options::new("violation"));
    let mut chunk = publish("t", QosPid::AtLeastOnce(pid(1)), false, b"before");
    chunk.extend([0x36, 3, 0, 1, b't']); // QoS 3
    chunk.extend(publish("t", QosPid::AtLeastOnce(pid(2)), false, b"after"));
    assert_eq!(
        s.handle_bytes(&chunk, 1),
        Err(ProtocolError::Decode(DecodeError::InvalidQos))
    );
    let ev = events(&mut s);
    assert!(
        !ev.iter()
            .any(|e| matches!(e, Event::Message(m) if m.payload == b"after")),
        "{ev:?}"
    );
    assert!(matches!(
        ev.last(),
        Some(Event::Closed(CloseReason::Protocol(_)))
    ));
    assert_eq!(s.poll_transmit(), None);
    s.handle_bytes(
        &publish("t", QosPid::AtLeastOnce(pid(3)), false, b"late"),
        2,
    )
    .unwrap();
    assert_eq!(s.poll_transmit(), None);
    assert_eq!(events(&mut s), []);
}

// ---- 6 WebSocket ----

/// [MQTT-6.0.0-2] The session does not assume packets are aligned on frame boundaries: the same stream split at any
/// point, or byte by byte, gives the same events and the same responses.
#[test]
fn any_split_of_the_stream_gives_the_same_session_behaviour() {
    let mut stream = connack(false);
    stream.extend(publish("a", QosPid::AtLeastOnce(pid(3)), false, b"one"));
    stream.extend(publish("b/c", QosPid::ExactlyOnce(pid(4)), false, b"two"));
    stream.extend(publish("d", QosPid::AtMostOnce, false, b"three"));
    stream.extend(bytes(Packet::PubRel(pid(4))));
    stream.extend(bytes(Packet::PingResp));

    let run = |chunks: &[&[u8]]| {
        let mut s = Session::new(Options::new("split"));
        s.connect(0).unwrap();
        transmitted(&mut s);
        for chunk in chunks {
            s.handle_bytes(chunk, 1).unwrap();
        }
        let mut out = Vec::new();
        while let Some(b) = s.poll_transmit() {
            out.extend(b);
        }
        (events(&mut s), out)
    };
    let whole = run(&[&stream[..]]);
    assert_eq!(whole.0.len(), 4, "{:?}", whole.0); // Connected + 3 messages
    for at in 0..=stream.len() {
        let (a, b) = stream.split_at(at);
        assert_eq!(run(&[a, b]), whole, "split at {at}");
    }
    let bytewise: Vec<&[u8]> = stream.chunks(1).collect();
    assert_eq!(run(&bytewise), whole);
}
