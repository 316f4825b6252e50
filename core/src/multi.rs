//! One request against several limits, all or nothing: RL.MHIT.
//!
//! If every limit admits the request, every one consumes it. If any denies, none does: the
//! keys keep their states, except those that had to be moved or reshaped (see `decide`).

use crate::bounded::Bounded;
use crate::parse::MAX_KEYS;
use crate::value::{Held, Write};
use crate::{decide, Decision, Micros, Params, Retry};

/// What one request against several limits leaves behind.
pub struct MultiOutcome {
    /// The overall answer (see `combine`).
    pub decision: Decision,
    /// The index of the limit that decided it.
    pub deciding: usize,
    /// What to store at each key, in the limits' order.
    pub to_store: Bounded<Option<Write>, MAX_KEYS>,
}

/// Decides one request against `limits[i]` on a key holding `held[i]`. `None` when there are
/// no limits, or not one value per limit.
pub fn decide_all(held: &[Option<Held>], limits: &[Params], now: Micros) -> Option<MultiOutcome> {
    if held.len() != limits.len() || limits.len() > MAX_KEYS {
        return None;
    }
    let mut outcomes: Bounded<crate::Outcome, MAX_KEYS> = Bounded::new();
    for (value, params) in held.iter().zip(limits) {
        outcomes.push(decide(*value, params, now)).ok()?;
    }
    let admitted = outcomes.as_slice().iter().all(|o| o.decision.allowed);
    let mut to_store = Bounded::new();
    let mut decisions: Bounded<Decision, MAX_KEYS> = Bounded::new();
    for outcome in outcomes.as_slice() {
        let store = if admitted {
            outcome.clone().to_store()
        } else {
            outcome.reshaped.clone()
        };
        to_store.push(store).ok()?;
        decisions.push(outcome.decision).ok()?;
    }
    let (decision, deciding) = combine(decisions.as_slice())?;
    Some(MultiOutcome {
        decision,
        deciding,
        to_store,
    })
}

/// The overall answer to a request checked against several limits, and the index of the
/// limit that decided it.
///
/// When every limit admits, the request is admitted; the deciding limit is the one with the
/// fewest units remaining. Otherwise it is denied and the deciding limit is the denying one
/// with the longest wait. The answer is the deciding limit's own (capacity, remaining, wait,
/// reset), so that it describes one limit whole: what a client is told about the limit that
/// decided (an HTTP `RateLimit` field names one policy) comes out of one reply.
pub fn combine(decisions: &[Decision]) -> Option<(Decision, usize)> {
    let allowed = decisions.iter().all(|d| d.allowed);
    let deciding = if allowed {
        first_min_by_key(decisions, |d| d.remaining)?
    } else {
        let waits = decisions
            .iter()
            .map(|d| (!d.allowed).then_some(wait_rank(d.retry_after)));
        waits
            .enumerate()
            .filter_map(|(i, w)| w.map(|w| (i, w)))
            .fold(
                None,
                |best: Option<(usize, (u8, u64))>, (i, w)| match best {
                    Some((_, b)) if b >= w => best,
                    _ => Some((i, w)),
                },
            )
            .map(|(i, _)| i)?
    };
    let chosen = decisions.get(deciding)?;
    let overall = Decision {
        allowed,
        capacity: chosen.capacity,
        remaining: chosen.remaining,
        retry_after: chosen.retry_after,
        reset_after: chosen.reset_after,
    };
    Some((overall, deciding))
}

/// Orders waits: admitted < after any time < never.
fn wait_rank(retry: Retry) -> (u8, u64) {
    match retry {
        Retry::Now => (0, 0),
        Retry::After(t) => (1, t.as_micros()),
        Retry::Never => (2, 0),
    }
}

fn first_min_by_key(decisions: &[Decision], key: impl Fn(&Decision) -> u64) -> Option<usize> {
    let min = decisions.iter().map(&key).min()?;
    decisions.iter().position(|d| key(d) == min)
}
