use std::sync::Arc;

use leptos::html::Div;
use leptos::prelude::*;

use super::{ChatState, Name};
use crate::chat::app::Earlier;
use crate::chat::client::too_large;
use crate::chat::model::Item;
use crate::chat::names::display;
use crate::chat::{App, ChatMessage, Content, Delivery};

/// How many of the newest messages the list draws; "Show earlier messages" draws this many more each time.
///
/// A busy room holds thousands: drawing them all makes every new message cost as much as the whole room.
const WINDOW: usize = 100;

/// Within this many pixels of the bottom the reader follows new messages.
const NEAR_BOTTOM_PX: i32 = 160;

/// One line of the log: a message and where it stands, or the start of a new day.
#[derive(Debug, Clone)]
enum Line {
    Day(String),
    Message(Arc<Item>, Delivery),
}

/// Identifies a drawn line: a new key is a new line, so a message is drawn again when its delivery changes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum LineKey {
    Day(String),
    Message(u64, u8),
}

impl Line {
    fn key(&self) -> LineKey {
        match self {
            Line::Day(day) => LineKey::Day(day.clone()),
            Line::Message(m, delivery) => LineKey::Message(m.seq, *delivery as u8),
        }
    }
}

impl PartialEq for Line {
    /// The model replaces a message it changes, so the same message is the same allocation.
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Line::Day(a), Line::Day(b)) => a == b,
            (Line::Message(a, x), Line::Message(b, y)) => Arc::ptr_eq(a, b) && x == y,
            _ => false,
        }
    }
}

/// The lines for `items`, with a day separator before the first message of each day.
fn lines_of(app: &App, items: &[Arc<Item>]) -> Vec<Line> {
    let mut lines = Vec::with_capacity(items.len() + 4);
    let mut last_day = String::new();
    for item in items {
        let day = local_day(item.sent_at);
        if day != last_day {
            lines.push(Line::Day(day.clone()));
            last_day = day;
        }
        lines.push(Line::Message(Arc::clone(item), app.delivery(item)));
    }
    lines
}

/// The conversation's newest messages, oldest first, with day separators. While the reader is at the bottom,
/// new messages scroll into view and the oldest drawn ones give way; scrolled up, what they read stays put.
///
/// For screen readers: the log is a list (so "list, 11 items" and the position in it) in a region that takes
/// the focus (so the keyboard scrolls it). It is not itself live: its lines are all drawn anew when another
/// conversation is opened or earlier messages are shown, and none of that is news. What is news, a message from
/// someone else arriving in the conversation on screen, goes to a polite live region of its own, once
/// ([`ChatState::heard`]).
#[component]
pub fn MessageList() -> impl IntoView {
    let state = expect_context::<ChatState>();
    let list = NodeRef::<Div>::new();
    // `None`: follow the newest messages. `Some(i)`: draw from the conversation's `i`th message on.
    let start = RwSignal::new(None::<usize>);
    let conversation = Memo::new(move |_| state.model(|m| m.current().clone()));
    Effect::new(move || {
        conversation.track();
        start.set(None);
    });
    // The index of the first message drawn, and the lines drawn.
    let window = Memo::new(move |_| {
        let from = start.get();
        state.app.with(|app| {
            let m = app.model();
            let all = m.messages(m.current());
            let from = from
                .unwrap_or_else(|| all.len().saturating_sub(WINDOW))
                .min(all.len());
            (from, lines_of(app, all.get(from..).unwrap_or_default()))
        })
    });
    let first = move || window.with_untracked(|(from, _)| *from);
    // Where `follow` last scrolled to: scroll events come a frame later, when more may have been drawn below,
    // so only a position above this one is the reader scrolling up.
    let followed_to = StoredValue::new(0);
    // Where the list itself last put the view: the scroll event that follows is not the reader's.
    let placed_at = StoredValue::new(None::<i32>);
    let place = move |log: &web_sys::HtmlDivElement, top: i32| {
        log.set_scroll_top(top);
        placed_at.set_value(Some(log.scroll_top()));
    };
    let follow = move || {
        if start.get_untracked().is_none() {
            if let Some(log) = list.get_untracked() {
                place(&log, log.scroll_height());
                followed_to.set_value(log.scroll_top());
            }
        }
    };
    Effect::new(move || {
        window.track();
        // After the list is drawn.
        crate::net::next_frame(follow);
    });
    let on_scroll = move |_| {
        let Some(log) = list.get_untracked() else {
            return;
        };
        let top = log.scroll_top();
        let placed = placed_at.get_value();
        placed_at.set_value(None);
        if placed == Some(top) {
            return;
        }
        let at_bottom = log.scroll_height() - top - log.client_height() < NEAR_BOTTOM_PX;
        let scrolled_up = top < followed_to.get_value() - 1;
        match (at_bottom, start.get_untracked()) {
            (true, Some(_)) => start.set(None),
            (false, None) if scrolled_up => start.set(Some(first())),
            _ => {}
        }
    };
    // The list has no scroll anchoring (style: `overflow-anchor: none`; the browser's would move the view when old
    // lines give way at the top, and that would read as the reader scrolling up), so the lines drawn above keep
    // the view where it was by hand.
    let earlier = move |_| {
        let Some(log) = list.get_untracked() else {
            return;
        };
        let (height, top) = (log.scroll_height(), log.scroll_top());
        start.set(Some(first().saturating_sub(WINDOW)));
        if first() == 0 {
            // The button goes: the focus is not left on nothing.
            focus_log();
        }
        crate::net::next_frame(move || {
            if let Some(log) = list.get_untracked() {
                place(&log, top + log.scroll_height() - height);
            }
        });
    };
    let has_earlier = move || window.with(|(from, _)| *from > 0);
    // Everything this tab holds is drawn: older messages come from the history service, if one runs.
    let older = move || if has_earlier() { None } else { state.earlier() };
    let load_older = move |_| {
        start.set(Some(0));
        state.show_earlier();
    };
    let typing = move || {
        let now = state.clock.get();
        let who = state.model(|m| {
            m.current()
                .room()
                .map(|room| m.typing_in(room, now))
                .unwrap_or_default()
        });
        match who.as_slice() {
            [] => String::new(),
            [one] => format!("{} is typing…", display(one)),
            [a, b] => format!("{} and {} are typing…", display(a), display(b)),
            [a, rest @ ..] => format!("{} and {} others are typing…", display(a), rest.len()),
        }
    };

    view! {
        <div class="messages" role="log" aria-label="Messages" aria-live="off" tabindex="0" node_ref=list
            on:scroll=on_scroll>
            <Show when=has_earlier>
                <button type="button" class="link earlier" on:click=earlier>"Show earlier messages"</button>
            </Show>
            {move || match older() {
                None => None,
                Some(Earlier::More) => Some(view! {
                    <button type="button" class="link earlier" on:click=load_older>"Load older messages"</button>
                }.into_any()),
                Some(Earlier::Asking { .. }) => Some(view! { <p class="older">"Loading older messages…"</p> }.into_any()),
                Some(Earlier::Beginning) => Some(view! { <p class="older">"This is the beginning of the room."</p> }.into_any()),
                Some(Earlier::Unavailable(why)) => {
                    let words = match why {
                        Some(why) => format!("Older messages are not available: {why}."),
                        None => "Older messages are not available here.".to_owned(),
                    };
                    Some(view! { <p class="older">{words}</p> }.into_any())
                }
            }}
            <ol>
                <For each=move || window.with(|(_, lines)| lines.clone()) key=Line::key let:line>
                    {match line {
                        Line::Day(day) => view! { <li class="day"><span>{day}</span></li> }.into_any(),
                        Line::Message(m, delivery) => view! { <MessageItem m delivery/> }.into_any(),
                    }}
                </For>
            </ol>
        </div>
        <div class="announcer visually-hidden" aria-live="polite">
            <For each=move || state.heard() key=|(n, _)| *n let:said>
                <p>{said.1}</p>
            </For>
        </div>
        <p class="typing" aria-live="polite">{typing}</p>
    }
}

/// What a line says: its text, or what it stands for.
fn said(m: &ChatMessage) -> String {
    match &m.content {
        Content::Text(text) => text.clone(),
        Content::Unreadable(len) => format!("unreadable message ({len} bytes)"),
        Content::TooLarge(kind, bytes) => too_large(*kind, &m.sender, *bytes),
    }
}

/// A message as the live region says it: "alice: hello".
pub fn spoken(m: &ChatMessage) -> String {
    format!("{}: {}", display(&m.sender), said(m))
}

/// Gives the focus to the message log: for an action whose button goes away (Mute, Unmute, Retry, Leave,
/// Dismiss), so that the focus is not lost to the page.
pub fn focus_log() {
    focus(".messages");
}

/// Gives the focus to the first element that matches `selector`, if any.
pub fn focus(selector: &str) {
    use wasm_bindgen::JsCast;
    if let Some(el) = document()
        .query_selector(selector)
        .ok()
        .flatten()
        .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok())
    {
        // An element that cannot take the focus keeps it where it was: nothing else to do.
        el.focus().ok();
    }
}

#[component]
fn MessageItem(m: Arc<Item>, delivery: Delivery) -> impl IntoView {
    let state = expect_context::<ChatState>();
    let own = delivery != Delivery::Received;
    let pending = delivery == Delivery::Pending;
    let sent_at = m.sent_at;
    // Pending for FAILED_AFTER_MS while connected: failed, with a retry.
    let failed = move || {
        // Only a pending line watches the connection and the clock.
        pending && state.failed(sent_at)
    };
    let id = m.id.clone();
    let unreadable = matches!(m.content, Content::Unreadable(_) | Content::TooLarge(..));
    let text = said(&m);
    let mute = (!own).then(|| {
        let sender = m.sender.clone();
        let title = format!(
            "Hide {}'s messages and typing in this browser",
            display(&sender)
        );
        view! {
            <button type="button" class="link action" title=title
                on:click=move |_| {
                    focus_log();
                    state.mute(&sender);
                }>"Mute"</button>
        }
    });
    let delivery = match delivery {
        Delivery::Pending => Some("sending…"),
        Delivery::Sent => Some("sent"),
        Delivery::Received => None,
    };
    let label = move || {
        if failed() {
            Some("not delivered")
        } else {
            delivery
        }
    };

    view! {
        <li class="message" class:own=own class:unreadable=unreadable class:pending=pending
            class:failed=failed>
            <span class="sender"><Name name=m.sender.clone()/></span>
            <time datetime=iso_time(m.sent_at)>{local_time(m.sent_at)}</time>
            {mute}
            <span class="text">{text}</span>
            {m.truncated.then(|| view! { <span class="notice">"(cut short: the message was too long)"</span> })}
            {own.then(|| view! {
                <span class="delivery">
                    {label}
                    <Show when=failed>
                        <button type="button" class="link" on:click={
                            let id = id.clone();
                            move |_| {
                                focus_log();
                                state.retry_message(&id);
                            }
                        }>"Retry"</button>
                    </Show>
                </span>
            })}
        </li>
    }
}

fn date(ms: i64) -> js_sys::Date {
    js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms as f64))
}

/// Hours and minutes in the reader's time zone.
fn local_time(ms: i64) -> String {
    let d = date(ms);
    format!("{:02}:{:02}", d.get_hours(), d.get_minutes())
}

/// The day in the reader's time zone and language, e.g. "Wednesday, November 25, 2026".
///
/// Asked for every message each time the list changes, so it is cached per quarter hour: every time zone's
/// offset is a whole number of quarter hours, so a day never starts inside one.
fn local_day(ms: i64) -> String {
    thread_local! {
        static DAYS: std::cell::RefCell<std::collections::HashMap<i64, String>> = Default::default();
    }
    let bucket = ms.div_euclid(15 * 60 * 1000);
    DAYS.with(|days| {
        days.borrow_mut()
            .entry(bucket)
            .or_insert_with(|| format_day(ms))
            .clone()
    })
}

fn format_day(ms: i64) -> String {
    let options = js_sys::Object::new();
    for (k, v) in [
        ("weekday", "long"),
        ("year", "numeric"),
        ("month", "long"),
        ("day", "numeric"),
    ] {
        // Setting a property on a plain object does not fail; if it did, the day would show in the default form.
        js_sys::Reflect::set(&options, &k.into(), &v.into()).ok();
    }
    String::from(date(ms).to_locale_date_string("default", &options))
}

fn iso_time(ms: i64) -> String {
    date(ms).to_iso_string().as_string().unwrap_or_default()
}
