//! The shell around the core, shared by both modes: it carries out the [`App`]'s outputs (connections,
//! timers, storage) and feeds it the facts that happen (bytes, a transport opening or closing, a timer
//! firing), each with the time and a random number. The keyboard and standard input are the modes' own:
//! [`Shell::step`] hands those events back.

use std::collections::hash_map::RandomState;
use std::collections::BTreeMap;
use std::hash::BuildHasher;
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mqtt::Millis;
use mqtt_chat::chat::{App, Env, Input, Output, Refusal, Timer};

use crate::net::{Closing, Link, NetEvent};
use crate::store::Store;

/// Everything the event loop waits for, from every thread.
#[derive(Debug)]
pub enum Event {
    /// From the connection of this generation (events of an earlier connection are dropped).
    Net(u64, NetEvent),
    /// Full screen: a key, a resize.
    Terminal(ratatui::crossterm::event::Event),
    /// Line mode: a line of standard input, without its line break.
    Line(String),
    /// Line mode: standard input ended.
    Eof,
    /// SIGINT, SIGTERM or SIGHUP.
    Signal(i32),
}

pub struct Shell {
    pub app: App,
    store: Store,
    start: Instant,
    random: RandomState,
    draws: u64,
    timers: BTreeMap<Timer, Millis>,
    link: Option<Link>,
    /// The connection closed last, until it is done.
    closing: Option<Closing>,
    generation: u64,
    tx: Sender<Event>,
    rx: Receiver<Event>,
    /// The last storage failure, for the mode to show (the chat goes on without it).
    pub storage_error: Option<String>,
}

impl Shell {
    pub fn new(app: App, store: Store) -> Self {
        let (tx, rx) = mpsc::channel();
        Self {
            app,
            store,
            start: Instant::now(),
            random: RandomState::new(),
            draws: 0,
            timers: BTreeMap::new(),
            link: None,
            closing: None,
            generation: 0,
            tx,
            rx,
            storage_error: None,
        }
    }

    /// For the threads that read the keyboard, standard input and signals.
    pub fn sender(&self) -> Sender<Event> {
        self.tx.clone()
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

    /// Tells the core `input` and carries out what it asks.
    pub fn handle(&mut self, input: Input<'_>) -> Result<(), Refusal> {
        let env = self.env();
        let result = self.app.handle(input, env);
        self.carry_out();
        result
    }

    fn carry_out(&mut self) {
        while let Some(output) = self.app.poll_output() {
            match output {
                Output::Connect(url) => {
                    if let Some(old) = self.link.take() {
                        self.closing = Some(old.close());
                    }
                    self.generation += 1;
                    let generation = self.generation;
                    let tx = self.tx.clone();
                    let report = move |e| tx.send(Event::Net(generation, e)).is_ok();
                    match Link::open(&url, report) {
                        Ok(link) => self.link = Some(link),
                        Err(e) => {
                            // No thread: report the failure as the thread would have.
                            let _ = self.tx.send(Event::Net(
                                generation,
                                NetEvent::Closed(format!("cannot start a connection: {e}")),
                            ));
                        }
                    }
                }
                Output::Send(bytes) => {
                    if let Some(link) = &self.link {
                        link.send(bytes);
                    }
                }
                Output::Disconnect => {
                    if let Some(link) = self.link.take() {
                        self.closing = Some(link.close());
                    }
                }
                Output::SetTimer(timer, at) => {
                    self.timers.insert(timer, at);
                }
                Output::CancelTimer(timer) => {
                    self.timers.remove(&timer);
                }
                Output::Store(record, value) => {
                    if let Err(e) = self.store.store(&record, &value) {
                        self.storage_error = Some(format!("cannot save {}: {e}", record.key()));
                    }
                }
                Output::Remove(record) => {
                    if let Err(e) = self.store.remove(&record) {
                        self.storage_error = Some(format!("cannot remove {}: {e}", record.key()));
                    }
                }
                // A terminal is never hidden (the core notifies only a hidden page), and what is shown is
                // read from the model on every draw.
                Output::Notify { .. } | Output::Show(_) => {}
            }
        }
    }

    /// Waits until something happens (at most `max_wait`, if given), tells the core every network event and
    /// timer that is due, and returns the other events, in order.
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
        let first = match wait {
            Some(wait) => self.rx.recv_timeout(wait).ok(),
            // `tx` is ours: the channel never disconnects.
            None => self.rx.recv().ok(),
        };
        let arrived: Vec<Event> = first
            .into_iter()
            .chain(std::iter::from_fn(|| self.rx.try_recv().ok()))
            .collect();
        let mut user = Vec::new();
        for event in arrived {
            match event {
                Event::Net(generation, e) => self.on_net(generation, e),
                other => user.push(other),
            }
        }
        self.fire_timers();
        user
    }

    fn on_net(&mut self, generation: u64, event: NetEvent) {
        if generation != self.generation || self.link.is_none() {
            return;
        }
        // The core's refusals concern user actions; these never are.
        let _ = match event {
            NetEvent::Opened => self.handle(Input::Opened),
            NetEvent::Bytes(bytes) => self.handle(Input::Bytes(&bytes)),
            NetEvent::Closed(_) => {
                self.link = None;
                self.handle(Input::Closed)
            }
        };
    }

    fn fire_timers(&mut self) {
        loop {
            let now = self.now();
            let Some((&timer, _)) = self.timers.iter().find(|(_, &at)| at <= now) else {
                return;
            };
            self.timers.remove(&timer);
            let _ = self.handle(Input::Timer(timer));
        }
    }

    /// Says goodbye (an empty retained presence, then DISCONNECT) and waits, briefly, until it is written.
    pub fn leave(&mut self) {
        let _ = self.handle(Input::Leave);
        if let Some(link) = self.link.take() {
            self.closing = Some(link.close());
        }
        if let Some(closing) = self.closing.take() {
            closing.wait();
        }
    }
}

/// Unix milliseconds.
pub fn wall_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
