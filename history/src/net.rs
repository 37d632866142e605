//! The only code that touches the network: a blocking connection to the broker (TCP, or its unix socket),
//! read with a timeout up to the session's next deadline; for the service, reconnection after 1, 2, 4 … 30 s.

use std::fmt::Display;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use mqtt::{CloseReason, Millis};

use crate::args::Broker;
use crate::service::log;

/// How long connecting, and writing, may take.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest wait between two tries.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Milliseconds since the process started: the session's clock.
pub struct Clock(Instant);

impl Clock {
    pub fn new() -> Clock {
        Clock(Instant::now())
    }

    pub fn now(&self) -> u64 {
        u64::try_from(self.0.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

/// What speaks MQTT over a connection, sans-IO like the session it drives: [`crate::service::Service`],
/// [`crate::migrate::Migration`]. Bytes and time in, bytes out.
pub trait Conversation {
    /// Why the connection must end now, without sending what is queued.
    type Trouble: Display;
    /// A transport is open: CONNECT goes out.
    fn connect(&mut self, now: Millis) -> Result<(), Self::Trouble>;
    /// The broker accepted the connection (CONNACK).
    fn is_connected(&self) -> bool;
    fn handle_bytes(&mut self, bytes: &[u8], now: Millis) -> Result<(), Self::Trouble>;
    fn handle_timeout(&mut self, now: Millis) -> Result<(), Self::Trouble>;
    fn poll_timeout(&self) -> Option<Millis>;
    fn poll_transmit(&mut self) -> Option<Vec<u8>>;
    /// The connection is over, and why, once.
    fn take_closed(&mut self) -> Option<CloseReason>;
    /// The transport closed, or is being closed after a `Trouble`: nothing queued goes out.
    fn transport_closed(&mut self);
}

/// A connection to the broker.
enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    fn set_read_timeout(&self, wait: Duration) -> io::Result<()> {
        match self {
            Self::Tcp(s) => s.set_read_timeout(Some(wait)),
            Self::Unix(s) => s.set_read_timeout(Some(wait)),
        }
    }

    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Tcp(s) => s.read(buf),
            Self::Unix(s) => s.read(buf),
        }
    }

    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Self::Tcp(s) => s.write_all(bytes),
            Self::Unix(s) => s.write_all(bytes),
        }
    }

    /// The connection is over either way: a failure to shut it down leaves nothing to do.
    fn shutdown(&self) {
        let _ = match self {
            Self::Tcp(s) => s.shutdown(Shutdown::Both),
            Self::Unix(s) => s.shutdown(Shutdown::Both),
        };
    }
}

/// Serves on `broker` for ever: connects, serves until the connection ends, waits, connects again. The
/// wait starts at 1 s and doubles up to 30 s while connections fail; a connection the broker accepted starts
/// it again at 1 s.
pub fn run(service: &mut impl Conversation, broker: &Broker) -> ! {
    let clock = Clock::new();
    let mut backoff = Duration::from_secs(1);
    loop {
        match open(broker) {
            Ok(stream) => {
                let (accepted, ended) = serve(service, stream, &clock);
                log(&format!("disconnected: {ended}"));
                if accepted {
                    backoff = Duration::from_secs(1);
                }
            }
            Err(e) => log(&e),
        }
        log(&format!("reconnecting in {} s", backoff.as_secs()));
        std::thread::sleep(backoff);
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// One connection, until it ends: `Err` if none could be opened, else how it ended (what the broker or the
/// conversation said).
pub fn once(conversation: &mut impl Conversation, broker: &Broker) -> Result<String, String> {
    let stream = open(broker)?;
    let (_, ended) = serve(conversation, stream, &Clock::new());
    Ok(ended)
}

fn open(broker: &Broker) -> Result<Stream, String> {
    match broker {
        Broker::Tcp { host, port } => tcp(host, *port).map(Stream::Tcp),
        Broker::Unix(path) => unix(path).map(Stream::Unix),
    }
}

fn unix(path: &std::path::Path) -> Result<UnixStream, String> {
    let stream = UnixStream::connect(path)
        .map_err(|e| format!("cannot connect to {}: {e}", path.display()))?;
    stream
        .set_write_timeout(Some(IO_TIMEOUT))
        .map_err(|e| format!("cannot set up the connection to {}: {e}", path.display()))?;
    Ok(stream)
}

fn tcp(host: &str, port: u16) -> Result<TcpStream, String> {
    let addresses = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}: {e}"))?;
    let mut last = format!("{host} has no address");
    for address in addresses {
        match TcpStream::connect_timeout(&address, IO_TIMEOUT) {
            Ok(stream) => {
                stream
                    .set_nodelay(true)
                    .and_then(|()| stream.set_write_timeout(Some(IO_TIMEOUT)))
                    .map_err(|e| format!("cannot set up the connection to {address}: {e}"))?;
                return Ok(stream);
            }
            Err(e) => last = format!("cannot connect to {address}: {e}"),
        }
    }
    Err(last)
}

/// One connection, until it ends. Returns whether the broker accepted it (CONNACK), and how it ended.
fn serve(
    conversation: &mut impl Conversation,
    mut stream: Stream,
    clock: &Clock,
) -> (bool, String) {
    let mut accepted = false;
    if let Err(e) = conversation.connect(clock.now()) {
        return (false, format!("cannot connect: {e}"));
    }
    let mut buf = vec![0u8; 64 * 1024];
    let ended = 'connection: loop {
        while let Some(bytes) = conversation.poll_transmit() {
            if let Err(e) = stream.write_all(&bytes) {
                break 'connection format!("cannot write to the broker: {e}");
            }
        }
        accepted |= conversation.is_connected();
        if let Some(reason) = conversation.take_closed() {
            break reason.to_string();
        }
        let now = clock.now();
        let deadline = conversation.poll_timeout();
        if deadline.is_some_and(|d| now >= d) {
            if let Err(e) = conversation.handle_timeout(now) {
                break e.to_string();
            }
            continue;
        }
        let wait = deadline.map_or(Duration::from_secs(60), |d| Duration::from_millis(d - now));
        if let Err(e) = stream.set_read_timeout(wait.max(Duration::from_millis(1))) {
            break format!("cannot wait for the broker: {e}");
        }
        match stream.read(&mut buf) {
            Ok(0) => break "the broker closed the connection".to_owned(),
            Ok(n) => {
                if let Err(e) =
                    conversation.handle_bytes(buf.get(..n).unwrap_or_default(), clock.now())
                {
                    break e.to_string();
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if let Err(e) = conversation.handle_timeout(clock.now()) {
                    break e.to_string();
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => break format!("cannot read from the broker: {e}"),
        }
    };
    conversation.transport_closed();
    stream.shutdown();
    (accepted, ended)
}
