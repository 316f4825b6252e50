//! The rate-limit mathematics, free of Redis.
//!
//! Every algorithm is a pure function of (stored state, parameters, now) returning the decision
//! and the state to store, if any. Time and counts are integers; the arithmetic that compares
//! them is done in `u128` so that no valid input can overflow.

pub mod sliding;
mod time;

pub use time::Micros;

/// The largest limit or cost: replies carry signed 64-bit integers.
pub const MAX_LIMIT: u64 = i64::MAX as u64;
/// The shortest window.
pub const MIN_WINDOW: Micros = Micros::from_millis(1);
/// The longest window: 100 years of 365 days.
pub const MAX_WINDOW: Micros = Micros::from_millis(36_500 * 86_400_000);
/// Instants are clamped below this (about the year 4253) so that an instant plus a few windows
/// always fits in 64 bits.
pub const MAX_INSTANT: Micros = Micros(1 << 56);

/// What one request asks for, already validated: `limit` units per `window`, `cost` units now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
    /// 1..=MAX_LIMIT
    pub limit: u64,
    /// MIN_WINDOW..=MAX_WINDOW
    pub window: Micros,
    /// 1..=MAX_LIMIT; may exceed `limit`, in which case it can never be admitted.
    pub cost: u64,
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

/// The per-key state of a limiter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Sliding(sliding::Sliding),
}

impl State {
    /// The instant from which the state carries no information (full capacity again), or
    /// `None` when it carries none already: the key may expire then.
    pub fn expires_at(&self) -> Option<Micros> {
        match self {
            State::Sliding(s) => s.expires_at(),
        }
    }
}

/// A decision and, when the state changed, the state to store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub decision: Decision,
    pub write: Option<State>,
}

/// Decide one request against the key's state (`None` for a key that does not exist).
pub fn hit(state: Option<&State>, params: &Params, now: Micros) -> Outcome {
    let now = now.min(MAX_INSTANT);
    let previous = state.map(|State::Sliding(s)| s);
    let (decision, write) = sliding::hit(previous, params, now);
    Outcome {
        decision,
        write: write.map(State::Sliding),
    }
}

#[cfg(test)]
mod tests;
