use leptos::prelude::*;

use super::ChatState;

/// Name, broker(s) and (for brokers with accounts) password. Enter in the name field joins.
#[component]
pub fn Login() -> impl IntoView {
    let state = expect_context::<ChatState>();
    let name = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    // One broker URL, or several separated by commas: the tab moves on to the next when one is unreachable.
    let broker = RwSignal::new(state.broker_list());
    let error = RwSignal::new(None::<String>);
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        crate::net::request_notifications();
        let password = Some(password.get_untracked());
        match state.join(&name.get_untracked(), &broker.get_untracked(), password) {
            Ok(()) => error.set(None),
            Err(e) => error.set(Some(e)),
        }
    };

    view! {
        <main class="login-page">
            <form class="login" on:submit=on_submit>
                <h1>"mqtt-chat"</h1>
                <label>
                    "Name"
                    <input type="text" name="name" autocomplete="nickname" required autofocus maxlength="64"
                        bind:value=name />
                </label>
                <label>
                    "Password"
                    <input type="password" name="password" autocomplete="current-password"
                        placeholder="only if the broker has accounts" bind:value=password />
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
        </main>
    }
}
