//! Line mode (`--plain`), for pipes and scripts. The contract (README, "Line mode"):
//!
//! - Each line of standard input is sent to the current room (`--room`, `general` unless given), or is a
//!   command (`/join ROOM`, `/leave`, `/dm NAME TEXT`, `/who`, `/quit`, `/help`, `/reply TEXT`, `/edit TEXT`,
//!   `/delete`, `/react EMOJI`; `//TEXT` sends `/TEXT`).
//! - Standard output holds messages only: every message shown — history, live, own (when sent) — exactly once,
//!   as one line `[room] sender: text`, a direct message as `[@peer] sender: text`, oldest sent first among
//!   those that arrived together. In the text, `\` is written `\\`, a line feed `\n`, a tab `\t`. A name the
//!   core marks (hidden characters, mixed scripts, looks like another name seen) is followed by ` ⚠`. A
//!   message that cannot be shown as text is described in angle brackets: `<unreadable message, 12 bytes>`,
//!   `<a message from eve too large to show, 3.1 MB>`; a text cut short ends with ` <cut short>`.
//! - A reply starts its text with the message it answers: `[room] bob: ↪ alice: "lunch?" sure` — `↪`, the
//!   answered sender, and a quote of at most 120 characters in double quotes (escaped as the text is, and `"`
//!   as `\"`), then a space and the reply's own text. A message edited before it is printed (one read from a
//!   history, say) ends with ` <edited>` (after ` <cut short>`, if both).
//! - A change made while running — live, not read from a history — is one line too, printed when it arrives
//!   (after the messages that arrived with it), each once. After the conversation comes ` # ` (a name cannot
//!   hold `#`, so no message line looks like one), then who made it:
//!   - `[room] # alice edited: new text` — the whole new text, escaped as a message's;
//!   - `[room] # alice deleted: "old text"` — a quote of what is gone;
//!   - `[room] # bob reacted 👍 to alice: "hello"` and `[room] # bob took back 👍 from alice: "hello"` — a
//!     quote of the message reacted to.
//!
//!   A message printed in the same moment already shows an edit; its edit line follows anyway.
//! - Status, notices, who came online or went offline, and errors go to standard error.
//! - The end of input (or `/quit`) waits until connected and nothing is unsent (at most 10 s), says
//!   goodbye and exits; see [`crate::args::HELP`] for the exit status.

use std::io::{self, BufRead, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use mqtt_chat::chat::client::too_large;
use mqtt_chat::chat::model::Note;
use mqtt_chat::chat::{
    names, App, Change, ChatMessage, Content, Conversation, Input, Quote, Status,
};

use crate::command::{self, Done};
use crate::shell::{wall_ms, Event, Notify, Shell};

/// How long the end of input waits for the outbox to empty.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Exit status: the end of input came, and messages were still unsent after [`DRAIN_TIMEOUT`].
pub const EXIT_UNSENT: u8 = 3;

/// One message as one line (see the module docs); `marked`: whether the core marks a name.
pub fn format(m: &ChatMessage, marked: &dyn Fn(&str) -> bool) -> String {
    let reply = m.reply.as_ref().map_or_else(String::new, |q| {
        format!("↪ {}: {} ", name(&q.sender, marked), quoted(&q.text))
    });
    let edited = if m.edited.is_some() { " <edited>" } else { "" };
    format!(
        "{} {}: {reply}{}{edited}",
        conversation(&m.conversation),
        name(&m.sender, marked),
        body(m)
    )
}

/// A live change as one line (see the module docs).
pub fn format_note(note: &Note, marked: &dyn Fn(&str) -> bool) -> String {
    let m = &note.message;
    let by = name(&note.by, marked);
    let what = match &note.change {
        Change::Edit { .. } => format!("{by} edited: {}", body(m)),
        Change::Delete { .. } => format!("{by} deleted: {}", quote(m)),
        Change::React { emoji, on, .. } => {
            let (verb, word) = if *on {
                ("reacted", "to")
            } else {
                ("took back", "from")
            };
            format!(
                "{by} {verb} {emoji} {word} {}: {}",
                name(&m.sender, marked),
                quote(m)
            )
        }
    };
    format!("{} # {what}", conversation(&m.conversation))
}

/// `[room]`, `[@peer]`.
fn conversation(c: &Conversation) -> String {
    match c {
        Conversation::Room(room) => format!("[{}]", names::display(room)),
        Conversation::Direct(peer) => format!("[@{}]", names::display(peer)),
    }
}

/// A name as drawn, with ` ⚠` when the core marks it.
fn name(who: &str, marked: &dyn Fn(&str) -> bool) -> String {
    let mark = if marked(who) { " ⚠" } else { "" };
    format!("{}{mark}", names::display(who))
}

/// A message's content on one line: its text escaped, or what it is in angle brackets.
fn body(m: &ChatMessage) -> String {
    match &m.content {
        Content::Text(text) if m.truncated => format!("{} <cut short>", escape(text)),
        Content::Text(text) => escape(text),
        Content::Unreadable(bytes) => format!("<unreadable message, {bytes} bytes>"),
        Content::TooLarge(kind, bytes) => format!("<{}>", too_large(*kind, &m.sender, *bytes)),
    }
}

/// The start of a message, as a reply quotes it: in double quotes; or what it is in angle brackets.
fn quote(m: &ChatMessage) -> String {
    match &m.content {
        Content::Text(text) => quoted(&Quote::of(&m.sender, &m.id, text).text),
        _ => body(m),
    }
}

/// `text` escaped, and its double quotes too, between double quotes: where the quote ends stays clear.
fn quoted(text: &str) -> String {
    format!("\"{}\"", escape(text).replace('"', "\\\""))
}

/// A text on one line, and reversibly so: `\` as `\\`, line feed as `\n`, tab as `\t` (the core has
/// replaced every other control character already; a carriage return is escaped too, should one come).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out
}

/// The status in words, as the browser's status bar says it; `wall` is now (Unix ms).
pub fn status_line(app: &App, wall: i64) -> String {
    let (n, of) = app.brokers().position();
    let broker = app.brokers().current();
    let which = if of > 1 {
        format!(" (broker {n} of {of})")
    } else {
        String::new()
    };
    match app.status() {
        Status::Connecting => format!("connecting to {broker}{which}…"),
        Status::Connected => format!(
            "connected as {} to {broker}{which}",
            names::display(app.me().unwrap_or_default())
        ),
        Status::Disconnected(None) => "disconnected".to_owned(),
        Status::Disconnected(Some(reason)) => format!("disconnected: {reason}"),
        Status::Reconnecting { reason, at } => {
            let secs = ((at - wall).max(0) + 999) / 1000;
            let to = if of > 1 {
                format!(" to {broker}{which}")
            } else {
                String::new()
            };
            format!("disconnected: {reason}; reconnecting in {secs} s{to}")
        }
    }
}

/// What has been shown so far: the next message number, the status, the notice, who is online.
struct Shown {
    seq: u64,
    /// Connected once: until then messages wait, so that the histories read at the start (each sender's
    /// arrives on its own) print together, oldest first.
    connected: bool,
    status: Option<Status>,
    notice: Option<String>,
    online: Option<Vec<String>>,
}

impl Shown {
    /// Prints the last of it before the program ends. Standard output may be gone (a closed pipe): then there
    /// is nobody left to tell, and the exit status says what happened.
    fn last(&mut self, shell: &mut Shell, out: &mut impl Write) {
        if self.update(shell, out, true).is_err() {
            say("standard output is closed: the last messages were not printed");
        }
    }

    /// Prints what changed: new messages to standard output (each once), the rest to standard error.
    /// `all`: the messages too, even if never connected (the end).
    fn update(&mut self, shell: &mut Shell, out: &mut impl Write, all: bool) -> io::Result<()> {
        self.connected |= *shell.app.status() == Status::Connected;
        if self.connected || all {
            let model = shell.app.model();
            let marked = |name: &str| model.suspicion(name).is_some();
            for m in model.added_since(self.seq) {
                writeln!(out, "{}", format(&m, &marked))?;
            }
            // Changes are numbered with the messages: those since the last look, after the messages they change.
            for note in model.notes_since(self.seq) {
                writeln!(out, "{}", format_note(&note, &marked))?;
            }
            out.flush()?;
            self.seq = model.next_seq();
        }
        // Why a connection failed comes before what the core makes of it ("disconnected: …").
        if let Some(e) = shell.trouble.take() {
            say(&format!("error: {e}"));
        }
        let status = shell.app.status();
        if self.status.as_ref() != Some(status) {
            self.status = Some(status.clone());
            say(&status_line(&shell.app, wall_ms()));
            if *status == Status::Connected && self.online.is_none() {
                say(&command::who(shell));
            }
        }
        if *status == Status::Connected {
            let me = shell.app.me().unwrap_or_default().to_owned();
            let mut now = shell.app.model().online();
            now.retain(|u| *u != me);
            if let Some(before) = self.online.replace(now.clone()) {
                for user in now.iter().filter(|u| !before.contains(u)) {
                    say(&format!("{} came online", names::display(user)));
                }
                for user in before.iter().filter(|u| !now.contains(u)) {
                    say(&format!("{} went offline", names::display(user)));
                }
            }
        }
        let notice = shell.app.notice().map(ToString::to_string);
        if notice.is_some() && notice != self.notice {
            say(&format!(
                "notice: {}",
                notice.as_deref().unwrap_or_default()
            ));
        }
        self.notice = notice;
        Ok(())
    }
}

fn say(line: &str) {
    eprintln!("mqtt-chat-term: {line}");
}

/// Reads standard input, line by line, into the event loop.
fn read_stdin(tx: Notify) {
    std::thread::spawn(move || {
        let mut stdin = io::stdin().lock();
        let mut line = Vec::new();
        loop {
            line.clear();
            match stdin.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let text = String::from_utf8_lossy(&line);
                    let text = text.strip_suffix('\n').unwrap_or(&text);
                    let text = text.strip_suffix('\r').unwrap_or(text);
                    if !tx.send(Event::Line(text.to_owned())) {
                        return;
                    }
                }
            }
        }
        tx.send(Event::Eof);
    });
}

/// Runs line mode after joining (`join`: the core's `Input::Join`); returns the exit status.
pub fn run(mut shell: Shell, join: Input<'static>) -> ExitCode {
    read_stdin(shell.sender());
    crate::signals::forward(shell.sender());
    if let Err(e) = shell.handle(join) {
        say(&e.to_string());
        return ExitCode::from(2);
    }
    let mut shown = Shown {
        seq: 0,
        connected: false,
        status: None,
        notice: None,
        online: None,
    };
    let mut stdout = io::BufWriter::new(io::stdout().lock());
    let mut ending: Option<Instant> = None;
    let mut ever_connected = false;
    loop {
        // While ending, look again every 100 ms (the 10 s bound); otherwise wait for something to happen.
        let wait = ending.map(|_| Duration::from_millis(100));
        for event in shell.step(wait) {
            match event {
                Event::Line(line) if ending.is_none() => {
                    let done =
                        command::parse(&line).and_then(|c| command::perform(&mut shell, c, false));
                    match done {
                        Ok(Done::Nothing) => {}
                        Ok(Done::Said(text)) => say(&text),
                        Ok(Done::Help) => command::HELP.iter().for_each(|l| say(l)),
                        Ok(Done::Quit) => ending = Some(Instant::now()),
                        Err(e) => say(&format!("error: {e}")),
                    }
                }
                Event::Eof => {
                    ending.get_or_insert_with(Instant::now);
                }
                Event::Signal(signal) => {
                    shown.last(&mut shell, &mut stdout);
                    shell.leave();
                    return ExitCode::from(u8::try_from(128 + signal).unwrap_or(1));
                }
                Event::Line(_) | Event::Terminal(_) => {}
            }
        }
        if shown.update(&mut shell, &mut stdout, false).is_err() {
            // Standard output is gone (a closed pipe): nobody reads on.
            shell.leave();
            return ExitCode::from(1);
        }
        let status = shell.app.status().clone();
        ever_connected |= status == Status::Connected;
        if matches!(&status, Status::Disconnected(Some(_))) {
            // Refused, or the name is in use: trying again would not help.
            shown.last(&mut shell, &mut stdout);
            return ExitCode::from(1);
        }
        let Some(since) = ending else { continue };
        let unsent = shell.app.has_unsent();
        if status == Status::Connected && !unsent && !shell.app.reading_history() {
            shell.leave();
            return ExitCode::SUCCESS;
        }
        if since.elapsed() >= DRAIN_TIMEOUT {
            shown.last(&mut shell, &mut stdout);
            shell.leave();
            if unsent {
                say("messages are still unsent: they stay in the outbox and go out on the next start");
                return ExitCode::from(EXIT_UNSENT);
            }
            if !ever_connected {
                say("could not connect to the broker");
                return ExitCode::from(1);
            }
            return ExitCode::SUCCESS;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mqtt_chat::chat::Kind;

    fn msg(conversation: Conversation, sender: &str, content: Content) -> ChatMessage {
        ChatMessage {
            conversation,
            sender: sender.into(),
            id: "1".into(),
            content,
            truncated: false,
            sent_at: 0,
            live: true,
            edited: None,
            reply: None,
            reacted: Vec::new(),
        }
    }

    fn room(r: &str) -> Conversation {
        Conversation::Room(r.into())
    }

    fn text(t: &str) -> Content {
        Content::Text(t.into())
    }

    #[rustfmt::skip]
    #[test]
    fn every_message_is_one_line() {
        let cases = [
            (msg(room("general"), "alice", text("hello")),                      false, "[general] alice: hello"),
            (msg(Conversation::Direct("bob".into()), "bob", text("psst")),      false, "[@bob] bob: psst"),
            (msg(Conversation::Direct("bob".into()), "me", text("hi")),         false, "[@bob] me: hi"),
            (msg(room("café talk"), "zoë", text("two\nlines\tand a \\")),       false, r"[café talk] zoë: two\nlines\tand a \\"),
            (msg(room("general"), "аlice", text("hi")),                         true,  "[general] аlice ⚠: hi"),
            (msg(room("general"), "e\u{202E}ve", text("x")),                    true,  "[general] e\u{FFFD}ve ⚠: x"),
            (msg(room("general"), "eve", Content::Unreadable(12)),              false, "[general] eve: <unreadable message, 12 bytes>"),
            (msg(room("general"), "eve", Content::TooLarge(Kind::Message, 3_100_000)),
                                                                                false, "[general] eve: <a message from eve too large to show, 3.1 MB>"),
        ];
        for (m, marked, want) in cases {
            let line = format(&m, &|_| marked);
            assert_eq!(line, want);
            assert!(!line.contains('\n') && !line.contains('\r'));
        }
        let mut cut = msg(room("general"), "eve", text("long"));
        cut.truncated = true;
        assert_eq!(format(&cut, &|_| false), "[general] eve: long <cut short>");
    }

    fn unmarked(_: &str) -> bool {
        false
    }

    #[test]
    fn a_reply_starts_with_its_quote_and_an_edited_message_says_so() {
        let mut reply = msg(room("general"), "bob", text("sure\nat noon"));
        reply.reply = Some(Quote::of("alice", "a1", "lunch?"));
        assert_eq!(
            format(&reply, &unmarked),
            r#"[general] bob: ↪ alice: "lunch?" sure\nat noon"#
        );
        // A quote keeps to one line, and its own double quotes cannot end it early.
        reply.reply = Some(Quote::of("аlice", "a1", "say \"hi\"\nto \\ them"));
        let marked = |n: &str| n == "аlice";
        assert_eq!(
            format(&reply, &marked),
            r#"[general] bob: ↪ аlice ⚠: "say \"hi\" to \\ them" sure\nat noon"#
        );
        let mut edited = msg(room("general"), "alice", text("fixed"));
        edited.edited = Some(5);
        assert_eq!(
            format(&edited, &unmarked),
            "[general] alice: fixed <edited>"
        );
        edited.truncated = true;
        assert_eq!(
            format(&edited, &unmarked),
            "[general] alice: fixed <cut short> <edited>"
        );
    }

    fn note(by: &str, message: ChatMessage, change: Change) -> Note {
        Note {
            seq: 9,
            by: by.into(),
            message,
            change,
        }
    }

    #[rustfmt::skip]
    #[test]
    fn each_live_change_is_one_line_that_no_message_line_can_look_like() {
        let hello = msg(room("general"), "alice", text("hello\tthere"));
        let to = mqtt_chat::chat::Target { sender: "alice".into(), id: "1".into() };
        let react = |on| Change::React { to: to.clone(), emoji: "👍".into(), on };
        let long = msg(Conversation::Direct("alice".into()), "alice", text(&"word ".repeat(40)));
        let cases = [
            (note("alice", msg(room("general"), "alice", text("new\ntext")), Change::Edit { id: "1".into(), text: "new\ntext".into() }),
                r"[general] # alice edited: new\ntext"),
            (note("alice", hello.clone(), Change::Delete { id: "1".into() }),
                r#"[general] # alice deleted: "hello\tthere""#),
            (note("bob", hello.clone(), react(true)),
                r#"[general] # bob reacted 👍 to alice: "hello\tthere""#),
            (note("bob", hello.clone(), react(false)),
                r#"[general] # bob took back 👍 from alice: "hello\tthere""#),
            (note("bob", long, react(true)),
                &format!(r#"[@alice] # bob reacted 👍 to alice: "{}…""#, "word ".repeat(24))),
            (note("bob", msg(room("general"), "alice", Content::Unreadable(3)), react(true)),
                "[general] # bob reacted 👍 to alice: <unreadable message, 3 bytes>"),
        ];
        for (n, want) in cases {
            let line = format_note(&n, &unmarked);
            assert_eq!(line, want);
            assert!(!line.contains('\n') && !line.contains('\r'));
        }
        let marked = |n: &str| n == "bоb";
        let n = note("bоb", hello, react(true));
        assert_eq!(format_note(&n, &marked), r#"[general] # bоb ⚠ reacted 👍 to alice: "hello\tthere""#);
        // A message line has a name right after the conversation, and a name never holds `#`.
        assert!(names::validate("# alice edited").is_err());
    }

    #[test]
    fn escaping_can_be_undone() {
        let original = "a\\nb\nc\\\td";
        let escaped = escape(original);
        assert_eq!(escaped, r"a\\nb\nc\\\td");
        let mut back = String::new();
        let mut chars = escaped.chars();
        while let Some(c) = chars.next() {
            back.push(match (c, c == '\\') {
                (_, true) => match chars.next() {
                    Some('n') => '\n',
                    Some('t') => '\t',
                    Some('r') => '\r',
                    _ => '\\',
                },
                (c, false) => c,
            });
        }
        assert_eq!(back, original);
    }
}
