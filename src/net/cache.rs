//! The on-device cache in IndexedDB: it carries out the core's cache writes and loads (`chat::cache`) and
//! decides nothing. Rows are stored as the core gives them, JSON strings under out-of-line array keys:
//!
//! | store           | key                                            | value                     |
//! |-----------------|------------------------------------------------|---------------------------|
//! | `messages`      | `[user, conversation, sent_at, sender, id]`    | the message row's JSON    |
//! | `conversations` | `[user, conversation]`                         | the conversation's JSON   |
//! | `unreadable`    | as `messages`                                  | a row the core set aside  |
//!
//! `sent_at` is a JS number, so rows sort by time. IndexedDB compares arrays element by element, a shorter
//! prefix first, and any array after every number and string: `[user, c]..[user, c, []]` is every message
//! of conversation `c`, and `[user]..[user, []]` everything of `user`.
//!
//! Every method reports through its `on_done` exactly once, and never before it has returned. Handlers are
//! one-shot closures, or closures owned by a transaction's completion handler and dropped with it: nothing
//! is leaked per request.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use js_sys::Array;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{
    DomException, Event, IdbCursorDirection, IdbCursorWithValue, IdbDatabase, IdbKeyRange,
    IdbObjectStore, IdbOpenDbRequest, IdbRequest, IdbTransaction, IdbTransactionMode,
    IdbVersionChangeEvent,
};

use crate::chat::cache::{CacheError, Loaded, Row, RowKey, Write};
use crate::chat::sorted::SortedMap;

const NAME: &str = "mqtt-chat";
/// The schema's version. Raising it needs a step of its own in [`upgrade`].
const VERSION: u32 = 1;
const MESSAGES: &str = "messages";
const CONVERSATIONS: &str = "conversations";
const UNREADABLE: &str = "unreadable";

/// The open database. Clones share one connection, closed when the last of them is dropped.
#[derive(Clone)]
pub struct Cache(Rc<Connection>);

struct Connection {
    db: IdbDatabase,
    /// Set once the connection was closed under us (see [`Cache::new`]).
    closed: Rc<Cell<bool>>,
    _on_close: Closure<dyn FnMut(Event)>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.db.set_onversionchange(None);
        self.db.set_onclose(None);
        self.db.close();
    }
}

type OpenDone = Box<dyn FnOnce(Result<Cache, CacheError>)>;

/// Opens the database, creating it or bringing its schema up to date; `on_done` is called exactly once.
pub fn open(on_done: impl FnOnce(Result<Cache, CacheError>) + 'static) {
    let request = match start_open() {
        Ok(request) => request,
        Err(e) => return later(move || on_done(Err(e))),
    };
    // Whoever comes first of `blocked`, `success` and `error` reports.
    let on_done: Rc<RefCell<Option<OpenDone>>> = Rc::new(RefCell::new(Some(Box::new(on_done))));
    let upgrade_failed: Rc<RefCell<Option<String>>> = Rc::default();

    let on_upgrade = Closure::<dyn FnMut(IdbVersionChangeEvent)>::once({
        let request = request.clone();
        let upgrade_failed = upgrade_failed.clone();
        move |event: IdbVersionChangeEvent| {
            if let Err(e) = upgrade(&request, event.old_version()) {
                // Aborting the upgrade fails the open, which reports this.
                *upgrade_failed.borrow_mut() = Some(describe(&e));
                if let Some(tx) = request.transaction() {
                    // An abort that fails means the transaction ended already: the open fails either way.
                    tx.abort().ok();
                }
            }
        }
    });
    // Another tab holds the database open at an older version and did not close it when asked: the open
    // waits until it does, maybe for ever. Say so now rather than hang; a later success is closed again.
    let on_blocked = Closure::<dyn FnMut(Event)>::once({
        let on_done = on_done.clone();
        move |_: Event| {
            let f = on_done.borrow_mut().take();
            if let Some(f) = f {
                f(Err(CacheError::Unavailable(
                    "another tab keeps an older version of the database open".into(),
                )));
            }
        }
    });
    request.set_onupgradeneeded(Some(on_upgrade.as_ref().unchecked_ref()));
    request.set_onblocked(Some(on_blocked.as_ref().unchecked_ref()));
    // `success` or `error`, one of them once: it reports, and drops the other handlers.
    let finish = Closure::once_into_js({
        let request = request.clone();
        move |event: Event| {
            request.set_onupgradeneeded(None);
            request.set_onblocked(None);
            request.set_onsuccess(None);
            request.set_onerror(None);
            drop((on_upgrade, on_blocked));
            let result = if event.type_() == "success" {
                request
                    .result()
                    .and_then(|db| db.dyn_into::<IdbDatabase>())
                    .map(Cache::new)
                    .map_err(|e| CacheError::Unavailable(describe(&e)))
            } else {
                let reason = upgrade_failed
                    .take()
                    .unwrap_or_else(|| match request.error() {
                        Ok(Some(e)) => describe(&e),
                        _ => "the database could not be opened".into(),
                    });
                Err(CacheError::Unavailable(reason))
            };
            let f = on_done.borrow_mut().take();
            match f {
                Some(f) => f(result),
                // Already reported as blocked: the late connection is dropped, which closes it.
                None => drop(result),
            }
        }
    });
    request.set_onsuccess(Some(finish.unchecked_ref()));
    request.set_onerror(Some(finish.unchecked_ref()));
}

fn start_open() -> Result<IdbOpenDbRequest, CacheError> {
    let unavailable = |e: JsValue| CacheError::Unavailable(describe(&e));
    let window = web_sys::window().ok_or_else(|| CacheError::Unavailable("no window".into()))?;
    let factory = window
        .indexed_db()
        .map_err(unavailable)?
        .ok_or_else(|| CacheError::Unavailable("no IndexedDB".into()))?;
    factory.open_with_u32(NAME, VERSION).map_err(unavailable)
}

/// Brings the schema from version `old` (0: a new database) to [`VERSION`], one step per version in order,
/// so that a database of any age gets every step it lacks. The migration path: version 2 raises `VERSION`
/// and adds `if old < 2.0 { ... }` below the step before it (moving data, if it must, through
/// `request.transaction()`, the upgrade's own transaction). A step that has shipped is never edited:
/// databases out there were made by it.
fn upgrade(request: &IdbOpenDbRequest, old: f64) -> Result<(), JsValue> {
    let db: IdbDatabase = request.result()?.dyn_into()?;
    // Version 1: the three stores, out-of-line keys, JSON string values.
    if old < 1.0 {
        for store in [MESSAGES, CONVERSATIONS, UNREADABLE] {
            db.create_object_store(store)?;
        }
    }
    Ok(())
}

impl Cache {
    fn new(db: IdbDatabase) -> Self {
        let closed = Rc::new(Cell::new(false));
        // Another tab opening a newer version (or deleting the database) waits until every connection is
        // closed: close at once rather than block it for ever. This tab's cache is then unavailable until the
        // page is loaded again. `close` is the browser closing the connection itself (site data cleared).
        let on_close = Closure::<dyn FnMut(Event)>::new({
            let db = db.clone();
            let closed = closed.clone();
            move |_: Event| {
                closed.set(true);
                db.close();
            }
        });
        db.set_onversionchange(Some(on_close.as_ref().unchecked_ref()));
        db.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        Self(Rc::new(Connection {
            db,
            closed,
            _on_close: on_close,
        }))
    }

    /// Every conversation row of `user`, and the newest `per_conversation` message rows of each conversation
    /// that has a conversation row (newest first within each), in one read-only transaction.
    pub fn load(
        &self,
        user: &str,
        per_conversation: usize,
        on_done: impl FnOnce(Result<Loaded, CacheError>) + 'static,
    ) {
        #[derive(Default)]
        struct Found {
            conversations: Vec<(String, String)>,
            // A sorted list rather than a BTreeMap: the page has no B-tree code otherwise.
            messages: SortedMap<String, Vec<Row>>,
        }
        let found: Rc<RefCell<Found>> = Rc::default();
        let user = user.to_owned();
        let stores = [CONVERSATIONS, MESSAGES];
        self.run(&stores, IdbTransactionMode::Readonly, on_done, |tx| {
            // One handler for every conversation's cursor: the row's key says which conversation it is in.
            let on_message = Closure::<dyn FnMut(Event)>::new({
                let tx = tx.clone();
                let found = found.clone();
                move |event: Event| {
                    let Some(cursor) = cursor(&event) else {
                        return;
                    };
                    match message(&cursor) {
                        Ok(Some(row)) => {
                            let mut found = found.borrow_mut();
                            let rows = found.messages.get_or_default(row.conversation.clone());
                            rows.push(row);
                            if rows.len() >= per_conversation {
                                return;
                            }
                        }
                        // Not a row this module wrote: skipped, and not counted.
                        Ok(None) => {}
                        Err(e) => return tx.fail(&e),
                    }
                    if let Err(e) = cursor.continue_() {
                        tx.fail(&e);
                    }
                }
            });
            let on_message_fn: js_sys::Function = on_message.as_ref().clone().unchecked_into();
            let on_conversation = Closure::<dyn FnMut(Event)>::new({
                let tx = tx.clone();
                let found = found.clone();
                let user = user.clone();
                move |event: Event| {
                    let Some(cursor) = cursor(&event) else {
                        return;
                    };
                    let step = || -> Result<(), JsValue> {
                        let conversation = cursor
                            .key()?
                            .dyn_ref::<Array>()
                            .and_then(|k| k.get(1).as_string());
                        let value = cursor.value()?.as_string();
                        if let (Some(conversation), Some(value)) = (conversation, value) {
                            if per_conversation > 0 {
                                let range = conversation_range(&user, &conversation)?;
                                let request =
                                    tx.store(MESSAGES)?.open_cursor_with_range_and_direction(
                                        &range,
                                        IdbCursorDirection::Prev,
                                    )?;
                                request.set_onsuccess(Some(&on_message_fn));
                            }
                            found.borrow_mut().conversations.push((conversation, value));
                        }
                        cursor.continue_()
                    };
                    if let Err(e) = step() {
                        tx.fail(&e);
                    }
                }
            });
            let request = tx
                .store(CONVERSATIONS)?
                .open_cursor_with_range(&user_range(&user)?)?;
            request.set_onsuccess(Some(on_conversation.as_ref().unchecked_ref()));
            Ok(move |result: Result<(), CacheError>| {
                drop((on_conversation, on_message));
                result.map(|()| {
                    let Found {
                        conversations,
                        mut messages,
                    } = found.take();
                    let messages = conversations
                        .iter()
                        .flat_map(|(c, _)| messages.remove(c).unwrap_or_default())
                        .collect();
                    Loaded {
                        conversations,
                        messages,
                    }
                })
            })
        });
    }

    /// Carries out `writes` for `user`, in order, in one read-write transaction over the stores they touch:
    /// all of them or none. `Ok` once it has committed.
    pub fn write(
        &self,
        user: &str,
        writes: Vec<Write>,
        on_done: impl FnOnce(Result<(), CacheError>) + 'static,
    ) {
        if writes.is_empty() {
            return later(move || on_done(Ok(())));
        }
        let touches = |store: &str| {
            writes.iter().any(|w| match w {
                Write::Put(_) | Write::Delete(_) => store == MESSAGES,
                Write::PutConversation { .. } => store == CONVERSATIONS,
                Write::DeleteConversation(_) => store == CONVERSATIONS || store == MESSAGES,
                Write::SetAside(_) => store == MESSAGES || store == UNREADABLE,
            })
        };
        let stores: Vec<&str> = [MESSAGES, CONVERSATIONS, UNREADABLE]
            .into_iter()
            .filter(|s| touches(s))
            .collect();
        let (user, writes) = (Rc::<str>::from(user), Rc::new(writes));
        // The handlers that place the later chunks, owned by the transaction's completion handler and dropped
        // with it (the transaction may end before they run: a refused request aborts it).
        let chain = Chain::default();
        self.run(&stores, IdbTransactionMode::Readwrite, on_done, |tx| {
            place(tx, &user, &writes, 0, &chain)?;
            Ok(move |result| {
                chain.borrow_mut().clear();
                result
            })
        });
    }

    /// Removes everything of `user` from every store (signing out on a shared computer).
    pub fn clear_user(&self, user: &str, on_done: impl FnOnce(Result<(), CacheError>) + 'static) {
        let stores = [MESSAGES, CONVERSATIONS, UNREADABLE];
        self.run(&stores, IdbTransactionMode::Readwrite, on_done, |tx| {
            let range = user_range(user)?;
            for store in stores {
                tx.store(store)?.delete(&range)?;
            }
            Ok(|result| result)
        });
    }

    /// Starts a transaction over `stores` and places its requests (`requests`); when it commits or aborts,
    /// the function `requests` returned turns that into what `on_done` hears. A request the browser
    /// refuses at once aborts the transaction, which then reports that refusal.
    fn run<T, F>(
        &self,
        stores: &[&str],
        mode: IdbTransactionMode,
        on_done: impl FnOnce(Result<T, CacheError>) + 'static,
        requests: impl FnOnce(&Tx) -> Result<F, JsValue>,
    ) where
        F: FnOnce(Result<(), CacheError>) -> Result<T, CacheError> + 'static,
    {
        let tx = match self.transaction(stores, mode) {
            Ok(tx) => tx,
            Err(e) => return later(move || on_done(Err(e))),
        };
        match requests(&tx) {
            Ok(finish) => tx.on_finish(move |result| on_done(finish(result))),
            Err(e) => {
                tx.fail(&e);
                tx.on_finish(move |result| {
                    let aborted = || CacheError::Failed("the transaction was aborted".into());
                    on_done(Err(result.err().unwrap_or_else(aborted)))
                });
            }
        }
    }

    fn transaction(&self, stores: &[&str], mode: IdbTransactionMode) -> Result<Tx, CacheError> {
        if self.0.closed.get() {
            return Err(CacheError::Unavailable(
                "the database was closed: another tab upgraded or deleted it".into(),
            ));
        }
        let names: Array = stores.iter().map(|s| JsValue::from_str(s)).collect();
        let tx = self
            .0
            .db
            .transaction_with_str_sequence_and_mode(&names, mode)
            .map_err(|e| error(&e))?;
        Ok(Tx {
            tx,
            failed: Rc::default(),
        })
    }
}

/// At most this many writes are placed in one task. A batch of thousands (a flood in a busy room) is placed
/// a chunk at a time, the next when the last request of the one before has succeeded: still one transaction
/// (it stays active in its requests' callbacks), and no task of the page spends long on it.
const PER_TASK: usize = 100;

/// The handlers of a chunked batch (see [`place`]).
type Chain = Rc<RefCell<Vec<Closure<dyn FnMut()>>>>;

/// Places `writes[from..]` in `tx`, PER_TASK of them now and the rest as the requests before them succeed.
/// A request the browser refuses later aborts the transaction, as one refused now does. The handler that
/// places the next chunk goes into `chain`, which the transaction's completion handler empties.
fn place(
    tx: &Tx,
    user: &Rc<str>,
    writes: &Rc<Vec<Write>>,
    from: usize,
    chain: &Chain,
) -> Result<(), JsValue> {
    let end = from.saturating_add(PER_TASK).min(writes.len());
    let mut last = None;
    for write in writes.get(from..end).unwrap_or_default() {
        last = Some(place_one(tx, user, write)?);
    }
    if let (Some(request), true) = (last, end < writes.len()) {
        let (tx, user, writes, later) = (
            tx.clone(),
            Rc::clone(user),
            Rc::clone(writes),
            Rc::clone(chain),
        );
        let mut placed = false;
        let next = Closure::<dyn FnMut()>::new(move || {
            // A request succeeds once; once is all this may place.
            if !std::mem::replace(&mut placed, true) {
                if let Err(e) = place(&tx, &user, &writes, end, &later) {
                    tx.fail(&e);
                }
            }
        });
        request.set_onsuccess(Some(next.as_ref().unchecked_ref()));
        chain.borrow_mut().push(next);
    }
    Ok(())
}

/// Places one write; the request placed last.
fn place_one(tx: &Tx, user: &str, write: &Write) -> Result<IdbRequest, JsValue> {
    match write {
        Write::Put(row) => tx
            .store(MESSAGES)?
            .put_with_key(&row.value.as_str().into(), &message_key(user, &row.key())),
        Write::Delete(key) => tx.store(MESSAGES)?.delete(&message_key(user, key)),
        Write::PutConversation {
            conversation,
            value,
        } => tx.store(CONVERSATIONS)?.put_with_key(
            &value.as_str().into(),
            &Array::of2(&user.into(), &conversation.into()),
        ),
        Write::DeleteConversation(conversation) => {
            tx.store(CONVERSATIONS)?
                .delete(&Array::of2(&user.into(), &conversation.into()))?;
            tx.store(MESSAGES)?
                .delete(&conversation_range(user, conversation)?)
        }
        Write::SetAside(row) => {
            let key = message_key(user, &row.key());
            tx.store(UNREADABLE)?
                .put_with_key(&row.value.as_str().into(), &key)?;
            tx.store(MESSAGES)?.delete(&key)
        }
    }
}

/// One transaction, and the first request it refused at once (which its `abort` then reports).
#[derive(Clone)]
struct Tx {
    tx: IdbTransaction,
    failed: Rc<RefCell<Option<CacheError>>>,
}

impl Tx {
    fn store(&self, name: &str) -> Result<IdbObjectStore, JsValue> {
        self.tx.object_store(name)
    }

    fn fail(&self, e: &JsValue) {
        self.failed.borrow_mut().get_or_insert_with(|| error(e));
        // Already ended (aborted or committed): the completion handler reports `failed` either way.
        self.tx.abort().ok();
    }

    /// Calls `f` once, when the transaction has committed (`Ok`) or aborted. Exactly one of `complete` and
    /// `abort` ends every transaction, so one one-shot closure serves both.
    fn on_finish(&self, f: impl FnOnce(Result<(), CacheError>) + 'static) {
        let this = self.clone();
        let finish = Closure::once_into_js(move |event: Event| {
            this.tx.set_oncomplete(None);
            this.tx.set_onabort(None);
            let result = if event.type_() == "complete" {
                Ok(())
            } else {
                let failed = this.failed.take();
                Err(failed.unwrap_or_else(|| match this.tx.error() {
                    Some(e) => error(&e),
                    None => CacheError::Failed("the transaction was aborted".into()),
                }))
            };
            f(result)
        });
        self.tx.set_oncomplete(Some(finish.unchecked_ref()));
        self.tx.set_onabort(Some(finish.unchecked_ref()));
    }
}

fn message_key(user: &str, key: &RowKey) -> Array {
    Array::of5(
        &user.into(),
        &key.conversation.as_str().into(),
        // Milliseconds: exact in a JS number for the next 285,000 years.
        &(key.sent_at as f64).into(),
        &key.sender.as_str().into(),
        &key.id.as_str().into(),
    )
}

/// Every message row of one conversation: `[user, conversation]..[user, conversation, []]`.
fn conversation_range(user: &str, conversation: &str) -> Result<JsValue, JsValue> {
    let (user, conversation) = (JsValue::from(user), JsValue::from(conversation));
    IdbKeyRange::bound(
        &Array::of2(&user, &conversation),
        &Array::of3(&user, &conversation, &Array::new()),
    )
    .map(JsValue::from)
}

/// Every row of one user, in any store: `[user]..[user, []]`.
fn user_range(user: &str) -> Result<JsValue, JsValue> {
    let user = JsValue::from(user);
    IdbKeyRange::bound(&Array::of1(&user), &Array::of2(&user, &Array::new())).map(JsValue::from)
}

/// The cursor a cursor request's `success` carries, or `None` once it has gone past its range.
fn cursor(event: &Event) -> Option<IdbCursorWithValue> {
    let request: IdbRequest = event.target()?.dyn_into().ok()?;
    request.result().ok()?.dyn_into().ok()
}

/// The message row under `cursor`; `None` if its key or value is not of the shape this module writes.
fn message(cursor: &IdbCursorWithValue) -> Result<Option<Row>, JsValue> {
    let (key, value) = (cursor.key()?, cursor.value()?);
    let Some(key) = key.dyn_ref::<Array>() else {
        return Ok(None);
    };
    Ok((|| {
        Some(Row {
            conversation: key.get(1).as_string()?,
            sent_at: key.get(2).as_f64()? as i64,
            sender: key.get(3).as_string()?,
            id: key.get(4).as_string()?,
            value: value.as_string()?,
        })
    })())
}

/// The cache's error for what the browser threw or reported; a full quota is a case of its own.
fn error(e: &JsValue) -> CacheError {
    match e.dyn_ref::<DomException>() {
        Some(e) if e.name() == "QuotaExceededError" => CacheError::Quota,
        _ => CacheError::Failed(describe(e)),
    }
}

fn describe(e: &JsValue) -> String {
    if let Some(e) = e.dyn_ref::<DomException>() {
        format!("{}: {}", e.name(), e.message())
    } else if let Some(e) = e.dyn_ref::<js_sys::Error>() {
        String::from(e.message())
    } else {
        e.as_string().unwrap_or_else(|| "unknown error".into())
    }
}

/// Calls `f` from a microtask: a caller never hears back while still inside the call that asked, errors
/// found at once included. (Without a window, and so without IndexedDB, at once.)
fn later(f: impl FnOnce() + 'static) {
    let f = Closure::once_into_js(f);
    match web_sys::window() {
        Some(window) => window.queue_microtask(f.unchecked_ref()),
        None => {
            if let Ok(f) = f.dyn_into::<js_sys::Function>() {
                // A Rust closure: it does not throw.
                f.call0(&JsValue::NULL).ok();
            }
        }
    }
}
