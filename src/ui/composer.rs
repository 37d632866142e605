use leptos::prelude::*;

use super::ChatState;
use crate::chat::client::MAX_TEXT_BYTES;

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
        if draft.trim().is_empty() {
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
    let too_long = move || text.with(|t| t.trim().len() > MAX_TEXT_BYTES);
    // Joined: the focus goes to the message field (the login form that had it is gone), once it is drawn.
    crate::net::next_frame(|| super::messages::focus("#message"));

    view! {
        <form class="composer" on:submit=on_submit>
            <label class="visually-hidden" for="message">"Message"</label>
            <input id="message" type="text" autocomplete="off" placeholder="Write a message…"
                aria-invalid=move || too_long().to_string()
                bind:value=text on:input=move |_| state.typing() />
            <button type="submit">"Send"</button>
            <Show when=too_long>
                <p class="error" role="alert">
                    {move || format!("Too long: {} of at most {MAX_TEXT_BYTES} bytes.", text.with(|t| t.trim().len()))}
                </p>
            </Show>
            <Show when=move || error.with(Option::is_some)>
                <p class="error" role="alert">{move || error.get()}</p>
            </Show>
        </form>
    }
}
