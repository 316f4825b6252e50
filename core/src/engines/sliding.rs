//! Sliding window counter.
//!
//! Time is cut into windows of fixed length. The usage seen at an instant `elapsed` into the
//! current window is
//!
//! ```text
//! usage = previous * (window - elapsed) / window + current
//! ```
//!
//! the current window's count plus the previous window's count weighted by the share of it that
//! is still inside the rolling window ending now. A request of `cost` units is admitted when
//! `usage + cost <= limit`. Every comparison is made after multiplying by `window`, in `u128`,
//! so the decision is exact.
//!
//! Windows are anchored per key rather than on the calendar, so keys do not all roll over on the
//! same tick. The first window of a key is placed so that the hit creating the key lies
//! `window / limit` into it (rounded up): a burst of `limit` requests is then released exactly
//! one window later, as with an exact sliding log. Anchored at the hit itself, the burst would
//! weigh fully on the next window and be released only `window / limit` after it.
//!
//! The state is kept relative to the instant it was written (`as_of`): how far into its window
//! that instant lies, rather than when the window started. A window may then have started
//! before 1970 (a 100-year window created today), and a state can be read as of an earlier
//! instant when the clock steps back (see `limiter::hit`).

use crate::arith;
use crate::{Decision, Micros, Params, Retry, MAX_LIMIT};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sliding {
    /// Length of one window.
    pub window: Micros,
    /// The instant of the decision that wrote this state.
    pub as_of: Micros,
    /// How far into the current window `as_of` lies: less than `window`.
    pub into: Micros,
    /// Units admitted in the current window.
    pub current: u64,
    /// Units admitted in the window just before it.
    pub previous: u64,
}

impl Sliding {
    /// A key's first window: its creating hit at `now` lies `window / limit` (rounded up, and
    /// inside the window) into it.
    fn first(window: Micros, limit: u64, now: Micros) -> Sliding {
        let lead = window
            .as_micros()
            .div_ceil(limit)
            .min(window.as_micros() - 1);
        Sliding {
            window,
            as_of: now,
            into: Micros::from_micros(lead),
            current: 0,
            previous: 0,
        }
    }

    /// From this instant the counts no longer weigh on any decision: the end of the window
    /// after the one that holds units.
    pub fn expires_at(&self) -> Option<Micros> {
        let windows = if self.current > 0 {
            2
        } else if self.previous > 0 {
            1
        } else {
            return None;
        };
        let left = Micros::from_micros(windows * self.window.as_micros()) - self.into;
        Some(self.as_of + left)
    }

    /// The same state seen at `now` and dated `now`: the windows that ended are rolled. A `now`
    /// before `as_of` (a clock that stepped back) finds the state as it was at `as_of`.
    fn at(&self, now: Micros) -> Sliding {
        let since_start = self.into + (now - self.as_of);
        let passed = since_start.as_micros() / self.window.as_micros();
        let into = Micros::from_micros(since_start.as_micros() % self.window.as_micros());
        let (current, previous) = match passed {
            0 => (self.current, self.previous),
            1 => (0, self.current),
            _ => (0, 0),
        };
        Sliding {
            as_of: now,
            into,
            current,
            previous,
            ..*self
        }
    }

    /// Usage at `as_of`, in units times window length.
    fn scaled_usage(&self) -> u128 {
        let window = self.window.wide();
        u128::from(self.previous) * (window - self.into.wide()) + u128::from(self.current) * window
    }

    /// Units in use at `now`, rounded up.
    pub fn used(&self, now: Micros) -> u64 {
        let seen = self.at(now);
        let used = arith::div_ceil(seen.scaled_usage(), seen.window.as_micros());
        u64::try_from(used).unwrap_or(MAX_LIMIT).min(MAX_LIMIT)
    }

    /// A new key's state for `params` with `used` units already consumed at `now`: they count
    /// in full in its first window, and age out on this window length.
    pub fn seeded(params: &Params, used: u64, now: Micros) -> Sliding {
        Sliding {
            current: used,
            ..Sliding::first(params.window, params.limit, now)
        }
    }

    /// Offset from the start of the current window of the first instant at which `cost` units
    /// fit under `limit`, assuming no other hit meanwhile. Requires `cost <= limit`. Usage only
    /// decreases with time, so every later instant fits too.
    fn admission_offset(&self, limit: u64, cost: u64) -> Micros {
        let window = self.window.wide();
        // Inside the current window the previous count's weight shrinks:
        // previous * (window - e) <= (limit - current - cost) * window.
        if let Some(room) = limit
            .checked_sub(self.current)
            .and_then(|r| r.checked_sub(cost))
        {
            let slack = match self.previous {
                0 => window,
                previous => arith::div(u128::from(room) * window, previous),
            };
            if slack >= window {
                return Micros::ZERO;
            }
            // window - slack lies in (0, window]: at `window` we are in the next window.
            let offset = window - slack;
            if offset < window {
                return Micros::from_micros(offset as u64);
            }
        }
        // In the next window, the current count becomes the previous one:
        // current * (window - e) <= (limit - cost) * window.
        let room = u128::from(limit - cost);
        let slack = match self.current {
            0 => window,
            current => arith::div(room * window, current),
        };
        Micros::from_micros((window + window.saturating_sub(slack)) as u64)
    }
}

/// Decide one request against a state of this window length (`None`: a new key). Returns the
/// decision and, when the request was admitted, the state to store.
pub fn decide(
    state: Option<&Sliding>,
    params: &Params,
    now: Micros,
) -> (Decision, Option<Sliding>) {
    let seen = match state {
        Some(s) => s.at(now),
        None => Sliding::first(params.window, params.limit, now),
    };
    let now = seen.as_of;
    let window = seen.window.wide();
    let capacity = u128::from(params.limit) * window;
    let cost = u128::from(params.cost) * window;
    let mut used = seen.scaled_usage();
    let allowed = used + cost <= capacity;

    let mut next = seen;
    if allowed {
        next.current += params.cost;
        used += cost;
    }

    let retry_after = if allowed {
        Retry::Now
    } else if params.cost > params.limit {
        Retry::Never
    } else {
        Retry::After(seen.admission_offset(params.limit, params.cost) - seen.into)
    };
    let decision = Decision {
        allowed,
        capacity: params.limit,
        remaining: arith::div(capacity.saturating_sub(used), seen.window.as_micros()) as u64,
        retry_after,
        reset_after: next.expires_at().map_or(Micros::ZERO, |at| at - now),
    };
    (decision, (allowed && params.cost > 0).then_some(next))
}
