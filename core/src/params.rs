//! What a request asks for, validated once: every `Params` holds what the engines rely on.

use std::fmt;

use crate::time::Micros;

/// The largest limit, burst or cost: replies carry signed 64-bit integers.
pub const MAX_LIMIT: u64 = i64::MAX as u64;
/// The shortest window.
pub const MIN_WINDOW: Micros = Micros::from_millis(1);
/// The longest window, and the longest a bucket may take to drain: 100 years of 365 days.
pub const MAX_WINDOW: Micros = Micros::from_millis(36_500 * 86_400_000);
/// Instants are clamped below this (about the year 4253) so that an instant plus a few windows
/// always fits in 64 bits.
pub const MAX_INSTANT: Micros = Micros::from_micros(1 << 56);

/// The algorithms a request may ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    Sliding,
    Fixed,
    Token,
    Leaky,
    Gcra,
    Log,
}

impl Algorithm {
    /// Every algorithm, in the order they are listed to users.
    pub const ALL: [Algorithm; 6] = [
        Algorithm::Sliding,
        Algorithm::Fixed,
        Algorithm::Token,
        Algorithm::Leaky,
        Algorithm::Gcra,
        Algorithm::Log,
    ];

    /// The name commands take (`ALGO GCRA`); `rl.default-algorithm` takes it in lower case.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sliding => "SLIDING",
            Algorithm::Fixed => "FIXED",
            Algorithm::Token => "TOKEN",
            Algorithm::Leaky => "LEAKY",
            Algorithm::Gcra => "GCRA",
            Algorithm::Log => "LOG",
        }
    }

    /// The algorithm of a name, in any case.
    pub fn from_name(text: &[u8]) -> Option<Algorithm> {
        Algorithm::ALL
            .into_iter()
            .find(|a| text.eq_ignore_ascii_case(a.name().as_bytes()))
    }

    /// "SLIDING, FIXED, TOKEN, LEAKY or GCRA": the names as error texts and docs list them.
    pub fn listed() -> String {
        let names: Vec<&str> = Algorithm::ALL.iter().map(|a| a.name()).collect();
        match names.split_last() {
            Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
            None => String::new(),
        }
    }

    /// Whether the algorithm has a capacity of its own (`BURST`) besides its rate.
    pub fn has_burst(self) -> bool {
        matches!(self, Algorithm::Token | Algorithm::Leaky | Algorithm::Gcra)
    }
}

/// Why parameters were refused: the one at fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamError {
    /// `limit` is outside 1..=MAX_LIMIT.
    Limit,
    /// `window` is outside MIN_WINDOW..=MAX_WINDOW.
    Window,
    /// `cost` is above MAX_LIMIT.
    Cost,
    /// `burst` is outside 1..=MAX_LIMIT.
    Burst,
    /// A burst for an algorithm without one.
    BurstWithoutBucket,
    /// A full bucket of this burst would take longer than MAX_WINDOW to drain.
    BurstTooLarge,
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamError::Limit => write!(f, "limit must be an integer from 1 to {MAX_LIMIT}"),
            ParamError::Window => f.write_str("window must be from 1ms to 36500d"),
            ParamError::Cost => write!(f, "cost must be an integer from 0 to {MAX_LIMIT}"),
            ParamError::Burst => write!(f, "burst must be an integer from 1 to {MAX_LIMIT}"),
            ParamError::BurstWithoutBucket => {
                f.write_str("burst applies to ALGO TOKEN, LEAKY and GCRA only")
            }
            ParamError::BurstTooLarge => {
                f.write_str("burst × window / limit must be at most 36500d")
            }
        }
    }
}

/// A request of `cost` units against `limit` units per `window`, with the capacity `burst`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
    pub(crate) algorithm: Algorithm,
    /// Units per window, the sustained rate: 1..=MAX_LIMIT.
    pub(crate) limit: u64,
    /// MIN_WINDOW..=MAX_WINDOW.
    pub(crate) window: Micros,
    /// The capacity: `limit` for the window counters; for the buckets BURST, 1..=MAX_LIMIT,
    /// draining within MAX_WINDOW.
    pub(crate) burst: u64,
    /// Units this request consumes: 0..=MAX_LIMIT. More than the capacity is never admitted.
    pub(crate) cost: u64,
}

impl Params {
    /// Validated parameters; `burst` defaults to `limit`.
    pub fn new(
        algorithm: Algorithm,
        limit: u64,
        window: Micros,
        burst: Option<u64>,
        cost: u64,
    ) -> Result<Params, ParamError> {
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ParamError::Limit);
        }
        if !(MIN_WINDOW..=MAX_WINDOW).contains(&window) {
            return Err(ParamError::Window);
        }
        if cost > MAX_LIMIT {
            return Err(ParamError::Cost);
        }
        if burst.is_some() && !algorithm.has_burst() {
            return Err(ParamError::BurstWithoutBucket);
        }
        let burst = burst.unwrap_or(limit);
        if !(1..=MAX_LIMIT).contains(&burst) {
            return Err(ParamError::Burst);
        }
        if !drains_in_time(burst, window, limit) {
            return Err(ParamError::BurstTooLarge);
        }
        Ok(Params {
            algorithm,
            limit,
            window,
            burst,
            cost,
        })
    }

    /// The same limit, for a request of another cost (within 0..=MAX_LIMIT).
    pub fn with_cost(self, cost: u64) -> Params {
        Params {
            cost: cost.min(MAX_LIMIT),
            ..self
        }
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    pub fn limit(&self) -> u64 {
        self.limit
    }

    pub fn window(&self) -> Micros {
        self.window
    }

    pub fn burst(&self) -> u64 {
        self.burst
    }

    pub fn cost(&self) -> u64 {
        self.cost
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

/// A full bucket of `burst` units drains within MAX_WINDOW at `limit` per `window`. The one
/// home of this bound: parameters and stored states are both checked with it.
pub fn drains_in_time(burst: u64, window: Micros, limit: u64) -> bool {
    u128::from(burst) * window.wide() <= u128::from(limit) * MAX_WINDOW.wide()
}
