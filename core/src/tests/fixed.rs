//! The fixed window counter's promises.

use proptest::prelude::*;

use super::{with, SimKey};
use crate::{Algorithm, Micros, Retry, State};

const FIXED: Algorithm = Algorithm::Fixed;

#[test]
fn a_window_opens_at_the_first_admitted_hit() {
    let p = with(FIXED, 3, 10_000, 3, 1);
    let mut key = SimKey::default();
    let t0 = Micros::from_micros(5_000_000_123);
    for remaining in [2, 1, 0] {
        assert_eq!(key.hit(&p, t0).remaining, remaining);
    }
    let later = Micros::from_micros(t0.as_micros() + 4_000_000);
    let denied = key.hit(&p, later);
    assert!(!denied.allowed);
    assert_eq!(
        denied.retry_after,
        Retry::After(Micros::from_micros(6_000_000))
    );
    assert_eq!(denied.reset_after, Micros::from_micros(6_000_000));
    assert!(
        !key.peek(&p, Micros::from_micros(t0.as_micros() + 10_000_000 - 1))
            .allowed
    );
    // The next window opens with the next admitted hit, not on a calendar tick.
    let next = Micros::from_micros(t0.as_micros() + 25_000_000);
    assert_eq!(key.hit(&p, next).remaining, 2);
    match key.state() {
        Some(State::Fixed(f)) => assert_eq!(f.as_of - f.into, next),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_denied_hit_opens_no_window() {
    let mut key = SimKey::default();
    let d = key.hit(&with(FIXED, 3, 1_000, 3, 4), Micros::from_micros(1_000_000));
    assert_eq!(d.retry_after, Retry::Never);
    assert!(key.value.is_none());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// No window ever admits more than `limit` units, and windows never overlap.
    #[test]
    fn never_more_than_limit_per_window(
        limit in 1u64..=10,
        window_ms in prop_oneof![1u64..=5, 1u64..=2_000, Just(60_000)],
        steps in proptest::collection::vec((0u64..2_000, 0u64..1_000, 1u64..=4), 1..150),
        start in 0u64..1 << 50,
    ) {
        let mut key = SimKey::default();
        let mut now = start;
        let mut windows: Vec<(u64, u64)> = Vec::new(); // (start, units admitted)
        for (gap, jitter, cost) in steps {
            now += window_ms * gap + jitter;
            let d = key.hit(&with(FIXED, limit, window_ms, limit, cost), Micros::from_micros(now));
            if !d.allowed {
                continue;
            }
            let Some(State::Fixed(f)) = key.state() else { panic!("no fixed state") };
            let opened = (f.as_of - f.into).as_micros();
            prop_assert!(now >= opened && now < opened + f.window.as_micros());
            match windows.last_mut() {
                Some((s, units)) if *s == opened => *units += cost,
                Some((s, _)) => {
                    prop_assert!(opened >= *s + window_ms * 1000, "windows overlap");
                    windows.push((opened, cost));
                }
                None => windows.push((opened, cost)),
            }
            prop_assert!(windows.last().map_or(0, |w| w.1) <= limit);
        }
    }
}
