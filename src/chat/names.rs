//! User and room names: each becomes one topic level, so it must be one; and on screen it must be what it
//! looks like, so that nobody can pass for somebody else.
//!
//! Names typed into this app are checked by [`validate`]. Names that arrive from the network (a topic level
//! published by any MQTT client) are shown through [`display`], and [`suspicion`] says whether one must be
//! marked: a name this app would have refused (invisible characters, bidi controls, mixed scripts), or one
//! that looks like another name seen (same [`skeleton`]).

use std::borrow::Cow;
use std::fmt;

use thiserror::Error;

/// Longest name in bytes.
pub const MAX_NAME_BYTES: usize = 64;

/// A writing system whose letters are easily mistaken for another's (Latin `a`, Cyrillic `а`, Greek `α`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Script {
    Latin,
    Greek,
    Cyrillic,
    Armenian,
    Cherokee,
}

impl fmt::Display for Script {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Latin => "Latin",
            Self::Greek => "Greek",
            Self::Cyrillic => "Cyrillic",
            Self::Armenian => "Armenian",
            Self::Cherokee => "Cherokee",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NameError {
    #[error("a name cannot be empty")]
    Empty,
    #[error("a name can be at most {MAX_NAME_BYTES} bytes long")]
    TooLong,
    #[error("a name cannot contain {0:?}")]
    Forbidden(char),
    #[error("a name cannot mix {0} and {1} letters: it could pass for somebody else's")]
    MixedScripts(Script, Script),
}

/// Why a name on screen is marked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Suspicion {
    /// Holds a character this app refuses in names (control, invisible or bidi), shown as U+FFFD.
    Hidden,
    MixedScripts(Script, Script),
    /// Looks like this other name.
    LooksLike(String),
}

impl fmt::Display for Suspicion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Hidden => f.write_str("holds invisible or control characters (shown as �)"),
            Self::MixedScripts(a, b) => write!(f, "mixes {a} and {b} letters"),
            Self::LooksLike(other) => write!(f, "looks like {other}"),
        }
    }
}

/// Trims surrounding white space and checks what is left: no `/`, `+`, `#`, no control, invisible or bidi
/// characters (U+0000 among them), letters of one of the look-alike scripts only, at most 64 bytes.
pub fn validate(raw: &str) -> Result<&str, NameError> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(NameError::TooLong);
    }
    if let Some(c) = name
        .chars()
        .find(|&c| matches!(c, '/' | '+' | '#') || hidden(c))
    {
        return Err(NameError::Forbidden(c));
    }
    if let Some((a, b)) = mixed_scripts(name) {
        return Err(NameError::MixedScripts(a, b));
    }
    Ok(name)
}

/// Control characters, and characters that draw nothing or reorder what follows: zero-width spaces and
/// joiners, the soft hyphen, bidi marks, embeddings, overrides and isolates, the BOM.
pub fn hidden(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
            | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{206F}'
            | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{FFA0}' | '\u{FFF9}'..='\u{FFFB}'
            | '\u{E0000}'..='\u{E007F}')
}

/// A name from the network as it may be drawn: every [`hidden`] character becomes a visible U+FFFD.
pub fn display(name: &str) -> Cow<'_, str> {
    if name.chars().any(hidden) {
        Cow::Owned(
            name.chars()
                .map(|c| if hidden(c) { '\u{FFFD}' } else { c })
                .collect(),
        )
    } else {
        Cow::Borrowed(name)
    }
}

/// Why `name` must be marked on screen, given the other names the reader sees (`others`, in any order, `name`
/// itself may be among them); `None` for a plain name.
///
/// A name that this app would refuse is always marked. Two names with the same [`skeleton`] are marked, but
/// not the one that is its own skeleton: `alice` stays plain when `аlice` (Cyrillic а) or `aIice` appears.
pub fn suspicion<'a>(name: &str, others: impl IntoIterator<Item = &'a str>) -> Option<Suspicion> {
    if name
        .chars()
        .any(|c| hidden(c) || matches!(c, '/' | '+' | '#'))
    {
        return Some(Suspicion::Hidden);
    }
    if let Some((a, b)) = mixed_scripts(name) {
        return Some(Suspicion::MixedScripts(a, b));
    }
    let own = skeleton(name);
    if own == name {
        return None;
    }
    others
        .into_iter()
        .find(|&other| other != name && skeleton(other) == own)
        .map(|other| Suspicion::LooksLike(display(other).into_owned()))
}

/// The script of a letter, for the look-alike scripts only (other letters, digits and symbols: `None`).
/// Judged by Unicode block alone, without the alphabetic property's tables (they would cost the page
/// kilobytes): a few signs inside these blocks count as letters of their script, which only makes the check
/// stricter.
pub fn script(c: char) -> Option<Script> {
    Some(match u32::from(c) {
        0x41..=0x5A | 0x61..=0x7A | 0xC0..=0xD6 | 0xD8..=0xF6 | 0xF8..=0x24F | 0x1E00..=0x1EFF => {
            Script::Latin
        }
        0xFF21..=0xFF3A | 0xFF41..=0xFF5A => Script::Latin,
        0x370..=0x3FF | 0x1F00..=0x1FFF => Script::Greek,
        0x400..=0x52F | 0x1C80..=0x1C8F | 0x2DE0..=0x2DFF | 0xA640..=0xA69F => Script::Cyrillic,
        0x531..=0x587 => Script::Armenian,
        0x13A0..=0x13FF | 0xAB70..=0xABBF => Script::Cherokee,
        _ => return None,
    })
}

/// The first two different look-alike scripts among `name`'s letters, if it mixes them.
fn mixed_scripts(name: &str) -> Option<(Script, Script)> {
    let mut first = None;
    for s in name.chars().filter_map(script) {
        match first {
            None => first = Some(s),
            Some(f) if f != s => return Some((f, s)),
            Some(_) => {}
        }
    }
    None
}

/// What a name looks like, after the usual tricks are undone: upper case, digits and letters of other
/// scripts that look like Latin ones, full-width forms. Two names with the same
/// skeleton can be told apart only by looking closely. (A small table of the common confusables of Unicode
/// TR39, not all of it: enough for Latin, Greek and Cyrillic.)
pub fn skeleton(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        // Before lower-casing: a capital I looks like a small l, not like an i.
        let c = match c {
            'I' | '|' | '1' | 'Ι' | 'І' | 'Ӏ' | 'ǀ' => 'l',
            '0' | 'Ο' | 'О' => 'o',
            // Full-width forms of ASCII.
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c),
            other => other,
        };
        out.push(match lower(c) {
            'а' | 'α' => 'a',
            'в' | 'β' | 'ь' => 'b',
            'с' | 'ϲ' => 'c',
            'ԁ' => 'd',
            'е' | 'ё' | 'ε' => 'e',
            'һ' | 'н' => 'h',
            'і' | 'ї' | 'ι' | 'í' => 'i',
            'ј' | 'ϳ' => 'j',
            'к' | 'κ' => 'k',
            'ӏ' => 'l',
            'м' => 'm',
            'п' | 'η' => 'n',
            'о' | 'ο' | 'σ' => 'o',
            'р' | 'ρ' => 'p',
            'ԛ' => 'q',
            'ѕ' => 's',
            'т' | 'τ' => 't',
            'υ' => 'u',
            'ν' => 'v',
            'ԝ' | 'ω' => 'w',
            'х' | 'χ' => 'x',
            'у' | 'γ' => 'y',
            other => other,
        });
    }
    out
}

/// Lower case for the letters the skeleton cares about: ASCII, Latin-1, Greek and the basic Cyrillic
/// alphabet (`char::to_lowercase` would bring Unicode's whole case table into the page).
pub fn lower(c: char) -> char {
    let offset = match u32::from(c) {
        0x41..=0x5A | 0xC0..=0xD6 | 0xD8..=0xDE | 0x391..=0x3A1 | 0x3A3..=0x3AB | 0x410..=0x42F => {
            0x20
        }
        0x400..=0x40F => 0x50,
        _ => 0,
    };
    char::from_u32(u32::from(c) + offset).unwrap_or(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_checked() {
        assert_eq!(validate("  alice "), Ok("alice"));
        assert_eq!(validate("Zoë 🚀"), Ok("Zoë 🚀"));
        assert_eq!(validate("田中 Bob"), Ok("田中 Bob"));
        assert_eq!(validate("Дмитрий"), Ok("Дмитрий"));
        assert_eq!(validate("   "), Err(NameError::Empty));
        assert_eq!(validate(&"a".repeat(65)), Err(NameError::TooLong));
        assert_eq!(validate(&"a".repeat(64)), Ok(&*"a".repeat(64)));
        for (bad, c) in [
            ("a/b", '/'),
            ("a+", '+'),
            ("#", '#'),
            ("a\0", '\0'),
            ("a\u{7}b", '\u{7}'),
            ("eve\u{202E}", '\u{202E}'),
            ("ev\u{200B}e", '\u{200B}'),
            ("\u{2066}bob", '\u{2066}'),
            ("bob\u{FEFF}", '\u{FEFF}'),
        ] {
            assert_eq!(validate(bad), Err(NameError::Forbidden(c)), "{bad:?}");
        }
    }

    #[test]
    fn a_name_mixing_look_alike_scripts_is_refused() {
        // "аlice" with a Cyrillic а (U+0430).
        assert_eq!(
            validate("\u{430}lice"),
            Err(NameError::MixedScripts(Script::Cyrillic, Script::Latin))
        );
        assert_eq!(
            validate("bοb"),
            Err(NameError::MixedScripts(Script::Latin, Script::Greek))
        );
        assert_eq!(
            validate("\u{430}lice").unwrap_err().to_string(),
            "a name cannot mix Cyrillic and Latin letters: it could pass for somebody else's"
        );
    }

    #[test]
    fn errors_read_as_sentences() {
        assert_eq!(
            validate("a/b").unwrap_err().to_string(),
            "a name cannot contain '/'"
        );
        assert_eq!(
            validate("eve\u{202E}").unwrap_err().to_string(),
            "a name cannot contain '\\u{202e}'"
        );
    }

    #[test]
    fn hidden_characters_are_drawn_as_replacement_characters() {
        assert_eq!(display("alice"), "alice");
        assert!(matches!(display("alice"), Cow::Borrowed(_)));
        assert_eq!(display("eve\u{202E}x"), "eve\u{FFFD}x");
        assert_eq!(display("a\u{7}\u{200D}b"), "a\u{FFFD}\u{FFFD}b");
    }

    #[test]
    fn lower_case_agrees_with_the_standard_library_where_it_applies() {
        let ranges = [0x41..=0x5A, 0xC0..=0xDE, 0x391..=0x3AB, 0x400..=0x42F];
        for c in ranges.into_iter().flatten().filter_map(char::from_u32) {
            if c == '\u{D7}' || c == '\u{3A2}' {
                continue; // × and an unassigned code point
            }
            let std: String = c.to_lowercase().collect();
            assert_eq!(lower(c).to_string(), std, "{c}");
        }
    }

    #[test]
    fn look_alikes_have_the_same_skeleton() {
        for (a, b) in [
            ("alice", "\u{430}lice"),
            ("alice", "\u{430}\u{4CF}\u{456}\u{441}\u{435}"), // all Cyrillic
            ("alice", "aIice"),
            ("alice", "Alice"),
            ("alice", "a1ice"),
            ("bob", "b0b"),
            ("bob", "ｂｏｂ"),
        ] {
            assert_eq!(skeleton(a), skeleton(b), "{a} / {b}");
        }
        for (a, b) in [("alice", "alicia"), ("bob", "rob"), ("ann", "anna")] {
            assert_ne!(skeleton(a), skeleton(b), "{a} / {b}");
        }
    }

    #[test]
    fn a_name_that_imitates_another_is_marked_and_the_plain_one_is_not() {
        let seen = ["alice", "\u{430}\u{4CF}\u{456}\u{441}\u{435}", "bob"];
        assert_eq!(
            suspicion("\u{430}\u{4CF}\u{456}\u{441}\u{435}", seen),
            Some(Suspicion::LooksLike("alice".into()))
        );
        assert_eq!(suspicion("alice", seen), None);
        assert_eq!(suspicion("bob", seen), None);
        // Alone, an all-Cyrillic name is a name like any other.
        assert_eq!(
            suspicion("\u{430}\u{4CF}\u{456}\u{441}\u{435}", ["bob"]),
            None
        );
        // Always marked: mixed scripts, hidden characters.
        assert_eq!(
            suspicion("\u{430}lice", []),
            Some(Suspicion::MixedScripts(Script::Cyrillic, Script::Latin))
        );
        assert_eq!(suspicion("eve\u{202E}", []), Some(Suspicion::Hidden));
        assert_eq!(
            Suspicion::LooksLike("alice".into()).to_string(),
            "looks like alice"
        );
    }
}
