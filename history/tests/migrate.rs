//! `mqtt-chat-history migrate` against a real Mosquitto running the repo's mosquitto.conf (its limits) and
//! mosquitto.acl, on free ports, one broker per test (as tests/service.rs starts them). The histories are
//! written and read back with the `mqtt` crate's session over TCP, as the bridge user
//! (`mqtt-chat-bridge`, `topic readwrite chat/#`).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use mqtt::{Event, Message, Options, QoS, Session};
use mqtt_chat::chat::client::MAX_PACKET_BYTES;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_mqtt-chat-history");
const WAIT: Duration = Duration::from_secs(30);
const BRIDGE: &str = "mqtt-chat-bridge";
/// Unix ms of 2024-03-01 12:00 UTC, and a day in ms.
const MARCH_1: i64 = 1_709_294_400_000;
const DAY: i64 = 86_400_000;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A directory of the test's own, removed when dropped (a failing test too).
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "mqtt-chat-migrate-{tag}-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Mosquitto with the repository's configuration and ACL, its listeners moved to free ports; killed (and
/// its files removed) when dropped.
struct Broker {
    child: Child,
    port: u16,
    /// Its configuration and data: removed once it is killed (fields drop after `drop`).
    _dir: TempDir,
    /// The unix socket, in accounts mode.
    socket: Option<PathBuf>,
}

impl Broker {
    fn start() -> Broker {
        Self::start_with(&[])
    }

    /// With `accounts` (name, password): accounts mode as scripts/serve runs it, and a unix socket too.
    fn start_with(accounts: &[(&str, &str)]) -> Broker {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let (tcp, ws) = (free_port(), free_port());
        let dir = TempDir::new("broker");
        // Run as root, Mosquitto drops to its own user: it must read these files and write its data.
        set_mode(&dir.0, 0o755);
        let data = dir.0.join("data");
        std::fs::create_dir_all(&data).unwrap();
        set_mode(&data, 0o777);
        let acl = dir.0.join("mosquitto.acl");
        std::fs::copy(root.join("mosquitto.acl"), &acl).unwrap();
        set_mode(&acl, 0o644);
        let source = std::fs::read_to_string(root.join("mosquitto.conf")).unwrap();
        let mut listeners = 0;
        let mut config: Vec<String> = source
            .lines()
            .map(|line| {
                let words: Vec<&str> = line.split_whitespace().collect();
                match words.as_slice() {
                    ["listener", _, interface] => {
                        listeners += 1;
                        let port = if listeners == 1 { tcp } else { ws };
                        format!("listener {port} {interface}")
                    }
                    ["acl_file", ..] => format!("acl_file {}", acl.display()),
                    ["persistence_location", ..] => {
                        format!("persistence_location {}/", data.display())
                    }
                    _ => line.to_owned(),
                }
            })
            .collect();
        assert_eq!(
            listeners, 2,
            "mosquitto.conf: a TCP listener, then a WebSocket one"
        );
        let mut socket = None;
        if !accounts.is_empty() {
            let passwords = dir.0.join("passwords");
            for (i, (name, password)) in accounts.iter().enumerate() {
                let mut add = Command::new("mosquitto_passwd");
                if i == 0 {
                    add.arg("-c");
                }
                let status = add
                    .arg("-b")
                    .arg(&passwords)
                    .args([name, password])
                    .status()
                    .unwrap();
                assert!(status.success());
            }
            set_mode(&passwords, 0o644);
            let path = data.join("mosquitto.sock");
            config.retain(|line| line != "allow_anonymous true");
            config.push("allow_anonymous false".into());
            config.push(format!("password_file {}", passwords.display()));
            config.push(format!("listener 0 {}", path.display()));
            config.push("max_qos 1".into());
            socket = Some(path);
        }
        let conf = dir.0.join("mosquitto.conf");
        std::fs::write(&conf, config.join("\n")).unwrap();
        set_mode(&conf, 0o644);
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto must be installed (scripts/install)");
        let broker = Broker {
            child,
            port: tcp,
            _dir: dir,
            socket,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", tcp)).is_err()
            || broker.socket.as_ref().is_some_and(|s| !s.exists())
        {
            assert!(Instant::now() < deadline, "mosquitto is not listening");
            std::thread::sleep(Duration::from_millis(20));
        }
        broker
    }

    fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client: the `mqtt` session over a blocking TCP stream, read only when a test waits for something.
struct Client {
    stream: TcpStream,
    session: Session,
    start: Instant,
    inbox: Vec<Message>,
    delivered: Vec<u16>,
    subscribed: Vec<u16>,
}

impl Client {
    fn connect(broker: &Broker, user: &str, password: Option<&str>) -> Client {
        let stream = TcpStream::connect(("127.0.0.1", broker.port)).unwrap();
        let mut options = Options::new(format!("test-{user}-{}", free_port()));
        options.username = Some(user.to_owned());
        options.password = password.map(|p| p.as_bytes().to_vec());
        options.max_packet_size = MAX_PACKET_BYTES;
        let mut client = Client {
            stream,
            session: Session::new(options),
            start: Instant::now(),
            inbox: Vec::new(),
            delivered: Vec::new(),
            subscribed: Vec::new(),
        };
        client.session.connect(client.now()).unwrap();
        client.until("CONNACK", |c| c.session.is_connected());
        client
    }

    fn now(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    /// Sends what is queued, then reads for at most `wait`.
    fn pump(&mut self, wait: Duration) {
        while let Some(bytes) = self.session.poll_transmit() {
            self.stream.write_all(&bytes).unwrap();
        }
        self.stream
            .set_read_timeout(Some(wait.max(Duration::from_millis(1))))
            .unwrap();
        let mut buf = vec![0u8; 256 * 1024];
        match self.stream.read(&mut buf) {
            Ok(0) => panic!("the broker closed the connection"),
            Ok(n) => self.session.handle_bytes(&buf[..n], self.now()).unwrap(),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => panic!("read: {e}"),
        }
        self.session.handle_timeout(self.now());
        while let Some(event) = self.session.poll_event() {
            match event {
                Event::Message(m) => self.inbox.push(m),
                Event::Delivered(pid) => self.delivered.push(pid.get()),
                Event::Subscribed { pid, granted } => {
                    assert!(granted.iter().all(Option::is_some), "refused: {granted:?}");
                    self.subscribed.push(pid.get());
                }
                Event::Closed(reason) => panic!("closed: {reason}"),
                _ => {}
            }
        }
        while let Some(bytes) = self.session.poll_transmit() {
            self.stream.write_all(&bytes).unwrap();
        }
    }

    fn until(&mut self, what: &str, done: impl Fn(&Client) -> bool) {
        let deadline = Instant::now() + WAIT;
        while !done(self) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            self.pump(Duration::from_millis(50));
        }
    }

    /// Publishes retained at QoS 1 and waits for the PUBACK.
    fn retain(&mut self, topic: &str, payload: &[u8]) {
        let pid = self
            .session
            .publish(topic, payload, QoS::AtLeastOnce, true, self.now())
            .unwrap()
            .unwrap()
            .get();
        self.until("PUBACK", |c| c.delivered.contains(&pid));
    }

    /// Every retained message under `filter`: subscribed at QoS 0, then the SUBACK of a second SUBSCRIBE
    /// says they have all arrived.
    fn retained(&mut self, filter: &str) -> BTreeMap<String, Vec<u8>> {
        self.inbox.clear();
        let now = self.now();
        self.session
            .subscribe(&[(filter, QoS::AtMostOnce)], now)
            .unwrap();
        let barrier = self
            .session
            .subscribe(&[("chat/rooms/none/typing/nobody", QoS::AtMostOnce)], now)
            .unwrap()
            .get();
        self.until("the barrier's SUBACK", |c| c.subscribed.contains(&barrier));
        self.session.unsubscribe(&[filter], self.now()).unwrap();
        self.inbox
            .drain(..)
            .filter(|m| m.retain)
            .map(|m| (m.topic, m.payload))
            .collect()
    }
}

/// A history byte for byte as the chat writes it: `{"id","text","sent_at"}` each, oldest first.
fn history(messages: &[(&str, i64)]) -> Vec<u8> {
    let list: Vec<String> = messages
        .iter()
        .map(|(id, at)| format!(r#"{{"id":"{id}","text":"text of {id}","sent_at":{at}}}"#))
        .collect();
    format!("[{}]", list.join(",")).into_bytes()
}

/// `(id, sent_at)` of each message of a history.
fn read(payload: &[u8]) -> Vec<(String, i64)> {
    let list: Vec<Value> = serde_json::from_slice(payload).unwrap();
    list.iter()
        .map(|m| {
            let id = m["id"].as_str().unwrap().to_owned();
            assert_eq!(m["text"], format!("text of {id}"), "{m}");
            (id, m["sent_at"].as_i64().unwrap())
        })
        .collect()
}

fn owned(messages: &[(&str, i64)]) -> Vec<(String, i64)> {
    messages
        .iter()
        .map(|(id, at)| (id.to_string(), *at))
        .collect()
}

fn legacy(room: &str, sender: &str) -> String {
    format!("chat/rooms/{room}/history/{sender}")
}

fn by_day(room: &str, day: &str, sender: &str) -> String {
    format!("chat/rooms/{room}/history/{day}/{sender}")
}

/// Runs `mqtt-chat-history migrate` with `args`.
fn migrate(args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("migrate")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}--- stderr\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The summary line of a run that succeeded.
fn done(output: &Output) -> String {
    assert!(output.status.success(), "{}", text(output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    line.strip_prefix("done: ")
        .unwrap_or_else(|| panic!("no summary: {}", text(output)))
        .to_owned()
}

#[test]
fn legacy_histories_move_to_the_day_of_their_newest_intact_and_a_second_run_moves_nothing() {
    let broker = Broker::start();
    let mut bridge = Client::connect(&broker, BRIDGE, None);
    let alice = [("a1", MARCH_1), ("a2", MARCH_1 + 1_000)];
    let bob = [("b1", MARCH_1 - 3 * DAY), ("b2", MARCH_1 + DAY)];
    let carol = [("c1", MARCH_1 + 400 * DAY)];
    let dan = [("d1", MARCH_1 - DAY), ("d2", MARCH_1 - DAY + 5)];
    bridge.retain(&legacy("general", "alice"), &history(&alice));
    bridge.retain(&legacy("general", "bob"), &history(&bob));
    bridge.retain(&legacy("dev", "carol"), &history(&carol));
    bridge.retain(&legacy("dev", "alice"), &history(&dan));
    // Not a history, and not the old layout: untouched.
    bridge.retain("chat/rooms/general/messages/alice", b"kept");

    let summary = done(&migrate(&["--broker", &broker.url()]));
    assert_eq!(
        summary,
        "2 rooms, 4 histories moved (7 messages), 0 empty ones cleared, 0 unreadable left in place, \
         0 skipped (not chat names)"
    );
    let after = bridge.retained("chat/rooms/#");
    let expected: BTreeMap<String, Vec<(String, i64)>> = [
        (by_day("general", "2024-03-01", "alice"), owned(&alice)),
        (by_day("general", "2024-03-02", "bob"), owned(&bob)),
        (by_day("dev", "2025-04-05", "carol"), owned(&carol)),
        (by_day("dev", "2024-02-29", "alice"), owned(&dan)),
    ]
    .into_iter()
    .collect();
    let histories: BTreeMap<String, Vec<(String, i64)>> = after
        .iter()
        .filter(|(t, _)| t.contains("/history/"))
        .map(|(t, p)| (t.clone(), read(p)))
        .collect();
    assert_eq!(histories, expected);
    assert_eq!(
        after
            .get("chat/rooms/general/messages/alice")
            .map(Vec::as_slice),
        Some(&b"kept"[..])
    );

    let again = migrate(&["--broker", &broker.url()]);
    assert_eq!(
        done(&again),
        "0 rooms, 0 histories moved (0 messages), 0 empty ones cleared, 0 unreadable left in place, \
         0 skipped (not chat names)"
    );
    assert_eq!(bridge.retained("chat/rooms/#"), after);
}

#[test]
fn a_sender_with_both_layouts_ends_with_one_merged_history_of_the_newest_fifty() {
    let broker = Broker::start();
    let mut bridge = Client::connect(&broker, BRIDGE, None);
    // The one-level history: o0..o39, a minute apart; the by-day one of the day after: o30..o39 again (a
    // tab that already merged some) and n0..n29; an older day: x0..x4, older than all.
    let at = |i: i64| MARCH_1 + i * 60_000;
    let old: Vec<(String, i64)> = (0..40).map(|i| (format!("o{i}"), at(i))).collect();
    let mut newer: Vec<(String, i64)> = old[30..].to_vec();
    newer.extend((0..30).map(|i| (format!("n{i}"), DAY + at(i))));
    let older: Vec<(String, i64)> = (0..5).map(|i| (format!("x{i}"), at(i) - 7 * DAY)).collect();
    let as_refs =
        |v: &[(String, i64)]| history(&v.iter().map(|(i, t)| (i.as_str(), *t)).collect::<Vec<_>>());
    bridge.retain(&legacy("general", "bob"), &as_refs(&old));
    bridge.retain(&by_day("general", "2024-03-02", "bob"), &as_refs(&newer));
    bridge.retain(&by_day("general", "2024-02-23", "bob"), &as_refs(&older));
    // Someone else's by-day history in the room is not touched.
    bridge.retain(
        &by_day("general", "2024-02-23", "ann"),
        &history(&[("z", MARCH_1)]),
    );

    let output = migrate(&["--broker", &broker.url()]);
    assert_eq!(
        done(&output),
        "1 rooms, 1 histories moved (50 messages), 0 empty ones cleared, 0 unreadable left in place, \
         0 skipped (not chat names)"
    );
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("merged with the 2 by-day histories"),
        "{}",
        text(&output)
    );
    let after = bridge.retained("chat/rooms/general/history/#");
    let topics: BTreeSet<&str> = after.keys().map(String::as_str).collect();
    assert_eq!(
        topics,
        BTreeSet::from([
            "chat/rooms/general/history/2024-02-23/ann",
            "chat/rooms/general/history/2024-03-02/bob"
        ])
    );
    let merged = read(&after[&by_day("general", "2024-03-02", "bob")]);
    // All 75 distinct messages sorted by time, the newest 50: o20..o39 then n0..n29.
    let mut expected: Vec<(String, i64)> = old
        .iter()
        .chain(&newer[10..])
        .chain(&older)
        .cloned()
        .collect();
    expected.sort_by_key(|(_, t)| *t);
    let expected = expected.split_off(expected.len() - 50);
    assert_eq!(merged, expected);
    let ids: BTreeSet<&str> = merged.iter().map(|(i, _)| i.as_str()).collect();
    assert_eq!(ids.len(), 50, "no id twice");
}

#[test]
fn unreadable_histories_and_names_not_of_the_chat_stay_and_are_reported() {
    let broker = Broker::start();
    let mut bridge = Client::connect(&broker, BRIDGE, None);
    bridge.retain(&legacy("general", "dave"), b"not a history");
    // A readable one-level history whose sender's by-day one is not: both left.
    bridge.retain(&legacy("general", "erin"), &history(&[("e1", MARCH_1)]));
    bridge.retain(&by_day("general", "2024-03-01", "erin"), b"{\"id\":1}");
    // Latin and Cyrillic letters mixed: not a chat name.
    bridge.retain(
        &legacy("general", "p\u{0430}ul"),
        &history(&[("p1", MARCH_1)]),
    );
    bridge.retain(&legacy("general", "ann"), &history(&[("a1", MARCH_1)]));
    // An empty list holds nothing: cleared.
    bridge.retain(&legacy("dev", "ann"), b"[]");
    let before = bridge.retained("chat/rooms/#");

    let output = migrate(&["--broker", &broker.url()]);
    assert_eq!(
        done(&output),
        "1 rooms, 1 histories moved (1 messages), 1 empty ones cleared, 2 unreadable left in place, \
         1 skipped (not chat names)"
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    for reported in [
        "unreadable: chat/rooms/general/history/dave is not a JSON array of messages",
        "unreadable: chat/rooms/general/history/2024-03-01/erin is not a JSON array of messages",
        "skipped chat/rooms/general/history/p\u{0430}ul",
        "cleared chat/rooms/dev/history/ann",
    ] {
        assert!(stdout.contains(reported), "{reported:?}: {}", text(&output));
    }
    let after = bridge.retained("chat/rooms/#");
    let mut expected = before.clone();
    expected.remove(&legacy("general", "ann"));
    expected.remove(&legacy("dev", "ann"));
    expected.insert(
        by_day("general", "2024-03-01", "ann"),
        history(&[("a1", MARCH_1)]),
    );
    assert_eq!(after, expected);

    // Run again: reported again, nothing moved.
    assert_eq!(
        done(&migrate(&["--broker", &broker.url()])),
        "0 rooms, 0 histories moved (0 messages), 0 empty ones cleared, 2 unreadable left in place, \
         1 skipped (not chat names)"
    );
    assert_eq!(bridge.retained("chat/rooms/#"), expected);
}

#[test]
fn a_user_the_acl_keeps_to_their_own_topics_cannot_run_it() {
    let broker = Broker::start();
    let mut bridge = Client::connect(&broker, BRIDGE, None);
    bridge.retain(&legacy("general", "bob"), &history(&[("b1", MARCH_1)]));
    bridge.retain(&legacy("general", "eve"), &history(&[("e1", MARCH_1)]));
    let before = bridge.retained("chat/rooms/#");

    let output = migrate(&["--broker", &broker.url(), "--user", "eve"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("does not let eve write and read other people's histories"),
        "{}",
        text(&output)
    );
    assert_eq!(bridge.retained("chat/rooms/#"), before, "nothing written");
}

#[test]
fn in_accounts_mode_it_logs_in_with_a_password_over_the_unix_socket_and_a_wrong_one_fails() {
    let broker = Broker::start_with(&[(BRIDGE, "bridge-secret")]);
    let mut bridge = Client::connect(&broker, BRIDGE, Some("bridge-secret"));
    bridge.retain(&legacy("general", "bob"), &history(&[("b1", MARCH_1)]));
    let dir = TempDir::new("password");
    let password = dir.0.join("password");
    let socket = format!("unix:{}", broker.socket.as_ref().unwrap().display());

    std::fs::write(&password, "wrong\n").unwrap();
    let wrong = migrate(&[
        "--broker",
        &socket,
        "--password-file",
        password.to_str().unwrap(),
    ]);
    assert_eq!(wrong.status.code(), Some(1), "{}", text(&wrong));
    assert!(
        String::from_utf8_lossy(&wrong.stderr).contains("refused the connection"),
        "{}",
        text(&wrong)
    );

    std::fs::write(&password, "bridge-secret\n").unwrap();
    let right = migrate(&[
        "--broker",
        &socket,
        "--password-file",
        password.to_str().unwrap(),
    ]);
    assert!(done(&right).starts_with("1 rooms, 1 histories moved (1 messages)"));
    assert_eq!(
        bridge.retained("chat/rooms/#").keys().collect::<Vec<_>>(),
        [&by_day("general", "2024-03-01", "bob")]
    );
}

#[test]
fn no_broker_fails() {
    let url = format!("mqtt://127.0.0.1:{}", free_port());
    let output = migrate(&["--broker", &url]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("cannot connect"),
        "{}",
        text(&output)
    );
}
