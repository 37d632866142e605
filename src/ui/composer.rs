use leptos::prelude::*;

use super::ChatState;

/// The message field; Enter sends. Empty or white-space-only text is not sent.
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

    view! {
        <form class="composer" on:submit=on_submit>
            <label class="visually-hidden" for="message">"Message"</label>
            <input id="message" type="text" autocomplete="off" placeholder="Write a message…"
                bind:value=text />
            <button type="submit">"Send"</button>
            <Show when=move || error.with(Option::is_some)>
                <p class="error" role="alert">{move || error.get()}</p>
            </Show>
        </form>
    }
}
