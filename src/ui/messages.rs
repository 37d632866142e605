use leptos::html::Ol;
use leptos::prelude::*;

use super::ChatState;
use crate::chat::{ChatMessage, Content, Delivery};

/// One line of the log: a message, or the start of a new day.
#[derive(Debug, Clone, PartialEq)]
enum Line {
    Day(String),
    Message(ChatMessage),
}

impl Line {
    /// A key that changes when the line must be drawn again (a message's delivery state changes).
    fn key(&self) -> String {
        match self {
            Line::Day(day) => format!("day\u{0}{day}"),
            Line::Message(m) => format!("{}\u{0}{}\u{0}{:?}", m.sender, m.id, m.delivery),
        }
    }
}

/// The conversation's messages, oldest first, with day separators; new ones scroll into view when the
/// reader is at the bottom.
#[component]
pub fn MessageList() -> impl IntoView {
    let state = expect_context::<ChatState>();
    let list = NodeRef::<Ol>::new();
    let lines = Memo::new(move |_| {
        state.model.with(|m| {
            let mut lines = Vec::new();
            let mut last_day = String::new();
            for message in m.messages(m.current()) {
                let day = local_day(message.sent_at);
                if day != last_day {
                    lines.push(Line::Day(day.clone()));
                    last_day = day;
                }
                lines.push(Line::Message(message.clone()));
            }
            lines
        })
    });
    Effect::new(move || {
        lines.track();
        if let Some(ol) = list.get() {
            let near_bottom = ol.scroll_height() - ol.scroll_top() - ol.client_height() < 160;
            if near_bottom {
                ol.set_scroll_top(ol.scroll_height());
            }
        }
    });
    let typing = move || {
        let now = state.clock.get();
        let who = state.model.with(|m| {
            m.current()
                .room()
                .map(|room| m.typing_in(room, now))
                .unwrap_or_default()
        });
        match who.as_slice() {
            [] => String::new(),
            [one] => format!("{one} is typing…"),
            [a, b] => format!("{a} and {b} are typing…"),
            [a, rest @ ..] => format!("{a} and {} others are typing…", rest.len()),
        }
    };

    view! {
        <ol class="messages" role="log" aria-label="Messages" aria-live="polite" node_ref=list>
            <For each=move || lines.get() key=Line::key let:line>
                {match line {
                    Line::Day(day) => view! { <li class="day"><span>{day}</span></li> }.into_any(),
                    Line::Message(m) => view! { <MessageItem m/> }.into_any(),
                }}
            </For>
        </ol>
        <p class="typing" aria-live="polite">{typing}</p>
    }
}

#[component]
fn MessageItem(m: ChatMessage) -> impl IntoView {
    let state = expect_context::<ChatState>();
    let own = m.is_own();
    let pending = m.delivery == Delivery::Pending;
    let sent_at = m.sent_at;
    // Pending for FAILED_AFTER_MS while connected: failed, with a retry.
    let failed = move || {
        let since = state.connected_since.get();
        pending && since > 0 && state.clock.get() - sent_at.max(since) > super::FAILED_AFTER_MS
    };
    let id = m.id.clone();
    let unreadable = matches!(m.content, Content::Unreadable(_));
    let text = match m.content {
        Content::Text(text) => text,
        Content::Unreadable(len) => format!("unreadable message ({len} bytes)"),
    };
    let delivery = match m.delivery {
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
            <span class="sender">{m.sender}</span>
            <time datetime=iso_time(m.sent_at)>{local_time(m.sent_at)}</time>
            <span class="text">{text}</span>
            {m.truncated.then(|| view! { <span class="notice">"(cut short: the message was too long)"</span> })}
            {own.then(|| view! {
                <span class="delivery">
                    {label}
                    <Show when=failed>
                        <button type="button" class="link" on:click={
                            let id = id.clone();
                            move |_| state.retry_message(&id)
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
        let _ = js_sys::Reflect::set(&options, &k.into(), &v.into());
    }
    String::from(date(ms).to_locale_date_string("default", &options))
}

fn iso_time(ms: i64) -> String {
    date(ms).to_iso_string().as_string().unwrap_or_default()
}
