use leptos::prelude::*;

use super::ChatState;
use crate::chat::names;

/// A person's name as it arrived from the network: kept apart from the text around it (`<bdi>`, so a bidi
/// override in it cannot reorder anything else), hidden characters drawn as �, and marked when it may pass
/// for somebody else's (the model decides: `Model::suspicion`; asked again only when a new name was seen, not
/// on every change: a list draws a hundred names).
#[component]
pub fn Name(name: String) -> impl IntoView {
    let state = expect_context::<ChatState>();
    let shown = names::display(&name).into_owned();
    let why = Memo::new(move |_| {
        state.names_seen.track();
        state
            .app
            .with_untracked(|a| a.model().suspicion(&name))
            .map(|s| format!("This name {s}"))
    });
    view! {
        <bdi>{shown}</bdi>
        {move || why.get().map(|why| view! {
            <span class="lookalike" role="img" aria-label=why.clone() title=why>"⚠"</span>
        })}
    }
}
