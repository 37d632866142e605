//! What the chat shows: conversations with their timelines and unread counts, who is online where, who is
//! typing. Plain state changed by [`ChatEvent`]s and user actions, so the UI only renders it.

use std::sync::Arc;

use super::client::{ChatEvent, ChatMessage, Delivery};
use super::conversation::{Conversation, Timeline};
use super::message::Presence;
use super::sorted::SortedMap;

/// How long "is typing" lasts after the last notice (ms).
pub const TYPING_TTL_MS: i64 = 5_000;

/// A message in a conversation: shared (a view holds the same one, not a copy) and numbered in the order
/// the model got it. The number is unique within the model, so with the delivery state it keys a rendered line.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub seq: u64,
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
}

#[derive(Debug)]
pub struct Model {
    current: Conversation,
    convs: SortedMap<Conversation, Conv>,
    /// user -> client id -> presence of that tab.
    presence: SortedMap<String, SortedMap<String, Presence>>,
    /// (room, user) -> when the typing notice expires (Unix ms).
    typing: SortedMap<(String, String), i64>,
    /// The number the next message gets.
    next_seq: u64,
}

impl Model {
    pub fn new(rooms: &[String], current: Conversation) -> Self {
        let mut model = Self {
            current: current.clone(),
            convs: SortedMap::default(),
            presence: SortedMap::default(),
            typing: SortedMap::default(),
            next_seq: 0,
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
                let notify = m.live && m.delivery == Delivery::Received;
                let current = m.conversation == self.current;
                if self.insert(m.clone()) && notify {
                    let conv = self.convs.get_mut(&m.conversation)?;
                    if !current {
                        conv.unread += 1;
                    }
                    return Some(m.clone());
                }
            }
            ChatEvent::Delivered(id) => {
                for conv in self.convs.values_mut() {
                    if let Some(m) = conv
                        .timeline
                        .find_mut(|m| m.id == *id && m.delivery == Delivery::Pending)
                    {
                        // A view still holding the pending line keeps its copy; the new one is drawn anew.
                        Arc::make_mut(m).message.delivery = Delivery::Sent;
                        break;
                    }
                }
            }
            ChatEvent::Presence {
                user,
                client_id,
                presence,
            } => {
                let tabs = self.presence.get_or_default(user.clone());
                match presence {
                    Some(p) => {
                        tabs.insert(client_id.clone(), p.clone());
                    }
                    None => {
                        tabs.remove(client_id);
                    }
                }
                if tabs.is_empty() {
                    self.presence.remove(user);
                }
            }
            ChatEvent::Typing { room, user, typing } => {
                let key = (room.clone(), user.clone());
                if *typing {
                    self.typing.insert(key, wall + TYPING_TTL_MS);
                } else {
                    self.typing.remove(&key);
                }
            }
            ChatEvent::Connected | ChatEvent::SubscriptionRefused(_) | ChatEvent::Closed { .. } => {
            }
        }
        None
    }

    /// Adds an own message just sent.
    pub fn add_own(&mut self, m: ChatMessage) {
        self.insert(m);
    }

    /// Adds a message to its conversation (creating it); false if it was there already.
    fn insert(&mut self, message: ChatMessage) -> bool {
        let item = Item {
            seq: self.next_seq,
            message,
        };
        let conv = self.convs.get_or_default(item.conversation.clone());
        let added = conv.timeline.insert(Arc::new(item)).is_some();
        self.next_seq += u64::from(added);
        added
    }

    /// Shows a conversation (creating it) and marks it read.
    pub fn open(&mut self, conv: Conversation) {
        self.convs.get_or_default(conv.clone()).unread = 0;
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
            delivery: if sender == "me" {
                Delivery::Pending
            } else {
                Delivery::Received
            },
            live,
        }
    }

    fn room(r: &str) -> Conversation {
        Conversation::Room(r.into())
    }

    fn model() -> Model {
        Model::new(&["general".into(), "rust".into()], room("general"))
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
    fn own_messages_turn_sent_when_delivered() {
        let mut m = model();
        m.add_own(msg(room("general"), "me", "a", 1, true));
        let shown = m.messages(&room("general"))[0].clone();
        m.apply(&ChatEvent::Delivered("a".into()), 0);
        let now = &m.messages(&room("general"))[0];
        assert_eq!(now.delivery, Delivery::Sent);
        assert_eq!(
            shown.delivery,
            Delivery::Pending,
            "a view's line is not changed under it"
        );
        assert_eq!(now.seq, shown.seq, "the same message");
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
