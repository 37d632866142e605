//! `mqtt-chat-term --plain` processes against a real Mosquitto running the repo's mosquitto.conf and
//! mosquitto.acl (on free ports): they chat both ways, over TCP and WebSocket, in rooms and directly; a
//! client started later prints the history; a killed one goes offline (its Last Will); an outbox left by a
//! client that could not connect goes out when it starts again; edits, deletions, reactions and replies
//! print once each, and a forged change printed nowhere; and the exit statuses of the contract.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TERM: &str = env!("CARGO_BIN_EXE_mqtt-chat-term");
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
        "mqtt-chat-term-{tag}-{}-{}",
        std::process::id(),
        free_port()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Mosquitto with the repository's configuration and ACL, its two listeners moved to free ports; killed
/// (and its files removed) when dropped.
struct Broker {
    child: Child,
    tcp: u16,
    ws: u16,
    dir: PathBuf,
}

impl Broker {
    fn start() -> Broker {
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
            tcp,
            ws,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", tcp)).is_err()
            || TcpStream::connect(("127.0.0.1", ws)).is_err()
        {
            assert!(Instant::now() < deadline, "mosquitto is not listening");
            std::thread::sleep(Duration::from_millis(20));
        }
        broker
    }

    fn mqtt(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.tcp)
    }

    fn ws(&self) -> String {
        format!("ws://127.0.0.1:{}", self.ws)
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One `mqtt-chat-term --plain`, its standard output and error collected line by line as they come.
struct Term {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    out: Arc<Mutex<Vec<String>>>,
    err: Arc<Mutex<Vec<String>>>,
}

fn collect(from: impl Read + Send + 'static) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let into = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines().map_while(Result::ok) {
            into.lock().unwrap().push(line);
        }
    });
    lines
}

impl Term {
    /// Starts `name` on `broker` with the state directory `state`; `stdin` false: standard input is empty.
    fn start(name: &str, broker: &str, state: &Path, stdin: bool) -> Term {
        let mut child = Command::new(TERM)
            .args(["--plain", "--name", name, "--broker", broker, "--state"])
            .arg(state)
            .stdin(if stdin { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = collect(child.stdout.take().unwrap());
        let err = collect(child.stderr.take().unwrap());
        Term {
            name: name.to_owned(),
            stdin: child.stdin.take(),
            child,
            out,
            err,
        }
    }

    fn say(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("standard input open");
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }

    fn lines(&self) -> Vec<String> {
        self.out.lock().unwrap().clone()
    }

    fn errors(&self) -> Vec<String> {
        self.err.lock().unwrap().clone()
    }

    fn wait(&self, what: &str, ok: impl Fn(&Term) -> bool) {
        let deadline = Instant::now() + WAIT;
        while !ok(self) {
            assert!(
                Instant::now() < deadline,
                "{}: timed out waiting for {what}\nstdout: {:#?}\nstderr: {:#?}",
                self.name,
                self.lines(),
                self.errors()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until standard output has `line` (exactly, as a whole line).
    fn wait_line(&self, line: &str) {
        self.wait(&format!("the line {line:?}"), |t| {
            t.lines().iter().any(|l| l == line)
        });
    }

    /// Asks `/who` until the answer has `part` (ann's own presence in a room she just joined comes back
    /// from the broker a moment later).
    fn wait_who(&mut self, part: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            self.say("/who");
            std::thread::sleep(Duration::from_millis(200));
            if self.errors().iter().any(|l| l.contains(part)) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{}: /who never said {part:?}: {:#?}",
                self.name,
                self.errors()
            );
        }
    }

    fn wait_status(&self, part: &str) {
        self.wait(&format!("a status line with {part:?}"), |t| {
            t.errors().iter().any(|l| l.contains(part))
        });
    }

    /// Closes standard input and waits for the exit.
    fn finish(mut self) -> (ExitStatus, Vec<String>) {
        self.stdin.take();
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // The readers have the last lines once the pipes close.
                std::thread::sleep(Duration::from_millis(100));
                return (status, self.lines());
            }
            assert!(
                Instant::now() < deadline,
                "{} did not exit: {:#?}",
                self.name,
                self.errors()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Term {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn count(lines: &[String], line: &str) -> usize {
    lines.iter().filter(|l| *l == line).count()
}

#[test]
fn two_clients_chat_both_ways_in_rooms_and_directly_and_a_later_one_prints_the_history() {
    let broker = Broker::start();
    let state = temp_dir("state");
    // ann over TCP, bob over WebSocket: the same broker, the same topics.
    let mut ann = Term::start("ann", &broker.mqtt(), &state, true);
    let mut bob = Term::start("bob", &broker.ws(), &state, true);
    ann.wait_status("connected as ann");
    bob.wait_status("connected as bob");
    // bob comes online after ann ("bob came online"), or was already when ann's first list was printed.
    ann.wait("bob online", |t| {
        t.errors()
            .iter()
            .any(|l| l.contains("bob came online") || l.contains("online in #general: bob"))
    });

    ann.say("hello bob");
    bob.wait_line("[general] ann: hello bob");
    bob.say("hi ann, two\nlines?");
    // Each stdin line is one message: "lines?" is a message of its own.
    ann.wait_line("[general] bob: hi ann, two");
    ann.wait_line("[general] bob: lines?");
    ann.say("//slash and back\\slash");
    bob.wait_line("[general] ann: /slash and back\\\\slash");

    ann.say("/dm bob psst");
    bob.wait_line("[@ann] ann: psst");
    ann.wait_line("[@bob] ann: psst");
    bob.say("/dm ann got it");
    ann.wait_line("[@bob] bob: got it");
    // A direct message does not change the room a line goes to.
    bob.say("still in general");
    ann.wait_line("[general] bob: still in general");

    bob.say("/join rust");
    bob.wait_status("now in #rust");
    bob.say("in rust");
    bob.wait_line("[rust] bob: in rust");
    ann.say("/join rust");
    ann.wait_line("[rust] bob: in rust");
    ann.wait_who("online in #rust: ann, bob");

    let (ann_status, ann_lines) = ann.finish();
    let (bob_status, bob_lines) = bob.finish();
    assert!(
        ann_status.success() && bob_status.success(),
        "{ann_status} {bob_status}"
    );
    for (lines, who) in [(&ann_lines, "ann"), (&bob_lines, "bob")] {
        for line in [
            "[general] ann: hello bob",
            "[general] bob: hi ann, two",
            "[rust] bob: in rust",
        ] {
            assert_eq!(count(lines, line), 1, "{who}: {line:?} once in {lines:#?}");
        }
    }

    // Started later, with nothing to say: it prints the history and exits.
    let cy = Term::start("cy", &broker.mqtt(), &state, false);
    let (status, lines) = cy.finish();
    assert!(status.success(), "{status}");
    let general: Vec<&str> = lines
        .iter()
        .map(String::as_str)
        .filter(|l| l.starts_with("[general]"))
        .collect();
    assert_eq!(
        general,
        [
            "[general] ann: hello bob",
            "[general] bob: hi ann, two",
            "[general] bob: lines?",
            "[general] ann: /slash and back\\\\slash",
            "[general] bob: still in general",
        ],
        "the room's history, oldest first, each once"
    );
    let _ = std::fs::remove_dir_all(&state);
}

#[test]
fn a_killed_client_goes_offline_and_an_outbox_left_unsent_goes_out_on_the_next_start() {
    let broker = Broker::start();
    let state = temp_dir("state");
    let ann = Term::start("ann", &broker.mqtt(), &state, true);
    ann.wait_status("connected as ann");
    let mut bob = Term::start("bob", &broker.ws(), &state, true);
    ann.wait_status("bob came online");
    // SIGKILL: no goodbye; the broker publishes bob's Last Will.
    bob.child.kill().unwrap();
    ann.wait_status("bob went offline");
    drop(bob);

    // dee cannot reach a broker: the end of input waits 10 s, then leaves the message in the outbox.
    let nowhere = format!("mqtt://127.0.0.1:{}", free_port());
    let mut dee = Term::start("dee", &nowhere, &state, true);
    dee.say("written while away");
    let started = Instant::now();
    let (status, _) = dee.finish();
    assert_eq!(status.code(), Some(3), "exit 3: unsent");
    assert!(
        started.elapsed() >= Duration::from_secs(9),
        "{:?}",
        started.elapsed()
    );
    let outbox = std::fs::read_to_string(state.join("mqtt-chat.outbox.dee")).unwrap();
    assert!(outbox.contains("written while away"), "{outbox}");

    // Started again with the broker: the outbox goes out, and is empty after.
    let dee = Term::start("dee", &broker.mqtt(), &state, false);
    ann.wait_line("[general] dee: written while away");
    let (status, lines) = dee.finish();
    assert!(status.success(), "{status}");
    assert_eq!(
        count(&lines, "[general] dee: written while away"),
        1,
        "{lines:#?}"
    );
    let outbox = std::fs::read_to_string(state.join("mqtt-chat.outbox.dee")).unwrap();
    assert_eq!(outbox, "[]");
    assert!(dee_state_is_per_name(&state));
    let (status, _) = ann.finish();
    assert!(status.success());
    let _ = std::fs::remove_dir_all(&state);
}

/// The MQTT session of a name (its client id) is kept in its own directory.
fn dee_state_is_per_name(state: &Path) -> bool {
    state.join("names/dee/mqtt-chat.client-id").is_file()
        && state.join("names/ann/mqtt-chat.client-id").is_file()
}

#[test]
fn usage_errors_exit_2_and_a_refusal_exits_1() {
    let run = |args: &[&str]| {
        Command::new(TERM)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let state = temp_dir("state");
    let state_arg = state.to_str().unwrap();
    for args in [
        &["--plain", "--nope"][..],
        &["--plain", "--name", "a/b", "--state", state_arg],
        &[
            "--plain", "--name", "ann", "--broker", "http://x", "--state", state_arg,
        ],
        &[
            "--plain", "--name", "ann", "--room", "a#b", "--state", state_arg,
        ],
        // No --name and nothing on standard input to read it from.
        &["--plain", "--state", state_arg],
    ] {
        let out = run(args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.stderr.is_empty());
    }
    let help = run(&["--help"]);
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("--password-file"));

    // A broker in accounts mode (the shipped configuration with anonymous clients refused) refuses a
    // client without a password: exit 1, and the reason on standard error.
    let broker = Broker::start();
    let conf = broker.dir.join("mosquitto.conf");
    let accounts = std::fs::read_to_string(&conf)
        .unwrap()
        .replace("allow_anonymous true", "allow_anonymous false")
        .replace("persistence true", "persistence false");
    let locked_dir = temp_dir("accounts");
    set_mode(&locked_dir, 0o755);
    let locked_conf = locked_dir.join("mosquitto.conf");
    let (tcp, ws) = (free_port(), free_port());
    let accounts = accounts
        .replace(
            &format!("listener {} ", broker.tcp),
            &format!("listener {tcp} "),
        )
        .replace(
            &format!("listener {} ", broker.ws),
            &format!("listener {ws} "),
        );
    std::fs::write(&locked_conf, accounts).unwrap();
    set_mode(&locked_conf, 0o644);
    let mut locked = Command::new("mosquitto")
        .arg("-c")
        .arg(&locked_conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", tcp)).is_err() {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    }
    let refused = run(&[
        "--plain",
        "--name",
        "ann",
        "--broker",
        &format!("mqtt://127.0.0.1:{tcp}"),
        "--state",
        state_arg,
    ]);
    let _ = locked.kill();
    let _ = locked.wait();
    assert_eq!(
        refused.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    assert!(String::from_utf8_lossy(&refused.stderr).contains("disconnected"));
    let _ = std::fs::remove_dir_all(&locked_dir);
    let _ = std::fs::remove_dir_all(&state);
}

#[test]
fn edits_deletions_reactions_and_replies_print_once_each_and_a_later_client_sees_the_room_as_it_is()
{
    let broker = Broker::start();
    let state = temp_dir("state");
    let mut ann = Term::start("ann", &broker.mqtt(), &state, true);
    let mut bob = Term::start("bob", &broker.ws(), &state, true);
    ann.wait_status("connected as ann");
    bob.wait_status("connected as bob");

    ann.say("lunch?");
    bob.wait_line("[general] ann: lunch?");
    ann.say("/edit lunch at noon?");
    bob.wait_line("[general] # ann edited: lunch at noon?");
    bob.say("/react +1");
    ann.wait_line(r#"[general] # bob reacted 👍 to ann: "lunch at noon?""#);
    bob.say("/reply sure");
    ann.wait_line(r#"[general] bob: ↪ ann: "lunch at noon?" sure"#);
    // Again: the reaction taken back.
    bob.say("/react 👍");
    ann.wait_line(r#"[general] # bob took back 👍 from ann: "lunch at noon?""#);
    ann.say("oops");
    bob.wait_line("[general] ann: oops");
    ann.say("/delete");
    bob.wait_line(r#"[general] # ann deleted: "oops""#);
    // Nothing of ann's to change in a room she has not written in; the refusal goes to standard error.
    ann.say("/join empty");
    ann.say("/edit nothing");
    ann.wait_status("no message of yours to edit in #empty");

    let (ann_status, ann_lines) = ann.finish();
    let (bob_status, bob_lines) = bob.finish();
    assert!(
        ann_status.success() && bob_status.success(),
        "{ann_status} {bob_status}"
    );
    let said = [
        "[general] ann: lunch?",
        "[general] # ann edited: lunch at noon?",
        r#"[general] # bob reacted 👍 to ann: "lunch at noon?""#,
        r#"[general] bob: ↪ ann: "lunch at noon?" sure"#,
        r#"[general] # bob took back 👍 from ann: "lunch at noon?""#,
        "[general] ann: oops",
        r#"[general] # ann deleted: "oops""#,
    ];
    for (lines, who) in [(&ann_lines, "ann"), (&bob_lines, "bob")] {
        let general: Vec<&str> = lines
            .iter()
            .map(String::as_str)
            .filter(|l| l.starts_with("[general]"))
            .collect();
        assert_eq!(general, said, "{who}: each line once, in order");
    }

    // A later client reads the histories: the edited text, the reply with its quote; the deleted message
    // is not there, and changes made before it started print no lines.
    let cy = Term::start("cy", &broker.mqtt(), &state, false);
    let (status, lines) = cy.finish();
    assert!(status.success(), "{status}");
    assert_eq!(
        lines,
        [
            "[general] ann: lunch at noon? <edited>",
            r#"[general] bob: ↪ ann: "lunch at noon?" sure"#,
        ]
    );
    let _ = std::fs::remove_dir_all(&state);
}

/// `mosquitto_pub` as `user`, at QoS 1 (it waits for the PUBACK, so the broker has the message when it
/// returns).
fn mosquitto_pub(broker: &Broker, user: &str, topic: &str, payload: &str) {
    let status = Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &broker.tcp.to_string(), "-u", user])
        .args(["-q", "1", "-t", topic, "-m", payload])
        .status()
        .expect("mosquitto_pub must be installed (scripts/install)");
    assert!(status.success(), "mosquitto_pub {topic}: {status}");
}

/// The first retained message on `filter`, read with `mosquitto_sub` as `user`.
fn retained(broker: &Broker, user: &str, filter: &str) -> String {
    let out = Command::new("mosquitto_sub")
        .args(["-h", "127.0.0.1", "-p", &broker.tcp.to_string(), "-u", user])
        .args(["-t", filter, "-C", "1", "-W", "10", "--retained-only"])
        .output()
        .expect("mosquitto_sub must be installed (scripts/install)");
    assert!(out.status.success(), "nothing retained on {filter}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn a_change_forged_with_mosquitto_pub_changes_nothing() {
    let broker = Broker::start();
    let state = temp_dir("state");
    let mut bob = Term::start("bob", &broker.mqtt(), &state, true);
    let ann = Term::start("ann", &broker.ws(), &state, true);
    bob.wait_status("connected as bob");
    ann.wait_status("connected as ann");
    bob.say("the meeting is at 3");
    ann.wait_line("[general] bob: the meeting is at 3");
    // bob's message id, from his retained history (which anyone in the room may read).
    let history = retained(&broker, "eve", "chat/rooms/general/history/+/bob");
    let id = history
        .split(r#""id":""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no id in {history}"))
        .to_owned();
    let to = format!(r#""to":{{"sender":"bob","id":"{id}"}}"#);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let eve = "chat/rooms/general/messages/eve";
    // Under eve's own topic (the broker takes it): an edit and a deletion of bob's message.
    mosquitto_pub(
        &broker,
        "eve",
        eve,
        &format!(r#"{{"kind":"edit",{to},"text":"the meeting is cancelled","sent_at":{now}}}"#),
    );
    mosquitto_pub(
        &broker,
        "eve",
        eve,
        &format!(r#"{{"kind":"delete",{to},"sent_at":{now}}}"#),
    );
    // Under bob's topic: the broker's ACL drops it (after its PUBACK).
    mosquitto_pub(
        &broker,
        "eve",
        "chat/rooms/general/messages/bob",
        &format!(r#"{{"kind":"edit",{to},"text":"the meeting is cancelled","sent_at":{now}}}"#),
    );
    // Sent after the forgeries on eve's topic, so printed after they were read.
    mosquitto_pub(&broker, "eve", eve, "that was me");
    ann.wait_line("[general] eve: that was me");
    bob.wait_line("[general] eve: that was me");
    for term in [&ann, &bob] {
        let lines = term.lines();
        assert!(
            lines
                .iter()
                .all(|l| !l.contains("cancelled") && !l.contains(" # ")),
            "{}: {lines:#?}",
            term.name
        );
    }
    // bob may still edit his own message, and the edit is printed.
    bob.say("/edit the meeting is at 4");
    ann.wait_line("[general] # bob edited: the meeting is at 4");
    let (status, lines) = ann.finish();
    assert!(status.success(), "{status}");
    assert_eq!(
        count(&lines, "[general] # bob edited: the meeting is at 4"),
        1,
        "{lines:#?}"
    );
    let (status, _) = bob.finish();
    assert!(status.success(), "{status}");
    let _ = std::fs::remove_dir_all(&state);
}
