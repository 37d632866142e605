use leptos::prelude::*;

use super::ChatState;

/// Name and broker entry. Enter in the name field joins.
#[component]
pub fn Login() -> impl IntoView {
    let state = expect_context::<ChatState>();
    let name = RwSignal::new(String::new());
    let broker = RwSignal::new(state.broker.get_untracked());
    let error = RwSignal::new(None::<String>);
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        match state.join(&name.get_untracked(), &broker.get_untracked()) {
            Ok(()) => error.set(None),
            Err(e) => error.set(Some(e)),
        }
    };

    view! {
        <form class="login" on:submit=on_submit>
            <h1>"mqtt-chat"</h1>
            <label>
                "Name"
                <input type="text" name="name" autocomplete="nickname" required autofocus maxlength="64"
                    bind:value=name />
            </label>
            <label>
                "Broker"
                <input type="text" name="broker" spellcheck="false" bind:value=broker />
            </label>
            <button type="submit">"Join"</button>
            <Show when=move || error.with(Option::is_some)>
                <p class="error" role="alert">{move || error.get()}</p>
            </Show>
        </form>
    }
}
