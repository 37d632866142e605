//! Tests in a real browser (headless Chromium via wasm-bindgen-test-runner): the I/O module against a real
//! Mosquitto, and the app's controls. `scripts/test wasm` starts the broker and sets
//! `MQTT_CHAT_TEST_BROKER` (its websocket URL) at compile time.
#![cfg(target_arch = "wasm32")]

use std::cell::RefCell;
use std::rc::Rc;

use gloo_timers::future::TimeoutFuture;
use mqtt_chat::chat::cache::Loaded;
use mqtt_chat::chat::settings::Brokers;
use mqtt_chat::chat::{App, Content, Conversation, Delivery, Env, Input, Output, Status};
use mqtt_chat::net::{self, Socket, SocketEvent};
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

// A missing URL fails the tests that need a broker, with this message, instead of failing the build:
// `cargo clippy --all-targets` must still compile this file without a broker.
#[allow(clippy::option_env_unwrap)]
fn broker() -> &'static str {
    option_env!("MQTT_CHAT_TEST_BROKER")
        .expect("MQTT_CHAT_TEST_BROKER must name the test broker's websocket URL (scripts/test wasm sets it)")
}

/// A chat core driven over the browser's real WebSocket (`net::Socket`), without the view: the I/O module
/// against a real Mosquitto. Timers are not armed (the tests are shorter than any of them).
#[derive(Clone)]
struct Tab {
    app: Rc<RefCell<App>>,
    socket: Rc<RefCell<Option<Socket>>>,
}

fn env() -> Env {
    Env {
        now: net::now(),
        wall: net::wall(),
        random: net::random_u64(),
    }
}

impl Tab {
    fn join(name: &str, url: &str) -> Self {
        let brokers = Brokers::parse(url, None).unwrap();
        let tab = Self {
            app: Rc::new(RefCell::new(App::new(Vec::new(), brokers, None))),
            socket: Rc::default(),
        };
        tab.input(Input::Join {
            name: name.into(),
            brokers: url.into(),
            password: None,
        });
        tab
    }

    fn input(&self, input: Input<'_>) {
        self.app.borrow_mut().handle(input, env()).unwrap();
        loop {
            let Some(output) = self.app.borrow_mut().poll_output() else {
                break;
            };
            match output {
                Output::Connect(url) => {
                    let tab = self.clone();
                    let socket = Socket::open(&url, move |e| {
                        tab.input(match e {
                            SocketEvent::Opened => Input::Opened,
                            SocketEvent::Bytes(b) => Input::Bytes(b),
                            SocketEvent::Closed => Input::Closed,
                        })
                    })
                    .unwrap();
                    *self.socket.borrow_mut() = Some(socket);
                }
                Output::Send(bytes) => {
                    if let Some(s) = &*self.socket.borrow() {
                        s.send(&bytes);
                    }
                }
                Output::Disconnect => *self.socket.borrow_mut() = None,
                // Nothing kept on the device here (tests/cache.rs tests the cache).
                Output::LoadCache(_) => self.input(Input::CacheLoaded(Ok(Loaded::default()))),
                _ => {}
            }
        }
    }
}

/// Waits up to 5 s for `pred` to hold of the tab's core.
async fn wait_for(tab: &Tab, what: &str, pred: impl Fn(&App) -> bool) {
    for _ in 0..100 {
        if pred(&tab.app.borrow()) {
            return;
        }
        TimeoutFuture::new(50).await;
    }
    panic!(
        "no {what} within 5 s; status: {:?}",
        tab.app.borrow().status()
    );
}

#[wasm_bindgen_test]
async fn two_tabs_chat_through_the_real_broker() {
    let alice = Tab::join("alice", broker());
    let bob = Tab::join("bob", broker());
    let online = |a: &App| *a.status() == Status::Connected;
    wait_for(&alice, "alice online", online).await;
    wait_for(&bob, "bob online", online).await;

    let general = Conversation::Room("general".into());
    alice.input(Input::Send("hello from wasm".into()));
    let mine = alice.app.borrow().model().messages(&general)[0].clone();
    assert_eq!(alice.app.borrow().delivery(&mine), Delivery::Pending);
    let sent = |a: &App| {
        a.model()
            .messages(&general)
            .first()
            .is_some_and(|m| a.delivery(m) == Delivery::Sent)
    };
    wait_for(&alice, "PUBACK", sent).await;
    let got = |a: &App| !a.model().messages(&general).is_empty();
    wait_for(&bob, "the message at bob", got).await;
    let m = bob.app.borrow().model().messages(&general)[0].clone();
    assert_eq!(
        (m.sender.as_str(), m.conversation.clone()),
        ("alice", general)
    );
    assert_eq!(m.content, Content::Text("hello from wasm".into()));
    assert_eq!(m.id, mine.id);
    assert_eq!(bob.app.borrow().delivery(&m), Delivery::Received);
}

#[wasm_bindgen_test]
async fn an_unreachable_broker_is_reported_in_words() {
    // Port 9 (discard) on loopback: nothing listens there.
    let carol = Tab::join("carol", "ws://127.0.0.1:9");
    let retrying = |a: &App| matches!(a.status(), Status::Reconnecting { .. });
    wait_for(&carol, "a close", retrying).await;
    let Status::Reconnecting { reason, .. } = carol.app.borrow().status().clone() else {
        unreachable!()
    };
    assert_eq!(
        reason.to_string(),
        "cannot reach the broker at ws://127.0.0.1:9"
    );
}

#[wasm_bindgen_test]
async fn the_login_form_has_its_accessible_names_and_refuses_bad_names() {
    let document = web_sys::window().unwrap().document().unwrap();
    leptos::mount::mount_to_body(mqtt_chat::ui::App);
    TimeoutFuture::new(0).await;
    let labels = document.query_selector_all("form.login label").unwrap();
    let names: Vec<String> = (0..labels.length())
        .filter_map(|i| labels.item(i))
        .map(|l| l.text_content().unwrap_or_default().trim().to_owned())
        .collect();
    assert_eq!(names, ["Name", "Password", "Broker"]);
    let name: web_sys::HtmlInputElement = document
        .query_selector("form.login input[name=name]")
        .unwrap()
        .unwrap()
        .dyn_into()
        .unwrap();
    name.set_value("a/b");
    name.dispatch_event(&web_sys::Event::new("input").unwrap())
        .unwrap();
    let button: web_sys::HtmlElement = document
        .query_selector("form.login button")
        .unwrap()
        .unwrap()
        .dyn_into()
        .unwrap();
    assert_eq!(button.text_content().unwrap(), "Join");
    button.click();
    TimeoutFuture::new(0).await;
    let alert = document
        .query_selector("[role=alert]")
        .unwrap()
        .expect("an alert");
    assert_eq!(alert.text_content().unwrap(), "a name cannot contain '/'");
}
