//! Promises every algorithm keeps: waits are exact and never early, `reset_after` leads to
//! full capacity, `remaining` is exact, a denial consumes nothing, and any change of
//! parameters or clock keeps the arithmetic sane.

use proptest::prelude::*;

use super::{with, SimKey};
use crate::{Algorithm, Micros, Params, Retry, MAX_WINDOW};

fn algorithm() -> impl Strategy<Value = Algorithm> {
    proptest::sample::select(Algorithm::ALL.to_vec())
}

/// Parameters of any algorithm; the burst respects the drain bound.
fn limit_params() -> impl Strategy<Value = (Algorithm, u64, u64, u64)> {
    let limit = prop_oneof![4 => 1u64..=12, 1 => 1u64..=1_000_000];
    let window_ms = prop_oneof![1u64..=5, 1u64..=3_000, Just(60_000), Just(86_400_000)];
    (algorithm(), limit, window_ms).prop_flat_map(|(a, limit, window_ms)| {
        let most = if a.has_burst() { 3 * limit } else { limit };
        let burst = if a.has_burst() {
            (1..=most).boxed()
        } else {
            Just(limit).boxed()
        };
        (Just(a), Just(limit), Just(window_ms), burst)
    })
}

fn trace() -> impl Strategy<Value = Vec<(u64, u64, u64)>> {
    // (gap in thousandths of a window, extra microseconds, cost)
    proptest::collection::vec(
        (
            0u64..2_500,
            0u64..1_000,
            prop_oneof![8 => Just(1u64), 2 => 1u64..=14],
        ),
        1..100,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn retry_after_is_exact_and_never_early(
        (a, limit, window_ms, burst) in limit_params(),
        steps in trace(),
        start in 0u64..1 << 50,
    ) {
        let mut key = SimKey::default();
        let mut now = start;
        for (gap, jitter, cost) in steps {
            now += window_ms * gap + jitter;
            let p = with(a, limit, window_ms, burst, cost);
            let d = key.hit(&p, Micros::from_micros(now));
            match d.retry_after {
                Retry::Now => prop_assert!(d.allowed),
                Retry::Never => prop_assert!(!d.allowed && cost > p.capacity()),
                Retry::After(wait) => {
                    prop_assert!(!d.allowed && wait > Micros::ZERO);
                    prop_assert!(key.peek(&p, Micros::from_micros(now + wait.as_micros())).allowed);
                    prop_assert!(!key.peek(&p, Micros::from_micros(now + wait.as_micros() - 1)).allowed);
                    let in_ms = wait.ceil_millis() * 1000;
                    prop_assert!(key.peek(&p, Micros::from_micros(now + in_ms)).allowed);
                }
            }
        }
    }

    /// A peek answers what the hit at the same instant answers, and changes nothing.
    #[test]
    fn peek_equals_hit(
        (a, limit, window_ms, burst) in limit_params(),
        steps in trace(),
        start in 0u64..1 << 50,
    ) {
        let mut key = SimKey::default();
        let mut now = start;
        for (gap, jitter, cost) in steps {
            now += window_ms * gap + jitter;
            let p = with(a, limit, window_ms, burst, cost);
            let before = key.state;
            let peeked = key.peek(&p, Micros::from_micros(now));
            prop_assert_eq!(key.state, before);
            prop_assert_eq!(peeked, key.hit(&p, Micros::from_micros(now)));
        }
    }

    #[test]
    fn reset_after_leads_to_full_capacity(
        (a, limit, window_ms, burst) in limit_params(),
        steps in trace(),
        start in 0u64..1 << 50,
    ) {
        let mut key = SimKey::default();
        let mut now = start;
        for (gap, jitter, cost) in steps {
            now += window_ms * gap + jitter;
            let d = key.hit(&with(a, limit, window_ms, burst, cost), Micros::from_micros(now));
            let one = with(a, limit, window_ms, burst, 1);
            let full = key.peek(&one, Micros::from_micros(now + d.reset_after.as_micros()));
            prop_assert!(full.allowed && full.remaining == d.capacity - 1);
            if d.reset_after > Micros::ZERO {
                let before = key.peek(&one, Micros::from_micros(now + d.reset_after.as_micros() - 1));
                prop_assert!(!before.allowed || before.remaining < d.capacity - 1);
            }
        }
    }

    #[test]
    fn remaining_is_exact_and_denials_consume_nothing(
        (a, limit, window_ms, burst) in limit_params(),
        steps in trace(),
        start in 0u64..1 << 50,
    ) {
        let mut key = SimKey::default();
        let mut now = start;
        for (gap, jitter, cost) in steps {
            now += window_ms * gap + jitter;
            let before = key.clone();
            let d = key.hit(&with(a, limit, window_ms, burst, cost), Micros::from_micros(now));
            prop_assert!(d.remaining <= d.capacity);
            if !d.allowed {
                prop_assert_eq!(key.state, before.live(Micros::from_micros(now)).copied());
            }
            let costing = |c: u64| with(a, limit, window_ms, burst, c);
            if d.remaining > 0 {
                prop_assert!(key.peek(&costing(d.remaining), Micros::from_micros(now)).allowed);
            }
            prop_assert!(!key.peek(&costing(d.remaining + 1), Micros::from_micros(now)).allowed);
        }
    }

    /// Any algorithm, limit, window and burst from call to call, and a clock that jumps back
    /// and forth: replies stay within bounds, stored states stay valid and always expire, and
    /// from a clock that did not step back the wait is never early.
    #[test]
    fn changing_parameters_and_clocks_stay_sane(
        calls in proptest::collection::vec(
            (limit_params(), 0u64..=20, -3_000_000i64..3_000_000),
            1..80,
        ),
        start in 0u64..1 << 50,
    ) {
        let mut key = SimKey::default();
        let mut now = start;
        let mut latest = start;
        // Units once admitted under a larger capacity may take that capacity's time to drain.
        let mut bound = Micros::ZERO;
        for ((a, limit, window_ms, burst), cost, step) in calls {
            now = now.saturating_add_signed(step);
            let monotonic = now >= latest;
            latest = latest.max(now);
            let p: Params = with(a, limit, window_ms, burst, cost);
            let d = key.hit(&p, Micros::from_micros(now));
            prop_assert!(d.remaining <= p.capacity());
            bound = bound.max(Micros::from_millis(2 * window_ms)).max(drain_time(&p));
            prop_assert!(d.reset_after <= bound, "{:?} {:?}", d, p);
            if let Retry::After(wait) = d.retry_after {
                prop_assert!(wait <= bound);
                if monotonic {
                    prop_assert!(key.peek(&p, Micros::from_micros(now + wait.as_micros())).allowed);
                }
            }
            if let Some(state) = key.state {
                prop_assert!(state.expires_at().is_some());
                let bytes = crate::codec::encode(&state);
                prop_assert_eq!(crate::codec::decode(bytes.as_bytes()), Ok(state));
            }
        }
    }
}

/// How long a full bucket takes to drain.
fn drain_time(p: &Params) -> Micros {
    let t = u128::from(p.burst) * u128::from(p.window.as_micros()) / u128::from(p.limit) + 1;
    Micros::from_micros(t.min(u128::from(MAX_WINDOW.as_micros())) as u64)
}
