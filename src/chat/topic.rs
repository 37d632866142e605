//! The chat's topic layout (documented in the README, so any MQTT client can join).
//!
//! `chat/rooms/{room}/messages/{sender}`: a room message, QoS 1, not retained.

/// Every chat topic starts here.
pub const ROOT: &str = "chat";

/// What a topic this client receives means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route<'a> {
    RoomMessage { room: &'a str, sender: &'a str },
}

/// The topic a message from `sender` in `room` is published to.
pub fn room_message(room: &str, sender: &str) -> String {
    format!("{ROOT}/rooms/{room}/messages/{sender}")
}

/// The filter for every message in `room`, whoever sent it.
pub fn room_messages_filter(room: &str) -> String {
    format!("{ROOT}/rooms/{room}/messages/+")
}

/// Reads a topic; `None` for a topic that is not part of the chat layout.
///
/// The sender comes from the topic, never from the payload: under the broker's ACL only `sender` may
/// publish there.
pub fn route(topic: &str) -> Option<Route<'_>> {
    let mut levels = topic.split('/');
    let route = match (levels.next()?, levels.next()?) {
        (ROOT, "rooms") => {
            let room = levels.next()?;
            match (levels.next()?, levels.next()?) {
                ("messages", sender) if !room.is_empty() && !sender.is_empty() => {
                    Route::RoomMessage { room, sender }
                }
                _ => return None,
            }
        }
        _ => return None,
    };
    levels.next().is_none().then_some(route)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_message_topics_round_trip() {
        let t = room_message("general", "alice");
        assert_eq!(t, "chat/rooms/general/messages/alice");
        assert_eq!(
            route(&t),
            Some(Route::RoomMessage {
                room: "general",
                sender: "alice"
            })
        );
        assert_eq!(
            room_messages_filter("general"),
            "chat/rooms/general/messages/+"
        );
    }

    #[test]
    fn foreign_or_malformed_topics_are_not_routed() {
        for t in [
            "chat/rooms/general/messages",
            "chat/rooms/general/messages/alice/extra",
            "chat/rooms//messages/alice",
            "chat/rooms/general/messages/",
            "chat/rooms/general/typing/alice",
            "other/rooms/general/messages/alice",
            "chat",
            "",
        ] {
            assert_eq!(route(t), None, "{t}");
        }
    }
}
