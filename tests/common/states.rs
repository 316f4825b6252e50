//! Limiter states written by hand in the module's documented byte form (src/codec.rs), and the
//! `DUMP` payloads that carry them, so that tests can plant any state with `RESTORE` whatever
//! the ACL lets a client call.

use super::{dump, Connection};

/// Microseconds in the longest window, 36500 days.
pub const MAX_WINDOW_US: u64 = 36_500 * 86_400_000_000;
/// The latest instant a state may be dated at.
pub const MAX_INSTANT_US: u64 = 1 << 56;
pub const MAX_LIMIT: u64 = i64::MAX as u64;

/// A state in the module's byte form, version 2.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    Sliding {
        window: u64,
        as_of: u64,
        into: u64,
        current: u64,
        previous: u64,
    },
    Fixed {
        window: u64,
        as_of: u64,
        into: u64,
        count: u64,
    },
    Bucket {
        window: u64,
        limit: u64,
        burst: u64,
        as_of: u64,
        drain: u64,
        frac: u64,
    },
}

impl State {
    pub fn bytes(&self) -> Vec<u8> {
        let (kind, words): (u8, Vec<u64>) = match *self {
            State::Sliding {
                window,
                as_of,
                into,
                current,
                previous,
            } => (1, vec![window, as_of, into, current, previous]),
            State::Fixed {
                window,
                as_of,
                into,
                count,
            } => (2, vec![window, as_of, into, count]),
            State::Bucket {
                window,
                limit,
                burst,
                as_of,
                drain,
                frac,
            } => (3, vec![window, limit, burst, as_of, drain, frac]),
        };
        let mut out = vec![2, kind];
        out.extend(words.iter().flat_map(|w| w.to_le_bytes()));
        out
    }
}

/// A `DUMP` payload holding `state` (raw bytes, any version) as a value of the module's type,
/// framed like the server's own: the module type's id, the state as a string, the end marker,
/// the RDB version and a CRC-64. The id and version are taken from a real DUMP.
pub fn payload(con: &mut Connection, state: &[u8]) -> Vec<u8> {
    let template_key = b"__rl_template__";
    super::hit(con, template_key, 1, "60");
    let real = dump(con, template_key).expect("a DUMP of a ratelimit key");
    let _: () = redis::cmd("DEL").arg(template_key).query(con).unwrap();
    // RDB_TYPE_MODULE_2, then the 64-bit module id written as a length (0x81 + 8 bytes).
    assert_eq!(real[1], 0x81, "module id framing");
    let rdb_version = &real[real.len() - 10..real.len() - 8];
    assert!(state.len() < 64, "one-byte string length");
    let mut out = real[..10].to_vec();
    out.push(5); // RDB_MODULE_OPCODE_STRING
    out.push(state.len() as u8);
    out.extend_from_slice(state);
    out.push(0); // RDB_MODULE_OPCODE_EOF
    out.extend_from_slice(rdb_version);
    let crc = crc64(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// `RESTORE key ttl payload REPLACE` of `state`: Ok, or the server's error text.
pub fn plant(con: &mut Connection, key: &[u8], ttl_ms: u64, state: &[u8]) -> Result<(), String> {
    let payload = payload(con, state);
    redis::cmd("RESTORE")
        .arg(key)
        .arg(ttl_ms)
        .arg(payload)
        .arg("REPLACE")
        .query::<()>(con)
        .map_err(|e| super::error_text(&e))
}

/// The CRC-64 the server appends to DUMP payloads (Jones polynomial, reflected, no xor).
pub fn crc64(bytes: &[u8]) -> u64 {
    const POLY: u64 = 0x95ac_9329_ac4b_c9b5; // 0xad93d23594c935a9, reflected
    let mut crc = 0u64;
    for &b in bytes {
        crc ^= u64::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ POLY
            } else {
                crc >> 1
            };
        }
    }
    crc
}

/// Microseconds since 1970 on this machine's clock.
pub fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}
