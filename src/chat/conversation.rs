//! Conversations (rooms and direct messages) and their timelines: ordered, each message once.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use super::names;

/// A room, or the direct messages with one person.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Conversation {
    Room(String),
    Direct(String),
}

impl Conversation {
    /// Reads the page URL's fragment: `#general` is a room, `#@alice` a direct conversation.
    pub fn from_fragment(fragment: &str) -> Option<Self> {
        let raw = fragment.strip_prefix('#').unwrap_or(fragment);
        let decoded = percent_decode(raw)?;
        match decoded.strip_prefix('@') {
            Some(user) => names::validate(user)
                .ok()
                .map(|u| Self::Direct(u.to_owned())),
            None => names::validate(&decoded)
                .ok()
                .map(|r| Self::Room(r.to_owned())),
        }
    }

    /// The URL fragment that opens this conversation (percent-encoded where a URL needs it).
    pub fn fragment(&self) -> String {
        let raw = match self {
            Self::Room(room) => room.clone(),
            Self::Direct(user) => format!("@{user}"),
        };
        let mut out = String::from("#");
        for b in raw.bytes() {
            if b.is_ascii_alphanumeric() || b"-._~@!$'()*,;=:".contains(&b) {
                out.push(char::from(b));
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
        out
    }

    pub fn room(&self) -> Option<&str> {
        match self {
            Self::Room(room) => Some(room),
            Self::Direct(_) => None,
        }
    }
}

impl fmt::Display for Conversation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Room(room) => write!(f, "#{room}"),
            Self::Direct(user) => write!(f, "@{user}"),
        }
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// What a timeline orders by and identifies a message with.
pub trait Entry {
    fn sent_at(&self) -> i64;
    fn key(&self) -> (&str, &str);
}

impl<T: Entry> Entry for Arc<T> {
    fn sent_at(&self) -> i64 {
        T::sent_at(self)
    }

    fn key(&self) -> (&str, &str) {
        T::key(self)
    }
}

/// Messages ordered by time sent (ties keep arrival order), each `(sender, id)` once.
#[derive(Debug, Clone)]
pub struct Timeline<T> {
    entries: Vec<T>,
    keys: HashSet<(String, String)>,
}

impl<T> Default for Timeline<T> {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
            keys: HashSet::new(),
        }
    }
}

impl<T: Entry> Timeline<T> {
    /// Inserts in order; returns the position, or `None` for a message already here.
    pub fn insert(&mut self, entry: T) -> Option<usize> {
        let (sender, id) = entry.key();
        if !self.keys.insert((sender.to_owned(), id.to_owned())) {
            return None;
        }
        // Usually the newest: search from the end.
        let at = self
            .entries
            .partition_point(|e| e.sent_at() <= entry.sent_at());
        self.entries.insert(at, entry);
        Some(at)
    }

    /// Where the entry `(sender, id)` is, if it is here (searched from the newest: changes are usually to
    /// recent messages).
    pub fn position(&self, sender: &str, id: &str) -> Option<usize> {
        self.entries.iter().rposition(|e| e.key() == (sender, id))
    }

    /// Puts `entry` in place of the one at `at` (the same message, changed; its time must not change).
    pub fn replace(&mut self, at: usize, entry: T) -> Option<T> {
        self.entries
            .get_mut(at)
            .map(|slot| std::mem::replace(slot, entry))
    }

    /// Removes the entry at `at` for good: its key stays, so the same message is not added again (a deleted
    /// message coming back from a history or a redelivery).
    pub fn remove(&mut self, at: usize) -> Option<T> {
        (at < self.entries.len()).then(|| self.entries.remove(at))
    }

    pub fn contains(&self, sender: &str, id: &str) -> bool {
        self.keys.contains(&(sender.to_owned(), id.to_owned()))
    }

    pub fn entries(&self) -> &[T] {
        &self.entries
    }

    /// Removes and returns the entries `pred` picks, in order; they may be inserted again.
    pub fn take(&mut self, pred: impl Fn(&T) -> bool) -> Vec<T> {
        let (taken, kept) = std::mem::take(&mut self.entries)
            .into_iter()
            .partition::<Vec<T>, _>(|e| pred(e));
        self.entries = kept;
        for e in &taken {
            let (sender, id) = e.key();
            self.keys.remove(&(sender.to_owned(), id.to_owned()));
        }
        taken
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq)]
    struct E(&'static str, &'static str, i64);

    impl Entry for E {
        fn sent_at(&self) -> i64 {
            self.2
        }
        fn key(&self) -> (&str, &str) {
            (self.0, self.1)
        }
    }

    #[test]
    fn a_timeline_orders_by_time_and_keeps_each_message_once() {
        let mut t = Timeline::default();
        assert_eq!(t.insert(E("a", "1", 10)), Some(0));
        assert_eq!(t.insert(E("b", "1", 30)), Some(1));
        assert_eq!(
            t.insert(E("a", "2", 20)),
            Some(1),
            "history merges in order"
        );
        assert_eq!(
            t.insert(E("c", "1", 20)),
            Some(2),
            "equal times keep arrival order"
        );
        assert_eq!(
            t.insert(E("a", "2", 20)),
            None,
            "a redelivery is not shown twice"
        );
        let order: Vec<_> = t.entries().iter().map(|e| (e.0, e.1)).collect();
        assert_eq!(order, [("a", "1"), ("a", "2"), ("c", "1"), ("b", "1")]);
        assert!(t.contains("b", "1") && !t.contains("b", "2"));
        let taken = t.take(|e| e.0 == "a");
        assert_eq!(taken, [E("a", "1", 10), E("a", "2", 20)]);
        assert!(!t.contains("a", "1"), "what is taken may come back");
        assert_eq!(t.insert(E("a", "1", 10)), Some(0));
    }

    #[test]
    fn conversations_live_in_the_url_fragment() {
        for c in [
            Conversation::Room("general".into()),
            Conversation::Direct("alice".into()),
            Conversation::Room("café talk".into()),
        ] {
            assert_eq!(
                Conversation::from_fragment(&c.fragment()),
                Some(c.clone()),
                "{}",
                c.fragment()
            );
        }
        assert_eq!(
            Conversation::Room("café talk".into()).fragment(),
            "#caf%C3%A9%20talk"
        );
        assert_eq!(Conversation::from_fragment("#"), None);
        assert_eq!(
            Conversation::from_fragment("#a%2Fb"),
            None,
            "a slash is not a room name"
        );
        assert_eq!(Conversation::from_fragment("#%zz"), None);
        assert_eq!(Conversation::Direct("bob".into()).to_string(), "@bob");
    }
}
