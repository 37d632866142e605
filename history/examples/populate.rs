//! Fills a broker with the retained room histories of many people, as a busy room accumulates them: the
//! figures of issue 18 (what a join costs when a room has had N posters; `end2end/history-scale.test.mjs`).
//!
//! ```text
//! cargo run --release -p mqtt-chat-history --example populate -- \
//!     --broker mqtt://127.0.0.1:1883 --room general --people 10000 [--each 5] [--days 365] [--newest FILE]
//! ```
//!
//! Person `i` (named `p` and `i`, zero-padded: `p0000` … `p9999`; `p0000` posted last) wrote `--each`
//! messages (default 5), the newest at `now − i × (--days × 24 h) / N` (default 365 days: N people spread
//! over a year, the most recent posting now). Their retained history is the README's: a JSON array of those
//! messages, oldest first, under `chat/rooms/{room}/history/{day}/{sender}`, the UTC day of the newest. The
//! people are at least `--each` ms apart (so `--days 0` still puts them in order) and a person's messages
//! are up to a minute apart, inside the gap before the next person: no two messages of the room share a
//! millisecond, so the room's order is the order `sent_at` gives, as every tab draws it.
//!
//! It connects as `mqtt-chat-bridge`: the shipped `mosquitto.acl` lets that user (the bridge of `cluster/`)
//! read and write every chat topic (`topic readwrite chat/#`), so one connection may write everybody's
//! history; any other user may write only their own. (Open mode: the broker must let that user in without a
//! password.) Histories go out oldest poster first, as they would have been written, retained at QoS 1,
//! with at most `--window` (default 500) unacknowledged. A refused connection, a PUBACK missing for 30 s,
//! or the newest poster's history not kept by the broker (MQTT 3.1.1 acknowledges a publish the ACL drops)
//! exits 1; bad flags exit 2. On success it prints one JSON line: the histories and messages published, the
//! payload bytes, the bytes of the PUBLISH packets, the seconds it took, and `days`: how many histories
//! each step of a join on the same UTC day reads (`HISTORY_STEPS`), with the messages dated in the days read
//! so far. `--newest FILE` writes the room's newest 50 messages (oldest first, `{"sender", "id", "text",
//! "sent_at"}`): what a tab joining the room must show.
//!
//! Its unit tests: `cargo test -p mqtt-chat-history --example populate`.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mqtt::{Event, Options, QoS, Session};
use mqtt_chat::chat::client::{HISTORY_LEN, HISTORY_STEPS};
use mqtt_chat::chat::message::{self, Payload};
use mqtt_chat::chat::{names, topic};

/// The user the shipped ACL lets write every chat topic.
const USER: &str = "mqtt-chat-bridge";
const DAY_MS: i64 = 86_400_000;
/// The longest a person's consecutive messages are apart.
const MAX_GAP_MS: i64 = 60_000;
/// How long the broker may go without acknowledging anything while publishes are outstanding.
const ACK_TIMEOUT: Duration = Duration::from_secs(30);

const USAGE: &str =
    "usage: populate --people N [--broker mqtt://HOST:PORT] [--room ROOM] [--each K] \
[--days D] [--window W] [--newest FILE]";

#[derive(Debug, Clone, PartialEq)]
struct Args {
    host: String,
    port: u16,
    room: String,
    people: usize,
    each: usize,
    days: f64,
    window: usize,
    newest: Option<String>,
}

fn main() -> ExitCode {
    let args = match parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("populate: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(summary) => {
            println!("{summary}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("populate: {e}");
            ExitCode::FAILURE
        }
    }
}

fn parse(args: impl IntoIterator<Item = String>) -> Result<Args, String> {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_args(args);
    let mut parsed = Args {
        host: "127.0.0.1".into(),
        port: 1883,
        room: "general".into(),
        people: 0,
        each: 5,
        days: 365.0,
        window: 500,
        newest: None,
    };
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        let Long(flag) = arg else {
            return Err(arg.unexpected().to_string());
        };
        let flag = flag.to_owned();
        let value = parser
            .value()
            .map_err(|e| e.to_string())?
            .into_string()
            .map_err(|_| format!("--{flag}: not UTF-8"))?;
        let number = |v: &str| {
            v.parse()
                .map_err(|_| format!("--{flag}: not a number: {v}"))
        };
        match flag.as_str() {
            "broker" => (parsed.host, parsed.port) = address(&value)?,
            "room" => parsed.room = value,
            "people" => parsed.people = number(&value)?,
            "each" => parsed.each = number(&value)?,
            "window" => parsed.window = number(&value)?,
            "days" => {
                parsed.days = value
                    .parse()
                    .map_err(|_| format!("--days: not a number: {value}"))?;
            }
            "newest" => parsed.newest = Some(value),
            _ => return Err(format!("unknown flag --{flag}")),
        }
    }
    names::validate(&parsed.room).map_err(|e| format!("--room: {e}"))?;
    if parsed.people == 0 {
        return Err("--people: at least 1".into());
    }
    if !(1..=HISTORY_LEN).contains(&parsed.each) {
        return Err(format!("--each: 1 to {HISTORY_LEN} (a history's length)"));
    }
    if !(0.0..=36_500.0).contains(&parsed.days) {
        return Err("--days: 0 to 36,500".into());
    }
    if !(1..=60_000).contains(&parsed.window) {
        return Err("--window: 1 to 60,000 (packet ids)".into());
    }
    Ok(parsed)
}

/// `mqtt://HOST:PORT` (port 1883 when not named).
fn address(url: &str) -> Result<(String, u16), String> {
    let rest = url
        .strip_prefix("mqtt://")
        .ok_or_else(|| format!("--broker: not an mqtt:// URL: {url}"))?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let (host, port) = match rest.rsplit_once(':') {
        Some((host, port)) => (
            host,
            port.parse()
                .map_err(|_| format!("--broker: not a port: {port}"))?,
        ),
        None => (rest, 1883),
    };
    if host.is_empty() || host.contains('/') {
        return Err(format!("--broker: no host in {url}"));
    }
    Ok((host.to_owned(), port))
}

/// When everybody posted: person `i`'s messages, oldest first, end at `now − i × spacing`.
#[derive(Debug, Clone, Copy)]
struct Schedule {
    now: i64,
    people: usize,
    each: usize,
    /// Between two people's newest messages (ms).
    spacing: i64,
    /// Between a person's consecutive messages (ms): `each × gap ≤ spacing`, so people never interleave.
    gap: i64,
}

impl Schedule {
    fn new(now: i64, people: usize, each: usize, days: f64) -> Schedule {
        // Both at least 1: parse() refuses 0 people and 0 messages.
        let (n, k) = (people.max(1) as i64, each.max(1) as i64);
        let span = (days * DAY_MS as f64).round() as i64;
        let spacing = (span / n).max(k);
        Schedule {
            now,
            people,
            each,
            spacing,
            gap: (spacing / k).min(MAX_GAP_MS),
        }
    }

    fn name(&self, i: usize) -> String {
        let width = self.people.saturating_sub(1).to_string().len();
        format!("p{i:0width$}")
    }

    fn newest_at(&self, i: usize) -> i64 {
        self.now - i as i64 * self.spacing
    }

    /// Person `i`'s history, oldest first: `#1` … `#each`.
    fn history(&self, i: usize) -> Vec<Payload> {
        let name = self.name(i);
        (1..=self.each)
            .map(|n| Payload {
                id: format!("{name}-{n}"),
                text: format!("{name} #{n}"),
                sent_at: self.newest_at(i) - (self.each - n) as i64 * self.gap,
                ..Payload::default()
            })
            .collect()
    }

    /// The room's newest `count` messages, oldest first, with their senders.
    fn newest(&self, count: usize) -> Vec<(String, Payload)> {
        let mut newest: Vec<(String, Payload)> = (0..self.people)
            .flat_map(|i| self.history(i).into_iter().rev().map(move |p| (i, p)))
            .take(count)
            .map(|(i, p)| (self.name(i), p))
            .collect();
        newest.reverse();
        newest
    }

    /// What a join on the day of `now` reads, step by step ([`HISTORY_STEPS`], as `client.rs` reads them):
    /// per step, the histories read and the messages dated in the days read so far; it stops after the step
    /// at which [`HISTORY_LEN`] of them have arrived.
    fn join_reads(&self) -> Vec<(usize, usize)> {
        let today = self.now.div_euclid(DAY_MS);
        let days_back = |i: usize| today - self.newest_at(i).div_euclid(DAY_MS);
        let mut reads = Vec::new();
        let mut count = 0;
        for (from, to) in HISTORY_STEPS {
            let since = (today - to) * DAY_MS;
            let read: Vec<usize> = (0..self.people)
                .filter(|&i| (from..=to).contains(&days_back(i)))
                .collect();
            count += read
                .iter()
                .map(|&i| {
                    let h = self.history(i);
                    h.iter().filter(|p| p.sent_at >= since).count()
                })
                .sum::<usize>();
            reads.push((read.len(), count));
            if count >= HISTORY_LEN {
                break;
            }
        }
        reads
    }
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn run(args: &Args) -> Result<String, String> {
    let schedule = Schedule::new(unix_ms(), args.people, args.each, args.days);
    if let Some(file) = &args.newest {
        let newest: Vec<serde_json::Value> = schedule
            .newest(HISTORY_LEN)
            .into_iter()
            .map(|(sender, p)| {
                serde_json::json!({"sender": sender, "id": p.id, "text": p.text, "sent_at": p.sent_at})
            })
            .collect();
        let json = serde_json::to_string_pretty(&newest).map_err(|e| e.to_string())?;
        std::fs::write(file, json + "\n").map_err(|e| format!("cannot write {file}: {e}"))?;
    }
    let started = Instant::now();
    let mut link = Link::open(&args.host, args.port)?;
    let (mut payload_bytes, mut messages) = (0usize, 0usize);
    let mut next = args.people;
    let mut acked = 0;
    let mut last_ack = Instant::now();
    while acked < args.people {
        let now = link.now();
        // Oldest poster first: the order the histories would have been written in.
        while next > 0 && link.session.in_flight() < args.window {
            next -= 1;
            let history = schedule.history(next);
            let day = topic::day(schedule.newest_at(next));
            let topic = topic::history(&args.room, &day, &schedule.name(next));
            let payload = message::to_json(&history);
            link.session
                .publish(&topic, &payload, QoS::AtLeastOnce, true, now)
                .map_err(|e| format!("cannot publish to {topic}: {e}"))?;
            payload_bytes += payload.len();
            messages += history.len();
        }
        let before = acked;
        link.pump(|event| {
            if let Event::Delivered(_) = event {
                acked += 1;
            }
        })?;
        if acked > before {
            last_ack = Instant::now();
        } else if last_ack.elapsed() > ACK_TIMEOUT {
            return Err(format!(
                "no PUBACK for {} s: {} of {} histories acknowledged",
                ACK_TIMEOUT.as_secs(),
                acked,
                args.people
            ));
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    link.check_kept(&args.room, &schedule)?;
    let packet_bytes = link.sent;
    link.close();
    let days: Vec<String> = schedule
        .join_reads()
        .iter()
        .map(|(histories, messages)| {
            format!(r#"{{"histories":{histories},"messages":{messages}}}"#)
        })
        .collect();
    Ok(format!(
        r#"{{"histories":{},"messages":{messages},"payload_bytes":{payload_bytes},"packet_bytes":{packet_bytes},"seconds":{seconds:.2},"steps":[{}]}}"#,
        args.people,
        days.join(",")
    ))
}

/// Our session over one blocking TCP connection.
struct Link {
    stream: TcpStream,
    session: Session,
    start: Instant,
    buf: Vec<u8>,
    /// Bytes written to the broker.
    sent: usize,
}

impl Link {
    fn open(host: &str, port: u16) -> Result<Link, String> {
        let stream = TcpStream::connect((host, port))
            .map_err(|e| format!("cannot connect to {host}:{port}: {e}"))?;
        let setup = |e: std::io::Error| format!("cannot set up the connection: {e}");
        stream.set_nodelay(true).map_err(setup)?;
        stream
            .set_read_timeout(Some(Duration::from_millis(20)))
            .map_err(setup)?;
        stream
            .set_write_timeout(Some(Duration::from_secs(10)))
            .map_err(setup)?;
        let mut options = Options::new(format!("populate-{}", std::process::id()));
        options.username = Some(USER.to_owned());
        options.keep_alive = 60;
        let mut link = Link {
            stream,
            session: Session::new(options),
            start: Instant::now(),
            buf: vec![0; 64 * 1024],
            sent: 0,
        };
        let now = link.now();
        link.session
            .connect(now)
            .map_err(|e| format!("cannot connect: {e}"))?;
        let mut connected = false;
        let deadline = Instant::now() + Duration::from_secs(10);
        while !connected {
            if Instant::now() > deadline {
                return Err("no CONNACK within 10 s".into());
            }
            link.pump(|e| connected |= matches!(e, Event::Connected { .. }))?;
        }
        Ok(link)
    }

    fn now(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Writes what the session has to send, reads what arrived (waiting at most 20 ms), and hands every
    /// event to `on_event`; a closed connection is an error.
    fn pump(&mut self, mut on_event: impl FnMut(Event)) -> Result<(), String> {
        while let Some(bytes) = self.session.poll_transmit() {
            self.stream
                .write_all(&bytes)
                .map_err(|e| format!("cannot write to the broker: {e}"))?;
            self.sent += bytes.len();
        }
        match self.stream.read(&mut self.buf) {
            Ok(0) => return Err("the broker closed the connection".into()),
            Ok(n) => {
                let now = self.now();
                self.session
                    .handle_bytes(self.buf.get(..n).unwrap_or_default(), now)
                    .map_err(|e| format!("protocol error: {e}"))?;
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("cannot read from the broker: {e}")),
        }
        let now = self.now();
        self.session.handle_timeout(now);
        while let Some(event) = self.session.poll_event() {
            if let Event::Closed(reason) = event {
                return Err(format!("connection closed: {reason}"));
            }
            on_event(event);
        }
        Ok(())
    }

    /// Reads back the newest poster's history: an ACL that refused the writes would have acknowledged them
    /// all the same [MQTT-3.3.5-2].
    fn check_kept(&mut self, room: &str, schedule: &Schedule) -> Result<(), String> {
        let day = topic::day(schedule.newest_at(0));
        let topic = topic::history(room, &day, &schedule.name(0));
        let expected = message::to_json(&schedule.history(0));
        let now = self.now();
        self.session
            .subscribe(&[(topic.as_str(), QoS::AtMostOnce)], now)
            .map_err(|e| format!("cannot subscribe to {topic}: {e}"))?;
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut refused = false;
        let mut kept = None;
        while kept.is_none() && !refused {
            if Instant::now() > deadline {
                return Err(format!("the broker kept nothing on {topic} (10 s)"));
            }
            self.pump(|e| match e {
                Event::Message(m) if m.topic == topic => kept = Some(m),
                Event::Subscribed { granted, .. } => refused = granted.contains(&None),
                _ => {}
            })?;
        }
        match kept {
            _ if refused => Err(format!("the broker does not let {USER} read {topic}")),
            Some(m) if m.retain && m.payload == expected => Ok(()),
            Some(m) => Err(format!(
                "the broker kept something else on {topic}: {} bytes, retained {}",
                m.payload.len(),
                m.retain
            )),
            None => Err(format!("the broker kept nothing on {topic}")),
        }
    }

    fn close(mut self) {
        let now = self.now();
        self.session.disconnect(now);
        while let Some(bytes) = self.session.poll_transmit() {
            // The histories are acknowledged: a DISCONNECT that does not arrive loses nothing.
            let _ = self.stream.write_all(&bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOON: i64 = 1_764_633_600_000 + 12 * 3_600_000; // 2025-12-02 12:00 UTC

    fn args(list: &[&str]) -> Result<Args, String> {
        parse(list.iter().map(|s| (*s).to_owned()))
    }

    #[test]
    fn the_flags_are_read_and_checked() {
        let a = args(&[
            "--people",
            "10",
            "--broker",
            "mqtt://localhost:1999",
            "--days",
            "0.5",
        ]);
        let a = a.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (a.host.as_str(), a.port, a.people, a.each, a.days),
            ("localhost", 1999, 10, 5, 0.5)
        );
        assert_eq!(
            args(&["--people", "1"]).map(|a| (a.port, a.room)),
            Ok((1883, "general".into()))
        );
        for bad in [
            &[][..],
            &["--people", "0"],
            &["--people", "2", "--each", "51"],
            &["--people", "2", "--room", "a/b"],
            &["--people", "2", "--broker", "ws://h:1"],
            &["--people", "2", "--days", "-1"],
            &["--people", "x"],
            &["--people", "2", "--color", "red"],
        ] {
            assert!(args(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn people_are_spread_over_the_days_and_never_interleave() {
        let s = Schedule::new(NOON, 1000, 5, 365.0);
        assert_eq!(s.name(0), "p000");
        assert_eq!(s.newest_at(0), NOON);
        assert_eq!(s.newest_at(1000), NOON - 365 * DAY_MS);
        assert_eq!(s.gap, MAX_GAP_MS);
        let all: Vec<i64> = (0..1000)
            .flat_map(|i| s.history(i).into_iter().rev().map(|p| p.sent_at))
            .collect();
        assert!(all.windows(2).all(|w| w[0] > w[1]), "strictly newest first");
    }

    #[test]
    fn everybody_today_is_still_in_order() {
        let s = Schedule::new(NOON, 5000, 5, 0.0);
        assert_eq!((s.spacing, s.gap), (5, 1));
        let all: Vec<i64> = (0..5000)
            .flat_map(|i| s.history(i).into_iter().rev().map(|p| p.sent_at))
            .collect();
        assert!(all.windows(2).all(|w| w[0] > w[1]));
        assert_eq!(topic::day(s.newest_at(4999)), topic::day(NOON));
        assert_eq!(s.join_reads(), vec![(5000, 25_000)]);
    }

    #[test]
    fn the_newest_fifty_end_with_the_newest_posters_last_message() {
        let s = Schedule::new(NOON, 100, 5, 365.0);
        let newest = s.newest(50);
        assert_eq!(newest.len(), 50);
        assert_eq!(
            newest.first().map(|(n, p)| (n.as_str(), p.text.as_str())),
            Some(("p09", "p09 #1"))
        );
        assert_eq!(
            newest.last().map(|(n, p)| (n.as_str(), p.text.as_str())),
            Some(("p00", "p00 #5"))
        );
    }

    #[test]
    fn a_join_reads_older_days_only_while_too_few_arrived() {
        // 100 people over a year, at noon: today holds p00 alone (5 messages), the 6 days before p01, the 23
        // before those p02 to p08, the rest of the year the other 91.
        let s = Schedule::new(NOON, 100, 5, 365.0);
        assert_eq!(s.join_reads(), vec![(1, 5), (1, 10), (7, 45), (91, 500)]);
        // 50,000 people: 137 a day; at noon about 68 have posted today, 340 messages.
        let s = Schedule::new(NOON, 50_000, 5, 365.0);
        assert_eq!(s.join_reads().len(), 1);
    }
}
