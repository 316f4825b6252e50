//! ALGO LOG against a brute-force log: every decision exact, at millisecond resolution; its
//! compact form; its byte form.

use proptest::prelude::*;

use super::{with, SimKey};
use crate::codec::{decode_value, encode_value};
use crate::engines::log::Log;
use crate::models::{Answer, ExactLog};
use crate::{Algorithm, Micros, Retry, Value};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(600))]

    #[test]
    fn every_decision_is_the_exact_logs(
        limit in prop_oneof![1u64..=5, 1u64..=100],
        window_ms in prop_oneof![1u64..=5, 1u64..=2_000, Just(60_000)],
        steps in proptest::collection::vec((0u64..3_000, 0u64..1_000, prop_oneof![4 => Just(1u64), 1 => 0u64..=8]), 1..150),
        start in 0u64..1 << 50,
    ) {
        let mut model = ExactLog::new(limit, window_ms);
        let mut key = SimKey::default();
        let mut now = start;
        for (gap_permille, jitter_us, cost) in steps {
            now += window_ms * gap_permille + jitter_us;
            let d = key.hit(&with(Algorithm::Log, limit, window_ms, limit, cost), Micros::from_micros(now));
            let expected = model.hit(now, cost);
            let retry_after_us = match d.retry_after {
                Retry::Now => Some(0),
                Retry::After(t) => Some(t.as_micros()),
                Retry::Never => None,
            };
            let answer = Answer {
                allowed: d.allowed,
                remaining: d.remaining,
                retry_after_us,
                reset_after_us: d.reset_after.as_micros(),
            };
            prop_assert_eq!(answer, expected);
        }
    }

    /// Requests within 64 ms of each other take a byte an entry, or two when a millisecond's
    /// requests merge into one entry (up to 127 of them).
    #[test]
    fn the_compact_form_is_small(
        gaps in proptest::collection::vec(0u64..64, 1..500),
    ) {
        let mut key = SimKey::default();
        let p = with(Algorithm::Log, 100_000, 60_000, 100_000, 1);
        let mut now = 1_700_000_000_000_000u64;
        let mut admitted = 0u64;
        for gap in gaps {
            now += gap * 1000;
            admitted += u64::from(key.hit(&p, Micros::from_micros(now)).allowed);
        }
        let Some(Value::Log(log)) = &key.value else { panic!("a log") };
        prop_assert!(log.encoded_len() as u64 <= 2 * log.len());
        prop_assert!(log.len() <= admitted && log.total() <= admitted);
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_decoder(
        header in proptest::collection::vec(any::<u64>(), 4),
        entries in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut bytes = vec![2u8, 4];
        for word in header {
            bytes.extend_from_slice(&word.to_le_bytes());
        }
        bytes.extend(entries);
        if let Ok(value) = decode_value(&bytes) {
            prop_assert_eq!(value.validate(), Ok(()));
        }
    }
}

#[test]
fn an_entry_exactly_a_window_old_no_longer_counts() {
    let p = with(Algorithm::Log, 2, 1_000, 2, 1);
    let mut key = SimKey::default();
    let t0 = Micros::from_micros(5_000_000_250);
    assert!(key.hit(&p, t0).allowed);
    assert!(key.hit(&p, t0).allowed);
    let d = key.hit(&p, t0);
    // The two entries of millisecond 5,000,000 age out at the start of millisecond 5,001,000.
    assert_eq!(d.retry_after, Retry::After(Micros::from_micros(999_750)));
    assert!(!key.peek(&p, Micros::from_micros(5_000_999_999)).allowed);
    assert!(key.peek(&p, Micros::from_micros(5_001_000_000)).allowed);
    let Some(Value::Log(log)) = &key.value else {
        panic!("a log")
    };
    assert_eq!((log.len(), log.total(), log.encoded_len()), (1, 2, 2));
}

#[test]
fn the_byte_form_round_trips_and_refuses_what_is_not_a_log() {
    let p = with(Algorithm::Log, 10, 60_000, 10, 1);
    let mut key = SimKey::default();
    for i in 0..5 {
        key.hit(&p, Micros::from_micros(1_000_000_000 + i * 7_000));
    }
    let value = key.value.clone().expect("a log");
    let bytes = encode_value(&value);
    assert_eq!(decode_value(&bytes), Ok(value));
    // Entries out of order (a later entry at distance 0), a count that does not match, an
    // empty log, a window that is not whole milliseconds.
    let mut bad = bytes.clone();
    let last = bad.len() - 1;
    bad[last] = 1; // distance 0, cost 1
    assert!(decode_value(&bad).is_err());
    let mut bad = bytes.clone();
    bad[2 + 24] = 9;
    assert!(decode_value(&bad).is_err());
    let empty = Log::new(Micros::from_millis(1_000), Micros::from_micros(1_000_000));
    assert!(decode_value(&encode_value(&Value::Log(empty))).is_err());
    let mut bad = bytes;
    bad[2] = 1;
    assert!(decode_value(&bad).is_err());
}
