//! Payloads. A message (room or direct) is `{"id": string, "text": string, "sent_at": integer Unix ms}`, with
//! an optional `reply` (the message it answers). A change to a message is an event on the same topic that
//! names its target by `(sender, id)` and its `kind`: `edit`, `delete` (of the topic's sender's own messages
//! only) or `react`; an event of a kind this version does not know is ignored. Anything else that is valid
//! UTF-8 is plain text from the topic's sender; anything else is unreadable. Nothing a peer sends as a message
//! is dropped silently.
//!
//! History is a JSON array of messages (an edited one with `edited`, a deleted one as `deleted`) and of the
//! sender's reactions; presence `{"browser": string, "rooms": [string], "since": integer}`; typing
//! `{"typing": bool}`.

use serde::{Deserialize, Serialize};

use super::names;

/// Longest message id, in bytes; a payload with a longer one is not a chat message (it shows as plain text).
pub const MAX_ID_BYTES: usize = 64;
/// The most rooms a tab may be in, and the most a presence is read for: the rest of a longer list is ignored.
pub const MAX_ROOMS: usize = 100;

/// The reactions offered, in the order offered. A reaction with another emoji is ignored.
pub const REACTIONS: [&str; 6] = ["👍", "❤️", "😂", "🎉", "😮", "😢"];

/// The longest quote of the message answered that a reply carries, in characters.
pub const QUOTE_CHARS: usize = 120;

/// The JSON payload of a message, exactly as on the wire (and as an entry of a history).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payload {
    pub id: String,
    pub text: String,
    pub sent_at: i64,
    /// The message this one answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<Quote>,
    /// When its author last changed the text (Unix ms): in histories, and in the device's copy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited: Option<i64>,
    /// In a history only: its author deleted it. Kept in place of the message (without its text) so that a copy
    /// held elsewhere — another device, an old backup — does not bring it back.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
}

/// A message named by its sender and id: what a change refers to.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Target {
    pub sender: String,
    pub id: String,
}

/// The message a reply answers: who sent it, its id, and the start of its text.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quote {
    pub sender: String,
    pub id: String,
    pub text: String,
}

impl Quote {
    /// A quote of `text`: its first [`QUOTE_CHARS`] characters, on one line.
    pub fn of(sender: &str, id: &str, text: &str) -> Self {
        let mut quote: String = text
            .chars()
            .take(QUOTE_CHARS)
            .map(|c| if c == '\n' { ' ' } else { c })
            .collect();
        if text.chars().nth(QUOTE_CHARS).is_some() {
            quote.push('…');
        }
        Self {
            sender: sender.to_owned(),
            id: id.to_owned(),
            text: quote,
        }
    }
}

/// A change its author makes to a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// New text for a message of the event's sender.
    Edit { id: String, text: String },
    /// A message of the event's sender taken back.
    Delete { id: String },
    /// The event's sender adds (`on`) or takes back a reaction to anyone's message.
    React { to: Target, emoji: String, on: bool },
}

/// One of a sender's reactions, as its history keeps it: the newest word on `(to, emoji)` wins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reacted {
    pub to: Target,
    pub emoji: String,
    pub on: bool,
    pub sent_at: i64,
}

/// Every field any payload on a message topic (or entry of a history) may have: read in one pass, then sorted
/// out by [`classify`]. Wrong types anywhere make it not one of ours (plain text), as before events existed.
#[derive(Deserialize)]
struct Wire {
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    text: Option<String>,
    sent_at: i64,
    #[serde(default)]
    reply: Option<Quote>,
    #[serde(default)]
    edited: Option<i64>,
    #[serde(default)]
    deleted: bool,
    #[serde(default)]
    to: Option<Target>,
    #[serde(default)]
    emoji: Option<String>,
    #[serde(default)]
    on: Option<bool>,
}

/// An event as sent: `{"kind": "edit", "to": {"sender", "id"}, "text", "sent_at"}`, `{"kind": "delete", "to",
/// "sent_at"}`, `{"kind": "react", "to", "emoji", "on", "sent_at"}`.
#[derive(Serialize)]
struct WireEvent<'a> {
    kind: &'static str,
    to: &'a Target,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    emoji: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    on: Option<bool>,
    sent_at: i64,
}

/// The payload of a change by `sender` (the topic's: an edit or a deletion names the sender's own message).
pub fn event_json(sender: &str, change: &Change, sent_at: i64) -> Vec<u8> {
    let own = |id: &str| Target {
        sender: sender.to_owned(),
        id: id.to_owned(),
    };
    match change {
        Change::Edit { id, text } => to_json(&WireEvent {
            kind: "edit",
            to: &own(id),
            text: Some(text),
            emoji: None,
            on: None,
            sent_at,
        }),
        Change::Delete { id } => to_json(&WireEvent {
            kind: "delete",
            to: &own(id),
            text: None,
            emoji: None,
            on: None,
            sent_at,
        }),
        Change::React { to, emoji, on } => reaction_json(&Reacted {
            to: to.clone(),
            emoji: emoji.clone(),
            on: *on,
            sent_at,
        }),
    }
}

fn reaction_event(r: &Reacted) -> WireEvent<'_> {
    WireEvent {
        kind: "react",
        to: &r.to,
        text: None,
        emoji: Some(&r.emoji),
        on: Some(r.on),
        sent_at: r.sent_at,
    }
}

fn reaction_json(r: &Reacted) -> Vec<u8> {
    to_json(&reaction_event(r))
}

/// An entry of a history as written: a message, or a reaction (the same JSON as its event).
#[derive(Serialize)]
#[serde(untagged)]
enum HistoryEntry<'a> {
    Message(&'a Payload),
    Reaction(WireEvent<'a>),
}

/// A sender's history in a room: their messages, oldest first, then their reactions.
pub fn history_json(messages: &[Payload], reactions: &[Reacted]) -> Vec<u8> {
    let entries: Vec<HistoryEntry<'_>> = messages
        .iter()
        .map(HistoryEntry::Message)
        .chain(
            reactions
                .iter()
                .map(|r| HistoryEntry::Reaction(reaction_event(r))),
        )
        .collect();
    to_json(&entries)
}

/// What a received payload turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    Chat(Payload),
    /// A change by the topic's sender, made at this time (the sender's clock).
    Change(Change, i64),
    /// An event of a kind this version does not know (a newer client's), or one that cannot apply (an edit
    /// of someone else's message, a reaction that is not one of [`REACTIONS`]): ignored.
    Ignored,
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

/// A sender's history in a room, as read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    /// Their messages; a deleted one stands in its place with `deleted` (and no text).
    pub messages: Vec<Payload>,
    pub reactions: Vec<Reacted>,
}

/// A sender's history in a room: `None` when the payload is not a JSON array of messages and reactions.
/// Entries that are neither (no valid id, an event of another kind) are skipped.
pub fn parse_history(bytes: &[u8]) -> Option<History> {
    let list: Vec<Wire> = serde_json::from_slice(bytes).ok()?;
    let mut history = History::default();
    for entry in list {
        match classify(entry, None) {
            Some(Body::Chat(p)) => history.messages.push(p),
            Some(Body::Change(Change::React { to, emoji, on }, sent_at)) => {
                history.reactions.push(Reacted {
                    to,
                    emoji,
                    on,
                    sent_at,
                });
            }
            _ => {}
        }
    }
    Some(history)
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
    #[serde(default)]
    pub reply: Option<Quote>,
    #[serde(default)]
    pub edited: Option<i64>,
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

/// Reads a payload received on a message topic of `sender`.
pub fn parse(bytes: &[u8], sender: &str) -> Body {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Body::Unreadable(bytes.len());
    };
    // `from_slice` (not `from_str`), like every other parse here: one instance of serde_json's reader in
    // the wasm instead of two.
    serde_json::from_slice::<Wire>(bytes)
        .ok()
        .and_then(|w| classify(w, Some(sender)))
        .unwrap_or_else(|| Body::Plain(text.to_owned()))
}

/// What a payload read as [`Wire`] is; `None` when it is not one of ours. `sender` is the topic's, for a live
/// payload: an edit or a deletion of another sender's message is ignored. (In a history, the entries are the
/// sender's own messages and reactions; no edit or deletion events.)
fn classify(w: Wire, sender: Option<&str>) -> Option<Body> {
    let valid_target =
        |t: &Target| valid_id(&t.id) && names::validate(&t.sender).is_ok_and(|n| n == t.sender);
    let own = |t: &Target| sender.is_some_and(|s| s == t.sender);
    match w.kind.as_deref() {
        None | Some("message") => {
            let id = w.id.filter(|id| valid_id(id))?;
            if w.deleted {
                return Some(match sender {
                    // A live message that says it is deleted: its sender takes it back.
                    Some(_) => Body::Change(Change::Delete { id }, w.sent_at),
                    None => Body::Chat(Payload {
                        id,
                        sent_at: w.sent_at,
                        deleted: true,
                        ..Payload::default()
                    }),
                });
            }
            // A reply naming a message that cannot be one is shown as a message that answers nothing.
            let reply = w.reply.filter(|q| {
                valid_id(&q.id) && names::validate(&q.sender).is_ok_and(|n| n == q.sender)
            });
            let reply = reply.map(|q| Quote::of(&q.sender, &q.id, &q.text));
            Some(Body::Chat(Payload {
                id,
                text: w.text?,
                sent_at: w.sent_at,
                reply,
                edited: w.edited,
                deleted: false,
            }))
        }
        Some("edit") => {
            let to = w.to.filter(valid_target)?;
            let text = w.text?;
            Some(if own(&to) {
                Body::Change(Change::Edit { id: to.id, text }, w.sent_at)
            } else {
                Body::Ignored
            })
        }
        Some("delete") => {
            let to = w.to.filter(valid_target)?;
            Some(if own(&to) {
                Body::Change(Change::Delete { id: to.id }, w.sent_at)
            } else {
                Body::Ignored
            })
        }
        Some("react") => {
            let to = w.to.filter(valid_target)?;
            let emoji = w.emoji?;
            if !REACTIONS.contains(&emoji.as_str()) {
                return Some(Body::Ignored);
            }
            let on = w.on.unwrap_or(true);
            Some(Body::Change(Change::React { to, emoji, on }, w.sent_at))
        }
        Some(_) => Some(Body::Ignored),
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
            ..Default::default()
        };
        let json = to_json(&p);
        assert_eq!(
            std::str::from_utf8(&json).unwrap(),
            r#"{"id":"a-1","text":"hi \"there\" <b>","sent_at":1700000000123}"#
        );
        assert_eq!(parse(&json, "s"), Body::Chat(p));
    }

    #[test]
    fn other_utf8_is_plain_text() {
        assert_eq!(
            parse(b"hi from cli", "s"),
            Body::Plain("hi from cli".into())
        );
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
            assert_eq!(parse(s.as_bytes(), "s"), Body::Plain(s.into()), "{s}");
        }
    }

    #[test]
    fn an_overlong_id_is_not_a_chat_message() {
        let ok = format!(
            r#"{{"id":"{}","text":"x","sent_at":1}}"#,
            "i".repeat(MAX_ID_BYTES)
        );
        assert!(matches!(parse(ok.as_bytes(), "s"), Body::Chat(_)));
        let long = format!(
            r#"{{"id":"{}","text":"x","sent_at":1}}"#,
            "i".repeat(MAX_ID_BYTES + 1)
        );
        assert_eq!(parse(long.as_bytes(), "s"), Body::Plain(long.clone()));
    }

    #[test]
    fn deeply_nested_json_is_plain_text_not_a_crash() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(matches!(parse(deep.as_bytes(), "s"), Body::Plain(_)));
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
        let Body::Chat(p) = parse(br#"{"id":"a","text":"x","sent_at":5,"v":2}"#, "s") else {
            panic!()
        };
        assert_eq!(p.sent_at, 5);
    }

    #[test]
    fn history_is_an_array_of_messages() {
        let list = br#"[{"id":"a","text":"x","sent_at":1},{"id":"","text":"y","sent_at":2}]"#;
        let h = parse_history(list).unwrap().messages;
        assert_eq!(h.len(), 1, "entries without an id are skipped");
        assert_eq!(parse_history(b"[]"), Some(History::default()));
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
    fn changes_name_their_message_and_only_the_topics_sender_may_edit_or_delete() {
        let to = Target {
            sender: "bob".into(),
            id: "b1".into(),
        };
        let edit = Change::Edit {
            id: "b1".into(),
            text: "fixed".into(),
        };
        let json = event_json("bob", &edit, 7);
        assert_eq!(
            std::str::from_utf8(&json).unwrap(),
            r#"{"kind":"edit","to":{"sender":"bob","id":"b1"},"text":"fixed","sent_at":7}"#
        );
        assert_eq!(parse(&json, "bob"), Body::Change(edit, 7));
        assert_eq!(
            parse(&json, "eve"),
            Body::Ignored,
            "eve's topic, bob's message"
        );
        let delete = event_json("bob", &Change::Delete { id: "b1".into() }, 8);
        assert_eq!(
            std::str::from_utf8(&delete).unwrap(),
            r#"{"kind":"delete","to":{"sender":"bob","id":"b1"},"sent_at":8}"#
        );
        assert_eq!(parse(&delete, "eve"), Body::Ignored);
        let react = Change::React {
            to: to.clone(),
            emoji: "🎉".into(),
            on: true,
        };
        let json = event_json("eve", &react, 9);
        assert_eq!(
            parse(&json, "eve"),
            Body::Change(react, 9),
            "anyone may react"
        );
        let odd =
            br#"{"kind":"react","to":{"sender":"bob","id":"b1"},"emoji":"free money","sent_at":1}"#;
        assert_eq!(
            parse(odd, "eve"),
            Body::Ignored,
            "only the offered reactions"
        );
        let newer = br#"{"kind":"poll","question":"?","sent_at":1}"#;
        assert_eq!(parse(newer, "eve"), Body::Ignored, "a newer client's kind");
        let broken = br#"{"kind":"edit","sent_at":1}"#;
        assert!(
            matches!(parse(broken, "eve"), Body::Plain(_)),
            "a broken event shows as text"
        );
    }

    #[test]
    fn a_reply_carries_a_short_quote_and_stays_a_message() {
        let q = Quote::of("bob", "b1", &"word\n".repeat(100));
        assert_eq!(q.text.chars().count(), QUOTE_CHARS + 1);
        assert!(q.text.ends_with('…') && !q.text.contains('\n'));
        let p = Payload {
            id: "a1".into(),
            text: "yes".into(),
            sent_at: 3,
            reply: Some(Quote::of("bob", "b1", "lunch?")),
            ..Payload::default()
        };
        let json = to_json(&p);
        assert_eq!(
            std::str::from_utf8(&json).unwrap(),
            r#"{"id":"a1","text":"yes","sent_at":3,"reply":{"sender":"bob","id":"b1","text":"lunch?"}}"#
        );
        assert_eq!(parse(&json, "alice"), Body::Chat(p));
        let bad = br#"{"id":"a1","text":"yes","sent_at":3,"reply":{"sender":"a/b","id":"b1","text":"x"}}"#;
        let Body::Chat(p) = parse(bad, "alice") else {
            panic!()
        };
        assert_eq!(
            p.reply, None,
            "a reply to no possible message answers nothing"
        );
    }

    #[test]
    fn a_history_holds_edited_and_deleted_messages_and_reactions() {
        let messages = vec![
            Payload {
                id: "a1".into(),
                text: "fixed".into(),
                sent_at: 1,
                edited: Some(5),
                ..Payload::default()
            },
            Payload {
                id: "a2".into(),
                sent_at: 2,
                deleted: true,
                ..Payload::default()
            },
        ];
        let reactions = vec![Reacted {
            to: Target {
                sender: "bob".into(),
                id: "b1".into(),
            },
            emoji: "👍".into(),
            on: false,
            sent_at: 3,
        }];
        let json = history_json(&messages, &reactions);
        assert_eq!(
            parse_history(&json),
            Some(History {
                messages,
                reactions
            })
        );
    }

    #[test]
    fn invalid_utf8_is_unreadable_not_dropped() {
        assert_eq!(parse(&[0xff, 0xfe, 0x00], "s"), Body::Unreadable(3));
    }
}
