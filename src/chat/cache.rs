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
