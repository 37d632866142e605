//! The service over one MQTT session: what it subscribes to, what it keeps, how it answers. Bytes and time
//! in, bytes out, like the session it drives; [`crate::net`] moves them.
//!
//! Messages are kept before they are acknowledged: the PUBACKs the session queues while a batch of bytes is
//! read go out only once that batch is in the database. If the database fails, the connection is dropped with
//! them unsent, and the broker (clean session 0) delivers those messages again on the next connection.

use std::fmt;

use mqtt::{CloseReason, Event, Millis, Options, ProtocolError, QoS, Session, SessionError, Will};
use mqtt_chat::chat::message::{self, Body, Change, Payload};
use mqtt_chat::chat::topic;

use crate::limit::Limiter;
use crate::net::Conversation;
use crate::protocol::{self, Refusal, Route};
use crate::store::{self, New, Op, Store};

/// The service's MQTT user name and client id: the ACL's `user mqtt-chat-history` section.
pub const NAME: &str = "mqtt-chat-history";
/// Answers sent and not yet acknowledged by the broker, at most. A request that arrives while this many wait
/// is dropped (and logged): answers are up to 1.25 MB each, and a broker that does not acknowledge them must
/// not make the service hold them all.
pub const MAX_IN_FLIGHT: usize = 100;

/// Why the connection must end (the session is closed already, or [`Service::transport_closed`] must be
/// called).
#[derive(Debug)]
pub enum Trouble {
    Protocol(ProtocolError),
    Session(SessionError),
    Storage(store::Error),
}

impl fmt::Display for Trouble {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Protocol(e) => write!(f, "the broker broke the protocol: {e}"),
            Self::Session(e) => write!(f, "{e}"),
            Self::Storage(e) => write!(f, "the database failed: {e}"),
        }
    }
}

/// What was read about a room's messages, waiting to be kept: a message or history entry, or a change by the
/// topic's sender to one of their own (the parser lets no other through). Kept in the order read.
enum Pending {
    Keep {
        room: String,
        sender: String,
        message: Payload,
    },
    Edit {
        room: String,
        sender: String,
        id: String,
        text: String,
        at: i64,
    },
    Delete {
        room: String,
        sender: String,
        id: String,
        at: i64,
    },
}

impl Pending {
    fn op(&self) -> Op<'_> {
        match self {
            Self::Keep {
                room,
                sender,
                message,
            } => Op::Keep(New {
                room,
                sender,
                id: &message.id,
                text: &message.text,
                sent_at: message.sent_at,
                edited: message.edited,
                reply: message.reply.as_ref(),
            }),
            Self::Edit {
                room,
                sender,
                id,
                text,
                at,
            } => Op::Edit {
                room,
                sender,
                id,
                text,
                at: *at,
            },
            Self::Delete {
                room,
                sender,
                id,
                at,
            } => Op::Delete {
                room,
                sender,
                id,
                at: *at,
            },
        }
    }
}

pub struct Service {
    session: Session,
    store: Store,
    limiter: Limiter,
    /// The packet id of the SUBSCRIBE after the histories' one: once its SUBACK is in, every retained history
    /// has arrived, and the histories are unsubscribed.
    barrier: Option<u16>,
    pending: Vec<Pending>,
    closed: Option<CloseReason>,
    /// Counters for the log.
    pub kept: usize,
    pub edited: usize,
    pub deleted: usize,
    pub answered: usize,
}

impl Service {
    pub fn new(password: Option<Vec<u8>>, store: Store) -> Service {
        let mut options = Options::new(NAME);
        // The broker keeps the subscriptions and queues what arrives while the service is away.
        options.clean_session = false;
        options.keep_alive = mqtt_chat::chat::client::KEEP_ALIVE_SECS;
        options.username = Some(NAME.to_owned());
        options.password = password;
        options.max_packet_size = mqtt_chat::chat::client::MAX_PACKET_BYTES;
        // Tabs offer "Load older messages" while this marker is there; the will clears it when the service
        // goes away without a word (a crash, a lost connection), the broker's retained copy otherwise.
        options.will = Some(Will {
            topic: topic::HISTORY_SERVICE.to_owned(),
            payload: Vec::new(),
            qos: QoS::AtLeastOnce,
            retain: true,
        });
        Service {
            session: Session::new(options),
            store,
            limiter: Limiter::default(),
            barrier: None,
            pending: Vec::new(),
            closed: None,
            kept: 0,
            edited: 0,
            deleted: 0,
            answered: 0,
        }
    }

    fn handle_events(&mut self, now: Millis) -> Result<(), Trouble> {
        while let Some(event) = self.session.poll_event() {
            match event {
                Event::Connected { session_present } => self.on_connected(session_present, now)?,
                Event::Message(m) => self.on_message(&m.topic, &m.payload, now)?,
                Event::Oversized(o) => log(&format!(
                    "skipped a message of {} bytes on {} (over the size limit)",
                    o.payload_len, o.topic
                )),
                Event::Subscribed { pid, granted } => {
                    self.on_subscribed(pid.get(), &granted, now)?
                }
                Event::Delivered(_) | Event::Unsubscribed(_) => {}
                Event::Closed(reason) => self.closed = Some(reason),
            }
        }
        self.flush()
    }

    /// Histories first, at QoS 0 (retained messages at QoS 0 are not held back by the broker's in-flight
    /// window, so they all arrive before the next SUBACK); then the live messages and the requests.
    fn on_connected(&mut self, session_present: bool, now: Millis) -> Result<(), Trouble> {
        log(if session_present {
            "connected (the broker kept this service's session)"
        } else {
            "connected (a new session)"
        });
        let s = &mut self.session;
        s.publish(
            topic::HISTORY_SERVICE,
            br#"{"version":1}"#,
            QoS::AtLeastOnce,
            true,
            now,
        )
        .map_err(Trouble::Session)?;
        s.subscribe(&[(protocol::HISTORIES_FILTER, QoS::AtMostOnce)], now)
            .map_err(Trouble::Session)?;
        let live = [
            (protocol::MESSAGES_FILTER, QoS::AtLeastOnce),
            (protocol::REQUESTS_FILTER, QoS::AtLeastOnce),
        ];
        let pid = s.subscribe(&live, now).map_err(Trouble::Session)?;
        self.barrier = Some(pid.get());
        Ok(())
    }

    fn on_subscribed(
        &mut self,
        pid: u16,
        granted: &[Option<QoS>],
        now: Millis,
    ) -> Result<(), Trouble> {
        if granted.iter().any(Option::is_none) {
            log("the broker refused a subscription: is the ACL's `user mqtt-chat-history` section there?");
        }
        if self.barrier == Some(pid) {
            self.barrier = None;
            self.session
                .unsubscribe(&[protocol::HISTORIES_FILTER], now)
                .map_err(Trouble::Session)?;
            self.flush()?;
            log(&format!(
                "histories read; {} messages kept, {} edited, {} deleted",
                self.kept, self.edited, self.deleted
            ));
        }
        Ok(())
    }

    fn on_message(&mut self, topic: &str, payload: &[u8], now: Millis) -> Result<(), Trouble> {
        match protocol::route(topic) {
            Some(Route::Message { room, sender }) => {
                let (room, sender) = (room.to_owned(), sender.to_owned());
                match message::parse(payload, &sender) {
                    Body::Chat(message) => self.pending.push(Pending::Keep {
                        room,
                        sender,
                        message,
                    }),
                    Body::Change(Change::Edit { id, text }, at) => {
                        self.pending.push(Pending::Edit {
                            room,
                            sender,
                            id,
                            text,
                            at,
                        });
                    }
                    Body::Change(Change::Delete { id }, at) => {
                        self.pending.push(Pending::Delete {
                            room,
                            sender,
                            id,
                            at,
                        });
                    }
                    // Reactions are not kept (docs/history-service.md); plain text and unreadable bytes are not
                    // chat messages; other kinds are a newer client's.
                    Body::Change(Change::React { .. }, _)
                    | Body::Ignored
                    | Body::Plain(_)
                    | Body::Unreadable(_) => {}
                }
            }
            Some(Route::History { room, sender }) => {
                // A deleted message stands in its sender's history in its place: it deletes (the time of the
                // deletion is not in it; the time of the last word on it is the best there is).
                for message in message::parse_history(payload).unwrap_or_default().messages {
                    let (room, sender) = (room.to_owned(), sender.to_owned());
                    self.pending.push(if message.deleted {
                        Pending::Delete {
                            room,
                            sender,
                            at: message.edited.unwrap_or(message.sent_at),
                            id: message.id,
                        }
                    } else {
                        Pending::Keep {
                            room,
                            sender,
                            message,
                        }
                    });
                }
            }
            Some(Route::Request { room, user }) => {
                // What arrived before the request is in the database before it is answered.
                self.flush()?;
                self.on_request(room, user, payload, now)?;
            }
            None => {}
        }
        Ok(())
    }

    fn on_request(
        &mut self,
        room: &str,
        user: &str,
        payload: &[u8],
        now: Millis,
    ) -> Result<(), Trouble> {
        if self.session.in_flight() >= MAX_IN_FLIGHT {
            log(&format!(
                "busy: a request from {user} dropped ({MAX_IN_FLIGHT} answers unacknowledged)"
            ));
            return Ok(());
        }
        let allowed = self.limiter.allow(user, now);
        let answer = match protocol::parse_request(payload) {
            Err(Refusal::Silent) => return Ok(()),
            Err(Refusal::Error { req, error }) => protocol::error(&req, &error),
            Ok(request) if !allowed => protocol::error(&request.req, "too many requests"),
            Ok(request) => match self.store.page(room, request.before, request.limit) {
                Ok(page) => protocol::answer(&request.req, room, &page.newest_first, page.older),
                Err(e) => {
                    log(&format!("the database failed to answer {user}: {e}"));
                    protocol::error(&request.req, "the history is not available")
                }
            },
        };
        let topic = protocol::answer_topic(user, room);
        self.session
            .publish(&topic, &answer, QoS::AtLeastOnce, false, now)
            .map_err(Trouble::Session)?;
        self.answered += 1;
        Ok(())
    }

    /// Keeps what was read.
    fn flush(&mut self) -> Result<(), Trouble> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let batch: Vec<Op<'_>> = self.pending.iter().map(Pending::op).collect();
        let applied = self.store.apply(&batch).map_err(Trouble::Storage)?;
        self.kept += applied.added;
        self.edited += applied.edited;
        self.deleted += applied.deleted;
        self.pending.clear();
        Ok(())
    }
}

impl Conversation for Service {
    type Trouble = Trouble;

    fn connect(&mut self, now: Millis) -> Result<(), Trouble> {
        self.closed = None;
        self.barrier = None;
        self.session.connect(now).map_err(Trouble::Session)
    }

    fn is_connected(&self) -> bool {
        self.session.is_connected()
    }

    /// On `Err` the connection must be closed without sending what is queued.
    fn handle_bytes(&mut self, bytes: &[u8], now: Millis) -> Result<(), Trouble> {
        let read = self.session.handle_bytes(bytes, now);
        let handled = self.handle_events(now);
        read.map_err(Trouble::Protocol)?;
        handled
    }

    fn handle_timeout(&mut self, now: Millis) -> Result<(), Trouble> {
        self.session.handle_timeout(now);
        self.limiter.forget_idle(now);
        self.handle_events(now)
    }

    fn poll_timeout(&self) -> Option<Millis> {
        self.session.poll_timeout()
    }

    fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.session.poll_transmit()
    }

    fn take_closed(&mut self) -> Option<CloseReason> {
        self.closed.take()
    }

    fn transport_closed(&mut self) {
        self.session.transport_closed();
        self.pending.clear();
        while let Some(event) = self.session.poll_event() {
            if let Event::Closed(reason) = event {
                self.closed = Some(reason);
            }
        }
    }
}

pub fn log(line: &str) {
    eprintln!("{NAME}: {line}");
}
