//! Components only: state lives in [`ChatState`], logic in `chat`, I/O in `net`.

mod composer;
mod login;
mod messages;
mod status;

use leptos::prelude::*;

use crate::chat::{ChatEvent, ChatMessage, Client, Delivery};
use crate::net::{self, Link};

pub use composer::Composer;
pub use login::Login;
pub use messages::MessageList;
pub use status::StatusBar;

/// What the status bar says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Connecting,
    Connected,
    Disconnected(String),
}

/// A message on screen; its delivery state changes in place.
#[derive(Debug, Clone)]
pub struct Row {
    pub key: String,
    pub message: ChatMessage,
    pub delivery: RwSignal<Delivery>,
}

/// The app's state, shared with every component as a `Copy` context.
#[derive(Clone, Copy)]
pub struct ChatState {
    pub me: RwSignal<Option<String>>,
    pub broker: RwSignal<String>,
    pub room: RwSignal<String>,
    pub status: RwSignal<Status>,
    pub rows: RwSignal<Vec<Row>>,
    /// The connection, when there is one (browser handles are not `Send`).
    link: StoredValue<Option<Link>, LocalStorage>,
}

impl ChatState {
    fn new() -> Self {
        Self {
            me: RwSignal::new(None),
            broker: RwSignal::new(initial_broker()),
            room: RwSignal::new(crate::chat::DEFAULT_ROOM.to_owned()),
            status: RwSignal::new(Status::Disconnected(String::new())),
            rows: RwSignal::new(Vec::new()),
            link: StoredValue::new_local(None),
        }
    }

    /// Connects as `name` to the broker at `url`. Errors are for the login form.
    pub fn join(self, name: &str, url: &str) -> Result<(), String> {
        let url = crate::chat::settings::validate_broker_url(url)?.to_owned();
        let client = Client::new(name, net::new_client_id()).map_err(|e| e.to_string())?;
        let me = client.name().to_owned();
        // Drop any previous link first: it says goodbye and detaches its handlers.
        self.link.set_value(None);
        self.status.set(Status::Connecting);
        let link = Link::open(&url, client, move |event| self.apply(event))?;
        self.link.set_value(Some(link));
        self.broker.set(url);
        self.me.set(Some(me));
        Ok(())
    }

    /// Opens a new connection with the same name and broker.
    pub fn reconnect(self) {
        let (Some(name), url) = (self.me.get_untracked(), self.broker.get_untracked()) else {
            return;
        };
        if let Err(e) = self.join(&name, &url) {
            self.status.set(Status::Disconnected(e));
        }
    }

    /// Sends `text` to the current room; the message shows at once as pending.
    pub fn send(self, text: &str) -> Result<(), String> {
        let room = self.room.get_untracked();
        let sent = self.link.with_value(|link| match link {
            Some(link) => link.send(&room, text).map_err(|e| e.to_string()),
            None => Err("not connected".into()),
        })?;
        self.push(sent);
        Ok(())
    }

    fn apply(self, event: ChatEvent) {
        match event {
            ChatEvent::Connected => self.status.set(Status::Connected),
            ChatEvent::Message(m) => self.push(m),
            ChatEvent::Delivered(id) => {
                self.rows.with_untracked(|rows| {
                    if let Some(row) = rows
                        .iter()
                        .rev()
                        .find(|r| r.message.is_own() && r.message.id == id)
                    {
                        row.delivery.set(Delivery::Sent);
                    }
                });
            }
            ChatEvent::SubscriptionRefused(filter) => {
                self.status.set(Status::Disconnected(format!(
                    "the broker refused the subscription to {filter}"
                )));
            }
            ChatEvent::Closed(reason) => self.status.set(Status::Disconnected(reason)),
        }
    }

    fn push(self, message: ChatMessage) {
        let row = Row {
            key: format!("{}\u{0}{}", message.sender, message.id),
            delivery: RwSignal::new(message.delivery),
            message,
        };
        self.rows.update(|rows| rows.push(row));
    }
}

/// `?broker=` from the page URL, else the page's host on port 9001.
fn initial_broker() -> String {
    let location = window().location();
    let query = location
        .search()
        .ok()
        .and_then(|s| web_sys::UrlSearchParams::new_with_str(&s).ok())
        .and_then(|p| p.get("broker"));
    crate::chat::settings::default_broker_url(
        &location.protocol().unwrap_or_default(),
        &location.hostname().unwrap_or_default(),
        query.as_deref(),
    )
}

#[component]
pub fn App() -> impl IntoView {
    let state = ChatState::new();
    provide_context(state);
    on_cleanup(move || state.link.set_value(None));
    Effect::new(move || {
        let title = match state.me.get() {
            Some(_) => format!("#{} · mqtt-chat", state.room.get()),
            None => "mqtt-chat".to_owned(),
        };
        document().set_title(&title);
    });

    view! {
        <main class="app">
            <Show when=move || state.me.with(Option::is_some) fallback=Login>
                <header class="top">
                    <h1>"#" {move || state.room.get()}</h1>
                    <StatusBar/>
                </header>
                <MessageList/>
                <Composer/>
            </Show>
        </main>
    }
}
