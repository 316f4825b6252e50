//! Fixed window counter.
//!
//! A window opens at the first admitted hit of a key (not on the calendar, so that keys do not
//! all reset on the same tick) and admits at most `limit` units until it closes; the key
//! expires with the window. It is the cheapest and the easiest to explain, and the least
//! accurate: a client can spend `limit` at the end of one window and `limit` again at the start
//! of the next.

use super::{Decision, Micros, Params, Retry};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fixed {
    /// Length of the window.
    pub window: Micros,
    /// When the window opened.
    pub start: Micros,
    /// Units admitted in it.
    pub count: u64,
}

impl Fixed {
    fn end(&self) -> Micros {
        Micros(self.start.0 + self.window.0)
    }

    pub fn expires_at(&self) -> Option<Micros> {
        (self.count > 0).then(|| self.end())
    }

    /// The window as seen at `now`, if it is still open.
    fn open_at(&self, now: Micros) -> Option<Fixed> {
        (now < self.end()).then_some(*self)
    }

    /// Units in use at `now`.
    pub fn used(&self, now: Micros) -> u64 {
        self.open_at(now.max(self.start)).map_or(0, |s| s.count)
    }

    /// A window opening at `now` with `used` units already consumed.
    pub fn seeded(params: &Params, used: u64, now: Micros) -> Fixed {
        Fixed {
            window: params.window,
            start: now,
            count: used,
        }
    }
}

/// Decide one request against a state of this window length (`None`: a new key). Returns the
/// decision and, when the request was admitted, the state to store.
pub fn decide(state: Option<&Fixed>, params: &Params, now: Micros) -> (Decision, Option<Fixed>) {
    // A clock that stepped back is treated as standing still at the window's opening.
    let now = state.map_or(now, |s| now.max(s.start));
    let window = state
        .and_then(|s| s.open_at(now))
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
        Retry::After(window.end().saturating_sub(now))
    };
    let decision = Decision {
        allowed,
        limit: params.limit,
        remaining: params.limit.saturating_sub(next.count),
        retry_after,
        reset_after: next
            .expires_at()
            .map_or(Micros::ZERO, |at| at.saturating_sub(now)),
    };
    (decision, (allowed && params.cost > 0).then_some(next))
}
