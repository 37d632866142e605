//! The composer: a multi-line message field that sends with Enter, edits the last own message with Up,
//! answers a message, and offers the people of the conversation after an `@`.

use leptos::ev::KeyboardEvent;
use leptos::html::Textarea;
use leptos::prelude::*;

use super::{ChatState, Name};
use crate::chat::client::{outgoing_text, SendError, MAX_TEXT_BYTES};
use crate::chat::message::Quote;
use crate::chat::model::Item;
use crate::chat::search::{self, byte_offset, complete_mention, mention_at, utf16_offset};
use crate::chat::{App, Content, Conversation};

/// The most people the `@` picker offers at once.
const MENTIONS: usize = 8;

/// What Enter does with the text in the composer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Sends it as a new message.
    Normal,
    /// Replaces the text of this own message.
    Editing {
        conversation: Conversation,
        id: String,
    },
    /// Sends it as an answer to this message (in the conversation on screen).
    Replying {
        sender: String,
        id: String,
        quote: String,
    },
}

/// The composer's text and what Enter does with it, shared as a context so that a message's `Edit` and
/// `Reply` actions can start from the message list.
#[derive(Clone, Copy)]
pub struct Draft {
    mode: RwSignal<Mode>,
    text: RwSignal<String>,
    /// What was being written when an edit began: it comes back when the edit ends.
    kept: StoredValue<String>,
}

impl Default for Draft {
    fn default() -> Self {
        Self {
            mode: RwSignal::new(Mode::Normal),
            text: RwSignal::new(String::new()),
            kept: StoredValue::new(String::new()),
        }
    }
}

impl Draft {
    /// Starts editing an own message: the composer takes its text and the focus; Enter saves the change.
    pub fn edit(self, item: &Item) {
        let Content::Text(text) = &item.content else {
            return;
        };
        if matches!(self.mode.get_untracked(), Mode::Normal) {
            self.kept.set_value(self.text.get_untracked());
        }
        self.text.set(text.clone());
        self.mode.set(Mode::Editing {
            conversation: item.conversation.clone(),
            id: item.id.clone(),
        });
        focus_field();
    }

    /// Starts answering a message of the conversation on screen: what is being written stays, and is sent as
    /// the answer.
    pub fn reply(self, item: &Item) {
        if matches!(self.mode.get_untracked(), Mode::Editing { .. }) {
            self.text.set(self.kept.get_value());
        }
        let text = match &item.content {
            Content::Text(text) => text.as_str(),
            _ => "",
        };
        self.mode.set(Mode::Replying {
            sender: item.sender.clone(),
            id: item.id.clone(),
            quote: Quote::of(&item.sender, &item.id, text).text,
        });
        focus_field();
    }

    /// Back to writing a new message; an edit given up gives back what was being written before it.
    pub fn cancel(self) {
        self.done();
        focus_field();
    }

    /// Whether the composer is editing or answering a message.
    pub fn is_busy(self) -> bool {
        self.mode.with(|m| !matches!(m, Mode::Normal))
    }

    fn done(self) {
        let was = self.mode.try_update(|m| std::mem::replace(m, Mode::Normal));
        let text = match was {
            Some(Mode::Editing { .. }) => self
                .kept
                .try_update_value(std::mem::take)
                .unwrap_or_default(),
            _ => String::new(),
        };
        self.text.set(text);
    }
}

/// Gives the message field the focus with the caret at the end, once what changed is drawn.
fn focus_field() {
    crate::net::next_frame(|| {
        super::messages::focus("#message");
        if let Some(field) = field() {
            let end = field.value().encode_utf16().count() as u32;
            // A field that is not shown has no selection to set: nothing to do then.
            field.set_selection_range(end, end).ok();
        }
    });
}

fn field() -> Option<web_sys::HtmlTextAreaElement> {
    use wasm_bindgen::JsCast;
    document()
        .get_element_by_id("message")
        .and_then(|e| e.dyn_into().ok())
}

/// Fits the field's height to its text (CSS caps it at a few lines; beyond, it scrolls): one layout per
/// change, to read the height the text needs.
fn fit(field: &web_sys::HtmlTextAreaElement) {
    let style = web_sys::HtmlElement::style(field);
    // Setting a style property on an element does not fail; if it did, the field would keep its height.
    style.set_property("height", "auto").ok();
    let border = field.offset_height() - field.client_height();
    let height = field.scroll_height() + border;
    style.set_property("height", &format!("{height}px")).ok();
}

/// The message field; Enter sends, Shift+Enter starts a new line. Empty or white-space-only text is not
/// sent; too long a text is refused with a message.
#[component]
pub fn Composer() -> impl IntoView {
    let state = expect_context::<ChatState>();
    let draft = expect_context::<Draft>();
    let Draft { mode, text, .. } = draft;
    let error = RwSignal::new(None::<String>);
    let field_ref = NodeRef::<Textarea>::new();
    // The caret, in bytes of the text: where a mention is being typed.
    let caret = RwSignal::new(0usize);
    // The `@` (its byte) whose picker Escape closed: it stays closed until another one is typed.
    let dismissed = RwSignal::new(None::<usize>);
    let active = RwSignal::new(0usize);

    // Editing or answering is about the conversation it started in.
    let conversation = Memo::new(move |_| state.model(|m| m.current().clone()));
    Effect::new(move |before: Option<()>| {
        conversation.track();
        if before.is_some() && draft.is_busy() {
            draft.done();
        }
    });
    // The height follows the text, typed or set (sent, an edit begun). The field's value may not show a text
    // set by the composer yet (its binding is another effect): it is set first, the same value leaves the caret.
    Effect::new(move || {
        let Some(field) = field_ref.get() else {
            return;
        };
        text.with(|t| {
            if field.value() != *t {
                field.set_value(t);
            }
        });
        fit(&field);
    });

    let mention = Memo::new(move |_| {
        let at = caret.get();
        text.with(|t| mention_at(t, at).map(|(at, typed)| (at, typed.to_owned())))
            .filter(|(at, _)| dismissed.get() != Some(*at))
    });
    let people = Memo::new(move |_| match mention.get() {
        Some((_, typed)) => {
            state.model(|m| search::mention_candidates(m, m.current(), &typed, MENTIONS))
        }
        None => Vec::new(),
    });
    Effect::new(move || {
        people.track();
        active.set(0);
    });
    let picking = move || people.with(|p| !p.is_empty());

    let read_caret = move || {
        if let Some(field) = field_ref.get_untracked() {
            let units = field.selection_start().ok().flatten().unwrap_or(0) as usize;
            // Counted in the field's own value: the binding may not have copied it to `text` yet.
            caret.set(byte_offset(&field.value(), units));
        }
    };
    let choose = move |i: usize| {
        let (Some((at, _)), Some(name)) = (
            mention.get_untracked(),
            people.with_untracked(|p| p.get(i).cloned()),
        ) else {
            return;
        };
        let (completed, after) =
            text.with_untracked(|t| complete_mention(t, at, caret.get_untracked(), &name));
        let units = utf16_offset(&completed, after) as u32;
        if let Some(field) = field_ref.get_untracked() {
            // The value first, then the caret: the binding sets the same value again, which keeps the caret.
            field.set_value(&completed);
            field.set_selection_range(units, units).ok();
            field.focus().ok();
        }
        text.set(completed);
        caret.set(after);
    };

    let submit = move || {
        let typed = text.get_untracked();
        if outgoing_text(&typed) == Err(SendError::Empty) {
            return;
        }
        let sent = match mode.get_untracked() {
            Mode::Normal => state.send(&typed),
            Mode::Editing { conversation, id } => state.edit(conversation, &id, &typed),
            Mode::Replying { sender, id, .. } => state.reply(&sender, &id, &typed),
        };
        match sent {
            Ok(()) => {
                draft.done();
                error.set(None);
            }
            Err(e) => error.set(Some(e)),
        }
    };
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        submit();
    };
    let on_keydown = move |ev: KeyboardEvent| {
        // Enter while an input method is composing confirms its text: it is not ours.
        if ev.is_composing() || ev.key_code() == 229 {
            return;
        }
        let key = ev.key();
        let plain = !(ev.shift_key() || ev.ctrl_key() || ev.alt_key() || ev.meta_key());
        if picking() {
            let n = people.with_untracked(Vec::len).max(1);
            // A name typed in full needs no completing: Enter sends ("thanks @bob").
            let typed_in_full = move || {
                let typed = mention.with_untracked(|m| m.as_ref().map(|(_, t)| t.clone()));
                typed.is_some()
                    && typed == people.with_untracked(|p| p.get(active.get_untracked()).cloned())
            };
            let picked = match key.as_str() {
                "ArrowDown" => {
                    active.update(|a| *a = (*a + 1) % n);
                    true
                }
                "ArrowUp" => {
                    active.update(|a| *a = (*a + n - 1) % n);
                    true
                }
                "Enter" if plain && typed_in_full() => false,
                "Enter" | "Tab" if plain => {
                    choose(active.get_untracked());
                    true
                }
                "Escape" => {
                    dismissed.set(mention.get_untracked().map(|(at, _)| at));
                    true
                }
                _ => false,
            };
            if picked {
                ev.prevent_default();
                ev.stop_propagation();
                return;
            }
        }
        match key.as_str() {
            "Enter" if !ev.shift_key() => submit(),
            "ArrowUp" if plain && text.with_untracked(String::is_empty) && !draft.is_busy() => {
                let Some(last) = state.app.with_untracked(App::last_own) else {
                    return;
                };
                draft.edit(&last);
            }
            "Escape" if draft.is_busy() => draft.cancel(),
            _ => return,
        }
        ev.prevent_default();
        ev.stop_propagation();
    };

    // The core's rule, asked as the user types: the length of what would be sent.
    let too_long = move || match text.with(|t| outgoing_text(t)) {
        Err(SendError::TooLong(len)) => Some(len),
        _ => None,
    };
    let is_too_long = move || too_long().is_some();
    // Joined: the focus goes to the message field (the login form that had it is gone), once it is drawn.
    crate::net::next_frame(|| super::messages::focus("#message"));

    let banner = move || match mode.get() {
        Mode::Normal => None,
        Mode::Editing { .. } => Some(view! { <span>"Editing message"</span> }.into_any()),
        Mode::Replying { sender, quote, .. } => Some(
            view! {
                <span>"Replying to " <Name name=sender/> ": "</span>
                <q class="quote">{quote}</q>
            }
            .into_any(),
        ),
    };
    let option_id = |i: usize| format!("mention-{i}");

    view! {
        <form class="composer" on:submit=on_submit>
            <Show when=move || draft.is_busy()>
                <p class="draft-mode" id="draft-mode">
                    {banner}
                    <button type="button" class="link" on:click=move |_| draft.cancel()>"Cancel"</button>
                </p>
            </Show>
            <label class="visually-hidden" for="message">"Message"</label>
            <div class="field">
                <Show when=picking>
                    <ul class="mentions" id="mentions" role="listbox" aria-label="People"
                        on:mousedown=|ev| ev.prevent_default()>
                        {move || people.get().into_iter().enumerate().map(|(i, name)| view! {
                            <li role="option" id=option_id(i)
                                aria-selected=move || (active.get() == i).to_string()
                                class:active=move || active.get() == i
                                on:click=move |_| choose(i)>
                                <Name name/>
                            </li>
                        }).collect_view()}
                    </ul>
                </Show>
                <textarea id="message" rows="1" autocomplete="off" placeholder="Write a message…"
                    node_ref=field_ref
                    aria-invalid=move || is_too_long().to_string()
                    aria-describedby=move || draft.is_busy().then_some("draft-mode")
                    aria-autocomplete=move || picking().then_some("list")
                    aria-controls=move || picking().then_some("mentions")
                    aria-activedescendant=move || picking().then(|| option_id(active.get()))
                    bind:value=text
                    on:input=move |_| {
                        read_caret();
                        // A picker closed with Escape opens again at the next `@`.
                        let value = field_ref.get_untracked().map(|f| f.value()).unwrap_or_default();
                        let typing_one = mention_at(&value, caret.get_untracked()).is_some();
                        if !typing_one {
                            dismissed.set(None);
                        }
                        state.typing();
                    }
                    on:keydown=on_keydown
                    on:keyup=move |ev: KeyboardEvent| {
                        if matches!(ev.key().as_str(), "ArrowLeft" | "ArrowRight" | "Home" | "End") {
                            read_caret();
                        }
                    }
                    on:click=move |_| read_caret()
                    on:blur=move |_| caret.set(usize::MAX)></textarea>
            </div>
            <button type="submit">"Send"</button>
            <Show when=is_too_long>
                <p class="error" role="alert">
                    {move || format!("Too long: {} of at most {MAX_TEXT_BYTES} bytes.", too_long().unwrap_or_default())}
                </p>
            </Show>
            <Show when=move || error.with(Option::is_some)>
                <p class="error" role="alert">{move || error.get()}</p>
            </Show>
        </form>
    }
}
