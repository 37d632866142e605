//! The on-device cache (`net::cache`) against the real IndexedDB of headless Chromium (`scripts/test wasm`).
//! Every test has users of its own, so that the tests do not see each other's rows.
#![cfg(target_arch = "wasm32")]

use std::cell::RefCell;
use std::rc::Rc;

use gloo_timers::future::TimeoutFuture;
use js_sys::Array;
use mqtt_chat::chat::cache::{CacheError, Loaded, Row, RowKey, Write};
use mqtt_chat::net::{self, cache, cache::Cache};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::*;
use web_sys::{IdbDatabase, IdbOpenDbRequest, IdbRequest};

wasm_bindgen_test_configure!(run_in_browser);

/// Starts a callback-style call and waits for what it reports (at most 20 s). It must not report before
/// the call has returned.
async fn reported<T: 'static>(start: impl FnOnce(Box<dyn FnOnce(T)>)) -> T {
    let slot: Rc<RefCell<Option<T>>> = Rc::default();
    start(Box::new({
        let slot = slot.clone();
        move |value| *slot.borrow_mut() = Some(value)
    }));
    assert!(slot.borrow().is_none(), "reported before the call returned");
    for _ in 0..2000 {
        TimeoutFuture::new(10).await;
        if let Some(value) = slot.borrow_mut().take() {
            return value;
        }
    }
    panic!("nothing reported within 20 s");
}

async fn open() -> Cache {
    reported(cache::open).await.expect("the cache opens")
}

async fn write(cache: &Cache, user: &str, writes: Vec<Write>) {
    let result = reported(|done| cache.write(user, writes, done)).await;
    result.expect("the write commits");
}

async fn load(cache: &Cache, user: &str, per_conversation: usize) -> Loaded {
    let result = reported(|done| cache.load(user, per_conversation, done)).await;
    result.expect("the load succeeds")
}

/// A user name no other test (or earlier run) uses.
fn user(test: &str) -> String {
    format!("{test}-{:x}", net::random_u64())
}

fn row(conversation: &str, sent_at: i64, id: &str) -> Row {
    Row {
        conversation: conversation.into(),
        sent_at,
        sender: "ann".into(),
        id: id.into(),
        value: format!(r#"{{"text":"{id}"}}"#),
    }
}

fn conversation(conversation: &str, value: &str) -> Write {
    Write::PutConversation {
        conversation: conversation.into(),
        value: value.into(),
    }
}

/// The loaded messages as (conversation, sent_at, id), in the order loaded.
fn messages(loaded: &Loaded) -> Vec<(&str, i64, &str)> {
    loaded
        .messages
        .iter()
        .map(|r| (r.conversation.as_str(), r.sent_at, r.id.as_str()))
        .collect()
}

fn conversations(loaded: &Loaded) -> Vec<&str> {
    loaded
        .conversations
        .iter()
        .map(|(c, _)| c.as_str())
        .collect()
}

/// Waits for an IndexedDB request's `success` (`Ok(result)`), `error` or `blocked` (`Err(event type)`).
async fn outcome(request: &IdbRequest) -> Result<JsValue, String> {
    reported(|done| {
        let done = Rc::new(RefCell::new(Some(done)));
        for event in ["success", "error", "blocked"] {
            let f = Closure::<dyn FnMut()>::new({
                let (request, done) = (request.clone(), done.clone());
                move || {
                    let Some(done) = done.borrow_mut().take() else {
                        return;
                    };
                    done(match event {
                        "success" => Ok(request.result().unwrap()),
                        other => Err(other.to_string()),
                    });
                }
            });
            request
                .add_event_listener_with_callback(event, f.as_ref().unchecked_ref())
                .unwrap();
            f.forget();
        }
    })
    .await
}

fn factory() -> web_sys::IdbFactory {
    web_sys::window().unwrap().indexed_db().unwrap().unwrap()
}

/// The `unreadable` store's value under a message row's key, read past the module under test.
async fn unreadable(user: &str, key: &RowKey) -> Option<String> {
    let open: IdbOpenDbRequest = factory().open("mqtt-chat").unwrap();
    let db: IdbDatabase = outcome(&open).await.unwrap().dyn_into().unwrap();
    let key = Array::of5(
        &user.into(),
        &key.conversation.as_str().into(),
        &(key.sent_at as f64).into(),
        &key.sender.as_str().into(),
        &key.id.as_str().into(),
    );
    let store = db
        .transaction_with_str("unreadable")
        .unwrap()
        .object_store("unreadable")
        .unwrap();
    let value = outcome(&store.get(&key).unwrap()).await.unwrap();
    db.close();
    value.as_string()
}

#[wasm_bindgen_test]
async fn rows_come_back_newest_first_per_conversation_and_at_most_as_many_as_asked() {
    let cache = open().await;
    let ann = user("newest");
    // Written out of order; 100 after 10 after 9: times sort as numbers, not as text.
    let mut writes = vec![
        conversation("#b", "{}"),
        conversation("#a", r#"{"unread":2}"#),
    ];
    for (conversation, sent_at, id) in [
        ("#a", 9, "a9"),
        ("#b", 1, "b1"),
        ("#a", 100, "a100"),
        ("#a", 2, "a2"),
        ("#a", 10, "a10"),
        ("#b", 2, "b2"),
        // No conversation row: not loaded.
        ("#c", 5, "c5"),
    ] {
        writes.push(Write::Put(row(conversation, sent_at, id)));
    }
    write(&cache, &ann, writes).await;

    let loaded = load(&cache, &ann, 3).await;
    assert_eq!(
        loaded.conversations,
        [
            ("#a".into(), r#"{"unread":2}"#.into()),
            ("#b".into(), "{}".into())
        ]
    );
    assert_eq!(
        messages(&loaded),
        [
            ("#a", 100, "a100"),
            ("#a", 10, "a10"),
            ("#a", 9, "a9"),
            ("#b", 2, "b2"),
            ("#b", 1, "b1")
        ]
    );
    assert_eq!(loaded.messages[0], row("#a", 100, "a100"));

    let loaded = load(&cache, &ann, 0).await;
    assert_eq!(conversations(&loaded), ["#a", "#b"]);
    assert!(loaded.messages.is_empty());

    assert_eq!(load(&cache, &user("nobody"), 10).await, Loaded::default());
}

#[wasm_bindgen_test]
async fn a_put_of_an_existing_key_replaces_the_row() {
    let cache = open().await;
    let user = user("replace");
    let first = row("#a", 1, "m");
    let second = Row {
        value: r#"{"text":"edited"}"#.into(),
        ..first.clone()
    };
    write(
        &cache,
        &user,
        vec![conversation("#a", "1"), Write::Put(first)],
    )
    .await;
    write(
        &cache,
        &user,
        vec![conversation("#a", "2"), Write::Put(second.clone())],
    )
    .await;

    let loaded = load(&cache, &user, 10).await;
    assert_eq!(loaded.conversations, [("#a".into(), "2".into())]);
    assert_eq!(loaded.messages, [second]);
}

#[wasm_bindgen_test]
async fn a_delete_removes_that_row_only() {
    let cache = open().await;
    let user = user("delete");
    let rows = [
        row("#a", 1, "one"),
        row("#a", 2, "two"),
        row("#a", 3, "three"),
    ];
    let mut writes = vec![conversation("#a", "{}")];
    writes.extend(rows.iter().cloned().map(Write::Put));
    write(&cache, &user, writes).await;
    write(&cache, &user, vec![Write::Delete(rows[1].key())]).await;

    let loaded = load(&cache, &user, 10).await;
    assert_eq!(messages(&loaded), [("#a", 3, "three"), ("#a", 1, "one")]);
}

#[wasm_bindgen_test]
async fn deleting_a_conversation_removes_its_row_and_its_messages_only() {
    let cache = open().await;
    let user = user("forget");
    // `#ab` starts with `#a`: its rows must not fall in the range of `#a`.
    write(
        &cache,
        &user,
        vec![
            conversation("#a", "{}"),
            conversation("#ab", "{}"),
            Write::Put(row("#a", 1, "a1")),
            Write::Put(row("#a", 2, "a2")),
            Write::Put(row("#ab", 1, "ab1")),
        ],
    )
    .await;
    write(&cache, &user, vec![Write::DeleteConversation("#a".into())]).await;
    let loaded = load(&cache, &user, 10).await;
    assert_eq!(conversations(&loaded), ["#ab"]);
    assert_eq!(messages(&loaded), [("#ab", 1, "ab1")]);

    // A batch is carried out in order: a row put after the delete stays, one put before it does not.
    write(
        &cache,
        &user,
        vec![
            Write::Put(row("#ab", 2, "gone")),
            Write::DeleteConversation("#ab".into()),
            conversation("#ab", "{}"),
            Write::Put(row("#ab", 3, "kept")),
        ],
    )
    .await;
    let loaded = load(&cache, &user, 10).await;
    assert_eq!(messages(&loaded), [("#ab", 3, "kept")]);
}

#[wasm_bindgen_test]
async fn a_row_set_aside_moves_to_unreadable_and_is_no_longer_loaded() {
    let cache = open().await;
    let user = user("aside");
    let bad = Row {
        value: "{not json".into(),
        ..row("#a", 1, "bad")
    };
    let good = row("#a", 2, "good");
    write(
        &cache,
        &user,
        vec![
            conversation("#a", "{}"),
            Write::Put(bad.clone()),
            Write::Put(good.clone()),
        ],
    )
    .await;
    write(&cache, &user, vec![Write::SetAside(bad.clone())]).await;

    assert_eq!(
        load(&cache, &user, 10).await.messages,
        std::slice::from_ref(&good)
    );
    assert_eq!(
        unreadable(&user, &bad.key()).await.as_deref(),
        Some("{not json")
    );
    assert_eq!(unreadable(&user, &good.key()).await, None);
}

#[wasm_bindgen_test]
async fn users_are_kept_apart_and_clearing_one_leaves_the_other() {
    let cache = open().await;
    let ann = user("ann");
    // A name that starts with the other: its rows must not fall in the range of `ann`.
    let annie = format!("{ann}ie");
    let aside = row("#a", 1, "aside");
    for user in [&ann, &annie] {
        write(
            &cache,
            user,
            vec![
                conversation("#a", user),
                Write::Put(row("#a", 2, user)),
                Write::Put(aside.clone()),
                Write::SetAside(aside.clone()),
            ],
        )
        .await;
    }
    let loaded = load(&cache, &ann, 10).await;
    assert_eq!(loaded.conversations, [("#a".into(), ann.clone())]);
    assert_eq!(messages(&loaded), [("#a", 2, ann.as_str())]);

    reported(|done| cache.clear_user(&ann, done)).await.unwrap();
    assert_eq!(load(&cache, &ann, 10).await, Loaded::default());
    assert_eq!(unreadable(&ann, &aside.key()).await, None);

    let loaded = load(&cache, &annie, 10).await;
    assert_eq!(loaded.conversations, [("#a".into(), annie.clone())]);
    assert_eq!(messages(&loaded), [("#a", 2, annie.as_str())]);
    assert!(unreadable(&annie, &aside.key()).await.is_some());
}

#[wasm_bindgen_test]
async fn rows_survive_closing_and_opening_again() {
    let user = user("reload");
    let cache = open().await;
    write(
        &cache,
        &user,
        vec![conversation("#a", "{}"), Write::Put(row("#a", 1, "m"))],
    )
    .await;
    drop(cache);

    let cache = open().await;
    let loaded = load(&cache, &user, 10).await;
    assert_eq!(conversations(&loaded), ["#a"]);
    assert_eq!(loaded.messages, [row("#a", 1, "m")]);
}

#[wasm_bindgen_test]
async fn two_thousand_rows_are_written_in_one_batch() {
    let cache = open().await;
    let user = user("batch");
    let mut writes = vec![conversation("#big", "{}")];
    let now = 1_760_000_000_000;
    writes.extend((0..2000).map(|i| Write::Put(row("#big", now + i, &format!("m{i}")))));
    write(&cache, &user, writes).await;

    let loaded = load(&cache, &user, 5000).await;
    assert_eq!(loaded.messages.len(), 2000);
    assert!(loaded
        .messages
        .windows(2)
        .all(|w| w[0].sent_at > w[1].sent_at));
    let newest = load(&cache, &user, 10).await;
    assert_eq!(newest.messages, loaded.messages[..10]);
    assert_eq!(newest.messages[0].id, "m1999");
}

/// A batch is placed a hundred writes at a time (each chunk when the one before succeeded): the writes still
/// apply in order, across chunks, in one transaction.
#[wasm_bindgen_test]
async fn a_batch_placed_in_chunks_applies_in_order() {
    let cache = open().await;
    let user = user("chunks");
    let now = 1_760_000_000_000;
    let mut writes = vec![conversation("#c", "{}")];
    writes.extend((0..250).map(|i| Write::Put(row("#c", now + i, &format!("m{i}")))));
    // In later chunks: m0 deleted, m1 replaced, m0 put back and deleted again.
    writes.push(Write::Delete(row("#c", now, "m0").key()));
    let mut replaced = row("#c", now + 1, "m1");
    replaced.value = r#"{"text":"again"}"#.into();
    writes.push(Write::Put(replaced.clone()));
    writes.push(Write::Put(row("#c", now, "m0")));
    writes.push(Write::Delete(row("#c", now, "m0").key()));
    write(&cache, &user, writes).await;

    let loaded = load(&cache, &user, 1000).await;
    assert_eq!(loaded.messages.len(), 249);
    assert!(loaded.messages.iter().all(|r| r.id != "m0"));
    assert_eq!(loaded.messages.last(), Some(&replaced));
}

#[wasm_bindgen_test]
async fn an_empty_batch_commits() {
    let cache = open().await;
    reported(|done| cache.write("nobody", Vec::new(), done))
        .await
        .unwrap();
}

/// Another tab with a newer page upgrades the database: this tab's connection closes instead of blocking
/// it, and reports the cache unavailable from then on. Ends by deleting the database (the next test opens
/// a new one at version 1); the tests run one at a time.
#[wasm_bindgen_test]
async fn another_tab_upgrading_is_not_blocked_and_the_cache_is_then_unavailable() {
    let cache = open().await;
    let user = user("upgrade");
    write(&cache, &user, vec![conversation("#a", "{}")]).await;

    let newer = factory().open_with_u32("mqtt-chat", 2).unwrap();
    let newer: IdbDatabase = match outcome(&newer).await {
        Ok(db) => db.dyn_into().unwrap(),
        Err(event) => panic!("the upgrade got `{event}`, not `success`"),
    };
    let result = reported(|done| cache.write(&user, vec![conversation("#b", "{}")], done)).await;
    assert!(
        matches!(result, Err(CacheError::Unavailable(_))),
        "{result:?}"
    );
    let result = reported(|done| cache.load(&user, 10, done)).await;
    assert!(
        matches!(result, Err(CacheError::Unavailable(_))),
        "{result:?}"
    );

    // This page's version is now older than the database's: opening fails, and says so.
    let result = reported(cache::open).await;
    assert!(
        matches!(&result, Err(CacheError::Unavailable(m)) if m.contains("VersionError")),
        "{:?}",
        result.err()
    );

    newer.close();
    drop(cache);
    let deleted = factory().delete_database("mqtt-chat").unwrap();
    outcome(&deleted).await.unwrap();
    assert_eq!(load(&open().await, &user, 10).await, Loaded::default());
}
