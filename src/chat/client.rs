//! The chat client: turns MQTT session events into chat events and user actions into publishes.
//!
//! Like the session below it, it does no I/O and reads no clock: the caller passes `now` (monotonic ms,
//! for protocol timers) and `wall` (Unix ms, for timestamps).

use std::collections::{HashMap, HashSet, VecDeque};

use mqtt::{Event, Millis, Options, QoS, Session, SessionError};
use thiserror::Error;

use super::message::{self, Body, Payload};
use super::names::{self, NameError};
use super::topic::{self, Route};

/// The room everybody starts in.
pub const DEFAULT_ROOM: &str = "general";
/// Longest message text, in bytes of UTF-8.
pub const MAX_TEXT_BYTES: usize = 4000;
/// Seconds between keep-alive pings.
pub const KEEP_ALIVE_SECS: u16 = 30;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    Text(String),
    /// A payload that is not UTF-8, of this many bytes.
    Unreadable(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Own message not yet acknowledged by the broker.
    Pending,
    /// Own message acknowledged (PUBACK).
    Sent,
    /// Someone else's message.
    Received,
}

/// A message as the chat shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessage {
    pub room: String,
    /// Always taken from the topic.
    pub sender: String,
    /// The payload's id; for plain-text and unreadable payloads, a local one.
    pub id: String,
    pub content: Content,
    /// Unix ms: the sender's clock for chat payloads, the arrival time otherwise.
    pub sent_at: i64,
    pub delivery: Delivery,
}

impl ChatMessage {
    pub fn is_own(&self) -> bool {
        self.delivery != Delivery::Received
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatEvent {
    Connected,
    /// A message to show; never one already reported.
    Message(ChatMessage),
    /// An own message, by id, reached the broker.
    Delivered(String),
    /// The broker refused a subscription (SUBACK 0x80).
    SubscriptionRefused(String),
    /// The connection ended; the words say why.
    Closed(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SendError {
    #[error("an empty message is not sent")]
    Empty,
    #[error("a message can be at most {MAX_TEXT_BYTES} bytes long (this one is {0})")]
    TooLong(usize),
    #[error("cannot send: {0}")]
    Session(#[from] SessionError),
}

/// One user's chat over one MQTT session.
#[derive(Debug)]
pub struct Client {
    session: Session,
    name: String,
    rooms: Vec<String>,
    seq: u64,
    /// Own messages awaiting PUBACK: packet id -> message id.
    pending: HashMap<u16, String>,
    /// (sender, id) of every message reported, so a redelivery is shown once.
    seen: HashSet<(String, String)>,
    events: VecDeque<ChatEvent>,
}

impl Client {
    /// `client_id` must be unique per tab (the broker drops an older connection with the same id).
    pub fn new(name: &str, client_id: impl Into<String>) -> Result<Self, NameError> {
        let name = names::validate(name)?.to_owned();
        let mut options = Options::new(client_id);
        options.username = Some(name.clone());
        options.keep_alive = KEEP_ALIVE_SECS;
        Ok(Self {
            session: Session::new(options),
            name,
            rooms: vec![DEFAULT_ROOM.to_owned()],
            seq: 0,
            pending: HashMap::new(),
            seen: HashSet::new(),
            events: VecDeque::new(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn is_connected(&self) -> bool {
        self.session.is_connected()
    }

    /// The transport opened: start the MQTT connection.
    pub fn transport_open(&mut self, now: Millis) {
        if let Err(e) = self.session.connect(now) {
            self.events.push_back(ChatEvent::Closed(e.to_string()));
        }
    }

    pub fn transport_closed(&mut self, wall: i64) {
        self.session.transport_closed();
        self.drain(0, wall);
    }

    /// Bytes from the broker.
    pub fn receive(&mut self, bytes: &[u8], now: Millis, wall: i64) {
        // A violation closes the session; the Closed event that follows carries the reason.
        let _ = self.session.handle_bytes(bytes, now);
        self.drain(now, wall);
    }

    pub fn tick(&mut self, now: Millis, wall: i64) {
        self.session.handle_timeout(now);
        self.drain(now, wall);
    }

    /// When `tick` must next be called.
    pub fn deadline(&self) -> Option<Millis> {
        self.session.poll_timeout()
    }

    pub fn transmit(&mut self) -> Option<Vec<u8>> {
        self.session.poll_transmit()
    }

    pub fn poll_event(&mut self) -> Option<ChatEvent> {
        self.events.pop_front()
    }

    /// Says goodbye to the broker.
    pub fn leave(&mut self, now: Millis, wall: i64) {
        self.session.disconnect(now);
        self.drain(now, wall);
    }

    /// Publishes `text` to `room`, QoS 1. The message is returned to be shown at once as pending; a
    /// [`ChatEvent::Delivered`] follows when the broker acknowledges it. Offline, it waits in the session.
    pub fn send(
        &mut self,
        room: &str,
        text: &str,
        now: Millis,
        wall: i64,
    ) -> Result<ChatMessage, SendError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(SendError::Empty);
        }
        if text.len() > MAX_TEXT_BYTES {
            return Err(SendError::TooLong(text.len()));
        }
        self.seq += 1;
        let payload = Payload {
            id: format!("{}-{}", self.session.options().client_id, self.seq),
            text: text.to_owned(),
            sent_at: wall,
        };
        let topic = topic::room_message(room, &self.name);
        let pid = self
            .session
            .publish(&topic, &payload.to_json(), QoS::AtLeastOnce, false, now)?;
        if let Some(pid) = pid {
            self.pending.insert(pid.get(), payload.id.clone());
        }
        self.seen.insert((self.name.clone(), payload.id.clone()));
        Ok(ChatMessage {
            room: room.to_owned(),
            sender: self.name.clone(),
            id: payload.id,
            content: Content::Text(payload.text),
            sent_at: wall,
            delivery: Delivery::Pending,
        })
    }

    fn drain(&mut self, now: Millis, wall: i64) {
        while let Some(event) = self.session.poll_event() {
            match event {
                Event::Connected { .. } => {
                    self.events.push_back(ChatEvent::Connected);
                    let filters: Vec<String> = self
                        .rooms
                        .iter()
                        .map(|r| topic::room_messages_filter(r))
                        .collect();
                    let list: Vec<(&str, QoS)> = filters
                        .iter()
                        .map(|f| (f.as_str(), QoS::AtLeastOnce))
                        .collect();
                    if let Err(e) = self.session.subscribe(&list, now) {
                        self.events.push_back(ChatEvent::Closed(e.to_string()));
                    }
                }
                Event::Message(m) => self.on_message(&m.topic, &m.payload, wall),
                Event::Delivered(pid) => {
                    if let Some(id) = self.pending.remove(&pid.get()) {
                        self.events.push_back(ChatEvent::Delivered(id));
                    }
                }
                Event::Subscribed { granted, .. } => {
                    for (room, g) in self.rooms.iter().zip(granted) {
                        if g.is_none() {
                            let filter = topic::room_messages_filter(room);
                            self.events
                                .push_back(ChatEvent::SubscriptionRefused(filter));
                        }
                    }
                }
                Event::Unsubscribed(_) => {}
                Event::Closed(reason) => {
                    self.events.push_back(ChatEvent::Closed(reason.to_string()))
                }
            }
        }
    }

    fn on_message(&mut self, topic: &str, payload: &[u8], wall: i64) {
        let Some(Route::RoomMessage { room, sender }) = topic::route(topic) else {
            return;
        };
        let (id, content, sent_at) = match message::parse(payload) {
            Body::Chat(p) => (p.id, Content::Text(p.text), p.sent_at),
            Body::Plain(text) => (self.local_id(), Content::Text(text), wall),
            Body::Unreadable(len) => (self.local_id(), Content::Unreadable(len), wall),
        };
        if !self.seen.insert((sender.to_owned(), id.clone())) {
            return;
        }
        let delivery = if sender == self.name {
            Delivery::Sent
        } else {
            Delivery::Received
        };
        self.events.push_back(ChatEvent::Message(ChatMessage {
            room: room.to_owned(),
            sender: sender.to_owned(),
            id,
            content,
            sent_at,
            delivery,
        }));
    }

    fn local_id(&mut self) -> String {
        self.seq += 1;
        format!("local-{}", self.seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mqtt::{
        ConnAck, ConnectReturnCode, Decoder, Packet, Pid, Publish, QosPid, SubAck, TopicName,
    };

    fn bytes(p: Packet<'_>) -> Vec<u8> {
        let mut out = Vec::new();
        p.encode(&mut out).unwrap();
        out
    }

    fn sent(c: &mut Client) -> Vec<String> {
        let mut d = Decoder::new(1 << 20);
        d.push(&c.transmit().unwrap_or_default());
        let mut v = Vec::new();
        while let Some(p) = d.next_packet().unwrap() {
            v.push(format!("{p:?}"));
        }
        v
    }

    fn events(c: &mut Client) -> Vec<ChatEvent> {
        std::iter::from_fn(|| c.poll_event()).collect()
    }

    fn publish(topic: &str, pid: u16, payload: &[u8]) -> Vec<u8> {
        bytes(Packet::Publish(Publish {
            dup: false,
            qospid: QosPid::AtLeastOnce(Pid::new(pid).unwrap()),
            retain: false,
            topic: TopicName::new(topic).unwrap(),
            payload,
        }))
    }

    fn connected(name: &str) -> Client {
        let mut c = Client::new(name, "tab-1").unwrap();
        c.transport_open(0);
        let connect = sent(&mut c);
        assert!(
            connect[0].contains(&format!("username: Some(\"{name}\")")),
            "{connect:?}"
        );
        let ack = ConnAck {
            session_present: false,
            code: ConnectReturnCode::Accepted,
        };
        c.receive(&bytes(Packet::ConnAck(ack)), 1, 1);
        assert_eq!(events(&mut c), [ChatEvent::Connected]);
        let sub = sent(&mut c);
        assert!(
            sub[0].contains("chat/rooms/general/messages/+") && sub[0].contains("AtLeastOnce"),
            "{sub:?}"
        );
        c
    }

    #[test]
    fn sending_publishes_the_documented_json_at_qos1_and_puback_marks_it_sent() {
        let mut c = connected("alice");
        let m = c
            .send("general", "  hello  ", 5, 1_700_000_000_000)
            .unwrap();
        assert_eq!(m.content, Content::Text("hello".into()));
        assert_eq!(m.delivery, Delivery::Pending);
        let out = c.transmit().unwrap();
        let (packet, _) = mqtt::decode(&out, 1 << 20).unwrap().unwrap();
        let Packet::Publish(p) = packet else { panic!() };
        assert_eq!(p.topic.as_str(), "chat/rooms/general/messages/alice");
        assert!(!p.retain);
        assert_eq!(p.qospid.qos(), QoS::AtLeastOnce);
        let body: serde_json::Value = serde_json::from_slice(p.payload).unwrap();
        assert_eq!(body["text"], "hello");
        assert_eq!(body["sent_at"], 1_700_000_000_000i64);
        assert_eq!(body["id"], m.id.as_str());
        let pid = p.qospid.pid().unwrap();
        c.receive(&bytes(Packet::PubAck(pid)), 6, 6);
        assert_eq!(events(&mut c), [ChatEvent::Delivered(m.id.clone())]);
        // The broker's echo of our own message is not shown a second time.
        c.receive(
            &publish("chat/rooms/general/messages/alice", 9, p.payload),
            7,
            7,
        );
        assert_eq!(events(&mut c), []);
    }

    #[test]
    fn empty_and_oversized_messages_are_refused() {
        let mut c = connected("alice");
        assert_eq!(c.send("general", " \n\t ", 0, 0), Err(SendError::Empty));
        let long = "x".repeat(MAX_TEXT_BYTES + 1);
        assert_eq!(
            c.send("general", &long, 0, 0),
            Err(SendError::TooLong(MAX_TEXT_BYTES + 1))
        );
        assert_eq!(c.transmit(), None);
    }

    #[test]
    fn the_sender_comes_from_the_topic_and_plain_text_is_shown() {
        let mut c = connected("alice");
        c.receive(
            &publish("chat/rooms/general/messages/zed", 1, b"hi from cli"),
            2,
            42,
        );
        let ev = events(&mut c);
        let [ChatEvent::Message(m)] = &ev[..] else {
            panic!("{ev:?}")
        };
        assert_eq!((m.sender.as_str(), m.room.as_str()), ("zed", "general"));
        assert_eq!(m.content, Content::Text("hi from cli".into()));
        assert_eq!(m.sent_at, 42);
        assert_eq!(m.delivery, Delivery::Received);
    }

    #[test]
    fn unreadable_payloads_are_shown_as_such_and_duplicates_once() {
        let mut c = connected("alice");
        c.receive(
            &publish("chat/rooms/general/messages/bob", 1, &[0xff, 0x00]),
            2,
            2,
        );
        let json = br#"{"id":"b-1","text":"yo","sent_at":3}"#;
        c.receive(&publish("chat/rooms/general/messages/bob", 2, json), 3, 3);
        c.receive(&publish("chat/rooms/general/messages/bob", 3, json), 4, 4);
        // Same id from another sender is a different message.
        c.receive(&publish("chat/rooms/general/messages/carol", 4, json), 5, 5);
        let ev = events(&mut c);
        assert_eq!(ev.len(), 3, "{ev:?}");
        let ChatEvent::Message(m) = &ev[0] else {
            panic!()
        };
        assert_eq!(m.content, Content::Unreadable(2));
    }

    #[test]
    fn a_refused_subscription_is_reported() {
        let mut c = connected("alice");
        let ack = SubAck {
            pid: Pid::new(1).unwrap(),
            return_codes: vec![None],
        };
        c.receive(&bytes(Packet::SubAck(ack)), 2, 2);
        assert_eq!(
            events(&mut c),
            [ChatEvent::SubscriptionRefused(
                "chat/rooms/general/messages/+".into()
            )]
        );
    }

    #[test]
    fn a_protocol_violation_closes_with_words() {
        let mut c = connected("alice");
        c.receive(&[0x36, 3, 0, 1, b't'], 2, 2);
        assert_eq!(
            events(&mut c),
            [ChatEvent::Closed(
                "protocol error: QoS 3 is not a valid quality of service".into()
            )]
        );
    }

    #[test]
    fn bad_names_are_refused() {
        assert_eq!(
            Client::new("a/b", "t").unwrap_err(),
            NameError::Forbidden('/')
        );
    }
}
