//! GCRA, the generic cell rate algorithm; also the token bucket and the leaky bucket.
//!
//! The three are one mathematics. A token bucket holds up to `burst` tokens, refilled at
//! `limit / window`, and admits a request that finds `cost` tokens. A leaky bucket (as a meter)
//! has a level that rises by `cost`, drains at `limit / window`, and admits a request that does
//! not overflow `burst`. Tokens are `burst - level`: the same decision, always. GCRA keeps that
//! level as the time the bucket takes to drain, so that the theoretical arrival time (TAT), the
//! instant the bucket is empty again, is `as_of` plus that time, and a request is admitted when
//! `max(TAT, now) + cost * window / limit - now <= burst * window / limit`.
//!
//! One unit takes `window / limit` microseconds, rarely a whole number. So every level is kept
//! multiplied by `window` (equivalently: microseconds of draining multiplied by `limit`), and
//! the comparisons above, multiplied out, are exact integer arithmetic for any rate, from
//! millions per second to one per century. In the state, the level is held as whole
//! microseconds of draining plus a fraction in units of 1/limit.

use crate::arith;
use crate::{Decision, Micros, Params, Retry, MAX_LIMIT};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bucket {
    /// With `limit`, the rate: `limit` units drain per `window`.
    pub window: Micros,
    pub limit: u64,
    /// The capacity when the state was written; the level never exceeds it.
    pub burst: u64,
    /// The instant of the decision that wrote this state.
    pub as_of: Micros,
    /// Whole microseconds the bucket takes to drain from `as_of`.
    pub drain: Micros,
    /// The fraction of a microsecond beyond `drain`, in units of 1/limit: `frac < limit`.
    pub frac: u64,
}

impl Bucket {
    /// The level at `as_of`, in units times the window.
    pub fn level(&self) -> u128 {
        self.drain.wide() * u128::from(self.limit) + u128::from(self.frac)
    }

    /// The level at `now`, in units times the window. A `now` before `as_of` (a clock that
    /// stepped back) finds the level as it was at `as_of`.
    fn level_at(&self, now: Micros) -> u128 {
        let drained = (now - self.as_of).wide() * u128::from(self.limit);
        self.level().saturating_sub(drained)
    }

    /// The bucket is empty (full capacity) from the TAT on; an empty bucket carries nothing.
    pub fn expires_at(&self) -> Option<Micros> {
        (self.level() > 0)
            .then(|| self.as_of + self.drain + Micros::from_micros(u64::from(self.frac > 0)))
    }

    /// Units in the bucket at `now`, rounded up.
    pub fn used(&self, now: Micros) -> u64 {
        let used = arith::div_ceil(self.level_at(now), self.window.as_micros());
        u64::try_from(used).unwrap_or(MAX_LIMIT).min(MAX_LIMIT)
    }

    /// A bucket for `params` holding `used` units at `now`.
    pub fn seeded(params: &Params, used: u64, now: Micros) -> Bucket {
        Bucket::holding(params, now, u128::from(used) * params.window.wide())
    }

    /// A bucket for `params` at `now` whose level is `level` (units times the window).
    fn holding(params: &Params, now: Micros, level: u128) -> Bucket {
        let (drain, frac) = arith::div_rem(level, params.limit);
        Bucket {
            window: params.window,
            limit: params.limit,
            burst: params.burst,
            as_of: now,
            // At most the capacity's drain time, which fits in 64 bits.
            drain: micros(drain),
            frac,
        }
    }
}

/// Decide one request against a bucket of this rate (`None`: a new key). Returns the decision
/// and, when the request was admitted, the state to store.
pub fn decide(state: Option<&Bucket>, params: &Params, now: Micros) -> (Decision, Option<Bucket>) {
    // Levels are in units multiplied by the window: exact for any rate.
    let window = params.window.wide();
    let capacity = u128::from(params.burst) * window;
    let cost = u128::from(params.cost) * window;
    let level = state.map_or(0, |s| s.level_at(now));
    let after = level + cost;
    let allowed = after <= capacity;
    let kept = if allowed { after } else { level };

    let retry_after = if allowed {
        Retry::Now
    } else if params.cost > params.burst {
        Retry::Never
    } else {
        // Until enough has drained, at `limit` per microsecond in these units.
        Retry::After(micros(arith::div_ceil(after - capacity, params.limit)))
    };
    let decision = Decision {
        allowed,
        capacity: params.burst,
        // A burst lowered below the units in use leaves nothing remaining.
        remaining: arith::div(capacity.saturating_sub(kept), params.window.as_micros()) as u64,
        retry_after,
        reset_after: micros(arith::div_ceil(kept, params.limit)),
    };
    let next = (allowed && params.cost > 0).then(|| Bucket::holding(params, now, after));
    (decision, next)
}

/// A span bounded by the capacity's drain time, which fits in 64 bits.
fn micros(span: u128) -> Micros {
    Micros::from_micros(u64::try_from(span).unwrap_or(u64::MAX))
}
