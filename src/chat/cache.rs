//! The on-device cache: what the core asks the shell to keep of each conversation (the browser keeps it in
//! IndexedDB, `src/net/cache.rs`), so that a reloaded page shows what it showed before at once, and a
//! conversation whose history the broker lost can be restored from it.
//!
//! The records are plain data: a message row is sorted by `(user, conversation, sent_at, sender, id)` and its
//! value is JSON; a conversation row holds its read position and unread count as JSON. The shell stores and
//! returns them as they are; every rule (what to keep, what to evict, what a row means) is the core's.

/// One message kept on the device: where it sorts, and its JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The conversation's URL fragment (`#general`, `#@bob`).
    pub conversation: String,
    pub sent_at: i64,
    pub sender: String,
    pub id: String,
    pub value: String,
}

/// Where a message row sorts: the row's key without its value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RowKey {
    pub conversation: String,
    pub sent_at: i64,
    pub sender: String,
    pub id: String,
}

impl Row {
    pub fn key(&self) -> RowKey {
        RowKey {
            conversation: self.conversation.clone(),
            sent_at: self.sent_at,
            sender: self.sender.clone(),
            id: self.id.clone(),
        }
    }
}

/// One change to the cache of one user. A batch of them is written at once (one transaction).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    /// Adds or replaces a message row.
    Put(Row),
    Delete(RowKey),
    /// Adds or replaces a conversation's row (JSON).
    PutConversation {
        conversation: String,
        value: String,
    },
    /// Removes a conversation's row and every message row of it.
    DeleteConversation(String),
    /// Moves a row that could not be read out of the way, into a store of its own, kept for inspection.
    SetAside(Row),
}

/// What the cache held for one user: every conversation row, and the newest rows of each conversation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Loaded {
    pub conversations: Vec<(String, String)>,
    /// Newest first within each conversation.
    pub messages: Vec<Row>,
}

/// Why the cache could not do what it was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CacheError {
    /// No IndexedDB here (a private mode, a browser setting), or the database could not be opened.
    #[error("this browser keeps no messages on the device ({0})")]
    Unavailable(String),
    /// The browser's storage quota for this site is used up.
    #[error("the browser's storage for this site is full")]
    Quota,
    #[error("the messages on this device could not be written ({0})")]
    Failed(String),
}

// --- The core's rules ----------------------------------------------------------------------------------------

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::client::{ChatMessage, Content, Reaction};
use super::conversation::Conversation;
use super::message::Quote;
use super::model::{Item, Model};

/// How many of the newest messages of each conversation the device keeps (at first: the browser's quota can
/// make it fewer, see `App`), and the fewest it keeps when the quota is short.
pub const PER_CONVERSATION: usize = 500;
pub const MIN_PER_CONVERSATION: usize = 50;

/// The version of the rows' JSON: a row of another version is set aside, not misread.
const VERSION: u32 = 1;

/// A message row's value.
#[derive(Debug, Serialize, Deserialize)]
struct MessageValue {
    v: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    text: Option<String>,
    /// A payload that was not UTF-8, of this many bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    unreadable: Option<usize>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    truncated: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    edited: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reply: Option<Quote>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    reactions: Vec<Reaction>,
}

/// A conversation row's value.
#[derive(Debug, Serialize, Deserialize)]
struct ConversationValue {
    v: u32,
    unread: usize,
    read_at: i64,
}

/// JSON text, by the same serde_json code path as the rest of the page (bytes; `from_str`/`to_string` would
/// add a second copy of it).
fn json(value: &impl Serialize) -> Option<String> {
    String::from_utf8(super::message::to_json(value)).ok()
}

/// The row that keeps `m`; `None` for what is not kept (a notice of something too large to show).
pub fn row_of(m: &ChatMessage) -> Option<Row> {
    let value = match &m.content {
        Content::Text(text) => MessageValue {
            v: VERSION,
            text: Some(text.clone()),
            unreadable: None,
            truncated: m.truncated,
            edited: m.edited,
            reply: m.reply.clone(),
            reactions: m.reacted.clone(),
        },
        Content::Unreadable(bytes) => MessageValue {
            v: VERSION,
            text: None,
            unreadable: Some(*bytes),
            truncated: false,
            edited: None,
            reply: None,
            reactions: Vec::new(),
        },
        Content::TooLarge(..) => return None,
    };
    Some(Row {
        conversation: m.conversation.fragment(),
        sent_at: m.sent_at,
        sender: m.sender.clone(),
        id: m.id.clone(),
        value: json(&value)?,
    })
}

/// Where the row that keeps `m` sorts (without writing its value).
pub fn key_of(m: &ChatMessage) -> RowKey {
    RowKey {
        conversation: m.conversation.fragment(),
        sent_at: m.sent_at,
        sender: m.sender.clone(),
        id: m.id.clone(),
    }
}

/// The message a row keeps; `None` for a row that cannot be read (another version, damaged).
pub fn message_of(row: &Row) -> Option<ChatMessage> {
    let value: MessageValue = serde_json::from_slice(row.value.as_bytes()).ok()?;
    let content = match (value.v, value.text, value.unreadable) {
        (VERSION, Some(text), None) => Content::Text(super::message::clean_text(text)),
        (VERSION, None, Some(bytes)) => Content::Unreadable(bytes),
        _ => return None,
    };
    let conversation = Conversation::from_fragment(&row.conversation)?;
    super::names::validate(&row.sender).ok()?;
    if row.id.is_empty() || row.id.len() > super::message::MAX_ID_BYTES {
        return None;
    }
    Some(ChatMessage {
        conversation,
        sender: row.sender.clone(),
        id: row.id.clone(),
        content,
        truncated: value.truncated,
        sent_at: row.sent_at,
        live: false,
        edited: value.edited,
        reply: value.reply,
        reacted: value.reactions,
    })
}

/// A conversation row: its unread count and read position.
pub fn conversation_value(unread: usize, read_at: i64) -> String {
    let value = ConversationValue {
        v: VERSION,
        unread,
        read_at,
    };
    json(&value).unwrap_or_default()
}

/// Reads a conversation row; `None` if it cannot be read.
pub fn read_conversation(value: &str) -> Option<(usize, i64)> {
    let value: ConversationValue = serde_json::from_slice(value.as_bytes()).ok()?;
    (value.v == VERSION).then_some((value.unread, value.read_at))
}

/// What the cache must learn of the messages `added` to `model` and the conversations `touched` (unread
/// count or read position changed), keeping the newest `limit` messages of each conversation: a row for each
/// message added among the newest, a deletion for each that an addition pushed out, a conversation row for
/// each conversation touched or added to. Incremental: never a whole conversation per message.
pub fn writes_for(
    model: &Model,
    added: &[Arc<Item>],
    touched: &[Conversation],
    limit: usize,
) -> Vec<Write> {
    let mut writes = Vec::new();
    // Each conversation once (a short list: a linear search, and no sort routine in the page).
    let mut convs: Vec<&Conversation> = Vec::new();
    for conv in added.iter().map(|m| &m.conversation).chain(touched) {
        if !convs.contains(&conv) {
            convs.push(conv);
        }
    }
    for conv in convs {
        let entries = model.messages(conv);
        let new: Vec<&Arc<Item>> = added.iter().filter(|m| m.conversation == *conv).collect();
        let is_new = |item: &Arc<Item>| new.iter().any(|n| Arc::ptr_eq(n, item));
        let kept_from = entries.len().saturating_sub(limit);
        // The messages before `kept_from` that were among the newest `limit` before these were added.
        let out_from = kept_from.saturating_sub(new.len());
        for item in entries.get(out_from..kept_from).unwrap_or_default() {
            if !is_new(item) {
                writes.push(Write::Delete(key_of(item)));
            }
        }
        for item in entries.get(kept_from..).unwrap_or_default() {
            if is_new(item) {
                writes.extend(row_of(item).map(Write::Put));
            }
        }
        if let Some((unread, read_at)) = model.read_state(conv) {
            writes.push(Write::PutConversation {
                conversation: conv.fragment(),
                value: conversation_value(unread, read_at),
            });
        }
    }
    writes
}

/// After a write failed for want of space: deletions that bring every conversation down to its newest
/// `limit` messages, and those newest rows written again (the failed write took some with it). Every older
/// message shown is deleted, kept or not (the failed write may have left one that should have gone): a rare
/// event, bounded by what the page shows.
pub fn shrink(model: &Model, limit: usize) -> Vec<Write> {
    let mut writes = Vec::new();
    for (conv, _) in model.conversations() {
        let entries = model.messages(&conv);
        let to = entries.len().saturating_sub(limit);
        for item in entries.get(..to).unwrap_or_default() {
            writes.push(Write::Delete(key_of(item)));
        }
        for item in entries.get(to..).unwrap_or_default() {
            writes.extend(row_of(item).map(Write::Put));
        }
    }
    writes
}

/// A batch with only the last write of each message row and each conversation row, in the order they were
/// made: a join that reads thousands of histories puts and then pushes out most of their rows within one batch.
pub fn compact(writes: Vec<Write>) -> Vec<Write> {
    use super::sorted::SortedMap;
    // The index of the last write of each row.
    let mut last_row: SortedMap<RowKey, usize> = SortedMap::default();
    let mut last_conversation: SortedMap<String, usize> = SortedMap::default();
    for (i, w) in writes.iter().enumerate() {
        match w {
            Write::Put(row) | Write::SetAside(row) => {
                last_row.insert(row.key(), i);
            }
            Write::Delete(key) => {
                last_row.insert(key.clone(), i);
            }
            Write::PutConversation { conversation, .. } => {
                last_conversation.insert(conversation.clone(), i);
            }
            Write::DeleteConversation(_) => {}
        }
    }
    writes
        .into_iter()
        .enumerate()
        .filter(|(i, w)| match w {
            Write::Put(row) | Write::SetAside(row) => last_row.get(&row.key()) == Some(i),
            Write::Delete(key) => last_row.get(key) == Some(i),
            Write::PutConversation { conversation, .. } => {
                last_conversation.get(conversation) == Some(i)
            }
            Write::DeleteConversation(_) => true,
        })
        .map(|(_, w)| w)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, value: &str) -> Row {
        Row {
            conversation: "#general".into(),
            sent_at: 1,
            sender: "bob".into(),
            id: id.into(),
            value: value.into(),
        }
    }

    #[test]
    fn a_batch_keeps_the_last_write_of_each_row_in_order() {
        let conv = |v: &str| Write::PutConversation {
            conversation: "#general".into(),
            value: v.into(),
        };
        let writes = vec![
            Write::Put(row("a", "1")),
            conv("u1"),
            Write::Put(row("b", "1")),
            Write::Delete(row("a", "").key()),
            Write::DeleteConversation("#rust".into()),
            Write::Put(row("b", "2")),
            conv("u2"),
        ];
        assert_eq!(
            compact(writes),
            [
                Write::Delete(row("a", "").key()),
                Write::DeleteConversation("#rust".into()),
                Write::Put(row("b", "2")),
                conv("u2"),
            ]
        );
    }
}
