//! Topic names (what a PUBLISH is sent to) and topic filters (what a SUBSCRIBE asks for) are different types,
//! each validated once on construction [MQTT-4.7].

use std::fmt;

/// A topic name: non-empty, no wildcards, no U+0000, at most 65,535 bytes [MQTT-4.7.3-1, 4.7.3-2, 3.3.2-2].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicName<'a>(&'a str);

/// A topic filter: non-empty, `#` only alone as the last level, `+` only alone in a level
/// [MQTT-4.7.1-1, 4.7.1-2, 4.7.1-3, 4.7.3-1].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicFilter<'a>(&'a str);

const MAX_LEN: usize = u16::MAX as usize;

const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
const PLUS: u64 = u64::from_ne_bytes([b'+'; 8]);
const HASH: u64 = u64::from_ne_bytes([b'#'; 8]);

/// Non-zero iff the word has a zero byte: `(w - 0x01..01) & !w & 0x80..80` (SWAR; exact as to whether there
/// is one, not as to where).
#[inline(always)]
fn zero_byte(w: u64) -> u64 {
    w.wrapping_sub(ONES) & !w & HIGHS
}

/// Non-zero iff the word holds `+`, `#` or U+0000 (`w ^ (c * 0x01..01)` has a zero byte where `w` has `c`).
#[inline(always)]
fn special_byte(w: u64) -> u64 {
    zero_byte(w) | zero_byte(w ^ PLUS) | zero_byte(w ^ HASH)
}

#[inline(always)]
fn is_special(b: u8) -> bool {
    matches!(b, b'+' | b'#' | 0)
}

/// Whether `bytes` holds `+`, `#` or U+0000. All three are ASCII and no byte of a multi-byte UTF-8 sequence is,
/// so a byte scan is exact; it looks at 8 bytes at a time.
fn has_wildcard_or_nul(bytes: &[u8]) -> bool {
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        if let Ok(word) = <[u8; 8]>::try_from(chunk).map(u64::from_ne_bytes) {
            if special_byte(word) != 0 {
                return true;
            }
        }
    }
    chunks.remainder().iter().any(|&b| is_special(b))
}

/// Whether `bytes` is all ASCII without `+`, `#` or U+0000: then it is well-formed UTF-8 and, if it is not
/// empty and at most 65,535 bytes long, a valid topic name. One pass, 8 bytes at a time, no early exit
/// (topics are short). The decoder's fast path for the topic of every PUBLISH.
pub(crate) fn is_plain_ascii_topic(bytes: &[u8]) -> bool {
    let mut chunks = bytes.chunks_exact(8);
    let mut bad = 0;
    for chunk in &mut chunks {
        if let Ok(word) = <[u8; 8]>::try_from(chunk).map(u64::from_ne_bytes) {
            bad |= (word & HIGHS) | special_byte(word);
        }
    }
    bad == 0
        && chunks
            .remainder()
            .iter()
            .all(|&b| b.is_ascii() && !is_special(b))
}

impl<'a> TopicName<'a> {
    /// Returns `None` for a string that is not a valid topic name.
    pub fn new(s: &'a str) -> Option<Self> {
        let valid = !s.is_empty() && s.len() <= MAX_LEN && !has_wildcard_or_nul(s.as_bytes());
        valid.then_some(Self(s))
    }

    pub fn as_str(&self) -> &'a str {
        self.0
    }

    /// For a string the caller has checked with [`is_plain_ascii_topic`], non-empty and at most 65,535 bytes.
    pub(crate) fn new_unchecked(s: &'a str) -> Self {
        debug_assert!(Self::new(s).is_some());
        Self(s)
    }
}

/// Whether the bytes at `range` keep the wildcard rules, looking at their neighbours in `bytes`: a wildcard
/// fills its level, i.e. sits between separators (the ends count as separators), `#` is also the last byte; no
/// U+0000 [MQTT-4.7.1-1, 4.7.1-2, 4.7.1-3]. All the special characters are ASCII, so bytes are enough.
fn wildcards_fill_their_levels(bytes: &[u8], range: std::ops::Range<usize>) -> bool {
    range.into_iter().all(|i| {
        let prev = match i.checked_sub(1) {
            Some(p) => bytes.get(p).copied(),
            None => Some(b'/'),
        };
        let next = bytes.get(i + 1).copied();
        match bytes.get(i) {
            Some(0) => false,
            Some(b'+') => prev == Some(b'/') && matches!(next, None | Some(b'/')),
            Some(b'#') => prev == Some(b'/') && next.is_none(),
            _ => true,
        }
    })
}

/// Whether `bytes` is all ASCII and a valid topic filter body (see [`is_plain_ascii_topic`]); 8 bytes at a
/// time, looking closer only at words that hold `+`, `#` or U+0000.
pub(crate) fn is_plain_ascii_filter(bytes: &[u8]) -> bool {
    let mut chunks = bytes.chunks_exact(8);
    let mut high = 0;
    let mut at = 0;
    for chunk in &mut chunks {
        if let Ok(word) = <[u8; 8]>::try_from(chunk).map(u64::from_ne_bytes) {
            high |= word & HIGHS;
            if special_byte(word) != 0 && !wildcards_fill_their_levels(bytes, at..at + 8) {
                return false;
            }
        }
        at += 8;
    }
    high == 0
        && chunks.remainder().is_ascii()
        && wildcards_fill_their_levels(bytes, at..bytes.len())
}

impl<'a> TopicFilter<'a> {
    /// Returns `None` for a string that is not a valid topic filter.
    pub fn new(s: &'a str) -> Option<Self> {
        let valid = !s.is_empty()
            && s.len() <= MAX_LEN
            && wildcards_fill_their_levels(s.as_bytes(), 0..s.len());
        valid.then_some(Self(s))
    }

    /// For a string the caller has checked with [`is_plain_ascii_filter`], non-empty and at most 65,535 bytes.
    pub(crate) fn new_unchecked(s: &'a str) -> Self {
        debug_assert!(Self::new(s).is_some());
        Self(s)
    }

    pub fn as_str(&self) -> &'a str {
        self.0
    }

    /// Whether a message published to `topic` is delivered to a subscription with this filter.
    ///
    /// [MQTT-4.7.2-1] Filters starting with a wildcard do not match topics starting with `$`.
    pub fn matches(&self, topic: TopicName<'_>) -> bool {
        let topic = topic.as_str();
        if topic.starts_with('$') && self.0.starts_with(['+', '#']) {
            return false;
        }
        let mut filter_levels = self.0.split('/');
        let mut topic_levels = topic.split('/');
        loop {
            match (filter_levels.next(), topic_levels.next()) {
                // `#` also matches the parent level: `a/#` matches `a` [MQTT-4.7.1-2].
                (Some("#"), _) => return true,
                (Some("+"), Some(_)) => {}
                (Some(f), Some(t)) if f == t => {}
                (None, None) => return true,
                _ => return false,
            }
        }
    }
}

impl fmt::Display for TopicName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl fmt::Display for TopicFilter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(filter: &str, topic: &str) -> bool {
        TopicFilter::new(filter)
            .unwrap()
            .matches(TopicName::new(topic).unwrap())
    }

    #[test]
    fn topic_names_refuse_wildcards_nul_and_empty() {
        assert!(TopicName::new("chat/rooms/general").is_some());
        assert!(TopicName::new("/").is_some());
        for bad in ["", "a/+", "a/#", "a\0b", "+"] {
            assert!(TopicName::new(bad).is_none(), "{bad:?}");
        }
        assert!(TopicName::new(&"a".repeat(65_536)).is_none());
        assert!(TopicName::new(&"a".repeat(65_535)).is_some());
    }

    #[test]
    fn the_ascii_fast_path_agrees_with_the_full_check() {
        let samples = [
            "chat/rooms/general/messages/alice",
            "a",
            "/",
            "12345678",
            "1234567+",
            "+2345678",
            "abcdefgh#",
            "abcdefghijklmno\0",
            "caf\u{e9}/x",
            "\u{7f}",
            "a+b",
            "x/y/z/\u{1F600}",
            "sixteen-bytes-ok",
        ];
        for s in samples {
            let fast = is_plain_ascii_topic(s.as_bytes());
            assert_eq!(fast, s.is_ascii() && TopicName::new(s).is_some(), "{s:?}");
        }
        assert!(!is_plain_ascii_topic(&[b'a', 0x80, b'b']));
        let filters = [
            "chat/rooms/general/messages/+",
            "#",
            "+",
            "a/#",
            "+/+/+/+/+/+/+/+/+",
            "abcdefg/+",
            "abcdefgh+",
            "abcdefg#/x",
            "abcdefgh/#",
            "abcdefgh/#/",
            "+abcdefgh",
            "a/b/c/d/e/f/g/h/\0",
            "caf\u{e9}/+",
            "a//b",
        ];
        for f in filters {
            let fast = is_plain_ascii_filter(f.as_bytes());
            assert_eq!(fast, f.is_ascii() && TopicFilter::new(f).is_some(), "{f:?}");
        }
        assert!(!is_plain_ascii_topic(&[0xFF; 9]));
    }

    proptest::proptest! {
        #[test]
        fn the_fast_paths_agree_with_the_full_checks(s in "[ab/+#\\x00\u{e9}]{0,40}") {
            let plain = s.is_ascii();
            proptest::prop_assert_eq!(is_plain_ascii_topic(s.as_bytes()), plain && !has_wildcard_or_nul(s.as_bytes()));
            proptest::prop_assert_eq!(
                is_plain_ascii_filter(s.as_bytes()),
                plain && (s.is_empty() || TopicFilter::new(&s).is_some()),
            );
        }
    }

    #[rustfmt::skip]
    #[test]
    fn topic_filters_follow_the_wildcard_rules() {
        for ok in ["#", "+", "a/#", "+/+", "a/+/b", "/+", "sport/tennis/#", "+/tennis/#", "a//b"] {
            assert!(TopicFilter::new(ok).is_some(), "{ok:?}");
        }
        for bad in ["", "a#", "a/#/b", "a+", "a/b+", "#/a", "a\0"] {
            assert!(TopicFilter::new(bad).is_none(), "{bad:?}");
        }
    }

    #[rustfmt::skip]
    #[test]
    fn filters_match_topics_as_the_spec_examples_say() {
        let cases = [
            ("sport/tennis/player1/#", "sport/tennis/player1",              true),
            ("sport/tennis/player1/#", "sport/tennis/player1/ranking",      true),
            ("sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true),
            ("sport/#",                "sport",                             true),
            ("sport/tennis/+",         "sport/tennis/player1",              true),
            ("sport/tennis/+",         "sport/tennis/player1/tennis",       false),
            ("sport/+",                "sport",                             false),
            ("sport/+",                "sport/",                            true),
            ("+/+",                    "/finance",                          true),
            ("/+",                     "/finance",                          true),
            ("+",                      "/finance",                          false),
            ("#",                      "$SYS/broker",                       false),
            ("+/monitor/Clients",      "$SYS/monitor/Clients",              false),
            ("$SYS/#",                 "$SYS/broker",                       true),
            ("$SYS/monitor/+",         "$SYS/monitor/Clients",              true),
            ("chat/rooms/+/messages/+", "chat/rooms/general/messages/alice", true),
            ("a/b",                    "a/b/c",                             false),
            ("a/b/c",                  "a/b",                               false),
        ];
        for (filter, topic, expected) in cases {
            assert_eq!(matches(filter, topic), expected, "{filter} vs {topic}");
        }
    }
}
