//! `mqtt-chat-history migrate`: moves a broker's retained room histories from the one-level topics of
//! earlier versions (`chat/rooms/{room}/history/{sender}`, [`topic::legacy_history`]) to the by-day layout
//! (`chat/rooms/{room}/history/{day}/{sender}`, [`topic::history`]), once. Bytes and time in, bytes out, like
//! [`crate::service::Service`]; [`crate::net::once`] moves them.
//!
//! 1. **Probe.** MQTT 3.1.1 acknowledges a publish the ACL drops, so a PUBACK proves nothing. The migration
//!    subscribes to a one-level and a by-day history topic of a name other than its user's, publishes to
//!    both (not retained), and goes on only if both come back: a user the ACL keeps to their own topics
//!    stops here, before anything is written.
//! 2. **Scan.** Every retained `chat/rooms/+/history/+`, at QoS 0 (retained messages at QoS 0 are not held
//!    back by the broker's in-flight window, so they have all arrived when the SUBACK of the next SUBSCRIBE
//!    does). Only the (room, sender) pairs are kept, not the histories.
//! 3. **Move**, one (room, sender) at a time, so that one sender's histories at most are held: read the
//!    one-level history and the sender's by-day ones in the room (`history/+/{sender}`) the same way; merge
//!    them by id, the newest [`HISTORY_LEN`] kept, oldest first (as the chat merges them); publish that
//!    retained at QoS 1 under the day of the newest; clear every other topic that held one, the one-level one
//!    included; wait for every PUBACK. A history that cannot be read is left, with the sender's others in
//!    that room, and reported.
//! 4. **Scan again**, until a scan finds nothing new: a history moved that is still there means the broker
//!    did not take the writes.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;

use mqtt::{CloseReason, Event, Millis, Options, QoS, Session};
use mqtt_chat::chat::client::{HISTORY_LEN, MAX_PACKET_BYTES, MAX_TEXT_BYTES};
use mqtt_chat::chat::message::{self, Payload};
use mqtt_chat::chat::names;
use mqtt_chat::chat::topic::{self, Route, ROOT};

use crate::net::Conversation;

/// The room of the probe topics (step 1); nothing is retained there.
pub const PROBE_ROOM: &str = "mqtt-chat-migrate";
/// The day of the by-day probe topic.
const PROBE_DAY: &str = "1970-01-01";
/// How long the broker may stay silent while the migration waits for it.
pub const STALL_MS: Millis = 30_000;

/// A room and a sender.
type Key = (String, String);

/// What the migration did, or has done so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Rooms where a history was moved.
    pub rooms: usize,
    /// One-level histories moved (merged with the sender's by-day ones, if any).
    pub moved: usize,
    /// Messages in the histories written.
    pub messages: usize,
    /// One-level histories that held no message, cleared.
    pub emptied: usize,
    /// One-level histories left in place because one of the sender's histories in the room is unreadable.
    pub unreadable: usize,
    /// One-level histories left in place because the room or the sender is not a chat name.
    pub skipped: usize,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} rooms, {} histories moved ({} messages), {} empty ones cleared, {} unreadable left in place, \
             {} skipped (not chat names)",
            self.rooms, self.moved, self.messages, self.emptied, self.unreadable, self.skipped
        )
    }
}

/// What became of a one-level history found by a scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Moved, or cleared when empty: a later scan must not find it.
    Moved,
    /// Unreadable, or not under chat names: reported once, left in place.
    Left,
    /// Gone by the time it was read (its sender's tab moved it).
    Gone,
}

/// One sender's histories in one room, as read.
#[derive(Debug, Default)]
struct Read {
    /// The one-level history is still there.
    legacy: bool,
    /// What was read, merged ([`merge`]).
    list: Vec<Payload>,
    /// Every topic that holds one of the sender's histories in the room.
    holders: BTreeSet<String>,
    /// Those that are not a history, and why.
    unreadable: Vec<String>,
}

#[derive(Debug)]
enum Step {
    Connecting,
    /// The probe topics are being subscribed to.
    Probing {
        subscribe: u16,
    },
    /// The probes are published: their PUBACKs.
    Probed {
        acks: BTreeSet<u16>,
    },
    /// Reading every one-level history until the barrier's SUBACK.
    Scanning {
        barrier: u16,
        found: BTreeSet<Key>,
    },
    /// Reading one sender's histories in one room until the barrier's SUBACK.
    Reading {
        key: Key,
        barrier: u16,
        read: Read,
    },
    /// Their merged history written and the other topics cleared: the PUBACKs.
    Writing {
        acks: BTreeSet<u16>,
    },
    Finished,
}

impl Step {
    fn doing(&self) -> &'static str {
        match self {
            Self::Connecting => "connecting",
            Self::Probing { .. } | Self::Probed { .. } => "checking what the ACL allows",
            Self::Scanning { .. } => "reading the one-level histories",
            Self::Reading { .. } => "reading a sender's histories",
            Self::Writing { .. } => "waiting for the PUBACKs of a history written",
            Self::Finished => "finished",
        }
    }
}

pub struct Migration {
    session: Session,
    user: String,
    step: Step,
    /// The one-level and the by-day probe topics, and whether each came back.
    probes: [String; 2],
    heard: [bool; 2],
    /// The histories of the last scan still to move.
    todo: VecDeque<Key>,
    /// Every history a scan found, and what became of it.
    done: BTreeMap<Key, Outcome>,
    rooms: BTreeSet<String>,
    summary: Summary,
    failure: Option<String>,
    closed: Option<CloseReason>,
    /// When the broker was last heard from (or the connection opened).
    heard_at: Millis,
}

impl Migration {
    pub fn new(user: &str, password: Option<Vec<u8>>) -> Migration {
        let mut options = Options::new(format!("mqtt-chat-migrate-{}", std::process::id()));
        options.keep_alive = mqtt_chat::chat::client::KEEP_ALIVE_SECS;
        options.username = Some(user.to_owned());
        options.password = password;
        options.max_packet_size = MAX_PACKET_BYTES;
        // A name that is not the user's: the ACL's `%u` patterns do not let a chat user write there.
        let other = format!("{user}-probe");
        Migration {
            session: Session::new(options),
            user: user.to_owned(),
            step: Step::Connecting,
            probes: [
                topic::legacy_history(PROBE_ROOM, &other),
                topic::history(PROBE_ROOM, PROBE_DAY, &other),
            ],
            heard: [false; 2],
            todo: VecDeque::new(),
            done: BTreeMap::new(),
            rooms: BTreeSet::new(),
            summary: Summary::default(),
            failure: None,
            closed: None,
            heard_at: 0,
        }
    }

    /// What was done so far.
    pub fn summary(&self) -> Summary {
        Summary {
            rooms: self.rooms.len(),
            ..self.summary.clone()
        }
    }

    /// Once the connection is over (`ended`: how, as [`crate::net::once`] says): `Ok` if everything was
    /// moved, else why not.
    pub fn outcome(&self, ended: &str) -> Result<(), String> {
        match (&self.step, &self.failure) {
            (_, Some(failure)) => Err(failure.clone()),
            (Step::Finished, None) => Ok(()),
            (step, None) => Err(format!(
                "the connection ended while {}: {ended}",
                step.doing()
            )),
        }
    }

    fn handle_events(&mut self, now: Millis) {
        while let Some(event) = self.session.poll_event() {
            self.heard_at = now;
            let over = matches!(self.step, Step::Finished) || self.failure.is_some();
            let handled = match event {
                Event::Closed(reason) => {
                    // A transport lost: the I/O layer says how ([`Self::outcome`]).
                    if !over && reason != CloseReason::TransportClosed {
                        self.failure = Some(reason.to_string());
                    }
                    self.closed = Some(reason);
                    Ok(())
                }
                _ if over => Ok(()),
                Event::Connected { .. } => self.on_connected(now),
                Event::Message(m) => {
                    self.on_message(&m.topic, Some(&m.payload), m.retain);
                    Ok(())
                }
                Event::Oversized(o) => {
                    self.on_message(&o.topic, None, o.retain);
                    Ok(())
                }
                Event::Subscribed { pid, granted } => {
                    if granted.iter().any(Option::is_none) {
                        Err(self.not_allowed("it refused a subscription"))
                    } else {
                        self.on_subscribed(pid.get(), now)
                    }
                }
                Event::Delivered(pid) => self.on_delivered(pid.get(), now),
                Event::Unsubscribed(_) => Ok(()),
            };
            if let Err(failure) = handled {
                self.failure = Some(failure);
                self.session.disconnect(now);
            }
        }
    }

    fn on_connected(&mut self, now: Millis) -> Result<(), String> {
        let [one_level, by_day] = &self.probes;
        let filters = [
            (one_level.as_str(), QoS::AtMostOnce),
            (by_day.as_str(), QoS::AtMostOnce),
        ];
        let pid = self
            .session
            .subscribe(&filters, now)
            .map_err(|e| e.to_string())?;
        self.step = Step::Probing {
            subscribe: pid.get(),
        };
        Ok(())
    }

    fn on_subscribed(&mut self, pid: u16, now: Millis) -> Result<(), String> {
        match &mut self.step {
            Step::Probing { subscribe } if *subscribe == pid => {
                let mut acks = BTreeSet::new();
                for probe in &self.probes {
                    let sent = self
                        .session
                        .publish(probe, b"", QoS::AtLeastOnce, false, now);
                    acks.extend(sent.map_err(|e| e.to_string())?.map(|p| p.get()));
                }
                self.step = Step::Probed { acks };
                Ok(())
            }
            Step::Scanning { barrier, found } if *barrier == pid => {
                if self.heard != [true; 2] {
                    let [one_level, by_day] = &self.probes;
                    let how =
                        format!("a test message to {one_level} or {by_day} did not come back");
                    return Err(self.not_allowed(&how));
                }
                let found = std::mem::take(found);
                self.session
                    .unsubscribe(&[&legacy_filter()], now)
                    .map_err(|e| e.to_string())?;
                for key in found {
                    match self.done.get(&key) {
                        None => self.todo.push_back(key),
                        Some(Outcome::Moved) => {
                            return Err(format!(
                                "{} is still there after it was moved and cleared: the broker did not take \
                                 the writes",
                                topic::legacy_history(&key.0, &key.1)
                            ))
                        }
                        Some(Outcome::Left | Outcome::Gone) => {}
                    }
                }
                if self.todo.is_empty() {
                    self.step = Step::Finished;
                    self.session.disconnect(now);
                    return Ok(());
                }
                self.next(now)
            }
            Step::Reading { key, barrier, read } if *barrier == pid => {
                let (room, sender) = key;
                let legacy = topic::legacy_history(room, sender);
                let by_day = topic::own_history_filter(room, sender);
                self.session
                    .unsubscribe(&[&legacy, &by_day], now)
                    .map_err(|e| e.to_string())?;
                let (key, read) = (std::mem::take(key), std::mem::take(read));
                self.write(key, read, now)
            }
            _ => Ok(()),
        }
    }

    fn on_delivered(&mut self, pid: u16, now: Millis) -> Result<(), String> {
        match &mut self.step {
            Step::Probed { acks } => {
                acks.remove(&pid);
                if acks.is_empty() {
                    self.scan(now)?;
                }
                Ok(())
            }
            Step::Writing { acks } => {
                acks.remove(&pid);
                if acks.is_empty() {
                    self.next(now)?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn not_allowed(&self, how: &str) -> String {
        format!(
            "the broker does not let {} write and read other people's histories ({how}): run it as a user \
             the ACL lets read and write every chat topic, such as {}",
            self.user,
            crate::args::DEFAULT_MIGRATE_USER
        )
    }

    /// The probe topics hold nothing retained, so subscribing to one again is a barrier that brings nothing.
    fn barrier(&mut self, now: Millis) -> Result<u16, String> {
        let filter = [(self.probes[0].as_str(), QoS::AtMostOnce)];
        let pid = self
            .session
            .subscribe(&filter, now)
            .map_err(|e| e.to_string())?;
        Ok(pid.get())
    }

    fn scan(&mut self, now: Millis) -> Result<(), String> {
        self.session
            .subscribe(&[(&legacy_filter(), QoS::AtMostOnce)], now)
            .map_err(|e| e.to_string())?;
        let barrier = self.barrier(now)?;
        self.step = Step::Scanning {
            barrier,
            found: BTreeSet::new(),
        };
        Ok(())
    }

    /// Reads the next history to move; scans again when there is none.
    fn next(&mut self, now: Millis) -> Result<(), String> {
        let Some(key) = self.todo.pop_front() else {
            return self.scan(now);
        };
        let (room, sender) = &key;
        let legacy = topic::legacy_history(room, sender);
        let by_day = topic::own_history_filter(room, sender);
        let filters = [
            (legacy.as_str(), QoS::AtMostOnce),
            (by_day.as_str(), QoS::AtMostOnce),
        ];
        self.session
            .subscribe(&filters, now)
            .map_err(|e| e.to_string())?;
        let barrier = self.barrier(now)?;
        self.step = Step::Reading {
            key,
            barrier,
            read: Read::default(),
        };
        Ok(())
    }

    /// A message, or `None` for the payload of one over the size limit.
    fn on_message(&mut self, name: &str, payload: Option<&[u8]>, retain: bool) {
        if let Some(i) = self.probes.iter().position(|p| p == name) {
            // Something retained there is not the probe.
            if !retain {
                if let Some(heard) = self.heard.get_mut(i) {
                    *heard = true;
                }
            }
            return;
        }
        // An empty payload clears a retained message: a live one says nothing is there any more.
        if payload.is_some_and(<[u8]>::is_empty) {
            return;
        }
        let Some(Route::History { room, day, sender }) = topic::route(name) else {
            return;
        };
        match &mut self.step {
            Step::Scanning { found, .. } if day.is_none() => {
                let key = (room.to_owned(), sender.to_owned());
                if is_chat_name(room) && is_chat_name(sender) {
                    found.insert(key);
                } else if !self.done.contains_key(&key) {
                    say(&format!(
                        "skipped {name}: {room:?} or {sender:?} is not a chat name"
                    ));
                    self.summary.skipped += 1;
                    self.done.insert(key, Outcome::Left);
                }
            }
            Step::Reading { key, read, .. } if key.0 == room && key.1 == sender => {
                read.holders.insert(name.to_owned());
                read.legacy |= day.is_none();
                match payload.map(message::parse_history) {
                    Some(Some(history)) => merge(&mut read.list, history.messages),
                    Some(None) => read
                        .unreadable
                        .push(format!("{name} is not a JSON array of messages")),
                    None => read
                        .unreadable
                        .push(format!("{name} is over the size limit")),
                }
            }
            _ => {}
        }
    }

    /// Writes what was read of one sender's histories in a room.
    fn write(&mut self, key: Key, read: Read, now: Millis) -> Result<(), String> {
        let (room, sender) = &key;
        let legacy = topic::legacy_history(room, sender);
        if !read.legacy {
            say(&format!("{legacy} is gone (its sender's tab moved it)"));
            self.done.insert(key, Outcome::Gone);
            return self.next(now);
        }
        if !read.unreadable.is_empty() {
            for why in &read.unreadable {
                say(&format!(
                    "unreadable: {why}; {sender}'s histories in {room} are left as they are"
                ));
            }
            self.summary.unreadable += 1;
            self.done.insert(key, Outcome::Left);
            return self.next(now);
        }
        let target = read
            .list
            .last()
            .map(|newest| topic::history(room, &topic::day(newest.sent_at), sender));
        let mut acks = BTreeSet::new();
        if let Some(target) = &target {
            let json = message::to_json(&read.list);
            let sent = self
                .session
                .publish(target, &json, QoS::AtLeastOnce, true, now);
            acks.extend(sent.map_err(|e| e.to_string())?.map(|p| p.get()));
        }
        for holder in read.holders.iter().filter(|h| Some(*h) != target.as_ref()) {
            let sent = self
                .session
                .publish(holder, b"", QoS::AtLeastOnce, true, now);
            acks.extend(sent.map_err(|e| e.to_string())?.map(|p| p.get()));
        }
        match &target {
            Some(target) => {
                let merged = read.holders.len().saturating_sub(1);
                say(&format!(
                    "moved {legacy} to {target}: {} messages{}",
                    read.list.len(),
                    match merged {
                        0 => String::new(),
                        1 => ", merged with the by-day history there was".to_owned(),
                        n => format!(", merged with the {n} by-day histories there were"),
                    }
                ));
                self.summary.moved += 1;
                self.summary.messages += read.list.len();
                self.rooms.insert(room.clone());
            }
            None => {
                say(&format!("cleared {legacy}: it held no message"));
                self.summary.emptied += 1;
            }
        }
        self.done.insert(key, Outcome::Moved);
        self.step = Step::Writing { acks };
        Ok(())
    }
}

impl Conversation for Migration {
    type Trouble = String;

    fn connect(&mut self, now: Millis) -> Result<(), String> {
        self.closed = None;
        self.heard_at = now;
        self.session.connect(now).map_err(|e| e.to_string())
    }

    fn is_connected(&self) -> bool {
        self.session.is_connected()
    }

    fn handle_bytes(&mut self, bytes: &[u8], now: Millis) -> Result<(), String> {
        // Part of a large history is news too.
        self.heard_at = now;
        let read = self.session.handle_bytes(bytes, now);
        self.handle_events(now);
        read.map_err(|e| format!("the broker broke the protocol: {e}"))
    }

    fn handle_timeout(&mut self, now: Millis) -> Result<(), String> {
        self.session.handle_timeout(now);
        self.handle_events(now);
        let over = matches!(self.step, Step::Finished) || self.failure.is_some();
        if !over && now >= self.heard_at.saturating_add(STALL_MS) {
            self.failure = Some(format!(
                "the broker said nothing for {} s while {}",
                STALL_MS / 1000,
                self.step.doing()
            ));
            self.session.disconnect(now);
            self.handle_events(now);
        }
        Ok(())
    }

    fn poll_timeout(&self) -> Option<Millis> {
        let stall = self.heard_at.saturating_add(STALL_MS);
        let session = self.session.poll_timeout();
        match self.step {
            Step::Finished => session,
            _ => Some(session.map_or(stall, |s| s.min(stall))),
        }
    }

    fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.session.poll_transmit()
    }

    fn take_closed(&mut self) -> Option<CloseReason> {
        self.closed.take()
    }

    fn transport_closed(&mut self) {
        self.session.transport_closed();
        self.handle_events(self.heard_at);
    }
}

/// Every one-level history.
fn legacy_filter() -> String {
    format!("{ROOT}/rooms/+/history/+")
}

/// A room or a user name exactly as the chat writes it: [`names::validate`] accepts it unchanged.
fn is_chat_name(name: &str) -> bool {
    names::validate(name).is_ok_and(|v| v == name)
}

/// Adds `new` to `list` as the chat merges histories: each id once (the first copy read is kept), oldest
/// first (equal times keep the order read), the newest [`HISTORY_LEN`] kept. Each message is inserted into a
/// list of at most [`HISTORY_LEN`], so a long history costs its length times that, and no more memory. A text
/// over [`MAX_TEXT_BYTES`] (not written by the chat, which cuts it when it reads it anyway) is cut, so that
/// what is written stays within the broker's size limit.
fn merge(list: &mut Vec<Payload>, new: Vec<Payload>) {
    for mut p in new {
        if list.iter().any(|q| q.id == p.id) {
            continue;
        }
        if p.text.len() > MAX_TEXT_BYTES {
            let mut end = MAX_TEXT_BYTES;
            while !p.text.is_char_boundary(end) {
                end -= 1;
            }
            p.text.truncate(end);
        }
        let at = list.partition_point(|q| q.sent_at <= p.sent_at);
        list.insert(at, p);
        if list.len() > HISTORY_LEN {
            list.remove(0);
        }
    }
}

/// What was moved, or left, one line each.
fn say(line: &str) {
    println!("{line}");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(id: &str, sent_at: i64) -> Payload {
        Payload {
            id: id.into(),
            text: format!("text of {id}"),
            sent_at,
            ..Payload::default()
        }
    }

    fn ids(list: &[Payload]) -> Vec<&str> {
        list.iter().map(|p| p.id.as_str()).collect()
    }

    #[test]
    fn merging_keeps_each_id_once_oldest_first() {
        let mut list = Vec::new();
        merge(&mut list, vec![msg("b", 20), msg("a", 10), msg("c", 30)]);
        merge(&mut list, vec![msg("c", 30), msg("d", 25), msg("a", 10)]);
        assert_eq!(ids(&list), ["a", "b", "d", "c"]);
    }

    #[test]
    fn merging_keeps_the_newest_fifty() {
        let mut list = Vec::new();
        let old: Vec<Payload> = (0..40).map(|i| msg(&format!("old{i}"), i * 2)).collect();
        let new: Vec<Payload> = (0..40)
            .map(|i| msg(&format!("new{i}"), i * 2 + 1))
            .collect();
        merge(&mut list, old);
        merge(&mut list, new);
        assert_eq!(list.len(), HISTORY_LEN);
        assert_eq!(list.first().map(|p| p.sent_at), Some(30));
        assert_eq!(list.last().map(|p| p.sent_at), Some(79));
        assert!(list.windows(2).all(|w| w[0].sent_at <= w[1].sent_at));
    }

    #[test]
    fn equal_times_keep_the_order_read() {
        let mut list = Vec::new();
        merge(&mut list, vec![msg("x", 5), msg("y", 5)]);
        merge(&mut list, vec![msg("z", 5)]);
        assert_eq!(ids(&list), ["x", "y", "z"]);
    }

    #[test]
    fn a_text_over_the_limit_is_cut_at_a_character_boundary() {
        let mut list = Vec::new();
        let mut long = msg("l", 1);
        long.text = "é".repeat(MAX_TEXT_BYTES);
        merge(&mut list, vec![long]);
        let text = &list[0].text;
        assert!(text.len() <= MAX_TEXT_BYTES && text.len() > MAX_TEXT_BYTES - 2);
        assert!(text.chars().all(|c| c == 'é'));
    }

    #[test]
    fn the_probes_are_not_the_users_own_topics() {
        let m = Migration::new("eve", None);
        assert_eq!(
            m.probes[0],
            "chat/rooms/mqtt-chat-migrate/history/eve-probe"
        );
        assert_eq!(
            m.probes[1],
            "chat/rooms/mqtt-chat-migrate/history/1970-01-01/eve-probe"
        );
    }

    #[test]
    fn a_silent_broker_fails_the_migration_after_the_stall_time() {
        let mut m = Migration::new("mqtt-chat-bridge", None);
        m.connect(0).unwrap();
        assert!(m.poll_timeout().is_some_and(|t| t <= STALL_MS));
        m.handle_timeout(STALL_MS).unwrap();
        let failure = m.outcome("").unwrap_err();
        assert!(
            failure.contains("CONNACK") || failure.contains("said nothing"),
            "{failure}"
        );
    }
}
