//! GCRA, the generic cell rate algorithm; also the token bucket and the leaky bucket.
//!
//! The three are one mathematics. A token bucket holds up to `burst` tokens, refilled at
//! `limit / window`, and admits a request that finds `cost` tokens. A leaky bucket (as a meter)
//! has a level that rises by `cost`, drains at `limit / window`, and admits a request that does
//! not overflow `burst`. Tokens are `burst - level`: the same decision, always. GCRA keeps that
//! level as a single instant, the theoretical arrival time (TAT): the instant the bucket will
//! be empty again. The level at `now` is `(TAT - now) * limit / window`, and a request is
//! admitted when `max(TAT, now) + cost * window / limit - now <= burst * window / limit`.
//!
//! One unit takes `window / limit` microseconds, rarely a whole number. So every instant is
//! kept multiplied by `limit`: the TAT is `tat + frac / limit` microseconds, and the
//! comparisons above, multiplied by `limit`, are exact integer arithmetic for any rate, from
//! millions per second to one per century.

use super::{arith, Decision, Micros, Params, Retry, MAX_LIMIT};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bucket {
    /// With `limit`, the rate: `limit` units drain per `window`.
    pub window: Micros,
    pub limit: u64,
    /// The capacity when the state was written: the TAT is at most this many units ahead of
    /// the instant it was written at, which bounds how far back a clock may be trusted.
    pub burst: u64,
    /// Whole microseconds of the theoretical arrival time.
    pub tat: Micros,
    /// Its fraction of a microsecond, in units of 1/limit: `frac < limit`.
    pub frac: u64,
}

impl Bucket {
    /// Units in the bucket at `now`, multiplied by the window (equivalently: microseconds of
    /// draining multiplied by `limit`). A clock that stepped back cannot make it exceed the
    /// capacity the state was written with: the bucket stands still at the earliest instant
    /// it could have been written at.
    fn level_at(&self, now: Micros) -> u128 {
        let ahead = match self.tat.0.checked_sub(now.0) {
            Some(us) => u128::from(us) * u128::from(self.limit) + u128::from(self.frac),
            None => 0,
        };
        ahead.min(u128::from(self.burst) * u128::from(self.window.0))
    }

    /// The bucket is empty (full capacity) from the TAT on.
    pub fn expires_at(&self) -> Option<Micros> {
        Some(Micros(self.tat.0 + u64::from(self.frac > 0)))
    }

    /// Units in the bucket at `now`, rounded up.
    pub fn used(&self, now: Micros) -> u64 {
        let used = arith::div_ceil(self.level_at(now), self.window.0);
        u64::try_from(used).unwrap_or(MAX_LIMIT).min(MAX_LIMIT)
    }

    /// A bucket for `params` holding `used` units at `now`.
    pub fn seeded(params: &Params, used: u64, now: Micros) -> Bucket {
        let empty = Bucket {
            window: params.window,
            limit: params.limit,
            burst: params.burst,
            tat: now,
            frac: 0,
        };
        empty.filled(params, u128::from(used) * u128::from(params.window.0))
    }

    /// This bucket with `amount` more in it (units times the window), its TAT moved on by
    /// `amount / limit` microseconds.
    fn filled(&self, params: &Params, amount: u128) -> Bucket {
        let (whole, frac) = arith::div_rem(u128::from(self.frac) + amount, params.limit);
        Bucket {
            window: params.window,
            limit: params.limit,
            burst: params.burst,
            tat: Micros(u64::try_from(u128::from(self.tat.0) + whole).unwrap_or(u64::MAX)),
            frac,
        }
    }
}

/// Decide one request against a bucket of this rate (`None`: a new key). Returns the decision
/// and, when the request was admitted, the state to store.
pub fn decide(state: Option<&Bucket>, params: &Params, now: Micros) -> (Decision, Option<Bucket>) {
    // Levels are in units multiplied by the window: exact for any rate.
    let window = u128::from(params.window.0);
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
        limit: params.burst,
        // A burst lowered below the units in use leaves nothing remaining.
        remaining: arith::div(capacity.saturating_sub(kept), params.window.0) as u64,
        retry_after,
        reset_after: micros(arith::div_ceil(kept, params.limit)),
    };
    let next = (allowed && params.cost > 0).then(|| {
        // The new TAT is max(TAT, now) + cost / rate.
        let base = match state {
            Some(s) if level > 0 => *s,
            _ => Bucket::seeded(params, 0, now),
        };
        base.filled(params, cost)
    });
    (decision, next)
}

/// A span bounded by the capacity's drain time, which fits in 64 bits.
fn micros(span: u128) -> Micros {
    Micros(u64::try_from(span).unwrap_or(u64::MAX))
}
