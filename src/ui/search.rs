//! Search: a searchbox in the page header (Ctrl+K, or `/` outside a text field) that finds messages in every
//! conversation this browser holds, and shows a chosen one in its conversation.

use leptos::ev::KeyboardEvent;
use leptos::html::{Div, Input};
use leptos::prelude::*;
use wasm_bindgen::JsCast;

use super::{ChatState, Name};
use crate::chat::search::{search, Hit};
use crate::net::Listener;

/// The most results listed.
const RESULTS: usize = 30;

/// How many characters of a result's text show before its match.
const CONTEXT: usize = 30;

#[component]
pub fn Search() -> impl IntoView {
    let state = expect_context::<ChatState>();
    let query = RwSignal::new(String::new());
    let open = RwSignal::new(false);
    let input = NodeRef::<Input>::new();
    let container = NodeRef::<Div>::new();
    // Searched while the results show: a message arriving then may be a result.
    let hits = Memo::new(move |_| {
        if !open.get() {
            return Vec::new();
        }
        query.with(|q| state.model(|m| search(m, q, RESULTS)))
    });
    let showing = move || open.get() && query.with(|q| !q.trim().is_empty());

    let focus_box = move || {
        if let Some(input) = input.get_untracked() {
            // An element that cannot take the focus keeps it where it was: nothing else to do.
            input.focus().ok();
            input.select();
        }
        open.set(true);
    };
    // Ctrl+K (⌘K) from anywhere; `/` where it would not be typed.
    let shortcut = StoredValue::new_local(Listener::document("keydown", move |ev| {
        let Some(ev) = ev.dyn_ref::<web_sys::KeyboardEvent>() else {
            return;
        };
        let key = ev.key();
        let ctrl_k = (ev.ctrl_key() || ev.meta_key())
            && !ev.alt_key()
            && !ev.shift_key()
            && key.eq_ignore_ascii_case("k");
        let slash = key == "/"
            && !(ev.ctrl_key() || ev.meta_key() || ev.alt_key())
            && !in_text_field(ev.target());
        if ctrl_k || slash {
            ev.prevent_default();
            focus_box();
        }
    }));
    on_cleanup(move || shortcut.set_value(None));

    let choose = move |hit: &Hit| {
        open.set(false);
        if state.model(|m| *m.current() != hit.conversation) {
            state.open(hit.conversation.clone());
        }
        state.reveal.set(Some((
            hit.conversation.clone(),
            hit.sender.clone(),
            hit.id.clone(),
        )));
        super::messages::focus_log();
    };
    let results = move || container.get_untracked().map(|c| buttons(&c));
    let on_box_key = move |ev: KeyboardEvent| match ev.key().as_str() {
        "ArrowDown" => {
            ev.prevent_default();
            if let Some(first) = results().and_then(|r| r.into_iter().next()) {
                first.focus().ok();
            }
        }
        "Enter" => {
            ev.prevent_default();
            if let Some(first) = hits.with_untracked(|h| h.first().cloned()) {
                choose(&first);
            }
        }
        "Escape" => {
            // The browser's own Escape empties the box: closing the results comes first.
            ev.prevent_default();
            ev.stop_propagation();
            if showing() {
                open.set(false);
            } else {
                query.set(String::new());
            }
        }
        _ => {}
    };
    let on_results_key = move |ev: KeyboardEvent| {
        let step: isize = match ev.key().as_str() {
            "ArrowDown" => 1,
            "ArrowUp" => -1,
            "Escape" => {
                ev.prevent_default();
                ev.stop_propagation();
                focus_box();
                open.set(false);
                return;
            }
            _ => return,
        };
        ev.prevent_default();
        let Some(buttons) = results() else {
            return;
        };
        let focused = document().active_element();
        let at = buttons
            .iter()
            .position(|b| Some(b.unchecked_ref::<web_sys::Element>()) == focused.as_ref());
        match at.map(|i| i as isize + step) {
            // Up from the first result: back to the box.
            Some(-1) | None => focus_box(),
            Some(i) => {
                if let Some(b) = buttons.get(i as usize) {
                    b.focus().ok();
                }
            }
        }
    };
    // Closes when the focus leaves the search for something else on the page.
    let on_focusout = move |ev: leptos::ev::FocusEvent| {
        let inside = ev
            .related_target()
            .and_then(|t| t.dyn_into::<web_sys::Node>().ok())
            .zip(container.get_untracked())
            .is_some_and(|(to, c)| c.contains(Some(&to)));
        if !inside {
            open.set(false);
        }
    };

    let count = move || match hits.with(Vec::len) {
        0 => "No messages found.".to_owned(),
        1 => "1 message found.".to_owned(),
        n if n >= RESULTS => format!("The newest {n} messages found."),
        n => format!("{n} messages found."),
    };

    view! {
        <div class="search" role="search" node_ref=container on:focusout=on_focusout>
            <input type="search" id="search" aria-label="Search" placeholder="Search (Ctrl+K)"
                autocomplete="off" spellcheck="false" node_ref=input
                aria-controls=move || showing().then_some("search-results")
                aria-keyshortcuts="Control+K /"
                bind:value=query
                on:input=move |_| open.set(true)
                on:focus=move |_| open.set(true)
                on:keydown=on_box_key/>
            <Show when=showing>
                <div class="search-results" id="search-results" on:keydown=on_results_key
                    on:mousedown=|ev| ev.prevent_default()>
                    <p class="search-count" aria-live="polite">{count}</p>
                    // Drawn anew when they change: a few dozen short lines, and no keyed list's code for them.
                    <ul aria-label="Search results">
                        {move || hits.get().into_iter().map(|hit| view! {
                            <li><HitButton hit=hit.clone() on_choose=move || choose(&hit)/></li>
                        }).collect_view()}
                    </ul>
                </div>
            </Show>
        </div>
    }
}

#[component]
fn HitButton(hit: Hit, on_choose: impl Fn() + 'static) -> impl IntoView {
    let (before, matched, after) = hit.excerpt(CONTEXT);
    let (matched, after) = (matched.to_owned(), after.to_owned());
    view! {
        <button type="button" class="hit" on:click=move |_| on_choose()>
            <span class="where">{hit.conversation.to_string()}</span>
            " "
            <span class="sender"><Name name=hit.sender.clone()/></span>
            " "
            <time datetime=iso_time(hit.sent_at)>{local_time(hit.sent_at)}</time>
            " "
            <span class="text">{before}<mark>{matched}</mark>{after}</span>
        </button>
    }
}

/// The result buttons, in order.
fn buttons(container: &web_sys::HtmlDivElement) -> Vec<web_sys::HtmlElement> {
    let Ok(list) = container.query_selector_all(".search-results button") else {
        return Vec::new();
    };
    (0..list.length())
        .filter_map(|i| list.item(i))
        .filter_map(|n| n.dyn_into().ok())
        .collect()
}

/// Whether a key typed at `target` goes into text (where `/` is a character, not a shortcut).
fn in_text_field(target: Option<web_sys::EventTarget>) -> bool {
    let Some(el) = target.and_then(|t| t.dyn_into::<web_sys::HtmlElement>().ok()) else {
        return false;
    };
    el.is_content_editable() || matches!(el.tag_name().as_str(), "INPUT" | "TEXTAREA" | "SELECT")
}

fn date(ms: i64) -> js_sys::Date {
    js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms as f64))
}

/// The day and time in the reader's time zone and language, e.g. "Nov 25, 14:05".
fn local_time(ms: i64) -> String {
    thread_local! {
        static FORMAT: js_sys::Function = crate::net::date_format(&[
            ("month", "short"),
            ("day", "numeric"),
            ("hour", "2-digit"),
            ("minute", "2-digit"),
        ]);
    }
    FORMAT.with(|format| crate::net::format_date(format, ms))
}

fn iso_time(ms: i64) -> String {
    date(ms).to_iso_string().as_string().unwrap_or_default()
}
