use leptos::prelude::*;

use super::ChatState;
use crate::chat::Status;

/// The connection status, always visible, with the reason when the connection ended.
#[component]
pub fn StatusBar() -> impl IntoView {
    let state = expect_context::<ChatState>();
    // With several brokers, which one of them (the one a reconnection goes to, while reconnecting).
    let text = move || {
        let (broker, (n, of)) = state.broker();
        let which = if of > 1 {
            format!(" (broker {n} of {of})")
        } else {
            String::new()
        };
        match state.status() {
            Status::Connecting => format!("Connecting to {broker}…{which}"),
            Status::Connected => format!(
                "Connected as {} to {broker}{which}",
                state.me().unwrap_or_default()
            ),
            Status::Disconnected(reason) if reason.is_empty() => "Disconnected".to_owned(),
            Status::Disconnected(reason) => format!("Disconnected: {reason}"),
            Status::Reconnecting { reason, at } => {
                // Whole seconds, rounded up (integers: formatting an `f64` costs the page 8 KB gzipped).
                let secs = ((at - state.clock.get()).max(0) + 999) / 1000;
                let to = if of > 1 {
                    format!(" to {broker}{which}")
                } else {
                    String::new()
                };
                format!("Disconnected: {reason}. Reconnecting in {secs} s{to}")
            }
        }
    };
    let class = move || match state.status() {
        Status::Connecting => "status connecting",
        Status::Connected => "status connected",
        Status::Disconnected(_) | Status::Reconnecting { .. } => "status disconnected",
    };
    let disconnected = move || matches!(state.status(), Status::Disconnected(_));
    let reconnecting = move || matches!(state.status(), Status::Reconnecting { .. });

    view! {
        <div class="status-bar">
            <p role="status" class=class>{text}</p>
            <Show when=disconnected>
                <button type="button" on:click=move |_| state.reconnect()>"Reconnect"</button>
            </Show>
            <Show when=reconnecting>
                <button type="button" on:click=move |_| state.retry_now()>"Retry now"</button>
            </Show>
            <Show when=move || state.notice().is_some()>
                <p class="notice" role="alert">
                    {move || state.notice()}
                    <button type="button" class="link" aria-label="Dismiss" on:click=move |_| state.dismiss_notice()>"×"</button>
                </p>
            </Show>
        </div>
    }
}
