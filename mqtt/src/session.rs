//! The client session: a sans-IO state machine.
//!
//! Bytes and time go in (`handle_bytes`, `handle_timeout`, `connect`, `transport_closed`); bytes to send
//! (`poll_transmit`), events (`poll_event`) and the next deadline (`poll_timeout`) come out. It never reads a
//! clock: `now` is milliseconds on any monotonic clock the caller chooses.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::ops::ControlFlow;

use thiserror::Error;

use crate::decode::{Decoded, Decoder, SkippedPublish};
use crate::error::{DecodeError, EncodeError};
use crate::packet::*;
use crate::topic::{TopicFilter, TopicName};

/// Milliseconds on the caller's monotonic clock.
pub type Millis = u64;

/// How a session connects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub client_id: String,
    pub clean_session: bool,
    /// Seconds between control packets; 0 turns keep-alive off [MQTT-3.1.2-10].
    pub keep_alive: u16,
    pub username: Option<String>,
    pub password: Option<Vec<u8>>,
    pub will: Option<Will>,
    /// The largest packet taken from the broker. A PUBLISH larger than this does not end the connection: its
    /// head (fixed header, topic, packet id) is read and checked as strictly as ever, its payload is dropped as it
    /// arrives (never buffered: at most [`crate::MAX_PUBLISH_HEAD`] bytes of it are held), then it is acknowledged
    /// by its QoS and reported as [`Event::Oversized`]. Any other packet larger than this is a protocol error,
    /// refused from its fixed header before it is buffered.
    pub max_packet_size: usize,
    /// How long to wait for CONNACK, and for PINGRESP after a PINGREQ, before declaring the broker dead.
    pub response_timeout: Millis,
    /// Send a PINGREQ after this long without sending anything; `None`: a whole keep-alive period. A client
    /// whose timers may fire late (a browser throttling a background tab) pings earlier, so that a late
    /// PINGREQ still reaches the broker within 1.5 × keep-alive [MQTT-3.1.2-24]. Never more than the
    /// keep-alive [MQTT-3.1.2-23].
    pub ping_interval: Option<Millis>,
}

impl Options {
    pub fn new(client_id: impl Into<String>) -> Self {
        Self {
            client_id: client_id.into(),
            clean_session: true,
            keep_alive: 30,
            username: None,
            password: None,
            will: None,
            max_packet_size: 1 << 20,
            response_timeout: 10_000,
            ping_interval: None,
        }
    }
}

/// The Last Will and Testament the broker publishes if this client vanishes [MQTT-3.1.2-8].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Will {
    pub topic: String,
    pub payload: Vec<u8>,
    pub qos: QoS,
    pub retain: bool,
}

/// A message the broker delivered to this client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub topic: String,
    pub payload: Vec<u8>,
    pub qos: QoS,
    pub retain: bool,
    pub dup: bool,
}

/// A PUBLISH larger than [`Options::max_packet_size`]: its fixed header, topic and packet id were read, the
/// payload was skipped as it arrived (never buffered), and a QoS 1/2 one was acknowledged as usual.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Oversized {
    pub topic: String,
    /// Bytes of the payload that was skipped.
    pub payload_len: usize,
    pub qos: QoS,
    pub retain: bool,
    pub dup: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// CONNACK accepted the connection.
    Connected {
        session_present: bool,
    },
    /// An application message arrived; a QoS 2 message is reported once only.
    Message(Message),
    /// An application message too large to take arrived and was skipped; reported once, like a message.
    Oversized(Oversized),
    /// An outgoing QoS 1 message was acknowledged (PUBACK) or a QoS 2 one completed (PUBCOMP).
    Delivered(Pid),
    /// SUBACK: per requested filter, the granted QoS or `None` for a refusal (0x80).
    Subscribed {
        pid: Pid,
        granted: Vec<Option<QoS>>,
    },
    Unsubscribed(Pid),
    /// The connection is over; the I/O layer must close the transport.
    Closed(CloseReason),
}

/// Why a connection ended, in terms a user can be told.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CloseReason {
    #[error("the broker refused the connection: {}", .0.describe())]
    Refused(ConnectReturnCode),
    #[error("protocol error: {0}")]
    Protocol(#[from] ProtocolError),
    #[error("no CONNACK from the broker in time")]
    ConnectTimeout,
    #[error("no PINGRESP from the broker in time: the connection is dead")]
    PingTimeout,
    #[error("the connection was lost")]
    TransportClosed,
    #[error("disconnected")]
    Disconnected,
}

/// A broker broke the protocol; the connection is closed [MQTT-4.8.0-1].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProtocolError {
    #[error("{0}")]
    Decode(#[from] DecodeError),
    #[error("unexpected {0} from the broker")]
    Unexpected(&'static str),
    #[error("SUBACK carries {found} return codes for {expected} topic filters")]
    SubAckCountMismatch { expected: usize, found: usize },
}

/// Why a request from the application cannot be carried out.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SessionError {
    #[error("not connected")]
    NotConnected,
    #[error("all 65,535 packet identifiers are in use")]
    NoPacketIdAvailable,
    #[error("invalid topic name {0:?}")]
    InvalidTopicName(String),
    #[error("invalid topic filter {0:?}")]
    InvalidTopicFilter(String),
    #[error(transparent)]
    Encode(#[from] EncodeError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// No transport, or the previous one closed.
    Idle,
    /// CONNECT sent at this time, waiting for CONNACK.
    Connecting(Millis),
    Connected,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// QoS 1 or 2 PUBLISH queued or sent; waiting for PUBACK or PUBREC.
    Publish { sent: bool },
    /// QoS 2: PUBREL sent, waiting for PUBCOMP.
    Release,
}

#[derive(Debug, Clone)]
struct Outgoing {
    seq: u64,
    topic: String,
    payload: Vec<u8>,
    qos: QoS,
    retain: bool,
    stage: Stage,
}

/// An MQTT 3.1.1 client session. See the module docs for the sans-IO contract.
#[derive(Debug)]
pub struct Session {
    decoder: Decoder,
    core: Core,
}

#[derive(Debug)]
struct Core {
    options: Options,
    state: State,
    out: Vec<u8>,
    events: VecDeque<Event>,
    last_sent: Millis,
    ping_sent: Option<Millis>,
    last_pid: u16,
    seq: u64,
    /// Outgoing QoS 1/2 messages until their flow completes, by packet id (a session's in-flight window).
    outgoing: BTreeMap<u16, Outgoing>,
    /// Pending SUBSCRIBE (number of filters) and UNSUBSCRIBE, by packet id.
    subscribes: BTreeMap<u16, usize>,
    unsubscribes: BTreeSet<u16>,
    /// Incoming QoS 2 packet ids between PUBLISH and PUBREL: a redelivery is not passed on twice [MQTT-4.3.3].
    incoming_qos2: BTreeSet<u16>,
}

impl Session {
    pub fn new(options: Options) -> Self {
        Self {
            decoder: Decoder::new(options.max_packet_size),
            core: Core {
                options,
                state: State::Idle,
                out: Vec::new(),
                events: VecDeque::new(),
                last_sent: 0,
                ping_sent: None,
                last_pid: 0,
                seq: 0,
                outgoing: BTreeMap::new(),
                subscribes: BTreeMap::new(),
                unsubscribes: BTreeSet::new(),
                incoming_qos2: BTreeSet::new(),
            },
        }
    }

    pub fn options(&self) -> &Options {
        &self.core.options
    }

    pub fn is_connected(&self) -> bool {
        self.core.state == State::Connected
    }

    /// A transport is open: send CONNECT, the first packet of every connection [MQTT-3.1.0-1].
    pub fn connect(&mut self, now: Millis) -> Result<(), SessionError> {
        self.decoder.clear();
        let core = &mut self.core;
        core.out.clear();
        core.ping_sent = None;
        core.subscribes.clear();
        core.unsubscribes.clear();
        if core.options.clean_session {
            core.forget_session();
        }
        let o = &core.options;
        let will = match &o.will {
            Some(w) => Some(LastWill {
                topic: TopicName::new(&w.topic)
                    .ok_or_else(|| SessionError::InvalidTopicName(w.topic.clone()))?,
                message: &w.payload,
                qos: w.qos,
                retain: w.retain,
            }),
            None => None,
        };
        let packet = Packet::Connect(Box::new(Connect {
            client_id: &o.client_id,
            clean_session: o.clean_session,
            keep_alive: o.keep_alive,
            last_will: will,
            username: o.username.as_deref(),
            password: o.password.as_deref(),
        }));
        packet.encode(&mut core.out)?;
        core.last_sent = now;
        core.state = State::Connecting(now);
        Ok(())
    }

    /// Bytes arrived from the broker, in any chunking.
    ///
    /// A protocol violation closes the session (an [`Event::Closed`] follows) and is returned.
    pub fn handle_bytes(&mut self, bytes: &[u8], now: Millis) -> Result<(), ProtocolError> {
        if self.core.state == State::Idle {
            return Ok(());
        }
        let core = &mut self.core;
        // Bytes arriving show the connection alive: a PINGRESP queued behind a large packet that is still
        // streaming in is not overdue.
        if !bytes.is_empty() {
            if let Some(sent) = core.ping_sent.as_mut() {
                *sent = now;
            }
        }
        let result: Result<(), ProtocolError> = self.decoder.feed(bytes, |decoded| {
            match decoded {
                Decoded::Packet(packet) => core.handle_packet(packet, now)?,
                Decoded::Skipped(head) => core.handle_skipped(head, now)?,
            }
            // After a DISCONNECT or a refused CONNACK the rest of the stream is not for this session.
            Ok(if core.state == State::Idle {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            })
        });
        if let Err(e) = result {
            self.decoder.clear();
            self.core.out.clear();
            self.core.close(CloseReason::Protocol(e.clone()));
            return Err(e);
        }
        Ok(())
    }

    /// Time passed: send a PINGREQ when due, or give up on a silent broker.
    pub fn handle_timeout(&mut self, now: Millis) {
        let core = &mut self.core;
        if core
            .response_deadline()
            .is_some_and(|deadline| now >= deadline)
        {
            let reason = match core.state {
                State::Connecting(_) => CloseReason::ConnectTimeout,
                _ => CloseReason::PingTimeout,
            };
            core.close(reason);
            return;
        }
        // [MQTT-3.1.2-23] Never stay silent for a whole keep-alive period, even while a PINGRESP is late.
        if core.ping_due().is_some_and(|due| now >= due) {
            core.send(&Packet::PingReq, now);
            core.ping_sent.get_or_insert(now);
        }
    }

    /// When `handle_timeout` must next be called, if ever.
    pub fn poll_timeout(&self) -> Option<Millis> {
        let core = &self.core;
        match (core.response_deadline(), core.ping_due()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The bytes to write to the transport, if any.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        if self.core.out.is_empty() {
            None
        } else {
            Some(std::mem::take(&mut self.core.out))
        }
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.core.events.pop_front()
    }

    /// The transport closed under us. Outgoing QoS 1/2 messages are kept and resent on the next `connect`.
    pub fn transport_closed(&mut self) {
        self.decoder.clear();
        self.core.out.clear();
        if self.core.state != State::Idle {
            self.core.close(CloseReason::TransportClosed);
        }
    }

    /// Sends a PINGREQ now, if connected [MQTT-3.12]: a packet for the broker to answer. (A broker whose
    /// sending waits for events, as Mosquitto 2.0.11's websocket listener does, sends a large packet faster
    /// while it hears from the client.)
    pub fn ping(&mut self, now: Millis) {
        if self.core.state == State::Connected {
            self.core.send(&Packet::PingReq, now);
            self.core.ping_sent.get_or_insert(now);
        }
    }

    /// Says goodbye: DISCONNECT, after which the broker discards the will [MQTT-3.14.4-3].
    pub fn disconnect(&mut self, now: Millis) {
        if self.core.state == State::Connected {
            self.core.send(&Packet::Disconnect, now);
        }
        if self.core.state != State::Idle {
            self.core.close(CloseReason::Disconnected);
        }
    }

    /// Publishes a message. QoS 1 and 2 messages get a packet id and are kept until acknowledged; while not
    /// connected they are queued and sent on connection. A QoS 0 message needs a connection.
    pub fn publish(
        &mut self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
        now: Millis,
    ) -> Result<Option<Pid>, SessionError> {
        let name =
            TopicName::new(topic).ok_or_else(|| SessionError::InvalidTopicName(topic.into()))?;
        let core = &mut self.core;
        if qos == QoS::AtMostOnce {
            if core.state != State::Connected {
                return Err(SessionError::NotConnected);
            }
            let packet = Packet::Publish(Publish {
                dup: false,
                qospid: QosPid::AtMostOnce,
                retain,
                topic: name,
                payload,
            });
            core.try_send(&packet, now)?;
            return Ok(None);
        }
        let pid = core.next_pid()?;
        let sent = core.state == State::Connected;
        if sent {
            let packet = Packet::Publish(Publish {
                dup: false,
                qospid: QosPid::new(qos, pid),
                retain,
                topic: name,
                payload,
            });
            core.try_send(&packet, now)?;
        }
        core.seq += 1;
        core.outgoing.insert(
            pid.get(),
            Outgoing {
                seq: core.seq,
                topic: topic.into(),
                payload: payload.into(),
                qos,
                retain,
                stage: Stage::Publish { sent },
            },
        );
        Ok(Some(pid))
    }

    /// Subscribes to topic filters; the answer comes as [`Event::Subscribed`] with the same packet id.
    pub fn subscribe(&mut self, filters: &[(&str, QoS)], now: Millis) -> Result<Pid, SessionError> {
        let topics = filters
            .iter()
            .map(|&(f, qos)| {
                TopicFilter::new(f)
                    .map(|f| (f, qos))
                    .ok_or_else(|| SessionError::InvalidTopicFilter(f.into()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let core = &mut self.core;
        if core.state != State::Connected {
            return Err(SessionError::NotConnected);
        }
        let pid = core.next_pid()?;
        let count = topics.len();
        core.try_send(
            &Packet::Subscribe(Subscribe {
                pid,
                topics: topics.into(),
            }),
            now,
        )?;
        core.subscribes.insert(pid.get(), count);
        Ok(pid)
    }

    pub fn unsubscribe(&mut self, filters: &[&str], now: Millis) -> Result<Pid, SessionError> {
        let topics = filters
            .iter()
            .map(|&f| TopicFilter::new(f).ok_or_else(|| SessionError::InvalidTopicFilter(f.into())))
            .collect::<Result<Vec<_>, _>>()?;
        let core = &mut self.core;
        if core.state != State::Connected {
            return Err(SessionError::NotConnected);
        }
        let pid = core.next_pid()?;
        core.try_send(
            &Packet::Unsubscribe(Unsubscribe {
                pid,
                topics: topics.into(),
            }),
            now,
        )?;
        core.unsubscribes.insert(pid.get());
        Ok(pid)
    }

    /// Outgoing QoS 1/2 messages not yet completed.
    pub fn in_flight(&self) -> usize {
        self.core.outgoing.len()
    }
}

impl Core {
    fn close(&mut self, reason: CloseReason) {
        self.state = State::Idle;
        self.ping_sent = None;
        self.events.push_back(Event::Closed(reason));
    }

    /// When the next PINGREQ is due: one ping interval (at most a keep-alive period) after the last packet
    /// sent.
    fn ping_due(&self) -> Option<Millis> {
        match (self.state, self.options.keep_alive) {
            (State::Idle, _) | (_, 0) => None,
            (_, secs) => {
                let keep_alive = u64::from(secs) * 1000;
                let interval = self
                    .options
                    .ping_interval
                    .map_or(keep_alive, |i| i.min(keep_alive));
                Some(self.last_sent.saturating_add(interval))
            }
        }
    }

    /// When the broker has taken too long to answer: CONNACK after CONNECT, PINGRESP after PINGREQ.
    fn response_deadline(&self) -> Option<Millis> {
        let timeout = self.options.response_timeout;
        match self.state {
            State::Idle => None,
            State::Connecting(since) => Some(since.saturating_add(timeout)),
            State::Connected => self.ping_sent.map(|sent| sent.saturating_add(timeout)),
        }
    }

    /// Sends a fixed-size packet (acks, PINGREQ, DISCONNECT), which always encodes.
    fn send(&mut self, packet: &Packet<'_>, now: Millis) {
        let _fixed_size_packets_cannot_fail = self.try_send(packet, now);
    }

    fn try_send(&mut self, packet: &Packet<'_>, now: Millis) -> Result<(), EncodeError> {
        packet.encode(&mut self.out)?;
        self.last_sent = now;
        Ok(())
    }

    /// [MQTT-2.3.1-2] A new packet id is one not in use; ids cycle through 1..=65535.
    fn next_pid(&mut self) -> Result<Pid, SessionError> {
        for _ in 0..u16::MAX {
            self.last_pid = self.last_pid.checked_add(1).unwrap_or(1);
            let id = self.last_pid;
            let in_use = self.outgoing.contains_key(&id)
                || self.subscribes.contains_key(&id)
                || self.unsubscribes.contains(&id);
            if !in_use {
                if let Some(pid) = Pid::new(id) {
                    return Ok(pid);
                }
            }
        }
        Err(SessionError::NoPacketIdAvailable)
    }

    fn handle_packet(&mut self, packet: Packet<'_>, now: Millis) -> Result<(), ProtocolError> {
        if let State::Connecting(_) = self.state {
            // [MQTT-3.2.0-1] The first packet from the server is CONNACK.
            let Packet::ConnAck(ack) = packet else {
                return Err(ProtocolError::Unexpected(packet.name()));
            };
            if ack.code != ConnectReturnCode::Accepted {
                self.close(CloseReason::Refused(ack.code));
                return Ok(());
            }
            self.state = State::Connected;
            if !ack.session_present {
                // The broker forgot any QoS 2 flow we were in the middle of receiving.
                self.incoming_qos2.clear();
            }
            self.events.push_back(Event::Connected {
                session_present: ack.session_present,
            });
            self.resend(now);
            return Ok(());
        }
        match packet {
            Packet::Publish(p) => {
                if self.acknowledge(p.qospid, now) {
                    self.events.push_back(Event::Message(Message {
                        topic: p.topic.as_str().into(),
                        payload: p.payload.into(),
                        qos: p.qospid.qos(),
                        retain: p.retain,
                        dup: p.dup,
                    }));
                }
            }
            Packet::PubAck(pid) => {
                if let Some(o) = self.outgoing.get(&pid.get()) {
                    if o.qos == QoS::AtLeastOnce {
                        self.outgoing.remove(&pid.get());
                        self.events.push_back(Event::Delivered(pid));
                    }
                }
            }
            Packet::PubRec(pid) => {
                if let Some(o) = self.outgoing.get_mut(&pid.get()) {
                    if o.qos == QoS::ExactlyOnce && o.stage != Stage::Release {
                        o.stage = Stage::Release;
                        // [MQTT-4.6.0-4] PUBRELs are resent in the order of their PUBRECs.
                        self.seq += 1;
                        o.seq = self.seq;
                    }
                }
                // [MQTT-4.3.3-1] Answer PUBREC with PUBREL, also for a duplicate.
                self.send(&Packet::PubRel(pid), now);
            }
            Packet::PubRel(pid) => {
                self.incoming_qos2.remove(&pid.get());
                self.send(&Packet::PubComp(pid), now);
            }
            Packet::PubComp(pid) => {
                let done = self
                    .outgoing
                    .get(&pid.get())
                    .is_some_and(|o| o.stage == Stage::Release);
                if done {
                    self.outgoing.remove(&pid.get());
                    self.events.push_back(Event::Delivered(pid));
                }
            }
            Packet::SubAck(ack) => {
                if let Some(expected) = self.subscribes.remove(&ack.pid.get()) {
                    // [MQTT-3.8.4-5] One return code per topic filter.
                    if expected != ack.return_codes.len() {
                        return Err(ProtocolError::SubAckCountMismatch {
                            expected,
                            found: ack.return_codes.len(),
                        });
                    }
                    self.events.push_back(Event::Subscribed {
                        pid: ack.pid,
                        granted: ack.return_codes.iter().collect(),
                    });
                }
            }
            Packet::UnsubAck(pid) => {
                if self.unsubscribes.remove(&pid.get()) {
                    self.events.push_back(Event::Unsubscribed(pid));
                }
            }
            Packet::PingResp => self.ping_sent = None,
            // A server never sends these to a client.
            Packet::Connect(_)
            | Packet::ConnAck(_)
            | Packet::Subscribe(_)
            | Packet::Unsubscribe(_)
            | Packet::PingReq
            | Packet::Disconnect => return Err(ProtocolError::Unexpected(packet.name())),
        }
        Ok(())
    }

    /// A PUBLISH too large to take, whose last byte has just been dropped: acknowledged like any PUBLISH, whether
    /// or not it is processed [MQTT-4.5.0-2], and reported once, like a message.
    fn handle_skipped(
        &mut self,
        head: SkippedPublish<'_>,
        now: Millis,
    ) -> Result<(), ProtocolError> {
        if let State::Connecting(_) = self.state {
            // [MQTT-3.2.0-1] The first packet from the server is CONNACK.
            return Err(ProtocolError::Unexpected("PUBLISH"));
        }
        if self.acknowledge(head.qospid, now) {
            self.events.push_back(Event::Oversized(Oversized {
                topic: head.topic.as_str().into(),
                payload_len: head.payload_len,
                qos: head.qospid.qos(),
                retain: head.retain,
                dup: head.dup,
            }));
        }
        Ok(())
    }

    /// [MQTT-3.3.4-1] Answers an incoming PUBLISH by its QoS: nothing, PUBACK, or PUBREC. Returns whether the
    /// message is new: a QoS 2 one seen since its PUBREC and before its PUBREL is a redelivery [MQTT-4.3.3-2].
    fn acknowledge(&mut self, qospid: QosPid, now: Millis) -> bool {
        match qospid {
            QosPid::AtMostOnce => true,
            QosPid::AtLeastOnce(pid) => {
                self.send(&Packet::PubAck(pid), now);
                true
            }
            QosPid::ExactlyOnce(pid) => {
                self.send(&Packet::PubRec(pid), now);
                self.incoming_qos2.insert(pid.get())
            }
        }
    }

    /// [MQTT-3.1.2-6] A clean session starts without the previous session's state. QoS 2 messages the broker
    /// already took (PUBREC) count as delivered; messages not yet acknowledged go out again as new ones.
    fn forget_session(&mut self) {
        self.incoming_qos2.clear();
        let mut delivered = Vec::new();
        self.outgoing.retain(|&id, o| match o.stage {
            Stage::Release => {
                delivered.extend(Pid::new(id));
                false
            }
            Stage::Publish { .. } => {
                o.stage = Stage::Publish { sent: false };
                true
            }
        });
        self.events
            .extend(delivered.into_iter().map(Event::Delivered));
    }

    /// [MQTT-4.4.0-1] After reconnecting, resend unacknowledged PUBLISH packets (DUP set if sent before) and
    /// PUBREL packets, in their original order [MQTT-4.6.0-1].
    fn resend(&mut self, now: Millis) {
        let mut pending: Vec<(u64, u16)> =
            self.outgoing.iter().map(|(&id, o)| (o.seq, id)).collect();
        pending.sort_unstable();
        for (_, id) in pending {
            let Some(pid) = Pid::new(id) else { continue };
            let Some(o) = self.outgoing.get_mut(&id) else {
                continue;
            };
            match o.stage {
                Stage::Release => {
                    Packet::PubRel(pid).encode(&mut self.out).ok();
                }
                Stage::Publish { sent } => {
                    o.stage = Stage::Publish { sent: true };
                    let Some(topic) = TopicName::new(&o.topic) else {
                        continue;
                    };
                    let packet = Packet::Publish(Publish {
                        dup: sent,
                        qospid: QosPid::new(o.qos, pid),
                        retain: o.retain,
                        topic,
                        payload: &o.payload,
                    });
                    packet.encode(&mut self.out).ok();
                }
            }
            self.last_sent = now;
        }
    }
}
