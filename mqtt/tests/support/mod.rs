//! A real Mosquitto for the interop tests, and a client that drives our session over a real WebSocket.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, ErrorKind};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mqtt::{Decoder, Event, Message, Options, Session, MAX_PACKET_SIZE};
use tungstenite::client::IntoClientRequest;
use tungstenite::{Message as Frame, WebSocket};

/// A Mosquitto on a free loopback port, killed when dropped.
pub struct Broker {
    child: Child,
    pub ws_port: u16,
    dir: PathBuf,
}

impl Broker {
    /// Starts Mosquitto with a websocket listener on a free port, where anyone may use every topic but may
    /// not subscribe to `test/nosubscribe` (the subscribe-failure scenario). Mosquitto's `acl_file` grants
    /// every SUBSCRIBE and filters at delivery; its dynamic-security plugin refuses with SUBACK 0x80.
    pub fn start() -> Broker {
        let ws_port = free_port();
        // Mosquitto 2.0.11 exits with "Unable to start any listening sockets" when its only listener is a
        // websockets one, so there is a TCP listener too.
        let tcp_port = free_port();
        let dir =
            std::env::temp_dir().join(format!("mqtt-interop-{}-{ws_port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // Mosquitto started as root drops to the `mosquitto` user: it must be able to read its files.
        set_mode(&dir, 0o755);
        let acl = dir.join("dynsec.json");
        std::fs::write(&acl, DYNSEC).unwrap();
        let conf = dir.join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!(
                "per_listener_settings false\nallow_anonymous true\n\
                 plugin {}\nplugin_opt_config_file {}\n\
                 listener {tcp_port} 127.0.0.1\nlistener {ws_port} lo\nprotocol websockets\nlog_dest stderr\nlog_type all\npersistence false\n",
                dynsec_plugin().display(),
                acl.display()
            ),
        )
        .unwrap();
        set_mode(&acl, 0o644);
        set_mode(&conf, 0o644);
        let mut child = Command::new("mosquitto")
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("mosquitto must be installed (scripts/install)");
        // Wait for the listener to be up: Mosquitto logs "Opening websockets listen socket".
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("running") {
                    let _ = tx.send(());
                }
            }
        });
        rx.recv_timeout(Duration::from_secs(10))
            .expect("mosquitto did not start");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", ws_port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "mosquitto is not listening on {ws_port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Broker {
            child,
            ws_port,
            dir,
        }
    }

    pub fn url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.ws_port)
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

const DYNSEC: &str = r#"{
  "defaultACLAccess": {"publishClientSend": true, "publishClientReceive": true, "subscribe": true, "unsubscribe": true},
  "clients": [],
  "groups": [{"groupname": "anonymous", "roles": [{"rolename": "restricted"}]}],
  "roles": [{"rolename": "restricted",
             "acls": [{"acltype": "subscribePattern", "topic": "test/nosubscribe", "priority": 0, "allow": false}]}],
  "anonymousGroup": "anonymous"
}"#;

/// Debian ships the plugin in the multiarch library folder.
fn dynsec_plugin() -> PathBuf {
    let found = std::fs::read_dir("/usr/lib").ok().and_then(|dirs| {
        dirs.filter_map(Result::ok)
            .map(|d| d.path().join("mosquitto_dynamic_security.so"))
            .find(|p| p.exists())
    });
    found.expect("mosquitto_dynamic_security.so (Debian package mosquitto) is missing")
}

fn set_mode(path: &std::path::Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Our session over a real WebSocket (subprotocol `mqtt`, binary frames).
pub struct Client {
    ws: WebSocket<TcpStream>,
    pub session: Session,
    /// Every packet received, as debug text, for checks on the raw flow.
    pub raw: Vec<String>,
    /// While true, bytes the session wants to send are dropped (a client that stops acknowledging).
    pub mute: bool,
    pub events: Vec<Event>,
}

impl Client {
    /// Opens the socket and sends CONNECT; does not wait for CONNACK.
    pub fn open(broker: &Broker, options: Options) -> Client {
        Client::resume(broker, Session::new(options))
    }

    /// Opens a socket and sends nothing: for hand-made packets. Received packets are only logged in `raw`.
    pub fn open_raw(broker: &Broker) -> Client {
        Client::socket(broker, Session::new(Options::new("raw")))
    }

    /// Opens a new socket for an existing session and sends its CONNECT.
    pub fn resume(broker: &Broker, session: Session) -> Client {
        let mut client = Client::socket(broker, session);
        let now = client.now();
        client.session.connect(now).unwrap();
        client.flush();
        client
    }

    fn socket(broker: &Broker, session: Session) -> Client {
        let mut request = broker.url().into_client_request().unwrap();
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", "mqtt".parse().unwrap());
        let stream = TcpStream::connect(("127.0.0.1", broker.ws_port)).unwrap();
        let (ws, response) = tungstenite::client::client(request, stream).unwrap();
        assert_eq!(
            response
                .headers()
                .get("Sec-WebSocket-Protocol")
                .map(|v| v.to_str().unwrap()),
            Some("mqtt"),
            "[MQTT-6.0.0-3] the broker accepts the mqtt subprotocol"
        );
        ws.get_ref()
            .set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        Client {
            ws,
            session,
            raw: Vec::new(),
            mute: false,
            events: Vec::new(),
        }
    }

    /// Opens and waits for CONNACK; returns session-present.
    pub fn connect(broker: &Broker, options: Options) -> (Client, bool) {
        let mut c = Client::open(broker, options);
        match c.wait(|e| matches!(e, Event::Connected { .. } | Event::Closed(_))) {
            Event::Connected { session_present } => (c, session_present),
            other => panic!("not connected: {other:?}"),
        }
    }

    /// Milliseconds on one clock shared by every client and session of the test process.
    pub fn now(&self) -> u64 {
        static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        START.get_or_init(Instant::now).elapsed().as_millis() as u64
    }

    pub fn flush(&mut self) {
        if let Some(bytes) = self.session.poll_transmit() {
            if !self.mute {
                let _ = self.ws.send(Frame::binary(bytes));
            }
        }
    }

    /// Reads for `duration`, feeding the session; returns whether the socket is still open.
    pub fn pump(&mut self, duration: Duration) -> bool {
        let until = Instant::now() + duration;
        loop {
            let open = self.pump_once();
            if !open || Instant::now() >= until {
                return open;
            }
        }
    }

    fn pump_once(&mut self) -> bool {
        let open = match self.ws.read() {
            Ok(Frame::Binary(bytes)) => {
                let mut d = Decoder::new(MAX_PACKET_SIZE);
                d.push(&bytes);
                while let Ok(Some(p)) = d.next_packet() {
                    self.raw.push(format!("{p:?}"));
                }
                let now = self.now();
                let _ = self.session.handle_bytes(&bytes, now);
                true
            }
            Ok(_) => true,
            Err(tungstenite::Error::Io(e))
                if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
            {
                true
            }
            Err(_) => {
                self.session.transport_closed();
                false
            }
        };
        let now = self.now();
        self.session.handle_timeout(now);
        self.flush();
        while let Some(e) = self.session.poll_event() {
            self.events.push(e);
        }
        open
    }

    /// Waits up to 10 s for an event; removes and returns it.
    pub fn wait(&mut self, pred: impl Fn(&Event) -> bool) -> Event {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(i) = self.events.iter().position(&pred) {
                return self.events.remove(i);
            }
            assert!(
                Instant::now() < deadline,
                "timed out; events so far: {:?}",
                self.events
            );
            if !self.pump_once() && !self.events.iter().any(&pred) {
                panic!("connection closed; events: {:?}", self.events);
            }
        }
    }

    /// Collects the messages that arrive within `duration`.
    pub fn messages_for(&mut self, duration: Duration) -> Vec<Message> {
        self.pump(duration);
        let mut messages = Vec::new();
        self.events.retain(|e| match e {
            Event::Message(m) => {
                messages.push(m.clone());
                false
            }
            _ => true,
        });
        messages
    }

    /// Says DISCONNECT and closes the socket.
    pub fn disconnect(mut self) {
        let now = self.now();
        self.session.disconnect(now);
        self.flush();
        let _ = self.ws.close(None);
        let _ = self.ws.flush();
    }

    /// Drops the TCP connection without DISCONNECT, as a crashed client would.
    pub fn kill(self) {
        let _ = self.ws.get_ref().shutdown(std::net::Shutdown::Both);
    }

    /// Loses the connection (no DISCONNECT) and keeps the session, to reconnect it with [`Client::resume`].
    pub fn lose_connection(mut self) -> Session {
        let _ = self.ws.get_ref().shutdown(std::net::Shutdown::Both);
        self.session.transport_closed();
        self.session
    }

    /// Writes raw bytes in one binary frame.
    pub fn send_raw(&mut self, bytes: Vec<u8>) {
        self.ws.send(Frame::binary(bytes)).unwrap();
    }
}

pub fn options(client_id: &str, clean_session: bool) -> Options {
    let mut o = Options::new(client_id);
    o.clean_session = clean_session;
    o
}
