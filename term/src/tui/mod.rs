//! Full-screen mode (the default): rooms, the conversation with its history and day separators, who is
//! online, who is typing, the status and an input line. This loop is the only code that touches the
//! terminal; drawing ([`view`]) is a pure function of the core's state and [`Ui`].

mod view;
mod wrap;

use std::io::{self, IsTerminal};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use jiff::tz::TimeZone;
use ratatui::crossterm::cursor::Show;
use ratatui::crossterm::event::{
    self, Event as TermEvent, KeyCode, KeyEvent, KeyEventKind, KeyModifiers,
};
use ratatui::crossterm::execute;
use ratatui::DefaultTerminal;

use mqtt_chat::chat::{Input, Status};

use crate::command::{self, Done};
use crate::line::DRAIN_TIMEOUT;
use crate::shell::{wall_ms, Event, Shell};

/// The view's own state: what is being typed, how far the conversation is scrolled back, the answer to the
/// last command.
#[derive(Debug, Default)]
pub struct Ui {
    pub input: String,
    /// In characters.
    pub cursor: usize,
    /// Rows scrolled back from the newest.
    pub scroll: usize,
    /// The last command's answer, and whether it is an error.
    pub said: Option<(String, bool)>,
    /// The most rows that can be scrolled back, once the whole conversation was laid out (the last draw).
    max_scroll: Option<usize>,
    /// Rows in the message pane at the last draw.
    page: usize,
}

/// What a key asks of the loop.
#[derive(Debug, PartialEq, Eq)]
enum Action {
    Nothing,
    /// `/quit`: send what is unsent first (at most [`DRAIN_TIMEOUT`]).
    Quit,
    /// Ctrl-C: at once (the outbox is on disk).
    QuitNow,
    Redraw,
}

/// The terminal in raw mode on the alternate screen, given back on drop — and, through ratatui's panic
/// hook, on a panic too (the release profile aborts, so no drop runs then).
struct Screen(DefaultTerminal);

impl Screen {
    fn enter() -> io::Result<Self> {
        ratatui::try_init().map(Self)
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        ratatui::restore();
        let _ = execute!(io::stdout(), Show);
    }
}

/// Runs full-screen after joining (`join`: the core's `Input::Join`); returns the exit status.
pub fn run(mut shell: Shell, join: Input<'static>) -> ExitCode {
    if !io::stdout().is_terminal() || !io::stdin().is_terminal() {
        eprintln!(
            "mqtt-chat-term: full screen needs a terminal; use --plain for pipes and scripts"
        );
        return ExitCode::from(2);
    }
    if let Err(e) = shell.handle(join) {
        eprintln!("mqtt-chat-term: {e}");
        return ExitCode::from(2);
    }
    let tz = TimeZone::system();
    let mut screen = match Screen::enter() {
        Ok(screen) => screen,
        Err(e) => {
            eprintln!("mqtt-chat-term: cannot use the terminal: {e}");
            return ExitCode::from(1);
        }
    };
    let keys = shell.sender();
    std::thread::spawn(move || {
        while let Ok(e) = event::read() {
            if !keys.send(Event::Terminal(e)) {
                return;
            }
        }
    });
    crate::signals::forward(shell.sender());
    let mut ui = Ui::default();
    let mut ending: Option<Instant> = None;
    let code = loop {
        let wall = wall_ms();
        let drawn = screen.0.draw(|frame| {
            let (page, max_scroll) = view::draw(frame, &shell.app, &ui, wall, &tz);
            ui.page = page;
            ui.max_scroll = max_scroll;
        });
        if drawn.is_err() {
            shell.leave();
            break (1, None);
        }
        // A countdown, or own messages that may turn "not delivered", change with the clock alone.
        let ticking = matches!(shell.app.status(), Status::Reconnecting { .. })
            || shell.app.has_unsent()
            || ending.is_some();
        let mut action = Action::Nothing;
        for event in shell.step(ticking.then_some(Duration::from_secs(1))) {
            match event {
                Event::Terminal(TermEvent::Key(key)) => {
                    let a = on_key(&mut shell, &mut ui, key);
                    if a != Action::Nothing {
                        action = a;
                    }
                }
                Event::Signal(signal) => {
                    shell.leave();
                    drop(screen);
                    return ExitCode::from(u8::try_from(128 + signal).unwrap_or(1));
                }
                Event::Terminal(_) | Event::Line(_) | Event::Eof => {}
            }
        }
        if let Some(e) = shell.trouble.take() {
            ui.said = Some((e, true));
        }
        match action {
            Action::QuitNow => break quit(&mut shell, 0),
            Action::Quit if shell.app.has_unsent() => {
                ending = Some(Instant::now());
                ui.said = Some((
                    "sending what is unsent before quitting (Ctrl-C quits now)…".into(),
                    false,
                ));
            }
            Action::Quit => break quit(&mut shell, 0),
            Action::Redraw => {
                let _ = screen.0.clear();
            }
            Action::Nothing => {}
        }
        if let Some(since) = ending {
            let unsent = shell.app.has_unsent();
            if !unsent || since.elapsed() >= DRAIN_TIMEOUT {
                break quit(
                    &mut shell,
                    if unsent { crate::line::EXIT_UNSENT } else { 0 },
                );
            }
        }
    };
    let (code, refusal) = code;
    drop(screen);
    if let Some(reason) = refusal {
        eprintln!("mqtt-chat-term: disconnected: {reason}");
    }
    ExitCode::from(code)
}

/// Says goodbye; the exit status is `code`, or 1 if the broker had refused (the reason comes along, to be
/// printed once the screen is back).
fn quit(shell: &mut Shell, code: u8) -> (u8, Option<String>) {
    let refusal = match shell.app.status() {
        Status::Disconnected(Some(reason)) => Some(reason.to_string()),
        _ => None,
    };
    shell.leave();
    match refusal {
        Some(reason) => (1, Some(reason)),
        None => (code, None),
    }
}

fn on_key(shell: &mut Shell, ui: &mut Ui, key: KeyEvent) -> Action {
    if key.kind == KeyEventKind::Release {
        return Action::Nothing;
    }
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    let chars = ui.input.chars().count();
    match key.code {
        KeyCode::Char('c') if ctrl => return Action::QuitNow,
        KeyCode::Char('l') if ctrl => return Action::Redraw,
        KeyCode::Enter => return submit(shell, ui),
        KeyCode::Esc => {
            ui.said = None;
            shell.act(Input::DismissNotice);
        }
        KeyCode::Tab => switch(shell, ui, 1),
        KeyCode::Char('n') if ctrl => switch(shell, ui, 1),
        KeyCode::BackTab => switch(shell, ui, -1),
        KeyCode::Char('p') if ctrl => switch(shell, ui, -1),
        KeyCode::PageUp => {
            let up = ui.scroll + ui.page.saturating_sub(1).max(1);
            ui.scroll = ui.max_scroll.map_or(up, |max| up.min(max));
        }
        KeyCode::PageDown => ui.scroll = ui.scroll.saturating_sub(ui.page.saturating_sub(1).max(1)),
        KeyCode::Left => ui.cursor = ui.cursor.saturating_sub(1),
        KeyCode::Right => ui.cursor = (ui.cursor + 1).min(chars),
        KeyCode::Home => ui.cursor = 0,
        KeyCode::Char('a') if ctrl => ui.cursor = 0,
        KeyCode::End => ui.cursor = chars,
        KeyCode::Char('e') if ctrl => ui.cursor = chars,
        KeyCode::Char('u') if ctrl => {
            edit(ui, |text, cursor| (text[cursor..].to_owned(), 0));
        }
        KeyCode::Char('k') if ctrl => {
            edit(ui, |text, cursor| (text[..cursor].to_owned(), cursor));
        }
        KeyCode::Char('w') if ctrl => {
            edit(ui, |text, cursor| {
                let kept = text[..cursor].trim_end();
                let start = kept.rfind(' ').map_or(0, |i| i + 1);
                (format!("{}{}", &text[..start], &text[cursor..]), start)
            });
        }
        KeyCode::Backspace if ui.cursor > 0 => {
            edit(ui, |text, cursor| {
                let start = text[..cursor].char_indices().last().map_or(0, |(i, _)| i);
                (format!("{}{}", &text[..start], &text[cursor..]), start)
            });
        }
        KeyCode::Delete if ui.cursor < chars => {
            edit(ui, |text, cursor| {
                let end = text[cursor..]
                    .chars()
                    .next()
                    .map_or(cursor, |c| cursor + c.len_utf8());
                (format!("{}{}", &text[..cursor], &text[end..]), cursor)
            });
        }
        KeyCode::Char(c) if !ctrl && !key.modifiers.contains(KeyModifiers::ALT) => {
            edit(ui, |text, cursor| {
                let mut text = text.to_owned();
                text.insert(cursor, c);
                (text, cursor + c.len_utf8())
            });
            if !ui.input.starts_with('/') {
                // The core tells the room at most every few seconds.
                shell.act(Input::Typing);
            }
        }
        _ => {}
    }
    Action::Nothing
}

/// Changes the input line: `change` gets the text and the cursor as a byte offset and gives both back.
fn edit(ui: &mut Ui, change: impl FnOnce(&str, usize) -> (String, usize)) {
    let at = ui
        .input
        .char_indices()
        .nth(ui.cursor)
        .map_or(ui.input.len(), |(i, _)| i);
    let (text, byte) = change(&ui.input, at);
    ui.cursor = text.get(..byte).map_or(0, |t| t.chars().count());
    ui.input = text;
}

fn submit(shell: &mut Shell, ui: &mut Ui) -> Action {
    let line = std::mem::take(&mut ui.input);
    ui.cursor = 0;
    ui.scroll = 0;
    ui.said = None;
    match command::parse(&line).and_then(|c| command::perform(shell, c, true)) {
        Ok(Done::Nothing) => {}
        Ok(Done::Said(text)) => ui.said = Some((text, false)),
        Ok(Done::Help) => {
            ui.said = Some((
                "/join ROOM · /leave · /dm NAME [TEXT] · /who · /reply TEXT · /react EMOJI · /edit TEXT · \
                 /delete · /mute NAME · /unmute NAME · /retry · /reconnect · /quit · //TEXT · Tab, Ctrl-N/P \
                 switch · PageUp/PageDown scroll · Ctrl-C quits"
                    .into(),
                false,
            ))
        }
        Ok(Done::Quit) => return Action::Quit,
        Err(e) => {
            // Not lost: the line comes back to be corrected.
            ui.cursor = line.chars().count();
            ui.input = line;
            ui.said = Some((e, true));
        }
    }
    Action::Nothing
}

/// Shows the next (`by` 1) or previous (-1) conversation, wrapping around.
fn switch(shell: &mut Shell, ui: &mut Ui, by: isize) {
    let model = shell.app.model();
    let all: Vec<_> = model.conversations().into_iter().map(|(c, _)| c).collect();
    let Some(at) = all.iter().position(|c| c == model.current()) else {
        return;
    };
    let len = all.len().cast_signed();
    let next = (at.cast_signed() + by)
        .rem_euclid(len.max(1))
        .cast_unsigned();
    if let Some(conv) = all.get(next).cloned() {
        ui.scroll = 0;
        shell.act(Input::Open(conv));
    }
}
