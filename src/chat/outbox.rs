//! The outbox: own messages not yet acknowledged by the broker, kept in browser storage so that a reload or
//! a closed tab loses none of them. They are published again (same id, same time) when the chat next connects;
//! receivers show each `(sender, id)` once.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::client::{ChatMessage, Content};
use super::conversation::Conversation;
use super::message::Payload;

/// One waiting message: where it goes (a URL fragment, `#room` or `#@user`) and what it says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub to: String,
    pub payload: Payload,
    /// The packet id of its newest PUBLISH on this page, whose PUBACK takes it out (not stored: a page
    /// publishes it anew).
    #[serde(skip)]
    pid: Option<u16>,
}

/// The stored outbox cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("the saved outbox cannot be read ({0})")]
pub struct OutboxError(String);

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outbox {
    entries: Vec<Entry>,
}

impl Outbox {
    /// Reads what storage held. Unreadable content is an error, never an empty outbox silently.
    pub fn parse(json: &str) -> Result<Self, OutboxError> {
        serde_json::from_slice::<Vec<Entry>>(json.as_bytes())
            .map(|entries| Self { entries })
            .map_err(|e| OutboxError(e.to_string()))
    }

    pub fn to_json(&self) -> String {
        String::from_utf8(super::message::to_json(&self.entries)).unwrap_or_default()
    }

    /// Keeps a message just published (an own, text message) under the packet id of that PUBLISH; a message
    /// published again (a retry, a resend after a reload) keeps its place and takes the new packet id.
    pub fn add(&mut self, m: &ChatMessage, pid: Option<u16>) {
        let Content::Text(text) = &m.content else {
            return;
        };
        if let Some(e) = self.entries.iter_mut().find(|e| e.payload.id == m.id) {
            e.pid = pid;
            return;
        }
        self.entries.push(Entry {
            to: m.conversation.fragment(),
            payload: Payload {
                id: m.id.clone(),
                text: text.clone(),
                sent_at: m.sent_at,
                reply: m.reply.clone(),
                ..Payload::default()
            },
            pid,
        });
    }

    /// The broker acknowledged the PUBLISH with packet id `pid`: returns the message that leaves the outbox,
    /// if that PUBLISH carried one (presences and histories are published at QoS 1 too).
    pub fn delivered(&mut self, pid: u16) -> Option<String> {
        let at = self.entries.iter().position(|e| e.pid == Some(pid))?;
        Some(self.entries.remove(at).payload.id)
    }

    /// Whether an own message waits for the broker's acknowledgement.
    /// A message still waiting changed its text: if it goes out again (a reload, a retry) it goes out edited,
    /// so that a reader who has it already takes the new text too.
    pub fn edit(&mut self, id: &str, text: &str, at: i64) -> bool {
        let Some(e) = self.entries.iter_mut().find(|e| e.payload.id == id) else {
            return false;
        };
        text.clone_into(&mut e.payload.text);
        e.payload.edited = Some(at);
        true
    }

    /// Takes a message out (deleted before it went out); whether it was here.
    pub fn remove(&mut self, id: &str) -> bool {
        let before = self.entries.len();
        self.entries.retain(|e| e.payload.id != id);
        self.entries.len() != before
    }

    pub fn contains(&self, id: &str) -> bool {
        self.entries.iter().any(|e| e.payload.id == id)
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

    fn msg(to: Conversation, id: &str, text: &str) -> ChatMessage {
        ChatMessage {
            conversation: to,
            sender: "me".into(),
            id: id.into(),
            content: Content::Text(text.into()),
            truncated: false,
            sent_at: 7,
            live: true,
            edited: None,
            reply: None,
            reacted: Vec::new(),
        }
    }

    #[test]
    fn the_outbox_survives_storage_and_empties_as_messages_are_acknowledged() {
        let mut o = Outbox::default();
        o.add(&msg(Conversation::Room("café".into()), "a", "one"), Some(1));
        o.add(
            &msg(Conversation::Direct("bob".into()), "b", "two"),
            Some(2),
        );
        o.add(
            &msg(Conversation::Direct("bob".into()), "b", "two"),
            Some(3),
        );
        let mut back = Outbox::parse(&o.to_json()).unwrap();
        let pending = back.pending();
        assert_eq!(pending.len(), 2, "each message once");
        assert_eq!(pending[0].0, Conversation::Room("café".into()));
        assert_eq!(pending[1].1.text, "two");
        assert_eq!(
            back.delivered(1),
            None,
            "packet ids are not stored: a page publishes anew"
        );
        assert_eq!(o.delivered(2), None, "the retry took packet id 3");
        assert_eq!(o.delivered(3).as_deref(), Some("b"));
        assert!(!o.contains("b") && o.contains("a"));
        assert_eq!(o.delivered(1).as_deref(), Some("a"));
        assert!(o.is_empty());
        back.add(&msg(Conversation::Room("café".into()), "a", "one"), Some(9));
        assert_eq!(
            back.get("b").map(|(c, _)| c),
            Some(Conversation::Direct("bob".into()))
        );
        assert_eq!(back.delivered(9).as_deref(), Some("a"));
    }

    #[test]
    fn unreadable_storage_is_an_error_not_an_empty_outbox() {
        assert!(Outbox::parse("{broken")
            .unwrap_err()
            .to_string()
            .contains("cannot be read"));
        assert!(Outbox::parse("[]").unwrap().is_empty());
    }
}
