//! Finding things in what the model holds: messages by their text (the searchbox), people by the first
//! letters of their name (the composer's `@` picker), and the mention being typed.
//!
//! Matching ignores case for the letters [`names::lower`] knows (ASCII, Latin-1, Greek, basic Cyrillic):
//! `char::to_lowercase` would bring Unicode's whole case table into the page. Each of those letters has a
//! lower case of the same UTF-8 length, so a match found in the folded text is at the same bytes in the text.

use std::ops::Range;

use super::client::Content;
use super::conversation::Conversation;
use super::model::Model;
use super::names;

/// A message that matched a search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub conversation: Conversation,
    pub sender: String,
    pub id: String,
    /// Unix ms.
    pub sent_at: i64,
    pub text: String,
    /// Where the query matched, in bytes of `text` (on character boundaries).
    pub range: Range<usize>,
}

/// The messages whose text holds `query` (surrounding white space ignored, case ignored), newest first, at
/// most `limit`, from every conversation the model holds: the timelines hold everything the on-device store
/// kept, so this searches it too. The messages of muted people are not in view, so they are not found.
pub fn search(model: &Model, query: &str, limit: usize) -> Vec<Hit> {
    let needle = fold(query.trim());
    if needle.is_empty() || limit == 0 {
        return Vec::new();
    }
    let mut hits: Vec<Hit> = Vec::new();
    // One buffer for every folded text: a search runs at each keystroke over thousands of messages.
    let mut folded = String::new();
    for (conversation, _) in model.conversations() {
        // Each timeline is oldest first: from its newest message back, no more than could be shown.
        let mut found = 0;
        for item in model.messages(&conversation).iter().rev() {
            if found == limit {
                break;
            }
            let Content::Text(text) = &item.content else {
                continue;
            };
            folded.clear();
            folded.extend(text.chars().map(names::lower));
            let Some(start) = find(folded.as_bytes(), needle.as_bytes()) else {
                continue;
            };
            found += 1;
            // Kept newest first as they come (equal times in the conversations' order), the limit at most:
            // no sort routine in the page for this.
            let at = hits.partition_point(|h| h.sent_at >= item.sent_at);
            if at < limit {
                hits.truncate(limit - 1);
                hits.insert(
                    at,
                    Hit {
                        conversation: conversation.clone(),
                        sender: item.sender.clone(),
                        id: item.id.clone(),
                        sent_at: item.sent_at,
                        text: text.clone(),
                        range: start..start + needle.len(),
                    },
                );
            }
        }
    }
    hits
}

/// Where `needle` first occurs in `haystack`. Byte by byte, which is enough for texts of a few kilobytes
/// (`str::find`'s two-way searcher costs the page kilobytes). A match of UTF-8 in UTF-8 always starts on a
/// character boundary: no character's encoding starts inside another's.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

impl Hit {
    /// The hit as a result line shows it: up to `context` characters before the match ("…" in front when
    /// there were more), the match, and the rest of the text (the view clips it).
    pub fn excerpt(&self, context: usize) -> (String, &str, &str) {
        let (Some(before), Some(matched), Some(after)) = (
            self.text.get(..self.range.start),
            self.text.get(self.range.clone()),
            self.text.get(self.range.end..),
        ) else {
            // A hit made by `search` always cuts its text on character boundaries.
            return (String::new(), &self.text, "");
        };
        let cut = before
            .char_indices()
            .rev()
            .nth(context.saturating_sub(1))
            .map_or(0, |(i, _)| i);
        let lead = match (cut, before.get(cut..)) {
            (0, _) | (_, None) => before.to_owned(),
            (_, Some(kept)) => format!("…{kept}"),
        };
        (lead, matched, after)
    }
}

/// The people to offer for a mention in `conv` whose name starts with `prefix` (case ignored), at most
/// `limit`, never the reader. In a room: those who wrote in it, the most recent first (who is talking is
/// who is answered), then the others online in it, by name. In a direct conversation: the other person.
pub fn mention_candidates(
    model: &Model,
    conv: &Conversation,
    prefix: &str,
    limit: usize,
) -> Vec<String> {
    let wanted = fold(prefix);
    let mut out: Vec<String> = Vec::new();
    let mut offer = |name: &str| {
        if out.len() < limit
            && name != model.me()
            && starts_with_folded(name, &wanted)
            && !out.iter().any(|n| n == name)
        {
            out.push(name.to_owned());
        }
    };
    match conv {
        Conversation::Direct(user) => offer(user),
        Conversation::Room(room) => {
            for item in model.messages(conv).iter().rev() {
                offer(&item.sender);
            }
            for user in model.online_in(room) {
                offer(&user);
            }
        }
    }
    out
}

/// The mention being typed when the caret is at byte `caret` of `text`: the byte where its `@` is and the
/// letters typed after it, up to the caret. An `@` counts at the start of the text or after white space or an
/// opening bracket or quote, so that `alice@example.org` is not one.
pub fn mention_at(text: &str, caret: usize) -> Option<(usize, &str)> {
    let before = text.get(..caret)?;
    let at = before.rfind('@')?;
    let typed = before.get(at + 1..)?;
    if typed.len() > names::MAX_NAME_BYTES || typed.chars().any(char::is_whitespace) {
        return None;
    }
    match before.get(..at)?.chars().next_back() {
        None => Some((at, typed)),
        Some(c) if c.is_whitespace() || matches!(c, '(' | '[' | '"' | '\'' | '“' | '‘') => {
            Some((at, typed))
        }
        Some(_) => None,
    }
}

/// `text` with the mention typed from byte `at` to `caret` completed as `@name ` (no second space when one
/// follows already), and the caret after it.
pub fn complete_mention(text: &str, at: usize, caret: usize, name: &str) -> (String, usize) {
    let (Some(head), Some(tail)) = (text.get(..at), text.get(caret..)) else {
        return (text.to_owned(), caret.min(text.len()));
    };
    let mut out = String::with_capacity(text.len() + name.len() + 2);
    out.push_str(head);
    out.push('@');
    out.push_str(name);
    let caret = out.len() + 1;
    if !tail.starts_with(char::is_whitespace) {
        out.push(' ');
    }
    out.push_str(tail);
    (out, caret)
}

/// The byte offset in `text` of an offset counted in UTF-16 code units (as the browser counts a field's caret),
/// clamped to the text; an offset inside a character counts as the start of that character.
pub fn byte_offset(text: &str, utf16: usize) -> usize {
    let mut units = 0;
    for (i, c) in text.char_indices() {
        units += c.len_utf16();
        if units > utf16 {
            return i;
        }
    }
    text.len()
}

/// The offset in UTF-16 code units of byte `byte` of `text` (the end of the text, past it).
pub fn utf16_offset(text: &str, byte: usize) -> usize {
    text.char_indices()
        .take_while(|(i, _)| *i < byte)
        .map(|(_, c)| c.len_utf16())
        .sum()
}

fn fold(s: &str) -> String {
    s.chars().map(names::lower).collect()
}

/// Whether `name`, folded, starts with `wanted` (folded already).
fn starts_with_folded(name: &str, wanted: &str) -> bool {
    let mut name = name.chars().map(names::lower);
    wanted.chars().all(|w| name.next() == Some(w))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::client::{ChatEvent, ChatMessage};
    use crate::chat::message::Presence;

    fn room(r: &str) -> Conversation {
        Conversation::Room(r.into())
    }

    fn msg(conv: Conversation, sender: &str, id: &str, sent_at: i64, text: &str) -> ChatMessage {
        ChatMessage {
            conversation: conv,
            sender: sender.into(),
            id: id.into(),
            content: Content::Text(text.into()),
            truncated: false,
            sent_at,
            live: false,
            edited: None,
            reply: None,
            reacted: Vec::new(),
        }
    }

    fn model() -> Model {
        Model::new("me", &["general".into(), "rust".into()], room("general"))
    }

    fn online(m: &mut Model, user: &str, rooms: &[&str]) {
        m.apply(
            &ChatEvent::Presence {
                user: user.into(),
                client_id: format!("{user}-tab"),
                presence: Some(Presence {
                    browser: format!("{user}-browser"),
                    rooms: rooms.iter().map(|r| (*r).to_owned()).collect(),
                    since: 0,
                }),
            },
            0,
        );
    }

    #[test]
    fn lower_case_keeps_every_character_s_length_so_ranges_carry_over() {
        for c in (0..=0x10FFFF).filter_map(char::from_u32) {
            assert_eq!(names::lower(c).len_utf8(), c.len_utf8(), "{c:?}");
        }
    }

    #[test]
    fn search_finds_text_in_every_conversation_newest_first_ignoring_case() {
        let mut m = model();
        let dm = Conversation::Direct("alice".into());
        m.add_cached(msg(room("general"), "bob", "1", 10, "Deploy on Friday"));
        m.add_cached(msg(room("rust"), "carol", "2", 30, "no DEPLOYS today"));
        m.add_cached(msg(dm.clone(), "alice", "3", 20, "did the deploy work?"));
        m.add_cached(msg(room("rust"), "carol", "4", 40, "lunch"));
        let hits = search(&m, "  deploy ", 10);
        let found: Vec<_> = hits
            .iter()
            .map(|h| (&h.conversation, h.id.as_str(), &h.text[h.range.clone()]))
            .collect();
        assert_eq!(
            found,
            [
                (&room("rust"), "2", "DEPLOY"),
                (&dm, "3", "deploy"),
                (&room("general"), "1", "Deploy"),
            ]
        );
        assert_eq!(hits[0].sender, "carol");
        assert_eq!(hits[0].sent_at, 30);
        let newest: Vec<_> = search(&m, "deploy", 2).into_iter().map(|h| h.id).collect();
        assert_eq!(newest, ["2", "3"], "the newest, at most the limit");
        assert_eq!(search(&m, "  ", 10), [], "nothing is looked for");
        assert_eq!(search(&m, "deployment", 10), []);
    }

    #[test]
    fn search_ignores_case_beyond_ascii_and_gives_byte_ranges() {
        let mut m = model();
        m.add_cached(msg(
            room("general"),
            "bob",
            "1",
            1,
            "Ça va? ΑΘΗΝΑ и МОСКВА 🚀",
        ));
        for (query, matched) in [
            ("ça", "Ça"),
            ("αθηνα", "ΑΘΗΝΑ"),
            ("москва", "МОСКВА"),
            ("🚀", "🚀"),
        ] {
            let hits = search(&m, query, 5);
            let [hit] = hits.as_slice() else {
                panic!("{query}: {hits:?}");
            };
            assert_eq!(&hit.text[hit.range.clone()], matched);
        }
    }

    #[test]
    fn unreadable_messages_are_not_searched() {
        let mut m = model();
        let mut unreadable = msg(room("general"), "bob", "1", 1, "");
        unreadable.content = Content::Unreadable(7);
        m.add_cached(unreadable);
        assert_eq!(search(&m, "unreadable", 5), []);
    }

    #[test]
    fn an_excerpt_keeps_a_little_before_the_match() {
        let hit = |text: &str, query: &str| {
            let start = text.find(query).unwrap();
            Hit {
                conversation: room("general"),
                sender: "bob".into(),
                id: "1".into(),
                sent_at: 0,
                text: text.into(),
                range: start..start + query.len(),
            }
        };
        let h = hit("short one", "one");
        assert_eq!(h.excerpt(10), ("short ".into(), "one", ""));
        let h = hit("a very long beginning, then the word", "word");
        assert_eq!(h.excerpt(9), ("…then the ".into(), "word", ""));
        let h = hit("ééééé match after", "match");
        assert_eq!(h.excerpt(3), ("…éé ".into(), "match", " after"));
        let h = hit("match first", "match");
        assert_eq!(h.excerpt(0), (String::new(), "match", " first"));
    }

    #[test]
    fn mention_candidates_in_a_room_are_its_writers_then_the_others_online_never_me() {
        let mut m = model();
        online(&mut m, "bob", &["general"]);
        online(&mut m, "barbara", &["general"]);
        online(&mut m, "bert", &["rust"]);
        online(&mut m, "me", &["general"]);
        for (i, sender) in ["bill", "me", "Bea", "bill"].iter().enumerate() {
            m.add_cached(msg(room("general"), sender, &i.to_string(), i as i64, "hi"));
        }
        assert_eq!(
            mention_candidates(&m, &room("general"), "b", 8),
            ["bill", "Bea", "barbara", "bob"]
        );
        assert_eq!(
            mention_candidates(&m, &room("general"), "BA", 8),
            ["barbara"]
        );
        assert_eq!(
            mention_candidates(&m, &room("general"), "b", 2),
            ["bill", "Bea"]
        );
        assert_eq!(
            mention_candidates(&m, &room("general"), "", 8),
            ["bill", "Bea", "barbara", "bob"],
            "a bare @ offers everyone but me"
        );
        assert_eq!(
            mention_candidates(&m, &room("general"), "x", 8),
            Vec::<String>::new()
        );
    }

    #[test]
    fn in_a_direct_conversation_the_candidate_is_the_other_person() {
        let mut m = model();
        online(&mut m, "bob", &["general"]);
        let dm = Conversation::Direct("bob".into());
        assert_eq!(mention_candidates(&m, &dm, "B", 8), ["bob"]);
        assert_eq!(mention_candidates(&m, &dm, "a", 8), Vec::<String>::new());
    }

    #[test]
    #[rustfmt::skip]
    fn the_mention_being_typed_is_found_before_the_caret() {
        for (text, caret, expected) in [
            ("@b", 2, Some((0, "b"))),
            ("hi @bo", 6, Some((3, "bo"))),
            ("hi @", 4, Some((3, ""))),
            ("hi @bo there", 6, Some((3, "bo"))),
            ("hi @bo there", 12, None),            // a space since the @
            ("mail alice@example.org", 22, None),  // inside a word
            ("(@al", 4, Some((1, "al"))),
            ("line\n@al", 8, Some((5, "al"))),
            ("@é", 3, Some((0, "é"))),
            ("@é", 2, None),                       // not a character boundary
            ("no at here", 10, None),
            ("@b", 9, None),                       // past the end
        ] {
            assert_eq!(mention_at(text, caret), expected, "{text:?} at {caret}");
        }
        assert_eq!(mention_at(&format!("@{}", "a".repeat(65)), 66), None, "longer than any name");
    }

    #[test]
    fn completing_a_mention_replaces_what_was_typed_and_puts_the_caret_after_it() {
        assert_eq!(
            complete_mention("hi @b", 3, 5, "bob"),
            ("hi @bob ".into(), 8)
        );
        assert_eq!(
            complete_mention("hi @b there", 3, 5, "bob"),
            ("hi @bob there".into(), 8),
            "no second space"
        );
        assert_eq!(complete_mention("@", 0, 1, "Zoë"), ("@Zoë ".into(), 6));
        assert_eq!(
            complete_mention("@b", 0, 9, "bob"),
            ("@b".into(), 2),
            "a caret past the end changes nothing"
        );
    }

    #[test]
    fn caret_offsets_convert_between_utf16_and_bytes() {
        let text = "aé🚀b";
        // Bytes: a 0, é 1..3, 🚀 3..7, b 7..8. UTF-16: a 0, é 1, 🚀 2..4, b 4.
        #[rustfmt::skip]
        let pairs = [(0, 0), (1, 1), (2, 3), (4, 7), (5, 8)];
        for (units, bytes) in pairs {
            assert_eq!(byte_offset(text, units), bytes, "{units} units");
            assert_eq!(utf16_offset(text, bytes), units, "{bytes} bytes");
        }
        assert_eq!(byte_offset(text, 3), 3, "inside the rocket: its start");
        assert_eq!(byte_offset(text, 99), text.len());
        assert_eq!(utf16_offset(text, 99), 5);
    }
}
