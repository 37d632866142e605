//! A native MQTT client for the browser benchmark (bench/run.mjs): our `mqtt` session over a plain
//! WebSocket (tungstenite, subprotocol `mqtt`) to Mosquitto's websocket listener — the same listener the
//! browser tabs use.
//!
//! ```text
//! flood publish --url ws://127.0.0.1:PORT --topic chat/rooms/R/messages/NAME --username NAME \
//!               --count N [--rate MSGS_PER_S] [--window W] [--prefix P] [--start I]
//! flood receive --url ws://127.0.0.1:PORT --topic 'chat/rooms/R/messages/+' --count N [--timeout S]
//! ```
//!
//! `publish` sends N chat messages (the README's JSON payload, QoS 1) as fast as the broker acknowledges
//! them, or at `--rate` per second, keeping at most `--window` unacknowledged; it exits once all are
//! acknowledged. Message I (counting from `--start`, default 0) has id `P-I` and text `P I`.
//! `receive` subscribes at QoS 1, prints `{"ready":true}` once the broker granted the subscription, and
//! exits after N messages (or `--timeout` seconds of silence). Each prints one JSON line of results on
//! stdout.

use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::TcpStream;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mqtt::{Event, Options, QoS, Session};
use tungstenite::client::IntoClientRequest;
use tungstenite::{Message as Frame, WebSocket};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let command = args.next().unwrap_or_default();
    let flags = match parse_flags(args) {
        Ok(flags) => flags,
        Err(e) => return fail(&e),
    };
    let result = match command.as_str() {
        "publish" => publish(&flags),
        "receive" => receive(&flags),
        _ => Err("usage: flood publish|receive --url URL --topic T --count N ...".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("flood: {message}");
    ExitCode::FAILURE
}

type Flags = HashMap<String, String>;

fn parse_flags(mut args: impl Iterator<Item = String>) -> Result<Flags, String> {
    let mut flags = HashMap::new();
    while let Some(flag) = args.next() {
        let name = flag
            .strip_prefix("--")
            .ok_or_else(|| format!("expected a --flag, got {flag:?}"))?;
        let value = args
            .next()
            .ok_or_else(|| format!("--{name} needs a value"))?;
        flags.insert(name.to_string(), value);
    }
    Ok(flags)
}

fn flag<'a>(flags: &'a Flags, name: &str) -> Result<&'a str, String> {
    flags
        .get(name)
        .map(String::as_str)
        .ok_or_else(|| format!("--{name} is required"))
}

fn number(flags: &Flags, name: &str, default: Option<f64>) -> Result<f64, String> {
    match (flags.get(name), default) {
        (Some(v), _) => v
            .parse()
            .map_err(|_| format!("--{name}: not a number: {v:?}")),
        (None, Some(d)) => Ok(d),
        (None, None) => Err(format!("--{name} is required")),
    }
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Our session over one WebSocket, with a monotonic clock for the session.
struct Link {
    ws: WebSocket<TcpStream>,
    session: Session,
    start: Instant,
}

impl Link {
    fn open(url: &str, client_id: &str, username: Option<&str>) -> Result<Link, String> {
        let mut request = url.into_client_request().map_err(|e| e.to_string())?;
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            "mqtt".parse().map_err(|_| "header")?,
        );
        let host = request.uri().host().unwrap_or("127.0.0.1").to_string();
        let port = request.uri().port_u16().unwrap_or(80);
        let stream = TcpStream::connect((host.as_str(), port)).map_err(|e| e.to_string())?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        let (ws, _) = tungstenite::client::client(request, stream).map_err(|e| e.to_string())?;
        ws.get_ref()
            .set_read_timeout(Some(Duration::from_millis(1)))
            .map_err(|e| e.to_string())?;
        let mut options = Options::new(client_id);
        options.keep_alive = 60;
        options.username = username.map(str::to_string);
        let mut link = Link {
            ws,
            session: Session::new(options),
            start: Instant::now(),
        };
        let now = link.now();
        link.session.connect(now).map_err(|e| e.to_string())?;
        link.flush()?;
        match link.wait(|e| matches!(e, Event::Connected { .. }))? {
            Event::Connected { .. } => Ok(link),
            other => Err(format!("not connected: {other:?}")),
        }
    }

    fn now(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    fn flush(&mut self) -> Result<(), String> {
        if let Some(bytes) = self.session.poll_transmit() {
            self.ws
                .send(Frame::binary(bytes))
                .map_err(|e| format!("send: {e}"))?;
        }
        Ok(())
    }

    /// Reads what arrived (waiting at most about a millisecond), feeds the session, sends its answers,
    /// and hands every event to `on_event`.
    fn pump(&mut self, mut on_event: impl FnMut(Event)) -> Result<(), String> {
        match self.ws.read() {
            Ok(Frame::Binary(bytes)) => {
                let now = self.now();
                self.session
                    .handle_bytes(&bytes, now)
                    .map_err(|e| format!("protocol error: {e}"))?;
            }
            Ok(Frame::Close(_)) => return Err("the broker closed the connection".into()),
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => return Err(format!("read: {e}")),
        }
        let now = self.now();
        self.session.handle_timeout(now);
        self.flush()?;
        while let Some(event) = self.session.poll_event() {
            if let Event::Closed(reason) = &event {
                return Err(format!("closed: {reason}"));
            }
            on_event(event);
        }
        Ok(())
    }

    /// Pumps until an event matches (10 s at most); other events are dropped.
    fn wait(&mut self, pred: impl Fn(&Event) -> bool) -> Result<Event, String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut found = None;
        while found.is_none() {
            if Instant::now() > deadline {
                return Err("timed out waiting for the broker".into());
            }
            self.pump(|e| {
                if found.is_none() && pred(&e) {
                    found = Some(e);
                }
            })?;
        }
        found.ok_or_else(|| "no event".into())
    }

    fn close(mut self) {
        let now = self.now();
        self.session.disconnect(now);
        let _ = self.flush();
        let _ = self.ws.close(None);
        let _ = self.ws.flush();
    }
}

fn publish(flags: &Flags) -> Result<(), String> {
    let url = flag(flags, "url")?;
    let topic = flag(flags, "topic")?;
    let username = flags.get("username").map(String::as_str);
    let count = number(flags, "count", None)? as u64;
    let rate = number(flags, "rate", Some(0.0))?;
    let window = number(flags, "window", Some(1000.0))?.max(1.0) as usize;
    let prefix = flags.get("prefix").map_or("flood", String::as_str);
    let start = number(flags, "start", Some(0.0))? as u64;
    let client_id = format!("flood-pub-{}", std::process::id());
    let mut link = Link::open(url, &client_id, username)?;

    let started = Instant::now();
    let mut sent = 0u64;
    let mut acked = 0u64;
    while acked < count {
        // Everything the schedule allows and the window has room for goes out in one frame.
        let due = if rate > 0.0 {
            ((started.elapsed().as_secs_f64() * rate) as u64 + 1).min(count)
        } else {
            count
        };
        let now = link.now();
        while sent < due && link.session.in_flight() < window {
            let payload = format!(
                r#"{{"id":"{prefix}-{i}","text":"{prefix} {i}","sent_at":{}}}"#,
                unix_ms(),
                i = start + sent
            );
            link.session
                .publish(topic, payload.as_bytes(), QoS::AtLeastOnce, false, now)
                .map_err(|e| format!("publish: {e}"))?;
            sent += 1;
        }
        link.flush()?;
        link.pump(|e| {
            if matches!(e, Event::Delivered(_)) {
                acked += 1;
            }
        })?;
    }
    let seconds = started.elapsed().as_secs_f64();
    link.close();
    println!(
        r#"{{"sent":{sent},"acked":{acked},"seconds":{seconds:.4},"rate":{:.1}}}"#,
        acked as f64 / seconds
    );
    Ok(())
}

fn receive(flags: &Flags) -> Result<(), String> {
    let url = flag(flags, "url")?;
    let topic = flag(flags, "topic")?;
    let count = number(flags, "count", None)? as u64;
    let timeout = Duration::from_secs_f64(number(flags, "timeout", Some(30.0))?);
    let client_id = format!("flood-sub-{}", std::process::id());
    let mut link = Link::open(url, &client_id, flags.get("username").map(String::as_str))?;
    let now = link.now();
    link.session
        .subscribe(&[(topic, QoS::AtLeastOnce)], now)
        .map_err(|e| format!("subscribe: {e}"))?;
    link.flush()?;
    link.wait(|e| matches!(e, Event::Subscribed { .. }))?;
    println!(r#"{{"ready":true}}"#);

    let mut received = 0u64;
    let mut first: Option<(Instant, u64)> = None;
    let mut last = (Instant::now(), 0u64);
    while received < count {
        let mut got = 0;
        link.pump(|e| {
            if matches!(e, Event::Message(_)) {
                got += 1;
            }
        })?;
        if got > 0 {
            received += got;
            last = (Instant::now(), unix_ms());
            first.get_or_insert(last);
        } else if last.0.elapsed() > timeout {
            // Silent for `timeout` since the last message (or the subscription): nothing more is coming.
            break;
        }
    }
    link.close();
    let (first_at, first_ms) = first.unwrap_or(last);
    let seconds = last.0.duration_since(first_at).as_secs_f64();
    // The rate counts the messages after the first one over the time they took.
    let rate = if seconds > 0.0 {
        (received.saturating_sub(1)) as f64 / seconds
    } else {
        0.0
    };
    println!(
        r#"{{"received":{received},"seconds":{seconds:.4},"rate":{rate:.1},"first_ms":{first_ms},"last_ms":{}}}"#,
        last.1
    );
    Ok(())
}
