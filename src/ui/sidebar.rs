use leptos::prelude::*;

use super::{ChatState, Name};
use crate::chat::Conversation;

/// Rooms and direct conversations (with unread counts), the form to join or create a room, and who is
/// online — in the room on screen and overall.
#[component]
pub fn Sidebar() -> impl IntoView {
    let state = expect_context::<ChatState>();
    // (rooms, direct conversations), each with its unread count.
    let conversations = Memo::new(move |_| {
        state.model(|m| {
            m.conversations()
                .into_iter()
                .partition::<Vec<_>, _>(|(c, _)| c.room().is_some())
        })
    });
    // Keyed by conversation alone, each with its unread count as a signal: a link whose count changes stays the
    // same element (opening it keeps the focus on it).
    let rooms = move || conversations.with(|(rooms, _)| keys(rooms));
    let directs = move || conversations.with(|(_, directs)| keys(directs));
    let unread = move |conv: &Conversation| {
        let conv = conv.clone();
        Signal::derive(move || {
            conversations.with(|(rooms, directs)| {
                rooms
                    .iter()
                    .chain(directs)
                    .find(|(c, _)| *c == conv)
                    .map_or(0, |(_, n)| *n)
            })
        })
    };
    let room_name = RwSignal::new(String::new());
    let room_error = RwSignal::new(None::<String>);
    let on_join = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        match state.join_room(&room_name.get_untracked()) {
            Ok(()) => {
                room_name.set(String::new());
                room_error.set(None);
            }
            Err(e) => room_error.set(Some(e)),
        }
    };
    let online_here = Memo::new(move |_| {
        state.model(|m| {
            m.current()
                .room()
                .map(|r| m.online_in(r))
                .unwrap_or_default()
        })
    });
    let online_all = Memo::new(move |_| state.model(|m| m.online()));
    let muted = Memo::new(move |_| state.model(|m| m.muted()));
    let here_label = move || state.model(|m| format!("In {}", m.current()));

    view! {
        <aside class="sidebar">
            <nav aria-label="Rooms">
                <h2>"Rooms"</h2>
                <ul class="conversations">
                    <For each=rooms key=|c| c.clone() let:conv>
                        <ConversationLink unread=unread(&conv) conv/>
                    </For>
                </ul>
                <form class="join-room" on:submit=on_join>
                    <label for="room">"Room"</label>
                    <div class="row">
                        <input id="room" type="text" placeholder="join or create" maxlength="64"
                            autocomplete="off" bind:value=room_name />
                        <button type="submit">"Join room"</button>
                    </div>
                    <Show when=move || room_error.with(Option::is_some)>
                        <p class="error" role="alert">{move || room_error.get()}</p>
                    </Show>
                </form>
                <Show when=move || !directs().is_empty()>
                    <h2>"Direct messages"</h2>
                    <ul class="conversations">
                        <For each=directs key=|c| c.clone() let:conv>
                            <ConversationLink unread=unread(&conv) conv/>
                        </For>
                    </ul>
                </Show>
            </nav>
            <section class="people" aria-labelledby="online-heading">
                <h2 id="online-heading">"Online"</h2>
                <Show when=move || state.model(|m| m.current().room().is_some())>
                    <h3>{here_label}</h3>
                    <PeopleList people=online_here/>
                </Show>
                <h3>"Everyone"</h3>
                <PeopleList people=online_all/>
                <Show when=move || state.model(|m| m.people_capped())>
                    <p class="you">"More people are online than this list shows."</p>
                </Show>
            </section>
            <Show when=move || muted.with(|m| !m.is_empty())>
                <section class="people" aria-labelledby="muted-heading">
                    <h2 id="muted-heading">"Muted"</h2>
                    <ul class="people-list">
                        <For each=move || muted.get() key=|entry| entry.clone() let:entry>
                            {
                                let (user, hidden) = entry;
                                let unmute = user.clone();
                                view! {
                                    <li>
                                        <span class="name"><Name name=user/></span>
                                        <span class="you">{format!("{hidden} hidden")}</span>
                                        <button type="button" class="link" on:click=move |_| {
                                            super::messages::focus_log();
                                            state.unmute(&unmute);
                                        }>"Unmute"</button>
                                    </li>
                                }
                            }
                        </For>
                    </ul>
                </section>
            </Show>
        </aside>
    }
}

fn keys(list: &[(Conversation, usize)]) -> Vec<Conversation> {
    list.iter().map(|(c, _)| c.clone()).collect()
}

#[component]
fn ConversationLink(conv: Conversation, unread: Signal<usize>) -> impl IntoView {
    let state = expect_context::<ChatState>();
    let label = conv.to_string();
    let href = conv.fragment();
    let current = {
        let conv = conv.clone();
        move || state.model(|m| *m.current() == conv)
    };
    let aria_current = {
        let current = current.clone();
        move || current().then_some("page")
    };
    let open = {
        let conv = conv.clone();
        move |ev: leptos::ev::MouseEvent| {
            ev.prevent_default();
            state.open(conv.clone());
        }
    };
    let close_label = match &conv {
        Conversation::Room(room) => format!("Leave #{room}"),
        Conversation::Direct(user) => format!("Close @{user}"),
    };
    let mentions = {
        let conv = conv.clone();
        move || state.model(|m| m.mentions_in(&conv))
    };
    let badge = move || {
        let n = unread.get();
        let mentioned = mentions() > 0;
        (n > 0).then(|| view! {
            <span class="badge" class:mention=mentioned>
                {mentioned.then_some("@")}{n}
                <span class="visually-hidden">{if mentioned { " unread, mentioning you" } else { " unread" }}</span>
            </span>
        })
    };

    view! {
        <li class:current=current>
            <a href=href aria-current=aria_current on:click=open>
                <span class="name">{label}</span>
                {badge}
            </a>
            <button type="button" class="link" aria-label=close_label on:click=move |_| {
                super::messages::focus_log();
                state.close(conv.clone());
            }>"×"</button>
        </li>
    }
}

#[component]
fn PeopleList(people: Memo<Vec<String>>) -> impl IntoView {
    let state = expect_context::<ChatState>();
    view! {
        <ul class="people-list">
            <For each=move || people.get() key=|p| p.clone() let:person>
                {
                    let me = state.is_me(&person);
                    let dm = Conversation::Direct(person.clone());
                    let label = format!("Message {}", crate::chat::names::display(&person));
                    let muted = {
                        let person = person.clone();
                        Memo::new(move |_| state.model(|m| m.is_muted(&person)))
                    };
                    let toggle = {
                        let person = person.clone();
                        move |_| {
                            if muted.get_untracked() {
                                state.unmute(&person);
                            } else {
                                state.mute(&person);
                            }
                        }
                    };
                    view! {
                        <li>
                            <span class="dot" aria-hidden="true">"●"</span>
                            <span class="name"><Name name=person.clone()/></span>
                            {(!me).then(|| view! {
                                <button type="button" class="link" aria-label=label
                                    on:click=move |_| state.open(dm.clone())>"✉"</button>
                                <button type="button" class="link" on:click=toggle>
                                    {move || if muted.get() { "Unmute" } else { "Mute" }}
                                </button>
                            })}
                            {me.then(|| view! { <span class="you">"(you)"</span> })}
                        </li>
                    }
                }
            </For>
        </ul>
    }
}
