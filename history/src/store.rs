//! The database: one SQLite file (WAL), one table of room messages, each `(room, sender, id)` once, with its
//! latest text; and the `(room, sender, id)` of every message its sender deleted, so that no later copy of it
//! (a retained history read again, a redelivery) brings it back.

use std::fmt;
use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension};

use mqtt_chat::chat::client::MAX_TEXT_BYTES;
use mqtt_chat::chat::Quote;

use crate::protocol::Stored;

/// The schema, one step per version: a file whose `user_version` is N gets the steps after the N-th, each in
/// one transaction with the version it brings, so a file is always at one version or the next. Steps are
/// only ever added: a file of any earlier version is brought up to date where it lies.
const STEPS: [&str; 2] = [
    // 1: the messages.
    "
    CREATE TABLE IF NOT EXISTS messages (
        room    TEXT    NOT NULL,
        sender  TEXT    NOT NULL,
        id      TEXT    NOT NULL,
        text    TEXT    NOT NULL,
        sent_at INTEGER NOT NULL,
        UNIQUE (room, sender, id)
    );
    CREATE INDEX IF NOT EXISTS messages_by_time ON messages (room, sent_at);
    ",
    // 2: edits (`edited`: Unix ms of the text kept, NULL if never edited), replies (`reply`: the quote of the
    // message answered, as its JSON) and deletions. Columns with a default: existing rows stay as they are.
    "
    ALTER TABLE messages ADD COLUMN edited INTEGER DEFAULT NULL;
    ALTER TABLE messages ADD COLUMN reply TEXT DEFAULT NULL;
    CREATE TABLE deleted (
        room    TEXT    NOT NULL,
        sender  TEXT    NOT NULL,
        id      TEXT    NOT NULL,
        at      INTEGER NOT NULL,
        PRIMARY KEY (room, sender, id)
    ) WITHOUT ROWID;
    ",
];

/// The schema version this service writes: the number of [`STEPS`].
pub const VERSION: i64 = STEPS.len() as i64;

#[derive(Debug)]
pub enum Error {
    Sqlite(rusqlite::Error),
    /// The file was written by a newer version of the service (its schema version): not touched.
    Newer(i64),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite(e) => write!(f, "{e}"),
            Self::Newer(version) => write!(
                f,
                "it is of schema version {version}, newer than this service's ({VERSION}): run the newer service"
            ),
        }
    }
}

impl std::error::Error for Error {}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Self::Sqlite(e)
    }
}

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
    /// When its sender last edited it (a history's copy, or a message sent again after an edit).
    pub edited: Option<i64>,
    pub reply: Option<&'a Quote>,
}

/// What happened to a room's messages, in the order it happened. The sender is the topic's in every case:
/// edits and deletions are of the sender's own messages (the chat's parser lets no other through).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op<'a> {
    /// A message, live or from a history: kept if new and not deleted; a copy edited later than the one kept
    /// replaces its text.
    Keep(New<'a>),
    /// Its sender's new text for a message, at `at` (Unix ms).
    Edit {
        room: &'a str,
        sender: &'a str,
        id: &'a str,
        text: &'a str,
        at: i64,
    },
    /// Its sender took a message back: it is forgotten, and stays so.
    Delete {
        room: &'a str,
        sender: &'a str,
        id: &'a str,
        at: i64,
    },
}

/// What a batch of [`Op`]s changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Applied {
    /// Messages kept that were not kept before.
    pub added: usize,
    /// Texts replaced by a later edit.
    pub edited: usize,
    /// Messages forgotten.
    pub deleted: usize,
}

/// The newest messages of a room up to a time, newest first, and whether older ones exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub newest_first: Vec<Stored>,
    pub older: bool,
}

impl Store {
    /// Opens (or creates) the database at `path`, bringing its schema up to date.
    pub fn open(path: &Path) -> Result<Store, Error> {
        Self::setup(Connection::open(path)?)
    }

    /// A database in memory, for tests.
    #[cfg(test)]
    pub fn memory() -> Result<Store, Error> {
        Self::setup(Connection::open_in_memory()?)
    }

    fn setup(mut db: Connection) -> Result<Store, Error> {
        // WAL: readers never wait for the writer, and a commit is one append. NORMAL: a power cut may lose the
        // last commits but never corrupts the file; those messages are still in the rooms' retained
        // histories, read again on the next start.
        let _mode: String = db.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        db.execute_batch("PRAGMA synchronous = NORMAL;")?;
        db.busy_timeout(std::time::Duration::from_secs(5))?;
        let version: i64 = db.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version > VERSION {
            return Err(Error::Newer(version));
        }
        for (done, step) in (1..).zip(STEPS).skip(usize::try_from(version).unwrap_or(0)) {
            let tx = db.transaction()?;
            tx.execute_batch(step)?;
            tx.execute_batch(&format!("PRAGMA user_version = {done};"))?;
            tx.commit()?;
        }
        Ok(Store { db })
    }

    /// Carries out `ops` in order, in one transaction. A text is kept up to [`MAX_TEXT_BYTES`], what the chat
    /// shows of it. Of two edits the later wins, and an edit dated before its message is not believed (as the
    /// chat's model does); a deletion is for good.
    pub fn apply(&mut self, ops: &[Op<'_>]) -> Result<Applied, Error> {
        let tx = self.db.transaction()?;
        let mut applied = Applied::default();
        {
            let mut insert = tx.prepare(
                "INSERT OR IGNORE INTO messages (room, sender, id, text, sent_at, edited, reply)
                 SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7
                 WHERE NOT EXISTS (SELECT 1 FROM deleted WHERE room = ?1 AND sender = ?2 AND id = ?3)",
            )?;
            let mut edit = tx.prepare(
                "UPDATE messages SET text = ?4, edited = ?5
                 WHERE room = ?1 AND sender = ?2 AND id = ?3 AND sent_at <= ?5 AND (edited IS NULL OR edited < ?5)",
            )?;
            let mut forget =
                tx.prepare("DELETE FROM messages WHERE room = ?1 AND sender = ?2 AND id = ?3")?;
            let mut tombstone = tx.prepare(
                "INSERT OR IGNORE INTO deleted (room, sender, id, at) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for op in ops {
                match op {
                    Op::Keep(m) => {
                        let text = cut(m.text, MAX_TEXT_BYTES);
                        // Plain structs of strings always serialize.
                        let reply = m.reply.and_then(|q| serde_json::to_string(q).ok());
                        let added = insert.execute(params![
                            m.room, m.sender, m.id, text, m.sent_at, m.edited, reply
                        ])?;
                        applied.added += added;
                        if let (0, Some(at)) = (added, m.edited) {
                            applied.edited +=
                                edit.execute(params![m.room, m.sender, m.id, text, at])?;
                        }
                    }
                    Op::Edit {
                        room,
                        sender,
                        id,
                        text,
                        at,
                    } => {
                        let text = cut(text, MAX_TEXT_BYTES);
                        applied.edited += edit.execute(params![room, sender, id, text, at])?;
                    }
                    Op::Delete {
                        room,
                        sender,
                        id,
                        at,
                    } => {
                        applied.deleted += forget.execute(params![room, sender, id])?;
                        tombstone.execute(params![room, sender, id, at])?;
                    }
                }
            }
        }
        tx.commit()?;
        Ok(applied)
    }

    /// Keeps `messages` (see [`Store::apply`]); returns how many were new.
    #[cfg(test)]
    pub fn insert(&mut self, messages: &[New<'_>]) -> Result<usize, Error> {
        let ops: Vec<Op<'_>> = messages.iter().cloned().map(Op::Keep).collect();
        Ok(self.apply(&ops)?.added)
    }

    /// The newest `limit` messages of `room` sent at or before `before`, newest first (by time, then by
    /// arrival), and whether older ones exist.
    pub fn page(&self, room: &str, before: i64, limit: u32) -> Result<Page, Error> {
        let mut select = self.db.prepare(
            "SELECT sender, id, text, sent_at, edited, reply FROM messages WHERE room = ?1 AND sent_at <= ?2
             ORDER BY sent_at DESC, rowid DESC LIMIT ?3",
        )?;
        let rows = select.query_map(params![room, before, i64::from(limit) + 1], |r| {
            let reply: Option<String> = r.get(5)?;
            Ok(Stored {
                sender: r.get(0)?,
                id: r.get(1)?,
                text: r.get(2)?,
                sent_at: r.get(3)?,
                edited: r.get(4)?,
                // Written by this service from a parsed quote; one that no longer reads answers nothing.
                reply: reply.and_then(|json| serde_json::from_str::<Quote>(&json).ok()),
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
        Ok(self
            .db
            .query_row("SELECT count(*) FROM messages", [], |r| r.get(0))
            .optional()
            .map(Option::unwrap_or_default)?)
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
            edited: None,
            reply: None,
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

    fn texts(page: &Page) -> Vec<(&str, Option<i64>)> {
        page.newest_first
            .iter()
            .map(|m| (m.text.as_str(), m.edited))
            .collect()
    }

    fn edit<'a>(id: &'a str, text: &'a str, at: i64) -> Op<'a> {
        Op::Edit {
            room: "general",
            sender: "ann",
            id,
            text,
            at,
        }
    }

    fn delete(id: &str) -> Op<'_> {
        Op::Delete {
            room: "general",
            sender: "ann",
            id,
            at: 99,
        }
    }

    #[test]
    fn the_later_edit_wins_and_an_edit_dated_before_its_message_is_not_believed() {
        let mut store = Store::memory().unwrap();
        let applied = store
            .apply(&[
                Op::Keep(new("ann", "a1", 10)),
                edit("a1", "second", 30),
                edit("a1", "first", 20),
                edit("a1", "before it was sent", 5),
                edit("nowhere", "x", 30),
            ])
            .unwrap();
        assert_eq!((applied.added, applied.edited), (1, 1));
        let page = store.page("general", 100, 10).unwrap();
        assert_eq!(texts(&page), [("second", Some(30))]);
        // A copy of it (a history's) edited later replaces the text; one edited earlier, or never, does not.
        let copy = |text, edited| {
            Op::Keep(New {
                text,
                edited,
                ..new("ann", "a1", 10)
            })
        };
        store
            .apply(&[copy("older copy", Some(25)), copy("unedited copy", None)])
            .unwrap();
        assert_eq!(
            texts(&store.page("general", 100, 10).unwrap()),
            [("second", Some(30))]
        );
        store.apply(&[copy("third", Some(40))]).unwrap();
        assert_eq!(
            texts(&store.page("general", 100, 10).unwrap()),
            [("third", Some(40))]
        );
    }

    #[test]
    fn a_deleted_message_is_forgotten_and_no_later_copy_brings_it_back() {
        let mut store = Store::memory().unwrap();
        store
            .insert(&[new("ann", "a1", 10), new("ann", "a2", 20)])
            .unwrap();
        let applied = store.apply(&[delete("a1"), delete("a1")]).unwrap();
        assert_eq!(applied.deleted, 1);
        // A redelivery, a history read again, an edit of it: nothing.
        let applied = store
            .apply(&[Op::Keep(new("ann", "a1", 10)), edit("a1", "back?", 30)])
            .unwrap();
        assert_eq!(applied, Applied::default());
        // Deleted before it arrived: never kept. Another sender's message of the same id is another message.
        store.apply(&[delete("a3")]).unwrap();
        assert_eq!(
            store
                .insert(&[new("ann", "a3", 30), new("bob", "a1", 40)])
                .unwrap(),
            1
        );
        assert_eq!(ids(&store.page("general", 100, 10).unwrap()), ["a1", "a2"]);
        assert_eq!(
            store.page("general", 100, 10).unwrap().newest_first[0].sender,
            "bob"
        );
    }

    #[test]
    fn a_reply_keeps_its_quote() {
        let mut store = Store::memory().unwrap();
        let quote = Quote::of("bob", "b1", "lunch?");
        store
            .insert(&[New {
                reply: Some(&quote),
                ..new("ann", "a1", 10)
            }])
            .unwrap();
        let page = store.page("general", 100, 10).unwrap();
        assert_eq!(page.newest_first[0].reply, Some(quote));
    }

    /// A file as the first version of the service left it.
    fn version_1() -> Connection {
        let db = Connection::open_in_memory().unwrap();
        db.execute_batch(STEPS[0]).unwrap();
        db.execute_batch(
            "PRAGMA user_version = 1;
             INSERT INTO messages (room, sender, id, text, sent_at) VALUES ('general', 'ann', 'old', 'kept', 5);",
        )
        .unwrap();
        db
    }

    #[test]
    fn a_file_of_the_first_version_is_brought_up_to_date_and_keeps_its_messages() {
        let mut store = Store::setup(version_1()).unwrap();
        let version: i64 = store
            .db
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, VERSION);
        let page = store.page("general", 100, 10).unwrap();
        assert_eq!(texts(&page), [("kept", None)]);
        assert_eq!(page.newest_first[0].reply, None);
        store.apply(&[edit("old", "edited", 6)]).unwrap();
        assert_eq!(
            texts(&store.page("general", 100, 10).unwrap()),
            [("edited", Some(6))]
        );
        // Opened again: nothing to do.
        let db = store.db;
        assert!(Store::setup(db).is_ok());
    }

    #[test]
    fn a_file_of_a_newer_version_is_not_touched() {
        let db = version_1();
        db.execute_batch("PRAGMA user_version = 3;").unwrap();
        match Store::setup(db) {
            Err(Error::Newer(3)) => {}
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("opened"),
        }
    }
}
