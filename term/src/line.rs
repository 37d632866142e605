//! Line mode (`--plain`), for pipes and scripts. The contract (README, "Line mode"):
//!
//! - Each line of standard input is sent to the current room (`--room`, `general` unless given), or is a
//!   command (`/join ROOM`, `/leave`, `/dm NAME TEXT`, `/who`, `/quit`, `/help`; `//TEXT` sends `/TEXT`).
//! - Standard output holds messages only: every message shown — history, live, own (when sent) — exactly once,
//!   as one line `[room] sender: text`, a direct message as `[@peer] sender: text`, oldest sent first among
//!   those that arrived together. In the text, `\` is written `\\`, a line feed `\n`, a tab `\t`. A name the
//!   core marks (hidden characters, mixed scripts, looks like another name seen) is followed by ` ⚠`. A
//!   message that cannot be shown as text is described in angle brackets: `<unreadable message, 12 bytes>`,
//!   `<a message from eve too large to show, 3.1 MB>`; a text cut short ends with ` <cut short>`.
//! - Status, notices, who came online or went offline, and errors go to standard error.
//! - The end of input (or `/quit`) waits until connected and nothing is unsent (at most 10 s), says
//!   goodbye and exits; see [`crate::args::HELP`] for the exit status.

use std::io::{self, BufRead, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use mqtt_chat::chat::client::too_large;
use mqtt_chat::chat::model::Model;
use mqtt_chat::chat::{names, App, ChatMessage, Content, Conversation, Input, Status};

use crate::command::{self, Done};
use crate::shell::{wall_ms, Event, Notify, Shell};

/// How long the end of input waits for the outbox to empty.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Exit status: the end of input came, and messages were still unsent after [`DRAIN_TIMEOUT`].
pub const EXIT_UNSENT: u8 = 3;

/// One message as one line (see the module docs).
pub fn format(m: &ChatMessage, marked: bool) -> String {
    let conversation = match &m.conversation {
        Conversation::Room(room) => names::display(room).into_owned(),
        Conversation::Direct(peer) => format!("@{}", names::display(peer)),
    };
    let mark = if marked { " ⚠" } else { "" };
    let body = match &m.content {
        Content::Text(text) if m.truncated => format!("{} <cut short>", escape(text)),
        Content::Text(text) => escape(text),
        Content::Unreadable(bytes) => format!("<unreadable message, {bytes} bytes>"),
        Content::TooLarge(kind, bytes) => format!("<{}>", too_large(*kind, &m.sender, *bytes)),
    };
    format!(
        "[{conversation}] {}{mark}: {body}",
        names::display(&m.sender)
    )
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
            for m in model.added_since(self.seq) {
                writeln!(out, "{}", format(&m, marked(model, &m.sender)))?;
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

fn marked(model: &Model, name: &str) -> bool {
    model.suspicion(name).is_some()
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
            let line = format(&m, marked);
            assert_eq!(line, want);
            assert!(!line.contains('\n') && !line.contains('\r'));
        }
        let mut cut = msg(room("general"), "eve", text("long"));
        cut.truncated = true;
        assert_eq!(format(&cut, false), "[general] eve: long <cut short>");
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
