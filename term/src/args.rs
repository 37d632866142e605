//! The command line: the public interface of `mqtt-chat-term`, kept stable (README, "A terminal client").

use std::ffi::OsString;
use std::path::PathBuf;

use mqtt_chat::chat::DEFAULT_ROOM;

/// The broker when none is named: the development broker's plain MQTT listener (`scripts/dev`).
pub const DEFAULT_BROKER: &str = "mqtt://127.0.0.1:1883";

pub const HELP: &str = "\
mqtt-chat-term: the chat in a terminal, over MQTT 3.1.1 (TCP or WebSocket)

Usage: mqtt-chat-term [OPTIONS]

Options:
  --broker URL          mqtt://HOST[:PORT] (TCP, port 1883 unless named), ws://HOST:PORT[/PATH] or
                        wss://HOST[:PORT][/PATH]; repeat it or separate URLs with commas: the first is
                        used while it can be reached, the next ones when it cannot
                        [default: mqtt://127.0.0.1:1883]
  --name NAME           the name to chat as (asked for when missing)
  --password            ask for a password (accounts mode)
  --password-file FILE  the password is the first line of FILE (accounts mode, for scripts)
  --plain               line mode, for pipes and scripts: each line of standard input is sent to the
                        current room; every message is printed as one line `[room] sender: text`
  --room ROOM           the room to show (and join) first [default: general]
  --state DIR           where the session and the outbox are kept
                        [default: $XDG_STATE_HOME/mqtt-chat, else ~/.local/state/mqtt-chat]
  -h, --help            print this help

Commands (typed as a line; both modes):
  /join ROOM   join (or create) a room and make it the current one
  /leave       leave the current room
  /dm NAME TEXT  send a direct message (full screen: /dm NAME alone opens the conversation)
  /who         who is online, in the current room and overall
  /reply TEXT  answer the newest message from someone else in the current conversation, quoting it
  /react EMOJI react to that message (again: take the reaction back); one of 👍 ❤️ 😂 🎉 😮 😢, or the
               words +1, heart, joy, tada, wow, sad
  /edit TEXT   change the text of your newest message in the current conversation
  /delete      take back your newest message in the current conversation, for everyone
  /quit        send what is still unsent (at most 10 s), say goodbye and exit
  //TEXT       send a text that begins with a slash
Full screen also: Tab / Shift-Tab or Ctrl-N / Ctrl-P switch conversations, PageUp / PageDown scroll,
  /mute NAME, /unmute NAME, /retry (send a not delivered message again), /reconnect, Esc dismisses a
  notice, Ctrl-C quits.

Exit status: 0 after /quit or the end of standard input once everything was sent; 1 the broker refused
(bad password, name in use, not authorized) or the state directory cannot be used; 2 usage (a bad flag,
name, room or broker URL); 3 the end of input came but messages were still unsent after 10 s (they stay
in the outbox and go out on the next start with the same name); 130 / 143 / 129 SIGINT / SIGTERM / SIGHUP
(after saying goodbye).
";

/// Where the password comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Password {
    /// Open mode, unless asked for with the name (interactive only).
    None,
    Ask,
    File(PathBuf),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    /// The broker URLs, in order, as one comma-separated list (what `Input::Join` takes).
    pub brokers: String,
    pub name: Option<String>,
    pub password: Password,
    pub plain: bool,
    pub room: String,
    pub state: Option<PathBuf>,
}

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    Run(Args),
    Help,
}

/// Reads the flags (without the program name). The values are checked later, by the core (names, rooms,
/// broker URLs), so that the terminal and the browser refuse the same things in the same words.
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Parsed, String> {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_args(args);
    let mut brokers: Vec<String> = Vec::new();
    let mut args = Args {
        brokers: String::new(),
        name: None,
        password: Password::None,
        plain: false,
        room: DEFAULT_ROOM.to_owned(),
        state: None,
    };
    let text = |value: OsString, flag: &str| {
        value
            .into_string()
            .map_err(|_| format!("--{flag}: not valid UTF-8"))
    };
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Long("broker") => {
                brokers.push(text(parser.value().map_err(|e| e.to_string())?, "broker")?)
            }
            Long("name") => {
                args.name = Some(text(parser.value().map_err(|e| e.to_string())?, "name")?)
            }
            Long("password") => args.password = Password::Ask,
            Long("password-file") => {
                args.password = Password::File(parser.value().map_err(|e| e.to_string())?.into())
            }
            Long("plain") => args.plain = true,
            Long("room") => args.room = text(parser.value().map_err(|e| e.to_string())?, "room")?,
            Long("state") => args.state = Some(parser.value().map_err(|e| e.to_string())?.into()),
            Short('h') | Long("help") => return Ok(Parsed::Help),
            other => return Err(other.unexpected().to_string()),
        }
    }
    args.brokers = if brokers.is_empty() {
        DEFAULT_BROKER.to_owned()
    } else {
        brokers.join(",")
    };
    Ok(Parsed::Run(args))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Args, String> {
        match parse(args.iter().map(OsString::from))? {
            Parsed::Run(a) => Ok(a),
            Parsed::Help => Err("help".into()),
        }
    }

    #[test]
    fn without_flags_it_is_full_screen_on_the_local_tcp_broker_in_general() {
        let a = run(&[]).unwrap();
        assert_eq!(a.brokers, "mqtt://127.0.0.1:1883");
        assert_eq!(a.room, "general");
        assert!(!a.plain && a.name.is_none() && a.state.is_none());
        assert_eq!(a.password, Password::None);
    }

    #[test]
    fn brokers_may_be_repeated_or_comma_separated_and_keep_their_order() {
        let a = run(&["--broker", "ws://a:1,ws://b:2", "--broker=mqtt://c"]).unwrap();
        assert_eq!(a.brokers, "ws://a:1,ws://b:2,mqtt://c");
    }

    #[test]
    fn every_flag_is_read() {
        let a = run(&[
            "--plain",
            "--name",
            "ann",
            "--password-file",
            "/tmp/pw",
            "--room",
            "rust",
            "--state",
            "/tmp/s",
        ])
        .unwrap();
        assert!(a.plain);
        assert_eq!(a.name.as_deref(), Some("ann"));
        assert_eq!(a.password, Password::File("/tmp/pw".into()));
        assert_eq!(a.room, "rust");
        assert_eq!(a.state, Some(PathBuf::from("/tmp/s")));
        assert_eq!(run(&["--password"]).unwrap().password, Password::Ask);
    }

    #[test]
    fn help_unknown_flags_and_missing_values() {
        assert_eq!(parse([OsString::from("-h")]), Ok(Parsed::Help));
        assert_eq!(parse([OsString::from("--help")]), Ok(Parsed::Help));
        assert!(run(&["--nope"]).unwrap_err().contains("--nope"));
        assert!(run(&["--name"]).unwrap_err().contains("--name"));
        assert!(run(&["stray"]).is_err());
    }
}
