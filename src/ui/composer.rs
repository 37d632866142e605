use leptos::prelude::*;

use super::ChatState;
use crate::chat::client::{outgoing_text, SendError, MAX_TEXT_BYTES};

/// The message field; Enter sends. Empty or white-space-only text is not sent; too long a text is refused
/// with a message.
#[component]
pub fn Composer() -> impl IntoView {
    let state = expect_context::<ChatState>();
    let text = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let draft = text.get_untracked();
        if outgoing_text(&draft) == Err(SendError::Empty) {
            return;
        }
        match state.send(&draft) {
            Ok(()) => {
                text.set(String::new());
                error.set(None);
            }
            Err(e) => error.set(Some(e)),
        }
    };
    // The core's rule, asked as the user types: the length of what would be sent.
    let too_long = move || match text.with(|t| outgoing_text(t)) {
        Err(SendError::TooLong(len)) => Some(len),
        _ => None,
    };
    let is_too_long = move || too_long().is_some();
    // Joined: the focus goes to the message field (the login form that had it is gone), once it is drawn.
    crate::net::next_frame(|| super::messages::focus("#message"));

    view! {
        <form class="composer" on:submit=on_submit>
            <label class="visually-hidden" for="message">"Message"</label>
            <input id="message" type="text" autocomplete="off" placeholder="Write a message…"
                aria-invalid=move || is_too_long().to_string()
                bind:value=text on:input=move |_| state.typing() />
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
