//! The byte form of a limiter state.
//!
//! One encoding serves the RDB file (and so `DUMP`/`RESTORE`), the AOF rewrite, the effect sent
//! to replicas, and `DEBUG DIGEST`. It starts with a format version so that a later module can
//! still read what an earlier one wrote. Decoding validates every field: a state that decodes
//! can be fed to the limiter without any risk of overflow or division by zero, whoever sent it.
//!
//! Layout, integers little-endian:
//!
//! ```text
//! version u8 = 1 | kind u8 | fields
//! kind 1 (sliding): window_us u64 | start_us u64 | current u64 | previous u64
//! kind 2 (fixed):   window_us u64 | start_us u64 | count u64
//! kind 3 (bucket):  window_us u64 | limit u64    | burst u64  | tat_us u64 | tat_frac u64
//! ```

use crate::limiter::bucket::Bucket;
use crate::limiter::fixed::Fixed;
use crate::limiter::sliding::Sliding;
use crate::limiter::{Micros, State, MAX_INSTANT, MAX_LIMIT, MAX_WINDOW, MIN_WINDOW};

const VERSION: u8 = 1;
const KIND_SLIDING: u8 = 1;
const KIND_FIXED: u8 = 2;
const KIND_BUCKET: u8 = 3;

/// Room for the longest encoding.
pub const MAX_LEN: usize = 2 + 5 * 8;

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

#[derive(Debug, PartialEq, Eq)]
pub enum DecodeError {
    Version,
    Kind,
    Length,
    Field,
}

pub fn encode(state: &State) -> Encoded {
    let mut out = Encoded {
        bytes: [0; MAX_LEN],
        len: 0,
    };
    let mut put = |chunk: &[u8]| {
        out.bytes[out.len..out.len + chunk.len()].copy_from_slice(chunk);
        out.len += chunk.len();
    };
    let (kind, fields): (u8, &[u64]) = match state {
        State::Sliding(s) => (
            KIND_SLIDING,
            &[s.window.0, s.start.0, s.current, s.previous],
        ),
        State::Fixed(s) => (KIND_FIXED, &[s.window.0, s.start.0, s.count]),
        State::Bucket(s) => (
            KIND_BUCKET,
            &[s.window.0, s.limit, s.burst, s.tat.0, s.frac],
        ),
    };
    put(&[VERSION, kind]);
    for field in fields {
        put(&field.to_le_bytes());
    }
    out
}

pub fn decode(bytes: &[u8]) -> Result<State, DecodeError> {
    let (&version, rest) = bytes.split_first().ok_or(DecodeError::Length)?;
    if version != VERSION {
        return Err(DecodeError::Version);
    }
    let (&kind, fields) = rest.split_first().ok_or(DecodeError::Length)?;
    let state = match kind {
        KIND_SLIDING => {
            let [window, start, current, previous] = words::<4>(fields)?;
            State::Sliding(Sliding {
                window: Micros(window),
                start: Micros(start),
                current,
                previous,
            })
        }
        KIND_FIXED => {
            let [window, start, count] = words::<3>(fields)?;
            State::Fixed(Fixed {
                window: Micros(window),
                start: Micros(start),
                count,
            })
        }
        KIND_BUCKET => {
            let [window, limit, burst, tat, frac] = words::<5>(fields)?;
            State::Bucket(Bucket {
                window: Micros(window),
                limit,
                burst,
                tat: Micros(tat),
                frac,
            })
        }
        _ => return Err(DecodeError::Kind),
    };
    if !is_valid(&state) {
        return Err(DecodeError::Field);
    }
    Ok(state)
}

/// Within the bounds the limiter's arithmetic is proven for.
fn is_valid(state: &State) -> bool {
    let window_ok = |w: Micros| (MIN_WINDOW..=MAX_WINDOW).contains(&w);
    let count_ok = |n: u64| n <= MAX_LIMIT;
    match state {
        State::Sliding(s) => {
            window_ok(s.window)
                && s.start <= MAX_INSTANT
                && count_ok(s.current)
                && count_ok(s.previous)
        }
        State::Fixed(s) => window_ok(s.window) && s.start <= MAX_INSTANT && count_ok(s.count),
        State::Bucket(s) => {
            window_ok(s.window)
                && (1..=MAX_LIMIT).contains(&s.limit)
                && (1..=MAX_LIMIT).contains(&s.burst)
                && u128::from(s.burst) * u128::from(s.window.0)
                    <= u128::from(s.limit) * u128::from(MAX_WINDOW.0)
                && s.frac < s.limit
                && s.tat.0 <= MAX_INSTANT.0 + MAX_WINDOW.0
        }
    }
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
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sliding(window: u64, start: u64, current: u64, previous: u64) -> State {
        State::Sliding(Sliding {
            window: Micros(window),
            start: Micros(start),
            current,
            previous,
        })
    }

    #[test]
    fn the_layout_is_stable() {
        // Written files depend on these bytes: a change here needs a new VERSION.
        let bytes = encode(&sliding(60_000_000, 5, 3, 2));
        let mut expected = vec![1u8, 1];
        for word in [60_000_000u64, 5, 3, 2] {
            expected.extend_from_slice(&word.to_le_bytes());
        }
        assert_eq!(bytes.as_bytes(), expected.as_slice());
    }

    #[test]
    fn rejects_what_the_limiter_cannot_take() {
        let good = encode(&sliding(1_000, 0, 0, 0)).as_bytes().to_vec();
        assert!(decode(&good).is_ok());
        assert_eq!(decode(&[]), Err(DecodeError::Length));
        assert_eq!(decode(&[2]), Err(DecodeError::Version));
        assert_eq!(decode(&[1, 9]), Err(DecodeError::Kind));
        assert_eq!(decode(&good[..good.len() - 1]), Err(DecodeError::Length));
        let zero_window = encode(&sliding(0, 0, 0, 0)).as_bytes().to_vec();
        assert_eq!(decode(&zero_window), Err(DecodeError::Field));
        let late = encode(&sliding(1_000, MAX_INSTANT.0 + 1, 0, 0))
            .as_bytes()
            .to_vec();
        assert_eq!(decode(&late), Err(DecodeError::Field));
        let huge = encode(&sliding(1_000, 0, MAX_LIMIT + 1, 0))
            .as_bytes()
            .to_vec();
        assert_eq!(decode(&huge), Err(DecodeError::Field));
    }

    #[test]
    fn every_kind_round_trips_and_is_checked() {
        let fixed = State::Fixed(Fixed {
            window: Micros(1_000),
            start: Micros(7),
            count: 3,
        });
        let bucket = State::Bucket(Bucket {
            window: Micros(1_000_000),
            limit: 3,
            burst: 5,
            tat: Micros(9),
            frac: 2,
        });
        for state in [fixed, bucket] {
            assert_eq!(decode(encode(&state).as_bytes()), Ok(state));
        }
        let bad_frac = State::Bucket(Bucket {
            window: Micros(1_000_000),
            limit: 3,
            burst: 5,
            tat: Micros(9),
            frac: 3,
        });
        assert_eq!(
            decode(encode(&bad_frac).as_bytes()),
            Err(DecodeError::Field)
        );
        let zero_limit = State::Bucket(Bucket {
            window: Micros(1_000_000),
            limit: 0,
            burst: 5,
            tat: Micros(9),
            frac: 0,
        });
        assert_eq!(
            decode(encode(&zero_limit).as_bytes()),
            Err(DecodeError::Field)
        );
    }

    proptest! {
        #[test]
        fn valid_states_round_trip(
            window in MIN_WINDOW.0..=MAX_WINDOW.0,
            start in 0..=MAX_INSTANT.0,
            current in 0..=MAX_LIMIT,
            previous in 0..=MAX_LIMIT,
        ) {
            let state = sliding(window, start, current, previous);
            prop_assert_eq!(decode(encode(&state).as_bytes()), Ok(state));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode(&bytes);
        }
    }
}
