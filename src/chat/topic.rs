//! The chat's topic layout (documented in the README, so any MQTT client can join).
//!
//! | topic                                     | QoS | retained | what                                   |
//! |-------------------------------------------|-----|----------|----------------------------------------|
//! | `chat/rooms/{room}/messages/{sender}`     | 1   | no       | a room message                         |
//! | `chat/rooms/{room}/typing/{sender}`       | 0   | no       | "is typing", transient                 |
//! | `chat/rooms/{room}/history/{sender}`      | 1   | yes      | the sender's last messages in the room |
//! | `chat/users/{user}/presence/{client_id}`  | 1   | yes      | one per open tab; empty = gone         |
//! | `chat/users/{recipient}/dm/{sender}`      | 1   | no       | a direct message                       |
//!
//! The sender is always a topic level: under the broker's ACL only that user may publish there.
//!
//! A client follows `messages/+` and `typing/+` of its rooms; it reads `history/+` (retained) when it joins
//! a room and then unsubscribes, so the history republished with every message is not streamed to everyone.

/// Every chat topic starts here.
pub const ROOT: &str = "chat";

/// What a topic this client receives means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route<'a> {
    RoomMessage { room: &'a str, sender: &'a str },
    Typing { room: &'a str, sender: &'a str },
    History { room: &'a str, sender: &'a str },
    Presence { user: &'a str, client_id: &'a str },
    Direct { recipient: &'a str, sender: &'a str },
}

pub fn room_message(room: &str, sender: &str) -> String {
    format!("{ROOT}/rooms/{room}/messages/{sender}")
}

pub fn typing(room: &str, sender: &str) -> String {
    format!("{ROOT}/rooms/{room}/typing/{sender}")
}

pub fn history(room: &str, sender: &str) -> String {
    format!("{ROOT}/rooms/{room}/history/{sender}")
}

pub fn presence(user: &str, client_id: &str) -> String {
    format!("{ROOT}/users/{user}/presence/{client_id}")
}

pub fn direct(recipient: &str, sender: &str) -> String {
    format!("{ROOT}/users/{recipient}/dm/{sender}")
}

/// The live traffic of `room`: its messages (QoS 1) and typing notices (QoS 0).
pub fn room_filters(room: &str) -> [String; 2] {
    [
        format!("{ROOT}/rooms/{room}/messages/+"),
        format!("{ROOT}/rooms/{room}/typing/+"),
    ]
}

/// Everybody's retained history in `room`; read once when joining, not followed.
pub fn history_filter(room: &str) -> String {
    format!("{ROOT}/rooms/{room}/history/+")
}

/// Everybody's presence.
pub fn presence_filter() -> String {
    format!("{ROOT}/users/+/presence/+")
}

/// The direct messages to `user`.
pub fn direct_filter(user: &str) -> String {
    format!("{ROOT}/users/{user}/dm/+")
}

/// Reads a topic; `None` for a topic that is not part of the chat layout.
pub fn route(topic: &str) -> Option<Route<'_>> {
    let levels: Vec<&str> = topic.split('/').collect();
    let route = match levels.as_slice() {
        [ROOT, "rooms", room, kind, sender] => match *kind {
            "messages" => Route::RoomMessage { room, sender },
            "typing" => Route::Typing { room, sender },
            "history" => Route::History { room, sender },
            _ => return None,
        },
        [ROOT, "users", user, "presence", client_id] => Route::Presence { user, client_id },
        [ROOT, "users", recipient, "dm", sender] => Route::Direct { recipient, sender },
        _ => return None,
    };
    let names_ok = levels.iter().skip(2).all(|level| !level.is_empty());
    names_ok.then_some(route)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[rustfmt::skip]
    #[test]
    fn every_topic_round_trips() {
        let cases = [
            (room_message("general", "alice"), "chat/rooms/general/messages/alice", Route::RoomMessage { room: "general", sender: "alice" }),
            (typing("general", "bob"),         "chat/rooms/general/typing/bob",     Route::Typing { room: "general", sender: "bob" }),
            (history("general", "bob"),        "chat/rooms/general/history/bob",    Route::History { room: "general", sender: "bob" }),
            (presence("carol", "mc1"),         "chat/users/carol/presence/mc1",     Route::Presence { user: "carol", client_id: "mc1" }),
            (direct("bob", "alice"),           "chat/users/bob/dm/alice",           Route::Direct { recipient: "bob", sender: "alice" }),
        ];
        for (built, text, expected) in cases {
            assert_eq!(built, text);
            assert_eq!(route(&built), Some(expected), "{built}");
        }
        assert_eq!(room_filters("general"), ["chat/rooms/general/messages/+", "chat/rooms/general/typing/+"]);
        assert_eq!(history_filter("general"), "chat/rooms/general/history/+");
        assert_eq!(presence_filter(), "chat/users/+/presence/+");
        assert_eq!(direct_filter("bob"), "chat/users/bob/dm/+");
    }

    #[test]
    fn foreign_or_malformed_topics_are_not_routed() {
        for t in [
            "chat/rooms/general/messages",
            "chat/rooms/general/messages/alice/extra",
            "chat/rooms//messages/alice",
            "chat/rooms/general/messages/",
            "chat/rooms/general/votes/alice",
            "chat/users/bob/presence/",
            "chat/users/bob/inbox/alice",
            "other/rooms/general/messages/alice",
            "chat",
            "",
        ] {
            assert_eq!(route(t), None, "{t}");
        }
    }
}
