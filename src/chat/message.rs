//! Payloads. A message (room or direct) is `{"id": string, "text": string, "sent_at": integer Unix ms}`;
//! anything else that is valid UTF-8 is plain text from the topic's sender; anything else is unreadable.
//! Nothing a peer sends as a message is dropped silently.
//!
//! History is a JSON array of messages; presence `{"browser": string, "rooms": [string], "since": integer}`;
//! typing `{"typing": bool}`.

use serde::{Deserialize, Serialize};

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
/// an id are skipped.
pub fn parse_history(bytes: &[u8]) -> Option<Vec<Payload>> {
    let list: Vec<Payload> = serde_json::from_slice(bytes).ok()?;
    Some(list.into_iter().filter(|p| !p.id.is_empty()).collect())
}

/// Reads a payload received on a message topic.
pub fn parse(bytes: &[u8]) -> Body {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Body::Unreadable(bytes.len());
    };
    // `from_slice` (not `from_str`), like every other parse here: one instance of serde_json's reader in
    // the wasm instead of two.
    match serde_json::from_slice::<Payload>(bytes) {
        Ok(payload) if !payload.id.is_empty() => Body::Chat(payload),
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
            r#"["a"]"#,
            "",
        ] {
            assert_eq!(parse(s.as_bytes()), Body::Plain(s.into()), "{s}");
        }
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
