//! Clocks that step: back (an NTP step, a failover to a host whose clock is behind) and
//! forward. A state dated later than the clock is read as it stood at its own instant, moved to
//! now: its usage is never forgotten and never counted twice, the waits answered hold on the
//! clock as it is now, and the key's expiry stays the instant it is full again.

use proptest::prelude::*;

use super::trace::limits;
use super::{with, SimKey};
use crate::strategies::valid_state;
use crate::{decide, Algorithm, Decision, Micros, Params, Retry, State, MAX_INSTANT};

const HOUR: u64 = 3_600_000_000;
const T0: Micros = Micros::from_micros(1_800_000_000_000_000);

fn every_algorithm(limit: u64, window_ms: u64, cost: u64) -> impl Iterator<Item = Params> {
    Algorithm::ALL
        .into_iter()
        .map(move |a| with(a, limit, window_ms, limit, cost))
}

#[test]
fn a_step_back_keeps_the_usage_it_had() {
    for p in every_algorithm(10, 60_000, 1) {
        let mut key = SimKey::default();
        assert!(key.hit(&p, T0).allowed);
        // An hour earlier, the one unit used is still used, and only that one.
        let d = key.hit(&p, Micros::from_micros(T0.as_micros() - HOUR));
        assert!(d.allowed, "{:?}", p.algorithm);
        assert_eq!(d.remaining, 8, "{:?}", p.algorithm);
    }
}

#[test]
fn after_a_step_back_a_full_key_waits_what_it_would_have_waited() {
    for p in every_algorithm(5, 60_000, 1) {
        let mut key = SimKey::default();
        for _ in 0..5 {
            assert!(key.hit(&p, T0).allowed);
        }
        let on_time = key.peek(&p, T0);
        let back = Micros::from_micros(T0.as_micros() - HOUR);
        let d = key.hit(&p, back);
        assert_eq!(d, on_time, "{:?}", p.algorithm);
        let Retry::After(wait) = d.retry_after else {
            panic!("a full key waits")
        };
        assert!(key.peek(&p, back + wait).allowed, "{:?}", p.algorithm);
        assert!(!key.peek(&p, back + wait - Micros::from_micros(1)).allowed);
        assert_eq!(key.expire_ms, (back + d.reset_after).ceil_millis());
    }
}

#[test]
fn a_state_from_far_in_the_future_weighs_no_more_than_a_window() {
    for p in every_algorithm(5, 60_000, 1) {
        let mut key = SimKey::default();
        for _ in 0..5 {
            assert!(key.hit(&p, MAX_INSTANT).allowed);
        }
        let d = key.hit(&p, T0);
        assert!(!d.allowed);
        let Retry::After(wait) = d.retry_after else {
            panic!("a full key waits")
        };
        assert!(wait <= p.window, "{:?} waits {wait:?}", p.algorithm);
        assert!(d.reset_after <= Micros::from_micros(2 * p.window.as_micros()));
    }
}

/// A step of the clock: mostly forward a little, sometimes back or forward a lot.
fn step() -> impl Strategy<Value = i64> {
    prop_oneof![
        6 => 0i64..2_000_000,
        1 => -(HOUR as i64)..0,
        1 => -3_000_000i64..0,
        1 => 0..HOUR as i64 * 24,
    ]
}

/// A decision at the resolution of its algorithm: ALGO LOG counts whole milliseconds, so its
/// waits are compared in whole milliseconds (a wait of 2 µs and one of 1,000 µs both end at
/// the same millisecond's start).
fn in_resolution(p: &Params, d: Decision) -> Decision {
    if p.algorithm() != Algorithm::Log {
        return d;
    }
    let ms = |t: Micros| Micros::from_millis(t.ceil_millis());
    Decision {
        retry_after: match d.retry_after {
            Retry::After(t) => Retry::After(ms(t)),
            other => other,
        },
        reset_after: ms(d.reset_after),
        ..d
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(600))]

    #[test]
    fn promises_hold_on_the_clock_as_it_is(
        limit in limits(),
        calls in proptest::collection::vec((step(), 0u64..=6), 1..80),
        start in HOUR..1 << 52,
    ) {
        let mut key = SimKey::default();
        let mut now = Micros::from_micros(start);
        for (step, cost) in calls {
            now = Micros::from_micros(now.as_micros().saturating_add_signed(step));
            let p = limit.params(cost);
            // Read at an earlier instant, a state weighs exactly what it weighed at its own.
            if let Some(value) = key.live(now) {
                if value.as_of() > now {
                    let at_own_instant = decide(Some(value.held()), &p, value.as_of()).decision;
                    prop_assert_eq!(in_resolution(&p, key.peek(&p, now)), in_resolution(&p, at_own_instant));
                }
            }
            let d = key.hit(&p, now);
            if let Retry::After(wait) = d.retry_after {
                prop_assert!(key.peek(&p, now + wait).allowed, "{:?} {:?}", d, p);
            }
            if d.reset_after > Micros::ZERO {
                prop_assert!(key.value.is_some());
                prop_assert_eq!(key.expire_ms, (now + d.reset_after).ceil_millis());
            }
        }
    }

    /// Any valid state, planted, then hit at any instant with any parameters, leaves only
    /// states that are valid and load again (SimKey checks every write).
    #[test]
    fn any_valid_state_leaves_loadable_states(
        planted in valid_state(),
        calls in proptest::collection::vec(
            (limits(), 0u64..=20, prop_oneof![Just(0u64), Just(MAX_INSTANT.as_micros()), Just(u64::MAX), 0..=MAX_INSTANT.as_micros()]),
            1..12,
        ),
    ) {
        let mut key = SimKey::holding(planted);
        for (limit, cost, now) in calls {
            let p = limit.params(cost);
            let peeked = key.peek(&p, Micros::from_micros(now));
            prop_assert_eq!(peeked, key.hit(&p, Micros::from_micros(now)));
        }
    }
}

#[test]
fn a_v1_bucket_past_its_bound_loads_and_can_be_hit() {
    // The state that version 1 could write and then not load: limit 5 per 60 s, burst 1, its
    // TAT at the decoder's old bound. It loads as a full bucket, and a hit with a larger burst
    // stores a valid state.
    let mut bytes = vec![1u8, 3];
    for word in [60_000_000u64, 5, 1, (1 << 56) + 3_153_600_000_000_000, 0] {
        bytes.extend_from_slice(&word.to_le_bytes());
    }
    let state = crate::codec::decode(&bytes).expect("loads");
    let State::Bucket(b) = state else {
        panic!("a bucket")
    };
    assert_eq!((b.as_of, b.level()), (MAX_INSTANT, 60_000_000));
    let mut key = SimKey::holding(state);
    let d = key.hit(&with(Algorithm::Gcra, 5, 60_000, 3, 1), T0);
    assert!(d.allowed);
    assert_eq!(d.remaining, 1);
}
