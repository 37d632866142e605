//! Room message payloads: `{"id": string, "text": string, "sent_at": integer Unix ms}`.
//!
//! Anything else that is valid UTF-8 is plain text from the topic's sender; anything else is unreadable.
//! Nothing a peer sends is dropped silently.

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

impl Payload {
    pub fn to_json(&self) -> Vec<u8> {
        // Serializing a struct of strings and an integer cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// Reads a payload received on a room message topic.
pub fn parse(bytes: &[u8]) -> Body {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Body::Unreadable(bytes.len());
    };
    match serde_json::from_str::<Payload>(text) {
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
        let json = p.to_json();
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
    fn invalid_utf8_is_unreadable_not_dropped() {
        assert_eq!(parse(&[0xff, 0xfe, 0x00]), Body::Unreadable(3));
    }
}
