use leptos::html::Ol;
use leptos::prelude::*;

use super::{ChatState, Row};
use crate::chat::{Content, Delivery};

/// The room's messages, oldest first; new ones scroll into view when the reader is at the bottom.
#[component]
pub fn MessageList() -> impl IntoView {
    let state = expect_context::<ChatState>();
    let list = NodeRef::<Ol>::new();
    Effect::new(move || {
        state.rows.track();
        if let Some(ol) = list.get() {
            let near_bottom = ol.scroll_height() - ol.scroll_top() - ol.client_height() < 120;
            if near_bottom {
                ol.set_scroll_top(ol.scroll_height());
            }
        }
    });

    view! {
        <ol class="messages" role="log" aria-label="Messages" aria-live="polite" node_ref=list>
            <For each=move || state.rows.get() key=|row| row.key.clone() let:row>
                <MessageItem row/>
            </For>
        </ol>
    }
}

#[component]
fn MessageItem(row: Row) -> impl IntoView {
    let m = row.message;
    let own = m.is_own();
    let unreadable = matches!(m.content, Content::Unreadable(_));
    let text = match m.content {
        Content::Text(text) => text,
        Content::Unreadable(len) => format!("unreadable message ({len} bytes)"),
    };
    let delivery = row.delivery;
    let state_label = move || match delivery.get() {
        Delivery::Pending => "sending…",
        Delivery::Sent => "sent",
        Delivery::Received => "",
    };

    view! {
        <li class="message" class:own=own class:unreadable=unreadable
            class:pending=move || delivery.get() == Delivery::Pending>
            <span class="sender">{m.sender}</span>
            <time datetime=iso_time(m.sent_at)>{local_time(m.sent_at)}</time>
            <span class="text">{text}</span>
            {own.then(|| view! { <span class="delivery">{state_label}</span> })}
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

fn iso_time(ms: i64) -> String {
    date(ms).to_iso_string().as_string().unwrap_or_default()
}
