//! The chat core: one state machine that owns every piece of the chat's state once — who this is, the
//! brokers and which one it is on, the reconnection backoff, the outbox, the rooms, the timelines, presence,
//! mutes — with the MQTT session below it (inside [`Client`]).
//!
//! Inputs are facts ([`Input`]: an action of the user, bytes received, the transport opened or closed, a timer
//! fired), each with the time and a random number ([`Env`]); outputs are things to do ([`Output`]: open or
//! close a transport, send bytes, arm a timer, store a record, show a notification). The browser
//! (`src/net.rs`, `src/ui/`) and the terminal client (`term/`) only carry out outputs and draw the state; every
//! rule lives here and is tested natively in simulated time.

use std::collections::VecDeque;
use std::sync::Arc;

use mqtt::Millis;
use thiserror::Error;

use super::cache::{self, CacheError, Loaded, Write};
use super::client::{
    outgoing_text, too_large, ChatEvent, ChatMessage, Client, Content, Delivery, Ended, Failure,
    Identity, JoinError, Kind, SendError, NUDGE_FOR_MS, NUDGE_MS,
};
use super::conversation::Conversation;
use super::message::{Change, Quote, Target, REACTIONS};
use super::model::{Item, Model};
use super::names::NameError;
use super::outbox::{Outbox, OutboxError};
use super::settings::{BrokerError, Brokers};
use super::sorted::SortedMap;
use super::DEFAULT_ROOM;

/// Longest wait between reconnection attempts (ms).
pub const MAX_BACKOFF_MS: u64 = 30_000;
/// An own message not acknowledged this long after it could have been sent is shown as failed (ms).
pub const FAILED_AFTER_MS: i64 = 20_000;
/// How long a request for earlier messages waits for the history service before the room is said to have
/// none to give (ms).
pub const EARLIER_TIMEOUT_MS: u64 = 5_000;
/// Within this long of the cache's last batch (ms), its writes are gathered into the next one: a join that reads
/// two thousand histories is two thousand inputs, and a transaction for each took half its time (measured:
/// 2,000 histories drawn in 4.1–5.5 s with a write per input, 2.0–2.2 s with none). After a quiet spell, and when
/// the connection or the page goes, they go at once.
pub const CACHE_BATCH_MS: u64 = 250;

/// How many earlier messages one request asks for.
pub const EARLIER_PAGE: usize = 100;

/// Where asking the optional history service for a room's earlier messages stands ("Show earlier").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Earlier {
    /// A request is out, since this monotonic time.
    Asking { req: String, at: Millis },
    /// The service holds older messages still.
    More,
    /// The room's first message is shown.
    Beginning,
    /// No service answered in time, or it said why it could not (its words).
    Unavailable(Option<String>),
}

/// How many of the newest messages [`App::heard`] keeps: more than one, so that a message that follows
/// another at once is announced too.
pub const HEARD: usize = 3;

/// Time and chance, passed with every input: the core reads no clock and draws no random number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Env {
    /// Monotonic milliseconds, for protocol timers.
    pub now: Millis,
    /// Unix milliseconds, for timestamps.
    pub wall: i64,
    /// Any random number (backoff jitter, new ids).
    pub random: u64,
}

/// A record the core keeps in storage. Those [`Record::per_tab`] live as long as the tab (a reload keeps them;
/// the terminal keeps them per name), the others as long as the browser profile (the terminal's state
/// directory).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Record {
    /// The name this tab joined with (open mode only: never in accounts mode).
    Name,
    /// The brokers this tab joined with, and the one it is on.
    Brokers,
    Broker,
    /// The rooms this tab is in, separated by `/` (which no room name holds).
    Rooms,
    /// This tab's MQTT client id: its persistent session on the broker.
    ClientId,
    /// Shared by the tabs of one browser (a name in use in another browser is refused).
    BrowserId,
    /// A user's outbox: own messages not yet acknowledged (JSON).
    Outbox(String),
    /// The people a user muted (a JSON array of names).
    Muted(String),
    /// A record that could not be read, kept aside under its key with `.unreadable` added.
    Unreadable(String),
}

impl Record {
    /// The storage key: `mqtt-chat.name`, `mqtt-chat.outbox.alice`, ...
    pub fn key(&self) -> String {
        match self {
            Self::Name => "mqtt-chat.name".into(),
            Self::Brokers => "mqtt-chat.brokers".into(),
            Self::Broker => "mqtt-chat.broker".into(),
            Self::Rooms => "mqtt-chat.rooms".into(),
            Self::ClientId => "mqtt-chat.client-id".into(),
            Self::BrowserId => "mqtt-chat.browser-id".into(),
            Self::Outbox(user) => format!("mqtt-chat.outbox.{user}"),
            Self::Muted(user) => format!("mqtt-chat.muted.{user}"),
            Self::Unreadable(key) => format!("{key}.unreadable"),
        }
    }

    /// Reads a storage key back; `None` for keys that are not the core's.
    pub fn from_key(key: &str) -> Option<Self> {
        let rest = key.strip_prefix("mqtt-chat.")?;
        if let Some(original) = key.strip_suffix(".unreadable") {
            return Some(Self::Unreadable(original.to_owned()));
        }
        Some(match rest {
            "name" => Self::Name,
            "brokers" => Self::Brokers,
            "broker" => Self::Broker,
            "rooms" => Self::Rooms,
            "client-id" => Self::ClientId,
            "browser-id" => Self::BrowserId,
            _ => {
                if let Some(user) = rest.strip_prefix("outbox.") {
                    Self::Outbox(user.to_owned())
                } else {
                    Self::Muted(rest.strip_prefix("muted.")?.to_owned())
                }
            }
        })
    }

    pub fn per_tab(&self) -> bool {
        matches!(
            self,
            Self::Name | Self::Brokers | Self::Broker | Self::Rooms | Self::ClientId
        )
    }
}

/// The timers the core arms; each is armed at most once at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Timer {
    /// The MQTT session's next deadline (keep-alive ping, a response overdue).
    Session,
    /// The next reconnection attempt.
    Retry,
    /// The next typing notice to expire.
    Expire,
    /// The next PINGREQ while retained messages stream in (see [`super::client::NUDGE_MS`]).
    Nudge,
    /// A request for earlier messages to give up on ([`EARLIER_TIMEOUT_MS`]).
    Earlier,
    /// The cache's writes gathered since the last batch go out ([`CACHE_BATCH_MS`]).
    Cache,
}

/// Something for the shell to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Open a transport to this broker URL, replacing any other; report it with [`Input::Opened`], bytes with
    /// [`Input::Bytes`], its end (or failure to open) with [`Input::Closed`].
    Connect(String),
    Send(Vec<u8>),
    /// Close the transport (after sending what came before).
    Disconnect,
    /// Call back with [`Input::Timer`] at this monotonic time; replaces the timer's earlier deadline.
    SetTimer(Timer, Millis),
    CancelTimer(Timer),
    Store(Record, String),
    Remove(Record),
    /// A desktop notification (the page is hidden).
    Notify {
        title: String,
        body: String,
    },
    /// The conversation on screen changed (the browser puts it in the URL).
    Show(Conversation),
    /// Read what the device keeps of this user (see [`cache`]); report it with [`Input::CacheLoaded`]. The
    /// core connects once it has: what the page showed before is drawn first, and this user's history is
    /// known before the broker's is read.
    LoadCache(String),
    /// Carry out these writes to this user's cache, at once (one transaction); report a failure with
    /// [`Input::CacheFailed`].
    Cache {
        user: String,
        writes: Vec<Write>,
    },
    /// Remove everything the device keeps of this user (signing out).
    ClearCache(String),
}

/// What the status line says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Connecting,
    Connected,
    /// Not connected, and not trying: before joining (`None`), or after an end that retrying cannot mend.
    Disconnected(Option<Ended>),
    /// Lost the connection; trying again at `at` (Unix ms).
    Reconnecting {
        reason: Ended,
        at: i64,
    },
}

/// Something to tell the user that is not the connection's state: shown until dismissed or replaced.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Notice {
    #[error("the broker refused to subscribe to {0}")]
    SubscriptionRefused(String),
    /// A presence or typing notice too large to read.
    #[error("{}", too_large(*.kind, .sender, *.bytes))]
    TooLarge {
        kind: Kind,
        sender: String,
        bytes: usize,
    },
    #[error(transparent)]
    Failed(#[from] Failure),
    /// An action refused that no control shows next to itself (see [`App::act`]).
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The stored outbox could not be read; it is kept aside under another key.
    #[error("{error}; it is kept as {kept_as}")]
    OutboxUnreadable { error: OutboxError, kept_as: String },
    #[error(transparent)]
    Cache(#[from] CacheError),
    /// A record could not be stored (the outbox: unsent messages would not survive a reload).
    #[error("this browser could not store {} (its storage is full or off){}", .0.key(), if matches!(.0, Record::Outbox(_)) { ": messages not sent yet would not survive a reload" } else { "" })]
    NotStored(Record),
    /// The browser's quota is used up: fewer messages are kept.
    #[error("the browser's storage for this site is full: only the newest {kept} messages of each conversation are kept on this device")]
    CacheFull { kept: usize },
    /// So many histories of a room arrived at once that the broker may have left some out, or a step of
    /// reading them never ended.
    #[error("#{room}: the broker may not have sent all of this room's history ({histories} histories, {}, arrived at once): some recent messages may be missing", super::client::size_words(*.bytes))]
    HistoryIncomplete {
        room: String,
        histories: usize,
        bytes: usize,
    },
    /// Messages kept on the device that could not be read (another version, damaged): set aside.
    #[error("{0} messages kept on this device could not be read; they are set aside, not shown")]
    CacheUnreadable(usize),
}

/// A fact the core is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input<'a> {
    /// Start again as before a reload (the stored name, brokers and rooms), if there was one.
    Resume,
    /// Join as `name` on `brokers` (one URL, or several separated by commas).
    Join {
        name: String,
        brokers: String,
        password: Option<String>,
    },
    /// A new connection with the same name, brokers and rooms ("Reconnect").
    Reconnect,
    /// Connect again now ("Retry now"), instead of waiting for the backoff.
    RetryNow,
    /// The network came back: retry now if waiting.
    Online,
    Send(String),
    /// Send a message answering `(sender, id)` of the conversation on screen.
    Reply {
        sender: String,
        id: String,
        text: String,
    },
    /// Change the text of an own message.
    Edit {
        conversation: Conversation,
        id: String,
        text: String,
    },
    /// Take back an own message, for everyone.
    Delete {
        conversation: Conversation,
        id: String,
    },
    /// Add this user's reaction `emoji` to `(sender, id)`, or take it back if it is there.
    React {
        conversation: Conversation,
        sender: String,
        id: String,
        emoji: String,
    },
    /// Send an own message that was not acknowledged again.
    Retry(String),
    Typing,
    /// Show a conversation; a room not joined yet is joined (created, if new).
    Open(Conversation),
    /// Join (or create) the room of this name and show it.
    JoinRoom(String),
    /// Ask the history service for earlier messages of the room on screen (the view has drawn all it holds).
    ShowEarlier,
    /// Leave a room, or close a direct conversation.
    Close(Conversation),
    Mute(String),
    Unmute(String),
    /// The page was shown or hidden.
    Visible(bool),
    DismissNotice,
    /// The page (or the program) goes away: say goodbye.
    Leave,
    Opened,
    Bytes(&'a [u8]),
    Closed,
    Timer(Timer),
    /// What [`Output::LoadCache`] found (a shell that keeps nothing answers with nothing).
    CacheLoaded(Result<Loaded, CacheError>),
    /// An [`Output::Cache`] failed.
    CacheFailed(CacheError),
    /// An [`Output::Store`] failed (storage missing or full).
    NotStored(Record),
    /// Forget this user in this browser — the messages kept on the device, the outbox, the stored name and
    /// rooms, the mutes — and show the login form (a shared computer must not keep someone's messages). The
    /// shell asks the user to confirm first.
    SignOut,
}

/// Why an action was refused; shown next to the control that asked.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Refusal {
    #[error(transparent)]
    Name(#[from] NameError),
    #[error(transparent)]
    Room(#[from] JoinError),
    #[error(transparent)]
    Send(#[from] SendError),
    #[error(transparent)]
    Brokers(#[from] BrokerError),
    #[error("not signed in")]
    SignedOut,
}

/// The chat: see the module docs.
#[derive(Debug)]
pub struct App {
    /// The records in storage, as the core last wrote or read them.
    stored: SortedMap<Record, String>,
    brokers: Brokers,
    /// The connection, once joined; it lives across reconnections (its session resends what is unacknowledged).
    client: Option<Client>,
    /// Accounts mode: kept in memory only, for reconnecting.
    password: Option<String>,
    /// The transport opened since the last `Connect`.
    opened: bool,
    status: Status,
    notice: Option<Notice>,
    model: Model,
    outbox: Outbox,
    /// Reconnection attempts that failed in a row.
    attempts: u32,
    /// Unix ms when the current connection came up (0: not connected).
    connected_since: i64,
    hidden: bool,
    /// Messages that arrived while the page was hidden.
    unseen: usize,
    /// The conversation to show first (from the URL), until joined.
    first_conversation: Option<Conversation>,
    armed: SortedMap<Timer, Millis>,
    /// The newest messages from others that arrived live in the conversation on screen, numbered: what a
    /// screen reader is told (each once, when it is added).
    heard: VecDeque<(u64, ChatMessage)>,
    heard_count: u64,
    /// Something the views show may have changed since [`App::take_changed`] was last asked.
    changed: bool,
    /// Since when the client has been waiting for retained messages (monotonic ms).
    waiting_since: Option<Millis>,
    /// How many of the newest messages of each conversation the device keeps ([`cache::PER_CONVERSATION`],
    /// halved down to [`cache::MIN_PER_CONVERSATION`] when the browser's quota is used up).
    cache_limit: usize,
    /// The broker to connect to once the cache is loaded.
    cache_wait: Option<String>,
    /// Writes for the cache not carried out yet (gathered for [`CACHE_BATCH_MS`]).
    cache_writes: Vec<Write>,
    /// When the last batch of them went out (monotonic ms).
    cache_written: Option<Millis>,
    /// Per room: asking the history service for earlier messages, and the `before` of the next request.
    earlier: SortedMap<String, (Earlier, i64)>,
    /// Whether the optional history service runs (its marker, read on connecting and followed).
    history_service: bool,
    out: VecDeque<Output>,
}

impl App {
    /// A core that starts from what storage held (`stored`: key and value of every record the shell found),
    /// with `brokers` (from the page's URL or the command line) when storage names none, showing
    /// `conversation` (the page URL's fragment) first.
    pub fn new(
        stored: impl IntoIterator<Item = (String, String)>,
        brokers: Brokers,
        conversation: Option<Conversation>,
    ) -> Self {
        let mut records = SortedMap::default();
        for (key, value) in stored {
            if let Some(record) = Record::from_key(&key) {
                records.insert(record, value);
            }
        }
        let on = records.get(&Record::Broker).cloned();
        let saved = records
            .get(&Record::Brokers)
            .cloned()
            .or_else(|| on.clone());
        let brokers = saved
            .and_then(|list| Brokers::parse(&list, on.as_deref()).ok())
            .unwrap_or(brokers);
        Self {
            stored: records,
            brokers,
            client: None,
            password: None,
            opened: false,
            status: Status::Disconnected(None),
            notice: None,
            model: Model::new("", &[], Conversation::Room(DEFAULT_ROOM.into())),
            outbox: Outbox::default(),
            attempts: 0,
            connected_since: 0,
            hidden: false,
            unseen: 0,
            first_conversation: conversation,
            armed: SortedMap::default(),
            heard: VecDeque::new(),
            heard_count: 0,
            waiting_since: None,
            changed: true,
            cache_limit: cache::PER_CONVERSATION,
            cache_wait: None,
            cache_writes: Vec::new(),
            cache_written: None,
            earlier: SortedMap::default(),
            history_service: false,
            out: VecDeque::new(),
        }
    }

    // --- What the views read -----------------------------------------------------------------------------

    /// This user's newest message in the conversation on screen that can be edited (for Up in the composer).
    pub fn last_own(&self) -> Option<Arc<Item>> {
        self.model.last_own(self.model.current()).cloned()
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The name joined with; `None` before joining (the login form).
    pub fn me(&self) -> Option<&str> {
        self.client.as_ref().map(Client::name)
    }

    pub fn brokers(&self) -> &Brokers {
        &self.brokers
    }

    pub fn status(&self) -> &Status {
        &self.status
    }

    /// A notice that is not a disconnection (a refused subscription, an oversized presence, a refused room).
    pub fn notice(&self) -> Option<&Notice> {
        self.notice.as_ref()
    }

    /// Whether the optional history service runs: "Load older messages" is offered only then.
    pub fn history_service(&self) -> bool {
        self.history_service
    }

    /// Where asking the history service for earlier messages of `room` stands; `None` before it was asked.
    pub fn earlier(&self, room: &str) -> Option<&Earlier> {
        self.earlier.get(room).map(|(e, _)| e)
    }

    /// Where a message stands: someone else's, or own and waiting in the outbox for the broker's
    /// acknowledgement, or own and acknowledged (or seen coming back from another tab of this user).
    pub fn delivery(&self, m: &ChatMessage) -> Delivery {
        if self.me() != Some(m.sender.as_str()) {
            Delivery::Received
        } else if self.outbox.contains(&m.id) {
            Delivery::Pending
        } else {
            Delivery::Sent
        }
    }

    /// Unix ms when the current connection came up (0: not connected).
    pub fn connected_since(&self) -> i64 {
        self.connected_since
    }

    /// Whether the rooms' histories are still being read (after coming online): a program that ends with its
    /// input waits for them, so that it shows what a later starter should.
    pub fn reading_history(&self) -> bool {
        self.client.as_ref().is_some_and(Client::waiting)
    }

    /// Whether own messages wait for the broker's acknowledgement (the outbox is not empty): a program that
    /// ends with its input waits for them first.
    pub fn has_unsent(&self) -> bool {
        !self.outbox.is_empty()
    }

    /// Whether an own message still pending at `wall` has failed: pending for [`FAILED_AFTER_MS`] while
    /// connected.
    pub fn failed(&self, sent_at: i64, wall: i64) -> bool {
        let since = self.connected_since;
        since > 0 && wall - sent_at.max(since) > FAILED_AFTER_MS
    }

    /// The page's title: the conversation, with the messages that arrived while it was hidden.
    pub fn title(&self) -> String {
        let title = match self.me() {
            Some(_) => format!("{} · mqtt-chat", self.model.current()),
            None => "mqtt-chat".to_owned(),
        };
        match self.unseen {
            0 => title,
            n => format!("({n}) {title}"),
        }
    }

    /// The newest messages from others that arrived live in the conversation on screen, numbered (see
    /// [`HEARD`]).
    pub fn heard(&self) -> impl Iterator<Item = &(u64, ChatMessage)> {
        self.heard.iter()
    }

    /// Whether anything the views show may have changed since the last call: a keystroke's typing notice, a
    /// PINGRESP or a PUBACK-less ack changes nothing, and a view need not be drawn again for it.
    pub fn take_changed(&mut self) -> bool {
        std::mem::take(&mut self.changed)
    }

    /// Whether the page is hidden, as last told ([`Input::Visible`]).
    pub fn is_hidden(&self) -> bool {
        self.hidden
    }

    /// The next thing to do, in order.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    // --- Inputs ------------------------------------------------------------------------------------------

    /// Takes an input whose refusal no control shows next to itself: a refusal becomes the notice.
    pub fn act(&mut self, input: Input<'_>, env: Env) {
        if let Err(refusal) = self.handle(input, env) {
            self.notice = Some(Notice::Refused(refusal));
            self.changed = true;
        }
    }

    /// Takes an input; a refusal is returned for the control that asked to show (see [`App::act`]).
    pub fn handle(&mut self, input: Input<'_>, env: Env) -> Result<(), Refusal> {
        let now = matches!(
            input,
            Input::Leave | Input::Closed | Input::Visible(false) | Input::Timer(Timer::Cache)
        );
        let result = self.take(input, env);
        self.ask_newest(env);
        self.flush_cache(now, env);
        result
    }

    fn take(&mut self, input: Input<'_>, env: Env) -> Result<(), Refusal> {
        // What only moves bytes or keeps the connection alive changes nothing shown, unless the session says
        // something (`on_event`).
        let quiet = matches!(
            input,
            Input::Typing | Input::Bytes(_) | Input::Timer(Timer::Session | Timer::Nudge)
        );
        self.changed |= !quiet;
        match input {
            Input::Resume => {
                if let Some(name) = self.stored.get(&Record::Name).cloned() {
                    let brokers = self.brokers.to_list();
                    if self.join(&name, &brokers, None, env).is_err() {
                        self.forget(Record::Name);
                    }
                }
            }
            Input::Join {
                name,
                brokers,
                password,
            } => self.join(&name, &brokers, password, env)?,
            Input::Reconnect => {
                let name = self.me().ok_or(Refusal::SignedOut)?.to_owned();
                let brokers = self.brokers.to_list();
                let password = self.password.clone();
                self.join(&name, &brokers, password, env)?;
            }
            Input::RetryNow => self.retry_now(env),
            Input::Online => {
                if matches!(self.status, Status::Reconnecting { .. }) {
                    self.retry_now(env);
                }
            }
            Input::Send(text) => self.send(&text, None, env)?,
            Input::Reply { sender, id, text } => {
                let current = self.model.current().clone();
                let answered = self
                    .model
                    .find(&current, &sender, &id)
                    .filter(|m| m.addressable())
                    .ok_or(SendError::Gone)?;
                let quoted = match &answered.content {
                    Content::Text(text) => text.as_str(),
                    _ => "",
                };
                let quote = Quote::of(&sender, &id, quoted);
                self.send(&text, Some(quote), env)?;
            }
            Input::Edit {
                conversation,
                id,
                text,
            } => {
                let text = outgoing_text(&text)?;
                let old = self.own_message(&conversation, &id)?;
                if old.content != Content::Text(text.clone()) {
                    if self.outbox.edit(&id, &text, env.wall) {
                        self.save_outbox();
                    }
                    self.change(conversation, Change::Edit { id, text }, env)?;
                }
            }
            Input::Delete { conversation, id } => {
                self.own_message(&conversation, &id)?;
                if self.outbox.remove(&id) {
                    self.save_outbox();
                }
                self.change(conversation, Change::Delete { id }, env)?;
            }
            Input::React {
                conversation,
                sender,
                id,
                emoji,
            } => {
                let me = self.me().ok_or(Refusal::SignedOut)?;
                let target = self
                    .model
                    .find(&conversation, &sender, &id)
                    .filter(|m| m.addressable())
                    .ok_or(SendError::Gone)?;
                if !REACTIONS.contains(&emoji.as_str()) {
                    return Ok(());
                }
                let on = !target.reacted_by(me, &emoji);
                let to = Target { sender, id };
                self.change(conversation, Change::React { to, emoji, on }, env)?;
            }
            Input::Retry(id) => {
                if let Some((to, payload)) = self.outbox.get(&id) {
                    let client = self.client.as_mut().ok_or(Refusal::SignedOut)?;
                    let resent = client.resend(&to, payload, env.now);
                    if let Ok(p) = &resent {
                        self.outbox.add(&p.message, p.pid);
                    }
                    self.pump(env);
                    resent?;
                }
            }
            Input::Typing => {
                if let (Some(room), Some(client)) = (self.model.current().room(), &mut self.client)
                {
                    client.typing(room, env.now);
                    self.pump(env);
                }
            }
            Input::Open(conv) => self.open(conv, env)?,
            Input::JoinRoom(name) => {
                let room = super::names::validate(&name)?.to_owned();
                self.open(Conversation::Room(room), env)?;
            }
            Input::Close(conv) => {
                self.cache_writes
                    .push(Write::DeleteConversation(conv.fragment()));
                self.model.close(&conv);
                if let (Some(room), Some(client)) = (conv.room(), &mut self.client) {
                    client.leave_room(room, &self.model.rooms(), env.now);
                }
                self.out
                    .push_back(Output::Show(self.model.current().clone()));
                self.save_rooms();
                self.pump(env);
            }
            Input::Mute(user) => {
                self.model.mute(&user);
                self.save_muted();
            }
            Input::Unmute(user) => {
                self.model.unmute(&user);
                self.save_muted();
            }
            Input::Visible(visible) => {
                self.hidden = !visible;
                if visible {
                    self.unseen = 0;
                }
            }
            Input::DismissNotice => self.notice = None,
            Input::Leave => {
                if let Some(client) = &mut self.client {
                    client.leave(env.now, env.wall);
                    self.pump(env);
                }
            }
            Input::Opened => {
                self.opened = true;
                if let Some(client) = &mut self.client {
                    client.transport_open(env.now);
                }
                self.pump(env);
            }
            Input::Bytes(bytes) => {
                if let Some(client) = &mut self.client {
                    client.receive(bytes, &self.model.rooms(), env.now, env.wall);
                }
                self.pump(env);
            }
            Input::Closed => {
                let never_opened = !std::mem::replace(&mut self.opened, false);
                let Some(client) = &mut self.client else {
                    return Ok(());
                };
                client.transport_closed(&self.model.rooms(), env.wall);
                self.disarm(Timer::Session);
                self.pump(env);
                if never_opened && self.status == Status::Connecting {
                    let broker = self.brokers.current().to_owned();
                    self.on_event(ChatEvent::Closed(Ended::Unreachable(broker)), env);
                }
            }
            Input::Timer(Timer::Session) => {
                self.armed.remove(&Timer::Session);
                if let Some(client) = &mut self.client {
                    client.tick(&self.model.rooms(), env.now, env.wall);
                }
                self.pump(env);
            }
            Input::Timer(Timer::Retry) => {
                self.armed.remove(&Timer::Retry);
                self.retry_now(env);
            }
            Input::Timer(Timer::Nudge) => {
                self.armed.remove(&Timer::Nudge);
                if let Some(client) = &mut self.client {
                    client.nudge(env.now);
                }
                self.pump(env);
            }
            Input::Timer(Timer::Expire) => {
                self.armed.remove(&Timer::Expire);
                self.model.expire(env.wall);
                self.arm_expiry(env);
            }
            Input::CacheLoaded(loaded) => {
                match loaded {
                    Ok(loaded) => self.restore(loaded),
                    Err(e) => self.notice = Some(Notice::Cache(e)),
                }
                if let Some(url) = self.cache_wait.take() {
                    self.out.push_back(Output::Connect(url));
                }
            }
            Input::CacheFailed(CacheError::Quota) => {
                let before = self.cache_limit;
                self.cache_limit = (before / 2).max(cache::MIN_PER_CONVERSATION);
                self.cache_writes
                    .extend(cache::shrink(&self.model, self.cache_limit));
                self.notice = Some(Notice::CacheFull {
                    kept: self.cache_limit,
                });
            }
            Input::CacheFailed(e) => self.notice = Some(Notice::Cache(e)),
            Input::NotStored(record) => {
                // Stored nowhere: written again at the next change.
                self.stored.remove(&record);
                self.notice = Some(Notice::NotStored(record));
            }
            Input::ShowEarlier => self.ask_earlier(env)?,
            Input::Timer(Timer::Cache) => {
                self.armed.remove(&Timer::Cache);
            }
            Input::Timer(Timer::Earlier) => {
                self.armed.remove(&Timer::Earlier);
                for (state, _) in self.earlier.values_mut() {
                    if matches!(state, Earlier::Asking { at, .. } if *at + EARLIER_TIMEOUT_MS <= env.now)
                    {
                        *state = Earlier::Unavailable(None);
                    }
                }
                self.arm_earlier();
            }
            Input::SignOut => self.sign_out(env)?,
        }
        Ok(())
    }

    /// Asks the history service for the page of messages before the oldest shown in the room on screen.
    fn ask_earlier(&mut self, env: Env) -> Result<(), Refusal> {
        let Some(room) = self.model.current().room().map(str::to_owned) else {
            return Ok(());
        };
        let before = match self.earlier.get(&room) {
            Some((Earlier::Asking { .. } | Earlier::Beginning, _)) => return Ok(()),
            Some((_, before)) => *before,
            // The first request: the newest page (what the broker's histories gave may lack some).
            None => i64::MAX,
        };
        let client = self.client.as_mut().ok_or(Refusal::SignedOut)?;
        let req = client
            .ask_earlier(&room, before, EARLIER_PAGE, env.now)
            .map_err(SendError::from)?;
        self.earlier
            .insert(room, (Earlier::Asking { req, at: env.now }, before));
        self.arm_earlier();
        self.pump(env);
        Ok(())
    }

    /// While the history service runs, a room shown asks it once for its newest page: the room's newest
    /// messages then do not depend on the broker having sent every retained history (a day with more posters
    /// than it queues for one reader).
    fn ask_newest(&mut self, env: Env) {
        let Some(room) = self.model.current().room() else {
            return;
        };
        let online = self.client.as_ref().is_some_and(Client::is_online);
        if self.history_service && online && !self.earlier.contains_key(room) {
            if let Err(refusal) = self.ask_earlier(env) {
                self.notice = Some(Notice::Refused(refusal));
            }
        }
    }

    /// Arms [`Timer::Earlier`] for the oldest request still out.
    fn arm_earlier(&mut self) {
        let first = self
            .earlier
            .values()
            .filter_map(|(e, _)| match e {
                Earlier::Asking { at, .. } => Some(*at),
                _ => None,
            })
            .min();
        match first {
            Some(at) => self.arm(Timer::Earlier, at + EARLIER_TIMEOUT_MS),
            None => self.disarm(Timer::Earlier),
        }
    }

    /// Shows what the device kept of this user (before connecting), and tells the client which of this
    /// user's own messages the broker's histories should hold.
    fn restore(&mut self, loaded: Loaded) {
        let Some(me) = self.me().map(str::to_owned) else {
            return;
        };
        for (fragment, value) in &loaded.conversations {
            let conv = Conversation::from_fragment(fragment);
            if let (Some(conv), Some((unread, read_at))) = (conv, cache::read_conversation(value)) {
                self.model.restore(&conv, unread, read_at);
            }
        }
        let mut own: SortedMap<String, Vec<super::message::Payload>> = SortedMap::default();
        let mut unreadable = 0;
        for row in loaded.messages {
            let Some(m) = cache::message_of(&row) else {
                unreadable += 1;
                self.cache_writes.push(Write::SetAside(row));
                continue;
            };
            if let (Some(room), Content::Text(text), true) = (
                m.conversation.room(),
                &m.content,
                m.sender == me && !m.truncated,
            ) {
                own.get_or_default(room.to_owned())
                    .push(super::message::Payload {
                        id: m.id.clone(),
                        text: text.clone(),
                        sent_at: m.sent_at,
                        reply: m.reply.clone(),
                        edited: m.edited,
                        deleted: false,
                    });
            }
            self.model.add_cached(m);
        }
        if let Some(client) = &mut self.client {
            for (room, kept) in own.iter() {
                // Rows come newest first; a history lists the oldest first.
                let kept: Vec<_> = kept.iter().rev().cloned().collect();
                client.seed_history(room, &kept);
            }
        }
        // What was just read is on the device already.
        drop(self.model.take_added());
        if unreadable > 0 {
            self.notice = Some(Notice::CacheUnreadable(unreadable));
        }
    }

    /// Tells the cache what changed in the timelines during this input.
    /// The writes are gathered for [`CACHE_BATCH_MS`], or go out `now` (the batch's timer, the page going away).
    fn flush_cache(&mut self, now: bool, env: Env) {
        let (added, touched) = self.model.take_added();
        let removed = self.model.take_removed();
        self.cache_writes
            .extend(removed.iter().map(|m| Write::Delete(cache::key_of(m))));
        self.cache_writes.extend(cache::writes_for(
            &self.model,
            &added,
            &touched,
            self.cache_limit,
        ));
        if self.cache_writes.is_empty() {
            return;
        }
        // The first writes after a quiet spell go at once (a message is on the device before a reload can
        // come); what follows within CACHE_BATCH_MS is gathered.
        let quiet = self
            .cache_written
            .is_none_or(|at| env.now >= at.saturating_add(CACHE_BATCH_MS));
        if !now && !quiet {
            if !self.armed.contains_key(&Timer::Cache) {
                let at = self.cache_written.unwrap_or(env.now);
                self.arm(Timer::Cache, at.saturating_add(CACHE_BATCH_MS));
            }
            return;
        }
        self.cache_written = Some(env.now);
        self.disarm(Timer::Cache);
        let writes = cache::compact(std::mem::take(&mut self.cache_writes));
        if let Some(user) = self.me() {
            let user = user.to_owned();
            self.out.push_back(Output::Cache { user, writes });
        }
    }

    /// See [`Input::SignOut`].
    fn sign_out(&mut self, env: Env) -> Result<(), Refusal> {
        let me = self.me().ok_or(Refusal::SignedOut)?.to_owned();
        if let Some(client) = &mut self.client {
            client.leave(env.now, env.wall);
        }
        self.flush_only();
        self.out.push_back(Output::Disconnect);
        self.out.push_back(Output::ClearCache(me.clone()));
        let outbox = Record::Outbox(me.clone());
        self.forget(Record::Unreadable(outbox.key()));
        self.forget(outbox);
        self.forget(Record::Muted(me));
        self.forget(Record::Name);
        self.forget(Record::Rooms);
        // A new MQTT session for whoever joins next in this tab: the broker keeps this one's subscriptions
        // and queue for the persistent session of this client id.
        self.forget(Record::ClientId);
        self.earlier = SortedMap::default();
        for timer in [
            Timer::Session,
            Timer::Retry,
            Timer::Expire,
            Timer::Nudge,
            Timer::Earlier,
            Timer::Cache,
        ] {
            self.disarm(timer);
        }
        self.client = None;
        self.password = None;
        self.opened = false;
        self.outbox = Outbox::default();
        self.model = Model::new("", &[], Conversation::Room(DEFAULT_ROOM.into()));
        self.status = Status::Disconnected(None);
        self.notice = None;
        self.connected_since = 0;
        self.attempts = 0;
        self.unseen = 0;
        self.heard.clear();
        self.cache_wait = None;
        self.cache_writes.clear();
        self.cache_limit = cache::PER_CONVERSATION;
        self.waiting_since = None;
        Ok(())
    }

    /// Connects as `name` to the first reachable of `brokers`, starting with the one this tab is on if it is
    /// among them. The same name again (a reconnection) keeps the rooms and what is on screen.
    fn join(
        &mut self,
        name: &str,
        brokers: &str,
        password: Option<String>,
        env: Env,
    ) -> Result<(), Refusal> {
        let brokers = Brokers::parse(brokers, Some(self.brokers.current()))?;
        let client_id = self.get_or_make(Record::ClientId, "mc", env);
        let browser_id = self.get_or_make(Record::BrowserId, "b", env);
        let identity = Identity {
            name: name.to_owned(),
            client_id,
            browser_id,
            password: password.filter(|p| !p.is_empty()),
        };
        let same_user = self.me() == Some(name.trim());
        let (rooms, current) = if same_user {
            (self.model.rooms(), self.model.current().clone())
        } else {
            self.initial_rooms()
        };
        let mut client = Client::new(identity)?;
        for room in &rooms {
            super::names::validate(room)?;
        }
        // Joined: the conversation the URL named has been taken (a refused name keeps it for the next try).
        self.first_conversation = None;
        let me = client.name().to_owned();
        self.notice = None;
        let remember = client.password().is_none();
        self.password = client.password().map(str::to_owned);
        if !same_user {
            let mut model = Model::new(&me, &rooms, current.clone());
            for user in self.load_muted(&me) {
                model.mute(&user);
            }
            self.model = model;
        }
        self.outbox = self.load_outbox(&me);
        // What an earlier page sent and the broker never acknowledged goes out first, as it was: into the
        // rooms it was sent to (joined again, unless there are too many) and direct conversations.
        for (to, payload) in self.outbox.pending() {
            if let Some(room) = to.room() {
                if !self.model.rooms().iter().any(|r| r == room) {
                    if let Err(e) = client.join_room(room, &self.model.rooms(), env.now, env.wall) {
                        self.notice = Some(Notice::Refused(e.into()));
                        continue;
                    }
                    self.model.add_conversation(to.clone());
                }
            }
            match client.resend(&to, payload, env.now) {
                Ok(p) => {
                    self.outbox.add(&p.message, p.pid);
                    self.model.add_own(p.message);
                }
                Err(e) => self.notice = Some(Notice::Refused(e.into())),
            }
        }
        // A previous connection says goodbye first.
        if let Some(old) = &mut self.client {
            old.leave(env.now, env.wall);
            self.flush_only();
            self.out.push_back(Output::Disconnect);
        }
        self.client = Some(client);
        self.disarm(Timer::Retry);
        self.disarm(Timer::Session);
        self.status = Status::Connecting;
        self.opened = false;
        let url = brokers.current().to_owned();
        if same_user {
            self.out.push_back(Output::Connect(url));
        } else {
            // What the device kept is shown first, and known before the broker's histories are read.
            self.out.push_back(Output::LoadCache(me.clone()));
            self.cache_wait = Some(url);
        }
        if remember {
            // A reload of this tab joins again with the same name (never with a password).
            self.store(Record::Name, me.clone());
            self.store(Record::Brokers, brokers.to_list());
            self.store(Record::Broker, brokers.current().to_owned());
        }
        self.brokers = brokers;
        self.open(current, env)?;
        Ok(())
    }

    /// The rooms this tab was in (before a reload), plus the conversation the URL names.
    fn initial_rooms(&self) -> (Vec<String>, Conversation) {
        let mut rooms: Vec<String> = self
            .stored
            .get(&Record::Rooms)
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
        let current = self
            .first_conversation
            .clone()
            .unwrap_or_else(|| Conversation::Room(rooms[0].clone()));
        if let Some(room) = current.room() {
            if !rooms.iter().any(|r| r == room) {
                rooms.push(room.to_owned());
            }
        }
        (rooms, current)
    }

    /// Connects again now, on the broker the tab is on, with the same client and session.
    fn retry_now(&mut self, env: Env) {
        self.disarm(Timer::Retry);
        let Some(client) = &mut self.client else {
            return;
        };
        client.transport_closed(&self.model.rooms(), env.wall);
        // The old transport's end is not news, and what it had left to send goes with it (the session sends
        // again what needs an acknowledgement).
        while client.poll_event().is_some() {}
        drop(client.transmit());
        self.disarm(Timer::Session);
        self.status = Status::Connecting;
        self.opened = false;
        self.out
            .push_back(Output::Connect(self.brokers.current().to_owned()));
    }

    /// After a lost connection: waits 1, 2, 4 … 30 s (each less up to half, at random, so that many tabs do not
    /// come back at once), then connects again with the same client and session. With several brokers the
    /// wait grows once per round through the list, so that the next broker is tried soon.
    fn schedule_retry(&mut self, reason: Ended, env: Env) {
        let attempt = self.attempts;
        self.attempts = attempt.saturating_add(1);
        let rounds = attempt / u32::try_from(self.brokers.len().max(1)).unwrap_or(u32::MAX);
        let base = (1_000u64 << rounds.min(5)).min(MAX_BACKOFF_MS);
        let delay = base / 2 + env.random % (base / 2 + 1);
        self.status = Status::Reconnecting {
            reason,
            at: env
                .wall
                .saturating_add(i64::try_from(delay).unwrap_or(i64::MAX)),
        };
        self.arm(Timer::Retry, env.now.saturating_add(delay));
    }

    /// This user's message `id` in `conv`, which they may change.
    fn own_message(&self, conv: &Conversation, id: &str) -> Result<&Arc<Item>, SendError> {
        let me = self.me().unwrap_or_default();
        let m = self.model.find(conv, me, id).ok_or(SendError::Gone)?;
        match m.content {
            Content::Text(_) => Ok(m),
            _ => Err(SendError::Gone),
        }
    }

    /// Publishes an own change and shows it at once (it comes back from the broker too, the same change).
    fn change(
        &mut self,
        conversation: Conversation,
        change: Change,
        env: Env,
    ) -> Result<(), Refusal> {
        let client = self.client.as_mut().ok_or(Refusal::SignedOut)?;
        client.change(&conversation, &change, env.now, env.wall)?;
        let sender = client.name().to_owned();
        self.model.apply(
            &ChatEvent::Change {
                conversation,
                sender,
                change,
                at: env.wall,
                live: true,
            },
            env.wall,
        );
        self.changed = true;
        self.pump(env);
        Ok(())
    }

    fn send(&mut self, text: &str, reply: Option<Quote>, env: Env) -> Result<(), Refusal> {
        let to = self.model.current().clone();
        let client = self.client.as_mut().ok_or(Refusal::SignedOut)?;
        let sent = client.send(&to, text, reply, env.now, env.wall)?;
        self.outbox.add(&sent.message, sent.pid);
        self.save_outbox();
        self.model.add_own(sent.message);
        self.pump(env);
        Ok(())
    }

    fn open(&mut self, conv: Conversation, env: Env) -> Result<(), Refusal> {
        if let Some(room) = conv.room() {
            let rooms = self.model.rooms();
            if !rooms.iter().any(|r| r == room) {
                let client = self.client.as_mut().ok_or(Refusal::SignedOut)?;
                client.join_room(room, &rooms, env.now, env.wall)?;
            }
        }
        self.out.push_back(Output::Show(conv.clone()));
        self.model.open(conv);
        self.save_rooms();
        self.pump(env);
        Ok(())
    }

    /// Moves what the client produced: bytes to send, events to apply; keeps the session's timer armed.
    fn pump(&mut self, env: Env) {
        let Some(client) = &mut self.client else {
            return;
        };
        if let Some(bytes) = client.transmit() {
            self.out.push_back(Output::Send(bytes));
        }
        let mut events = Vec::new();
        while let Some(e) = client.poll_event() {
            events.push(e);
        }
        let deadline = client.deadline();
        let waiting = client.waiting();
        let closed = events.iter().any(|e| matches!(e, ChatEvent::Closed(_)));
        if closed {
            // The session ended the connection (refusal, protocol error, dead broker): close the transport too.
            self.disarm(Timer::Session);
            self.out.push_back(Output::Disconnect);
            self.opened = false;
        } else {
            match deadline {
                Some(at) => self.arm_by(Timer::Session, at),
                None => self.disarm(Timer::Session),
            }
        }
        let since = *self.waiting_since.get_or_insert(env.now);
        if waiting && !closed && env.now.saturating_sub(since) < NUDGE_FOR_MS {
            if !self.armed.contains_key(&Timer::Nudge) {
                self.arm(Timer::Nudge, env.now.saturating_add(NUDGE_MS));
            }
        } else {
            if !waiting {
                self.waiting_since = None;
            }
            self.disarm(Timer::Nudge);
        }
        for event in events {
            self.on_event(event, env);
        }
    }

    /// Sends what the client has to send, without looking at its events (saying goodbye).
    fn flush_only(&mut self) {
        if let Some(bytes) = self.client.as_mut().and_then(Client::transmit) {
            self.out.push_back(Output::Send(bytes));
        }
    }

    fn on_event(&mut self, event: ChatEvent, env: Env) {
        self.changed = true;
        match &event {
            ChatEvent::Connected => {
                self.brokers.reached();
                self.attempts = 0;
                self.connected_since = env.wall;
                self.status = Status::Connected;
            }
            ChatEvent::Delivered(pid) => {
                if self.outbox.delivered(*pid).is_some() {
                    self.save_outbox();
                }
            }
            ChatEvent::SubscriptionRefused(what) => {
                self.notice = Some(Notice::SubscriptionRefused(what.clone()));
            }
            ChatEvent::TooLarge {
                kind,
                sender,
                bytes,
            } => {
                self.notice = Some(Notice::TooLarge {
                    kind: *kind,
                    sender: sender.clone(),
                    bytes: *bytes,
                });
            }
            ChatEvent::Failed(failure) => self.notice = Some(Notice::Failed(failure.clone())),
            ChatEvent::HistoryService(runs) => self.history_service = *runs,
            ChatEvent::HistoryIncomplete {
                room,
                histories,
                bytes,
            } => {
                self.notice = Some(Notice::HistoryIncomplete {
                    room: room.clone(),
                    histories: *histories,
                    bytes: *bytes,
                });
            }
            ChatEvent::Earlier { room, req, answer } => {
                let conv = Conversation::Room(room.clone());
                let oldest = self.model.messages(&conv).first().map(|m| m.sent_at);
                if let Some((state, before)) = self.earlier.get_mut(room) {
                    if matches!(state, Earlier::Asking { req: r, .. } if r == req) {
                        *state = match answer {
                            Ok(true) => Earlier::More,
                            Ok(false) => Earlier::Beginning,
                            Err(words) => Earlier::Unavailable(Some(words.clone())),
                        };
                        // The next page ends where this one did; if it brought nothing older, just before.
                        *before = match oldest {
                            Some(o) if o < *before => o,
                            _ => before.saturating_sub(1),
                        };
                    }
                }
                self.arm_earlier();
            }
            ChatEvent::Closed(reason) => {
                self.connected_since = 0;
                if reason.retry() {
                    // An unreachable broker is given up for the next one; a reload stays on that one.
                    if self.brokers.lost() && self.stored.contains_key(&Record::Broker) {
                        self.store(Record::Broker, self.brokers.current().to_owned());
                    }
                    self.schedule_retry(reason.clone(), env);
                } else {
                    self.status = Status::Disconnected(Some(reason.clone()));
                }
            }
            ChatEvent::Message(_) | ChatEvent::Presence { .. } | ChatEvent::Change { .. } => {}
            ChatEvent::Typing { .. } => {}
        }
        let typing = matches!(event, ChatEvent::Typing { typing: true, .. });
        if let Some(m) = self.model.apply(&event, env.wall) {
            if m.conversation == *self.model.current() {
                self.heard_count += 1;
                self.heard.push_back((self.heard_count, m.clone()));
                if self.heard.len() > HEARD {
                    self.heard.pop_front();
                }
            }
            if self.hidden {
                self.unseen += 1;
                if let Content::Text(text) = &m.content {
                    let sender = super::names::display(&m.sender);
                    let me = self.model.me();
                    let title = if super::model::mentions(text, me) {
                        format!("{sender} mentioned you in {}", m.conversation)
                    } else {
                        format!("{sender} in {}", m.conversation)
                    };
                    self.out.push_back(Output::Notify {
                        title,
                        body: text.clone(),
                    });
                }
            }
        }
        if typing {
            self.arm_expiry(env);
        }
    }

    fn arm_expiry(&mut self, env: Env) {
        match self.model.next_expiry() {
            Some(until) => {
                let delay = u64::try_from(until.saturating_sub(env.wall)).unwrap_or(0);
                self.arm(Timer::Expire, env.now.saturating_add(delay));
            }
            None => self.disarm(Timer::Expire),
        }
    }

    fn arm(&mut self, timer: Timer, at: Millis) {
        if self.armed.get(&timer) != Some(&at) {
            self.armed.insert(timer, at);
            self.out.push_back(Output::SetTimer(timer, at));
        }
    }

    /// Arms `timer` for `at` at the latest: one armed sooner stays, fires early, finds nothing due and is armed
    /// again. The session's deadline (its next keep-alive) moves later with every packet it sends: moving the
    /// timer each time cost the browser a timer set and cleared per message received.
    fn arm_by(&mut self, timer: Timer, at: Millis) {
        if self.armed.get(&timer).is_none_or(|&armed| armed > at) {
            self.arm(timer, at);
        }
    }

    fn disarm(&mut self, timer: Timer) {
        if self.armed.remove(&timer).is_some() {
            self.out.push_back(Output::CancelTimer(timer));
        }
    }

    // --- Storage -----------------------------------------------------------------------------------------

    fn store(&mut self, record: Record, value: String) {
        if self.stored.get(&record) != Some(&value) {
            self.stored.insert(record.clone(), value.clone());
            self.out.push_back(Output::Store(record, value));
        }
    }

    fn forget(&mut self, record: Record) {
        if self.stored.remove(&record).is_some() {
            self.out.push_back(Output::Remove(record));
        }
    }

    /// The stored value, made from `prefix` and 16 random hex digits and stored the first time (an id within
    /// the 1–23 characters every broker must accept as a client id [MQTT-3.1.3-5]).
    fn get_or_make(&mut self, record: Record, prefix: &str, env: Env) -> String {
        if let Some(value) = self.stored.get(&record) {
            return value.clone();
        }
        let value = format!("{prefix}{:016x}", env.random);
        self.store(record, value.clone());
        value
    }

    fn save_rooms(&mut self) {
        let rooms = self.model.rooms().join("/");
        self.store(Record::Rooms, rooms);
    }

    /// The outbox saved for `user`; an unreadable one is kept aside (never overwritten) and reported.
    fn load_outbox(&mut self, user: &str) -> Outbox {
        let record = Record::Outbox(user.to_owned());
        let Some(json) = self.stored.get(&record).cloned() else {
            return Outbox::default();
        };
        match Outbox::parse(&json) {
            Ok(outbox) => outbox,
            Err(error) => {
                let aside = Record::Unreadable(record.key());
                self.notice = Some(Notice::OutboxUnreadable {
                    error,
                    kept_as: aside.key(),
                });
                self.store(aside, json);
                Outbox::default()
            }
        }
    }

    fn save_outbox(&mut self) {
        if let Some(me) = self.me().map(str::to_owned) {
            let json = self.outbox.to_json();
            self.store(Record::Outbox(me), json);
        }
    }

    /// The people `user` muted (none if the record is missing or unreadable).
    fn load_muted(&self, user: &str) -> Vec<String> {
        self.stored
            .get(&Record::Muted(user.to_owned()))
            .and_then(|json| serde_json::from_slice(json.as_bytes()).ok())
            .unwrap_or_default()
    }

    fn save_muted(&mut self) {
        if let Some(me) = self.me().map(str::to_owned) {
            let muted: Vec<String> = self.model.muted().into_iter().map(|(u, _)| u).collect();
            // JSON made of strings is UTF-8.
            let json = String::from_utf8_lossy(&super::message::to_json(&muted)).into_owned();
            self.store(Record::Muted(me), json);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::Delivery;
    use mqtt::{ConnAck, ConnectReturnCode, Decoder, Packet, Pid, QoS, SubAck};

    /// A scripted broker: answers what the core sends (CONNACK, SUBACK, PUBACK) and remembers what was
    /// published to it, as (topic, payload).
    #[derive(Default)]
    struct Broker {
        published: Vec<(String, String)>,
        /// Answer PUBLISH with PUBACK.
        ack: bool,
    }

    impl Broker {
        fn answer(&mut self, bytes: &[u8]) -> Vec<u8> {
            let mut out = Vec::new();
            let mut d = Decoder::new(1 << 24);
            d.push(bytes);
            while let Ok(Some(p)) = d.next_packet() {
                let reply = match p {
                    Packet::Connect(_) => Some(Packet::ConnAck(ConnAck {
                        session_present: false,
                        code: ConnectReturnCode::Accepted,
                    })),
                    Packet::Subscribe(s) => Some(Packet::SubAck(SubAck {
                        pid: s.pid,
                        return_codes: vec![Some(QoS::AtMostOnce); s.topics.len()].into(),
                    })),
                    Packet::Publish(p) => {
                        self.published.push((
                            p.topic.as_str().to_owned(),
                            String::from_utf8_lossy(p.payload).into_owned(),
                        ));
                        match p.qospid.pid() {
                            Some(pid) if self.ack => Some(Packet::PubAck(pid)),
                            _ => None,
                        }
                    }
                    Packet::Unsubscribe(u) => Some(Packet::UnsubAck(u.pid)),
                    _ => None,
                };
                if let Some(reply) = reply {
                    reply.encode(&mut out).unwrap();
                }
            }
            out
        }
    }

    /// The shell of a test: carries out outputs against storage (a map) and a scripted broker, in simulated
    /// time.
    struct Shell {
        app: App,
        env: Env,
        storage: SortedMap<String, String>,
        broker: Broker,
        /// Whether a transport is open (a broker is reachable when `up`).
        connected: bool,
        up: bool,
        timers: SortedMap<Timer, Millis>,
        connects: Vec<String>,
        notifications: Vec<String>,
        /// The device's cache, as IndexedDB keeps it: (user, row key) -> value; (user, conversation) ->
        /// value; rows set aside. `quota`: how many message rows fit.
        cache: SortedMap<(String, cache::RowKey), String>,
        cache_convs: SortedMap<(String, String), String>,
        aside: Vec<cache::Row>,
        quota: usize,
        /// Connections opened and caches loaded, in order.
        order: Vec<&'static str>,
    }

    fn env(now: Millis) -> Env {
        Env {
            now,
            wall: 1_700_000_000_000 + now as i64,
            random: 0,
        }
    }

    impl Shell {
        fn new(brokers: &str, storage: SortedMap<String, String>) -> Self {
            let stored: Vec<(String, String)> = storage
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            Self {
                app: App::new(stored, Brokers::parse(brokers, None).unwrap(), None),
                env: env(0),
                storage,
                broker: Broker {
                    ack: true,
                    ..Broker::default()
                },
                connected: false,
                up: true,
                timers: SortedMap::default(),
                connects: Vec::new(),
                notifications: Vec::new(),
                cache: SortedMap::default(),
                cache_convs: SortedMap::default(),
                aside: Vec::new(),
                quota: usize::MAX,
                order: Vec::new(),
            }
        }

        /// What the cache holds of `user`, as `net::cache` loads it: every conversation row, the newest
        /// [`cache::PER_CONVERSATION`] messages of each, newest first.
        fn load(&self, user: &str) -> Loaded {
            let conversations: Vec<(String, String)> = self
                .cache_convs
                .iter()
                .filter(|((u, _), _)| u == user)
                .map(|((_, c), v)| (c.clone(), v.clone()))
                .collect();
            let mut messages = Vec::new();
            for (conv, _) in &conversations {
                let rows = self
                    .cache
                    .iter()
                    .filter(|((u, k), _)| u == user && k.conversation == *conv)
                    .map(|((_, k), v)| cache::Row {
                        conversation: k.conversation.clone(),
                        sent_at: k.sent_at,
                        sender: k.sender.clone(),
                        id: k.id.clone(),
                        value: v.clone(),
                    })
                    .collect::<Vec<_>>();
                messages.extend(rows.into_iter().rev().take(cache::PER_CONVERSATION));
            }
            Loaded {
                conversations,
                messages,
            }
        }

        /// Carries out a batch of writes, all or nothing, as one IndexedDB transaction.
        fn write(&mut self, user: &str, writes: Vec<Write>) -> Result<(), CacheError> {
            let mut cache = self.cache.clone();
            let mut convs = self.cache_convs.clone();
            for w in writes {
                match w {
                    Write::Put(row) => {
                        cache.insert((user.to_owned(), row.key()), row.value);
                    }
                    Write::Delete(key) => {
                        cache.remove(&(user.to_owned(), key));
                    }
                    Write::PutConversation {
                        conversation,
                        value,
                    } => {
                        convs.insert((user.to_owned(), conversation), value);
                    }
                    Write::DeleteConversation(c) => {
                        convs.remove(&(user.to_owned(), c.clone()));
                        let keys: Vec<_> = cache
                            .keys()
                            .filter(|(u, k)| u == user && k.conversation == c)
                            .cloned()
                            .collect();
                        for k in keys {
                            cache.remove(&k);
                        }
                    }
                    Write::SetAside(row) => {
                        cache.remove(&(user.to_owned(), row.key()));
                        self.aside.push(row);
                    }
                }
            }
            if cache.len() > self.quota {
                return Err(CacheError::Quota);
            }
            self.cache = cache;
            self.cache_convs = convs;
            Ok(())
        }

        fn handle(&mut self, input: Input<'_>) -> Result<(), Refusal> {
            let result = self.app.handle(input, self.env);
            self.run();
            result
        }

        /// Carries out every output; a connection to a broker that is up opens, one to a broker that is
        /// down fails.
        fn run(&mut self) {
            while let Some(out) = self.app.poll_output() {
                match out {
                    Output::Connect(url) => {
                        self.order.push("connect");
                        self.connects.push(url);
                        let input = if self.up {
                            Input::Opened
                        } else {
                            Input::Closed
                        };
                        self.connected = self.up;
                        self.app.handle(input, self.env).unwrap();
                    }
                    Output::Send(bytes) if self.connected => {
                        let reply = self.broker.answer(&bytes);
                        if !reply.is_empty() {
                            self.app.handle(Input::Bytes(&reply), self.env).unwrap();
                        }
                    }
                    Output::Send(_) => {}
                    Output::Disconnect => self.connected = false,
                    // The cache's batch goes out at once here: the tests look at the cache after each input.
                    Output::SetTimer(Timer::Cache, _) => {
                        self.app
                            .handle(Input::Timer(Timer::Cache), self.env)
                            .unwrap();
                    }
                    Output::SetTimer(t, at) => {
                        self.timers.insert(t, at);
                    }
                    Output::CancelTimer(t) => {
                        self.timers.remove(&t);
                    }
                    Output::Store(r, v) => {
                        self.storage.insert(r.key(), v);
                    }
                    Output::Remove(r) => {
                        self.storage.remove(&r.key());
                    }
                    Output::Notify { title, .. } => self.notifications.push(title),
                    Output::Show(_) => {}
                    Output::LoadCache(user) => {
                        self.order.push("load");
                        let loaded = self.load(&user);
                        self.app
                            .handle(Input::CacheLoaded(Ok(loaded)), self.env)
                            .unwrap();
                    }
                    Output::Cache { user, writes } => {
                        if let Err(e) = self.write(&user, writes) {
                            self.app.handle(Input::CacheFailed(e), self.env).unwrap();
                        }
                    }
                    Output::ClearCache(user) => {
                        let keys: Vec<_> = self
                            .cache
                            .keys()
                            .filter(|(u, _)| *u == user)
                            .cloned()
                            .collect();
                        for k in keys {
                            self.cache.remove(&k);
                        }
                        let keys: Vec<_> = self
                            .cache_convs
                            .keys()
                            .filter(|(u, _)| *u == user)
                            .cloned()
                            .collect();
                        for k in keys {
                            self.cache_convs.remove(&k);
                        }
                    }
                }
            }
        }

        /// The broker went away: the transport closes.
        fn drop_connection(&mut self) {
            self.connected = false;
            self.handle(Input::Closed).unwrap();
        }

        /// Advances simulated time to the next armed timer and fires it.
        fn fire(&mut self, timer: Timer) -> Millis {
            let at = *self.timers.get(&timer).expect("armed");
            self.timers.remove(&timer);
            self.env = env(at);
            self.handle(Input::Timer(timer)).unwrap();
            at
        }
    }

    fn join(shell: &mut Shell, name: &str) {
        shell
            .handle(Input::Join {
                name: name.into(),
                brokers: shell.app.brokers().to_list(),
                password: None,
            })
            .unwrap();
    }

    /// The rooms named by the newest presence this tab published.
    fn announced_rooms(s: &Shell) -> Vec<String> {
        let (_, json) = s
            .broker
            .published
            .iter()
            .rev()
            .find(|(t, p)| t.starts_with("chat/users/alice/presence/") && !p.is_empty())
            .expect("a presence");
        let presence: serde_json::Value = serde_json::from_str(json).unwrap();
        serde_json::from_value(presence["rooms"].clone()).unwrap()
    }

    #[test]
    fn the_rooms_are_one_list_that_is_shown_announced_and_stored() {
        let mut s = Shell::new("ws://a:1", SortedMap::default());
        join(&mut s, "alice");
        s.handle(Input::JoinRoom("rust".into())).unwrap();
        s.handle(Input::JoinRoom("café".into())).unwrap();
        s.handle(Input::Close(Conversation::Room("rust".into())))
            .unwrap();
        let rooms = s.app.model().rooms();
        assert_eq!(rooms, ["café", "general"]);
        assert_eq!(announced_rooms(&s), rooms);
        assert_eq!(
            s.storage.get("mqtt-chat.rooms").map_or("", String::as_str),
            rooms.join("/")
        );
    }

    #[test]
    fn an_unsent_message_to_a_room_left_joins_it_again_everywhere_at_once() {
        let mut s = Shell::new("ws://a:1", SortedMap::default());
        join(&mut s, "alice");
        s.handle(Input::JoinRoom("rust".into())).unwrap();
        s.broker.ack = false;
        s.handle(Input::Send("still here?".into())).unwrap();
        s.handle(Input::Close(Conversation::Room("rust".into())))
            .unwrap();
        assert_eq!(announced_rooms(&s), ["general"]);
        // A new connection sends the outbox again: into #rust, which the tab is then in, on screen, in its
        // presence and in storage alike.
        s.broker.ack = true;
        s.handle(Input::Reconnect).unwrap();
        assert_eq!(s.app.status(), &Status::Connected);
        let rooms = s.app.model().rooms();
        assert_eq!(rooms, ["general", "rust"]);
        assert_eq!(announced_rooms(&s), rooms);
        assert_eq!(
            s.storage.get("mqtt-chat.rooms").map_or("", String::as_str),
            rooms.join("/")
        );
        assert!(!s.app.has_unsent());
        let rust = s.app.model().messages(&Conversation::Room("rust".into()));
        assert_eq!(rust.len(), 1);
        assert_eq!(s.app.delivery(&rust[0]), Delivery::Sent);
    }

    #[test]
    fn an_own_message_is_pending_exactly_while_it_waits_in_the_outbox() {
        let mut s = Shell::new("ws://a:1", SortedMap::default());
        join(&mut s, "alice");
        s.broker.ack = false;
        s.handle(Input::Send("hello".into())).unwrap();
        let general = Conversation::Room("general".into());
        let m = s.app.model().messages(&general)[0].clone();
        assert_eq!(s.app.delivery(&m), Delivery::Pending);
        assert!(s
            .storage
            .get("mqtt-chat.outbox.alice")
            .map_or("", String::as_str)
            .contains("hello"));
        // The session sends it again on the next connection; the PUBACK takes it out of the outbox.
        s.broker.ack = true;
        s.drop_connection();
        s.fire(Timer::Retry);
        assert_eq!(s.app.status(), &Status::Connected);
        assert_eq!(s.app.delivery(&m), Delivery::Sent);
        assert_eq!(
            s.storage
                .get("mqtt-chat.outbox.alice")
                .map_or("", String::as_str),
            "[]"
        );
        assert_eq!(s.app.model().messages(&general).len(), 1, "shown once");
        let copies = s
            .broker
            .published
            .iter()
            .filter(|(t, _)| t == "chat/rooms/general/messages/alice")
            .count();
        assert_eq!(copies, 2, "the first try and the resend, the same message");
    }

    #[test]
    fn a_refused_action_that_no_control_shows_becomes_the_notice() {
        let mut s = Shell::new("ws://a:1", SortedMap::default());
        s.app.act(Input::Reconnect, s.env);
        assert_eq!(s.app.notice(), Some(&Notice::Refused(Refusal::SignedOut)));
        assert_eq!(
            s.app.handle(Input::Reconnect, s.env),
            Err(Refusal::SignedOut),
            "asked directly, the refusal is the answer"
        );
    }

    #[test]
    fn joining_connects_subscribes_and_remembers_the_tab() {
        let mut s = Shell::new("ws://a:1", SortedMap::default());
        join(&mut s, "alice");
        assert_eq!(s.app.status(), &Status::Connected);
        assert_eq!(s.connects, ["ws://a:1"]);
        assert_eq!(
            s.storage.get("mqtt-chat.name").map(String::as_str),
            Some("alice")
        );
        assert_eq!(
            s.storage.get("mqtt-chat.rooms").map(String::as_str),
            Some("general")
        );
        assert!(s
            .storage
            .get("mqtt-chat.client-id")
            .is_some_and(|id| id.starts_with("mc")));
        assert!(
            s.broker
                .published
                .iter()
                .any(|(t, _)| t.starts_with("chat/users/alice/presence/")),
            "online: presence published"
        );
        assert!(
            s.timers.contains_key(&Timer::Session),
            "the keep-alive is armed"
        );
    }

    #[test]
    fn a_bad_name_or_broker_list_is_refused_without_connecting() {
        let mut s = Shell::new("ws://a:1", SortedMap::default());
        let bad = s.handle(Input::Join {
            name: "a/b".into(),
            brokers: "ws://a:1".into(),
            password: None,
        });
        assert_eq!(bad, Err(Refusal::Name(NameError::Forbidden('/'))));
        let bad = s.handle(Input::Join {
            name: "bob".into(),
            brokers: "http://x".into(),
            password: None,
        });
        assert!(matches!(bad, Err(Refusal::Brokers(_))));
        assert!(s.connects.is_empty() && s.app.me().is_none());
    }

    #[test]
    fn a_lost_connection_backs_off_1_2_4_up_to_30_seconds_and_resets_once_connected() {
        let mut s = Shell::new("ws://a:1", SortedMap::default());
        join(&mut s, "alice");
        s.up = false;
        s.drop_connection();
        let mut waits = Vec::new();
        for _ in 0..8 {
            let Status::Reconnecting { at, .. } = s.app.status().clone() else {
                panic!("{:?}", s.app.status())
            };
            let from = s.env.now;
            let fired = s.fire(Timer::Retry);
            waits.push(fired - from);
            assert_eq!(at, s.env.wall, "the status says when");
        }
        // random = 0: the shortest wait of each step, half the base.
        assert_eq!(
            waits,
            [500, 1_000, 2_000, 4_000, 8_000, 15_000, 15_000, 15_000]
        );
        assert!(
            matches!(s.app.status(), Status::Reconnecting { reason, .. } if *reason == Ended::Unreachable("ws://a:1".into()))
        );
        s.up = true;
        s.fire(Timer::Retry);
        assert_eq!(s.app.status(), &Status::Connected);
        s.up = false;
        s.drop_connection();
        let from = s.env.now;
        assert_eq!(s.fire(Timer::Retry) - from, 500, "the backoff starts over");
    }

    #[test]
    fn the_jitter_shortens_a_wait_by_at_most_half() {
        let mut s = Shell::new("ws://a:1", SortedMap::default());
        join(&mut s, "alice");
        s.env.random = u64::MAX;
        s.drop_connection();
        let at = *s.timers.get(&Timer::Retry).unwrap();
        assert!(
            at - s.env.now <= 1_000 && at - s.env.now >= 500,
            "{}",
            at - s.env.now
        );
    }

    #[test]
    fn a_broker_that_cannot_be_reached_is_given_up_for_the_next_and_a_reload_stays_there() {
        let mut s = Shell::new("ws://a:1,ws://b:2", SortedMap::default());
        join(&mut s, "alice");
        // a drops the connection: one more try on a, then b.
        s.up = false;
        s.drop_connection();
        s.fire(Timer::Retry);
        s.up = true;
        s.fire(Timer::Retry);
        assert_eq!(s.connects, ["ws://a:1", "ws://a:1", "ws://b:2"]);
        assert_eq!(s.app.brokers().current(), "ws://b:2");
        assert_eq!(
            s.storage.get("mqtt-chat.broker").map(String::as_str),
            Some("ws://b:2")
        );
        // A reload (a new core from storage) resumes on b.
        let mut reloaded = Shell::new("ws://a:1,ws://b:2", s.storage.clone());
        reloaded.handle(Input::Resume).unwrap();
        assert_eq!(reloaded.connects, ["ws://b:2"]);
        assert_eq!(reloaded.app.me(), Some("alice"));
    }

    #[test]
    fn the_outbox_is_stored_resent_after_a_reload_and_emptied_by_the_puback() {
        let mut s = Shell::new("ws://a:1", SortedMap::default());
        s.broker.ack = false;
        join(&mut s, "alice");
        assert!(!s.app.has_unsent());
        s.handle(Input::Send("hello".into())).unwrap();
        assert!(s.app.has_unsent(), "not acknowledged yet");
        let stored = s.storage.get("mqtt-chat.outbox.alice").cloned().unwrap();
        assert!(stored.contains("hello"), "{stored}");
        let id = s
            .app
            .model()
            .messages(&Conversation::Room("general".into()))[0]
            .id
            .clone();
        // The page is reloaded before the broker acknowledged it.
        let mut reloaded = Shell::new("ws://a:1", s.storage.clone());
        reloaded.handle(Input::Resume).unwrap();
        let resent: Vec<_> = reloaded
            .broker
            .published
            .iter()
            .filter(|(t, p)| t == "chat/rooms/general/messages/alice" && p.contains(&id))
            .collect();
        assert_eq!(resent.len(), 1, "sent again with the same id");
        let shown = reloaded
            .app
            .model()
            .messages(&Conversation::Room("general".into()));
        assert_eq!(shown.len(), 1);
        assert_eq!(
            reloaded.app.delivery(&shown[0]),
            Delivery::Sent,
            "acknowledged this time"
        );
        assert!(!reloaded.app.has_unsent());
        assert_eq!(
            reloaded
                .storage
                .get("mqtt-chat.outbox.alice")
                .map(String::as_str),
            Some("[]")
        );
    }

    #[test]
    fn an_unreadable_outbox_is_kept_aside_and_reported() {
        let mut storage = SortedMap::default();
        storage.insert("mqtt-chat.outbox.alice".to_owned(), "{broken".to_owned());
        let mut s = Shell::new("ws://a:1", storage);
        join(&mut s, "alice");
        assert_eq!(
            s.storage
                .get("mqtt-chat.outbox.alice.unreadable")
                .map(String::as_str),
            Some("{broken")
        );
        assert!(s.app.notice().is_some_and(|n| n
            .to_string()
            .contains("kept as mqtt-chat.outbox.alice.unreadable")));
    }

    #[test]
    fn rooms_and_mutes_survive_a_reload() {
        let mut s = Shell::new("ws://a:1", SortedMap::default());
        join(&mut s, "alice");
        s.handle(Input::JoinRoom("rust".into())).unwrap();
        s.handle(Input::Mute("eve".into())).unwrap();
        assert_eq!(
            s.storage.get("mqtt-chat.rooms").map(String::as_str),
            Some("general/rust")
        );
        assert_eq!(
            s.storage.get("mqtt-chat.muted.alice").map(String::as_str),
            Some(r#"["eve"]"#)
        );
        let mut reloaded = Shell::new("ws://a:1", s.storage.clone());
        reloaded.handle(Input::Resume).unwrap();
        assert_eq!(reloaded.app.model().rooms(), ["general", "rust"]);
        // Without a URL naming one, the first room shows.
        assert_eq!(
            reloaded.app.model().current(),
            &Conversation::Room("general".into())
        );
        assert!(reloaded.app.model().is_muted("eve"));
        s.handle(Input::Close(Conversation::Room("rust".into())))
            .unwrap();
        assert_eq!(
            s.storage.get("mqtt-chat.rooms").map(String::as_str),
            Some("general")
        );
        assert_eq!(
            s.handle(Input::JoinRoom("a#b".into())),
            Err(Refusal::Name(NameError::Forbidden('#')))
        );
    }

    /// A PUBLISH from the broker of `sender`'s message `id` in `topic` (QoS 0).
    fn incoming(topic: &str, id: &str, text: &str, sent_at: i64) -> Vec<u8> {
        let payload = format!(r#"{{"id":"{id}","text":"{text}","sent_at":{sent_at}}}"#);
        let mut bytes = Vec::new();
        Packet::Publish(mqtt::Publish {
            dup: false,
            qospid: mqtt::QosPid::AtMostOnce,
            retain: false,
            topic: mqtt::TopicName::new(topic).unwrap(),
            payload: payload.as_bytes(),
        })
        .encode(&mut bytes)
        .unwrap();
        bytes
    }

    /// The same tab reloaded: a new core with what the old one stored and cached, the broker `up` or not.
    fn reload(s: &Shell, up: bool) -> Shell {
        let mut again = Shell::new("ws://a:1", s.storage.clone());
        again.cache = s.cache.clone();
        again.cache_convs = s.cache_convs.clone();
        again.up = up;
        again.env = s.env;
        again
    }

    fn texts(s: &Shell, conv: &Conversation) -> Vec<String> {
        s.app
            .model()
            .messages(conv)
            .iter()
            .map(|m| match &m.content {
                Content::Text(t) => t.clone(),
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn a_reload_shows_what_the_page_showed_before_connecting_and_each_message_once() {
        let general = Conversation::Room("general".into());
        let mut s = Shell::new("ws://a:1", SortedMap::default());
        join(&mut s, "alice");
        const T: i64 = 1_700_000_000_000; // the shell's clock at 0
        s.handle(Input::Bytes(&incoming(
            "chat/rooms/general/messages/bob",
            "b1",
            "hi alice",
            T - 2_000,
        )))
        .unwrap();
        s.handle(Input::Send("hi bob".into())).unwrap();
        s.handle(Input::Bytes(&incoming(
            "chat/users/alice/dm/bob",
            "b2",
            "psst",
            T - 1_000,
        )))
        .unwrap();
        assert_eq!(texts(&s, &general), ["hi alice", "hi bob"]);

        // Reloaded with the broker down: the conversation is drawn from the device, before any connection
        // opens, and the tab says it is offline.
        let mut r = reload(&s, false);
        r.handle(Input::Resume).unwrap();
        assert_eq!(
            r.order,
            ["load", "connect"],
            "drawn before the socket opens"
        );
        assert_eq!(texts(&r, &general), ["hi alice", "hi bob"]);
        let bob = Conversation::Direct("bob".into());
        assert_eq!(
            texts(&r, &bob),
            ["psst"],
            "the direct conversation is back too"
        );
        assert!(
            r.app
                .model()
                .conversations()
                .iter()
                .any(|(c, n)| *c == bob && *n == 1),
            "unread, still"
        );
        assert!(matches!(r.app.status(), Status::Reconnecting { .. }));
        let shown = r.app.model().messages(&general);
        assert_eq!(r.app.delivery(&shown[1]), Delivery::Sent);

        // The broker comes back and sends the same messages again (a history, a redelivery): each once.
        r.up = true;
        r.fire(Timer::Retry);
        assert_eq!(r.app.status(), &Status::Connected);
        r.handle(Input::Bytes(&incoming(
            "chat/rooms/general/messages/bob",
            "b1",
            "hi alice",
            T - 2_000,
        )))
        .unwrap();
        r.handle(Input::Bytes(&incoming(
            "chat/rooms/general/messages/bob",
            "b3",
            "back",
            T + 5_000,
        )))
        .unwrap();
        assert_eq!(texts(&r, &general), ["hi alice", "hi bob", "back"]);
        let rows = r
            .cache
            .keys()
            .filter(|(_, k)| k.conversation == "#general")
            .count();
        assert_eq!(rows, 3, "written once each, incrementally");
    }

    #[test]
    fn the_device_keeps_the_newest_500_of_a_conversation_and_fewer_when_the_quota_is_short() {
        let general = Conversation::Room("general".into());
        let mut s = Shell::new("ws://a:1", SortedMap::default());
        join(&mut s, "alice");
        for i in 0..520 {
            let id = format!("b{i}");
            s.handle(Input::Bytes(&incoming(
                "chat/rooms/general/messages/bob",
                &id,
                "x",
                1_000 + i,
            )))
            .unwrap();
        }
        let kept: Vec<i64> = s.cache.keys().map(|(_, k)| k.sent_at).collect();
        assert_eq!(kept.len(), cache::PER_CONVERSATION);
        assert_eq!(kept.first(), Some(&1_020), "the oldest 20 evicted");
        // An older message arriving late is not kept: the 500 newest are.
        s.handle(Input::Bytes(&incoming(
            "chat/rooms/general/messages/carol",
            "c0",
            "old",
            5,
        )))
        .unwrap();
        assert_eq!(s.cache.len(), cache::PER_CONVERSATION);
        assert_eq!(
            s.app.model().messages(&general).len(),
            521,
            "all shown on this page"
        );

        // The quota is used up: half as many are kept, and the user is told.
        s.quota = 400;
        s.handle(Input::Bytes(&incoming(
            "chat/rooms/general/messages/bob",
            "new",
            "x",
            9_999,
        )))
        .unwrap();
        assert_eq!(s.cache.len(), 250);
        assert_eq!(s.app.notice(), Some(&Notice::CacheFull { kept: 250 }));
        assert!(
            s.cache.keys().any(|(_, k)| k.id == "new"),
            "the newest kept"
        );
    }

    #[test]
    fn the_caches_writes_go_out_in_one_batch_per_250_ms() {
        let mut s = Shell::new("ws://a:1", SortedMap::default());
        join(&mut s, "alice");
        // A quiet second later.
        s.env = env(1_000);
        let mut outputs = Vec::new();
        for i in 0..20 {
            let id = format!("b{i}");
            s.app
                .handle(
                    Input::Bytes(&incoming(
                        "chat/rooms/general/messages/bob",
                        &id,
                        "x",
                        10 + i,
                    )),
                    s.env,
                )
                .unwrap();
            outputs.extend(std::iter::from_fn(|| s.app.poll_output()));
        }
        let armed: Vec<&Output> = outputs
            .iter()
            .filter(|o| matches!(o, Output::SetTimer(Timer::Cache, _)))
            .collect();
        assert!(!armed.is_empty(), "{outputs:?}");
        let batches: Vec<&Output> = outputs
            .iter()
            .filter(|o| matches!(o, Output::Cache { .. }))
            .collect();
        assert_eq!(batches.len(), 1, "the first at once, after a quiet spell");
        s.app.handle(Input::Timer(Timer::Cache), s.env).unwrap();
        let batch: Vec<Output> = std::iter::from_fn(|| s.app.poll_output()).collect();
        let [Output::Cache { writes, .. }] = &batch[..] else {
            panic!("{batch:?}")
        };
        let puts = writes.iter().filter(|w| matches!(w, Write::Put(_))).count();
        assert_eq!(puts, 19, "the other nineteen messages, in one batch");
        // The page going away sends what is gathered at once.
        s.app
            .handle(
                Input::Bytes(&incoming(
                    "chat/rooms/general/messages/bob",
                    "last",
                    "x",
                    99,
                )),
                s.env,
            )
            .unwrap();
        s.app.handle(Input::Leave, s.env).unwrap();
        let out: Vec<Output> = std::iter::from_fn(|| s.app.poll_output()).collect();
        assert!(
            out.iter().any(|o| matches!(o, Output::Cache { .. })),
            "{out:?}"
        );
    }

    #[test]
    fn a_record_the_browser_would_not_store_is_reported_and_written_again_next_time() {
        let mut s = Shell::new("ws://a:1", SortedMap::default());
        join(&mut s, "alice");
        s.broker.ack = false;
        s.handle(Input::Send("one".into())).unwrap();
        let outbox = Record::Outbox("alice".into());
        s.handle(Input::NotStored(outbox.clone())).unwrap();
        let words = s.app.notice().map(ToString::to_string).unwrap_or_default();
        assert!(words.contains("would not survive a reload"), "{words}");
        s.storage.remove(&outbox.key());
        s.handle(Input::Send("two".into())).unwrap();
        let stored = s.storage.get(&outbox.key()).cloned().unwrap_or_default();
        assert!(stored.contains("one") && stored.contains("two"), "{stored}");
    }

    #[test]
    fn rows_that_cannot_be_read_are_set_aside_and_reported() {
        let mut s = Shell::new("ws://a:1", SortedMap::default());
        join(&mut s, "alice");
        s.handle(Input::Bytes(&incoming(
            "chat/rooms/general/messages/bob",
            "b1",
            "ok",
            10,
        )))
        .unwrap();
        let key = cache::RowKey {
            conversation: "#general".into(),
            sent_at: 11,
            sender: "bob".into(),
            id: "b2".into(),
        };
        s.cache.insert(
            ("alice".into(), key.clone()),
            r#"{"v":99,"text":"from the future"}"#.into(),
        );
        let mut r = reload(&s, true);
        r.handle(Input::Resume).unwrap();
        assert_eq!(texts(&r, &Conversation::Room("general".into())), ["ok"]);
        assert_eq!(r.app.notice(), Some(&Notice::CacheUnreadable(1)));
        assert_eq!(r.aside.len(), 1, "kept aside, not lost");
        assert!(!r.cache.contains_key(&("alice".into(), key)));
    }

    #[test]
    fn a_history_the_broker_lost_comes_back_from_the_device_after_a_reload() {
        let mut s = Shell::new("ws://a:1", SortedMap::default());
        join(&mut s, "alice");
        for text in ["one", "two", "three"] {
            s.env = env(s.env.now + 1_000);
            s.handle(Input::Send(text.into())).unwrap();
        }
        // The broker lost everything (its persistence file deleted); the tab is reloaded.
        let mut r = reload(&s, true);
        r.handle(Input::Resume).unwrap();
        assert_eq!(r.app.status(), &Status::Connected);
        let (_, json) = r
            .broker
            .published
            .iter()
            .rev()
            .find(|(t, _)| t.starts_with("chat/rooms/general/history/"))
            .expect("the history published again");
        let texts: Vec<String> = crate::chat::message::parse_history(json.as_bytes())
            .unwrap()
            .messages
            .into_iter()
            .map(|p| p.text)
            .collect();
        assert_eq!(texts, ["one", "two", "three"]);
    }

    fn raw(topic: &str, payload: &str, retain: bool) -> Vec<u8> {
        let mut bytes = Vec::new();
        Packet::Publish(mqtt::Publish {
            dup: false,
            qospid: mqtt::QosPid::AtMostOnce,
            retain,
            topic: mqtt::TopicName::new(topic).unwrap(),
            payload: payload.as_bytes(),
        })
        .encode(&mut bytes)
        .unwrap();
        bytes
    }

    /// The newest history this tab published for `room`, as read back.
    fn published_history(s: &Shell, room: &str) -> crate::chat::message::History {
        let prefix = format!("chat/rooms/{room}/history/");
        let (_, json) = s
            .broker
            .published
            .iter()
            .rev()
            .find(|(t, j)| t.starts_with(&prefix) && !j.is_empty())
            .expect("a history published");
        crate::chat::message::parse_history(json.as_bytes()).unwrap()
    }

    fn cached_texts(s: &Shell) -> Vec<String> {
        s.cache
            .iter()
            .filter_map(|((_, key), value)| {
                let row = cache::Row {
                    conversation: key.conversation.clone(),
                    sent_at: key.sent_at,
                    sender: key.sender.clone(),
                    id: key.id.clone(),
                    value: value.clone(),
                };
                match cache::message_of(&row)?.content {
                    Content::Text(t) => Some(t),
                    _ => None,
                }
            })
            .collect()
    }

    #[test]
    fn own_edits_deletions_and_reactions_show_at_once_and_reach_the_broker_the_history_and_the_device(
    ) {
        const T: i64 = 1_700_000_000_000;
        let general = Conversation::Room("general".into());
        let mut s = Shell::new("ws://a:1", SortedMap::default());
        s.broker.ack = true;
        join(&mut s, "alice");
        s.handle(Input::Bytes(&incoming(
            "chat/rooms/general/messages/bob",
            "b1",
            "lunch?",
            T - 5_000,
        )))
        .unwrap();
        s.handle(Input::Send("helo".into())).unwrap();
        let id = s.app.last_own().unwrap().id.clone();

        s.env = env(s.env.now + 1_000);
        let edit = |text: &str| Input::Edit {
            conversation: general.clone(),
            id: id.clone(),
            text: text.into(),
        };
        s.handle(edit("hello")).unwrap();
        assert_eq!(texts(&s, &general), ["lunch?", "hello"]);
        let mine = s.app.last_own().unwrap();
        assert_eq!(mine.edited, Some(s.env.wall), "it says when it was edited");
        assert!(mine.rev > 0, "a new revision, so the view draws it again");
        let (topic, event) = s
            .broker
            .published
            .iter()
            .rev()
            .find(|(t, _)| t.contains("/messages/"))
            .unwrap();
        assert_eq!(topic, "chat/rooms/general/messages/alice");
        assert!(
            event.contains(r#""kind":"edit""#) && event.contains(r#""text":"hello""#),
            "{event}"
        );
        let h = published_history(&s, "general");
        assert_eq!(
            h.messages.last().map(|p| (p.text.as_str(), p.edited)),
            Some(("hello", Some(s.env.wall)))
        );
        assert!(
            cached_texts(&s).contains(&"hello".to_owned())
                && !cached_texts(&s).contains(&"helo".to_owned())
        );
        assert_eq!(
            s.handle(edit("   ")),
            Err(Refusal::Send(SendError::Empty)),
            "an empty edit is refused"
        );

        // Reactions toggle.
        let react = Input::React {
            conversation: general.clone(),
            sender: "bob".into(),
            id: "b1".into(),
            emoji: "👍".into(),
        };
        s.handle(react.clone()).unwrap();
        let bobs = |s: &Shell| {
            s.app
                .model()
                .find(&general, "bob", "b1")
                .unwrap()
                .message
                .clone()
        };
        assert_eq!(bobs(&s).reactions()[0].users, ["alice"]);
        assert_eq!(published_history(&s, "general").reactions.len(), 1);
        s.env = env(s.env.now + 1_000);
        s.handle(react).unwrap();
        assert!(bobs(&s).reactions().is_empty(), "clicked again: taken back");
        let h = published_history(&s, "general");
        assert_eq!(
            h.reactions.iter().map(|r| r.on).collect::<Vec<_>>(),
            [false],
            "withdrawn, in the history"
        );

        // Nobody edits bob's message from here.
        assert_eq!(
            s.handle(Input::Edit {
                conversation: general.clone(),
                id: "b1".into(),
                text: "mine now".into()
            }),
            Err(Refusal::Send(SendError::Gone))
        );

        // Deleted: gone from view, from the device, and the history keeps its place empty.
        s.env = env(s.env.now + 1_000);
        s.handle(Input::Delete {
            conversation: general.clone(),
            id: id.clone(),
        })
        .unwrap();
        assert_eq!(texts(&s, &general), ["lunch?"]);
        assert_eq!(cached_texts(&s), ["lunch?"]);
        let h = published_history(&s, "general");
        assert!(
            h.messages.iter().all(|p| p.deleted && p.text.is_empty()),
            "{h:?}"
        );
        // A copy of it coming back (a redelivery, another tab's old history) does not show it again.
        s.handle(Input::Bytes(&incoming(
            "chat/rooms/general/messages/alice",
            &id,
            "helo",
            T,
        )))
        .unwrap();
        assert_eq!(texts(&s, &general), ["lunch?"]);
        // A reload shows what the device keeps: not the deleted message.
        let mut r = reload(&s, false);
        r.handle(Input::Resume).unwrap();
        assert_eq!(texts(&r, &general), ["lunch?"]);
    }

    #[test]
    fn a_message_edited_before_the_broker_took_it_goes_out_edited_after_a_reload() {
        let general = Conversation::Room("general".into());
        let mut s = Shell::new("ws://a:1", SortedMap::default());
        s.broker.ack = false;
        join(&mut s, "alice");
        s.handle(Input::Send("helo".into())).unwrap();
        let id = s.app.last_own().unwrap().id.clone();
        s.handle(Input::Edit {
            conversation: general.clone(),
            id: id.clone(),
            text: "hello".into(),
        })
        .unwrap();
        let mut r = reload(&s, true);
        r.broker.ack = true;
        r.handle(Input::Resume).unwrap();
        let resent: Vec<&String> = r
            .broker
            .published
            .iter()
            .filter(|(t, j)| t == "chat/rooms/general/messages/alice" && j.contains(&id))
            .map(|(_, j)| j)
            .collect();
        assert_eq!(resent.len(), 1, "{resent:?}");
        assert!(
            resent[0].contains(r#""text":"hello""#) && resent[0].contains(r#""edited":"#),
            "{}",
            resent[0]
        );
        assert_eq!(texts(&r, &general), ["hello"]);
        // Deleted while waiting: it never goes out again.
        r.broker.ack = false;
        r.handle(Input::Send("never mind".into())).unwrap();
        let id = r.app.last_own().unwrap().id.clone();
        r.handle(Input::Delete {
            conversation: general.clone(),
            id: id.clone(),
        })
        .unwrap();
        let mut again = reload(&r, true);
        again.handle(Input::Resume).unwrap();
        assert!(!again
            .broker
            .published
            .iter()
            .any(|(t, j)| t.contains("/messages/") && j.contains("never mind")));
        assert!(!again.app.has_unsent());
    }

    #[test]
    fn a_message_others_cannot_name_cannot_be_answered_or_reacted_to() {
        let general = Conversation::Room("general".into());
        let mut s = Shell::new("ws://a:1", SortedMap::default());
        join(&mut s, "alice");
        s.handle(Input::Bytes(&raw(
            "chat/rooms/general/messages/zed",
            "hi from cli",
            false,
        )))
        .unwrap();
        let plain = s.app.model().messages(&general)[0].clone();
        assert!(!plain.addressable(), "its id is this tab's own");
        let react = Input::React {
            conversation: general.clone(),
            sender: "zed".into(),
            id: plain.id.clone(),
            emoji: "👍".into(),
        };
        assert_eq!(s.handle(react), Err(Refusal::Send(SendError::Gone)));
        let reply = Input::Reply {
            sender: "zed".into(),
            id: plain.id.clone(),
            text: "hello".into(),
        };
        assert_eq!(s.handle(reply), Err(Refusal::Send(SendError::Gone)));
        assert!(!s
            .broker
            .published
            .iter()
            .any(|(t, _)| t.contains("/messages/alice")));
    }

    #[test]
    fn changes_by_others_apply_to_their_own_messages_only_and_in_any_order() {
        const T: i64 = 1_700_000_000_000;
        let general = Conversation::Room("general".into());
        let mut s = Shell::new("ws://a:1", SortedMap::default());
        join(&mut s, "alice");
        let bob = "chat/rooms/general/messages/bob";
        let eve = "chat/rooms/general/messages/eve";
        s.handle(Input::Bytes(&incoming(bob, "b1", "original", T - 9_000)))
            .unwrap();
        // Forgeries: eve edits and deletes bob's message under her own topic, and as a "message" of hers.
        for forged in [
            r#"{"kind":"edit","to":{"sender":"bob","id":"b1"},"text":"pwned","sent_at":1700000000000}"#,
            r#"{"kind":"delete","to":{"sender":"bob","id":"b1"},"sent_at":1700000000000}"#,
            r#"{"id":"b1","text":"pwned","sent_at":1699999991000,"edited":1700000000000}"#,
            r#"{"id":"b1","text":"","sent_at":1699999991000,"deleted":true}"#,
            r#"{"kind":"future-thing","to":{"sender":"bob","id":"b1"},"sent_at":1}"#,
            r#"{"kind":"react","to":{"sender":"bob","id":"b1"},"emoji":"<script>","on":true,"sent_at":1}"#,
        ] {
            s.handle(Input::Bytes(&raw(eve, forged, false))).unwrap();
        }
        s.handle(Input::Bytes(&raw(
            "chat/rooms/general/history/2023-11-14/eve",
            r#"[{"id":"b1","text":"","sent_at":1699999991000,"deleted":true},{"id":"e1","text":"eve was here","sent_at":1699999992000}]"#,
            true,
        )))
        .unwrap();
        let shown = |s: &Shell| -> Vec<(String, String)> {
            s.app
                .model()
                .messages(&general)
                .iter()
                .map(|m| {
                    (
                        m.sender.clone(),
                        match &m.content {
                            Content::Text(t) => t.clone(),
                            other => format!("{other:?}"),
                        },
                    )
                })
                .collect()
        };
        let own = |x: &str, y: &str| (x.to_owned(), y.to_owned());
        assert_eq!(
            shown(&s),
            [own("bob", "original"), own("eve", "eve was here")],
            "eve changed nothing of bob's"
        );
        assert_eq!(
            s.app.model().find(&general, "bob", "b1").unwrap().edited,
            None
        );

        // bob's own changes apply: a later edit wins over an earlier one arriving after it.
        let edit = |text: &str, at: i64| {
            format!(
                r#"{{"kind":"edit","to":{{"sender":"bob","id":"b1"}},"text":"{text}","sent_at":{at}}}"#
            )
        };
        s.handle(Input::Bytes(&raw(bob, &edit("second", T - 1_000), false)))
            .unwrap();
        s.handle(Input::Bytes(&raw(bob, &edit("first", T - 2_000), false)))
            .unwrap();
        assert_eq!(shown(&s)[0], own("bob", "second"));
        // A change that arrives before its message waits for it; a deletion before its message keeps it out.
        s.handle(Input::Bytes(&raw(bob, r#"{"kind":"edit","to":{"sender":"bob","id":"b2"},"text":"b2 fixed","sent_at":1700000000000}"#, false))).unwrap();
        s.handle(Input::Bytes(&raw(
            bob,
            r#"{"kind":"delete","to":{"sender":"bob","id":"b3"},"sent_at":1700000000000}"#,
            false,
        )))
        .unwrap();
        s.handle(Input::Bytes(&raw(
            "chat/rooms/general/messages/carol",
            r#"{"kind":"react","to":{"sender":"bob","id":"b2"},"emoji":"🎉","sent_at":1700000000000}"#,
            false,
        )))
        .unwrap();
        s.handle(Input::Bytes(&incoming(bob, "b2", "b2 typo", T - 3_000)))
            .unwrap();
        s.handle(Input::Bytes(&incoming(bob, "b3", "regret", T - 2_500)))
            .unwrap();
        let b2 = s.app.model().find(&general, "bob", "b2").unwrap();
        assert_eq!(b2.content, Content::Text("b2 fixed".into()));
        assert_eq!(b2.reactions()[0].users, ["carol"]);
        assert!(
            s.app.model().find(&general, "bob", "b3").is_none(),
            "deleted before it arrived"
        );
        // A late joiner's view: bob's history says b1 is deleted.
        s.handle(Input::Bytes(&raw(
            "chat/rooms/general/history/2023-11-14/bob",
            r#"[{"id":"b1","text":"","sent_at":1699999991000,"deleted":true}]"#,
            true,
        )))
        .unwrap();
        assert!(s.app.model().find(&general, "bob", "b1").is_none());
    }

    #[test]
    fn a_mention_of_the_reader_is_counted_and_named_in_the_notification() {
        let mut s = Shell::new("ws://a:1", SortedMap::default());
        join(&mut s, "alice");
        s.handle(Input::JoinRoom("other".into())).unwrap();
        let general = Conversation::Room("general".into());
        const T: i64 = 1_700_000_000_000;
        let topic = "chat/rooms/general/messages/bob";
        s.handle(Input::Bytes(&incoming(
            topic,
            "b1",
            "hey @alice, lunch?",
            T,
        )))
        .unwrap();
        s.handle(Input::Bytes(&incoming(topic, "b2", "hey @alicette", T)))
            .unwrap();
        s.handle(Input::Bytes(&incoming(
            topic,
            "b3",
            "mail alice@example.com",
            T,
        )))
        .unwrap();
        assert_eq!(s.app.model().mentions_in(&general), 1);
        s.handle(Input::Visible(false)).unwrap();
        s.handle(Input::Bytes(&incoming(
            topic,
            "b4",
            "@alice are you there",
            T,
        )))
        .unwrap();
        assert_eq!(
            s.notifications.last().map(String::as_str),
            Some("bob mentioned you in #general")
        );
        s.handle(Input::Open(general.clone())).unwrap();
        assert_eq!(s.app.model().mentions_in(&general), 0, "read");
        assert!(
            s.app.model().new_since(&general).is_some(),
            "the New divider has a place"
        );
    }

    #[test]
    fn signing_out_forgets_this_user_in_this_browser() {
        let mut s = Shell::new("ws://a:1", SortedMap::default());
        join(&mut s, "alice");
        s.handle(Input::Mute("eve".into())).unwrap();
        s.broker.ack = false;
        s.handle(Input::Send("unsent".into())).unwrap();
        assert!(!s.cache.is_empty());
        s.handle(Input::SignOut).unwrap();
        assert!(
            s.cache.is_empty() && s.cache_convs.is_empty(),
            "nothing kept on the device"
        );
        for key in ["name", "rooms", "client-id", "outbox.alice", "muted.alice"] {
            assert!(
                !s.storage.contains_key(&format!("mqtt-chat.{key}")),
                "{key}"
            );
        }
        assert_eq!(s.app.me(), None);
        assert_eq!(s.app.status(), &Status::Disconnected(None));
        assert!(!s.connected);
        // The next user of this tab starts afresh, with a new session.
        join(&mut s, "bob");
        assert!(s
            .app
            .model()
            .messages(&Conversation::Room("general".into()))
            .is_empty());
        assert!(!s.app.model().is_muted("eve"));
    }

    /// The newest request for earlier messages the tab published: (req, before, limit).
    fn last_request(s: &Shell) -> (String, i64, u64) {
        let (_, json) = s
            .broker
            .published
            .iter()
            .rev()
            .find(|(t, _)| t == "chat/rooms/general/earlier/alice")
            .expect("a request");
        let v: serde_json::Value = serde_json::from_str(json).unwrap();
        (
            v["req"].as_str().unwrap().to_owned(),
            v["before"].as_i64().unwrap(),
            v["limit"].as_u64().unwrap(),
        )
    }

    fn answer(req: &str, messages: &[(&str, &str, i64)], more: bool) -> Vec<u8> {
        let messages: Vec<serde_json::Value> = messages
            .iter()
            .map(|(sender, id, at)| serde_json::json!({"sender": sender, "id": id, "text": id, "sent_at": at}))
            .collect();
        let json =
            serde_json::json!({"req": req, "room": "general", "messages": messages, "more": more});
        let mut bytes = Vec::new();
        Packet::Publish(mqtt::Publish {
            dup: false,
            qospid: mqtt::QosPid::AtMostOnce,
            retain: false,
            topic: mqtt::TopicName::new("chat/users/alice/earlier/general").unwrap(),
            payload: json.to_string().as_bytes(),
        })
        .encode(&mut bytes)
        .unwrap();
        bytes
    }

    #[test]
    fn show_earlier_pages_back_through_the_history_service_and_gives_up_without_one() {
        let general = Conversation::Room("general".into());
        let mut s = Shell::new("ws://a:1", SortedMap::default());
        join(&mut s, "alice");
        s.handle(Input::Bytes(&incoming(
            "chat/rooms/general/messages/bob",
            "b9",
            "b9",
            900,
        )))
        .unwrap();
        assert!(
            !s.app.history_service(),
            "no service until its marker says so"
        );
        let mut marker = Vec::new();
        Packet::Publish(mqtt::Publish {
            dup: false,
            qospid: mqtt::QosPid::AtMostOnce,
            retain: true,
            topic: mqtt::TopicName::new("chat/services/history").unwrap(),
            payload: br#"{"version":1}"#,
        })
        .encode(&mut marker)
        .unwrap();
        s.handle(Input::Bytes(&marker)).unwrap();
        assert!(s.app.history_service());
        // The room on screen asks at once for its newest page: its newest messages then do not depend on the
        // broker having sent every history.
        let (req, before, limit) = last_request(&s);
        assert_eq!(
            (before, limit),
            (i64::MAX, EARLIER_PAGE as u64),
            "the newest page"
        );
        assert!(matches!(
            s.app.earlier("general"),
            Some(Earlier::Asking { .. })
        ));
        s.handle(Input::ShowEarlier).unwrap();
        assert_eq!(last_request(&s).0, req, "one request at a time");

        // An answer to another tab of alice's is not this one's.
        s.handle(Input::Bytes(&answer("other", &[], false)))
            .unwrap();
        assert!(matches!(
            s.app.earlier("general"),
            Some(Earlier::Asking { .. })
        ));
        s.handle(Input::Bytes(&answer(
            &req,
            &[("carol", "c1", 100), ("bob", "b9", 900)],
            true,
        )))
        .unwrap();
        assert_eq!(texts(&s, &general), ["c1", "b9"], "each message once");
        assert_eq!(s.app.earlier("general"), Some(&Earlier::More));
        s.handle(Input::ShowEarlier).unwrap();
        let (req, before, _) = last_request(&s);
        assert_eq!(before, 100, "the next page ends where this one did");
        s.handle(Input::Bytes(&answer(&req, &[("dave", "d0", 50)], false)))
            .unwrap();
        assert_eq!(s.app.earlier("general"), Some(&Earlier::Beginning));
        assert_eq!(texts(&s, &general), ["d0", "c1", "b9"]);

        // No service: nothing answers, and after a while the room says so.
        let mut s = Shell::new("ws://a:1", SortedMap::default());
        join(&mut s, "alice");
        s.handle(Input::ShowEarlier).unwrap();
        let at = s.fire(Timer::Earlier);
        assert_eq!(at, EARLIER_TIMEOUT_MS);
        assert_eq!(s.app.earlier("general"), Some(&Earlier::Unavailable(None)));
    }

    #[test]
    fn messages_to_a_hidden_page_count_and_notify() {
        let mut s = Shell::new("ws://a:1", SortedMap::default());
        join(&mut s, "alice");
        s.handle(Input::Visible(false)).unwrap();
        let msg = br#"{"id":"b1","text":"hi","sent_at":1700000000000}"#;
        let mut bytes = Vec::new();
        Packet::Publish(mqtt::Publish {
            dup: false,
            qospid: mqtt::QosPid::AtLeastOnce(Pid::new(99).unwrap()),
            retain: false,
            topic: mqtt::TopicName::new("chat/rooms/general/messages/bob").unwrap(),
            payload: msg,
        })
        .encode(&mut bytes)
        .unwrap();
        s.handle(Input::Bytes(&bytes)).unwrap();
        assert_eq!(s.notifications, ["bob in #general"]);
        assert_eq!(s.app.title(), "(1) #general · mqtt-chat");
        s.handle(Input::Visible(true)).unwrap();
        assert_eq!(s.app.title(), "#general · mqtt-chat");
    }

    #[test]
    fn a_stream_of_messages_sets_the_session_timer_once_and_it_still_keeps_the_connection_alive() {
        let mut s = Shell::new("ws://a:1", SortedMap::default());
        join(&mut s, "alice");
        let armed = *s
            .timers
            .get(&Timer::Session)
            .expect("the keep-alive is armed");
        // Every message acknowledged (a PUBACK sent) moves the session's next keep-alive later; the timer
        // armed before it stays.
        let mut timers = 0;
        for n in 1..=50u16 {
            s.env = env(s.env.now + 10);
            let msg = format!(r#"{{"id":"b{n}","text":"hi","sent_at":1700000000000}}"#);
            let mut bytes = Vec::new();
            Packet::Publish(mqtt::Publish {
                dup: false,
                qospid: mqtt::QosPid::AtLeastOnce(Pid::new(n).unwrap()),
                retain: false,
                topic: mqtt::TopicName::new("chat/rooms/general/messages/bob").unwrap(),
                payload: msg.as_bytes(),
            })
            .encode(&mut bytes)
            .unwrap();
            s.app.handle(Input::Bytes(&bytes), s.env).unwrap();
            while let Some(out) = s.app.poll_output() {
                match out {
                    Output::SetTimer(Timer::Session, _) | Output::CancelTimer(Timer::Session) => {
                        timers += 1
                    }
                    Output::SetTimer(t, at) => {
                        s.timers.insert(t, at);
                    }
                    _ => {}
                }
            }
        }
        assert_eq!(texts(&s, &Conversation::Room("general".into())).len(), 50);
        assert_eq!(
            timers, 0,
            "the session timer was moved for messages received"
        );
        // It fires early: nothing is due, and it is armed again for the keep-alive now due; then that one
        // pings the broker.
        let fire = |s: &mut Shell, at: Millis| {
            s.env = env(at);
            s.app.handle(Input::Timer(Timer::Session), s.env).unwrap();
            let (mut pinged, mut next) = (false, None);
            while let Some(out) = s.app.poll_output() {
                match out {
                    Output::Send(bytes) => pinged |= bytes == [0xC0, 0],
                    Output::SetTimer(Timer::Session, at) => next = Some(at),
                    _ => {}
                }
            }
            (pinged, next)
        };
        let (pinged, again) = fire(&mut s, armed);
        assert!(!pinged, "a ping before it was due");
        let again = again.expect("armed again");
        assert!(again > armed, "{again} > {armed}");
        assert!(fire(&mut s, again).0, "no ping when it was due");
    }

    #[test]
    fn while_retained_messages_stream_in_the_broker_is_pinged_every_4_ms() {
        let mut s = Shell::new("ws://a:1", SortedMap::default());
        // A broker that never answers the SUBSCRIBEs: the client waits for them.
        s.up = true;
        s.app
            .handle(
                Input::Join {
                    name: "alice".into(),
                    brokers: "ws://a:1".into(),
                    password: None,
                },
                s.env,
            )
            .unwrap();
        let mut pings = 0;
        while let Some(out) = s.app.poll_output() {
            match out {
                Output::LoadCache(_) => {
                    let nothing = Input::CacheLoaded(Ok(Loaded::default()));
                    s.app.handle(nothing, s.env).unwrap();
                }
                Output::Connect(_) => {
                    s.app.handle(Input::Opened, s.env).unwrap();
                }
                Output::Send(bytes) if bytes.first() == Some(&0x10) => {
                    let mut ack = Vec::new();
                    Packet::ConnAck(ConnAck {
                        session_present: false,
                        code: ConnectReturnCode::Accepted,
                    })
                    .encode(&mut ack)
                    .unwrap();
                    s.app.handle(Input::Bytes(&ack), s.env).unwrap();
                }
                Output::Send(bytes) => pings += usize::from(bytes == [0xC0, 0]),
                Output::SetTimer(Timer::Nudge, at) => {
                    assert_eq!(at, s.env.now + NUDGE_MS);
                    if s.env.now < NUDGE_FOR_MS + 100 {
                        s.env = env(at);
                        s.app.handle(Input::Timer(Timer::Nudge), s.env).unwrap();
                    }
                }
                _ => {}
            }
        }
        assert_eq!(pings as u64, NUDGE_FOR_MS / NUDGE_MS, "and then no more");
    }

    #[test]
    fn a_refused_name_keeps_the_conversation_the_url_named_for_the_next_try() {
        let brokers = Brokers::parse("ws://a:1", None).unwrap();
        let mut app = App::new(Vec::new(), brokers, Some(Conversation::Room("rust".into())));
        let e = env(0);
        let bad = Input::Join {
            name: "a/b".into(),
            brokers: "ws://a:1".into(),
            password: None,
        };
        assert!(app.handle(bad, e).is_err());
        let good = Input::Join {
            name: "ann".into(),
            brokers: "ws://a:1".into(),
            password: None,
        };
        app.handle(good, e).unwrap();
        assert_eq!(app.model().current(), &Conversation::Room("rust".into()));
    }

    #[test]
    fn typing_and_pings_change_nothing_shown_and_a_message_does() {
        let mut s = Shell::new("ws://a:1", SortedMap::default());
        join(&mut s, "alice");
        assert!(s.app.take_changed());
        assert!(!s.app.take_changed());
        s.handle(Input::Typing).unwrap();
        assert!(!s.app.take_changed(), "a keystroke");
        let mut pingresp = Vec::new();
        Packet::PingResp.encode(&mut pingresp).unwrap();
        s.handle(Input::Bytes(&pingresp)).unwrap();
        assert!(!s.app.take_changed(), "a PINGRESP");
        s.handle(Input::Send("hi".into())).unwrap();
        assert!(s.app.take_changed(), "a message sent (and its PUBACK)");
    }

    #[test]
    fn storage_keys_round_trip() {
        for r in [
            Record::Name,
            Record::Brokers,
            Record::Broker,
            Record::Rooms,
            Record::ClientId,
            Record::BrowserId,
            Record::Outbox("al.ice".into()),
            Record::Muted("bob".into()),
            Record::Unreadable("mqtt-chat.outbox.x".into()),
        ] {
            assert_eq!(Record::from_key(&r.key()), Some(r.clone()), "{}", r.key());
        }
        assert_eq!(Record::from_key("other.key"), None);
        assert!(Record::Rooms.per_tab() && !Record::BrowserId.per_tab());
    }
}
