//! The sliding window counter's own promises; those of every algorithm (exact waits and
//! remaining, full capacity after reset_after) are in `every_algorithm`.

use proptest::prelude::*;

use super::{params, SimKey};
use crate::{Micros, Retry, State, MAX_LIMIT};

fn sliding(key: &SimKey) -> crate::engines::sliding::Sliding {
    match key.state() {
        Some(State::Sliding(s)) => s,
        other => panic!("not a sliding state: {other:?}"),
    }
}

#[test]
fn a_fresh_key_admits_limit_then_waits_one_window() {
    let p = params(10, 60_000, 1);
    let mut key = SimKey::default();
    let t0 = Micros::from_micros(1_700_000_000_000_000);
    for remaining in (0..10).rev() {
        let d = key.hit(&p, t0);
        assert!(d.allowed);
        assert_eq!(d.remaining, remaining);
        assert_eq!(d.retry_after, Retry::Now);
    }
    let denied = key.hit(&p, t0);
    assert!(!denied.allowed);
    assert_eq!(denied.remaining, 0);
    // Released exactly one window after the burst, as a sliding log would.
    assert_eq!(
        denied.retry_after,
        Retry::After(Micros::from_millis(60_000))
    );
    // Full again once the burst's window has aged out of the next one too: it sits 6 s
    // (window / limit) into its window.
    assert_eq!(denied.reset_after, Micros::from_millis(114_000));

    let just_before = Micros::from_micros(t0.as_micros() + 60_000_000 - 1);
    assert!(!key.peek(&p, just_before).allowed);
    let at_retry = key.hit(&p, Micros::from_micros(t0.as_micros() + 60_000_000));
    assert!(at_retry.allowed);
    assert_eq!(at_retry.remaining, 0);
}

#[test]
fn the_previous_window_weighs_by_its_remaining_share() {
    // Window 10 s, limit 10, the key placed 1 s before its first hit at t0.
    let p = params(10, 10_000, 1);
    let mut key = SimKey::default();
    let t0 = Micros::from_micros(1_000_000_000);
    for _ in 0..10 {
        assert!(key.hit(&p, t0).allowed);
    }
    // Half-way through the next window the 10 previous hits weigh 5.
    let half = Micros::from_micros(t0.as_micros() - 1_000_000 + 15_000_000);
    let d = key.hit(&p, half);
    assert!(d.allowed);
    assert_eq!(d.remaining, 4);
}

#[test]
fn cost_beyond_the_limit_is_never_admitted() {
    let p = params(5, 1_000, 6);
    let mut key = SimKey::default();
    let d = key.hit(&p, Micros::from_micros(1_000_000));
    assert!(!d.allowed);
    assert_eq!(d.retry_after, Retry::Never);
    assert_eq!(d.remaining, 5);
    assert_eq!(d.reset_after, Micros::ZERO);
    assert!(
        key.value.is_none(),
        "a denied hit on a new key stores nothing"
    );
}

#[test]
fn a_window_longer_than_the_time_since_1970_is_exact() {
    // 1 per 36500 days, created 50 years after 1970: the first window starts before 1970.
    let p = params(1, 36_500 * 86_400_000, 1);
    let mut key = SimKey::default();
    let t0 = Micros::from_micros(50 * 365 * 86_400_000_000);
    assert!(key.hit(&p, t0).allowed);
    let denied = key.hit(&p, Micros::from_micros(t0.as_micros() + 1));
    // Released one window after the hit: the hit lies 1 µs before its window's end.
    assert_eq!(denied.retry_after, Retry::After(p.window));
    assert!(
        !key.peek(
            &p,
            Micros::from_micros(t0.as_micros() + p.window.as_micros())
        )
        .allowed
    );
    assert!(
        key.peek(
            &p,
            Micros::from_micros(t0.as_micros() + 1 + p.window.as_micros())
        )
        .allowed
    );
    assert_eq!(denied.reset_after, p.window);
}

#[test]
fn a_new_window_length_carries_the_usage_over() {
    let mut key = SimKey::default();
    let t0 = Micros::from_micros(10_000_000_000);
    for _ in 0..10 {
        assert!(key.hit(&params(10, 3_600_000, 1), t0).allowed);
    }
    // The same 10 units stay consumed under a 1 s window: denied, and the migrated state is
    // stored so that the answer's retry time holds.
    let d = key.hit(&params(10, 1_000, 1), t0);
    assert!(!d.allowed);
    assert_eq!(sliding(&key).window, Micros::from_millis(1_000));
    assert_eq!(sliding(&key).current, 10);
    let Retry::After(wait) = d.retry_after else {
        panic!("expected a wait")
    };
    assert!(
        key.peek(
            &params(10, 1_000, 1),
            Micros::from_micros(t0.as_micros() + wait.as_micros())
        )
        .allowed
    );
}

/// A request trace: gaps between requests as a share of the window, and costs.
fn trace(limit: u64) -> impl Strategy<Value = Vec<(u64, u64, u64)>> {
    // (gap in thousandths of a window, extra microseconds, cost)
    let cost = prop_oneof![8 => Just(1u64), 2 => 1..=limit.saturating_add(1).min(MAX_LIMIT)];
    proptest::collection::vec((0u64..2_500, 0u64..1_000, cost), 1..120)
}

fn limit_and_window() -> impl Strategy<Value = (u64, u64)> {
    let limit = prop_oneof![4 => 1u64..=12, 1 => 1u64..=1_000_000];
    let window_ms = prop_oneof![1u64..=5, 1u64..=3_000, Just(60_000), Just(86_400_000)];
    (limit, window_ms)
}

fn advance(now: Micros, window_ms: u64, gap_permille: u64, jitter_us: u64) -> Micros {
    Micros::from_micros(now.as_micros() + window_ms * gap_permille + jitter_us)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// Every admission satisfies the weighted formula, counted from the log of what was really
    /// admitted since the key was created; and no rolling window ever holds more than two
    /// windows' worth.
    #[test]
    fn admissions_respect_the_weighted_bound(
        (limit, window_ms) in limit_and_window(),
        steps in trace(12),
        start in 0u64..1 << 50,
    ) {
        let window = u128::from(window_ms) * 1000;
        let mut key = SimKey::default();
        let mut now = Micros::from_micros(start);
        let mut log: Vec<(u64, u64)> = Vec::new();
        for (gap, jitter, cost) in steps {
            now = advance(now, window_ms, gap, jitter);
            let p = params(limit, window_ms, cost);
            let existed = key.live(now).is_some();
            let d = key.hit(&p, now);
            if !existed {
                log.clear();
            }
            if !d.allowed {
                continue;
            }
            log.push((now.as_micros(), cost));
            let s = sliding(&key);
            let start = s.as_of.as_micros() as i128 - s.into.as_micros() as i128;
            let in_window = |from: i128, to: i128| -> u64 {
                log.iter().filter(|(t, _)| (from..to).contains(&(*t as i128))).map(|(_, c)| c).sum()
            };
            let window_us = s.window.as_micros() as i128;
            let current = in_window(start, start + window_us);
            let previous = in_window(start - window_us, start);
            prop_assert_eq!(current, s.current);
            prop_assert_eq!(previous, s.previous);
            let elapsed = u128::from(s.into.as_micros());
            let weighted = u128::from(previous) * (window - elapsed) + u128::from(current) * window;
            prop_assert!(weighted <= u128::from(limit) * window);
            let rolling: u64 = log.iter().filter(|(t, _)| t + s.window.as_micros() > now.as_micros()).map(|(_, c)| c).sum();
            prop_assert!(rolling <= 2 * limit);
        }
    }
}
