//! The rate limiter of the `rl` module, free of Redis: this crate does not depend on the
//! module API, so nothing here can touch the server.
//!
//! - `params`: what a request asks for (algorithm, rate, capacity, cost), validated once.
//! - `engines`: the mathematics, one file per engine, each a pure function of (stored value,
//!   parameters, now) returning the decision and what to store. Four engines serve the six
//!   algorithms: the sliding window counter, the fixed window counter, GCRA (which is also the
//!   token bucket and the leaky bucket) and the exact log.
//! - `decide`: one request against one key (the engines, plus what happens when a key's state
//!   was written for other parameters or is dated later than the clock); `multi`: one request
//!   against several keys, all or nothing.
//! - `state`: the fixed-size per-key state and the one rule of what a valid state is; `value`:
//!   what a key holds (a state, or a log) and what a decision writes; `codec`: the byte form
//!   for RDB, AOF and replication.
//! - `parse`: command arguments to parameters, with every error text.
//! - `leases`: concurrency leases (RL.ACQUIRE, RL.RELEASE, RL.RENEW), their state and its
//!   byte form.
//!
//! Time and counts are integers; comparisons are made in `u128` so that no valid input can
//! overflow, and the arithmetic saturates rather than panics on anything else.

mod arith;
pub mod bounded;
pub mod codec;
mod decide;
mod decision;
pub mod engines;
pub mod leases;
pub mod multi;
mod params;
pub mod parse;
mod state;
mod time;
pub mod value;

pub use decide::{decide, Outcome};
pub use decision::{Decision, Retry};
pub use engines::log::{Log, LogEdit};
pub use params::{
    drains_in_time, Algorithm, ParamError, Params, MAX_INSTANT, MAX_LIMIT, MAX_WINDOW, MIN_WINDOW,
};
pub use state::{Invalid, State};
pub use time::Micros;
pub use value::{Held, Value, Write};

#[cfg(any(test, feature = "test-support"))]
pub mod models;
#[cfg(any(test, feature = "test-support"))]
pub mod strategies;

#[cfg(test)]
mod tests;
