//! The service's part of the wire protocol (docs/history-service.md): the topics it reads and writes, a
//! request read from its payload, and an answer written within the broker's size limit. Pure: no I/O.
//!
//! | topic                                  | QoS | who publishes      | payload                                  |
//! |----------------------------------------|-----|--------------------|------------------------------------------|
//! | `chat/rooms/{room}/earlier/{user}`     | 1   | `{user}` (ACL)     | `{"req", "before", "limit"}`             |
//! | `chat/users/{user}/earlier/{room}`     | 1   | this service (ACL) | `{"req", "room", "messages", "more"}` or `{"req", "error"}` |

use serde::{Deserialize, Serialize};
use serde_json::Value;

use mqtt_chat::chat::client::MAX_PAYLOAD_BYTES;
use mqtt_chat::chat::names;
use mqtt_chat::chat::topic::ROOT;
use mqtt_chat::chat::Quote;

/// Longest request id, in bytes.
pub const MAX_REQ_BYTES: usize = 64;
/// The most messages one answer holds.
pub const MAX_LIMIT: u64 = 100;

/// Every room message, live (QoS 1).
pub const MESSAGES_FILTER: &str = "chat/rooms/+/messages/+";
/// Every request (QoS 1).
pub const REQUESTS_FILTER: &str = "chat/rooms/+/earlier/+";
/// Every retained history, in both layouts (`history/{sender}`, `history/{bucket}/{sender}`): read once per
/// connection at QoS 0, then unsubscribed.
pub const HISTORIES_FILTER: &str = "chat/rooms/+/history/#";

/// What a topic the service receives means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route<'a> {
    Message { room: &'a str, sender: &'a str },
    History { room: &'a str, sender: &'a str },
    Request { room: &'a str, user: &'a str },
}

/// Reads a topic; `None` for anything else, or when a room or a name is not a valid chat name (the chat
/// neither sends nor shows those).
pub fn route(topic: &str) -> Option<Route<'_>> {
    let levels: Vec<&str> = topic.split('/').collect();
    let route = match levels.as_slice() {
        [ROOT, "rooms", room, "messages", sender] => Route::Message { room, sender },
        [ROOT, "rooms", room, "history", sender] => Route::History { room, sender },
        [ROOT, "rooms", room, "history", bucket, sender] if !bucket.is_empty() => {
            Route::History { room, sender }
        }
        [ROOT, "rooms", room, "earlier", user] => Route::Request { room, user },
        _ => return None,
    };
    let (room, name) = match route {
        Route::Message { room, sender } | Route::History { room, sender } => (room, sender),
        Route::Request { room, user } => (room, user),
    };
    (valid_name(room) && valid_name(name)).then_some(route)
}

/// A chat name exactly as the chat writes it: [`names::validate`] accepts it unchanged.
fn valid_name(name: &str) -> bool {
    names::validate(name).is_ok_and(|v| v == name)
}

/// Where the answers to `user`'s requests about `room` go.
pub fn answer_topic(user: &str, room: &str) -> String {
    format!("{ROOT}/users/{user}/earlier/{room}")
}

/// A well-formed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub req: String,
    /// Unix ms: messages with `sent_at <= before`.
    pub before: i64,
    /// 1..=[`MAX_LIMIT`].
    pub limit: u32,
}

/// Why a request is not answered with messages. `Silent`: its `req` cannot be read, so no answer can be
/// matched to it and none is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Silent,
    /// Answered with `{"req", "error"}`.
    Error {
        req: String,
        error: String,
    },
}

/// Reads a request payload.
pub fn parse_request(payload: &[u8]) -> Result<Request, Refusal> {
    #[derive(Deserialize)]
    struct Raw {
        req: Option<Value>,
        before: Option<Value>,
        limit: Option<Value>,
    }
    let raw: Raw = serde_json::from_slice(payload).map_err(|_| Refusal::Silent)?;
    let req = match raw.req {
        Some(Value::String(req)) if !req.is_empty() && req.len() <= MAX_REQ_BYTES => req,
        _ => return Err(Refusal::Silent),
    };
    let error = |error: &str| Refusal::Error {
        req: req.clone(),
        error: error.to_owned(),
    };
    let before = raw
        .before
        .as_ref()
        .and_then(Value::as_i64)
        .ok_or_else(|| error("\"before\" must be an integer (Unix ms)"))?;
    let limit = raw
        .limit
        .as_ref()
        .and_then(Value::as_u64)
        .filter(|l| (1..=MAX_LIMIT).contains(l))
        .and_then(|l| u32::try_from(l).ok())
        .ok_or_else(|| error("\"limit\" must be an integer from 1 to 100"))?;
    Ok(Request { req, before, limit })
}

/// One stored message, as an answer carries it: its latest text, with `edited` (Unix ms) if it was edited, and
/// `reply` (the quote of the message it answers) if it is a reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stored {
    pub sender: String,
    pub id: String,
    pub text: String,
    pub sent_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<Quote>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited: Option<i64>,
}

#[derive(Serialize)]
struct Answer<'a> {
    req: &'a str,
    room: &'a str,
    messages: Vec<&'a Stored>,
    more: bool,
}

#[derive(Serialize)]
struct ErrorAnswer<'a> {
    req: &'a str,
    error: &'a str,
}

/// The answer to `req` about `room`: `newest_first` are the newest messages asked for (at most the limit),
/// `older` whether older ones exist. Sent oldest first; the oldest are left out while the payload would be
/// over [`MAX_PAYLOAD_BYTES`], and `more` is then true.
pub fn answer(req: &str, room: &str, newest_first: &[Stored], older: bool) -> Vec<u8> {
    answer_within(req, room, newest_first, older, MAX_PAYLOAD_BYTES)
}

fn answer_within(
    req: &str,
    room: &str,
    newest_first: &[Stored],
    older: bool,
    max: usize,
) -> Vec<u8> {
    // `false` is the longer of the two.
    let envelope = json(&Answer {
        req,
        room,
        messages: Vec::new(),
        more: false,
    })
    .len();
    let mut size = envelope;
    let mut kept = 0;
    for (i, message) in newest_first.iter().enumerate() {
        // Each message adds itself and, after the first, a comma.
        let add = json(message).len() + usize::from(i > 0);
        if size + add > max {
            break;
        }
        size += add;
        kept += 1;
    }
    let cut = kept < newest_first.len();
    let mut messages: Vec<&Stored> = newest_first.iter().take(kept).collect();
    messages.reverse();
    json(&Answer {
        req,
        room,
        messages,
        more: older || cut,
    })
}

/// `{"req": …, "error": …}`.
pub fn error(req: &str, error: &str) -> Vec<u8> {
    json(&ErrorAnswer { req, error })
}

/// Plain structs of strings, numbers and booleans always serialize.
fn json<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[rustfmt::skip]
    #[test]
    fn topics_are_routed_by_their_levels() {
        let cases = [
            ("chat/rooms/general/messages/ann",           Some(Route::Message { room: "general", sender: "ann" })),
            ("chat/rooms/general/history/ann",            Some(Route::History { room: "general", sender: "ann" })),
            ("chat/rooms/general/history/2026-12-02/ann", Some(Route::History { room: "general", sender: "ann" })),
            ("chat/rooms/general/earlier/bob",            Some(Route::Request { room: "general", user: "bob" })),
            ("chat/rooms/general/history",                None),
            ("chat/rooms/general/history//ann",           None),
            ("chat/rooms/general/history/a/b/ann",        None),
            ("chat/rooms/general/typing/ann",             None),
            ("chat/rooms//messages/ann",                  None),
            ("chat/rooms/general/messages/",              None),
            ("chat/rooms/general/messages/ a",            None),
            ("chat/rooms/gen\u{0}eral/messages/ann",      None),
            ("chat/users/bob/earlier/general",            None),
        ];
        for (topic, expected) in cases {
            assert_eq!(route(topic), expected, "{topic}");
        }
        assert_eq!(answer_topic("bob", "general"), "chat/users/bob/earlier/general");
    }

    #[test]
    fn a_well_formed_request_is_read() {
        let r = parse_request(br#"{"req":"r1","before":1764091234567,"limit":100,"x":1}"#);
        assert_eq!(
            r,
            Ok(Request {
                req: "r1".into(),
                before: 1_764_091_234_567,
                limit: 100
            })
        );
    }

    #[test]
    fn a_request_without_a_readable_req_gets_no_answer() {
        let long = format!(r#"{{"req":"{}","before":1,"limit":1}}"#, "r".repeat(65));
        for payload in [
            &b"not json"[..],
            b"[1,2]",
            br#"{"before":1,"limit":1}"#,
            br#"{"req":"","before":1,"limit":1}"#,
            br#"{"req":7,"before":1,"limit":1}"#,
            long.as_bytes(),
            b"\xff\xfe",
        ] {
            assert_eq!(parse_request(payload), Err(Refusal::Silent), "{payload:?}");
        }
    }

    #[test]
    fn a_request_with_a_bad_before_or_limit_gets_an_error() {
        for payload in [
            r#"{"req":"r","limit":1}"#,
            r#"{"req":"r","before":"now","limit":1}"#,
            r#"{"req":"r","before":1.5,"limit":1}"#,
            r#"{"req":"r","before":1}"#,
            r#"{"req":"r","before":1,"limit":0}"#,
            r#"{"req":"r","before":1,"limit":101}"#,
            r#"{"req":"r","before":1,"limit":1e9}"#,
            r#"{"req":"r","before":1,"limit":-1}"#,
        ] {
            assert!(
                matches!(parse_request(payload.as_bytes()), Err(Refusal::Error { req, .. }) if req == "r"),
                "{payload}"
            );
        }
    }

    fn stored(n: i64, text: &str) -> Stored {
        Stored {
            sender: "ann".into(),
            id: format!("m{n}"),
            text: text.into(),
            sent_at: n,
            reply: None,
            edited: None,
        }
    }

    #[test]
    fn an_answer_is_oldest_first_as_documented() {
        let newest_first = [stored(2, "b"), stored(1, "a")];
        let bytes = answer("r", "general", &newest_first, false);
        assert_eq!(
            std::str::from_utf8(&bytes).unwrap(),
            r#"{"req":"r","room":"general","messages":[{"sender":"ann","id":"m1","text":"a","sent_at":1},{"sender":"ann","id":"m2","text":"b","sent_at":2}],"more":false}"#
        );
        assert_eq!(
            error("r", "too many requests"),
            br#"{"req":"r","error":"too many requests"}"#
        );
    }

    #[test]
    fn an_edited_reply_carries_its_quote_and_edit_time_as_the_chat_reads_them() {
        let reply = Stored {
            reply: Some(Quote::of("bob", "b1", "lunch?")),
            edited: Some(5),
            ..stored(3, "yes")
        };
        let bytes = answer("r", "general", &[reply], false);
        assert_eq!(
            std::str::from_utf8(&bytes).unwrap(),
            r#"{"req":"r","room":"general","messages":[{"sender":"ann","id":"m3","text":"yes","sent_at":3,"reply":{"sender":"bob","id":"b1","text":"lunch?"},"edited":5}],"more":false}"#
        );
        let read = mqtt_chat::chat::message::parse_earlier(&bytes).unwrap();
        let m = &read.messages[0];
        assert_eq!(
            (m.reply.as_ref().map(|q| q.id.as_str()), m.edited),
            (Some("b1"), Some(5))
        );
    }

    #[test]
    fn an_answer_over_the_limit_leaves_out_the_oldest() {
        let newest_first: Vec<Stored> =
            (0..10).rev().map(|n| stored(n, &"x".repeat(100))).collect();
        let whole = answer_within("r", "general", &newest_first, false, usize::MAX);
        for max in [whole.len(), whole.len() - 1, 500, 200, 10] {
            let bytes = answer_within("r", "general", &newest_first, false, max);
            assert!(bytes.len() <= max.max(60), "{} > {max}", bytes.len());
            let v: Value = serde_json::from_slice(&bytes).unwrap();
            let sent: Vec<i64> = v["messages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["sent_at"].as_i64().unwrap())
                .collect();
            let kept = sent.len() as i64;
            // The newest `kept`, oldest first.
            assert_eq!(sent, ((10 - kept)..10).collect::<Vec<_>>(), "max {max}");
            assert_eq!(v["more"], Value::Bool(kept < 10), "max {max}");
        }
    }
}
