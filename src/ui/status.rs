use leptos::prelude::*;

use super::ChatState;
use crate::chat::Status;

/// The connection status, always visible, with the reason when the connection ended.
///
/// The status is a polite live region, so it says what it shows: each change once. The countdown to the next
/// attempt is outside it (it changes every second), and an attempt while reconnecting changes nothing in it
/// (so that the same words are not said at every attempt).
#[component]
pub fn StatusBar() -> impl IntoView {
    let state = expect_context::<ChatState>();
    // (reconnecting, what the status says). With several brokers, which one of them (the one a reconnection
    // goes to, while reconnecting).
    let text = Memo::new(move |before: Option<&(bool, String)>| {
        let (broker, (n, of)) = state.broker();
        let which = if of > 1 {
            format!(" (broker {n} of {of})")
        } else {
            String::new()
        };
        let text = match state.status() {
            Status::Connecting => match before {
                Some((true, reconnecting)) => return (true, reconnecting.clone()),
                _ => format!("Connecting to {broker}…{which}"),
            },
            Status::Connected => format!(
                "Connected as {} to {broker}{which}",
                state.me().unwrap_or_default()
            ),
            Status::Disconnected(None) => "Disconnected".to_owned(),
            Status::Disconnected(Some(reason)) => format!("Disconnected: {reason}"),
            Status::Reconnecting { reason, .. } => {
                let to = if of > 1 {
                    format!(" to {broker}{which}")
                } else {
                    String::new()
                };
                return (true, format!("Disconnected: {reason}. Reconnecting{to}"));
            }
        };
        (false, text)
    });
    // Outside the live region: read where it stands, not said every second.
    let countdown = move || match state.status() {
        Status::Reconnecting { at, .. } => {
            // Whole seconds, rounded up (integers: formatting an `f64` costs the page 8 KB gzipped).
            let secs = ((at - state.clock.get()).max(0) + 999) / 1000;
            format!(" in {secs} s")
        }
        _ => String::new(),
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
            <p class=class><span role="status">{move || text.get().1}</span>{countdown}</p>
            <Show when=disconnected>
                <button type="button" on:click=move |_| {
                    super::messages::focus_log();
                    state.reconnect();
                }>"Reconnect"</button>
            </Show>
            <Show when=reconnecting>
                <button type="button" on:click=move |_| {
                    super::messages::focus_log();
                    state.retry_now();
                }>"Retry now"</button>
            </Show>
            <Show when=move || state.me().is_some()>
                <button type="button" class="link sign-out" on:click=move |_| state.sign_out()>"Sign out"</button>
            </Show>
            <Show when=move || state.notice().is_some()>
                <p class="notice" role="alert">
                    {move || state.notice()}
                    <button type="button" class="link" aria-label="Dismiss" on:click=move |_| {
                        super::messages::focus_log();
                        state.dismiss_notice();
                    }>"×"</button>
                </p>
            </Show>
        </div>
    }
}
