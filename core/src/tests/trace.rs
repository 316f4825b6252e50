//! Request traces for the property tests: a limit of any algorithm, and requests arriving
//! after gaps measured in its window, driven through one simulated key.

use proptest::prelude::*;

use super::{with, SimKey};
use crate::strategies::algorithm;
use crate::{Algorithm, Decision, Micros, Params};

/// A limit of any algorithm.
#[derive(Clone, Copy, Debug)]
pub struct Limit {
    pub algorithm: Algorithm,
    pub limit: u64,
    pub window_ms: u64,
    /// The bucket's capacity (the window counters' is their limit).
    pub burst: u64,
}

impl Limit {
    pub fn params(&self, cost: u64) -> Params {
        with(self.algorithm, self.limit, self.window_ms, self.burst, cost)
    }
}

/// Limits of every algorithm: small limits mostly, windows from 1 ms to a day, bursts up to
/// three times the limit.
pub fn limits() -> impl Strategy<Value = Limit> {
    let limit = prop_oneof![4 => 1u64..=12, 1 => 1u64..=1_000_000];
    let window_ms = prop_oneof![1u64..=5, 1u64..=3_000, Just(60_000), Just(86_400_000)];
    (algorithm(), limit, window_ms).prop_flat_map(|(algorithm, limit, window_ms)| {
        let burst = if algorithm.has_burst() {
            (1..=3 * limit).boxed()
        } else {
            Just(limit).boxed()
        };
        burst.prop_map(move |burst| Limit {
            algorithm,
            limit,
            window_ms,
            burst,
        })
    })
}

/// One request: how long after the previous one it arrives, and what it costs.
#[derive(Clone, Copy, Debug)]
pub struct Request {
    /// The gap in thousandths of the window.
    pub gap_permille: u64,
    /// And this many microseconds more.
    pub jitter_us: u64,
    pub cost: u64,
}

/// Up to 100 requests, mostly of cost 1, with gaps of up to two and a half windows.
pub fn requests() -> impl Strategy<Value = Vec<Request>> {
    let request = (
        0u64..2_500,
        0u64..1_000,
        prop_oneof![8 => Just(1u64), 2 => 1u64..=14],
    )
        .prop_map(|(gap_permille, jitter_us, cost)| Request {
            gap_permille,
            jitter_us,
            cost,
        });
    proptest::collection::vec(request, 1..100)
}

/// What one step of a trace saw.
pub struct Step<'a> {
    /// The key as it was before the request, and as it is after.
    pub before: &'a SimKey,
    pub after: &'a SimKey,
    pub params: Params,
    pub now: Micros,
    pub decision: Decision,
}

/// Drives `requests` through one key under `limit`, starting at `start` µs, and checks each
/// step.
pub fn drive(
    limit: &Limit,
    start: u64,
    requests: &[Request],
    mut check: impl FnMut(Step) -> Result<(), TestCaseError>,
) -> Result<(), TestCaseError> {
    let mut key = SimKey::default();
    let mut now = start;
    for request in requests {
        now += limit.window_ms * request.gap_permille + request.jitter_us;
        let params = limit.params(request.cost);
        let before = key.clone();
        let decision = key.hit(&params, Micros::from_micros(now));
        check(Step {
            before: &before,
            after: &key,
            params,
            now: Micros::from_micros(now),
            decision,
        })?;
    }
    Ok(())
}
