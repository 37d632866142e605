//! The transport: one thread per connection that opens it — MQTT over TCP (`mqtt://`), over WebSocket
//! (`ws://`, subprotocol `mqtt`, binary frames) or over WebSocket and TLS (`wss://`, rustls with the Mozilla
//! roots, plus those of `SSL_CERT_FILE` if set) — and then moves bytes both ways. It reports what happens as
//! [`NetEvent`]s; the event loop hands it bytes to send through [`Link`].
//!
//! Once open, the thread waits on the socket and on the event loop's wake-up at once (mio), so an idle
//! connection costs no wake-ups, and bytes to send go out at once whichever way the socket is busy.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};
use rustls::pki_types::ServerName;
use tungstenite::client::IntoClientRequest;
use tungstenite::{Message, WebSocket};

use mqtt_chat::chat::settings::DEFAULT_MQTT_PORT;

/// How long opening a connection (TCP, TLS and the WebSocket handshake) may take.
const OPEN_TIMEOUT: Duration = Duration::from_secs(10);
/// How long closing may wait for the last bytes (a goodbye) to be written.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

const SOCKET: Token = Token(0);
const WAKE: Token = Token(1);

/// What a connection reports, in order: `Opened` at most once, `Bytes` any number of times, `Closed` last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetEvent {
    Opened,
    Bytes(Vec<u8>),
    /// Closed by either side, or never opened; why, in words.
    Closed(String),
}

enum Command {
    Send(Vec<u8>),
    Close,
}

/// The event loop's end of a connection.
pub struct Link {
    commands: Sender<Command>,
    waker: Arc<Waker>,
    thread: Option<JoinHandle<()>>,
}

impl Link {
    /// Starts opening a connection to `url`; `report` gets its events (and returns false once nobody
    /// listens any more).
    pub fn open(url: &str, report: impl Fn(NetEvent) -> bool + Send + 'static) -> io::Result<Link> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKE)?);
        let (commands, rx) = mpsc::channel();
        let url = url.to_owned();
        let thread = std::thread::Builder::new()
            .name("connection".into())
            .spawn(move || {
                let reason = match connect(&url) {
                    Ok(stream) => {
                        report(NetEvent::Opened);
                        run(stream, poll, &rx, &report)
                    }
                    Err(e) => e,
                };
                report(NetEvent::Closed(reason));
            })?;
        Ok(Link {
            commands,
            waker,
            thread: Some(thread),
        })
    }

    pub fn send(&self, bytes: Vec<u8>) {
        if self.commands.send(Command::Send(bytes)).is_ok() {
            let _ = self.waker.wake();
        }
    }

    /// Closes after writing what was sent before; returns at once, with a handle to wait for the end.
    pub fn close(mut self) -> Closing {
        if self.commands.send(Command::Close).is_ok() {
            let _ = self.waker.wake();
        }
        Closing(self.thread.take())
    }
}

/// A connection being closed.
pub struct Closing(Option<JoinHandle<()>>);

impl Closing {
    /// Waits until the last bytes are written and the socket closed (a little longer than the thread
    /// itself waits for a socket that takes nothing).
    pub fn wait(self) {
        if let Some(thread) = self.0 {
            let until = Instant::now() + CLOSE_TIMEOUT + Duration::from_millis(500);
            while !thread.is_finished() && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
}

/// `mqtt://HOST[:PORT]`: host and port (1883 when not named); an IPv6 literal in brackets.
pub fn tcp_address(url: &str) -> Result<(String, u16), String> {
    let rest = url
        .trim()
        .strip_prefix("mqtt://")
        .ok_or_else(|| format!("not an mqtt:// URL: {url}"))?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains('/') {
        return Err(format!(
            "an mqtt:// URL names a host and a port only: {url}"
        ));
    }
    let (host, port) = match rest.strip_prefix('[') {
        Some(v6) => {
            let (host, after) = v6
                .split_once(']')
                .ok_or_else(|| format!("no ] after the IPv6 address: {url}"))?;
            (host, after.strip_prefix(':'))
        }
        None => match rest.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (rest, None),
        },
    };
    if host.is_empty() {
        return Err(format!("the broker URL needs a host: {url}"));
    }
    let port = match port {
        None => DEFAULT_MQTT_PORT,
        Some(p) => p
            .parse()
            .map_err(|_| format!("not a port number: {p:?} in {url}"))?,
    };
    Ok((host.to_owned(), port))
}

/// An open connection, blocking mode set back to non-blocking by [`run`].
enum Stream {
    Tcp(TcpStream),
    Ws(Box<WebSocket<TcpStream>>),
    Wss(Box<WebSocket<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>>),
}

fn connect(url: &str) -> Result<Stream, String> {
    if url.starts_with("mqtt://") {
        let (host, port) = tcp_address(url)?;
        return Ok(Stream::Tcp(tcp(&host, port)?));
    }
    let secure = url.starts_with("wss://");
    let mut request = url
        .into_client_request()
        .map_err(|e| format!("not a broker URL: {url} ({e})"))?;
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        tungstenite::http::HeaderValue::from_static("mqtt"),
    );
    let uri = request.uri().clone();
    let host = uri
        .host()
        .map(|h| h.trim_start_matches('[').trim_end_matches(']').to_owned())
        .ok_or_else(|| format!("the broker URL needs a host: {url}"))?;
    let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
    let socket = tcp(&host, port)?;
    let handshake = |e: String| format!("WebSocket handshake with {url} failed: {e}");
    let protocol_ok = |response: &tungstenite::handshake::client::Response| {
        let offered = response
            .headers()
            .get("Sec-WebSocket-Protocol")
            .and_then(|v| v.to_str().ok());
        match offered {
            Some("mqtt") => Ok(()),
            _ => Err(format!(
                "{url} did not accept the WebSocket subprotocol mqtt"
            )),
        }
    };
    if secure {
        let name = ServerName::try_from(host.clone())
            .map_err(|e| format!("not a TLS server name: {host} ({e})"))?;
        let tls =
            rustls::ClientConnection::new(tls_config()?, name).map_err(|e| format!("TLS: {e}"))?;
        let stream = rustls::StreamOwned::new(tls, socket);
        let (ws, response) =
            tungstenite::client::client(request, stream).map_err(|e| handshake(e.to_string()))?;
        protocol_ok(&response)?;
        Ok(Stream::Wss(Box::new(ws)))
    } else {
        let (ws, response) =
            tungstenite::client::client(request, socket).map_err(|e| handshake(e.to_string()))?;
        protocol_ok(&response)?;
        Ok(Stream::Ws(Box::new(ws)))
    }
}

/// A TCP connection to the first address of `host` that answers, with timeouts for the handshakes.
fn tcp(host: &str, port: u16) -> Result<TcpStream, String> {
    let addresses = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}: {e}"))?;
    let mut last = format!("{host} has no address");
    for address in addresses {
        match TcpStream::connect_timeout(&address, OPEN_TIMEOUT) {
            Ok(stream) => {
                let set = |r: io::Result<()>| r.map_err(|e| e.to_string());
                set(stream.set_nodelay(true))?;
                set(stream.set_read_timeout(Some(OPEN_TIMEOUT)))?;
                set(stream.set_write_timeout(Some(OPEN_TIMEOUT)))?;
                return Ok(stream);
            }
            Err(e) => last = format!("cannot connect to {address}: {e}"),
        }
    }
    Err(last)
}

/// One TLS configuration for the process: the Mozilla roots (webpki-roots), and the certificates of
/// `SSL_CERT_FILE` (PEM), for a broker with a private authority.
fn tls_config() -> Result<Arc<rustls::ClientConfig>, String> {
    static CONFIG: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            use rustls::pki_types::pem::PemObject;
            let mut roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            if let Some(file) = std::env::var_os("SSL_CERT_FILE") {
                let certs = rustls::pki_types::CertificateDer::pem_file_iter(&file)
                    .map_err(|e| format!("SSL_CERT_FILE {}: {e}", file.to_string_lossy()))?;
                for cert in certs {
                    let cert =
                        cert.map_err(|e| format!("SSL_CERT_FILE {}: {e}", file.to_string_lossy()))?;
                    roots
                        .add(cert)
                        .map_err(|e| format!("SSL_CERT_FILE {}: {e}", file.to_string_lossy()))?;
                }
            }
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| format!("TLS: {e}"))?
                .with_root_certificates(roots)
                .with_no_client_auth();
            Ok(Arc::new(config))
        })
        .clone()
}

impl Stream {
    fn socket(&self) -> &TcpStream {
        match self {
            Self::Tcp(s) => s,
            Self::Ws(ws) => ws.get_ref(),
            Self::Wss(ws) => &ws.get_ref().sock,
        }
    }

    /// Reads everything available into `into`; `Ok(false)` once the connection has ended.
    fn read(&mut self, into: &mut Vec<u8>) -> Result<bool, String> {
        match self {
            Self::Tcp(s) => {
                let mut buf = [0u8; 64 * 1024];
                loop {
                    match s.read(&mut buf) {
                        Ok(0) => return Ok(false),
                        Ok(n) => into.extend_from_slice(buf.get(..n).unwrap_or_default()),
                        Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(true),
                        Err(e) if e.kind() == ErrorKind::Interrupted => {}
                        Err(e) => return Err(e.to_string()),
                    }
                }
            }
            Self::Ws(ws) => read_frames(ws, into),
            Self::Wss(ws) => read_frames(ws, into),
        }
    }

    /// Queues `bytes` and writes what the socket takes.
    fn write(&mut self, bytes: Vec<u8>, pending: &mut Vec<u8>) -> Result<(), String> {
        match self {
            Self::Tcp(_) => {
                pending.extend_from_slice(&bytes);
                Ok(())
            }
            Self::Ws(ws) => ws_result(ws.write(Message::binary(bytes))),
            Self::Wss(ws) => ws_result(ws.write(Message::binary(bytes))),
        }
    }

    /// Writes what is queued; `Ok(true)` when nothing is left.
    fn flush(&mut self, pending: &mut Vec<u8>) -> Result<bool, String> {
        match self {
            Self::Tcp(s) => {
                while !pending.is_empty() {
                    match s.write(pending) {
                        Ok(0) => return Err("the connection closed".into()),
                        Ok(n) => {
                            pending.drain(..n);
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(false),
                        Err(e) if e.kind() == ErrorKind::Interrupted => {}
                        Err(e) => return Err(e.to_string()),
                    }
                }
                Ok(true)
            }
            Self::Ws(ws) => ws_flushed(ws.flush()),
            Self::Wss(ws) => ws_flushed(ws.flush()),
        }
    }

    fn close(&mut self) {
        match self {
            Self::Tcp(_) => {}
            Self::Ws(ws) => {
                let _ = ws.close(None);
            }
            Self::Wss(ws) => {
                let _ = ws.close(None);
            }
        }
    }
}

fn read_frames<S: Read + Write>(ws: &mut WebSocket<S>, into: &mut Vec<u8>) -> Result<bool, String> {
    loop {
        match ws.read() {
            Ok(Message::Binary(bytes)) => into.extend_from_slice(&bytes),
            Ok(Message::Close(_)) => return Ok(false),
            // Pings are answered by tungstenite; text frames are not MQTT.
            Ok(_) => {}
            Err(tungstenite::Error::Io(e)) if e.kind() == ErrorKind::WouldBlock => return Ok(true),
            Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                return Ok(false)
            }
            Err(e) => return Err(e.to_string()),
        }
    }
}

fn ws_result(r: tungstenite::Result<()>) -> Result<(), String> {
    ws_flushed(r).map(drop)
}

fn ws_flushed(r: tungstenite::Result<()>) -> Result<bool, String> {
    match r {
        Ok(()) => Ok(true),
        Err(tungstenite::Error::Io(e)) if e.kind() == ErrorKind::WouldBlock => Ok(false),
        Err(e) => Err(e.to_string()),
    }
}

/// Moves bytes until the connection ends or the event loop closes it; returns why it ended.
fn run(
    mut stream: Stream,
    mut poll: Poll,
    commands: &Receiver<Command>,
    report: &impl Fn(NetEvent) -> bool,
) -> String {
    let fd: RawFd = stream.socket().as_raw_fd();
    let setup = stream
        .socket()
        .set_read_timeout(None)
        .and_then(|()| stream.socket().set_write_timeout(None))
        .and_then(|()| stream.socket().set_nonblocking(true))
        .and_then(|()| {
            poll.registry().register(
                &mut SourceFd(&fd),
                SOCKET,
                Interest::READABLE | Interest::WRITABLE,
            )
        });
    if let Err(e) = setup {
        return e.to_string();
    }
    let mut events = Events::with_capacity(8);
    let mut pending = Vec::new();
    let mut closing: Option<Instant> = None;
    let reason = loop {
        let timeout =
            closing.map(|since| (since + CLOSE_TIMEOUT).saturating_duration_since(Instant::now()));
        if let Err(e) = poll.poll(&mut events, timeout) {
            if e.kind() == ErrorKind::Interrupted {
                continue;
            }
            break e.to_string();
        }
        // Edge-triggered: read until the socket has nothing more, every time (cheap when it has nothing).
        let mut received = Vec::new();
        match stream.read(&mut received) {
            Ok(open) => {
                if !received.is_empty() && !report(NetEvent::Bytes(received)) {
                    break "the program is ending".into();
                }
                if !open {
                    break "the broker closed the connection".into();
                }
            }
            Err(e) => break e,
        }
        loop {
            match commands.try_recv() {
                Ok(Command::Send(bytes)) => {
                    if let Err(e) = stream.write(bytes, &mut pending) {
                        return e;
                    }
                }
                Ok(Command::Close) | Err(TryRecvError::Disconnected) => {
                    if closing.is_none() {
                        stream.close();
                        closing = Some(Instant::now());
                    }
                    break;
                }
                Err(TryRecvError::Empty) => break,
            }
        }
        let flushed = match stream.flush(&mut pending) {
            Ok(done) => done,
            Err(e) => break e,
        };
        if let Some(since) = closing {
            if flushed || since.elapsed() >= CLOSE_TIMEOUT {
                break "closed".into();
            }
        }
    };
    let _ = stream.socket().shutdown(Shutdown::Both);
    reason
}

#[cfg(test)]
mod tests {
    use super::*;

    #[rustfmt::skip]
    #[test]
    fn mqtt_urls_name_a_host_and_a_port_1883_unless_given() {
        let cases = [
            ("mqtt://127.0.0.1:1883",  Ok(("127.0.0.1", 1883))),
            ("mqtt://broker.example",  Ok(("broker.example", 1883))),
            ("mqtt://broker.example/", Ok(("broker.example", 1883))),
            ("mqtt://h:1884",          Ok(("h", 1884))),
            ("mqtt://[::1]:1884",      Ok(("::1", 1884))),
            ("mqtt://[::1]",           Ok(("::1", 1883))),
            ("mqtt://h:port",          Err("not a port number")),
            ("mqtt://h:1/x",           Err("host and a port only")),
            ("mqtt://:1",              Err("needs a host")),
            ("ws://h:1",               Err("not an mqtt:// URL")),
        ];
        for (url, want) in cases {
            match (tcp_address(url), want) {
                (Ok((h, p)), Ok((wh, wp))) => assert_eq!((h.as_str(), p), (wh, wp), "{url}"),
                (Err(e), Err(w)) => assert!(e.contains(w), "{url}: {e}"),
                (got, want) => panic!("{url}: {got:?}, expected {want:?}"),
            }
        }
    }

    /// A listener that accepts one connection, echoes what it reads, and closes when it reads "bye".
    fn echo_server() -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 1024];
            loop {
                let n = s.read(&mut buf).unwrap_or(0);
                if n == 0 || buf[..n].ends_with(b"bye") {
                    return;
                }
                s.write_all(&buf[..n]).unwrap();
            }
        });
        port
    }

    #[test]
    fn a_tcp_link_opens_moves_bytes_both_ways_and_reports_its_end() {
        let port = echo_server();
        let (tx, rx) = mpsc::channel();
        let link = Link::open(&format!("mqtt://127.0.0.1:{port}"), move |e| {
            tx.send(e).is_ok()
        })
        .unwrap();
        let next = || rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(next(), NetEvent::Opened);
        link.send(b"hello".to_vec());
        let mut echoed = Vec::new();
        while echoed.len() < 5 {
            let NetEvent::Bytes(b) = next() else { panic!() };
            echoed.extend(b);
        }
        assert_eq!(echoed, b"hello");
        link.send(b"bye".to_vec());
        assert!(matches!(next(), NetEvent::Closed(r) if r.contains("closed")));
    }

    #[test]
    fn a_broker_that_is_not_there_is_reported_closed_with_the_reason() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let (tx, rx) = mpsc::channel();
        let _link = Link::open(&format!("mqtt://127.0.0.1:{port}"), move |e| {
            tx.send(e).is_ok()
        })
        .unwrap();
        let event = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert!(
            matches!(&event, NetEvent::Closed(r) if r.contains("cannot connect")),
            "{event:?}"
        );
    }
}
