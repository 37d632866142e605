//! Browser I/O, all of it: the WebSocket to the broker, the protocol timer, the clocks.
//!
//! A [`Link`] owns one WebSocket (subprotocol `mqtt`, binary frames [MQTT-6.0.0-1, 6.0.0-3]) and the
//! [`Client`] it drives. Bytes go straight between the two; chat events go to the UI's callback, always
//! after the link's state is released, so the UI may call back in.

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use gloo_timers::callback::Timeout;
use js_sys::{ArrayBuffer, Uint8Array};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{BinaryType, CloseEvent, MessageEvent, WebSocket};

use crate::chat::{ChatEvent, ChatMessage, Client, SendError};

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

/// A client id unique to this tab: the broker disconnects an older connection with the same id.
/// 18 alphanumeric characters, within the 1–23 every broker must accept [MQTT-3.1.3-5].
pub fn new_client_id() -> String {
    let a = (js_sys::Math::random() * f64::from(u32::MAX)) as u32;
    let b = (js_sys::Math::random() * f64::from(u32::MAX)) as u32;
    format!("mc{a:08x}{b:08x}")
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
}

impl Link {
    /// Opens a WebSocket to `url` and connects `client` over it. Events arrive through `on_event`.
    pub fn open(
        url: &str,
        client: Client,
        on_event: impl Fn(ChatEvent) + 'static,
    ) -> Result<Self, String> {
        let ws = WebSocket::new_with_str(url, "mqtt").map_err(|e| describe(&e))?;
        ws.set_binary_type(BinaryType::Arraybuffer);
        let inner = Rc::new(RefCell::new(Inner {
            ws: ws.clone(),
            url: url.to_owned(),
            client,
            on_event: Rc::new(on_event),
            opened: false,
            timer: None,
            handlers: None,
        }));
        let weak = Rc::downgrade(&inner);

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
                    on_event(ChatEvent::Closed(format!(
                        "cannot reach the broker at {url}"
                    )));
                }
            }
        });
        ws.set_onopen(Some(open.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(close.as_ref().unchecked_ref()));
        inner.borrow_mut().handlers = Some(Handlers {
            _open: open,
            _message: message,
            _close: close,
        });
        Ok(Self { inner })
    }

    /// Sends a chat message; see [`Client::send`].
    pub fn send(&self, room: &str, text: &str) -> Result<ChatMessage, SendError> {
        let result = self
            .inner
            .borrow_mut()
            .client
            .send(room, text, now(), wall());
        pump(&self.inner);
        result
    }

    pub fn url(&self) -> String {
        self.inner.borrow().url.clone()
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
        if events.iter().any(|e| matches!(e, ChatEvent::Closed(_))) {
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
