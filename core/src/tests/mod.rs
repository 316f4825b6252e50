//! Tests of the pure limiter, driven by a simulated clock.

mod accuracy;
mod bucket;
mod clock;
mod every_algorithm;
mod fixed;
mod multi;
mod sliding;

use crate::{decide, Algorithm, Decision, Micros, Params, State};

/// A single key as the server keeps it: the state, and the key's expiry in whole
/// milliseconds (a key is gone once now_ms > expire_ms, as in Redis).
#[derive(Clone, Debug, Default)]
pub struct SimKey {
    pub state: Option<State>,
    pub expire_ms: u64,
}

impl SimKey {
    fn live(&self, now: Micros) -> Option<&State> {
        self.state
            .as_ref()
            .filter(|_| now.as_micros() / 1000 <= self.expire_ms)
    }

    /// RL.HIT at `now`.
    pub fn hit(&mut self, params: &Params, now: Micros) -> Decision {
        if self.live(now).is_none() {
            self.state = None;
        }
        let outcome = decide(self.state.as_ref(), params, now);
        if let Some(state) = outcome.to_store() {
            assert_loadable(&state);
            match state.expires_at() {
                Some(at) => {
                    self.state = Some(state);
                    self.expire_ms = at.ceil_millis();
                }
                None => self.state = None,
            }
        }
        outcome.decision
    }

    /// What RL.HIT would answer at `now`, leaving the key as it is.
    pub fn peek(&self, params: &Params, now: Micros) -> Decision {
        self.clone().hit(params, now)
    }
}

/// A sliding window limit.
pub fn params(limit: u64, window_ms: u64, cost: u64) -> Params {
    with(Algorithm::Sliding, limit, window_ms, limit, cost)
}

/// A limit of any algorithm, its capacity `burst` (ignored by the window counters).
pub fn with(algorithm: Algorithm, limit: u64, window_ms: u64, burst: u64, cost: u64) -> Params {
    let burst = algorithm.has_burst().then_some(burst);
    Params::new(
        algorithm,
        limit,
        Micros::from_millis(window_ms),
        burst,
        cost,
    )
    .expect("valid parameters")
}

/// What every stored state must be: valid, and the same after a trip through its byte form
/// (the module's in-memory form has its own property test, over the same strategy).
pub fn assert_loadable(state: &State) {
    if state.expires_at().is_none() {
        return; // the key is deleted instead
    }
    assert_eq!(state.validate(), Ok(()), "{state:?}");
    let bytes = crate::codec::encode(state);
    assert_eq!(crate::codec::decode(bytes.as_bytes()), Ok(*state));
}
