//! The answer to one request.

use crate::time::Micros;

/// When the same request could be admitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// It was admitted.
    Now,
    /// After this long, if nothing else hits the key meanwhile.
    After(Micros),
    /// Never: the cost exceeds the capacity.
    Never,
}

/// The answer to one request: the five fields of the reply, in the limiter's units.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// The capacity the decision was made against: the limit, or the burst of a bucket.
    pub capacity: u64,
    /// Units that would still be admitted right now, after this request.
    pub remaining: u64,
    pub retry_after: Retry,
    /// Time until the key is back to full capacity.
    pub reset_after: Micros,
}
