//! Browser I/O, all of it: the WebSocket to the broker, timers, clocks, storage, the page's URL fragment,
//! visibility and notifications.
//!
//! A [`Link`] owns one WebSocket (subprotocol `mqtt`, binary frames [MQTT-6.0.0-1, 6.0.0-3]) and the
//! [`Client`] it drives. Bytes go straight between the two; chat events go to the UI's callback, always
//! after the link's state is released, so the UI may call back in.

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use gloo_timers::callback::{Interval, Timeout};
use js_sys::{ArrayBuffer, Uint8Array};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{BinaryType, CloseEvent, MessageEvent, WebSocket};

use crate::chat::{ChatEvent, Client};

/// Monotonic milliseconds, for protocol timers.
pub fn now() -> u64 {
    let ms = web_sys::window()
        .and_then(|w| w.performance())
        .map_or_else(js_sys::Date::now, |p| p.now());
    ms as u64
}

/// Unix milliseconds, for timestamps.
pub fn wall() -> i64 {
    js_sys::Date::now() as i64
}

/// A random id: `prefix` + 16 hex digits (alphanumeric, so with a 2-letter prefix it is within the 1–23
/// characters every broker must accept as a client id [MQTT-3.1.3-5]).
pub fn new_id(prefix: &str) -> String {
    let a = (js_sys::Math::random() * f64::from(u32::MAX)) as u32;
    let b = (js_sys::Math::random() * f64::from(u32::MAX)) as u32;
    format!("{prefix}{a:08x}{b:08x}")
}

/// A client id unique to this tab: the broker disconnects an older connection with the same id.
pub fn new_client_id() -> String {
    new_id("mc")
}

/// Browser storage: `session` lives as long as the tab (and survives its reloads), `local` as long as the
/// browser profile. Storage can be missing or full (private modes): reads then give `None`, writes nothing.
pub mod storage {
    fn area(session: bool) -> Option<web_sys::Storage> {
        let w = web_sys::window()?;
        if session {
            w.session_storage().ok().flatten()
        } else {
            w.local_storage().ok().flatten()
        }
    }

    pub fn get(session: bool, key: &str) -> Option<String> {
        area(session)?.get_item(key).ok().flatten()
    }

    pub fn set(session: bool, key: &str, value: &str) {
        if let Some(a) = area(session) {
            let _ = a.set_item(key, value);
        }
    }

    pub fn remove(session: bool, key: &str) {
        if let Some(a) = area(session) {
            let _ = a.remove_item(key);
        }
    }

    /// The value under `key`, made by `make` and stored the first time.
    pub fn get_or_make(session: bool, key: &str, make: impl FnOnce() -> String) -> String {
        get(session, key).unwrap_or_else(|| {
            let value = make();
            set(session, key, &value);
            value
        })
    }
}

/// The page URL's fragment (`#...`), empty if none.
pub fn fragment() -> String {
    web_sys::window()
        .and_then(|w| w.location().hash().ok())
        .unwrap_or_default()
}

/// Every value of the page URL's query parameter `name` (`?broker=a&broker=b`), in order.
pub fn query_all(name: &str) -> Vec<String> {
    web_sys::window()
        .and_then(|w| w.location().search().ok())
        .and_then(|s| web_sys::UrlSearchParams::new_with_str(&s).ok())
        .map(|p| {
            p.get_all(name)
                .iter()
                .filter_map(|v| v.as_string())
                .collect()
        })
        .unwrap_or_default()
}

pub fn set_fragment(fragment: &str) {
    if let Some(w) = web_sys::window() {
        if w.location().hash().ok().as_deref() != Some(fragment) {
            let _ = w.location().set_hash(fragment);
        }
    }
}

/// Whether the page is hidden (a background tab, a minimized window).
pub fn page_hidden() -> bool {
    web_sys::window()
        .and_then(|w| w.document())
        .is_some_and(|d| d.hidden())
}

pub fn set_title(title: &str) {
    if let Some(d) = web_sys::window().and_then(|w| w.document()) {
        d.set_title(title);
    }
}

/// Asks for permission to show notifications (call from a user action).
pub fn request_notifications() {
    if web_sys::Notification::permission() == web_sys::NotificationPermission::Default {
        let _ = web_sys::Notification::request_permission();
    }
}

/// Shows a desktop notification if the user allowed them.
pub fn notify(title: &str, body: &str) {
    if web_sys::Notification::permission() == web_sys::NotificationPermission::Granted {
        let options = web_sys::NotificationOptions::new();
        options.set_body(body);
        options.set_tag("mqtt-chat");
        let _ = web_sys::Notification::new_with_options(title, &options);
    }
}

/// Calls `f` once after `ms` milliseconds, unless the returned handle is dropped first.
pub fn after(ms: u32, f: impl FnOnce() + 'static) -> Timeout {
    Timeout::new(ms, f)
}

/// Calls `f` once before the browser next paints (`requestAnimationFrame`; paused while the page is hidden).
pub fn next_frame(f: impl FnOnce() + 'static) {
    let callback = Closure::once_into_js(f);
    if web_sys::window()
        .and_then(|w| w.request_animation_frame(callback.unchecked_ref()).ok())
        .is_none()
    {
        // No window to wait for: now, rather than never.
        if let Ok(f) = callback.dyn_into::<js_sys::Function>() {
            f.call0(&JsValue::NULL).ok();
        }
    }
}

/// A random number in `0.0..1.0` (not for secrets).
pub fn random() -> f64 {
    js_sys::Math::random()
}

/// Calls `f` every `ms` milliseconds while the returned handle lives.
pub fn every(ms: u32, f: impl FnMut() + 'static) -> Interval {
    Interval::new(ms, f)
}

/// A window event listener, removed when dropped.
pub struct Listener {
    event: &'static str,
    closure: Closure<dyn FnMut(web_sys::Event)>,
}

impl Listener {
    pub fn window(event: &'static str, f: impl FnMut(web_sys::Event) + 'static) -> Option<Self> {
        let closure = Closure::<dyn FnMut(web_sys::Event)>::new(f);
        web_sys::window()?
            .add_event_listener_with_callback(event, closure.as_ref().unchecked_ref())
            .ok()?;
        Some(Self { event, closure })
    }

    pub fn document(event: &'static str, f: impl FnMut(web_sys::Event) + 'static) -> Option<Self> {
        let closure = Closure::<dyn FnMut(web_sys::Event)>::new(f);
        let doc = web_sys::window()?.document()?;
        doc.add_event_listener_with_callback(event, closure.as_ref().unchecked_ref())
            .ok()?;
        Some(Self { event, closure })
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let f = self.closure.as_ref().unchecked_ref();
        if let Some(w) = web_sys::window() {
            let _ = w.remove_event_listener_with_callback(self.event, f);
            if let Some(d) = w.document() {
                let _ = d.remove_event_listener_with_callback(self.event, f);
            }
        }
    }
}

/// One connection to the broker.
pub struct Link {
    inner: Rc<RefCell<Inner>>,
}

type OnEvent = Rc<dyn Fn(ChatEvent)>;

struct Inner {
    ws: WebSocket,
    url: String,
    client: Client,
    on_event: OnEvent,
    opened: bool,
    timer: Option<(u64, Timeout)>,
    handlers: Option<Handlers>,
}

/// The socket's event handlers, alive exactly as long as the link.
struct Handlers {
    _open: Closure<dyn FnMut()>,
    _message: Closure<dyn FnMut(MessageEvent)>,
    _close: Closure<dyn FnMut(CloseEvent)>,
    /// Says goodbye when the page goes away, so others see this tab leave at once.
    _pagehide: Option<Listener>,
}

impl Link {
    /// Opens a WebSocket to `url` and connects `client` over it. Events arrive through `on_event`.
    pub fn open(
        url: &str,
        client: Client,
        on_event: impl Fn(ChatEvent) + 'static,
    ) -> Result<Self, String> {
        let ws = new_socket(url)?;
        let inner = Rc::new(RefCell::new(Inner {
            ws,
            url: url.to_owned(),
            client,
            on_event: Rc::new(on_event),
            opened: false,
            timer: None,
            handlers: None,
        }));
        attach(&inner);
        Ok(Self { inner })
    }

    /// Connects again over a new WebSocket to `url` (the same broker, or the next one of a cluster), with the
    /// same client: its session resends what the broker did not acknowledge [MQTT-4.4.0-1], and the chat
    /// resubscribes.
    pub fn reopen(&self, url: &str) -> Result<(), String> {
        let ws = new_socket(url)?;
        {
            let mut i = self.inner.borrow_mut();
            url.clone_into(&mut i.url);
            i.detach();
            i.client.transport_closed(wall());
            // Drop what that reported: the old socket's end is not news.
            while i.client.poll_event().is_some() {}
            i.ws = ws;
            i.opened = false;
        }
        attach(&self.inner);
        Ok(())
    }

    /// Does something with the chat client (send, join a room, ...) and moves what it produced.
    pub fn act<R>(&self, f: impl FnOnce(&mut Client, u64, i64) -> R) -> R {
        let result = f(&mut self.inner.borrow_mut().client, now(), wall());
        pump(&self.inner);
        result
    }
}

impl Drop for Link {
    /// Says goodbye (DISCONNECT) and closes the socket.
    fn drop(&mut self) {
        if let Ok(mut i) = self.inner.try_borrow_mut() {
            i.client.leave(now(), wall());
            i.flush();
            i.detach();
        }
    }
}

impl Inner {
    fn flush(&mut self) {
        if let Some(bytes) = self.client.transmit() {
            if self.ws.ready_state() == WebSocket::OPEN {
                self.ws.send_with_u8_array(&bytes).ok();
            }
        }
    }

    /// Removes the handlers and closes the socket: nothing calls back into a dropped link.
    fn detach(&mut self) {
        self.ws.set_onopen(None);
        self.ws.set_onmessage(None);
        self.ws.set_onclose(None);
        self.ws.close().ok();
        self.timer = None;
        self.handlers = None;
    }

    /// Keeps one timer armed for the session's next deadline.
    fn arm_timer(&mut self, weak: Weak<RefCell<Inner>>) {
        let Some(deadline) = self.client.deadline() else {
            self.timer = None;
            return;
        };
        if matches!(self.timer, Some((armed, _)) if armed == deadline) {
            return;
        }
        let delay = deadline.saturating_sub(now()).min(u64::from(u32::MAX)) as u32;
        let timeout = Timeout::new(delay, move || {
            with(&weak, |i| {
                i.timer = None;
                i.client.tick(now(), wall());
            })
        });
        self.timer = Some((deadline, timeout));
    }
}

fn new_socket(url: &str) -> Result<WebSocket, String> {
    let ws = WebSocket::new_with_str(url, "mqtt").map_err(|e| describe(&e))?;
    ws.set_binary_type(BinaryType::Arraybuffer);
    Ok(ws)
}

/// Sets the socket's handlers; they hold the link weakly and live as long as it (or until `detach`).
fn attach(inner: &Rc<RefCell<Inner>>) {
    let weak = Rc::downgrade(inner);
    let open = Closure::<dyn FnMut()>::new({
        let weak = weak.clone();
        move || {
            with(&weak, |i| {
                i.opened = true;
                i.client.transport_open(now());
            })
        }
    });
    let message = Closure::<dyn FnMut(MessageEvent)>::new({
        let weak = weak.clone();
        move |e: MessageEvent| {
            // [MQTT-6.0.0-1] Only binary frames carry MQTT: a text frame closes the connection.
            let Ok(buffer) = e.data().dyn_into::<ArrayBuffer>() else {
                with(&weak, |i| {
                    i.client.transport_closed(wall());
                    i.ws.close().ok();
                });
                return;
            };
            let bytes = Uint8Array::new(&buffer).to_vec();
            with(&weak, |i| i.client.receive(&bytes, now(), wall()));
        }
    });
    let close = Closure::<dyn FnMut(CloseEvent)>::new({
        let weak = weak.clone();
        move |_: CloseEvent| {
            let Some(inner) = weak.upgrade() else { return };
            let never_opened = {
                let mut i = inner.borrow_mut();
                i.client.transport_closed(wall());
                i.timer = None;
                !i.opened
            };
            pump(&inner);
            if never_opened {
                let (url, on_event) = {
                    let i = inner.borrow();
                    (i.url.clone(), i.on_event.clone())
                };
                on_event(ChatEvent::Closed {
                    reason: format!("cannot reach the broker at {url}"),
                    retry: true,
                });
            }
        }
    });
    let pagehide = Listener::window("pagehide", {
        let weak = weak.clone();
        move |_| with(&weak, |i| i.client.leave(now(), wall()))
    });
    let mut i = inner.borrow_mut();
    i.ws.set_onopen(Some(open.as_ref().unchecked_ref()));
    i.ws.set_onmessage(Some(message.as_ref().unchecked_ref()));
    i.ws.set_onclose(Some(close.as_ref().unchecked_ref()));
    i.handlers = Some(Handlers {
        _open: open,
        _message: message,
        _close: close,
        _pagehide: pagehide,
    });
}

/// Runs `f` on the link's state, then moves what it produced: bytes to the socket, events to the UI.
fn with(weak: &Weak<RefCell<Inner>>, f: impl FnOnce(&mut Inner)) {
    let Some(inner) = weak.upgrade() else { return };
    let Ok(mut i) = inner.try_borrow_mut() else {
        return;
    };
    f(&mut i);
    drop(i);
    pump(&inner);
}

fn pump(inner: &Rc<RefCell<Inner>>) {
    let (events, on_event) = {
        let Ok(mut i) = inner.try_borrow_mut() else {
            return;
        };
        i.flush();
        let events: Vec<ChatEvent> = std::iter::from_fn(|| i.client.poll_event()).collect();
        if events.iter().any(|e| matches!(e, ChatEvent::Closed { .. })) {
            // The session ended the connection (refusal, protocol error, dead broker): close the socket too.
            i.timer = None;
            i.ws.close().ok();
        } else {
            i.arm_timer(Rc::downgrade(inner));
        }
        (events, i.on_event.clone())
    };
    for event in events {
        on_event(event);
    }
}

fn describe(e: &JsValue) -> String {
    e.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| e.as_string())
        .unwrap_or_else(|| "the browser refused to open the connection".into())
}
