//! How a conversation's messages are laid out as a list: which lines continue the group of the line before
//! (one sender writing in quick succession shows their name and time once), where the "New" divider goes, and
//! how many messages arrived below a reader who scrolled up. Rules of the chat, not of the page: the message
//! list asks them and draws what they say.

use std::sync::Arc;

use super::model::Item;
use super::{ChatMessage, Content};

/// Messages of one sender this close together (Unix ms) form a group: the name and time show once, on its
/// first line.
pub const GROUP_MS: i64 = 5 * 60 * 1000;

/// Whether `next`, the message after `prev` in a timeline, continues `prev`'s group: the same sender in the
/// same conversation, less than [`GROUP_MS`] later. The list also starts a group after anything drawn between
/// two messages (a day's heading, the "New" divider): those are for it to know.
///
/// A message that cannot be shown as text (unreadable, or too large to be read) never joins a group, nor does
/// one that follows it: it is a notice about its sender, and the lines around it say whose they are again.
pub fn continues(prev: &ChatMessage, next: &ChatMessage) -> bool {
    let readable = |m: &ChatMessage| matches!(m.content, Content::Text(_));
    readable(prev)
        && readable(next)
        && prev.sender == next.sender
        && prev.conversation == next.conversation
        && (0..GROUP_MS).contains(&next.sent_at.saturating_sub(prev.sent_at))
}

/// Where the "New" divider goes in `items` (a timeline, oldest first): before the first message from someone
/// other than `me` sent after `since`, the read position when the conversation was opened. `None`: nothing
/// new (or no read position: the conversation was read to its end).
pub fn first_new(items: &[Arc<Item>], me: &str, since: Option<i64>) -> Option<usize> {
    let since = since?;
    // The timeline is in order of sending: what was read is a prefix of it.
    let unread = items.partition_point(|m| m.sent_at <= since);
    let later = items.get(unread..)?;
    later
        .iter()
        .position(|m| m.sender != me)
        .map(|i| unread + i)
}

/// How many messages arrived live in `items` since the model numbered `mark` (its
/// [`next_seq`](super::Model::next_seq) when the reader scrolled up): what "Jump to latest" counts. The
/// reader's own count too: one sent while reading further up does not move the view, and is waiting below
/// like the others. Earlier messages read from a history, though numbered later, did not arrive: they are not
/// counted, nor is a message changed since (an edit keeps its number).
pub fn arrived_since(items: &[Arc<Item>], mark: u64) -> usize {
    items.iter().filter(|m| m.seq >= mark && m.live).count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::client::Kind;
    use crate::chat::Conversation;

    fn room(r: &str) -> Conversation {
        Conversation::Room(r.into())
    }

    fn msg(sender: &str, id: &str, sent_at: i64) -> ChatMessage {
        ChatMessage {
            conversation: room("general"),
            sender: sender.into(),
            id: id.into(),
            content: Content::Text(format!("{sender} {id}")),
            truncated: false,
            sent_at,
            live: true,
            edited: None,
            reply: None,
            reacted: Vec::new(),
        }
    }

    fn items(messages: Vec<(u64, ChatMessage)>) -> Vec<Arc<Item>> {
        messages
            .into_iter()
            .map(|(seq, message)| {
                Arc::new(Item {
                    seq,
                    rev: 0,
                    message,
                })
            })
            .collect()
    }

    const MIN: i64 = 60 * 1000;

    #[test]
    fn quick_lines_of_one_sender_continue_a_group() {
        let first = msg("alice", "1", 10 * MIN);
        assert!(continues(&first, &msg("alice", "2", 10 * MIN)));
        assert!(continues(&first, &msg("alice", "2", 14 * MIN)));
        assert!(continues(
            &first,
            &msg("alice", "2", 10 * MIN + GROUP_MS - 1)
        ));
    }

    #[test]
    fn five_minutes_later_another_sender_or_elsewhere_starts_a_new_group() {
        let first = msg("alice", "1", 10 * MIN);
        assert!(!continues(&first, &msg("alice", "2", 10 * MIN + GROUP_MS)));
        assert!(!continues(&first, &msg("alice", "2", 60 * MIN)));
        assert!(!continues(&first, &msg("bob", "2", 10 * MIN)));
        let mut elsewhere = msg("alice", "2", 10 * MIN);
        elsewhere.conversation = room("rust");
        assert!(!continues(&first, &elsewhere));
    }

    #[test]
    fn a_message_from_a_clock_behind_does_not_continue_a_later_one() {
        // Timelines are in order of sending; a pair the other way round is not one of them.
        assert!(!continues(
            &msg("alice", "1", 10 * MIN),
            &msg("alice", "2", 9 * MIN)
        ));
        assert!(!continues(
            &msg("alice", "1", i64::MAX),
            &msg("alice", "2", i64::MIN)
        ));
    }

    #[test]
    fn an_unreadable_or_too_large_message_stands_alone() {
        let text = msg("alice", "1", 10 * MIN);
        for content in [
            Content::Unreadable(12),
            Content::TooLarge(Kind::Message, 1 << 20),
        ] {
            let mut odd = msg("alice", "2", 10 * MIN);
            odd.content = content;
            assert!(
                !continues(&text, &odd),
                "{:?} joins the group before it",
                odd.content
            );
            assert!(!continues(&odd, &text), "{:?} starts a group", odd.content);
        }
    }

    #[test]
    fn the_new_divider_goes_above_the_first_message_from_someone_else_after_the_read_position() {
        let timeline = items(vec![
            (0, msg("bob", "1", 100)),
            (1, msg("me", "2", 200)),
            (2, msg("me", "3", 300)),
            (3, msg("bob", "4", 300)),
            (4, msg("carol", "5", 400)),
        ]);
        // Read up to 200: own messages after it are not new; bob's at 300 is.
        assert_eq!(first_new(&timeline, "me", Some(200)), Some(3));
        assert_eq!(first_new(&timeline, "me", Some(50)), Some(0));
        assert_eq!(first_new(&timeline, "me", Some(300)), Some(4));
    }

    #[test]
    fn no_new_divider_when_everything_was_read() {
        let timeline = items(vec![(0, msg("bob", "1", 100)), (1, msg("me", "2", 200))]);
        assert_eq!(first_new(&timeline, "me", Some(200)), None);
        assert_eq!(
            first_new(&timeline, "me", Some(150)),
            None,
            "only own messages after it"
        );
        assert_eq!(first_new(&timeline, "me", None), None);
        assert_eq!(first_new(&[], "me", Some(0)), None);
    }

    #[test]
    fn jump_to_latest_counts_live_messages_since_the_mark() {
        let mut old = msg("bob", "0", 50);
        old.live = false;
        let timeline = items(vec![
            // A page of history read after the mark: numbered later, but not new.
            (9, old),
            (1, msg("bob", "1", 100)),
            (5, msg("bob", "2", 200)),
            // The reader's own, sent while up there: waiting below too.
            (6, msg("me", "3", 300)),
            (7, msg("carol", "4", 400)),
        ]);
        assert_eq!(arrived_since(&timeline, 5), 3);
        assert_eq!(arrived_since(&timeline, 7), 1);
        assert_eq!(arrived_since(&timeline, 8), 0);
        assert_eq!(arrived_since(&timeline, 0), 4);
    }
}
