//! The shell around the core, shared by both modes: the event loop. It carries out the [`App`]'s outputs
//! (connections, bytes, timers, storage) and feeds it the facts that happen (bytes read, a connection
//! opened or closed, a timer due), each with the time and a random number. It alone reads and writes the
//! socket, waiting on it, on the next timer and on the other threads' events at once (one mio poll). The
//! keyboard and standard input are the modes' own: [`Shell::step`] hands their events back.

use std::collections::hash_map::RandomState;
use std::collections::BTreeMap;
use std::hash::BuildHasher;
use std::io::ErrorKind;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mio::{Events, Poll, Token, Waker};
use mqtt::Millis;
use mqtt_chat::chat::cache::Loaded;
use mqtt_chat::chat::{App, Env, Input, Output, Refusal, Timer};

use crate::net::{self, Stream};
use crate::store::Store;

const SOCKET: Token = Token(0);
const WAKE: Token = Token(1);

/// What the other threads tell the event loop.
#[derive(Debug)]
pub enum Event {
    /// Full screen: a key, a resize.
    Terminal(ratatui::crossterm::event::Event),
    /// Line mode: a line of standard input, without its line break.
    Line(String),
    /// Line mode: standard input ended.
    Eof,
    /// SIGINT, SIGTERM or SIGHUP.
    Signal(i32),
}

/// Everything that arrives on the channel: the modes' events, and connections opened (or not) by the
/// connecting thread of this generation.
enum Arrived {
    User(Event),
    Opened(u64, Result<Stream, String>),
}

/// The sending end for other threads: it wakes the loop up.
#[derive(Clone)]
pub struct Notify {
    tx: Sender<Arrived>,
    waker: Arc<Waker>,
}

impl Notify {
    /// False once the loop is gone.
    pub fn send(&self, event: Event) -> bool {
        self.tx.send(Arrived::User(event)).is_ok() && self.waker.wake().is_ok()
    }
}

/// The open connection: its stream, the bytes it has not taken yet, its generation.
struct Connection {
    stream: Stream,
    pending: Vec<u8>,
}

pub struct Shell {
    pub app: App,
    store: Store,
    start: Instant,
    random: RandomState,
    draws: u64,
    timers: BTreeMap<Timer, Millis>,
    poll: Poll,
    notify: Notify,
    rx: Receiver<Arrived>,
    /// Counts `Output::Connect`s: a connection opened for an earlier one is dropped.
    generation: u64,
    /// Waiting for the connecting thread of `generation`.
    connecting: bool,
    connection: Option<Connection>,
    /// What last went wrong below the core, in words, for the mode to show: storage that failed (the chat
    /// goes on without it), why a connection could not be opened or was lost (the core says only that it
    /// was).
    pub trouble: Option<String>,
}

impl Shell {
    pub fn new(app: App, store: Store) -> std::io::Result<Self> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKE)?);
        let (tx, rx) = mpsc::channel();
        Ok(Self {
            app,
            store,
            start: Instant::now(),
            random: RandomState::new(),
            draws: 0,
            timers: BTreeMap::new(),
            poll,
            notify: Notify { tx, waker },
            rx,
            generation: 0,
            connecting: false,
            connection: None,
            trouble: None,
        })
    }

    /// For the threads that read the keyboard, standard input and signals.
    pub fn sender(&self) -> Notify {
        self.notify.clone()
    }

    pub fn env(&mut self) -> Env {
        self.draws += 1;
        Env {
            now: self.now(),
            wall: wall_ms(),
            random: self.random.hash_one(self.draws),
        }
    }

    fn now(&self) -> Millis {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Tells the core `input` and carries out what it asks; a refusal is returned, for the command that asked
    /// to report.
    pub fn handle(&mut self, input: Input<'_>) -> Result<(), Refusal> {
        let env = self.env();
        let result = self.app.handle(input, env);
        self.carry_out();
        result
    }

    /// Tells the core `input` and carries out what it asks; a refusal becomes the core's notice.
    pub fn act(&mut self, input: Input<'_>) {
        let env = self.env();
        self.app.act(input, env);
        self.carry_out();
    }

    fn carry_out(&mut self) {
        while let Some(output) = self.app.poll_output() {
            match output {
                Output::Connect(url) => {
                    self.close();
                    self.generation += 1;
                    self.connecting = true;
                    let generation = self.generation;
                    let notify = self.notify.clone();
                    let opening = net::open(&url, move |result| {
                        if notify.tx.send(Arrived::Opened(generation, result)).is_ok() {
                            let _ = notify.waker.wake();
                        }
                    });
                    if let Err(e) = opening {
                        let failed = Err(format!("cannot start a thread to connect: {e}"));
                        let _ = self.notify.tx.send(Arrived::Opened(generation, failed));
                    }
                }
                Output::Send(bytes) => {
                    if let Some(c) = &mut self.connection {
                        if let Err(e) = c.stream.write(bytes, &mut c.pending) {
                            self.lost(&e);
                        }
                    }
                }
                Output::Disconnect => {
                    self.connecting = false;
                    self.close();
                }
                Output::SetTimer(timer, at) => {
                    self.timers.insert(timer, at);
                }
                Output::CancelTimer(timer) => {
                    self.timers.remove(&timer);
                }
                Output::Store(record, value) => {
                    if let Err(e) = self.store.store(&record, &value) {
                        self.trouble = Some(format!("cannot save {}: {e}", record.key()));
                    }
                }
                Output::Remove(record) => {
                    if let Err(e) = self.store.remove(&record) {
                        self.trouble = Some(format!("cannot remove {}: {e}", record.key()));
                    }
                }
                // A terminal is never hidden (the core notifies only a hidden page), and what is shown is
                // read from the model on every draw.
                Output::Notify { .. } | Output::Show(_) => {}
                // The terminal keeps no messages of its own: what it shows comes from the broker (the
                // histories on joining). So a cache load finds nothing, and writes have nowhere to go.
                Output::LoadCache(_) => {
                    let env = self.env();
                    self.app.act(Input::CacheLoaded(Ok(Loaded::default())), env);
                }
                Output::Cache { .. } | Output::ClearCache(_) => {}
            }
        }
        self.flush();
    }

    /// Writes what the socket takes now; the rest when it says it is writable again.
    fn flush(&mut self) {
        if let Some(c) = &mut self.connection {
            if let Err(e) = c.stream.flush(&mut c.pending) {
                self.lost(&e);
            }
        }
    }

    /// Closes the connection, after writing what it still has to write (a goodbye).
    fn close(&mut self) {
        if let Some(mut c) = self.connection.take() {
            c.stream.close(&mut c.pending, self.poll.registry());
        }
    }

    /// The connection failed under us: the core hears of it as a closed transport.
    fn lost(&mut self, why: &str) {
        if let Some(c) = self.connection.take() {
            self.trouble = Some(why.to_owned());
            c.stream.close(&mut Vec::new(), self.poll.registry());
            self.act(Input::Closed);
        }
    }

    /// Waits until something happens (at most `max_wait`, if given), tells the core what the network did
    /// and every timer that is due, and returns the other events, in order.
    pub fn step(&mut self, max_wait: Option<Duration>) -> Vec<Event> {
        let now = self.now();
        let timer = self
            .timers
            .values()
            .min()
            .map(|&at| Duration::from_millis(at.saturating_sub(now)));
        let wait = match (timer, max_wait) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let mut events = Events::with_capacity(8);
        if let Err(e) = self.poll.poll(&mut events, wait) {
            if e.kind() != ErrorKind::Interrupted {
                self.trouble = Some(format!("cannot wait for events: {e}"));
            }
        }
        let mut socket = events.iter().any(|e| e.token() == SOCKET);
        let mut user = Vec::new();
        while let Ok(arrived) = self.rx.try_recv() {
            match arrived {
                Arrived::User(event) => user.push(event),
                Arrived::Opened(generation, result) => {
                    if generation != self.generation || !self.connecting {
                        // Opened for a connection given up since: close it unused.
                        if let Ok(stream) = result {
                            stream.close(&mut Vec::new(), self.poll.registry());
                        }
                        continue;
                    }
                    self.connecting = false;
                    match result.and_then(|stream| {
                        stream
                            .register(self.poll.registry(), SOCKET)
                            .map(|()| stream)
                            .map_err(|e| e.to_string())
                    }) {
                        Ok(stream) => {
                            self.connection = Some(Connection {
                                stream,
                                pending: Vec::new(),
                            });
                            self.act(Input::Opened);
                            // Anything already there is read now: mio reports only changes.
                            socket = true;
                        }
                        Err(why) => {
                            self.trouble = Some(why);
                            self.act(Input::Closed);
                        }
                    }
                }
            }
        }
        if socket {
            self.read();
        }
        self.fire_timers();
        user
    }

    /// Reads everything the socket has, tells the core, and writes its answers at once.
    fn read(&mut self) {
        let Some(c) = &mut self.connection else {
            return;
        };
        let mut bytes = Vec::new();
        let read = c.stream.read(&mut bytes);
        if !bytes.is_empty() {
            self.act(Input::Bytes(&bytes));
        }
        match read {
            Ok(true) => self.flush(),
            Ok(false) => self.lost("the broker closed the connection"),
            Err(e) => self.lost(&e),
        }
    }

    fn fire_timers(&mut self) {
        loop {
            let now = self.now();
            let Some((&timer, _)) = self.timers.iter().find(|(_, &at)| at <= now) else {
                return;
            };
            self.timers.remove(&timer);
            self.act(Input::Timer(timer));
        }
    }

    /// Says goodbye: an empty retained presence, then DISCONNECT, written before the socket closes.
    pub fn leave(&mut self) {
        self.act(Input::Leave);
        self.close();
    }
}

/// Unix milliseconds.
pub fn wall_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
