//! Brute-force models of what the limiter promises, for property tests here and in the
//! module's integration tests.

/// The exact rolling window ALGO LOG promises, kept the slow way: every admitted request,
/// at millisecond resolution.
pub struct ExactLog {
    pub limit: u64,
    pub window_ms: u64,
    /// Every admitted request: (millisecond, units).
    pub admitted: Vec<(u64, u64)>,
}

/// What the model answers: allowed, remaining, and the waits in microseconds (`None` for a
/// request that never fits).
#[derive(Debug, PartialEq, Eq)]
pub struct Answer {
    pub allowed: bool,
    pub remaining: u64,
    pub retry_after_us: Option<u64>,
    pub reset_after_us: u64,
}

impl ExactLog {
    pub fn new(limit: u64, window_ms: u64) -> ExactLog {
        ExactLog {
            limit,
            window_ms,
            admitted: Vec::new(),
        }
    }

    /// Units admitted in the window that ends with millisecond `ms`.
    pub fn used_at(&self, ms: u64) -> u64 {
        self.admitted
            .iter()
            .filter(|(t, _)| t + self.window_ms > ms)
            .map(|(_, c)| c)
            .sum()
    }

    /// A request of `cost` units at `now_us`.
    pub fn hit(&mut self, now_us: u64, cost: u64) -> Answer {
        let ms = now_us / 1000;
        let used = self.used_at(ms);
        let allowed = used + cost <= self.limit;
        if allowed && cost > 0 {
            self.admitted.push((ms, cost));
        }
        let held = if allowed { used + cost } else { used };
        let retry_after_us = if allowed {
            Some(0)
        } else if cost > self.limit {
            None
        } else {
            // The first millisecond at which the request fits.
            let mut expiries: Vec<u64> = self
                .admitted
                .iter()
                .map(|(t, _)| t + self.window_ms)
                .collect();
            expiries.sort_unstable();
            expiries
                .into_iter()
                .find(|&at| at > ms && self.used_at(at) + cost <= self.limit)
                .map(|at| at * 1000 - now_us)
        };
        let newest = self
            .admitted
            .iter()
            .filter(|(t, _)| t + self.window_ms > ms)
            .map(|(t, _)| *t)
            .max();
        let reset_after_us = match newest {
            Some(t) if held > 0 => (t + self.window_ms) * 1000 - now_us,
            _ => 0,
        };
        Answer {
            allowed,
            remaining: self.limit.saturating_sub(held),
            retry_after_us,
            reset_after_us,
        }
    }
}
