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

use super::{Decision, Micros, Params, Retry, MAX_LIMIT};

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
    /// The TAT multiplied by `limit`.
    fn scaled_tat(&self) -> u128 {
        u128::from(self.tat.0) * u128::from(self.limit) + u128::from(self.frac)
    }

    fn from_scaled(params: &Params, scaled: u128) -> Bucket {
        let limit = u128::from(params.limit);
        Bucket {
            window: params.window,
            limit: params.limit,
            burst: params.burst,
            tat: Micros(u64::try_from(scaled / limit).unwrap_or(u64::MAX)),
            frac: (scaled % limit) as u64,
        }
    }

    /// The bucket is empty (full capacity) from the TAT on.
    pub fn expires_at(&self) -> Option<Micros> {
        Some(Micros(self.tat.0 + u64::from(self.frac > 0)))
    }

    /// Units in the bucket at `now`, rounded up.
    pub fn used(&self, now: Micros) -> u64 {
        let now = u128::from(now.0) * u128::from(self.limit);
        let level = self.scaled_tat().saturating_sub(now);
        let used = level.div_ceil(u128::from(self.window.0));
        u64::try_from(used).unwrap_or(MAX_LIMIT).min(MAX_LIMIT)
    }

    /// A bucket for `params` holding `used` units at `now`.
    pub fn seeded(params: &Params, used: u64, now: Micros) -> Bucket {
        let scaled_now = u128::from(now.0) * u128::from(params.limit);
        Bucket::from_scaled(
            params,
            scaled_now + u128::from(used) * u128::from(params.window.0),
        )
    }
}

/// Decide one request against a bucket of this rate (`None`: a new key). Returns the decision
/// and, when the request was admitted, the state to store.
pub fn decide(state: Option<&Bucket>, params: &Params, now: Micros) -> (Decision, Option<Bucket>) {
    // Everything below is in microseconds multiplied by `limit`.
    let limit = u128::from(params.limit);
    let window = u128::from(params.window.0);
    let capacity = u128::from(params.burst) * window;
    let cost = u128::from(params.cost) * window;
    let tat = state.map_or(u128::from(now.0) * limit, Bucket::scaled_tat);
    // A clock that stepped back is treated as standing still at the earliest instant the state
    // could have been written at.
    let written_after = state.map_or(0, |s| tat.saturating_sub(u128::from(s.burst) * window));
    let now = (u128::from(now.0) * limit).max(written_after);

    let start = tat.max(now);
    let after = start + cost;
    let allowed = after - now <= capacity;
    let level = if allowed { after } else { start } - now;

    let retry_after = if allowed {
        Retry::Now
    } else if params.cost > params.burst {
        Retry::Never
    } else {
        Retry::After(micros((after - capacity - now).div_ceil(limit)))
    };
    let decision = Decision {
        allowed,
        limit: params.burst,
        // A burst lowered below the units in use leaves nothing remaining.
        remaining: (capacity.saturating_sub(level) / window) as u64,
        retry_after,
        reset_after: micros(level.div_ceil(limit)),
    };
    let next = (allowed && params.cost > 0).then(|| Bucket::from_scaled(params, after));
    (decision, next)
}

/// A span bounded by the capacity's drain time, which fits in 64 bits.
fn micros(span: u128) -> Micros {
    Micros(u64::try_from(span).unwrap_or(u64::MAX))
}
