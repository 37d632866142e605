//! The database: one SQLite file (WAL), one table of room messages, each `(room, sender, id)` once.

use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension};

use mqtt_chat::chat::client::MAX_TEXT_BYTES;

use crate::protocol::Stored;

pub use rusqlite::Error;

/// The schema, created when missing. `user_version` says which schema a file has, for later changes.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS messages (
    room    TEXT    NOT NULL,
    sender  TEXT    NOT NULL,
    id      TEXT    NOT NULL,
    text    TEXT    NOT NULL,
    sent_at INTEGER NOT NULL,
    UNIQUE (room, sender, id)
);
CREATE INDEX IF NOT EXISTS messages_by_time ON messages (room, sent_at);
PRAGMA user_version = 1;
";

pub struct Store {
    db: Connection,
}

/// One message to keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct New<'a> {
    pub room: &'a str,
    pub sender: &'a str,
    pub id: &'a str,
    pub text: &'a str,
    pub sent_at: i64,
}

/// The newest messages of a room up to a time, newest first, and whether older ones exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub newest_first: Vec<Stored>,
    pub older: bool,
}

impl Store {
    /// Opens (or creates) the database at `path`.
    pub fn open(path: &Path) -> Result<Store, Error> {
        Self::setup(Connection::open(path)?)
    }

    /// A database in memory, for tests.
    #[cfg(test)]
    pub fn memory() -> Result<Store, Error> {
        Self::setup(Connection::open_in_memory()?)
    }

    fn setup(db: Connection) -> Result<Store, Error> {
        // WAL: readers never wait for the writer, and a commit is one append. NORMAL: a power cut may lose the
        // last commits but never corrupts the file; those messages are still in the rooms' retained
        // histories, read again on the next start.
        let _mode: String = db.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        db.execute_batch("PRAGMA synchronous = NORMAL;")?;
        db.busy_timeout(std::time::Duration::from_secs(5))?;
        db.execute_batch(SCHEMA)?;
        Ok(Store { db })
    }

    /// Keeps `messages` in one transaction; one already kept (the same room, sender and id) stays as it was.
    /// A text is kept up to [`MAX_TEXT_BYTES`], what the chat shows of it. Returns how many were new.
    pub fn insert(&mut self, messages: &[New<'_>]) -> Result<usize, Error> {
        let tx = self.db.transaction()?;
        let mut added = 0;
        {
            let mut insert = tx.prepare(
                "INSERT OR IGNORE INTO messages (room, sender, id, text, sent_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for m in messages {
                added += insert.execute(params![
                    m.room,
                    m.sender,
                    m.id,
                    cut(m.text, MAX_TEXT_BYTES),
                    m.sent_at
                ])?;
            }
        }
        tx.commit()?;
        Ok(added)
    }

    /// The newest `limit` messages of `room` sent at or before `before`, newest first (by time, then by
    /// arrival), and whether older ones exist.
    pub fn page(&self, room: &str, before: i64, limit: u32) -> Result<Page, Error> {
        let mut select = self.db.prepare(
            "SELECT sender, id, text, sent_at FROM messages WHERE room = ?1 AND sent_at <= ?2
             ORDER BY sent_at DESC, rowid DESC LIMIT ?3",
        )?;
        let rows = select.query_map(params![room, before, i64::from(limit) + 1], |r| {
            Ok(Stored {
                sender: r.get(0)?,
                id: r.get(1)?,
                text: r.get(2)?,
                sent_at: r.get(3)?,
            })
        })?;
        let mut newest_first = rows.collect::<Result<Vec<_>, _>>()?;
        let older = newest_first.len() > limit as usize;
        newest_first.truncate(limit as usize);
        Ok(Page {
            newest_first,
            older,
        })
    }

    /// How many messages are kept (for the log).
    pub fn count(&self) -> Result<i64, Error> {
        self.db
            .query_row("SELECT count(*) FROM messages", [], |r| r.get(0))
            .optional()
            .map(Option::unwrap_or_default)
    }
}

/// `text` up to `max` bytes, cut at a character boundary.
fn cut(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.get(..end).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new<'a>(sender: &'a str, id: &'a str, sent_at: i64) -> New<'a> {
        New {
            room: "general",
            sender,
            id,
            text: id,
            sent_at,
        }
    }

    fn ids(page: &Page) -> Vec<&str> {
        page.newest_first.iter().map(|m| m.id.as_str()).collect()
    }

    #[test]
    fn a_message_is_kept_once_per_room_sender_and_id() {
        let mut store = Store::memory().unwrap();
        assert_eq!(
            store
                .insert(&[new("ann", "a1", 1), new("bob", "a1", 2)])
                .unwrap(),
            2
        );
        assert_eq!(store.insert(&[new("ann", "a1", 1)]).unwrap(), 0);
        let other_room = New {
            room: "rust",
            ..new("ann", "a1", 1)
        };
        assert_eq!(store.insert(&[other_room]).unwrap(), 1);
        assert_eq!(store.count().unwrap(), 3);
    }

    #[test]
    fn pages_go_back_to_the_beginning() {
        let mut store = Store::memory().unwrap();
        let names: Vec<String> = (1..=5).map(|n| format!("m{n}")).collect();
        let all: Vec<New> = names
            .iter()
            .zip(1..)
            .map(|(id, t)| new("ann", id, t * 10))
            .collect();
        store.insert(&all).unwrap();
        let page = store.page("general", 1_000, 2).unwrap();
        assert_eq!((ids(&page), page.older), (vec!["m5", "m4"], true));
        let page = store.page("general", 39, 2).unwrap();
        assert_eq!((ids(&page), page.older), (vec!["m3", "m2"], true));
        let page = store.page("general", 20, 2).unwrap();
        assert_eq!((ids(&page), page.older), (vec!["m2", "m1"], false));
        let page = store.page("general", 10, 5).unwrap();
        assert_eq!((ids(&page), page.older), (vec!["m1"], false));
        let page = store.page("general", 9, 5).unwrap();
        assert_eq!((ids(&page), page.older), (vec![], false));
        assert!(store
            .page("nowhere", i64::MAX, 5)
            .unwrap()
            .newest_first
            .is_empty());
    }

    #[test]
    fn a_long_text_is_kept_up_to_the_chats_limit_on_a_character_boundary() {
        assert_eq!(cut("héllo", 2), "h");
        assert_eq!(cut("héllo", 3), "hé");
        assert_eq!(cut("hi", 5), "hi");
        let mut store = Store::memory().unwrap();
        let long = "é".repeat(MAX_TEXT_BYTES);
        store
            .insert(&[New {
                text: &long,
                ..new("ann", "a", 1)
            }])
            .unwrap();
        let page = store.page("general", 1, 1).unwrap();
        assert_eq!(page.newest_first[0].text.len(), MAX_TEXT_BYTES);
    }
}
