//! Browser I/O, all of it: the WebSocket to the broker, timers, clocks, storage, the page's URL fragment,
//! visibility and notifications. Nothing here decides anything: the chat core does (`chat::App`), and
//! `ui::ChatState` carries out what it says with these functions.

pub mod cache;

use std::rc::Rc;

use gloo_timers::callback::{Interval, Timeout};
use js_sys::{ArrayBuffer, Uint8Array};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{BinaryType, CloseEvent, MessageEvent, WebSocket};

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

/// A random 64-bit number (not for secrets): backoff jitter and new ids.
pub fn random_u64() -> u64 {
    let a = (js_sys::Math::random() * f64::from(u32::MAX)) as u64;
    let b = (js_sys::Math::random() * f64::from(u32::MAX)) as u64;
    (a << 32) | b
}

/// A date formatter in the reader's language and time zone with these `Intl.DateTimeFormat` options (its
/// `format` function). Make one once and keep it: making one costs the browser tens of milliseconds the first
/// time (its locale data), and every `toLocaleString` with options makes one.
pub fn date_format(options: &[(&str, &str)]) -> js_sys::Function {
    let object = js_sys::Object::new();
    for (k, v) in options {
        // Setting a property on a plain object does not fail; if it did, dates would show in the default form.
        js_sys::Reflect::set(&object, &(*k).into(), &(*v).into()).ok();
    }
    js_sys::Intl::DateTimeFormat::new(&js_sys::Array::new(), &object).format()
}

/// Unix milliseconds `ms` as `format` ([`date_format`]) writes them; empty if it writes nothing.
pub fn format_date(format: &js_sys::Function, ms: i64) -> String {
    let date = js_sys::Date::new(&JsValue::from_f64(ms as f64));
    format
        .call1(&JsValue::NULL, &date)
        .ok()
        .and_then(|s| s.as_string())
        .unwrap_or_default()
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

    /// Whether it was stored: storage can be missing (private modes) or full.
    pub fn set(session: bool, key: &str, value: &str) -> bool {
        area(session).is_some_and(|a| a.set_item(key, value).is_ok())
    }

    /// Removing a key that is not there, or from storage that is missing, leaves nothing to do.
    pub fn remove(session: bool, key: &str) {
        if let Some(a) = area(session) {
            a.remove_item(key).ok();
        }
    }

    /// Every key and value of one storage area.
    pub fn all(session: bool) -> Vec<(String, String)> {
        let Some(a) = area(session) else {
            return Vec::new();
        };
        let len = a.length().unwrap_or(0);
        (0..len)
            .filter_map(|i| {
                let key = a.key(i).ok().flatten()?;
                let value = a.get_item(&key).ok().flatten()?;
                Some((key, value))
            })
            .collect()
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
            // Only the address bar's echo of the conversation: nothing depends on it.
            w.location().set_hash(fragment).ok();
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
        // The answer comes as the permission itself, which `notify` reads.
        web_sys::Notification::request_permission().ok();
    }
}

/// Shows a desktop notification if the user allowed them.
pub fn notify(title: &str, body: &str) {
    if web_sys::Notification::permission() == web_sys::NotificationPermission::Granted {
        let options = web_sys::NotificationOptions::new();
        options.set_body(body);
        options.set_tag("mqtt-chat");
        // The title and the unread count say it too: a notification the browser refuses loses nothing.
        web_sys::Notification::new_with_options(title, &options).ok();
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

/// Calls `f` once, soon: after what runs now (also in a hidden page, unlike [`next_frame`]).
pub fn soon(f: impl FnOnce() + 'static) {
    // A one-shot closure frees itself when called: nothing is leaked per call (a store refused again and
    // again calls this each time).
    let callback = Closure::once_into_js(f);
    if let Some(w) = web_sys::window() {
        w.set_timeout_with_callback_and_timeout_and_arguments_0(callback.unchecked_ref(), 0)
            .ok();
    }
}

/// Asks the user to confirm `question` (the browser's own dialog, which every screen reader knows).
pub fn confirm(question: &str) -> bool {
    web_sys::window()
        .and_then(|w| w.confirm_with_message(question).ok())
        .unwrap_or(false)
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
        // It was added to one of them; removing it from the other is a no-op, as is removing one that is gone.
        if let Some(w) = web_sys::window() {
            w.remove_event_listener_with_callback(self.event, f).ok();
            if let Some(d) = w.document() {
                d.remove_event_listener_with_callback(self.event, f).ok();
            }
        }
    }
}

/// Calls `f` whenever `element`'s size changes (and once when it starts), until dropped: a `ResizeObserver`,
/// whose callbacks run after the browser laid the page out, before it paints. Reading layout there costs
/// nothing more; reading it after changing the page anywhere else makes the browser lay it out again.
pub struct Resized {
    observer: web_sys::ResizeObserver,
    _callback: Closure<dyn FnMut()>,
}

impl Resized {
    pub fn observe(element: &web_sys::Element, f: impl FnMut() + 'static) -> Option<Self> {
        let callback = Closure::<dyn FnMut()>::new(f);
        let observer = web_sys::ResizeObserver::new(callback.as_ref().unchecked_ref()).ok()?;
        observer.observe(element);
        Some(Self {
            observer,
            _callback: callback,
        })
    }
}

impl Drop for Resized {
    fn drop(&mut self) {
        self.observer.disconnect();
    }
}

/// What a [`Socket`] reports.
pub enum SocketEvent<'a> {
    Opened,
    Bytes(&'a [u8]),
    /// Closed, failed to open, or broke the protocol (a text frame [MQTT-6.0.0-1]).
    Closed,
}

/// One WebSocket to a broker (subprotocol `mqtt`, binary frames [MQTT-6.0.0-1, 6.0.0-3]). It only moves
/// bytes and reports what happened; the chat core decides everything. Dropping it closes the socket and
/// detaches its handlers, so nothing calls back afterwards.
pub struct Socket {
    ws: WebSocket,
    _open: Closure<dyn FnMut()>,
    _message: Closure<dyn FnMut(MessageEvent)>,
    _close: Closure<dyn FnMut(CloseEvent)>,
}

impl Socket {
    pub fn open(url: &str, on_event: impl Fn(SocketEvent<'_>) + 'static) -> Result<Self, String> {
        let ws = WebSocket::new_with_str(url, "mqtt").map_err(|e| describe(&e))?;
        ws.set_binary_type(BinaryType::Arraybuffer);
        let on_event = Rc::new(on_event);
        let open = Closure::<dyn FnMut()>::new({
            let on_event = on_event.clone();
            move || on_event(SocketEvent::Opened)
        });
        let message = Closure::<dyn FnMut(MessageEvent)>::new({
            let on_event = on_event.clone();
            let ws = ws.clone();
            move |e: MessageEvent| match e.data().dyn_into::<ArrayBuffer>() {
                Ok(buffer) => on_event(SocketEvent::Bytes(&Uint8Array::new(&buffer).to_vec())),
                // [MQTT-6.0.0-1] Only binary frames carry MQTT: a text frame closes the connection.
                Err(_) => {
                    ws.close().ok();
                }
            }
        });
        let close = Closure::<dyn FnMut(CloseEvent)>::new(move |_: CloseEvent| {
            on_event(SocketEvent::Closed)
        });
        ws.set_onopen(Some(open.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(close.as_ref().unchecked_ref()));
        Ok(Self {
            ws,
            _open: open,
            _message: message,
            _close: close,
        })
    }

    pub fn send(&self, bytes: &[u8]) {
        if self.ws.ready_state() == WebSocket::OPEN {
            self.ws.send_with_u8_array(bytes).ok();
        }
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        self.ws.set_onopen(None);
        self.ws.set_onmessage(None);
        self.ws.set_onclose(None);
        self.ws.close().ok();
    }
}

fn describe(e: &JsValue) -> String {
    e.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| e.as_string())
        .unwrap_or_else(|| "the browser refused to open the connection".into())
}
