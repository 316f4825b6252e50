//! One request against one key: RL.HIT, RL.PEEK and CL.THROTTLE.
//!
//! The engines decide against a value of their own kind and parameters. Two things come
//! first: a value dated later than now (the clock stepped back, or the value came from a host
//! whose clock is ahead) is read as it stood at its own instant, moved to now; and a value
//! written for other parameters (another algorithm, another window, or for a bucket another
//! rate) is reshaped, its units in use at now carried over into a value for these. Either
//! result is stored even if the request is denied, so that the wait answered now holds at the
//! next call on this clock.

use crate::engines::log::{self, Log};
use crate::engines::{bucket, fixed, sliding};
use crate::value::{Held, Write};
use crate::{Algorithm, Decision, Micros, Params, State, MAX_INSTANT};

/// A decision, and what it may leave behind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub decision: Decision,
    /// The key's value after admitting the request; `None` when denied (or nothing was
    /// consumed).
    pub consumed: Option<Write>,
    /// The key's value moved to now or reshaped for these parameters, nothing consumed: stored
    /// even when the request is denied.
    pub reshaped: Option<Write>,
}

impl Outcome {
    /// What a consuming command stores: the value after the request, or else the reshaped one.
    pub fn to_store(self) -> Option<Write> {
        self.consumed.or(self.reshaped)
    }
}

/// Decides one request against the key's value (`None` for a key that does not exist). A
/// peek is this decision with nothing stored.
pub fn decide(held: Option<Held>, params: &Params, now: Micros) -> Outcome {
    let now = now.min(MAX_INSTANT);
    match params.algorithm {
        Algorithm::Log => decide_log(held, params, now),
        _ => decide_state(held, params, now),
    }
}

/// Units in use at `now` in whatever the key holds, rounded up.
fn used(held: &Held, now: Micros) -> u64 {
    match held {
        Held::State(s) => s.moved_to(now.min(s.as_of())).used(now),
        Held::Log(l) => l.view(now).used(now),
    }
}

fn decide_state(held: Option<Held>, params: &Params, now: Micros) -> Outcome {
    let (basis, reshaped) = match held {
        None => (None, None),
        Some(Held::State(s)) => {
            let moved = (s.as_of() > now).then(|| s.moved_to(now));
            let s = moved.unwrap_or(s);
            if s.fits(params) {
                (Some(s), moved.map(Write::State))
            } else {
                reshape(s.used(now), params, now)
            }
        }
        Some(held @ Held::Log(_)) => reshape(used(&held, now), params, now),
    };
    let (decision, consumed) = match params.algorithm {
        Algorithm::Sliding => {
            let basis = basis.and_then(|b| b.as_sliding());
            let (d, next) = sliding::decide(basis.as_ref(), params, now);
            (d, next.map(State::Sliding))
        }
        Algorithm::Fixed => {
            let basis = basis.and_then(|b| b.as_fixed());
            let (d, next) = fixed::decide(basis.as_ref(), params, now);
            (d, next.map(State::Fixed))
        }
        Algorithm::Token | Algorithm::Leaky | Algorithm::Gcra | Algorithm::Log => {
            let basis = basis.and_then(|b| b.as_bucket());
            let (d, next) = bucket::decide(basis.as_ref(), params, now);
            (d, next.map(State::Bucket))
        }
    };
    Outcome {
        decision,
        consumed: consumed.map(Write::State),
        reshaped,
    }
}

/// A state for `params` carrying `used` units from another shape; nothing in use is as good
/// as a new key.
fn reshape(used: u64, params: &Params, now: Micros) -> (Option<State>, Option<Write>) {
    match used {
        0 => (None, None),
        used => {
            let seeded = State::seeded(params, used, now);
            (Some(seeded), Some(Write::State(seeded)))
        }
    }
}

fn decide_log(held: Option<Held>, params: &Params, now: Micros) -> Outcome {
    match held {
        Some(Held::Log(l)) if l.window() == params.window => {
            let (decision, edit) = log::decide(Some(l.view(now)), params, now);
            let (consumed, reshaped) = match edit {
                Some(edit) if edit.added > 0 => (Some(Write::Edit(edit)), None),
                other => (None, other.map(Write::Edit)),
            };
            Outcome {
                decision,
                consumed,
                reshaped,
            }
        }
        held => {
            // A new log: empty, or holding the units another shape had in use.
            let log = match held.map(|h| used(&h, now)) {
                None | Some(0) => Log::new(params.window, now),
                Some(used) => Log::seeded(params.window, used.min(params.limit), now),
            };
            let reshaped = (!log.is_empty()).then(|| Write::Log(log.clone()));
            let basis = (!log.is_empty()).then(|| log.view(now));
            let (decision, edit) = log::decide(basis, params, now);
            let consumed = edit.filter(|e| e.added > 0).map(|edit| {
                let mut log = log;
                log.apply(&edit);
                Write::Log(log)
            });
            Outcome {
                decision,
                consumed,
                reshaped,
            }
        }
    }
}
