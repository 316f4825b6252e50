//! Promises every algorithm keeps: waits are exact and never early, `reset_after` leads to
//! full capacity, `remaining` is exact, a denial consumes nothing, and any change of
//! parameters or clock keeps the arithmetic sane.

use proptest::prelude::*;

use super::trace::{drive, limits, requests};
use super::SimKey;
use crate::{Micros, Params, Retry, MAX_WINDOW};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn retry_after_is_exact_and_never_early(
        limit in limits(),
        requests in requests(),
        start in 0u64..1 << 50,
    ) {
        drive(&limit, start, &requests, |step| {
            let (key, p, d, now) = (step.after, step.params, step.decision, step.now);
            match d.retry_after {
                Retry::Now => prop_assert!(d.allowed),
                Retry::Never => prop_assert!(!d.allowed && p.cost() > p.capacity()),
                Retry::After(wait) => {
                    prop_assert!(!d.allowed && wait > Micros::ZERO);
                    prop_assert!(key.peek(&p, now + wait).allowed);
                    prop_assert!(!key.peek(&p, now + wait - Micros::from_micros(1)).allowed);
                    let in_ms = Micros::from_millis(wait.ceil_millis());
                    prop_assert!(key.peek(&p, now + in_ms).allowed);
                }
            }
            Ok(())
        })?;
    }

    /// A peek answers what the hit at the same instant answers (that it writes nothing is
    /// checked on a live server, tests/peek.rs).
    #[test]
    fn peek_equals_hit(
        limit in limits(),
        requests in requests(),
        start in 0u64..1 << 50,
    ) {
        drive(&limit, start, &requests, |step| {
            prop_assert_eq!(step.before.peek(&step.params, step.now), step.decision);
            Ok(())
        })?;
    }

    #[test]
    fn reset_after_leads_to_full_capacity(
        limit in limits(),
        requests in requests(),
        start in 0u64..1 << 50,
    ) {
        drive(&limit, start, &requests, |step| {
            let (key, d, now) = (step.after, step.decision, step.now);
            let one = limit.params(1);
            let full = key.peek(&one, now + d.reset_after);
            prop_assert!(full.allowed && full.remaining == d.capacity - 1);
            if d.reset_after > Micros::ZERO {
                let before = key.peek(&one, now + d.reset_after - Micros::from_micros(1));
                prop_assert!(!before.allowed || before.remaining < d.capacity - 1);
            }
            Ok(())
        })?;
    }

    #[test]
    fn remaining_is_exact_and_denials_consume_nothing(
        limit in limits(),
        requests in requests(),
        start in 0u64..1 << 50,
    ) {
        drive(&limit, start, &requests, |step| {
            let (key, d, now) = (step.after, step.decision, step.now);
            prop_assert!(d.remaining <= d.capacity);
            if !d.allowed {
                prop_assert_eq!(key.value.as_ref(), step.before.live(now));
            }
            if d.remaining > 0 {
                prop_assert!(key.peek(&limit.params(d.remaining), now).allowed);
            }
            prop_assert!(!key.peek(&limit.params(d.remaining + 1), now).allowed);
            Ok(())
        })?;
    }

    /// Any algorithm, limit, window and burst from call to call, and a clock that jumps back
    /// and forth: replies stay within bounds, stored states stay valid and always expire (the
    /// simulated key checks every state it stores), and the wait is never early.
    #[test]
    fn changing_parameters_and_clocks_stay_sane(
        calls in proptest::collection::vec(
            (limits(), 0u64..=20, -3_000_000i64..3_000_000),
            1..80,
        ),
        start in 0u64..1 << 50,
    ) {
        let mut key = SimKey::default();
        let mut now = start;
        // Units once admitted under a larger capacity may take that capacity's time to drain.
        let mut bound = Micros::ZERO;
        for (limit, cost, step) in calls {
            now = now.saturating_add_signed(step);
            let p: Params = limit.params(cost);
            let d = key.hit(&p, Micros::from_micros(now));
            prop_assert!(d.remaining <= p.capacity());
            bound = bound.max(Micros::from_millis(2 * limit.window_ms)).max(drain_time(&p));
            prop_assert!(d.reset_after <= bound, "{:?} {:?}", d, p);
            if let Retry::After(wait) = d.retry_after {
                prop_assert!(wait <= bound);
                prop_assert!(key.peek(&p, Micros::from_micros(now + wait.as_micros())).allowed);
            }
        }
    }
}

/// How long a full bucket takes to drain.
fn drain_time(p: &Params) -> Micros {
    let t = u128::from(p.burst) * u128::from(p.window.as_micros()) / u128::from(p.limit) + 1;
    Micros::from_micros(t.min(u128::from(MAX_WINDOW.as_micros())) as u64)
}
