//! One request against one key: RL.HIT, RL.PEEK and CL.THROTTLE.
//!
//! The engines decide against a state of their own kind and parameters. Two things come
//! first: a state dated later than now (the clock stepped back, or the state came from a host
//! whose clock is ahead) is read as it stood at its own instant, moved to now; and a state
//! written for other parameters (another algorithm, another window, or for a bucket another
//! rate) is reshaped, its units in use at now carried over into a state for these. Either
//! resulting state is stored even if the request is denied, so that the wait answered now
//! holds at the next call on this clock.

use crate::engines::{bucket, fixed, sliding};
use crate::{Algorithm, Decision, Micros, Params, State, MAX_INSTANT};

/// A decision, and the states it may leave behind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub decision: Decision,
    /// The state after admitting the request; `None` when denied (or nothing was consumed).
    pub consumed: Option<State>,
    /// The key's state moved to now or reshaped for these parameters, nothing consumed: stored
    /// even when the request is denied.
    pub reshaped: Option<State>,
}

impl Outcome {
    /// What a consuming command stores: the state after the request, or else the reshaped one.
    pub fn to_store(&self) -> Option<State> {
        self.consumed.or(self.reshaped)
    }
}

/// Decides one request against the key's state (`None` for a key that does not exist). A peek
/// is this decision with nothing stored.
pub fn decide(state: Option<&State>, params: &Params, now: Micros) -> Outcome {
    let now = now.min(MAX_INSTANT);
    let moved = state.filter(|s| s.as_of() > now).map(|s| s.moved_to(now));
    let (basis, reshaped) = match moved.as_ref().or(state) {
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
    let (decision, consumed) = match (params.algorithm, basis) {
        (Algorithm::Sliding, basis) => {
            let basis = basis.and_then(|b| b.as_sliding());
            let (d, next) = sliding::decide(basis.as_ref(), params, now);
            (d, next.map(State::Sliding))
        }
        (Algorithm::Fixed, basis) => {
            let basis = basis.and_then(|b| b.as_fixed());
            let (d, next) = fixed::decide(basis.as_ref(), params, now);
            (d, next.map(State::Fixed))
        }
        (Algorithm::Token | Algorithm::Leaky | Algorithm::Gcra, basis) => {
            let basis = basis.and_then(|b| b.as_bucket());
            let (d, next) = bucket::decide(basis.as_ref(), params, now);
            (d, next.map(State::Bucket))
        }
    };
    Outcome {
        decision,
        consumed,
        reshaped,
    }
}
