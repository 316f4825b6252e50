//! GCRA, the token bucket and the leaky bucket: exact rates, the burst bound, and the proof
//! that the three are one.

use proptest::prelude::*;

use super::{with, SimKey};
use crate::{Algorithm, Decision, Micros, Retry};

#[test]
fn a_million_per_second_is_exact() {
    let p = with(Algorithm::Gcra, 1_000_000, 1_000, 1_000_000, 1_000_000);
    let mut key = SimKey::default();
    let t0 = Micros::from_micros(1_700_000_000_000_000);
    assert!(key.hit(&p, t0).allowed);
    let one = with(Algorithm::Gcra, 1_000_000, 1_000, 1_000_000, 1);
    let d = key.hit(&one, t0);
    assert_eq!(d.retry_after, Retry::After(Micros::from_micros(1)));
    assert_eq!(
        key.peek(&one, Micros::from_micros(t0.as_micros() + 1))
            .remaining,
        0
    );
    // Half a second later, exactly half the capacity is back.
    let half = key.peek(&one, Micros::from_micros(t0.as_micros() + 500_000));
    assert_eq!(half.remaining, 499_999);
    assert_eq!(half.reset_after, Micros::from_micros(500_001));
}

#[test]
fn one_per_day_is_exact() {
    let p = with(Algorithm::Token, 1, 86_400_000, 1, 1);
    let mut key = SimKey::default();
    let t0 = Micros::from_micros(1_700_000_000_000_000);
    assert!(key.hit(&p, t0).allowed);
    let d = key.hit(&p, Micros::from_micros(t0.as_micros() + 3_600_000_000));
    assert_eq!(
        d.retry_after,
        Retry::After(Micros::from_micros(82_800_000_000))
    );
    assert!(
        !key.peek(&p, Micros::from_micros(t0.as_micros() + 86_400_000_000 - 1))
            .allowed
    );
    assert!(
        key.peek(&p, Micros::from_micros(t0.as_micros() + 86_400_000_000))
            .allowed
    );
}

#[test]
fn three_per_millisecond_keeps_its_thirds() {
    // One unit every 333.33 µs, capacity 2. A client knocking every microsecond for 100 ms
    // gets its 2 units of capacity, then one per 333.33 µs: 300 more, as the fractions add up
    // in the TAT. With the interval rounded to whole microseconds (334) it would get 299.
    let p = with(Algorithm::Gcra, 3, 1, 2, 1);
    let mut key = SimKey::default();
    let t0 = 1_000_000_000u64;
    let admitted = (t0..=t0 + 100_000)
        .filter(|&now| key.hit(&p, Micros::from_micros(now)).allowed)
        .count();
    assert_eq!(admitted, 302);
}

#[test]
fn burst_is_the_capacity_and_limit_the_rate() {
    let p = with(Algorithm::Leaky, 10, 1_000, 20, 1);
    let mut key = SimKey::default();
    let t0 = Micros::from_micros(1_000_000_000);
    for _ in 0..20 {
        assert!(key.hit(&p, t0).allowed);
    }
    let d = key.hit(&p, t0);
    assert_eq!((d.allowed, d.capacity, d.remaining), (false, 20, 0));
    assert_eq!(d.retry_after, Retry::After(Micros::from_micros(100_000)));
    assert_eq!(d.reset_after, Micros::from_micros(2_000_000));
}

/// A token bucket written the textbook way: tokens refill continuously (kept multiplied by the
/// window, so that refilling is integer arithmetic) up to the capacity.
struct TokenBucket {
    tokens: u128,
    last: u64,
}

/// A leaky bucket as a meter: the level drains continuously and may not overflow.
struct LeakyBucket {
    level: u128,
    last: u64,
}

struct Model {
    limit: u128,
    window: u128,
    burst: u128,
}

impl Model {
    fn token(&self, b: &mut TokenBucket, now: u64, cost: u64) -> Decision {
        let capacity = self.burst * self.window;
        b.tokens = (b.tokens + u128::from(now - b.last) * self.limit).min(capacity);
        b.last = now;
        let need = u128::from(cost) * self.window;
        let allowed = b.tokens >= need;
        if allowed {
            b.tokens -= need;
        }
        let retry_after = if allowed {
            Retry::Now
        } else if need > capacity {
            Retry::Never
        } else {
            Retry::After(Micros::from_micros(
                ((need - b.tokens).div_ceil(self.limit)) as u64,
            ))
        };
        Decision {
            allowed,
            capacity: self.burst as u64,
            remaining: (b.tokens / self.window) as u64,
            retry_after,
            reset_after: Micros::from_micros(((capacity - b.tokens).div_ceil(self.limit)) as u64),
        }
    }

    fn leaky(&self, b: &mut LeakyBucket, now: u64, cost: u64) -> Decision {
        let capacity = self.burst * self.window;
        b.level = b
            .level
            .saturating_sub(u128::from(now - b.last) * self.limit);
        b.last = now;
        let add = u128::from(cost) * self.window;
        let allowed = b.level + add <= capacity;
        if allowed {
            b.level += add;
        }
        let retry_after = if allowed {
            Retry::Now
        } else if add > capacity {
            Retry::Never
        } else {
            Retry::After(Micros::from_micros(
                ((b.level + add - capacity).div_ceil(self.limit)) as u64,
            ))
        };
        Decision {
            allowed,
            capacity: self.burst as u64,
            remaining: ((capacity - b.level) / self.window) as u64,
            retry_after,
            reset_after: Micros::from_micros((b.level.div_ceil(self.limit)) as u64),
        }
    }
}

fn rate() -> impl Strategy<Value = (u64, u64, u64)> {
    // (limit, window_ms, burst)
    (
        1u64..=1_000,
        prop_oneof![1u64..=10, 1u64..=5_000, Just(86_400_000)],
    )
        .prop_flat_map(|(limit, window_ms)| (Just(limit), Just(window_ms), 1u64..=3 * limit))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// TOKEN, LEAKY and GCRA answer every request of a trace identically, and the same as the
    /// textbook token bucket and leaky bucket.
    #[test]
    fn token_leaky_and_gcra_are_one(
        (limit, window_ms, burst) in rate(),
        steps in proptest::collection::vec((0u64..3_000, 1u64..=12), 1..150),
        start in 0u64..1 << 50,
    ) {
        let model = Model {
            limit: u128::from(limit),
            window: u128::from(window_ms) * 1000,
            burst: u128::from(burst),
        };
        let mut token = TokenBucket { tokens: model.burst * model.window, last: start };
        let mut leaky = LeakyBucket { level: 0, last: start };
        let mut keys = [SimKey::default(), SimKey::default(), SimKey::default()];
        let mut now = start;
        for (gap, cost) in steps {
            // Gaps in thousandths of one unit's interval.
            now += (u128::from(gap) * model.window / model.limit / 1000) as u64;
            let expected = model.token(&mut token, now, cost);
            prop_assert_eq!(model.leaky(&mut leaky, now, cost), expected);
            for (key, algorithm) in keys.iter_mut().zip([Algorithm::Token, Algorithm::Leaky, Algorithm::Gcra]) {
                let d = key.hit(&with(algorithm, limit, window_ms, burst, cost), Micros::from_micros(now));
                prop_assert_eq!(d, expected, "{:?}", algorithm);
            }
        }
    }

    /// Over any interval of length t, no more than BURST + t × limit / window units are
    /// admitted.
    #[test]
    fn never_more_than_burst_plus_rate_times_t(
        (limit, window_ms, burst) in rate(),
        steps in proptest::collection::vec((0u64..3_000, 1u64..=12), 1..120),
        start in 0u64..1 << 50,
    ) {
        let window = u128::from(window_ms) * 1000;
        let mut key = SimKey::default();
        let mut now = start;
        let mut admitted: Vec<(u64, u64)> = Vec::new();
        for (gap, cost) in steps {
            now += (u128::from(gap) * window / u128::from(limit) / 1000) as u64;
            if key.hit(&with(Algorithm::Gcra, limit, window_ms, burst, cost), Micros::from_micros(now)).allowed {
                admitted.push((now, cost));
            }
        }
        for i in 0..admitted.len() {
            let mut units = 0u128;
            for j in i..admitted.len() {
                units += u128::from(admitted[j].1);
                let t = u128::from(admitted[j].0 - admitted[i].0);
                prop_assert!(units * window <= u128::from(burst) * window + t * u128::from(limit));
            }
        }
    }
}
