//! Tests in a real browser (headless Chromium via wasm-bindgen-test-runner): the I/O module against a real
//! Mosquitto, and the app's controls. `scripts/test wasm` starts the broker and sets
//! `MQTT_CHAT_TEST_BROKER` (its websocket URL) at compile time.
#![cfg(target_arch = "wasm32")]

use std::cell::RefCell;
use std::rc::Rc;

use gloo_timers::future::TimeoutFuture;
use mqtt_chat::chat::{ChatEvent, Client, Content, Conversation, Delivery, Identity};
use mqtt_chat::net::{new_client_id, new_id, Link};
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

type Log = Rc<RefCell<Vec<ChatEvent>>>;

fn open(name: &str, url: &str) -> (Link, Log) {
    let log: Log = Rc::default();
    let sink = log.clone();
    let identity = Identity {
        name: name.into(),
        client_id: new_client_id(),
        browser_id: new_id("b"),
        password: None,
    };
    let client = Client::new(identity, &[]).unwrap();
    let link = Link::open(url, client, move |e| sink.borrow_mut().push(e)).unwrap();
    (link, log)
}

/// Waits up to 5 s for an event matching `pred`.
async fn wait_for(log: &Log, what: &str, pred: impl Fn(&ChatEvent) -> bool) -> ChatEvent {
    for _ in 0..100 {
        if let Some(e) = log.borrow().iter().find(|e| pred(e)) {
            return e.clone();
        }
        TimeoutFuture::new(50).await;
    }
    panic!("no {what} within 5 s; events: {:?}", log.borrow());
}

#[wasm_bindgen_test]
async fn two_links_chat_through_the_real_broker() {
    let (alice, alice_log) = open("alice", broker());
    let (_bob, bob_log) = open("bob", broker());
    wait_for(&alice_log, "CONNACK for alice", |e| {
        *e == ChatEvent::Connected
    })
    .await;
    wait_for(&bob_log, "CONNACK for bob", |e| *e == ChatEvent::Connected).await;
    // Let both SUBACKs arrive before publishing.
    TimeoutFuture::new(300).await;

    let general = Conversation::Room("general".into());
    let sent = alice
        .act(|c, now, wall| c.send(&general, "hello from wasm", now, wall))
        .unwrap();
    assert_eq!(sent.delivery, Delivery::Pending);
    let id = sent.id.clone();
    wait_for(&alice_log, "PUBACK", |e| {
        *e == ChatEvent::Delivered(id.clone())
    })
    .await;
    let got = wait_for(&bob_log, "the message at bob", |e| {
        matches!(e, ChatEvent::Message(_))
    })
    .await;
    let ChatEvent::Message(m) = got else {
        unreachable!()
    };
    assert_eq!(
        (m.sender.as_str(), m.conversation.clone()),
        ("alice", general)
    );
    assert_eq!(m.content, Content::Text("hello from wasm".into()));
    assert_eq!(m.id, sent.id);
    assert_eq!(m.delivery, Delivery::Received);
}

#[wasm_bindgen_test]
async fn an_unreachable_broker_is_reported_in_words() {
    // Port 9 (discard) on loopback: nothing listens there.
    let (_link, log) = open("carol", "ws://127.0.0.1:9");
    let ChatEvent::Closed { reason, retry } =
        wait_for(&log, "a close", |e| matches!(e, ChatEvent::Closed { .. })).await
    else {
        unreachable!()
    };
    assert_eq!(reason, "cannot reach the broker at ws://127.0.0.1:9");
    assert!(retry, "an unreachable broker is worth trying again");
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
