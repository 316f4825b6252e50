//! Tests of the pure limiter, driven by a simulated clock.

mod accuracy;
mod bucket;
mod clock;
mod every_algorithm;
mod fixed;
mod log;
mod multi;
mod sliding;
mod trace;

use crate::{decide, Algorithm, Decision, Micros, Params, State, Value, Write};

/// A single key as the server keeps it: the value, and the key's expiry in whole
/// milliseconds (a key is gone once now_ms > expire_ms, as in Redis).
#[derive(Clone, Debug, Default)]
pub struct SimKey {
    pub value: Option<Value>,
    pub expire_ms: u64,
}

impl SimKey {
    /// A key holding `state`, with no expiry yet.
    pub fn holding(state: State) -> SimKey {
        SimKey {
            value: Some(Value::State(state)),
            expire_ms: u64::MAX,
        }
    }

    /// The fixed-size state the key holds, if it holds one.
    pub fn state(&self) -> Option<State> {
        match self.value {
            Some(Value::State(s)) => Some(s),
            _ => None,
        }
    }

    pub fn live(&self, now: Micros) -> Option<&Value> {
        self.value
            .as_ref()
            .filter(|_| now.as_micros() / 1000 <= self.expire_ms)
    }

    /// RL.HIT at `now`.
    pub fn hit(&mut self, params: &Params, now: Micros) -> Decision {
        if self.live(now).is_none() {
            self.value = None;
        }
        let outcome = decide(self.value.as_ref().map(Value::held), params, now);
        let decision = outcome.decision;
        if let Some(write) = outcome.to_store() {
            let value = match (self.value.take(), write) {
                (Some(mut value), write @ Write::Edit(_)) => {
                    value.apply(&write);
                    value
                }
                (_, Write::State(s)) => Value::State(s),
                (_, Write::Log(l)) => Value::Log(l),
                (None, Write::Edit(e)) => panic!("an edit of a key that holds no log: {e:?}"),
            };
            match value.expires_at() {
                Some(at) => {
                    assert_loadable(&value);
                    self.expire_ms = at.ceil_millis();
                    self.value = Some(value);
                }
                None => self.value = None,
            }
        }
        decision
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

/// What every stored value must be: valid, and the same after a trip through its byte form
/// (the module's in-memory form has its own property test, over the same strategy).
pub fn assert_loadable(value: &Value) {
    assert_eq!(value.validate(), Ok(()), "{value:?}");
    if let Value::Log(log) = value {
        assert_eq!(log.check_write(), Ok(()), "{log:?}");
    }
    let bytes = crate::codec::encode_value(value);
    assert_eq!(crate::codec::decode_value(&bytes).as_ref(), Ok(value));
}
