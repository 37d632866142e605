//! The chat's topic layout (documented in the README, so any MQTT client can join).
//!
//! | topic                                     | QoS | retained | what                                   |
//! |-------------------------------------------|-----|----------|----------------------------------------|
//! | `chat/rooms/{room}/messages/{sender}`     | 1   | no       | a room message                         |
//! | `chat/rooms/{room}/typing/{sender}`       | 0   | no       | "is typing", transient                 |
//! | `chat/rooms/{room}/history/{day}/{sender}`| 1   | yes      | the sender's last messages in the room, under the day of the newest |
//! | `chat/users/{user}/presence/{client_id}`  | 1   | yes      | one per open tab; empty = gone         |
//! | `chat/users/{recipient}/dm/{sender}`      | 1   | no       | a direct message                       |
//!
//! The sender is always a topic level: under the broker's ACL only that user may publish there.
//!
//! A client follows `messages/+` and `typing/+` of its rooms; it reads the retained histories when it joins
//! a room, a few days at a time from today back (`history/{day}/+`) until it has enough, and then
//! unsubscribes: so the history republished with every message is not streamed to everyone, and a join costs
//! one retained message per person who posted in the days read, not per person who ever posted.
//!
//! The one-level `history/{sender}` of earlier versions is read and cleared by its own sender only
//! ([`legacy_history`]); `scripts/migrate-history` moves a broker's old histories to the new layout.

/// Every chat topic starts here.
pub const ROOT: &str = "chat";

/// Where the optional history service says it runs: a retained `{"version":1}` while it is connected, cleared
/// by its will when it goes (docs/history-service.md). Tabs offer "Load older messages" only then.
pub const HISTORY_SERVICE: &str = "chat/services/history";

/// What a topic this client receives means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route<'a> {
    RoomMessage {
        room: &'a str,
        sender: &'a str,
    },
    Typing {
        room: &'a str,
        sender: &'a str,
    },
    /// A sender's retained history; `day` is `None` for the one-level layout of earlier versions.
    History {
        room: &'a str,
        day: Option<&'a str>,
        sender: &'a str,
    },
    Presence {
        user: &'a str,
        client_id: &'a str,
    },
    Direct {
        recipient: &'a str,
        sender: &'a str,
    },
    /// The history service's answer to `user` about `room` (docs/history-service.md).
    Earlier {
        user: &'a str,
        room: &'a str,
    },
    /// The history service's marker ([`HISTORY_SERVICE`]).
    HistoryService,
}

pub fn room_message(room: &str, sender: &str) -> String {
    format!("{ROOT}/rooms/{room}/messages/{sender}")
}

pub fn typing(room: &str, sender: &str) -> String {
    format!("{ROOT}/rooms/{room}/typing/{sender}")
}

/// Where `sender` keeps their history of `room`: under the day (UTC, [`day`]) of its newest message.
pub fn history(room: &str, day: &str, sender: &str) -> String {
    format!("{ROOT}/rooms/{room}/history/{day}/{sender}")
}

/// Where earlier versions kept `sender`'s history of `room` (one level, no day).
pub fn legacy_history(room: &str, sender: &str) -> String {
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

/// Everybody's retained history in `room` whose newest message is of `day`.
pub fn history_day_filter(room: &str, day: &str) -> String {
    format!("{ROOT}/rooms/{room}/history/{day}/+")
}

/// `sender`'s own retained histories of `room`, whatever their day (normally one).
pub fn own_history_filter(room: &str, sender: &str) -> String {
    format!("{ROOT}/rooms/{room}/history/+/{sender}")
}

/// The UTC day of a Unix time in ms, `YYYY-MM-DD`: the topic level that buckets histories.
pub fn day(unix_ms: i64) -> String {
    // Howard Hinnant's days-to-civil algorithm (proleptic Gregorian calendar).
    let z = unix_ms.div_euclid(86_400_000) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Where `user` asks the optional history service for earlier messages of `room`.
pub fn earlier_request(room: &str, user: &str) -> String {
    format!("{ROOT}/rooms/{room}/earlier/{user}")
}

/// The history service's answers to `user`.
pub fn earlier_answers(user: &str) -> String {
    format!("{ROOT}/users/{user}/earlier/+")
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
    if topic == HISTORY_SERVICE {
        return Some(Route::HistoryService);
    }
    let levels: Vec<&str> = topic.split('/').collect();
    let route = match levels.as_slice() {
        [ROOT, "rooms", room, kind, sender] => match *kind {
            "messages" => Route::RoomMessage { room, sender },
            "typing" => Route::Typing { room, sender },
            "history" => Route::History {
                room,
                day: None,
                sender,
            },
            _ => return None,
        },
        [ROOT, "rooms", room, "history", day, sender] => Route::History {
            room,
            day: Some(day),
            sender,
        },
        [ROOT, "users", user, "presence", client_id] => Route::Presence { user, client_id },
        [ROOT, "users", recipient, "dm", sender] => Route::Direct { recipient, sender },
        [ROOT, "users", user, "earlier", room] => Route::Earlier { user, room },
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
            (history("general", "2026-12-02", "bob"), "chat/rooms/general/history/2026-12-02/bob", Route::History { room: "general", day: Some("2026-12-02"), sender: "bob" }),
            (legacy_history("general", "bob"), "chat/rooms/general/history/bob",    Route::History { room: "general", day: None, sender: "bob" }),
            (presence("carol", "mc1"),         "chat/users/carol/presence/mc1",     Route::Presence { user: "carol", client_id: "mc1" }),
            (direct("bob", "alice"),           "chat/users/bob/dm/alice",           Route::Direct { recipient: "bob", sender: "alice" }),
            ("chat/users/bob/earlier/general".into(), "chat/users/bob/earlier/general", Route::Earlier { user: "bob", room: "general" }),
        ];
        for (built, text, expected) in cases {
            assert_eq!(built, text);
            assert_eq!(route(&built), Some(expected), "{built}");
        }
        assert_eq!(room_filters("general"), ["chat/rooms/general/messages/+", "chat/rooms/general/typing/+"]);
        assert_eq!(history_day_filter("general", "2026-12-02"), "chat/rooms/general/history/2026-12-02/+");
        assert_eq!(own_history_filter("general", "bob"), "chat/rooms/general/history/+/bob");
        assert_eq!(presence_filter(), "chat/users/+/presence/+");
        assert_eq!(direct_filter("bob"), "chat/users/bob/dm/+");
        assert_eq!(earlier_request("general", "bob"), "chat/rooms/general/earlier/bob");
        assert_eq!(earlier_answers("bob"), "chat/users/bob/earlier/+");
    }

    #[test]
    fn days_are_utc_calendar_days() {
        assert_eq!(day(0), "1970-01-01");
        assert_eq!(day(86_399_999), "1970-01-01");
        assert_eq!(day(86_400_000), "1970-01-02");
        assert_eq!(day(951_782_400_000), "2000-02-29");
        assert_eq!(day(1_764_633_600_000), "2025-12-02");
        assert_eq!(day(1_798_675_199_999), "2026-12-30");
        assert_eq!(day(1_798_675_200_000), "2026-12-31");
        assert_eq!(day(-1), "1969-12-31");
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
