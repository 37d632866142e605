//! Codec benchmark: our `mqtt` codec against rumqttc's `mqttbytes::v4`, on the same bytes, in the same run.
//!
//! `cargo bench -p mqtt --bench codec` (or `mqtt/benches/ratios.sh` for a table of ratios).
//!
//! Workloads (see `common/workloads.rs`): `publish_100B` (a QoS 1 chat PUBLISH with a 100-byte JSON payload),
//! `publish_1KB` (the same with 1024 bytes), `mixed` (every packet type a client meets, one stream).
//! Each group measures, with `Throughput::Bytes` = the stream's length:
//!
//! * `decode_ours` / `decode_mqttbytes`: decode the whole stream from a buffer that holds it. Our idiomatic
//!   API reads a `&[u8]` (`mqtt::decode` loop, zero-copy); mqttbytes' is `Packet::read(&mut BytesMut, max)`,
//!   which consumes its buffer, so every iteration needs a fresh copy of the input. Both are timed the same
//!   way: `iter_batched` with a setup (untimed) that copies the stream into a fresh buffer (`Vec<u8>` for us,
//!   `BytesMut` for mqttbytes), batches of `BATCH` inputs small enough to stay in cache. The setup also
//!   promotes the `BytesMut` to its shared representation (`split_to(0)`), as a long-lived read buffer is
//!   after its first packet, so its one-off promotion allocation is not charged to mqttbytes. The routine
//!   drops every decoded packet (timed, both sides: a consumer drops them too) and returns its input buffer,
//!   so freeing the input copy is untimed for both.
//! * `decode_baseline`: the same `iter_batched` with a routine that only hands its input back: the harness cost
//!   included in both decode numbers above (`ratios.sh` also prints the decode ratio net of it).
//! * `decode_stream_ours` / `decode_stream_mqttbytes`: the streaming path of a connection, each side through
//!   its own streaming API: a long-lived `Decoder` is fed the chunk (`Decoder::feed`, as the session does:
//!   whole packets are decoded straight from the chunk, only a packet split across chunks is copied) /
//!   a long-lived `BytesMut` gets the chunk appended and is drained by `Packet::read` (mqttbytes' way,
//!   one copy of every byte). Plain `iter`, no setup on either side.
//! * `encode_ours` / `encode_mqttbytes`: encode every packet of the workload into an output buffer that is
//!   reused (cleared per iteration): `Packet::encode(&mut Vec<u8>)` / `Packet::write(&mut BytesMut, max)`.
//!
//! Time is the measuring thread's CPU time by default (see `ThreadCpuTime`: the machines are 2 shared cores),
//! wall time with `BENCH_WALL_CLOCK=1`.
//!
//! Before measuring, the bench asserts that both encoders produce identical bytes for every packet, and
//! that both decoders accept the stream, use all of it and give back the packets it was made from.

use std::hint::black_box;
use std::ops::ControlFlow;
use std::time::Duration;

use bytes::BytesMut;
use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{BatchSize, Criterion, Throughput};
use rumqttc::mqttbytes::{v4, QoS as TheirQoS};

#[path = "common/workloads.rs"]
mod workloads;

use workloads::{Workload, MAX_SIZE};

/// Inputs per `iter_batched` batch: 64 copies of the largest stream (~1.1 KB) stay well inside L2.
const BATCH: u64 = 64;

fn their_qos(qos: mqtt::QoS) -> TheirQoS {
    match qos {
        mqtt::QoS::AtMostOnce => TheirQoS::AtMostOnce,
        mqtt::QoS::AtLeastOnce => TheirQoS::AtLeastOnce,
        mqtt::QoS::ExactlyOnce => TheirQoS::ExactlyOnce,
    }
}

/// The mqttbytes packet with the same content as ours.
fn theirs(packet: &mqtt::Packet<'_>) -> v4::Packet {
    use mqtt::Packet as P;
    match packet {
        P::Connect(c) => v4::Packet::Connect(v4::Connect {
            protocol: rumqttc::mqttbytes::Protocol::V4,
            keep_alive: c.keep_alive,
            client_id: c.client_id.to_owned(),
            clean_session: c.clean_session,
            last_will: c.last_will.as_ref().map(|w| v4::LastWill {
                topic: w.topic.as_str().to_owned(),
                message: w.message.to_vec().into(),
                qos: their_qos(w.qos),
                retain: w.retain,
            }),
            login: c.username.map(|u| v4::Login {
                username: u.to_owned(),
                // mqttbytes keeps passwords as `String`.
                password: String::from_utf8(c.password.unwrap_or_default().to_vec())
                    .expect("UTF-8 password"),
            }),
        }),
        P::ConnAck(c) => v4::Packet::ConnAck(v4::ConnAck {
            session_present: c.session_present,
            code: match c.code {
                mqtt::ConnectReturnCode::Accepted => v4::ConnectReturnCode::Success,
                mqtt::ConnectReturnCode::UnacceptableProtocolVersion => {
                    v4::ConnectReturnCode::RefusedProtocolVersion
                }
                mqtt::ConnectReturnCode::IdentifierRejected => v4::ConnectReturnCode::BadClientId,
                mqtt::ConnectReturnCode::ServerUnavailable => {
                    v4::ConnectReturnCode::ServiceUnavailable
                }
                mqtt::ConnectReturnCode::BadUsernameOrPassword => {
                    v4::ConnectReturnCode::BadUserNamePassword
                }
                mqtt::ConnectReturnCode::NotAuthorized => v4::ConnectReturnCode::NotAuthorized,
            },
        }),
        P::Publish(p) => v4::Packet::Publish(v4::Publish {
            dup: p.dup,
            qos: their_qos(p.qospid.qos()),
            retain: p.retain,
            topic: p.topic.as_str().to_owned(),
            pkid: p.qospid.pid().map_or(0, |pid| pid.get()),
            payload: p.payload.to_vec().into(),
        }),
        P::PubAck(pid) => v4::Packet::PubAck(v4::PubAck::new(pid.get())),
        P::PubRec(pid) => v4::Packet::PubRec(v4::PubRec::new(pid.get())),
        P::PubRel(pid) => v4::Packet::PubRel(v4::PubRel::new(pid.get())),
        P::PubComp(pid) => v4::Packet::PubComp(v4::PubComp::new(pid.get())),
        P::Subscribe(s) => v4::Packet::Subscribe(v4::Subscribe {
            pkid: s.pid.get(),
            filters: s
                .topics
                .iter()
                .map(|(f, q)| v4::SubscribeFilter::new(f.as_str().to_owned(), their_qos(q)))
                .collect(),
        }),
        P::SubAck(s) => v4::Packet::SubAck(v4::SubAck::new(
            s.pid.get(),
            s.return_codes
                .iter()
                .map(|code| match code {
                    Some(q) => v4::SubscribeReasonCode::Success(their_qos(q)),
                    None => v4::SubscribeReasonCode::Failure,
                })
                .collect(),
        )),
        P::Unsubscribe(u) => v4::Packet::Unsubscribe(v4::Unsubscribe {
            pkid: u.pid.get(),
            topics: u.topics.iter().map(|f| f.as_str().to_owned()).collect(),
        }),
        P::UnsubAck(pid) => v4::Packet::UnsubAck(v4::UnsubAck::new(pid.get())),
        P::PingReq => v4::Packet::PingReq,
        P::PingResp => v4::Packet::PingResp,
        P::Disconnect => v4::Packet::Disconnect,
    }
}

/// Fresh read buffer for mqttbytes, already in the shared representation a long-lived buffer has.
fn their_input(bytes: &[u8]) -> BytesMut {
    let mut buf = BytesMut::from(bytes);
    drop(buf.split_to(0));
    buf
}

fn decode_theirs(buf: &mut BytesMut) -> usize {
    let mut count = 0;
    while !buf.is_empty() {
        let packet = v4::Packet::read(buf, MAX_SIZE).expect("mqttbytes decodes the stream");
        black_box(packet);
        count += 1;
    }
    count
}

/// Fails loudly unless both codecs agree on every byte of the workload.
fn check(workload: &Workload, theirs_packets: &[v4::Packet], bytes: &[u8]) {
    let name = workload.name;
    for (ours, theirs) in workload.packets.iter().zip(theirs_packets) {
        let mut a = Vec::new();
        ours.encode(&mut a).expect("we encode");
        let mut b = BytesMut::new();
        theirs.write(&mut b, MAX_SIZE).expect("mqttbytes encodes");
        assert_eq!(a, &b[..], "{name}: encoders disagree on {}", ours.name());
    }
    let mut decoded = Vec::new();
    workloads::decode_stream(bytes, |p| decoded.push(p));
    assert_eq!(decoded, workload.packets, "{name}: we decode other packets");

    let mut buf = their_input(bytes);
    let mut decoded = Vec::new();
    while !buf.is_empty() {
        decoded.push(v4::Packet::read(&mut buf, MAX_SIZE).expect("mqttbytes decodes the stream"));
    }
    assert_eq!(
        decoded, theirs_packets,
        "{name}: mqttbytes decodes other packets"
    );

    let mut decoder = mqtt::Decoder::new(MAX_SIZE);
    decoder.push(bytes);
    let mut count = 0;
    while let Some(p) = decoder.next_packet().expect("valid stream") {
        assert_eq!(p, workload.packets[count]);
        count += 1;
    }
    assert_eq!((count, decoder.buffered()), (workload.packets.len(), 0));
}

fn bench<M: Measurement>(c: &mut Criterion<M>) {
    for workload in workloads::all() {
        let theirs_packets: Vec<v4::Packet> = workload.packets.iter().map(theirs).collect();
        let bytes = workload.bytes();
        check(&workload, &theirs_packets, &bytes);
        let n = workload.packets.len();

        let mut g = c.benchmark_group(workload.name);
        g.throughput(Throughput::Bytes(bytes.len() as u64));

        g.bench_function("decode_ours", |b| {
            b.iter_batched(
                || bytes.clone(),
                |input| {
                    let count = workloads::decode_stream(&input, |p| drop(black_box(p)));
                    assert_eq!(count, n);
                    input
                },
                BatchSize::NumIterations(BATCH),
            )
        });
        g.bench_function("decode_mqttbytes", |b| {
            b.iter_batched(
                || their_input(&bytes),
                |mut input| {
                    let count = decode_theirs(&mut input);
                    assert_eq!(count, n);
                    input
                },
                BatchSize::NumIterations(BATCH),
            )
        });

        // What the batched decode benches cost with no decoding: setup, moving the input in and out.
        // `ratios.sh` subtracts it to show a "net" decode ratio next to the measured one.
        g.bench_function("decode_baseline", |b| {
            b.iter_batched(
                || bytes.clone(),
                |input| input,
                BatchSize::NumIterations(BATCH),
            )
        });

        g.bench_function("decode_stream_ours", |b| {
            let mut decoder = mqtt::Decoder::new(MAX_SIZE);
            b.iter(|| {
                let mut count = 0;
                decoder
                    .feed(black_box(&bytes), |p| {
                        black_box(p);
                        count += 1;
                        Ok::<_, mqtt::DecodeError>(ControlFlow::Continue(()))
                    })
                    .expect("valid stream");
                assert_eq!(count, n);
            })
        });
        g.bench_function("decode_stream_mqttbytes", |b| {
            let mut buf = their_input(&[]);
            b.iter(|| {
                buf.extend_from_slice(black_box(&bytes));
                let count = decode_theirs(&mut buf);
                assert_eq!(count, n);
            })
        });

        g.bench_function("encode_ours", |b| {
            let mut out = Vec::with_capacity(bytes.len());
            b.iter(|| {
                workloads::encode_stream(black_box(&workload.packets), &mut out);
                black_box(&out);
            })
        });
        g.bench_function("encode_mqttbytes", |b| {
            let mut out = BytesMut::with_capacity(bytes.len());
            b.iter(|| {
                out.clear();
                for packet in black_box(&theirs_packets) {
                    packet.write(&mut out, MAX_SIZE).expect("mqttbytes encodes");
                }
                black_box(&out);
            })
        });
        g.finish();
    }
}

/// The CPU time of the measuring thread (`CLOCK_THREAD_CPUTIME_ID`), in nanoseconds like `WallTime`.
///
/// The machines this project runs on have 2 cores shared with other builds: wall-clock samples include the
/// time the bench was descheduled, which moves single results by up to 2x between runs. CPU time leaves that
/// out (cache and memory-bandwidth interference remain). `BENCH_WALL_CLOCK=1` measures wall time instead.
struct ThreadCpuTime;

fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant the kernel knows.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

impl Measurement for ThreadCpuTime {
    type Intermediate = u64;
    type Value = u64;

    fn start(&self) -> u64 {
        thread_cpu_ns()
    }
    fn end(&self, start: u64) -> u64 {
        thread_cpu_ns().saturating_sub(start)
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, value: &u64) -> f64 {
        *value as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        // Values are nanoseconds, as for wall time: reuse its formatting (ns/µs/ms, bytes per second).
        static WALL: WallTime = WallTime;
        WALL.formatter()
    }
}

fn config() -> Criterion {
    // Modest defaults so the whole run takes about two minutes; command-line flags still override them.
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

fn main() {
    if std::env::var_os("BENCH_WALL_CLOCK").is_some() {
        let mut c = config().configure_from_args();
        bench(&mut c);
        c.final_summary();
    } else {
        let mut c = config()
            .with_measurement(ThreadCpuTime)
            .configure_from_args();
        bench(&mut c);
        c.final_summary();
    }
}
