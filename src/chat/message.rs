//! Payloads. A message (room or direct) is `{"id": string, "text": string, "sent_at": integer Unix ms}`;
//! anything else that is valid UTF-8 is plain text from the topic's sender; anything else is unreadable.
//! Nothing a peer sends as a message is dropped silently.
//!
//! History is a JSON array of messages; presence `{"browser": string, "rooms": [string], "since": integer}`;
//! typing `{"typing": bool}`.

use serde::{Deserialize, Serialize};

use super::names;

/// Longest message id, in bytes; a payload with a longer one is not a chat message (it shows as plain text).
pub const MAX_ID_BYTES: usize = 64;
/// The most rooms a tab may be in, and the most a presence is read for: the rest of a longer list is ignored.
pub const MAX_ROOMS: usize = 100;

/// The JSON payload of a room message, exactly as on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payload {
    pub id: String,
    pub text: String,
    pub sent_at: i64,
}

/// What a received payload turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    Chat(Payload),
    /// Valid UTF-8 but not a chat payload: shown as plain text.
    Plain(String),
    /// Not UTF-8: shown as an unreadable message of this many bytes.
    Unreadable(usize),
}

/// One open tab of a user, as its retained presence message says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Presence {
    /// Identifies the browser (shared by its tabs), so that a name in use elsewhere can be refused.
    pub browser: String,
    /// The rooms the tab is in.
    pub rooms: Vec<String>,
    /// Unix ms when the tab came online.
    pub since: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Typing {
    pub typing: bool,
}

/// Serializes a payload type; these are plain structs of strings and numbers, which always serialize.
pub fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

/// A sender's history in a room: `None` when the payload is not a JSON array of messages. Entries without
/// a valid id are skipped.
pub fn parse_history(bytes: &[u8]) -> Option<Vec<Payload>> {
    let list: Vec<Payload> = serde_json::from_slice(bytes).ok()?;
    Some(list.into_iter().filter(|p| valid_id(&p.id)).collect())
}

/// A tab's presence: `None` when the payload is not one (an unreadable presence counts as no tab). Of its
/// rooms, the first [`MAX_ROOMS`] valid names are kept; a browser id over [`MAX_ID_BYTES`] is not one.
pub fn parse_presence(bytes: &[u8]) -> Option<Presence> {
    let mut p: Presence = serde_json::from_slice(bytes).ok()?;
    if p.browser.len() > MAX_ID_BYTES {
        return None;
    }
    p.rooms = std::mem::take(&mut p.rooms)
        .into_iter()
        .filter(|r| names::validate(r).is_ok_and(|v| v == r))
        .take(MAX_ROOMS)
        .collect();
    Some(p)
}

/// Whether the history service's marker says it runs: `{"version": 1}` (empty: it went away).
pub fn service_runs(payload: &[u8]) -> bool {
    #[derive(Deserialize)]
    struct Marker {
        version: u32,
    }
    serde_json::from_slice::<Marker>(payload).is_ok_and(|m| m.version == 1)
}

/// A request to the history service for the newest `limit` messages sent at or before `before` (Unix ms).
#[derive(Debug, Serialize)]
pub struct EarlierRequest<'a> {
    pub req: &'a str,
    pub before: i64,
    pub limit: usize,
}

/// The history service's answer to a request for earlier messages (docs/history-service.md).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Earlier {
    pub req: String,
    #[serde(default)]
    pub messages: Vec<EarlierMessage>,
    #[serde(default)]
    pub more: bool,
    /// The service's words, when it could not answer.
    #[serde(default)]
    pub error: Option<String>,
}

/// A message in an [`Earlier`] answer: its sender is the one the service read from the message's topic.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct EarlierMessage {
    pub sender: String,
    pub id: String,
    pub text: String,
    pub sent_at: i64,
}

/// The most messages taken from one answer (the service sends at most 100).
pub const MAX_EARLIER: usize = 100;

/// Reads an answer of the history service; `None` if it is not one. Messages with an invalid sender or id are
/// left out, and at most [`MAX_EARLIER`] taken.
pub fn parse_earlier(bytes: &[u8]) -> Option<Earlier> {
    let mut answer: Earlier = serde_json::from_slice(bytes).ok()?;
    answer.messages.retain(|m| {
        valid_id(&m.id) && super::names::validate(&m.sender).is_ok_and(|n| n == m.sender)
    });
    answer.messages.truncate(MAX_EARLIER);
    Some(answer)
}

fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_ID_BYTES
}

/// A text as it may be drawn: control characters other than line breaks and tabs become a visible U+FFFD.
/// (Bidi controls stay: the view confines them to the text.)
pub fn clean_text(text: String) -> String {
    if text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\t'))
    {
        text.chars()
            .map(|c| {
                if c.is_control() && !matches!(c, '\n' | '\t') {
                    '\u{FFFD}'
                } else {
                    c
                }
            })
            .collect()
    } else {
        text
    }
}

/// Reads a payload received on a message topic.
pub fn parse(bytes: &[u8]) -> Body {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Body::Unreadable(bytes.len());
    };
    // `from_slice` (not `from_str`), like every other parse here: one instance of serde_json's reader in
    // the wasm instead of two.
    match serde_json::from_slice::<Payload>(bytes) {
        Ok(payload) if valid_id(&payload.id) => Body::Chat(payload),
        _ => Body::Plain(text.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chat_payload_round_trips_as_the_documented_json() {
        let p = Payload {
            id: "a-1".into(),
            text: "hi \"there\" <b>".into(),
            sent_at: 1_700_000_000_123,
        };
        let json = to_json(&p);
        assert_eq!(
            std::str::from_utf8(&json).unwrap(),
            r#"{"id":"a-1","text":"hi \"there\" <b>","sent_at":1700000000123}"#
        );
        assert_eq!(parse(&json), Body::Chat(p));
    }

    #[test]
    fn other_utf8_is_plain_text() {
        assert_eq!(parse(b"hi from cli"), Body::Plain("hi from cli".into()));
        // Wrong types, missing fields, non-integer times, empty ids, other JSON: plain text.
        for s in [
            r#"{"id":1,"text":"x","sent_at":1}"#,
            r#"{"text":"x","sent_at":1}"#,
            r#"{"id":"a","text":"x","sent_at":1.5}"#,
            r#"{"id":"","text":"x","sent_at":1}"#,
            r#"{"id":"a","text":"x","sent_at":1e400}"#,
            r#"{"id":"a","text":"x","sent_at":9223372036854775808}"#,
            r#"{"id":"#,
            r#"["a"]"#,
            "",
        ] {
            assert_eq!(parse(s.as_bytes()), Body::Plain(s.into()), "{s}");
        }
    }

    #[test]
    fn an_overlong_id_is_not_a_chat_message() {
        let ok = format!(
            r#"{{"id":"{}","text":"x","sent_at":1}}"#,
            "i".repeat(MAX_ID_BYTES)
        );
        assert!(matches!(parse(ok.as_bytes()), Body::Chat(_)));
        let long = format!(
            r#"{{"id":"{}","text":"x","sent_at":1}}"#,
            "i".repeat(MAX_ID_BYTES + 1)
        );
        assert_eq!(parse(long.as_bytes()), Body::Plain(long.clone()));
    }

    #[test]
    fn deeply_nested_json_is_plain_text_not_a_crash() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(matches!(parse(deep.as_bytes()), Body::Plain(_)));
        assert_eq!(parse_history(deep.as_bytes()), None);
        assert_eq!(parse_presence(deep.as_bytes()), None);
    }

    #[test]
    fn a_presence_keeps_its_first_hundred_valid_rooms() {
        let rooms: Vec<String> = (0..10_000).map(|i| format!("r{i}")).collect();
        let mut json = serde_json::json!({"browser": "b", "rooms": rooms, "since": 1});
        json["rooms"][0] = "bad/room".into();
        json["rooms"][1] = "eve\u{202E}".into();
        let p = parse_presence(json.to_string().as_bytes()).unwrap();
        assert_eq!(p.rooms.len(), MAX_ROOMS);
        assert_eq!(p.rooms[0], "r2", "invalid names are dropped");
        let huge_browser = format!(r#"{{"browser":"{}","rooms":[],"since":1}}"#, "b".repeat(65));
        assert_eq!(parse_presence(huge_browser.as_bytes()), None);
        assert_eq!(parse_presence(b"{}"), None);
    }

    #[test]
    fn control_characters_in_text_are_shown_as_replacement_characters() {
        assert_eq!(
            clean_text("a\u{7}b\nc\td\u{1b}[31m".into()),
            "a\u{FFFD}b\nc\td\u{FFFD}[31m"
        );
        assert_eq!(
            clean_text("\u{202E}evil".into()),
            "\u{202E}evil",
            "bidi controls stay"
        );
    }

    #[test]
    fn extra_fields_are_tolerated_for_forward_compatibility() {
        let Body::Chat(p) = parse(br#"{"id":"a","text":"x","sent_at":5,"v":2}"#) else {
            panic!()
        };
        assert_eq!(p.sent_at, 5);
    }

    #[test]
    fn history_is_an_array_of_messages() {
        let list = br#"[{"id":"a","text":"x","sent_at":1},{"id":"","text":"y","sent_at":2}]"#;
        let h = parse_history(list).unwrap();
        assert_eq!(h.len(), 1, "entries without an id are skipped");
        assert_eq!(parse_history(b"[]"), Some(vec![]));
        assert_eq!(parse_history(b"nope"), None);
        assert_eq!(parse_history(br#"{"id":"a"}"#), None);
    }

    #[test]
    fn presence_and_typing_have_their_documented_shape() {
        let p = Presence {
            browser: "b1".into(),
            rooms: vec!["general".into()],
            since: 5,
        };
        assert_eq!(
            to_json(&p),
            br#"{"browser":"b1","rooms":["general"],"since":5}"#
        );
        assert_eq!(to_json(&Typing { typing: true }), br#"{"typing":true}"#);
    }

    #[test]
    fn invalid_utf8_is_unreadable_not_dropped() {
        assert_eq!(parse(&[0xff, 0xfe, 0x00]), Body::Unreadable(3));
    }
}
