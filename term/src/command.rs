//! What a typed line means — a message, or a command (`/join ROOM`, `/leave`, `/dm NAME TEXT`, `/who`,
//! `/quit`, …) — and doing it, as inputs to the core. The same in both modes. Names, rooms and texts are
//! checked by the core, so the terminal refuses what the browser refuses, in the same words.
//!
//! A terminal has no pointer to pick a message with, so the commands that change one name it by position in
//! the current conversation: `/edit TEXT` and `/delete` your own newest message (as Up edits it in the
//! browser), `/reply TEXT` and `/react EMOJI` the newest message from someone else (the one you are most
//! likely answering).

use std::sync::Arc;

use mqtt_chat::chat::model::Item;
use mqtt_chat::chat::{names, Conversation, Delivery, Input, Status, REACTIONS};

use crate::shell::{wall_ms, Shell};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command<'a> {
    /// A message to the current conversation (`//TEXT` sends `/TEXT`).
    Say(&'a str),
    Join(&'a str),
    Leave,
    /// A direct message to `to`; without a text (full screen), open the conversation.
    Dm {
        to: &'a str,
        text: Option<&'a str>,
    },
    Who,
    Quit,
    Help,
    Mute(&'a str),
    Unmute(&'a str),
    /// Send the current conversation's not delivered messages again.
    Retry,
    /// Connect again now (reconnecting) or anew (disconnected).
    Reconnect,
    /// Answer the newest message from someone else in the current conversation.
    Reply(&'a str),
    /// New text for your newest message in the current conversation.
    Edit(&'a str),
    /// Take back your newest message in the current conversation, for everyone.
    Delete,
    /// Add (or take back) a reaction to the newest message from someone else; as typed, not checked yet.
    React(&'a str),
    /// Nothing to do: an empty line.
    Nothing,
}

pub fn parse(line: &str) -> Result<Command<'_>, String> {
    if line.starts_with("//") {
        return Ok(Command::Say(line.get(1..).unwrap_or_default()));
    }
    let Some(command) = line.strip_prefix('/') else {
        return Ok(if line.trim().is_empty() {
            Command::Nothing
        } else {
            Command::Say(line)
        });
    };
    let (word, rest) = match command.split_once(char::is_whitespace) {
        Some((word, rest)) => (word, rest.trim()),
        None => (command, ""),
    };
    let needs = |what: &str| -> Result<&str, String> {
        if rest.is_empty() {
            Err(format!("/{word} needs {what}"))
        } else {
            Ok(rest)
        }
    };
    let none = |c: Command<'static>| -> Result<Command<'static>, String> {
        if rest.is_empty() {
            Ok(c)
        } else {
            Err(format!("/{word} takes nothing after it"))
        }
    };
    match word {
        "join" | "j" => Ok(Command::Join(needs("a room name")?)),
        "leave" | "part" => none(Command::Leave),
        "dm" | "msg" => {
            let rest = needs("a name")?;
            Ok(match rest.split_once(char::is_whitespace) {
                Some((to, text)) => Command::Dm {
                    to,
                    text: Some(text.trim_start()),
                },
                None => Command::Dm {
                    to: rest,
                    text: None,
                },
            })
        }
        "who" => none(Command::Who),
        "quit" | "exit" => none(Command::Quit),
        "help" => none(Command::Help),
        "mute" => Ok(Command::Mute(needs("a name")?)),
        "unmute" => Ok(Command::Unmute(needs("a name")?)),
        "retry" => none(Command::Retry),
        "reconnect" => none(Command::Reconnect),
        "reply" | "re" => Ok(Command::Reply(needs("a text")?)),
        "edit" => Ok(Command::Edit(needs("the new text")?)),
        "delete" | "del" => none(Command::Delete),
        "react" => Ok(Command::React(needs("an emoji")?)),
        _ => Err(format!(
            "unknown command /{word} (try /help; //TEXT sends a text that begins with /)"
        )),
    }
}

/// What a command did, for the mode to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Done {
    Nothing,
    /// A line for the status area (line mode: standard error).
    Said(String),
    Quit,
    Help,
}

/// Does `command`; a refusal comes back in words. `stay`: `/dm NAME TEXT` shows the direct conversation
/// after sending (full screen); else the current conversation stays (line mode: lines go where they went).
pub fn perform(shell: &mut Shell, command: Command<'_>, stay: bool) -> Result<Done, String> {
    let refused = |e: mqtt_chat::chat::Refusal| e.to_string();
    match command {
        Command::Nothing => Ok(Done::Nothing),
        Command::Say(text) => {
            shell
                .handle(Input::Send(text.to_owned()))
                .map_err(refused)?;
            Ok(Done::Nothing)
        }
        Command::Join(room) => {
            shell
                .handle(Input::JoinRoom(room.to_owned()))
                .map_err(refused)?;
            Ok(Done::Said(format!(
                "now in {}",
                label(shell.app.model().current())
            )))
        }
        Command::Leave => {
            let left = shell.app.model().current().clone();
            shell.handle(Input::Close(left.clone())).map_err(refused)?;
            let now = label(shell.app.model().current());
            Ok(Done::Said(format!("left {}; now in {now}", label(&left))))
        }
        Command::Dm { to, text } => {
            let to =
                Conversation::Direct(names::validate(to).map_err(|e| e.to_string())?.to_owned());
            let Some(text) = text else {
                shell.handle(Input::Open(to)).map_err(refused)?;
                return Ok(Done::Nothing);
            };
            // Sent from its own conversation; then, unless staying, back to where the reader was.
            let back = shell.app.model().current().clone();
            shell.handle(Input::Open(to)).map_err(refused)?;
            let sent = shell.handle(Input::Send(text.to_owned()));
            if !stay || sent.is_err() {
                shell.handle(Input::Open(back)).map_err(refused)?;
            }
            sent.map_err(refused)?;
            Ok(Done::Nothing)
        }
        Command::Who => Ok(Done::Said(who(shell))),
        Command::Quit => Ok(Done::Quit),
        Command::Help => Ok(Done::Help),
        Command::Mute(user) => {
            shell
                .handle(Input::Mute(user.trim().to_owned()))
                .map_err(refused)?;
            Ok(Done::Said(format!(
                "muted {}: /unmute {0} shows them again",
                names::display(user.trim())
            )))
        }
        Command::Unmute(user) => {
            shell
                .handle(Input::Unmute(user.trim().to_owned()))
                .map_err(refused)?;
            Ok(Done::Nothing)
        }
        Command::Retry => {
            let wall = wall_ms();
            let current = shell.app.model().current().clone();
            let failed: Vec<String> = shell
                .app
                .model()
                .messages(&current)
                .iter()
                .filter(|m| {
                    shell.app.delivery(m) == Delivery::Pending && shell.app.failed(m.sent_at, wall)
                })
                .map(|m| m.id.clone())
                .collect();
            if failed.is_empty() {
                return Err(format!("nothing to send again in {}", label(&current)));
            }
            for id in failed {
                shell.handle(Input::Retry(id)).map_err(refused)?;
            }
            Ok(Done::Nothing)
        }
        Command::Reconnect => {
            let input = match shell.app.status() {
                Status::Reconnecting { .. } => Input::RetryNow,
                _ => Input::Reconnect,
            };
            shell.handle(input).map_err(refused)?;
            Ok(Done::Nothing)
        }
        Command::Reply(text) => {
            let to = from_others(shell, "to answer")?;
            shell
                .handle(Input::Reply {
                    sender: to.sender.clone(),
                    id: to.id.clone(),
                    text: text.to_owned(),
                })
                .map_err(refused)?;
            Ok(Done::Nothing)
        }
        Command::Edit(text) => {
            let (conversation, id) = own(shell, "to edit")?;
            shell
                .handle(Input::Edit {
                    conversation,
                    id,
                    text: text.to_owned(),
                })
                .map_err(refused)?;
            Ok(Done::Nothing)
        }
        Command::Delete => {
            let (conversation, id) = own(shell, "to delete")?;
            shell
                .handle(Input::Delete { conversation, id })
                .map_err(refused)?;
            Ok(Done::Nothing)
        }
        Command::React(typed) => {
            let emoji = reaction(typed).ok_or_else(|| {
                format!(
                    "/react takes one of {} (or {})",
                    REACTIONS.join(" "),
                    ALIASES.map(|(word, _)| word).join(", ")
                )
            })?;
            let to = from_others(shell, "to react to")?;
            shell
                .handle(Input::React {
                    conversation: shell.app.model().current().clone(),
                    sender: to.sender.clone(),
                    id: to.id.clone(),
                    emoji: emoji.to_owned(),
                })
                .map_err(refused)?;
            Ok(Done::Nothing)
        }
    }
}

/// The newest message of the current conversation from someone else that has a text (`what`: for the
/// refusal, "to answer").
fn from_others(shell: &Shell, what: &str) -> Result<Arc<Item>, String> {
    let model = shell.app.model();
    let me = shell.app.me().unwrap_or_default();
    let current = model.current();
    model
        .messages(current)
        .iter()
        .rev()
        .find(|m| m.sender != me && m.addressable())
        .cloned()
        .ok_or_else(|| format!("no message from someone else {what} in {}", label(current)))
}

/// The current conversation and the id of your newest message in it.
fn own(shell: &Shell, what: &str) -> Result<(Conversation, String), String> {
    let model = shell.app.model();
    let current = model.current().clone();
    match model.last_own(&current) {
        Some(m) => Ok((current, m.id.clone())),
        None => Err(format!("no message of yours {what} in {}", label(&current))),
    }
}

/// Words for the reactions, for keyboards without emoji, in the order of [`REACTIONS`].
pub const ALIASES: [(&str, &str); 6] = [
    ("+1", "👍"),
    ("heart", "❤️"),
    ("joy", "😂"),
    ("tada", "🎉"),
    ("wow", "😮"),
    ("sad", "😢"),
];

/// The reaction `typed` names: one of [`REACTIONS`] (a heart typed without its emoji-style selector too), or
/// one of [`ALIASES`], also between colons (`:tada:`).
pub fn reaction(typed: &str) -> Option<&'static str> {
    let word = typed.trim();
    let word = word
        .strip_prefix(':')
        .and_then(|w| w.strip_suffix(':'))
        .unwrap_or(word);
    let bare = |e: &str| e.trim_end_matches('\u{FE0F}').to_owned();
    REACTIONS
        .iter()
        .find(|e| bare(e) == bare(word))
        .copied()
        .or_else(|| {
            ALIASES
                .iter()
                .find(|(alias, _)| alias.eq_ignore_ascii_case(word))
                .map(|(_, e)| *e)
        })
}

/// `#general`, `@bob`: a conversation as the terminal names it (names shown as [`names::display`] does).
pub fn label(c: &Conversation) -> String {
    match c {
        Conversation::Room(room) => format!("#{}", names::display(room)),
        Conversation::Direct(user) => format!("@{}", names::display(user)),
    }
}

/// "online in #general: ann, bob; everyone: ann, bob, cy".
pub fn who(shell: &Shell) -> String {
    let model = shell.app.model();
    let list = |names: Vec<String>| {
        if names.is_empty() {
            "nobody".to_owned()
        } else {
            names
                .iter()
                .map(|n| names::display(n).into_owned())
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    let everyone = list(model.online());
    let capped = if model.people_capped() {
        " (and more: the list is capped)"
    } else {
        ""
    };
    match model.current().room() {
        Some(room) => format!(
            "online in #{}: {}; everyone: {everyone}{capped}",
            names::display(room),
            list(model.online_in(room))
        ),
        None => format!("online: {everyone}{capped}"),
    }
}

/// The commands, one per line, for `/help`.
pub const HELP: &[&str] = &[
    "/join ROOM      join (or create) a room and make it the current one",
    "/leave          leave the current room",
    "/dm NAME TEXT   send a direct message (full screen: /dm NAME opens the conversation)",
    "/who            who is online, in the current room and overall",
    "/mute NAME, /unmute NAME   hide or show again someone's messages and typing",
    "/retry          send the not delivered messages of this conversation again",
    "/reconnect      connect again now",
    "/reply TEXT     answer the newest message from someone else in this conversation, quoting it",
    "/react EMOJI    react to the newest message from someone else (again: take it back); EMOJI is one of",
    "                👍 ❤️ 😂 🎉 😮 😢 or +1, heart, joy, tada, wow, sad",
    "/edit TEXT      change the text of your newest message in this conversation",
    "/delete         take back your newest message in this conversation, for everyone",
    "/quit           send what is unsent (at most 10 s), say goodbye and exit",
    "//TEXT          send a text that begins with a slash",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[rustfmt::skip]
    #[test]
    fn lines_are_messages_or_commands() {
        let cases: &[(&str, Command)] = &[
            ("hello",              Command::Say("hello")),
            ("  spaced  ",         Command::Say("  spaced  ")),
            ("",                   Command::Nothing),
            ("   ",                Command::Nothing),
            ("//not a command",    Command::Say("/not a command")),
            ("//",                 Command::Say("/")),
            ("/join rust",         Command::Join("rust")),
            ("/join  café talk ",  Command::Join("café talk")),
            ("/j rust",            Command::Join("rust")),
            ("/leave",             Command::Leave),
            ("/dm bob hi there",   Command::Dm { to: "bob", text: Some("hi there") }),
            ("/dm bob",            Command::Dm { to: "bob", text: None }),
            ("/who",               Command::Who),
            ("/quit",              Command::Quit),
            ("/mute eve",          Command::Mute("eve")),
            ("/unmute eve",        Command::Unmute("eve")),
            ("/retry",             Command::Retry),
            ("/reconnect",         Command::Reconnect),
            ("/help",              Command::Help),
            ("/reply sure, noon",  Command::Reply("sure, noon")),
            ("/re ok",             Command::Reply("ok")),
            ("/edit fixed  typo ", Command::Edit("fixed  typo")),
            ("/delete",            Command::Delete),
            ("/del",               Command::Delete),
            ("/react 👍",          Command::React("👍")),
            ("/react tada",        Command::React("tada")),
        ];
        for (line, want) in cases {
            assert_eq!(parse(line).as_ref(), Ok(want), "{line:?}");
        }
    }

    #[rustfmt::skip]
    #[test]
    fn a_command_missing_its_argument_or_unknown_is_refused_in_words() {
        let cases = [
            ("/join",        "/join needs a room name"),
            ("/dm",          "/dm needs a name"),
            ("/mute ",       "/mute needs a name"),
            ("/leave now",   "/leave takes nothing after it"),
            ("/reply",       "/reply needs a text"),
            ("/edit  ",      "/edit needs the new text"),
            ("/react",       "/react needs an emoji"),
            ("/delete it",   "/delete takes nothing after it"),
            ("/nope",        "unknown command /nope"),
        ];
        for (line, want) in cases {
            let e = parse(line).unwrap_err();
            assert!(e.starts_with(want), "{line:?}: {e}");
        }
    }

    #[rustfmt::skip]
    #[test]
    fn a_reaction_is_one_of_the_offered_emoji_or_its_word() {
        let cases = [
            ("👍",       Some("👍")),
            ("+1",       Some("👍")),
            (":+1:",     Some("👍")),
            ("❤️",       Some("❤️")),
            ("❤",        Some("❤️")),
            ("Heart",    Some("❤️")),
            (":tada:",   Some("🎉")),
            ("sad",      Some("😢")),
            ("🚀",       None),
            ("free money", None),
            ("::",       None),
        ];
        for (typed, want) in cases {
            assert_eq!(reaction(typed), want, "{typed:?}");
        }
        // Every offered reaction has a word, in the same order.
        assert_eq!(ALIASES.map(|(_, e)| e), REACTIONS);
    }
}
