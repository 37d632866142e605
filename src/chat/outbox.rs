//! The outbox: own messages not yet acknowledged by the broker, kept in browser storage so that a reload or
//! a closed tab loses none of them. They are published again (same id, same time) when the chat next connects;
//! receivers show each `(sender, id)` once.

use serde::{Deserialize, Serialize};

use super::client::{ChatMessage, Content};
use super::conversation::Conversation;
use super::message::Payload;

/// One waiting message: where it goes (a URL fragment, `#room` or `#@user`) and what it says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub to: String,
    pub payload: Payload,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outbox {
    entries: Vec<Entry>,
}

impl Outbox {
    /// Reads what storage held. Unreadable content is an error, never an empty outbox silently.
    pub fn parse(json: &str) -> Result<Self, String> {
        serde_json::from_slice::<Vec<Entry>>(json.as_bytes())
            .map(|entries| Self { entries })
            .map_err(|e| format!("the saved outbox cannot be read ({e})"))
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.entries).unwrap_or_default()
    }

    /// Keeps a message just sent (an own, text message).
    pub fn add(&mut self, m: &ChatMessage) {
        let Content::Text(text) = &m.content else {
            return;
        };
        if self.entries.iter().any(|e| e.payload.id == m.id) {
            return;
        }
        self.entries.push(Entry {
            to: m.conversation.fragment(),
            payload: Payload {
                id: m.id.clone(),
                text: text.clone(),
                sent_at: m.sent_at,
            },
        });
    }

    /// The broker acknowledged it; returns whether it was here.
    pub fn remove(&mut self, id: &str) -> bool {
        let before = self.entries.len();
        self.entries.retain(|e| e.payload.id != id);
        self.entries.len() != before
    }

    /// What to send again, oldest first; entries naming no valid conversation are skipped.
    pub fn pending(&self) -> Vec<(Conversation, Payload)> {
        self.entries
            .iter()
            .filter_map(|e| Some((Conversation::from_fragment(&e.to)?, e.payload.clone())))
            .collect()
    }

    pub fn get(&self, id: &str) -> Option<(Conversation, Payload)> {
        let e = self.entries.iter().find(|e| e.payload.id == id)?;
        Some((Conversation::from_fragment(&e.to)?, e.payload.clone()))
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::Delivery;

    fn msg(to: Conversation, id: &str, text: &str) -> ChatMessage {
        ChatMessage {
            conversation: to,
            sender: "me".into(),
            id: id.into(),
            content: Content::Text(text.into()),
            truncated: false,
            sent_at: 7,
            delivery: Delivery::Pending,
            live: true,
        }
    }

    #[test]
    fn the_outbox_survives_storage_and_empties_as_messages_are_acknowledged() {
        let mut o = Outbox::default();
        o.add(&msg(Conversation::Room("café".into()), "a", "one"));
        o.add(&msg(Conversation::Direct("bob".into()), "b", "two"));
        o.add(&msg(Conversation::Direct("bob".into()), "b", "two"));
        let back = Outbox::parse(&o.to_json()).unwrap();
        assert_eq!(back, o);
        let pending = back.pending();
        assert_eq!(pending.len(), 2, "each message once");
        assert_eq!(pending[0].0, Conversation::Room("café".into()));
        assert_eq!(pending[1].1.text, "two");
        let mut o = back;
        assert!(o.remove("a"));
        assert!(!o.remove("a"));
        assert_eq!(
            o.get("b").map(|(c, _)| c),
            Some(Conversation::Direct("bob".into()))
        );
    }

    #[test]
    fn unreadable_storage_is_an_error_not_an_empty_outbox() {
        assert!(Outbox::parse("{broken")
            .unwrap_err()
            .contains("cannot be read"));
        assert!(Outbox::parse("[]").unwrap().is_empty());
    }
}
