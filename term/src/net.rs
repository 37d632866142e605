//! The transport: MQTT over TCP (`mqtt://`), over WebSocket (`ws://`, subprotocol `mqtt`, binary frames) or
//! over WebSocket and TLS (`wss://`, rustls with the Mozilla roots, plus those of `SSL_CERT_FILE` if set).
//!
//! Opening a connection blocks (name lookup, TCP, TLS, the WebSocket handshake), so [`open`] does it in a
//! thread of its own and hands the open [`Stream`] over. From then on the event loop alone reads and writes
//! it, without blocking: it waits on the socket with mio, so an idle connection costs no wake-ups, and
//! acknowledgements go out as soon as the bytes they answer are read.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};
use rustls::pki_types::ServerName;
use tungstenite::client::IntoClientRequest;
use tungstenite::{Message, WebSocket};

use mqtt_chat::chat::settings::DEFAULT_MQTT_PORT;

/// How long opening a connection (TCP, TLS and the WebSocket handshake) may take.
const OPEN_TIMEOUT: Duration = Duration::from_secs(10);
/// How long closing may wait for the last bytes (a goodbye) to be written.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Opens a connection to `url` in a thread of its own; `done` gets the open stream, or why it failed.
pub fn open(
    url: &str,
    done: impl FnOnce(Result<Stream, String>) + Send + 'static,
) -> io::Result<()> {
    let url = url.to_owned();
    std::thread::Builder::new()
        .name("connect".into())
        .spawn(move || done(connect(&url)))
        .map(drop)
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

/// An open connection. [`Stream::register`] makes it non-blocking and has mio watch it.
pub enum Stream {
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
    /// Non-blocking from now on, watched by `registry` under `token` (readable and writable, edge-triggered:
    /// read until there is nothing, write until the socket takes no more).
    pub fn register(&self, registry: &Registry, token: Token) -> io::Result<()> {
        let socket = self.socket();
        socket.set_read_timeout(None)?;
        socket.set_write_timeout(None)?;
        socket.set_nonblocking(true)?;
        registry.register(
            &mut SourceFd(&socket.as_raw_fd()),
            token,
            Interest::READABLE | Interest::WRITABLE,
        )
    }

    /// Writes what is queued, closes (a WebSocket close frame first) and deregisters: blocking, for at most
    /// [`CLOSE_TIMEOUT`], so that a goodbye reaches the broker.
    ///
    /// Every step is a last try on a connection that is going away either way: one that fails (the peer
    /// gone first) leaves nothing to do, so their errors are not reported.
    pub fn close(mut self, pending: &mut Vec<u8>, registry: &Registry) {
        let socket = self.socket();
        let _ = registry.deregister(&mut SourceFd(&socket.as_raw_fd()));
        let _ = socket.set_nonblocking(false);
        let _ = socket.set_write_timeout(Some(CLOSE_TIMEOUT));
        match &mut self {
            Self::Tcp(_) => {}
            Self::Ws(ws) => {
                let _ = ws.close(None);
            }
            Self::Wss(ws) => {
                let _ = ws.close(None);
            }
        }
        let _ = self.flush(pending);
        let _ = self.socket().shutdown(Shutdown::Both);
    }

    fn socket(&self) -> &TcpStream {
        match self {
            Self::Tcp(s) => s,
            Self::Ws(ws) => ws.get_ref(),
            Self::Wss(ws) => &ws.get_ref().sock,
        }
    }

    /// Reads everything available into `into`; `Ok(false)` once the connection has ended.
    pub fn read(&mut self, into: &mut Vec<u8>) -> Result<bool, String> {
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

    /// Queues `bytes` (a WebSocket writes what the socket takes at once; [`Stream::flush`] the rest).
    pub fn write(&mut self, bytes: Vec<u8>, pending: &mut Vec<u8>) -> Result<(), String> {
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
    pub fn flush(&mut self, pending: &mut Vec<u8>) -> Result<bool, String> {
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

    fn opened(url: &str) -> Result<Stream, String> {
        let (tx, rx) = std::sync::mpsc::channel();
        open(url, move |r| tx.send(r).unwrap()).unwrap();
        rx.recv_timeout(Duration::from_secs(5)).unwrap()
    }

    #[test]
    fn a_tcp_stream_moves_bytes_both_ways_without_blocking_and_sees_its_end() {
        let port = echo_server();
        let mut stream = opened(&format!("mqtt://127.0.0.1:{port}")).unwrap();
        let mut poll = mio::Poll::new().unwrap();
        stream.register(poll.registry(), Token(0)).unwrap();
        let mut pending = Vec::new();
        stream.write(b"hello".to_vec(), &mut pending).unwrap();
        assert!(stream.flush(&mut pending).unwrap());
        let mut echoed = Vec::new();
        let mut events = mio::Events::with_capacity(4);
        while echoed.len() < 5 {
            poll.poll(&mut events, Some(Duration::from_secs(5)))
                .unwrap();
            assert!(stream.read(&mut echoed).unwrap(), "still open");
        }
        assert_eq!(echoed, b"hello");
        stream.write(b"bye".to_vec(), &mut pending).unwrap();
        stream.flush(&mut pending).unwrap();
        let mut rest = Vec::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while stream.read(&mut rest) == Ok(true) {
            assert!(std::time::Instant::now() < deadline, "the end was not seen");
            poll.poll(&mut events, Some(Duration::from_millis(100)))
                .unwrap();
        }
    }

    #[test]
    fn a_broker_that_is_not_there_is_a_failure_to_open_with_the_reason() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let failed = opened(&format!("mqtt://127.0.0.1:{port}")).err().unwrap();
        assert!(failed.contains("cannot connect"), "{failed}");
        let failed = opened("ws://").err().unwrap();
        assert!(failed.contains("broker URL"), "{failed}");
    }
}
