//! Several limits decided as one: RL.MHIT.

use super::{Decision, Retry};

/// The overall answer to a request checked against several limits, and the index of the
/// limit that decided it.
///
/// When every limit admits, the request is admitted; the deciding limit is the one with the
/// fewest units remaining. Otherwise it is denied and nothing is consumed: `decisions` then
/// holds, for the limits that would have admitted it, their standing (nothing consumed), and
/// the deciding limit is the denying one with the longest wait. In both cases `remaining` is
/// the smallest of all, `reset_after` the longest (when every limit is full again).
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
        limit: chosen.limit,
        remaining: decisions.iter().map(|d| d.remaining).min()?,
        retry_after: chosen.retry_after,
        reset_after: decisions.iter().map(|d| d.reset_after).max()?,
    };
    Some((overall, deciding))
}

/// Orders waits: admitted < after any time < never.
fn wait_rank(retry: Retry) -> (u8, u64) {
    match retry {
        Retry::Now => (0, 0),
        Retry::After(t) => (1, t.0),
        Retry::Never => (2, 0),
    }
}

fn first_min_by_key(decisions: &[Decision], key: impl Fn(&Decision) -> u64) -> Option<usize> {
    let min = decisions.iter().map(&key).min()?;
    decisions.iter().position(|d| key(d) == min)
}
