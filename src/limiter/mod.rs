//! The rate-limit mathematics, free of Redis.
//!
//! Every algorithm is a pure function of (stored state, parameters, now) returning the decision
//! and the state to store, if any. Time and counts are integers; the arithmetic that compares
//! them is done in `u128` so that no valid input can overflow.
//!
//! Three engines serve the five algorithms: the sliding window counter, the fixed window
//! counter, and GCRA, which is also the token bucket and the leaky bucket (see `bucket`).

mod arith;
pub mod bucket;
pub mod fixed;
pub mod multi;
pub mod sliding;
mod state;
mod time;

pub use state::{Invalid, State};
pub use time::Micros;

/// The largest limit, burst or cost: replies carry signed 64-bit integers.
pub const MAX_LIMIT: u64 = i64::MAX as u64;
/// The shortest window.
pub const MIN_WINDOW: Micros = Micros::from_millis(1);
/// The longest window, and the longest a bucket may take to drain: 100 years of 365 days.
pub const MAX_WINDOW: Micros = Micros::from_millis(36_500 * 86_400_000);
/// Instants are clamped below this (about the year 4253) so that an instant plus a few windows
/// always fits in 64 bits.
pub const MAX_INSTANT: Micros = Micros(1 << 56);

/// The algorithms a request may ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    Sliding,
    Fixed,
    Token,
    Leaky,
    Gcra,
}

impl Algorithm {
    pub const ALL: [Algorithm; 5] = [
        Algorithm::Sliding,
        Algorithm::Fixed,
        Algorithm::Token,
        Algorithm::Leaky,
        Algorithm::Gcra,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sliding => "SLIDING",
            Algorithm::Fixed => "FIXED",
            Algorithm::Token => "TOKEN",
            Algorithm::Leaky => "LEAKY",
            Algorithm::Gcra => "GCRA",
        }
    }

    /// Whether the algorithm has a capacity of its own (`BURST`) besides its rate.
    pub fn has_burst(self) -> bool {
        matches!(self, Algorithm::Token | Algorithm::Leaky | Algorithm::Gcra)
    }
}

/// What one request asks for, already validated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
    pub algorithm: Algorithm,
    /// Units per window, the sustained rate: 1..=MAX_LIMIT.
    pub limit: u64,
    /// MIN_WINDOW..=MAX_WINDOW.
    pub window: Micros,
    /// The capacity: `limit` for the window counters; BURST for the buckets, with
    /// `burst * window / limit <= MAX_WINDOW`.
    pub burst: u64,
    /// Units this request consumes: 0..=MAX_LIMIT. More than the capacity is never admitted.
    pub cost: u64,
}

impl Params {
    /// A request of `cost` units against `limit` per `window`, the capacity being `limit`.
    #[cfg(test)]
    pub fn new(algorithm: Algorithm, limit: u64, window: Micros, cost: u64) -> Params {
        Params {
            algorithm,
            limit,
            window,
            burst: limit,
            cost,
        }
    }

    /// The capacity the decision is made against.
    pub fn capacity(&self) -> u64 {
        if self.algorithm.has_burst() {
            self.burst
        } else {
            self.limit
        }
    }
}

/// When the same request could be admitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// It was admitted.
    Now,
    /// After this long, if nothing else hits the key meanwhile.
    After(Micros),
    /// Never: the cost exceeds the capacity.
    Never,
}

/// The answer to one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// The capacity the decision was made against.
    pub limit: u64,
    /// Units that would still be admitted right now, after this request.
    pub remaining: u64,
    pub retry_after: Retry,
    /// Time until the key is back to full capacity.
    pub reset_after: Micros,
}

/// A decision, and the states it may leave behind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub decision: Decision,
    /// The state after admitting the request; `None` when denied (or nothing was consumed).
    pub consumed: Option<State>,
    /// When the key's state had to be reshaped for these parameters, or moved back to a clock
    /// behind its date: that state, nothing consumed. It is stored even when the request is
    /// denied, so that the retry time answered now still holds at the next call on this clock.
    pub migrated: Option<State>,
}

impl Outcome {
    /// What RL.HIT stores.
    pub fn write(&self) -> Option<State> {
        self.consumed.or(self.migrated)
    }
}

/// Decide one request against the key's state (`None` for a key that does not exist).
pub fn hit(state: Option<&State>, params: &Params, now: Micros) -> Outcome {
    let now = now.min(MAX_INSTANT);
    // A state dated later than now is read as it stood then, moved to now (see `state`).
    let moved = state.filter(|s| s.as_of() > now).map(|s| s.moved_to(now));
    let (basis, migrated) = match moved.as_ref().or(state) {
        None => (None, None),
        Some(s) if s.fits(params) => (Some(*s), moved),
        Some(s) => match s.used(now) {
            // Nothing in use: as good as a new key.
            0 => (None, None),
            used => {
                let seeded = State::seeded(params, used, now);
                (Some(seeded), Some(seeded))
            }
        },
    };
    let (decision, consumed) = match params.algorithm {
        Algorithm::Sliding => {
            let basis = basis.and_then(|b| match b {
                State::Sliding(s) => Some(s),
                _ => None,
            });
            wrap(sliding::decide(basis.as_ref(), params, now), State::Sliding)
        }
        Algorithm::Fixed => {
            let basis = basis.and_then(|b| match b {
                State::Fixed(s) => Some(s),
                _ => None,
            });
            wrap(fixed::decide(basis.as_ref(), params, now), State::Fixed)
        }
        Algorithm::Token | Algorithm::Leaky | Algorithm::Gcra => {
            let basis = basis.and_then(|b| match b {
                State::Bucket(s) => Some(s),
                _ => None,
            });
            wrap(bucket::decide(basis.as_ref(), params, now), State::Bucket)
        }
    };
    Outcome {
        decision,
        consumed,
        migrated,
    }
}

fn wrap<T>(result: (Decision, Option<T>), into: fn(T) -> State) -> (Decision, Option<State>) {
    (result.0, result.1.map(into))
}

#[cfg(test)]
pub(crate) mod tests;
