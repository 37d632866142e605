//! The full-screen view: a pure function of the core's state ([`App`]) and the view's own ([`Ui`]: the input
//! line, the scroll position, the last command's answer), drawn with ratatui.
//!
//! ```text
//! ┌ Rooms ──────┐┌ #general ──────────────────────────┐┌ Online ───────┐
//! │ #general    ││ ── Wednesday, 25 November 2026 ──  ││ In #general   │
//! │ #rust (2)   ││ 10:42 alice: hello                 ││  alice        │
//! │ @bob        ││ 10:43 me: hi ✓                     ││ Everyone      │
//! └─────────────┘└────────────────────────────────────┘└───────────────┘
//!  alice is typing…
//!  Connected as me to mqtt://127.0.0.1:1883
//! > _
//! ```

use jiff::tz::TimeZone;
use jiff::Timestamp;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};
use ratatui::Frame;
use unicode_width::UnicodeWidthChar;

use super::wrap::wrap;

use mqtt_chat::chat::model::{Item, Model};
use mqtt_chat::chat::{names, App, Content, Conversation, Delivery, Status};

use super::Ui;
use crate::command::label;
use crate::line::status_line;

/// Side panes are left out below these widths (the message pane keeps what is left).
const ROOMS_WIDTH: u16 = 18;
const ONLINE_WIDTH: u16 = 20;
const WIDE_ENOUGH_FOR_ROOMS: u16 = 50;
const WIDE_ENOUGH_FOR_ONLINE: u16 = 80;
/// "HH:MM " before each message; continuation lines are indented as far.
const TIME_WIDTH: usize = 6;

/// Draws everything. `wall` is now (Unix ms), `tz` the reader's time zone. Returns the message pane's height
/// and, if the whole conversation was laid out, how far it can be scrolled back.
pub fn draw(
    frame: &mut Frame<'_>,
    app: &App,
    ui: &Ui,
    wall: i64,
    tz: &TimeZone,
) -> (usize, Option<usize>) {
    let model = app.model();
    let info = info_line(app, ui);
    let [main, typing, info_area, status, input] = Layout::vertical([
        Constraint::Min(3),
        Constraint::Length(1),
        Constraint::Length(u16::from(info.is_some())),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    let rooms_w = if main.width >= WIDE_ENOUGH_FOR_ROOMS {
        ROOMS_WIDTH
    } else {
        0
    };
    let online_w = if main.width >= WIDE_ENOUGH_FOR_ONLINE {
        ONLINE_WIDTH
    } else {
        0
    };
    let [rooms, messages, online] = Layout::horizontal([
        Constraint::Length(rooms_w),
        Constraint::Min(10),
        Constraint::Length(online_w),
    ])
    .areas(main);

    frame.render_widget(conversations(model), rooms);
    let scrolling = draw_messages(frame, messages, app, ui, wall, tz);
    frame.render_widget(people(model), online);
    frame.render_widget(
        Paragraph::new(typing_line(model, wall)).style(dim()),
        typing,
    );
    if let Some(info) = info {
        frame.render_widget(Paragraph::new(info), info_area);
    }
    let status_style = match app.status() {
        Status::Connected => Style::new().fg(Color::Green),
        Status::Connecting | Status::Reconnecting { .. } => Style::new().fg(Color::Yellow),
        Status::Disconnected(_) => Style::new().fg(Color::Red),
    };
    // A sentence of its own here ("Connected as …", as the browser's status bar), not a log line.
    let mut words = status_line(app, wall);
    if let Some(first) = words.get(..1) {
        words = format!(
            "{}{}",
            first.to_uppercase(),
            words.get(1..).unwrap_or_default()
        );
    }
    if let Status::Disconnected(Some(_)) = app.status() {
        words.push_str(" — /reconnect to try again, Ctrl-C to quit");
    }
    frame.render_widget(Paragraph::new(words).style(status_style), status);
    draw_input(frame, input, ui);
    scrolling
}

fn dim() -> Style {
    Style::new().add_modifier(Modifier::DIM)
}

/// The last command's answer, else the core's notice (Esc dismisses either).
fn info_line(app: &App, ui: &Ui) -> Option<Line<'static>> {
    if let Some((text, error)) = &ui.said {
        let style = if *error {
            Style::new().fg(Color::Red)
        } else {
            Style::new().fg(Color::Cyan)
        };
        return Some(Line::styled(text.clone(), style));
    }
    let notice = app.notice()?;
    Some(Line::styled(
        format!("{notice} (Esc)"),
        Style::new().fg(Color::Yellow),
    ))
}

fn name_span(model: &Model, name: &str, style: Style) -> Vec<Span<'static>> {
    let mut spans = vec![Span::styled(names::display(name).into_owned(), style)];
    if model.suspicion(name).is_some() {
        spans.push(Span::styled(" ⚠", Style::new().fg(Color::Yellow)));
    }
    spans
}

fn conversations(model: &Model) -> Paragraph<'static> {
    let current = model.current();
    let lines: Vec<Line> = model
        .conversations()
        .into_iter()
        .map(|(c, unread)| {
            let mut text = label(&c);
            if unread > 0 {
                text.push_str(&format!(" ({unread})"));
            }
            let style = if c == *current {
                Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD)
            } else if unread > 0 {
                Style::new().add_modifier(Modifier::BOLD)
            } else {
                Style::new()
            };
            Line::styled(text, style)
        })
        .collect();
    Paragraph::new(lines).block(Block::bordered().title(" Rooms "))
}

fn people(model: &Model) -> Paragraph<'static> {
    let heading = |text: String| Line::styled(text, Style::new().add_modifier(Modifier::BOLD));
    let list = |who: Vec<String>, lines: &mut Vec<Line<'static>>| {
        if who.is_empty() {
            lines.push(Line::styled(" nobody", dim()));
        }
        for name in who {
            let mut spans = vec![Span::raw(" ")];
            spans.extend(name_span(model, &name, Style::new()));
            lines.push(Line::from(spans));
        }
    };
    let mut lines = Vec::new();
    if let Some(room) = model.current().room() {
        lines.push(heading(format!("In #{}", names::display(room))));
        list(model.online_in(room), &mut lines);
    }
    lines.push(heading("Everyone".into()));
    list(model.online(), &mut lines);
    if model.people_capped() {
        lines.push(Line::styled(" (more: list capped)", dim()));
    }
    let muted = model.muted();
    if !muted.is_empty() {
        lines.push(heading("Muted".into()));
        for (name, hidden) in muted {
            lines.push(Line::styled(
                format!(" {} ({hidden})", names::display(&name)),
                dim(),
            ));
        }
    }
    Paragraph::new(lines).block(Block::bordered().title(" Online "))
}

fn typing_line(model: &Model, wall: i64) -> String {
    let Some(room) = model.current().room() else {
        return String::new();
    };
    let who: Vec<String> = model
        .typing_in(room, wall)
        .iter()
        .map(|n| names::display(n).into_owned())
        .collect();
    match who.as_slice() {
        [] => String::new(),
        [one] => format!(" {one} is typing…"),
        [a, b] => format!(" {a} and {b} are typing…"),
        many => format!(" {} people are typing…", many.len()),
    }
}

fn draw_input(frame: &mut Frame<'_>, area: Rect, ui: &Ui) {
    let prompt = "> ";
    let room = usize::from(area.width)
        .saturating_sub(prompt.len() + 1)
        .max(1);
    // Scrolled so that the cursor stays in view.
    let chars: Vec<char> = ui.input.chars().collect();
    let before: usize = chars
        .iter()
        .take(ui.cursor)
        .map(|c| c.width().unwrap_or(0))
        .sum();
    let mut skip = 0;
    let mut skipped = 0;
    while before - skipped > room {
        skipped += chars.get(skip).and_then(|c| c.width()).unwrap_or(0);
        skip += 1;
    }
    let shown: String = chars.iter().skip(skip).collect();
    frame.render_widget(Paragraph::new(format!("{prompt}{shown}")), area);
    let x = area.x + u16::try_from(prompt.len() + before - skipped).unwrap_or(area.width);
    frame.set_cursor_position((x.min(area.right().saturating_sub(1)), area.y));
}

fn draw_messages(
    frame: &mut Frame<'_>,
    area: Rect,
    app: &App,
    ui: &Ui,
    wall: i64,
    tz: &TimeZone,
) -> (usize, Option<usize>) {
    let model = app.model();
    let current = model.current();
    let mut title = format!(" {} ", label(current));
    if ui.scroll > 0 {
        title.push_str("(scrolled back: PageDown for newer) ");
    }
    let block = Block::bordered().title(title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let height = usize::from(inner.height);
    let (rows, whole) = message_rows(
        app,
        current,
        usize::from(inner.width),
        height + ui.scroll,
        wall,
        tz,
    );
    // `rows` ends with the newest; show the window `ui.scroll` rows up from the bottom.
    let max_scroll = rows.len().saturating_sub(height);
    let end = rows.len().saturating_sub(ui.scroll.min(max_scroll));
    let start = end.saturating_sub(height);
    let shown: Vec<Line> = rows.into_iter().skip(start).take(end - start).collect();
    frame.render_widget(Paragraph::new(shown), inner);
    (height, whole.then_some(max_scroll))
}

/// The last rows of a conversation (at least `want` of them, if it has that many): day separators and
/// messages, wrapped to `width`, oldest first; and whether that is all of it. Only the newest messages are
/// laid out, so that a room of thousands costs no more than a screenful.
pub fn message_rows(
    app: &App,
    conv: &Conversation,
    width: usize,
    want: usize,
    wall: i64,
    tz: &TimeZone,
) -> (Vec<Line<'static>>, bool) {
    let model = app.model();
    let items = model.messages(conv);
    let day = |ms: i64| local(ms, tz).map(|z| z.date());
    let mut blocks: Vec<Vec<Line<'static>>> = Vec::new();
    let mut count = 0;
    let mut whole = true;
    for (i, item) in items.iter().enumerate().rev() {
        let mut rows = message(app, item, width, wall, tz);
        let older = i.checked_sub(1).and_then(|j| items.get(j));
        if older.is_none_or(|o| day(o.sent_at) != day(item.sent_at)) {
            rows.insert(0, separator(item.sent_at, width, tz));
        }
        count += rows.len();
        blocks.push(rows);
        if count >= want {
            whole = i == 0;
            break;
        }
    }
    if items.is_empty() {
        blocks.push(vec![Line::styled("No messages yet.", dim())]);
    }
    (blocks.into_iter().rev().flatten().collect(), whole)
}

fn local(ms: i64, tz: &TimeZone) -> Option<jiff::ZonedDateTime> {
    Timestamp::from_millisecond(ms)
        .ok()
        .map(|t| t.to_zoned_datetime(tz.clone()))
}

fn separator(ms: i64, width: usize, tz: &TimeZone) -> Line<'static> {
    let day = local(ms, tz).map_or_else(String::new, |z| z.strftime("%A, %-d %B %Y").to_string());
    let text = format!(" {day} ");
    let side = width.saturating_sub(text.chars().count()) / 2;
    let rule = "─".repeat(side.min(40));
    Line::styled(format!("{rule}{text}{rule}"), dim())
}

/// One message: the message it answers (`↪ alice: lunch?`), if any; `HH:MM sender: text`, "(edited)" and its
/// delivery mark; its reactions (`👍 2  🎉 1`, yours in colour), if any; wrapped, each under the text.
fn message(app: &App, item: &Item, width: usize, wall: i64, tz: &TimeZone) -> Vec<Line<'static>> {
    let model = app.model();
    let indent = || Span::raw(" ".repeat(TIME_WIDTH));
    let mut rows = Vec::new();
    if let Some(quote) = &item.reply {
        let mut spans = vec![indent(), Span::styled("↪ ", dim())];
        spans.extend(name_span(
            model,
            &quote.sender,
            dim().add_modifier(Modifier::BOLD),
        ));
        spans.push(Span::styled(
            format!(": {}", quote.text.replace('\t', "  ")),
            dim(),
        ));
        rows.extend(wrap(spans, width, TIME_WIDTH));
    }
    let time = local(item.sent_at, tz)
        .map_or_else(|| "--:--".to_owned(), |z| z.strftime("%H:%M").to_string());
    let delivery = app.delivery(item);
    let sender_style = if delivery != Delivery::Received {
        Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD)
    } else {
        Style::new().fg(Color::Magenta).add_modifier(Modifier::BOLD)
    };
    let mut spans = vec![Span::styled(format!("{time} "), dim())];
    spans.extend(name_span(model, &item.sender, sender_style));
    spans.push(Span::raw(": "));
    let notice = Style::new()
        .add_modifier(Modifier::ITALIC)
        .fg(Color::Yellow);
    match &item.content {
        Content::Text(text) => {
            spans.push(Span::raw(text.replace('\t', "  ")));
            if item.truncated {
                spans.push(Span::styled(
                    " (cut short: the message was too long)",
                    notice,
                ));
            }
        }
        Content::Unreadable(bytes) => spans.push(Span::styled(
            format!("unreadable message ({bytes} bytes)"),
            notice,
        )),
        Content::TooLarge(kind, bytes) => spans.push(Span::styled(
            mqtt_chat::chat::client::too_large(*kind, &item.sender, *bytes),
            notice,
        )),
    }
    if item.edited.is_some() {
        spans.push(Span::styled(" (edited)", dim()));
    }
    match delivery {
        Delivery::Pending if app.failed(item.sent_at, wall) => {
            spans.push(Span::styled(
                " ✗ not delivered (/retry)",
                Style::new().fg(Color::Red),
            ));
        }
        Delivery::Pending => spans.push(Span::styled(" …", dim())),
        Delivery::Sent => spans.push(Span::styled(" ✓", Style::new().fg(Color::Green))),
        Delivery::Received => {}
    }
    rows.extend(wrap(spans, width, TIME_WIDTH));
    let reactions = item.reactions();
    if !reactions.is_empty() {
        let me = model.me();
        let mut spans = vec![indent()];
        for (i, r) in reactions.iter().enumerate() {
            let style = if r.users.iter().any(|u| u == me) {
                Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD)
            } else {
                Style::new()
            };
            let gap = if i > 0 { "  " } else { "" };
            spans.push(Span::raw(gap));
            spans.push(Span::styled(
                format!("{} {}", r.emoji, r.users.len()),
                style,
            ));
        }
        rows.extend(wrap(spans, width, TIME_WIDTH));
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use mqtt::{ConnAck, ConnectReturnCode, Packet, Pid, Publish, QoS, QosPid, SubAck, TopicName};
    use mqtt_chat::chat::settings::Brokers;
    use mqtt_chat::chat::{Env, Input};
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;

    /// 2025-11-24 10:00 UTC.
    const T0: i64 = 1_763_978_400_000;

    fn env(now: u64) -> Env {
        Env {
            now,
            wall: T0 + now as i64,
            random: 7,
        }
    }

    fn packet(p: Packet<'_>) -> Vec<u8> {
        let mut out = Vec::new();
        p.encode(&mut out).unwrap();
        out
    }

    fn publish(topic: &str, payload: &str, retain: bool) -> Vec<u8> {
        packet(Packet::Publish(Publish {
            dup: false,
            qospid: QosPid::AtMostOnce,
            retain,
            topic: TopicName::new(topic).unwrap(),
            payload: payload.as_bytes(),
        }))
    }

    /// carol, connected through a scripted broker, with alice and bob online and a few messages.
    fn chatting() -> App {
        let brokers = Brokers::parse("mqtt://b", None).unwrap();
        let mut app = App::new(Vec::<(String, String)>::new(), brokers, None);
        let join = Input::Join {
            name: "carol".into(),
            brokers: "mqtt://b".into(),
            password: None,
        };
        app.handle(join, env(0)).unwrap();
        app.handle(Input::Opened, env(0)).unwrap();
        let ack = packet(Packet::ConnAck(ConnAck {
            session_present: false,
            code: ConnectReturnCode::Accepted,
        }));
        app.handle(Input::Bytes(&ack), env(1)).unwrap();
        // Presence and the history service's marker; then the room's messages, typing, direct messages and the
        // service's answers.
        for (pid, filters) in [(1, 2), (2, 4)] {
            let granted = vec![Some(QoS::AtMostOnce); filters];
            let suback = packet(Packet::SubAck(SubAck {
                pid: Pid::new(pid).unwrap(),
                return_codes: granted.into(),
            }));
            app.handle(Input::Bytes(&suback), env(2)).unwrap();
        }
        for (who, tab) in [("alice", "t1"), ("bob", "t2")] {
            let presence = r#"{"browser":"x","rooms":["general"],"since":1}"#;
            let bytes = publish(&format!("chat/users/{who}/presence/{tab}"), presence, true);
            app.handle(Input::Bytes(&bytes), env(3)).unwrap();
        }
        let said = [
            ("alice", 0, "Is the broker upgrade done?"),
            (
                "bob",
                60_000,
                "Yes: Mosquitto restarted, every session came back.",
            ),
            ("аlice", 120_000, "me too"),
        ];
        for (i, (who, at, text)) in said.iter().enumerate() {
            let json = format!(r#"{{"id":"m{i}","text":"{text}","sent_at":{}}}"#, T0 + at);
            let bytes = publish(&format!("chat/rooms/general/messages/{who}"), &json, false);
            app.handle(Input::Bytes(&bytes), env(4)).unwrap();
        }
        let typing = publish("chat/rooms/general/typing/bob", r#"{"typing":true}"#, false);
        app.handle(Input::Bytes(&typing), env(5)).unwrap();
        app.handle(Input::Send("Thanks".into()), env(6)).unwrap();
        app
    }

    fn screen(app: &App, ui: &Ui, width: u16, height: u16) -> Vec<String> {
        let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
        terminal
            .draw(|f| {
                draw(f, app, ui, T0 + 10, &TimeZone::UTC);
            })
            .unwrap();
        let buffer = terminal.backend().buffer();
        (0..height)
            .map(|y| {
                (0..width)
                    .map(|x| buffer[(x, y)].symbol())
                    .collect::<String>()
                    .trim_end()
                    .to_owned()
            })
            .collect()
    }

    #[test]
    fn the_screen_is_drawn_from_the_state_alone() {
        let app = chatting();
        let ui = Ui {
            input: "typing this".into(),
            cursor: 11,
            ..Ui::default()
        };
        #[rustfmt::skip]
        let want = [
            "┌ Rooms ─────────┐┌ #general ─────────────────────────────────────┐┌ Online ──────────┐",
            "│#general        ││────────── Monday, 24 November 2025 ────────── ││In #general       │",
            "│                ││10:00 alice: Is the broker upgrade done?       ││ alice            │",
            "│                ││10:00 carol: Thanks …                          ││ bob              │",
            "│                ││10:01 bob: Yes: Mosquitto restarted, every     ││Everyone          │",
            "│                ││      session came back.                       ││ alice            │",
            "│                ││10:02 аlice ⚠: me too                          ││ bob              │",
            "│                ││                                               ││                  │",
            "└────────────────┘└───────────────────────────────────────────────┘└──────────────────┘",
            " bob is typing…",
            "Connected as carol to mqtt://b",
            "> typing this",
        ];
        assert_eq!(screen(&app, &ui, 87, 12), want);
    }

    #[test]
    fn a_narrow_screen_keeps_the_conversation_and_scrolling_back_shows_older_rows() {
        let app = chatting();
        let back = |scroll| {
            let ui = Ui {
                scroll,
                ..Ui::default()
            };
            screen(&app, &ui, 40, 9)
        };
        let rows = back(2);
        assert!(
            rows[0].starts_with("┌ #general (scrolled back"),
            "{rows:#?}"
        );
        assert!(rows[1].contains("10:00 alice: Is the broker"), "{rows:#?}");
        assert!(!rows
            .iter()
            .any(|r| r.contains("Rooms") || r.contains("Online")));
        // Seven rows in a pane of four: three back is the top; further back stays there.
        let top = back(3);
        assert!(top[1].contains("Monday, 24 November 2025"), "{top:#?}");
        assert_eq!(back(50), top);
        assert!(
            back(0)[4].contains("аlice ⚠: me too"),
            "the newest at the bottom"
        );
    }

    #[test]
    fn edits_reactions_and_replies_show_and_a_deleted_message_is_gone() {
        let mut app = chatting();
        let events = [
            (
                "bob",
                r#"{"kind":"edit","to":{"sender":"bob","id":"m1"},"text":"Yes: all came back.","sent_at":1763978470000}"#,
            ),
            (
                "alice",
                r#"{"kind":"react","to":{"sender":"bob","id":"m1"},"emoji":"👍","on":true,"sent_at":1763978480000}"#,
            ),
            (
                "alice",
                r#"{"kind":"react","to":{"sender":"bob","id":"m1"},"emoji":"🎉","on":true,"sent_at":1763978481000}"#,
            ),
            (
                "alice",
                r#"{"id":"r1","text":"Great.","sent_at":1763978490000,"reply":{"sender":"bob","id":"m1","text":"Yes: all came back."}}"#,
            ),
            (
                "alice",
                r#"{"kind":"delete","to":{"sender":"alice","id":"m0"},"sent_at":1763978530000}"#,
            ),
        ];
        for (who, json) in events {
            let bytes = publish(&format!("chat/rooms/general/messages/{who}"), json, false);
            app.handle(Input::Bytes(&bytes), env(7)).unwrap();
        }
        let react = Input::React {
            conversation: Conversation::Room("general".into()),
            sender: "bob".into(),
            id: "m1".into(),
            emoji: "👍".into(),
        };
        app.handle(react, env(8)).unwrap();
        let rows = screen(&app, &Ui::default(), 87, 13);
        // A wide character's second cell reads as a space here.
        #[rustfmt::skip]
        let want = [
            "┌ Rooms ─────────┐┌ #general ─────────────────────────────────────┐┌ Online ──────────┐",
            "│#general        ││────────── Monday, 24 November 2025 ────────── ││In #general       │",
            "│                ││10:00 carol: Thanks …                          ││ alice            │",
            "│                ││10:01 bob: Yes: all came back. (edited)        ││ bob              │",
            "│                ││      👍  2  🎉  1                               ││Everyone          │",
            "│                ││      ↪ bob: Yes: all came back.               ││ alice            │",
            "│                ││10:01 alice: Great.                            ││ bob              │",
            "│                ││10:02 аlice ⚠: me too                          ││                  │",
            "│                ││                                               ││                  │",
            "└────────────────┘└───────────────────────────────────────────────┘└──────────────────┘",
            " bob is typing…",
            "Connected as carol to mqtt://b",
            ">",
        ];
        assert_eq!(rows, want);
        // carol's own reaction is in her colour.
        let mut terminal = Terminal::new(TestBackend::new(87, 13)).unwrap();
        terminal
            .draw(|f| {
                draw(f, &app, &Ui::default(), T0 + 10, &TimeZone::UTC);
            })
            .unwrap();
        let buffer = terminal.backend().buffer();
        let colour = |symbol: &str| {
            let cells = (0..87).flat_map(|x| (0..13).map(move |y| (x, y)));
            cells
                .into_iter()
                .find(|&at| buffer[at].symbol() == symbol)
                .map(|at| buffer[at].fg)
        };
        assert_eq!(colour("👍"), Some(Color::Cyan));
        assert_eq!(colour("🎉"), Some(Color::Reset));
    }
}
