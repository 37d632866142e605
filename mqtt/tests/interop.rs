//! The client scenarios of the Eclipse Paho interoperability suite (client_test.py), written anew: our
//! session over a real WebSocket to a real Mosquitto started by the test.

mod support;

use std::time::Duration;

use mqtt::*;
use support::{options, Broker, Client};

const TOPICS: [&str; 5] = ["TopicA", "TopicA/B", "Topic/C", "TopicA/C", "/TopicA"];
const WILDTOPICS: [&str; 2] = ["TopicA/+", "+/C"];
const SETTLE: Duration = Duration::from_millis(500);

fn subscribe(c: &mut Client, filters: &[(&str, QoS)]) -> Vec<Option<QoS>> {
    let now = c.now();
    let pid = c.session.subscribe(filters, now).unwrap();
    c.flush();
    match c.wait(|e| matches!(e, Event::Subscribed { pid: p, .. } if *p == pid)) {
        Event::Subscribed { granted, .. } => granted,
        _ => unreachable!(),
    }
}

fn publish(c: &mut Client, topic: &str, payload: &[u8], qos: QoS, retain: bool) {
    let now = c.now();
    let pid = c.session.publish(topic, payload, qos, retain, now).unwrap();
    c.flush();
    if let Some(pid) = pid {
        c.wait(|e| *e == Event::Delivered(pid));
    }
}

fn payloads(messages: &[Message]) -> Vec<String> {
    let mut v: Vec<String> = messages
        .iter()
        .map(|m| String::from_utf8_lossy(&m.payload).into())
        .collect();
    v.sort();
    v
}

#[test]
fn basic() {
    let broker = Broker::start();
    let (c, present) = Client::connect(&broker, options("basic", true));
    assert!(!present);
    c.disconnect();
    let (mut c, present) = Client::connect(&broker, options("basic", true));
    assert!(!present, "a clean session never finds an old one");
    assert_eq!(
        subscribe(&mut c, &[(TOPICS[0], QoS::ExactlyOnce)]),
        [Some(QoS::ExactlyOnce)]
    );
    publish(&mut c, TOPICS[0], b"qos 0", QoS::AtMostOnce, false);
    publish(&mut c, TOPICS[0], b"qos 1", QoS::AtLeastOnce, false);
    publish(&mut c, TOPICS[0], b"qos 2", QoS::ExactlyOnce, false);
    let got = c.messages_for(SETTLE);
    assert_eq!(payloads(&got), ["qos 0", "qos 1", "qos 2"]);
    c.disconnect();
}

#[test]
fn retained_messages() {
    let broker = Broker::start();
    let (mut c, _) = Client::connect(&broker, options("retained", true));
    publish(&mut c, TOPICS[1], b"qos 0", QoS::AtMostOnce, true);
    publish(&mut c, TOPICS[2], b"qos 1", QoS::AtLeastOnce, true);
    publish(&mut c, TOPICS[3], b"qos 2", QoS::ExactlyOnce, true);
    c.pump(SETTLE);
    subscribe(&mut c, &[("+/+", QoS::ExactlyOnce)]);
    let got = c.messages_for(SETTLE);
    assert_eq!(payloads(&got), ["qos 0", "qos 1", "qos 2"]);
    assert!(
        got.iter().all(|m| m.retain),
        "[MQTT-3.3.1-8] sent with RETAIN on a new subscription"
    );
    // [MQTT-3.3.1-10] A zero-length retained message deletes the retained message.
    for topic in &TOPICS[1..4] {
        publish(&mut c, topic, b"", QoS::AtMostOnce, true);
    }
    c.messages_for(SETTLE);
    c.disconnect();
    let (mut c, _) = Client::connect(&broker, options("retained", true));
    subscribe(&mut c, &[("+/+", QoS::ExactlyOnce)]);
    assert_eq!(c.messages_for(SETTLE), []);
    c.disconnect();
}

#[test]
fn offline_message_queueing() {
    let broker = Broker::start();
    let (mut c, _) = Client::connect(&broker, options("offline", false));
    subscribe(&mut c, &[(WILDTOPICS[1], QoS::ExactlyOnce)]);
    c.disconnect();
    let (mut other, _) = Client::connect(&broker, options("offline-publisher", true));
    publish(&mut other, TOPICS[2], b"qos 0", QoS::AtMostOnce, false);
    publish(&mut other, TOPICS[2], b"qos 1", QoS::AtLeastOnce, false);
    publish(&mut other, TOPICS[3], b"qos 2", QoS::ExactlyOnce, false);
    other.disconnect();
    let (mut c, present) = Client::connect(&broker, options("offline", false));
    assert!(present, "[MQTT-3.2.2-2] the broker kept the session");
    let got = payloads(&c.messages_for(SETTLE));
    // Queueing QoS 0 messages is optional (Mosquitto does not by default).
    assert!(
        got == ["qos 1", "qos 2"] || got == ["qos 0", "qos 1", "qos 2"],
        "{got:?}"
    );
    c.disconnect();
    // Clean up the stored session.
    Client::connect(&broker, options("offline", true))
        .0
        .disconnect();
}

#[test]
fn will_message() {
    let broker = Broker::start();
    let (mut watcher, _) = Client::connect(&broker, options("will-watcher", true));
    subscribe(&mut watcher, &[(TOPICS[2], QoS::ExactlyOnce)]);
    let mut o = options("will", true);
    o.keep_alive = 2;
    o.will = Some(Will {
        topic: TOPICS[2].into(),
        payload: b"client not disconnected".to_vec(),
        qos: QoS::AtLeastOnce,
        retain: false,
    });
    let (c, _) = Client::connect(&broker, o);
    c.kill();
    let got = watcher.messages_for(Duration::from_secs(2));
    assert_eq!(payloads(&got), ["client not disconnected"]);
    watcher.disconnect();
}

#[test]
fn a_will_is_not_sent_after_disconnect() {
    let broker = Broker::start();
    let (mut watcher, _) = Client::connect(&broker, options("will-watcher-2", true));
    subscribe(&mut watcher, &[(TOPICS[2], QoS::ExactlyOnce)]);
    let mut o = options("will-2", true);
    o.will = Some(Will {
        topic: TOPICS[2].into(),
        payload: b"gone".to_vec(),
        qos: QoS::AtLeastOnce,
        retain: false,
    });
    let (c, _) = Client::connect(&broker, o);
    c.disconnect();
    assert_eq!(
        watcher.messages_for(SETTLE),
        [],
        "[MQTT-3.14.4-3] DISCONNECT discards the will"
    );
    watcher.disconnect();
}

#[test]
fn zero_length_client_id() {
    let broker = Broker::start();
    // Our encoder refuses to send it with clean session 0 [MQTT-3.1.3-7]...
    let mut s = Session::new(options("", false));
    assert_eq!(
        s.connect(0),
        Err(SessionError::Encode(
            EncodeError::EmptyClientIdWithoutCleanSession
        ))
    );
    // ...and the broker refuses it too [MQTT-3.1.3-8]: sent by hand, CONNACK 2 closes our session.
    let mut raw = Client::open_raw(&broker);
    raw.send_raw(vec![
        0x10, 12, 0, 4, b'M', b'Q', b'T', b'T', 4, 0, 0, 0, 0, 0,
    ]);
    raw.pump(SETTLE);
    assert_eq!(
        raw.raw,
        ["ConnAck(ConnAck { session_present: false, code: IdentifierRejected })"]
    );
    // With clean session 1 it is accepted.
    let (c, _) = Client::connect(&broker, options("", true));
    c.disconnect();
}

#[test]
fn overlapping_subscriptions() {
    let broker = Broker::start();
    let (mut c, _) = Client::connect(&broker, options("overlap", true));
    subscribe(
        &mut c,
        &[
            (WILDTOPICS[0], QoS::ExactlyOnce),
            ("TopicA/#", QoS::AtLeastOnce),
        ],
    );
    publish(&mut c, TOPICS[3], b"overlapping", QoS::ExactlyOnce, false);
    let got = c.messages_for(SETTLE);
    // One message at the higher QoS, or one per matching subscription [MQTT-3.3.5-1].
    assert!(
        (got.len() == 1 && got[0].qos == QoS::ExactlyOnce) || got.len() == 2,
        "{got:?}"
    );
    c.disconnect();
}

#[test]
fn keepalive_expiry_makes_the_broker_send_the_will() {
    let broker = Broker::start();
    let (mut watcher, _) = Client::connect(&broker, options("ka-watcher", true));
    subscribe(&mut watcher, &[(TOPICS[4], QoS::ExactlyOnce)]);
    let mut o = options("ka", true);
    o.keep_alive = 2;
    o.will = Some(Will {
        topic: TOPICS[4].into(),
        payload: b"keepalive expiry".to_vec(),
        qos: QoS::AtLeastOnce,
        retain: false,
    });
    // Connect but never pump again: no PINGREQ is sent, so the broker gives up after 1.5 x 2 s.
    let (silent, _) = Client::connect(&broker, o);
    let start = std::time::Instant::now();
    let got = watcher.wait(|e| matches!(e, Event::Message(_)));
    let Event::Message(m) = got else {
        unreachable!()
    };
    assert_eq!(m.payload, b"keepalive expiry");
    // Not before 1.5 x keep-alive [MQTT-3.1.2-24]. (Mosquitto 2.0.11 checks websocket clients coarsely:
    // the will came after about 5.3 s here.)
    assert!(
        start.elapsed() >= Duration::from_millis(2_900),
        "{:?}",
        start.elapsed()
    );
    drop(silent);
    watcher.disconnect();
}

#[test]
fn our_keepalive_keeps_an_idle_connection_open() {
    let broker = Broker::start();
    let mut o = options("ka-alive", true);
    o.keep_alive = 1;
    let (mut c, _) = Client::connect(&broker, o);
    assert!(
        c.pump(Duration::from_millis(3_500)),
        "the broker closed an idle connection that pinged"
    );
    assert!(
        c.raw.iter().filter(|p| *p == "PingResp").count() >= 2,
        "{:?}",
        c.raw
    );
    assert!(c.session.is_connected());
    c.disconnect();
}

#[test]
fn redelivery_on_reconnect() {
    let broker = Broker::start();
    let (mut c, _) = Client::connect(&broker, options("redelivery", false));
    subscribe(&mut c, &[(WILDTOPICS[0], QoS::ExactlyOnce)]);
    let (mut other, _) = Client::connect(&broker, options("redelivery-publisher", true));
    // Stop acknowledging, receive one QoS 1 and one QoS 2 message, drop the connection.
    c.mute = true;
    publish(&mut other, TOPICS[1], b"qos 1", QoS::AtLeastOnce, false);
    publish(&mut other, TOPICS[3], b"qos 2", QoS::ExactlyOnce, false);
    let first = c.messages_for(SETTLE);
    assert_eq!(payloads(&first), ["qos 1", "qos 2"]);
    let session = c.lose_connection();
    // Reconnect the same session (clean 0): the broker redelivers both with DUP [MQTT-4.4.0-1].
    let mut c = Client::resume(&broker, session);
    c.wait(|e| {
        *e == Event::Connected {
            session_present: true,
        }
    });
    let again = c.messages_for(SETTLE);
    let redelivered: Vec<&String> = c
        .raw
        .iter()
        .filter(|p| p.contains("Publish") && p.contains("dup: true"))
        .collect();
    assert_eq!(redelivered.len(), 2, "{:?}", c.raw);
    // QoS 1 is passed on again (at least once); QoS 2 was passed on already and is not (exactly once).
    assert_eq!(payloads(&again), ["qos 1"]);
    assert!(again[0].dup);
    c.disconnect();
    other.disconnect();
    Client::connect(&broker, options("redelivery", true))
        .0
        .disconnect();
}

#[test]
fn subscribe_failure() {
    let broker = Broker::start();
    let (mut c, _) = Client::connect(&broker, options("subfail", true));
    let granted = subscribe(
        &mut c,
        &[
            ("test/nosubscribe", QoS::ExactlyOnce),
            (TOPICS[0], QoS::AtLeastOnce),
        ],
    );
    assert_eq!(
        granted,
        [None, Some(QoS::AtLeastOnce)],
        "0x80 for the forbidden filter"
    );
    c.disconnect();
}

#[test]
fn dollar_topics() {
    let broker = Broker::start();
    let (mut c, _) = Client::connect(&broker, options("dollar", true));
    subscribe(
        &mut c,
        &[
            ("#", QoS::AtMostOnce),
            ("+/broker/version", QoS::AtMostOnce),
        ],
    );
    assert_eq!(
        c.messages_for(SETTLE),
        [],
        "[MQTT-4.7.2-1] wildcards at the first level skip $-topics"
    );
    subscribe(&mut c, &[("$SYS/broker/version", QoS::AtMostOnce)]);
    let got = c.messages_for(SETTLE);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(String::from_utf8_lossy(&got[0].payload).starts_with("mosquitto version"));
    // Our own matcher agrees.
    let topic = TopicName::new(&got[0].topic).unwrap();
    assert!(!TopicFilter::new("#").unwrap().matches(topic));
    c.disconnect();
}

#[test]
fn unsubscribe() {
    let broker = Broker::start();
    let (mut c, _) = Client::connect(&broker, options("unsubscribe", true));
    subscribe(
        &mut c,
        &[
            (TOPICS[1], QoS::ExactlyOnce),
            (TOPICS[2], QoS::ExactlyOnce),
            (TOPICS[3], QoS::ExactlyOnce),
        ],
    );
    let now = c.now();
    let pid = c.session.unsubscribe(&[TOPICS[1]], now).unwrap();
    c.flush();
    c.wait(|e| *e == Event::Unsubscribed(pid));
    for topic in &TOPICS[1..4] {
        publish(&mut c, topic, topic.as_bytes(), QoS::AtLeastOnce, false);
    }
    let got = c.messages_for(SETTLE);
    assert_eq!(payloads(&got), ["Topic/C", "TopicA/C"]);
    c.disconnect();
}
