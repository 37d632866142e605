//! What the chat shows: conversations with their timelines and unread counts, who is online where, who is
//! typing. Plain state changed by [`ChatEvent`]s and user actions, so the UI only renders it.

use std::collections::VecDeque;
use std::sync::Arc;

use super::client::{ChatEvent, ChatMessage, Content};
use super::conversation::{Conversation, Timeline};
use super::message::Change;
use super::message::Presence;
use super::names::{self, Suspicion};
use super::sorted::SortedMap;

/// How long "is typing" lasts after the last notice (ms).
pub const TYPING_TTL_MS: i64 = 5_000;
/// The most tabs of one person that are kept: presences under further client ids are ignored, so that one
/// user retaining thousands of presences cannot slow every reader down.
pub const MAX_TABS_PER_USER: usize = 20;
/// The most people kept online; presences of further people are ignored and [`Model::people_capped`] says so.
pub const MAX_PEOPLE: usize = 1_000;
/// The most names kept for telling look-alikes apart; further names are not compared.
pub const MAX_NAMES_SEEN: usize = 5_000;
/// The most changes kept waiting for the message they change (a reaction that arrived before it, from a history
/// read in another order): older ones are forgotten.
pub const MAX_PENDING: usize = 1_000;
/// How many changes [`Model::notes_since`] can tell of.
pub const MAX_NOTES: usize = 200;

/// A change waiting for its message: who made it, what, when.
type Waiting = (String, Change, i64);

/// A live change to a message in view, as a reader that prints each message once (the terminal's line mode)
/// tells it: numbered like the messages.
#[derive(Debug, Clone, PartialEq)]
pub struct Note {
    pub seq: u64,
    /// Who made the change.
    pub by: String,
    /// The message as it is now (as it was, for a deletion).
    pub message: ChatMessage,
    pub change: Change,
}

/// Whether `text` mentions `name`: `@name` not followed by more of a name.
pub fn mentions(text: &str, name: &str) -> bool {
    let mut rest = text;
    while let Some(at) = rest.find('@') {
        let after = rest.get(at + 1..).unwrap_or_default();
        let before_ok = rest
            .get(..at)
            .and_then(|b| b.chars().next_back())
            .is_none_or(|c| !c.is_alphanumeric() && c != '_');
        if before_ok && after.starts_with(name) {
            let next = after.get(name.len()..).and_then(|t| t.chars().next());
            if next.is_none_or(|c| !(c.is_alphanumeric() || matches!(c, '_' | '-'))) {
                return true;
            }
        }
        rest = after;
    }
    false
}

/// A message in a conversation: shared (a view holds the same one, not a copy) and numbered in the order
/// the model got it. The number is unique within the model, so with the delivery state it keys a rendered line.
/// The timelines are the one record of which messages were shown: a message that comes again (a redelivery,
/// a history, an own message coming back) is the same `(sender, id)` and is not added twice.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub seq: u64,
    /// How often the message changed since it was added (an edit, a reaction): with `seq`, it keys a drawn line.
    pub rev: u32,
    pub message: ChatMessage,
}

impl super::conversation::Entry for Item {
    fn sent_at(&self) -> i64 {
        self.message.sent_at
    }

    fn key(&self) -> (&str, &str) {
        (&self.message.sender, &self.message.id)
    }
}

impl std::ops::Deref for Item {
    type Target = ChatMessage;

    fn deref(&self) -> &ChatMessage {
        &self.message
    }
}

#[derive(Debug, Default)]
pub struct Conv {
    pub timeline: Timeline<Arc<Item>>,
    pub unread: usize,
    /// The read position: the time of the newest message read (Unix ms).
    pub read_at: i64,
    /// Unread messages that mention the reader.
    pub mentions: usize,
    /// The read position when the conversation was last opened with unread messages: where "New" goes.
    pub new_since: Option<i64>,
}

#[derive(Debug)]
pub struct Model {
    /// The reader: own messages are not unread and not announced.
    me: String,
    /// The conversation on screen.
    current: Conversation,
    /// The conversations open: the rooms this tab is in (the one list of them: the client subscribes to these,
    /// its presence names them, storage keeps them) and the direct conversations.
    convs: SortedMap<Conversation, Conv>,
    /// user -> client id -> presence of that tab.
    presence: SortedMap<String, SortedMap<String, Presence>>,
    /// (room, user) -> when the typing notice expires (Unix ms).
    typing: SortedMap<(String, String), i64>,
    /// The number the next message gets.
    next_seq: u64,
    /// People this reader muted, with their messages kept out of view (in arrival order) until unmuted.
    muted: SortedMap<String, Vec<Arc<Item>>>,
    /// Every name seen (senders and people online), by [`names::skeleton`]: the names that look alike.
    lookalikes: SortedMap<String, Vec<String>>,
    /// How many names `lookalikes` holds: what a name's mark depends on ([`Model::names_seen`]).
    names_seen: u32,
    /// A presence was ignored because [`MAX_PEOPLE`] people are online already.
    people_capped: bool,
    /// The name [`Model::saw`] last recorded.
    last_seen: String,
    /// Messages added to a timeline since [`Model::take_added`] was last asked, and conversations whose
    /// unread count or read position changed: what the on-device cache must learn.
    added: Vec<Arc<Item>>,
    touched: Vec<Conversation>,
    /// Messages deleted since [`Model::take_removed`] was last asked: what the on-device cache must forget.
    removed: Vec<Arc<Item>>,
    /// Changes whose message is not here (yet), by (conversation, sender, id) of that message: who made each,
    /// what, when. At most [`MAX_PENDING`] in all.
    pending: SortedMap<(Conversation, String, String), Vec<Waiting>>,
    pending_len: usize,
    notes: VecDeque<Note>,
}

impl Model {
    pub fn new(me: &str, rooms: &[String], current: Conversation) -> Self {
        let mut model = Self {
            me: me.to_owned(),
            current: current.clone(),
            convs: SortedMap::default(),
            presence: SortedMap::default(),
            typing: SortedMap::default(),
            next_seq: 0,
            muted: SortedMap::default(),
            lookalikes: SortedMap::default(),
            names_seen: 0,
            people_capped: false,
            last_seen: String::new(),
            added: Vec::new(),
            touched: Vec::new(),
            removed: Vec::new(),
            pending: SortedMap::default(),
            pending_len: 0,
            notes: VecDeque::new(),
        };
        for room in rooms {
            model.convs.get_or_default(Conversation::Room(room.clone()));
        }
        model.convs.get_or_default(current);
        model
    }

    pub fn current(&self) -> &Conversation {
        &self.current
    }

    /// Applies an event; returns the message to notify about: a live one from someone else.
    pub fn apply(&mut self, event: &ChatEvent, wall: i64) -> Option<ChatMessage> {
        match event {
            ChatEvent::Message(m) => {
                // Rooms this tab left are not revived by a late message; a direct message opens its conversation.
                if m.conversation.room().is_some() && !self.convs.contains_key(&m.conversation) {
                    return None;
                }
                if let Some(room) = m.conversation.room() {
                    self.typing.remove(&(room.to_owned(), m.sender.clone()));
                }
                self.saw(&m.sender);
                if let Some(hidden) = self.muted.get_mut(&m.sender) {
                    hidden.push(Arc::new(Item {
                        seq: self.next_seq,
                        rev: 0,
                        message: m.clone(),
                    }));
                    self.next_seq += 1;
                    return None;
                }
                let notify = m.live && m.sender != self.me;
                let current = m.conversation == self.current;
                if self.insert(m.clone()) && notify {
                    let mentioned = self.mentioned(m);
                    let conv = self.convs.get_mut(&m.conversation)?;
                    if current {
                        conv.read_at = conv.read_at.max(m.sent_at);
                    } else {
                        conv.unread += 1;
                        conv.mentions += usize::from(mentioned);
                    }
                    self.touch(&m.conversation);
                    return Some(m.clone());
                }
            }
            ChatEvent::Presence {
                user,
                client_id,
                presence,
            } => {
                let Some(p) = presence else {
                    if let Some(tabs) = self.presence.get_mut(user) {
                        tabs.remove(client_id);
                        if tabs.is_empty() {
                            self.presence.remove(user);
                        }
                    }
                    return None;
                };
                let fits = match self.presence.get(user) {
                    Some(tabs) => tabs.contains_key(client_id) || tabs.len() < MAX_TABS_PER_USER,
                    None => self.presence.len() < MAX_PEOPLE,
                };
                if !fits {
                    self.people_capped |= !self.presence.contains_key(user);
                    return None;
                }
                self.saw(user);
                self.presence
                    .get_or_default(user.clone())
                    .insert(client_id.clone(), p.clone());
            }
            ChatEvent::Typing { room, user, typing } => {
                if self.muted.contains_key(user) {
                    return None;
                }
                let key = (room.clone(), user.clone());
                if *typing {
                    self.typing.insert(key, wall + TYPING_TTL_MS);
                } else {
                    self.typing.remove(&key);
                }
            }
            ChatEvent::Change {
                conversation,
                sender,
                change,
                at,
                live,
            } => self.change(conversation, sender, change, *at, *live),
            ChatEvent::Connected
            | ChatEvent::Delivered(_)
            | ChatEvent::SubscriptionRefused(_)
            | ChatEvent::TooLarge { .. }
            | ChatEvent::Failed(_)
            | ChatEvent::Earlier { .. }
            | ChatEvent::HistoryService(_)
            | ChatEvent::HistoryIncomplete { .. }
            | ChatEvent::Closed(_) => {}
        }
        None
    }

    /// Adds an own message just sent.
    pub fn add_own(&mut self, m: ChatMessage) {
        self.insert(m);
    }

    /// Adds a message to its conversation (creating it); false if it was there already (a copy with a later
    /// edit changes its text) or was deleted. Changes that waited for it apply.
    fn insert(&mut self, message: ChatMessage) -> bool {
        let key = (
            message.conversation.clone(),
            message.sender.clone(),
            message.id.clone(),
        );
        let edit = message.edited.zip(match &message.content {
            Content::Text(text) => Some(text.clone()),
            _ => None,
        });
        let item = Item {
            seq: self.next_seq,
            rev: 0,
            message,
        };
        let conv = self.convs.get_or_default(item.conversation.clone());
        let item = Arc::new(item);
        let added = conv.timeline.insert(Arc::clone(&item)).is_some();
        self.next_seq += u64::from(added);
        if added {
            self.added.push(item);
            for (by, change, at) in self.pending.remove(&key).unwrap_or_default() {
                self.pending_len -= 1;
                self.change(&key.0, &by, &change, at, false);
            }
        } else if let Some((at, text)) = edit {
            let change = Change::Edit { id: key.2, text };
            self.change(&key.0, &key.1, &change, at, false);
        }
        added
    }

    /// Applies a change `by` someone at `at`; one whose message is not here waits for it (a deletion too: the
    /// message must not show when it comes). Edits and deletions are of `by`'s own messages only (the client
    /// lets no other through); of two edits the later wins, and a deletion is for good.
    fn change(
        &mut self,
        conversation: &Conversation,
        by: &str,
        change: &Change,
        at: i64,
        live: bool,
    ) {
        let (sender, id) = match change {
            Change::Edit { id, .. } | Change::Delete { id } => (by, id.as_str()),
            Change::React { to, .. } => (to.sender.as_str(), to.id.as_str()),
        };
        if conversation.room().is_some() && !self.convs.contains_key(conversation) {
            return;
        }
        let conv = self.convs.get_or_default(conversation.clone());
        let Some(at_pos) = conv.timeline.position(sender, id) else {
            if conv.timeline.contains(sender, id) {
                // Deleted: nothing changes it any more.
                return;
            }
            if self.pending_len >= MAX_PENDING {
                return;
            }
            self.pending
                .get_or_default((conversation.clone(), sender.to_owned(), id.to_owned()))
                .push((by.to_owned(), change.clone(), at));
            self.pending_len += 1;
            return;
        };
        let Some(old) = conv.timeline.entries().get(at_pos).cloned() else {
            return;
        };
        let mut message = old.message.clone();
        match change {
            Change::Delete { .. } => {
                if let Some(gone) = conv.timeline.remove(at_pos) {
                    self.removed.push(gone);
                }
                self.added.retain(|a| !Arc::ptr_eq(a, &old));
                if live {
                    self.note(by, message, change);
                }
                return;
            }
            Change::Edit { text, .. } => {
                if message.edited.is_some_and(|e| e >= at) || message.sent_at > at {
                    return;
                }
                message.content = Content::Text(text.clone());
                message.edited = Some(at);
            }
            Change::React { emoji, on, .. } => {
                if !message.react(by, emoji, *on, at) {
                    return;
                }
            }
        }
        let item = Arc::new(Item {
            seq: old.seq,
            rev: old.rev.wrapping_add(1),
            message: message.clone(),
        });
        conv.timeline.replace(at_pos, Arc::clone(&item));
        self.added.retain(|a| !Arc::ptr_eq(a, &old));
        self.added.push(item);
        if live {
            self.note(by, message, change);
        }
    }

    fn note(&mut self, by: &str, message: ChatMessage, change: &Change) {
        if self.muted.contains_key(by) {
            return;
        }
        self.notes.push_back(Note {
            seq: self.next_seq,
            by: by.to_owned(),
            message,
            change: change.clone(),
        });
        self.next_seq += 1;
        if self.notes.len() > MAX_NOTES {
            self.notes.pop_front();
        }
    }

    /// The live changes numbered `seq` or later (see [`Model::added_since`]), in the order they were made.
    pub fn notes_since(&self, seq: u64) -> Vec<Note> {
        self.notes
            .iter()
            .filter(|n| n.seq >= seq)
            .cloned()
            .collect()
    }

    /// Whether `m` is from someone else and mentions this reader.
    fn mentioned(&self, m: &ChatMessage) -> bool {
        m.sender != self.me && matches!(&m.content, Content::Text(text) if mentions(text, &self.me))
    }

    /// The reader's name.
    pub fn me(&self) -> &str {
        &self.me
    }

    /// The message `(sender, id)` of `conv`, if it is here.
    pub fn find(&self, conv: &Conversation, sender: &str, id: &str) -> Option<&Arc<Item>> {
        let timeline = &self.convs.get(conv)?.timeline;
        timeline.entries().get(timeline.position(sender, id)?)
    }

    /// The reader's newest message in `conv` that can be edited (text).
    pub fn last_own(&self, conv: &Conversation) -> Option<&Arc<Item>> {
        self.messages(conv)
            .iter()
            .rev()
            .find(|m| m.sender == self.me && matches!(m.content, Content::Text(_)))
    }

    /// Unread messages of `conv` that mention the reader.
    pub fn mentions_in(&self, conv: &Conversation) -> usize {
        self.convs.get(conv).map_or(0, |c| c.mentions)
    }

    /// Where the "New" divider of `conv` goes: the read position when it was opened with unread messages.
    pub fn new_since(&self, conv: &Conversation) -> Option<i64> {
        self.convs.get(conv).and_then(|c| c.new_since)
    }

    /// The messages deleted since the last call: what the on-device cache must forget.
    pub fn take_removed(&mut self) -> Vec<Arc<Item>> {
        std::mem::take(&mut self.removed)
    }

    /// Adds a message kept on the device from an earlier page: not live, not unread.
    pub fn add_cached(&mut self, m: ChatMessage) {
        if m.conversation.room().is_some() && !self.convs.contains_key(&m.conversation) {
            return;
        }
        if let Some(hidden) = self.muted.get_mut(&m.sender) {
            hidden.push(Arc::new(Item {
                seq: self.next_seq,
                rev: 0,
                message: m,
            }));
            self.next_seq += 1;
            return;
        }
        self.insert(m);
    }

    /// Restores a conversation's unread count and read position kept on the device (a direct conversation
    /// is opened; a room this tab is not in is not).
    pub fn restore(&mut self, conv: &Conversation, unread: usize, read_at: i64) {
        if conv.room().is_some() && !self.convs.contains_key(conv) {
            return;
        }
        let current = *conv == self.current;
        let c = self.convs.get_or_default(conv.clone());
        c.read_at = c.read_at.max(read_at);
        if !current {
            c.unread = c.unread.max(unread);
        }
    }

    /// The messages added and the conversations whose unread count or read position changed, since the last
    /// call (each conversation once).
    pub fn take_added(&mut self) -> (Vec<Arc<Item>>, Vec<Conversation>) {
        (
            std::mem::take(&mut self.added),
            std::mem::take(&mut self.touched),
        )
    }

    /// Notes that a conversation's unread count or read position changed (once; no sort in the page).
    fn touch(&mut self, conv: &Conversation) {
        if !self.touched.contains(conv) {
            self.touched.push(conv.clone());
        }
    }

    /// A conversation's unread count and read position.
    pub fn read_state(&self, conv: &Conversation) -> Option<(usize, i64)> {
        self.convs.get(conv).map(|c| (c.unread, c.read_at))
    }

    /// Adds a conversation (a room joined) without showing it.
    pub fn add_conversation(&mut self, conv: Conversation) {
        self.convs.get_or_default(conv);
    }

    /// Shows a conversation (creating it) and marks it read.
    pub fn open(&mut self, conv: Conversation) {
        let c = self.convs.get_or_default(conv.clone());
        c.new_since = (c.unread > 0).then_some(c.read_at);
        c.unread = 0;
        c.mentions = 0;
        if let Some(newest) = c.timeline.entries().last() {
            c.read_at = c.read_at.max(newest.sent_at);
        }
        self.touch(&conv);
        self.current = conv;
    }

    /// Removes a conversation; if it was shown, shows the first one left.
    pub fn close(&mut self, conv: &Conversation) {
        self.convs.remove(conv);
        if self.current == *conv {
            let next = self
                .convs
                .keys()
                .next()
                .cloned()
                .unwrap_or_else(|| Conversation::Room(super::DEFAULT_ROOM.to_owned()));
            self.open(next);
        }
    }

    /// Every conversation with its unread count, rooms first, each group by name.
    pub fn conversations(&self) -> Vec<(Conversation, usize)> {
        self.convs
            .iter()
            .map(|(c, s)| (c.clone(), s.unread))
            .collect()
    }

    pub fn rooms(&self) -> Vec<String> {
        self.convs
            .keys()
            .filter_map(|c| c.room().map(str::to_owned))
            .collect()
    }

    pub fn messages(&self, conv: &Conversation) -> &[Arc<Item>] {
        self.convs.get(conv).map_or(&[], |c| c.timeline.entries())
    }

    /// The number the next message added will get: a reader that has shown every message numbered below it
    /// asks [`Model::added_since`] with it next time.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The messages in view numbered `seq` or later — those added since a reader that shows each message once
    /// (the terminal's line mode) last looked — oldest sent first. A message changing state (sent) keeps its
    /// number, so it is not added again; so does a message unmuted, and the messages of muted people are not
    /// in view.
    pub fn added_since(&self, seq: u64) -> Vec<Arc<Item>> {
        if seq >= self.next_seq {
            return Vec::new();
        }
        let mut added: Vec<Arc<Item>> = self
            .convs
            .values()
            .flat_map(|c| c.timeline.entries().iter().filter(|m| m.seq >= seq))
            .cloned()
            .collect();
        added.sort_by_key(|m| (m.sent_at, m.seq));
        added
    }

    pub fn unread_total(&self) -> usize {
        self.convs.values().map(|c| c.unread).sum()
    }

    /// Users with at least one tab open, by name.
    pub fn online(&self) -> Vec<String> {
        self.presence.keys().cloned().collect()
    }

    /// Users with a tab in `room`.
    pub fn online_in(&self, room: &str) -> Vec<String> {
        self.presence
            .iter()
            .filter(|(_, tabs)| tabs.values().any(|p| p.rooms.iter().any(|r| r == room)))
            .map(|(user, _)| user.clone())
            .collect()
    }

    /// Who is typing in `room` at `now` (Unix ms), by name.
    pub fn typing_in(&self, room: &str, now: i64) -> Vec<String> {
        self.typing
            .iter()
            .filter(|((r, _), &until)| r == room && until > now)
            .map(|((_, user), _)| user.clone())
            .collect()
    }

    /// Hides `user`'s messages and typing from view, those shown already and those to come.
    pub fn mute(&mut self, user: &str) {
        if self.muted.contains_key(user) {
            return;
        }
        let mut hidden = Vec::new();
        for conv in self.convs.values_mut() {
            hidden.extend(conv.timeline.take(|m| m.sender == user));
        }
        hidden.sort_by_key(|m| m.seq);
        self.typing.retain(|(_, who), _| who != user);
        self.muted.insert(user.to_owned(), hidden);
    }

    /// Shows `user`'s messages again, those that arrived while muted among them (not as unread).
    pub fn unmute(&mut self, user: &str) {
        for item in self.muted.remove(user).unwrap_or_default() {
            let conv = item.conversation.clone();
            if conv.room().is_some() && !self.convs.contains_key(&conv) {
                continue;
            }
            self.convs.get_or_default(conv).timeline.insert(item);
        }
    }

    pub fn is_muted(&self, user: &str) -> bool {
        self.muted.contains_key(user)
    }

    /// The people muted, by name, with how many of their messages are hidden.
    pub fn muted(&self) -> Vec<(String, usize)> {
        self.muted
            .iter()
            .map(|(user, hidden)| (user.clone(), hidden.len()))
            .collect()
    }

    /// Why `name` must be marked on screen (see [`names::suspicion`]), among the names this reader has seen.
    pub fn suspicion(&self, name: &str) -> Option<Suspicion> {
        let same = self
            .lookalikes
            .get(names::skeleton(name).as_str())
            .map_or(&[][..], Vec::as_slice);
        names::suspicion(name, same.iter().map(String::as_str))
    }

    /// Changes whenever a name is seen for the first time: [`Model::suspicion`] of any name can only change
    /// then (a view redraws the marks on that, not on every message).
    pub fn names_seen(&self) -> u32 {
        self.names_seen
    }

    /// Whether more people are online than the model keeps ([`MAX_PEOPLE`]).
    pub fn people_capped(&self) -> bool {
        self.people_capped
    }

    fn saw(&mut self, name: &str) {
        // Most messages come from a name seen just before: no skeleton to make for it.
        if self.last_seen == name {
            return;
        }
        name.clone_into(&mut self.last_seen);
        let skeleton = names::skeleton(name);
        if self.lookalikes.len() >= MAX_NAMES_SEEN && !self.lookalikes.contains_key(&skeleton) {
            return;
        }
        let same = self.lookalikes.get_or_default(skeleton);
        if !same.iter().any(|n| n == name) {
            same.push(name.to_owned());
            self.names_seen += 1;
        }
    }

    /// When the next typing notice expires (Unix ms), if any is shown.
    pub fn next_expiry(&self) -> Option<i64> {
        self.typing.values().copied().min()
    }

    /// Forgets expired typing notices; returns whether any expired.
    pub fn expire(&mut self, now: i64) -> bool {
        let before = self.typing.len();
        self.typing.retain(|_, until| *until > now);
        self.typing.len() != before
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::Content;

    fn msg(conv: Conversation, sender: &str, id: &str, sent_at: i64, live: bool) -> ChatMessage {
        ChatMessage {
            conversation: conv,
            sender: sender.into(),
            id: id.into(),
            content: Content::Text(format!("{sender} {id}")),
            truncated: false,
            sent_at,
            live,
            edited: None,
            reply: None,
            reacted: Vec::new(),
        }
    }

    fn room(r: &str) -> Conversation {
        Conversation::Room(r.into())
    }

    fn model() -> Model {
        Model::new("me", &["general".into(), "rust".into()], room("general"))
    }

    #[test]
    fn live_messages_elsewhere_count_as_unread_until_opened() {
        let mut m = model();
        let n = m.apply(
            &ChatEvent::Message(msg(room("rust"), "bob", "1", 1, true)),
            0,
        );
        assert!(n.is_some(), "a live message from someone else notifies");
        m.apply(
            &ChatEvent::Message(msg(room("general"), "bob", "2", 2, true)),
            0,
        );
        m.apply(
            &ChatEvent::Message(msg(room("rust"), "bob", "3", 0, false)),
            0,
        );
        assert_eq!(m.conversations(), [(room("general"), 0), (room("rust"), 1)]);
        m.open(room("rust"));
        assert_eq!(m.unread_total(), 0);
        assert_eq!(m.messages(&room("rust")).len(), 2, "history merges in");
        assert_eq!(m.messages(&room("rust"))[0].id, "3", "ordered by time sent");
    }

    #[test]
    fn direct_messages_open_their_own_conversation() {
        let mut m = model();
        let dm = Conversation::Direct("alice".into());
        m.apply(
            &ChatEvent::Message(msg(dm.clone(), "alice", "1", 1, true)),
            0,
        );
        assert!(m.conversations().contains(&(dm.clone(), 1)));
        // A late message for a room this tab left does not bring it back.
        m.close(&room("rust"));
        assert!(m
            .apply(
                &ChatEvent::Message(msg(room("rust"), "bob", "9", 1, true)),
                0
            )
            .is_none());
        assert!(!m.rooms().contains(&"rust".to_owned()));
    }

    #[test]
    fn own_messages_coming_back_are_kept_once_and_never_unread() {
        let mut m = model();
        m.add_own(msg(room("general"), "me", "a", 1, true));
        let echo = ChatEvent::Message(msg(room("general"), "me", "a", 1, true));
        assert_eq!(m.apply(&echo, 2), None);
        let other_tab = ChatEvent::Message(msg(room("rust"), "me", "b", 3, true));
        assert_eq!(m.apply(&other_tab, 4), None, "not announced");
        assert_eq!(m.messages(&room("general")).len(), 1);
        assert_eq!(m.messages(&room("rust")).len(), 1);
        assert_eq!(
            m.unread_total(),
            0,
            "own messages from another tab are not unread"
        );
    }

    #[test]
    fn every_message_gets_its_own_number_and_a_duplicate_none() {
        let mut m = model();
        for (conv, id) in [
            (room("general"), "1"),
            (room("rust"), "1"),
            (room("general"), "2"),
        ] {
            m.apply(&ChatEvent::Message(msg(conv, "bob", id, 1, true)), 0);
        }
        m.apply(
            &ChatEvent::Message(msg(room("general"), "bob", "1", 1, true)),
            0,
        );
        let seqs = |r: &str| {
            m.messages(&room(r))
                .iter()
                .map(|i| i.seq)
                .collect::<Vec<_>>()
        };
        assert_eq!((seqs("general"), seqs("rust")), (vec![0, 2], vec![1]));
    }

    #[test]
    fn a_reader_gets_each_message_added_once_oldest_sent_first() {
        let mut m = model();
        m.apply(
            &ChatEvent::Message(msg(room("general"), "bob", "2", 20, true)),
            0,
        );
        // History arrives after a live message: older, so it comes first.
        m.apply(
            &ChatEvent::Message(msg(room("rust"), "carol", "1", 10, false)),
            0,
        );
        let ids = |items: Vec<Arc<Item>>| items.iter().map(|i| i.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(m.added_since(0)), ["1", "2"]);
        let seen = m.next_seq();
        assert!(m.added_since(seen).is_empty());
        m.add_own(msg(room("general"), "me", "a", 30, true));
        m.apply(
            &ChatEvent::Message(msg(room("general"), "bob", "2", 20, true)),
            0,
        );
        m.mute("eve");
        m.apply(
            &ChatEvent::Message(msg(room("general"), "eve", "e", 25, true)),
            0,
        );
        assert_eq!(
            ids(m.added_since(seen)),
            ["a"],
            "no duplicate, nothing muted"
        );
        let seen = m.next_seq();
        m.apply(&ChatEvent::Delivered(1), 0);
        m.unmute("eve");
        assert!(
            m.added_since(seen).is_empty(),
            "a change of state or an unmute adds nothing"
        );
        assert_eq!(m.messages(&room("general")).len(), 3);
    }

    #[test]
    fn a_user_is_online_while_any_tab_is_and_in_the_rooms_of_their_tabs() {
        let mut m = model();
        let p = |rooms: &[&str]| Presence {
            browser: "b".into(),
            rooms: rooms.iter().map(|r| r.to_string()).collect(),
            since: 0,
        };
        let presence = |c: &str, pr: Option<Presence>| ChatEvent::Presence {
            user: "bob".into(),
            client_id: c.into(),
            presence: pr,
        };
        m.apply(&presence("t1", Some(p(&["general"]))), 0);
        m.apply(&presence("t2", Some(p(&["rust"]))), 0);
        assert_eq!(m.online(), ["bob"]);
        assert_eq!(m.online_in("rust"), ["bob"]);
        m.apply(&presence("t2", None), 0);
        assert!(m.online_in("rust").is_empty());
        assert_eq!(m.online(), ["bob"], "one tab is still open");
        m.apply(&presence("t1", None), 0);
        assert!(m.online().is_empty());
    }

    #[test]
    fn a_muted_person_is_hidden_everywhere_until_unmuted() {
        let mut m = model();
        let dm = Conversation::Direct("eve".into());
        m.apply(
            &ChatEvent::Message(msg(room("general"), "eve", "1", 1, true)),
            0,
        );
        m.apply(
            &ChatEvent::Message(msg(room("general"), "bob", "1", 2, true)),
            0,
        );
        m.mute("eve");
        assert!(m.is_muted("eve"));
        let senders = |m: &Model, c: &Conversation| {
            m.messages(c)
                .iter()
                .map(|i| i.sender.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(senders(&m, &room("general")), ["bob"]);
        // Nothing of theirs shows, notifies, counts as unread or types.
        let typing = ChatEvent::Typing {
            room: "general".into(),
            user: "eve".into(),
            typing: true,
        };
        m.apply(&typing, 0);
        assert!(m.typing_in("general", 0).is_empty());
        for e in [
            msg(room("rust"), "eve", "2", 3, true),
            msg(dm.clone(), "eve", "3", 4, true),
        ] {
            assert!(m.apply(&ChatEvent::Message(e), 0).is_none());
        }
        assert_eq!(m.unread_total(), 0);
        assert!(!m.conversations().iter().any(|(c, _)| *c == dm));
        assert_eq!(m.muted(), [("eve".to_owned(), 3)]);
        m.unmute("eve");
        assert!(!m.is_muted("eve"));
        assert_eq!(senders(&m, &room("general")), ["eve", "bob"], "in order");
        assert_eq!(senders(&m, &room("rust")), ["eve"]);
        assert_eq!(senders(&m, &dm), ["eve"]);
        assert!(m.muted().is_empty());
    }

    #[test]
    fn a_name_like_one_seen_is_suspected_and_the_original_is_not() {
        let mut m = model();
        let fake = "\u{430}\u{4CF}\u{456}\u{441}\u{435}"; // all Cyrillic
        m.apply(
            &ChatEvent::Message(msg(room("general"), fake, "1", 1, true)),
            0,
        );
        assert_eq!(m.suspicion(fake), None, "alone it is a name like any other");
        let seen = m.names_seen();
        m.apply(
            &ChatEvent::Message(msg(room("general"), fake, "2", 2, true)),
            0,
        );
        assert_eq!(m.names_seen(), seen, "a name seen before changes no mark");
        m.apply(
            &ChatEvent::Presence {
                user: "alice".into(),
                client_id: "t".into(),
                presence: Some(Presence {
                    browser: "b".into(),
                    rooms: vec![],
                    since: 0,
                }),
            },
            0,
        );
        assert_eq!(
            m.suspicion(fake),
            Some(Suspicion::LooksLike("alice".into()))
        );
        assert_ne!(
            m.names_seen(),
            seen,
            "a new name may change the marks: the view asks again"
        );
        assert_eq!(m.suspicion("alice"), None);
        assert!(m.suspicion("eve\u{202E}").is_some());
    }

    #[test]
    fn one_person_keeps_at_most_20_tabs_and_the_list_at_most_1000_people() {
        let mut m = model();
        let p = Presence {
            browser: "b".into(),
            rooms: vec!["general".into()],
            since: 0,
        };
        let presence = |user: &str, tab: usize| ChatEvent::Presence {
            user: user.into(),
            client_id: format!("t{tab}"),
            presence: Some(p.clone()),
        };
        for tab in 0..10_000 {
            m.apply(&presence("eve", tab), 0);
        }
        assert_eq!(
            m.presence.get("eve").map(|t| t.len()),
            Some(MAX_TABS_PER_USER)
        );
        assert!(!m.people_capped());
        // A known tab still updates, and a tab that leaves makes room.
        m.apply(&presence("eve", 3), 0);
        m.apply(
            &ChatEvent::Presence {
                user: "eve".into(),
                client_id: "t0".into(),
                presence: None,
            },
            0,
        );
        m.apply(&presence("eve", 20_000), 0);
        assert!(m
            .presence
            .get("eve")
            .is_some_and(|t| t.contains_key("t20000")));
        for user in 0..MAX_PEOPLE + 5 {
            m.apply(&presence(&format!("u{user}"), 0), 0);
        }
        assert_eq!(m.online().len(), MAX_PEOPLE);
        assert!(m.people_capped());
    }

    #[test]
    fn typing_expires_by_itself_and_ends_with_a_message() {
        let mut m = model();
        let typing = ChatEvent::Typing {
            room: "general".into(),
            user: "bob".into(),
            typing: true,
        };
        m.apply(&typing, 1_000);
        assert_eq!(m.typing_in("general", 1_000), ["bob"]);
        assert!(m.typing_in("general", 1_000 + TYPING_TTL_MS).is_empty());
        assert!(m.expire(1_000 + TYPING_TTL_MS));
        m.apply(&typing, 2_000);
        m.apply(
            &ChatEvent::Message(msg(room("general"), "bob", "1", 1, true)),
            2_100,
        );
        assert!(m.typing_in("general", 2_100).is_empty());
    }
}
