//! Components only: the chat's state and rules live in the core (`chat::App`, in [`ChatState`]), I/O in `net`;
//! [`ChatState`] carries out what the core asks and components render it and dispatch actions.

mod composer;
mod login;
mod markup;
mod messages;
mod name;
mod search;
mod sidebar;
mod status;

use leptos::prelude::*;

use crate::chat::app::Earlier;
use crate::chat::cache::CacheError;
use crate::chat::settings::Brokers;
use crate::chat::sorted::SortedMap;
use crate::chat::{App, Conversation, Env, Input, Model, Output, Status, Timer};
use crate::net::{self, cache, storage, Listener, Socket, SocketEvent};

pub use composer::{Composer, Draft};
pub use login::Login;
pub use messages::MessageList;
pub use name::Name;
pub use search::Search;
pub use sidebar::Sidebar;
pub use status::StatusBar;

/// The app's state, shared with every component as a `Copy` context: the chat core (which owns all of the
/// chat's state and rules) and what only the view needs. The browser I/O the core asks for is carried out
/// here, with `net`.
#[derive(Clone, Copy)]
pub struct ChatState {
    app: RwSignal<App>,
    /// Unix ms, advanced every second, so that typing notices, countdowns and failures show on time.
    pub clock: RwSignal<i64>,
    /// Narrow screens: whether the rooms and people panel is open.
    pub panel_open: RwSignal<bool>,
    /// A message to show in its conversation, (conversation, sender, id): the message list draws it, scrolls
    /// to it and marks it once that conversation is on screen, then clears this.
    pub reveal: RwSignal<Option<(Conversation, String, String)>>,
    /// Changes when a name is first seen ([`Model::names_seen`]): what each name's look-alike mark depends on.
    pub names_seen: Memo<u32>,
    socket: StoredValue<Option<Socket>, LocalStorage>,
    timers: StoredValue<SortedMap<Timer, gloo_timers::callback::Timeout>, LocalStorage>,
    /// How the view hears of changes in this animation frame.
    frame: StoredValue<Frame>,
    /// The on-device cache (IndexedDB), once open.
    cache: StoredValue<CacheSlot, LocalStorage>,
}

/// Where the on-device cache stands.
enum CacheSlot {
    /// Being opened: what the core asked of it meanwhile, in order.
    Opening(Vec<Output>),
    Open(cache::Cache),
    /// This browser keeps nothing (private mode, a browser setting, another tab upgrading it).
    Off(CacheError),
}

/// Telling the view about changes: the first few in an animation frame at once, the rest together at the
/// next frame.
#[derive(Debug, Default)]
struct Frame {
    /// How often the view was told during this frame.
    told: u8,
    /// Something changed that the view was not told about yet.
    dirty: bool,
    /// A callback for the next frame is waiting.
    armed: bool,
}

/// How many changes per animation frame the view hears of at once. A message usually follows its sender's
/// typing notice, so one is not enough for it to show without waiting for a frame.
const TOLD_PER_FRAME: u8 = 4;

fn env() -> Env {
    Env {
        now: net::now(),
        wall: net::wall(),
        random: net::random_u64(),
    }
}

impl ChatState {
    fn new() -> Self {
        let stored = storage::all(true).into_iter().chain(storage::all(false));
        let location = window().location();
        let brokers = Brokers::for_page(
            &location.protocol().unwrap_or_default(),
            &location.hostname().unwrap_or_default(),
            &location.port().unwrap_or_default(),
            &net::query_all("broker"),
            None,
        );
        let conversation = Conversation::from_fragment(&net::fragment());
        let app = RwSignal::new(App::new(stored, brokers, conversation));
        Self {
            app,
            names_seen: Memo::new(move |_| app.with(|a| a.model().names_seen())),
            clock: RwSignal::new(net::wall()),
            panel_open: RwSignal::new(false),
            reveal: RwSignal::new(None),
            socket: StoredValue::new_local(None),
            timers: StoredValue::new_local(SortedMap::default()),
            frame: StoredValue::new(Frame::default()),
            cache: StoredValue::new_local(CacheSlot::Opening(Vec::new())),
        }
    }

    /// Opens the on-device cache; what the core asked of it meanwhile is carried out then.
    fn open_cache(self) {
        cache::open(move |opened| {
            let slot = match opened {
                Ok(c) => CacheSlot::Open(c),
                Err(e) => CacheSlot::Off(e),
            };
            let waiting = match self.cache.try_update_value(|s| std::mem::replace(s, slot)) {
                Some(CacheSlot::Opening(waiting)) => waiting,
                _ => Vec::new(),
            };
            for output in waiting {
                self.carry_out(output);
            }
        });
    }

    /// Carries out what the core asks of the on-device cache.
    fn cache_output(self, output: Output) {
        let open = self.cache.try_update_value(|slot| match slot {
            CacheSlot::Opening(waiting) => {
                waiting.push(output);
                None
            }
            CacheSlot::Open(c) => Some(Ok((c.clone(), output))),
            CacheSlot::Off(e) => Some(Err((e.clone(), output))),
        });
        match open.flatten() {
            None => {}
            Some(Ok((c, Output::LoadCache(user)))) => {
                c.load(&user, crate::chat::cache::PER_CONVERSATION, move |loaded| {
                    self.dispatch(Input::CacheLoaded(loaded));
                });
            }
            Some(Ok((c, Output::Cache { user, writes }))) => c.write(&user, writes, move |done| {
                if let Err(e) = done {
                    self.dispatch(Input::CacheFailed(e));
                }
            }),
            Some(Ok((c, Output::ClearCache(user)))) => c.clear_user(&user, move |done| {
                if let Err(e) = done {
                    self.dispatch(Input::CacheFailed(e));
                }
            }),
            // No cache: a load finds nothing (the core says so once), writes have nowhere to go.
            Some(Err((e, Output::LoadCache(_)))) => {
                net::soon(move || self.dispatch(Input::CacheLoaded(Err(e))));
            }
            Some(_) => {}
        }
    }

    /// Tells the core something happened; a refusal becomes its notice (`App::act`).
    fn dispatch(self, input: Input<'_>) {
        self.run(|app| app.act(input, env()));
    }

    /// Asks the core for something whose refusal the control that asked shows (`App::handle`).
    fn ask(self, input: Input<'_>) -> Result<(), String> {
        self.run(|app| app.handle(input, env()))
            .unwrap_or(Ok(()))
            .map_err(|e| e.to_string())
    }

    /// Runs `f` on the core, then carries out what it asks.
    fn run<R>(self, f: impl FnOnce(&mut App) -> R) -> Option<R> {
        let hidden = net::page_hidden();
        let result = self.app.try_update_untracked(|app| {
            // The page's visibility, also where no `visibilitychange` said it (a test's override).
            if app.is_hidden() != hidden {
                app.act(Input::Visible(!hidden), env());
            }
            f(app)
        });
        while let Some(output) = self.app.try_update_untracked(App::poll_output).flatten() {
            self.carry_out(output);
        }
        if self
            .app
            .try_update_untracked(App::take_changed)
            .unwrap_or(true)
        {
            self.changed();
        }
        result
    }

    fn carry_out(self, output: Output) {
        match output {
            Output::Connect(url) => {
                // The old socket goes first: nothing of it calls back any more.
                self.socket.set_value(None);
                let socket = Socket::open(&url, move |event| {
                    self.dispatch(match event {
                        SocketEvent::Opened => Input::Opened,
                        SocketEvent::Bytes(bytes) => Input::Bytes(bytes),
                        SocketEvent::Closed => Input::Closed,
                    });
                });
                match socket {
                    Ok(socket) => self.socket.set_value(Some(socket)),
                    // Told after this turn, as a socket that closes at once would tell it.
                    Err(_) => net::next_frame(move || {
                        self.dispatch(Input::Closed);
                    }),
                }
            }
            Output::Send(bytes) => self.socket.with_value(|s| {
                if let Some(s) = s {
                    s.send(&bytes);
                }
            }),
            Output::Disconnect => self.socket.set_value(None),
            Output::SetTimer(timer, at) => {
                let delay = at.saturating_sub(net::now()).min(u64::from(u32::MAX)) as u32;
                let timeout = net::after(delay, move || {
                    self.dispatch(Input::Timer(timer));
                });
                self.timers.update_value(|t| {
                    t.insert(timer, timeout);
                });
            }
            Output::CancelTimer(timer) => self.timers.update_value(|t| {
                t.remove(&timer);
            }),
            Output::Store(record, value) => {
                if !storage::set(record.per_tab(), &record.key(), &value) {
                    net::soon(move || self.dispatch(Input::NotStored(record)));
                }
            }
            Output::Remove(record) => storage::remove(record.per_tab(), &record.key()),
            Output::Notify { title, body } => net::notify(&title, &body),
            Output::Show(conv) => {
                net::set_fragment(&conv.fragment());
                self.panel_open.set(false);
            }
            output @ (Output::LoadCache(_) | Output::Cache { .. } | Output::ClearCache(_)) => {
                self.cache_output(output);
            }
        }
    }

    // --- What components read ----------------------------------------------------------------------------

    /// Reads the model (what the chat shows), tracked.
    pub fn model<R>(self, f: impl FnOnce(&Model) -> R) -> R {
        self.app.with(|a| f(a.model()))
    }

    pub fn status(self) -> Status {
        self.app.with(|a| a.status().clone())
    }

    pub fn me(self) -> Option<String> {
        self.app.with(|a| a.me().map(str::to_owned))
    }

    pub fn is_me(self, name: &str) -> bool {
        self.app.with_untracked(|a| a.me() == Some(name))
    }

    pub fn notice(self) -> Option<String> {
        self.app.with(|a| a.notice().map(ToString::to_string))
    }

    /// The broker this tab is on, and "broker 2 of 3" when there are several.
    pub fn broker(self) -> (String, (usize, usize)) {
        self.app
            .with(|a| (a.brokers().current().to_owned(), a.brokers().position()))
    }

    /// The broker list as the login form shows it.
    pub fn broker_list(self) -> String {
        self.app.with_untracked(|a| a.brokers().to_list())
    }

    /// What the live region says: the newest messages from others in the conversation on screen, numbered.
    pub fn heard(self) -> Vec<(u64, String)> {
        self.app
            .with(|a| a.heard().map(|(n, m)| (*n, messages::spoken(m))).collect())
    }

    /// Where asking the history service for earlier messages of the room on screen stands (`None`: not
    /// asked, or not a room), tracked.
    pub fn earlier(self) -> Option<Earlier> {
        self.app.with(|a| {
            let room = a.model().current().room()?;
            match a.earlier(room) {
                // More to load, but only from a service that runs.
                Some(Earlier::More) | None => a.history_service().then_some(Earlier::More),
                Some(e) => Some(e.clone()),
            }
        })
    }

    /// Asks the history service for the messages before the oldest shown in the room on screen.
    pub fn show_earlier(self) {
        self.dispatch(Input::ShowEarlier);
    }

    /// Whether an own message still pending has failed (see `App::failed`); watches the clock.
    pub fn failed(self, sent_at: i64) -> bool {
        let now = self.clock.get();
        self.app.with(|a| a.failed(sent_at, now))
    }

    // --- What components do ------------------------------------------------------------------------------

    /// Connects as `name` to the first reachable of `brokers` (one URL, or several separated by commas).
    /// Errors are for the login form.
    pub fn join(self, name: &str, brokers: &str, password: Option<String>) -> Result<(), String> {
        self.ask(Input::Join {
            name: name.to_owned(),
            brokers: brokers.to_owned(),
            password,
        })
    }

    pub fn reconnect(self) {
        self.dispatch(Input::Reconnect);
    }

    pub fn retry_now(self) {
        self.dispatch(Input::RetryNow);
    }

    /// Sends `text` to the conversation on screen; the message shows at once as pending.
    pub fn send(self, text: &str) -> Result<(), String> {
        self.ask(Input::Send(text.to_owned()))
    }

    /// Sends a message answering `(sender, id)` of the conversation on screen.
    pub fn reply(self, sender: &str, id: &str, text: &str) -> Result<(), String> {
        self.ask(Input::Reply {
            sender: sender.to_owned(),
            id: id.to_owned(),
            text: text.to_owned(),
        })
    }

    /// Changes the text of an own message.
    pub fn edit(self, conversation: Conversation, id: &str, text: &str) -> Result<(), String> {
        self.ask(Input::Edit {
            conversation,
            id: id.to_owned(),
            text: text.to_owned(),
        })
    }

    /// Takes back an own message, for everyone (the view asks the user first).
    pub fn delete(self, conversation: Conversation, id: &str) {
        self.dispatch(Input::Delete {
            conversation,
            id: id.to_owned(),
        });
    }

    /// Adds this user's reaction to a message, or takes it back.
    pub fn react(self, conversation: Conversation, sender: &str, id: &str, emoji: &str) {
        self.dispatch(Input::React {
            conversation,
            sender: sender.to_owned(),
            id: id.to_owned(),
            emoji: emoji.to_owned(),
        });
    }

    /// This user's newest message in the conversation on screen that can be edited.
    pub fn last_own(self) -> Option<std::sync::Arc<crate::chat::model::Item>> {
        self.app.with_untracked(App::last_own)
    }

    /// Sends a message that was not acknowledged again (the "Retry" of a failed message).
    pub fn retry_message(self, id: &str) {
        self.dispatch(Input::Retry(id.to_owned()));
    }

    pub fn typing(self) {
        self.dispatch(Input::Typing);
    }

    /// Shows a conversation; a room not joined yet is joined (and created, if new).
    pub fn open(self, conv: Conversation) {
        self.dispatch(Input::Open(conv));
    }

    /// Joins (or creates) the room named `name` and shows it.
    pub fn join_room(self, name: &str) -> Result<(), String> {
        self.ask(Input::JoinRoom(name.to_owned()))
    }

    /// Leaves a room, or closes a direct conversation.
    pub fn close(self, conv: Conversation) {
        self.dispatch(Input::Close(conv));
    }

    /// Hides `user`'s messages and typing in this browser, also after a reload.
    pub fn mute(self, user: &str) {
        self.dispatch(Input::Mute(user.to_owned()));
    }

    pub fn unmute(self, user: &str) {
        self.dispatch(Input::Unmute(user.to_owned()));
    }

    /// Forgets this user in this browser, once they confirm: the messages kept on the device, the outbox,
    /// the stored name and rooms, the mutes. The login form shows.
    pub fn sign_out(self) {
        let question = "Sign out? This browser forgets your messages, your name and any message not sent yet. \
                        Others can still read what you sent.";
        if net::confirm(question) {
            self.dispatch(Input::SignOut);
        }
    }

    pub fn dismiss_notice(self) {
        self.dispatch(Input::DismissNotice);
    }

    /// Tells the view the state changed: at once for the first few changes in an animation frame, then once
    /// at the next frame for everything that changed until then. A flood of messages is drawn once per frame,
    /// not once per message; a single message shows without delay.
    fn changed(self) {
        if net::page_hidden() {
            // No frames while hidden: every change is told at once.
            self.app.notify();
            return;
        }
        let (now, arm) = self
            .frame
            .try_update_value(|f| {
                let now = f.told < TOLD_PER_FRAME;
                if now {
                    f.told += 1;
                } else {
                    f.dirty = true;
                }
                (now, !std::mem::replace(&mut f.armed, true))
            })
            .unwrap_or((true, false));
        if now {
            self.app.notify();
        }
        if arm {
            net::next_frame(move || self.next_frame());
        }
    }

    fn next_frame(self) {
        let dirty = self
            .frame
            .try_update_value(|f| std::mem::take(f).dirty)
            .unwrap_or(false);
        if dirty {
            self.changed();
        }
    }
}

#[component]
pub fn App() -> impl IntoView {
    let state = ChatState::new();
    provide_context(state);
    provide_context(Draft::default());
    state.open_cache();
    // While the name form shows, not as the first message is drawn.
    net::soon(messages::prepare_day_format);

    // Page-level listeners and timers, alive as long as the app.
    let keep = StoredValue::new_local(Vec::<Listener>::new());
    keep.update_value(|v| {
        v.extend(Listener::document("visibilitychange", move |_| {
            state.dispatch(Input::Visible(!net::page_hidden()));
        }));
        v.extend(Listener::window("online", move |_| {
            state.dispatch(Input::Online);
        }));
        v.extend(Listener::window("hashchange", move |_| {
            if let Some(conv) = Conversation::from_fragment(&net::fragment()) {
                if state
                    .app
                    .with_untracked(|a| a.me().is_some() && *a.model().current() != conv)
                {
                    state.open(conv);
                }
            }
        }));
        // Says goodbye when the page goes away, so others see this tab leave at once.
        v.extend(Listener::window("pagehide", move |_| {
            state.dispatch(Input::Leave);
        }));
    });
    let ticker = StoredValue::new_local(Some(net::every(1_000, move || {
        state.clock.set(net::wall());
    })));
    on_cleanup(move || {
        state.timers.set_value(SortedMap::default());
        state.socket.set_value(None);
        keep.set_value(Vec::new());
        ticker.set_value(None);
    });

    Effect::new(move || net::set_title(&state.app.with(App::title)));

    // A reloaded tab joins again as before.
    state.dispatch(Input::Visible(!net::page_hidden()));
    state.dispatch(Input::Resume);

    // Narrow screens: the panel closes with Escape, and the focus goes back to the button that opened it
    // (also when a choice in the panel closes it: what had the focus is hidden with the panel).
    Effect::new(move |was_open: Option<bool>| {
        let open = state.panel_open.get();
        if was_open == Some(true) && !open {
            messages::focus(".panel-toggle");
        }
        open
    });
    let on_key = move |ev: leptos::ev::KeyboardEvent| {
        if ev.key() == "Escape" && state.panel_open.get_untracked() {
            state.panel_open.set(false);
        }
    };

    view! {
        <Show when=move || state.app.with(|a| a.me().is_some()) fallback=Login>
            <div class="app" class:panel-open=move || state.panel_open.get() on:keydown=on_key>
                <header class="top">
                    <button type="button" class="panel-toggle" aria-label="Rooms and people"
                        aria-expanded=move || state.panel_open.get().to_string()
                        on:click=move |_| state.panel_open.update(|o| *o = !*o)>"☰"</button>
                    <h1>{move || state.model(|m| m.current().to_string())}</h1>
                    <Search/>
                    <StatusBar/>
                </header>
                <Sidebar/>
                <main class="conversation">
                    <MessageList/>
                    <Composer/>
                </main>
            </div>
        </Show>
    }
}
