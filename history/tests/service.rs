//! `mqtt-chat-history` against a real Mosquitto running the repo's mosquitto.conf (its limits) and
//! mosquitto.acl, on free ports, one broker and one service per test. The clients here are the `mqtt`
//! crate's session over TCP, as any chat client would be.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mqtt::{Event, Message, Options, QoS, Session};
use mqtt_chat::chat::client::{MAX_PACKET_BYTES, MAX_PAYLOAD_BYTES};
use serde_json::{json, Value};

const SERVICE: &str = env!("CARGO_BIN_EXE_mqtt-chat-history");
const WAIT: Duration = Duration::from_secs(30);

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "mqtt-chat-history-{tag}-{}-{}",
        std::process::id(),
        free_port()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A directory of the test's own, removed when dropped (a failing test too).
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        TempDir(temp_dir(tag))
    }
}

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
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
    dir: PathBuf,
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
        let dir = temp_dir("broker");
        // Run as root, Mosquitto drops to its own user: it must read these files and write its data.
        set_mode(&dir, 0o755);
        let data = dir.join("data");
        std::fs::create_dir_all(&data).unwrap();
        set_mode(&data, 0o777);
        let acl = dir.join("mosquitto.acl");
        std::fs::copy(root.join("mosquitto.acl"), &acl).unwrap();
        set_mode(&acl, 0o644);
        let source = std::fs::read_to_string(root.join("mosquitto.conf")).unwrap();
        let mut listeners = 0;
        let config: Vec<String> = source
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
        let mut config = config;
        let mut socket = None;
        if !accounts.is_empty() {
            let passwords = dir.join("passwords");
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
        let conf = dir.join("mosquitto.conf");
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
            dir,
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
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The service, its standard error collected line by line; killed when dropped.
struct History {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

impl History {
    /// Starts the service on `broker` with the database `db`, and waits until it has read the histories.
    fn start(broker: &Broker, db: &Path) -> History {
        Self::start_with(&[format!("mqtt://127.0.0.1:{}", broker.port)], db)
    }

    /// Starts the service with `--broker` and what follows it in `args`, and waits until it has read the
    /// histories.
    fn start_with(args: &[String], db: &Path) -> History {
        let history = Self::spawn(args, db);
        history.wait_log("histories read");
        history
    }

    fn spawn(args: &[String], db: &Path) -> History {
        let mut child = Command::new(SERVICE)
            .arg("--broker")
            .args(args)
            .arg("--db")
            .arg(db)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let into = log.clone();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                into.lock().unwrap().push(line);
            }
        });
        History { child, log }
    }

    /// Waits until a line of its log holds `text`.
    fn wait_log(&self, text: &str) {
        let deadline = Instant::now() + WAIT;
        while !self.lines().iter().any(|l| l.contains(text)) {
            assert!(
                Instant::now() < deadline,
                "the service never logged {text:?}: {:#?}",
                self.lines()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn lines(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for History {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A chat client: the `mqtt` session over a blocking TCP stream, read only when a test waits for something.
struct Client {
    stream: TcpStream,
    session: Session,
    start: Instant,
    inbox: VecDeque<Message>,
    delivered: Vec<u16>,
    subscribed: Vec<(u16, Vec<Option<QoS>>)>,
}

impl Client {
    fn connect(broker: &Broker, user: &str) -> Client {
        Self::connect_with(broker, user, None)
    }

    fn connect_with(broker: &Broker, user: &str, password: Option<&str>) -> Client {
        let stream = TcpStream::connect(("127.0.0.1", broker.port)).unwrap();
        let mut options = Options::new(format!("test-{user}-{}", free_port()));
        options.username = Some(user.to_owned());
        options.password = password.map(|p| p.as_bytes().to_vec());
        options.max_packet_size = MAX_PACKET_BYTES;
        let mut client = Client {
            stream,
            session: Session::new(options),
            start: Instant::now(),
            inbox: VecDeque::new(),
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
                Event::Message(m) => self.inbox.push_back(m),
                Event::Delivered(pid) => self.delivered.push(pid.get()),
                Event::Subscribed { pid, granted } => self.subscribed.push((pid.get(), granted)),
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

    fn subscribe(&mut self, filter: &str) -> Option<QoS> {
        let pid = self
            .session
            .subscribe(&[(filter, QoS::AtLeastOnce)], self.now())
            .unwrap()
            .get();
        self.until("SUBACK", |c| c.subscribed.iter().any(|(p, _)| *p == pid));
        let (_, granted) = self.subscribed.iter().find(|(p, _)| *p == pid).unwrap();
        granted[0]
    }

    /// Publishes and, at QoS 1, waits for the PUBACK.
    fn publish(&mut self, topic: &str, payload: &[u8], qos: QoS, retain: bool) {
        let pid = self.send(topic, payload, qos, retain);
        if let Some(pid) = pid {
            self.until("PUBACK", |c| c.delivered.contains(&pid));
        }
    }

    /// Publishes without waiting.
    fn send(&mut self, topic: &str, payload: &[u8], qos: QoS, retain: bool) -> Option<u16> {
        let pid = self
            .session
            .publish(topic, payload, qos, retain, self.now())
            .unwrap()
            .map(|p| p.get());
        self.pump(Duration::from_millis(1));
        pid
    }

    /// Sends a chat message `{"id", "text", "sent_at"}` to `room` as this client's user.
    fn say(&mut self, user: &str, room: &str, id: &str, text: &str, sent_at: i64) {
        let payload = json!({"id": id, "text": text, "sent_at": sent_at}).to_string();
        let topic = format!("chat/rooms/{room}/messages/{user}");
        self.publish(&topic, payload.as_bytes(), QoS::AtLeastOnce, false);
    }

    /// Publishes `payload` (JSON) on `user`'s message topic in `room`, as a chat client sends messages and
    /// changes.
    fn event(&mut self, user: &str, room: &str, payload: &Value) {
        let topic = format!("chat/rooms/{room}/messages/{user}");
        self.publish(
            &topic,
            payload.to_string().as_bytes(),
            QoS::AtLeastOnce,
            false,
        );
    }

    /// Waits for the answer whose `req` is `req` among the messages received; the others stay.
    fn answer(&mut self, req: &str) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let found = self.inbox.iter().position(|m| {
                serde_json::from_slice::<Value>(&m.payload).is_ok_and(|v| v["req"] == req)
            });
            if let Some(i) = found {
                let m = self.inbox.remove(i).unwrap();
                return serde_json::from_slice(&m.payload).unwrap();
            }
            assert!(Instant::now() < deadline, "no answer to {req}");
            self.pump(Duration::from_millis(50));
        }
    }

    /// Everything received within `wait`.
    fn drain(&mut self, wait: Duration) -> Vec<Message> {
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline {
            self.pump(Duration::from_millis(20));
        }
        self.inbox.drain(..).collect()
    }
}

/// A user who asks: subscribed to their answers.
struct Asker {
    client: Client,
    user: String,
    count: usize,
}

impl Asker {
    fn new(broker: &Broker, user: &str) -> Asker {
        Self::with(Client::connect(broker, user), user)
    }

    fn with(mut client: Client, user: &str) -> Asker {
        let granted = client.subscribe(&format!("chat/users/{user}/earlier/+"));
        assert_eq!(granted, Some(QoS::AtLeastOnce));
        Asker {
            client,
            user: user.to_owned(),
            count: 0,
        }
    }

    fn request(&mut self, room: &str, payload: &str) {
        let topic = format!("chat/rooms/{room}/earlier/{}", self.user);
        self.client
            .publish(&topic, payload.as_bytes(), QoS::AtLeastOnce, false);
    }

    /// Asks for `room`'s newest `limit` messages sent at or before `before`; the answer.
    fn ask(&mut self, room: &str, before: i64, limit: u32) -> Value {
        self.count += 1;
        let req = format!("{}-{}", self.user, self.count);
        let payload = json!({"req": req, "before": before, "limit": limit}).to_string();
        self.request(room, &payload);
        let answer = self.client.answer(&req);
        assert_eq!(answer["room"], room, "{answer}");
        answer
    }

    /// Asks again (within the rate limit) until `done` holds for the answer; the last answer.
    fn ask_until(&mut self, room: &str, limit: u32, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let answer = self.ask(room, i64::MAX, limit);
            if done(&answer) {
                return answer;
            }
            assert!(Instant::now() < deadline, "never: {answer}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// `(sender, id)` of each message of an answer, in order.
fn listed(answer: &Value) -> Vec<(String, String)> {
    answer["messages"]
        .as_array()
        .unwrap_or_else(|| panic!("no messages: {answer}"))
        .iter()
        .map(|m| {
            (
                m["sender"].as_str().unwrap().to_owned(),
                m["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn ids(answer: &Value) -> Vec<String> {
    listed(answer).into_iter().map(|(_, id)| id).collect()
}

fn setup() -> (Broker, TempDir, History) {
    let broker = Broker::start();
    let dir = TempDir::new("db");
    let db = dir.join("history.sqlite3");
    let history = History::start(&broker, &db);
    (broker, dir, history)
}

#[test]
fn live_messages_are_answered_oldest_first_each_once() {
    let (broker, _dir, _history) = setup();
    let mut ann = Client::connect(&broker, "ann");
    let mut cat = Client::connect(&broker, "cat");
    ann.say("ann", "general", "a1", "first", 1_000);
    cat.say("cat", "general", "c1", "second", 2_000);
    // Sent again, as a redelivery would be: kept once.
    ann.say("ann", "general", "a1", "first", 1_000);
    ann.say("ann", "general", "a2", "third \"quoted\" ⚠", 3_000);
    // Not a chat message: not kept. Another room: not in this one's answer.
    ann.publish(
        "chat/rooms/general/messages/ann",
        b"plain text",
        QoS::AtLeastOnce,
        false,
    );
    ann.say("ann", "rust", "r1", "elsewhere", 2_500);

    let mut bob = Asker::new(&broker, "bob");
    let answer = bob.ask_until("general", 100, |a| listed(a).len() >= 3);
    assert_eq!(
        listed(&answer),
        [("ann", "a1"), ("cat", "c1"), ("ann", "a2")].map(|(s, i)| (s.to_owned(), i.to_owned()))
    );
    assert_eq!(answer["messages"][2]["text"], "third \"quoted\" ⚠");
    assert_eq!(answer["messages"][2]["sent_at"], 3_000);
    assert_eq!(answer["more"], false);
    let rust = bob.ask("rust", i64::MAX, 100);
    assert_eq!(ids(&rust), ["r1"]);
    let empty = bob.ask("nowhere", i64::MAX, 100);
    assert_eq!((ids(&empty).len(), &empty["more"]), (0, &json!(false)));
}

#[test]
fn before_and_limit_page_back_to_the_beginning() {
    let (broker, _dir, _history) = setup();
    let mut ann = Client::connect(&broker, "ann");
    for n in 1..=25 {
        ann.say("ann", "general", &format!("m{n}"), "x", n * 1_000);
    }
    let mut bob = Asker::new(&broker, "bob");
    let first = bob.ask_until("general", 10, |a| {
        ids(a).last().is_some_and(|id| id == "m25")
    });
    let expect = |range: std::ops::RangeInclusive<i64>| -> Vec<String> {
        range.map(|n| format!("m{n}")).collect()
    };
    assert_eq!(
        (ids(&first), &first["more"]),
        (expect(16..=25), &json!(true))
    );
    // Each next page asks for what was sent before the oldest shown.
    let second = bob.ask("general", 15_999, 10);
    assert_eq!(
        (ids(&second), &second["more"]),
        (expect(6..=15), &json!(true))
    );
    let third = bob.ask("general", 5_999, 10);
    assert_eq!(
        (ids(&third), &third["more"]),
        (expect(1..=5), &json!(false))
    );
    let exact = bob.ask("general", 5_000, 5);
    assert_eq!(
        (ids(&exact), &exact["more"]),
        (expect(1..=5), &json!(false))
    );
    let before_all = bob.ask("general", 999, 10);
    assert_eq!(
        (ids(&before_all).len(), &before_all["more"]),
        (0, &json!(false))
    );
}

#[test]
fn retained_histories_from_before_the_service_started_are_answered() {
    let broker = Broker::start();
    let mut ann = Client::connect(&broker, "ann");
    let history = json!([
        {"id": "h1", "text": "old one", "sent_at": 100},
        {"id": "h2", "text": "old two", "sent_at": 200},
        {"id": "", "text": "no id: skipped", "sent_at": 250},
    ]);
    ann.publish(
        "chat/rooms/general/history/ann",
        history.to_string().as_bytes(),
        QoS::AtLeastOnce,
        true,
    );
    // The two-level layout `history/{day}/{sender}`, written by its sender.
    let mut cat = Client::connect(&broker, "cat");
    let bucketed = json!([{"id": "c1", "text": "from a bucket", "sent_at": 150}]);
    cat.publish(
        "chat/rooms/general/history/2026-12-02/cat",
        bucketed.to_string().as_bytes(),
        QoS::AtLeastOnce,
        true,
    );
    // Not a history: skipped, and the service goes on.
    ann.publish(
        "chat/rooms/rust/history/ann",
        b"[1, 2",
        QoS::AtLeastOnce,
        true,
    );

    let dir = TempDir::new("db");
    let _history = History::start(&broker, &dir.join("history.sqlite3"));
    let mut bob = Asker::new(&broker, "bob");
    let answer = bob.ask("general", i64::MAX, 100);
    assert_eq!(
        listed(&answer),
        [("ann", "h1"), ("cat", "c1"), ("ann", "h2")].map(|(s, i)| (s.to_owned(), i.to_owned()))
    );
    // A history republished live is not read once the retained ones are in (the service unsubscribed).
    ann.publish(
        "chat/rooms/general/history/ann",
        json!([{"id": "h3", "text": "late", "sent_at": 300}])
            .to_string()
            .as_bytes(),
        QoS::AtLeastOnce,
        true,
    );
    ann.say("ann", "general", "live", "live", 400);
    let answer = bob.ask_until("general", 100, |a| ids(a).contains(&"live".to_owned()));
    assert_eq!(ids(&answer), ["h1", "c1", "h2", "live"]);
}

#[test]
fn an_answer_near_the_size_limit_leaves_out_the_oldest() {
    let (broker, _dir, _history) = setup();
    let mut ann = Client::connect(&broker, "ann");
    // 4,000 control characters, each written \u0001 (6 bytes) in JSON: about 24 KB per message in an answer,
    // so 100 of them are twice the limit.
    let text = "\u{1}".repeat(4_000);
    for n in 1..=100 {
        ann.say("ann", "general", &format!("m{n:03}"), &text, n);
    }
    let mut bob = Asker::new(&broker, "bob");
    bob.ask_until("general", 1, |a| ids(a) == ["m100"]);
    let (req, payload) = {
        bob.count += 1;
        let req = format!("big-{}", bob.count);
        (
            req.clone(),
            json!({"req": req, "before": i64::MAX, "limit": 100}),
        )
    };
    bob.request("general", &payload.to_string());
    let deadline = Instant::now() + WAIT;
    let raw = loop {
        let found = bob.client.inbox.iter().position(|m| {
            serde_json::from_slice::<Value>(&m.payload).is_ok_and(|v| v["req"] == req)
        });
        if let Some(i) = found {
            break bob.client.inbox.remove(i).unwrap().payload;
        }
        assert!(Instant::now() < deadline, "no answer to the big request");
        bob.client.pump(Duration::from_millis(50));
    };
    assert!(raw.len() <= MAX_PAYLOAD_BYTES, "{} bytes", raw.len());
    assert!(
        raw.len() > MAX_PAYLOAD_BYTES - 30_000,
        "{} bytes: cut too much",
        raw.len()
    );
    let answer: Value = serde_json::from_slice(&raw).unwrap();
    let got = ids(&answer);
    assert!(got.len() > 40 && got.len() < 100, "{} messages", got.len());
    let newest: Vec<String> = (101 - got.len()..=100)
        .map(|n| format!("m{n:03}"))
        .collect();
    assert_eq!(got, newest, "the newest, oldest first");
    assert_eq!(answer["more"], true);
    assert_eq!(answer["messages"][0]["text"], text.as_str());
}

#[test]
fn malformed_requests_get_an_error_or_nothing_and_others_are_still_answered() {
    let (broker, _dir, history) = setup();
    let mut bob = Asker::new(&broker, "bob");
    for bad in [
        "not json",
        r#"{"before": 1, "limit": 1}"#,
        r#"{"req": 5, "before": 1, "limit": 1}"#,
        "\u{0}\u{1}",
        "",
    ] {
        bob.request("general", bad);
    }
    bob.request(
        "general",
        r#"{"req": "huge", "before": 1, "limit": 1000000}"#,
    );
    bob.request("general", r#"{"req": "nobefore", "limit": 10}"#);
    let huge = bob.client.answer("huge");
    assert!(huge["error"].as_str().unwrap().contains("limit"), "{huge}");
    let nobefore = bob.client.answer("nobefore");
    assert!(
        nobefore["error"].as_str().unwrap().contains("before"),
        "{nobefore}"
    );
    let fine = bob.ask("general", i64::MAX, 10);
    assert_eq!(fine["more"], false);
    // Nothing else was answered.
    assert_eq!(bob.client.drain(Duration::from_millis(300)).len(), 0);
    // A payload of the largest size the broker takes, as a request: read and refused, nothing more.
    let big = format!(
        r#"{{"req": "big", "before": 1, "limit": 1, "pad": "{}"}}"#,
        "x".repeat(1_200_000)
    );
    bob.request("general", &big);
    assert_eq!(bob.client.answer("big")["messages"], json!([]));
    assert!(
        history.lines().iter().all(|l| !l.contains("panicked")),
        "{:#?}",
        history.lines()
    );
}

#[test]
fn more_than_ten_requests_a_second_are_refused() {
    let (broker, _dir, _history) = setup();
    let mut bob = Asker::new(&broker, "bob");
    // 15 at once, without waiting for acknowledgements.
    let topic = "chat/rooms/general/earlier/bob";
    for n in 0..15 {
        let payload = json!({"req": format!("burst-{n}"), "before": i64::MAX, "limit": 1});
        bob.client.send(
            topic,
            payload.to_string().as_bytes(),
            QoS::AtLeastOnce,
            false,
        );
    }
    let answers: Vec<Value> = (0..15)
        .map(|n| bob.client.answer(&format!("burst-{n}")))
        .collect();
    let refused = answers
        .iter()
        .filter(|a| a["error"] == "too many requests")
        .count();
    let answered = answers.iter().filter(|a| a["messages"].is_array()).count();
    assert_eq!(refused + answered, 15, "{answers:#?}");
    assert!((10..=12).contains(&answered), "{answered} answered");
    // Another user is not held back, and bob may ask again a second later.
    let mut ann = Asker::new(&broker, "ann");
    assert!(ann.ask("general", i64::MAX, 1)["messages"].is_array());
    std::thread::sleep(Duration::from_millis(1_100));
    assert!(bob.ask("general", i64::MAX, 1)["messages"].is_array());
}

#[test]
fn the_acl_keeps_requests_and_answers_to_their_user() {
    let (broker, _dir, _history) = setup();
    let mut bob = Asker::new(&broker, "bob");
    let mut eve = Client::connect(&broker, "eve");
    // Eve may subscribe (Mosquitto 2.0.11 grants it) but never receives bob's answers.
    eve.subscribe("chat/users/bob/earlier/+");
    eve.subscribe("chat/users/+/earlier/#");
    eve.subscribe("chat/rooms/+/earlier/+");
    // A forged answer and a request in bob's name: the broker drops both.
    let forged = json!({"req": "forged", "room": "general", "messages": [], "more": false});
    eve.publish(
        "chat/users/bob/earlier/general",
        forged.to_string().as_bytes(),
        QoS::AtLeastOnce,
        false,
    );
    let as_bob = json!({"req": "as-bob", "before": i64::MAX, "limit": 1});
    eve.publish(
        "chat/rooms/general/earlier/bob",
        as_bob.to_string().as_bytes(),
        QoS::AtLeastOnce,
        false,
    );
    // Bob's own request is answered, to him only.
    bob.ask("general", i64::MAX, 5);
    let to_bob = bob.client.drain(Duration::from_millis(500));
    assert!(to_bob.is_empty(), "bob got more: {to_bob:?}");
    let to_eve = eve.drain(Duration::from_millis(200));
    assert!(to_eve.is_empty(), "eve read: {to_eve:?}");
    // Eve's own requests are answered as usual, to her.
    eve.subscribe("chat/users/eve/earlier/+");
    let mine = json!({"req": "eve-1", "before": i64::MAX, "limit": 1});
    eve.publish(
        "chat/rooms/general/earlier/eve",
        mine.to_string().as_bytes(),
        QoS::AtLeastOnce,
        false,
    );
    assert!(eve.answer("eve-1")["messages"].is_array());
}

#[test]
fn its_marker_says_it_runs_and_its_will_clears_it_when_it_dies() {
    let (broker, _dir, history) = setup();
    // A tab reads the marker when it subscribes: retained, `{"version":1}`. Only the service may write it.
    let mut eve = Client::connect(&broker, "eve");
    assert!(eve.subscribe("chat/services/history").is_some());
    eve.until("the marker", |c| {
        c.inbox
            .iter()
            .any(|m| m.retain && m.payload == br#"{"version":1}"#)
    });
    eve.publish("chat/services/history", b"", QoS::AtLeastOnce, true);
    let mut ann = Client::connect(&broker, "ann");
    assert!(ann.subscribe("chat/services/history").is_some());
    ann.until("the marker, still there", |c| {
        c.inbox
            .iter()
            .any(|m| m.retain && m.payload == br#"{"version":1}"#)
    });
    // Killed (no goodbye): the broker publishes its will, and the marker is gone.
    drop(history);
    ann.until("the marker cleared", |c| {
        c.inbox.iter().any(|m| m.payload.is_empty())
    });
    let mut cat = Client::connect(&broker, "cat");
    assert!(cat.subscribe("chat/services/history").is_some());
    cat.pump(Duration::from_millis(300));
    assert!(cat.inbox.is_empty(), "no marker retained: {:?}", cat.inbox);
}

#[test]
fn the_database_and_the_queue_survive_a_restart_of_the_service() {
    let (broker, dir, history) = setup();
    let db = dir.join("history.sqlite3");
    let mut ann = Client::connect(&broker, "ann");
    ann.say("ann", "general", "before", "before the restart", 1_000);
    let mut bob = Asker::new(&broker, "bob");
    bob.ask_until("general", 10, |a| ids(a) == ["before"]);
    drop(history);
    // Sent while the service is away: the broker queues it for the service's session.
    ann.say("ann", "general", "while", "while it was away", 2_000);
    let _history = History::start(&broker, &db);
    ann.say("ann", "general", "after", "after the restart", 3_000);
    let answer = bob.ask_until("general", 10, |a| ids(a).len() == 3);
    assert_eq!(ids(&answer), ["before", "while", "after"]);
}

#[test]
fn in_accounts_mode_it_logs_in_with_its_password_over_the_unix_socket() {
    let broker = Broker::start_with(&[
        ("mqtt-chat-history", "service-secret"),
        ("ann", "ann-secret"),
        ("bob", "bob-secret"),
    ]);
    let dir = TempDir::new("db");
    let password = dir.join("password");
    std::fs::write(&password, "service-secret\n").unwrap();
    let socket = format!("unix:{}", broker.socket.as_ref().unwrap().display());
    let args = [
        socket,
        "--password-file".into(),
        password.display().to_string(),
    ];
    let _history = History::start_with(&args, &dir.join("history.sqlite3"));
    let mut ann = Client::connect_with(&broker, "ann", Some("ann-secret"));
    ann.say("ann", "general", "a1", "hi", 1_000);
    let bob = Client::connect_with(&broker, "bob", Some("bob-secret"));
    let mut bob = Asker::with(bob, "bob");
    let answer = bob.ask_until("general", 10, |a| !ids(a).is_empty());
    assert_eq!(ids(&answer), ["a1"]);
    // A wrong password is refused, and the service says so and keeps trying.
    std::fs::write(&password, "wrong\n").unwrap();
    let wrong = History::spawn(&args, &dir.join("other.sqlite3"));
    wrong.wait_log("refused the connection");
    wrong.wait_log("reconnecting in 1 s");
}

/// The message `id` of an answer.
fn find<'a>(answer: &'a Value, id: &str) -> &'a Value {
    answer["messages"]
        .as_array()
        .and_then(|list| list.iter().find(|m| m["id"] == id))
        .unwrap_or_else(|| panic!("no {id} in {answer}"))
}

#[test]
fn an_edited_message_is_answered_with_its_new_text_and_a_deleted_one_never_again() {
    let (broker, dir, history) = setup();
    let mut ann = Client::connect(&broker, "ann");
    let edit = |id: &str, text: &str, at: i64| json!({"kind": "edit", "to": {"sender": "ann", "id": id}, "text": text, "sent_at": at});
    let delete = |id: &str, at: i64| json!({"kind": "delete", "to": {"sender": "ann", "id": id}, "sent_at": at});
    ann.say("ann", "general", "a1", "lunch?", 1_000);
    ann.say("ann", "general", "a2", "oops", 2_000);
    let quote = json!({"sender": "cat", "id": "c1", "text": "who is hungry?"});
    ann.event(
        "ann",
        "general",
        &json!({"id": "a3", "text": "me", "sent_at": 3_000, "reply": quote}),
    );
    ann.say("ann", "general", "a5", "deleted in the history", 3_500);
    ann.event("ann", "general", &edit("a1", "lunch at noon?", 4_000));
    // An older edit arriving later loses.
    ann.event("ann", "general", &edit("a1", "lunch at 11?", 3_900));
    ann.event("ann", "general", &delete("a2", 5_000));
    // Sent again after its deletion, as a redelivery would be: it stays deleted.
    ann.say("ann", "general", "a2", "oops", 2_000);
    // A reaction: not kept, and nothing else changes.
    ann.event(
        "ann",
        "general",
        &json!({"kind": "react", "to": {"sender": "cat", "id": "c1"}, "emoji": "👍", "on": true, "sent_at": 5_500}),
    );
    ann.say("ann", "general", "a4", "last", 4_500);

    let mut bob = Asker::new(&broker, "bob");
    let answer = bob.ask_until("general", 100, |a| ids(a).contains(&"a4".to_owned()));
    assert_eq!(ids(&answer), ["a1", "a3", "a5", "a4"]);
    let a1 = find(&answer, "a1");
    assert_eq!(
        (&a1["text"], &a1["edited"]),
        (&json!("lunch at noon?"), &json!(4_000))
    );
    let a3 = find(&answer, "a3");
    assert_eq!(a3["reply"], quote);
    assert!(a3.get("edited").is_none(), "{a3}");

    // ann's retained history, read when the service starts again: a later edit of a1, an old copy of a2 (it
    // must not come back) and a5 deleted.
    drop(history);
    let retained = json!([
        {"id": "a1", "text": "lunch at one?", "sent_at": 1_000, "edited": 6_000},
        {"id": "a2", "text": "oops", "sent_at": 2_000},
        {"id": "a5", "text": "", "sent_at": 3_500, "deleted": true},
    ]);
    ann.publish(
        "chat/rooms/general/history/1970-01-01/ann",
        retained.to_string().as_bytes(),
        QoS::AtLeastOnce,
        true,
    );
    let history = History::start(&broker, &dir.join("history.sqlite3"));
    let answer = bob.ask("general", i64::MAX, 100);
    assert_eq!(ids(&answer), ["a1", "a3", "a4"]);
    let a1 = find(&answer, "a1");
    assert_eq!(
        (&a1["text"], &a1["edited"]),
        (&json!("lunch at one?"), &json!(6_000))
    );
    assert!(
        history
            .lines()
            .iter()
            .any(|l| l.contains("histories read; 0 messages kept, 1 edited, 1 deleted")),
        "{:#?}",
        history.lines()
    );
}

#[test]
fn a_forged_edit_or_deletion_under_another_topic_changes_nothing() {
    let (broker, dir, history) = setup();
    let mut ann = Client::connect(&broker, "ann");
    ann.say("ann", "general", "a1", "the meeting is at 3", 1_000);
    let mut eve = Client::connect(&broker, "eve");
    let to = json!({"sender": "ann", "id": "a1"});
    let forged_edit = json!({"kind": "edit", "to": to, "text": "cancelled", "sent_at": 2_000});
    let forged_delete = json!({"kind": "delete", "to": to, "sent_at": 2_000});
    // Under eve's own topic the broker takes them; the service reads them as eve's, about ann's message.
    eve.event("eve", "general", &forged_edit);
    eve.event("eve", "general", &forged_delete);
    // Under ann's topic the broker's ACL drops them (after the PUBACK).
    eve.event("ann", "general", &forged_edit);
    eve.event("ann", "general", &forged_delete);
    // Sent after the forgeries on eve's topic: answered once they were read.
    eve.say("eve", "general", "e1", "hi", 3_000);
    let mut bob = Asker::new(&broker, "bob");
    let answer = bob.ask_until("general", 100, |a| ids(a).contains(&"e1".to_owned()));
    assert_eq!(
        listed(&answer),
        [("ann", "a1"), ("eve", "e1")].map(|(s, i)| (s.to_owned(), i.to_owned()))
    );
    let a1 = find(&answer, "a1");
    assert_eq!(a1["text"], "the meeting is at 3");
    assert!(a1.get("edited").is_none(), "{a1}");

    // eve's retained history names a1 deleted: her own a1, if any, not ann's.
    drop(history);
    eve.publish(
        "chat/rooms/general/history/1970-01-01/eve",
        json!([{"id": "a1", "text": "", "sent_at": 1_000, "deleted": true}])
            .to_string()
            .as_bytes(),
        QoS::AtLeastOnce,
        true,
    );
    let _history = History::start(&broker, &dir.join("history.sqlite3"));
    let answer = bob.ask("general", i64::MAX, 100);
    assert_eq!(ids(&answer), ["a1", "e1"]);
    assert_eq!(find(&answer, "a1")["text"], "the meeting is at 3");
}
