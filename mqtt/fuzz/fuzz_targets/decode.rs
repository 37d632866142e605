//! Arbitrary bytes, in arbitrary chunks, through the streaming decoder: never a panic; every packet it
//! accepts re-encodes to bytes that decode to the same packet — except a CONNECT with an empty client id and
//! clean session 0, which is well-formed (a server answers it with CONNACK 2 [MQTT-3.1.3-8]) but which our
//! encoder, being a client's, refuses to send [MQTT-3.1.3-7].
#![no_main]

use libfuzzer_sys::fuzz_target;
use mqtt::{decode, Decoder, EncodeError, MAX_PACKET_SIZE};

fuzz_target!(|data: &[u8]| {
    // The first byte picks a chunk size, so splits are fuzzed too.
    let Some((&split, bytes)) = data.split_first() else { return };
    let chunk = usize::from(split).max(1);
    let mut d = Decoder::new(64 * 1024);
    for part in bytes.chunks(chunk) {
        d.push(part);
        loop {
            match d.next_packet() {
                Ok(Some(packet)) => {
                    let mut out = Vec::new();
                    match packet.encode(&mut out) {
                        Ok(_) => {}
                        Err(EncodeError::EmptyClientIdWithoutCleanSession) => continue,
                        Err(e) => panic!("a decoded packet does not re-encode: {e}"),
                    }
                    let (again, used) = decode(&out, MAX_PACKET_SIZE)
                        .expect("re-encoded bytes decode")
                        .expect("re-encoded bytes are a whole packet");
                    assert_eq!(used, out.len());
                    assert_eq!(again, packet);
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
});
