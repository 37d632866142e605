//! Components only: state lives in [`ChatState`] (a [`Model`] in a signal), logic in `chat`, I/O in `net`.

mod composer;
mod login;
mod messages;
mod name;
mod sidebar;
mod status;

use leptos::prelude::*;

use crate::chat::settings::Brokers;
use crate::chat::{ChatEvent, Client, Conversation, Identity, Model, Outbox, DEFAULT_ROOM};
use crate::net::{self, storage, Link, Listener};

pub use composer::Composer;
pub use login::Login;
pub use messages::MessageList;
pub use name::Name;
pub use sidebar::Sidebar;
pub use status::StatusBar;

/// Storage keys. The tab's name, rooms and client id live as long as the tab (a reload keeps them); the
/// browser id as long as the browser profile.
const KEY_NAME: &str = "mqtt-chat.name";
const KEY_BROKER: &str = "mqtt-chat.broker";
const KEY_BROKERS: &str = "mqtt-chat.brokers";
const KEY_ROOMS: &str = "mqtt-chat.rooms";
const KEY_CLIENT_ID: &str = "mqtt-chat.client-id";
const KEY_BROWSER_ID: &str = "mqtt-chat.browser-id";
/// The outbox of a user (`mqtt-chat.outbox.{name}`), kept as long as the browser profile.
const KEY_OUTBOX: &str = "mqtt-chat.outbox.";
/// The people a user muted (`mqtt-chat.muted.{name}`, a JSON array of names), as long as the browser profile.
const KEY_MUTED: &str = "mqtt-chat.muted.";
/// An own message not acknowledged this long after it could have been sent is shown as failed.
pub const FAILED_AFTER_MS: i64 = 20_000;

/// What the status bar says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Connecting,
    Connected,
    Disconnected(String),
    /// Lost the connection; trying again at `at` (Unix ms).
    Reconnecting {
        reason: String,
        at: i64,
    },
}

/// How many of the newest messages the live region holds: more than one, so that a message that follows
/// another at once is said too.
const HEARD: usize = 3;

/// Longest wait between reconnection attempts (ms).
const MAX_BACKOFF_MS: u32 = 30_000;

/// The app's state, shared with every component as a `Copy` context.
#[derive(Clone, Copy)]
pub struct ChatState {
    pub me: RwSignal<Option<String>>,
    /// The brokers this tab may use and the one it is on.
    pub brokers: RwSignal<Brokers>,
    pub status: RwSignal<Status>,
    /// A notice that is not a disconnection (a refused subscription, a refused room name).
    pub notice: RwSignal<Option<String>>,
    pub model: RwSignal<Model>,
    /// Messages that arrived while the page was hidden: the title shows them.
    pub unseen: RwSignal<usize>,
    /// Unix ms, advanced every second, so that typing notices expire on screen.
    pub clock: RwSignal<i64>,
    /// Narrow screens: whether the rooms and people panel is open.
    pub panel_open: RwSignal<bool>,
    /// The newest messages from others that arrived in the conversation on screen, numbered, as the live
    /// region says them (the last few: each is said once, when it is added). Drawn with the model.
    pub heard: StoredValue<Vec<(u64, String)>>,
    link: StoredValue<Option<Link>, LocalStorage>,
    /// Accounts mode: kept in memory (never in storage) for "Reconnect".
    password: StoredValue<Option<String>>,
    /// The pending reconnection attempt, and how many failed in a row.
    retry: StoredValue<Option<gloo_timers::callback::Timeout>, LocalStorage>,
    attempts: StoredValue<u32>,
    /// Own messages the broker has not acknowledged, mirrored in local storage.
    outbox: StoredValue<Outbox>,
    /// Unix ms when the current connection came up (0: not connected).
    pub connected_since: RwSignal<i64>,
    /// How the view hears of model changes in this animation frame.
    frame: StoredValue<Frame>,
}

/// Telling the view about model changes: the first few in an animation frame at once, the rest together at
/// the next frame.
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

impl ChatState {
    fn new() -> Self {
        Self {
            me: RwSignal::new(None),
            brokers: RwSignal::new(initial_brokers()),
            status: RwSignal::new(Status::Disconnected(String::new())),
            notice: RwSignal::new(None),
            model: RwSignal::new(Model::new(&[], Conversation::Room(DEFAULT_ROOM.into()))),
            unseen: RwSignal::new(0),
            clock: RwSignal::new(net::wall()),
            panel_open: RwSignal::new(false),
            heard: StoredValue::new(Vec::new()),
            link: StoredValue::new_local(None),
            password: StoredValue::new(None),
            retry: StoredValue::new_local(None),
            attempts: StoredValue::new(0),
            outbox: StoredValue::new(Outbox::default()),
            connected_since: RwSignal::new(0),
            frame: StoredValue::new(Frame::default()),
        }
    }

    /// Connects as `name` to the first reachable of `brokers` (one URL, or several separated by commas),
    /// starting with the one this tab is on if it is among them. Errors are for the login form.
    pub fn join(self, name: &str, brokers: &str, password: Option<String>) -> Result<(), String> {
        let on = self.brokers.with_untracked(|b| b.current().to_owned());
        let brokers = Brokers::parse(brokers, Some(&on))?;
        let url = brokers.current().to_owned();
        let identity = Identity {
            name: name.to_owned(),
            client_id: storage::get_or_make(true, KEY_CLIENT_ID, net::new_client_id),
            browser_id: storage::get_or_make(false, KEY_BROWSER_ID, || net::new_id("b")),
            password: password.filter(|p| !p.is_empty()),
        };
        let remember = identity.password.is_none();
        let password = identity.password.clone();
        let same_user = self.me.get_untracked().as_deref() == Some(name.trim());
        let (rooms, current) = if same_user {
            // Reconnecting: keep the rooms and what is on screen.
            self.model
                .with_untracked(|m| (m.rooms(), m.current().clone()))
        } else {
            initial_rooms()
        };
        let mut client = Client::new(identity, &rooms).map_err(|e| e.to_string())?;
        let me = client.name().to_owned();
        // Before the outbox is read: its notice, if it is unreadable, must stay.
        self.notice.set(None);
        let outbox = self.load_outbox(&me);
        // What an earlier page sent and the broker never acknowledged goes out first, as it was.
        let mut resent = Vec::new();
        for (to, payload) in outbox.pending() {
            if let Some(room) = to.room() {
                let _ = client.join_room(room, net::now());
            }
            if let Ok(m) = client.resend(&to, payload, net::now()) {
                resent.push(m);
            }
        }
        self.outbox.set_value(outbox);
        // Drop any previous link first: it says goodbye and detaches its handlers.
        self.link.set_value(None);
        self.retry.set_value(None);
        self.status.set(Status::Connecting);
        self.password.set_value(password);
        if !same_user {
            let mut model = Model::new(client.rooms(), current.clone());
            for user in load_muted(&me) {
                model.mute(&user);
            }
            self.model.set(model);
        }
        self.model
            .update(|m| resent.into_iter().for_each(|r| m.add_own(r)));
        let link = Link::open(&url, client, move |event| self.apply(event))?;
        self.link.set_value(Some(link));
        if remember {
            // A reload of this tab joins again with the same name (never with a password).
            storage::set(true, KEY_NAME, &me);
            storage::set(true, KEY_BROKERS, &brokers.to_list());
            storage::set(true, KEY_BROKER, &url);
        }
        self.brokers.set(brokers);
        self.me.set(Some(me));
        self.open(current);
        Ok(())
    }

    /// Opens a new connection with the same name, brokers and rooms.
    pub fn reconnect(self) {
        let Some(name) = self.me.get_untracked() else {
            return;
        };
        let brokers = self.brokers.with_untracked(Brokers::to_list);
        if let Err(e) = self.join(&name, &brokers, self.password.get_value()) {
            self.status.set(Status::Disconnected(e));
        }
    }

    /// After a lost connection: waits 1, 2, 4 … 30 s (each less up to half, at random, so that many tabs do not
    /// come back at once), then connects again with the same client and session. With several brokers the
    /// wait grows once per round through the list, so that the next broker is tried soon.
    fn schedule_retry(self, reason: String) {
        let attempt = self.attempts.get_value();
        self.attempts.set_value(attempt.saturating_add(1));
        let rounds = attempt / self.brokers.with_untracked(Brokers::len).max(1) as u32;
        let base = 1_000u32
            .saturating_mul(1 << rounds.min(5))
            .min(MAX_BACKOFF_MS);
        let delay = base / 2 + (f64::from(base / 2) * net::random()) as u32;
        self.status.set(Status::Reconnecting {
            reason,
            at: net::wall() + i64::from(delay),
        });
        self.retry
            .set_value(Some(net::after(delay, move || self.retry_now())));
    }

    /// Connects again now ("Retry now", the browser coming back online, or the backoff timer).
    pub fn retry_now(self) {
        self.retry.set_value(None);
        self.status.set(Status::Connecting);
        let url = self.brokers.with_untracked(|b| b.current().to_owned());
        let result = self.link.with_value(|link| match link {
            Some(link) => link.reopen(&url),
            None => Err("not connected".into()),
        });
        if let Err(e) = result {
            self.schedule_retry(e);
        }
    }

    /// Sends `text` to the conversation on screen; the message shows at once as pending.
    pub fn send(self, text: &str) -> Result<(), String> {
        let to = self.model.with_untracked(|m| m.current().clone());
        let sent =
            self.act(|c, now, wall| c.send(&to, text, now, wall).map_err(|e| e.to_string()))?;
        self.outbox.update_value(|o| o.add(&sent));
        self.save_outbox();
        self.model.update(|m| m.add_own(sent));
        Ok(())
    }

    /// Sends a message that was not acknowledged again (the "Retry" of a failed message).
    pub fn retry_message(self, id: &str) {
        let Some((to, payload)) = self.outbox.with_value(|o| o.get(id)) else {
            return;
        };
        if let Err(e) = self.act(|c, now, _| c.resend(&to, payload, now).map_err(|e| e.to_string()))
        {
            self.notice.set(Some(e));
        }
    }

    /// Hides `user`'s messages and typing in this browser, also after a reload.
    pub fn mute(self, user: &str) {
        self.model.update(|m| m.mute(user));
        self.save_muted();
    }

    pub fn unmute(self, user: &str) {
        self.model.update(|m| m.unmute(user));
        self.save_muted();
    }

    fn save_muted(self) {
        if let Some(me) = self.me.get_untracked() {
            let muted: Vec<String> = self
                .model
                .with_untracked(|m| m.muted().into_iter().map(|(user, _)| user).collect());
            let json = String::from_utf8(crate::chat::message::to_json(&muted)).unwrap_or_default();
            storage::set(false, &format!("{KEY_MUTED}{me}"), &json);
        }
    }

    /// The outbox saved for `name`; an unreadable one is kept aside (never overwritten) and reported.
    fn load_outbox(self, name: &str) -> Outbox {
        let key = format!("{KEY_OUTBOX}{name}");
        match storage::get(false, &key).map(|json| (Outbox::parse(&json), json)) {
            None => Outbox::default(),
            Some((Ok(outbox), _)) => outbox,
            Some((Err(e), json)) => {
                storage::set(false, &format!("{key}.unreadable"), &json);
                self.notice
                    .set(Some(format!("{e}; it is kept as {key}.unreadable")));
                Outbox::default()
            }
        }
    }

    fn save_outbox(self) {
        if let Some(me) = self.me.get_untracked() {
            let key = format!("{KEY_OUTBOX}{me}");
            let json = self.outbox.with_value(Outbox::to_json);
            storage::set(false, &key, &json);
        }
    }

    pub fn typing(self) {
        if let Some(room) = self
            .model
            .with_untracked(|m| m.current().room().map(str::to_owned))
        {
            let _ = self.act(|c, now, _| {
                c.typing(&room, now);
                Ok(())
            });
        }
    }

    /// Shows a conversation; a room not joined yet is joined (and created, if new).
    pub fn open(self, conv: Conversation) {
        if let Some(room) = conv.room() {
            let joined = self
                .model
                .with_untracked(|m| m.rooms().iter().any(|r| r == room));
            if !joined {
                if let Err(e) =
                    self.act(|c, now, _| c.join_room(room, now).map_err(|e| e.to_string()))
                {
                    self.notice.set(Some(e));
                    return;
                }
            }
        }
        net::set_fragment(&conv.fragment());
        self.model.update(|m| m.open(conv));
        self.panel_open.set(false);
        self.save_rooms();
    }

    /// Joins (or creates) the room named `name` and shows it.
    pub fn join_room(self, name: &str) -> Result<(), String> {
        let room = crate::chat::names::validate(name).map_err(|e| e.to_string())?;
        self.open(Conversation::Room(room.to_owned()));
        Ok(())
    }

    /// Leaves a room, or closes a direct conversation.
    pub fn close(self, conv: Conversation) {
        if let Some(room) = conv.room() {
            let _ = self.act(|c, now, _| {
                c.leave_room(room, now);
                Ok(())
            });
        }
        self.model.update(|m| m.close(&conv));
        let current = self.model.with_untracked(|m| m.current().clone());
        net::set_fragment(&current.fragment());
        self.save_rooms();
    }

    fn act<R>(
        self,
        f: impl FnOnce(&mut Client, u64, i64) -> Result<R, String>,
    ) -> Result<R, String> {
        self.link.with_value(|link| match link {
            Some(link) => link.act(f),
            None => Err("not connected".into()),
        })
    }

    fn save_rooms(self) {
        let rooms = self.model.with_untracked(Model::rooms);
        storage::set(true, KEY_ROOMS, &rooms.join("/"));
    }

    fn apply(self, event: ChatEvent) {
        match &event {
            ChatEvent::Connected => {
                self.brokers.update(Brokers::reached);
                self.attempts.set_value(0);
                self.connected_since.set(net::wall());
                self.status.set(Status::Connected);
            }
            ChatEvent::Delivered(id)
                if self
                    .outbox
                    .try_update_value(|o| o.remove(id))
                    .unwrap_or(false) =>
            {
                self.save_outbox();
            }
            ChatEvent::TooLarge {
                kind,
                sender,
                bytes,
            } => {
                self.notice
                    .set(Some(crate::chat::client::too_large(*kind, sender, *bytes)));
            }
            ChatEvent::SubscriptionRefused(what) => {
                self.notice
                    .set(Some(format!("the broker refused to subscribe to {what}")));
            }
            ChatEvent::Closed { reason, retry } => {
                self.connected_since.set(0);
                if *retry && self.me.get_untracked().is_some() {
                    // An unreachable broker is given up for the next one; a reload stays on that one.
                    if self.brokers.try_update(Brokers::lost).unwrap_or(false)
                        && storage::get(true, KEY_BROKER).is_some()
                    {
                        let url = self.brokers.with_untracked(|b| b.current().to_owned());
                        storage::set(true, KEY_BROKER, &url);
                    }
                    self.schedule_retry(reason.clone());
                } else {
                    self.status.set(Status::Disconnected(reason.clone()));
                }
            }
            _ => {}
        }
        let wall = net::wall();
        let notify = self
            .model
            .try_update_untracked(|m| m.apply(&event, wall))
            .flatten();
        if let Some(m) = &notify {
            if self
                .model
                .with_untracked(|model| *model.current() == m.conversation)
            {
                self.heard.update_value(|heard| {
                    let n = heard.last().map_or(0, |(n, _)| n + 1);
                    heard.push((n, messages::spoken(m)));
                    if heard.len() > HEARD {
                        heard.remove(0);
                    }
                });
            }
        }
        self.model_changed();
        if let Some(m) = notify {
            if net::page_hidden() {
                self.unseen.update(|n| *n += 1);
                if let crate::chat::Content::Text(text) = &m.content {
                    let sender = crate::chat::names::display(&m.sender);
                    net::notify(&format!("{sender} in {}", m.conversation), text);
                }
            }
        }
    }
}

impl ChatState {
    /// Tells the view the model changed: at once for the first few changes in an animation frame, then once
    /// at the next frame for everything that changed until then. A flood of messages is drawn once per frame,
    /// not once per message; a single message shows without delay.
    fn model_changed(self) {
        if net::page_hidden() {
            // No frames while hidden: every change is told at once.
            self.model.notify();
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
            self.model.notify();
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
            self.model_changed();
        }
    }
}

/// The people `me` muted in this browser (none if the record is missing or unreadable).
fn load_muted(me: &str) -> Vec<String> {
    storage::get(false, &format!("{KEY_MUTED}{me}"))
        .and_then(|json| serde_json::from_slice(json.as_bytes()).ok())
        .unwrap_or_default()
}

/// The brokers this tab joined with before a reload, on the one it was on; else `?broker=` from the page
/// URL (repeated, or comma-separated), else the page's default (`Brokers::for_page`).
fn initial_brokers() -> Brokers {
    let on = storage::get(true, KEY_BROKER);
    if let Some(saved) = storage::get(true, KEY_BROKERS).or_else(|| on.clone()) {
        if let Ok(brokers) = Brokers::parse(&saved, on.as_deref()) {
            return brokers;
        }
    }
    let location = window().location();
    let queries = net::query_all("broker");
    Brokers::for_page(
        &location.protocol().unwrap_or_default(),
        &location.hostname().unwrap_or_default(),
        &location.port().unwrap_or_default(),
        &queries,
        None,
    )
}

/// The rooms this tab was in (before a reload), plus the conversation the URL names.
fn initial_rooms() -> (Vec<String>, Conversation) {
    let mut rooms: Vec<String> = storage::get(true, KEY_ROOMS)
        .map(|s| {
            s.split('/')
                .filter(|r| !r.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    if rooms.is_empty() {
        rooms.push(DEFAULT_ROOM.to_owned());
    }
    let current = Conversation::from_fragment(&net::fragment())
        .unwrap_or_else(|| Conversation::Room(rooms[0].clone()));
    if let Some(room) = current.room() {
        if !rooms.iter().any(|r| r == room) {
            rooms.push(room.to_owned());
        }
    }
    (rooms, current)
}

#[component]
pub fn App() -> impl IntoView {
    let state = ChatState::new();
    provide_context(state);

    // Page-level listeners and timers, alive as long as the app.
    let keep = StoredValue::new_local(Vec::<Listener>::new());
    keep.update_value(|v| {
        v.extend(Listener::document("visibilitychange", move |_| {
            if !net::page_hidden() {
                state.unseen.set(0);
            }
        }));
        v.extend(Listener::window("online", move |_| {
            if matches!(state.status.get_untracked(), Status::Reconnecting { .. }) {
                state.retry_now();
            }
        }));
        v.extend(Listener::window("hashchange", move |_| {
            if state.me.get_untracked().is_some() {
                if let Some(conv) = Conversation::from_fragment(&net::fragment()) {
                    if state.model.with_untracked(|m| *m.current() != conv) {
                        state.open(conv);
                    }
                }
            }
        }));
    });
    let ticker = StoredValue::new_local(Some(net::every(1_000, move || {
        let now = net::wall();
        state.clock.set(now);
        state.model.maybe_update(|m| m.expire(now));
    })));
    on_cleanup(move || {
        state.retry.set_value(None);
        state.link.set_value(None);
        keep.set_value(Vec::new());
        ticker.set_value(None);
    });

    Effect::new(move || {
        let unseen = state.unseen.get();
        let title = match state.me.get() {
            Some(_) => format!(
                "{} · mqtt-chat",
                state.model.with(|m| m.current().to_string())
            ),
            None => "mqtt-chat".to_owned(),
        };
        net::set_title(&if unseen > 0 {
            format!("({unseen}) {title}")
        } else {
            title
        });
    });

    // A reloaded tab joins again as before.
    if let Some(name) = storage::get(true, KEY_NAME) {
        let brokers = state.brokers.with_untracked(Brokers::to_list);
        if state.join(&name, &brokers, None).is_err() {
            storage::remove(true, KEY_NAME);
        }
    }

    // Narrow screens: the panel closes with Escape, and the focus goes back to the button that opened it
    // (also when a choice in the panel closes it: what had the focus is hidden with the panel).
    let toggle = NodeRef::<leptos::html::Button>::new();
    Effect::new(move |was_open: Option<bool>| {
        let open = state.panel_open.get();
        if was_open == Some(true) && !open {
            if let Some(button) = toggle.get_untracked() {
                let _ = button.focus();
            }
        }
        open
    });
    let on_key = move |ev: leptos::ev::KeyboardEvent| {
        if ev.key() == "Escape" && state.panel_open.get_untracked() {
            state.panel_open.set(false);
        }
    };

    view! {
        <Show when=move || state.me.with(Option::is_some) fallback=Login>
            <div class="app" class:panel-open=move || state.panel_open.get() on:keydown=on_key>
                <header class="top">
                    <button type="button" class="panel-toggle" aria-label="Rooms and people"
                        aria-expanded=move || state.panel_open.get().to_string() node_ref=toggle
                        on:click=move |_| state.panel_open.update(|o| *o = !*o)>"☰"</button>
                    <h1>{move || state.model.with(|m| m.current().to_string())}</h1>
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
