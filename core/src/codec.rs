//! The byte form of a limiter state.
//!
//! One encoding serves the RDB file (and so `DUMP`/`RESTORE`), the AOF rewrite, the effect sent
//! to replicas, and `DEBUG DIGEST`. It starts with a format version so that a later module can
//! still read what an earlier one wrote. Decoding checks the state with `State::validate`, the
//! same rule every write obeys: a state that decodes can be fed to the limiter without any risk
//! of overflow or division by zero, whoever sent it.
//!
//! Layout, integers little-endian u64 after the two leading bytes:
//!
//! ```text
//! version 2 | kind | fields
//! kind 1 (sliding): window_us | as_of_us | into_us | current | previous
//! kind 2 (fixed):   window_us | as_of_us | into_us | count
//! kind 3 (bucket):  window_us | limit    | burst   | as_of_us | drain_us | drain_frac
//! kind 4 (log):     window_us | as_of_us | base_ms (i64) | count | entries...
//! kind 5 (a change to a log, in effects only):
//!                   at_us | shift_ms | expired | added | count after | total after
//! ```
//!
//! A log's entries are its own compact form (see `engines::log`). A change to a log carries
//! what a hit changed instead of the whole log, and what the log must hold after it, so that a
//! replica that applies it can tell that it holds the same log.
//!
//! Version 1 (module 0.1) kept absolute instants instead of `as_of` and offsets:
//!
//! ```text
//! version 1 | kind | fields
//! kind 1 (sliding): window_us | start_us | current | previous
//! kind 2 (fixed):   window_us | start_us | count
//! kind 3 (bucket):  window_us | limit    | burst   | tat_us | tat_frac
//! ```
//!
//! It is still read: a window's state is dated at its window's start, which it then reads the
//! same for every later instant; a bucket is dated at the earliest instant its TAT allows.

use std::fmt;

use crate::engines::bucket::Bucket;
use crate::engines::fixed::Fixed;
use crate::engines::log::{Log, LogEdit, LogFault};
use crate::engines::sliding::Sliding;
use crate::value::Value;
use crate::{Invalid, Micros, State, MAX_INSTANT};

const VERSION: u8 = 2;
const VERSION_1: u8 = 1;
const KIND_SLIDING: u8 = 1;
const KIND_FIXED: u8 = 2;
const KIND_BUCKET: u8 = 3;
const KIND_LOG: u8 = 4;
const KIND_LOG_EDIT: u8 = 5;

/// Room for the longest encoding.
pub const MAX_LEN: usize = 2 + 6 * 8;

/// A state's bytes, built on the stack.
pub struct Encoded {
    bytes: [u8; MAX_LEN],
    len: usize,
}

impl Encoded {
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    Version(u8),
    Kind(u8),
    Length,
    Invalid(Invalid),
    Log(LogFault),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Version(v) => write!(f, "unknown format version {v}"),
            DecodeError::Kind(k) => write!(f, "unknown state kind {k}"),
            DecodeError::Length => f.write_str("its length does not match its kind"),
            DecodeError::Invalid(why) => write!(f, "invalid state: {why}"),
            DecodeError::Log(why) => write!(f, "invalid log: {why}"),
        }
    }
}

/// What RL.SETSTATE may carry: a whole value, or a change to a log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    Value(Value),
    Edit {
        edit: LogEdit,
        /// What the log holds after the change: entries and units.
        count: u64,
        total: u64,
    },
}

/// The byte form of any value (a state, or a log).
pub fn encode_value(value: &Value) -> Vec<u8> {
    match value {
        Value::State(state) => encode(state).as_bytes().to_vec(),
        Value::Log(log) => encode_log(log),
    }
}

pub fn encode_log(log: &Log) -> Vec<u8> {
    let (front, back) = log.entry_bytes();
    let mut out = Vec::with_capacity(2 + 4 * 8 + front.len() + back.len());
    out.extend_from_slice(&[VERSION, KIND_LOG]);
    for word in [
        log.window().as_micros(),
        log.as_of().as_micros(),
        log.base_ms() as u64,
        log.len(),
    ] {
        out.extend_from_slice(&word.to_le_bytes());
    }
    out.extend_from_slice(front);
    out.extend_from_slice(back);
    out
}

/// The effect of a change to a log that holds `count` entries and `total` units after it.
pub fn encode_edit(edit: &LogEdit, count: u64, total: u64) -> Encoded {
    let mut out = Encoded {
        bytes: [0; MAX_LEN],
        len: 2,
    };
    out.bytes[0] = VERSION;
    out.bytes[1] = KIND_LOG_EDIT;
    for word in [
        edit.at.as_micros(),
        edit.shift_ms,
        edit.expired,
        edit.added,
        count,
        total,
    ] {
        out.bytes[out.len..out.len + 8].copy_from_slice(&word.to_le_bytes());
        out.len += 8;
    }
    out
}

/// A value: a state (see `decode`) or a log, checked with the one rule.
pub fn decode_value(bytes: &[u8]) -> Result<Value, DecodeError> {
    match bytes {
        [VERSION, KIND_LOG, rest @ ..] => {
            let (header, entries) = rest.split_at_checked(32).ok_or(DecodeError::Length)?;
            let [window, as_of, base_ms, count] = words(header)?;
            let log = Log::from_parts(
                Micros::from_micros(window),
                Micros::from_micros(as_of),
                base_ms as i64,
                count,
                entries,
            )
            .map_err(DecodeError::Log)?;
            Ok(Value::Log(log))
        }
        _ => decode(bytes).map(Value::State),
    }
}

/// What RL.SETSTATE carries.
pub fn decode_effect(bytes: &[u8]) -> Result<Effect, DecodeError> {
    match bytes {
        [VERSION, KIND_LOG_EDIT, rest @ ..] => {
            let [at, shift_ms, expired, added, count, total] = words(rest)?;
            let at = Micros::from_micros(at);
            if at > MAX_INSTANT {
                return Err(DecodeError::Log(LogFault::AsOf));
            }
            Ok(Effect::Edit {
                edit: LogEdit {
                    at,
                    shift_ms,
                    expired,
                    added,
                },
                count,
                total,
            })
        }
        _ => decode_value(bytes).map(Effect::Value),
    }
}

pub fn encode(state: &State) -> Encoded {
    let mut out = Encoded {
        bytes: [0; MAX_LEN],
        len: 0,
    };
    let (kind, fields): (u8, &[u64]) = match state {
        State::Sliding(s) => (
            KIND_SLIDING,
            &[
                s.window.as_micros(),
                s.as_of.as_micros(),
                s.into.as_micros(),
                s.current,
                s.previous,
            ],
        ),
        State::Fixed(s) => (
            KIND_FIXED,
            &[
                s.window.as_micros(),
                s.as_of.as_micros(),
                s.into.as_micros(),
                s.count,
            ],
        ),
        State::Bucket(s) => (
            KIND_BUCKET,
            &[
                s.window.as_micros(),
                s.limit,
                s.burst,
                s.as_of.as_micros(),
                s.drain.as_micros(),
                s.frac,
            ],
        ),
    };
    out.bytes[0] = VERSION;
    out.bytes[1] = kind;
    out.len = 2;
    for field in fields {
        out.bytes[out.len..out.len + 8].copy_from_slice(&field.to_le_bytes());
        out.len += 8;
    }
    out
}

pub fn decode(bytes: &[u8]) -> Result<State, DecodeError> {
    let [version, kind, fields @ ..] = bytes else {
        return Err(DecodeError::Length);
    };
    let state = match *version {
        VERSION if *kind == KIND_LOG || *kind == KIND_LOG_EDIT => {
            return Err(DecodeError::Kind(*kind))
        }
        VERSION => decode_v2(*kind, fields)?,
        VERSION_1 => decode_v1(*kind, fields)?,
        other => return Err(DecodeError::Version(other)),
    };
    state.validate().map_err(DecodeError::Invalid)?;
    Ok(state)
}

fn decode_v2(kind: u8, fields: &[u8]) -> Result<State, DecodeError> {
    Ok(match kind {
        KIND_SLIDING => {
            let [window, as_of, into, current, previous] = words(fields)?;
            State::Sliding(Sliding {
                window: Micros::from_micros(window),
                as_of: Micros::from_micros(as_of),
                into: Micros::from_micros(into),
                current,
                previous,
            })
        }
        KIND_FIXED => {
            let [window, as_of, into, count] = words(fields)?;
            State::Fixed(Fixed {
                window: Micros::from_micros(window),
                as_of: Micros::from_micros(as_of),
                into: Micros::from_micros(into),
                count,
            })
        }
        KIND_BUCKET => {
            let [window, limit, burst, as_of, drain, frac] = words(fields)?;
            State::Bucket(Bucket {
                window: Micros::from_micros(window),
                limit,
                burst,
                as_of: Micros::from_micros(as_of),
                drain: Micros::from_micros(drain),
                frac,
            })
        }
        other => return Err(DecodeError::Kind(other)),
    })
}

/// Version 1 states: every state module 0.1 accepted loads, as the nearest valid state. A
/// state that held nothing (0.1 kept those when RESTORE gave them) loads as one that lapsed in
/// 1970: it weighs on no decision, and the next hit replaces it.
fn decode_v1(kind: u8, fields: &[u8]) -> Result<State, DecodeError> {
    let state = match kind {
        KIND_SLIDING => {
            let [window, start, current, previous] = words(fields)?;
            State::Sliding(Sliding {
                window: Micros::from_micros(window),
                as_of: Micros::from_micros(start),
                into: Micros::ZERO,
                current,
                previous,
            })
        }
        KIND_FIXED => {
            let [window, start, count] = words(fields)?;
            State::Fixed(Fixed {
                window: Micros::from_micros(window),
                as_of: Micros::from_micros(start),
                into: Micros::ZERO,
                count,
            })
        }
        KIND_BUCKET => {
            let [window, limit, burst, tat, tat_frac] = words(fields)?;
            bucket_from_tat(
                Micros::from_micros(window),
                limit,
                burst,
                Micros::from_micros(tat),
                tat_frac,
            )?
        }
        other => return Err(DecodeError::Kind(other)),
    };
    Ok(match state.validate() {
        Err(Invalid::Empty) => lapsed(),
        _ => state,
    })
}

/// A state that lapsed in 1970: one unit in a millisecond window of the epoch.
fn lapsed() -> State {
    State::Sliding(Sliding {
        window: crate::MIN_WINDOW,
        as_of: Micros::ZERO,
        into: Micros::ZERO,
        current: 1,
        previous: 0,
    })
}

/// A version 1 bucket, dated at the instant it was full (rounded down to a microsecond, so
/// that a bucket draining in less than one keeps its level). Version 1 could write a TAT past
/// its own bound, or a level past its burst; such a bucket is read as full at the latest
/// instant allowed, so that data written then still loads.
fn bucket_from_tat(
    window: Micros,
    limit: u64,
    burst: u64,
    tat: Micros,
    tat_frac: u64,
) -> Result<State, DecodeError> {
    if limit == 0 || tat_frac >= limit {
        return Err(DecodeError::Invalid(Invalid::Frac));
    }
    let capacity = u128::from(burst) * window.wide();
    let tat_scaled = tat.wide() * u128::from(limit) + u128::from(tat_frac);
    let full_at = tat_scaled.saturating_sub(capacity) / u128::from(limit);
    let as_of = u64::try_from(full_at)
        .unwrap_or(u64::MAX)
        .min(MAX_INSTANT.as_micros());
    let level = tat_scaled
        .saturating_sub(u128::from(as_of) * u128::from(limit))
        .min(capacity);
    let drain = u64::try_from(level / u128::from(limit)).map_err(|_| Invalid::Burst);
    Ok(State::Bucket(Bucket {
        window,
        limit,
        burst,
        as_of: Micros::from_micros(as_of),
        drain: Micros::from_micros(drain.map_err(DecodeError::Invalid)?),
        frac: (level % u128::from(limit)) as u64,
    }))
}

/// Exactly `N` little-endian u64 words.
fn words<const N: usize>(bytes: &[u8]) -> Result<[u64; N], DecodeError> {
    if bytes.len() != N * 8 {
        return Err(DecodeError::Length);
    }
    let mut out = [0u64; N];
    for (word, chunk) in out.iter_mut().zip(bytes.chunks_exact(8)) {
        let mut le = [0u8; 8];
        le.copy_from_slice(chunk);
        *word = u64::from_le_bytes(le);
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
