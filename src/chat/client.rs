//! The chat client: turns MQTT session events into chat events and user actions into publishes.
//!
//! Like the session below it, it does no I/O and reads no clock: the caller passes `now` (monotonic ms,
//! for protocol timers) and `wall` (Unix ms, for timestamps).

use std::collections::{HashSet, VecDeque};

use mqtt::{Event, Millis, Options, QoS, Session, SessionError, Will};
use thiserror::Error;

use super::conversation::{Conversation, Entry};
use serde::{Deserialize, Serialize};

use super::message::{self, Body, Change, Payload, Presence, Quote, Reacted, Typing, MAX_ROOMS};
use super::names::{self, NameError};
use super::sorted::SortedMap;
use super::topic::{self, Route};

/// The room everybody starts in.
pub const DEFAULT_ROOM: &str = "general";
/// Longest message text, in bytes of UTF-8. Longer ones are refused when sent, truncated when received.
pub const MAX_TEXT_BYTES: usize = 4000;
/// How many of a sender's own messages their retained history keeps per room.
pub const HISTORY_LEN: usize = 50;
/// The largest payload this app sends or takes: a full history, worst case. Each of its [`HISTORY_LEN`]
/// entries is `{"id":"…","text":"…","sent_at":N}`: 30 bytes of punctuation, an id of at most
/// [`message::MAX_ID_BYTES`] and a text of at most [`MAX_TEXT_BYTES`], every byte JSON-escaped as `\u00XX`
/// (6 bytes), and 20 digits: 30 + 64 × 6 + 4,000 × 6 + 20 = 24,434 bytes; 50 of them, 49 commas and the
/// brackets: 1,221,751 bytes. Rounded up. The brokers' `message_size_limit` is the same number.
pub const MAX_PAYLOAD_BYTES: usize = 1_250_000;
/// The largest packet taken whole: [`MAX_PAYLOAD_BYTES`], the fixed header (5), the topic (2 + 65,535) and a
/// packet id (2). A larger PUBLISH is skipped as it arrives and shown as a notice; never buffered.
pub const MAX_PACKET_BYTES: usize = MAX_PAYLOAD_BYTES + 5 + 2 + 65_535 + 2;
/// A message dated further ahead of this reader's clock (ms) is shown at the time it arrived, so that nobody
/// can pin a message below the newest ones.
pub const MAX_CLOCK_AHEAD_MS: i64 = 5 * 60_000;
/// The keep-alive: the broker drops a silent client after 1.5 × this (and publishes its will).
///
/// Chrome runs a hidden tab's timers late: at most once a minute after five minutes hidden. So the session
/// pings after [`PING_INTERVAL_MS`] of silence, half the keep-alive: a ping due at 60 s that fires at the next
/// minute boundary still reaches the broker within 120 s, well inside its 180 s limit.
pub const KEEP_ALIVE_SECS: u16 = 120;
/// See [`KEEP_ALIVE_SECS`].
pub const PING_INTERVAL_MS: u64 = 60_000;
/// While retained messages stream in on joining, a PINGREQ goes out this often (ms). Mosquitto 2.0.11's
/// websocket listener sends a packet larger than a few kilobytes one piece per turn of its event loop, and
/// turns it about every 100 ms when idle: a 1.2 MB history took 30 s to arrive (eclipse/mosquitto#2252).
/// Each packet from the client turns the loop: with a PINGREQ every 4 ms the same history takes about 1 s
/// (measured with a websocket client against that Mosquitto: 30.2 s without, 0.3 s at 1 ms, 0.6 s at 2 ms,
/// 3.0 s at 10 ms). For at most [`NUDGE_FOR_MS`] after a join.
pub const NUDGE_MS: u64 = 4;
/// See [`NUDGE_MS`].
pub const NUDGE_FOR_MS: u64 = 60_000;
/// The days a join reads retained histories from, in steps: today; then the 6 days before; then the 23
/// before those; then the rest of the year (days back from today, inclusive). A step is read only while
/// fewer than [`HISTORY_LEN`] messages of the days read so far have arrived, so a join costs one retained
/// message per person who posted in the days read — in a busy room, today's posters — not one per person who
/// ever posted there.
pub const HISTORY_STEPS: [(i64, i64); 4] = [(0, 0), (1, 6), (7, 29), (30, 364)];
/// A day in ms.
const DAY_MS: i64 = 86_400_000;
/// A step of reading histories that brings this many, or this many bytes, may have lost some: the shipped
/// broker queues at most 5,000 messages and 32 MiB for one reader (`max_queued_messages`, `max_queued_bytes`)
/// and drops the rest without a word, the newest last written among them. Measured: 4,999 of 5,000 histories
/// written on one day arrived, the newest poster's missing. The tab says so ([`ChatEvent::HistoryIncomplete`]).
pub const SUSPECT_HISTORIES: usize = 4_000;
/// See [`SUSPECT_HISTORIES`].
pub const SUSPECT_BYTES: usize = 24 << 20;
/// A step of reading histories that has not ended after this long (ms) is given up, and the tab says the room's
/// history may be incomplete. Measured: with the shipped broker dropping part of 5,000 histories, the step's
/// UNSUBACK never came; 4,500 histories took 10 s.
pub const HISTORY_STEP_TIMEOUT_MS: u64 = 30_000;

/// A typing notice is repeated at most this often while the user types (ms).
pub const TYPING_REPEAT_MS: u64 = 2_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    Text(String),
    /// A payload that is not UTF-8, of this many bytes.
    Unreadable(usize),
    /// A payload over [`MAX_PACKET_BYTES`], skipped unread: what it was and its size in bytes.
    TooLarge(Kind, usize),
}

/// What a topic carries, in words for notices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Message,
    DirectMessage,
    History,
    Presence,
    Typing,
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Message => "message",
            Self::DirectMessage => "direct message",
            Self::History => "history",
            Self::Presence => "presence message",
            Self::Typing => "typing notice",
        })
    }
}

/// "a history from eve too large to show, 3.1 MB": the notice for a payload skipped unread.
pub fn too_large(kind: Kind, sender: &str, bytes: usize) -> String {
    format!(
        "a {kind} from {} too large to show, {}",
        names::display(sender),
        size_words(bytes)
    )
}

/// A size for people: "3.1 MB", "120 KB", "900 bytes" (decimal units, rounded; integers only, so that no
/// float formatting lands in the page).
pub fn size_words(bytes: usize) -> String {
    if bytes >= 999_500 {
        let tenths = (bytes + 50_000) / 100_000;
        format!("{}.{} MB", tenths / 10, tenths % 10)
    } else if bytes >= 1_000 {
        format!("{} KB", (bytes + 500) / 1_000)
    } else {
        format!("{bytes} bytes")
    }
}

/// Where a message stands, as the view shows it: not kept on the message but worked out by the core
/// (`App::delivery`) from who sent it and whether it waits in the outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Own message not yet acknowledged by the broker.
    Pending,
    /// Own message acknowledged (PUBACK), or own message seen coming back.
    Sent,
    /// Someone else's message.
    Received,
}

/// A message as the chat shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessage {
    pub conversation: Conversation,
    /// Always taken from the topic.
    pub sender: String,
    /// The payload's id; for plain-text and unreadable payloads, a local one.
    pub id: String,
    pub content: Content,
    /// Cut to [`MAX_TEXT_BYTES`]: the sender's text was longer.
    pub truncated: bool,
    /// Unix ms: the sender's clock for chat payloads, the arrival time otherwise.
    pub sent_at: i64,
    /// Arrived as it was sent (not from history).
    pub live: bool,
    /// When its author last changed its text (Unix ms).
    pub edited: Option<i64>,
    /// The message it answers.
    pub reply: Option<Quote>,
    /// Everyone's reactions to it, the withdrawn ones too (the newest word of each person on each emoji wins);
    /// [`ChatMessage::reactions`] counts them.
    pub reacted: Vec<Reaction>,
}

/// One person's word on one emoji for a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reaction {
    pub user: String,
    pub emoji: String,
    pub on: bool,
    pub at: i64,
}

/// The reactions to a message as they show: an emoji and who reacted with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reactions {
    pub emoji: String,
    /// Never empty; in the order they reacted.
    pub users: Vec<String>,
}

/// The most reactions (people × emoji, withdrawn ones included) one message keeps: further ones are ignored.
pub const MAX_REACTIONS: usize = 600;

impl ChatMessage {
    /// Its reactions, one entry per emoji, in the order each emoji was first used.
    pub fn reactions(&self) -> Vec<Reactions> {
        let mut shown: Vec<Reactions> = Vec::new();
        let mut on: Vec<&Reaction> = self.reacted.iter().filter(|r| r.on).collect();
        // Oldest first (a short list: insertion by time, no sort routine).
        let mut ordered: Vec<&Reaction> = Vec::with_capacity(on.len());
        for r in on.drain(..) {
            let at = ordered.partition_point(|o| o.at <= r.at);
            ordered.insert(at, r);
        }
        for r in ordered {
            match shown.iter_mut().find(|s| s.emoji == r.emoji) {
                Some(s) => s.users.push(r.user.clone()),
                None => shown.push(Reactions {
                    emoji: r.emoji.clone(),
                    users: vec![r.user.clone()],
                }),
            }
        }
        shown
    }

    /// Whether others can name this message (to answer it, react to it): a chat payload's id, not one given
    /// here to a plain-text or unreadable payload.
    pub fn addressable(&self) -> bool {
        matches!(self.content, Content::Text(_)) && !is_local_id(&self.id)
    }

    /// Whether `user` reacted with `emoji`.
    pub fn reacted_by(&self, user: &str, emoji: &str) -> bool {
        self.reacted
            .iter()
            .any(|r| r.on && r.user == user && r.emoji == emoji)
    }

    /// Takes `user`'s word on `emoji` given at `at`, if newer than what the message holds; whether it changed.
    pub fn react(&mut self, user: &str, emoji: &str, on: bool, at: i64) -> bool {
        let room = self.reacted.len() < MAX_REACTIONS;
        match self
            .reacted
            .iter_mut()
            .find(|r| r.user == user && r.emoji == emoji)
        {
            Some(r) if r.at < at || (r.at == at && r.on != on && !on) => {
                r.on = on;
                r.at = at;
                true
            }
            Some(_) => false,
            None if room => {
                self.reacted.push(Reaction {
                    user: user.to_owned(),
                    emoji: emoji.to_owned(),
                    on,
                    at,
                });
                true
            }
            None => false,
        }
    }

    /// A message as its payload says, before the checks of [`Client`] (clock, length, control characters).
    fn from_payload(conversation: Conversation, sender: &str, p: Payload, live: bool) -> Self {
        Self {
            conversation,
            sender: sender.to_owned(),
            id: p.id,
            content: Content::Text(p.text),
            truncated: false,
            sent_at: p.sent_at,
            live,
            edited: p.edited,
            reply: p.reply,
            reacted: Vec::new(),
        }
    }
}

impl Entry for ChatMessage {
    fn sent_at(&self) -> i64 {
        self.sent_at
    }

    fn key(&self) -> (&str, &str) {
        (&self.sender, &self.id)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatEvent {
    /// Connected and subscribed; this tab is now online.
    Connected,
    /// A message to show. The same `(sender, id)` may come again (a redelivery, a history): the timeline
    /// keeps each once (an edited copy replaces an older one).
    Message(ChatMessage),
    /// `sender` changed a message in `conversation` at `at` (their clock): an edit or deletion of their own, a
    /// reaction to anyone's.
    Change {
        conversation: Conversation,
        sender: String,
        change: Change,
        at: i64,
        live: bool,
    },
    /// The broker acknowledged the QoS 1 PUBLISH with this packet id.
    Delivered(u16),
    /// A tab of `user` came online or changed rooms (`Some`), or went away (`None`).
    Presence {
        user: String,
        client_id: String,
        presence: Option<Presence>,
    },
    /// `user` is typing in `room`, or stopped.
    Typing {
        room: String,
        user: String,
        typing: bool,
    },
    /// The broker refused a subscription (SUBACK 0x80).
    SubscriptionRefused(String),
    /// A presence or typing notice too large to read was skipped; size in bytes.
    TooLarge {
        kind: Kind,
        sender: String,
        bytes: usize,
    },
    /// Something the chat had to publish could not be (see [`Failure`]).
    Failed(Failure),
    /// The optional history service runs (its retained marker is there), or stopped.
    HistoryService(bool),
    /// So many histories of `room` arrived at once that the broker may have left some out
    /// ([`SUSPECT_HISTORIES`]).
    HistoryIncomplete {
        room: String,
        histories: usize,
        bytes: usize,
    },
    /// The history service answered request `req` about `room` (its messages came before this, as
    /// [`ChatEvent::Message`]s): whether it holds older ones still, or its words when it could not answer.
    Earlier {
        room: String,
        req: String,
        answer: Result<bool, String>,
    },
    /// The connection ended.
    Closed(Ended),
}

/// Why a connection ended.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Ended {
    #[error(transparent)]
    Session(#[from] mqtt::CloseReason),
    /// Open mode: another browser is online under this name.
    #[error("the name {0} is in use in another browser")]
    NameInUse(String),
    /// The transport never opened.
    #[error("cannot reach the broker at {0}")]
    Unreachable(String),
    #[error("cannot connect: {0}")]
    Connect(SessionError),
    #[error("cannot subscribe: {0}")]
    Subscribe(SessionError),
}

impl Ended {
    /// Whether connecting again may help: not after a refusal, a name in use, or saying goodbye.
    pub fn retry(&self) -> bool {
        !matches!(
            self,
            Self::Session(mqtt::CloseReason::Refused(_) | mqtt::CloseReason::Disconnected)
                | Self::NameInUse(_)
                | Self::Connect(_)
                | Self::Subscribe(_)
        )
    }
}

/// What the chat publishes on its own, for [`Failure`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Duty {
    Presence,
    History,
    Typing,
    Unsubscribe,
}

/// The session refused something the chat does on its own (not a message the user sent: that is a
/// [`SendError`]).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("could not {}: {error}", match .duty {
    Duty::Presence => "tell the others you are here",
    Duty::History => "save your messages in the room's history",
    Duty::Typing => "tell the room you are typing",
    Duty::Unsubscribe => "unsubscribe",
})]
pub struct Failure {
    pub duty: Duty,
    pub error: SessionError,
}

/// Why a room cannot be joined.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum JoinError {
    #[error(transparent)]
    Name(#[from] NameError),
    #[error("a tab can be in at most {MAX_ROOMS} rooms at once")]
    TooManyRooms,
    #[error("cannot subscribe: {0}")]
    Subscribe(SessionError),
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SendError {
    #[error("an empty message is not sent")]
    Empty,
    #[error("a message can be at most {MAX_TEXT_BYTES} bytes long (this one is {0})")]
    TooLong(usize),
    #[error("cannot send a direct message to yourself")]
    ToSelf,
    /// The message to answer or change is not here (any more), or is not this user's to change.
    #[error("that message is not here any more")]
    Gone,
    #[error("cannot send: {0}")]
    Session(#[from] SessionError),
}

/// An own message published, to be shown at once, and the packet id of its PUBLISH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub message: ChatMessage,
    pub pid: Option<u16>,
}

/// The text a message typed as `typed` carries: trimmed, control characters made visible; refused when empty
/// or longer than [`MAX_TEXT_BYTES`]. The composer asks it as the user types.
pub fn outgoing_text(typed: &str) -> Result<String, SendError> {
    let text = message::clean_text(typed.trim().to_owned());
    if text.is_empty() {
        return Err(SendError::Empty);
    }
    if text.len() > MAX_TEXT_BYTES {
        return Err(SendError::TooLong(text.len()));
    }
    Ok(text)
}

/// Who a client is and where it starts.
#[derive(Debug, Clone)]
pub struct Identity {
    pub name: String,
    /// Unique per tab; kept across reloads of the tab.
    pub client_id: String,
    /// Shared by the tabs of one browser.
    pub browser_id: String,
    /// Accounts mode: the broker checks it. Without one (open mode) a name another browser is using is refused.
    pub password: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Offline,
    /// Connected; waiting for the SUBACK after which every retained presence has arrived.
    Syncing,
    Online,
}

/// How far a room's retained histories have been read on this connection (see [`HISTORY_STEPS`]).
#[derive(Debug, Clone, Default)]
struct Reading {
    step: usize,
    /// Unix ms of the start of the oldest day read so far.
    since: i64,
    /// Messages read dated `since` or later.
    count: usize,
    /// The senders whose history was counted (a history may arrive through two filters).
    counted: HashSet<String>,
    /// Whether a retained history of this user arrived: none at all, while this tab holds messages, is a
    /// history the broker lost (a crash, a deleted persistence file), published again from here.
    own_seen: bool,
    /// Histories, and their bytes, that arrived in this step.
    step_histories: usize,
    step_bytes: usize,
    /// When this step began (monotonic ms).
    started: Millis,
}

/// One user's chat over one MQTT session: the chat's topics and payloads. It keeps what the protocol needs
/// (the session, the subscriptions in flight, this user's retained histories) and nothing the core keeps
/// already: the rooms are the core's (passed in where needed), each message is kept once by the timelines,
/// and unacknowledged messages by the outbox.
#[derive(Debug)]
pub struct Client {
    session: Session,
    id: Identity,
    phase: Phase,
    /// The SUBSCRIBE whose SUBACK ends [`Phase::Syncing`].
    sync_pid: Option<u16>,
    /// The filters of each SUBSCRIBE awaiting its SUBACK, to name a refused one.
    subscribing: SortedMap<u16, Vec<String>>,
    /// Rooms whose step of reading histories ends when the SUBACK or UNSUBACK with this packet id arrives:
    /// the retained histories (sent at QoS 0, so never held back by the in-flight window) of the SUBSCRIBE
    /// before it have all arrived by then.
    history_reads: SortedMap<u16, Vec<String>>,
    /// The rooms whose histories are being read on this connection, and how far.
    reading: SortedMap<String, Reading>,
    /// The days (topics) where this user's retained history of a room is known to be: normally one; `None`
    /// is the one-level topic of earlier versions. Cleared when the history moves to a newer day.
    history_days: SortedMap<String, Vec<Option<String>>>,
    /// Rooms whose retained history of this user was read on this connection. Only those are republished
    /// at once: a message sent before (offline, or resent from the outbox after a reload) must not replace
    /// older history that was not read yet.
    history_read: HashSet<String>,
    /// Rooms whose history changed before it was read: published, merged, once read.
    history_unsaved: HashSet<String>,
    /// Unix ms when this tab last came online.
    since: i64,
    seq: u64,
    /// Unix ms of this client's first own message, in its messages' ids: the client id is kept across
    /// reloads (and restarts of the terminal client) and the counter starts again, so without it a message
    /// after a reload would take the id of one before, and every reader that saw that one would drop it.
    epoch: Option<i64>,
    /// Own recent messages per room: what this user's retained history on the broker holds (or will, once
    /// published). Not the timeline: it is the broker's copy, read and merged on joining.
    history: SortedMap<String, Vec<Payload>>,
    /// Own recent reactions per room, withdrawn ones too: the rest of this user's retained history there.
    reactions: SortedMap<String, Vec<Reacted>>,
    /// Retained presence seen for this name from other browsers, while syncing.
    name_taken: bool,
    typing_sent: SortedMap<String, Millis>,
    events: VecDeque<ChatEvent>,
}

impl Client {
    pub fn new(id: Identity) -> Result<Self, NameError> {
        let name = names::validate(&id.name)?.to_owned();
        let mut options = Options::new(id.client_id.clone());
        options.username = Some(name.clone());
        options.password = id.password.clone().map(String::into_bytes);
        options.keep_alive = KEEP_ALIVE_SECS;
        options.max_packet_size = MAX_PACKET_BYTES;
        options.ping_interval = Some(PING_INTERVAL_MS);
        // A persistent session: the broker queues what arrives while this tab is away (its client id is
        // kept across reloads), and our session resends what the broker did not acknowledge.
        options.clean_session = false;
        // [MQTT-3.1.2-8] If this tab vanishes, the broker clears its presence (an empty retained message).
        options.will = Some(Will {
            topic: topic::presence(&name, &id.client_id),
            payload: Vec::new(),
            qos: QoS::AtLeastOnce,
            retain: true,
        });
        Ok(Self {
            session: Session::new(options),
            id: Identity { name, ..id },
            phase: Phase::Offline,
            sync_pid: None,
            subscribing: SortedMap::default(),
            history_reads: SortedMap::default(),
            reading: SortedMap::default(),
            history_days: SortedMap::default(),
            history_read: HashSet::new(),
            history_unsaved: HashSet::new(),
            since: 0,
            seq: 0,
            epoch: None,
            history: SortedMap::default(),
            reactions: SortedMap::default(),
            name_taken: false,
            typing_sent: SortedMap::default(),
            events: VecDeque::new(),
        })
    }

    pub fn name(&self) -> &str {
        &self.id.name
    }

    /// Accounts mode: the password the broker checks.
    pub fn password(&self) -> Option<&str> {
        self.id.password.as_deref()
    }

    pub fn is_online(&self) -> bool {
        self.phase == Phase::Online
    }

    /// The transport opened: start the MQTT connection.
    pub fn transport_open(&mut self, now: Millis) {
        if let Err(e) = self.session.connect(now) {
            self.events.push_back(ChatEvent::Closed(Ended::Connect(e)));
        }
    }

    pub fn transport_closed(&mut self, rooms: &[String], wall: i64) {
        self.session.transport_closed();
        self.drain(rooms, 0, wall);
    }

    /// Bytes from the broker. `rooms`: the rooms this tab is in (the core keeps them), for the subscriptions
    /// and presence of a connection that comes up.
    pub fn receive(&mut self, bytes: &[u8], rooms: &[String], now: Millis, wall: i64) {
        if let Err(e) = self.session.handle_bytes(bytes, now) {
            // The session closed the connection: its Closed event, drained next, carries this error.
            debug_assert!(!self.session.is_connected(), "{e}");
        }
        self.drain(rooms, now, wall);
    }

    pub fn tick(&mut self, rooms: &[String], now: Millis, wall: i64) {
        self.session.handle_timeout(now);
        self.drain(rooms, now, wall);
        self.give_up_reads(now);
    }

    /// Whether retained messages are streaming in that this client waits for: the presences and histories
    /// read on joining (until their SUBACKs).
    pub fn waiting(&self) -> bool {
        self.session.is_connected()
            && (self.phase == Phase::Syncing || !self.history_reads.is_empty())
    }

    /// Sends a PINGREQ, so that a broker that sends while it hears from clients keeps sending (see
    /// [`NUDGE_MS`]).
    pub fn nudge(&mut self, now: Millis) {
        self.session.ping(now);
        self.give_up_reads(now);
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

    /// Says goodbye: clears this tab's presence, then DISCONNECT (so the broker drops the will).
    pub fn leave(&mut self, now: Millis, wall: i64) {
        if self.phase == Phase::Online {
            let presence = topic::presence(&self.id.name, &self.id.client_id);
            let cleared = self
                .session
                .publish(&presence, b"", QoS::AtMostOnce, true, now);
            self.check(Duty::Presence, cleared);
        }
        self.session.disconnect(now);
        self.drain(&[], now, wall);
    }

    /// Joins `room` (creating it, if nobody was there), this tab being in `rooms`: subscribes and updates this
    /// tab's presence. The caller adds the room to its list when this succeeds.
    pub fn join_room(
        &mut self,
        room: &str,
        rooms: &[String],
        now: Millis,
        wall: i64,
    ) -> Result<(), JoinError> {
        let room = names::validate(room)?;
        if rooms.iter().any(|r| r == room) {
            return Ok(());
        }
        if rooms.len() >= MAX_ROOMS {
            return Err(JoinError::TooManyRooms);
        }
        if self.session.is_connected() {
            let room = room.to_owned();
            let mut after = rooms.to_vec();
            after.push(room.clone());
            self.subscribe_rooms(std::slice::from_ref(&room), Vec::new(), false, now)
                .map_err(JoinError::Subscribe)?;
            self.read_histories(std::slice::from_ref(&room), now, wall);
            self.publish_presence(&after, now);
        }
        Ok(())
    }

    /// Leaves `room`; `rooms`: the rooms this tab stays in.
    pub fn leave_room(&mut self, room: &str, rooms: &[String], now: Millis) {
        if self.session.is_connected() {
            let [messages, typing] = topic::room_filters(room);
            let gone = self.session.unsubscribe(&[&messages, &typing], now);
            self.check(Duty::Unsubscribe, gone);
            // A history still being read stops at the end of its step.
            self.reading.remove(room);
            self.publish_presence(rooms, now);
        }
    }

    /// Asks the optional history service for the newest `limit` messages of `room` sent at or before `before`
    /// (Unix ms); [`ChatEvent::Earlier`] with the returned request id follows if it answers. Nothing answers
    /// where no service runs: the caller gives up after a while.
    pub fn ask_earlier(
        &mut self,
        room: &str,
        before: i64,
        limit: usize,
        now: Millis,
    ) -> Result<String, SessionError> {
        self.seq += 1;
        let req = format!("{}-e{}", self.id.client_id, self.seq);
        let json = message::to_json(&message::EarlierRequest {
            req: &req,
            before,
            limit,
        });
        let topic = topic::earlier_request(room, &self.id.name);
        self.session
            .publish(&topic, &json, QoS::AtLeastOnce, false, now)?;
        Ok(req)
    }

    /// Adds own messages of `room` that this device kept to what this user's history is known to hold: when
    /// the broker's history is read, whatever it lacks of them is published again (a broker that lost its last
    /// seconds, or its whole persistence file).
    pub fn seed_history(&mut self, room: &str, kept: &[Payload]) {
        merge(self.history.get_or_default(room.to_owned()), kept);
    }

    /// Reports what the session refused of something the chat does on its own.
    fn check<T>(&mut self, duty: Duty, result: Result<T, SessionError>) {
        if let Err(error) = result {
            self.events
                .push_back(ChatEvent::Failed(Failure { duty, error }));
        }
    }

    /// Tells the room this user is typing, at most every [`TYPING_REPEAT_MS`].
    pub fn typing(&mut self, room: &str, now: Millis) {
        if !self.session.is_connected() {
            return;
        }
        let last = self.typing_sent.get(room).copied();
        if last.is_some_and(|t| now < t + TYPING_REPEAT_MS) {
            return;
        }
        let payload = message::to_json(&Typing { typing: true });
        let sent = self.session.publish(
            &topic::typing(room, &self.id.name),
            &payload,
            QoS::AtMostOnce,
            false,
            now,
        );
        if sent.is_ok() {
            self.typing_sent.insert(room.to_owned(), now);
        }
        self.check(Duty::Typing, sent);
    }

    /// Publishes `text` to a room or as a direct message, QoS 1. The message is returned to be shown at once,
    /// with the packet id of its PUBLISH: [`ChatEvent::Delivered`] with it follows when the broker acknowledges
    /// it. Offline, it waits in the session and goes out on the next connection.
    pub fn send(
        &mut self,
        to: &Conversation,
        text: &str,
        reply: Option<Quote>,
        now: Millis,
        wall: i64,
    ) -> Result<Published, SendError> {
        let text = outgoing_text(text)?;
        self.seq += 1;
        let epoch = *self.epoch.get_or_insert(wall);
        let payload = Payload {
            id: format!("{}-{epoch:x}-{}", self.id.client_id, self.seq),
            text,
            sent_at: wall,
            reply,
            ..Payload::default()
        };
        self.resend(to, payload, now)
    }

    /// Publishes a change to a message (QoS 1, like messages): an edit or deletion of an own message, or a
    /// reaction. This user's history of the room takes it too (an edited text, a deletion in place of the
    /// message, the reaction), so that whoever joins later sees the message as it is now.
    pub fn change(
        &mut self,
        to: &Conversation,
        change: &Change,
        now: Millis,
        wall: i64,
    ) -> Result<(), SendError> {
        let topic = match to {
            Conversation::Room(room) => topic::room_message(room, &self.id.name),
            Conversation::Direct(user) if *user == self.id.name => return Err(SendError::ToSelf),
            Conversation::Direct(user) => topic::direct(user, &self.id.name),
        };
        let payload = message::event_json(&self.id.name, change, wall);
        self.session
            .publish(&topic, &payload, QoS::AtLeastOnce, false, now)?;
        if let Conversation::Room(room) = to {
            self.remember_change(room, change, wall, now);
        }
        Ok(())
    }

    /// Applies an own change to this user's history of `room`, and publishes it if that changed it.
    fn remember_change(&mut self, room: &str, change: &Change, at: i64, now: Millis) {
        if self.take_own_change(room, change, at) {
            self.save_history(room, now);
        }
    }

    /// Takes an own change into this user's history of `room` (an edited text, a deletion in place of the
    /// message, a reaction); whether that changed it. Not published: see [`Client::remember_change`].
    fn take_own_change(&mut self, room: &str, change: &Change, at: i64) -> bool {
        match change {
            Change::Edit { id, text } => {
                let list = self.history.get_or_default(room.to_owned());
                let Some(old) = list.iter().find(|p| p.id == *id && !p.deleted) else {
                    return false;
                };
                let edited = Payload {
                    text: text.clone(),
                    edited: Some(at),
                    ..old.clone()
                };
                merge(list, &[edited])
            }
            Change::Delete { id } => {
                let list = self.history.get_or_default(room.to_owned());
                let Some(old) = list.iter().find(|p| p.id == *id) else {
                    return false;
                };
                let gone = Payload {
                    id: old.id.clone(),
                    sent_at: old.sent_at,
                    deleted: true,
                    ..Payload::default()
                };
                merge(list, &[gone])
            }
            Change::React { to, emoji, on } => merge_reactions(
                self.reactions.get_or_default(room.to_owned()),
                &[Reacted {
                    to: to.clone(),
                    emoji: emoji.clone(),
                    on: *on,
                    sent_at: at,
                }],
            ),
        }
    }

    /// Publishes a message again, with its id and time: one from the outbox of an earlier page, or one the
    /// user retries. Receivers show each `(sender, id)` once, so a copy that did arrive is not shown twice.
    pub fn resend(
        &mut self,
        to: &Conversation,
        payload: Payload,
        now: Millis,
    ) -> Result<Published, SendError> {
        let topic = match to {
            Conversation::Room(room) => topic::room_message(room, &self.id.name),
            Conversation::Direct(user) if *user == self.id.name => return Err(SendError::ToSelf),
            Conversation::Direct(user) => topic::direct(user, &self.id.name),
        };
        let pid = self.session.publish(
            &topic,
            &message::to_json(&payload),
            QoS::AtLeastOnce,
            false,
            now,
        )?;
        if let Conversation::Room(room) = to {
            self.typing_sent.remove(room);
            self.remember(room, std::slice::from_ref(&payload), now);
        }
        let message = ChatMessage::from_payload(to.clone(), &self.id.name, payload, true);
        Ok(Published {
            message,
            pid: pid.map(mqtt::Pid::get),
        })
    }

    /// Adds own messages to this user's history of `room` and, if that changed it, publishes the history
    /// (retained: the broker keeps one per sender and room) — once the retained one has been read on this
    /// connection, so that it is merged, never replaced unread. Returns whether it changed.
    fn remember(&mut self, room: &str, new: &[Payload], now: Millis) -> bool {
        let list = self.history.get_or_default(room.to_owned());
        if !merge(list, new) {
            return false;
        }
        self.save_history(room, now);
        true
    }

    /// Publishes this user's history of `room` if its retained copy was read on this connection; otherwise
    /// later, merged with it.
    fn save_history(&mut self, room: &str, now: Millis) {
        if self.history_read.contains(room) {
            self.publish_history(room, now);
        } else {
            self.history_unsaved.insert(room.to_owned());
        }
    }

    /// Publishes this user's history of `room` (retained) under the day of its newest message, and clears the
    /// topics where it was before (an older day, the one-level topic of an earlier version).
    fn publish_history(&mut self, room: &str, now: Millis) {
        let messages = self.history.get(room).map_or(&[][..], Vec::as_slice);
        let reactions = self.reactions.get(room).map_or(&[][..], Vec::as_slice);
        let newest = messages
            .last()
            .map(|p| p.sent_at)
            .into_iter()
            .chain(reactions.iter().map(|r| r.sent_at))
            .max();
        let Some(newest) = newest else {
            return;
        };
        let day = topic::day(newest);
        let json = message::history_json(messages, reactions);
        let me = self.id.name.clone();
        let saved = self.session.publish(
            &topic::history(room, &day, &me),
            &json,
            QoS::AtLeastOnce,
            true,
            now,
        );
        self.check(Duty::History, saved);
        let before = self
            .history_days
            .insert(room.to_owned(), vec![Some(day.clone())])
            .unwrap_or_default();
        for old in before {
            let topic = match old.as_deref() {
                Some(d) if d == day => continue,
                Some(d) => topic::history(room, d, &me),
                None => topic::legacy_history(room, &me),
            };
            let cleared = self
                .session
                .publish(&topic, b"", QoS::AtLeastOnce, true, now);
            self.check(Duty::History, cleared);
        }
    }

    fn publish_presence(&mut self, rooms: &[String], now: Millis) {
        let presence = Presence {
            browser: self.id.browser_id.clone(),
            rooms: rooms.to_vec(),
            since: self.since,
        };
        let topic = topic::presence(&self.id.name, &self.id.client_id);
        let told = self.session.publish(
            &topic,
            &message::to_json(&presence),
            QoS::AtLeastOnce,
            true,
            now,
        );
        self.check(Duty::Presence, told);
    }

    fn drain(&mut self, rooms: &[String], now: Millis, wall: i64) {
        while let Some(event) = self.session.poll_event() {
            match event {
                Event::Connected { .. } => {
                    self.since = wall;
                    self.on_connected(rooms, now);
                }
                Event::Message(m) => self.on_message(&m.topic, &m.payload, m.retain, now, wall),
                Event::Delivered(pid) => self.events.push_back(ChatEvent::Delivered(pid.get())),
                Event::Subscribed { pid, granted } => {
                    self.on_subscribed(pid.get(), &granted, rooms, now, wall);
                }
                Event::Unsubscribed(pid) => self.on_history_step(pid.get(), rooms, now, wall),
                Event::Oversized(o) => self.on_oversized(&o.topic, o.payload_len, wall),
                Event::Closed(reason) => {
                    self.phase = Phase::Offline;
                    self.events.push_back(ChatEvent::Closed(reason.into()));
                }
            }
        }
    }

    /// Subscribes in two steps: presence first (QoS 0, so its retained messages are not held back by the
    /// in-flight window), then rooms and direct messages. When the second SUBACK arrives, every retained
    /// presence has arrived before it, and the name check can be made.
    fn on_connected(&mut self, rooms: &[String], now: Millis) {
        self.phase = Phase::Syncing;
        self.name_taken = false;
        self.subscribing.clear();
        self.history_reads.clear();
        self.reading.clear();
        // Other tabs of this user may have written while this one was away: read again before writing.
        self.history_read.clear();
        let extra = vec![
            (topic::direct_filter(&self.id.name), QoS::AtLeastOnce),
            (topic::earlier_answers(&self.id.name), QoS::AtLeastOnce),
        ];
        match self.subscribe_rooms(rooms, extra, true, now) {
            Ok(pid) => self.sync_pid = Some(pid),
            Err(e) => self
                .events
                .push_back(ChatEvent::Closed(Ended::Subscribe(e))),
        }
    }

    /// The rooms' live traffic and `extra`, after (if `presence`) everybody's presence and the history
    /// service's marker at QoS 0 (retained messages at QoS 0 are not held back by the broker's in-flight
    /// window): when the second SUBACK arrives, every retained presence has arrived before it, and the name
    /// check can be made. Returns the last SUBSCRIBE's packet id. The histories are read apart, afterwards
    /// ([`Client::read_histories`]): a room whose histories the broker cannot all send must not keep a tab
    /// from coming online.
    fn subscribe_rooms(
        &mut self,
        rooms: &[String],
        extra: Vec<(String, QoS)>,
        presence: bool,
        now: Millis,
    ) -> Result<u16, SessionError> {
        let mut first = Vec::new();
        if presence {
            first.push((topic::presence_filter(), QoS::AtMostOnce));
            first.push((topic::HISTORY_SERVICE.to_owned(), QoS::AtMostOnce));
        }
        let mut second = Vec::new();
        for room in rooms {
            let [messages, typing] = topic::room_filters(room);
            second.push((messages, QoS::AtLeastOnce));
            second.push((typing, QoS::AtMostOnce));
        }
        second.extend(extra);
        let mut last = 0;
        for filters in [first, second] {
            if filters.is_empty() {
                continue;
            }
            let list: Vec<(&str, QoS)> = filters.iter().map(|(f, q)| (f.as_str(), *q)).collect();
            last = self.session.subscribe(&list, now)?.get();
            self.subscribing
                .insert(last, filters.into_iter().map(|(f, _)| f).collect());
        }
        Ok(last)
    }

    /// Reads the rooms' retained histories: today's, and this user's own wherever they are (to merge), with a
    /// SUBSCRIBE at QoS 0 and at once an UNSUBSCRIBE of the same filters, whose UNSUBACK ends the step (the
    /// broker sends a subscription's retained messages before it handles the next packet); older days follow
    /// while too few messages arrived ([`HISTORY_STEPS`]).
    fn read_histories(&mut self, rooms: &[String], now: Millis, wall: i64) {
        let today = topic::day(wall);
        let mut filters = Vec::new();
        for room in rooms {
            filters.push(topic::history_day_filter(room, &today));
            filters.push(topic::own_history_filter(room, &self.id.name));
            filters.push(topic::legacy_history(room, &self.id.name));
            let since = wall.div_euclid(DAY_MS) * DAY_MS;
            self.reading.insert(
                room.clone(),
                Reading {
                    since,
                    started: now,
                    ..Reading::default()
                },
            );
        }
        if let Err(e) = self.step(&filters, rooms.to_vec(), now) {
            for room in rooms {
                self.reading.remove(room);
            }
            self.check(Duty::Unsubscribe, Err::<(), _>(e));
        }
    }

    /// A step of reading histories: SUBSCRIBE `filters`, UNSUBSCRIBE them, and wait for the UNSUBACK.
    fn step(
        &mut self,
        filters: &[String],
        rooms: Vec<String>,
        now: Millis,
    ) -> Result<(), SessionError> {
        let subscribe: Vec<(&str, QoS)> = filters
            .iter()
            .map(|f| (f.as_str(), QoS::AtMostOnce))
            .collect();
        let pid = self.session.subscribe(&subscribe, now)?.get();
        self.subscribing.insert(pid, filters.to_vec());
        let list: Vec<&str> = filters.iter().map(String::as_str).collect();
        let barrier = self.session.unsubscribe(&list, now)?.get();
        self.history_reads.insert(barrier, rooms);
        Ok(())
    }

    /// Gives up on steps of reading histories that did not end within [`HISTORY_STEP_TIMEOUT_MS`] (a broker
    /// that dropped part of what it had to send), and says so.
    fn give_up_reads(&mut self, now: Millis) {
        let late: Vec<String> = self
            .reading
            .iter()
            .filter(|(_, r)| r.started.saturating_add(HISTORY_STEP_TIMEOUT_MS) <= now)
            .map(|(room, _)| room.clone())
            .collect();
        for room in late {
            if let Some(r) = self.reading.remove(&room) {
                self.events.push_back(ChatEvent::HistoryIncomplete {
                    room: room.clone(),
                    histories: r.step_histories,
                    bytes: r.step_bytes,
                });
            }
            for rooms in self.history_reads.values_mut() {
                rooms.retain(|r| *r != room);
            }
        }
        let done: Vec<u16> = self
            .history_reads
            .iter()
            .filter(|(_, rooms)| rooms.is_empty())
            .map(|(pid, _)| *pid)
            .collect();
        for pid in done {
            self.history_reads.remove(&pid);
        }
    }

    fn on_subscribed(
        &mut self,
        pid: u16,
        granted: &[Option<QoS>],
        rooms: &[String],
        now: Millis,
        wall: i64,
    ) {
        let filters = self.subscribing.remove(&pid).unwrap_or_default();
        for (filter, g) in filters.iter().zip(granted) {
            if g.is_none() {
                self.events
                    .push_back(ChatEvent::SubscriptionRefused(filter.clone()));
            }
        }
        self.on_history_step(pid, rooms, now, wall);
        if self.sync_pid != Some(pid) {
            return;
        }
        self.sync_pid = None;
        if self.name_taken {
            self.session.disconnect(now);
            // The session reports Closed(Disconnected); say why instead.
            while self.session.poll_event().is_some() {}
            self.phase = Phase::Offline;
            let name = self.id.name.clone();
            self.events
                .push_back(ChatEvent::Closed(Ended::NameInUse(name)));
            return;
        }
        self.phase = Phase::Online;
        self.publish_presence(rooms, now);
        self.read_histories(rooms, now, wall);
        self.events.push_back(ChatEvent::Connected);
    }

    /// A step of reading histories ended (the SUBACK or UNSUBACK `pid`): this user's history is merged and
    /// published if the broker's lacks what this tab holds, and older days are read while too few messages
    /// arrived. `joined`: the rooms this tab is in now.
    fn on_history_step(&mut self, pid: u16, joined: &[String], now: Millis, wall: i64) {
        let Some(rooms) = self.history_reads.remove(&pid) else {
            return;
        };
        for room in rooms {
            let Some(reading) = self.reading.get_mut(&room) else {
                continue;
            };
            if reading.step == 0 && !reading.own_seen {
                // The broker holds no history of ours here: if this tab holds some, it was lost.
                if self.history.get(&room).is_some_and(|h| !h.is_empty()) {
                    self.history_unsaved.insert(room.clone());
                }
            }
            let (histories, bytes) = (reading.step_histories, reading.step_bytes);
            if histories >= SUSPECT_HISTORIES || bytes >= SUSPECT_BYTES {
                self.events.push_back(ChatEvent::HistoryIncomplete {
                    room: room.clone(),
                    histories,
                    bytes,
                });
            }
            let next = reading.step + 1;
            let more = reading.count < HISTORY_LEN && next < HISTORY_STEPS.len();
            if self.history_unsaved.remove(&room) {
                self.publish_history(&room, now);
            }
            self.history_read.insert(room.clone());
            if !more || !joined.contains(&room) {
                self.reading.remove(&room);
                continue;
            }
            if let Err(e) = self.read_older(&room, next, now, wall) {
                self.reading.remove(&room);
                self.check(Duty::Unsubscribe, Err::<(), _>(e));
            }
        }
    }

    /// Reads the histories of the days of step `step` of [`HISTORY_STEPS`] in `room`: a SUBSCRIBE, then at once
    /// an UNSUBSCRIBE of the same filters, whose UNSUBACK ends the step.
    fn read_older(
        &mut self,
        room: &str,
        step: usize,
        now: Millis,
        wall: i64,
    ) -> Result<(), SessionError> {
        let (from, to) = HISTORY_STEPS[step];
        let today = wall.div_euclid(DAY_MS);
        let filters: Vec<String> = (from..=to)
            .map(|back| topic::history_day_filter(room, &topic::day((today - back) * DAY_MS)))
            .collect();
        self.step(&filters, vec![room.to_owned()], now)?;
        if let Some(r) = self.reading.get_mut(room) {
            r.step = step;
            r.since = (today - to) * DAY_MS;
            r.step_histories = 0;
            r.step_bytes = 0;
            r.started = now;
        }
        Ok(())
    }

    fn on_message(&mut self, topic: &str, payload: &[u8], retained: bool, now: Millis, wall: i64) {
        let Some(route) = topic::route(topic) else {
            return;
        };
        match route {
            Route::RoomMessage { room, sender } => {
                let to = Conversation::Room(room.to_owned());
                let body = message::parse(payload, sender);
                // Own messages and changes from other tabs of this user join this tab's idea of the user's
                // history.
                if sender == self.id.name {
                    match &body {
                        Body::Chat(p) => {
                            merge(
                                self.history.get_or_default(room.to_owned()),
                                std::slice::from_ref(p),
                            );
                        }
                        Body::Change(change, at) => {
                            // Made in another tab, which published it: this tab's copy only.
                            self.take_own_change(room, change, *at);
                        }
                        _ => {}
                    }
                }
                self.on_chat_message(to, sender, body, true, wall);
            }
            Route::Direct { recipient, sender } if recipient == self.id.name => {
                let to = Conversation::Direct(sender.to_owned());
                let body = message::parse(payload, sender);
                self.on_chat_message(to, sender, body, true, wall);
            }
            Route::Direct { .. } => {}
            Route::Earlier { user, room } if user == self.id.name => {
                self.on_earlier(room, payload, wall);
            }
            Route::Earlier { .. } => {}
            Route::HistoryService => {
                // Only the service may write its marker (ACL): a version we know, or gone.
                let runs = message::service_runs(payload);
                self.events.push_back(ChatEvent::HistoryService(runs));
            }
            Route::History { room, day, sender } => {
                self.on_history(room, day, sender, payload, now, wall);
            }
            Route::Typing { room, sender } => {
                if sender != self.id.name {
                    let typing = serde_json::from_slice::<Typing>(payload).is_ok_and(|t| t.typing);
                    self.events.push_back(ChatEvent::Typing {
                        room: room.to_owned(),
                        user: sender.to_owned(),
                        typing,
                    });
                }
            }
            Route::Presence { user, client_id } => {
                let presence = if payload.is_empty() {
                    None
                } else {
                    message::parse_presence(payload)
                };
                let ours = client_id == self.id.client_id;
                if ours && presence.is_none() && retained {
                    // Our own stale presence from before a reload: nothing to report.
                    return;
                }
                if self.phase == Phase::Syncing
                    && self.id.password.is_none()
                    && user == self.id.name
                    && !ours
                    && presence
                        .as_ref()
                        .is_some_and(|p| p.browser != self.id.browser_id)
                {
                    self.name_taken = true;
                }
                self.events.push_back(ChatEvent::Presence {
                    user: user.to_owned(),
                    client_id: client_id.to_owned(),
                    presence,
                });
            }
        }
    }

    fn on_history(
        &mut self,
        room: &str,
        day: Option<&str>,
        sender: &str,
        payload: &[u8],
        now: Millis,
        wall: i64,
    ) {
        let to = Conversation::Room(room.to_owned());
        let own = sender == self.id.name;
        if payload.is_empty() {
            // A history cleared (ours, when it moved to a newer day): nothing is there any more.
            if own {
                if let Some(days) = self.history_days.get_mut(room) {
                    days.retain(|d| d.as_deref() != day);
                }
            }
            return;
        }
        if own {
            let days = self.history_days.get_or_default(room.to_owned());
            if !days.iter().any(|d| d.as_deref() == day) {
                days.push(day.map(str::to_owned));
            }
            if let Some(r) = self.reading.get_mut(room) {
                r.own_seen = true;
            }
        }
        let Some(history) = message::parse_history(payload) else {
            self.seq += 1;
            let id = format!("{LOCAL_ID}history-{}", self.seq);
            self.report(
                to,
                sender,
                id,
                Content::Unreadable(payload.len()),
                wall,
                false,
            );
            return;
        };
        // A history is at most HISTORY_LEN messages and as many reactions; a longer one (not written by this
        // app) is cut to its newest.
        let message::History {
            messages: mut list,
            reactions: mut reacted,
        } = history;
        keep_newest(&mut list);
        let mut newest_reactions = Vec::new();
        merge_reactions(&mut newest_reactions, &std::mem::take(&mut reacted));
        let reacted = newest_reactions;
        if let Some(r) = self.reading.get_mut(room) {
            r.step_histories += 1;
            r.step_bytes += payload.len();
            if r.counted.insert(sender.to_owned()) {
                r.count += list
                    .iter()
                    .filter(|p| p.sent_at >= r.since && !p.deleted)
                    .count();
            }
        }
        for p in &list {
            if p.deleted {
                self.events.push_back(ChatEvent::Change {
                    conversation: to.clone(),
                    sender: sender.to_owned(),
                    change: Change::Delete { id: p.id.clone() },
                    at: p.sent_at,
                    live: false,
                });
            } else {
                self.on_payload(to.clone(), sender, p.clone(), false, wall);
            }
        }
        for r in &reacted {
            self.events.push_back(ChatEvent::Change {
                conversation: to.clone(),
                sender: sender.to_owned(),
                change: Change::React {
                    to: r.to.clone(),
                    emoji: r.emoji.clone(),
                    on: r.on,
                },
                at: believable(r.sent_at, wall),
                live: false,
            });
        }
        if own {
            // Another tab of ours (or an earlier visit) wrote it: merge, and publish if we know more (a message
            // it lacks, a later edit or deletion, a reaction), or to keep one history where the broker has
            // several (a newer day's and an older one, or the one-level topic of an earlier version).
            let known = std::mem::replace(self.history.get_or_default(room.to_owned()), list);
            let known_reactions =
                std::mem::replace(self.reactions.get_or_default(room.to_owned()), reacted);
            let more_reactions = merge_reactions(
                self.reactions.get_or_default(room.to_owned()),
                &known_reactions,
            );
            let scattered = self
                .history_days
                .get(room)
                .is_some_and(|d| d.len() > 1 || d.contains(&None));
            let more = self.remember(room, &known, now);
            if more_reactions && !more {
                self.save_history(room, now);
            }
            if !more && !more_reactions && !scattered {
                self.history_unsaved.remove(room);
            } else if scattered && !self.history_read.contains(room) {
                self.history_unsaved.insert(room.to_owned());
            }
        }
    }

    /// An answer of the history service: its messages, then what it says of older ones. (Only the service may
    /// write answers, under the ACL; a room name that is not one is ignored.)
    fn on_earlier(&mut self, room: &str, payload: &[u8], wall: i64) {
        let (Ok(_), Some(answer)) = (names::validate(room), message::parse_earlier(payload)) else {
            return;
        };
        let to = Conversation::Room(room.to_owned());
        for m in answer.messages {
            let p = Payload {
                id: m.id,
                text: m.text,
                sent_at: m.sent_at,
                reply: m.reply,
                edited: m.edited,
                deleted: false,
            };
            self.on_payload(to.clone(), &m.sender, p, false, wall);
        }
        self.events.push_back(ChatEvent::Earlier {
            room: room.to_owned(),
            req: answer.req,
            answer: answer.error.map_or(Ok(answer.more), Err),
        });
    }

    fn on_chat_message(
        &mut self,
        to: Conversation,
        sender: &str,
        body: Body,
        live: bool,
        wall: i64,
    ) {
        match body {
            Body::Chat(p) => self.on_payload(to, sender, p, live, wall),
            Body::Change(change, at) => {
                let at = believable(at, wall);
                // An edited text is held to the rules of a message's.
                let change = match change {
                    Change::Edit { id, text } => Change::Edit {
                        id,
                        text: message::clean_text(truncate(text)),
                    },
                    other => other,
                };
                self.events.push_back(ChatEvent::Change {
                    conversation: to,
                    sender: sender.to_owned(),
                    change,
                    at,
                    live,
                });
            }
            // A newer client's kind of event, or a change that cannot apply (someone else's message): nothing
            // to show, nothing changed.
            Body::Ignored => {}
            Body::Plain(text) => {
                let id = self.local_id();
                self.report(to, sender, id, Content::Text(text), wall, live);
            }
            Body::Unreadable(len) => {
                let id = self.local_id();
                self.report(to, sender, id, Content::Unreadable(len), wall, live);
            }
        }
    }

    /// A PUBLISH too large to take: one notice per sender and topic, where its content would have shown.
    fn on_oversized(&mut self, topic: &str, bytes: usize, wall: i64) {
        let Some(route) = topic::route(topic) else {
            return;
        };
        let id = format!("too-large {topic}");
        let room = |r: &str| Some(Conversation::Room(r.to_owned()));
        let (to, sender, kind, live) = match route {
            Route::RoomMessage { room: r, sender } => (room(r), sender, Kind::Message, true),
            Route::History {
                room: r, sender, ..
            } => (room(r), sender, Kind::History, false),
            Route::Direct { recipient, sender } if recipient == self.id.name => {
                let to = Some(Conversation::Direct(sender.to_owned()));
                (to, sender, Kind::DirectMessage, true)
            }
            Route::Direct { .. } => return,
            Route::Presence { user, .. } => (None, user, Kind::Presence, true),
            Route::Earlier { .. } | Route::HistoryService => {
                (None, "the history service", Kind::History, true)
            }
            Route::Typing { sender, .. } => (None, sender, Kind::Typing, true),
        };
        match to {
            Some(to) => self.report(to, sender, id, Content::TooLarge(kind, bytes), wall, live),
            // Not part of a conversation: a notice (the same one again replaces it).
            None => self.events.push_back(ChatEvent::TooLarge {
                kind,
                sender: sender.to_owned(),
                bytes,
            }),
        }
    }

    fn on_payload(&mut self, to: Conversation, sender: &str, p: Payload, live: bool, wall: i64) {
        let sent_at = believable(p.sent_at, wall);
        let edited = p.edited.map(|at| believable(at, wall));
        let mut m = ChatMessage::from_payload(to, sender, p, live);
        m.sent_at = sent_at;
        m.edited = edited;
        self.events.push_back(ChatEvent::Message(checked(m)));
    }

    fn report(
        &mut self,
        to: Conversation,
        sender: &str,
        id: String,
        content: Content,
        sent_at: i64,
        live: bool,
    ) {
        self.events
            .push_back(ChatEvent::Message(checked(ChatMessage {
                conversation: to,
                sender: sender.to_owned(),
                id,
                content,
                truncated: false,
                sent_at,
                live,
                edited: None,
                reply: None,
                reacted: Vec::new(),
            })));
    }

    fn local_id(&mut self) -> String {
        self.seq += 1;
        format!("{LOCAL_ID}{}", self.seq)
    }
}

/// How the ids this client gives messages that came without one begin (plain text, unreadable payloads):
/// nobody else knows them, so nobody can answer or react to those messages by them.
const LOCAL_ID: &str = "local-";

fn is_local_id(id: &str) -> bool {
    id.starts_with(LOCAL_ID)
}

/// A time far ahead of ours (or before 1970) is not believed: what it dates shows when it arrived.
fn believable(at: i64, wall: i64) -> i64 {
    if at < 0 || at > wall.saturating_add(MAX_CLOCK_AHEAD_MS) {
        wall
    } else {
        at
    }
}

/// A message's text as it may be shown: cut to [`MAX_TEXT_BYTES`] (saying so), control characters made
/// visible; the quote of a reply likewise.
fn checked(mut m: ChatMessage) -> ChatMessage {
    if let Content::Text(text) = &mut m.content {
        let mut t = std::mem::take(text);
        if t.len() > MAX_TEXT_BYTES {
            t = truncate(t);
            m.truncated = true;
        }
        *text = message::clean_text(t);
    }
    if let Some(q) = &mut m.reply {
        q.text = message::clean_text(std::mem::take(&mut q.text));
    }
    m
}

/// Whether `new` says more of a message than `old`: a deletion beats everything, a later edit an earlier one.
fn newer(new: &Payload, old: &Payload) -> bool {
    (new.deleted, new.edited) > (old.deleted, old.edited)
}

/// Adds `new` to a sender's history list: each id once (in its newest state), oldest first, the newest
/// [`HISTORY_LEN`] kept. Returns whether the list changed.
fn merge(list: &mut Vec<Payload>, new: &[Payload]) -> bool {
    let before = list.clone();
    for p in new {
        match list.iter_mut().find(|old| old.id == p.id) {
            Some(old) if newer(p, old) => *old = p.clone(),
            Some(_) => {}
            None => list.push(p.clone()),
        }
    }
    keep_newest(list);
    *list != before
}

/// Adds `new` to a sender's reactions in a room: each `(message, emoji)` once, the newest word on it kept,
/// the newest [`HISTORY_LEN`] kept. Returns whether the list changed.
fn merge_reactions(list: &mut Vec<Reacted>, new: &[Reacted]) -> bool {
    let before = list.clone();
    for r in new {
        match list
            .iter_mut()
            .find(|old| old.to == r.to && old.emoji == r.emoji)
        {
            Some(old) if old.sent_at < r.sent_at => *old = r.clone(),
            Some(_) => {}
            None => list.push(r.clone()),
        }
    }
    // Oldest first, the newest HISTORY_LEN kept (insertion into a short list, as for messages).
    let mut kept: Vec<Reacted> = Vec::with_capacity(HISTORY_LEN + 1);
    for r in list.drain(..) {
        let at = kept.partition_point(|q| q.sent_at <= r.sent_at);
        kept.insert(at, r);
        if kept.len() > HISTORY_LEN {
            kept.remove(0);
        }
    }
    *list = kept;
    *list != before
}

/// Orders a history list oldest first (equal times keep their order) and keeps its newest [`HISTORY_LEN`]
/// messages. Each message is inserted into a list of at most [`HISTORY_LEN`]: no sort routine in the wasm, and
/// a long list from the network costs at most its length times [`HISTORY_LEN`].
fn keep_newest(list: &mut Vec<Payload>) {
    let mut kept: Vec<Payload> = Vec::with_capacity(HISTORY_LEN + 1);
    for p in list.drain(..) {
        let at = kept.partition_point(|q| q.sent_at <= p.sent_at);
        kept.insert(at, p);
        if kept.len() > HISTORY_LEN {
            kept.remove(0);
        }
    }
    *list = kept;
}

/// Cuts a text to at most [`MAX_TEXT_BYTES`] at a character boundary.
fn truncate(mut text: String) -> String {
    if text.len() <= MAX_TEXT_BYTES {
        return text;
    }
    let mut end = MAX_TEXT_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text
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

    /// (topic, payload, qos, retain) of a PUBLISH sent.
    type Sent = (String, String, QoS, bool);

    /// Every PUBLISH sent, and the other packets as debug text.
    fn sent(c: &mut Client) -> (Vec<Sent>, Vec<String>) {
        let mut d = Decoder::new(1 << 20);
        d.push(&c.transmit().unwrap_or_default());
        let (mut publishes, mut others) = (Vec::new(), Vec::new());
        while let Some(p) = d.next_packet().unwrap() {
            match p {
                Packet::Publish(p) => publishes.push((
                    p.topic.as_str().to_owned(),
                    String::from_utf8_lossy(p.payload).into_owned(),
                    p.qospid.qos(),
                    p.retain,
                )),
                other => others.push(format!("{other:?}")),
            }
        }
        (publishes, others)
    }

    fn events(c: &mut Client) -> Vec<ChatEvent> {
        std::iter::from_fn(|| c.poll_event()).collect()
    }

    fn publish(topic: &str, pid: u16, payload: &[u8], retain: bool) -> Vec<u8> {
        bytes(Packet::Publish(Publish {
            dup: false,
            qospid: QosPid::AtLeastOnce(Pid::new(pid).unwrap()),
            retain,
            topic: TopicName::new(topic).unwrap(),
            payload,
        }))
    }

    fn suback(pid: u16, codes: Vec<Option<QoS>>) -> Vec<u8> {
        bytes(Packet::SubAck(SubAck {
            pid: Pid::new(pid).unwrap(),
            return_codes: codes.into(),
        }))
    }

    /// A client with the rooms the core would keep for it.
    #[derive(Debug)]
    struct Tab {
        client: Client,
        rooms: Vec<String>,
    }

    impl std::ops::Deref for Tab {
        type Target = Client;

        fn deref(&self) -> &Client {
            &self.client
        }
    }

    impl std::ops::DerefMut for Tab {
        fn deref_mut(&mut self) -> &mut Client {
            &mut self.client
        }
    }

    impl Tab {
        fn new(id: Identity, rooms: &[&str]) -> Result<Self, NameError> {
            let mut rooms: Vec<String> = rooms.iter().map(|r| (*r).to_owned()).collect();
            if rooms.is_empty() {
                rooms.push(DEFAULT_ROOM.to_owned());
            }
            Ok(Self {
                client: Client::new(id)?,
                rooms,
            })
        }

        fn rooms(&self) -> &[String] {
            &self.rooms
        }

        fn receive(&mut self, bytes: &[u8], now: Millis, wall: i64) {
            self.client.receive(bytes, &self.rooms, now, wall);
        }

        fn tick(&mut self, now: Millis, wall: i64) {
            self.client.tick(&self.rooms, now, wall);
        }

        fn join_room(&mut self, room: &str, now: Millis) -> Result<(), JoinError> {
            self.client.join_room(room, &self.rooms, now, 0)?;
            if !self.rooms.iter().any(|r| r == room) {
                self.rooms.push(room.to_owned());
            }
            Ok(())
        }

        fn leave_room(&mut self, room: &str, now: Millis) {
            self.rooms.retain(|r| r != room);
            self.client.leave_room(room, &self.rooms, now);
        }

        /// The message sent (its packet id: [`Client::send`]).
        fn send(
            &mut self,
            to: &Conversation,
            text: &str,
            now: Millis,
            wall: i64,
        ) -> Result<ChatMessage, SendError> {
            self.client
                .send(to, text, None, now, wall)
                .map(|p| p.message)
        }
    }

    fn identity(name: &str) -> Identity {
        Identity {
            name: name.into(),
            client_id: format!("{name}-tab"),
            browser_id: format!("{name}-browser"),
            password: None,
        }
    }

    /// Connects through CONNACK and both SUBACKs, with `retained` delivered in between.
    fn connect(id: Identity, retained: &[Vec<u8>]) -> (Tab, Vec<ChatEvent>) {
        let mut c = Tab::new(id, &[]).unwrap();
        c.transport_open(0);
        let (_, connect) = sent(&mut c);
        assert!(
            connect[0].contains("will: Some") || connect[0].contains("last_will: Some"),
            "{connect:?}"
        );
        let ack = ConnAck {
            session_present: false,
            code: ConnectReturnCode::Accepted,
        };
        c.receive(&bytes(Packet::ConnAck(ack)), 1, 1);
        let (_, subs) = sent(&mut c);
        assert_eq!(subs.len(), 2, "{subs:?}");
        assert!(
            subs[0].contains("chat/users/+/presence/+") && subs[0].contains("AtMostOnce"),
            "{subs:?}"
        );
        assert!(subs[0].contains("chat/services/history"), "{subs:?}");
        assert!(
            !subs[0].contains("/history/"),
            "histories are read once online: {subs:?}"
        );
        assert!(
            subs[1].contains("chat/rooms/general/messages/+") && subs[1].contains("dm/+"),
            "{subs:?}"
        );
        c.receive(&suback(1, vec![Some(QoS::AtMostOnce); 2]), 2, 2);
        for r in retained {
            c.receive(r, 2, 2);
        }
        let granted = vec![
            Some(QoS::AtLeastOnce),
            Some(QoS::AtMostOnce),
            Some(QoS::AtLeastOnce),
            Some(QoS::AtLeastOnce),
        ];
        c.receive(&suback(2, granted), 3, 3);
        let ev = events(&mut c);
        (c, ev)
    }

    /// Answers what the client sends as an empty broker would (SUBACK, UNSUBACK; nothing retained) until it
    /// sends nothing more: the steps of reading older histories. Returns what it sent, as [`sent`] does.
    fn answer(c: &mut Tab, now: Millis) -> (Vec<Sent>, Vec<String>) {
        let (mut publishes, mut others) = (Vec::new(), Vec::new());
        loop {
            let Some(out) = c.transmit() else {
                return (publishes, others);
            };
            let mut d = Decoder::new(1 << 20);
            d.push(&out);
            let mut replies = Vec::new();
            while let Some(p) = d.next_packet().unwrap() {
                match p {
                    Packet::Publish(p) => publishes.push((
                        p.topic.as_str().to_owned(),
                        String::from_utf8_lossy(p.payload).into_owned(),
                        p.qospid.qos(),
                        p.retain,
                    )),
                    Packet::Subscribe(s) => {
                        replies.push(suback(
                            s.pid.get(),
                            vec![Some(QoS::AtMostOnce); s.topics.len()],
                        ));
                        others.push(format!("{:?}", Packet::Subscribe(s)));
                    }
                    Packet::Unsubscribe(u) => {
                        replies.push(bytes(Packet::UnsubAck(u.pid)));
                        others.push(format!("{:?}", Packet::Unsubscribe(u)));
                    }
                    other => others.push(format!("{other:?}")),
                }
            }
            for r in replies {
                c.receive(&r, now, 3);
            }
        }
    }

    fn online(name: &str) -> Tab {
        let (mut c, ev) = connect(identity(name), &[]);
        assert_eq!(ev.last(), Some(&ChatEvent::Connected));
        let (publishes, others) = answer(&mut c, 3);
        for filter in [
            topic::history_day_filter("general", "1970-01-01"),
            topic::own_history_filter("general", name),
            topic::legacy_history("general", name),
        ] {
            let quoted = format!("{filter:?}");
            let read = |kind: &str| {
                others
                    .iter()
                    .any(|o| o.starts_with(kind) && o.contains(&quoted))
            };
            assert!(
                read("Subscribe(") && read("Unsubscribe("),
                "{filter} read once, not followed: {others:?}"
            );
        }
        let steps = others.iter().filter(|o| o.starts_with("Subscribe")).count();
        assert_eq!(
            steps,
            HISTORY_STEPS.len(),
            "an empty room: every day read, in steps: {others:?}"
        );
        assert!(!c.waiting(), "every step done");
        assert_eq!(
            publishes,
            [(
                format!("chat/users/{name}/presence/{name}-tab"),
                format!(r#"{{"browser":"{name}-browser","rooms":["general"],"since":1}}"#),
                QoS::AtLeastOnce,
                true
            )],
            "the tab announces itself, retained"
        );
        c
    }

    /// What a reader shows of `events`: each `(sender, id)` once (the timelines keep them), oldest first.
    fn shown(events: &[ChatEvent]) -> Vec<ChatMessage> {
        let mut model = crate::chat::Model::new("alice", &["general".into()], general());
        for e in events {
            model.apply(e, 0);
        }
        model
            .added_since(0)
            .iter()
            .map(|item| item.message.clone())
            .collect()
    }

    fn general() -> Conversation {
        Conversation::Room("general".into())
    }

    #[test]
    fn the_will_clears_this_tabs_presence() {
        let mut c = Tab::new(identity("alice"), &[]).unwrap();
        c.transport_open(0);
        let (_, connect) = sent(&mut c);
        assert!(
            connect[0].contains(r#"topic: TopicName("chat/users/alice/presence/alice-tab"), message: [], qos: AtLeastOnce, retain: true"#),
            "{connect:?}"
        );
        assert!(connect[0].contains(r#"username: Some("alice")"#));
    }

    #[test]
    fn sending_publishes_the_message_and_the_retained_history() {
        let mut c = online("alice");
        let m = c
            .send(&general(), "  hello  ", 5, 1_700_000_000_000)
            .unwrap();
        assert_eq!(
            (m.content.clone(), m.sender.as_str()),
            (Content::Text("hello".into()), "alice")
        );
        let (publishes, _) = sent(&mut c);
        assert_eq!(publishes.len(), 2, "{publishes:?}");
        let (topic, payload, qos, retain) = &publishes[0];
        assert_eq!(
            (topic.as_str(), *qos, *retain),
            ("chat/rooms/general/messages/alice", QoS::AtLeastOnce, false)
        );
        let body: serde_json::Value = serde_json::from_str(payload).unwrap();
        assert_eq!(body["text"], "hello");
        assert_eq!(body["sent_at"], 1_700_000_000_000i64);
        assert_eq!(body["id"], m.id.as_str());
        let (topic, payload, qos, retain) = &publishes[1];
        assert_eq!(
            (topic.as_str(), *qos, *retain),
            (
                "chat/rooms/general/history/2023-11-14/alice",
                QoS::AtLeastOnce,
                true
            )
        );
        assert_eq!(
            message::parse_history(payload.as_bytes())
                .unwrap()
                .messages
                .len(),
            1
        );
    }

    #[test]
    fn the_history_keeps_the_last_50_own_messages() {
        let mut c = online("alice");
        for i in 0..60 {
            c.send(&general(), &format!("m{i}"), i, i as i64).unwrap();
        }
        let (publishes, _) = sent(&mut c);
        let last = &publishes.last().unwrap().1;
        let h = message::parse_history(last.as_bytes()).unwrap().messages;
        assert_eq!(h.len(), HISTORY_LEN);
        assert_eq!(h.first().unwrap().text, "m10");
        assert_eq!(h.last().unwrap().text, "m59");
    }

    #[test]
    fn history_from_others_is_shown_once_and_not_live() {
        let mut c = online("alice");
        let list =
            br#"[{"id":"b1","text":"old","sent_at":1},{"id":"b2","text":"older?","sent_at":2}]"#;
        c.receive(
            &publish("chat/rooms/general/history/bob", 1, list, true),
            5,
            5,
        );
        c.receive(
            &publish(
                "chat/rooms/general/messages/bob",
                2,
                br#"{"id":"b2","text":"older?","sent_at":2}"#,
                false,
            ),
            5,
            5,
        );
        let shown = shown(&events(&mut c));
        assert_eq!(shown.len(), 2, "{shown:?}");
        assert!(shown.iter().all(|m| !m.live && m.sender == "bob"));
    }

    #[test]
    fn an_overlong_history_from_another_client_is_cut_to_its_newest_50() {
        let mut c = online("alice");
        let list: Vec<Payload> = (0..5_000)
            .map(|i| Payload {
                id: format!("z{i}"),
                text: "x".into(),
                sent_at: i,
                ..Default::default()
            })
            .collect();
        c.receive(
            &publish(
                "chat/rooms/general/history/zed",
                1,
                &message::to_json(&list),
                true,
            ),
            5,
            5,
        );
        let ev = events(&mut c);
        assert_eq!(ev.len(), HISTORY_LEN);
        assert!(matches!(&ev[0], ChatEvent::Message(m) if m.id == "z4950"));
    }

    #[test]
    fn keeping_the_newest_orders_by_time_and_keeps_equal_times_in_their_order() {
        // 120 messages, times out of order and often equal: the result must be a stable sort's newest 50.
        let list: Vec<Payload> = (0..120)
            .map(|i| Payload {
                id: format!("m{i}"),
                text: String::new(),
                sent_at: (i * 37) % 23,
                ..Default::default()
            })
            .collect();
        let mut expected = list.clone();
        expected.sort_by_key(|p| p.sent_at);
        expected.drain(..expected.len() - HISTORY_LEN);
        let mut kept = list;
        keep_newest(&mut kept);
        assert_eq!(kept, expected);
    }

    /// Noon UTC on 2025-12-02.
    const NOON: i64 = 1_764_633_600_000 + 12 * 3_600_000;

    /// A history of `n` messages of `sender`, `days_ago` before [`NOON`], published retained to its day.
    fn history_of(sender: &str, days_ago: i64, n: usize) -> (String, Vec<u8>) {
        let at = NOON - days_ago * DAY_MS;
        let list: Vec<Payload> = (0..n)
            .map(|i| Payload {
                id: format!("{sender}-{days_ago}-{i}"),
                text: format!("{i}"),
                sent_at: at + i as i64,
                ..Default::default()
            })
            .collect();
        let topic = topic::history("general", &topic::day(at), sender);
        (topic, message::to_json(&list))
    }

    /// Joins at [`NOON`] with an empty room but `retained`, as a broker would deliver it: each retained
    /// history right after the SUBACK of a SUBSCRIBE whose filters match it. Returns the SUBSCRIBEs' filters
    /// and what was published.
    fn join_at_noon(c: &mut Tab, retained: &[(String, Vec<u8>)]) -> (Vec<Vec<String>>, Vec<Sent>) {
        c.transport_open(NOON as u64);
        let ack = ConnAck {
            session_present: false,
            code: ConnectReturnCode::Accepted,
        };
        let mut reply = bytes(Packet::ConnAck(ack));
        let (mut subscribes, mut publishes) = (Vec::new(), Vec::new());
        let mut retained: Vec<(String, Vec<u8>)> = retained.to_vec();
        for _ in 0..100 {
            c.receive(&reply, NOON as u64, NOON);
            let Some(out) = c.transmit() else {
                return (subscribes, publishes);
            };
            reply = Vec::new();
            let mut d = Decoder::new(1 << 20);
            d.push(&out);
            while let Some(p) = d.next_packet().unwrap() {
                match p {
                    Packet::Subscribe(s) => {
                        let filters: Vec<String> = s
                            .topics
                            .iter()
                            .map(|(f, _)| f.as_str().to_owned())
                            .collect();
                        reply.extend(suback(
                            s.pid.get(),
                            vec![Some(QoS::AtMostOnce); filters.len()],
                        ));
                        for (topic, payload) in &retained {
                            if filters.iter().any(|f| {
                                mqtt::TopicFilter::new(f)
                                    .unwrap()
                                    .matches(mqtt::TopicName::new(topic).unwrap())
                            }) {
                                reply.extend(publish(topic, 1, payload, true));
                            }
                        }
                        subscribes.push(filters);
                    }
                    Packet::Unsubscribe(u) => reply.extend(bytes(Packet::UnsubAck(u.pid))),
                    Packet::Publish(p) => {
                        // The broker keeps what is published retained (empty: deletes it).
                        if p.retain {
                            retained.retain(|(t, _)| t != p.topic.as_str());
                            if !p.payload.is_empty() {
                                retained.push((p.topic.as_str().to_owned(), p.payload.to_vec()));
                            }
                        }
                        publishes.push((
                            p.topic.as_str().to_owned(),
                            String::from_utf8_lossy(p.payload).into_owned(),
                            p.qospid.qos(),
                            p.retain,
                        ));
                    }
                    _ => {}
                }
            }
        }
        panic!("no end to the join");
    }

    #[test]
    fn a_join_reads_todays_histories_and_older_days_only_while_it_has_too_few() {
        // Busy today: 2 × 30 messages. Nothing older is read, however many people posted before.
        let busy = [
            history_of("bob", 0, 30),
            history_of("carol", 0, 30),
            history_of("dave", 3, 50),
        ];
        let mut c = Tab::new(identity("alice"), &[]).unwrap();
        let (subscribes, _) = join_at_noon(&mut c, &busy);
        let history_steps: Vec<&Vec<String>> = subscribes
            .iter()
            .filter(|f| f.iter().any(|f| f.contains("/history/")))
            .collect();
        assert_eq!(history_steps.len(), 1, "today only: {subscribes:?}");
        assert!(history_steps[0].contains(&"chat/rooms/general/history/2025-12-02/+".to_owned()));
        assert_eq!(
            shown(&events(&mut c)).len(),
            60,
            "dave's older history is not read"
        );
        assert!(!c.waiting());

        // Quiet today (10), 45 three days ago: the second step (the 6 days before) brings it to 55; the rest
        // of the month and year are not read.
        let quiet = [
            history_of("bob", 0, 10),
            history_of("dave", 3, 45),
            history_of("erin", 20, 5),
        ];
        let mut c = Tab::new(identity("alice"), &[]).unwrap();
        let (subscribes, _) = join_at_noon(&mut c, &quiet);
        let history_steps: Vec<&Vec<String>> = subscribes
            .iter()
            .filter(|f| f.iter().any(|f| f.contains("/history/")))
            .collect();
        assert_eq!(history_steps.len(), 2, "{subscribes:?}");
        assert_eq!(
            history_steps[1].len(),
            6,
            "one filter per day: {:?}",
            history_steps[1]
        );
        assert_eq!(
            history_steps[1][0],
            "chat/rooms/general/history/2025-12-01/+"
        );
        assert_eq!(
            history_steps[1][5],
            "chat/rooms/general/history/2025-11-26/+"
        );
        assert_eq!(shown(&events(&mut c)).len(), 55);

        // An empty room: every step, up to a year back, then no more.
        let mut c = Tab::new(identity("alice"), &[]).unwrap();
        let (subscribes, _) = join_at_noon(&mut c, &[history_of("erin", 300, 5)]);
        let days: usize = subscribes
            .iter()
            .filter(|f| f.iter().any(|f| f.contains("/history/")))
            .map(|f| {
                f.iter()
                    .filter(|f| f.ends_with("/+") && f.contains("/history/20"))
                    .count()
            })
            .sum();
        assert_eq!(days, 365);
        assert_eq!(shown(&events(&mut c)).len(), 5);
        assert!(!c.waiting());
    }

    #[test]
    fn so_many_histories_at_once_that_the_broker_may_have_dropped_some_are_reported() {
        let many: Vec<(String, Vec<u8>)> = (0..SUSPECT_HISTORIES)
            .map(|i| history_of(&format!("p{i}"), 0, 1))
            .collect();
        let mut c = Tab::new(identity("alice"), &[]).unwrap();
        join_at_noon(&mut c, &many[..SUSPECT_HISTORIES - 1]);
        let ev = events(&mut c);
        assert!(
            !ev.iter()
                .any(|e| matches!(e, ChatEvent::HistoryIncomplete { .. })),
            "below the mark: nothing said"
        );
        let mut c = Tab::new(identity("alice"), &[]).unwrap();
        join_at_noon(&mut c, &many);
        let ev = events(&mut c);
        let said: Vec<&ChatEvent> = ev
            .iter()
            .filter(|e| matches!(e, ChatEvent::HistoryIncomplete { .. }))
            .collect();
        assert!(
            matches!(said[..], [ChatEvent::HistoryIncomplete { room, histories, .. }] if room == "general" && *histories == SUSPECT_HISTORIES),
            "{said:?}"
        );
    }

    #[test]
    fn a_broker_that_never_ends_a_step_of_histories_keeps_nobody_offline() {
        // It answers SUBSCRIBEs, never the UNSUBSCRIBE that ends a step (measured: Mosquitto dropping part of
        // 5,000 histories never sent it).
        let mut c = Tab::new(identity("alice"), &[]).unwrap();
        c.transport_open(0);
        let ack = ConnAck {
            session_present: false,
            code: ConnectReturnCode::Accepted,
        };
        let mut reply = bytes(Packet::ConnAck(ack));
        let mut events_seen = Vec::new();
        for _ in 0..10 {
            c.receive(&reply, 10, NOON);
            events_seen.extend(events(&mut c));
            reply = Vec::new();
            let Some(out) = c.transmit() else { break };
            let mut d = Decoder::new(1 << 20);
            d.push(&out);
            while let Some(p) = d.next_packet().unwrap() {
                if let Packet::Subscribe(s) = p {
                    reply.extend(suback(
                        s.pid.get(),
                        vec![Some(QoS::AtMostOnce); s.topics.len()],
                    ));
                }
            }
        }
        assert!(
            events_seen.contains(&ChatEvent::Connected),
            "online, whatever the histories: {events_seen:?}"
        );
        assert!(c.waiting());
        c.nudge(10 + HISTORY_STEP_TIMEOUT_MS - 1);
        assert!(events(&mut c).is_empty());
        c.nudge(10 + HISTORY_STEP_TIMEOUT_MS);
        let ev = events(&mut c);
        assert!(
            matches!(&ev[..], [ChatEvent::HistoryIncomplete { room, .. }] if room == "general"),
            "{ev:?}"
        );
        assert!(!c.waiting(), "no longer waiting for it");
    }

    #[test]
    fn a_history_the_broker_lost_is_published_again_from_what_this_device_kept() {
        let (_, json) = history_of("alice", 2, 3);
        let kept = message::parse_history(&json).unwrap().messages;
        // The broker has no history of alice (a deleted persistence file): it is published from the device.
        let mut c = Tab::new(identity("alice"), &[]).unwrap();
        c.seed_history("general", &kept);
        let (_, publishes) = join_at_noon(&mut c, &[]);
        let history: Vec<&Sent> = publishes
            .iter()
            .filter(|p| p.0.contains("/history/"))
            .collect();
        assert_eq!(history.len(), 1, "{publishes:?}");
        assert_eq!(history[0].0, "chat/rooms/general/history/2025-11-30/alice");
        assert_eq!(
            message::parse_history(history[0].1.as_bytes())
                .unwrap()
                .messages,
            kept
        );

        // The broker lost its last second: its copy lacks the newest message. The union goes out, once.
        let (topic, older) = history_of("alice", 2, 2);
        let mut c = Tab::new(identity("alice"), &[]).unwrap();
        c.seed_history("general", &kept);
        let (_, publishes) = join_at_noon(&mut c, &[(topic.clone(), older)]);
        let history: Vec<&Sent> = publishes
            .iter()
            .filter(|p| p.0.contains("/history/"))
            .collect();
        assert_eq!(history.len(), 1, "{publishes:?}");
        assert_eq!(
            message::parse_history(history[0].1.as_bytes())
                .unwrap()
                .messages,
            kept
        );

        // Nothing lacking: nothing published.
        let mut c = Tab::new(identity("alice"), &[]).unwrap();
        c.seed_history("general", &kept);
        let (_, publishes) = join_at_noon(&mut c, &[(topic, json)]);
        assert!(
            publishes.iter().all(|p| !p.0.contains("/history/")),
            "{publishes:?}"
        );
    }

    #[test]
    fn the_history_services_marker_says_whether_it_runs() {
        let mut c = online("alice");
        for (payload, runs) in [
            (&br#"{"version":1}"#[..], true),
            (b"", false),
            (br#"{"version":2}"#, false),
            (b"junk", false),
        ] {
            c.receive(&publish(topic::HISTORY_SERVICE, 1, payload, true), 5, 5);
            assert_eq!(
                events(&mut c),
                [ChatEvent::HistoryService(runs)],
                "{payload:?}"
            );
        }
    }

    #[test]
    fn the_history_services_answers_are_read_and_nobody_elses() {
        let mut c = online("alice");
        let req = c.client.ask_earlier("general", 500, 100, 5).unwrap();
        let (publishes, _) = sent(&mut c);
        assert_eq!(publishes.len(), 1);
        assert_eq!(publishes[0].0, "chat/rooms/general/earlier/alice");
        let json = format!(
            r#"{{"req":"{req}","room":"general","more":true,"messages":[
                {{"sender":"bob","id":"b1","text":"old","sent_at":100}},
                {{"sender":"a/b","id":"x","text":"bad name","sent_at":101}},
                {{"sender":"carol","id":"","text":"bad id","sent_at":102}}]}}"#
        );
        c.receive(
            &publish(
                "chat/users/alice/earlier/general",
                1,
                json.as_bytes(),
                false,
            ),
            6,
            600,
        );
        // An answer meant for someone else, and one that is not an answer: nothing.
        c.receive(
            &publish("chat/users/bob/earlier/general", 2, json.as_bytes(), false),
            6,
            600,
        );
        c.receive(
            &publish("chat/users/alice/earlier/general", 3, b"{oops", false),
            6,
            600,
        );
        let ev = events(&mut c);
        let [ChatEvent::Message(m), ChatEvent::Earlier {
            room,
            req: r,
            answer,
        }] = &ev[..]
        else {
            panic!("{ev:?}")
        };
        assert_eq!(
            (m.sender.as_str(), m.id.as_str(), m.live),
            ("bob", "b1", false)
        );
        assert_eq!(
            (room.as_str(), r.as_str(), answer),
            ("general", req.as_str(), &Ok(true))
        );
        let error = format!(r#"{{"req":"{req}","error":"too many requests"}}"#);
        c.receive(
            &publish(
                "chat/users/alice/earlier/general",
                4,
                error.as_bytes(),
                false,
            ),
            7,
            700,
        );
        assert!(
            matches!(&events(&mut c)[..], [ChatEvent::Earlier { answer: Err(w), .. }] if w == "too many requests")
        );
    }

    #[test]
    fn own_history_from_elsewhere_is_merged_and_republished_when_we_know_more() {
        let mut c = online("alice");
        c.send(&general(), "new here", 5, 100).unwrap();
        sent(&mut c);
        // The retained history from an earlier visit arrives after our first send.
        let older = br#"[{"id":"x1","text":"from before","sent_at":50}]"#;
        c.receive(
            &publish("chat/rooms/general/history/alice", 3, older, true),
            6,
            6,
        );
        let (publishes, _) = sent(&mut c);
        let [(day_topic, json, _, true), (legacy, cleared, _, true)] = &publishes[..] else {
            panic!("{publishes:?}")
        };
        // One history, under the day of its newest message; the earlier version's topic cleared.
        assert_eq!(day_topic, "chat/rooms/general/history/1970-01-01/alice");
        assert_eq!(
            (legacy.as_str(), cleared.as_str()),
            ("chat/rooms/general/history/alice", "")
        );
        let h = message::parse_history(json.as_bytes()).unwrap().messages;
        let texts: Vec<&str> = h.iter().map(|p| p.text.as_str()).collect();
        assert_eq!(texts, ["from before", "new here"]);
        // Our own republished history coming back changes nothing: no loop.
        let json = message::to_json(&h);
        c.receive(&publish(day_topic, 4, &json, false), 7, 7);
        let (publishes, _) = sent(&mut c);
        assert!(publishes.is_empty(), "{publishes:?}");
    }

    #[test]
    fn a_message_sent_before_the_history_was_read_joins_it_instead_of_replacing_it() {
        // Sent offline (or resent from the outbox at a start): it waits in the session.
        let (_, older) = history_of("alice", 1, 1);
        let mut c = Tab::new(identity("alice"), &[]).unwrap();
        c.send(&general(), "sent offline", 0, NOON - 1).unwrap();
        let (_, publishes) = join_at_noon(
            &mut c,
            &[(topic::legacy_history("general", "alice"), older)],
        );
        let topics: Vec<&str> = publishes.iter().map(|p| p.0.as_str()).collect();
        assert_eq!(
            topics[0], "chat/rooms/general/messages/alice",
            "the message goes out first, the history once it has been read"
        );
        let history: Vec<&Sent> = publishes
            .iter()
            .filter(|p| p.0 == "chat/rooms/general/history/2025-12-02/alice")
            .collect();
        assert_eq!(history.len(), 1, "{publishes:?}");
        let h = message::parse_history(history[0].1.as_bytes())
            .unwrap()
            .messages;
        let texts: Vec<&str> = h.iter().map(|p| p.text.as_str()).collect();
        assert_eq!(texts, ["0", "sent offline"], "merged, not replaced");
        assert!(
            publishes
                .iter()
                .any(|p| p.0 == "chat/rooms/general/history/alice" && p.1.is_empty()),
            "the one-level history of an earlier version cleared: {publishes:?}"
        );
        // Read on this connection: the next message's history goes out with it.
        c.send(&general(), "online now", 4, NOON + 1).unwrap();
        let (publishes, _) = sent(&mut c);
        assert_eq!(publishes.len(), 2, "{publishes:?}");
    }

    #[test]
    fn message_ids_are_not_used_again_by_the_same_tab_after_a_reload() {
        let mut before = online("alice");
        let first = before.send(&general(), "before", 5, 1_000).unwrap();
        let second = before.send(&general(), "again", 6, 1_001).unwrap();
        assert_ne!(first.id, second.id);
        // Reloaded: the same client id (the persistent session), a new client.
        let mut after = online("alice");
        let third = after.send(&general(), "after", 5, 9_000).unwrap();
        assert!(third.id.starts_with("alice-tab-"), "{}", third.id);
        assert!(![first.id, second.id].contains(&third.id), "{}", third.id);
        assert!(third.id.len() <= message::MAX_ID_BYTES);
    }

    #[test]
    fn a_name_in_use_in_another_browser_is_refused() {
        let other = br#"{"browser":"elsewhere","rooms":["general"],"since":0}"#;
        let retained = publish("chat/users/alice/presence/other-tab", 1, other, true);
        let (mut c, ev) = connect(identity("alice"), &[retained]);
        assert_eq!(
            ev.last(),
            Some(&ChatEvent::Closed(Ended::NameInUse("alice".into())))
        );
        let (publishes, others) = sent(&mut c);
        assert!(publishes.is_empty(), "no presence announced: {publishes:?}");
        assert!(others.contains(&"Disconnect".to_owned()));
    }

    #[test]
    fn the_same_browser_and_accounts_may_share_a_name() {
        let same = br#"{"browser":"alice-browser","rooms":["general"],"since":0}"#;
        let retained = publish("chat/users/alice/presence/other-tab", 1, same, true);
        let (_, ev) = connect(identity("alice"), std::slice::from_ref(&retained));
        assert_eq!(ev.last(), Some(&ChatEvent::Connected));
        let other = br#"{"browser":"elsewhere","rooms":["general"],"since":0}"#;
        let retained = publish("chat/users/alice/presence/other-tab", 1, other, true);
        let mut id = identity("alice");
        id.password = Some("secret".into());
        let (_, ev) = connect(id, &[retained]);
        assert_eq!(
            ev.last(),
            Some(&ChatEvent::Connected),
            "the broker checked the password"
        );
    }

    #[test]
    fn presence_and_typing_of_others_are_reported() {
        let mut c = online("alice");
        let p = br#"{"browser":"b","rooms":["general"],"since":0}"#;
        c.receive(&publish("chat/users/bob/presence/t1", 1, p, true), 5, 5);
        c.receive(&publish("chat/users/bob/presence/t1", 2, b"", true), 5, 5);
        c.receive(
            &publish(
                "chat/rooms/general/typing/bob",
                3,
                br#"{"typing":true}"#,
                false,
            ),
            5,
            5,
        );
        c.receive(
            &publish(
                "chat/rooms/general/typing/alice",
                4,
                br#"{"typing":true}"#,
                false,
            ),
            5,
            5,
        );
        let ev = events(&mut c);
        assert_eq!(ev.len(), 3, "own typing is not reported: {ev:?}");
        assert!(
            matches!(&ev[0], ChatEvent::Presence { user, presence: Some(_), .. } if user == "bob")
        );
        assert!(matches!(&ev[1], ChatEvent::Presence { presence: None, .. }));
        assert_eq!(
            ev[2],
            ChatEvent::Typing {
                room: "general".into(),
                user: "bob".into(),
                typing: true
            }
        );
    }

    #[test]
    fn typing_notices_are_throttled() {
        let mut c = online("alice");
        c.typing("general", 10);
        c.typing("general", 500);
        c.typing("general", 2_010);
        let (publishes, _) = sent(&mut c);
        assert_eq!(publishes.len(), 2);
        assert_eq!(
            publishes[0],
            (
                "chat/rooms/general/typing/alice".into(),
                r#"{"typing":true}"#.into(),
                QoS::AtMostOnce,
                false
            )
        );
    }

    #[test]
    fn direct_messages_go_to_the_recipients_topic_and_come_from_the_senders() {
        let mut c = online("alice");
        let bob = Conversation::Direct("bob".into());
        c.send(&bob, "psst", 1, 1).unwrap();
        let (publishes, _) = sent(&mut c);
        assert_eq!(publishes.len(), 1, "no history for direct messages");
        assert_eq!(publishes[0].0, "chat/users/bob/dm/alice");
        assert_eq!(
            c.send(&Conversation::Direct("alice".into()), "me", 1, 1),
            Err(SendError::ToSelf)
        );
        c.receive(
            &publish(
                "chat/users/alice/dm/bob",
                1,
                br#"{"id":"b1","text":"hi","sent_at":1}"#,
                false,
            ),
            2,
            2,
        );
        let ev = events(&mut c);
        let [ChatEvent::Message(m)] = &ev[..] else {
            panic!("{ev:?}")
        };
        assert_eq!((m.conversation.clone(), m.sender.as_str()), (bob, "bob"));
    }

    #[test]
    fn empty_and_oversized_messages_are_refused() {
        let mut c = online("alice");
        assert_eq!(c.send(&general(), " \n\t ", 0, 0), Err(SendError::Empty));
        let long = "x".repeat(MAX_TEXT_BYTES + 1);
        assert_eq!(
            c.send(&general(), &long, 0, 0),
            Err(SendError::TooLong(MAX_TEXT_BYTES + 1))
        );
        assert_eq!(c.transmit(), None);
    }

    #[test]
    fn oversized_texts_from_others_are_truncated_with_a_flag() {
        let mut c = online("alice");
        let text = "é".repeat(MAX_TEXT_BYTES); // 2 bytes each
        let json = message::to_json(&Payload {
            id: "b".into(),
            text,
            sent_at: 1,
            ..Default::default()
        });
        c.receive(
            &publish("chat/rooms/general/messages/bob", 1, &json, false),
            2,
            2,
        );
        let ev = events(&mut c);
        let [ChatEvent::Message(m)] = &ev[..] else {
            panic!("{ev:?}")
        };
        let Content::Text(t) = &m.content else {
            panic!()
        };
        assert!(m.truncated);
        assert_eq!(t.len(), MAX_TEXT_BYTES);
    }

    #[test]
    fn a_time_far_ahead_or_before_1970_shows_as_the_arrival_time() {
        let mut c = online("alice");
        let now = 1_700_000_000_000;
        for (id, sent_at, shown) in [
            ("a", now + MAX_CLOCK_AHEAD_MS, now + MAX_CLOCK_AHEAD_MS),
            ("b", now + MAX_CLOCK_AHEAD_MS + 1, now),
            ("c", i64::MAX, now),
            ("d", -5, now),
            ("e", now - 1_000, now - 1_000),
        ] {
            let json = message::to_json(&Payload {
                id: id.into(),
                text: "x".into(),
                sent_at,
                ..Default::default()
            });
            c.receive(
                &publish("chat/rooms/general/messages/bob", 1, &json, false),
                2,
                now,
            );
            let ev = events(&mut c);
            let [ChatEvent::Message(m)] = &ev[..] else {
                panic!("{ev:?}")
            };
            assert_eq!(m.sent_at, shown, "{id}");
        }
    }

    #[test]
    fn control_characters_from_others_and_from_us_become_visible() {
        let mut c = online("alice");
        c.receive(
            &publish(
                "chat/rooms/general/messages/bob",
                1,
                "a\u{7}b\u{202E}c".as_bytes(),
                false,
            ),
            2,
            2,
        );
        let ev = events(&mut c);
        let [ChatEvent::Message(m)] = &ev[..] else {
            panic!("{ev:?}")
        };
        assert_eq!(m.content, Content::Text("a\u{FFFD}b\u{202E}c".into()));
        let sent = c.send(&general(), "x\u{1b}[2Jy", 3, 3).unwrap();
        assert_eq!(sent.content, Content::Text("x\u{FFFD}[2Jy".into()));
    }

    #[test]
    fn a_history_of_ten_thousand_entries_shows_its_newest_50() {
        let mut c = online("alice");
        let list: Vec<Payload> = (0..10_000)
            .map(|i| Payload {
                id: format!("h{i}"),
                text: String::new(),
                sent_at: i,
                ..Default::default()
            })
            .collect();
        let json = message::to_json(&list);
        assert!(json.len() < MAX_PAYLOAD_BYTES);
        c.receive(
            &publish("chat/rooms/general/history/eve", 1, &json, true),
            2,
            20_000,
        );
        let ids: Vec<String> = events(&mut c)
            .into_iter()
            .filter_map(|e| match e {
                ChatEvent::Message(m) => Some(m.id),
                _ => None,
            })
            .collect();
        let newest: Vec<String> = (9_950..10_000).map(|i| format!("h{i}")).collect();
        assert_eq!(ids, newest);
    }

    #[test]
    fn a_tab_is_in_at_most_100_rooms() {
        let mut c = online("alice");
        for i in 1..MAX_ROOMS {
            c.join_room(&format!("r{i}"), 3).unwrap();
        }
        assert_eq!(c.rooms().len(), MAX_ROOMS);
        assert_eq!(c.join_room("one-more", 4), Err(JoinError::TooManyRooms));
        assert_eq!(c.join_room("r1", 4), Ok(()), "joining again is no new room");
    }

    #[test]
    fn an_oversized_payload_shows_one_notice_where_it_would_have_shown() {
        let mut c = online("alice");
        let big = vec![b'x'; MAX_PACKET_BYTES];
        let mut first = Vec::new();
        for round in 0..2 {
            for (topic, retain) in [
                ("chat/rooms/general/history/eve", true),
                ("chat/rooms/general/messages/eve", false),
                ("chat/users/eve/presence/x", true),
                ("chat/users/alice/dm/eve", false),
            ] {
                let bytes = publish(topic, 7, &big, retain);
                // In chunks, as a WebSocket delivers it.
                for chunk in bytes.chunks(64 * 1024) {
                    c.receive(chunk, 2, 2);
                }
            }
            let (_, acks) = sent(&mut c);
            assert_eq!(
                acks.iter().filter(|a| *a == "PubAck(7)").count(),
                4,
                "each is acknowledged, round {round}"
            );
            let ev = events(&mut c);
            if round == 1 {
                // The same again: the same lines (the timelines keep each once), the same notice.
                assert_eq!(ev, first, "the same (sender, id) each time");
                let both = [first.clone(), ev].concat();
                assert_eq!(shown(&both).len(), 3, "one line per sender and topic");
                continue;
            }
            first.clone_from(&ev);
            let notices: Vec<String> = ev
                .iter()
                .map(|e| match e {
                    ChatEvent::Message(m) => match &m.content {
                        Content::TooLarge(kind, bytes) => {
                            format!(
                                "{}: {}",
                                m.conversation,
                                too_large(*kind, &m.sender, *bytes)
                            )
                        }
                        other => panic!("{other:?}"),
                    },
                    ChatEvent::TooLarge {
                        kind,
                        sender,
                        bytes,
                    } => too_large(*kind, sender, *bytes),
                    other => panic!("{other:?}"),
                })
                .collect();
            assert_eq!(
                notices,
                [
                    "#general: a history from eve too large to show, 1.3 MB",
                    "#general: a message from eve too large to show, 1.3 MB",
                    "a presence message from eve too large to show, 1.3 MB",
                    "@eve: a direct message from eve too large to show, 1.3 MB",
                ]
            );
        }
        assert!(c.is_online(), "the connection is kept");
    }

    #[test]
    fn sizes_read_as_words() {
        assert_eq!(size_words(3_100_000), "3.1 MB");
        assert_eq!(size_words(3_145_728), "3.1 MB");
        assert_eq!(size_words(1_315_542), "1.3 MB");
        assert_eq!(size_words(999_999), "1.0 MB");
        assert_eq!(size_words(999_499), "999 KB");
        assert_eq!(size_words(1_499), "1 KB");
        assert_eq!(size_words(999), "999 bytes");
    }

    #[test]
    fn the_sender_comes_from_the_topic_and_plain_text_is_shown() {
        let mut c = online("alice");
        c.receive(
            &publish("chat/rooms/general/messages/zed", 1, b"hi from cli", false),
            2,
            42,
        );
        let ev = events(&mut c);
        let [ChatEvent::Message(m)] = &ev[..] else {
            panic!("{ev:?}")
        };
        assert_eq!(
            (m.sender.as_str(), m.conversation.clone()),
            ("zed", general())
        );
        assert_eq!(m.content, Content::Text("hi from cli".into()));
        assert_eq!(m.sent_at, 42);
    }

    #[test]
    fn unreadable_payloads_are_shown_as_such_and_duplicates_once() {
        let mut c = online("alice");
        c.receive(
            &publish("chat/rooms/general/messages/bob", 1, &[0xff, 0x00], false),
            2,
            2,
        );
        let json = br#"{"id":"b-1","text":"yo","sent_at":3}"#;
        c.receive(
            &publish("chat/rooms/general/messages/bob", 2, json, false),
            3,
            3,
        );
        c.receive(
            &publish("chat/rooms/general/messages/bob", 3, json, false),
            4,
            4,
        );
        c.receive(
            &publish("chat/rooms/general/messages/carol", 4, json, false),
            5,
            5,
        );
        c.receive(
            &publish("chat/rooms/general/history/dave", 5, b"{oops", true),
            6,
            6,
        );
        let shown = shown(&events(&mut c));
        assert_eq!(shown.len(), 4, "{shown:?}");
        assert_eq!(shown[0].content, Content::Unreadable(2));
        assert_eq!(shown[3].content, Content::Unreadable(5));
        assert_eq!(shown[3].sender, "dave");
    }

    #[test]
    fn puback_reports_the_packet_id_and_the_echo_comes_as_the_same_message() {
        let mut c = online("alice");
        let Published { message: m, pid } = c.client.send(&general(), "hello", None, 5, 5).unwrap();
        let pid = pid.unwrap();
        c.receive(&bytes(Packet::PubAck(Pid::new(pid).unwrap())), 6, 6);
        assert_eq!(events(&mut c), [ChatEvent::Delivered(pid)]);
        let echo = message::to_json(&Payload {
            id: m.id.clone(),
            text: "hello".into(),
            sent_at: 5,
            ..Default::default()
        });
        c.receive(
            &publish("chat/rooms/general/messages/alice", 9, &echo, false),
            7,
            7,
        );
        // The timeline keeps it once (`Model`): the client reports what arrived.
        assert!(
            matches!(&events(&mut c)[..], [ChatEvent::Message(e)] if e.id == m.id && e.sender == "alice")
        );
    }

    #[test]
    fn joining_and_leaving_rooms_subscribes_and_updates_presence() {
        let mut c = online("alice");
        c.join_room("rust", 5).unwrap();
        let (publishes, others) = sent(&mut c);
        assert!(
            others[0].contains("chat/rooms/rust/messages/+") && !others[0].contains("presence"),
            "{others:?}"
        );
        assert!(
            others[1].contains("chat/rooms/rust/history/+/alice")
                && others[2].starts_with("Unsubscribe"),
            "its histories read, then not followed: {others:?}"
        );
        assert!(publishes[0].1.contains(r#""rooms":["general","rust"]"#));
        c.leave_room("rust", 6);
        let (publishes, others) = sent(&mut c);
        assert!(others[0].starts_with("Unsubscribe"), "{others:?}");
        assert!(publishes[0].1.contains(r#""rooms":["general"]"#));
        assert_eq!(
            c.join_room("a/b", 7),
            Err(JoinError::Name(NameError::Forbidden('/')))
        );
    }

    #[test]
    fn leaving_clears_presence_before_disconnecting() {
        let mut c = online("alice");
        c.leave(5, 5);
        let (publishes, others) = sent(&mut c);
        assert_eq!(
            publishes,
            [(
                "chat/users/alice/presence/alice-tab".into(),
                String::new(),
                QoS::AtMostOnce,
                true
            )]
        );
        assert_eq!(others, ["Disconnect"]);
    }

    #[test]
    fn a_refused_subscription_is_reported_by_its_filter() {
        let mut c = Tab::new(identity("alice"), &[]).unwrap();
        c.transport_open(0);
        let ack = ConnAck {
            session_present: false,
            code: ConnectReturnCode::Accepted,
        };
        c.receive(&bytes(Packet::ConnAck(ack)), 1, 1);
        c.receive(&suback(1, vec![Some(QoS::AtMostOnce); 2]), 2, 2);
        let granted = vec![
            Some(QoS::AtLeastOnce),
            Some(QoS::AtMostOnce),
            None,
            Some(QoS::AtLeastOnce),
        ];
        c.receive(&suback(2, granted), 3, 3);
        let ev = events(&mut c);
        assert_eq!(
            ev[0],
            ChatEvent::SubscriptionRefused("chat/users/alice/dm/+".into())
        );
        assert_eq!(ev.last(), Some(&ChatEvent::Connected));
    }

    /// A hidden tab under Chrome's intensive throttling: its timer fires only on whole minutes, at least
    /// a minute after it was set. The broker must never see it silent for 1.5 × keep-alive.
    #[test]
    fn a_throttled_background_tab_keeps_its_connection() {
        let mut c = online("alice");
        let limit = u64::from(KEEP_ALIVE_SECS) * 1500;
        let mut last_packet = 3; // the SUBACK exchange
        let mut now = 3;
        let mut pings = 0;
        for _ in 0..100 {
            let due = c.deadline().expect("a ping is always scheduled");
            let fires = (due.max(now + 60_000)).div_ceil(60_000) * 60_000;
            now = fires;
            c.tick(now, now as i64);
            if let Some(out) = c.transmit() {
                assert!(
                    now - last_packet <= limit,
                    "silent for {} ms",
                    now - last_packet
                );
                assert_eq!(out, [0xC0, 0], "a PINGREQ");
                last_packet = now;
                pings += 1;
                c.receive(&bytes(Packet::PingResp), now + 20, now as i64 + 20);
            }
            assert!(c.is_online());
        }
        assert!(now >= 90 * 60_000, "simulated only {} min", now / 60_000);
        assert!(pings >= 45, "{pings} pings in {} min", now / 60_000);
    }

    #[test]
    fn a_protocol_violation_closes_with_words() {
        let mut c = online("alice");
        c.receive(&[0x36, 3, 0, 1, b't'], 2, 2);
        let ended = Ended::Session(mqtt::CloseReason::Protocol(mqtt::ProtocolError::Decode(
            mqtt::DecodeError::InvalidQos,
        )));
        assert_eq!(events(&mut c), [ChatEvent::Closed(ended.clone())]);
        assert_eq!(
            ended.to_string(),
            "protocol error: QoS 3 is not a valid quality of service"
        );
        assert!(ended.retry(), "another connection may go better");
        assert!(!Ended::NameInUse("alice".into()).retry());
    }

    #[test]
    fn bad_names_are_refused() {
        let mut id = identity("x");
        id.name = "a/b".into();
        assert_eq!(Tab::new(id, &[]).unwrap_err(), NameError::Forbidden('/'));
    }
}
