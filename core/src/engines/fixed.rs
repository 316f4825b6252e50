//! Fixed window counter.
//!
//! A window opens at the first admitted hit of a key (not on the calendar, so that keys do not
//! all reset on the same tick) and admits at most `limit` units until it closes; the key
//! expires with the window. It is the cheapest and the easiest to explain, and the least
//! accurate: a client can spend `limit` at the end of one window and `limit` again at the start
//! of the next.
//!
//! Like every state, it is kept relative to the instant it was written (`as_of`), so that it
//! can be read as of an earlier instant when the clock steps back (see `limiter::hit`).

use crate::{Decision, Micros, Params, Retry};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fixed {
    /// Length of the window.
    pub window: Micros,
    /// The instant of the decision that wrote this state.
    pub as_of: Micros,
    /// How long the window had been open at `as_of`: less than `window`.
    pub into: Micros,
    /// Units admitted in it.
    pub count: u64,
}

impl Fixed {
    /// The window closes, and the key expires, `window - into` after `as_of`.
    pub fn expires_at(&self) -> Option<Micros> {
        (self.count > 0).then(|| self.as_of + (self.window - self.into))
    }

    /// The window seen at `now` and dated `now`, if it is still open then. A `now` before
    /// `as_of` (a clock that stepped back) finds the window as it was at `as_of`.
    fn at(&self, now: Micros) -> Option<Fixed> {
        let into = self.into + (now - self.as_of);
        (into < self.window).then_some(Fixed {
            as_of: now,
            into,
            ..*self
        })
    }

    /// Units in use at `now`.
    pub fn used(&self, now: Micros) -> u64 {
        self.at(now).map_or(0, |s| s.count)
    }

    /// A window opening at `now` with `used` units already consumed.
    pub fn seeded(params: &Params, used: u64, now: Micros) -> Fixed {
        Fixed {
            window: params.window,
            as_of: now,
            into: Micros::ZERO,
            count: used,
        }
    }
}

/// Decide one request against a state of this window length (`None`: a new key). Returns the
/// decision and, when the request was admitted, the state to store.
pub fn decide(state: Option<&Fixed>, params: &Params, now: Micros) -> (Decision, Option<Fixed>) {
    let window = state
        .and_then(|s| s.at(now))
        .unwrap_or(Fixed::seeded(params, 0, now));
    let allowed = params
        .cost
        .checked_add(window.count)
        .is_some_and(|total| total <= params.limit);
    let next = Fixed {
        count: window.count + if allowed { params.cost } else { 0 },
        ..window
    };
    let retry_after = if allowed {
        Retry::Now
    } else if params.cost > params.limit {
        Retry::Never
    } else {
        // The next window, opened by the next admitted hit, has room for it.
        Retry::After(window.window - window.into)
    };
    let decision = Decision {
        allowed,
        capacity: params.limit,
        remaining: params.limit.saturating_sub(next.count),
        retry_after,
        reset_after: next.expires_at().map_or(Micros::ZERO, |at| at - now),
    };
    (decision, (allowed && params.cost > 0).then_some(next))
}
