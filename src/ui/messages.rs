use std::sync::Arc;

use gloo_timers::callback::Timeout;
use leptos::html::{Div, Ol};
use leptos::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{Element, HtmlDivElement, HtmlElement};

use super::{ChatState, Draft, Name};
use crate::chat::app::Earlier;
use crate::chat::client::too_large;
use crate::chat::layout::{arrived_since, continues, first_new};
use crate::chat::model::Item;
use crate::chat::names::display;
use crate::chat::{App, ChatMessage, Content, Conversation, Delivery};

/// How many of the newest messages the list draws; "Show earlier messages" draws this many more each time.
///
/// A busy room holds thousands: drawing them all makes every new message cost as much as the whole room.
const WINDOW: usize = 100;

/// While the reader follows the newest messages, at most this many that arrived together are drawn at once:
/// a flood draws its newest lines and the window's older lines come back this many per frame after it, so
/// a frame's work stays bounded however many messages arrived since the last one (what scrolls past within a
/// frame was never readable anyway).
const DRAW_AT_ONCE: usize = 10;

/// Within this many pixels of the bottom the reader follows new messages.
const NEAR_BOTTOM_PX: i32 = 160;

/// How long a message shown on request (a search result, the message a reply answers) stays marked.
const REVEALED_MS: u32 = 2_000;

/// One line of the log: a message and where it stands, or the start of a new day, or the "New" divider.
#[derive(Debug, Clone)]
enum Line {
    Day(String),
    /// Above the first message from someone else since the conversation was last read.
    New,
    /// A message, where it stands, and whether it continues the group of the line before (its sender and
    /// time are then for screen readers only).
    Message(Arc<Item>, Delivery, bool),
}

/// Identifies a drawn line: a new key is a new line, so a message is drawn again when it changes (an edit, a
/// reaction), when its delivery changes, or when it starts or continues a group.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum LineKey {
    Day(String),
    New,
    Message(u64, u32, u8, bool),
}

impl Line {
    fn key(&self) -> LineKey {
        match self {
            Line::Day(day) => LineKey::Day(day.clone()),
            Line::New => LineKey::New,
            Line::Message(m, delivery, cont) => {
                LineKey::Message(m.seq, m.rev, *delivery as u8, *cont)
            }
        }
    }
}

impl PartialEq for Line {
    /// The model replaces a message it changes, so the same message is the same allocation.
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Line::Day(a), Line::Day(b)) => a == b,
            (Line::New, Line::New) => true,
            (Line::Message(a, x, i), Line::Message(b, y, j)) => {
                Arc::ptr_eq(a, b) && x == y && i == j
            }
            _ => false,
        }
    }
}

/// The lines for `items` from the `from`th on: a day's heading before the first message of each day, the
/// "New" divider before the `new_at`th, and each message marked when it continues the group before it
/// ([`continues`]). A group never goes on across a heading or the divider, nor from a line not drawn.
fn lines_of(app: &App, items: &[Arc<Item>], from: usize, new_at: Option<usize>) -> Vec<Line> {
    let drawn = items.get(from..).unwrap_or_default();
    let mut lines = Vec::with_capacity(drawn.len() + 4);
    let mut last_day = String::new();
    let mut prev: Option<&Arc<Item>> = None;
    for (i, item) in (from..).zip(drawn) {
        let mut cont = prev.is_some_and(|p| continues(p, item));
        let day = local_day(item.sent_at);
        if day != last_day {
            lines.push(Line::Day(day.clone()));
            last_day = day;
            cont = false;
        }
        if new_at == Some(i) {
            lines.push(Line::New);
            cont = false;
        }
        lines.push(Line::Message(Arc::clone(item), app.delivery(item), cont));
        prev = Some(item);
    }
    lines
}

/// The conversation's newest messages, oldest first, with day separators. While the reader is at the bottom,
/// new messages scroll into view and the oldest drawn ones give way; scrolled up, what they read stays put,
/// and a "Jump to latest" button counts what arrived below. A conversation opened with unread messages opens
/// at its "New" divider; a message asked for ([`ChatState::reveal`]) is drawn, scrolled to and focused.
///
/// For screen readers: the log is a list (so "list, 11 items" and the position in it) in a region that takes
/// the focus (so the keyboard scrolls it). It is not itself live: its lines are all drawn anew when another
/// conversation is opened or earlier messages are shown, and none of that is news. What is news, a message from
/// someone else arriving in the conversation on screen, goes to a polite live region of its own, once
/// ([`ChatState::heard`]).
#[component]
pub fn MessageList() -> impl IntoView {
    let state = expect_context::<ChatState>();
    let picking = Picking::default();
    provide_context(picking);
    let list = NodeRef::<Div>::new();
    let lines = NodeRef::<Ol>::new();
    // `None`: follow the newest messages. `Some(i)`: draw from the conversation's `i`th message on.
    let start = RwSignal::new(None::<usize>);
    let conversation = Memo::new(move |_| state.model(|m| m.current().clone()));
    // Another conversation: no picker stays open for a message of the one before.
    Effect::new(move |_| {
        conversation.track();
        picking.0.set(None);
    });
    // While following: how many of the newest messages are drawn (WINDOW, or fewer during a flood), and how
    // many the conversation had when last drawn (a flood is more than DRAW_AT_ONCE arrived since).
    // A conversation just opened, not drawn yet: it opens at its "New" divider, if that is drawn.
    let opened = StoredValue::new(false);
    let span = StoredValue::new(WINDOW);
    let drawn_len = StoredValue::new(None::<(Conversation, usize)>);
    // Whether a flood was drawn since the window last grew back; the trigger that grows it.
    let flooding = StoredValue::new(false);
    let grow = Trigger::new();
    // The index of the first message drawn, and the lines drawn.
    let window = Memo::new(move |_| {
        let from = start.get();
        grow.track();
        state.app.with(|app| {
            let m = app.model();
            let all = m.messages(m.current());
            let len = all.len();
            let before = drawn_len
                .try_update_value(|d| d.replace((m.current().clone(), len)))
                .flatten();
            match before {
                // Not while a conversation just opened waits to be placed (at its divider), nor while the reader
                // reads further up (the window does not move then).
                Some((conv, n)) if conv == *m.current() => {
                    if from.is_none() && !opened.get_value() && len.saturating_sub(n) > DRAW_AT_ONCE
                    {
                        span.set_value(DRAW_AT_ONCE);
                        flooding.set_value(true);
                    }
                }
                // Another conversation: its window is drawn whole.
                _ => span.set_value(WINDOW),
            }
            let from = from
                .unwrap_or_else(|| len.saturating_sub(span.get_value()))
                .min(len);
            let new_at = first_new(all, m.me(), m.new_since(m.current()));
            (from, lines_of(app, all, from, new_at))
        })
    });
    let first = move || window.with_untracked(|(from, _)| *from);
    // While the reader is scrolled up: the model's numbering when they left the bottom (what arrived since is
    // new to them), and how many messages arrived since.
    let below = Memo::new(move |before: Option<&Option<(u64, usize)>>| {
        start.get()?;
        let mark = before.copied().flatten().map_or_else(
            || state.app.with_untracked(|a| a.model().next_seq()),
            |(mark, _)| mark,
        );
        Some((
            mark,
            state.model(|m| arrived_since(m.messages(m.current()), mark)),
        ))
    });
    let arrived = move || below.get().map_or(0, |(_, n)| n);
    // Where `follow` last scrolled to: scroll events come a frame later, when more may have been drawn below,
    // so only a position above this one is the reader scrolling up.
    let followed_to = StoredValue::new(0);
    // Where the list itself last put the view: the scroll event that follows is not the reader's.
    let placed_at = StoredValue::new(None::<i32>);
    let place = move |log: &HtmlDivElement, top: i32| {
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
    // After the list put the view somewhere itself: there, the reader reads (new messages wait below, counted
    // by Jump to latest); at the bottom, they follow.
    let settle = move |log: &HtmlDivElement| {
        if log.scroll_height() - log.scroll_top() - log.client_height() < NEAR_BOTTOM_PX {
            start.set(None);
        } else if start.get_untracked().is_none() {
            start.set(Some(first()));
        }
    };
    let at_divider = move |log: &HtmlDivElement| {
        let Some(divider) = log
            .query_selector("li.new")
            .ok()
            .flatten()
            .and_then(|e| e.dyn_into::<HtmlElement>().ok())
        else {
            return false;
        };
        // A line or two of what was read stays in view above it. (The log is the divider's offset parent.)
        let top = divider.offset_top() - log.client_height() / 4;
        if top >= log.scroll_height() - log.client_height() {
            // It shows at the bottom.
            return false;
        }
        place(log, top.max(0));
        settle(log);
        true
    };
    let drawn = move || {
        // Called a frame later: the list may be gone by then (signed out).
        let Some(just_opened) = opened.try_get_value() else {
            return;
        };
        if just_opened {
            opened.set_value(false);
            if list.get_untracked().is_some_and(|log| at_divider(&log)) {
                return;
            }
        }
        follow();
    };
    // After a conversation is drawn: once, however often it changed in the frame.
    let drawn_armed = StoredValue::new(false);
    let after_drawn = move || {
        if !drawn_armed.get_value() {
            drawn_armed.set_value(true);
            crate::net::next_frame(move || {
                drawn_armed.try_set_value(false);
                drawn();
            });
        }
    };
    // New lines: while following, the view goes to the bottom once the browser has laid them out (not before,
    // which would make it lay the list out twice a frame).
    let resized = StoredValue::new_local(None::<crate::net::Resized>);
    Effect::new(move || {
        if let Some(ol) = lines.get() {
            resized.set_value(crate::net::Resized::observe(&ol, move || {
                // A conversation just opened is placed by `drawn` (at its divider, or at the bottom).
                if opened.try_get_value() == Some(false) {
                    follow();
                }
            }));
        }
    });
    // After a flood, the window's older lines come back, DRAW_AT_ONCE a frame once a frame passed without one.
    let regrowing = StoredValue::new(false);
    Effect::new(move || {
        window.track();
        if span.get_value() < WINDOW && !regrowing.get_value() {
            regrowing.set_value(true);
            regrow(span, flooding, regrowing, grow);
        }
    });
    // The message last revealed, marked until its timer ends.
    let marked = StoredValue::new_local(None::<(Element, Timeout)>);
    let show = move |sender: String, id: String| {
        let (Some(log), Some(ol)) = (list.get_untracked(), lines.get_untracked()) else {
            return;
        };
        let Some(item) = find_message(&ol, &sender, &id) else {
            return;
        };
        // It takes the focus (a screen reader reads what was asked for) without becoming a stop of Tab.
        // Setting an attribute of an element of the page does not fail.
        item.set_attribute("tabindex", "-1").ok();
        // An element that cannot take the focus leaves it where it was: the mark still shows it.
        item.focus().ok();
        place(
            &log,
            (item.offset_top() - (log.client_height() - item.offset_height()) / 2).max(0),
        );
        settle(&log);
        if let Some((before, _)) = marked.try_update_value(Option::take).flatten() {
            unmark(&before);
        }
        item.set_class_name(&format!("{} revealed", item.class_name()));
        let element: Element = item.into();
        let timer = crate::net::after(REVEALED_MS, {
            let element = element.clone();
            move || unmark(&element)
        });
        marked.set_value(Some((element, timer)));
    };
    // Another conversation opens from the bottom (or its divider); a message asked for is drawn (the window
    // widened to it), then shown, once its conversation is on screen.
    Effect::new(move |shown: Option<Conversation>| {
        let conv = conversation.get();
        if shown.as_ref() != Some(&conv) {
            start.set(None);
            opened.set_value(true);
            after_drawn();
        }
        let asked = state.reveal.with(|r| match r {
            Some((c, sender, id)) if *c == conv => Some((sender.clone(), id.clone())),
            _ => None,
        });
        if let Some((sender, id)) = asked {
            state.reveal.set(None);
            let at = state.app.with_untracked(|a| {
                let all = a.model().messages(&conv);
                let at = all.iter().position(|m| m.sender == sender && m.id == id)?;
                Some((at, all.len()))
            });
            if let Some((at, len)) = at {
                opened.set_value(false);
                let from = start
                    .get_untracked()
                    .unwrap_or_else(|| len.saturating_sub(WINDOW));
                start.set(Some(from.min(at)));
                crate::net::next_frame(move || show(sender, id));
            }
        }
        conv
    });
    let jump = move |_| {
        start.set(None);
        // The button goes: the focus is not left on nothing.
        focus_log();
        crate::net::next_frame(follow);
    };
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
        <div class="log-area">
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
                <ol node_ref=lines>
                    <For each=move || window.with(|(_, lines)| lines.clone()) key=Line::key let:line>
                        {match line {
                            Line::Day(day) => view! { <li class="day"><span>{day}</span></li> }.into_any(),
                            Line::New => view! {
                                <li class="new" role="separator" aria-label="New messages"><span>"New"</span></li>
                            }.into_any(),
                            Line::Message(m, delivery, cont) => view! { <MessageItem m delivery cont/> }.into_any(),
                        }}
                    </For>
                </ol>
            </div>
            <Show when=move || { arrived() > 0 }>
                <button type="button" class="jump" on:click=jump>
                    {move || format!("Jump to latest ({} new)", arrived())}
                </button>
            </Show>
        </div>
        <div class="announcer visually-hidden" aria-live="polite">
            <For each=move || state.heard() key=|(n, _)| *n let:said>
                <p>{said.1}</p>
            </For>
        </div>
        <p class="typing" aria-live="polite">{typing}</p>
    }
}

/// Grows the window by DRAW_AT_ONCE lines at the next frame, or waits a frame more if a flood was drawn
/// since the last; until it is whole again.
fn regrow(
    span: StoredValue<usize>,
    flooding: StoredValue<bool>,
    armed: StoredValue<bool>,
    grow: Trigger,
) {
    crate::net::next_frame(move || {
        // The list may be gone by then (signed out): nothing to grow.
        let Some(now) = span.try_get_value() else {
            return;
        };
        if now >= WINDOW {
            armed.try_set_value(false);
        } else if flooding.try_update_value(std::mem::take).unwrap_or(false) {
            regrow(span, flooding, armed, grow);
        } else {
            armed.try_set_value(false);
            span.try_set_value((now + DRAW_AT_ONCE).min(WINDOW));
            grow.notify();
        }
    });
}

/// The drawn line of the message `(sender, id)`, found by its data attributes (not by a selector made of
/// them: they hold any characters).
fn find_message(lines: &Element, sender: &str, id: &str) -> Option<HtmlElement> {
    let mut line = lines.first_element_child();
    while let Some(el) = line {
        if el.get_attribute("data-id").as_deref() == Some(id)
            && el.get_attribute("data-sender").as_deref() == Some(sender)
        {
            return el.dyn_into().ok();
        }
        line = el.next_element_sibling();
    }
    None
}

/// Takes a revealed message's mark away (its other classes are the view's: only this one goes).
fn unmark(el: &Element) {
    let classes = el.class_name();
    let kept: Vec<&str> = classes
        .split_whitespace()
        .filter(|c| *c != "revealed")
        .collect();
    el.set_class_name(&kept.join(" "));
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

/// Which message's reactions picker is open, by (sender, id): kept by the list, not by the line, because a line
/// is drawn anew whenever its message changes — someone else's reaction must not close the picker in use.
#[derive(Clone, Copy, Default)]
struct Picking(RwSignal<Option<(String, String)>>);

/// One message. The first of a group shows its sender and time; the lines that continue it (`cont`) keep both
/// for screen readers, and the time shows with the message's actions (on hover or focus; always on a touch
/// screen): Reply and React for every message, Edit and Delete for own ones, Mute for others'. Under the text,
/// whether it was edited and its reactions; above it, the message it answers.
#[component]
fn MessageItem(m: Arc<Item>, delivery: Delivery, cont: bool) -> impl IntoView {
    let state = expect_context::<ChatState>();
    let draft = expect_context::<Draft>();
    let Picking(open) = expect_context::<Picking>();
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
        action(
            "Mute",
            Some(title),
            Box::new(move || {
                focus_log();
                state.mute(&sender);
            }),
        )
    });
    let mine = own.then(|| {
        let edit = matches!(m.content, Content::Text(_)).then(|| {
            let m = Arc::clone(&m);
            action("Edit", None, Box::new(move || draft.edit(&m)))
        });
        let (conversation, id) = (m.conversation.clone(), m.id.clone());
        let delete = action(
            "Delete",
            None,
            Box::new(move || {
                if crate::net::confirm("Delete this message for everyone?") {
                    // Its line goes: the focus is not left on nothing.
                    focus_log();
                    state.delete(conversation.clone(), &id);
                }
            }),
        );
        [edit, Some(delete)]
    });
    let key = (m.sender.clone(), m.id.clone());
    let picking = {
        let key = key.clone();
        Memo::new(move |_| open.with(|o| o.as_ref() == Some(&key)))
    };
    let time = Some(view! { <time datetime=iso_time(m.sent_at)>{local_time(m.sent_at)}</time> });
    let (time, time_in_actions) = if cont { (None, time) } else { (time, None) };
    let reply = {
        let m = Arc::clone(&m);
        action("Reply", None, Box::new(move || draft.reply(&m)))
    };
    let actions = view! {
        <span class="actions">
            {time_in_actions}
            {reply}
            <button type="button" class="link action react" aria-expanded=move || picking.get().to_string()
                on:click=move |_| {
                    let shown = picking.get_untracked();
                    open.set((!shown).then(|| key.clone()));
                }>"React"</button>
            {mine}
            {mute}
        </span>
    };
    let picker = {
        let m = Arc::clone(&m);
        move || {
            picking
                .get()
                .then(|| view! { <Picker m=Arc::clone(&m) picking=open/> })
        }
    };
    let edited = m.edited.map(|at| {
        let title = format!("Edited {}, {}", local_day(at), local_time(at));
        view! { <span class="edited" title=title>"edited"</span> }
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
        <li class="message" class:own=own class:cont=cont class:unreadable=unreadable class:pending=pending
            class:failed=failed data-sender=m.sender.clone() data-id=m.id.clone()>
            <span class="sender" class:visually-hidden=cont><Name name=m.sender.clone()/></span>
            {time}
            {actions}
            {picker}
            {quote(state, &m)}
            // Read as markup (links, code, quotes...), with this reader's mentions marked.
            {super::markup::text(text, matches!(m.content, Content::Text(_)),
                state.app.with_untracked(|a| a.me().map(str::to_owned)))}
            {m.truncated.then(|| view! { <span class="notice">"(cut short: the message was too long)"</span> })}
            {edited}
            {reactions(state, &m)}
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

/// A message action: a small text button doing `act`. One function, not a view per action: each view is code
/// of its own in the wasm.
fn action(label: &'static str, title: Option<String>, act: Box<dyn Fn()>) -> AnyView {
    view! { <button type="button" class="link action" title=title on:click=move |_| act()>{label}</button> }
        .into_any()
}

/// The message a reply answers, quoted: a button that shows it in the list, if it is there to show (as the
/// line is drawn: a deleted one, or one older than what this tab holds, cannot be).
fn quote(state: ChatState, m: &ChatMessage) -> Option<impl IntoView> {
    let q = m.reply.as_ref()?;
    let asked = (m.conversation.clone(), q.sender.clone(), q.id.clone());
    let missing = state
        .app
        .with_untracked(|a| a.model().find(&asked.0, &asked.1, &asked.2).is_none());
    Some(view! {
        <button type="button" class="quote" disabled=missing
            title=if missing { "The message answered is not here" } else { "Show the message answered" }
            on:click=move |_| state.reveal.set(Some(asked.clone()))>
            <span aria-hidden="true">"↩ "</span>
            <span class="visually-hidden">"In reply to "</span>
            <Name name=q.sender.clone()/>": "{q.text.clone()}
        </button>
    })
}

/// The most names a reaction's label lists; the rest are counted.
const NAMED: usize = 10;

/// A message's reactions: a button per emoji with how many chose it (and, in its name, who), pressed when the
/// reader is among them; pressing it adds or takes back the reader's reaction.
fn reactions(state: ChatState, m: &ChatMessage) -> Option<impl IntoView> {
    let all = m.reactions();
    if all.is_empty() {
        return None;
    }
    let chips = all
        .into_iter()
        .map(|r| {
            let pressed = state
                .app
                .with_untracked(|a| a.me().is_some_and(|me| r.users.iter().any(|u| u == me)));
            let mut who: Vec<String> = r.users.iter().take(NAMED).map(|u| display(u).into_owned()).collect();
            if r.users.len() > NAMED {
                who.push(format!("{} more", r.users.len() - NAMED));
            }
            let shown = format!("{} {}", r.emoji, r.users.len());
            let label = format!("{shown}: {}", who.join(", "));
            let (conversation, sender, id) = (m.conversation.clone(), m.sender.clone(), m.id.clone());
            let emoji = r.emoji;
            view! {
                <button type="button" class="reaction" aria-pressed=pressed.to_string() aria-label=label.clone()
                    title=label
                    on:click=move |_| {
                        state.react(conversation.clone(), &sender, &id, &emoji);
                        refocus(&sender, &id, Some(&emoji));
                    }>{shown}</button>
            }
        })
        .collect_view();
    Some(view! { <div class="reactions">{chips}</div> })
}

/// The reactions offered for a message, opened by its React button: choosing one adds it (or takes it back)
/// and closes the picker, as Escape does; the focus goes back to React.
#[component]
fn Picker(m: Arc<Item>, picking: RwSignal<Option<(String, String)>>) -> impl IntoView {
    let state = expect_context::<ChatState>();
    let group = NodeRef::<Div>::new();
    let target = (m.sender.clone(), m.id.clone());
    let close = {
        let (sender, id) = target.clone();
        move || {
            picking.set(None);
            refocus(&sender, &id, None);
        }
    };
    // Opened: the focus goes to the first reaction, once drawn.
    crate::net::next_frame(move || {
        if let Some(first) = group
            .get_untracked()
            .and_then(|g| g.first_element_child())
            .and_then(|e| e.dyn_into::<HtmlElement>().ok())
        {
            // A button of the page takes the focus; if it did not, it would stay on React.
            first.focus().ok();
        }
    });
    let on_key = {
        let close = close.clone();
        move |ev: leptos::ev::KeyboardEvent| {
            if ev.key() == "Escape" {
                ev.stop_propagation();
                close();
            }
        }
    };
    // The focus going elsewhere (a click on another control, or on the log, which takes the focus) closes it; to
    // React, React's own click does. The focus going nowhere closes nothing: that is also what a browser reports
    // when the picker's line is drawn anew (someone else reacted), with a picker of its own.
    let on_focus_out = move |ev: leptos::ev::FocusEvent| {
        let Some(to) = ev
            .related_target()
            .and_then(|t| t.dyn_into::<Element>().ok())
        else {
            return;
        };
        let stays = group.get_untracked().is_none_or(|g| {
            let react = to.class_name().split_whitespace().any(|c| c == "react");
            g.contains(Some(&to))
                || (react && g.parent_element().is_some_and(|li| li.contains(Some(&to))))
        });
        if !stays {
            picking.set(None);
        }
    };
    let choices = crate::chat::REACTIONS
        .iter()
        .map(|emoji| {
            let (conversation, (sender, id)) = (m.conversation.clone(), target.clone());
            let close = close.clone();
            action(
                emoji,
                None,
                Box::new(move || {
                    state.react(conversation.clone(), &sender, &id, emoji);
                    close();
                }),
            )
        })
        .collect_view();
    view! {
        <div class="picker" role="group" aria-label="Reactions" node_ref=group on:keydown=on_key
            on:focusout=on_focus_out>{choices}</div>
    }
}

/// Gives the focus back to a message's reaction button for `emoji` (if it still shows) or its React button,
/// once drawn: a reaction draws the message's line anew, and the button that had the focus is gone with the
/// old one.
fn refocus(sender: &str, id: &str, emoji: Option<&str>) {
    let (sender, id, emoji) = (sender.to_owned(), id.to_owned(), emoji.map(str::to_owned));
    crate::net::next_frame(move || {
        let Some(item) = document()
            .query_selector(".messages ol")
            .ok()
            .flatten()
            .and_then(|lines| find_message(&lines, &sender, &id))
        else {
            return;
        };
        let chip = emoji.and_then(|emoji| {
            // A reaction's button says its emoji first, then how many: "👍 2".
            let row = item.query_selector(".reactions").ok().flatten()?;
            let mut chip = row.first_element_child();
            while let Some(el) = chip {
                let text = el.text_content().unwrap_or_default();
                if text
                    .strip_prefix(emoji.as_str())
                    .is_some_and(|n| n.starts_with(' '))
                {
                    return Some(el);
                }
                chip = el.next_element_sibling();
            }
            None
        });
        let button = chip
            .or_else(|| item.query_selector("button.react").ok().flatten())
            .and_then(|e| e.dyn_into::<HtmlElement>().ok());
        if let Some(button) = button {
            // A button of the page takes the focus; if it did not, there is nothing better to give it to.
            button.focus().ok();
        }
    });
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
    DAY_FORMAT.with(|format| crate::net::format_date(format, ms))
}

thread_local! {
    /// The reader's day format, made once (see [`crate::net::date_format`]).
    static DAY_FORMAT: js_sys::Function = crate::net::date_format(&[
        ("weekday", "long"),
        ("year", "numeric"),
        ("month", "long"),
        ("day", "numeric"),
    ]);
}

/// Makes the day format before the first message needs it: called while the page is idle at start.
pub fn prepare_day_format() {
    DAY_FORMAT.with(|_| {});
}

fn iso_time(ms: i64) -> String {
    date(ms).to_iso_string().as_string().unwrap_or_default()
}
